/* Tests proxy/model/model.c: building a snapshot, defaults, lookups, runtime
 * initialisation, host-set rebuilds and reference counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/lb/lb.h"
#include "proxy/model/model.h"

static struct snapshot *build(void)
{
    struct snapshot *s = snapshot_new("t.cfg");
    struct listener *l = snapshot_add_listener(s, "fe");
    struct cluster *c = snapshot_add_cluster(s, "be");
    struct endpoint *e;

    l->default_cluster = c;
    e = cluster_add_endpoint(c, "s1");
    e->weight = 2;
    cluster_add_endpoint(c, "s2");
    e = cluster_add_endpoint(c, "off");
    e->disabled = true;
    e = cluster_add_endpoint(c, "spare");
    e->backup = true;
    return s;
}

static void test_defaults_and_lookup(void **state)
{
    struct snapshot *s = build();
    struct cluster *c = snapshot_find_cluster(s, "be");
    struct endpoint *e;

    assert_non_null(c);
    assert_null(snapshot_find_cluster(s, "nope"));
    assert_ptr_equal(snapshot_find_listener(s, "fe")->default_cluster, c);
    assert_int_equal(c->lb_policy, LB_ROUNDROBIN);
    assert_int_equal(c->retries, 3);
    assert_int_equal(c->redispatch_interval, -1);
    assert_int_equal(c->random_draws, 2);
    e = cluster_find_endpoint(c, "s2");
    assert_non_null(e);
    assert_int_equal(e->id, 1);
    assert_int_equal(e->weight, 1);
    assert_int_equal(e->inter_ms, 2000);
    assert_int_equal(e->rise, 2);
    assert_int_equal(e->fall, 3);
    assert_ptr_equal(e->cluster, c);
    assert_true(snapshot_find_listener(s, "fe")->access_log);
    assert_int_equal(s->global.bufsize, 16384);
    snapshot_unref(s);
}

static void test_versions_increase(void **state)
{
    struct snapshot *a = snapshot_new("a"), *b = snapshot_new("b");
    assert_true(a->version > 0);
    assert_true(b->version > a->version);
    snapshot_unref(a);
    snapshot_unref(b);
}

static void test_runtime_init_and_rebuild(void **state)
{
    struct snapshot *s = build();
    struct cluster *c = s->clusters[0];
    char err[128];
    struct host_set *hs;

    assert_int_equal(snapshot_runtime_init(s, 2, err, sizeof(err)), 0);
    assert_non_null(c->lb);
    assert_non_null(c->stats);
    /* every worker slot got its own reference to the first set */
    assert_ptr_equal(c->worker[0].hosts, c->hosts);
    assert_ptr_equal(c->worker[1].hosts, c->hosts);
    assert_int_equal(atomic_load(&c->hosts->refcnt), 3);
    /* active, enabled servers only; disabled ones start down */
    assert_int_equal(c->hosts->n, 2);
    assert_int_equal(c->hosts->total_weight, 3);
    assert_false(c->hosts->using_backup);
    assert_int_equal(atomic_load(&c->endpoints[2]->up), 0);
    /* servers start up with a full health counter */
    assert_int_equal(c->endpoints[0]->hc.health, c->endpoints[0]->rise + c->endpoints[0]->fall - 1);

    /* both actives down: the backup serves */
    atomic_store(&c->endpoints[0]->up, 0);
    atomic_store(&c->endpoints[1]->up, 0);
    hs = cluster_rebuild_hosts(c, 2, err, sizeof(err));
    assert_non_null(hs);
    assert_ptr_equal(hs, c->hosts);
    assert_int_equal(hs->n, 1);
    assert_true(hs->using_backup);
    assert_string_equal(hs->eps[0]->name, "spare");
    /* the workers' old set is still alive through their references */
    assert_int_equal(atomic_load(&c->worker[0].hosts->refcnt), 2);
    snapshot_unref(s); /* frees the sets the workers would have released */
}

static void test_refcount(void **state)
{
    struct snapshot *s = build();
    snapshot_ref(s);
    snapshot_unref(s);
    assert_int_equal(atomic_load(&s->refcnt), 1);
    snapshot_unref(s); /* ASan reports a leak or double free if this is wrong */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_lookup),
        cmocka_unit_test(test_versions_increase),
        cmocka_unit_test(test_runtime_init_and_rebuild),
        cmocka_unit_test(test_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
