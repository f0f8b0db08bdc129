/*
 * first.c: the first endpoint with room (balance first).
 *
 * HAProxy's `first`: endpoints are taken in id order and the first one below
 * its maxconn gets the connection, so s1 fills up to maxconn before s2 sees
 * any traffic, and the last servers can be powered down when idle. With
 * maxconn 0 (unlimited) the first usable endpoint takes everything. The host
 * set is already in id order. `avoid` is skipped unless it is the only one
 * with room.
 *
 * Cost: O(k) per pick where k is the number of full endpoints in front of
 * the chosen one; no per-worker state, no allocation.
 */
#include "proxy/lb/lb_internal.h"

static struct endpoint *first_pick(const struct host_set *hs, void *wstate,
                                   const struct lb_pick_ctx *ctx)
{
    for (uint32_t i = 0; i < hs->n; i++) {
        struct endpoint *ep = hs->eps[i];
        if (ep != ctx->avoid && lb_endpoint_has_slot(ep))
            return ep;
    }
    return lb_avoid_fallback(hs, ctx->avoid);
}

const struct lb_ops lb_first_ops = {
    .name = "first",
    .pick = first_pick,
};
