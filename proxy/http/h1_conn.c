/*
 * h1_conn.c: a downstream HTTP/1.1 connection (mode http).
 *
 * I/O as in tcp_proxy.c: one edge-triggered event per socket, registered
 * once; callbacks record readiness and call h1c_run(), which moves every
 * byte that can move, then re-arms the connection's single timer.
 *
 * Buffers: an input buffer (request heads and bodies, pipelined requests)
 * and an output buffer (response heads, local replies), each taken from the
 * worker's pool when bytes arrive and given back as soon as it is empty.
 * Response bodies are written to the client straight from the upstream
 * connection's buffer (writev with the head), never copied. An idle
 * keep-alive connection holds no buffer and no stream: it is this struct
 * alone (well under 1 KiB).
 *
 * Requests are handled one at a time, in order: the next request's bytes
 * wait in the input buffer (the buffer bounds how far a client may send
 * ahead) and are parsed when the previous response is complete. The head
 * is parsed by h1_parse_request as it arrives, resuming where it stopped;
 * it stays where it arrived until the router has serialized it.
 *
 * Ending a connection after a response or an error: the output is flushed,
 * then the write side is shut and input is drained until the client's FIN
 * (at most HTTP_LINGER_MS / HTTP_LINGER_BYTES), so that unread request
 * bytes never make the kernel answer with a reset that would destroy the
 * response before the client reads it.
 *
 * Timeouts (HAProxy's meanings), one timer per connection re-armed lazily:
 *   timeout http-request     the whole head, from the first byte (for the
 *                            first request, from the accept): 408 and close;
 *   timeout http-keep-alive  idle between requests (else http-request, else
 *                            client): silent close;
 *   timeout client           client inactivity while it owes bytes or has
 *                            bytes to read;
 *   timeout server           server inactivity while it owes bytes: 504
 *                            before the response head, a cut after;
 *   timeout connect / queue  from the router's states.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/http/http.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"
#include "proxy/model/model.h"
#include "proxy/tls/tls.h"
#include "proxy/tls/tls_conf.h"

/* Parser errors are counted per code in the listener's stats. */
static_assert(H1_ERR_COUNT <= MODEL_H1_ERRORS, "MODEL_H1_ERRORS too small");
static_assert(TRANSPORT_R_MAX <= MODEL_TLS_REASONS, "MODEL_TLS_REASONS too small");

static void client_cb(evutil_socket_t fd, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void handshake_failed(struct h1_conn *cc);

static inline struct listener_stats *lst(const struct h1_conn *cc)
{
    return &cc->l->stats[cc->w->id];
}

static void gauge_dec(struct counter *g)
{
    counter_add(g, (uint64_t)-1);
}

/* ---- accept and close --------------------------------------------------------- */

static void h1c_accept(struct worker *w, struct worker_listener *wl, int fd,
                       const struct sockaddr *sa, socklen_t salen)
{
    struct http_worker *hw = w->http;
    struct h1_conn *cc;
    uint64_t now = worker_now_ms(w);

    if (wl->b && wl->b->proto == BIND_PROTO_H2 && !wl->b->tls) {
        h2c_accept(w, wl, fd, sa, salen); /* HTTP/2 with prior knowledge */
        return;
    }
    cc = tern_calloc(1, sizeof(*cc));

    cc->w = w;
    cc->hw = hw;
    cc->ws = w->snaps;
    cc->ws->nconns++;
    cc->l = wl->l;
    cc->fd = fd;
    cc->accept_ms = now;
    cc->active_ms = now;
    cc->idle_since_ms = now;
    if (salen <= sizeof(cc->peer))
        memcpy(&cc->peer, sa, salen);
    if (wl->b && wl->b->tls) {
        if (tls_transport_init_server(&cc->tr, fd, tls_bind_ctx(wl->b->tls, w->id)) != 0) {
            transport_plain_init(&cc->tr, fd);
            cc->tr.failed = 1; /* out of memory in the library: closed at once */
        }
        cc->handshaking = true;
        cc->proto_h2 = wl->b->proto == BIND_PROTO_H2;
    } else {
        transport_plain_init(&cc->tr, fd);
    }

    cc->next = hw->conns;
    if (hw->conns)
        hw->conns->prev = cc;
    hw->conns = cc;
    w->nconns++;
    atomic_store_explicit(&w->nconns_shared, w->nconns, memory_order_relaxed);
    counter_add(&w->stats.conns_total, 1);
    counter_add(&w->stats.cur_conns, 1);
    counter_add(&lst(cc)->conns_total, 1);
    counter_add(&lst(cc)->cur_conns, 1);

    event_assign(&cc->ev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 client_cb, cc);
    event_add(&cc->ev, NULL);
    evtimer_assign(&cc->timer, w->base, timer_cb, cc);
    h1c_run(cc); /* arms the first timer; bytes, if any, come with the event */
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    free(arg);
}

void h1c_close(struct h1_conn *cc, int reason)
{
    struct worker *w = cc->w;
    struct http_worker *hw = cc->hw;

    if (cc->closed)
        return;
    if (cc->s) {
        struct stream *s = cc->s;
        stream_fail(s, reason);
        s->abort_client = true;
        stream_end(s);
    }
    upstream_forget_owner(cc);
    cc->closed = true;
    event_del(&cc->ev);
    transport_release(&cc->tr);
    if (cc->tls) {
        tls_peer_identity_clear(&cc->tls->peer);
        tls_peer_identity_clear(&cc->tls->own);
        free(cc->tls);
        cc->tls = NULL;
    }
    close(cc->fd);
    cc->fd = -1;
    cc->timer_at_ms = 0;
    evtimer_del(&cc->timer);
    if (cc->ibuf)
        buf_put(&w->pool, cc->ibuf);
    if (cc->obuf)
        buf_put(&w->pool, cc->obuf);
    cc->ibuf = cc->obuf = NULL;

    gauge_dec(&lst(cc)->cur_conns);
    gauge_dec(&w->stats.cur_conns);
    atomic_fetch_sub_explicit(&cc->l->cur_conns, 1, memory_order_relaxed);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        hw->conns = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    w->nconns--;
    worker_conn_closed(w, cc->ws);

    /* freed on the next loop turn (the timer is free to reuse) */
    evtimer_assign(&cc->timer, w->base, reap_cb, cc);
    event_active(&cc->timer, EV_TIMEOUT, 0);
}

void h1c_follow_snapshot(struct h1_conn *cc)
{
    struct worker *w = cc->w;
    struct worker_snap *old = cc->ws;
    struct listener *nl;

    if (cc->draining)
        return; /* its listener is gone: it ends with this exchange */
    nl = snapshot_find_listener(w->snaps->snap, cc->l->name);
    if (!nl || nl->mode != cc->l->mode)
        return;
    gauge_dec(&lst(cc)->cur_conns);
    atomic_fetch_sub_explicit(&cc->l->cur_conns, 1, memory_order_relaxed);
    cc->l = nl;
    cc->ws = w->snaps;
    cc->ws->nconns++;
    counter_add(&lst(cc)->cur_conns, 1);
    atomic_fetch_add_explicit(&cc->l->cur_conns, 1, memory_order_relaxed);
    worker_snap_put(w, old);
}

void h1c_kick(struct h1_conn *cc)
{
    if (!cc->closed)
        event_active(&cc->ev, 0, 0);
}

/* ---- reading and writing ------------------------------------------------------ */

/* Reads from the client into the input buffer. */
static bool client_read(struct h1_conn *cc, size_t *moved)
{
    ssize_t n;

    if (cc->eof || cc->handshaking || !transport_can_read(&cc->tr))
        return false;
    if (cc->lingering) {
        char sink[4096];
        n = transport_read(&cc->tr, sink, sizeof(sink));
        if (n > 0) {
            cc->linger_bytes += (uint64_t)n;
            if (cc->linger_bytes > HTTP_LINGER_BYTES)
                h1c_close(cc, TERN_R_NONE);
            return true;
        }
        if (n == TRANSPORT_AGAIN)
            return false;
        h1c_close(cc, TERN_R_NONE); /* the client's FIN (or reset): done */
        return true;
    }
    if (cc->ibuf && buf_tail_room(cc->ibuf) == 0)
        return false;
    n = transport_read_buf(&cc->tr, &cc->w->pool, &cc->ibuf);
    if (n > 0) {
        cc->active_ms = worker_now_ms(cc->w);
        counter_add(&lst(cc)->bytes_in, (uint64_t)n);
        *moved += (size_t)n;
        return true;
    }
    if (n == 0) {
        cc->eof = true;
        return true;
    }
    if (n == -1)
        return false;
    h1c_close(cc, HTTP_R_CLIENT_ABORT);
    return true;
}

/* Writes the output buffer, then response body bytes straight from the
 * upstream buffer, in one call. */
static bool client_write(struct h1_conn *cc, size_t *moved)
{
    struct stream *s = cc->s;
    struct iovec iov[2];
    int n_iov = 0;
    size_t total = 0, ob_len = 0;
    ssize_t n;

    if (cc->handshaking || cc->lingering || !transport_can_write(&cc->tr))
        return false;
    if (cc->obuf && cc->obuf->len) {
        ob_len = cc->obuf->len;
        iov[n_iov].iov_base = buf_head(cc->obuf);
        iov[n_iov++].iov_len = ob_len;
        total += ob_len;
    }
    if (s && s->st == ST_EXCHANGE && s->uc && s->resp_head && s->resp_fwd) {
        iov[n_iov].iov_base = buf_head(s->uc->ibuf);
        iov[n_iov++].iov_len = s->resp_fwd;
        total += s->resp_fwd;
    }
    if (!n_iov)
        return false;
    n = transport_writev(&cc->tr, iov, n_iov);
    if (n == TRANSPORT_AGAIN)
        return false;
    if (n < 0) {
        h1c_close(cc, HTTP_R_CLIENT_ABORT);
        return true;
    }
    (void)total;
    cc->active_ms = worker_now_ms(cc->w);
    counter_add(&lst(cc)->bytes_out, (uint64_t)n);
    *moved += (size_t)n;
    if (ob_len) {
        size_t k = (size_t)n < ob_len ? (size_t)n : ob_len;
        buf_consume(cc->obuf, k);
        n -= (ssize_t)k;
        if (cc->obuf->len == 0) {
            buf_put(&cc->w->pool, cc->obuf);
            cc->obuf = NULL;
        }
    }
    if (n > 0) {
        s->bytes_out += (uint64_t)n;
        upstream_resp_consumed(s, (size_t)n);
    }
    return true;
}

/* ---- requests ------------------------------------------------------------------- */

static int reason_of_status(int status)
{
    switch (status) {
    case 414: return TERN_R_URI_TOO_LONG;
    case 431: return TERN_R_HEADERS_TOO_LARGE;
    default: return TERN_R_BAD_REQUEST;
    }
}

/* Parses the request head as far as it arrived. */
static bool parse_head(struct h1_conn *cc, struct stream *s)
{
    struct http_worker *hw = cc->hw;
    struct buf *ib = cc->ibuf;
    ssize_t r;

    if (!ib || !ib->len)
        return false;
    r = h1_parse_request(buf_head(ib), ib->len, &s->h1, s->hdrs, hw->maxhdr, &hw->lim);
    if (r == H1_INCOMPLETE)
        return false;
    if (r < 0) {
        int status = h1_err_status((int)r);
        if (-r < MODEL_H1_ERRORS)
            counter_add(&lst(cc)->http_bad_requests[-r], 1);
        stream_local_reply(s, reason_of_status(status), (uint16_t)status, true);
        return true;
    }
    s->head_ok = true;
    s->t_head = worker_now_ms(cc->w);
    s->bytes_in = (uint64_t)r;
    http_h1_request_msg(&s->req, &s->arena, buf_head(ib), &s->h1, s->hdrs, HTTP_SPARE_HDRS);
    s->req_body = s->h1.body;
    s->req_left = s->h1.content_length;
    if (s->req_body == H1_BODY_CHUNKED)
        h1_chunked_init(&s->req_chunk, &hw->lim);
    s->req_done = s->req_body == H1_BODY_NONE ||
                  (s->req_body == H1_BODY_LENGTH && s->req_left == 0);
    s->expect_100 = (s->h1.flags & H1_F_EXPECT_CONTINUE) != 0;
    if (cc->l->max_request_body && s->req_body == H1_BODY_LENGTH &&
        s->req_left > cc->l->max_request_body) {
        /* known at once: never forwarded, the body never read */
        stream_local_reply(s, TERN_R_PAYLOAD_TOO_LARGE, 413, true);
        return true;
    }
    if (s->req.method == HTTP_M_CONNECT) {
        /* tunnels are not supported yet */
        stream_local_reply(s, TERN_R_BAD_REQUEST, 501, true);
        return true;
    }
    stream_request_head(s);
    return true;
}

/*
 * Whether the request side of a stream whose response is complete is over
 * too. A server may answer before the body has arrived (nginx's `return`
 * does): as HAProxy, tern then goes on forwarding the body, so that both
 * connections stay usable, unless the server stopped reading it, or the
 * client expected a 100 Continue that never came (it will not send the
 * body: the connection closes after the response).
 */
static bool request_over(const struct stream *s)
{
    if (s->req_done && s->req_fwd == 0 && s->req_head_sent == s->req_head->len &&
        s->replay_sent == s->replay_len)
        return true;
    return s->req_send_dead || !s->uc ||
           (s->expect_100 && !s->req_body_started && s->req_fwd == 0);
}

/*
 * A switched connection (101, WebSocket): bytes move both ways (upstream_step
 * does it: the client's buffer is all "request body", the server's all
 * "response body"); each side's FIN is passed on once the bytes before it
 * are out, and the stream ends when both sides have finished.
 */
static bool tunnel_step(struct h1_conn *cc, struct stream *s)
{
    struct up_conn *uc = s->uc;
    bool progress = false;

    if (!uc)
        return false;
    if (cc->eof && !s->req_done && s->req_fwd == 0 && (!cc->ibuf || !cc->ibuf->len)) {
        transport_shutdown(&uc->tr);
        s->req_done = true;
        progress = true;
    }
    if (s->resp_done && !s->tunnel_fin && s->resp_fwd == 0 && (!cc->obuf || !cc->obuf->len)) {
        transport_shutdown(&cc->tr);
        s->tunnel_fin = true;
        progress = true;
    }
    if (s->req_done && s->tunnel_fin) {
        stream_end(s);
        return true;
    }
    return progress;
}

/* Advances the stream; false when nothing changed. */
static bool advance(struct h1_conn *cc)
{
    struct stream *s = cc->s;
    bool progress = false;

    if (!s) {
        if (cc->closing || cc->lingering)
            return false;
        if (cc->ibuf && cc->ibuf->len) {
            stream_new(cc);
            return true;
        }
        if (cc->eof || cc->draining) {
            h1c_close(cc, TERN_R_NONE); /* idle: the client (or tern) is done */
            return true;
        }
        return false;
    }
    switch (s->st) {
    case ST_HEAD:
        progress = parse_head(cc, s);
        if (!cc->closed && cc->s == s && s->st == ST_HEAD && cc->eof) {
            /* the client left in the middle of a head */
            stream_abort(s, HTTP_R_CLIENT_ABORT);
            return true;
        }
        return progress;
    case ST_QUEUED:
        if (s->granted) {
            router_proceed(s);
            return true;
        }
        return false;
    case ST_EXCHANGE:
        progress = upstream_step(s);
        if (cc->closed || cc->s != s || s->st != ST_EXCHANGE)
            return true;
        if (s->tunnel && s->resp_head)
            return tunnel_step(cc, s) || progress;
        if (cc->eof && !s->req_done) {
            /* the request body will never be complete: done once the
             * response is out (the connection then closes), else cut */
            if (s->resp_done && s->resp_fwd == 0 && (!cc->obuf || !cc->obuf->len))
                stream_end(s);
            else if (!s->resp_done)
                stream_abort(s, HTTP_R_CLIENT_ABORT);
            else
                return progress; /* the response is still being written */
            return true;
        }
        if (s->resp_done && s->resp_fwd == 0 && (!cc->obuf || !cc->obuf->len) &&
            request_over(s)) {
            stream_end(s);
            return true;
        }
        return progress;
    case ST_REPLY:
        if (!cc->obuf || !cc->obuf->len) {
            stream_end(s);
            return true;
        }
        return false;
    default:
        return false;
    }
}

/* After a stream: close (flushed, then linger) or wait idle for the next. */
static bool finish(struct h1_conn *cc)
{
    if (cc->s || cc->lingering)
        return false;
    if (cc->closing) {
        if (cc->obuf && cc->obuf->len)
            return false;
        cc->closing = false;
        if (cc->eof) {
            h1c_close(cc, TERN_R_NONE);
            return true;
        }
        /* lingering close: FIN out (TLS: close_notify first), then read
         * until the client's FIN */
        transport_shutdown(&cc->tr);
        cc->lingering = true;
        cc->linger_until_ms = worker_now_ms(cc->w) + HTTP_LINGER_MS;
        if (cc->ibuf) {
            buf_put(&cc->w->pool, cc->ibuf);
            cc->ibuf = NULL;
        }
        if (cc->obuf) {
            buf_put(&cc->w->pool, cc->obuf);
            cc->obuf = NULL;
        }
        return true;
    }
    /* idle between requests: hold nothing */
    if (cc->ibuf && cc->ibuf->len == 0) {
        buf_put(&cc->w->pool, cc->ibuf);
        cc->ibuf = NULL;
    }
    if (cc->obuf && cc->obuf->len == 0) {
        buf_put(&cc->w->pool, cc->obuf);
        cc->obuf = NULL;
    }
    return false;
}

/* ---- timers ---------------------------------------------------------------------- */

static uint32_t first_nonzero(uint32_t a, uint32_t b, uint32_t c)
{
    return a ? a : b ? b : c;
}

static bool client_owes(const struct h1_conn *cc, const struct stream *s)
{
    if (cc->obuf && cc->obuf->len)
        return true; /* bytes for it to read */
    if (s->st == ST_EXCHANGE && s->resp_fwd)
        return true;
    return s->st == ST_EXCHANGE && !s->req_done && !cc->eof &&
           (!cc->ibuf || cc->ibuf->len < cc->ibuf->size);
}

/* Last activity of a tunnel, either way: `timeout tunnel` (HAProxy) replaces
 * the client and server timeouts once the protocol switched. */
static uint64_t tunnel_active_ms(const struct h1_conn *cc, const struct stream *s)
{
    uint64_t a = cc->active_ms;
    if (s->uc && s->uc->active_ms > a)
        a = s->uc->active_ms;
    return a;
}

/* When the connection's next deadline falls, 0 for none. */
static uint64_t next_deadline(const struct h1_conn *cc)
{
    const struct listener *l = cc->l;
    const struct stream *s = cc->s;
    uint64_t d = UINT64_MAX;

    if (cc->lingering)
        return cc->linger_until_ms;
    if (cc->handshaking) {
        uint32_t t = first_nonzero(l->timeout_client_hs_ms, l->timeout_client_ms, 0);
        return t ? cc->accept_ms + t : 0;
    }
    if (!s) {
        if (cc->closing)
            return l->timeout_client_ms ? cc->active_ms + l->timeout_client_ms : 0;
        if (cc->nreq == 0) {
            uint32_t t = first_nonzero(l->timeout_http_request_ms, l->timeout_client_ms, 0);
            return t ? cc->accept_ms + t : 0;
        }
        {
            uint32_t t = first_nonzero(l->timeout_http_keep_alive_ms,
                                       l->timeout_http_request_ms, l->timeout_client_ms);
            return t ? cc->idle_since_ms + t : 0;
        }
    }
    switch (s->st) {
    case ST_HEAD:
        if (l->timeout_http_request_ms)
            return s->t_start + l->timeout_http_request_ms;
        return l->timeout_client_ms ? cc->active_ms + l->timeout_client_ms : 0;
    case ST_ROUTING:
        return l->timeout_client_ms ? s->t_head + l->timeout_client_ms : 0;
    case ST_QUEUED:
    case ST_TURNAROUND:
    case ST_CONNECTING:
    case ST_BACKOFF:
        return s->deadline_ms;
    case ST_EXCHANGE:
        if (s->tunnel && s->resp_head && s->up.c->timeout_tunnel_ms)
            return tunnel_active_ms(cc, s) + s->up.c->timeout_tunnel_ms;
        if (l->timeout_client_ms && client_owes(cc, s))
            d = cc->active_ms + l->timeout_client_ms;
        if (stream_server_deadline(s) < d)
            d = stream_server_deadline(s);
        return d == UINT64_MAX ? 0 : d;
    case ST_REPLY:
        return l->timeout_client_ms ? cc->active_ms + l->timeout_client_ms : 0;
    default:
        return 0;
    }
}

static void arm_timer(struct h1_conn *cc)
{
    uint64_t at = next_deadline(cc), now;
    struct timeval tv;

    if (!at)
        return; /* a pending timer finds nothing to do and is not re-armed */
    if (cc->timer_at_ms && cc->timer_at_ms <= at && evtimer_pending(&cc->timer, NULL))
        return; /* fires first and re-evaluates */
    now = worker_now_ms(cc->w);
    cc->timer_at_ms = at;
    at = at > now ? at - now : 0;
    tv.tv_sec = (time_t)(at / 1000);
    tv.tv_usec = (suseconds_t)((at % 1000) * 1000);
    evtimer_add(&cc->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h1_conn *cc = arg;
    struct stream *s = cc->s;
    uint64_t now = worker_now_ms(cc->w), d;

    cc->timer_at_ms = 0;
    if (cc->closed)
        return;
    d = next_deadline(cc);
    if (!d || now < d) {
        arm_timer(cc);
        return;
    }
    if (cc->handshaking) {
        transport_fail(&cc->tr, TRANSPORT_R_HS_TIMEOUT, 0);
        handshake_failed(cc);
        return;
    }
    if (cc->lingering || (!s && cc->closing)) {
        h1c_close(cc, TERN_R_NONE);
        return;
    }
    if (!s) {
        if (cc->nreq == 0) {
            /* nothing at all within timeout http-request: HAProxy answers 408 */
            s = stream_new(cc);
            stream_local_reply(s, TERN_R_REQUEST_TIMEOUT, 0, true);
            h1c_run(cc);
        } else {
            h1c_close(cc, TERN_R_NONE); /* keep-alive timeout: silent */
        }
        return;
    }
    switch (s->st) {
    case ST_HEAD:
        stream_local_reply(s, TERN_R_REQUEST_TIMEOUT, 0, true);
        break;
    case ST_ROUTING:
        /* a filter held the request too long */
        stream_local_reply(s, TERN_R_UPSTREAM_TIMEOUT, 0, true);
        break;
    case ST_QUEUED:
    case ST_TURNAROUND:
    case ST_CONNECTING:
    case ST_BACKOFF:
        router_timeout(s);
        break;
    case ST_EXCHANGE: {
        uint32_t tc = cc->l->timeout_client_ms;
        if (s->tunnel && s->resp_head && s->up.c->timeout_tunnel_ms) {
            if (now >= tunnel_active_ms(cc, s) + s->up.c->timeout_tunnel_ms)
                stream_abort(s, HTTP_R_CLIENT_TIMEOUT);
            break;
        }
        if (!stream_server_timeout(s, now) && tc && client_owes(cc, s) &&
            now >= cc->active_ms + tc)
            stream_abort(s, HTTP_R_CLIENT_TIMEOUT);
        break;
    }
    case ST_REPLY:
        stream_abort(s, HTTP_R_CLIENT_TIMEOUT);
        break;
    default:
        break;
    }
    h1c_run(cc);
}

/* ---- TLS handshake ------------------------------------------------------------------ */

/* A handshake failed (or timed out): counted by reason, logged at most once
 * per client address per interval, closed. No byte reached a codec. */
static void handshake_failed(struct h1_conn *cc)
{
    enum transport_reason r = transport_reason(&cc->tr);
    const struct sockaddr *sa = (const struct sockaddr *)&cc->peer;

    counter_add(&lst(cc)->tls_hs_failures[r < MODEL_TLS_REASONS ? r : 0], 1);
    if (tls_hs_log_allowed(sa, worker_now_ms(cc->w))) {
        char addr[80];
        log_warn("%s: TLS handshake from %s failed: %s", cc->l->name,
                 tern_format_addr(sa, addr, sizeof(addr)), transport_reason_name(r));
    }
    h1c_close(cc, HTTP_R_CLIENT_ABORT);
}

/*
 * The codec a finished handshake leads to: the one place that reads the
 * negotiated ALPN. "h2" (or a `proto h2` bind, whatever ALPN said, as
 * HAProxy) hands the connection to h2_conn.c (*h2 set); no ALPN, http/1.1
 * or http/1.0 stay here. Returns false when the protocol cannot be served.
 */
static bool choose_codec(struct h1_conn *cc, bool *h2)
{
    const char *proto;
    size_t len;

    *h2 = cc->proto_h2;
    if (!tls_transport_alpn(&cc->tr, &proto, &len))
        return true; /* no ALPN: HTTP/1.1 (or the bind's proto h2) */
    if (http_alpn_is_h2((const unsigned char *)proto, (unsigned)len)) {
        *h2 = true;
        return true;
    }
    if (*h2)
        return true;
    if ((len == 8 && memcmp(proto, "http/1.1", 8) == 0) ||
        (len == 8 && memcmp(proto, "http/1.0", 8) == 0))
        return true;
    return false;
}

/*
 * ALPN chose HTTP/2: the connection (fd, transport, TLS facts, snapshot
 * reference, counters) moves to an h2_conn; this struct is unlinked and
 * freed without closing anything.
 */
static void become_h2(struct h1_conn *cc)
{
    struct http_worker *hw = cc->hw;

    event_del(&cc->ev);
    evtimer_del(&cc->timer);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        hw->conns = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    h2c_adopt(cc);
    cc->closed = true;
    cc->fd = -1;
    evtimer_assign(&cc->timer, cc->w->base, reap_cb, cc);
    event_active(&cc->timer, EV_TIMEOUT, 0);
}

/* Drives the handshake; true once it is done and the codec may run (false
 * too when the connection went to HTTP/2). */
static bool handshake_step(struct h1_conn *cc)
{
    bool h2 = false;
    int r;

    if (!transport_can_read(&cc->tr) && !transport_can_write(&cc->tr) && !cc->tr.failed)
        return false;
    r = transport_handshake(&cc->tr);
    if (r == TRANSPORT_AGAIN)
        return false;
    if (r != 1) {
        handshake_failed(cc);
        return false;
    }
    cc->handshaking = false;
    counter_add(&lst(cc)->tls_handshakes, 1);
    cc->tls = tern_calloc(1, sizeof(*cc->tls));
    cc->tls->sni = tls_transport_sni(&cc->tr);
    if (tls_transport_peer_identity(&cc->tr, &cc->tls->peer) != 0 ||
        ((cc->l->xfcc == XFCC_APPEND_FORWARD || cc->l->xfcc == XFCC_SANITIZE_SET) &&
         cc->tls->peer.verified && tls_transport_own_identity(&cc->tr, &cc->tls->own) != 0) ||
        !choose_codec(cc, &h2)) {
        h1c_close(cc, HTTP_R_CLIENT_ABORT);
        return false;
    }
    cc->tls->acl = (struct acl_conn_tls){
        .c_used = cc->tls->peer.cert_present,
        .c_verify = cc->tls->peer.verify_result,
        .c_s_dn = cc->tls->peer.subject,
        .spiffe_id = cc->tls->peer.spiffe_id,
        .sni = cc->tls->sni,
    };
    if (h2) {
        become_h2(cc);
        return false;
    }
    /* the handshake took the accept's time: timeout http-request starts now */
    cc->accept_ms = worker_now_ms(cc->w);
    return true;
}

/* ---- the run loop ----------------------------------------------------------------- */

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h1_conn *cc = arg;

    if (cc->closed)
        return;
    transport_set_ready(&cc->tr, (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                                           ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0) |
                                           ((what & EV_CLOSED) ? TRANSPORT_RDHUP : 0)));
    h1c_run(cc);
}

void h1c_run(struct h1_conn *cc)
{
    size_t moved = 0;

    if (cc->closed)
        return;
    if (cc->in_run) {
        cc->rerun = true;
        return;
    }
    cc->in_run = true;
    if (cc->handshaking && !handshake_step(cc)) {
        cc->in_run = false;
        if (!cc->closed)
            arm_timer(cc);
        return;
    }
    for (;;) {
        bool progress;

        cc->rerun = false;
        progress = client_read(cc, &moved);
        if (cc->closed)
            break;
        progress |= advance(cc);
        if (cc->closed)
            break;
        progress |= client_write(cc, &moved);
        if (cc->closed)
            break;
        progress |= finish(cc);
        if (cc->closed)
            break;
        if (!progress && !cc->rerun)
            break;
        if (moved >= HTTP_RUN_BUDGET) {
            h1c_kick(cc); /* yield to the other connections; readiness is kept */
            break;
        }
    }
    cc->in_run = false;
    if (!cc->closed)
        arm_timer(cc);
}

/* ---- the worker's entry points --------------------------------------------------- */

/* filter_defer (filters/filter.h), here with the worker's HTTP state it
 * lives in: a LIFO list per worker, run by one event that is activated (not
 * added: no syscall) when the list becomes non-empty. The list is taken whole
 * before the calls, so a call that re-arms lands in a new list. */
void filter_defer(struct filter_stream *fs, struct filter_defer *d)
{
    struct http_worker *hw = fs->s->cc->hw;

    if (d->armed)
        return;
    d->armed = true;
    if (!hw->defer_head)
        event_active(&hw->defer_ev, EV_TIMEOUT, 0);
    d->next = hw->defer_head;
    hw->defer_head = d;
}

static void defer_run(struct http_worker *hw)
{
    struct filter_defer *d = hw->defer_head;

    hw->defer_head = NULL;
    while (d) {
        struct filter_defer *next = d->next;
        d->next = NULL;
        d->armed = false;
        d->cb(d);
        d = next;
    }
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
    defer_run(arg);
}

static void http_worker_init(struct worker *w)
{
    struct http_worker *hw = tern_calloc(1, sizeof(*hw));
    struct snapshot *snap = w->snap;
    uint32_t bufsize = snap->global.bufsize;

    hw->w = w;
    hw->maxhdr = snap->global.http_maxhdr;
    hw->stream_size = sizeof(struct stream) + hw->maxhdr * sizeof(struct h1_header);
    /* HAProxy keeps tune.maxrewrite (1024) of a buffer free beyond the
     * largest head it accepts, so a rewritten head still fits. */
    hw->maxrewrite = bufsize / 2 < 1024 ? bufsize / 2 : 1024;
    h1_limits_default(&hw->lim);
    hw->lim.max_head = bufsize - hw->maxrewrite;
    if (hw->lim.max_line > hw->lim.max_head)
        hw->lim.max_line = hw->lim.max_head;
    hw->lim.max_hdrs = hw->maxhdr;
    hw->lim.max_trailers = hw->maxhdr;
    if (hw->lim.max_trailer_size > bufsize - hw->maxrewrite)
        hw->lim.max_trailer_size = bufsize - hw->maxrewrite;
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        if (c->mode != PROXY_MODE_HTTP)
            continue;
        for (uint32_t j = 0; j < c->nendpoints; j++) {
            uint32_t d = c->endpoints[j]->pool_purge_delay_ms;
            if (d && (!hw->purge_period_ms || d < hw->purge_period_ms))
                hw->purge_period_ms = d;
        }
    }
    evtimer_assign(&hw->purge_ev, w->base, upstream_purge_cb, hw);
    event_assign(&hw->defer_ev, w->base, -1, 0, defer_cb, hw);
    w->http = hw;
}

static void http_stop_accepting(struct worker *w)
{
    struct http_worker *hw = w->http;
    struct h1_conn *cc = hw->conns, *next;

    /* HAProxy's soft stop: idle keep-alive connections close now, busy ones
     * after their current exchange (Connection: close) */
    for (; cc; cc = next) {
        next = cc->next;
        cc->draining = true;
        if (!cc->s && !cc->closing && !cc->lingering && !(cc->ibuf && cc->ibuf->len))
            h1c_close(cc, TERN_R_NONE);
    }
    h2c_stop_accepting(hw);
    upstream_close_idle(hw);
}

static void http_close_all(struct worker *w)
{
    struct http_worker *hw = w->http;

    while (hw->conns)
        h1c_close(hw->conns, HTTP_R_KILLED);
    h2c_close_all(hw);
    upstream_close_idle(hw);
    if (hw->purge_armed) {
        event_del(&hw->purge_ev);
        hw->purge_armed = false;
    }
}

static void http_worker_fini(struct worker *w)
{
    struct http_worker *hw = w->http;

    if (!hw)
        return;
    if (hw->purge_armed)
        event_del(&hw->purge_ev);
    defer_run(hw); /* normally run already: loopexit runs active events */
    event_del(&hw->defer_ev);
    stream_cache_free(hw);
    h2_mem_thread_release();
    free(hw);
    w->http = NULL;
}

static void http_drain_listener(struct worker *w, const char *name,
                                const struct listener *keep, bool now)
{
    struct http_worker *hw = w->http;
    struct h1_conn *cc = hw->conns, *next;

    for (; cc; cc = next) {
        next = cc->next;
        if (cc->closed || cc->l == keep || strcmp(cc->l->name, name) != 0)
            continue;
        if (now) {
            h1c_close(cc, HTTP_R_KILLED);
            continue;
        }
        /* as a soft stop: idle ones close now, busy ones after this exchange */
        cc->draining = true;
        if (!cc->s && !cc->closing && !cc->lingering && !(cc->ibuf && cc->ibuf->len))
            h1c_close(cc, TERN_R_NONE);
    }
}

static void http_release_snapshot(struct worker *w, struct snapshot *old)
{
    if (w->http)
        upstream_close_idle_gone(w->http, old);
}

const struct worker_mode_ops http_mode_ops = {
    .accept = h1c_accept,
    .worker_init = http_worker_init,
    .stop_accepting = http_stop_accepting,
    .close_all = http_close_all,
    .worker_fini = http_worker_fini,
    .drain_listener = http_drain_listener,
    .release_snapshot = http_release_snapshot,
};
