/* Tests for proxy/lb/ring.c: consistent hashing on a ring. */
#include "tests/unit/proxy/lb/chash_tests.h"

static struct chash_params ring = {
    .algo = LB_CONSISTENT_RING,
    .ops = &lb_ring_ops,
    .max_other_moved = 0.0,   /* a ring moves nothing else, ever */
    .weight_tolerance = 0.15, /* 160 points per weight unit */
    .avoid_is_removal = true, /* next point clockwise = where keys go on removal */
};

/* The default consistent hash is the ring. */
static void test_ring_is_default(void **state)
{
    struct lbt t = lbt_new(LB_SOURCE, 2, NULL);
    t.c->hash_type = LB_HASH_CONSISTENT;
    lbt_start(&t, 1);
    assert_ptr_equal(t.c->lb, &lb_ring_ops);
    lbt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_is_default),
        CHASH_TESTS(ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
