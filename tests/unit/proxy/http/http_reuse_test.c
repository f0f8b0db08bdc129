/* Tests for proxy/http/http_reuse.c: HAProxy's http-reuse modes, and the
 * rule that a non-idempotent request never goes on a connection its client
 * did not use itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/http/http_reuse.h"

/* allowed(mode, first, idempotent, owned, private, nreqs) */
#define A(mode, first, idem, owned, priv, n) http_reuse_allowed(mode, first, idem, owned, priv, n)

static void test_never(void **state)
{
    /* only the client's own (private) connection, for later requests */
    assert_true(A(HTTP_REUSE_NEVER, false, true, true, true, 1));
    assert_true(A(HTTP_REUSE_NEVER, false, false, true, true, 1));
    assert_false(A(HTTP_REUSE_NEVER, false, true, false, true, 5));
    assert_false(A(HTTP_REUSE_NEVER, false, true, false, false, 5));
    assert_false(A(HTTP_REUSE_NEVER, true, true, false, false, 5));
}

static void test_safe(void **state)
{
    /* a first request always on a new connection */
    assert_false(A(HTTP_REUSE_SAFE, true, true, false, false, 1));
    assert_false(A(HTTP_REUSE_SAFE, true, true, false, false, 100));
    /* later ones: own or any idle connection */
    assert_true(A(HTTP_REUSE_SAFE, false, true, true, false, 1));
    assert_true(A(HTTP_REUSE_SAFE, false, true, false, false, 1));
    /* non-idempotent: own connection only */
    assert_true(A(HTTP_REUSE_SAFE, false, false, true, false, 1));
    assert_false(A(HTTP_REUSE_SAFE, false, false, false, false, 10));
    /* another client's private connection: never */
    assert_false(A(HTTP_REUSE_SAFE, false, true, false, true, 10));
}

static void test_aggressive(void **state)
{
    /* a first request on a connection proven reusable (2+ exchanges) */
    assert_false(A(HTTP_REUSE_AGGRESSIVE, true, true, false, false, 1));
    assert_true(A(HTTP_REUSE_AGGRESSIVE, true, true, false, false, 2));
    assert_true(A(HTTP_REUSE_AGGRESSIVE, false, true, false, false, 1));
    assert_false(A(HTTP_REUSE_AGGRESSIVE, true, false, false, false, 9));
    assert_false(A(HTTP_REUSE_AGGRESSIVE, false, false, false, false, 9));
    assert_true(A(HTTP_REUSE_AGGRESSIVE, false, false, true, false, 1));
}

static void test_always(void **state)
{
    assert_true(A(HTTP_REUSE_ALWAYS, true, true, false, false, 1));
    assert_true(A(HTTP_REUSE_ALWAYS, false, true, false, false, 1));
    /* still: a POST never on someone else's connection */
    assert_false(A(HTTP_REUSE_ALWAYS, true, false, false, false, 9));
    assert_false(A(HTTP_REUSE_ALWAYS, false, false, false, false, 9));
    assert_true(A(HTTP_REUSE_ALWAYS, false, false, true, false, 1));
    assert_false(A(HTTP_REUSE_ALWAYS, false, true, false, true, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never),
        cmocka_unit_test(test_safe),
        cmocka_unit_test(test_aggressive),
        cmocka_unit_test(test_always),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
