/*
 * upstream_h1.c: HTTP/1.1 connections to servers, and each worker's pool of
 * idle ones.
 *
 * An upstream connection carries one exchange at a time. Its socket has one
 * edge-triggered event, registered once; the callbacks record readiness and
 * run the client connection that owns the stream (h1c_run), which calls
 * upstream_step() to move bytes:
 *
 *   request:  the serialized head (the stream's req_head buffer) and the
 *             body bytes validated in the client's input buffer go out in
 *             one writev; the client buffer is never copied. Content-Length
 *             bodies are counted, chunked ones checked with h1_chunked_parse
 *             and forwarded as they are (extensions, trailers and all).
 *   response: read into this connection's buffer (one tune.bufsize buffer,
 *             taken when bytes arrive, given back when empty); 1xx heads are
 *             dropped except 100 Continue to a client that asked for it; the
 *             final head goes through the response filters and is written
 *             to the client's output; the body is validated the same way
 *             and written to the client straight from this buffer.
 * A full buffer stops the reading of its source: backpressure both ways.
 *
 * Pool (per worker, per endpoint: the endpoint's worker slot): idle
 * connections in a LIFO list, so the most recently used (warmest) is taken
 * first and the oldest drift to the tail where the purge takes them. Which
 * idle connection a request may use is http-reuse's decision
 * (http_reuse.c). Limits: `pool-max-conn` idle connections per endpoint and
 * worker; every `pool-purge-delay` half of the connections that stayed idle
 * that long are closed (HAProxy's meaning). An idle connection whose server
 * closes it (or sends anything) is closed at once.
 *
 * A reused connection that the server closed before any response byte
 * (EOF or reset) is retried once on a new connection when the request is
 * idempotent and none of its body was sent; otherwise 502.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"
#include "proxy/tls/tls.h"
#include "proxy/tls/tls_conf.h"

/* How far down the idle list a request looks for a connection it may use. */
#define IDLE_SCAN_MAX 16

static void up_cb(evutil_socket_t fd, short what, void *arg);

static inline struct endpoint_worker_slot *slot_of(const struct up_conn *uc)
{
    return &uc->ep->worker[uc->w->id];
}

static inline struct endpoint_stats *est(const struct up_conn *uc)
{
    return &uc->ep->stats[uc->w->id];
}

static inline struct cluster_stats *cst(const struct up_conn *uc)
{
    return &uc->ep->cluster->stats[uc->w->id];
}

/* ---- idle list ----------------------------------------------------------------- */

static void idle_push(struct up_conn *uc)
{
    struct endpoint_worker_slot *sl = slot_of(uc);
    struct http_worker *hw = uc->hw;

    uc->prev = NULL;
    uc->next = sl->idle_head;
    if (uc->next)
        uc->next->prev = uc;
    else
        sl->idle_tail = uc;
    sl->idle_head = uc;
    sl->nidle++;
    hw->nidle++;
    uc->idle = true;
    uc->idle_since_ms = worker_now_ms(uc->w);
    if (!hw->purge_armed && hw->purge_period_ms) {
        struct timeval tv = {hw->purge_period_ms / 1000, (hw->purge_period_ms % 1000) * 1000};
        hw->purge_armed = true;
        evtimer_add(&hw->purge_ev, &tv);
    }
}

static void idle_unlink(struct up_conn *uc)
{
    struct endpoint_worker_slot *sl = slot_of(uc);

    if (!uc->idle)
        return;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        sl->idle_head = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    else
        sl->idle_tail = uc->prev;
    uc->prev = uc->next = NULL;
    sl->nidle--;
    uc->hw->nidle--;
    uc->idle = false;
}

/* ---- ownership ----------------------------------------------------------------------
 *
 * uc->owner == cc exactly when cc->owned == uc: a client connection
 * remembers one server connection (the last it used), a server connection
 * one client. Only these two functions change either pointer.
 */

static void disown(struct up_conn *uc)
{
    if (uc->owner) {
        TERN_ASSERT(uc->owner->owned == uc);
        uc->owner->owned = NULL;
        uc->owner = NULL;
    }
}

static void own(struct up_conn *uc, struct h1_conn *cc)
{
    if (uc->owner == cc)
        return;
    disown(uc);
    if (cc->owned)
        disown(cc->owned);
    uc->owner = cc;
    cc->owned = uc;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    free(arg);
}

void upstream_close(struct up_conn *uc)
{
    struct worker *w = uc->w;

    if (uc->h2) {
        uh2_release(uc); /* a stream's share of an HTTP/2 connection */
        return;
    }
    if (uc->closed)
        return;
    uc->closed = true;
    idle_unlink(uc);
    disown(uc);
    if (uc->s && uc->s->uc == uc)
        uc->s->uc = NULL;
    uc->s = NULL;
    event_del(&uc->ev);
    transport_release(&uc->tr);
    free(uc->sni);
    uc->sni = NULL;
    close(uc->fd);
    uc->fd = -1;
    if (uc->connected)
        counter_add(&est(uc)->cur_conns, (uint64_t)-1);
    if (uc->ibuf) {
        buf_put(&w->pool, uc->ibuf);
        uc->ibuf = NULL;
    }
    /* freed on the next loop turn: we may be inside its own callback */
    event_assign(&uc->ev, w->base, -1, 0, reap_cb, uc);
    event_active(&uc->ev, EV_TIMEOUT, 0);
}

/*
 * The SNI a request's connection to `ep` uses (`sni` on the server line):
 * a fixed name, the request's Host without its port, or none. Writes into
 * buf; returns NULL for none.
 */
static const char *request_sni(const struct stream *s, const struct endpoint *ep, char *buf,
                               size_t cap)
{
    const struct tls_upstream *t = ep->tls;
    const char *h;
    size_t n;

    if (!t || t->sni_kind == TLS_SNI_NONE)
        return NULL;
    if (t->sni_kind == TLS_SNI_STR)
        return t->sni;
    if (!s->req.authority.p || !s->req.authority.len)
        return NULL;
    h = s->req.authority.p;
    n = s->req.authority.len;
    if (h[0] == '[')
        return NULL; /* an IPv6 literal: no SNI (RFC 6066 3) */
    for (size_t i = 0; i < n; i++)
        if (h[i] == ':') {
            n = i;
            break;
        }
    if (!n || n >= cap)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return NULL; /* not a host name: sent without SNI */
        buf[i] = c;
    }
    buf[n] = '\0';
    /* an IPv4 literal is no SNI either */
    for (size_t i = 0; i < n; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.'))
            return buf;
    return NULL;
}

/* Whether idle connection uc may carry s: TLS connections are keyed by the
 * SNI they were opened with (the context is the endpoint's, one per server). */
static bool sni_matches(const struct up_conn *uc, const struct stream *s)
{
    char buf[256];
    const char *want;

    if (!uc->ep->tls)
        return true;
    want = request_sni(s, uc->ep, buf, sizeof(buf));
    if (!want || !uc->sni)
        return !want && !uc->sni;
    return strcasecmp(want, uc->sni) == 0;
}

struct up_conn *upstream_connect(struct stream *s)
{
    struct worker *w = s->w;
    struct up_conn *uc;
    struct tls_upstream *t = s->up.ep->tls;
    int fd;

    if (s->up.ep->proto_h2)
        return uh2_connect(s); /* proto h2: a stream of a shared connection */
    fd = upstream_socket_connect(s->up.ep);
    if (fd < 0)
        return NULL;
    uc = tern_calloc(1, sizeof(*uc));
    uc->w = w;
    uc->hw = s->hw;
    uc->ep = s->up.ep;
    uc->fd = fd;
    if (t) {
        char buf[256];
        const char *sni = request_sni(s, uc->ep, buf, sizeof(buf));
        /* resumption: one session per server and worker, when the SNI is fixed */
        struct tls_session_slot *slot =
            t->sni_kind != TLS_SNI_HOST && t->slots ? &t->slots[w->id] : NULL;
        uc->sni = sni ? tern_strdup(sni) : NULL;
        if (tls_transport_init_client(&uc->tr, fd, t->ctx, uc->sni, slot) != 0) {
            free(uc->sni);
            close(fd);
            free(uc);
            return NULL;
        }
    } else {
        transport_plain_init(&uc->tr, fd);
    }
    uc->s = s;
    uc->active_ms = worker_now_ms(w);
    s->uc = uc;
    event_assign(&uc->ev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 up_cb, uc);
    event_add(&uc->ev, NULL);
    return uc;
}

struct up_conn *upstream_take_idle(struct stream *s)
{
    struct h1_conn *cc = s->cc; /* NULL for an HTTP/2 client: owns nothing */
    struct endpoint *ep = s->up.ep;
    enum http_reuse mode = s->up.c->http_reuse;
    bool first = s->first_req;
    bool idem = http_method_idempotent(s->req.method);
    struct up_conn *uc = cc ? cc->owned : NULL;
    int k = 0;

    if (ep->proto_h2)
        return uh2_take(s);
    if (uc && uc->idle && uc->ep == ep &&
        http_reuse_allowed(mode, first, idem, true, uc->private_, uc->nreqs) &&
        sni_matches(uc, s))
        goto take;
    for (uc = ep->worker[s->w->id].idle_head; uc && k < IDLE_SCAN_MAX; uc = uc->next, k++)
        if (http_reuse_allowed(mode, first, idem, cc && uc->owner == cc, uc->private_,
                               uc->nreqs) &&
            sni_matches(uc, s))
            goto take;
    return NULL;
take:
    idle_unlink(uc);
    if (!cc || uc->owner != cc)
        disown(uc); /* another client's: it is not theirs any more */
    uc->s = s;
    uc->active_ms = worker_now_ms(s->w);
    s->uc = uc;
    return uc;
}

void upstream_release_conn(struct up_conn *uc, struct h1_conn *cc, bool keep)
{
    struct endpoint *ep = uc->ep;

    if (uc->h2) {
        uh2_release(uc);
        return;
    }
    uc->s = NULL;
    if (uc->closed)
        return;
    if (!keep || uc->w->stopping || (uc->ibuf && uc->ibuf->len) ||
        (ep->pool_max_conn >= 0 && slot_of(uc)->nidle >= (uint32_t)ep->pool_max_conn)) {
        upstream_close(uc);
        return;
    }
    if (uc->ibuf) {
        buf_put(&uc->w->pool, uc->ibuf);
        uc->ibuf = NULL;
    }
    uc->nreqs++;
    if (!cc) {
        /* an HTTP/2 client's stream: the connection is nobody's */
        uc->private_ = false;
        if (ep->cluster->http_reuse == HTTP_REUSE_NEVER) {
            upstream_close(uc);
            return;
        }
        idle_push(uc);
        return;
    }
    /* The client connection remembers one server connection: the last. A
     * private one it used before is of no use to anybody now. */
    if (cc->owned && cc->owned != uc) {
        struct up_conn *old = cc->owned;
        disown(old);
        if (old->private_ && old->idle)
            upstream_close(old);
    }
    uc->private_ = ep->cluster->http_reuse == HTTP_REUSE_NEVER;
    if (uc->private_ && cc->closing) {
        upstream_close(uc); /* nobody else may use it */
        return;
    }
    own(uc, cc);
    idle_push(uc);
}

void upstream_forget_owner(struct h1_conn *cc)
{
    struct up_conn *uc = cc->owned;

    if (!uc)
        return;
    disown(uc);
    if (uc->private_ && uc->idle)
        upstream_close(uc);
}

static void close_slot(struct endpoint_worker_slot *sl)
{
    while (sl->idle_head)
        upstream_close(sl->idle_head);
    uh2_close_idle(sl);
}

void upstream_close_idle(struct http_worker *hw)
{
    struct snapshot *snap = hw->w->snap;

    for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        for (uint32_t j = 0; j < c->nendpoints; j++)
            if (c->endpoints[j]->worker)
                close_slot(&c->endpoints[j]->worker[hw->w->id]);
    }
}

void upstream_close_idle_gone(struct http_worker *hw, struct snapshot *old)
{
    struct worker *w = hw->w;
    uint64_t gen = ++w->mark_gen;
    struct snapshot *cur = w->snap;

    for (uint32_t i = 0; i < cur->nclusters; i++)
        if (cur->clusters[i]->worker)
            cur->clusters[i]->worker[w->id].mark = gen;
    for (uint32_t i = 0; i < old->nclusters; i++) {
        struct cluster *c = old->clusters[i];
        if (!c->worker || c->worker[w->id].mark == gen)
            continue;
        for (uint32_t j = 0; j < c->nendpoints; j++)
            if (c->endpoints[j]->worker)
                close_slot(&c->endpoints[j]->worker[w->id]);
    }
}

/* HAProxy's pool-purge-delay: each period, half of the connections that
 * stayed idle the whole period are closed (the oldest first). */
void upstream_purge_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_worker *hw = arg;
    struct snapshot *snap = hw->w->snap;
    uint64_t now = worker_now_ms(hw->w);

    hw->purge_armed = false;
    for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        for (uint32_t j = 0; j < c->nendpoints; j++) {
            struct endpoint *ep = c->endpoints[j];
            struct endpoint_worker_slot *sl;
            uint32_t old = 0, kill;
            struct up_conn *uc;

            if (!ep->worker || !ep->pool_purge_delay_ms)
                continue;
            sl = &ep->worker[hw->w->id];
            for (uc = sl->idle_tail; uc && now - uc->idle_since_ms >= ep->pool_purge_delay_ms;
                 uc = uc->prev)
                old++;
            kill = (old + 1) / 2;
            while (kill-- && sl->idle_tail)
                upstream_close(sl->idle_tail);
        }
    }
    if (hw->nidle && hw->purge_period_ms) {
        struct timeval tv = {hw->purge_period_ms / 1000, (hw->purge_period_ms % 1000) * 1000};
        hw->purge_armed = true;
        evtimer_add(&hw->purge_ev, &tv);
    }
}

/* ---- events ------------------------------------------------------------------------- */

/* An idle connection became readable: the server closed it, or sent bytes
 * nobody asked for. Either way it is no longer reusable. Over TLS a read
 * may consume only a record carrying no data (a TLS 1.3 NewSessionTicket
 * after the handshake): that leaves it idle. */
static void idle_event(struct up_conn *uc)
{
    char c;
    ssize_t n;

    if (!transport_is_tls(&uc->tr)) {
        n = recv(uc->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            uc->tr.ready &= (uint8_t)~TRANSPORT_READABLE;
            return;
        }
        upstream_close(uc);
        return;
    }
    while (transport_can_read(&uc->tr)) {
        n = transport_read(&uc->tr, &c, 1);
        if (n == TRANSPORT_AGAIN)
            return;
        upstream_close(uc); /* the end, an error, or a stray byte */
        return;
    }
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *uc = arg;
    struct stream *s = uc->s;

    if (uc->closed)
        return;
    transport_set_ready(&uc->tr, (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                                           ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0) |
                                           ((what & EV_CLOSED) ? TRANSPORT_RDHUP : 0)));
    if (uc->idle || !s) {
        if (uc->tr.ready & (TRANSPORT_READABLE | TRANSPORT_RDHUP))
            idle_event(uc);
        return;
    }
    if (!uc->connected) {
        if (upstream_connect_error(fd, what)) {
            router_connect_failed(s, false);
            s->down->run(s);
            return;
        }
        if (!(what & EV_WRITE))
            return;
        uc->connected = true;
        uc->active_ms = worker_now_ms(uc->w);
        counter_add(&est(uc)->conns_total, 1);
        counter_add(&est(uc)->cur_conns, 1);
    }
    if (!uc->handshaken) {
        /* TLS: the handshake is part of connecting (timeout connect bounds
         * it, a failure is a failed attempt that retries and redispatch
         * handle) */
        int r = transport_handshake(&uc->tr);
        if (r == TRANSPORT_AGAIN)
            return;
        if (r != 1) {
            if (tls_hs_log_allowed((const struct sockaddr *)&uc->ep->addr,
                                   worker_now_ms(uc->w))) {
                log_warn("%s/%s: TLS handshake failed: %s", uc->ep->cluster->name,
                         uc->ep->name, transport_reason_name(transport_reason(&uc->tr)));
            }
            router_connect_failed(s, false);
            s->down->run(s);
            return;
        }
        uc->handshaken = true;
        router_connected(s);
    }
    s->down->run(s);
}

/* ---- byte moving ------------------------------------------------------------------- */


/* One decoded chunked-body event for the filters: payload to the data
 * hooks, trailer fields collected, the end as trailers then a last empty
 * slice. False when a filter holds it (or replied). */
static bool chunk_event_to_filters(struct stream *s, bool request, const struct h1_chunk_event *ev,
                                   uint32_t r)
{
    struct buf *b = request ? *s->ibufp : s->uc->ibuf;
    uint32_t base = request ? s->req_fwd : s->resp_fwd;

    switch (ev->type) {
    case H1_CHUNK_DATA:
        return request ? stream_request_data(s, (uint32_t)ev->data_off, (uint32_t)ev->data_len, r,
                                             false)
                       : stream_response_data(s, (uint32_t)ev->data_off,
                                              (uint32_t)ev->data_len, r, false);
    case H1_CHUNK_TRAILER: {
        const char *line = buf_head(b) + base + ev->data_off;
        stream_trailer(s, request, line + ev->trailer.name.off, ev->trailer.name.len,
                       line + ev->trailer.value.off, ev->trailer.value.len);
        return true;
    }
    case H1_CHUNK_DONE:
        stream_trailers_done(s, request);
        if (s->st != ST_EXCHANGE)
            return false;
        return request ? stream_request_data(s, 0, 0, r, true)
                       : stream_response_data(s, 0, 0, r, true);
    default:
        return true;
    }
}

void upstream_req_data_released(struct stream *s)
{
    s->req_fwd += s->req_hold.fwd;
    s->req_hold.fwd = 0;
    if (s->req_hold.end && !s->h2.chunk_out) /* (h2: done when the last chunk is out) */
        s->req_done = true;
}

void upstream_resp_data_released(struct stream *s)
{
    s->resp_fwd += s->resp_hold.fwd;
    s->resp_hold.fwd = 0;
    if (s->resp_hold.end)
        s->resp_done = true;
}

/* Counts the body bytes now in the client buffer that belong to the
 * request (Content-Length), or checks them (chunked). */
static bool validate_request(struct stream *s)
{
    struct buf *ib = *s->ibufp;
    bool progress = false;

    if (s->h2c)
        return false; /* h2_conn.c validates (nghttp2 checked the framing) */
    if (!ib || s->req_done || ib->len <= s->req_fwd || s->req_hold.held)
        return false;
    if (s->tunnel) {
        if (!s->resp_head)
            return false; /* not until the 101 went out */
        s->bytes_in += ib->len - s->req_fwd;
        s->req_fwd = ib->len;
        return true;
    }
    if (s->req_body == H1_BODY_LENGTH) {
        uint64_t take = ib->len - s->req_fwd;
        if (take > s->req_left)
            take = s->req_left;
        s->req_left -= take;
        s->bytes_in += take;
        if (s->req_data_hooks &&
            !stream_request_data(s, 0, (uint32_t)take, (uint32_t)take, s->req_left == 0))
            return true; /* held by a filter (or it replied): done when released */
        s->req_done = s->req_left == 0;
        s->req_fwd += (uint32_t)take;
        return take > 0;
    }
    while (!s->req_done && ib->len > s->req_fwd) {
        struct h1_chunk_event ev;
        ssize_t r = h1_chunked_parse(&s->req_chunk, buf_head(ib) + s->req_fwd,
                                     ib->len - s->req_fwd, &ev);
        if (r < 0) {
            if (-r < MODEL_H1_ERRORS)
                counter_add(&stream_lst(s)->http_bad_requests[-r], 1);
            stream_fail(s, TERN_R_BAD_REQUEST);
            s->fail_phase = 'D'; /* in the body */
            stream_local_reply(s, TERN_R_BAD_REQUEST, (uint16_t)h1_err_status((int)r), true);
            return true;
        }
        s->bytes_in += (uint64_t)r;
        progress |= r > 0;
        if (s->uc && s->uc->h2) {
            /* to an HTTP/2 server: the payload stays, the framing goes */
            if (!stream_unchunk(s, true, ib, &ev, (uint32_t)r))
                return true;
        } else {
            if (s->req_data_hooks && !chunk_event_to_filters(s, true, &ev, (uint32_t)r))
                return true; /* held by a filter (or it replied) */
            s->req_fwd += (uint32_t)r;
        }
        if (ev.type == H1_CHUNK_DATA && s->l->max_request_body) {
            s->req_body_len += ev.data_len;
            if (s->req_body_len > s->l->max_request_body) {
                /* a 413 while nothing of a response went out, else a cut */
                stream_fail(s, TERN_R_PAYLOAD_TOO_LARGE);
                s->fail_phase = 'D';
                stream_local_reply(s, TERN_R_PAYLOAD_TOO_LARGE, 413, true);
                return true;
            }
        }
        if (ev.type == H1_CHUNK_DONE)
            s->req_done = true;
        else if (ev.type == H1_CHUNK_NEED_MORE)
            break;
    }
    return progress;
}

static bool validate_response(struct stream *s)
{
    struct up_conn *uc = s->uc;
    struct buf *ib = uc->ibuf;
    bool progress = false;

    if (!ib || s->resp_done || ib->len <= s->resp_fwd || s->resp_hold.held)
        return false;
    switch (s->resp_body) {
    case H1_BODY_LENGTH: {
        uint64_t take = ib->len - s->resp_fwd;
        if (take > s->resp_left)
            take = s->resp_left;
        s->resp_left -= take;
        if (s->resp_data_hooks &&
            !stream_response_data(s, 0, (uint32_t)take, (uint32_t)take, s->resp_left == 0))
            return true;
        s->resp_done = s->resp_left == 0;
        s->resp_fwd += (uint32_t)take;
        return take > 0;
    }
    case H1_BODY_UNTIL_CLOSE: {
        uint32_t take = ib->len - s->resp_fwd;
        /* the end comes with the server's FIN (upstream_broken): an empty
         * last slice then */
        if (s->resp_data_hooks && !s->tunnel && !stream_response_data(s, 0, take, take, false))
            return true;
        s->resp_fwd = ib->len;
        return true;
    }
    default:
        break;
    }
    while (!s->resp_done && ib->len > s->resp_fwd) {
        struct h1_chunk_event ev;
        ssize_t r = h1_chunked_parse(&s->resp_chunk, buf_head(ib) + s->resp_fwd,
                                     ib->len - s->resp_fwd, &ev);
        if (r < 0) {
            /* the client has the head already: nothing to do but cut */
            stream_abort(s, TERN_R_BAD_UPSTREAM_RESPONSE);
            return true;
        }
        progress |= r > 0;
        if (s->h2c) {
            /* to HTTP/2: the payload stays, the framing goes (h2_conn.c) */
            if (!stream_unchunk(s, false, ib, &ev, (uint32_t)r))
                return true;
        } else {
            if (s->resp_data_hooks && !chunk_event_to_filters(s, false, &ev, (uint32_t)r))
                return true;
            s->resp_fwd += (uint32_t)r;
        }
        if (ev.type == H1_CHUNK_DONE)
            s->resp_done = true;
        else if (ev.type == H1_CHUNK_NEED_MORE)
            break;
    }
    return progress;
}

/* The connection broke (EOF or error) before the response ended. */
static void upstream_broken(struct stream *s, bool eof)
{
    struct up_conn *uc = s->uc;

    if (s->resp_head) {
        if (eof && s->resp_body == H1_BODY_UNTIL_CLOSE) {
            /* that is how this body ends */
            if (s->resp_data_hooks && !s->tunnel && !stream_response_data(s, 0, 0, 0, true))
                return; /* done when the filter releases it */
            s->resp_done = true;
            return;
        }
        stream_abort(s, TERN_R_UPSTREAM_RESET_AFTER_HEADERS);
        return;
    }
    if (s->resp_got == 0 && s->reused && !s->reuse_retried && !s->req_body_started &&
        http_method_idempotent(s->req.method)) {
        /* the server closed an idle connection as we reused it: once more
         * on a new one (RFC 9110 9.2.2: the method makes that safe) */
        counter_add(&cst(uc)->http_conn_retries, 1);
        upstream_close(uc);
        s->uc = NULL;
        s->reuse_retried = true;
        router_resend(s);
        return;
    }
    if (router_attempt_done(s, s->resp_got ? FILTER_OUTCOME_JUNK_RESPONSE
                                           : FILTER_OUTCOME_EMPTY_RESPONSE,
                            TERN_R_UPSTREAM_RESET_BEFORE_HEADERS, 0))
        return;
    stream_local_reply(s, TERN_R_UPSTREAM_RESET_BEFORE_HEADERS, 0, false);
}

void http_replay_keep(struct stream *s, const char *p, size_t n, bool framed)
{
    if (!s->replay_max || s->replay_overflow || !n)
        return;
    if (framed || (size_t)s->replay_len + n > s->replay_max) {
        s->replay_overflow = true;
        free(s->replay);
        s->replay = NULL;
        s->replay_len = s->replay_sent = s->replay_cap = 0;
        return;
    }
    if (s->replay_len + n > s->replay_cap) {
        uint32_t cap = s->replay_cap ? s->replay_cap : 4096;
        while (cap < s->replay_len + n)
            cap *= 2;
        if (cap > s->replay_max)
            cap = s->replay_max;
        s->replay = tern_realloc(s->replay, cap);
        s->replay_cap = cap;
    }
    memcpy(s->replay + s->replay_len, p, n);
    s->replay_len += (uint32_t)n;
    s->replay_sent += (uint32_t)n;
}

/* Sends the request head's rest, the replayed body of an earlier attempt,
 * and the validated body bytes, in one call. */
static bool send_request(struct stream *s)
{
    struct buf *ib = *s->ibufp;
    struct up_conn *uc = s->uc;
    struct iovec iov[4];
    int n_iov = 0;
    size_t head_rem = s->req_head->len - s->req_head_sent, total = 0;
    size_t rep_rem = s->replay_len - s->replay_sent;
    ssize_t n;

    if (!transport_can_write(&uc->tr) || s->req_send_dead)
        return false;
    if (head_rem) {
        iov[n_iov].iov_base = s->req_head->data + s->req_head_sent;
        iov[n_iov++].iov_len = head_rem;
        total += head_rem;
    }
    if (rep_rem) {
        iov[n_iov].iov_base = s->replay + s->replay_sent;
        iov[n_iov++].iov_len = rep_rem;
        total += rep_rem;
    } else if (s->h2.chunk_out) {
        /* an HTTP/2 body without a length: chunked framing around it */
        int k = h2_chunk_iov(s, iov + n_iov, ib ? buf_head(ib) : NULL, s->req_fwd);
        for (int i = 0; i < k; i++)
            total += iov[n_iov + i].iov_len;
        n_iov += k;
    } else if (s->req_fwd && ib) {
        iov[n_iov].iov_base = buf_head(ib);
        iov[n_iov++].iov_len = s->req_fwd;
        total += s->req_fwd;
    }
    if (!n_iov)
        return false;
    n = transport_writev(&uc->tr, iov, n_iov);
    if (n == TRANSPORT_AGAIN)
        return false;
    if (n < 0) {
        if (s->resp_head) {
            /* the server answered and stopped reading (a 413, say): let
             * the response through, then close both sides */
            s->req_send_dead = true;
            s->server_close = true;
            return true;
        }
        upstream_broken(s, false);
        return true;
    }
    uc->active_ms = worker_now_ms(uc->w);
    counter_add(&cst(uc)->bytes_out, (uint64_t)n);
    counter_add(&est(uc)->bytes_out, (uint64_t)n);
    (void)total;
    if (head_rem) {
        size_t h = (size_t)n < head_rem ? (size_t)n : head_rem;
        s->req_head_sent += (uint32_t)h;
        n -= (ssize_t)h;
        if (s->req_head_sent == s->req_head->len && !s->t_sent)
            s->t_sent = uc->active_ms;
    }
    if (rep_rem) {
        size_t k = (size_t)n < rep_rem ? (size_t)n : rep_rem;
        s->replay_sent += (uint32_t)k;
        n -= (ssize_t)k;
        return true; /* live bytes wait for the replay to be out */
    }
    if (n > 0 && s->h2.chunk_out)
        n = (ssize_t)h2_chunk_sent(s, (size_t)n); /* the payload bytes of it */
    if (n > 0) {
        /* an HTTP/2 client's body without length went chunked: a replay
         * would lack the framing, so none is kept */
        http_replay_keep(s, buf_head(ib), (size_t)n, s->h2.chunk_out);
        buf_consume(ib, (size_t)n);
        s->req_fwd -= (uint32_t)n;
        s->req_body_started = true;
        if (ib->len == 0) {
            buf_put(&s->w->pool, ib);
            *s->ibufp = NULL;
        }
        if (s->h2c)
            h2_request_consumed(s, (size_t)n); /* window back to the client */
    }
    return true;
}

static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Parses response heads at the head of uc->ibuf: 1xx ones are handled
 * here, the final one goes to the filters and out. */
static bool parse_response(struct stream *s)
{
    struct h1_conn *cc = s->cc;
    struct up_conn *uc = s->uc;
    struct http_worker *hw = s->hw;
    bool progress = false;

    while (!s->resp_head && !s->resp_held && uc->ibuf && uc->ibuf->len) {
        struct buf *ib = uc->ibuf;
        ssize_t r = h1_parse_response(buf_head(ib), ib->len, &s->h1, s->hdrs, hw->maxhdr,
                                      &hw->lim);
        if (r == H1_INCOMPLETE)
            break;
        if (r < 0) {
            if (!router_attempt_done(s, FILTER_OUTCOME_JUNK_RESPONSE,
                                     TERN_R_BAD_UPSTREAM_RESPONSE, 0))
                stream_local_reply(s, TERN_R_BAD_UPSTREAM_RESPONSE, 0, false);
            return true;
        }
        progress = true;
        if (s->h1.status < 200) {
            if (s->h1.status == 101 && s->upgrade_req) {
                /* the switch: the head goes to the client, then bytes */
                s->t_resp = worker_now_ms(s->w);
                http_h1_response_msg(&s->resp, &s->arena, buf_head(ib), &s->h1, s->hdrs,
                                     HTTP_SPARE_HDRS);
                if (!http_msg_get(&s->resp, "upgrade", 7).p) {
                    /* RFC 9110 15.2.2: a 101 says what it switches to */
                    stream_local_reply(s, TERN_R_BAD_UPSTREAM_RESPONSE, 0, false);
                    return true;
                }
                s->tunnel = true;
                s->resp_body = H1_BODY_UNTIL_CLOSE;
                stream_response_head(s);
                continue;
            }
            if (s->h1.status == 101) {
                /* a switch nobody asked for (tern sends Upgrade only when the
                 * client did) */
                stream_local_reply(s, TERN_R_BAD_UPSTREAM_RESPONSE, 0, false);
                return true;
            }
            if (s->h1.status == 100 && s->expect_100 && s->req.version == 11 && cc) {
                if (!cc->obuf)
                    cc->obuf = buf_get(&cc->w->pool);
                if (buf_tail_room(cc->obuf) >= sizeof(CONTINUE_100) - 1) {
                    memcpy(buf_tail(cc->obuf), CONTINUE_100, sizeof(CONTINUE_100) - 1);
                    cc->obuf->len += sizeof(CONTINUE_100) - 1;
                    s->bytes_out += sizeof(CONTINUE_100) - 1;
                }
                s->expect_100 = false;
            }
            /* other interim responses are dropped */
            buf_consume(ib, (size_t)r);
            h1_msg_init(&s->h1);
            if (ib->len == 0) {
                buf_put(&s->w->pool, ib);
                uc->ibuf = NULL;
            }
            continue;
        }
        if (s->result_hooks && router_attempt_done(s, FILTER_OUTCOME_RESPONSE, TERN_R_NONE,
                                                   s->h1.status))
            return true; /* this response is dropped with its connection */
        s->t_resp = worker_now_ms(s->w);
        http_h1_response_msg(&s->resp, &s->arena, buf_head(ib), &s->h1, s->hdrs,
                             HTTP_SPARE_HDRS);
        s->resp_body = (uint8_t)h1_response_body(&s->h1, (enum h1_method)s->req.method);
        if (s->resp_body == H1_BODY_TUNNEL) {
            stream_local_reply(s, TERN_R_BAD_UPSTREAM_RESPONSE, 0, false);
            return true;
        }
        stream_response_head(s);
    }
    return progress;
}

bool upstream_step(struct stream *s)
{
    struct up_conn *uc = s->uc;
    bool progress = false;
    ssize_t n;

    if (s->st == ST_EXCHANGE && uc && uc->h2) {
        /* HTTP/2 server: the client's body bytes counted, then its stream */
        progress = validate_request(s);
        if (s->st != ST_EXCHANGE || s->down->gone(s) || s->uc != uc)
            return true;
        return uh2_step(s) || progress;
    }
    if (s->st != ST_EXCHANGE || !uc || !uc->handshaken)
        return false;

    /* request body bytes that arrived, then out with them */
    progress |= validate_request(s);
    if (s->st != ST_EXCHANGE || s->down->gone(s))
        return true;
    progress |= send_request(s);
    if (s->st != ST_EXCHANGE || s->down->gone(s) || s->uc != uc)
        return true;

    /* response bytes: not while a filter holds the head (its strings point
     * into the buffer) nor once the response has ended */
    if (transport_can_read(&uc->tr) && !s->resp_done && !s->resp_held &&
        (!uc->ibuf || buf_tail_room(uc->ibuf) > 0)) {
        n = transport_read_buf(&uc->tr, &uc->w->pool, &uc->ibuf);
        if (n > 0) {
            s->resp_got += (uint32_t)n;
            uc->active_ms = worker_now_ms(uc->w);
            counter_add(&cst(uc)->bytes_in, (uint64_t)n);
            counter_add(&est(uc)->bytes_in, (uint64_t)n);
            progress = true;
        } else if (n == 0 || n == -2) {
            /* what arrived before the end still counts */
            parse_response(s);
            if (s->st != ST_EXCHANGE || s->down->gone(s) || s->uc != uc)
                return true;
            validate_response(s);
            if (s->st != ST_EXCHANGE || s->down->gone(s))
                return true;
            if (s->resp_hold.held)
                return true; /* a filter holds bytes before the end: read it again after */
            if (!s->resp_done)
                upstream_broken(s, n == 0);
            else
                s->server_close = true; /* closed after a complete response */
            return true;
        }
    }
    progress |= parse_response(s);
    if (s->st != ST_EXCHANGE || s->down->gone(s) || s->uc != uc)
        return true;
    if (s->resp_head)
        progress |= validate_response(s);
    return progress;
}

void upstream_resp_consumed(struct stream *s, size_t n)
{
    struct up_conn *uc = s->uc;

    if (uc->h2) {
        uh2_resp_consumed(s, n);
        return;
    }
    buf_consume(uc->ibuf, n);
    s->resp_fwd -= (uint32_t)n;
    if (uc->ibuf->len == 0) {
        buf_put(&uc->w->pool, uc->ibuf);
        uc->ibuf = NULL;
    }
}
