/* Tests for proxy/lb/first.c: the first endpoint with room. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static void test_fills_in_order(void **state)
{
    struct lbt t = lbt_new(LB_FIRST, 3, NULL);
    static const char *want[] = {"s1", "s1", "s2", "s2", "s3", "s3"};
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 2;
    lbt_start(&t, 1);
    assert_ptr_equal(t.c->lb, &lb_first_ops);

    for (int i = 0; i < 6; i++) {
        struct endpoint *ep = lbt_pick(&t, 0);
        assert_string_equal(lbt_name(ep), want[i]);
        atomic_fetch_add(&ep->cur_conns, 1);
    }
    assert_null(lbt_pick(&t, 0));
    /* a connection on s2 closes: s2 is first with room again */
    atomic_fetch_sub(&lbt_ep(&t, "s2")->cur_conns, 1);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s2");
    atomic_fetch_sub(&lbt_ep(&t, "s1")->cur_conns, 1);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s1");
    lbt_free(&t);
}

static void test_unlimited_takes_first(void **state)
{
    struct lbt t = lbt_make(LB_FIRST, 3, NULL, 1);
    for (int i = 0; i < 50; i++) {
        struct endpoint *ep = lbt_pick(&t, 0);
        assert_string_equal(lbt_name(ep), "s1");
        atomic_fetch_add(&ep->cur_conns, 1);
    }
    /* s1 goes down: s2 is now the first usable */
    atomic_store(&lbt_ep(&t, "s1")->up, 0);
    lbt_rebuild(&t);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s2");
    lbt_free(&t);
}

static void test_avoid_and_empty(void **state)
{
    struct lbt t = lbt_new(LB_FIRST, 2, NULL);
    t.c->endpoints[1]->maxconn = 1;
    lbt_start(&t, 1);
    struct endpoint *s1 = t.c->endpoints[0];
    assert_string_equal(lbt_name(lbt_pick_ex(&t, 0, 0, s1)), "s2");
    lbt_set_conns(t.c->endpoints[1], 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 0, s1), s1); /* the only one with room */
    lbt_free(&t);

    t = lbt_make(LB_FIRST, 0, NULL, 1);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_in_order),
        cmocka_unit_test(test_unlimited_takes_first),
        cmocka_unit_test(test_avoid_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
