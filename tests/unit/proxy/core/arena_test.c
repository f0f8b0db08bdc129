/* Tests proxy/core/arena.c: inline region first, chunks after, alignment,
 * zeroing, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/core/arena.h"

static void test_inline_then_chunks(void **state)
{
    unsigned char region[256];
    struct arena a;
    void *p, *q;

    arena_init(&a, region, sizeof(region));
    p = arena_alloc(&a, 100);
    assert_true((unsigned char *)p >= region && (unsigned char *)p < region + sizeof(region));
    assert_null(a.chunks); /* served from the inline region */
    q = arena_alloc(&a, 200); /* does not fit any more */
    assert_non_null(a.chunks);
    assert_false((unsigned char *)q >= region && (unsigned char *)q < region + sizeof(region));
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_int_equal((uintptr_t)q % 16, 0);
    arena_reset(&a);
    assert_null(a.chunks);
    assert_int_equal(a.total, 0);
    /* after a reset the inline region serves again */
    p = arena_alloc(&a, 8);
    assert_true((unsigned char *)p >= region && (unsigned char *)p < region + sizeof(region));
    arena_destroy(&a);
}

static void test_zeroed_and_large(void **state)
{
    struct arena a;
    unsigned char *p;
    char *s;

    arena_init(&a, NULL, 0);
    p = arena_alloc(&a, 100000); /* larger than the biggest chunk */
    for (size_t i = 0; i < 100000; i += 997)
        assert_int_equal(p[i], 0);
    memset(p, 0xff, 100000);
    s = arena_strndup(&a, "header-value-and-more", 12);
    assert_string_equal(s, "header-value");
    assert_true(a.total >= 100000 + 13);
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_then_chunks),
        cmocka_unit_test(test_zeroed_and_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
