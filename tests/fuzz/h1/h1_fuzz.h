/*
 * h1_fuzz.h: what the request and response fuzz targets share.
 *
 * The input is a byte stream as a peer would send it. h1_fuzz_stream():
 *   1. parses the head in one call and checks every promise of h1.h on the
 *      result: a known error code, or a head_len within the input and the
 *      limits, slices inside the head, fields that obey the grammar (token
 *      names, values without CR/LF/NUL), a framing the smuggling rules allow;
 *   2. parses it again fed in pieces, with split points drawn from the input
 *      itself and the bytes moved to a new allocation before each call, and
 *      aborts unless the verdict and the parsed message are identical;
 *   3. when the head is complete and the body chunked, decodes the bytes
 *      after it whole and in pieces, and aborts unless payload (length and
 *      hash), trailers and verdict agree; other bodies are skipped by length;
 *   4. carries on with the next (pipelined) message, a few times.
 * Any abort() is a finding.
 */
#ifndef TERN_FUZZ_H1_FUZZ_H
#define TERN_FUZZ_H1_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/codec/h1.h"

#define FZ_MAXH 128
#define FZ_CHECK(c)      \
    do {                 \
        if (!(c))        \
            abort();     \
    } while (0)

/* A tiny PRNG seeded from the input, so a crash replays exactly. */
static uint64_t fz_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t fz_seed(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ULL;
    return h | 1;
}

static ssize_t fz_head(int resp, const char *b, size_t n, struct h1_msg *m, struct h1_header *h,
                       const struct h1_limits *lim)
{
    return resp ? h1_parse_response(b, n, m, h, FZ_MAXH, lim)
                : h1_parse_request(b, n, m, h, FZ_MAXH, lim);
}

static int fz_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void fz_slice_in(struct h1_slice s, uint32_t end)
{
    FZ_CHECK(s.off <= end && s.len <= end - s.off);
}

/* Step 1: the promises of h1.h on one result. */
static void fz_check_head(int resp, const char *b, size_t n, ssize_t r, const struct h1_msg *m,
                          const struct h1_header *h, const struct h1_limits *lim)
{
    uint32_t max_head = lim && lim->max_head ? lim->max_head : H1_DEFAULT_MAX_HEAD;
    uint32_t max_hdrs = lim && lim->max_hdrs ? lim->max_hdrs : H1_DEFAULT_MAX_HDRS;

    if (r <= 0) {
        FZ_CHECK(r < 0 && r > -H1_ERR_COUNT);
        FZ_CHECK(strcmp(h1_err_name((int)r), "unknown") != 0);
        if (r == H1_INCOMPLETE)
            FZ_CHECK(n < max_head + (size_t)1);   /* beyond the limit we must have said so */
        return;
    }
    FZ_CHECK((size_t)r <= n && (uint32_t)r == m->head_len && m->head_len <= max_head);
    FZ_CHECK(m->head_len >= 4 && memcmp(b + m->head_len - 4, "\r\n\r\n", 4) == 0);
    FZ_CHECK(m->version == 10 || m->version == 11);
    FZ_CHECK(m->nhdrs <= max_hdrs && m->nhdrs <= FZ_MAXH);
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        fz_slice_in(h[i].name, m->head_len);
        fz_slice_in(h[i].value, m->head_len);
        FZ_CHECK(h[i].name.len > 0);
        for (uint32_t k = 0; k < h[i].name.len; k++)
            FZ_CHECK(fz_is_tchar((unsigned char)b[h[i].name.off + k]));
        FZ_CHECK(b[h[i].name.off + h[i].name.len] == ':');
        for (uint32_t k = 0; k < h[i].value.len; k++) {
            unsigned char c = (unsigned char)b[h[i].value.off + k];
            FZ_CHECK(c >= 0x20 || c == '\t');
            FZ_CHECK(c != 0x7f);
        }
        if (h[i].value.len) {
            unsigned char f = (unsigned char)b[h[i].value.off];
            unsigned char l = (unsigned char)b[h[i].value.off + h[i].value.len - 1];
            FZ_CHECK(f != ' ' && f != '\t' && l != ' ' && l != '\t');
        }
        FZ_CHECK(h[i].id == (uint32_t)h1_hdr_id(b + h[i].name.off, h[i].name.len));
    }
    /* never both framings; a chunked message says so */
    FZ_CHECK(!((m->flags & H1_F_CONTENT_LENGTH) && (m->flags & H1_F_TRANSFER_ENCODING)));
    FZ_CHECK(!(m->flags & H1_F_CHUNKED) || (m->flags & H1_F_TRANSFER_ENCODING));
    if (m->body == H1_BODY_LENGTH)
        FZ_CHECK(m->flags & H1_F_CONTENT_LENGTH);
    if (m->body == H1_BODY_CHUNKED)
        FZ_CHECK(m->flags & H1_F_CHUNKED);
    FZ_CHECK(!(m->flags & H1_F_TRANSFER_ENCODING) || m->version == 11);
    FZ_CHECK(m->content_length <= UINT64_C(0x7fffffffffffffff));
    if (!resp) {
        FZ_CHECK(m->body == H1_BODY_NONE || m->body == H1_BODY_LENGTH || m->body == H1_BODY_CHUNKED);
        fz_slice_in(m->method, m->head_len);
        fz_slice_in(m->target, m->head_len);
        FZ_CHECK(m->method.len > 0 && m->target.len > 0);
        FZ_CHECK(m->method_id == (uint8_t)h1_method_id(b + m->method.off, m->method.len));
        for (uint32_t k = 0; k < m->target.len; k++) {
            unsigned char c = (unsigned char)b[m->target.off + k];
            FZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
        }
        if (m->version == 11)
            FZ_CHECK(m->flags & H1_F_HOST);
        if (m->flags & H1_F_HOST) {
            FZ_CHECK(m->host >= 0 && (uint32_t)m->host < m->nhdrs);
            FZ_CHECK(h[m->host].id == H1_HDR_HOST);
        } else {
            FZ_CHECK(m->host == -1);
        }
        switch (m->target_form) {
        case H1_TARGET_ORIGIN:
            FZ_CHECK(b[m->target.off] == '/' && m->method_id != H1_METHOD_CONNECT);
            break;
        case H1_TARGET_ASTERISK:
            FZ_CHECK(m->method_id == H1_METHOD_OPTIONS && m->target.len == 1);
            break;
        case H1_TARGET_AUTHORITY:
            FZ_CHECK(m->method_id == H1_METHOD_CONNECT);
            break;
        case H1_TARGET_ABSOLUTE:
            fz_slice_in(m->scheme, m->head_len);
            fz_slice_in(m->authority, m->head_len);
            fz_slice_in(m->path, m->head_len);
            FZ_CHECK(m->scheme.len > 0 && m->authority.len > 0);
            FZ_CHECK(m->scheme.off + m->scheme.len + 3 == m->authority.off);
            FZ_CHECK(m->authority.off + m->authority.len == m->path.off);
            FZ_CHECK(m->path.off + m->path.len == m->target.off + m->target.len);
            for (uint32_t k = 0; k < m->authority.len; k++)
                FZ_CHECK(b[m->authority.off + k] != '@');
            break;
        default:
            abort();
        }
    } else {
        FZ_CHECK(m->status >= 100 && m->status <= 599);
        fz_slice_in(m->reason, m->head_len);
        FZ_CHECK(m->body <= H1_BODY_UNTIL_CLOSE);
        if (m->status < 200 || m->status == 204 || m->status == 304)
            FZ_CHECK(m->body == H1_BODY_NONE);
    }
}

/* Step 2: the same parse fed in pieces, in a buffer that moves. */
static void fz_head_pieces(int resp, const char *b, size_t n, uint64_t *rng, ssize_t want,
                           const struct h1_msg *wm, const struct h1_header *wh,
                           const struct h1_limits *lim)
{
    static struct h1_header h[FZ_MAXH];
    struct h1_msg m;
    char *cur = NULL;
    size_t have = 0;
    ssize_t r = H1_INCOMPLETE;
    int calls = 0;

    h1_msg_init(&m);
    while (r == H1_INCOMPLETE) {
        size_t step, left = n - have;
        char *nb;
        /* mostly small steps near the start, then bigger ones; the last call has it all */
        if (++calls >= 12 || left == 0)
            step = left;
        else
            step = (size_t)(fz_rng(rng) % (left < 64 ? left + 1 : 64));
        nb = malloc(have + step + 1);
        FZ_CHECK(nb != NULL);
        if (have)
            memcpy(nb, cur, have);
        memcpy(nb + have, b + have, step);
        free(cur);
        cur = nb;
        have += step;
        r = fz_head(resp, cur, have, &m, h, lim);
        if (have == n)
            break;
    }
    free(cur);
    FZ_CHECK(r == want);
    if (r > 0) {
        FZ_CHECK(m.nhdrs == wm->nhdrs && m.flags == wm->flags && m.body == wm->body &&
                 m.content_length == wm->content_length && m.version == wm->version &&
                 m.status == wm->status && m.host == wm->host && m.head_len == wm->head_len &&
                 m.method_id == wm->method_id && m.target_form == wm->target_form &&
                 m.target.off == wm->target.off && m.target.len == wm->target.len &&
                 m.reason.off == wm->reason.off && m.reason.len == wm->reason.len &&
                 m.authority.off == wm->authority.off && m.authority.len == wm->authority.len &&
                 m.path.off == wm->path.off && m.path.len == wm->path.len);
        for (uint32_t i = 0; i < m.nhdrs; i++)
            FZ_CHECK(memcmp(&h[i], &wh[i], sizeof(h[i])) == 0);
    }
}

struct fz_body {
    int verdict;          /* 1 done, 0 needs more, < 0 error */
    size_t end;           /* bytes the body took when done */
    uint64_t len, hash;   /* payload */
    uint64_t thash;       /* trailers */
    unsigned ntrailers;
};

static void fz_mix(uint64_t *h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ (unsigned char)p[i]) * 1099511628211ULL;
}

/*
 * Decodes a chunked body from b[0, n) in pieces (max_piece 0: one piece),
 * the way a connection does: unconsumed bytes stay pending and move.
 */
static void fz_chunked(const char *b, size_t n, uint64_t *rng, size_t max_piece,
                       const struct h1_limits *lim, struct fz_body *o)
{
    struct h1_chunked c;
    char *pend = NULL;
    size_t plen = 0, fed = 0, dropped = 0;

    memset(o, 0, sizeof(*o));
    o->hash = o->thash = 1469598103934665603ULL;
    h1_chunked_init(&c, lim);
    while (fed < n) {
        size_t k = n - fed;
        char *nb;
        if (max_piece && k > 1)
            k = 1 + (size_t)(fz_rng(rng) % (k < max_piece ? k : max_piece));
        nb = malloc(plen + k + 1);
        FZ_CHECK(nb != NULL);
        if (plen)
            memcpy(nb, pend, plen);
        memcpy(nb + plen, b + fed, k);
        free(pend);
        pend = nb;
        plen += k;
        fed += k;
        for (;;) {
            struct h1_chunk_event ev;
            ssize_t r = h1_chunked_parse(&c, pend, plen, &ev);
            if (r < 0) {
                FZ_CHECK(r > -H1_ERR_COUNT && r != H1_INCOMPLETE);
                o->verdict = (int)r;
                free(pend);
                return;
            }
            FZ_CHECK((size_t)r <= plen);
            if (ev.type == H1_CHUNK_DATA) {
                FZ_CHECK(ev.data_len > 0 && ev.data_off + ev.data_len == (size_t)r);
                fz_mix(&o->hash, pend + ev.data_off, ev.data_len);
                o->len += ev.data_len;
            } else if (ev.type == H1_CHUNK_TRAILER) {
                const char *line = pend + ev.data_off;
                FZ_CHECK(ev.data_off + ev.data_len == (size_t)r && ev.data_len >= 4);
                FZ_CHECK(memcmp(line + ev.data_len - 2, "\r\n", 2) == 0);
                fz_slice_in(ev.trailer.name, (uint32_t)ev.data_len);
                fz_slice_in(ev.trailer.value, (uint32_t)ev.data_len);
                FZ_CHECK(ev.trailer.name.off == 0 && ev.trailer.name.len > 0);
                FZ_CHECK(ev.trailer.id != H1_HDR_CONTENT_LENGTH &&
                         ev.trailer.id != H1_HDR_TRANSFER_ENCODING && ev.trailer.id != H1_HDR_HOST);
                fz_mix(&o->thash, line, ev.data_len);
                o->ntrailers++;
            } else if (ev.type == H1_CHUNK_NEED_MORE) {
                FZ_CHECK(ev.data_len == 0);
            }
            dropped += (size_t)r;
            memmove(pend, pend + r, plen - (size_t)r);
            plen -= (size_t)r;
            if (ev.type == H1_CHUNK_DONE) {
                FZ_CHECK(h1_chunked_done(&c));
                FZ_CHECK(c.total == o->len);
                o->verdict = 1;
                o->end = dropped;
                free(pend);
                return;
            }
            if (ev.type == H1_CHUNK_NEED_MORE)
                break;
        }
    }
    FZ_CHECK(c.total == o->len);
    free(pend);
}

static void fz_same_body(const struct fz_body *a, const struct fz_body *b)
{
    FZ_CHECK(a->verdict == b->verdict && a->end == b->end && a->len == b->len &&
             a->hash == b->hash && a->thash == b->thash && a->ntrailers == b->ntrailers);
}

/* Limits: the defaults, or (first byte odd) small ones that the input can reach. */
static const struct h1_limits *fz_limits(const uint8_t *d, size_t n, struct h1_limits *lim)
{
    if (n == 0 || !(d[0] & 1))
        return NULL;
    lim->max_line = 24 + (d[0] >> 1) % 64;
    lim->max_head = 64 + (uint32_t)(d[0] >> 3) * 8;
    lim->max_hdrs = 1 + (d[0] >> 4);
    lim->max_chunk_line = 4 + (d[0] >> 2) % 16;
    lim->max_trailers = 1 + (d[0] >> 5);
    lim->max_trailer_size = 16 + (d[0] >> 2);
    return lim;
}

static void h1_fuzz_stream(int resp, const uint8_t *data, size_t size)
{
    static struct h1_header h[FZ_MAXH];
    struct h1_limits lbuf;
    const struct h1_limits *lim = fz_limits(data, size, &lbuf);
    const char *b = (const char *)data;
    size_t n = size;
    uint64_t rng = fz_seed(data, size);

    /* the first byte picks the limits; it is part of the stream too (as junk or
     * a method letter): skipping it would hide the one-byte inputs */
    for (int msgs = 0; msgs < 4 && n > 0; msgs++) {
        struct h1_msg m;
        ssize_t r;

        h1_msg_init(&m);
        r = fz_head(resp, b, n, &m, h, lim);
        fz_check_head(resp, b, n, r, &m, h, lim);
        fz_head_pieces(resp, b, n, &rng, r, &m, h, lim);
        if (r <= 0)
            return;
        b += r;
        n -= (size_t)r;

        if (m.body == H1_BODY_CHUNKED) {
            struct fz_body whole, pieces;
            fz_chunked(b, n, &rng, 0, lim, &whole);
            fz_chunked(b, n, &rng, 1 + (size_t)(rng % 17), lim, &pieces);
            fz_same_body(&whole, &pieces);
            if (whole.verdict != 1)
                return;
            b += whole.end;
            n -= whole.end;
        } else if (m.body == H1_BODY_LENGTH) {
            if (m.content_length > n)
                return;
            b += m.content_length;
            n -= (size_t)m.content_length;
        } else if (m.body != H1_BODY_NONE) {
            return;   /* until close, or a tunnel: the rest is body */
        }
        if (resp) {
            /* the request method only changes where the body ends */
            enum h1_method req = (enum h1_method)(rng % 10);
            enum h1_body body = h1_response_body(&m, req);
            FZ_CHECK(body <= H1_BODY_TUNNEL);
            if (req == H1_METHOD_HEAD)
                FZ_CHECK(body == H1_BODY_NONE || body == H1_BODY_TUNNEL);
            (void)h1_response_keep_alive(&m, req);
        }
    }
}

#endif /* TERN_FUZZ_H1_FUZZ_H */
