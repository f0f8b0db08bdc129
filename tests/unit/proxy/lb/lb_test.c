/* Tests for proxy/lb/lb.c: which algorithm a cluster's settings select. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static const struct lb_ops *ops_for(enum lb_policy p, enum lb_hash_type h,
                                    enum lb_consistent_algo a)
{
    struct cluster c;
    memset(&c, 0, sizeof(c));
    c.lb_policy = p;
    c.hash_type = h;
    c.consistent_algo = a;
    return lb_ops_for(&c);
}

static void test_policies(void **state)
{
    assert_ptr_equal(ops_for(LB_ROUNDROBIN, 0, 0), &lb_roundrobin_ops);
    assert_ptr_equal(ops_for(LB_STATIC_RR, 0, 0), &lb_static_rr_ops);
    assert_ptr_equal(ops_for(LB_LEASTCONN, 0, 0), &lb_leastconn_ops);
    assert_ptr_equal(ops_for(LB_FIRST, 0, 0), &lb_first_ops);
    assert_ptr_equal(ops_for(LB_RANDOM, 0, 0), &lb_random_ops);
    /* hash-type only matters for hashing policies */
    assert_ptr_equal(ops_for(LB_ROUNDROBIN, LB_HASH_CONSISTENT, LB_CONSISTENT_MAGLEV),
                     &lb_roundrobin_ops);
}

static void test_source_hash_types(void **state)
{
    assert_ptr_equal(ops_for(LB_SOURCE, LB_HASH_MAP_BASED, LB_CONSISTENT_RING),
                     &lb_map_hash_ops);
    assert_ptr_equal(ops_for(LB_SOURCE, LB_HASH_MAP_BASED, LB_CONSISTENT_MAGLEV),
                     &lb_map_hash_ops);
    assert_ptr_equal(ops_for(LB_SOURCE, LB_HASH_CONSISTENT, LB_CONSISTENT_RING), &lb_ring_ops);
    assert_ptr_equal(ops_for(LB_SOURCE, LB_HASH_CONSISTENT, LB_CONSISTENT_MAGLEV),
                     &lb_maglev_ops);
}

static void test_model_defaults(void **state)
{
    /* a fresh cluster is roundrobin; balance source alone is map-based
     * (HAProxy's default hash-type); consistent alone is the ring */
    struct lbt t = lbt_make(LB_ROUNDROBIN, 1, NULL, 1);
    assert_ptr_equal(t.c->lb, &lb_roundrobin_ops);
    lbt_free(&t);
    t = lbt_make(LB_SOURCE, 1, NULL, 1);
    assert_ptr_equal(t.c->lb, &lb_map_hash_ops);
    lbt_free(&t);
}

static void test_every_ops_is_complete(void **state)
{
    const struct lb_ops *all[] = {&lb_roundrobin_ops, &lb_static_rr_ops, &lb_leastconn_ops,
                                  &lb_first_ops,      &lb_map_hash_ops,  &lb_ring_ops,
                                  &lb_maglev_ops,     &lb_random_ops};
    for (size_t i = 0; i < TERN_ARRAY_SIZE(all); i++) {
        assert_non_null(all[i]->name);
        assert_non_null(all[i]->pick);
        assert_true((all[i]->build == NULL) == (all[i]->free_table == NULL));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(all[i]->name, all[j]->name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_source_hash_types),
        cmocka_unit_test(test_model_defaults),
        cmocka_unit_test(test_every_ops_is_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
