/*
 * test_server.c: see test_server.h.
 */
#include "tests/unit/proxy/health/test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_conn {
    struct test_server *s;
    struct test_conn *next;
    int fd;
    bool answered;
    struct event *ev;
    struct event *timer;
    int step;
};

static void conn_close(struct test_conn *c)
{
    if (c->fd < 0)
        return;
    if (c->ev)
        event_free(c->ev);
    if (c->timer)
        event_free(c->timer);
    c->ev = c->timer = NULL;
    close(c->fd);
    c->fd = -1;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the checker may already be gone */
        p += w;
        n -= (size_t)w;
    }
}

static void on_split_timer(evutil_socket_t fd, short what, void *arg)
{
    static const char *const pieces[] = {"HTTP/1.", "1 204 No Con", "tent\r\n\r\n"};
    struct test_conn *c = arg;
    struct timeval tv = {0, 20000};

    send_all(c->fd, pieces[c->step], strlen(pieces[c->step]));
    c->step++;
    if (c->step < 3)
        evtimer_add(c->timer, &tv);
    else
        conn_close(c);
}

static void answer(struct test_conn *c)
{
    struct test_server *s = c->s;
    char buf[4096];
    int n;

    c->answered = true;
    switch (s->mode) {
    case TS_ACCEPT_ONLY:
    case TS_SILENT:
        return;
    case TS_STATUS:
        n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", s->status,
                     s->reason ? s->reason : "Whatever");
        send_all(c->fd, buf, (size_t)n);
        conn_close(c);
        return;
    case TS_SPLIT:
        c->timer = evtimer_new(s->base, on_split_timer, c);
        on_split_timer(-1, EV_TIMEOUT, c);
        return;
    case TS_GARBAGE:
        send_all(c->fd, "SSH-2.0-OpenSSH_9.2\r\n", 21);
        conn_close(c);
        return;
    case TS_CLOSE:
        conn_close(c);
        return;
    case TS_LONG_LINE:
        memcpy(buf, "HTTP/1.1 200 ", 13);
        memset(buf + 13, 'x', 3000);
        send_all(c->fd, buf, 3013);
        return;
    }
}

static void on_conn_read(evutil_socket_t fd, short what, void *arg)
{
    struct test_conn *c = arg;
    struct test_server *s = c->s;
    char tmp[1024];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    if (c->answered)
        return;
    if (s->req_len + (size_t)n < sizeof(s->req)) {
        memcpy(s->req + s->req_len, tmp, (size_t)n);
        s->req_len += (size_t)n;
        s->req[s->req_len] = '\0';
    }
    if (strstr(s->req, "\r\n\r\n"))
        answer(c);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct test_server *s = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct test_conn *c;
    int one = 1;

    if (fd < 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->accepted++;
    s->req_len = 0;
    s->req[0] = '\0';
    c = calloc(1, sizeof(*c));
    c->s = s;
    c->fd = fd;
    c->next = s->conns;
    s->conns = c;
    c->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_conn_read, c);
    event_add(c->ev, NULL);
}

int test_server_init(struct test_server *s, struct event_base *base)
{
    socklen_t len = sizeof(s->addr);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->base = base;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        return -1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0 ||
        listen(s->lfd, 64) < 0 || getsockname(s->lfd, (struct sockaddr *)&s->addr, &len) < 0) {
        close(s->lfd);
        return -1;
    }
    s->lev = event_new(base, s->lfd, EV_READ | EV_PERSIST, on_accept, s);
    event_add(s->lev, NULL);
    return 0;
}

void test_server_free(struct test_server *s)
{
    while (s->conns) {
        struct test_conn *c = s->conns;
        s->conns = c->next;
        conn_close(c);
        free(c);
    }
    if (s->lev)
        event_free(s->lev);
    if (s->lfd >= 0)
        close(s->lfd);
    s->lev = NULL;
    s->lfd = -1;
}

void test_refused_addr(struct sockaddr_in *out)
{
    socklen_t len = sizeof(*out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)out, sizeof(*out));
    getsockname(fd, (struct sockaddr *)out, &len);
    close(fd);
}
