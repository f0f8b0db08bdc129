/*
 * health_check_test.c: proxy/health/health_check.c against real sockets: a
 * scripted server (test_server.c) on a free loopback port, run on the test's
 * own event_base next to the check. Covers TCP and HTTP checks, the request
 * sent, status judgement (2xx/3xx, expect status), a status line split
 * across reads, refused connections, timeouts, servers that close early or
 * answer garbage, cancellation, and the status-line parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "proxy/health/health_check.h"
#include "tests/unit/proxy/health/test_server.h"

struct fixture {
    struct event_base *base;
    struct test_server srv;
    struct event *guard; /* fails the test if the loop runs too long */
    int calls;
    struct health_check_result res;
};

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    fail_msg("the check did not report within 5 s");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct timeval tv = {5, 0};

    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(test_server_init(&f->srv, f->base), 0);
    f->guard = evtimer_new(f->base, on_guard, f);
    evtimer_add(f->guard, &tv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    test_server_free(&f->srv);
    event_free(f->guard);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void on_done(const struct health_check_result *r, void *arg)
{
    struct fixture *f = arg;

    f->calls++;
    f->res = *r;
    event_base_loopbreak(f->base);
}

/* Runs one check of `addr` to completion. */
static void run_check_at(struct fixture *f, const struct sockaddr *addr, socklen_t len,
                         const struct health_check_params *p)
{
    f->calls = 0;
    health_check_start(f->base, addr, len, p, on_done, f);
    assert_int_equal(f->calls, 0); /* never reported synchronously */
    event_base_dispatch(f->base);
    assert_int_equal(f->calls, 1);
}

static void run_check(struct fixture *f, const struct health_check_params *p)
{
    run_check_at(f, (const struct sockaddr *)&f->srv.addr, sizeof(f->srv.addr), p);
}

static struct health_check_params http_params(void)
{
    struct health_check_params p = {
        .type = HC_HTTP,
        .connect_timeout_ms = 1000,
        .timeout_ms = 2000,
    };
    return p;
}

static void test_tcp_ok(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = {.type = HC_TCP, .connect_timeout_ms = 1000,
                                    .timeout_ms = 1000};

    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_OK);
    assert_int_equal(f->res.status, 0);
    assert_string_equal(health_check_reason(&f->res, HC_TCP, false), "Layer4 check passed");
    /* the server saw the connection (it may see it just after our report) */
    while (f->srv.accepted == 0)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(f->srv.req_len, 0); /* a TCP check sends nothing */
}

static void test_tcp_refused(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = {.type = HC_TCP, .connect_timeout_ms = 1000};
    struct sockaddr_in dead;

    test_refused_addr(&dead);
    run_check_at(f, (struct sockaddr *)&dead, sizeof(dead), &p);
    assert_int_equal(f->res.code, HEALTH_ERR_REFUSED);
    assert_string_equal(f->res.info, "Connection refused");
    assert_string_equal(health_check_reason(&f->res, HC_TCP, false), "Layer4 connection problem");
}

static void test_http_refused(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();
    struct sockaddr_in dead;

    test_refused_addr(&dead);
    run_check_at(f, (struct sockaddr *)&dead, sizeof(dead), &p);
    assert_int_equal(f->res.code, HEALTH_ERR_REFUSED);
}

static void test_http_200_default_request(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_STATUS;
    f->srv.status = 200;
    f->srv.reason = "OK";
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_OK);
    assert_int_equal(f->res.status, 200);
    assert_string_equal(f->res.info, "OK");
    assert_string_equal(health_check_reason(&f->res, HC_HTTP, false), "Layer7 check passed");
    /* HAProxy's default request */
    assert_string_equal(f->srv.req, "OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n");
}

static void test_http_custom_request(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    p.method = "GET";
    p.uri = "/healthz?deep=1";
    p.version = "HTTP/1.1";
    f->srv.mode = TS_STATUS;
    f->srv.status = 302;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_OK); /* 3xx passes by default */
    assert_string_equal(f->srv.req, "GET /healthz?deep=1 HTTP/1.1\r\nConnection: close\r\n\r\n");
}

static void test_http_500_fails(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_STATUS;
    f->srv.status = 500;
    f->srv.reason = "Internal Server Error";
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_STATUS);
    assert_int_equal(f->res.status, 500);
    assert_string_equal(f->res.info, "Internal Server Error");
    assert_string_equal(health_check_reason(&f->res, HC_HTTP, false), "Layer7 wrong status");

    f->srv.status = 404;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_STATUS);
    f->srv.status = 199;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_STATUS);
}

static void test_http_expect_status(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    p.expect_status = 404;
    f->srv.mode = TS_STATUS;
    f->srv.status = 404;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_OK);

    f->srv.status = 200; /* any other status fails, even a 2xx */
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_STATUS);
    assert_int_equal(f->res.status, 200);
}

static void test_http_split_status_line(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_SPLIT;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_OK);
    assert_int_equal(f->res.status, 204);
    assert_string_equal(f->res.info, "No Content");
}

static void test_http_garbage(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_GARBAGE;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_RESPONSE);
    assert_string_equal(health_check_reason(&f->res, HC_HTTP, false), "Layer7 invalid response");
    assert_non_null(strstr(f->res.info, "SSH-2.0"));
}

static void test_http_closed_early(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_CLOSE;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_CLOSED);
}

static void test_http_read_timeout(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();
    p.timeout_ms = 150;
    f->srv.mode = TS_SILENT;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_READ_TIMEOUT);
    assert_true(f->res.duration_ms >= 140);
    assert_true(f->res.duration_ms < 2000);
    assert_string_equal(health_check_reason(&f->res, HC_HTTP, false), "Layer7 timeout");
}

static void test_http_line_too_long(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();

    f->srv.mode = TS_LONG_LINE;
    run_check(f, &p);
    assert_int_equal(f->res.code, HEALTH_ERR_BAD_RESPONSE);
}

/* A listener whose accept queue is full drops SYNs: the connect times out. */
static void test_connect_timeout(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = {.type = HC_TCP, .connect_timeout_ms = 150,
                                    .timeout_ms = 5000};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int fill[8];

    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    for (int i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    run_check_at(f, (struct sockaddr *)&a, sizeof(a), &p);
    assert_int_equal(f->res.code, HEALTH_ERR_CONNECT_TIMEOUT);
    assert_true(f->res.duration_ms >= 140);
    assert_string_equal(health_check_reason(&f->res, HC_TCP, false), "Layer4 timeout");
    for (int i = 0; i < 8; i++)
        close(fill[i]);
    close(lfd);
}

static void on_never(const struct health_check_result *r, void *arg)
{
    fail_msg("a cancelled check reported");
}

static void test_cancel(void **state)
{
    struct fixture *f = *state;
    struct health_check_params p = http_params();
    struct health_check *hc;
    struct sockaddr_in dead;

    f->srv.mode = TS_SILENT;
    hc = health_check_start(f->base, (struct sockaddr *)&f->srv.addr, sizeof(f->srv.addr), &p,
                            on_never, f);
    while (f->srv.req_len == 0) /* until the request reached the server */
        event_base_loop(f->base, EVLOOP_ONCE);
    health_check_cancel(hc);

    /* also a check whose failure is already pending delivery */
    test_refused_addr(&dead);
    hc = health_check_start(f->base, (struct sockaddr *)&dead, sizeof(dead), &p, on_never, f);
    health_check_cancel(hc);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void test_parse_status_line(void **state)
{
    static const struct {
        const char *line;
        int want;
    } cases[] = {
        {"HTTP/1.0 200 OK", 200},
        {"HTTP/1.1 503 Service Unavailable", 503},
        {"HTTP/1.1 204", 204},
        {"HTTP/2.0 301 Moved", 301},
        {"HTTP/1.1 200OK", -1},
        {"HTTP/1.1 20 OK", -1},
        {"HTTP/1.1 099 x", -1},
        {"HTTP/1.1  200 OK", -1},
        {"HTTP/11 200 OK", -1},
        {"http/1.1 200 OK", -1},
        {"ICY 200 OK", -1},
        {"", -1},
        {"HTTP/1.1 2x0 OK", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(health_check_parse_status_line(cases[i].line, strlen(cases[i].line)),
                         cases[i].want);
}

static void test_status_ok(void **state)
{
    assert_true(health_check_status_ok(200, 0));
    assert_true(health_check_status_ok(399, 0));
    assert_false(health_check_status_ok(199, 0));
    assert_false(health_check_status_ok(400, 0));
    assert_true(health_check_status_ok(503, 503));
    assert_false(health_check_status_ok(200, 503));
}

/* grpc.health.v1 messages, encoded and decoded by hand (health_check.h). */
static void test_grpc_request(void **state)
{
    uint8_t out[256];
    char longname[201];

    (void)state;
    assert_int_equal(health_grpc_request(out, sizeof(out), ""), 0);
    assert_int_equal(health_grpc_request(out, sizeof(out), NULL), 0);
    assert_int_equal(health_grpc_request(out, sizeof(out), "app"), 5);
    assert_memory_equal(out, "\x0a\x03" "app", 5);
    /* a length of 200 takes a two-byte varint */
    memset(longname, 'x', 200);
    longname[200] = '\0';
    assert_int_equal(health_grpc_request(out, sizeof(out), longname), 203);
    assert_memory_equal(out, "\x0a\xc8\x01", 3);
    assert_int_equal(health_grpc_request(out, 202, longname), -1);
}

static void test_grpc_parse_response(void **state)
{
    (void)state;
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"", 0), 0); /* UNKNOWN */
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x08\x01", 2), 1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x08\x02", 2), 2);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x08\x03", 2), 3);
    /* unknown fields of each wire type are skipped; the last status wins */
    assert_int_equal(health_grpc_parse_response(
                         (const uint8_t *)"\x10\x05\x1a\x02hi\x25\0\0\0\0\x08\x01"
                                          "\x29\0\0\0\0\0\0\0\0", 22), 1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x08\x02\x08\x01", 4), 1);
    /* invalid: truncated varint, field 0, status as bytes, bad wire type,
     * length past the end, truncated fixed fields */
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x08\x81", 2), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x00\x01", 2), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x0a\x01\x01", 3), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x0b\x01", 2), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x1a\x05" "ab", 4), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x25\0\0", 3), -1);
    assert_int_equal(health_grpc_parse_response((const uint8_t *)"\x29\0\0\0\0", 5), -1);
    assert_int_equal(health_grpc_parse_response(
                         (const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                         12), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tcp_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_200_default_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_custom_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_500_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_expect_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_split_status_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_closed_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_read_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_line_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test(test_parse_status_line),
        cmocka_unit_test(test_status_ok),
        cmocka_unit_test(test_grpc_request),
        cmocka_unit_test(test_grpc_parse_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
