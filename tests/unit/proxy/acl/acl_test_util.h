/*
 * acl_test_util.h: requests and ACLs for the ACL engine's unit tests.
 *
 * treq_init() fills a struct http_msg by hand the way the codec would: the
 * request line and the header lines are copied into one buffer (as in a
 * receive buffer, so path and query sit side by side) and every slice points
 * into it. Header values are given already trimmed, as the codec hands them.
 *
 * words() splits a line on spaces into a static argv ("<empty>" stands for an
 * empty word); acl1() compiles one ACL line into a fresh set under the name
 * "x" and evaluates it; acl_error() returns the message of a line that must
 * fail.
 */
#ifndef TERN_TEST_ACL_UTIL_H
#define TERN_TEST_ACL_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/acl/acl.h"
#include "proxy/core/util.h"
#include "proxy/http/http_msg.h"

#define TREQ_MAXH 32

struct treq {
    struct http_msg m;
    struct http_hdr hdrs[TREQ_MAXH];
    char buf[4096];
    struct sockaddr_storage src, dst;
    struct acl_ctx ctx;
};

static inline struct http_str treq_slice(const char *p, size_t n)
{
    return (struct http_str){p, (uint32_t)n};
}

/* Fills r from "METHOD TARGET HTTP/x.y" and NULL-terminated "Name: value"
 * lines. The client is 192.0.2.10:40000, the frontend 198.51.100.1:80. */
static inline void treq_init(struct treq *r, const char *line, const char *const *hdrs)
{
    size_t used = 0;

    memset(r, 0, sizeof(*r));
    size_t ll = strlen(line);
    assert_true(ll + 1 < sizeof(r->buf));
    memcpy(r->buf, line, ll + 1);
    used = ll + 1;

    char *sp1 = strchr(r->buf, ' ');
    assert_non_null(sp1);
    char *sp2 = strchr(sp1 + 1, ' ');
    assert_non_null(sp2);
    r->m.kind = HTTP_MSG_REQUEST;
    r->m.method_str = treq_slice(r->buf, (size_t)(sp1 - r->buf));
    r->m.method = http_method_from(r->buf, (size_t)(sp1 - r->buf));
    r->m.version = strcmp(sp2 + 1, "HTTP/1.0") == 0 ? 10 : strcmp(sp2 + 1, "HTTP/2.0") == 0 ? 20 : 11;

    const char *t = sp1 + 1;
    size_t tl = (size_t)(sp2 - t);
    const char *sch = strstr(t, "://");
    if (tl == 1 && t[0] == '*') {
        r->m.path = treq_slice(t, 1);
    } else if (t[0] == '/' || (sch && sch < sp2)) {
        const char *p = t;
        if (t[0] != '/') {
            r->m.scheme = treq_slice(t, (size_t)(sch - t));
            const char *a = sch + 3, *ae = a;
            while (ae < sp2 && *ae != '/' && *ae != '?')
                ae++;
            r->m.authority = treq_slice(a, (size_t)(ae - a));
            p = ae;
        }
        const char *q = memchr(p, '?', (size_t)(sp2 - p));
        r->m.path = treq_slice(p, (size_t)((q ? q : sp2) - p));
        if (q)
            r->m.query = treq_slice(q + 1, (size_t)(sp2 - q - 1));
    } else {
        r->m.authority = treq_slice(t, tl); /* CONNECT host:port */
    }

    r->m.hdrs = r->hdrs;
    r->m.cap = TREQ_MAXH;
    for (size_t i = 0; hdrs && hdrs[i]; i++) {
        size_t hl = strlen(hdrs[i]);
        assert_true(used + hl + 1 < sizeof(r->buf) && i < TREQ_MAXH);
        char *h = r->buf + used;
        memcpy(h, hdrs[i], hl + 1);
        used += hl + 1;
        char *colon = strchr(h, ':');
        assert_non_null(colon);
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        r->hdrs[i].name = treq_slice(h, (size_t)(colon - h));
        r->hdrs[i].value = treq_slice(v, strlen(v));
        if (r->hdrs[i].value.len == 0)
            r->hdrs[i].value.p = NULL; /* an empty value may come without a pointer */
        r->m.nhdrs++;
    }

    struct sockaddr_in *s4 = (struct sockaddr_in *)&r->src;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.10", &s4->sin_addr);
    struct sockaddr_in *d4 = (struct sockaddr_in *)&r->dst;
    d4->sin_family = AF_INET;
    d4->sin_port = htons(80);
    inet_pton(AF_INET, "198.51.100.1", &d4->sin_addr);
    r->ctx = (struct acl_ctx){
        .req = &r->m, .src = (struct sockaddr *)&r->src, .dst = (struct sockaddr *)&r->dst};
}

/* Sets the client address ("1.2.3.4" or "::1") and port. */
static inline void treq_src(struct treq *r, const char *addr, uint16_t port)
{
    memset(&r->src, 0, sizeof(r->src));
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r->src;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&r->src;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
    }
}

/* Splits s on spaces into a static argv; "<empty>" is an empty word. */
static inline int words(const char *s, char ***argv_out)
{
    static char store[16384];
    static char *argv[512];
    int argc = 0;

    assert_true(strlen(s) < sizeof(store));
    strcpy(store, s);
    for (char *tok = strtok(store, " "); tok; tok = strtok(NULL, " ")) {
        assert_true(argc < 511);
        argv[argc++] = strcmp(tok, "<empty>") == 0 ? tok + strlen(tok) : tok;
    }
    argv[argc] = NULL;
    *argv_out = argv;
    return argc;
}

/* Compiles `acl x <line>` and evaluates it on ctx. */
static inline bool acl1_ctx(const char *line, const struct acl_ctx *ctx)
{
    char err[256] = "";
    char **argv;
    int argc = words(line, &argv);
    struct acl_set *set = acl_set_new();

    if (acl_set_add(set, "x", argc, argv, err, sizeof(err)) != 0)
        fail_msg("acl '%s' failed to parse: %s", line, err);
    bool res = acl_eval(acl_set_find(set, "x"), ctx);
    acl_set_free(set);
    return res;
}

static inline bool acl1(const char *line, struct treq *r)
{
    return acl1_ctx(line, &r->ctx);
}

/* The error message of an `acl x <line>` that must not parse. */
static inline const char *acl_error(const char *line)
{
    static char err[512];
    char **argv;
    int argc = words(line, &argv);
    struct acl_set *set = acl_set_new();

    err[0] = '\0';
    if (acl_set_add(set, "x", argc, argv, err, sizeof(err)) == 0)
        fail_msg("acl '%s' parsed but should not", line);
    assert_null(acl_set_find(set, "x")); /* nothing added on error */
    acl_set_free(set);
    return err;
}

#endif /* TERN_TEST_ACL_UTIL_H */
