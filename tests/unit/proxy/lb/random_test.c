/* Tests for proxy/lb/random.c: weighted random, best of `draws` by load. */
#include "tests/unit/proxy/lb/lb_test_util.h"

static void test_weighted_ratios(void **state)
{
    static const uint32_t w[] = {1, 2, 3};
    const int picks = 60000;

    /* draws 1 (plain weighted random), and the default 2 with every
     * endpoint idle (ties keep the first draw): both follow the weights */
    for (uint32_t draws = 1; draws <= 2; draws++) {
        struct lbt t = lbt_new(LB_RANDOM, 3, w);
        t.c->random_draws = draws;
        lbt_start(&t, 1);
        assert_ptr_equal(t.c->lb, &lb_random_ops);
        int c[3] = {0};
        for (int i = 0; i < picks; i++)
            c[lbt_pick(&t, 0)->id]++;
        for (int i = 0; i < 3; i++) {
            double share = (double)c[i] / picks, want = w[i] / 6.0;
            print_message("draws %u weight %u: %.4f (want %.4f)\n", draws, w[i], share, want);
            assert_true(share > want * 0.95 && share < want * 1.05);
        }
        lbt_free(&t);
    }
}

static void test_p2c_prefers_less_loaded(void **state)
{
    /* two equal endpoints, s1 busy: with 2 draws s1 wins only when both
     * draws are s1 (1/4); with 1 draw half the time */
    const int picks = 20000;
    for (uint32_t draws = 1; draws <= 2; draws++) {
        struct lbt t = lbt_new(LB_RANDOM, 2, NULL);
        t.c->random_draws = draws;
        lbt_start(&t, 1);
        lbt_set_conns(t.c->endpoints[0], 10);
        int busy = 0;
        for (int i = 0; i < picks; i++)
            busy += lbt_pick(&t, 0) == t.c->endpoints[0];
        double share = (double)busy / picks;
        print_message("draws %u: busy endpoint got %.3f\n", draws, share);
        if (draws == 1)
            assert_true(share > 0.45 && share < 0.55);
        else
            assert_true(share > 0.21 && share < 0.29);
        lbt_free(&t);
    }
}

static void test_p2c_keeps_load_even(void **state)
{
    /* connections that stay open: the best of two keeps the busiest of 10
     * endpoints close to the mean (plain random would not) */
    struct lbt t = lbt_make(LB_RANDOM, 10, NULL, 1);
    for (int i = 0; i < 10000; i++)
        atomic_fetch_add(&lbt_pick(&t, 0)->cur_conns, 1);
    int max = 0;
    for (int i = 0; i < 10; i++) {
        int c = atomic_load(&t.c->endpoints[i]->cur_conns);
        max = c > max ? c : max;
    }
    print_message("max %d, mean 1000\n", max);
    assert_true(max <= 1020);
    lbt_free(&t);
}

static void test_skips_full(void **state)
{
    struct lbt t = lbt_new(LB_RANDOM, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 4;
    lbt_start(&t, 1);
    lbt_set_conns(t.c->endpoints[0], 4);
    lbt_set_conns(t.c->endpoints[1], 4);
    for (int i = 0; i < 200; i++)
        assert_string_equal(lbt_name(lbt_pick(&t, 0)), "s3");
    lbt_set_conns(t.c->endpoints[2], 4);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);

    t = lbt_make(LB_RANDOM, 0, NULL, 1);
    assert_null(lbt_pick(&t, 0));
    lbt_free(&t);
}

static void test_avoid(void **state)
{
    struct lbt t = lbt_new(LB_RANDOM, 3, NULL);
    for (uint32_t i = 0; i < 3; i++)
        t.c->endpoints[i]->maxconn = 1;
    lbt_start(&t, 1);
    struct endpoint *s1 = t.c->endpoints[0];
    int seen[3] = {0};
    for (int i = 0; i < 300; i++)
        seen[lbt_pick_ex(&t, 0, 0, s1)->id]++;
    assert_int_equal(seen[0], 0);
    assert_true(seen[1] > 100 && seen[2] > 100);
    lbt_set_conns(t.c->endpoints[1], 1);
    lbt_set_conns(t.c->endpoints[2], 1);
    assert_ptr_equal(lbt_pick_ex(&t, 0, 0, s1), s1);
    lbt_free(&t);
}

static void test_workers_have_own_generator(void **state)
{
    struct lbt t = lbt_make(LB_RANDOM, 8, NULL, 2);
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += lbt_pick(&t, 0) == lbt_pick(&t, 1);
    /* two generators with different seeds agree about 1 time in 8 */
    assert_true(same < 24);
    uint64_t s0 = *(uint64_t *)host_set_worker_state(t.c->hosts, 0);
    uint64_t s1 = *(uint64_t *)host_set_worker_state(t.c->hosts, 1);
    assert_true(s0 != 0 && s1 != 0 && s0 != s1);
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted_ratios),
        cmocka_unit_test(test_p2c_prefers_less_loaded),
        cmocka_unit_test(test_p2c_keeps_load_even),
        cmocka_unit_test(test_skips_full),
        cmocka_unit_test(test_avoid),
        cmocka_unit_test(test_workers_have_own_generator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
