/* Tests filters/http/access_log/access_log_format.c: the httplog line, the
 * JSON object (escaping of hostile strings, cutting to `len`), the syslog
 * headers. Times are fixed with TZ (POSIX strings, no tzdata needed). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "filters/http/access_log/access_log.h"
#include "proxy/http/http_msg.h"

/* 2026-11-29 16:43:22.868123 UTC */
#define T_START 1795970602868123ull
/* 2026-03-05 07:08:09.123456 UTC */
#define T_NOW 1772694489123456ull

static struct sockaddr_in client4;
static struct sockaddr_in6 client6;
static struct http_hdr hdrs[8];
static struct http_msg req;
static struct filter_stream_info info;
static struct alog_tm tm_a, tm_b;

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
    memset(&tm_a, 0, sizeof(tm_a));
    memset(&tm_b, 0, sizeof(tm_b));
}

static struct http_str str(const char *s)
{
    return (struct http_str){s, (uint32_t)strlen(s)};
}

static void add_hdr(const char *name, const char *value, size_t vlen)
{
    hdrs[req.nhdrs].name = str(name);
    hdrs[req.nhdrs].value = (struct http_str){value, (uint32_t)vlen};
    req.nhdrs++;
}

/* The README's example request. */
static int setup(void **state)
{
    (void)state;
    set_tz("UTC0");
    memset(&client4, 0, sizeof(client4));
    client4.sin_family = AF_INET;
    client4.sin_port = htons(42342);
    inet_pton(AF_INET, "10.1.2.3", &client4.sin_addr);
    memset(&client6, 0, sizeof(client6));
    client6.sin6_family = AF_INET6;
    client6.sin6_port = htons(8443);
    inet_pton(AF_INET6, "2001:db8::7", &client6.sin6_addr);

    memset(&req, 0, sizeof(req));
    req.kind = HTTP_MSG_REQUEST;
    req.version = 11;
    req.method = HTTP_M_GET;
    req.method_str = str("GET");
    req.path = str("/x");
    req.query = str("y=1");
    req.authority = str("example.com");
    req.hdrs = hdrs;
    req.cap = 8;
    add_hdr("Host", "example.com", 11);
    add_hdr("User-Agent", "curl/8", 6);

    memset(&info, 0, sizeof(info));
    info.listener = "web";
    info.cluster = "app";
    info.endpoint = "a1";
    info.client = (const struct sockaddr *)&client4;
    info.version = 11;
    info.status = 200;
    info.reason = TERN_R_NONE;
    info.reason_name = "none";
    info.start_us = T_START;
    info.duration_us = 13000;
    info.bytes_in = 78;
    info.bytes_out = 465;
    info.attempts = 1;
    info.request = &req;
    info.t_request = 0;
    info.t_queue = 0;
    info.t_connect = 1;
    info.t_response = 12;
    info.t_active = 13;
    strcpy(info.termination, "----");
    info.actconn = 1;
    info.feconn = 1;
    info.beconn = 1;
    info.srv_conn = 1;
    return 0;
}

static char out[70000];

static const char *httplog(size_t cap)
{
    size_t n = alog_format_httplog(&info, &tm_a, out, cap);
    assert_true(n <= cap);
    out[n] = 0;
    return out;
}

static const char *json(size_t cap, size_t *len)
{
    size_t n = alog_format_json(&info, &tm_a, out, cap);
    assert_true(n <= cap);
    out[n] = 0;
    if (len)
        *len = n;
    return out;
}

/* ---- a strict JSON checker (objects of scalars, as the filter writes) ------ */

static bool utf8_ok(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    unsigned c = *p, n;
    uint32_t v, min;

    if (c >= 0xC2 && c <= 0xDF) n = 1, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, v = c & 0x07, min = 0x10000;
    else return false;
    if ((size_t)(end - p) < n + 1)
        return false;
    for (unsigned k = 1; k <= n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return false;
        v = (v << 6) | (p[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return false;
    *pp = p + n + 1;
    return true;
}

static bool json_string(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;

    if (p >= end || *p++ != '"')
        return false;
    while (p < end && *p != '"') {
        if (*p < 0x20)
            return false;
        if (*p == '\\') {
            p++;
            if (p >= end)
                return false;
            if (*p == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (p + k >= end || !strchr("0123456789abcdefABCDEF", p[k]) || !p[k])
                        return false;
                p += 5;
            } else if (strchr("\"\\/bfnrt", *p) && *p) {
                p++;
            } else {
                return false;
            }
        } else if (*p >= 0x80) {
            if (!utf8_ok(&p, end))
                return false;
        } else {
            p++;
        }
    }
    if (p >= end)
        return false;
    *pp = p + 1;
    return true;
}

static bool json_object(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    if (p >= end || *p++ != '{')
        return false;
    for (;;) {
        if (!json_string(&p, end) || p >= end || *p++ != ':')
            return false;
        if (p < end && *p == '"') {
            if (!json_string(&p, end))
                return false;
        } else if (end - p >= 4 && (memcmp(p, "null", 4) == 0 || memcmp(p, "true", 4) == 0)) {
            p += 4;
        } else {
            const unsigned char *q = p;
            if (p < end && *p == '-')
                p++;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p == q || (p == q + 1 && *q == '-'))
                return false;
        }
        if (p >= end)
            return false;
        if (*p == '}')
            return p + 1 == end;
        if (*p++ != ',')
            return false;
    }
}

/* ---- httplog ----------------------------------------------------------------- */

static void test_httplog(void **state)
{
    (void)state;
    assert_string_equal(httplog(4096),
                        "10.1.2.3:42342 [29/Nov/2026:16:43:22.868] web app/a1 0/0/1/12/13 200 "
                        "465 - - ---- 1/1/1/1/0 0/0 \"GET /x?y=1 HTTP/1.1\" reason=none");

    /* a refused request: no head, no server, timers not reached */
    info.request = NULL;
    info.cluster = info.endpoint = NULL;
    info.status = 400;
    info.reason = TERN_R_BAD_REQUEST;
    info.reason_name = "bad_request";
    info.t_request = info.t_queue = info.t_connect = info.t_response = -1;
    info.t_active = 0;
    info.bytes_out = 215;
    strcpy(info.termination, "PR--");
    info.beconn = info.srv_conn = 0;
    assert_string_equal(httplog(4096),
                        "10.1.2.3:42342 [29/Nov/2026:16:43:22.868] web <NOSRV>/<NOSRV> "
                        "-1/-1/-1/-1/0 400 215 - - PR-- 1/1/0/0/0 0/0 \"<BADREQ>\" "
                        "reason=bad_request");

    /* no status at all (client gone before a response), IPv6, HTTP/1.0 */
    info.request = &req;
    req.version = 10;
    req.query = (struct http_str){NULL, 0};
    info.status = 0;
    info.reason_name = "client_abort";
    info.client = (const struct sockaddr *)&client6;
    assert_string_equal(httplog(4096),
                        "[2001:db8::7]:8443 [29/Nov/2026:16:43:22.868] web <NOSRV>/<NOSRV> "
                        "-1/-1/-1/-1/0 -1 215 - - PR-- 1/1/0/0/0 0/0 \"GET /x HTTP/1.0\" "
                        "reason=client_abort");
}

static void test_httplog_local_time_and_cut(void **state)
{
    char want[4096];
    (void)state;
    set_tz("CET-1"); /* UTC+1: 17:43 local */
    assert_non_null(strstr(httplog(4096), " [29/Nov/2026:17:43:22.868] "));

    /* cut at cap, never beyond (HAProxy cuts a line at `len`) */
    httplog(sizeof(want) - 1);
    memcpy(want, out, strlen(out) + 1);
    for (size_t cap = 0; cap < strlen(want); cap += 7)
        assert_memory_equal(httplog(cap), want, cap);

    /* the URI is limited as in the core's line: 1024 bytes of path+query */
    {
        static char longpath[3000];
        memset(longpath, 'p', sizeof(longpath) - 1);
        longpath[0] = '/';
        req.path = str(longpath);
        httplog(sizeof(out));
        const char *u = strstr(out, "\"GET /");
        assert_non_null(u);
        /* no room left for the query: its '?' alone, as the core's line */
        assert_int_equal(strchr(u + 5, ' ') - (u + 5), ALOG_URI_MAX + 1);
        assert_non_null(strstr(out, "pppp? HTTP/1.1\" reason=none"));
        assert_null(strstr(out, "y=1"));
    }
}

/* ---- JSON --------------------------------------------------------------------- */

static void test_json(void **state)
{
    size_t n;
    (void)state;
    assert_string_equal(
        json(4096, &n),
        "{\"accept_date\":\"2026-11-29T16:43:22.868+00:00\",\"client_ip\":\"10.1.2.3\","
        "\"client_port\":42342,\"frontend_name\":\"web\",\"backend_name\":\"app\","
        "\"server_name\":\"a1\",\"TR\":0,\"Tw\":0,\"Tc\":1,\"Tr\":12,\"Ta\":13,"
        "\"status_code\":200,\"bytes_read\":465,\"bytes_uploaded\":78,"
        "\"termination_state\":\"----\",\"actconn\":1,\"feconn\":1,\"beconn\":1,"
        "\"srv_conn\":1,\"retries\":0,\"srv_queue\":0,\"backend_queue\":0,\"reason\":\"none\","
        "\"method\":\"GET\",\"http_version\":\"HTTP/1.1\",\"uri\":\"/x?y=1\","
        "\"host\":\"example.com\",\"user_agent\":\"curl/8\",\"request_id\":null}");
    assert_true(json_object(out, n));

    /* a refused request: nulls where nothing is known */
    info.request = NULL;
    info.cluster = info.endpoint = NULL;
    info.client = NULL;
    info.status = 0;
    info.t_request = -1;
    json(4096, &n);
    assert_true(json_object(out, n));
    assert_non_null(strstr(out, "\"client_ip\":null,\"client_port\":0,"));
    assert_non_null(strstr(out, "\"backend_name\":null,\"server_name\":null,\"TR\":-1,"));
    assert_non_null(strstr(out, "\"status_code\":-1,"));
    assert_non_null(strstr(out, "\"method\":null,\"http_version\":null,\"uri\":null,"
                                "\"host\":null,\"user_agent\":null,\"request_id\":null}"));

    /* IPv6 client, a negative UTC offset with minutes */
    set_tz("NST3:30");
    info.client = (const struct sockaddr *)&client6;
    json(4096, &n);
    assert_non_null(strstr(out, "{\"accept_date\":\"2026-11-29T13:13:22.868-03:30\","
                                "\"client_ip\":\"2001:db8::7\",\"client_port\":8443,"));
}

static const char *esc(const char *s, size_t n)
{
    size_t used, o = alog_json_escape(s, n, out, sizeof(out) - 1, &used);
    assert_int_equal(used, n);
    out[o] = 0;
    return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

static void test_json_escape(void **state)
{
    (void)state;
    assert_string_equal(ESC("plain /path?a=b&c=</script>"), "plain /path?a=b&c=</script>");
    assert_string_equal(ESC("a\"b\\c"), "a\\\"b\\\\c");
    assert_string_equal(ESC("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
    assert_string_equal(ESC("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
    assert_string_equal(ESC("a\0b"), "a\\u0000b");
    /* valid UTF-8 is kept */
    assert_string_equal(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* line separators: valid JSON, not valid JavaScript */
    assert_string_equal(ESC("\xe2\x80\xa8\xe2\x80\xa9"), "\\u2028\\u2029");
    /* every byte of an invalid sequence becomes U+FFFD */
    assert_string_equal(ESC("\xff"), "\\ufffd");
    assert_string_equal(ESC("\xc0\xaf"), "\\ufffd\\ufffd");          /* overlong '/' */
    assert_string_equal(ESC("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd"); /* overlong */
    assert_string_equal(ESC("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd"); /* surrogate */
    assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > 10FFFF */
    assert_string_equal(ESC("x\xe2\x82"), "x\\ufffd\\ufffd");         /* cut short */
    assert_string_equal(ESC("\x80z"), "\\ufffdz");                    /* lone continuation */
    assert_string_equal(ESC("\xc3("), "\\ufffd(");                    /* bad continuation */
}

/* Cut anywhere: never more than cap, never half an escape or character, and
 * what was written is exactly the escape of what was consumed. */
static void test_json_escape_cut(void **state)
{
    static const char in[] = "a\"\\\x01\xc3\xa9\xe2\x80\xa8\xff\xf0\x9f\x98\x80z\n";
    char full[256], part[256], again[256];
    size_t nfull, used;
    (void)state;

    nfull = alog_json_escape(in, sizeof(in) - 1, full, sizeof(full), &used);
    assert_int_equal(used, sizeof(in) - 1);
    for (size_t cap = 0; cap <= nfull; cap++) {
        size_t n = alog_json_escape(in, sizeof(in) - 1, part, cap, &used);
        assert_true(n <= cap);
        assert_memory_equal(part, full, n);
        assert_int_equal(alog_json_escape(in, used, again, sizeof(again), NULL), n);
        assert_memory_equal(again, part, n);
        if (cap == nfull)
            assert_int_equal(used, sizeof(in) - 1);
    }
}

/* Hostile request fields: the object stays valid and within len. */
static void test_json_hostile(void **state)
{
    static char path[ALOG_URI_MAX + 10], ua[600], rid[300];
    size_t n;
    (void)state;

    memset(path, '"', sizeof(path) - 1);
    path[0] = '/';
    memset(ua, 0x01, sizeof(ua) - 1);
    memset(rid, 0xff, sizeof(rid) - 1);
    req.path = str(path);
    req.query = (struct http_str){NULL, 0};
    req.nhdrs = 0;
    add_hdr("host", "evil\"}\n{\"injected\":1", strlen("evil\"}\n{\"injected\":1"));
    add_hdr("user-agent", ua, sizeof(ua) - 1);
    add_hdr("X-Request-Id", rid, sizeof(rid) - 1);

    /* room for everything: the header values are limited to ALOG_HDR_MAX */
    json(sizeof(out), &n);
    assert_true(json_object(out, n));
    assert_non_null(strstr(out, "\"host\":\"evil\\\"}\\n{\\\"injected\\\":1\""));
    assert_null(strstr(out, "truncated"));
    assert_non_null(strstr(out, "\"user_agent\":\""));
    {
        const char *u = strstr(out, "\"user_agent\":\"") + 14;
        assert_int_equal(strchr(u, '"') - u, ALOG_HDR_MAX * 6); /* \u0001 each */
    }

    /* every len from the smallest up: valid, within len, marked when cut */
    for (size_t cap = ALOG_LEN_MIN; cap < 6000; cap += 37) {
        json(cap, &n);
        assert_true(n > 0);
        assert_true(n <= cap);
        assert_true(json_object(out, n));
        assert_non_null(strstr(out, "\"request_id\":"));
        if (n < 5000)
            assert_non_null(strstr(out, ",\"truncated\":true}"));
    }
}

/* Random bytes in every client string: always a valid object. */
static void test_json_random(void **state)
{
    static char a[2100], b[400], c[400];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    (void)state;

    for (int it = 0; it < 3000; it++) {
        size_t la, lb, lc, n, cap;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
        la = 1 + RND() % (sizeof(a) - 1);
        lb = RND() % sizeof(b);
        lc = RND() % sizeof(c);
        for (size_t k = 0; k < la; k++)
            a[k] = RND() % 4 ? (char)(RND() % 256) : "\"\\\xe2\x80\xa8\xc3"[RND() % 6];
        for (size_t k = 0; k < lb; k++)
            b[k] = (char)(RND() % 256);
        for (size_t k = 0; k < lc; k++)
            c[k] = (char)(RND() % 256);
        req.path = (struct http_str){a, (uint32_t)la};
        req.query = RND() % 2 ? (struct http_str){b, (uint32_t)lb} : (struct http_str){NULL, 0};
        req.method_str = (struct http_str){c, (uint32_t)(lc % 40)};
        req.nhdrs = 0;
        add_hdr("host", b, lb);
        add_hdr("user-agent", c, lc);
        add_hdr("x-request-id", a, la > 300 ? 300 : la);
        cap = ALOG_LEN_MIN + RND() % 5000;
        json(cap, &n);
        assert_true(n > 0 && n <= cap);
        if (!json_object(out, n))
            fail_msg("invalid JSON at iteration %d: %s", it, out);
#undef RND
    }
}

/* Names from the config are escaped too; fixed fields that cannot fit make
 * no partial object. */
static void test_json_fixed_too_long(void **state)
{
    static char name[1200];
    size_t n;
    (void)state;
    memset(name, 'n', sizeof(name) - 1);
    info.listener = name;
    json(ALOG_LEN_MIN, &n);
    assert_int_equal(n, 0);
    json(sizeof(out), &n);
    assert_true(json_object(out, n));
    info.listener = "we\"b";
    json(4096, &n);
    assert_non_null(strstr(out, "\"frontend_name\":\"we\\\"b\""));
}

/* ---- syslog -------------------------------------------------------------------- */

static const char *header(enum alog_syslog f)
{
    static struct access_log_config c;
    size_t n;

    memset(&c, 0, sizeof(c));
    c.syslog = f;
    c.facility = 16; /* local0 */
    c.level = 6;     /* info */
    strcpy(c.tag, "tern");
    strcpy(c.host, "myhost");
    c.pid = 4242;
    c.len = 1024;
    n = alog_format_syslog_header(&c, T_NOW, &tm_b, out, 200);
    out[n] = 0;
    return out;
}

static void test_syslog_headers(void **state)
{
    (void)state;
    assert_string_equal(header(ALOG_SL_RFC3164), "<134>Mar  5 07:08:09 myhost tern[4242]: ");
    assert_string_equal(header(ALOG_SL_LOCAL), "<134>Mar  5 07:08:09 tern[4242]: ");
    assert_string_equal(header(ALOG_SL_RFC5424),
                        "<134>1 2026-03-05T07:08:09.123+00:00 myhost tern 4242 - - ");
    assert_string_equal(header(ALOG_SL_PRIORITY), "<134>");
    assert_string_equal(header(ALOG_SL_SHORT), "<6>");
    assert_string_equal(header(ALOG_SL_RAW), "");
    set_tz("CET-1");
    assert_string_equal(header(ALOG_SL_RFC3164), "<134>Mar  5 08:08:09 myhost tern[4242]: ");
    assert_string_equal(header(ALOG_SL_RFC5424),
                        "<134>1 2026-03-05T08:08:09.123+01:00 myhost tern 4242 - - ");
}

static void test_record(void **state)
{
    static struct access_log_config c;
    static char longpath[3000];
    size_t n;
    (void)state;

    memset(&c, 0, sizeof(c));
    c.syslog = ALOG_SL_RFC3164;
    c.facility = 3; /* daemon */
    c.level = 3;    /* err */
    strcpy(c.tag, "edge");
    strcpy(c.host, "h");
    c.pid = 1;
    c.len = 1024;
    n = alog_format_record(&c, &info, T_NOW, &tm_a, &tm_b, out, sizeof(out));
    out[n] = 0;
    assert_string_equal(out, "<27>Mar  5 07:08:09 h edge[1]: 10.1.2.3:42342 "
                             "[29/Nov/2026:16:43:22.868] web app/a1 0/0/1/12/13 200 465 - - "
                             "---- 1/1/1/1/0 0/0 \"GET /x?y=1 HTTP/1.1\" reason=none");

    /* httplog is cut at len, header included */
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[0] = '/';
    req.path = str(longpath);
    c.len = 600;
    n = alog_format_record(&c, &info, T_NOW, &tm_a, &tm_b, out, sizeof(out));
    assert_int_equal(n, 600);

    /* JSON: whole and within len */
    c.format = ALOG_FMT_JSON;
    n = alog_format_record(&c, &info, T_NOW, &tm_a, &tm_b, out, sizeof(out));
    assert_true(n > 0 && n <= 600);
    assert_memory_equal(out, "<27>Mar  5 07:08:09 h edge[1]: {", 32);
    assert_true(json_object(out + 31, n - 31));
    assert_non_null(strstr(out, ",\"truncated\":true}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_httplog, setup),
        cmocka_unit_test_setup(test_httplog_local_time_and_cut, setup),
        cmocka_unit_test_setup(test_json, setup),
        cmocka_unit_test_setup(test_json_escape, setup),
        cmocka_unit_test_setup(test_json_escape_cut, setup),
        cmocka_unit_test_setup(test_json_hostile, setup),
        cmocka_unit_test_setup(test_json_random, setup),
        cmocka_unit_test_setup(test_json_fixed_too_long, setup),
        cmocka_unit_test_setup(test_syslog_headers, setup),
        cmocka_unit_test_setup(test_record, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
