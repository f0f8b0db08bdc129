/* Tests for proxy/http/http_reason.c: every reason has a distinct stable
 * name and the status its local reply carries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http/http_reason.h"

static void test_names(void **state)
{
    assert_string_equal(tern_reason_name(TERN_R_NONE), "none");
    assert_string_equal(tern_reason_name(TERN_R_NO_HEALTHY_UPSTREAM), "no_healthy_upstream");
    assert_string_equal(tern_reason_name(TERN_R_CONNECT_FAILURE), "connect_failure");
    assert_string_equal(tern_reason_name(TERN_R_UPSTREAM_TIMEOUT), "upstream_timeout");
    assert_string_equal(tern_reason_name(TERN_R_BAD_UPSTREAM_RESPONSE), "bad_upstream_response");
    assert_string_equal(tern_reason_name(TERN_R_UPSTREAM_RESET_BEFORE_HEADERS),
                        "upstream_reset_before_headers");
    assert_string_equal(tern_reason_name(TERN_R_BAD_REQUEST), "bad_request");
    assert_string_equal(tern_reason_name(TERN_R_REQUEST_TIMEOUT), "request_timeout");
    assert_string_equal(tern_reason_name(TERN_R__COUNT), "unknown");
    assert_string_equal(http_reason_name(HTTP_R_CLIENT_ABORT), "client_abort");
    assert_string_equal(http_reason_name(HTTP_R_CLIENT_TIMEOUT), "client_timeout");
    assert_string_equal(http_reason_name(-1), "unknown");
    assert_string_equal(http_reason_name(HTTP_R__COUNT), "unknown");

    /* every reason named, names distinct and usable as a label value */
    for (int i = 0; i < HTTP_R__COUNT; i++) {
        const char *n = http_reason_name(i);
        assert_string_not_equal(n, "unknown");
        for (const char *c = n; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, http_reason_name(j));
        if (i < TERN_R__COUNT)
            assert_string_equal(n, tern_reason_name((enum tern_reason)i));
    }
}

static void test_statuses(void **state)
{
    assert_int_equal(http_reason_status(TERN_R_NO_HEALTHY_UPSTREAM), 503);
    assert_int_equal(http_reason_status(TERN_R_QUEUE_FULL), 503);
    assert_int_equal(http_reason_status(TERN_R_QUEUE_TIMEOUT), 503);
    assert_int_equal(http_reason_status(TERN_R_CONNECT_FAILURE), 503);
    assert_int_equal(http_reason_status(TERN_R_CONNECT_TIMEOUT), 503);
    assert_int_equal(http_reason_status(TERN_R_UPSTREAM_RESET_BEFORE_HEADERS), 502);
    assert_int_equal(http_reason_status(TERN_R_BAD_UPSTREAM_RESPONSE), 502);
    assert_int_equal(http_reason_status(TERN_R_UPSTREAM_TIMEOUT), 504);
    assert_int_equal(http_reason_status(TERN_R_RATE_LIMITED), 429);
    assert_int_equal(http_reason_status(TERN_R_DENIED), 403);
    assert_int_equal(http_reason_status(TERN_R_BAD_REQUEST), 400);
    assert_int_equal(http_reason_status(TERN_R_REQUEST_TIMEOUT), 408);
    assert_int_equal(http_reason_status(TERN_R_PAYLOAD_TOO_LARGE), 413);
    assert_int_equal(http_reason_status(TERN_R_URI_TOO_LONG), 414);
    assert_int_equal(http_reason_status(TERN_R_HEADERS_TOO_LARGE), 431);
    /* no reply possible or needed */
    assert_int_equal(http_reason_status(TERN_R_NONE), 0);
    assert_int_equal(http_reason_status(TERN_R_UPSTREAM_RESET_AFTER_HEADERS), 0);
    assert_int_equal(http_reason_status(HTTP_R_CLIENT_ABORT), 0);
}

static void test_status_text(void **state)
{
    assert_string_equal(http_status_text(503), "Service Unavailable");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(200), "OK");
    assert_string_equal(http_status_text(599), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
