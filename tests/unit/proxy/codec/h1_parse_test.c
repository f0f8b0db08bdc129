/*
 * Tests for proxy/codec/h1_parse.c (and the field scanner, h1_field.c): every
 * accepted form of request and response heads, and every rejected case with
 * its exact error code. Each message also goes through h1t_parse(), which
 * feeds it byte by byte, at every split point and as every prefix, and
 * checks that the verdict never depends on how the bytes arrived.
 */
#include "tests/unit/proxy/codec/h1_test_util.h"

#define S(lit) lit, sizeof(lit) - 1

static struct h1_msg m;
static struct h1_header h[H1T_MAXH];

static ssize_t req(const char *s, size_t n)
{
    return h1t_parse(false, s, n, NULL, &m, h);
}

static ssize_t resp(const char *s, size_t n)
{
    return h1t_parse(true, s, n, NULL, &m, h);
}

/* ------------------------------------------------------------------ requests */

static void test_simple_get(void **state)
{
    static const char r[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n"
                            "User-Agent: curl/7.88\r\nAccept: */*\r\n\r\n";
    assert_int_equal(req(S(r)), sizeof(r) - 1);
    assert_int_equal(m.head_len, sizeof(r) - 1);
    assert_string_equal(h1t_str(r, m.method), "GET");
    assert_int_equal(m.method_id, H1_METHOD_GET);
    assert_string_equal(h1t_str(r, m.target), "/index.html");
    assert_string_equal(h1t_str(r, m.path), "/index.html");
    assert_int_equal(m.target_form, H1_TARGET_ORIGIN);
    assert_int_equal(m.version, 11);
    assert_int_equal(m.body, H1_BODY_NONE);
    assert_int_equal(m.nhdrs, 3);
    assert_int_equal(m.host, 0);
    assert_true(m.flags & H1_F_HOST);
    assert_true(m.flags & H1_F_KEEP_ALIVE);
    assert_string_equal(h1t_str(r, h[0].name), "Host");
    assert_string_equal(h1t_str(r, h[0].value), "example.com");
    assert_int_equal(h[0].id, H1_HDR_HOST);
    assert_string_equal(h1t_str(r, h[1].name), "User-Agent");
    assert_string_equal(h1t_str(r, h[1].value), "curl/7.88");
    assert_int_equal(h[1].id, H1_HDR_OTHER);
    assert_string_equal(h1t_str(r, h[2].value), "*/*");
}

static void test_bytes_after_head_not_read(void **state)
{
    /* a body, a pipelined request, even garbage: none of it is the head's business */
    static const char r[] = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\x00\n\rGET";
    assert_int_equal(req(S(r)), sizeof(r) - 1 - 9);
    assert_int_equal(m.body, H1_BODY_LENGTH);
    assert_int_equal(m.content_length, 3);
    assert_true(m.flags & H1_F_CONTENT_LENGTH);
}

static void test_leading_empty_lines(void **state)
{
    static const char r[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(req(S(r)), sizeof(r) - 1);
    assert_int_equal(m.method.off, 4);
    assert_string_equal(h1t_str(r, m.method), "GET");
}

static void test_methods(void **state)
{
    static const struct {
        const char *r;
        int id;
    } v[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_GET},
        {"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_HEAD},
        {"POST / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_POST},
        {"PUT / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_PUT},
        {"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_DELETE},
        {"OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_OPTIONS},
        {"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_TRACE},
        {"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_PATCH},
        {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", H1_METHOD_CONNECT},
        /* any token is a method; methods are case-sensitive */
        {"get / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_OTHER},
        {"M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_OTHER},
        {"PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_OTHER},
        {"!#$%&'*+-.^_`|~09az / HTTP/1.1\r\nHost: a\r\n\r\n", H1_METHOD_OTHER},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ssize_t r = req(v[i].r, strlen(v[i].r));
        if (r != (ssize_t)strlen(v[i].r))
            fail_msg("%s: %s", v[i].r, h1_err_name((int)r));
        if (r > 0 && m.method_id != v[i].id)
            fail_msg("%s: method id %d", v[i].r, m.method_id);
    }
    /* "*" goes with OPTIONS only */
    assert_int_equal(req(S("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n")), H1_ERR_TARGET_FORM);
}

static void test_origin_form(void **state)
{
    static const char r[] = "GET /a/b%20c;p=1/?q=1&r=%2F:@!$'()*+,=~-._/? HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(req(S(r)), sizeof(r) - 1);
    assert_int_equal(m.target_form, H1_TARGET_ORIGIN);
    assert_string_equal(h1t_str(r, m.path), "/a/b%20c;p=1/?q=1&r=%2F:@!$'()*+,=~-._/?");
    /* bytes RFC 3986 leaves out but real clients send raw in queries are tolerated */
    assert_true(req(S("GET /?a={\"b\":[1|2]}^`<> HTTP/1.1\r\nHost: a\r\n\r\n")) > 0);
    assert_true(req(S("GET //double HTTP/1.1\r\nHost: a\r\n\r\n")) > 0);
}

static void test_absolute_form(void **state)
{
    static const char r1[] = "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
    static const char r2[] = "GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
    static const char r3[] = "GET http://[::1]?x=1 HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    static const char r4[] = "GET HTTP+x-1.2://a%41b HTTP/1.1\r\nHost: a\r\n\r\n";

    /* a Host that differs from the target's authority is allowed: the target wins */
    assert_int_equal(req(S(r1)), sizeof(r1) - 1);
    assert_int_equal(m.target_form, H1_TARGET_ABSOLUTE);
    assert_string_equal(h1t_str(r1, m.scheme), "http");
    assert_string_equal(h1t_str(r1, m.authority), "example.com:8080");
    assert_string_equal(h1t_str(r1, m.path), "/p?q");

    assert_int_equal(req(S(r2)), sizeof(r2) - 1);
    assert_string_equal(h1t_str(r2, m.scheme), "https");
    assert_string_equal(h1t_str(r2, m.authority), "example.com");
    assert_int_equal(m.path.len, 0);

    assert_int_equal(req(S(r3)), sizeof(r3) - 1);
    assert_string_equal(h1t_str(r3, m.authority), "[::1]");
    assert_string_equal(h1t_str(r3, m.path), "?x=1");

    assert_int_equal(req(S(r4)), sizeof(r4) - 1);
    assert_string_equal(h1t_str(r4, m.scheme), "HTTP+x-1.2");
    assert_string_equal(h1t_str(r4, m.authority), "a%41b");
}

static void test_authority_and_asterisk_forms(void **state)
{
    static const char c1[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    static const char c2[] = "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n";
    static const char o[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";

    assert_int_equal(req(S(c1)), sizeof(c1) - 1);
    assert_int_equal(m.target_form, H1_TARGET_AUTHORITY);
    assert_string_equal(h1t_str(c1, m.authority), "example.com:443");
    assert_int_equal(req(S(c2)), sizeof(c2) - 1);
    assert_string_equal(h1t_str(c2, m.authority), "[2001:db8::1]:8443");
    assert_int_equal(req(S(o)), sizeof(o) - 1);
    assert_int_equal(m.target_form, H1_TARGET_ASTERISK);
    assert_string_equal(h1t_str(o, m.path), "*");
}

static void test_http10(void **state)
{
    /* no Host needed; not persistent unless asked */
    assert_true(req(S("GET / HTTP/1.0\r\n\r\n")) > 0);
    assert_int_equal(m.version, 10);
    assert_false(m.flags & H1_F_KEEP_ALIVE);
    assert_int_equal(m.host, -1);
    assert_true(req(S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")) > 0);
    assert_true(m.flags & H1_F_KEEP_ALIVE);
    assert_true(req(S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")) > 0);
    assert_false(m.flags & H1_F_KEEP_ALIVE);
    /* 100-continue means nothing in HTTP/1.0 (RFC 9110 10.1.1) */
    assert_true(req(S("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")) > 0);
    assert_false(m.flags & H1_F_EXPECT_CONTINUE);
}

static void test_connection_and_friends(void **state)
{
    static const char r[] = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: ,Upgrade ,, X-Foo,\r\n"
                            "Upgrade: websocket\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
                            "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                            "Expect: 100-CONTINUE\r\n\r\n";
    assert_int_equal(req(S(r)), sizeof(r) - 1);
    assert_int_equal(m.flags & (H1_F_CONN_UPGRADE | H1_F_CONN_OTHER | H1_F_UPGRADE | H1_F_TE |
                                H1_F_TRAILER | H1_F_EXPECT_CONTINUE | H1_F_KEEP_ALIVE),
                     H1_F_CONN_UPGRADE | H1_F_CONN_OTHER | H1_F_UPGRADE | H1_F_TE | H1_F_TRAILER |
                         H1_F_EXPECT_CONTINUE | H1_F_KEEP_ALIVE);
    assert_false(m.flags & (H1_F_CONN_CLOSE | H1_F_CONN_KEEP_ALIVE | H1_F_EXPECT_OTHER));
    assert_int_equal(h[1].id, H1_HDR_CONNECTION);
    assert_int_equal(h[2].id, H1_HDR_UPGRADE);
    assert_int_equal(h[3].id, H1_HDR_TE);
    assert_int_equal(h[4].id, H1_HDR_TRAILER);
    assert_int_equal(h[5].id, H1_HDR_KEEP_ALIVE);
    assert_int_equal(h[6].id, H1_HDR_PROXY_CONNECTION);
    assert_int_equal(h[7].id, H1_HDR_EXPECT);

    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) > 0);
    assert_true(m.flags & H1_F_CONN_CLOSE);
    assert_false(m.flags & H1_F_KEEP_ALIVE);
    assert_true(req(S("GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\nExpect: x\r\n\r\n")) > 0);
    assert_true(m.flags & H1_F_EXPECT_OTHER);
    assert_true(m.flags & H1_F_KEEP_ALIVE);
}

static void test_field_values(void **state)
{
    static const char r[] = "GET / HTTP/1.1\r\nHost:a\r\nA:  spaced  out \t \r\nB:\r\nC: \t \r\n"
                            "D: tab\there\r\nE: caf\xc3\xa9 \xff\x80\r\nF: \"q\" (c) <> {} ~\r\n"
                            "G:x\r\n\r\n";
    assert_int_equal(req(S(r)), sizeof(r) - 1);
    assert_int_equal(m.nhdrs, 8);
    assert_string_equal(h1t_str(r, h[0].value), "a");
    assert_string_equal(h1t_str(r, h[1].value), "spaced  out");
    assert_int_equal(h[2].value.len, 0);
    assert_int_equal(h[3].value.len, 0);
    assert_string_equal(h1t_str(r, h[4].value), "tab\there");
    assert_string_equal(h1t_str(r, h[5].value), "caf\xc3\xa9 \xff\x80");
    assert_string_equal(h1t_str(r, h[6].value), "\"q\" (c) <> {} ~");
    assert_string_equal(h1t_str(r, h[7].name), "G");
    assert_string_equal(h1t_str(r, h[7].value), "x");
}

static void test_host_forms(void **state)
{
    static const char *ok[] = {
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::ffff:10.0.0.1]:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a%2Db_c~d!$&'()*+,;=\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",   /* empty Host: allowed (RFC 9112 3.2) */
        "GET / HTTP/1.1\r\nHost: a:0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a:65535\r\n\r\n",
        "GET / HTTP/1.1\r\nhOST: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ssize_t r = req(ok[i], strlen(ok[i]));
        if (r <= 0)
            fail_msg("%s: %s", ok[i], h1_err_name((int)r));
    }
}

static void test_content_length_forms(void **state)
{
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_LENGTH);
    assert_int_equal(m.content_length, 0);
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n")) > 0);
    assert_int_equal(m.content_length, 7);
    /* identical values repeated, in a list or on several lines (RFC 9110 8.6) */
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 ,5,\t5\r\n"
                      "content-length: 5\r\n\r\n")) > 0);
    assert_int_equal(m.content_length, 5);
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")) > 0);
    assert_int_equal(m.content_length, UINT64_C(9223372036854775807));
}

static void test_transfer_encoding_forms(void **state)
{
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_CHUNKED);
    assert_true(m.flags & H1_F_CHUNKED);
    assert_true(m.flags & H1_F_TRANSFER_ENCODING);
    assert_true(req(S("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  ChUnKeD \r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_CHUNKED);
}

static void test_limits_exact(void **state)
{
    struct h1_limits lim = {0};
    char buf[20000];
    size_t n;
    ssize_t r;

    /* request line of exactly max_line bytes: accepted; one more: 414 */
    lim.max_line = 40;
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    memcpy(buf + 40 - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    n = 40 - 9 + 22;
    r = h1t_parse(false, buf, n, &lim, &m, h);
    assert_int_equal(r, (ssize_t)n);
    assert_int_equal(m.target.len, 40 - 9 - 4);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    memcpy(buf + 41 - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    n = 41 - 9 + 22;
    assert_int_equal(h1t_parse(false, buf, n, &lim, &m, h), H1_ERR_LINE_TOO_LONG);
    /* a long line is refused before its end arrives */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 41, &m, h, H1T_MAXH, &lim), H1_ERR_LINE_TOO_LONG);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 40, &m, h, H1T_MAXH, &lim), H1_INCOMPLETE);

    /* head of exactly max_head bytes: accepted; one more: 431 */
    lim = (struct h1_limits){.max_head = 64};
    memset(buf, 'x', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    memcpy(buf + 64 - 4, "\r\n\r\n", 4);
    r = h1t_parse(false, buf, 64, &lim, &m, h);
    assert_int_equal(r, 64);
    memcpy(buf + 64 - 4, "x\r\n\r\n", 5);
    assert_int_equal(h1t_parse(false, buf, 65, &lim, &m, h), H1_ERR_HEAD_TOO_LARGE);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 64, &m, h, H1T_MAXH, &lim), H1_INCOMPLETE);
    assert_int_equal(h1_parse_request(buf, 65, &m, h, H1T_MAXH, &lim), H1_ERR_HEAD_TOO_LARGE);

    /* max_hdrs fields: accepted; one more: 431. The defaults: 101. */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(buf + n, "%s: %d\r\n", i == 0 ? "Host" : "X", i);
    n += (size_t)sprintf(buf + n, "\r\n");
    assert_int_equal(req(buf, n), (ssize_t)n);
    assert_int_equal(m.nhdrs, 101);
    n -= 2;
    n += (size_t)sprintf(buf + n, "Y: z\r\n\r\n");
    assert_int_equal(req(buf, n), H1_ERR_TOO_MANY_HEADERS);
    /* no array: a head without fields only */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S("GET / HTTP/1.0\r\n\r\n"), &m, NULL, 5, NULL), 18);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S("GET / HTTP/1.0\r\nA: b\r\n\r\n"), &m, NULL, 5, NULL),
                     H1_ERR_TOO_MANY_HEADERS);
    /* the caller's array bounds the count too */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n\r\n"), &m, h, 1, NULL),
                     H1_ERR_TOO_MANY_HEADERS);

    /* the defaults: a 16 KiB head passes, 16 KiB + 1 does not */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'v', 16384 - n - 4);
    memcpy(buf + 16384 - 4, "\r\n\r\n", 4);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 16384, &m, h, H1T_MAXH, NULL), 16384);
    memcpy(buf + 16384 - 4, "v\r\n\r\n", 5);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 16385, &m, h, H1T_MAXH, NULL), H1_ERR_HEAD_TOO_LARGE);
    /* an 8190-byte request line passes, 8191 does not (414) */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    memcpy(buf + 8190 - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 8190 + 13, &m, h, H1T_MAXH, NULL), 8190 + 13);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    memcpy(buf + 8191 - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(buf, 8191 + 13, &m, h, H1T_MAXH, NULL), H1_ERR_LINE_TOO_LONG);
}

static void test_incremental_contract(void **state)
{
    static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    /* once decided, the same answer */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S(r), &m, h, H1T_MAXH, NULL), sizeof(r) - 1);
    assert_int_equal(h1_parse_request(S(r), &m, h, H1T_MAXH, NULL), sizeof(r) - 1);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S("GET / HTTP/1.1\n"), &m, h, H1T_MAXH, NULL), H1_ERR_BARE_LF);
    assert_int_equal(h1_parse_request(S(r), &m, h, H1T_MAXH, NULL), H1_ERR_BARE_LF);
    /* a shorter buffer restarts from scratch */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(r, 20, &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    assert_int_equal(h1_parse_request(S("GET /x HTTP/1.1\r\n"), &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    assert_int_equal(h1_parse_request(r, 10, &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    assert_int_equal(h1_parse_request(S(r), &m, h, H1T_MAXH, NULL), sizeof(r) - 1);
    assert_string_equal(h1t_str(r, m.target), "/");
    /* nothing yet, or only the start of a line ending */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request("", 0, &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    assert_int_equal(h1_parse_request(S("\r"), &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(r, sizeof(r) - 2, &m, h, H1T_MAXH, NULL), H1_INCOMPLETE);
    /* a TLS ClientHello on a plain port is refused at its first byte */
    h1_msg_init(&m);
    assert_int_equal(h1_parse_request(S("\x16\x03\x01\x02\x00\x01"), &m, h, H1T_MAXH, NULL),
                     H1_ERR_METHOD);
}

/* Every rejected request, with its exact error. */
struct vec {
    const char *name;
    const char *msg;
    size_t len;
    int err;
};
#define V(name, lit, err) {name, lit, sizeof(lit) - 1, err}

static const struct vec bad_requests[] = {
    /* line endings */
    V("bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF after field", "GET / HTTP/1.1\r\nHost: a\n\r\n", H1_ERR_BARE_LF),
    V("bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", H1_ERR_BARE_LF),
    V("bare LF as empty line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF in name", "GET / HTTP/1.1\r\nHo\nst: a\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF in value", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF in method", "GET\n / HTTP/1.1\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF after target", "GET /\n HTTP/1.1\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF after version", "GET / HTTP/1.1\n\r\n", H1_ERR_BARE_LF),
    V("bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", H1_ERR_BARE_CR),
    V("bare CR ending value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", H1_ERR_BARE_CR),
    V("bare CR ending head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", H1_ERR_BARE_CR),
    V("bare CR ending request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", H1_ERR_BARE_CR),
    V("bare CR before request line", "\rGET / HTTP/1.1\r\n", H1_ERR_BARE_CR),
    V("CR inside target", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    /* request line shape */
    V("double SP", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("double SP before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("trailing SP", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("HTAB separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("HTAB before version", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("HTTP/0.9 request", "GET /\r\n\r\n", H1_ERR_REQUEST_LINE),
    V("method only", "GET\r\n\r\n", H1_ERR_REQUEST_LINE),
    /* method */
    V("method with (", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_METHOD),
    V("method with NUL", "G\0ET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_METHOD),
    V("method with 0x80", "G\x80T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_METHOD),
    V("method with @", "GET@ / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_METHOD),
    /* target */
    V("target with NUL", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("target with CTL", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("target with VT", "GET /a\x0b HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("target with DEL", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("target with raw UTF-8", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("target with fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("bad percent escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("truncated percent escape", "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("half percent escape", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("scheme without //", "GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with userinfo", "GET http://u:p@a.com/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with empty host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with bad port", "GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with empty port", "GET http://a:/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with bad %", "GET http://a/%g0 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("absolute with bad IPv6", "GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("scheme starting with digit", "GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("CONNECT without port", "CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", H1_ERR_TARGET),
    V("CONNECT absolute", "CONNECT http://a.com:80/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    V("CONNECT userinfo", "CONNECT u@a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET),
    /* target form against method */
    V("authority-form with GET", "GET a.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET_FORM),
    V("CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET_FORM),
    V("CONNECT asterisk", "CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET_FORM),
    V("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", H1_ERR_TARGET_FORM),
    /* version */
    V("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("HTTP/11", "GET / HTTP/11\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("HTTP/1.x", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("version with junk", "GET / HTTP/1.1;\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("version too long", "GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", H1_ERR_VERSION),
    V("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", H1_ERR_VERSION_UNSUPPORTED),
    V("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", H1_ERR_VERSION_UNSUPPORTED),
    V("HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", H1_ERR_VERSION_UNSUPPORTED),
    V("HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", H1_ERR_VERSION_UNSUPPORTED),
    /* field names */
    V("space before colon (TE)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("space before colon (CL)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("space inside name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", H1_ERR_HEADER_NAME),
    V("line without colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", H1_ERR_HEADER_NAME),
    V("name with (", "GET / HTTP/1.1\r\nHost: a\r\nFo(o: x\r\n\r\n", H1_ERR_HEADER_NAME),
    V("name with NUL", "GET / HTTP/1.1\r\nHost: a\r\nF\0o: x\r\n\r\n", H1_ERR_HEADER_NAME),
    V("name with 0x80", "GET / HTTP/1.1\r\nHost: a\r\nF\x80o: x\r\n\r\n", H1_ERR_HEADER_NAME),
    V("name with /", "GET / HTTP/1.1\r\nHost: a\r\nA/B: x\r\n\r\n", H1_ERR_HEADER_NAME),
    /* obs-fold and leading whitespace */
    V("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", H1_ERR_OBS_FOLD),
    V("obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", H1_ERR_OBS_FOLD),
    /* the empty first line is already an invalid Transfer-Encoding */
    V("obs-fold of TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
      H1_ERR_TE_INVALID),
    V("obs-fold after TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n",
      H1_ERR_OBS_FOLD),
    V("whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", H1_ERR_OBS_FOLD),
    /* field values */
    V("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("VT in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b b\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("FF in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x0c\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("VT before TE value", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b" "chunked\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("NUL after chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\0\r\n\r\n", H1_ERR_HEADER_VALUE),
    /* Content-Length */
    V("CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_CL_AND_TE),
    V("TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", H1_ERR_CL_AND_TE),
    V("CL, CL differing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", H1_ERR_CONTENT_LENGTH_CONFLICT),
    V("CL list differing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", H1_ERR_CONTENT_LENGTH_CONFLICT),
    V("CL zero then other", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\ncontent-length: 10\r\n\r\n", H1_ERR_CONTENT_LENGTH_CONFLICT),
    V("CL plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL leading comma", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL decimal point", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL 2^63", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL 2^64+5 (wraps to 5)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("CL quoted", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \"5\"\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    /* Transfer-Encoding */
    V("TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE chunked then gzip line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: gzip\r\n\r\n", H1_ERR_TE_NOT_CHUNKED),
    V("TE with parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE leading comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE trailing comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE space inside", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n", H1_ERR_TE_INVALID),
    V("TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", H1_ERR_TE_CHUNKED_TWICE),
    V("TE chunked on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_CHUNKED_TWICE),
    V("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", H1_ERR_TE_UNSUPPORTED),
    V("TE identity, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_UNSUPPORTED),
    V("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_HTTP10),
    V("TE and CL in HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_HTTP10),
    /* Host */
    V("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", H1_ERR_HOST_DUPLICATE),
    V("two identical Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", H1_ERR_HOST_DUPLICATE),
    V("two Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", H1_ERR_HOST_DUPLICATE),
    V("no Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", H1_ERR_HOST_MISSING),
    V("no Host, absolute-form", "GET http://a/ HTTP/1.1\r\n\r\n", H1_ERR_HOST_MISSING),
    V("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host port too big", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host port not digits", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host unclosed IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host empty IPv6", "GET / HTTP/1.1\r\nHost: []\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host bad percent", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", H1_ERR_HOST_INVALID),
    V("Host with obs-text", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", H1_ERR_HOST_INVALID),
    /* Connection */
    V("Connection not token", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", H1_ERR_CONNECTION),
    V("Connection quoted", "GET / HTTP/1.1\r\nHost: a\r\nConnection: \"close\"\r\n\r\n", H1_ERR_CONNECTION),
};

static void test_bad_requests(void **state)
{
    size_t n = sizeof(bad_requests) / sizeof(bad_requests[0]);

    for (size_t i = 0; i < n; i++) {
        const struct vec *v = &bad_requests[i];
        ssize_t r = req(v->msg, v->len);
        if (r != v->err)
            fail_msg("%s: got %zd (%s), want %d (%s)", v->name, r, h1_err_name((int)r), v->err,
                     h1_err_name(v->err));
    }
    assert_true(n >= 40);
}

static void test_error_statuses(void **state)
{
    /* the statuses the brief of each error promises */
    assert_int_equal(req(S("GET / HTTP/2.0\r\nHost: a\r\n\r\n")), H1_ERR_VERSION_UNSUPPORTED);
    assert_int_equal(h1_err_status(H1_ERR_VERSION_UNSUPPORTED), 505);
    assert_int_equal(h1_err_status(H1_ERR_LINE_TOO_LONG), 414);
    assert_int_equal(h1_err_status(H1_ERR_HEAD_TOO_LARGE), 431);
    assert_int_equal(h1_err_status(H1_ERR_TOO_MANY_HEADERS), 431);
    assert_int_equal(h1_err_status(H1_ERR_TE_UNSUPPORTED), 501);
    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
        int st = h1_err_status(bad_requests[i].err);
        assert_true(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
    }
}

/* ----------------------------------------------------------------- responses */

static void test_simple_response(void **state)
{
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    assert_int_equal(resp(S(r)), sizeof(r) - 1 - 5);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.version, 11);
    assert_string_equal(h1t_str(r, m.reason), "OK");
    assert_int_equal(m.body, H1_BODY_LENGTH);
    assert_int_equal(m.content_length, 5);
    assert_int_equal(m.nhdrs, 2);
    assert_true(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_int_equal(h1_response_body(&m, H1_METHOD_GET), H1_BODY_LENGTH);
    assert_int_equal(h1_response_body(&m, H1_METHOD_HEAD), H1_BODY_NONE);
}

static void test_response_status_lines(void **state)
{
    static const char r1[] = "HTTP/1.1 404 Not  Found \t(really)\r\n\r\n";
    static const char r2[] = "HTTP/1.1 200\r\n\r\n";
    static const char r3[] = "HTTP/1.1 200 \r\n\r\n";
    static const char r4[] = "HTTP/1.0 503 Service Unavailable \xc3\xa9\xff\r\nConnection: keep-alive\r\n"
                             "Content-Length: 0\r\n\r\n";
    static const char r5[] = "\r\nHTTP/1.1 599 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\r\n\r\n";

    assert_int_equal(resp(S(r1)), sizeof(r1) - 1);
    assert_int_equal(m.status, 404);
    assert_string_equal(h1t_str(r1, m.reason), "Not  Found \t(really)");
    assert_int_equal(m.body, H1_BODY_UNTIL_CLOSE);
    assert_false(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_int_equal(resp(S(r2)), sizeof(r2) - 1);
    assert_int_equal(m.reason.len, 0);
    assert_int_equal(resp(S(r3)), sizeof(r3) - 1);
    assert_int_equal(m.reason.len, 0);
    assert_int_equal(resp(S(r4)), sizeof(r4) - 1);
    assert_int_equal(m.version, 10);
    assert_true(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_int_equal(resp(S(r5)), sizeof(r5) - 1);
    assert_int_equal(m.status, 599);
}

static void test_response_bodies(void **state)
{
    /* RFC 9112 6.3, rule by rule */
    assert_true(resp(S("HTTP/1.1 204 No Content\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_NONE);
    assert_true(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_true(resp(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_NONE);
    assert_int_equal(m.content_length, 100);
    assert_true(resp(S("HTTP/1.1 100 Continue\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_NONE);
    assert_int_equal(h1_response_body(&m, H1_METHOD_POST), H1_BODY_NONE);
    assert_true(resp(S("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")) > 0);
    assert_int_equal(h1_response_body(&m, H1_METHOD_GET), H1_BODY_TUNNEL);
    assert_false(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_true(m.flags & H1_F_CONN_UPGRADE);
    assert_true(resp(S("HTTP/1.1 200 Connection established\r\n\r\n")) > 0);
    assert_int_equal(h1_response_body(&m, H1_METHOD_CONNECT), H1_BODY_TUNNEL);
    assert_int_equal(h1_response_body(&m, H1_METHOD_GET), H1_BODY_UNTIL_CLOSE);
    assert_true(resp(S("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n")) > 0);
    assert_int_equal(h1_response_body(&m, H1_METHOD_CONNECT), H1_BODY_LENGTH);
    assert_true(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_CHUNKED);
    assert_int_equal(h1_response_body(&m, H1_METHOD_HEAD), H1_BODY_NONE);
    assert_true(h1_response_keep_alive(&m, H1_METHOD_GET));
    /* a Transfer-Encoding that does not end in chunked: read until close (6.3 item 4) */
    assert_true(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_UNTIL_CLOSE);
    assert_true(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")) > 0);
    assert_int_equal(m.body, H1_BODY_UNTIL_CLOSE);
    assert_false(h1_response_keep_alive(&m, H1_METHOD_GET));
    assert_true(h1_response_keep_alive(&m, H1_METHOD_HEAD));
    /* nor does Expect */
    assert_true(resp(S("HTTP/1.1 200 OK\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")) > 0);
    assert_false(m.flags & (H1_F_EXPECT_CONTINUE | H1_F_EXPECT_OTHER));
    /* Host means nothing in a response: not checked, not counted */
    assert_true(resp(S("HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nContent-Length: 0\r\n\r\n")) > 0);
    assert_int_equal(m.host, -1);
}

static const struct vec bad_responses[] = {
    V("status 2 digits", "HTTP/1.1 20 OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status 099", "HTTP/1.1 099 X\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status 600", "HTTP/1.1 600 X\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status letters", "HTTP/1.1 abc OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status missing", "HTTP/1.1\r\n\r\n", H1_ERR_STATUS_LINE),
    V("status empty", "HTTP/1.1 \r\n\r\n", H1_ERR_STATUS_LINE),
    V("double SP before status", "HTTP/1.1  200 OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("tab after status", "HTTP/1.1 200\tOK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("signed status", "HTTP/1.1 +200 OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", H1_ERR_STATUS_LINE),
    V("NUL in reason", "HTTP/1.1 200 O\0K\r\n\r\n", H1_ERR_STATUS_LINE),
    V("DEL in reason", "HTTP/1.1 200 OK\x7f\r\n\r\n", H1_ERR_STATUS_LINE),
    V("bare LF status line", "HTTP/1.1 200 OK\n\r\n", H1_ERR_BARE_LF),
    V("bare LF after status", "HTTP/1.1 200\n\r\n", H1_ERR_BARE_LF),
    V("bare CR status line", "HTTP/1.1 200 OK\rX\n\r\n", H1_ERR_BARE_CR),
    V("lowercase version", "http/1.1 200 OK\r\n\r\n", H1_ERR_VERSION),
    V("tab after version", "HTTP/1.1\t200 OK\r\n\r\n", H1_ERR_STATUS_LINE),
    V("HTTP/2.0 response", "HTTP/2.0 200 OK\r\n\r\n", H1_ERR_VERSION_UNSUPPORTED),
    V("ICY response", "ICY 200 OK\r\n\r\n", H1_ERR_VERSION),
    V("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_CL_AND_TE),
    V("CL conflict", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n", H1_ERR_CONTENT_LENGTH_CONFLICT),
    V("CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", H1_ERR_CONTENT_LENGTH),
    V("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_HTTP10),
    V("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", H1_ERR_TE_UNSUPPORTED),
    V("TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_CHUNKED_TWICE),
    V("TE empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", H1_ERR_TE_INVALID),
    V("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", H1_ERR_OBS_FOLD),
    V("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("NUL in value", "HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("bad Connection", "HTTP/1.1 200 OK\r\nConnection: a b\r\n\r\n", H1_ERR_CONNECTION),
    V("bare LF before status line", "\nHTTP/1.1 200 OK\r\n\r\n", H1_ERR_BARE_LF),
    V("bare CR before status line", "\rHTTP/1.1 200 OK\r\n\r\n", H1_ERR_BARE_CR),
    V("bare LF after version", "HTTP/1.1\n200 OK\r\n\r\n", H1_ERR_BARE_LF),
    V("version too long", "HTTP/1.1.1 200 OK\r\n\r\n", H1_ERR_VERSION),
    V("version with junk", "HTTP/1.1; 200 OK\r\n\r\n", H1_ERR_VERSION),
    V("version with NUL", "HTTP/1.1\0 200 OK\r\n\r\n", H1_ERR_VERSION),
};

static void test_bad_responses(void **state)
{
    for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
        const struct vec *v = &bad_responses[i];
        ssize_t r = resp(v->msg, v->len);
        if (r != v->err)
            fail_msg("%s: got %zd (%s), want %d (%s)", v->name, r, h1_err_name((int)r), v->err,
                     h1_err_name(v->err));
    }
}

static void test_response_limits(void **state)
{
    struct h1_limits lim = {.max_line = 20, .max_head = 64, .max_hdrs = 2};
    assert_int_equal(h1t_parse(true, S("HTTP/1.1 200 abcdefg\r\n\r\n"), &lim, &m, h), 24);
    assert_int_equal(h1t_parse(true, S("HTTP/1.1 200 abcdefgh\r\n\r\n"), &lim, &m, h),
                     H1_ERR_LINE_TOO_LONG);
    assert_int_equal(h1t_parse(true, S("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &lim, &m, h),
                     H1_ERR_TOO_MANY_HEADERS);
    assert_int_equal(h1t_parse(true, S("HTTP/1.1 200 OK\r\nA: 1234567890123456789012345678901234567890"
                                       "1234567890\r\n\r\n"), &lim, &m, h),
                     H1_ERR_HEAD_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_bytes_after_head_not_read),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_origin_form),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_authority_and_asterisk_forms),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_connection_and_friends),
        cmocka_unit_test(test_field_values),
        cmocka_unit_test(test_host_forms),
        cmocka_unit_test(test_content_length_forms),
        cmocka_unit_test(test_transfer_encoding_forms),
        cmocka_unit_test(test_limits_exact),
        cmocka_unit_test(test_incremental_contract),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_error_statuses),
        cmocka_unit_test(test_simple_response),
        cmocka_unit_test(test_response_status_lines),
        cmocka_unit_test(test_response_bodies),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_response_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
