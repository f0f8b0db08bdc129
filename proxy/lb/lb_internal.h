/*
 * lb_internal.h: helpers shared by the load-balancing algorithms in this
 * directory. Not part of the LB interface (lb.h); nothing outside proxy/lb/
 * includes it.
 */
#ifndef TERN_LB_INTERNAL_H
#define TERN_LB_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "proxy/lb/lb.h"

/* An endpoint's current connection count (all workers), relaxed. */
static inline uint32_t lb_endpoint_conns(const struct endpoint *ep)
{
    int v = atomic_load_explicit(&((struct endpoint *)ep)->cur_conns, memory_order_relaxed);
    return v > 0 ? (uint32_t)v : 0;
}

/*
 * Load of an endpoint relative to its weight, compared without division:
 * returns true when a's load is strictly below b's. The load is HAProxy's
 * leastconn key: 0 for an idle endpoint, otherwise (conns + 1) / weight, so
 * idle endpoints tie whatever their weight and, once busy, a heavier one is
 * preferred at equal counts. Weights are 1..256 in a host set, conns < 2^31:
 * the products fit in 64 bits.
 */
static inline bool lb_load_less(uint32_t conns_a, uint32_t weight_a, uint32_t conns_b,
                                uint32_t weight_b)
{
    uint64_t la = conns_a ? (uint64_t)conns_a + 1 : 0;
    uint64_t lb = conns_b ? (uint64_t)conns_b + 1 : 0;
    return la * weight_b < lb * weight_a;
}

/*
 * The redispatch fallback of the non-hash algorithms: when no endpoint but
 * `avoid` could be chosen, `avoid` itself is the one candidate if it belongs
 * to the set and has a free slot. Returns it, or NULL. O(n): cold path only.
 */
static inline struct endpoint *lb_avoid_fallback(const struct host_set *hs,
                                                 const struct endpoint *avoid)
{
    if (!avoid)
        return NULL;
    for (uint32_t i = 0; i < hs->n; i++)
        if (hs->eps[i] == avoid)
            return lb_endpoint_has_slot(avoid) ? hs->eps[i] : NULL;
    return NULL;
}

/*
 * Finaliser applied to a caller's hash key before the hash algorithms use it,
 * so a weak key (a raw IPv4 address, a sequence) still spreads over the whole
 * 64-bit space (murmur3's fmix64).
 */
static inline uint64_t lb_mix64(uint64_t h)
{
    return tern_mix64(h);
}

/*
 * The weighted map shared by static-rr and hash-type map-based (as in
 * HAProxy, where both use one map): each endpoint i appears w_i / g times
 * (g: gcd of the set's weights), in the order of one cycle of smooth weighted
 * round robin: weights 1,1,1 give s1 s2 s3; 3,1 give a a b a; 5,1,1 give
 * a a b a c a a. Returns the map (owned, free()) of *len endpoint indexes.
 * Cost O(T * n), T = sum(w_i) / g <= 256 * n, with an O(T log T) fallback
 * for very large sets (lb_wmap.c). Main thread.
 */
uint32_t *lb_weighted_map_build(const struct host_set *hs, uint32_t *len);

#endif /* TERN_LB_INTERNAL_H */
