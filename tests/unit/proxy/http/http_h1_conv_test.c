/* Tests for proxy/http/http_h1_conv.c: a parsed HTTP/1.1 head becomes an
 * http_msg pointing into the parsed bytes, with path/query split, the
 * authority from the target or Host, flags, and no allocation beyond the
 * arena's inline region for usual sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/codec/h1.h"
#include "proxy/core/arena.h"
#include "proxy/http/http_h1.h"

static struct h1_msg H1;
static struct h1_header HDRS[101];
static struct arena A;
static unsigned char MEM[4096];

static void parse_req(const char *text)
{
    ssize_t r;
    h1_msg_init(&H1);
    r = h1_parse_request(text, strlen(text), &H1, HDRS, 101, NULL);
    if (r <= 0)
        fail_msg("parse failed (%zd: %s) for: %s", r, h1_err_name((int)r), text);
}

static void parse_resp(const char *text)
{
    ssize_t r;
    h1_msg_init(&H1);
    r = h1_parse_response(text, strlen(text), &H1, HDRS, 101, NULL);
    if (r <= 0)
        fail_msg("parse failed (%zd) for: %s", r, text);
}

static void assert_str(struct http_str s, const char *want)
{
    if (!want) {
        assert_null(s.p);
        return;
    }
    assert_non_null(s.p);
    if (s.len != strlen(want) || memcmp(s.p, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.p, want);
}

static int setup(void **state)
{
    arena_init(&A, MEM, sizeof(MEM));
    return 0;
}

static int teardown(void **state)
{
    arena_destroy(&A);
    return 0;
}

static void test_origin_form(void **state)
{
    const char *t = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\n"
                    "Accept: */*\r\nX-Empty:\r\n\r\n";
    struct http_msg m;

    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 8);
    assert_int_equal(m.kind, HTTP_MSG_REQUEST);
    assert_int_equal(m.version, 11);
    assert_int_equal(m.method, HTTP_M_GET);
    assert_str(m.method_str, "GET");
    assert_str(m.path, "/a/b");
    assert_str(m.query, "x=1&y=2");
    assert_str(m.authority, "example.com:8080");
    assert_null(m.scheme.p);
    assert_int_equal(m.nhdrs, 3);
    assert_true(m.cap >= 3 + 8);
    assert_str(m.hdrs[0].name, "Host");
    assert_str(m.hdrs[1].value, "*/*");
    assert_str(m.hdrs[2].name, "X-Empty");
    assert_int_equal(m.hdrs[2].value.len, 0);
    /* pointers into the parsed bytes: no copy */
    assert_ptr_equal(m.path.p, t + 4);
    assert_ptr_equal(m.hdrs[0].value.p, strstr(t, "example.com"));
    assert_false(m.flags & HTTP_MSG_F_CONN_CLOSE);
    /* the field array came from the inline region */
    assert_null(A.chunks);
}

static void test_query_edge_cases(void **state)
{
    struct http_msg m;
    const char *t1 = "GET /? HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *t2 = "GET /p?a?b HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *t3 = "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n";

    parse_req(t1);
    http_h1_request_msg(&m, &A, t1, &H1, HDRS, 0);
    assert_str(m.path, "/");
    assert_non_null(m.query.p); /* '?' present, empty query */
    assert_int_equal(m.query.len, 0);
    parse_req(t2);
    http_h1_request_msg(&m, &A, t2, &H1, HDRS, 0);
    assert_str(m.path, "/p");
    assert_str(m.query, "a?b"); /* split at the first '?' */
    parse_req(t3);
    http_h1_request_msg(&m, &A, t3, &H1, HDRS, 0);
    assert_str(m.path, "/plain");
    assert_null(m.query.p);
}

static void test_absolute_form(void **state)
{
    struct http_msg m;
    const char *t = "GET http://origin.example:81/x?q HTTP/1.1\r\nHost: other\r\n\r\n";
    const char *t2 = "GET http://origin.example HTTP/1.1\r\nHost: origin.example\r\n\r\n";

    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 2);
    assert_str(m.scheme, "http");
    /* the target's authority wins over Host (RFC 9112 3.2.2) */
    assert_str(m.authority, "origin.example:81");
    assert_str(m.path, "/x");
    assert_str(m.query, "q");
    parse_req(t2);
    http_h1_request_msg(&m, &A, t2, &H1, HDRS, 2);
    assert_str(m.path, "/"); /* no path: "/" */
    assert_null(m.query.p);
}

static void test_asterisk_and_authority_forms(void **state)
{
    struct http_msg m;
    const char *t = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *t2 = "CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n";

    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
    assert_int_equal(m.method, HTTP_M_OPTIONS);
    assert_str(m.path, "*");
    assert_str(m.authority, "a");
    parse_req(t2);
    http_h1_request_msg(&m, &A, t2, &H1, HDRS, 0);
    assert_int_equal(m.method, HTTP_M_CONNECT);
    assert_str(m.authority, "db.example:5432");
    assert_null(m.path.p);
}

static void test_methods_and_flags(void **state)
{
    static const struct {
        const char *tok;
        enum http_method m;
    } methods[] = {
        {"GET", HTTP_M_GET},         {"HEAD", HTTP_M_HEAD},     {"POST", HTTP_M_POST},
        {"PUT", HTTP_M_PUT},         {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
        {"TRACE", HTTP_M_TRACE},     {"PATCH", HTTP_M_PATCH},   {"PURGE", HTTP_M_OTHER},
        {"get", HTTP_M_OTHER},
    };
    char t[256];
    struct http_msg m;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        snprintf(t, sizeof(t), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", methods[i].tok);
        parse_req(t);
        http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
        assert_int_equal(m.method, methods[i].m);
        assert_str(m.method_str, methods[i].tok);
    }

    strcpy(t, "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nConnection: close\r\n"
              "Expect: 100-continue\r\n\r\n");
    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
    assert_true(m.flags & HTTP_MSG_F_HAS_LENGTH);
    assert_int_equal(m.content_length, 12);
    assert_true(m.flags & HTTP_MSG_F_CONN_CLOSE);
    assert_true(m.flags & HTTP_MSG_F_EXPECT_CONTINUE);
    assert_false(m.flags & HTTP_MSG_F_CHUNKED);

    strcpy(t, "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
    assert_true(m.flags & HTTP_MSG_F_CHUNKED);
    assert_true(m.flags & HTTP_MSG_F_CONN_UPGRADE);
    assert_false(m.flags & HTTP_MSG_F_HAS_LENGTH);

    /* HTTP/1.0: close unless keep-alive */
    strcpy(t, "GET / HTTP/1.0\r\n\r\n");
    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
    assert_int_equal(m.version, 10);
    assert_true(m.flags & HTTP_MSG_F_CONN_CLOSE);
    assert_null(m.authority.p); /* no Host */
    strcpy(t, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 0);
    assert_false(m.flags & HTTP_MSG_F_CONN_CLOSE);
    assert_true(m.flags & HTTP_MSG_F_CONN_KEEPALIVE);
}

static void test_response(void **state)
{
    struct http_msg m;
    const char *t = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b\r\n\r\n";
    const char *t2 = "HTTP/1.0 200 OK\r\n\r\n";

    parse_resp(t);
    http_h1_response_msg(&m, &A, t, &H1, HDRS, 4);
    assert_int_equal(m.kind, HTTP_MSG_RESPONSE);
    assert_int_equal(m.status, 404);
    assert_str(m.reason, "Not Found");
    assert_int_equal(m.nhdrs, 2);
    assert_true(m.flags & HTTP_MSG_F_HAS_LENGTH);
    assert_int_equal(m.content_length, 3);
    assert_str(http_msg_get(&m, "x-a", 3), "b");
    parse_resp(t2);
    http_h1_response_msg(&m, &A, t2, &H1, HDRS, 0);
    assert_int_equal(m.version, 10);
    assert_true(m.flags & HTTP_MSG_F_CONN_CLOSE);
}

static void test_edits_after_conversion(void **state)
{
    struct http_msg m;
    const char *t = "GET / HTTP/1.1\r\nHost: a\r\nX-Old: 1\r\n\r\n";

    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 1);
    /* the spare slot takes one field without growing */
    assert_int_equal(http_msg_add(&m, "X-New", 5, "v", 1, 101), 0);
    assert_int_equal(m.nhdrs, 3);
    assert_int_equal(http_msg_del(&m, "x-old", 5), 1);
    assert_int_equal(m.nhdrs, 2);
    assert_str(m.hdrs[1].name, "X-New");
    /* the original bytes were not touched */
    assert_non_null(strstr(t, "X-Old: 1"));
}

static void test_many_headers_fit_the_inline_region(void **state)
{
    char t[4096];
    size_t o;
    struct http_msg m;

    o = (size_t)snprintf(t, sizeof(t), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(t + o, sizeof(t) - o, "X-H%d: v%d\r\n", i, i);
    snprintf(t + o, sizeof(t) - o, "\r\n");
    parse_req(t);
    http_h1_request_msg(&m, &A, t, &H1, HDRS, 8);
    assert_int_equal(m.nhdrs, 41);
    assert_null(A.chunks); /* 49 slots of 32 bytes: inline, no malloc */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_origin_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asterisk_and_authority_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edits_after_conversion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_headers_fit_the_inline_region, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
