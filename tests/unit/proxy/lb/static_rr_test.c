/* Tests for proxy/lb/static_rr.c: weighted round robin over a fixed map. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static void test_exact_rotation(void **state)
{
    struct lbt t = lbt_make(LB_STATIC_RR, 3, NULL, 1);
    static const char *want[] = {"s1", "s2", "s3"};

    assert_ptr_equal(t.c->lb, &lb_static_rr_ops);
    for (int i = 0; i < 30; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), want[i % 3]);
    lbt_free(&t);
}

static void test_weighted_exact_over_cycle(void **state)
{
    static const uint32_t w[] = {6, 3, 3}; /* gcd 3: a map of 4 entries */
    struct lbt t = lbt_make(LB_STATIC_RR, 3, w, 1);

    for (int cycle = 0; cycle < 50; cycle++) {
        int c[3] = {0};
        for (int i = 0; i < 4; i++)
            c[lbt_pick(&t, 0)->id]++;
        assert_int_equal(c[0], 2);
        assert_int_equal(c[1], 1);
        assert_int_equal(c[2], 1);
    }
    lbt_free(&t);
}

static void test_smooth_map(void **state)
{
    static const uint32_t w[] = {3, 1};
    static const uint32_t w511[] = {5, 1, 1};
    struct lbt t = lbt_make(LB_STATIC_RR, 2, w, 1);
    static const char *want[] = {"s1", "s1", "s2", "s1"};

    for (int i = 0; i < 40; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), want[i % 4]);
    lbt_free(&t);

    t = lbt_make(LB_STATIC_RR, 3, w511, 1);
    const struct endpoint *prev = NULL;
    int run = 0, max_run = 0, c0 = 0;
    for (int i = 0; i < 700; i++) {
        const struct endpoint *ep = lbt_pick(&t, 0);
        run = ep == prev ? run + 1 : 1;
        prev = ep;
        max_run = run > max_run ? run : max_run;
        c0 += ep->id == 0;
    }
    assert_true(max_run < 5);
    assert_int_equal(c0, 500);
    lbt_free(&t);
}

static void test_skips_full_and_all_full(void **state)
{
    struct lbt t = lbt_new(LB_STATIC_RR, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 3;
    lbt_start(&t, 1);
    lbt_set_conns(lbt_ep(&t, "s1"), 3);
    for (int i = 0; i < 20; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), i % 2 ? "s3" : "s2");
    lbt_set_conns(lbt_ep(&t, "s2"), 3);
    lbt_set_conns(lbt_ep(&t, "s3"), 5);
    assert_null(lbt_pick(&t, 0));
    lbt_set_conns(lbt_ep(&t, "s3"), 2);
    assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s3");
    lbt_free(&t);
}

static void test_heavy_full_endpoint(void **state)
{
    /* s1 holds 200 of 202 map entries and is full: the walk still finds s2
     * and s3, and does not give up early */
    static const uint32_t w[] = {200, 1, 1};
    struct lbt t = lbt_new(LB_STATIC_RR, 3, w);
    t.c->endpoints[0]->maxconn = 1;
    lbt_start(&t, 1);
    lbt_set_conns(t.c->endpoints[0], 1);
    int c[3] = {0};
    for (int i = 0; i < 100; i++)
        c[lbt_pick(&t, 0)->id]++;
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 50);
    assert_int_equal(c[2], 50);
    lbt_free(&t);
}

static void test_large_uneven_set(void **state)
{
    /* 1,100 endpoints of weight 255 or 256: too big for the round-robin
     * construction, the sorted fallback still gives exact counts per cycle */
    enum { N = 1100 };
    static uint32_t w[N];
    uint64_t total = 0;
    for (int i = 0; i < N; i++) {
        w[i] = 255 + (uint32_t)(i % 2);
        total += w[i];
    }
    struct lbt t = lbt_make(LB_STATIC_RR, N, w, 1);
    uint32_t *c = calloc(N, sizeof(*c));
    for (uint64_t k = 0; k < total; k++)
        c[lbt_pick(&t, 0)->id]++;
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i], w[i]);
    free(c);
    lbt_free(&t);
}

static void test_empty(void **state)
{
    struct lbt t = lbt_make(LB_STATIC_RR, 0, NULL, 2);
    assert_null(lbt_pick(&t, 0));
    assert_null(lbt_pick(&t, 1));
    lbt_free(&t);
}

static void test_workers_own_position(void **state)
{
    struct lbt t = lbt_make(LB_STATIC_RR, 4, NULL, 2);
    const struct endpoint *w0 = lbt_pick(&t, 0), *w1 = lbt_pick(&t, 1);

    /* spread: worker 1 starts half way round the map */
    assert_string_equal(lbt_name(w0), "s1");
    assert_string_equal(lbt_name(w1), "s3");
    /* independent: worker 0's picks do not move worker 1 */
    for (int i = 0; i < 5; i++)
        lbt_pick(&t, 0);
    assert_string_equal(lbt_name(lbt_pick(&t, 1)), "s4");
    assert_string_equal(lbt_name(lbt_pick(&t, 1)), "s1");
    lbt_free(&t);
}

static void test_avoid(void **state)
{
    struct lbt t = lbt_new(LB_STATIC_RR, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 1;
    lbt_start(&t, 1);
    struct endpoint *s1 = lbt_ep(&t, "s1");
    for (int i = 0; i < 12; i++)
        assert_ptr_not_equal(lbt_pick_ex(&t, 0, 0, s1), s1);
    lbt_set_conns(lbt_ep(&t, "s2"), 1);
    lbt_set_conns(lbt_ep(&t, "s3"), 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 0, s1), s1);
    lbt_set_conns(s1, 1);
    assert_null(lbt_pick_ex(&t, 0, 0, s1));
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_rotation),
        cmocka_unit_test(test_weighted_exact_over_cycle),
        cmocka_unit_test(test_smooth_map),
        cmocka_unit_test(test_skips_full_and_all_full),
        cmocka_unit_test(test_heavy_full_endpoint),
        cmocka_unit_test(test_large_uneven_set),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_workers_own_position),
        cmocka_unit_test(test_avoid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
