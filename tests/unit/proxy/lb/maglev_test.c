/* Tests for proxy/lb/maglev.c: Maglev consistent hashing. */
#include "tests/unit/proxy/lb/chash_tests.h"

static struct chash_params maglev = {
    .algo = LB_CONSISTENT_MAGLEV,
    .ops = &lb_maglev_ops,
    .max_other_moved = 0.01,   /* Maglev reshuffles a little between others */
    .weight_tolerance = 0.03,  /* 65537 slots: shares are near exact */
    .avoid_is_removal = false,
};

/* Up to 65,534 endpoints fit the table's 16-bit entries: a set of 300 with
 * large weights still fills every slot and gives every endpoint a share. */
static void test_many_weighted_endpoints(void **state)
{
    uint32_t w[300];
    for (int i = 0; i < 300; i++)
        w[i] = (uint32_t)(i % 256) + 1;
    struct lbt t = lbt_new(LB_SOURCE, 300, w);
    t.c->hash_type = LB_HASH_CONSISTENT;
    t.c->consistent_algo = LB_CONSISTENT_MAGLEV;
    lbt_start(&t, 1);
    uint32_t *count = calloc(300, sizeof(*count));
    for (uint32_t i = 0; i < 400000; i++)
        count[lbt_pick_ex(&t, 0, lbt_key(i), NULL)->id]++;
    /* the heaviest (256) gets far more than the lightest (1) */
    assert_true(count[255] > 50 * count[0] || count[0] == 0);
    assert_true(count[255] > 0);
    free(count);
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHASH_TESTS(maglev),
        cmocka_unit_test(test_many_weighted_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
