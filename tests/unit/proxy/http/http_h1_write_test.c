/* Tests for proxy/http/http_h1_write.c: request and response heads written
 * from an http_msg, hop-by-hop fields removed (but never a framing field,
 * whatever Connection lists), this hop's Connection field, and the message
 * repointed into the output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/codec/h1.h"
#include "proxy/core/arena.h"
#include "proxy/http/http_h1.h"

static struct h1_msg H1;
static struct h1_header HDRS[101];
static struct arena A;
static unsigned char MEM[4096];
static char IN[8192];
static char OUT[8192];

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

/* Parses `text` (copied into IN) as a request into m. */
static void req(struct http_msg *m, const char *text)
{
    ssize_t r;
    snprintf(IN, sizeof(IN), "%s", text);
    h1_msg_init(&H1);
    r = h1_parse_request(IN, strlen(IN), &H1, HDRS, 101, NULL);
    if (r <= 0)
        fail_msg("parse failed (%s) for: %s", h1_err_name((int)r), text);
    http_h1_request_msg(m, &A, IN, &H1, HDRS, 8);
}

static void resp(struct http_msg *m, const char *text)
{
    ssize_t r;
    snprintf(IN, sizeof(IN), "%s", text);
    h1_msg_init(&H1);
    r = h1_parse_response(IN, strlen(IN), &H1, HDRS, 101, NULL);
    if (r <= 0)
        fail_msg("parse failed for: %s", text);
    http_h1_response_msg(m, &A, IN, &H1, HDRS, 8);
}

static const char *write_req(struct http_msg *m, uint8_t version, bool close, bool ka)
{
    struct http_h1_conn_opts o = {version, close, ka};
    ssize_t n = http_h1_write_request(m, OUT, sizeof(OUT) - 1, &o);
    assert_true(n > 0);
    OUT[n] = 0;
    return OUT;
}

static void expect_req(const char *in, uint8_t version, bool close, bool ka, const char *want)
{
    struct http_msg m;
    req(&m, in);
    if (strcmp(write_req(&m, version, close, ka), want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, OUT, want);
}

static void test_plain_request_passes_through(void **state)
{
    expect_req("GET /a/b?c=d HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Empty:\r\n\r\n", 11, false,
               false, "GET /a/b?c=d HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Empty: \r\n\r\n");
    /* the output is a valid request that parses to the same thing */
    h1_msg_init(&H1);
    assert_true(h1_parse_request(OUT, strlen(OUT), &H1, HDRS, 101, NULL) > 0);
}

static void test_hop_by_hop_removed(void **state)
{
    expect_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\n"
               "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\n"
               "Upgrade: websocket\r\nHTTP2-Settings: AAA\r\nX-Secret: 1\r\nX-Keep: 2\r\n\r\n",
               11, false, false, "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: 2\r\n\r\n");
    /* names listed in Connection are case-insensitive, across several lines */
    expect_req("GET / HTTP/1.1\r\nHost: h\r\nconnection: a\r\nCONNECTION: B\r\nA: 1\r\nb: 2\r\n"
               "C: 3\r\n\r\n",
               11, false, false, "GET / HTTP/1.1\r\nHost: h\r\nC: 3\r\n\r\n");
}

static void test_framing_fields_survive_connection(void **state)
{
    /* a request smuggling attempt: listing Content-Length in Connection must
     * not make the proxy forward the body without its framing */
    expect_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
               "Connection: Content-Length, Host, Transfer-Encoding\r\n\r\n",
               11, false, false, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
    expect_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
               "Connection: transfer-encoding\r\n\r\n",
               11, false, false,
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
}

static void test_te_trailers_kept(void **state)
{
    expect_req("GET / HTTP/1.1\r\nHost: h\r\nTE: trailers, deflate;q=0.5\r\nConnection: TE\r\n\r\n",
               11, false, false, "GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nTE: trailers\r\n\r\n");
    expect_req("GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n", 11, true, false,
               "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, te\r\nTE: trailers\r\n\r\n");
}

static void test_connection_options(void **state)
{
    expect_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 11, true, false,
               "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect_req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 10, false, true,
               "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    /* close wins over keep-alive */
    expect_req("GET / HTTP/1.0\r\n\r\n", 10, true, true,
               "GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
}

static void test_absolute_form_becomes_origin_form(void **state)
{
    struct http_msg m;

    req(&m, "GET http://origin:81/p?q=1 HTTP/1.1\r\nHost: liar\r\nX-A: 1\r\n\r\n");
    write_req(&m, 11, false, false);
    assert_string_equal(OUT, "GET /p?q=1 HTTP/1.1\r\nX-A: 1\r\nHost: origin:81\r\n\r\n");
    assert_int_equal(m.authority.len, 9);
    assert_memory_equal(m.authority.p, "origin:81", 9);
    expect_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 11, false, false,
               "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
}

static void test_message_repointed_into_output(void **state)
{
    struct http_msg m;

    req(&m, "PUT /x?y HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-A: v\r\n\r\n");
    assert_int_equal(http_msg_add(&m, "X-Added", 7, "new", 3, 101), 0);
    write_req(&m, 11, false, false);
    assert_string_equal(OUT, "PUT /x?y HTTP/1.1\r\nHost: h\r\nX-A: v\r\nX-Added: new\r\n\r\n");
    /* the client's buffer may now be reused: the message lives in OUT */
    memset(IN, '#', sizeof(IN));
    assert_int_equal(m.nhdrs, 3); /* Connection went */
    assert_true(m.method_str.p >= OUT && m.method_str.p < OUT + sizeof(OUT));
    assert_memory_equal(m.method_str.p, "PUT", 3);
    assert_memory_equal(m.path.p, "/x", 2);
    assert_memory_equal(m.query.p, "y", 1);
    assert_memory_equal(m.authority.p, "h", 1);
    for (uint32_t i = 0; i < m.nhdrs; i++) {
        assert_true(m.hdrs[i].name.p >= OUT && m.hdrs[i].name.p < OUT + sizeof(OUT));
        assert_true(m.hdrs[i].value.p >= OUT && m.hdrs[i].value.p < OUT + sizeof(OUT));
    }
    assert_memory_equal(http_msg_get(&m, "x-added", 7).p, "new", 3);
}

static void test_too_small_refused_not_truncated(void **state)
{
    struct http_msg m;
    struct http_h1_conn_opts o = {11, false, false};
    const char *want = "GET /abc HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n";
    size_t len = strlen(want);

    req(&m, want);
    assert_int_equal(http_h1_write_request(&m, OUT, 20, &o), -1);
    /* the message is still intact and usable */
    assert_memory_equal(m.path.p, "/abc", 4);
    assert_true(m.path.p >= IN && m.path.p < IN + sizeof(IN));
    assert_int_equal(http_h1_write_request(&m, OUT, sizeof(OUT), &o), (ssize_t)len);
    assert_memory_equal(OUT, want, len);
}

static void test_response(void **state)
{
    struct http_msg m;
    struct http_h1_conn_opts o = {11, false, false};
    ssize_t n;

    resp(&m, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Hop\r\n"
             "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: a=b\r\n\r\n");
    n = http_h1_write_response(&m, OUT, sizeof(OUT) - 1, &o);
    assert_true(n > 0);
    OUT[n] = 0;
    assert_string_equal(OUT, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n\r\n");

    resp(&m, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n");
    o.close = true;
    n = http_h1_write_response(&m, OUT, sizeof(OUT) - 1, &o);
    OUT[n] = 0;
    assert_string_equal(OUT, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n"
                             "Connection: close\r\n\r\n");

    resp(&m, "HTTP/1.1 204 \r\n\r\n");
    o.close = false;
    o.keep_alive = true; /* to an HTTP/1.0 client */
    n = http_h1_write_response(&m, OUT, sizeof(OUT) - 1, &o);
    OUT[n] = 0;
    assert_string_equal(OUT, "HTTP/1.1 204 \r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(http_h1_write_response(&m, OUT, 10, &o), -1);
}

static void test_is_hop_by_hop(void **state)
{
    assert_true(http_h1_is_hop_by_hop("Connection", 10));
    assert_true(http_h1_is_hop_by_hop("keep-alive", 10));
    assert_true(http_h1_is_hop_by_hop("PROXY-CONNECTION", 16));
    assert_true(http_h1_is_hop_by_hop("te", 2));
    assert_true(http_h1_is_hop_by_hop("Upgrade", 7));
    assert_false(http_h1_is_hop_by_hop("Trailer", 7));
    assert_false(http_h1_is_hop_by_hop("Transfer-Encoding", 17));
    assert_false(http_h1_is_hop_by_hop("Proxy-Authorization", 19));
    assert_false(http_h1_is_hop_by_hop("t", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_request_passes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hop_by_hop_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing_fields_survive_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_te_trailers_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_form_becomes_origin_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_repointed_into_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_small_refused_not_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response, setup, teardown),
        cmocka_unit_test(test_is_hop_by_hop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
