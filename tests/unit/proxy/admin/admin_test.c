/*
 * admin_test.c: proxy/admin/admin.c over real HTTP on a loopback port: a raw
 * HTTP/1.0 client on the test's event_base talks to the admin listener on
 * the same loop. /ready in each process state, the Prometheus and JSON pages
 * with their content types, 404, 405 with Allow, HEAD, query strings, bind
 * errors, and stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "proxy/admin/admin.h"
#include "proxy/admin/prometheus.h"
#include "proxy/main/process.h"
#include "tests/unit/proxy/admin/json_check.h"
#include "tests/unit/proxy/admin/test_snapshot.h"

/* The process state admin.c reads (main.c defines it in the binary). */
struct tern_process tern_proc;

struct response {
    int status;
    char head[4096];  /* status line and headers */
    char *body;
    size_t body_len;
    bool refused;
};

struct client {
    struct event_base *base;
    int fd;
    struct event *ev;
    const char *req;
    size_t off;
    char *buf;
    size_t len, cap;
    bool done;
    bool refused;
};

static void on_client(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;

    if (what & EV_TIMEOUT)
        fail_msg("admin request timed out");
    if (c->off < strlen(c->req)) {
        ssize_t n = send(fd, c->req + c->off, strlen(c->req) - c->off, MSG_NOSIGNAL);
        if (n < 0 && (errno == ECONNREFUSED)) {
            c->refused = c->done = true;
            event_base_loopbreak(c->base);
            return;
        }
        if (n > 0)
            c->off += (size_t)n;
        if (c->off == strlen(c->req)) {
            struct timeval tv = {5, 0};
            event_del(c->ev);
            event_assign(c->ev, c->base, fd, EV_READ | EV_PERSIST, on_client, c);
            event_add(c->ev, &tv);
        }
        return;
    }
    for (;;) {
        ssize_t n;
        if (c->cap - c->len < 4096) {
            c->cap = c->cap * 2 + 8192;
            c->buf = realloc(c->buf, c->cap);
        }
        n = recv(fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0 && errno == ECONNREFUSED)
            c->refused = true;
        c->done = true;
        event_base_loopbreak(c->base);
        return;
    }
}

/* Sends `req` to the admin listener and reads the reply until close. */
static void http_do(struct event_base *base, const char *req, struct response *r)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct client c = {.base = base, .req = req};
    struct timeval tv = {5, 0};
    char *sep;

    memset(r, 0, sizeof(*r));
    assert_int_equal(admin_local_addr(&ss, &sl), 0);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(c.fd, (struct sockaddr *)&ss, sl) < 0)
        assert_int_equal(errno, EINPROGRESS);
    c.ev = event_new(base, c.fd, EV_WRITE | EV_PERSIST, on_client, &c);
    event_add(c.ev, &tv);
    while (!c.done)
        event_base_dispatch(base);
    event_free(c.ev);
    close(c.fd);
    r->refused = c.refused;
    if (c.refused) {
        free(c.buf);
        return;
    }
    assert_non_null(c.buf);
    c.buf[c.len] = '\0';
    sep = strstr(c.buf, "\r\n\r\n");
    assert_non_null(sep);
    assert_true((size_t)(sep - c.buf) < sizeof(r->head));
    memcpy(r->head, c.buf, (size_t)(sep - c.buf));
    r->head[sep - c.buf] = '\0';
    assert_int_equal(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1);
    r->body_len = c.len - (size_t)(sep + 4 - c.buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(c.buf);
}

/* The value of header `name` (case-insensitive), or NULL. */
static const char *header(const struct response *r, const char *name, char *out, size_t outlen)
{
    const char *line = strstr(r->head, "\r\n");

    while (line) {
        const char *next;
        size_t n = strlen(name);
        line += 2;
        next = strstr(line, "\r\n");
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = next ? (size_t)(next - v) : strlen(v);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        line = next;
    }
    return NULL;
}

static void expect(const struct response *r, int status, const char *body)
{
    char v[128];

    assert_false(r->refused);
    assert_int_equal(r->status, status);
    assert_non_null(header(r, "Server", v, sizeof(v)));
    assert_string_equal(v, "tern");
    if (body)
        assert_string_equal(r->body, body);
}

static struct event_base *base;

static int setup(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char err[256];

    base = event_base_new();
    memset(&tern_proc, 0, sizeof(tern_proc));
    tern_proc.base = base;
    tern_proc.snap = test_snapshot_new();
    tern_proc.state = PROC_STARTING;
    if (admin_start(base, (struct sockaddr *)&a, sizeof(a), err, sizeof(err)) != 0)
        fail_msg("admin_start: %s", err);
    return 0;
}

static int teardown(void **state)
{
    admin_stop();
    test_snapshot_free(tern_proc.snap);
    event_base_free(base);
    return 0;
}

static void test_ready_states(void **state)
{
    struct response r;

    http_do(base, "GET /ready HTTP/1.0\r\n\r\n", &r);
    expect(&r, 503, "starting\n");
    free(r.body);

    tern_proc.state = PROC_READY;
    http_do(base, "GET /ready HTTP/1.0\r\n\r\n", &r);
    expect(&r, 200, "ready\n");
    free(r.body);

    http_do(base, "GET /ready?verbose=1 HTTP/1.0\r\n\r\n", &r);
    expect(&r, 200, "ready\n");
    free(r.body);

    tern_proc.state = PROC_DRAINING;
    http_do(base, "GET /ready HTTP/1.0\r\n\r\n", &r);
    expect(&r, 503, "draining\n");
    free(r.body);
}

static void test_prometheus_page(void **state)
{
    struct response r;
    char v[128];

    tern_proc.state = PROC_READY;
    http_do(base, "GET /stats/prometheus HTTP/1.0\r\n\r\n", &r);
    expect(&r, 200, NULL);
    assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, PROMETHEUS_CONTENT_TYPE);
    /* content is prometheus_test's business; here: the right snapshot */
    assert_non_null(strstr(r.body, "\ntern_frontend_connections_total{proxy=\"fe\\\"main\\\\\"} 7\n"));
    assert_non_null(strstr(r.body, "\ntern_process_workers 0\n"));
    free(r.body);
}

static void test_clusters_page(void **state)
{
    struct response r;
    char v[128], err[128];
    struct jv *doc;

    http_do(base, "GET /clusters HTTP/1.0\r\n\r\n", &r);
    expect(&r, 200, NULL);
    assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    doc = jv_parse(r.body, r.body_len, err, sizeof(err));
    if (!doc)
        fail_msg("invalid JSON: %s", err);
    assert_string_equal(jv_get(doc, "clusters.0.servers.1.health")->str, "DOWN");
    jv_free(doc);
    free(r.body);
}

static void test_errors(void **state)
{
    struct response r;
    char v[128];

    http_do(base, "GET /nope HTTP/1.0\r\n\r\n", &r);
    expect(&r, 404, "not found\n");
    free(r.body);

    http_do(base, "GET /readyx HTTP/1.0\r\n\r\n", &r);
    expect(&r, 404, NULL);
    free(r.body);

    http_do(base, "POST /ready HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", &r);
    expect(&r, 405, NULL);
    assert_non_null(header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET, HEAD");
    free(r.body);

    http_do(base, "DELETE /clusters HTTP/1.0\r\n\r\n", &r);
    expect(&r, 405, NULL);
    free(r.body);

    tern_proc.state = PROC_READY;
    http_do(base, "HEAD /ready HTTP/1.0\r\n\r\n", &r);
    expect(&r, 200, "");
    assert_non_null(header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "6"); /* what GET would send: "ready\n" */
    free(r.body);
}

static void test_start_errors_and_stop(void **state)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    char err[256];
    struct response r;
    int busy;

    /* already started */
    assert_int_equal(admin_start(base, (struct sockaddr *)&a, sizeof(a), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "already"));

    /* stop: the port no longer answers */
    assert_int_equal(admin_local_addr(&ss, &sl), 0);
    admin_stop();
    assert_int_equal(admin_local_addr(&ss, &sl), -1);
    admin_stop(); /* idempotent */

    /* a port in use is a clear error */
    busy = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(busy, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(busy, 1), 0);
    assert_int_equal(getsockname(busy, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(admin_start(base, (struct sockaddr *)&a, sizeof(a), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot bind"));
    assert_non_null(strstr(err, "127.0.0.1:"));
    close(busy);

    /* and it can start again (teardown stops it) */
    a.sin_port = 0;
    assert_int_equal(admin_start(base, (struct sockaddr *)&a, sizeof(a), err, sizeof(err)), 0);
    http_do(base, "GET /ready HTTP/1.0\r\n\r\n", &r);
    assert_false(r.refused);
    free(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clusters_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors_and_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
