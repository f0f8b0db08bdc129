/* Tests for proxy/lb/map_hash.c: map-based hashing. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static struct lbt map_make(uint32_t n, const uint32_t *w, uint32_t nworkers)
{
    struct lbt t = lbt_new(LB_SOURCE, n, w);
    t.c->hash_type = LB_HASH_MAP_BASED;
    lbt_start(&t, nworkers);
    return t;
}

static void test_same_key_same_endpoint(void **state)
{
    struct lbt t = map_make(5, NULL, 2);
    assert_ptr_equal(t.c->lb, &lb_map_hash_ops);
    for (uint32_t i = 0; i < 5000; i++) {
        const struct endpoint *ep = lbt_pick_ex(&t, 0, lbt_key(i), NULL);
        assert_non_null(ep);
        assert_ptr_equal(lbt_pick_ex(&t, 0, lbt_key(i), NULL), ep);
        assert_ptr_equal(lbt_pick_ex(&t, 1, lbt_key(i), NULL), ep);
    }
    lbt_free(&t);
}

static void test_weighted_distribution(void **state)
{
    static const uint32_t w[] = {1, 2, 1};
    const uint32_t nkeys = 40000;
    struct lbt t = map_make(3, w, 1);
    int c[3] = {0};

    /* raw sequential keys too: the key is mixed before the modulo */
    for (uint32_t i = 0; i < nkeys; i++)
        c[lbt_pick_ex(&t, 0, i, NULL)->id]++;
    for (int i = 0; i < 3; i++) {
        double share = (double)c[i] / nkeys, want = w[i] / 4.0;
        assert_true(share > want * 0.95 && share < want * 1.05);
    }
    lbt_free(&t);
}

static void test_full_still_returned(void **state)
{
    struct lbt t = lbt_new(LB_SOURCE, 2, NULL);
    t.c->endpoints[0]->maxconn = 1;
    t.c->endpoints[1]->maxconn = 1;
    lbt_start(&t, 1);
    const struct endpoint *ep = lbt_pick_ex(&t, 0, 7, NULL);
    lbt_set_conns(t.c->endpoints[0], 1);
    lbt_set_conns(t.c->endpoints[1], 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 7, NULL), ep); /* affinity kept; caller queues */
    lbt_free(&t);
}

static void test_avoid(void **state)
{
    struct lbt t = map_make(3, NULL, 1);
    for (uint32_t i = 0; i < 1000; i++) {
        const struct endpoint *ep = lbt_pick_ex(&t, 0, lbt_key(i), NULL);
        const struct endpoint *alt = lbt_pick_ex(&t, 0, lbt_key(i), ep);
        assert_non_null(alt);
        assert_ptr_not_equal(alt, ep);
    }
    lbt_free(&t);

    t = map_make(1, NULL, 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 1, t.c->endpoints[0]), t.c->endpoints[0]);
    lbt_free(&t);
}

static void test_empty(void **state)
{
    struct lbt t = map_make(0, NULL, 1);
    assert_null(lbt_pick_ex(&t, 0, 1, NULL));
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_key_same_endpoint),
        cmocka_unit_test(test_weighted_distribution),
        cmocka_unit_test(test_full_still_returned),
        cmocka_unit_test(test_avoid),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
