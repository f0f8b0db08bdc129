/*
 * upstream.h: choosing a server for one client-side unit of work (a TCP
 * connection in mode tcp, an HTTP request in mode http), shared by
 * tcp_proxy.c and proxy/http/.
 *
 * What it covers, with HAProxy's rules:
 *   - the pick: the cluster's host set through its lb_ops, `balance source`
 *     hashing the client address, endpoints at their `maxconn` skipped;
 *   - server `maxconn` slots: one slot per unit of work while it is sent to
 *     the endpoint (for HTTP: per request, not per connection: an idle pooled
 *     connection holds no slot, as HAProxy counts active streams);
 *   - the per-worker queue of a cluster when no endpoint has a free slot,
 *     bounded by `maxqueue`; the caller bounds the wait by `timeout queue`;
 *   - what to do after a failed connect: retry the same endpoint after the
 *     turn-around pause, at once after a timeout, or redispatch to another
 *     one (`retries`, `option redispatch [<interval>]`), and give up.
 *
 * The caller embeds a `struct upstream_req` in its own object and gets
 * called back through `granted` when a queued request gets its slot.
 *
 * Thread: the owning worker only. Counters: each function counts what it
 * decides (no_server, queue_full, lb_selected, retries, redispatches,
 * connect_errors) in the worker's stats slots.
 */
#ifndef TERN_WORKER_UPSTREAM_H
#define TERN_WORKER_UPSTREAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/model/model_types.h"

struct worker;
struct upstream_req;

typedef void (*upstream_granted_fn)(struct upstream_req *r);

struct upstream_req {
    struct upstream_req *qnext;  /* cluster queue link while queued */
    struct worker *w;
    struct cluster *c;
    struct endpoint *ep;         /* chosen endpoint; a slot is held while holds_slot */
    uint64_t hash_key;           /* balance source: hash of the client address */
    uint64_t queue_start_ms;     /* when it entered the queue */
    uint64_t queue_ms;           /* time spent queued, once out of the queue */
    upstream_granted_fn granted; /* a queued request got an endpoint and its slot */
    uint8_t retries_done;
    bool holds_slot : 1;
    bool queued : 1;
    bool redispatched : 1;
};

enum upstream_pick_result {
    UPSTREAM_PICKED = 0, /* r->ep is set and one of its slots is held */
    UPSTREAM_QUEUED,     /* in the cluster's queue: r->granted runs later; the caller
                          * bounds the wait (upstream_queue_timeout_ms) */
    UPSTREAM_NO_SERVER,  /* no usable endpoint (counted) */
    UPSTREAM_QUEUE_FULL, /* the wanted endpoint's maxqueue is reached (counted) */
};

enum upstream_retry {
    UPSTREAM_GIVE_UP = 0,   /* no retry left: the attempt's failure is final */
    UPSTREAM_RETRY_NOW,     /* same endpoint at once (after a timeout); slot kept */
    UPSTREAM_RETRY_LATER,   /* same endpoint after *pause_ms; slot released: retake it
                             * with upstream_retake() when the pause ends */
    UPSTREAM_REDISPATCH,    /* another endpoint: slot released; call upstream_pick(r,
                             * the failed endpoint) */
};

/* Prepares r (zeroes it). hash_key: for balance source (see upstream_source_hash). */
void upstream_req_init(struct upstream_req *r, struct worker *w, struct cluster *c,
                       uint64_t hash_key, upstream_granted_fn granted);

/*
 * Outcome of a non-blocking connect, given the events libevent reported on
 * the socket (EV_* bits). Writable alone means connected; errors come with
 * EPOLLERR/HUP, which libevent reports as read+write, so SO_ERROR is read only
 * then. Returns 0 when connected, else the socket error (an errno value).
 */
int upstream_connect_error(int fd, short what);

/* Hash of a client address for `balance source` (the address, not the port). */
uint64_t upstream_source_hash(const struct sockaddr_in6 *peer);

/*
 * Chooses an endpoint and takes one of its slots, or queues r when every
 * endpoint is full. `avoid`: the endpoint a redispatch moves away from
 * (lb_pick_ctx.avoid), or NULL.
 */
enum upstream_pick_result upstream_pick(struct upstream_req *r, const struct endpoint *avoid);

/* `timeout queue`, or `timeout connect` when unset (HAProxy); 0: none. */
uint32_t upstream_queue_timeout_ms(const struct cluster *c);

/* Takes r out of the queue (queue timeout, client gone). No-op when not queued. */
void upstream_unqueue(struct upstream_req *r);

/* Gives r's slot back (if held) and forgets the endpoint; requests queued on
 * this worker, then on the others, may proceed. No-op without an endpoint. */
void upstream_release(struct upstream_req *r);

/* Takes one of ep's maxconn slots; false when it is full. */
bool upstream_endpoint_take(struct endpoint *ep);

/* A slot of cluster c freed or hosts changed: grant queued requests of
 * worker w, in order, while endpoints have room. */
void upstream_dequeue(struct worker *w, struct cluster *c);

/* Counts a failed connect to r->ep (endpoint and cluster connect_errors). */
void upstream_count_connect_error(struct upstream_req *r);

/*
 * After a failed connect attempt to r->ep (timeout: the attempt timed out):
 * counts the error, decides the next step (see enum upstream_retry) and
 * counts the retry. In mode http a cluster whose `retry-on` lacks
 * conn-failure gives up at once. The pause of UPSTREAM_RETRY_LATER is HAProxy's
 * turn-around, min(timeout connect, 1s).
 */
enum upstream_retry upstream_connect_failed(struct upstream_req *r, bool timeout,
                                            uint32_t *pause_ms);

/* After UPSTREAM_RETRY_LATER's pause: takes r->ep's slot again. False when
 * it is full now: r->ep is cleared and the caller picks again. */
bool upstream_retake(struct upstream_req *r);

/*
 * Opens a non-blocking TCP socket (TCP_NODELAY) and starts connecting it to
 * ep. Returns the descriptor (connected or in progress), or -1 with errno
 * (out of descriptors, unreachable at once: a failed attempt like any other).
 */
int upstream_socket_connect(const struct endpoint *ep);

#endif /* TERN_WORKER_UPSTREAM_H */
