/*
 * host_set.c: life cycle of a host set (see lb.h).
 *
 * A host set is built on the main thread whenever a cluster's usable
 * endpoints change (cluster_rebuild_hosts), then shared read-only by every
 * worker through a reference count. Besides the endpoint array and the
 * algorithm's table it carries one private slot per worker for that worker's
 * mutable LB state. Slots are cache-line sized and aligned so two workers
 * never write the same line; the slot size is the algorithm's fixed part plus
 * a per-endpoint part, so state like "one current weight per endpoint" lives
 * in the slot itself, next to the worker that uses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/lb/lb.h"

struct host_set *host_set_new(struct cluster *c, struct endpoint **eps, uint32_t n,
                              bool using_backup, uint32_t nworkers, char *err, size_t errlen)
{
    const struct lb_ops *ops = c->lb ? c->lb : lb_ops_for(c);
    struct host_set *hs = tern_calloc(1, sizeof(*hs));
    size_t state;

    atomic_init(&hs->refcnt, 1);
    hs->cluster = c;
    hs->eps = tern_calloc(n ? n : 1, sizeof(*hs->eps));
    if (n)
        memcpy(hs->eps, eps, n * sizeof(*eps));
    hs->w = tern_calloc(n ? n : 1, sizeof(*hs->w));
    hs->n = n;
    for (uint32_t i = 0; i < n; i++) {
        hs->w[i] = endpoint_weight(eps[i]);
        hs->total_weight += hs->w[i];
    }
    hs->using_backup = using_backup;
    hs->lb = ops;
    hs->nworkers = nworkers;

    state = ops->worker_state_size + (size_t)n * ops->worker_state_per_endpoint;
    hs->worker_stride = (state + TERN_CACHELINE - 1) & ~(size_t)(TERN_CACHELINE - 1);
    if (hs->worker_stride == 0)
        hs->worker_stride = TERN_CACHELINE;
    hs->worker_state = tern_calloc_aligned((nworkers ? nworkers : 1) * hs->worker_stride);

    if (ops->build && ops->build(hs, err, errlen) != 0) {
        free(hs->worker_state);
        free(hs->w);
        free(hs->eps);
        free(hs);
        return NULL;
    }
    if (ops->init_worker)
        for (uint32_t w = 0; w < nworkers; w++)
            ops->init_worker(hs, host_set_worker_state(hs, w), w);
    return hs;
}

void host_set_ref(struct host_set *hs)
{
    atomic_fetch_add_explicit(&hs->refcnt, 1, memory_order_relaxed);
}

void host_set_unref(struct host_set *hs)
{
    if (!hs || atomic_fetch_sub_explicit(&hs->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    if (hs->table && hs->lb->free_table)
        hs->lb->free_table(hs->table);
    free(hs->worker_state);
    free(hs->w);
    free(hs->eps);
    free(hs);
}
