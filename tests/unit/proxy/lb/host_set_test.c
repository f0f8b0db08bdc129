/* Tests for proxy/lb/host_set.c (and the host-set rules of
 * cluster_rebuild_hosts: which endpoints, backups, allbackups). */
#include "tests/unit/proxy/lb/lb_test_util.h"

static bool in_set(const struct host_set *hs, const struct endpoint *ep)
{
    for (uint32_t i = 0; i < hs->n; i++)
        if (hs->eps[i] == ep)
            return true;
    return false;
}

static void test_usable_endpoints(void **state)
{
    static const uint32_t w[] = {1, 0, 3, 2, 5};
    struct lbt t = lbt_new(LB_ROUNDROBIN, 5, w);
    t.c->endpoints[3]->disabled = true;
    t.c->endpoints[4]->backup = true;
    lbt_start(&t, 1);

    /* s2 has weight 0, s4 is disabled, s5 is a backup with actives up */
    const struct host_set *hs = t.c->hosts;
    assert_int_equal(hs->n, 2);
    assert_ptr_equal(hs->eps[0], t.c->endpoints[0]);
    assert_ptr_equal(hs->eps[1], t.c->endpoints[2]);
    assert_int_equal(hs->total_weight, 4);
    assert_false(hs->using_backup);
    assert_ptr_equal(hs->cluster, t.c);
    assert_ptr_equal(hs->lb, &lb_roundrobin_ops);
    lbt_free(&t);
}

static void test_backup_only_when_all_down(void **state)
{
    struct lbt t = lbt_new(LB_ROUNDROBIN, 4, NULL);
    struct endpoint *a1 = t.c->endpoints[0], *a2 = t.c->endpoints[1];
    struct endpoint *b1 = t.c->endpoints[2], *b2 = t.c->endpoints[3];
    b1->backup = b2->backup = true;
    lbt_start(&t, 1);

    assert_int_equal(t.c->hosts->n, 2);
    assert_false(in_set(t.c->hosts, b1) || in_set(t.c->hosts, b2));

    /* one active down: still no backup */
    atomic_store(&a1->up, 0);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, 1);
    assert_true(in_set(t.c->hosts, a2));
    assert_false(t.c->hosts->using_backup);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(lbt_pick(&t, 0), a2);

    /* all actives down: the first backup only */
    atomic_store(&a2->up, 0);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, 1);
    assert_ptr_equal(t.c->hosts->eps[0], b1);
    assert_true(t.c->hosts->using_backup);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(lbt_pick(&t, 0), b1);

    /* the first backup down too: the next backup */
    atomic_store(&b1->up, 0);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, 1);
    assert_ptr_equal(t.c->hosts->eps[0], b2);

    /* an active comes back: backups leave the set */
    atomic_store(&b1->up, 1);
    atomic_store(&a1->up, 1);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, 1);
    assert_ptr_equal(t.c->hosts->eps[0], a1);
    assert_false(t.c->hosts->using_backup);

    /* everything down: an empty set, picks fail */
    atomic_store(&a1->up, 0);
    atomic_store(&b1->up, 0);
    atomic_store(&b2->up, 0);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, 0);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);
}

static void test_allbackups(void **state)
{
    struct lbt t = lbt_new(LB_ROUNDROBIN, 4, NULL);
    t.c->allbackups = true;
    for (int i = 1; i < 4; i++)
        t.c->endpoints[i]->backup = true;
    t.c->endpoints[2]->disabled = true;
    lbt_start(&t, 1);
    assert_int_equal(t.c->hosts->n, 1);

    atomic_store(&t.c->endpoints[0]->up, 0);
    lbt_rebuild(&t);
    /* every usable backup (s3 is disabled), balanced among themselves */
    assert_int_equal(t.c->hosts->n, 2);
    assert_true(t.c->hosts->using_backup);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[1]);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[3]);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[1]);
    lbt_free(&t);
}

/* A probe algorithm that checks host_set_new's side of the contract. */
static int probe_builds, probe_inits, probe_frees;

static int probe_build(struct host_set *hs, char *err, size_t errlen)
{
    if (hs->cluster->retries == 99) {
        snprintf(err, errlen, "probe refuses");
        return -1;
    }
    assert_int_equal(probe_inits, 0); /* build comes first */
    hs->table = malloc(16);
    probe_builds++;
    return 0;
}

static void probe_free(void *table)
{
    free(table);
    probe_frees++;
}

static void probe_init(const struct host_set *hs, void *wstate, uint32_t worker)
{
    unsigned char *p = wstate;
    assert_non_null(hs->table);
    assert_int_equal((uintptr_t)p % TERN_CACHELINE, 0);
    for (size_t i = 0; i < hs->worker_stride; i++)
        assert_int_equal(p[i], 0);
    assert_ptr_equal(p, host_set_worker_state(hs, worker));
    memset(p, 0xab, hs->worker_stride); /* the whole stride is ours */
    probe_inits++;
}

static struct endpoint *probe_pick(const struct host_set *hs, void *wstate,
                                   const struct lb_pick_ctx *ctx)
{
    return hs->n ? hs->eps[0] : NULL;
}

static const struct lb_ops probe_ops = {
    .name = "probe",
    .worker_state_size = 40,
    .worker_state_per_endpoint = 8,
    .build = probe_build,
    .free_table = probe_free,
    .init_worker = probe_init,
    .pick = probe_pick,
};

static void test_worker_slots_and_lifecycle(void **state)
{
    struct lbt t = lbt_make(LB_ROUNDROBIN, 5, NULL, 3);
    char err[128] = "";

    probe_builds = probe_inits = probe_frees = 0;
    t.c->lb = &probe_ops;
    struct host_set *hs = host_set_new(t.c, t.c->endpoints, 5, false, 3, err, sizeof(err));
    assert_non_null(hs);
    assert_int_equal(probe_builds, 1);
    assert_int_equal(probe_inits, 3);
    /* 40 + 5 * 8 = 80 bytes: two cache lines per worker */
    assert_int_equal(hs->worker_stride, 128);
    assert_int_equal(hs->nworkers, 3);
    assert_int_equal(hs->n, 5);
    assert_int_equal(hs->total_weight, 5);
    assert_ptr_not_equal(hs->eps, t.c->endpoints); /* copied */

    host_set_ref(hs);
    host_set_unref(hs);
    assert_int_equal(probe_frees, 0);
    host_set_unref(hs);
    assert_int_equal(probe_frees, 1);

    /* a failing build: NULL, the reason, nothing leaked (ASan) */
    t.c->retries = 99;
    assert_null(host_set_new(t.c, t.c->endpoints, 5, false, 3, err, sizeof(err)));
    assert_string_equal(err, "probe refuses");
    t.c->retries = 3;
    t.c->lb = &lb_roundrobin_ops;
    lbt_free(&t);
}

static void test_small_state_gets_a_cache_line(void **state)
{
    struct lbt t = lbt_make(LB_FIRST, 2, NULL, 4); /* no per-worker state */
    assert_int_equal(t.c->hosts->worker_stride, TERN_CACHELINE);
    assert_int_equal((uintptr_t)t.c->hosts->worker_state % TERN_CACHELINE, 0);
    lbt_free(&t);

    t = lbt_make(LB_ROUNDROBIN, 20, NULL, 2); /* 20 x int32 = 80 bytes */
    assert_int_equal(t.c->hosts->worker_stride, 2 * TERN_CACHELINE);
    lbt_free(&t);
}

static void test_rebuild_keeps_worker_refs_valid(void **state)
{
    /* workers hold their own reference: the old set survives a rebuild */
    struct lbt t = lbt_make(LB_ROUNDROBIN, 3, NULL, 2);
    struct host_set *old = t.c->worker[0].hosts;
    assert_ptr_equal(old, t.c->hosts);
    atomic_store(&t.c->endpoints[0]->up, 0);
    lbt_rebuild(&t);
    assert_ptr_not_equal(t.c->hosts, old);
    assert_int_equal(old->n, 3);
    struct lb_pick_ctx ctx = {.worker = 0};
    assert_non_null(old->lb->pick(old, host_set_worker_state(old, 0), &ctx));
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usable_endpoints),
        cmocka_unit_test(test_backup_only_when_all_down),
        cmocka_unit_test(test_allbackups),
        cmocka_unit_test(test_worker_slots_and_lifecycle),
        cmocka_unit_test(test_small_state_gets_a_cache_line),
        cmocka_unit_test(test_rebuild_keeps_worker_refs_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
