/* Tests for proxy/http/http_reply.c: tern's own replies are complete,
 * parseable HTTP/1.1 responses with an exact content-length, the optional
 * fields, and no body for HEAD; a buffer too small is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/codec/h1.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_reason.h"

static char OUT[4096];
static struct h1_msg M;
static struct h1_header H[32];

/* Parses OUT[0, n) as a response head; returns the head length. */
static size_t parse(ssize_t n)
{
    ssize_t r;
    assert_true(n > 0);
    h1_msg_init(&M);
    r = h1_parse_response(OUT, (size_t)n, &M, H, 32, NULL);
    if (r <= 0)
        fail_msg("not a valid response (%s):\n%.*s", h1_err_name((int)r), (int)n, OUT);
    return (size_t)r;
}

static const char *field(const char *name)
{
    static char v[256];
    for (uint32_t i = 0; i < M.nhdrs; i++)
        if (h1_token_eq(OUT + H[i].name.off, H[i].name.len, name, strlen(name))) {
            snprintf(v, sizeof(v), "%.*s", (int)H[i].value.len, OUT + H[i].value.off);
            return v;
        }
    return NULL;
}

static void test_default_page(void **state)
{
    struct http_local_reply r = {.status = 503, .reason = TERN_R_NO_HEALTHY_UPSTREAM};
    ssize_t n = http_local_reply_write(OUT, sizeof(OUT), &r);
    size_t head = parse(n);

    assert_int_equal(M.status, 503);
    assert_memory_equal(OUT + M.reason.off, "Service Unavailable", 19);
    assert_string_equal(field("content-type"), "text/html");
    assert_string_equal(field("cache-control"), "no-cache");
    assert_null(field("connection"));
    assert_null(field("x-tern-error"));
    assert_int_equal(M.content_length, (uint64_t)n - head);
    assert_non_null(strstr(OUT + head, "<h1>503 Service Unavailable</h1>"));
    /* the connection persists after it */
    assert_true(h1_response_keep_alive(&M, H1_METHOD_GET));
}

static void test_close_and_error_header(void **state)
{
    struct http_local_reply r = {.status = 400, .reason = TERN_R_BAD_REQUEST, .close = true,
                                 .error_header = true};
    parse(http_local_reply_write(OUT, sizeof(OUT), &r));
    assert_string_equal(field("connection"), "close");
    assert_string_equal(field("x-tern-error"), "bad_request");
    assert_false(h1_response_keep_alive(&M, H1_METHOD_GET));
}

static void test_filter_body_and_fields(void **state)
{
    const struct http_hdr extra[] = {
        {HTTP_STR("Retry-After"), HTTP_STR("2")},
        {HTTP_STR("RateLimit-Remaining"), HTTP_STR("0")},
    };
    struct http_local_reply r = {.status = 429, .reason = TERN_R_RATE_LIMITED,
                                 .content_type = "text/plain", .body = "slow down\n",
                                 .body_len = 10, .hdrs = extra, .nhdrs = 2};
    ssize_t n = http_local_reply_write(OUT, sizeof(OUT), &r);
    size_t head = parse(n);

    assert_int_equal(M.status, 429);
    assert_string_equal(field("retry-after"), "2");
    assert_string_equal(field("ratelimit-remaining"), "0");
    assert_string_equal(field("content-type"), "text/plain");
    assert_int_equal(M.content_length, 10);
    assert_memory_equal(OUT + head, "slow down\n", 10);
    assert_int_equal((size_t)n, head + 10);
}

static void test_head_only(void **state)
{
    struct http_local_reply full = {.status = 504, .reason = TERN_R_UPSTREAM_TIMEOUT};
    struct http_local_reply head = full;
    ssize_t nf = http_local_reply_write(OUT, sizeof(OUT), &full);
    size_t hf = parse(nf);
    uint64_t len = M.content_length;
    ssize_t nh;

    head.head_only = true;
    nh = http_local_reply_write(OUT, sizeof(OUT), &head);
    /* the same head, content-length of the body that is not sent */
    assert_int_equal((size_t)nh, hf);
    parse(nh);
    assert_int_equal(M.content_length, len);
}

static void test_too_small(void **state)
{
    struct http_local_reply r = {.status = 502, .reason = TERN_R_BAD_UPSTREAM_RESPONSE};
    ssize_t full = http_local_reply_write(OUT, sizeof(OUT), &r);

    assert_true(full > 0);
    for (size_t cap = 0; cap < (size_t)full; cap += 7)
        assert_int_equal(http_local_reply_write(OUT, cap, &r), -1);
    assert_int_equal(http_local_reply_write(OUT, (size_t)full, &r), full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_page),
        cmocka_unit_test(test_close_and_error_header),
        cmocka_unit_test(test_filter_body_and_fields),
        cmocka_unit_test(test_head_only),
        cmocka_unit_test(test_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
