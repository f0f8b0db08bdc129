/* Tests for proxy/lb/roundrobin.c: smooth weighted round robin. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static void test_exact_rotation(void **state)
{
    struct lbt t = lbt_make(LB_ROUNDROBIN, 3, NULL, 1);
    static const char *want[] = {"s1", "s2", "s3"};

    assert_ptr_equal(t.c->lb, &lb_roundrobin_ops);
    for (int i = 0; i < 30; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), want[i % 3]);
    lbt_free(&t);
}

static void test_weighted_exact_over_cycle(void **state)
{
    static const uint32_t w[] = {5, 3, 2};
    struct lbt t = lbt_make(LB_ROUNDROBIN, 3, w, 1);
    int count[3] = {0};

    /* every cycle of total_weight picks holds each endpoint weight times */
    for (int cycle = 0; cycle < 100; cycle++) {
        int c[3] = {0};
        for (int i = 0; i < 10; i++)
            c[lbt_pick(&t, 0)->id]++;
        assert_int_equal(c[0], 5);
        assert_int_equal(c[1], 3);
        assert_int_equal(c[2], 2);
        for (int k = 0; k < 3; k++)
            count[k] += c[k];
    }
    assert_int_equal(count[0], 500);
    lbt_free(&t);
}

static void test_smooth_interleave(void **state)
{
    static const uint32_t w31[] = {3, 1};
    static const uint32_t w511[] = {5, 1, 1};
    struct lbt t = lbt_make(LB_ROUNDROBIN, 2, w31, 1);
    static const char *want[] = {"s1", "s1", "s2", "s1"};

    for (int i = 0; i < 40; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), want[i % 4]);
    lbt_free(&t);

    /* 5,1,1: a plain weighted rotation would give s1 five times in a row */
    t = lbt_make(LB_ROUNDROBIN, 3, w511, 1);
    const struct endpoint *prev = NULL;
    int run = 0, max_run = 0;
    for (int i = 0; i < 700; i++) {
        const struct endpoint *ep = lbt_pick(&t, 0);
        run = ep == prev ? run + 1 : 1;
        prev = ep;
        if (run > max_run)
            max_run = run;
    }
    assert_true(max_run < 5);
    /* within one cycle s2 and s3 are not adjacent to each other's start */
    lbt_free(&t);
}

static void test_skips_full_endpoint(void **state)
{
    struct lbt t = lbt_new(LB_ROUNDROBIN, 3, NULL);
    lbt_ep(&t, "s2")->maxconn = 2;
    lbt_start(&t, 1);
    lbt_set_conns(lbt_ep(&t, "s2"), 2);

    for (int i = 0; i < 20; i++) {
        const struct endpoint *ep = lbt_pick(&t, 0);
        assert_non_null(ep);
        assert_string_not_equal(ep->name, "s2");
        assert_string_equal(ep->name, i % 2 ? "s3" : "s1");
    }
    /* one slot frees up: s2 is chosen again */
    lbt_set_conns(lbt_ep(&t, "s2"), 1);
    int seen = 0;
    for (int i = 0; i < 3; i++)
        seen += lbt_pick(&t, 0) == lbt_ep(&t, "s2");
    assert_int_equal(seen, 1);
    lbt_free(&t);
}

static void test_all_full_returns_null(void **state)
{
    struct lbt t = lbt_new(LB_ROUNDROBIN, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 1;
    lbt_start(&t, 1);
    for (uint32_t i = 0; i < 3; i++)
        lbt_set_conns(t.c->endpoints[i], 1);
    assert_null(lbt_pick(&t, 0));
    lbt_set_conns(t.c->endpoints[2], 0);
    assert_ptr_equal(lbt_pick(&t, 0), t.c->endpoints[2]);
    lbt_free(&t);
}

static void test_empty_set_returns_null(void **state)
{
    struct lbt t = lbt_make(LB_ROUNDROBIN, 0, NULL, 1);
    assert_int_equal(t.c->hosts->n, 0);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);

    /* all endpoints down: empty set too */
    t = lbt_make(LB_ROUNDROBIN, 2, NULL, 1);
    atomic_store(&t.c->endpoints[0]->up, 0);
    atomic_store(&t.c->endpoints[1]->up, 0);
    lbt_rebuild(&t);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);
}

static void test_workers_independent(void **state)
{
    struct lbt a = lbt_make(LB_ROUNDROBIN, 3, NULL, 2);
    struct lbt b = lbt_make(LB_ROUNDROBIN, 3, NULL, 2);
    const struct endpoint *seq[9];

    /* worker 1 of `a` runs its sequence with worker 0 idle */
    for (int i = 0; i < 9; i++)
        seq[i] = lbt_pick(&a, 1);
    /* worker 1 of `b` the same, with worker 0 picking in between */
    for (int i = 0; i < 9; i++) {
        lbt_pick(&b, 0);
        lbt_pick(&b, 0);
        assert_string_equal(lbt_name(lbt_pick(&b, 1)), lbt_name(seq[i]));
    }
    /* each worker on its own is an exact rotation over all three */
    for (int i = 0; i < 6; i++)
        assert_ptr_not_equal(seq[i], seq[i + 1]);
    assert_true(seq[0] != seq[1] && seq[1] != seq[2] && seq[0] != seq[2]);
    for (int i = 3; i < 9; i++)
        assert_string_equal(lbt_name(seq[i]), lbt_name(seq[i - 3]));
    /* and worker 1 does not start where worker 0 does (spread bursts) */
    struct lbt c = lbt_make(LB_ROUNDROBIN, 3, NULL, 2);
    assert_ptr_not_equal(lbt_pick(&c, 0), lbt_pick(&c, 1));
    lbt_free(&a);
    lbt_free(&b);
    lbt_free(&c);
}

static void test_avoid(void **state)
{
    struct lbt t = lbt_new(LB_ROUNDROBIN, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 1;
    lbt_start(&t, 1);
    struct endpoint *s2 = lbt_ep(&t, "s2");

    for (int i = 0; i < 12; i++) {
        const struct endpoint *ep = lbt_pick_ex(&t, 0, 0, s2);
        assert_non_null(ep);
        assert_ptr_not_equal(ep, s2);
    }
    /* the others are full: s2 is the only candidate left */
    lbt_set_conns(lbt_ep(&t, "s1"), 1);
    lbt_set_conns(lbt_ep(&t, "s3"), 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 0, s2), s2);
    /* and when it is full as well, nothing */
    lbt_set_conns(s2, 1);
    assert_null(lbt_pick_ex(&t, 0, 0, s2));
    lbt_free(&t);
}

static void test_weight_change_via_rebuild(void **state)
{
    struct lbt t = lbt_make(LB_ROUNDROBIN, 2, NULL, 1);
    t.c->endpoints[0]->weight = 2;
    lbt_rebuild(&t);
    int c0 = 0;
    for (int i = 0; i < 30; i++)
        c0 += lbt_pick(&t, 0) == t.c->endpoints[0];
    assert_int_equal(c0, 20);
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_rotation),
        cmocka_unit_test(test_weighted_exact_over_cycle),
        cmocka_unit_test(test_smooth_interleave),
        cmocka_unit_test(test_skips_full_endpoint),
        cmocka_unit_test(test_all_full_returns_null),
        cmocka_unit_test(test_empty_set_returns_null),
        cmocka_unit_test(test_workers_independent),
        cmocka_unit_test(test_avoid),
        cmocka_unit_test(test_weight_change_via_rebuild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
