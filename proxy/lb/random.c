/*
 * random.c: weighted random with power-of-d choices (balance random(<draws>)).
 *
 * HAProxy's `random`: draw `draws` endpoints (default 2) at random in
 * proportion to their weights and keep the least loaded of them, load being
 * connections relative to weight (lb_load_less). With draws = 1 this is plain
 * weighted random; with 2 it is the "power of two choices", which keeps the
 * most loaded endpoint close to the average without the herd effect of every
 * worker chasing the one global minimum (what leastconn does).
 *
 * The randomness comes from a per-worker xorshift64* generator in the
 * worker's slot, seeded (non-zero) from the cluster name and worker index.
 * A weighted draw is a binary search in the table of cumulative weights.
 * Drawn endpoints that are full (maxconn) or `avoid` are discarded; when all
 * draws are discarded, one scan from a random start takes the least loaded
 * endpoint that has room, so a pick fails only when every endpoint is full.
 *
 * Cost: O(draws * log n) per pick, plus an O(n) scan in the rare case above;
 * the table is 4 bytes per endpoint.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/lb/lb_internal.h"

struct rnd_table {
    uint32_t draws;
    uint32_t n;
    uint64_t total;
    uint32_t cum[]; /* cum[i]: sum of the weights of eps[0..i] */
};

struct rnd_state {
    uint64_t rng;
};

static int rnd_build(struct host_set *hs, char *err, size_t errlen)
{
    struct rnd_table *t = tern_calloc(1, sizeof(*t) + (hs->n ? hs->n : 1) * sizeof(uint32_t));
    uint32_t sum = 0;

    t->draws = hs->cluster->random_draws ? hs->cluster->random_draws : 2;
    t->n = hs->n;
    for (uint32_t i = 0; i < hs->n; i++) {
        sum += hs->w[i];
        t->cum[i] = sum;
    }
    t->total = sum;
    hs->table = t;
    return 0;
}

static void rnd_free(void *table)
{
    free(table);
}

static void rnd_init_worker(const struct host_set *hs, void *wstate, uint32_t worker)
{
    struct rnd_state *st = wstate;
    const char *name = hs->cluster->name;
    st->rng = tern_hash64(name, strlen(name), 0x72616e646f6dULL + worker) | 1;
}

/* A weighted random endpoint index. */
static uint32_t draw(const struct rnd_table *t, struct rnd_state *st)
{
    /* r uniform in [0, total): multiply-shift, no modulo bias to speak of */
    uint64_t r = ((tern_rand_next(&st->rng) >> 32) * t->total) >> 32;
    uint32_t lo = 0, hi = t->n - 1;

    while (lo < hi) { /* first i with cum[i] > r */
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->cum[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static struct endpoint *rnd_pick(const struct host_set *hs, void *wstate,
                                 const struct lb_pick_ctx *ctx)
{
    const struct rnd_table *t = hs->table;
    struct rnd_state *st = wstate;
    struct endpoint *best = NULL;
    uint32_t best_conns = 0, best_weight = 1;

    if (hs->n == 0)
        return NULL;
    for (uint32_t d = 0; d < t->draws; d++) {
        uint32_t j = draw(t, st);
        struct endpoint *ep = hs->eps[j];
        uint32_t conns = lb_endpoint_conns(ep);
        if (ep == ctx->avoid || (ep->maxconn && conns >= ep->maxconn))
            continue;
        if (!best || lb_load_less(conns, hs->w[j], best_conns, best_weight)) {
            best = ep;
            best_conns = conns;
            best_weight = hs->w[j];
        }
    }
    if (best)
        return best;

    /* every draw was full or avoided: least loaded with room, if any */
    uint32_t i = (uint32_t)((tern_rand_next(&st->rng) >> 32) % hs->n);
    for (uint32_t k = 0; k < hs->n; k++, i = i + 1 == hs->n ? 0 : i + 1) {
        struct endpoint *ep = hs->eps[i];
        uint32_t conns = lb_endpoint_conns(ep);
        if (ep == ctx->avoid || (ep->maxconn && conns >= ep->maxconn))
            continue;
        if (!best || lb_load_less(conns, hs->w[i], best_conns, best_weight)) {
            best = ep;
            best_conns = conns;
            best_weight = hs->w[i];
        }
    }
    return best ? best : lb_avoid_fallback(hs, ctx->avoid);
}

const struct lb_ops lb_random_ops = {
    .name = "random",
    .worker_state_size = sizeof(struct rnd_state),
    .build = rnd_build,
    .free_table = rnd_free,
    .init_worker = rnd_init_worker,
    .pick = rnd_pick,
};
