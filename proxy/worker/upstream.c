/*
 * upstream.c: the pick / slot / queue / retry rules shared by mode tcp and
 * mode http (see upstream.h). Extracted from tcp_proxy.c so that both modes
 * queue in the same per-worker cluster queue, in arrival order, and retry
 * by the same rules.
 */
#include "proxy/worker/upstream.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/core/util.h"
#include "proxy/lb/lb.h"
#include "proxy/worker/worker_types.h"

/* HAProxy's turn-around before retrying the same server: min(connect, 1s). */
#define TURNAROUND_MAX_MS 1000

static inline struct cluster_stats *cst(const struct upstream_req *r)
{
    return &r->c->stats[r->w->id];
}

static inline struct endpoint_stats *est(const struct upstream_req *r, struct endpoint *ep)
{
    return &ep->stats[r->w->id];
}

void upstream_req_init(struct upstream_req *r, struct worker *w, struct cluster *c,
                       uint64_t hash_key, upstream_granted_fn granted)
{
    memset(r, 0, sizeof(*r));
    r->w = w;
    r->c = c;
    r->hash_key = hash_key;
    r->granted = granted;
}

int upstream_connect_error(int fd, short what)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if ((what & (EV_READ | EV_CLOSED)) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    return err;
}

uint64_t upstream_source_hash(const struct sockaddr_in6 *peer)
{
    const struct sockaddr *sa = (const struct sockaddr *)peer;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return tern_hash64(&sin->sin_addr, sizeof(sin->sin_addr), 0);
    }
    return tern_hash64(&peer->sin6_addr, sizeof(peer->sin6_addr), 0);
}

bool upstream_endpoint_take(struct endpoint *ep)
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

uint32_t upstream_queue_timeout_ms(const struct cluster *c)
{
    return c->timeout_queue_ms ? c->timeout_queue_ms : c->timeout_connect_ms;
}

static void counter_dec(struct counter *g)
{
    counter_add(g, (uint64_t)-1);
}

void upstream_unqueue(struct upstream_req *r)
{
    struct cluster_worker_slot *slot;
    struct upstream_req **pp, *prev = NULL;

    if (!r->queued)
        return;
    r->queue_ms = worker_now_ms(r->w) - r->queue_start_ms;
    slot = &r->c->worker[r->w->id];
    pp = (struct upstream_req **)&slot->queue_head;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    r->queued = false;
    if (!*pp)
        return;
    *pp = r->qnext;
    if (slot->queue_tail == r)
        slot->queue_tail = prev;
    r->qnext = NULL;
    slot->queue_len--;
    atomic_fetch_sub_explicit(&r->c->queued, 1, memory_order_relaxed);
    counter_dec(&cst(r)->cur_queued);
}

static enum upstream_pick_result enqueue(struct upstream_req *r, struct endpoint *wanted)
{
    struct cluster_worker_slot *slot = &r->c->worker[r->w->id];

    if (wanted && wanted->maxqueue && slot->queue_len >= wanted->maxqueue) {
        counter_add(&cst(r)->queue_full, 1);
        counter_add(&r->w->stats.queue_full, 1);
        return UPSTREAM_QUEUE_FULL;
    }
    r->queued = true;
    r->queue_start_ms = worker_now_ms(r->w);
    r->qnext = NULL;
    if (slot->queue_tail)
        ((struct upstream_req *)slot->queue_tail)->qnext = r;
    else
        slot->queue_head = r;
    slot->queue_tail = r;
    slot->queue_len++;
    atomic_fetch_add_explicit(&r->c->queued, 1, memory_order_relaxed);
    counter_add(&cst(r)->cur_queued, 1);
    return UPSTREAM_QUEUED;
}

enum upstream_pick_result upstream_pick(struct upstream_req *r, const struct endpoint *avoid)
{
    struct cluster_worker_slot *slot = &r->c->worker[r->w->id];
    struct host_set *hs = slot->hosts;
    struct lb_pick_ctx ctx;
    struct endpoint *ep;

    if (!hs || hs->n == 0) {
        counter_add(&cst(r)->no_server, 1);
        return UPSTREAM_NO_SERVER;
    }
    ctx.worker = r->w->id;
    ctx.hash_key = r->c->lb_policy == LB_SOURCE ? r->hash_key : 0;
    ctx.avoid = avoid;
    ep = hs->lb->pick(hs, host_set_worker_state(hs, r->w->id), &ctx);
    if (!ep || !upstream_endpoint_take(ep))
        return enqueue(r, ep);
    r->ep = ep;
    r->holds_slot = true;
    counter_add(&est(r, ep)->lb_selected, 1);
    return UPSTREAM_PICKED;
}

void upstream_dequeue(struct worker *w, struct cluster *cl)
{
    struct cluster_worker_slot *slot = &cl->worker[w->id];

    while (slot->queue_head) {
        struct upstream_req *r = slot->queue_head;
        struct host_set *hs = slot->hosts;
        struct lb_pick_ctx ctx = {w->id, 0, NULL};
        struct endpoint *ep;

        if (!hs || hs->n == 0)
            return; /* wait: hosts may come back before the queue timeout */
        ctx.hash_key = cl->lb_policy == LB_SOURCE ? r->hash_key : 0;
        ep = hs->lb->pick(hs, host_set_worker_state(hs, w->id), &ctx);
        if (!ep || !upstream_endpoint_take(ep))
            return;
        upstream_unqueue(r); /* sets queue_ms */
        r->ep = ep;
        r->holds_slot = true;
        counter_add(&ep->stats[w->id].lb_selected, 1);
        r->granted(r);
    }
}

void upstream_release(struct upstream_req *r)
{
    struct endpoint *ep = r->ep;
    struct cluster *cl;

    if (!ep)
        return;
    r->ep = NULL;
    if (!r->holds_slot)
        return;
    r->holds_slot = false;
    atomic_fetch_sub_explicit(&ep->cur_conns, 1, memory_order_relaxed);
    cl = ep->cluster;
    if (cl->worker[r->w->id].queue_len)
        upstream_dequeue(r->w, cl);
    /* Requests queued on other workers wait for this slot too. */
    if ((uint32_t)atomic_load_explicit(&cl->queued, memory_order_relaxed) >
        cl->worker[r->w->id].queue_len)
        worker_kick_queues(r->w, cl);
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

void upstream_count_connect_error(struct upstream_req *r)
{
    if (r->ep)
        counter_add(&est(r, r->ep)->connect_errors, 1);
    counter_add(&cst(r)->connect_errors, 1);
}

enum upstream_retry upstream_connect_failed(struct upstream_req *r, bool timeout,
                                            uint32_t *pause_ms)
{
    struct cluster *cl = r->c;
    struct endpoint *ep = r->ep;

    upstream_count_connect_error(r);
    if (r->retries_done >= cl->retries || r->retries_done == UINT8_MAX)
        return UPSTREAM_GIVE_UP;
    /* retry-on without conn-failure: HAProxy does not retry a connect */
    if (cl->mode == PROXY_MODE_HTTP && !(cl->retry_on & RETRY_ON_CONN_FAILURE))
        return UPSTREAM_GIVE_UP;
    r->retries_done++;
    counter_add(&cst(r)->retries, 1);
    counter_add(&est(r, ep)->retries, 1);
    /* HAProxy redispatches at once when the server has been marked down
     * meanwhile, rather than retrying a server known to be gone. */
    if (should_redispatch(cl, r->retries_done) ||
        (cl->redispatch && !atomic_load_explicit(&ep->up, memory_order_relaxed))) {
        counter_add(&cst(r)->redispatches, 1);
        r->redispatched = true;
        upstream_release(r);
        return UPSTREAM_REDISPATCH;
    }
    /* Same endpoint, after HAProxy's turn-around pause (none after a
     * timeout: that time has already been waited). */
    if (timeout)
        return UPSTREAM_RETRY_NOW;
    *pause_ms = cl->timeout_connect_ms && cl->timeout_connect_ms < TURNAROUND_MAX_MS
                    ? cl->timeout_connect_ms
                    : TURNAROUND_MAX_MS;
    /* the slot is taken again when the pause ends (upstream_retake) */
    if (r->holds_slot) {
        r->holds_slot = false;
        atomic_fetch_sub_explicit(&ep->cur_conns, 1, memory_order_relaxed);
    }
    return UPSTREAM_RETRY_LATER;
}

bool upstream_retake(struct upstream_req *r)
{
    if (r->ep && upstream_endpoint_take(r->ep)) {
        r->holds_slot = true;
        return true;
    }
    r->ep = NULL;
    return false;
}

int upstream_socket_connect(const struct endpoint *ep)
{
    int one = 1;
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
