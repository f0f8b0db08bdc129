/*
 * lb.h: the load-balancing interface. One algorithm per file, each a `const`
 * struct lb_ops found by lb_ops_for().
 *
 * A host set is the immutable list of endpoints a cluster may use right now
 * (built on the main thread whenever health or weights change: see
 * cluster_rebuild_hosts) plus the algorithm's precomputed table (ring, Maglev
 * table, weighted map). It is refcounted and handed to every worker; each
 * worker also gets its own zeroed, cache-line-aligned slot of
 * `worker_state_size + n * worker_state_per_endpoint` bytes for mutable
 * per-worker LB state (round-robin weights and position, PRNG...), so picking
 * never takes a lock, never allocates and never writes memory another worker
 * writes. The only shared mutable data a pick reads is each endpoint's atomic
 * `cur_conns`. Weights are fixed for the life of a set: a weight or health
 * change builds a new set (and restarts per-worker sequences).
 *
 * Which endpoints are in a set (HAProxy's rules): enabled (not `disabled`),
 * up, weight > 0, and not backup; when none qualifies, the first such backup
 * endpoint, or all of them with `option allbackups`.
 */
#ifndef TERN_LB_H
#define TERN_LB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/model/model_types.h"

struct host_set {
    _Atomic int refcnt;
    struct cluster *cluster;     /* borrowed */
    struct endpoint **eps;       /* usable endpoints, in endpoint-id order */
    uint32_t *w;                 /* w[i]: eps[i]'s weight when the set was built (the admin
                                  * API's runtime weight, else the configured one); the
                                  * algorithms read these, never ep->weight */
    uint32_t n;
    uint32_t total_weight;
    bool using_backup;
    const struct lb_ops *lb;
    void *table;                 /* owned: built by lb->build, freed by lb->free_table */
    uint32_t nworkers;
    size_t worker_stride;        /* bytes between worker slots (cache aligned) */
    unsigned char *worker_state; /* nworkers * worker_stride, zeroed */
};

/* What a pick may use besides the host set. */
struct lb_pick_ctx {
    uint32_t worker;             /* calling worker's index (< hs->nworkers) */
    /* LB_SOURCE: a hash of the client address. The algorithms mix it again,
     * so a weak key (a raw IPv4 address) still spreads evenly. */
    uint64_t hash_key;
    /*
     * Redispatch: avoid this endpoint when another candidate exists. For the
     * non-hash algorithms a candidate is an endpoint with a free slot, so
     * `avoid` is returned only when it is the only one with room. Hash
     * algorithms take the next endpoint after `avoid` in their table (next
     * ring point, next Maglev/map slot), full or not.
     */
    const struct endpoint *avoid;
};

struct lb_ops {
    const char *name;            /* "roundrobin", "consistent-ring", ... */
    /*
     * Per-worker state: a slot holds worker_state_size bytes plus
     * worker_state_per_endpoint bytes for each endpoint of the set (so an
     * algorithm may keep, say, one counter per endpoint per worker), rounded
     * up to whole cache lines. Both 0: the slot is one unused cache line.
     */
    size_t worker_state_size;
    size_t worker_state_per_endpoint;
    /* Builds hs->table from hs->eps (main thread), before any init_worker.
     * NULL when not needed. Returns 0, or -1 with a reason in err. */
    int (*build)(struct host_set *hs, char *err, size_t errlen);
    void (*free_table)(void *table);
    /* Initialises this worker's slot (called once per slot when the set is
     * built, on the main thread, after build: hs->table is ready). NULL: the
     * zeroed slot is fine. */
    void (*init_worker)(const struct host_set *hs, void *wstate, uint32_t worker);
    /*
     * Chooses an endpoint for a new connection (worker thread, lock-free).
     * Non-hash algorithms skip endpoints at their maxconn and return NULL
     * when every endpoint is full (the caller queues). Hash algorithms return
     * the endpoint the key maps to even if it is full (the caller queues for
     * it). Returns NULL when the set is empty.
     */
    struct endpoint *(*pick)(const struct host_set *hs, void *wstate,
                             const struct lb_pick_ctx *ctx);
};

/* The ops for a cluster's policy/hash settings. Never NULL. */
const struct lb_ops *lb_ops_for(const struct cluster *c);

/* The algorithms (one file each). */
extern const struct lb_ops lb_roundrobin_ops;  /* roundrobin.c */
extern const struct lb_ops lb_static_rr_ops;   /* static_rr.c */
extern const struct lb_ops lb_leastconn_ops;   /* leastconn.c */
extern const struct lb_ops lb_first_ops;       /* first.c */
extern const struct lb_ops lb_map_hash_ops;    /* map_hash.c: hash-type map-based */
extern const struct lb_ops lb_ring_ops;        /* ring.c: consistent, ring */
extern const struct lb_ops lb_maglev_ops;      /* maglev.c: consistent, Maglev */
extern const struct lb_ops lb_random_ops;      /* random.c: weighted random + P2C */

/*
 * Builds a host set for `c` from the given usable endpoints (the array is
 * copied; the endpoints are borrowed from the cluster, which outlives the
 * set), with `nworkers` worker slots; refcount 1. Uses c->lb, or
 * lb_ops_for(c) when it is not set yet. Calls lb->build, then
 * lb->init_worker for each slot. Returns NULL with a reason in err (the
 * algorithm could not build its table: Maglev past 65,534 endpoints).
 * Main thread.
 */
struct host_set *host_set_new(struct cluster *c, struct endpoint **eps, uint32_t n,
                              bool using_backup, uint32_t nworkers, char *err, size_t errlen);
/* Takes / drops a reference (any thread). The last unref frees the set and
 * its table; unref(NULL) is a no-op. */
void host_set_ref(struct host_set *hs);
void host_set_unref(struct host_set *hs);

/* Worker w's state slot. */
static inline void *host_set_worker_state(const struct host_set *hs, uint32_t w)
{
    return hs->worker_state + (size_t)w * hs->worker_stride;
}

/* True when the endpoint can take one more connection (maxconn). */
static inline bool lb_endpoint_has_slot(const struct endpoint *ep)
{
    return ep->maxconn == 0 ||
           (uint32_t)atomic_load_explicit(&((struct endpoint *)ep)->cur_conns,
                                          memory_order_relaxed) < ep->maxconn;
}

#endif /* TERN_LB_H */
