/*
 * upstream_h2.c: HTTP/2 to `server ... proto h2` (cleartext prior knowledge,
 * or over `ssl`), many streams multiplexed over few connections.
 *
 * Pool: each endpoint has, per worker, a list of HTTP/2 connections
 * (ep->worker[id].h2_head, this worker's only: no lock). A stream takes the
 * first connection that is ready, not retired by a GOAWAY and below the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive);
 * else it joins a connection being set up, else it opens one. A connection
 * with no stream is closed after the endpoint's pool-purge-delay.
 *
 * A stream's share is a struct up_conn with uc->h2 set: the stream core,
 * the filter chain and both client sides see the same up_conn they see for
 * an HTTP/1.1 server (the response payload in uc->ibuf, s->resp_fwd bytes
 * of it validated). For an HTTP/1.1 client a response without
 * content-length is framed chunked here (with its trailers); an HTTP/2
 * client gets the payload and the trailers as they came.
 *
 * nghttp2's client session is driven from our loop as in h2_conn.c:
 * mem_recv from a pool buffer, mem_send into an output buffer, one write.
 * Callbacks never run a client side (they kick it: the next loop turn), so
 * nghttp2 is never re-entered.
 *
 * Flow control: our window updates are manual. A stream's window is one
 * buffer; received payload is given back (nghttp2_session_consume) as the
 * client side takes it (uh2_resp_consumed), so a slow client stops the
 * server. The request body is read by nghttp2's data provider from the
 * client's buffer within the server's windows; it waits (DEFERRED) for
 * bytes, and the client's window opens as the provider takes them.
 *
 * GOAWAY retires a connection: no new stream; nghttp2 closes the streams
 * above last_stream_id with REFUSED_STREAM (and fails those not yet sent):
 * they were not processed, so they go again on another connection when
 * their request can be replayed (no body byte was taken from the client).
 *
 * Thread: the owning worker.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/codec/h1.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/http/http_int.h"
#include "proxy/tls/tls.h"
#include "proxy/tls/tls_conf.h"

/* Streams per connection before the server said (RFC 9113 6.5.2 advises
 * at least 100). */
#define UH2_DEFAULT_STREAMS 100
/* A refused stream (not processed) goes again at most this many times. */
#define UH2_REFUSED_MAX 4

struct uh2_conn {
    struct uh2_conn *prev, *next; /* the endpoint slot's list */
    struct worker *w;
    struct http_worker *hw;
    struct endpoint *ep;
    nghttp2_session *ng;
    struct up_conn *streams;      /* the streams on it (uc->prev/next) */
    uint32_t nstreams;
    struct buf *ibuf;
    struct h2_out out;            /* nghttp2's output on its way to the socket */
    int fd;
    struct transport tr;
    bool connected : 1;
    bool ready : 1;               /* connected and handshaken: requests go out */
    bool goaway : 1;              /* retired: no new stream */
    bool closed : 1;
    bool in_run : 1;
    bool rerun : 1;
    bool free_queued : 1;         /* closed, its free is on the loop (once) */
    uint64_t active_ms;
    struct event ev;
    struct event timer;           /* idle close */
};

static void conn_cb(evutil_socket_t fd, short what, void *arg);
static void idle_cb(evutil_socket_t fd, short what, void *arg);
static void uh2_run(struct uh2_conn *c);
static void conn_close(struct uh2_conn *c, enum tern_reason why);
static nghttp2_session_callbacks *uh2_callbacks(void);
static void conn_free_cb(evutil_socket_t fd, short what, void *arg);

static inline struct endpoint_worker_slot *slot_of(const struct uh2_conn *c)
{
    return &c->ep->worker[c->w->id];
}

static inline struct endpoint_stats *est(const struct uh2_conn *c)
{
    return &c->ep->stats[c->w->id];
}

static inline struct cluster_stats *cst(const struct uh2_conn *c)
{
    return &c->ep->cluster->stats[c->w->id];
}

static uint32_t max_streams(const struct uh2_conn *c)
{
    uint32_t m;

    if (!c->ready)
        return UH2_DEFAULT_STREAMS;
    m = nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return m ? m : 1;
}

/* ---- streams on a connection ---------------------------------------------------- */

static void link_uc(struct uh2_conn *c, struct up_conn *uc)
{
    uc->prev = NULL;
    uc->next = c->streams;
    if (c->streams)
        c->streams->prev = uc;
    c->streams = uc;
    c->nstreams++;
    evtimer_del(&c->timer);
}

static void unlink_uc(struct uh2_conn *c, struct up_conn *uc)
{
    if (uc->prev)
        uc->prev->next = uc->next;
    else if (c->streams == uc)
        c->streams = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    uc->prev = uc->next = NULL;
    c->nstreams--;
}

static struct up_conn *uc_new(struct uh2_conn *c, struct stream *s)
{
    struct up_conn *uc = h2_mem_alloc(sizeof(*uc)); /* per stream: the worker's free list */

    if (!uc)
        tern_panic(__FILE__, __LINE__, "out of memory");
    memset(uc, 0, sizeof(*uc));
    uc->w = c->w;
    uc->hw = c->hw;
    uc->ep = c->ep;
    uc->h2 = c;
    uc->s = s;
    uc->fd = -1;
    uc->connected = uc->handshaken = c->ready;
    uc->active_ms = worker_now_ms(c->w);
    s->uc = uc;
    link_uc(c, uc);
    return uc;
}

/* ---- the request ----------------------------------------------------------------- */

/* Connection-specific fields (RFC 9113 8.2.2) and Host (:authority). */
static bool skip_field(const struct http_hdr *h)
{
    struct http_str n = h->name;

    if (http_str_ieq(n, "te", 2))
        return !(h->value.len == 8 && strncasecmp(h->value.p, "trailers", 8) == 0);
    return http_str_ieq(n, "connection", 10) || http_str_ieq(n, "keep-alive", 10) ||
           http_str_ieq(n, "proxy-connection", 16) || http_str_ieq(n, "transfer-encoding", 17) ||
           http_str_ieq(n, "upgrade", 7) || http_str_ieq(n, "http2-settings", 14) ||
           http_str_ieq(n, "host", 4);
}

static nghttp2_nv nv_of(const char *n, size_t nl, const char *v, size_t vl)
{
    return (nghttp2_nv){(uint8_t *)n, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
}

static ssize_t req_body_read(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len,
                             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct up_conn *uc = src->ptr;
    struct stream *s = uc->s;
    struct buf *ib;
    size_t n;

    (void)ng;
    (void)id;
    (void)ud;
    if (!s || s->st != ST_EXCHANGE)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    if (s->replay_sent < s->replay_len) {
        /* an earlier attempt's body first (a retry), then the live bytes */
        n = s->replay_len - s->replay_sent;
        n = n < len ? n : len;
        memcpy(out, s->replay + s->replay_sent, n);
        s->replay_sent += (uint32_t)n;
        return (ssize_t)n;
    }
    ib = *s->ibufp;
    n = s->req_fwd < len ? s->req_fwd : len;
    if (n && ib) {
        memcpy(out, buf_head(ib), n);
        http_replay_keep(s, (const char *)buf_head(ib), n, false);
        buf_consume(ib, n);
        s->req_fwd -= (uint32_t)n;
        s->req_body_started = true;
        if (ib->len == 0) {
            buf_put(&s->w->pool, ib);
            *s->ibufp = NULL;
        }
        if (s->h2c)
            h2_request_consumed(s, n); /* window back to the client */
        s->down->kick(s);              /* more may come from the client */
    }
    if (s->req_done && !s->req_fwd) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->req_trailers && s->req_trailers->nhdrs) {
            const struct http_msg *t = s->req_trailers;
            nghttp2_nv *nv = arena_alloc(&s->arena, t->nhdrs * sizeof(*nv));
            for (uint32_t i = 0; i < t->nhdrs; i++)
                nv[i] = nv_of(t->hdrs[i].name.p, t->hdrs[i].name.len, t->hdrs[i].value.p,
                              t->hdrs[i].value.len);
            if (nghttp2_submit_trailer(ng, uc->h2_id, nv, t->nhdrs) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
        return (ssize_t)n;
    }
    if (!n) {
        uc->h2_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The name in lowercase (RFC 9113 8.2.1): itself when it is already (an
 * HTTP/2 client's always is), else a lowered copy in the arena. */
static const char *lower_name(struct arena *a, struct http_str n)
{
    uint32_t i = 0;
    char *p;

    while (i < n.len && !(n.p[i] >= 'A' && n.p[i] <= 'Z'))
        i++;
    if (i == n.len)
        return n.p;
    p = arena_alloc(a, n.len + 1);
    memcpy(p, n.p, i);
    for (; i < n.len; i++)
        p[i] = (n.p[i] >= 'A' && n.p[i] <= 'Z') ? (char)(n.p[i] - 'A' + 'a') : n.p[i];
    return p;
}

/* HEADERS (+ DATA through the provider) for the stream's request. */
static void submit_request(struct up_conn *uc)
{
    struct uh2_conn *c = uc->h2;
    struct stream *s = uc->s;
    struct http_msg *m = &s->req;
    nghttp2_nv *nv = arena_alloc(&s->arena, (m->nhdrs + 5) * sizeof(*nv));
    nghttp2_data_provider prd = {.source.ptr = uc, .read_callback = req_body_read};
    struct http_str auth = m->authority.p ? m->authority : http_msg_get(m, "host", 4);
    uint32_t k = 0;
    char *path;
    size_t plen;
    int32_t id;

    if (s->h2c && s->h2.chunk_out) {
        /* an HTTP/2 client's body without length: DATA frames here, no
         * chunked framing (h2_conn.c planned it for an HTTP/1.1 server) */
        s->h2.chunk_out = false;
        if (s->h2.end_seen && !s->req_hold.held)
            s->req_done = true;
    }
    plen = m->path.len + (m->query.p ? m->query.len + 1 : 0);
    path = arena_alloc(&s->arena, plen + 2);
    if (m->path.len)
        memcpy(path, m->path.p, m->path.len);
    else
        path[0] = '/', plen++;
    if (m->query.p) {
        size_t at = m->path.len ? m->path.len : 1;
        path[at] = '?';
        memcpy(path + at + 1, m->query.p, m->query.len);
    }
    nv[k++] = nv_of(":method", 7, m->method_str.p, m->method_str.len);
    nv[k++] = c->ep->tls ? nv_of(":scheme", 7, "https", 5) : nv_of(":scheme", 7, "http", 4);
    if (auth.p)
        nv[k++] = nv_of(":authority", 10, auth.p, auth.len);
    nv[k++] = nv_of(":path", 5, path, plen);
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        if (skip_field(&m->hdrs[i]))
            continue;
        nv[k++] = nv_of(lower_name(&s->arena, m->hdrs[i].name), m->hdrs[i].name.len,
                        m->hdrs[i].value.p, m->hdrs[i].value.len);
    }
    /* the HTTP/1.1 serialization took TE off (hop-by-hop); RFC 9113 8.2.2
     * allows `te: trailers`, which gRPC servers require */
    if (m->flags & HTTP_MSG_F_TE_TRAILERS)
        nv[k++] = nv_of("te", 2, "trailers", 8);
    id = nghttp2_submit_request(c->ng, NULL, nv, k,
                                s->req_body == H1_BODY_NONE ? NULL : &prd, uc);
    if (id < 0) {
        uc->h2_status = 502; /* replied from uh2_step */
        return;
    }
    uc->h2_id = id;
    s->req_head_sent = s->req_head->len; /* the head is "sent": HEADERS queued */
    s->t_sent = worker_now_ms(c->w);
}

/* ---- pool ------------------------------------------------------------------------- */

struct up_conn *uh2_take(struct stream *s)
{
    struct endpoint_worker_slot *sl = &s->up.ep->worker[s->w->id];

    for (struct uh2_conn *c = sl->h2_head; c; c = c->next) {
        if (!c->ready || c->goaway || c->closed || c->nstreams >= max_streams(c))
            continue;
        struct up_conn *uc = uc_new(c, s);
        submit_request(uc);
        event_active(&c->ev, EV_TIMEOUT, 0); /* out on the next turn, not nested */
        return uc;
    }
    return NULL;
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    free(arg);
}

/* A closed connection without streams is freed on the next loop turn, once:
 * its last share may go inside conn_close's own loop over its streams. */
static void conn_free_later(struct uh2_conn *c)
{
    if (c->free_queued || c->nstreams)
        return;
    c->free_queued = true;
    event_assign(&c->timer, c->w->base, -1, 0, conn_free_cb, c);
    event_active(&c->timer, EV_TIMEOUT, 0);
}

struct up_conn *uh2_connect(struct stream *s)
{
    struct endpoint *ep = s->up.ep;
    struct endpoint_worker_slot *sl = &ep->worker[s->w->id];
    struct worker *w = s->w;
    struct uh2_conn *c;
    uint32_t lim = UH2_DEFAULT_STREAMS;
    int fd;

    /* what the server said on a ready connection bounds a new one too */
    for (c = sl->h2_head; c; c = c->next)
        if (c->ready && !c->closed) {
            lim = max_streams(c);
            break;
        }
    for (c = sl->h2_head; c; c = c->next)
        if (!c->ready && !c->goaway && !c->closed && c->nstreams < lim)
            return uc_new(c, s); /* router_connected when it is ready */
    fd = upstream_socket_connect(ep);
    if (fd < 0)
        return NULL;
    c = tern_calloc(1, sizeof(*c));
    c->w = w;
    c->hw = s->hw;
    c->ep = ep;
    c->fd = fd;
    if (ep->tls) {
        if (tls_transport_init_client(&c->tr, fd, ep->tls->ctx,
                                      ep->tls->sni_kind == TLS_SNI_STR ? ep->tls->sni : NULL,
                                      NULL) != 0) {
            close(fd);
            free(c);
            return NULL;
        }
    } else {
        transport_plain_init(&c->tr, fd);
    }
    {
        nghttp2_session_callbacks *cbs;
        nghttp2_option *opt;
        nghttp2_settings_entry iv[4];
        uint32_t mfs = s->ws->snap->global.h2_max_frame_size, niv = 3;
        uint32_t win = s->hw->lim.max_head + s->hw->maxrewrite;

        cbs = uh2_callbacks();
        if (nghttp2_option_new(&opt) != 0)
            tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_settings(opt, 32);
        nghttp2_option_set_max_continuations(opt, 8);
        if (nghttp2_session_client_new3(&c->ng, cbs, c, opt, h2_nghttp2_mem()) != 0)
            tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cbs);
        iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
        iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, win};
        iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                         s->hw->lim.max_head};
        if (mfs && mfs != 16384) /* tune.h2.max-frame-size: what we accept */
            iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_FRAME_SIZE, mfs};
        nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv);
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)(win * UH2_DEFAULT_STREAMS));
    }
    c->next = sl->h2_head;
    if (c->next)
        c->next->prev = c;
    sl->h2_head = c;
    c->active_ms = worker_now_ms(w);
    event_assign(&c->ev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 conn_cb, c);
    event_add(&c->ev, NULL);
    evtimer_assign(&c->timer, w->base, idle_cb, c);
    return uc_new(c, s);
}

/* The stream is done with its share: its HTTP/2 stream is cancelled when
 * still open, the up_conn freed. */
void uh2_release(struct up_conn *uc)
{
    struct uh2_conn *c = uc->h2;
    struct stream *s = uc->s;

    if (s && s->uc == uc)
        s->uc = NULL;
    uc->s = NULL;
    if (!c->closed && uc->h2_unacked)
        nghttp2_session_consume_connection(c->ng, uc->h2_unacked); /* dropped bytes */
    uc->h2_unacked = 0;
    if (!c->closed && uc->h2_id > 0) {
        nghttp2_session_set_stream_user_data(c->ng, uc->h2_id, NULL);
        if (!uc->h2_closed)
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, uc->h2_id, NGHTTP2_CANCEL);
    }
    unlink_uc(c, uc);
    if (uc->ibuf)
        buf_put(&uc->w->pool, uc->ibuf);
    free(uc->h2_spill);
    h2_mem_free(uc);
    if (c->closed) {
        conn_free_later(c);
        return;
    }
    {
        /* a retired connection closes from its run (uh2_run), never here:
         * this may be inside one of its own nghttp2 callbacks */
        if (!c->nstreams && c->ready && !c->goaway) {
            uint32_t d = c->ep->pool_purge_delay_ms ? c->ep->pool_purge_delay_ms : 5000;
            struct timeval tv = {d / 1000, (d % 1000) * 1000};
            evtimer_add(&c->timer, &tv);
        }
        event_active(&c->ev, EV_TIMEOUT, 0); /* the RST goes out, or the close */
    }
}

/* ---- the response ------------------------------------------------------------------ */

/* Appends bytes to the stream's response buffer (spilling beyond it). */
static void resp_put(struct up_conn *uc, const void *p, size_t n)
{
    size_t k = 0;

    if (!uc->ibuf)
        uc->ibuf = buf_get(&uc->w->pool);
    if (!uc->h2_spill_len) {
        k = buf_tail_room(uc->ibuf);
        if (k > n)
            k = n;
        memcpy(buf_tail(uc->ibuf), p, k);
        uc->ibuf->len += (uint32_t)k;
    }
    if (k < n) {
        /* a window of payload plus chunk framing: bounded */
        uc->h2_spill = tern_realloc(uc->h2_spill, uc->h2_spill_len + (n - k));
        memcpy(uc->h2_spill + uc->h2_spill_len, (const char *)p + k, n - k);
        uc->h2_spill_len += (uint32_t)(n - k);
    }
}

/* Validated bytes: everything in the buffer is payload (or framing made
 * here); spilled bytes move in as it empties. */
static void resp_settle(struct up_conn *uc)
{
    struct stream *s = uc->s;

    if (uc->h2_spill_len && uc->ibuf) {
        size_t k = buf_tail_room(uc->ibuf);
        if (k > uc->h2_spill_len)
            k = uc->h2_spill_len;
        memcpy(buf_tail(uc->ibuf), uc->h2_spill, k);
        uc->ibuf->len += (uint32_t)k;
        memmove(uc->h2_spill, uc->h2_spill + k, uc->h2_spill_len - k);
        uc->h2_spill_len -= (uint32_t)k;
    }
    if (s && s->resp_head && uc->ibuf)
        s->resp_fwd = uc->ibuf->len;
    if (s && uc->h2_ended && !uc->h2_spill_len && !s->resp_done) {
        s->resp_done = true;
        s->down->kick(s);
    }
}

void uh2_resp_consumed(struct stream *s, size_t n)
{
    struct up_conn *uc = s->uc;
    struct uh2_conn *c = uc->h2;
    size_t credit = n < uc->h2_unacked ? n : uc->h2_unacked;

    buf_consume(uc->ibuf, n);
    s->resp_fwd -= (uint32_t)n;
    resp_settle(uc);
    if (uc->ibuf && uc->ibuf->len == 0 && !uc->h2_spill_len) {
        buf_put(&uc->w->pool, uc->ibuf);
        uc->ibuf = NULL;
    }
    if (credit && !c->closed) {
        /* a stream that ended (END_STREAM came with its last bytes) is
         * closed in nghttp2, but its bytes still hold the connection's
         * window: that part is given back all the same */
        uc->h2_unacked -= (uint32_t)credit;
        if (!uc->h2_closed)
            nghttp2_session_consume(c->ng, uc->h2_id, credit);
        else
            nghttp2_session_consume_connection(c->ng, credit);
        event_active(&c->ev, EV_TIMEOUT, 0); /* the WINDOW_UPDATE goes out */
    }
}

static struct up_conn *uc_of(struct uh2_conn *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    struct uh2_conn *c = ud;
    struct up_conn *uc = uc_of(c, frame->hd.stream_id);
    struct stream *s = uc ? uc->s : NULL;
    struct http_msg *m;

    (void)ng;
    (void)flags;
    if (!s || s->st != ST_EXCHANGE)
        return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && s->resp_head) {
        stream_trailer(s, false, (const char *)name, namelen, (const char *)value, valuelen);
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        uc->h2_status = (uint16_t)atoi((const char *)value);
        return 0;
    }
    if (uc->h2_status < 200)
        return 0; /* interim heads are dropped */
    m = &s->resp;
    if (!m->hdrs || !m->cap) {
        m->kind = HTTP_MSG_RESPONSE;
        m->version = 11;
        m->arena = &s->arena;
        m->cap = s->hw->maxhdr + HTTP_SPARE_HDRS;
        if (m->cap > H2_FIRST_FIELDS + HTTP_SPARE_HDRS)
            m->cap = H2_FIRST_FIELDS + HTTP_SPARE_HDRS;
        m->hdrs = arena_alloc(&s->arena, m->cap * sizeof(*m->hdrs));
        m->nhdrs = 0;
    }
    if (m->nhdrs >= s->hw->maxhdr)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    if (m->nhdrs + HTTP_SPARE_HDRS >= m->cap)
        h2_grow_fields(m, s->hw->maxhdr + HTTP_SPARE_HDRS);
    if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        m->content_length = strtoll((const char *)value, NULL, 10);
        m->flags |= HTTP_MSG_F_HAS_LENGTH;
    }
    {
        /* one arena piece for both strings (NUL-terminated each) */
        char *n = arena_alloc(&s->arena, namelen + valuelen + 2);
        memcpy(n, name, namelen);
        memcpy(n + namelen + 1, value, valuelen);
        m->hdrs[m->nhdrs].name = (struct http_str){n, (uint32_t)namelen};
        m->hdrs[m->nhdrs].value = (struct http_str){n + namelen + 1, (uint32_t)valuelen};
    }
    m->nhdrs++;
    return 0;
}

/* The final response head arrived (HEADERS, END_HEADERS). */
static void response_head(struct uh2_conn *c, struct up_conn *uc, bool end_stream)
{
    struct stream *s = uc->s;
    struct http_msg *m = &s->resp;

    uc->h2_head_end = end_stream; /* a trailers-only gRPC status is read from it */
    if (s->result_hooks && router_attempt_done(s, FILTER_OUTCOME_RESPONSE, TERN_R_NONE,
                                               uc->h2_status))
        return; /* dropped with this share (router closed it) */
    if (!m->hdrs || !m->cap) {
        m->kind = HTTP_MSG_RESPONSE;
        m->arena = &s->arena;
        m->cap = HTTP_SPARE_HDRS;
        m->hdrs = arena_alloc(&s->arena, m->cap * sizeof(*m->hdrs));
    }
    m->version = 11;
    m->status = uc->h2_status;
    m->reason = (struct http_str){NULL, 0};
    s->t_resp = worker_now_ms(c->w);
    s->h1.head_len = 0;
    if (end_stream || s->req.method == HTTP_M_HEAD || m->status == 204 || m->status == 304) {
        s->resp_body = H1_BODY_NONE;
        if (end_stream)
            uc->h2_ended = true;
    } else if (m->flags & HTTP_MSG_F_HAS_LENGTH) {
        s->resp_body = H1_BODY_LENGTH;
        s->h1.content_length = (uint64_t)m->content_length;
    } else {
        s->resp_body = H1_BODY_CHUNKED;
        if (s->cc) {
            /* framed here for the HTTP/1.1 client (RFC 9112 7.1) */
            uc->h2_chunked = true;
            http_msg_add(m, "transfer-encoding", 17, "chunked", 7,
                         s->hw->maxhdr + HTTP_SPARE_HDRS);
        }
    }
    if (!uc->ibuf)
        uc->ibuf = buf_get(&c->w->pool);
    stream_response_head(s);
    if (s->st == ST_EXCHANGE && s->uc == uc) {
        if (s->resp_body == H1_BODY_NONE)
            s->resp_done = true;
        else if (s->resp_body == H1_BODY_LENGTH)
            s->resp_done = uc->h2_ended && !uc->h2_spill_len;
    }
    s->down->kick(s);
}

static void response_end(struct up_conn *uc)
{
    struct stream *s = uc->s;

    if (uc->h2_ended)
        return;
    uc->h2_ended = true;
    if (uc->h2_chunked) {
        const struct http_msg *t = s->resp_trailers;
        resp_put(uc, "0\r\n", 3);
        for (uint32_t i = 0; t && i < t->nhdrs; i++) {
            resp_put(uc, t->hdrs[i].name.p, t->hdrs[i].name.len);
            resp_put(uc, ": ", 2);
            resp_put(uc, t->hdrs[i].value.p, t->hdrs[i].value.len);
            resp_put(uc, "\r\n", 2);
        }
        resp_put(uc, "\r\n", 2);
    }
    if (s->resp_trailers)
        stream_trailers_done(s, false);
    if (s->st == ST_EXCHANGE)
        resp_settle(uc);
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct uh2_conn *c = ud;
    struct up_conn *uc = uc_of(c, id);
    struct stream *s = uc ? uc->s : NULL;

    (void)flags;
    if (!s || s->st != ST_EXCHANGE || !s->resp_head) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    uc->active_ms = worker_now_ms(c->w);
    s->resp_got += (uint32_t)len;
    uc->h2_unacked += (uint32_t)len;
    if (uc->h2_chunked) {
        char hdr[16];
        int k = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
        resp_put(uc, hdr, (size_t)k);
        resp_put(uc, data, len);
        resp_put(uc, "\r\n", 2);
    } else {
        resp_put(uc, data, len);
    }
    resp_settle(uc);
    s->down->kick(s);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct uh2_conn *c = ud;
    struct up_conn *uc;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

    (void)ng;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        uc = uc_of(c, frame->hd.stream_id);
        if (!uc || !uc->s || uc->s->st != ST_EXCHANGE)
            return 0;
        if (!uc->s->resp_head && uc->h2_status >= 200) {
            response_head(c, uc, end); /* uc may be gone (another attempt) */
        } else if (uc->s->resp_head && end) {
            response_end(uc);
        } else if (uc->h2_status < 200) {
            uc->s->resp.nhdrs = 0; /* an interim head: the final one follows */
        }
        break;
    case NGHTTP2_DATA:
        uc = uc_of(c, frame->hd.stream_id);
        if (uc && uc->s && uc->s->st == ST_EXCHANGE && uc->s->resp_head && end)
            response_end(uc);
        break;
    case NGHTTP2_GOAWAY:
        c->goaway = true; /* nghttp2 refuses the streams above last_stream_id */
        break;
    case NGHTTP2_SETTINGS:
        break;
    default:
        break;
    }
    return 0;
}

/* The stream ended before its response did: not processed by the server
 * (refused, above a GOAWAY's last stream) -> another attempt when the
 * request can be sent again; else a failed attempt or a cut. */
static void stream_failed(struct up_conn *uc, uint32_t code)
{
    struct stream *s = uc->s;

    if (!s || s->st != ST_EXCHANGE || s->uc != uc)
        return;
    if (uc->h2_ended) {
        resp_settle(uc);
        return;
    }
    if (s->resp_head) {
        stream_abort(s, TERN_R_UPSTREAM_RESET_AFTER_HEADERS);
        return;
    }
    /* refused: not processed (RFC 9113 8.7); the connection lost before any
     * response byte: safe again for an idempotent method (RFC 9110 9.2.2) */
    if (!s->req_body_started &&
        ((code == NGHTTP2_REFUSED_STREAM && s->up_refused < UH2_REFUSED_MAX) ||
         (code != NGHTTP2_REFUSED_STREAM && !s->resp_got && !s->reuse_retried &&
          http_method_idempotent(s->req.method)))) {
        counter_add(&cst(uc->h2)->http_conn_retries, 1);
        if (code == NGHTTP2_REFUSED_STREAM)
            s->up_refused++;
        else
            s->reuse_retried = true;
        uh2_release(uc);
        router_resend(s);
        s->down->kick(s);
        return;
    }
    if (!router_attempt_done(s, FILTER_OUTCOME_EMPTY_RESPONSE,
                             TERN_R_UPSTREAM_RESET_BEFORE_HEADERS, 0))
        stream_local_reply(s, TERN_R_UPSTREAM_RESET_BEFORE_HEADERS, 0, false);
    s->down->kick(s);
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct uh2_conn *c = ud;
    struct up_conn *uc = uc_of(c, id);

    (void)ng;
    if (!uc)
        return 0;
    uc->h2_closed = true;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    uc->h2_id = -1;
    stream_failed(uc, code);
    return 0;
}

static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame, int err, void *ud)
{
    struct uh2_conn *c = ud;
    struct up_conn *uc;

    (void)err;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    uc = uc_of(c, frame->hd.stream_id);
    if (!uc)
        return 0;
    /* never sent (the connection was retired first): not processed */
    uc->h2_closed = true;
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, NULL);
    uc->h2_id = -1;
    stream_failed(uc, NGHTTP2_REFUSED_STREAM);
    return 0;
}

static nghttp2_session_callbacks *uh2_callbacks(void)
{
    nghttp2_session_callbacks *cbs;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        tern_panic(__FILE__, __LINE__, "nghttp2: out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    return cbs;
}

/* ---- the stream's step (from its client side's run) --------------------------- */

bool uh2_step(struct stream *s)
{
    struct up_conn *uc = s->uc;
    struct uh2_conn *c = uc->h2;
    bool progress = false;

    if (uc->h2_id == 0 && uc->h2_status >= 400) {
        stream_local_reply(s, uc->h2_status == 411 ? TERN_R_BAD_REQUEST
                                                   : TERN_R_BAD_UPSTREAM_RESPONSE,
                           uc->h2_status, false);
        return true;
    }
    if (!c->ready || c->closed)
        return false;
    if (uc->h2_deferred && uc->h2_id > 0 && (s->req_fwd || s->req_done)) {
        uc->h2_deferred = false;
        nghttp2_session_resume_data(c->ng, uc->h2_id);
        progress = true;
    }
    if (progress)
        event_active(&c->ev, EV_TIMEOUT, 0);
    return progress;
}

/* ---- the connection ------------------------------------------------------------ */

static void conn_close(struct uh2_conn *c, enum tern_reason why)
{
    struct endpoint_worker_slot *sl = slot_of(c);

    if (c->closed)
        return;
    c->closed = true;
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    event_del(&c->ev);
    evtimer_del(&c->timer);
    transport_release(&c->tr);
    close(c->fd);
    c->fd = -1;
    if (c->connected)
        counter_add(&est(c)->cur_conns, (uint64_t)-1);
    if (c->ibuf)
        buf_put(&c->w->pool, c->ibuf);
    if (c->out.obuf)
        buf_put(&c->w->pool, c->out.obuf);
    c->ibuf = c->out.obuf = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else if (sl->h2_head == c)
        sl->h2_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    /* the streams on it: what they lost. Each one handled may release its
     * share (unlinking it), so start again from the head each time. */
    for (;;) {
        struct up_conn *uc = c->streams;
        struct stream *s;
        while (uc && uc->h2_id == -2)
            uc = uc->next;
        if (!uc)
            break;
        uc->h2_id = -2; /* handled */
        uc->h2_closed = true;
        s = uc->s;
        if (!s || s->uc != uc)
            continue;
        if (s->st == ST_CONNECTING) {
            router_connect_failed(s, false); /* releases uc */
            s->down->kick(s);
        } else if (s->st == ST_EXCHANGE) {
            stream_failed(uc, why == TERN_R_NONE ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
        }
    }
    conn_free_later(c);
}

static bool conn_read(struct uh2_conn *c)
{
    ssize_t n, r;

    if (!transport_can_read(&c->tr) || (c->out.obuf && c->out.obuf->len) || c->out.pend_len)
        return false;
    n = transport_read_buf(&c->tr, &c->w->pool, &c->ibuf);
    if (n == -1)
        return false;
    if (n == 0 || n < -1) {
        conn_close(c, c->nstreams ? TERN_R_UPSTREAM_RESET_BEFORE_HEADERS : TERN_R_NONE);
        return true;
    }
    c->active_ms = worker_now_ms(c->w);
    counter_add(&cst(c)->bytes_in, (uint64_t)n);
    counter_add(&est(c)->bytes_in, (uint64_t)n);
    r = nghttp2_session_mem_recv(c->ng, (const uint8_t *)buf_head(c->ibuf), c->ibuf->len);
    if (c->closed)
        return true;
    buf_put(&c->w->pool, c->ibuf);
    c->ibuf = NULL;
    if (r < 0) {
        log_warn("%s/%s: HTTP/2 protocol error from the server: %s", c->ep->cluster->name,
                 c->ep->name, nghttp2_strerror((int)r));
        nghttp2_session_terminate_session(c->ng, NGHTTP2_PROTOCOL_ERROR);
        c->goaway = true;
    }
    return true;
}

static bool conn_write(struct uh2_conn *c)
{
    bool progress = false;

    for (;;) {
        ssize_t n;
        if (h2_out_fill(c->ng, &c->out, &c->w->pool) != 0) {
            conn_close(c, TERN_R_UPSTREAM_RESET_BEFORE_HEADERS);
            return true;
        }
        if (c->closed) /* a callback of mem_send ended it */
            return true;
        n = h2_out_write(&c->out, &c->tr, &c->w->pool);
        if (n == TRANSPORT_AGAIN)
            break;
        if (n < 0) {
            conn_close(c, TERN_R_UPSTREAM_RESET_BEFORE_HEADERS);
            return true;
        }
        progress = true;
        c->active_ms = worker_now_ms(c->w);
        counter_add(&cst(c)->bytes_out, (uint64_t)n);
        counter_add(&est(c)->bytes_out, (uint64_t)n);
        if (c->out.obuf && !transport_can_write(&c->tr))
            break;
    }
    return progress;
}

static void uh2_run(struct uh2_conn *c)
{
    if (c->closed || !c->ready)
        return;
    if (c->in_run) {
        c->rerun = true;
        return;
    }
    c->in_run = true;
    for (int turns = 0; turns < 64; turns++) {
        bool progress;
        c->rerun = false;
        progress = conn_read(c);
        if (c->closed)
            break;
        progress |= conn_write(c);
        if (c->closed)
            break;
        if (!progress && !c->rerun)
            break;
    }
    c->in_run = false;
    if (c->closed)
        return;
    if ((!c->out.obuf || !c->out.obuf->len) && !c->out.pend_len && !nghttp2_session_want_read(c->ng) &&
        !nghttp2_session_want_write(c->ng))
        conn_close(c, TERN_R_NONE);
    else if (c->goaway && !c->nstreams && (!c->out.obuf || !c->out.obuf->len))
        conn_close(c, TERN_R_NONE);
}

/* Connected (and handshaken): the waiting streams go. */
static void conn_ready(struct uh2_conn *c)
{
    struct up_conn *uc, *next;

    c->ready = true;
    for (uc = c->streams; uc && !c->closed; uc = next) {
        struct stream *s = uc->s;
        next = uc->next;
        uc->connected = uc->handshaken = true;
        if (!s || s->st != ST_CONNECTING || s->uc != uc)
            continue;
        router_connected(s);
        submit_request(uc);
        s->down->kick(s);
    }
    uh2_run(c);
}

static void conn_failed(struct uh2_conn *c)
{
    conn_close(c, TERN_R_CONNECT_FAILURE); /* its streams' attempts failed */
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uh2_conn *c = arg;

    if (c->closed)
        return;
    if (!c->connected && !(what & (EV_READ | EV_WRITE | EV_CLOSED)))
        return; /* a scheduled run before the connect finished */
    transport_set_ready(&c->tr, (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                                          ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0) |
                                          ((what & EV_CLOSED) ? TRANSPORT_RDHUP : 0)));
    if (!c->connected) {
        if (upstream_connect_error(fd, what)) {
            conn_failed(c);
            return;
        }
        if (!(what & EV_WRITE))
            return;
        c->connected = true;
        c->active_ms = worker_now_ms(c->w);
        counter_add(&est(c)->conns_total, 1);
        counter_add(&est(c)->cur_conns, 1);
    }
    if (!c->ready) {
        int r = transport_handshake(&c->tr);
        const char *proto;
        size_t len;
        if (r == TRANSPORT_AGAIN)
            return;
        if (r != 1 || (transport_is_tls(&c->tr) && tls_transport_alpn(&c->tr, &proto, &len) &&
                       !http_alpn_is_h2((const unsigned char *)proto, (unsigned)len))) {
            if (tls_hs_log_allowed((const struct sockaddr *)&c->ep->addr,
                                   worker_now_ms(c->w)))
                log_warn("%s/%s: TLS handshake for HTTP/2 failed: %s", c->ep->cluster->name,
                         c->ep->name,
                         r != 1 ? transport_reason_name(transport_reason(&c->tr))
                                : "ALPN did not select h2");
            conn_failed(c);
            return;
        }
        conn_ready(c);
        return;
    }
    uh2_run(c);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uh2_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->closed || c->nstreams)
        return;
    nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
    c->goaway = true;
    uh2_run(c);
    if (!c->closed)
        conn_close(c, TERN_R_NONE);
}

void uh2_close_idle(struct endpoint_worker_slot *sl)
{
    struct uh2_conn *c = sl->h2_head, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->nstreams) {
            c->goaway = true; /* uh2_release closes it after its last stream */
            continue;
        }
        if (c->ready) {
            nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
            conn_write(c); /* the GOAWAY, if the socket takes it now */
        }
        if (!c->closed)
            conn_close(c, TERN_R_NONE);
    }
}
