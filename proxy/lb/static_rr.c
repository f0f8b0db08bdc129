/*
 * static_rr.c: static weighted round robin (balance static-rr).
 *
 * As in HAProxy, static-rr walks a map computed once per host set in which
 * every endpoint appears in proportion to its weight, spread evenly (the
 * weighted map of lb_wmap.c: weights 1,1,1 give s1 s2 s3, weights 3,1 give
 * a a b a). Each worker keeps only its position in the map; worker w starts
 * w/nworkers of the way round so workers do not all begin with s1. Unlike
 * roundrobin nothing is recomputed per pick, so a pick is O(1) however many
 * endpoints there are; the price is that weights are fixed for the life of
 * the set (HAProxy: no dynamic weight changes with static-rr).
 *
 * A full endpoint (maxconn) or `avoid` is stepped over. Cost: O(1) per pick
 * when the next entry has room; a walk over full endpoints is bounded: after
 * n misses in a row one O(n) pass checks that some endpoint has room at all,
 * and the walk never exceeds one turn of the map (T = sum of weights / gcd
 * entries, 4 bytes each).
 */
#include <stdlib.h>

#include "proxy/lb/lb_internal.h"

struct srr_table {
    uint32_t len;
    uint32_t *map; /* endpoint indexes */
};

struct srr_state {
    uint32_t pos;
};

static int srr_build(struct host_set *hs, char *err, size_t errlen)
{
    struct srr_table *t = tern_calloc(1, sizeof(*t));
    t->map = lb_weighted_map_build(hs, &t->len);
    hs->table = t;
    return 0;
}

static void srr_free(void *table)
{
    struct srr_table *t = table;
    free(t->map);
    free(t);
}

static void srr_init_worker(const struct host_set *hs, void *wstate, uint32_t worker)
{
    const struct srr_table *t = hs->table;
    struct srr_state *st = wstate;
    if (t->len && hs->nworkers)
        st->pos = (uint32_t)(((uint64_t)worker * t->len) / hs->nworkers);
}

/* True when an endpoint other than `avoid` has a free slot. */
static bool other_has_slot(const struct host_set *hs, const struct endpoint *avoid)
{
    for (uint32_t i = 0; i < hs->n; i++)
        if (hs->eps[i] != avoid && lb_endpoint_has_slot(hs->eps[i]))
            return true;
    return false;
}

static struct endpoint *srr_pick(const struct host_set *hs, void *wstate,
                                 const struct lb_pick_ctx *ctx)
{
    const struct srr_table *t = hs->table;
    struct srr_state *st = wstate;
    uint32_t pos = st->pos, misses = 0;

    if (t->len == 0)
        return NULL;
    for (uint32_t tries = 0; tries < t->len; tries++) {
        struct endpoint *ep = hs->eps[t->map[pos]];
        if (++pos == t->len)
            pos = 0;
        if (ep != ctx->avoid && lb_endpoint_has_slot(ep)) {
            st->pos = pos;
            return ep;
        }
        if (++misses == hs->n && !other_has_slot(hs, ctx->avoid))
            break;
    }
    return lb_avoid_fallback(hs, ctx->avoid);
}

const struct lb_ops lb_static_rr_ops = {
    .name = "static-rr",
    .worker_state_size = sizeof(struct srr_state),
    .build = srr_build,
    .free_table = srr_free,
    .init_worker = srr_init_worker,
    .pick = srr_pick,
};
