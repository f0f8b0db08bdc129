/*
 * tcp_proxy.c: mode tcp, a bidirectional byte proxy.
 *
 * A connection goes through these states:
 *
 *   accept -> [HANDSHAKE] -> [INSPECT] -> [QUEUED] -> CONNECTING -> ESTABLISHED -> CLOSED
 *                 ^            |
 *                 |            v  (connect failed, retries left)
 *                 +------ [TURNAROUND] (same endpoint after a pause)
 *                          or a new pick (option redispatch)
 *
 * I/O: each socket has ONE edge-triggered libevent event for read and write,
 * registered once for the socket's life, so readiness changes cost no
 * epoll_ctl. The callbacks only record readiness; conn_pump() then moves
 * bytes until every side would block, a buffer is full (backpressure: the
 * source is not read again until the buffer drains) or a per-call budget is
 * spent (fairness: the connection re-queues itself).
 *
 * Buffers: at most one buffer per direction, of tune.bufsize bytes, taken
 * from the worker's pool when bytes arrive and given back as soon as they are
 * all written, so an idle connection holds no buffer.
 *
 * Transports: each side does its I/O through a `struct transport`
 * (proxy/tls/transport.h): plain, or TLS when the bind has `ssl`
 * (termination: HANDSHAKE comes first, bounded by timeout client-hs, and the
 * backend is chosen after it) or the server has `ssl` (the handshake is part
 * of connecting). Readiness lives in the transports.
 *
 * Inspection (tcp-request inspect-delay + tcp-request content rules, and
 * use_backend on req.* fetches): the client's first bytes are read into the
 * client->server buffer, the ClientHello at their start parsed (our parser,
 * proxy/tls/clienthello.c) and the rules evaluated each time bytes arrive,
 * until one decides, or the delay expires, or the client stops sending (EOF,
 * buffer full). The bytes stay in the buffer and go to the server untouched
 * once it is connected: SNI routing without terminating TLS.
 *
 * Half-close: a FIN from one side is passed on (shutdown(SHUT_WR)) once the
 * bytes before it are written; the connection ends when both directions are
 * finished, or on an error or timeout.
 *
 * Timers: one per connection, armed for the state's deadline (queue,
 * connect, turnaround). In the data phase it is armed lazily: I/O only
 * records a timestamp and the timer, when it fires, re-arms itself for the
 * remaining time, so the hot path never touches the timer heap.
 *
 * Memory: a connection is freed on the next loop turn after it closes
 * (deferred destruction), never inside one of its own callbacks.
 *
 * The pick, the endpoint slots, the queue and the retry rules are shared
 * with mode http (upstream.c); this file owns the sockets and the states.
 */
#include "proxy/worker/tcp_proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "filters/network_filter.h"
#include "proxy/acl/acl_types.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"
#include "proxy/lb/lb.h"
#include "proxy/acl/acl.h"
#include "proxy/tls/clienthello.h"
#include "proxy/tls/tls.h"
#include "proxy/tls/tls_conf.h"
#include "proxy/worker/upstream.h"

/* Bytes moved per conn_pump() call before yielding to other connections. */
#define PUMP_BUDGET (256 * 1024)

static void conn_pump(struct conn *c);
static void conn_close(struct conn *c, enum conn_reason why);
static void conn_pick(struct conn *c, const struct endpoint *avoid);
static void conn_granted(struct upstream_req *r);
static void conn_connect(struct conn *c);
static void conn_connect_failed(struct conn *c, bool timeout);
static void conn_start(struct conn *c);
static void conn_handshake(struct conn *c);
static void conn_inspect(struct conn *c, bool expired);

static uint8_t ev_bits(short what)
{
    return (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                     ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0) |
                     ((what & EV_CLOSED) ? TRANSPORT_RDHUP : 0));
}

const char *conn_reason_name(enum conn_reason r)
{
    switch (r) {
    case CR_NONE: return "none";
    case CR_DONE: return "done";
    case CR_CLIENT_RESET: return "client_reset";
    case CR_SERVER_RESET: return "server_reset";
    case CR_CLIENT_TIMEOUT: return "client_timeout";
    case CR_SERVER_TIMEOUT: return "server_timeout";
    case CR_CONNECT_FAILED: return "connect_failed";
    case CR_CONNECT_TIMEOUT: return "connect_timeout";
    case CR_NO_SERVER: return "no_server";
    case CR_QUEUE_TIMEOUT: return "queue_timeout";
    case CR_QUEUE_FULL: return "queue_full";
    case CR_KILLED: return "killed";
    case CR_TLS_HANDSHAKE: return "tls_handshake";
    case CR_DENIED: return "denied";
    }
    return "?";
}

/* HAProxy's two-letter termination state: who ended it, and in which phase. */
static void termination_state(const struct conn *c, char out[3])
{
    char who = '-', phase = '-';

    switch (c->reason) {
    case CR_DONE: who = '-'; break;
    case CR_CLIENT_RESET: who = 'C'; break;
    case CR_SERVER_RESET: who = 'S'; break;
    case CR_CLIENT_TIMEOUT: who = 'c'; break;
    case CR_SERVER_TIMEOUT: who = 's'; break;
    case CR_CONNECT_FAILED: who = 'S'; break;
    case CR_CONNECT_TIMEOUT: who = 's'; break;
    case CR_NO_SERVER: who = 'S'; break;
    case CR_QUEUE_TIMEOUT: who = 's'; break;
    case CR_QUEUE_FULL: who = 'S'; break;
    case CR_KILLED: who = 'K'; break;
    case CR_TLS_HANDSHAKE: who = 'C'; break;
    case CR_DENIED: who = 'P'; break; /* HAProxy: the proxy refused it */
    case CR_NONE: break;
    }
    if (c->reason != CR_DONE) {
        if (c->connected_ms)
            phase = 'D';
        else if (c->reason == CR_QUEUE_TIMEOUT || c->reason == CR_QUEUE_FULL)
            phase = 'Q';
        else
            phase = 'C';
    }
    out[0] = who;
    out[1] = phase;
    out[2] = 0;
}

/* ---- stats helpers --------------------------------------------------------- */

static inline struct listener_stats *lst(struct conn *c)
{
    return &c->l->stats[c->w->id];
}

static inline struct cluster_stats *cst(struct conn *c)
{
    return &c->up.c->stats[c->w->id];
}

static inline struct endpoint_stats *est(struct conn *c)
{
    return &c->up.ep->stats[c->w->id];
}

static inline void gauge_dec(struct counter *g)
{
    counter_add(g, (uint64_t)-1);
}

/* ---- endpoint slots -------------------------------------------------------- */

/* Gives the connection's endpoint slot back (upstream_release), after the
 * endpoint's connection gauge when it was connected. */
static void conn_release_endpoint(struct conn *c)
{
    if (!c->up.ep)
        return;
    if (c->connected_ms)
        gauge_dec(&est(c)->cur_conns);
    upstream_release(&c->up);
}

/* ---- timers ---------------------------------------------------------------- */

static void conn_arm(struct conn *c, uint64_t at_ms)
{
    uint64_t now = worker_now_ms(c->w);
    struct timeval tv;

    if (c->timer_at_ms == at_ms && evtimer_pending(&c->timer, NULL))
        return;
    c->timer_at_ms = at_ms;
    at_ms = at_ms > now ? at_ms - now : 0;
    tv.tv_sec = (time_t)(at_ms / 1000);
    tv.tv_usec = (suseconds_t)((at_ms % 1000) * 1000);
    evtimer_add(&c->timer, &tv);
}

static void conn_disarm(struct conn *c)
{
    c->timer_at_ms = 0;
    evtimer_del(&c->timer);
}

/* Data phase: a side's inactivity counts only while something is expected of
 * it (bytes to read that we have room for, or bytes waiting to be written). */
static bool client_expected(const struct conn *c)
{
    return (!c->c_eof && !(c->c2s && c->c2s->len == c->c2s->size)) ||
           (c->s2c && c->s2c->len);
}

static bool server_expected(const struct conn *c)
{
    return (!c->s_eof && !(c->s2c && c->s2c->len == c->s2c->size)) ||
           (c->c2s && c->c2s->len);
}

static void conn_arm_data_timer(struct conn *c)
{
    uint32_t tc = c->l->timeout_client_ms, ts = c->up.c->timeout_server_ms;
    uint64_t at = UINT64_MAX;

    if (tc && client_expected(c))
        at = c->c_active_ms + tc;
    if (ts && server_expected(c) && c->s_active_ms + ts < at)
        at = c->s_active_ms + ts;
    if (at == UINT64_MAX) {
        /* Nothing expected of either side right now (both directions are
         * blocked on the other): re-check after the shorter timeout. */
        uint32_t t = tc && (!ts || tc < ts) ? tc : ts;
        if (!t) {
            conn_disarm(c);
            return;
        }
        at = worker_now_ms(c->w) + t;
    }
    conn_arm(c, at);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    uint64_t now = worker_now_ms(c->w);

    c->timer_at_ms = 0;
    switch (c->state) {
    case CS_HANDSHAKE:
        transport_fail(&c->ct, TRANSPORT_R_HS_TIMEOUT, 0);
        conn_handshake(c);
        break;
    case CS_INSPECT:
        conn_inspect(c, true); /* the delay is over: decide with what arrived */
        break;
    case CS_QUEUED:
        counter_add(&cst(c)->queue_timeouts, 1);
        conn_close(c, CR_QUEUE_TIMEOUT);
        break;
    case CS_TURNAROUND:
        if (upstream_retake(&c->up))
            conn_connect(c);
        else
            conn_pick(c, NULL); /* the endpoint filled up meanwhile */
        break;
    case CS_CONNECTING:
        /* connect timeout: handled like a failed connect */
        conn_connect_failed(c, true);
        break;
    case CS_ESTABLISHED: {
        uint32_t tc = c->l->timeout_client_ms, ts = c->up.c->timeout_server_ms;
        if (tc && client_expected(c) && now >= c->c_active_ms + tc) {
            conn_close(c, CR_CLIENT_TIMEOUT);
            break;
        }
        if (ts && server_expected(c) && now >= c->s_active_ms + ts) {
            conn_close(c, CR_SERVER_TIMEOUT);
            break;
        }
        conn_arm_data_timer(c);
        break;
    }
    case CS_CLOSED:
        break;
    }
}

/* ---- accept ---------------------------------------------------------------- */

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    transport_set_ready(&c->ct, ev_bits(what));
    if (c->state == CS_HANDSHAKE)
        conn_handshake(c);
    else if (c->state == CS_INSPECT)
        conn_inspect(c, false);
    else
        conn_pump(c);
}

static void server_cb(evutil_socket_t fd, short what, void *arg);

/*
 * The client socket of a plain connection is watched for reading only: a
 * fresh socket is writable, and asking for EPOLLOUT from the start costs a
 * ready event at once and wakeups on every change of send space, for every
 * connection (HAProxy asks only while a send is blocked). The first time a
 * write to the client blocks, the event is re-registered with EV_WRITE, for
 * the rest of the connection's life (edge-triggered: it fires only when space
 * comes back). The ADD checks readiness, so space freed meanwhile is not
 * missed.
 */
static void client_want_write(struct conn *c)
{
    if (c->c_wev)
        return;
    c->c_wev = true;
    event_del(&c->cev);
    event_assign(&c->cev, c->w->base, c->cfd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 client_cb, c);
    event_add(&c->cev, NULL);
}

/* The cluster of a new connection: `use_backend` rules in mode tcp read only
 * the addresses (checked at config load), evaluated once at accept. */
/*
 * What the req.* fetches read: the bytes buffered from the client and the
 * ClientHello at their start. `h` is the caller's (the hello's strings point
 * into it). Returns whether more bytes could still change the answer (nothing
 * yet, or a ClientHello cut short).
 */
static bool payload_fill(const struct conn *c, struct acl_payload *pl, struct tls_hello *h)
{
    const uint8_t *data = c->c2s ? (const uint8_t *)buf_head(c->c2s) : NULL;
    size_t len = c->c2s ? c->c2s->len : 0;
    enum tls_hello_result r;

    memset(pl, 0, sizeof(*pl));
    pl->len = len;
    if (!len)
        return true;
    r = tls_hello_parse(data, len, 0, h);
    if (r == TLS_HELLO_OK) {
        pl->hello_type = h->hs_type;
        /* HAProxy's req.ssl_ver: the record layer's version, major * 65536 + minor */
        pl->ssl_ver = (int64_t)(h->record_version >> 8) * 65536 + (h->record_version & 0xff);
        pl->sni = h->has_sni ? h->sni : NULL;
        if (h->has_alpn && !h->alpn_truncated) {
            pl->alpn = h->alpn;
            pl->alpn_len = h->alpn_len;
        }
    }
    return r == TLS_HELLO_NEED_MORE;
}

static struct cluster *route_tcp(const struct conn *c, const struct sockaddr *sa,
                                 const struct sockaddr *local, const struct acl_payload *pl)
{
    const struct listener *l = c->l;
    struct acl_conn_tls tls;
    struct acl_ctx ctx = {.req = NULL, .res = NULL, .src = sa, .dst = local, .payload = pl};

    if (c->peer_id) {
        tls = (struct acl_conn_tls){
            .c_used = c->peer_id->cert_present,
            .c_verify = c->peer_id->verify_result,
            .c_s_dn = c->peer_id->subject,
            .spiffe_id = c->peer_id->spiffe_id,
            .sni = tls_transport_sni(&c->ct),
        };
        ctx.tls = &tls;
    }

    if (!l->nrules)
        return l->default_cluster;
    return listener_route(l, &ctx);
}

/*
 * The listener's network filters (filters/network_filter.h), in order; the
 * first deny wins. Returns true when the connection may go on.
 */
static bool conn_filters_allow(struct conn *c, const struct sockaddr *local)
{
    struct timeval tv;
    struct network_filter_conn nc = {
        .listener = c->l->name,
        .src = (const struct sockaddr *)&c->peer,
        .dst = local,
        .tls = c->peer_id != NULL,
        .peer_id = c->peer_id ? c->peer_id->spiffe_id : NULL,
        .sni = c->peer_id ? tls_transport_sni(&c->ct) : NULL,
        .worker = c->w->id,
    };

    event_base_gettimeofday_cached(c->w->base, &tv);
    nc.now_us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    for (uint32_t i = 0; i < c->l->nnet_filters; i++) {
        const struct network_filter_instance *f = &c->l->net_filters[i];
        if (f->ops->on_connect(f->cfg, &nc) == NETWORK_FILTER_DENY)
            return false;
    }
    return true;
}

/* The client's side is ready for a backend (after the handshake and the
 * inspection, if any): network filters, route, then pick. */
static void conn_start(struct conn *c)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    const struct sockaddr *dst = NULL;

    struct acl_payload pl;
    struct tls_hello h;

    conn_disarm(c);
    /* the local address only when a rule or a filter may read it (a syscall) */
    if ((c->l->nrules || c->l->nnet_filters || c->l->ntcp_rules) &&
        getsockname(c->cfd, (struct sockaddr *)&local, &len) == 0)
        dst = (const struct sockaddr *)&local;
    if (c->l->nnet_filters && !conn_filters_allow(c, dst)) {
        conn_close(c, CR_DENIED);
        return;
    }
    if (c->l->nrules)
        payload_fill(c, &pl, &h);
    c->state = CS_CONNECTING; /* until the pick says otherwise */
    upstream_req_init(&c->up, c->w,
                      route_tcp(c, (const struct sockaddr *)&c->peer, dst,
                                c->l->nrules ? &pl : NULL),
                      upstream_source_hash(&c->peer), conn_granted);
    if (!c->up.c) {
        conn_close(c, CR_NO_SERVER);
        return;
    }
    counter_add(&cst(c)->conns_total, 1);
    counter_add(&cst(c)->cur_conns, 1);
    conn_pick(c, NULL);
}

/*
 * tcp-request content rules on what the client sent so far (HAProxy's
 * meaning): in order, the first rule whose condition holds accepts or
 * rejects; a rule that reads the payload while more bytes could still
 * change it (nothing yet, a ClientHello cut short) makes the inspection wait
 * before it is evaluated, unless `final` (delay expired, EOF, buffer full);
 * no rule: accept.
 * Returns 1 to go on (accept), 0 to wait, -1 to reject.
 */
static int inspect_rules(struct conn *c, bool final)
{
    const struct listener *l = c->l;
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    struct acl_payload pl;
    struct tls_hello h;
    bool more = payload_fill(c, &pl, &h) && !final;
    struct acl_ctx ctx = {.src = (const struct sockaddr *)&c->peer, .payload = &pl};
    struct acl_conn_tls tls;

    if (getsockname(c->cfd, (struct sockaddr *)&local, &len) == 0)
        ctx.dst = (const struct sockaddr *)&local;
    if (c->peer_id) {
        tls = (struct acl_conn_tls){
            .c_used = c->peer_id->cert_present,
            .c_verify = c->peer_id->verify_result,
            .c_s_dn = c->peer_id->subject,
            .spiffe_id = c->peer_id->spiffe_id,
            .sni = tls_transport_sni(&c->ct),
        };
        ctx.tls = &tls;
    }
    for (uint32_t i = 0; i < l->ntcp_rules; i++) {
        const struct tcp_content_rule *r = &l->tcp_rules[i];
        if (r->payload && more)
            return 0; /* cannot decide yet (an `unless` would on nothing) */
        if (!r->cond || acl_cond_eval(r->cond, &ctx))
            return r->action == TCP_CONTENT_ACCEPT ? 1 : -1;
    }
    /* no rule decided; use_backend rules on the payload wait the same way */
    if (more && l->inspect_delay_ms && l->nrules)
        return 0;
    return 1;
}

/* CS_INSPECT: reads what the client sends (into c2s, kept for the server)
 * and runs the content rules; `expired`: the inspect delay is over. */
static void conn_inspect(struct conn *c, bool expired)
{
    struct worker *w = c->w;
    int r;

    while (!c->c_eof && transport_can_read(&c->ct) &&
           (!c->c2s || c->c2s->len < c->c2s->size)) {
        ssize_t n = transport_read_buf(&c->ct, &w->pool, &c->c2s);
        if (n > 0) {
            c->bytes_in += (uint64_t)n;
            c->c_active_ms = worker_now_ms(w);
            counter_add(&lst(c)->bytes_in, (uint64_t)n);
        } else if (n == 0) {
            c->c_eof = true;
        } else if (n == -2) {
            conn_close(c, CR_CLIENT_RESET);
            return;
        } else {
            break;
        }
    }
    r = inspect_rules(c, expired || c->c_eof || (c->c2s && c->c2s->len == c->c2s->size));
    if (r == 0)
        return; /* wait for more bytes or the delay */
    if (r < 0) {
        conn_close(c, CR_DENIED);
        return;
    }
    conn_start(c);
}

/* The client's side is ready (accepted, or its handshake done): inspect
 * first when the listener asks for it, else start at once. */
static void conn_ready(struct conn *c)
{
    const struct listener *l = c->l;

    if (!l->ntcp_rules && !l->inspect_delay_ms) {
        conn_start(c);
        return;
    }
    c->state = CS_INSPECT;
    conn_disarm(c);
    if (l->inspect_delay_ms)
        conn_arm(c, worker_now_ms(c->w) + l->inspect_delay_ms);
    conn_inspect(c, l->inspect_delay_ms == 0);
}

/* bind ... ssl: drives the client's handshake; failures are counted by
 * reason, logged at most once per address per interval, and closed. */
static void conn_handshake(struct conn *c)
{
    int r = c->ct.failed ? TRANSPORT_ERROR : transport_handshake(&c->ct);

    if (r == TRANSPORT_AGAIN)
        return;
    if (r != 1) {
        enum transport_reason why = transport_reason(&c->ct);
        const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
        counter_add(&lst(c)->tls_hs_failures[why < MODEL_TLS_REASONS ? why : 0], 1);
        if (tls_hs_log_allowed(sa, worker_now_ms(c->w))) {
            char addr[80];
            log_warn("%s: TLS handshake from %s failed: %s", c->l->name,
                     tern_format_addr(sa, addr, sizeof(addr)), transport_reason_name(why));
        }
        conn_close(c, CR_TLS_HANDSHAKE);
        return;
    }
    counter_add(&lst(c)->tls_handshakes, 1);
    c->peer_id = tern_calloc(1, sizeof(*c->peer_id));
    if (tls_transport_peer_identity(&c->ct, c->peer_id) != 0) {
        conn_close(c, CR_TLS_HANDSHAKE);
        return;
    }
    c->c_active_ms = worker_now_ms(c->w);
    conn_ready(c);
}

void tcp_proxy_accept(struct worker *w, struct worker_listener *wl, int fd,
                      const struct sockaddr *sa, socklen_t salen)
{
    struct conn *c = tern_calloc(1, sizeof(*c));
    uint64_t now = worker_now_ms(w);

    /* TCP_NODELAY is inherited from the listening socket. */
    c->w = w;
    c->ws = w->snaps;
    c->ws->nconns++;
    c->l = wl->l;
    c->cfd = fd;
    c->sfd = -1;
    c->accept_ms = now;
    c->c_active_ms = now;
    if (salen <= sizeof(c->peer))
        memcpy(&c->peer, sa, salen);
    transport_plain_init(&c->st, -1);
    if (wl->b && wl->b->tls) {
        if (tls_transport_init_server(&c->ct, fd, tls_bind_ctx(wl->b->tls, w->id)) != 0) {
            transport_plain_init(&c->ct, fd);
            transport_fail(&c->ct, TRANSPORT_R_TLS_INTERNAL, 0);
        }
        c->state = CS_HANDSHAKE;
    } else {
        transport_plain_init(&c->ct, fd);
    }

    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    atomic_store_explicit(&w->nconns_shared, w->nconns, memory_order_relaxed);
    counter_add(&w->stats.conns_total, 1);
    counter_add(&w->stats.cur_conns, 1);
    counter_add(&lst(c)->conns_total, 1);
    counter_add(&lst(c)->cur_conns, 1);

    if (transport_is_tls(&c->ct)) {
        /* the handshake writes from the start */
        c->c_wev = true;
        event_assign(&c->cev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                     client_cb, c);
    } else {
        transport_set_ready(&c->ct, TRANSPORT_WRITABLE); /* see client_want_write */
        event_assign(&c->cev, w->base, fd, EV_READ | EV_CLOSED | EV_ET | EV_PERSIST, client_cb, c);
    }
    event_add(&c->cev, NULL);
    evtimer_assign(&c->timer, w->base, timer_cb, c);

    if (c->state == CS_HANDSHAKE) {
        uint32_t t = c->l->timeout_client_hs_ms ? c->l->timeout_client_hs_ms
                                                 : c->l->timeout_client_ms;
        if (t)
            conn_arm(c, now + t);
        if (c->ct.failed)
            conn_handshake(c);
        return; /* the first bytes come with the event */
    }
    conn_ready(c);
}

/* ---- load balancing and the queue ---------------------------------------- */

/* Chooses an endpoint and connects, or queues when all are full. Returns
 * with the connection connecting, queued or closed. */
static void conn_pick(struct conn *c, const struct endpoint *avoid)
{
    uint32_t tq;

    switch (upstream_pick(&c->up, avoid)) {
    case UPSTREAM_PICKED:
        conn_connect(c);
        return;
    case UPSTREAM_QUEUED:
        c->state = CS_QUEUED;
        tq = upstream_queue_timeout_ms(c->up.c);
        if (tq)
            conn_arm(c, c->up.queue_start_ms + tq);
        return;
    case UPSTREAM_NO_SERVER:
        conn_close(c, CR_NO_SERVER);
        return;
    case UPSTREAM_QUEUE_FULL:
        conn_close(c, CR_QUEUE_FULL);
        return;
    }
}

/* Out of the queue with an endpoint slot: connect. */
static void conn_granted(struct upstream_req *r)
{
    struct conn *c = (struct conn *)((char *)r - offsetof(struct conn, up));

    conn_disarm(c);
    conn_connect(c);
}

/* ---- connecting ------------------------------------------------------------ */

static void server_close_fd(struct conn *c)
{
    if (c->sfd < 0)
        return;
    event_del(&c->sev);
    transport_release(&c->st);
    transport_plain_init(&c->st, -1);
    close(c->sfd);
    c->sfd = -1;
    c->s_handshaken = false;
}

static void conn_established(struct conn *c)
{
    uint64_t now = worker_now_ms(c->w);

    c->state = CS_ESTABLISHED;
    c->connected_ms = now;
    c->s_active_ms = now;
    counter_add(&est(c)->conns_total, 1);
    counter_add(&est(c)->cur_conns, 1);
    conn_arm_data_timer(c);
    conn_pump(c);
}

static void conn_connect_failed(struct conn *c, bool timeout)
{
    struct endpoint *ep = c->up.ep;
    uint32_t pause = 0;

    server_close_fd(c);
    switch (upstream_connect_failed(&c->up, timeout, &pause)) {
    case UPSTREAM_GIVE_UP:
        conn_close(c, timeout ? CR_CONNECT_TIMEOUT : CR_CONNECT_FAILED);
        return;
    case UPSTREAM_REDISPATCH:
        conn_pick(c, ep);
        return;
    case UPSTREAM_RETRY_NOW:
        conn_connect(c);
        return;
    case UPSTREAM_RETRY_LATER:
        c->state = CS_TURNAROUND;
        conn_arm(c, worker_now_ms(c->w) + pause);
        return;
    }
}

static void conn_connect(struct conn *c)
{
    uint64_t now = worker_now_ms(c->w);
    int fd;

    c->state = CS_CONNECTING;
    c->connect_start_ms = now;
    /* out of fds or memory, unreachable at once: a failed attempt like any other */
    fd = upstream_socket_connect(c->up.ep);
    if (fd < 0) {
        conn_connect_failed(c, false);
        return;
    }
    c->sfd = fd;
    if (c->up.ep->tls) {
        struct tls_upstream *t = c->up.ep->tls;
        if (tls_transport_init_client(&c->st, fd, t->ctx,
                                      t->sni_kind == TLS_SNI_STR ? t->sni : NULL,
                                      t->slots ? &t->slots[c->w->id] : NULL) != 0) {
            close(fd);
            c->sfd = -1;
            conn_connect_failed(c, false);
            return;
        }
    } else {
        transport_plain_init(&c->st, fd);
    }
    event_assign(&c->sev, c->w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 server_cb, c);
    event_add(&c->sev, NULL);
    if (c->up.c->timeout_connect_ms)
        conn_arm(c, now + c->up.c->timeout_connect_ms);
}

static void server_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    if (c->state == CS_CONNECTING) {
        int r;
        if (!c->s_handshaken) {
            if (!(c->st.ready & TRANSPORT_WRITABLE)) {
                /* TCP connect in progress */
                if (upstream_connect_error(fd, what)) {
                    conn_connect_failed(c, false);
                    return;
                }
                if (!(what & EV_WRITE))
                    return; /* not connected yet */
            }
            transport_set_ready(&c->st, ev_bits(what));
            /* server ... ssl: the handshake is part of connecting (timeout
             * connect bounds it; a failure is a failed attempt) */
            r = transport_handshake(&c->st);
            if (r == TRANSPORT_AGAIN)
                return;
            if (r != 1) {
                if (tls_hs_log_allowed((const struct sockaddr *)&c->up.ep->addr,
                                       worker_now_ms(c->w)))
                    log_warn("%s/%s: TLS handshake failed: %s", c->up.c->name, c->up.ep->name,
                             transport_reason_name(transport_reason(&c->st)));
                conn_connect_failed(c, false);
                return;
            }
            c->s_handshaken = true;
        }
        conn_disarm(c);
        conn_established(c);
        return;
    }
    transport_set_ready(&c->st, ev_bits(what));
    conn_pump(c);
}

/* ---- the byte pump --------------------------------------------------------- */

/* Writes buffered bytes to `fd`. Returns bytes written, -1 when it would
 * block (clears *writable), -2 on error. Releases the buffer once empty. */
static ssize_t pump_write(struct worker *w, struct transport *t, struct buf **bp)
{
    struct buf *b = *bp;
    struct iovec iov = {buf_head(b), b->len};
    ssize_t n = transport_writev(t, &iov, 1);

    if (n == TRANSPORT_AGAIN)
        return -1;
    if (n < 0)
        return -2;
    buf_consume(b, (size_t)n);
    if (b->len == 0) {
        buf_put(&w->pool, b);
        *bp = NULL;
    }
    return n;
}

static void fin_unlink(struct conn *c)
{
    if (!c->fin_wait)
        return;
    if (c->fin_prev)
        c->fin_prev->fin_next = c->fin_next;
    else
        c->w->fin_head = c->fin_next;
    if (c->fin_next)
        c->fin_next->fin_prev = c->fin_prev;
    c->fin_prev = c->fin_next = NULL;
    c->fin_wait = false;
}

/* Runs after the loop's next poll: the deferred FINs go out now, unless the
 * other side's FIN arrived meanwhile and the connection simply closes. */
void tcp_proxy_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    while (w->fin_head) {
        struct conn *c = w->fin_head;
        fin_unlink(c);
        c->fin_due = true;
        conn_pump(c);
    }
}

/*
 * Passes a FIN on to the socket `fd` (the bytes before it are written).
 * When the same side has finished too (`side_done`), nothing is sent: the
 * connection is about to close, and close(2) sends the FIN. When the last
 * bytes went out corked (t->fin_next: the end was known when they were
 * written), the FIN goes at once and leaves in the same segment, as
 * HAProxy's does: the peer then acknowledges both with one segment, or with
 * its own FIN. Otherwise the shutdown waits for the loop's next poll
 * (fin_cb): the other side often finishes within that time (a client that
 * closes once it has the response), and one close(2) then replaces
 * shutdown(2) + close(2). Returns true when the FIN counts as passed on.
 */
static bool pass_fin(struct conn *c, struct transport *t, bool side_done)
{
    struct worker *w = c->w;

    if (side_done)
        return true;
    if (!c->fin_due && !t->fin_next) {
        if (!c->fin_wait) {
            c->fin_wait = true;
            c->fin_prev = NULL;
            c->fin_next = w->fin_head;
            if (w->fin_head)
                w->fin_head->fin_prev = c;
            w->fin_head = c;
            if (!evtimer_pending(&w->fin_ev, NULL)) {
                struct timeval zero = {0, 0};
                evtimer_add(&w->fin_ev, &zero);
            }
        }
        return false;
    }
    transport_shutdown(t);
    return true;
}

static void conn_pump(struct conn *c)
{
    struct worker *w = c->w;
    size_t moved = 0;
    bool progress;
    uint64_t now;

    if (c->state == CS_CLOSED)
        return;
    now = worker_now_ms(w);
    do {
        ssize_t n;
        progress = false;

        /* client -> buffer (also while connecting: at most one buffer). A
         * second read when the FIN is queued behind the bytes (RDHUP): the
         * bytes are then written on with the end known (see pass_fin). */
        for (int r = 0; r < 2 && c->state != CS_HANDSHAKE && transport_can_read(&c->ct) &&
                        !c->c_eof && (!c->c2s || c->c2s->len < c->c2s->size);
             r++) {
            n = transport_read_buf(&c->ct, &w->pool, &c->c2s);
            if (n > 0) {
                c->bytes_in += (uint64_t)n;
                c->c_active_ms = now;
                counter_add(&lst(c)->bytes_in, (uint64_t)n);
                moved += (size_t)n;
                progress = true;
            } else if (n == 0) {
                c->c_eof = true;
                progress = true;
            } else if (n == -2) {
                conn_close(c, CR_CLIENT_RESET);
                return;
            }
            if (n <= 0 || !(c->ct.ready & TRANSPORT_RDHUP))
                break;
        }
        if (c->state != CS_ESTABLISHED)
            break;

        /* buffer -> server */
        if (c->c2s && transport_can_write(&c->st)) {
            c->st.fin_next = c->c_eof && !transport_is_tls(&c->st);
            n = pump_write(w, &c->st, &c->c2s);
            if (n > 0) {
                c->s_active_ms = now;
                counter_add(&cst(c)->bytes_out, (uint64_t)n);
                counter_add(&est(c)->bytes_out, (uint64_t)n);
                progress = true;
            } else if (n == -2) {
                conn_close(c, CR_SERVER_RESET);
                return;
            }
        }
        if (c->c_eof && !c->c2s && !c->s_shut && pass_fin(c, &c->st, c->s_eof && !c->s2c)) {
            c->s_shut = true;
            progress = true;
        }

        /* server -> buffer (read on to a queued FIN, as above) */
        for (int r = 0; r < 2 && transport_can_read(&c->st) && !c->s_eof &&
                        (!c->s2c || c->s2c->len < c->s2c->size);
             r++) {
            n = transport_read_buf(&c->st, &w->pool, &c->s2c);
            if (n > 0) {
                c->s_active_ms = now;
                counter_add(&cst(c)->bytes_in, (uint64_t)n);
                counter_add(&est(c)->bytes_in, (uint64_t)n);
                moved += (size_t)n;
                progress = true;
            } else if (n == 0) {
                c->s_eof = true;
                progress = true;
            } else if (n == -2) {
                conn_close(c, CR_SERVER_RESET);
                return;
            }
            if (n <= 0 || !(c->st.ready & TRANSPORT_RDHUP))
                break;
        }

        /* buffer -> client */
        if (c->s2c && transport_can_write(&c->ct)) {
            c->ct.fin_next = c->s_eof && !transport_is_tls(&c->ct);
            n = pump_write(w, &c->ct, &c->s2c);
            if (n > 0) {
                c->bytes_out += (uint64_t)n;
                c->c_active_ms = now;
                counter_add(&lst(c)->bytes_out, (uint64_t)n);
                progress = true;
            } else if (n == -2) {
                conn_close(c, CR_CLIENT_RESET);
                return;
            }
            if (c->s2c && !transport_can_write(&c->ct))
                client_want_write(c);
        }
        if (c->s_eof && !c->s2c && !c->c_shut && pass_fin(c, &c->ct, c->c_eof && !c->c2s)) {
            c->c_shut = true;
            progress = true;
        }

        if (c->c_shut && c->s_shut) {
            conn_close(c, CR_DONE);
            return;
        }
        if (moved >= PUMP_BUDGET && progress) {
            /* Yield: run again after the other ready connections. The
             * readiness flags are kept, so nothing is lost. */
            event_active(&c->cev, 0, 0);
            return;
        }
    } while (progress);
}

/* ---- closing --------------------------------------------------------------- */

static void conn_log(struct conn *c)
{
    struct worker *w = c->w;
    char addr[80], state[3];
    struct timeval tv;
    uint64_t now = worker_now_ms(w);
    long long tw = -1, tcn = -1;

    if (!c->l->access_log)
        return;
    event_base_gettimeofday_cached(w->base, &tv);
    termination_state(c, state);
    if (c->connect_start_ms || c->state == CS_QUEUED)
        tw = (long long)(c->state == CS_QUEUED ? now - c->up.queue_start_ms : c->up.queue_ms);
    if (c->connected_ms)
        tcn = (long long)(c->connected_ms - c->connect_start_ms);
    accesslog_printf(&w->alog,
                     "%s [%s.%03ld] %s %s/%s %lld/%lld/%llu %llu/%llu %s %lld/%d/%llu/%d/%u "
                     "%u/%u reason=%s%s%s",
                     tern_format_addr((const struct sockaddr *)&c->peer, addr, sizeof(addr)),
                     accesslog_date(&w->alog, tv.tv_sec),
                     (long)tv.tv_usec / 1000, c->l->name, c->up.c ? c->up.c->name : "<NOSRV>",
                     c->up.ep ? c->up.ep->name : "<NOSRV>", tw, tcn,
                     (unsigned long long)(now - c->accept_ms), (unsigned long long)c->bytes_in,
                     (unsigned long long)c->bytes_out, state, (long long)workers_active_conns(),
                     atomic_load_explicit(&c->l->cur_conns, memory_order_relaxed),
                     c->up.c ? (unsigned long long)counter_get(&cst(c)->cur_conns) : 0ULL,
                     c->up.ep ? atomic_load_explicit(&c->up.ep->cur_conns, memory_order_relaxed)
                              : 0,
                     (unsigned)c->up.retries_done, 0u,
                     c->up.c ? c->up.c->worker[w->id].queue_len : 0u,
                     conn_reason_name(c->reason), c->peer_id ? " peer=" : "",
                     c->peer_id ? (c->peer_id->spiffe_id ? c->peer_id->spiffe_id : "-") : "");
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    free(arg);
}

/* Ends the connection: logs it, gives everything back, and frees it on the
 * next loop turn (the caller may be one of its callbacks). */
static void conn_close(struct conn *c, enum conn_reason why)
{
    struct worker *w = c->w;

    if (c->state == CS_CLOSED)
        return;
    upstream_unqueue(&c->up);
    fin_unlink(c);
    c->reason = why;
    conn_log(c);
    c->state = CS_CLOSED;

    event_del(&c->cev);
    transport_release(&c->ct);
    if (c->peer_id) {
        tls_peer_identity_clear(c->peer_id);
        free(c->peer_id);
        c->peer_id = NULL;
    }
    close(c->cfd);
    server_close_fd(c);
    conn_disarm(c);
    if (c->c2s)
        buf_put(&w->pool, c->c2s);
    if (c->s2c)
        buf_put(&w->pool, c->s2c);
    c->c2s = c->s2c = NULL;

    gauge_dec(&lst(c)->cur_conns);
    gauge_dec(&w->stats.cur_conns);
    atomic_fetch_sub_explicit(&c->l->cur_conns, 1, memory_order_relaxed);
    if (c->up.c)
        gauge_dec(&cst(c)->cur_conns);

    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;

    /* May start queued connections of this worker. */
    conn_release_endpoint(c);
    /* Last: may release the snapshot, and with it the cluster of c->up. */
    worker_conn_closed(w, c->ws);

    /* Deferred free: reuse the timer event, which is no longer pending, as a
     * one-shot that frees the connection on the next loop turn. */
    evtimer_assign(&c->timer, w->base, reap_cb, c);
    event_active(&c->timer, EV_TIMEOUT, 0);
}

void tcp_proxy_close_listener(struct worker *w, const char *name, const struct listener *keep)
{
    struct conn *c = w->conns, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->l != keep && strcmp(c->l->name, name) == 0)
            conn_close(c, CR_KILLED);
    }
}

void tcp_proxy_close_all(struct worker *w, enum conn_reason why)
{
    while (w->conns)
        conn_close(w->conns, why);
}
