/*
 * test_server.h: a tiny scripted TCP/HTTP server for the health-check tests,
 * run on the test's own event_base (same thread as the checker), on a free
 * 127.0.0.1 port. It records the request it got and answers according to
 * its mode.
 */
#ifndef TERN_TEST_HEALTH_SERVER_H
#define TERN_TEST_HEALTH_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;

enum test_server_mode {
    TS_ACCEPT_ONLY = 0, /* accept, answer nothing, close when the peer does */
    TS_STATUS,          /* after the request: "HTTP/1.1 <status> <reason>\r\n\r\n" */
    TS_SPLIT,           /* HTTP/1.1 204 sent in three pieces, 20 ms apart */
    TS_GARBAGE,         /* "SSH-2.0-OpenSSH_9.2\r\n" */
    TS_CLOSE,           /* closes right after reading the request */
    TS_SILENT,          /* reads the request, never answers */
    TS_LONG_LINE,       /* "HTTP/1.1 200 " followed by 3000 bytes and no line end */
};

struct test_server {
    struct event_base *base;
    int lfd;
    struct event *lev;
    struct sockaddr_in addr;
    enum test_server_mode mode;
    int status;          /* TS_STATUS */
    const char *reason;  /* TS_STATUS */
    int accepted;
    char req[2048];      /* the last request received */
    size_t req_len;
    struct test_conn *conns; /* open connections, freed by test_server_free */
};

/* Listens on 127.0.0.1:0; returns 0 or -1. */
int test_server_init(struct test_server *s, struct event_base *base);
void test_server_free(struct test_server *s);

/* A 127.0.0.1 address where nothing listens (bound, then closed). */
void test_refused_addr(struct sockaddr_in *out);

#endif
