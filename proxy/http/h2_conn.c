/*
 * h2_conn.c: a downstream HTTP/2 connection (`bind ... proto h2`, cleartext
 * prior knowledge; over TLS once ALPN says "h2", see http_alpn_is_h2).
 *
 * nghttp2's server session is driven from our loop: no nghttp2 thread, no
 * nghttp2 I/O. The socket has one edge-triggered event, registered once;
 * h2c_run() reads into a pool buffer and hands the bytes to
 * nghttp2_session_mem_recv, advances every active stream, then copies what
 * nghttp2_session_mem_send produces into an output buffer and writes it
 * (one write for many frames). Both buffers are taken from the worker's
 * pool only while bytes are in flight.
 *
 * Each HTTP/2 stream is a struct stream (stream.c) with down_h2_ops as its
 * client side: the same filter chain, router and upstream code as an
 * HTTP/1.1 exchange. The request head is copied into the stream's arena
 * from nghttp2's header callbacks (nghttp2 has validated it: pseudo-header
 * rules, lowercase names, no connection-specific fields, `te: trailers`
 * only, content-length against DATA; RFC 9113 8.2 and 8.3), converted for an
 * HTTP/1.1 server (RFC 9113 8.3.1: Host from :authority, cookies joined);
 * the response head becomes a HEADERS frame, the body DATA frames through a
 * data provider that reads the upstream buffer (chunked framing removed in
 * place as it is validated, stream_unchunk), trailers a trailing HEADERS.
 *
 * Flow control, both ways with backpressure:
 *   request:  window updates are ours (no automatic ones): a stream's bytes
 *             go to its own buffer (one tune.bufsize buffer; the advertised
 *             initial window never exceeds it) and are given back to the
 *             client's window (nghttp2_session_consume) only when the server
 *             took them. Without a content-length the body goes to an
 *             HTTP/1.1 server chunked (framing written around the bytes at
 *             send time, h2_chunk_iov).
 *   response: nghttp2 sends within the client's windows; bytes the client's
 *             window does not take stay in the upstream buffer, which then
 *             stops the upstream read.
 * Memory per connection: max-concurrent-streams streams, each at most one
 * request buffer and its share of upstream buffers; nghttp2's own state
 * (HPACK tables bounded by tune.h2.header-table-size).
 *
 * Abuse: nghttp2's limits (CONTINUATION count, reset rate, SETTINGS and
 * outbound ACK queues for PING/SETTINGS floods) plus ours: a header block
 * larger than the head limit is refused (431) and past 4x it the connection
 * ends; streams reset by the client before their response (rapid reset,
 * CVE-2023-44487) beyond 2x max-concurrent-streams, more than the streams
 * completed, end the connection with GOAWAY ENHANCE_YOUR_CALM; a stream
 * whose client owes bytes (request body, or window for the response) for
 * `timeout client` is reset.
 *
 * Thread: the connection's worker.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/codec/h1.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"

struct h2_conn {
    struct h2_conn *prev, *next;  /* http_worker's list */
    struct worker *w;
    struct http_worker *hw;
    struct worker_snap *ws;
    struct listener *l;
    nghttp2_session *ng;
    struct stream *streams;       /* active streams (s->h2.prev/next) */
    uint32_t nstreams;
    uint32_t nreq;                /* streams begun */
    uint32_t ndone;               /* streams that got their whole response */
    uint32_t nrst_early;          /* streams the client reset before their response */
    int32_t max_sid;              /* highest stream id a client HEADERS named */
    int32_t max_rst_sid;          /* highest stream id we sent RST_STREAM on */
    struct buf *ibuf;
    struct h2_out out;            /* nghttp2's output on its way to the socket */
    int fd;
    struct transport tr;          /* plain, or TLS whose ALPN chose h2 */
    struct h1_tls *tls;           /* after a TLS handshake (owned), else NULL */
    bool eof : 1;
    bool closed : 1;
    bool in_run : 1;
    bool rerun : 1;
    bool draining : 1;            /* graceful stop: GOAWAY sent, no new streams */
    bool fatal : 1;               /* close once the output is flushed */
    uint64_t accept_ms;
    uint64_t active_ms;           /* last read or write */
    uint64_t idle_since_ms;       /* last stream ended (or the accept) */
    uint64_t timer_at_ms;
    struct sockaddr_in6 peer;
    struct event ev;
    struct event timer;
};

#define H2_RUN_BUDGET HTTP_RUN_BUDGET

static void conn_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void h2c_close(struct h2_conn *c, int reason);
static void h2c_run(struct h2_conn *c);

static inline struct listener_stats *lst(const struct h2_conn *c)
{
    return &c->l->stats[c->w->id];
}

bool http_alpn_is_h2(const unsigned char *proto, unsigned len)
{
    return proto && len == 2 && proto[0] == 'h' && proto[1] == '2';
}

/* ---- stream helpers ------------------------------------------------------------ */

static void link_stream(struct h2_conn *c, struct stream *s)
{
    s->h2.prev = NULL;
    s->h2.next = c->streams;
    if (c->streams)
        c->streams->h2.prev = s;
    c->streams = s;
    c->nstreams++;
}

static void unlink_stream(struct h2_conn *c, struct stream *s)
{
    if (s->h2.prev)
        s->h2.prev->h2.next = s->h2.next;
    else if (c->streams == s)
        c->streams = s->h2.next;
    if (s->h2.next)
        s->h2.next->h2.prev = s->h2.prev;
    s->h2.prev = s->h2.next = NULL;
    c->nstreams--;
}

static struct stream *stream_of(struct h2_conn *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

static bool is_grpc(const struct stream *s)
{
    struct http_str ct = http_msg_get(&s->req, "content-type", 12);
    return ct.p && ct.len >= 16 && strncasecmp(ct.p, "application/grpc", 16) == 0;
}

/*
 * gRPC's Timeout (PROTOCOL-HTTP2.md): 1 to 8 digits and a unit, H M S m u n.
 * Returns milliseconds (rounded up, at least 1), or -1 when malformed (the
 * field is then ignored, as gRPC servers do not agree on rejecting it).
 */
int64_t h2_grpc_timeout_ms(const char *p, size_t len)
{
    uint64_t v = 0, ns_per;

    if (len < 2 || len > 9)
        return -1;
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    switch (p[len - 1]) {
    case 'H': ns_per = 3600000000000ull; break;
    case 'M': ns_per = 60000000000ull; break;
    case 'S': ns_per = 1000000000ull; break;
    case 'm': ns_per = 1000000ull; break;
    case 'u': ns_per = 1000ull; break;
    case 'n': ns_per = 1ull; break;
    default: return -1;
    }
    /* in ms first for the large units: 99999999H is 3.6e14 ms, 3.6e20 ns */
    if (ns_per >= 1000000ull) {
        v *= ns_per / 1000000ull;
        return (int64_t)(v ? v : 1);
    }
    v = (v * ns_per + 999999ull) / 1000000ull;
    return (int64_t)(v ? v : 1);
}

/* ---- request ------------------------------------------------------------------- */

/*
 * The request's field array starts small and doubles as fields arrive (up
 * to tune.http.maxhdr plus the spare slots the router and filters add),
 * always HTTP_SPARE_HDRS ahead of the fields: a maxhdr-sized array zeroed
 * for every stream cost more than the rest of a small head.
 */
void h2_grow_fields(struct http_msg *m, uint32_t max)
{
    uint32_t cap = m->cap * 2 < max ? m->cap * 2 : max;
    struct http_hdr *h;

    if (cap <= m->cap)
        return;
    h = arena_alloc(m->arena, cap * sizeof(*h));
    memcpy(h, m->hdrs, m->nhdrs * sizeof(*h));
    m->hdrs = h;
    m->cap = cap;
}

/* Pseudo-headers and fields of the request head, copied into the arena. */
static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s = stream_of(c, frame->hd.stream_id);
    uint32_t max_head = c->hw->lim.max_head;
    char *n, *v;

    (void)ng;
    (void)flags;
    if (!s)
        return 0;
    s->bytes_in += namelen + valuelen + 32;
    s->h2.hdr_bytes += (uint32_t)(namelen + valuelen + 32); /* RFC 9113 6.5.2 */
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        /* trailers (nghttp2 refused pseudo-headers in them) */
        if (s->st == ST_REPLY || s->st == ST_DONE)
            return 0;
        if (s->h2.hdr_bytes > 4u * max_head)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        stream_trailer(s, true, (const char *)name, namelen, (const char *)value, valuelen);
        return 0;
    }
    if (s->h2.hdr_bytes > max_head) {
        s->h2.hdr_overflow = true;
        /* a flood of fields (CONTINUATION frames or not): the connection */
        return s->h2.hdr_bytes > 4u * max_head ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    if (s->h2.hdr_overflow)
        return 0;
    /* one arena piece for both strings (NUL-terminated each) */
    n = arena_alloc(&s->arena, namelen + valuelen + 2);
    memcpy(n, name, namelen);
    v = n + namelen + 1;
    memcpy(v, value, valuelen);
    if (name[0] == ':') {
        struct http_str val = {v, (uint32_t)valuelen};
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            s->req.method_str = val;
            s->req.method = http_method_from(v, valuelen);
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            const char *q = memchr(v, '?', valuelen);
            if (q) {
                s->req.path = (struct http_str){v, (uint32_t)(q - v)};
                s->req.query = (struct http_str){q + 1, (uint32_t)(valuelen - (size_t)(q - v) - 1)};
            } else {
                s->req.path = val;
            }
        } else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0) {
            s->req.scheme = val;
        } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
            s->req.authority = val;
        }
        return 0;
    }
    if (s->req.nhdrs >= c->hw->maxhdr) {
        s->h2.hdr_overflow = true;
        return 0;
    }
    if (s->req.nhdrs + HTTP_SPARE_HDRS >= s->req.cap)
        h2_grow_fields(&s->req, c->hw->maxhdr + HTTP_SPARE_HDRS);
    if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        /* nghttp2 checked it is one number and will check DATA against it */
        s->req.content_length = strtoll(v, NULL, 10);
        s->req.flags |= HTTP_MSG_F_HAS_LENGTH;
    }
    s->req.hdrs[s->req.nhdrs].name = (struct http_str){n, (uint32_t)namelen};
    s->req.hdrs[s->req.nhdrs].value = (struct http_str){v, (uint32_t)valuelen};
    s->req.nhdrs++;
    return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s;
    struct http_worker *hw = c->hw;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->draining) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    s = stream_alloc(hw, c->l, c->ws, &c->peer, &down_h2_ops);
    s->h2c = c;
    s->h2.id = frame->hd.stream_id;
    s->ibufp = &s->h2.ibuf;
    s->tls = c->tls;
    s->first_req = c->nreq == 0;
    c->nreq++;
    s->req.kind = HTTP_MSG_REQUEST;
    s->req.version = 20;
    s->req.arena = &s->arena;
    s->req.cap = hw->maxhdr + HTTP_SPARE_HDRS;
    if (s->req.cap > H2_FIRST_FIELDS + HTTP_SPARE_HDRS)
        s->req.cap = H2_FIRST_FIELDS + HTTP_SPARE_HDRS;
    s->req.hdrs = arena_alloc(&s->arena, s->req.cap * sizeof(*s->req.hdrs));
    s->h2.active_ms = worker_now_ms(c->w);
    link_stream(c, s);
    nghttp2_session_set_stream_user_data(ng, s->h2.id, s);
    counter_add(&lst(c)->h2_streams, 1);
    return 0;
}

/*
 * RFC 9113 8.3.1 for an HTTP/1.1 server: Host from :authority (a Host that
 * names another authority makes the request malformed), the cookie fields
 * joined with "; " (8.2.3), and the body's framing: its content-length, or
 * chunked when it has none.
 */
static bool request_to_h1(struct stream *s)
{
    struct http_msg *m = &s->req;
    struct http_str host = http_msg_get(m, "host", 4);
    uint32_t ncookie = 0, clen = 0, max = s->hw->maxhdr + HTTP_SPARE_HDRS;

    if (m->authority.p) {
        if (host.p && (host.len != m->authority.len ||
                       strncasecmp(host.p, m->authority.p, host.len) != 0))
            return false;
        if (!host.p && http_msg_add(m, "host", 4, m->authority.p, m->authority.len, max) != 0)
            return false;
    } else if (!host.p && m->method != HTTP_M_CONNECT) {
        return false; /* RFC 9113 8.3.1: :authority or Host is required by HTTP/1.1 */
    } else if (host.p) {
        m->authority = host;
    }
    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (http_str_ieq(m->hdrs[i].name, "cookie", 6)) {
            ncookie++;
            clen += m->hdrs[i].value.len + 2;
        }
    if (ncookie > 1) {
        char *j = arena_alloc(&s->arena, clen), *p = j;
        for (uint32_t i = 0; i < m->nhdrs; i++)
            if (http_str_ieq(m->hdrs[i].name, "cookie", 6)) {
                if (p != j) {
                    *p++ = ';';
                    *p++ = ' ';
                }
                memcpy(p, m->hdrs[i].value.p, m->hdrs[i].value.len);
                p += m->hdrs[i].value.len;
            }
        http_msg_del(m, "cookie", 6);
        if (http_msg_add(m, "cookie", 6, j, (size_t)(p - j), max) != 0)
            return false;
    }
    if (s->req_body == H1_BODY_CHUNKED) {
        /* written by upstream_h1.c's send_request around the payload */
        if (http_msg_add(m, "transfer-encoding", 17, "chunked", 7, max) != 0)
            return false;
        m->flags |= HTTP_MSG_F_CHUNKED;
        /* to an HTTP/2 server the payload goes bare and a replay can keep
         * it; an HTTP/1.1 server's framing is not kept (upstream_h1.c) */
        s->h2.chunk_out = true;
    }
    return true;
}

/* The request head is complete (END_HEADERS): the chain runs. */
static void request_head(struct h2_conn *c, struct stream *s, bool end_stream)
{
    struct listener *l = c->l;

    s->head_ok = s->req.method_str.p != NULL;
    s->t_head = worker_now_ms(c->w);
    s->h2.hdr_bytes = 0; /* the trailers have a budget of their own */
    s->h2.req_end = end_stream;
    if (end_stream || ((s->req.flags & HTTP_MSG_F_HAS_LENGTH) && s->req.content_length == 0)) {
        s->req_body = H1_BODY_NONE;
        s->req_done = true;
    } else if (s->req.flags & HTTP_MSG_F_HAS_LENGTH) {
        s->req_body = H1_BODY_LENGTH;
        s->req_left = (uint64_t)s->req.content_length;
    } else {
        s->req_body = H1_BODY_CHUNKED;
    }
    if (s->h2.hdr_overflow) {
        stream_local_reply(s, TERN_R_HEADERS_TOO_LARGE, 431, false);
        return;
    }
    if (s->req.method == HTTP_M_CONNECT) {
        stream_local_reply(s, TERN_R_BAD_REQUEST, 501, false);
        return;
    }
    if (!request_to_h1(s)) {
        s->head_ok = true;
        stream_local_reply(s, TERN_R_BAD_REQUEST, 400, false);
        return;
    }
    if (l->max_request_body && s->req_body == H1_BODY_LENGTH &&
        s->req_left > l->max_request_body) {
        stream_local_reply(s, TERN_R_PAYLOAD_TOO_LARGE, 413, false);
        return;
    }
    if (is_grpc(s)) {
        /* the call's deadline bounds the whole stream from here (Envoy's
         * route timeout from grpc-timeout); forwarded as it came */
        struct http_str t = http_msg_get(&s->req, "grpc-timeout", 12);
        int64_t ms = t.p ? h2_grpc_timeout_ms(t.p, t.len) : -1;
        if (ms > 0)
            s->h2.grpc_deadline_ms = s->t_head + (uint64_t)ms;
    }
    stream_request_head(s);
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s = stream_of(c, id);
    struct buf *b;

    (void)flags;
    if (!s || s->st == ST_REPLY || s->st == ST_DONE || s->req_done) {
        /* nobody takes these bytes: the connection's window gets them back */
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    s->h2.active_ms = worker_now_ms(c->w);
    s->bytes_in += len;
    if (c->l->max_request_body) {
        s->req_body_len += len;
        if (s->req_body_len > c->l->max_request_body) {
            nghttp2_session_consume(ng, id, len);
            stream_fail(s, TERN_R_PAYLOAD_TOO_LARGE);
            stream_local_reply(s, TERN_R_PAYLOAD_TOO_LARGE, 413, false);
            return 0;
        }
    }
    if (!s->h2.ibuf)
        s->h2.ibuf = buf_get(&c->w->pool);
    b = s->h2.ibuf;
    s->h2.unacked += (uint32_t)len;
    if (!s->h2.spill_len) {
        size_t k = buf_tail_room(b) < len ? buf_tail_room(b) : len;
        memcpy(buf_tail(b), data, k);
        b->len += (uint32_t)k;
        data += k;
        len -= k;
    }
    if (len) {
        /* before the client applied our SETTINGS its window is RFC 9113's
         * 65535, larger than a buffer: the rest waits here (nghttp2 bounds
         * it by that window) */
        s->h2.spill = tern_realloc(s->h2.spill, s->h2.spill_len + len);
        memcpy(s->h2.spill + s->h2.spill_len, data, len);
        s->h2.spill_len += (uint32_t)len;
    }
    return 0;
}

/* Spilled bytes move into the buffer as it empties. */
static void unspill(struct stream *s)
{
    struct buf *b;
    size_t k;

    if (!s->h2.spill_len)
        return;
    if (!s->h2.ibuf)
        s->h2.ibuf = buf_get(&s->w->pool);
    b = s->h2.ibuf;
    k = buf_tail_room(b) < s->h2.spill_len ? buf_tail_room(b) : s->h2.spill_len;
    memcpy(buf_tail(b), s->h2.spill, k);
    b->len += (uint32_t)k;
    memmove(s->h2.spill, s->h2.spill + k, s->h2.spill_len - k);
    s->h2.spill_len -= (uint32_t)k;
    if (!s->h2.spill_len) {
        free(s->h2.spill);
        s->h2.spill = NULL;
    }
}

static void request_end(struct stream *s)
{
    s->h2.req_end = true;
    if (s->req_body != H1_BODY_CHUNKED && s->req_body != H1_BODY_LENGTH)
        s->req_done = true;
}

/*
 * Validates the body bytes that arrived (nghttp2 checked the framing and
 * the content-length): through the data hooks when there are some, then
 * counted in req_fwd for upstream_h1.c to send. The end (END_STREAM) reaches
 * the hooks once.
 */
static bool validate_request(struct stream *s)
{
    struct buf *ib = s->h2.ibuf;
    uint32_t take;
    bool end;

    if (s->req_hold.held || s->h2.end_seen)
        return false;
    unspill(s);
    ib = s->h2.ibuf;
    take = ib ? ib->len - s->req_fwd : 0;
    end = s->h2.req_end && !s->h2.spill_len;
    if (!take && !end)
        return false;
    if (end) {
        s->h2.end_seen = true;
        if (s->req_body == H1_BODY_CHUNKED && s->req_trailers)
            stream_trailers_done(s, true);
        if (s->st != ST_EXCHANGE)
            return true;
    }
    if (s->req_data_hooks && !stream_request_data(s, 0, take, take, end))
        return true; /* held (or replied): upstream_req_data_released goes on */
    s->req_fwd += take;
    if (end && !s->h2.chunk_out)
        s->req_done = true;
    return true;
}

void h2_request_consumed(struct stream *s, size_t n)
{
    struct h2_conn *c = s->h2c;

    if (s->h2.unacked >= n)
        s->h2.unacked -= (uint32_t)n;
    else
        s->h2.unacked = 0;
    if (c->closed)
        return;
    /* a closed stream's bytes still count against the connection's window */
    if (!s->h2.closed)
        nghttp2_session_consume(c->ng, s->h2.id, n);
    else
        nghttp2_session_consume_connection(c->ng, n);
}

/* The chunked framing of an HTTP/2 request body going to an HTTP/1.1
 * server: a chunk per batch of validated bytes, then the last chunk with the
 * trailers. */
int h2_chunk_iov(struct stream *s, struct iovec *iov, const char *data, uint32_t avail)
{
    struct h2_strm *h = &s->h2;
    int n = 0;

    if (s->req_done)
        return 0;
    if (!h->co_size && !h->co_last) {
        if (avail) {
            h->co_size = avail;
            h->co_sent = 0;
            h->co_hdr_len = (uint8_t)snprintf(h->co_hdr, sizeof(h->co_hdr), "%x\r\n", avail);
        } else if (h->end_seen && !s->req_hold.held) {
            /* the last chunk, the trailers (already RFC 9113-clean: no
             * pseudo-headers, lowercase), the empty line */
            size_t cap = 5, k = 0;
            const struct http_msg *t = s->req_trailers;
            for (uint32_t i = 0; t && i < t->nhdrs; i++)
                cap += t->hdrs[i].name.len + t->hdrs[i].value.len + 4;
            h->co_tail = arena_alloc(&s->arena, cap);
            memcpy(h->co_tail, "0\r\n", 3);
            k = 3;
            for (uint32_t i = 0; t && i < t->nhdrs; i++) {
                memcpy(h->co_tail + k, t->hdrs[i].name.p, t->hdrs[i].name.len);
                k += t->hdrs[i].name.len;
                memcpy(h->co_tail + k, ": ", 2);
                k += 2;
                memcpy(h->co_tail + k, t->hdrs[i].value.p, t->hdrs[i].value.len);
                k += t->hdrs[i].value.len;
                memcpy(h->co_tail + k, "\r\n", 2);
                k += 2;
            }
            memcpy(h->co_tail + k, "\r\n", 2);
            h->co_tail_len = (uint32_t)(k + 2);
            h->co_last = true;
            h->co_sent = 0;
        } else {
            return 0;
        }
    }
    if (h->co_last) {
        iov[0].iov_base = h->co_tail + h->co_sent;
        iov[0].iov_len = h->co_tail_len - h->co_sent;
        return 1;
    }
    if (h->co_sent < h->co_hdr_len) {
        iov[n].iov_base = h->co_hdr + h->co_sent;
        iov[n++].iov_len = h->co_hdr_len - h->co_sent;
    }
    {
        uint32_t done = h->co_sent > h->co_hdr_len ? h->co_sent - h->co_hdr_len : 0;
        if (done > h->co_size)
            done = h->co_size;
        if (done < h->co_size) {
            iov[n].iov_base = (void *)data;
            iov[n++].iov_len = h->co_size - done;
        }
        {
            uint32_t crlf_done = h->co_sent > h->co_hdr_len + h->co_size
                                     ? h->co_sent - h->co_hdr_len - h->co_size
                                     : 0;
            iov[n].iov_base = (void *)("\r\n" + crlf_done);
            iov[n++].iov_len = 2 - crlf_done;
        }
    }
    return n;
}

uint32_t h2_chunk_sent(struct stream *s, size_t n)
{
    struct h2_strm *h = &s->h2;
    uint32_t before, after, payload;

    if (h->co_last) {
        h->co_sent += (uint32_t)n;
        if (h->co_sent >= h->co_tail_len) {
            h->co_last = false;
            s->req_done = true;
        }
        return 0;
    }
    before = h->co_sent;
    after = before + (uint32_t)n;
    /* payload bytes are those of [hdr_len, hdr_len + size) */
    {
        uint32_t lo = h->co_hdr_len, hi = h->co_hdr_len + h->co_size;
        uint32_t a = before > lo ? before : lo, b = after < hi ? after : hi;
        payload = b > a ? b - a : 0;
    }
    h->co_sent = after;
    if (h->co_sent >= (uint32_t)h->co_hdr_len + h->co_size + 2) {
        h->co_size = 0;
        h->co_sent = 0;
    }
    return payload;
}

/* ---- response ------------------------------------------------------------------ */

/* Fields that RFC 9113 8.2.2 forbids in HTTP/2 (connection-specific). */
static bool h2_forbidden(const struct http_str n)
{
    switch (n.len) { /* one comparison at most per field */
    case 2: return http_str_ieq(n, "te", 2);
    case 7: return http_str_ieq(n, "upgrade", 7);
    case 10: return http_str_ieq(n, "connection", 10) || http_str_ieq(n, "keep-alive", 10);
    case 14: return http_str_ieq(n, "http2-settings", 14);
    case 16: return http_str_ieq(n, "proxy-connection", 16);
    case 17: return http_str_ieq(n, "transfer-encoding", 17);
    default: return false;
    }
}

/* ":status"'s three digits (nghttp2 keeps the pointer until it is sent). */
static char *status_digits(struct arena *a, unsigned st)
{
    char *p = arena_alloc(a, 4);

    st %= 1000;
    p[0] = (char)('0' + st / 100);
    p[1] = (char)('0' + st / 10 % 10);
    p[2] = (char)('0' + st % 10);
    return p;
}

static void lower(struct http_str n)
{
    char *p = (char *)n.p;
    for (uint32_t i = 0; i < n.len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] - 'A' + 'a');
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud);

/* The trailers a response ends with: the server's (chunked) or, for
 * gRPC, none added. Sent as a HEADERS frame with END_STREAM. */
static bool submit_trailers(struct h2_conn *c, struct stream *s)
{
    const struct http_msg *t = s->resp_trailers;
    nghttp2_nv *nv;
    uint32_t k = 0;

    if (!t || !t->nhdrs)
        return false;
    nv = arena_alloc(&s->arena, t->nhdrs * sizeof(*nv));
    for (uint32_t i = 0; i < t->nhdrs; i++) {
        if (h2_forbidden(t->hdrs[i].name))
            continue;
        lower(t->hdrs[i].name);
        nv[k].name = (uint8_t *)t->hdrs[i].name.p;
        nv[k].namelen = t->hdrs[i].name.len;
        nv[k].value = (uint8_t *)t->hdrs[i].value.p;
        nv[k].valuelen = t->hdrs[i].value.len;
        nv[k++].flags = NGHTTP2_NV_FLAG_NONE;
    }
    if (!k)
        return false;
    return nghttp2_submit_trailer(c->ng, s->h2.id, nv, k) == 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s = src->ptr;
    size_t n;

    (void)ng;
    (void)id;
    if (s->st == ST_REPLY) {
        n = s->h2.rbody_len < len ? s->h2.rbody_len : len;
        memcpy(out, s->h2.rbuf->data + s->h2.rbody_off, n);
        s->h2.rbody_off += (uint32_t)n;
        s->h2.rbody_len -= (uint32_t)n;
        if (!s->h2.rbody_len)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (s->st != ST_EXCHANGE || !s->uc)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    n = s->resp_fwd < len ? s->resp_fwd : len;
    if (!n && !s->resp_done) {
        s->h2.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n) {
        memcpy(out, buf_head(s->uc->ibuf), n);
        upstream_resp_consumed(s, n);
        s->bytes_out += n;
        s->h2.active_ms = worker_now_ms(c->w);
    }
    if (s->resp_done && !s->resp_fwd) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (submit_trailers(c, s))
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return (ssize_t)n;
}

static ssize_t h2_response_head(struct stream *s)
{
    struct h2_conn *c = s->h2c;
    struct http_msg *m = &s->resp;
    nghttp2_nv *nv = arena_alloc(&s->arena, (m->nhdrs + 1) * sizeof(*nv));
    char *status = status_digits(&s->arena, m->status);
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    uint32_t k = 0;
    ssize_t bytes = 0;
    bool body = s->resp_body != H1_BODY_NONE;

    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        if (h2_forbidden(m->hdrs[i].name))
            continue;
        lower(m->hdrs[i].name);
        nv[k].name = (uint8_t *)m->hdrs[i].name.p;
        nv[k].namelen = m->hdrs[i].name.len;
        nv[k].value = (uint8_t *)m->hdrs[i].value.p;
        nv[k].valuelen = m->hdrs[i].value.len;
        nv[k++].flags = NGHTTP2_NV_FLAG_NONE;
        bytes += (ssize_t)(m->hdrs[i].name.len + m->hdrs[i].value.len + 4);
    }
    if (nghttp2_submit_response(c->ng, s->h2.id, nv, k, body ? &prd : NULL) != 0)
        return -1;
    s->h2.resp_submitted = true;
    return bytes + 13;
}

/* gRPC's code for a local reply (grpc/doc/statuscodes.md). */
static int grpc_status_of(int reason, uint16_t status)
{
    switch (reason) {
    case TERN_R_NO_HEALTHY_UPSTREAM:
    case TERN_R_QUEUE_FULL:
    case TERN_R_QUEUE_TIMEOUT:
    case TERN_R_CONNECT_FAILURE:
    case TERN_R_CONNECT_TIMEOUT:
    case TERN_R_UPSTREAM_RESET_BEFORE_HEADERS:
    case TERN_R_BAD_UPSTREAM_RESPONSE: return 14; /* UNAVAILABLE */
    case TERN_R_UPSTREAM_TIMEOUT:
    case TERN_R_REQUEST_TIMEOUT:
    case HTTP_R_DEADLINE_EXCEEDED: return 4;      /* DEADLINE_EXCEEDED */
    case TERN_R_RATE_LIMITED: return 8;           /* RESOURCE_EXHAUSTED */
    case TERN_R_DENIED: return 7;                 /* PERMISSION_DENIED */
    case TERN_R_PAYLOAD_TOO_LARGE:
    case TERN_R_HEADERS_TOO_LARGE: return 8;      /* RESOURCE_EXHAUSTED */
    default: break;
    }
    switch (status) {   /* gRPC's HTTP-to-gRPC mapping */
    case 400: return 13; /* INTERNAL */
    case 401: return 16; /* UNAUTHENTICATED */
    case 403: return 7;  /* PERMISSION_DENIED */
    case 404: return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504: return 14; /* UNAVAILABLE */
    default: return 2;   /* UNKNOWN */
    }
}

/* A local reply: rendered as HTTP/1.1 by the one writer tern has (the
 * filter's fields, errorfiles and x-tern-error included), then parsed back
 * into HEADERS (+ DATA). A gRPC request gets a trailers-only gRPC error. */
static ssize_t h2_reply(struct stream *s, struct http_local_reply *r)
{
    struct h2_conn *c = s->h2c;
    struct http_worker *hw = s->hw;
    struct h1_msg h1;
    struct buf *b;
    nghttp2_nv *nv;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    uint32_t k = 0;
    ssize_t n;

    if (s->h2.closed || s->h2.resp_submitted)
        return 0;
    if (s->head_ok && is_grpc(s)) {
        char st[12], *msg = arena_alloc(&s->arena, 64);
        int g = grpc_status_of(r->reason, r->status);
        nghttp2_nv gv[4];
        snprintf(st, sizeof(st), "%d", g);
        snprintf(msg, 64, "tern: %s", http_reason_name(r->reason));
        gv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0};
        gv[k++] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0};
        gv[k++] = (nghttp2_nv){(uint8_t *)"grpc-status", (uint8_t *)st, 11, strlen(st), 0};
        gv[k++] = (nghttp2_nv){(uint8_t *)"grpc-message", (uint8_t *)msg, 12, strlen(msg), 0};
        if (nghttp2_submit_response(c->ng, s->h2.id, gv, k, NULL) != 0)
            return 0;
        s->h2.resp_submitted = true;
        r->status = 200;
        return 64;
    }
    b = buf_get(&s->w->pool);
    n = http_local_reply_write(b->data, b->size, r);
    if (n < 0) {
        r->body = NULL;
        r->content_type = NULL;
        r->nhdrs = 0;
        r->file = NULL;
        n = http_local_reply_write(b->data, b->size, r);
    }
    h1_msg_init(&h1);
    if (n <= 0 || h1_parse_response(b->data, (size_t)n, &h1, s->hdrs, hw->maxhdr, &hw->lim) <= 0) {
        buf_put(&s->w->pool, b);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->h2.id, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    b->len = (uint32_t)n;
    s->h2.rbuf = b;
    s->h2.rbody_off = (uint32_t)h1.head_len;
    s->h2.rbody_len = r->head_only ? 0 : (uint32_t)((size_t)n - h1.head_len);
    nv = arena_alloc(&s->arena, (h1.nhdrs + 1) * sizeof(*nv));
    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_digits(&s->arena, h1.status),
                           7, 3, 0};
    for (uint32_t i = 0; i < h1.nhdrs; i++) {
        struct http_str nm = {b->data + s->hdrs[i].name.off, (uint32_t)s->hdrs[i].name.len};
        if (h2_forbidden(nm))
            continue;
        lower(nm);
        nv[k].name = (uint8_t *)nm.p;
        nv[k].namelen = nm.len;
        nv[k].value = (uint8_t *)b->data + s->hdrs[i].value.off;
        nv[k].valuelen = s->hdrs[i].value.len;
        nv[k++].flags = NGHTTP2_NV_FLAG_NONE;
    }
    r->status = h1.status;
    if (nghttp2_submit_response(c->ng, s->h2.id, nv, k, s->h2.rbody_len ? &prd : NULL) != 0)
        return 0;
    s->h2.resp_submitted = true;
    return n;
}

/* ---- the stream's client side (down_ops) ----------------------------------- */

static void h2_kick(struct stream *s)
{
    if (!s->h2c->closed)
        event_active(&s->h2c->ev, 0, 0);
}

/*
 * An upstream (or filter timer) event for one stream: the connection runs
 * once the loop has handed out the other events of the same wait, so that
 * the responses of every stream whose server answered go out in one write
 * (one sendmsg per batch instead of one per response; libevent runs an
 * event activated from a callback in the same loop turn, after those
 * already active).
 */
static void h2_run(struct stream *s)
{
    h2_kick(s);
}

static bool h2_gone(const struct stream *s)
{
    return s->h2c->closed;
}

static void h2_abort(struct stream *s, int reason)
{
    struct h2_conn *c = s->h2c;

    if (!c->closed && !s->h2.closed) {
        uint32_t code = reason == HTTP_R_CLIENT_ABORT ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->h2.id, code);
        counter_add(&lst(c)->h2_rst_sent, 1);
    }
    stream_end(s); /* s is back in the worker's cache (or freed): c only */
    if (!c->closed)
        event_active(&c->ev, 0, 0);
}

static void h2_ended(struct stream *s, uint64_t now)
{
    struct h2_conn *c = s->h2c;

    if (!c->closed && s->h2.unacked)
        nghttp2_session_consume_connection(c->ng, s->h2.unacked); /* dropped bytes */
    s->h2.unacked = 0;
    if (!c->closed && !s->h2.closed) {
        nghttp2_session_set_stream_user_data(c->ng, s->h2.id, NULL);
        if (!s->h2.eof_sent && !s->abort_client) {
            /* ended without its whole response (a timeout, a cut) */
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->h2.id,
                                      NGHTTP2_INTERNAL_ERROR);
            counter_add(&lst(c)->h2_rst_sent, 1);
        }
    }
    if (s->h2.ibuf) {
        buf_put(&s->w->pool, s->h2.ibuf);
        s->h2.ibuf = NULL;
    }
    if (s->h2.rbuf) {
        buf_put(&s->w->pool, s->h2.rbuf);
        s->h2.rbuf = NULL;
    }
    free(s->h2.spill);
    s->h2.spill = NULL;
    s->h2.spill_len = 0;
    unlink_stream(c, s);
    c->idle_since_ms = now;
}

const struct down_ops down_h2_ops = {
    .name = "h2",
    .run = h2_run,
    .kick = h2_kick,
    .gone = h2_gone,
    .response_head = h2_response_head,
    .reply = h2_reply,
    .abort = h2_abort,
    .ended = h2_ended,
};

/* ---- nghttp2 callbacks ------------------------------------------------------- */

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s;

    (void)ng;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        s = stream_of(c, frame->hd.stream_id);
        if (!s)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            request_head(c, s, frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            request_end(s); /* trailers */
        }
        break;
    case NGHTTP2_DATA:
        s = stream_of(c, frame->hd.stream_id);
        if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            request_end(s);
        break;
    case NGHTTP2_RST_STREAM:
        counter_add(&lst(c)->h2_rst_recv, 1);
        s = stream_of(c, frame->hd.stream_id);
        if (s && !s->h2.eof_sent) {
            c->nrst_early++;
            /* rapid reset: far more cancelled than served */
            if (c->nrst_early > 2 * c->w->snap->global.h2_max_concurrent_streams &&
                c->nrst_early > c->ndone) {
                nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
                counter_add(&lst(c)->h2_goaway_sent, 1);
                c->fatal = true;
            }
        }
        break;
    case NGHTTP2_GOAWAY:
        counter_add(&lst(c)->h2_goaway_recv, 1);
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s;

    if (frame->hd.type == NGHTTP2_RST_STREAM && frame->hd.stream_id > c->max_rst_sid)
        c->max_rst_sid = frame->hd.stream_id;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        return 0;
    if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    s = stream_of(c, frame->hd.stream_id);
    if (!s)
        return 0;
    s->h2.eof_sent = true;
    c->ndone++;
    if (!s->h2.req_end) {
        /* RFC 9113 8.1: the response is complete, the request is not
         * wanted any more */
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->h2.id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct h2_conn *c = ud;
    struct stream *s = stream_of(c, id);

    (void)ng;
    if (!s)
        return 0;
    s->h2.closed = true;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    if (!s->h2.eof_sent) {
        stream_fail(s, HTTP_R_CLIENT_ABORT);
        s->abort_client = true;
        (void)code;
    }
    stream_end(s);
    return 0;
}

static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *frame, int err, void *ud)
{
    struct h2_conn *c = ud;

    (void)ng;
    (void)frame;
    (void)err;
    counter_add(&lst(c)->h2_protocol_errors, 1);
    return 0;
}

/*
 * RFC 9113 5.1.1: a HEADERS that would open a stream with an id not greater
 * than one the client used before is a connection error PROTOCOL_ERROR.
 * nghttp2 1.52 ignores such a block when it no longer knows the stream (it
 * cannot remember every id); the highest id is one integer here. A HEADERS
 * on a stream nghttp2 still has (trailers, or a closed stream it answers
 * with STREAM_CLOSED) is left to it, and so is one at or below a stream we
 * reset: the client may have sent its trailers before our RST_STREAM
 * reached it, and those must be ignored (5.4.2), not fatal.
 */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    struct h2_conn *c = ud;

    if (hd->type != NGHTTP2_HEADERS || !(hd->stream_id & 1))
        return 0;
    if (hd->stream_id > c->max_sid) {
        c->max_sid = hd->stream_id;
        return 0;
    }
    if (hd->stream_id <= c->max_rst_sid || nghttp2_session_find_stream(ng, hd->stream_id))
        return 0;
    counter_add(&lst(c)->h2_protocol_errors, 1);
    nghttp2_session_terminate_session(ng, NGHTTP2_PROTOCOL_ERROR);
    return 0;
}

/* The callbacks table (nghttp2 copies it into each session: the caller
 * deletes it). */
static nghttp2_session_callbacks *callbacks(void)
{
    nghttp2_session_callbacks *cbs;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    return cbs;
}

/* ---- nghttp2's memory ------------------------------------------------------------ */

/*
 * nghttp2 allocates per stream and per frame (the stream, each outbound
 * frame, the header block copies, HPACK buffers): about 15 malloc/free
 * pairs per request through tern with an h2 server on the other side,
 * ~10% of the instructions spent per request, most of them in glibc's
 * slower paths because a burst of streams overflows its per-thread cache.
 * Blocks up to 512 bytes come from per-thread free lists by size class
 * (one session is only ever used by its worker's thread), each list
 * bounded (H2_MEM_CLASS_BYTES: 1 MiB per worker at most), larger ones from
 * malloc. A 16-byte header says which; with the rounding up to a class it
 * costs a session's long-lived small blocks ~650 bytes. Under the
 * sanitizers and the fuzzer every block comes from libc so that misuse
 * stays visible. (Written here because nghttp2_mem is the hook nghttp2
 * offers and no Debian library gives a per-thread size-class cache.)
 */
#define H2_MEM_CLASSES 4            /* 64, 128, 256, 512 bytes */
#define H2_MEM_CLASS_BYTES (256 * 1024)
#define H2_MEM_LARGE 0xffu

struct h2_mem_hdr {
    size_t size;                    /* usable bytes */
    uint32_t cls;                   /* size class, or H2_MEM_LARGE */
    uint32_t pad;
};

struct h2_mem_free {
    struct h2_mem_free *next;
};

static _Thread_local struct {
    struct h2_mem_free *head[H2_MEM_CLASSES];
    uint32_t n[H2_MEM_CLASSES];
    bool off;                       /* released (worker exit): libc only */
#if defined(TERN_ASAN) || defined(TERN_FUZZ)
} h2_tl = {.off = true};            /* every block from and to libc */
#else
} h2_tl;
#endif

void *h2_mem_alloc(size_t size)
{
    struct h2_mem_hdr *h;
    uint32_t cls = 0;

    while (cls < H2_MEM_CLASSES && size > (64u << cls))
        cls++;
    if (cls == H2_MEM_CLASSES || h2_tl.off) {
        h = malloc(sizeof(*h) + size);
        if (!h)
            return NULL;
        h->size = size;
        h->cls = H2_MEM_LARGE;
        return h + 1;
    }
    if (h2_tl.head[cls]) {
        struct h2_mem_free *f = h2_tl.head[cls];
        h2_tl.head[cls] = f->next;
        h2_tl.n[cls]--;
        return f;
    }
    h = malloc(sizeof(*h) + (64u << cls));
    if (!h)
        return NULL;
    h->size = 64u << cls;
    h->cls = cls;
    return h + 1;
}

void h2_mem_free(void *p)
{
    struct h2_mem_hdr *h;
    uint32_t cls;

    if (!p)
        return;
    h = (struct h2_mem_hdr *)p - 1;
    cls = h->cls;
    if (cls != H2_MEM_LARGE && !h2_tl.off &&
        h2_tl.n[cls] < H2_MEM_CLASS_BYTES / (64u << cls)) {
        struct h2_mem_free *f = p;
        f->next = h2_tl.head[cls];
        h2_tl.head[cls] = f;
        h2_tl.n[cls]++;
        return;
    }
    free(h);
}

void h2_mem_thread_release(void)
{
    for (uint32_t c = 0; c < H2_MEM_CLASSES; c++)
        while (h2_tl.head[c]) {
            struct h2_mem_free *f = h2_tl.head[c];
            h2_tl.head[c] = f->next;
            free((struct h2_mem_hdr *)(void *)f - 1);
        }
    memset(h2_tl.n, 0, sizeof(h2_tl.n));
    h2_tl.off = true; /* blocks freed later (a late session) go to libc */
}

static void *mem_malloc(size_t size, void *ud)
{
    (void)ud;
    return h2_mem_alloc(size);
}

static void mem_free(void *p, void *ud)
{
    (void)ud;
    h2_mem_free(p);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    void *p;

    (void)ud;
    if (size && n > SIZE_MAX / size)
        return NULL;
    p = h2_mem_alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
    struct h2_mem_hdr *h;
    void *q;

    (void)ud;
    if (!p)
        return h2_mem_alloc(size);
    h = (struct h2_mem_hdr *)p - 1;
    if (size <= h->size && size)
        return p;
    if (!size) {
        h2_mem_free(p);
        return NULL;
    }
    q = h2_mem_alloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, h->size);
    h2_mem_free(p);
    return q;
}

#if defined(TERN_ASAN) || defined(TERN_FUZZ)
nghttp2_mem *h2_nghttp2_mem(void)
{
    return NULL; /* libc's, for the sanitizers */
}
#else
nghttp2_mem *h2_nghttp2_mem(void)
{
    static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};
    return &mem;
}
#endif

/* ---- accept and close ------------------------------------------------------------ */

/*
 * The session and its SETTINGS for a connection whose struct is filled
 * (w, hw, ws, l, fd, tr, peer): linked into the worker, event registered,
 * first run. `fresh`: a new accept (the connection counters); a handover
 * from h1_conn.c after ALPN was counted there.
 */
static void h2c_start(struct h2_conn *c, bool fresh)
{
    struct worker *w = c->w;
    struct http_worker *hw = c->hw;
    const struct model_global *g = &w->snap->global;
    uint64_t now = worker_now_ms(w);
    nghttp2_option *opt;
    nghttp2_session_callbacks *cbs = callbacks();
    nghttp2_settings_entry iv[5];
    uint32_t win = g->h2_initial_window_size, niv = 4;

    c->accept_ms = c->active_ms = c->idle_since_ms = now;
    if (nghttp2_option_new(&opt) != 0)
        tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, g->h2_header_table_size);
    nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    if (nghttp2_session_server_new3(&c->ng, cbs, c, opt, h2_nghttp2_mem()) != 0)
        tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    /* a stream's window never exceeds its buffer (see the top) */
    if (win > hw->lim.max_head + hw->maxrewrite)
        win = hw->lim.max_head + hw->maxrewrite;
    iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                     g->h2_max_concurrent_streams};
    iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, win};
    iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, g->h2_header_table_size};
    iv[3] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, hw->lim.max_head};
    /* tune.h2.max-frame-size (HAProxy's meaning): the largest frame we
     * accept; RFC 9113's 16384 needs no SETTINGS entry */
    if (g->h2_max_frame_size && g->h2_max_frame_size != 16384)
        iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_FRAME_SIZE,
                                             g->h2_max_frame_size};
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv);
    /* the connection's window: room for every stream's */
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
                                          (int32_t)(win * g->h2_max_concurrent_streams));

    c->next = hw->h2conns;
    if (hw->h2conns)
        hw->h2conns->prev = c;
    hw->h2conns = c;
    if (fresh) {
        w->nconns++;
        atomic_store_explicit(&w->nconns_shared, w->nconns, memory_order_relaxed);
        counter_add(&w->stats.conns_total, 1);
        counter_add(&w->stats.cur_conns, 1);
        counter_add(&lst(c)->conns_total, 1);
        counter_add(&lst(c)->cur_conns, 1);
    }
    counter_add(&lst(c)->h2_conns, 1);

    event_assign(&c->ev, w->base, c->fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 conn_cb, c);
    event_add(&c->ev, NULL);
    evtimer_assign(&c->timer, w->base, timer_cb, c);
    h2c_run(c);
}

void h2c_accept(struct worker *w, struct worker_listener *wl, int fd, const struct sockaddr *sa,
                socklen_t salen)
{
    struct h2_conn *c = tern_calloc(1, sizeof(*c));

    c->w = w;
    c->hw = w->http;
    c->ws = w->snaps;
    c->ws->nconns++;
    c->l = wl->l;
    c->fd = fd;
    transport_plain_init(&c->tr, fd);
    if (salen <= sizeof(c->peer))
        memcpy(&c->peer, sa, salen);
    h2c_start(c, true);
}

void h2c_adopt(struct h1_conn *cc)
{
    struct h2_conn *c = tern_calloc(1, sizeof(*c));

    c->w = cc->w;
    c->hw = cc->hw;
    c->ws = cc->ws; /* the reference moves with it */
    c->l = cc->l;
    c->fd = cc->fd;
    c->peer = cc->peer;
    transport_move(&c->tr, &cc->tr);
    c->tls = cc->tls;
    cc->tls = NULL;
    h2c_start(c, false);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    free(arg);
}

static void h2c_close(struct h2_conn *c, int reason)
{
    struct worker *w = c->w;
    struct http_worker *hw = c->hw;

    if (c->closed)
        return;
    /* the streams first: they log and release their upstream */
    while (c->streams) {
        struct stream *s = c->streams;
        stream_fail(s, reason);
        s->abort_client = true;
        s->h2.closed = true;
        stream_end(s); /* unlinks it */
    }
    c->closed = true;
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    event_del(&c->ev);
    transport_release(&c->tr);
    if (c->tls) {
        tls_peer_identity_clear(&c->tls->peer);
        tls_peer_identity_clear(&c->tls->own);
        free(c->tls);
        c->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    evtimer_del(&c->timer);
    if (c->ibuf)
        buf_put(&w->pool, c->ibuf);
    if (c->out.obuf)
        buf_put(&w->pool, c->out.obuf);
    c->ibuf = c->out.obuf = NULL;

    counter_add(&lst(c)->cur_conns, (uint64_t)-1);
    counter_add(&w->stats.cur_conns, (uint64_t)-1);
    atomic_fetch_sub_explicit(&c->l->cur_conns, 1, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        hw->h2conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    worker_conn_closed(w, c->ws);
    evtimer_assign(&c->timer, w->base, reap_cb, c);
    event_active(&c->timer, EV_TIMEOUT, 0);
}

/* ---- I/O ------------------------------------------------------------------------ */

static bool conn_read(struct h2_conn *c, size_t *moved)
{
    ssize_t n, r;

    /* output the client does not read stops its input (PING/SETTINGS
     * floods, slow readers): nghttp2's queues stay bounded */
    if (c->eof || !transport_can_read(&c->tr) || c->fatal || (c->out.obuf && c->out.obuf->len) ||
        c->out.pend_len)
        return false;
    n = transport_read_buf(&c->tr, &c->w->pool, &c->ibuf);
    if (n == 0) {
        c->eof = true;
        return true;
    }
    if (n == -1)
        return false;
    if (n < 0) {
        h2c_close(c, HTTP_R_CLIENT_ABORT);
        return true;
    }
    c->active_ms = worker_now_ms(c->w);
    counter_add(&lst(c)->bytes_in, (uint64_t)n);
    *moved += (size_t)n;
    r = nghttp2_session_mem_recv(c->ng, (const uint8_t *)buf_head(c->ibuf), c->ibuf->len);
    if (c->closed)
        return true;
    buf_put(&c->w->pool, c->ibuf);
    c->ibuf = NULL;
    if (r < 0) {
        /* bad preface, flood, or a callback's refusal: GOAWAY if the
         * session can still say it, then close */
        counter_add(&lst(c)->h2_protocol_errors, 1);
        if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
            nghttp2_session_terminate_session(c->ng, r == NGHTTP2_ERR_FLOODED
                                                         ? NGHTTP2_ENHANCE_YOUR_CALM
                                                         : NGHTTP2_PROTOCOL_ERROR);
            counter_add(&lst(c)->h2_goaway_sent, 1);
        }
        c->fatal = true;
    }
    return true;
}

int h2_out_fill(nghttp2_session *ng, struct h2_out *o, struct buf_pool *pool)
{
    while (!o->obuf || buf_tail_room(o->obuf)) {
        size_t k;
        if (!o->pend_len) {
            ssize_t n = nghttp2_session_mem_send(ng, &o->pend);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            o->pend_len = (size_t)n;
        }
        if (!o->obuf)
            o->obuf = buf_get(pool);
        k = buf_tail_room(o->obuf);
        if (k > o->pend_len)
            k = o->pend_len;
        memcpy(buf_tail(o->obuf), o->pend, k);
        o->obuf->len += (uint32_t)k;
        o->pend += k;
        o->pend_len -= k;
    }
    return 0;
}

ssize_t h2_out_write(struct h2_out *o, struct transport *tr, struct buf_pool *pool)
{
    struct iovec iov;
    ssize_t n;

    if (!o->obuf || !o->obuf->len || !transport_can_write(tr))
        return TRANSPORT_AGAIN;
    iov.iov_base = buf_head(o->obuf);
    iov.iov_len = o->obuf->len;
    n = transport_writev(tr, &iov, 1);
    if (n <= 0)
        return n;
    buf_consume(o->obuf, (size_t)n);
    if (o->obuf->len == 0) {
        buf_put(pool, o->obuf);
        o->obuf = NULL;
    }
    return n;
}

/* Copies nghttp2's output into the output buffer, then writes it. */
static bool conn_write(struct h2_conn *c, size_t *moved)
{
    bool progress = false;

    for (;;) {
        ssize_t n;
        if ((!c->fatal || c->out.pend_len || nghttp2_session_want_write(c->ng)) &&
            h2_out_fill(c->ng, &c->out, &c->w->pool) != 0) {
            h2c_close(c, TERN_R_NONE);
            return true;
        }
        n = h2_out_write(&c->out, &c->tr, &c->w->pool);
        if (n == TRANSPORT_AGAIN)
            break;
        if (n < 0) {
            h2c_close(c, HTTP_R_CLIENT_ABORT);
            return true;
        }
        progress = true;
        c->active_ms = worker_now_ms(c->w);
        counter_add(&lst(c)->bytes_out, (uint64_t)n);
        *moved += (size_t)n;
        if (c->out.obuf && !transport_can_write(&c->tr))
            break;
    }
    return progress;
}

/* ---- streams ------------------------------------------------------------------- */

static bool advance(struct h2_conn *c)
{
    bool progress = false;
    struct stream *s, *next;

    for (s = c->streams; s && !c->closed; s = next) {
        next = s->h2.next;
        switch (s->st) {
        case ST_QUEUED:
            if (s->granted) {
                router_proceed(s);
                progress = true;
            }
            break;
        case ST_EXCHANGE:
            progress |= validate_request(s);
            if (s->st != ST_EXCHANGE || c->closed)
                break;
            progress |= upstream_step(s);
            if (c->closed || s->st != ST_EXCHANGE)
                break;
            if (s->h2.deferred && (s->resp_fwd || s->resp_done)) {
                s->h2.deferred = false;
                nghttp2_session_resume_data(c->ng, s->h2.id);
                progress = true;
            }
            break;
        default:
            break;
        }
    }
    return progress;
}

/* ---- timers ---------------------------------------------------------------------- */

static uint32_t first_nonzero(uint32_t a, uint32_t b, uint32_t c)
{
    return a ? a : b ? b : c;
}

/* Whether the client owes this stream something: request body bytes, or
 * window for response bytes waiting (a zero-window stall). */
static bool client_owes(const struct stream *s)
{
    if (s->st == ST_REPLY)
        return s->h2.rbody_len > 0;
    if (s->st != ST_EXCHANGE)
        return false;
    return !s->h2.req_end || (s->resp_head && s->resp_fwd && !s->h2.deferred);
}

static uint64_t stream_deadline_of_state(const struct h2_conn *c, const struct stream *s);

/* A gRPC call's deadline ends the stream in any state after its head (a
 * local reply being written is left to finish). */
static uint64_t stream_deadline(const struct h2_conn *c, const struct stream *s)
{
    uint64_t d = stream_deadline_of_state(c, s), g = s->h2.grpc_deadline_ms;

    if (g && s->st != ST_REPLY && s->st != ST_DONE && s->st != ST_HEAD && (!d || g < d))
        return g;
    return d;
}

static uint64_t stream_deadline_of_state(const struct h2_conn *c, const struct stream *s)
{
    const struct listener *l = c->l;
    uint32_t tc = l->timeout_client_ms;
    uint64_t d = UINT64_MAX;

    switch (s->st) {
    case ST_HEAD:
        return l->timeout_http_request_ms ? s->t_start + l->timeout_http_request_ms : 0;
    case ST_ROUTING:
        return tc ? s->t_head + tc : 0;
    case ST_QUEUED:
    case ST_TURNAROUND:
    case ST_CONNECTING:
    case ST_BACKOFF:
        return s->deadline_ms;
    case ST_EXCHANGE:
        if (tc && client_owes(s))
            d = s->h2.active_ms + tc;
        if (stream_server_deadline(s) < d)
            d = stream_server_deadline(s);
        return d == UINT64_MAX ? 0 : d;
    case ST_REPLY:
        return tc && client_owes(s) ? s->h2.active_ms + tc : 0;
    default:
        return 0;
    }
}

static uint64_t conn_deadline(const struct h2_conn *c)
{
    const struct listener *l = c->l;
    uint64_t d = UINT64_MAX, x;

    if ((c->out.obuf && c->out.obuf->len) || c->out.pend_len) {
        if (l->timeout_client_ms)
            d = c->active_ms + l->timeout_client_ms;
    }
    if (!c->streams) {
        uint32_t t = c->nreq == 0
                         ? first_nonzero(l->timeout_http_request_ms, l->timeout_client_ms, 0)
                         : first_nonzero(l->timeout_http_keep_alive_ms,
                                         l->timeout_http_request_ms, l->timeout_client_ms);
        if (t && c->idle_since_ms + t < d)
            d = c->idle_since_ms + t;
    }
    for (const struct stream *s = c->streams; s; s = s->h2.next) {
        x = stream_deadline(c, s);
        if (x && x < d)
            d = x;
    }
    return d == UINT64_MAX ? 0 : d;
}

static void arm_timer(struct h2_conn *c)
{
    uint64_t at = conn_deadline(c), now;
    struct timeval tv;

    if (!at)
        return;
    if (c->timer_at_ms && c->timer_at_ms <= at && evtimer_pending(&c->timer, NULL))
        return;
    now = worker_now_ms(c->w);
    c->timer_at_ms = at;
    at = at > now ? at - now : 0;
    tv.tv_sec = (time_t)(at / 1000);
    tv.tv_usec = (suseconds_t)((at % 1000) * 1000);
    evtimer_add(&c->timer, &tv);
}

static void stream_timeout(struct h2_conn *c, struct stream *s, uint64_t now)
{
    uint32_t tc = c->l->timeout_client_ms;

    if (s->h2.grpc_deadline_ms && now >= s->h2.grpc_deadline_ms && s->st != ST_REPLY &&
        s->st != ST_HEAD) {
        /* before the response head: DEADLINE_EXCEEDED (4) as a gRPC error,
         * never retried; after it: the stream is reset (the client's own
         * deadline says the rest) */
        stream_local_reply(s, HTTP_R_DEADLINE_EXCEEDED, 0, false);
        return;
    }
    switch (s->st) {
    case ST_HEAD:
        stream_local_reply(s, TERN_R_REQUEST_TIMEOUT, 0, false);
        break;
    case ST_ROUTING:
        stream_local_reply(s, TERN_R_UPSTREAM_TIMEOUT, 0, false);
        break;
    case ST_QUEUED:
    case ST_TURNAROUND:
    case ST_CONNECTING:
    case ST_BACKOFF:
        router_timeout(s);
        break;
    case ST_EXCHANGE: {
        if (!stream_server_timeout(s, now) && tc && client_owes(s) &&
            now >= s->h2.active_ms + tc) {
            if (s->resp_head)
                counter_add(&lst(c)->h2_flow_stalls, 1);
            stream_abort(s, HTTP_R_CLIENT_TIMEOUT);
        }
        break;
    }
    case ST_REPLY:
        counter_add(&lst(c)->h2_flow_stalls, 1);
        stream_abort(s, HTTP_R_CLIENT_TIMEOUT);
        break;
    default:
        break;
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    uint64_t now = worker_now_ms(c->w);
    struct stream *s, *next;
    uint64_t d;

    (void)fd;
    (void)what;
    c->timer_at_ms = 0;
    if (c->closed)
        return;
    d = conn_deadline(c);
    if (!d || now < d) {
        arm_timer(c);
        return;
    }
    if (((c->out.obuf && c->out.obuf->len) || c->out.pend_len) && c->l->timeout_client_ms &&
        now >= c->active_ms + c->l->timeout_client_ms) {
        h2c_close(c, HTTP_R_CLIENT_TIMEOUT);
        return;
    }
    if (!c->streams) {
        /* idle: GOAWAY (no stream was refused) and close once it is out */
        nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
        counter_add(&lst(c)->h2_goaway_sent, 1);
        c->fatal = true;
        h2c_run(c);
        return;
    }
    for (s = c->streams; s && !c->closed; s = next) {
        next = s->h2.next;
        d = stream_deadline(c, s);
        if (d && now >= d)
            stream_timeout(c, s, now);
    }
    h2c_run(c);
}

/* ---- the run loop ----------------------------------------------------------------- */

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;

    (void)fd;
    if (c->closed)
        return;
    transport_set_ready(&c->tr, (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                                          ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0) |
                                          ((what & EV_CLOSED) ? TRANSPORT_RDHUP : 0)));
    h2c_run(c);
}

static void h2c_run(struct h2_conn *c)
{
    size_t moved = 0;

    if (c->closed)
        return;
    if (c->in_run) {
        c->rerun = true;
        return;
    }
    c->in_run = true;
    for (;;) {
        bool progress;

        c->rerun = false;
        progress = conn_read(c, &moved);
        if (c->closed)
            break;
        progress |= advance(c);
        if (c->closed)
            break;
        progress |= conn_write(c, &moved);
        if (c->closed)
            break;
        if (!progress && !c->rerun)
            break;
        if (moved >= H2_RUN_BUDGET) {
            event_active(&c->ev, 0, 0);
            break;
        }
    }
    c->in_run = false;
    if (c->closed)
        return;
    /* the end: flushed after a fatal error or GOAWAY, or the client left
     * and nothing is in flight, or neither side wants anything more */
    if ((!c->out.obuf || !c->out.obuf->len) && !c->out.pend_len &&
        ((c->fatal && !nghttp2_session_want_write(c->ng)) || (c->eof && !c->streams) ||
         (c->draining && !c->streams) ||
         (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)))) {
        h2c_close(c, c->eof ? HTTP_R_CLIENT_ABORT : TERN_R_NONE);
        return;
    }
    if (c->eof && c->streams && (!c->out.obuf || !c->out.obuf->len) && !c->out.pend_len &&
        !nghttp2_session_want_write(c->ng)) {
        /* the client is gone: what it asked for cannot reach it */
        bool any = false;
        for (struct stream *s = c->streams; s; s = s->h2.next)
            any |= s->st == ST_EXCHANGE || s->st == ST_REPLY;
        if (!any || (c->tr.ready & TRANSPORT_RDHUP)) {
            h2c_close(c, HTTP_R_CLIENT_ABORT);
            return;
        }
    }
    arm_timer(c);
}

void h2c_stop_accepting(struct http_worker *hw)
{
    struct h2_conn *c, *next;

    for (c = hw->h2conns; c; c = next) {
        next = c->next;
        if (c->draining)
            continue;
        c->draining = true;
        /* RFC 9113 6.8: the last stream we may process is the last opened */
        nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        counter_add(&lst(c)->h2_goaway_sent, 1);
        if (!c->streams)
            c->fatal = true;
        h2c_run(c);
    }
}

void h2c_close_all(struct http_worker *hw)
{
    while (hw->h2conns)
        h2c_close(hw->h2conns, HTTP_R_KILLED);
}
