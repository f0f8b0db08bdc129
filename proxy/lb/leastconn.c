/*
 * leastconn.c: fewest connections relative to weight (balance leastconn).
 *
 * Every pick scans the set and takes the endpoint with the lowest load, where
 * load is HAProxy's key: 0 when idle, else (cur_conns + 1) / weight, compared
 * by cross-multiplying (no division; lb_load_less). cur_conns counts every
 * worker's connections, so all workers balance on the same global figure
 * without sharing anything but those atomics.
 *
 * Ties are broken round robin per worker: the scan starts just after the
 * endpoint this worker chose last, and the first of equally loaded endpoints
 * in scan order wins. Idle endpoints therefore take turns instead of s1
 * getting every short-lived connection. Endpoints at their maxconn and
 * `avoid` (unless it is the only one with room) are skipped.
 *
 * Cost: O(n) per pick, one relaxed load per endpoint; no allocation. HAProxy
 * keeps a tree keyed by load (O(log n)) under a lock; with lock-free workers
 * a linear scan of a few hundred endpoints is cheaper than keeping any shared
 * ordered structure current.
 */
#include "proxy/lb/lb_internal.h"

struct lc_state {
    uint32_t next; /* where the next scan starts */
};

static struct endpoint *lc_pick(const struct host_set *hs, void *wstate,
                                const struct lb_pick_ctx *ctx)
{
    struct lc_state *st = wstate;
    uint32_t i = st->next < hs->n ? st->next : 0;
    uint32_t best = UINT32_MAX, best_conns = 0, best_weight = 1;

    for (uint32_t k = 0; k < hs->n; k++, i = i + 1 == hs->n ? 0 : i + 1) {
        const struct endpoint *ep = hs->eps[i];
        uint32_t conns = lb_endpoint_conns(ep);
        if (ep == ctx->avoid || (ep->maxconn && conns >= ep->maxconn))
            continue;
        if (best == UINT32_MAX || lb_load_less(conns, hs->w[i], best_conns, best_weight)) {
            best = i;
            best_conns = conns;
            best_weight = hs->w[i];
        }
    }
    if (best == UINT32_MAX)
        return lb_avoid_fallback(hs, ctx->avoid);
    st->next = best + 1 == hs->n ? 0 : best + 1;
    return hs->eps[best];
}

const struct lb_ops lb_leastconn_ops = {
    .name = "leastconn",
    .worker_state_size = sizeof(struct lc_state),
    .pick = lc_pick,
};
