/*
 * chash_tests.h: the properties every consistent hash must have, shared by
 * ring_test.c and maglev_test.c. Each test takes its algorithm and
 * tolerances from cmocka's prestate (struct chash_params).
 */
#ifndef TERN_TESTS_CHASH_TESTS_H
#define TERN_TESTS_CHASH_TESTS_H

#include "tests/unit/proxy/lb/lb_test_util.h"

#define CHASH_KEYS 10000

struct chash_params {
    enum lb_consistent_algo algo;
    const struct lb_ops *ops;
    /* share of all keys allowed to move between two endpoints that did not
     * change (ring: 0, Maglev: a little) */
    double max_other_moved;
    /* allowed relative error of a weighted endpoint's share */
    double weight_tolerance;
    /* `avoid` gives the same endpoint as removing the avoided one */
    bool avoid_is_removal;
};

static inline struct lbt chash_new(const struct chash_params *p, uint32_t n,
                                   const uint32_t *weights)
{
    struct lbt t = lbt_new(LB_SOURCE, n, weights);
    t.c->hash_type = LB_HASH_CONSISTENT;
    t.c->consistent_algo = p->algo;
    return t;
}

static inline void chash_map(const struct lbt *t, const char **out, uint32_t nkeys)
{
    for (uint32_t i = 0; i < nkeys; i++) {
        const struct endpoint *ep = lbt_pick_ex(t, 0, lbt_key(i), NULL);
        assert_non_null(ep);
        out[i] = ep->name; /* names outlive the snapshot's rebuilds */
    }
}

static void chash_test_ops(void **state)
{
    const struct chash_params *p = *state;
    struct lbt t = chash_new(p, 3, NULL);
    lbt_start(&t, 1);
    assert_ptr_equal(t.c->lb, p->ops);
    assert_ptr_equal(t.c->hosts->lb, p->ops);
    lbt_free(&t);
}

/* The same key reaches the same endpoint, pick after pick and in a set built
 * independently (another process, a restart). */
static void chash_test_same_key_stable(void **state)
{
    const struct chash_params *p = *state;
    struct lbt a = chash_new(p, 5, NULL), b = chash_new(p, 5, NULL);
    lbt_start(&a, 2);
    lbt_start(&b, 1);
    for (uint32_t i = 0; i < CHASH_KEYS; i++) {
        const struct endpoint *ea = lbt_pick_ex(&a, 0, lbt_key(i), NULL);
        assert_ptr_equal(lbt_pick_ex(&a, 1, lbt_key(i), NULL), ea);
        assert_ptr_equal(lbt_pick_ex(&a, 0, lbt_key(i), NULL), ea);
        assert_string_equal(lbt_pick_ex(&b, 0, lbt_key(i), NULL)->name, ea->name);
    }
    lbt_free(&a);
    lbt_free(&b);
}

/* Endpoints are hashed by name: listing them in another order, or moving
 * one to another address, changes nothing. */
static void chash_test_hashed_by_name(void **state)
{
    const struct chash_params *p = *state;
    struct lbt a = chash_new(p, 0, NULL), b = chash_new(p, 0, NULL);
    static const char *names[] = {"web-a", "web-b", "web-c", "web-d", "web-e"};
    char err[128];

    for (int i = 0; i < 5; i++) {
        struct endpoint *ea = cluster_add_endpoint(a.c, names[i]);
        struct endpoint *eb = cluster_add_endpoint(b.c, names[4 - i]);
        assert_int_equal(tern_parse_addr("127.0.0.1:8000", false, &ea->addr, &ea->addrlen,
                                         err, sizeof(err)), 0);
        assert_int_equal(tern_parse_addr("10.1.2.3:9000", false, &eb->addr, &eb->addrlen,
                                         err, sizeof(err)), 0);
    }
    lbt_start(&a, 1);
    lbt_start(&b, 1);
    for (uint32_t i = 0; i < CHASH_KEYS; i++)
        assert_string_equal(lbt_pick_ex(&a, 0, lbt_key(i), NULL)->name,
                            lbt_pick_ex(&b, 0, lbt_key(i), NULL)->name);
    lbt_free(&a);
    lbt_free(&b);
}

/* Adding the Nth endpoint moves about 1/N of the keys, nearly all of them to
 * the new endpoint. */
static void chash_check_add(const struct chash_params *p, uint32_t n)
{
    struct lbt t = chash_new(p, n, NULL);
    const char **before = calloc(CHASH_KEYS, sizeof(*before));
    const char **after = calloc(CHASH_KEYS, sizeof(*after));
    struct endpoint *added = t.c->endpoints[n - 1];
    uint32_t moved = 0, other = 0;

    lbt_start(&t, 1);
    atomic_store(&added->up, 0);
    lbt_rebuild(&t);
    assert_int_equal(t.c->hosts->n, n - 1);
    chash_map(&t, before, CHASH_KEYS);
    atomic_store(&added->up, 1);
    lbt_rebuild(&t);
    chash_map(&t, after, CHASH_KEYS);
    for (uint32_t i = 0; i < CHASH_KEYS; i++) {
        if (strcmp(before[i], after[i]) != 0) {
            moved++;
            if (strcmp(after[i], added->name) != 0)
                other++;
        }
    }
    print_message("add endpoint %u: moved %.4f of keys (1/N = %.4f), %.4f elsewhere\n", n,
                  (double)moved / CHASH_KEYS, 1.0 / n, (double)other / CHASH_KEYS);
    assert_true(moved > 0);
    assert_true((double)moved / CHASH_KEYS <= 1.3 / n);
    assert_true((double)other / CHASH_KEYS <= p->max_other_moved);
    free(before);
    free(after);
    lbt_free(&t);
}

static void chash_test_add_moves_one_nth(void **state)
{
    const struct chash_params *p = *state;
    chash_check_add(p, 4);
    chash_check_add(p, 10);
    chash_check_add(p, 25);
}

/* Removing an endpoint moves its keys, and (nearly) only its keys. */
static void chash_test_remove_moves_only_its_keys(void **state)
{
    const struct chash_params *p = *state;
    struct lbt t = chash_new(p, 5, NULL);
    const char **before = calloc(CHASH_KEYS, sizeof(*before));
    const char **after = calloc(CHASH_KEYS, sizeof(*after));
    uint32_t on_removed = 0, other = 0;

    lbt_start(&t, 1);
    chash_map(&t, before, CHASH_KEYS);
    struct endpoint *gone = lbt_ep(&t, "s3");
    atomic_store(&gone->up, 0);
    lbt_rebuild(&t);
    chash_map(&t, after, CHASH_KEYS);
    for (uint32_t i = 0; i < CHASH_KEYS; i++) {
        assert_string_not_equal(after[i], "s3");
        if (strcmp(before[i], "s3") == 0)
            on_removed++;
        else if (strcmp(before[i], after[i]) != 0)
            other++;
    }
    print_message("remove: %.4f of keys were on it, %.4f moved elsewhere\n",
                  (double)on_removed / CHASH_KEYS, (double)other / CHASH_KEYS);
    assert_true(on_removed > CHASH_KEYS / 10);
    assert_true((double)other / CHASH_KEYS <= p->max_other_moved);

    /* and it comes back to exactly the old mapping */
    atomic_store(&gone->up, 1);
    lbt_rebuild(&t);
    chash_map(&t, after, CHASH_KEYS);
    for (uint32_t i = 0; i < CHASH_KEYS; i++)
        assert_string_equal(after[i], before[i]);
    free(before);
    free(after);
    lbt_free(&t);
}

/* Weights 1,2,3,4 get shares of 1/10, 2/10, 3/10, 4/10. */
static void chash_test_weighted(void **state)
{
    const struct chash_params *p = *state;
    static const uint32_t w[] = {1, 2, 3, 4};
    const uint32_t nkeys = 100000;
    struct lbt t = chash_new(p, 4, w);
    uint32_t count[4] = {0};

    lbt_start(&t, 1);
    for (uint32_t i = 0; i < nkeys; i++)
        count[lbt_pick_ex(&t, 0, lbt_key(i), NULL)->id]++;
    for (int i = 0; i < 4; i++) {
        double share = (double)count[i] / nkeys, want = w[i] / 10.0;
        print_message("weight %u: share %.4f (want %.4f)\n", w[i], share, want);
        assert_true(share >= want * (1 - p->weight_tolerance));
        assert_true(share <= want * (1 + p->weight_tolerance));
    }
    lbt_free(&t);
}

/* Equal weights: no endpoint far above the mean. */
static void chash_test_balance(void **state)
{
    const struct chash_params *p = *state;
    const uint32_t n = 10, nkeys = 200000;
    struct lbt t = chash_new(p, n, NULL);
    uint32_t count[10] = {0}, max = 0;

    lbt_start(&t, 1);
    for (uint32_t i = 0; i < nkeys; i++)
        count[lbt_pick_ex(&t, 0, lbt_key(i), NULL)->id]++;
    for (uint32_t i = 0; i < n; i++)
        max = count[i] > max ? count[i] : max;
    print_message("10 endpoints: max/mean %.3f\n", max / ((double)nkeys / n));
    assert_true(max / ((double)nkeys / n) <= 1 + 2 * p->weight_tolerance);
    lbt_free(&t);
}

/* Redispatch: `avoid` is never returned while another endpoint exists; the
 * alternative is stable (next point / next slot). */
static void chash_test_avoid(void **state)
{
    const struct chash_params *p = *state;
    struct lbt t = chash_new(p, 4, NULL), r = chash_new(p, 4, NULL);

    lbt_start(&t, 1);
    lbt_start(&r, 1);
    atomic_store(&r.c->endpoints[1]->up, 0); /* r: the same set without s2 */
    lbt_rebuild(&r);
    for (uint32_t i = 0; i < 2000; i++) {
        const struct endpoint *ep = lbt_pick_ex(&t, 0, lbt_key(i), NULL);
        const struct endpoint *alt = lbt_pick_ex(&t, 0, lbt_key(i), ep);
        assert_non_null(alt);
        assert_ptr_not_equal(alt, ep);
        assert_ptr_equal(lbt_pick_ex(&t, 0, lbt_key(i), ep), alt);
        if (p->avoid_is_removal && ep == t.c->endpoints[1])
            assert_string_equal(alt->name, lbt_pick_ex(&r, 0, lbt_key(i), NULL)->name);
        /* avoiding someone else changes nothing */
        const struct endpoint *other = ep == t.c->endpoints[0] ? t.c->endpoints[3]
                                                                : t.c->endpoints[0];
        assert_ptr_equal(lbt_pick_ex(&t, 0, lbt_key(i), other), ep);
    }
    lbt_free(&t);
    lbt_free(&r);

    /* a single endpoint: nothing else to take */
    t = chash_new(p, 1, NULL);
    lbt_start(&t, 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 42, t.c->endpoints[0]), t.c->endpoints[0]);
    lbt_free(&t);
}

/* Hashing keeps affinity: a full endpoint is still returned (the caller
 * queues for it); an empty set gives NULL. */
static void chash_test_full_and_empty(void **state)
{
    const struct chash_params *p = *state;
    struct lbt t = chash_new(p, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 1;
    lbt_start(&t, 1);
    for (uint32_t i = 0; i < 3; i++)
        lbt_set_conns(t.c->endpoints[i], 1);
    for (uint32_t i = 0; i < 100; i++)
        assert_non_null(lbt_pick_ex(&t, 0, lbt_key(i), NULL));
    lbt_free(&t);

    t = chash_new(p, 0, NULL);
    lbt_start(&t, 1);
    assert_null(lbt_pick_ex(&t, 0, 42, NULL));
    lbt_free(&t);

    t = chash_new(p, 2, NULL);
    lbt_start(&t, 1);
    atomic_store(&t.c->endpoints[0]->up, 0);
    atomic_store(&t.c->endpoints[1]->up, 0);
    lbt_rebuild(&t);
    assert_null(lbt_pick_ex(&t, 0, 42, NULL));
    lbt_free(&t);
}

#define CHASH_TESTS(params)                                                   \
    cmocka_unit_test_prestate(chash_test_ops, &(params)),                     \
    cmocka_unit_test_prestate(chash_test_same_key_stable, &(params)),         \
    cmocka_unit_test_prestate(chash_test_hashed_by_name, &(params)),          \
    cmocka_unit_test_prestate(chash_test_add_moves_one_nth, &(params)),       \
    cmocka_unit_test_prestate(chash_test_remove_moves_only_its_keys, &(params)), \
    cmocka_unit_test_prestate(chash_test_weighted, &(params)),                \
    cmocka_unit_test_prestate(chash_test_balance, &(params)),                 \
    cmocka_unit_test_prestate(chash_test_avoid, &(params)),                   \
    cmocka_unit_test_prestate(chash_test_full_and_empty, &(params))

#endif /* TERN_TESTS_CHASH_TESTS_H */
