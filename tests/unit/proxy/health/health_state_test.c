/*
 * health_state_test.c: the rise/fall counter (proxy/health/health_state.c):
 * exact numbers of failures and passes per transition, flapping, saturation
 * and odd parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/health/health_state.h"

/* Feeds `n` results of the same kind; returns how many caused `want`, and
 * stores in *at the 1-based index of the first one that did (0: none). */
static int feed(uint32_t *h, uint32_t rise, uint32_t fall, bool ok, int n,
                enum health_transition want, int *at)
{
    int count = 0;

    *at = 0;
    for (int i = 1; i <= n; i++) {
        enum health_transition tr = health_state_update(h, rise, fall, ok);
        if (tr == want) {
            count++;
            if (!*at)
                *at = i;
        } else {
            assert_int_equal(tr, HEALTH_TRANSITION_NONE);
        }
    }
    return count;
}

/* For many (rise, fall): exactly `fall` failures take a fully up endpoint
 * down, exactly `rise` passes bring it back. */
static void test_exact_fall_and_rise(void **state)
{
    for (uint32_t rise = 1; rise <= 6; rise++) {
        for (uint32_t fall = 1; fall <= 6; fall++) {
            uint32_t h = rise + fall - 1; /* model.c: servers start fully up */
            int at;

            assert_true(health_state_is_up(h, rise));
            assert_int_equal(feed(&h, rise, fall, false, (int)fall + 5,
                                  HEALTH_TRANSITION_DOWN, &at), 1);
            assert_int_equal(at, (int)fall);
            assert_int_equal(h, 0);
            assert_false(health_state_is_up(h, rise));

            assert_int_equal(feed(&h, rise, fall, true, (int)rise + 5,
                                  HEALTH_TRANSITION_UP, &at), 1);
            assert_int_equal(at, (int)rise);
            assert_int_equal(h, rise + fall - 1);
            assert_true(health_state_is_up(h, rise));
        }
    }
}

/* fall-1 failures then a pass: still up, and the counter is full again, so
 * another `fall` failures are needed. */
static void test_flap_while_up(void **state)
{
    uint32_t rise = 2, fall = 3, h = rise + fall - 1;
    int at;

    for (int round = 0; round < 50; round++) {
        assert_int_equal(feed(&h, rise, fall, false, (int)fall - 1, HEALTH_TRANSITION_DOWN, &at),
                         0);
        assert_true(health_state_is_up(h, rise));
        assert_int_equal(health_state_update(&h, rise, fall, true), HEALTH_TRANSITION_NONE);
        assert_int_equal(h, rise + fall - 1);
    }
    assert_int_equal(feed(&h, rise, fall, false, (int)fall, HEALTH_TRANSITION_DOWN, &at), 1);
    assert_int_equal(at, (int)fall);
}

/* rise-1 passes then a failure: still down and back at 0, so `rise` more
 * passes are needed. */
static void test_flap_while_down(void **state)
{
    uint32_t rise = 3, fall = 2, h = 0;
    int at;

    for (int round = 0; round < 50; round++) {
        assert_int_equal(feed(&h, rise, fall, true, (int)rise - 1, HEALTH_TRANSITION_UP, &at), 0);
        assert_false(health_state_is_up(h, rise));
        assert_int_equal(health_state_update(&h, rise, fall, false), HEALTH_TRANSITION_NONE);
        assert_int_equal(h, 0);
    }
    assert_int_equal(feed(&h, rise, fall, true, (int)rise, HEALTH_TRANSITION_UP, &at), 1);
    assert_int_equal(at, (int)rise);
}

/* Strict alternation never changes the state from either side. */
static void test_alternating(void **state)
{
    uint32_t up = 2 + 3 - 1, down = 0;

    for (int i = 0; i < 100; i++) {
        bool ok = i % 2;
        assert_int_equal(health_state_update(&up, 2, 3, ok), HEALTH_TRANSITION_NONE);
        assert_int_equal(health_state_update(&down, 2, 3, !ok), HEALTH_TRANSITION_NONE);
    }
    assert_true(health_state_is_up(up, 2));
    assert_false(health_state_is_up(down, 2));
}

/* Long runs saturate: 1000 passes do not delay the next down. */
static void test_saturation(void **state)
{
    uint32_t h = 4;
    int at;

    for (int i = 0; i < 1000; i++)
        assert_int_equal(health_state_update(&h, 2, 3, true), HEALTH_TRANSITION_NONE);
    assert_int_equal(h, 4);
    assert_int_equal(feed(&h, 2, 3, false, 1000, HEALTH_TRANSITION_DOWN, &at), 1);
    assert_int_equal(at, 3);
    assert_int_equal(h, 0);
}

/* Out-of-range input and zero parameters are handled, not trusted. */
static void test_odd_inputs(void **state)
{
    uint32_t h = 1000; /* clamped to rise+fall-1 = 4 */
    int at;

    assert_int_equal(feed(&h, 2, 3, false, 3, HEALTH_TRANSITION_DOWN, &at), 1);
    assert_int_equal(at, 3);

    h = 0; /* rise 0 and fall 0 act as 1 */
    assert_int_equal(health_state_update(&h, 0, 0, true), HEALTH_TRANSITION_UP);
    assert_int_equal(h, 1);
    assert_int_equal(health_state_update(&h, 0, 0, false), HEALTH_TRANSITION_DOWN);
    assert_int_equal(h, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_fall_and_rise),
        cmocka_unit_test(test_flap_while_up),
        cmocka_unit_test(test_flap_while_down),
        cmocka_unit_test(test_alternating),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_odd_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
