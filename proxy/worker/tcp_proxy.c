/*
 * tcp_proxy.c: mode tcp, a bidirectional byte proxy.
 *
 * A connection goes through these states:
 *
 *   accept -> [QUEUED] -> CONNECTING -> ESTABLISHED -> CLOSED
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

#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/lb/lb.h"

/* Bytes moved per conn_pump() call before yielding to other connections. */
#define PUMP_BUDGET (256 * 1024)
/* HAProxy's turn-around before retrying the same server: min(connect, 1s). */
#define TURNAROUND_MAX_MS 1000

static void conn_pump(struct conn *c);
static void conn_close(struct conn *c, enum conn_reason why);
static void conn_pick(struct conn *c, const struct endpoint *avoid);
static void conn_connect(struct conn *c);
static void conn_connect_failed(struct conn *c, bool timeout);

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
    return &c->c->stats[c->w->id];
}

static inline struct endpoint_stats *est(struct conn *c)
{
    return &c->ep->stats[c->w->id];
}

static inline void gauge_dec(struct counter *g)
{
    counter_add(g, (uint64_t)-1);
}

/* ---- endpoint slots -------------------------------------------------------- */

/* Takes one of the endpoint's maxconn slots; false when it is full. */
static bool endpoint_take(struct endpoint *ep)
{
    int cur = atomic_load_explicit(&ep->cur_conns, memory_order_relaxed);

    if (ep->maxconn == 0) {
        atomic_fetch_add_explicit(&ep->cur_conns, 1, memory_order_relaxed);
        return true;
    }
    while ((uint32_t)cur < ep->maxconn) {
        if (atomic_compare_exchange_weak_explicit(&ep->cur_conns, &cur, cur + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Gives the connection's slot back; queued connections of this worker may
 * now proceed. */
static void conn_release_endpoint(struct conn *c)
{
    struct endpoint *ep = c->ep;

    if (!ep)
        return;
    c->ep = NULL;
    if (c->holds_slot) {
        c->holds_slot = false;
        atomic_fetch_sub_explicit(&ep->cur_conns, 1, memory_order_relaxed);
    }
    if (c->connected_ms)
        gauge_dec(&ep->stats[c->w->id].cur_conns);
    if (ep->cluster->worker[c->w->id].queue_len)
        tcp_proxy_dequeue(c->w, ep->cluster);
    /* Connections queued on other workers wait for this slot too. */
    if ((uint32_t)atomic_load_explicit(&ep->cluster->queued, memory_order_relaxed) >
        ep->cluster->worker[c->w->id].queue_len)
        worker_kick_queues(c->w, ep->cluster);
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
    uint32_t tc = c->l->timeout_client_ms, ts = c->c->timeout_server_ms;
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
    case CS_QUEUED:
        counter_add(&cst(c)->queue_timeouts, 1);
        conn_close(c, CR_QUEUE_TIMEOUT);
        break;
    case CS_TURNAROUND:
        if (endpoint_take(c->ep)) {
            c->holds_slot = true;
            conn_connect(c);
        } else {
            /* the endpoint filled up meanwhile: back to the load balancer */
            c->ep = NULL;
            conn_pick(c, NULL);
        }
        break;
    case CS_CONNECTING:
        /* connect timeout: handled like a failed connect */
        conn_connect_failed(c, true);
        break;
    case CS_ESTABLISHED: {
        uint32_t tc = c->l->timeout_client_ms, ts = c->c->timeout_server_ms;
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

static uint64_t source_hash(const struct conn *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return tern_hash64(&sin->sin_addr, sizeof(sin->sin_addr), 0);
    }
    return tern_hash64(&c->peer.sin6_addr, sizeof(c->peer.sin6_addr), 0);
}

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    if (what & EV_READ)
        c->c_readable = true;
    if (what & EV_WRITE)
        c->c_writable = true;
    if (what & EV_CLOSED)
        c->c_rdhup = true;
    conn_pump(c);
}

static void server_cb(evutil_socket_t fd, short what, void *arg);

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
    c->c = wl->l->default_cluster;
    c->cfd = fd;
    c->sfd = -1;
    c->accept_ms = now;
    c->c_active_ms = now;
    if (salen <= sizeof(c->peer))
        memcpy(&c->peer, sa, salen);

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

    event_assign(&c->cev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 client_cb, c);
    event_add(&c->cev, NULL);
    evtimer_assign(&c->timer, w->base, timer_cb, c);

    if (!c->c) {
        conn_close(c, CR_NO_SERVER);
        return;
    }
    counter_add(&cst(c)->conns_total, 1);
    counter_add(&cst(c)->cur_conns, 1);
    conn_pick(c, NULL);
}

/* ---- load balancing and the queue ---------------------------------------- */

static void queue_remove(struct conn *c)
{
    struct cluster_worker_slot *slot = &c->c->worker[c->w->id];
    struct conn **pp = (struct conn **)&slot->queue_head;
    struct conn *prev = NULL;

    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = c->qnext;
    if (slot->queue_tail == c)
        slot->queue_tail = prev;
    c->qnext = NULL;
    slot->queue_len--;
    atomic_fetch_sub_explicit(&c->c->queued, 1, memory_order_relaxed);
    gauge_dec(&cst(c)->cur_queued);
}

static void conn_enqueue(struct conn *c, struct endpoint *wanted)
{
    struct cluster_worker_slot *slot = &c->c->worker[c->w->id];
    uint32_t tq = c->c->timeout_queue_ms ? c->c->timeout_queue_ms : c->c->timeout_connect_ms;

    if (wanted && wanted->maxqueue && slot->queue_len >= wanted->maxqueue) {
        counter_add(&cst(c)->queue_full, 1);
        counter_add(&c->w->stats.queue_full, 1);
        conn_close(c, CR_QUEUE_FULL);
        return;
    }
    c->state = CS_QUEUED;
    c->queue_ms = worker_now_ms(c->w);
    c->qnext = NULL;
    if (slot->queue_tail)
        ((struct conn *)slot->queue_tail)->qnext = c;
    else
        slot->queue_head = c;
    slot->queue_tail = c;
    slot->queue_len++;
    atomic_fetch_add_explicit(&c->c->queued, 1, memory_order_relaxed);
    counter_add(&cst(c)->cur_queued, 1);
    if (tq)
        conn_arm(c, c->queue_ms + tq);
}

/* Chooses an endpoint and connects, or queues when all are full. Returns
 * with the connection connecting, queued or closed. */
static void conn_pick(struct conn *c, const struct endpoint *avoid)
{
    struct cluster_worker_slot *slot = &c->c->worker[c->w->id];
    struct host_set *hs = slot->hosts;
    struct lb_pick_ctx ctx;
    struct endpoint *ep;

    if (!hs || hs->n == 0) {
        counter_add(&cst(c)->no_server, 1);
        conn_close(c, CR_NO_SERVER);
        return;
    }
    ctx.worker = c->w->id;
    ctx.hash_key = c->c->lb_policy == LB_SOURCE ? source_hash(c) : 0;
    ctx.avoid = avoid;
    ep = hs->lb->pick(hs, host_set_worker_state(hs, c->w->id), &ctx);
    if (!ep || !endpoint_take(ep)) {
        conn_enqueue(c, ep);
        return;
    }
    c->ep = ep;
    c->holds_slot = true;
    counter_add(&est(c)->lb_selected, 1);
    conn_connect(c);
}

void tcp_proxy_dequeue(struct worker *w, struct cluster *cl)
{
    struct cluster_worker_slot *slot = &cl->worker[w->id];

    while (slot->queue_head) {
        struct conn *c = slot->queue_head;
        struct host_set *hs = slot->hosts;
        struct lb_pick_ctx ctx = {w->id, 0, NULL};
        struct endpoint *ep;

        if (!hs || hs->n == 0)
            return; /* wait: hosts may come back before the queue timeout */
        ctx.hash_key = cl->lb_policy == LB_SOURCE ? source_hash(c) : 0;
        ep = hs->lb->pick(hs, host_set_worker_state(hs, w->id), &ctx);
        if (!ep || !endpoint_take(ep))
            return;
        queue_remove(c);
        c->queue_ms = worker_now_ms(w) - c->queue_ms;
        conn_disarm(c);
        c->ep = ep;
        c->holds_slot = true;
        counter_add(&est(c)->lb_selected, 1);
        conn_connect(c);
    }
}

/* ---- connecting ------------------------------------------------------------ */

static void server_close_fd(struct conn *c)
{
    if (c->sfd < 0)
        return;
    event_del(&c->sev);
    close(c->sfd);
    c->sfd = -1;
    c->s_readable = c->s_writable = false;
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

/* HAProxy's `option redispatch <interval>`: positive P redispatches on every
 * Pth retry, negative N on the Nth retry before the last (default -1: the
 * last retry). */
static bool should_redispatch(const struct cluster *cl, uint32_t retry)
{
    int iv = cl->redispatch_interval;

    if (!cl->redispatch)
        return false;
    if (iv > 0)
        return retry % (uint32_t)iv == 0;
    if (iv < 0)
        return (int64_t)retry == (int64_t)cl->retries + iv + 1;
    return false;
}

static void conn_connect_failed(struct conn *c, bool timeout)
{
    struct cluster *cl = c->c;
    struct endpoint *ep = c->ep;
    uint64_t now = worker_now_ms(c->w);

    server_close_fd(c);
    counter_add(&est(c)->connect_errors, 1);
    counter_add(&cst(c)->connect_errors, 1);
    if (c->retries_done >= cl->retries || c->retries_done == UINT8_MAX) {
        conn_close(c, timeout ? CR_CONNECT_TIMEOUT : CR_CONNECT_FAILED);
        return;
    }
    c->retries_done++;
    counter_add(&cst(c)->retries, 1);
    counter_add(&est(c)->retries, 1);
    /* HAProxy redispatches at once when the server has been marked down
     * meanwhile, rather than retrying a server known to be gone. */
    if (should_redispatch(cl, c->retries_done) ||
        (cl->redispatch && !atomic_load_explicit(&ep->up, memory_order_relaxed))) {
        counter_add(&cst(c)->redispatches, 1);
        c->redispatched = true;
        conn_release_endpoint(c);
        conn_pick(c, ep);
        return;
    }
    /* Same endpoint, after HAProxy's turn-around pause (none after a
     * timeout: that time has already been waited). The slot stays held. */
    if (timeout) {
        conn_connect(c);
        return;
    }
    c->state = CS_TURNAROUND;
    {
        uint32_t t = cl->timeout_connect_ms && cl->timeout_connect_ms < TURNAROUND_MAX_MS
                         ? cl->timeout_connect_ms
                         : TURNAROUND_MAX_MS;
        /* endpoint_take() again when the pause ends */
        atomic_fetch_sub_explicit(&ep->cur_conns, 1, memory_order_relaxed);
        c->holds_slot = false;
        conn_arm(c, now + t);
    }
}

static void conn_connect(struct conn *c)
{
    struct endpoint *ep = c->ep;
    uint64_t now = worker_now_ms(c->w);
    int one = 1;
    int fd;

    c->state = CS_CONNECTING;
    c->connect_start_ms = now;
    fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        /* out of fds or memory: a failed attempt like any other */
        conn_connect_failed(c, false);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->sfd = fd;
    event_assign(&c->sev, c->w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                 server_cb, c);
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        c->sfd = -1;
        conn_connect_failed(c, false);
        return;
    }
    event_add(&c->sev, NULL);
    if (c->c->timeout_connect_ms)
        conn_arm(c, now + c->c->timeout_connect_ms);
}

static void server_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        /* Writable alone means connected; errors come with EPOLLERR/HUP,
         * which libevent reports as read+write: only then ask for SO_ERROR. */
        if ((what & (EV_READ | EV_CLOSED)) &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err) {
            conn_connect_failed(c, false);
            return;
        }
        if (!(what & EV_WRITE))
            return; /* not connected yet */
        conn_disarm(c);
        c->s_writable = true;
        if (what & EV_READ)
            c->s_readable = true;
        if (what & EV_CLOSED)
            c->s_rdhup = true;
        conn_established(c);
        return;
    }
    if (what & EV_READ)
        c->s_readable = true;
    if (what & EV_WRITE)
        c->s_writable = true;
    if (what & EV_CLOSED)
        c->s_rdhup = true;
    conn_pump(c);
}

/* ---- the byte pump --------------------------------------------------------- */

/* Reads from `fd` into *bp. Returns bytes read, 0 on EOF, -1 when it would
 * block (clears *readable), -2 on error. */
static ssize_t pump_read(struct worker *w, int fd, struct buf **bp, bool *readable, bool rdhup)
{
    struct buf *b = *bp;
    size_t room;
    ssize_t n;

    if (!b)
        b = *bp = buf_get(&w->pool);
    room = buf_tail_room(b);
    if (room == 0)
        return -1;
    do {
        n = read(fd, buf_tail(b), room);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        b->len += (uint32_t)n;
        /* A short read emptied the socket: with edge triggering, more bytes
         * will raise a new event, so skip the read that would say EAGAIN.
         * Not when the peer's FIN is queued: read on to see it. */
        if ((size_t)n < room && !rdhup)
            *readable = false;
        return n;
    }
    if (b->len == 0) {
        buf_put(&w->pool, b);
        *bp = NULL;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN) {
        *readable = false;
        return -1;
    }
    return -2;
}

/* Writes buffered bytes to `fd`. Returns bytes written, -1 when it would
 * block (clears *writable), -2 on error. Releases the buffer once empty. */
static ssize_t pump_write(struct worker *w, int fd, struct buf **bp, bool *writable)
{
    struct buf *b = *bp;
    ssize_t n;

    do {
        n = send(fd, buf_head(b), b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN) {
            *writable = false;
            return -1;
        }
        return -2;
    }
    buf_consume(b, (size_t)n);
    if (b->len == 0) {
        buf_put(&w->pool, b);
        *bp = NULL;
    } else {
        *writable = false; /* short write: the socket buffer is full */
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
 * connection is about to close, and close(2) sends the FIN. Otherwise the
 * shutdown waits for the loop's next poll (fin_cb): the other side often
 * finishes within that time (a client that closes once it has the response),
 * and one close(2) then replaces shutdown(2) + close(2), the same syscalls
 * HAProxy ends up making. Returns true when the FIN counts as passed on.
 */
static bool pass_fin(struct conn *c, int fd, bool side_done)
{
    struct worker *w = c->w;

    if (side_done)
        return true;
    if (!c->fin_due) {
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
    shutdown(fd, SHUT_WR);
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

        /* client -> buffer (also while connecting: at most one buffer) */
        if (c->c_readable && !c->c_eof && (!c->c2s || c->c2s->len < c->c2s->size)) {
            n = pump_read(w, c->cfd, &c->c2s, &c->c_readable, c->c_rdhup);
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
        }
        if (c->state != CS_ESTABLISHED)
            break;

        /* buffer -> server */
        if (c->c2s && c->s_writable) {
            n = pump_write(w, c->sfd, &c->c2s, &c->s_writable);
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
        if (c->c_eof && !c->c2s && !c->s_shut && pass_fin(c, c->sfd, c->s_eof && !c->s2c)) {
            c->s_shut = true;
            progress = true;
        }

        /* server -> buffer */
        if (c->s_readable && !c->s_eof && (!c->s2c || c->s2c->len < c->s2c->size)) {
            n = pump_read(w, c->sfd, &c->s2c, &c->s_readable, c->s_rdhup);
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
        }

        /* buffer -> client */
        if (c->s2c && c->c_writable) {
            n = pump_write(w, c->cfd, &c->s2c, &c->c_writable);
            if (n > 0) {
                c->bytes_out += (uint64_t)n;
                c->c_active_ms = now;
                counter_add(&lst(c)->bytes_out, (uint64_t)n);
                progress = true;
            } else if (n == -2) {
                conn_close(c, CR_CLIENT_RESET);
                return;
            }
        }
        if (c->s_eof && !c->s2c && !c->c_shut && pass_fin(c, c->cfd, c->c_eof && !c->c2s)) {
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
    char addr[80], ts[64], state[3];
    struct timeval tv;
    struct tm tm;
    uint64_t now = worker_now_ms(w);
    long long tw = -1, tcn = -1;

    if (!c->l->access_log)
        return;
    event_base_gettimeofday_cached(w->base, &tv);
    localtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S", &tm);
    termination_state(c, state);
    if (c->connect_start_ms || c->state == CS_QUEUED)
        tw = (long long)(c->state == CS_QUEUED ? now - c->queue_ms : c->queue_ms);
    if (c->connected_ms)
        tcn = (long long)(c->connected_ms - c->connect_start_ms);
    accesslog_printf(&w->alog,
                     "%s [%s.%03ld] %s %s/%s %lld/%lld/%llu %llu/%llu %s %lld/%d/%llu/%d/%u "
                     "%u/%u reason=%s",
                     tern_format_addr((const struct sockaddr *)&c->peer, addr, sizeof(addr)), ts,
                     (long)tv.tv_usec / 1000, c->l->name, c->c ? c->c->name : "<NOSRV>",
                     c->ep ? c->ep->name : "<NOSRV>", tw, tcn,
                     (unsigned long long)(now - c->accept_ms), (unsigned long long)c->bytes_in,
                     (unsigned long long)c->bytes_out, state, (long long)workers_active_conns(),
                     atomic_load_explicit(&c->l->cur_conns, memory_order_relaxed),
                     c->c ? (unsigned long long)counter_get(&cst(c)->cur_conns) : 0ULL,
                     c->ep ? atomic_load_explicit(&c->ep->cur_conns, memory_order_relaxed) : 0,
                     (unsigned)c->retries_done, 0u,
                     c->c ? c->c->worker[w->id].queue_len : 0u, conn_reason_name(c->reason));
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
    if (c->state == CS_QUEUED)
        queue_remove(c);
    fin_unlink(c);
    c->reason = why;
    conn_log(c);
    c->state = CS_CLOSED;

    event_del(&c->cev);
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
    if (c->c)
        gauge_dec(&cst(c)->cur_conns);

    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    worker_conn_closed(w, c->ws);

    /* Last: may start queued connections of this worker. */
    conn_release_endpoint(c);

    /* Deferred free: reuse the timer event, which is no longer pending, as a
     * one-shot that frees the connection on the next loop turn. */
    evtimer_assign(&c->timer, w->base, reap_cb, c);
    event_active(&c->timer, EV_TIMEOUT, 0);
}

void tcp_proxy_close_all(struct worker *w, enum conn_reason why)
{
    while (w->conns)
        conn_close(w->conns, why);
}
