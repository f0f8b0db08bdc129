/* Tests for proxy/lb/leastconn.c: fewest connections relative to weight. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static void test_prefers_idle(void **state)
{
    struct lbt t = lbt_make(LB_LEASTCONN, 3, NULL, 1);
    assert_ptr_equal(t.c->lb, &lb_leastconn_ops);
    lbt_set_conns(lbt_ep(&t, "s1"), 5);
    lbt_set_conns(lbt_ep(&t, "s2"), 0);
    lbt_set_conns(lbt_ep(&t, "s3"), 3);
    for (int i = 0; i < 10; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s2");
    lbt_set_conns(lbt_ep(&t, "s2"), 4);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s3");
    lbt_free(&t);
}

static void test_ties_rotate(void **state)
{
    struct lbt t = lbt_make(LB_LEASTCONN, 3, NULL, 1);
    static const char *want[] = {"s1", "s2", "s3"};

    /* all idle: short connections spread over all three */
    for (int i = 0; i < 30; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), want[i % 3]);
    /* s1 busier: the tie between s2 and s3 still rotates */
    lbt_set_conns(lbt_ep(&t, "s1"), 2);
    int c2 = 0, c3 = 0;
    for (int i = 0; i < 20; i++) {
        const struct endpoint *ep = lbt_pick(&t, 0);
        c2 += ep->id == 1;
        c3 += ep->id == 2;
    }
    assert_int_equal(c2, 10);
    assert_int_equal(c3, 10);
    lbt_free(&t);
}

static void test_follows_load_with_weights(void **state)
{
    /* connections that stay open spread in proportion to weight */
    static const uint32_t w[] = {3, 1};
    struct lbt t = lbt_make(LB_LEASTCONN, 2, w, 1);
    for (int i = 0; i < 400; i++)
        atomic_fetch_add(&lbt_pick(&t, 0)->cur_conns, 1);
    int c1 = atomic_load(&t.c->endpoints[0]->cur_conns);
    int c2 = atomic_load(&t.c->endpoints[1]->cur_conns);
    assert_int_equal(c1 + c2, 400);
    assert_true(c1 >= 297 && c1 <= 303);

    /* relative load without division: (2+1)/3 = 1 beats (1+1)/1 = 2 */
    lbt_set_conns(t.c->endpoints[0], 2);
    lbt_set_conns(t.c->endpoints[1], 1);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[0]);
    lbt_free(&t);
}

static void test_skips_full(void **state)
{
    struct lbt t = lbt_new(LB_LEASTCONN, 2, NULL);
    t.c->endpoints[0]->maxconn = 1;
    t.c->endpoints[1]->maxconn = 10;
    lbt_start(&t, 1);
    lbt_set_conns(t.c->endpoints[0], 1); /* full though least loaded */
    lbt_set_conns(t.c->endpoints[1], 9);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[1]);
    lbt_set_conns(t.c->endpoints[1], 10);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);

    t = lbt_make(LB_LEASTCONN, 0, NULL, 1);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);
}

static void test_avoid(void **state)
{
    struct lbt t = lbt_make(LB_LEASTCONN, 3, NULL, 1);
    struct endpoint *s2 = lbt_ep(&t, "s2");
    lbt_set_conns(lbt_ep(&t, "s1"), 7);
    lbt_set_conns(lbt_ep(&t, "s3"), 9);
    assert_ptr_equal(lbt_pick(&t, 0), s2);
    assert_string_equal(lbt_name(lbt_pick_ex(&t, 0, 0, s2)), "s1");
    lbt_free(&t);

    t = lbt_make(LB_LEASTCONN, 1, NULL, 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 0, t.c->endpoints[0]), t.c->endpoints[0]);
    lbt_free(&t);
}

static void test_workers_independent(void **state)
{
    struct lbt t = lbt_make(LB_LEASTCONN, 3, NULL, 2);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s1");
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s2");
    /* worker 1's tie-break position is its own */
    assert_string_equal(lbt_name(lbt_pick(&t, 1)), "s1");
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s3");
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefers_idle),
        cmocka_unit_test(test_ties_rotate),
        cmocka_unit_test(test_follows_load_with_weights),
        cmocka_unit_test(test_skips_full),
        cmocka_unit_test(test_avoid),
        cmocka_unit_test(test_workers_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
