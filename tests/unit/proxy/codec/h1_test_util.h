/*
 * h1_test_util.h: drives the head parser every way a caller may, and checks
 * that all of them agree.
 *
 * h1t_parse() parses a message
 *   1. in one call;
 *   2. one byte at a time, the bytes moved to a new allocation before every
 *      call (slices are offsets: they must survive the move), checking that
 *      every call before the verdict returns H1_INCOMPLETE;
 *   3. for every split point k: bytes [0, k) then the whole message;
 *   4. for every prefix, with a fresh msg (the stateless use): the result is
 *      H1_INCOMPLETE or the final verdict, and once the verdict appears it
 *      stays;
 * and fails the test unless all give the same result and, on success, the
 * same msg and fields. Returns the one-call result, with msg and fields.
 */
#ifndef TERN_TEST_H1_UTIL_H
#define TERN_TEST_H1_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/codec/h1.h"

#define H1T_MAXH 128

static inline ssize_t h1t_call(bool resp, const char *buf, size_t len, struct h1_msg *m,
                        struct h1_header *h, size_t maxh, const struct h1_limits *lim)
{
    return resp ? h1_parse_response(buf, len, m, h, maxh, lim)
                : h1_parse_request(buf, len, m, h, maxh, lim);
}

static inline bool h1t_slice_eq(struct h1_slice a, struct h1_slice b)
{
    return a.off == b.off && a.len == b.len;
}

static inline void h1t_same_msg(const char *what, const struct h1_msg *a, const struct h1_header *ha,
                         const struct h1_msg *b, const struct h1_header *hb)
{
    if (!h1t_slice_eq(a->method, b->method) || !h1t_slice_eq(a->target, b->target) ||
        !h1t_slice_eq(a->scheme, b->scheme) || !h1t_slice_eq(a->authority, b->authority) ||
        !h1t_slice_eq(a->path, b->path) || !h1t_slice_eq(a->reason, b->reason) ||
        a->method_id != b->method_id || a->target_form != b->target_form ||
        a->status != b->status || a->version != b->version || a->body != b->body ||
        a->flags != b->flags || a->content_length != b->content_length ||
        a->nhdrs != b->nhdrs || a->host != b->host || a->head_len != b->head_len)
        fail_msg("%s: msg differs from the one-call parse", what);
    for (uint32_t i = 0; i < a->nhdrs; i++)
        if (!h1t_slice_eq(ha[i].name, hb[i].name) || !h1t_slice_eq(ha[i].value, hb[i].value) ||
            ha[i].id != hb[i].id)
            fail_msg("%s: field %u differs from the one-call parse", what, i);
}

static inline ssize_t h1t_parse(bool resp, const char *s, size_t n, const struct h1_limits *lim,
                         struct h1_msg *m, struct h1_header *h)
{
    static struct h1_header h2[H1T_MAXH];
    struct h1_msg m2;
    ssize_t r, r2;
    char *cur = NULL;
    bool decided;

    /* 1. one call */
    h1_msg_init(m);
    r = h1t_call(resp, s, n, m, h, H1T_MAXH, lim);
    if (r == H1_INCOMPLETE)
        return r;

    /* 2. byte by byte, the buffer moving before every call */
    h1_msg_init(&m2);
    r2 = H1_INCOMPLETE;
    for (size_t k = 0; k <= n; k++) {
        char *nb = malloc(k ? k : 1);
        assert_non_null(nb);
        memcpy(nb, s, k);
        free(cur);
        cur = nb;
        r2 = h1t_call(resp, cur, k, &m2, h2, H1T_MAXH, lim);
        if (r2 != H1_INCOMPLETE)
            break;
    }
    if (r2 != r)
        fail_msg("byte by byte: got %zd (%s), one call %zd (%s)", r2, h1_err_name((int)r2), r,
                 h1_err_name((int)r));
    if (r > 0) {
        h1t_same_msg("byte by byte", m, h, &m2, h2);
        /* a further call returns the same */
        assert_int_equal(h1t_call(resp, s, n, &m2, h2, H1T_MAXH, lim), r);
    } else {
        assert_int_equal(h1t_call(resp, s, n, &m2, h2, H1T_MAXH, lim), r);
    }
    free(cur);

    /* 3. every split point: [0, k) then everything */
    for (size_t k = 0; k < n; k++) {
        h1_msg_init(&m2);
        r2 = h1t_call(resp, s, k, &m2, h2, H1T_MAXH, lim);
        if (r2 == H1_INCOMPLETE)
            r2 = h1t_call(resp, s, n, &m2, h2, H1T_MAXH, lim);
        if (r2 != r)
            fail_msg("split at %zu: got %zd (%s), one call %zd (%s)", k, r2,
                     h1_err_name((int)r2), r, h1_err_name((int)r));
        if (r > 0)
            h1t_same_msg("split", m, h, &m2, h2);
    }

    /* 4. every prefix with a fresh msg */
    decided = false;
    for (size_t k = 0; k <= n; k++) {
        h1_msg_init(&m2);
        r2 = h1t_call(resp, s, k, &m2, h2, H1T_MAXH, lim);
        if (r2 == H1_INCOMPLETE && !decided)
            continue;
        if (r2 != r)
            fail_msg("prefix %zu: got %zd (%s), whole %zd (%s)", k, r2, h1_err_name((int)r2), r,
                     h1_err_name((int)r));
        decided = true;
    }
    if (!decided)
        fail_msg("no prefix gave the verdict");
    return r;
}

/* The bytes of a field or slice, NUL-terminated, in a rotating static buffer. */
static inline const char *h1t_str(const char *base, struct h1_slice s)
{
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ & 7];
    size_t n = s.len < 511 ? s.len : 511;

    memcpy(b, base + s.off, n);
    b[n] = 0;
    return b;
}

#endif /* TERN_TEST_H1_UTIL_H */
