/*
 * roundrobin.c: smooth weighted round robin (balance roundrobin).
 *
 * nginx's algorithm: every endpoint has a "current weight", kept per worker.
 * On each pick every candidate's current weight grows by its weight, the
 * candidate with the largest current weight wins (first in id order on a
 * tie) and loses the sum of the candidates' weights. Over one cycle of
 * total_weight picks each endpoint is chosen exactly `weight` times, and the
 * picks are spread as evenly as the weights allow: weights 1,1,1 give the
 * rotation s1 s2 s3 s1 ...; weights 3,1 give a a b a, never a a a b; weights
 * 5,1,1 give a a b a c a a.
 *
 * Candidates are the endpoints with a free slot (maxconn); a full endpoint
 * simply sits out the round without gaining weight, like a down peer in
 * nginx, so it does not come back with a burst when it frees up. `avoid` sits
 * out the same way unless it is the only candidate left.
 *
 * State: one int32 current weight per endpoint in the worker's own slot
 * (lb_ops.worker_state_per_endpoint), so workers never share a written line.
 * Each worker runs its own sequence; worker w starts w steps into the cycle
 * so that a burst of new connections landing on different workers does not
 * hit s1 everywhere. Weights are static for the life of a host set (a weight
 * change builds a new set); HAProxy's dynamic weights arrive that way.
 *
 * Cost: pick O(n) (one pass, one relaxed load of cur_conns per endpoint, no
 * allocation); init O(worker * n) per worker slot. Sets are rebuilt on every
 * health change, which restarts the sequence.
 */
#include "proxy/lb/lb_internal.h"

/* One step of the sequence over the candidates (endpoints other than
 * `avoid`, with a free slot when `use_slots`); returns the chosen index, or
 * -1 when there is no candidate. */
static int rr_step(const struct host_set *hs, int32_t *cw, bool use_slots,
                   const struct endpoint *avoid)
{
    int64_t total = 0;
    int best = -1;

    for (uint32_t i = 0; i < hs->n; i++) {
        const struct endpoint *ep = hs->eps[i];
        if (ep == avoid || (use_slots && !lb_endpoint_has_slot(ep)))
            continue;
        cw[i] += (int32_t)hs->w[i];
        total += hs->w[i];
        if (best < 0 || cw[i] > cw[best])
            best = (int)i;
    }
    if (best >= 0)
        cw[best] -= (int32_t)total;
    return best;
}

static void rr_init_worker(const struct host_set *hs, void *wstate, uint32_t worker)
{
    uint32_t steps = hs->total_weight ? worker % hs->total_weight : 0;

    for (uint32_t s = 0; s < steps; s++)
        rr_step(hs, wstate, false, NULL);
}

static struct endpoint *rr_pick(const struct host_set *hs, void *wstate,
                                const struct lb_pick_ctx *ctx)
{
    int i = rr_step(hs, wstate, true, ctx->avoid);

    return i >= 0 ? hs->eps[i] : lb_avoid_fallback(hs, ctx->avoid);
}

const struct lb_ops lb_roundrobin_ops = {
    .name = "roundrobin",
    .worker_state_size = 0,
    .worker_state_per_endpoint = sizeof(int32_t),
    .init_worker = rr_init_worker,
    .pick = rr_pick,
};
