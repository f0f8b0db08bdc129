/*
 * ring.c: consistent hashing on a ring (balance source, hash-type consistent;
 * the default consistent implementation, see below).
 *
 * Each endpoint owns weight * K points on a 32-bit circle; a client's hash
 * lands on the circle and walks clockwise to the first point, whose owner
 * gets the connection. Points are hashed from the endpoint's NAME and the
 * replica number, never from its position or address, so they survive
 * restarts, reordering of the config and address changes. When an endpoint
 * joins it takes over only the arcs in front of its own points (about 1/N of
 * the keys); when it leaves only its keys move, each to the next point, which
 * is also where `avoid` (redispatch) sends them.
 *
 * K = 160 points per unit of weight. An endpoint's share varies like
 * 1/sqrt(K); measured max/mean load (chash_compare, 10,000+ keys per
 * endpoint) for N = 3, 10, 100, 1000 endpoints:
 *     K = 16 (HAProxy's points per weight unit)  1.20  1.64  1.55  2.00
 *     K = 100                                   1.11  1.11  1.21  1.36
 *     K = 160                                   1.06  1.18  1.19  1.29
 *     K = 256                                   1.07  1.10  1.18  1.30
 * 160 is where more points stop paying for their memory. K never depends on
 * the current set (no gcd or max-weight normalisation): an endpoint's points
 * depend on its name and weight alone, which is what keeps the ring
 * consistent when the set changes. Only a cluster whose configured weights
 * sum past RING_MAX_POINTS / 160 (13,107: 131 servers of weight 100) gets
 * fewer points per weight, computed from the configured endpoints so that it
 * too stays fixed across health changes.
 *
 * Lookup: the sorted points plus a bucket index on their top bits (one to
 * two points per bucket), so a pick is one mix of the key, one bucket load
 * and a short scan: 18-26 ns measured for 3-1000 endpoints. Memory: at most
 * 12 bytes per point (position + owner + bucket), about 1.9 KB per unit of
 * weight: 7.6 KB for 4 endpoints, 17 KB for 10, 163 KB for 100. Build:
 * O(P log P) for P points, 0.2 ms for 10 endpoints, 33 ms for 1000.
 *
 * Ring or Maglev (maglev.c)? The ring is the default. Measured with
 * chash_compare (bazel run //tests/unit/proxy/lb:chash_compare):
 *                          ring                    Maglev (M = 65537)
 *   keys moved, add/remove exactly the changed      + 0.07-0.6% of all keys
 *                          endpoint's (~1/N)         between unchanged ones
 *                                                    (N = 1000: 0.67% vs 0.10%)
 *   balance max/mean       1.05-1.29                 1.00-1.02 (1.035 at 1000)
 *   memory per set         1.9 KB per weight unit    128 KB whatever N
 *   pick                   ~20 ns                    ~4 ns
 *   build                  0.2 ms (N=10)             1-2.6 ms
 * The ring is what HAProxy's consistent hashing is, so it behaves as HAProxy
 * users expect; it never moves a key between two endpoints that did not
 * change; it is far smaller for the small clusters a sidecar mostly has
 * (many clusters x 128 KB would dominate tern's idle memory); and 20 ns per
 * new connection is noise next to a connect(). Maglev is there for large
 * clusters where even load matters more than strict stickiness.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/lb/lb_internal.h"

#ifndef RING_POINTS_PER_WEIGHT
#define RING_POINTS_PER_WEIGHT 160
#endif
#define RING_MAX_POINTS (1u << 21) /* 2 M points: at most 24 MB with the index */

struct ring {
    uint32_t npoints;
    uint32_t bucket_shift; /* bucket of a position: pos >> bucket_shift */
    uint32_t *pos;         /* [npoints] sorted positions */
    uint32_t *owner;       /* [npoints] endpoint index of each point */
    uint32_t *bucket;      /* [nbuckets + 1] first point of each bucket */
};

struct ring_point {
    uint32_t pos;
    uint32_t owner;
    const char *name;
};

static int point_cmp(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    /* a collision: the same owner wins on every machine and every restart */
    return strcmp(x->name, y->name);
}

/* Position of an endpoint's replica r: depends on its name only. */
static uint32_t point_pos(uint64_t name_hash, uint32_t r)
{
    unsigned char b[4] = {(unsigned char)r, (unsigned char)(r >> 8),
                          (unsigned char)(r >> 16), (unsigned char)(r >> 24)};
    return (uint32_t)(tern_hash64(b, sizeof(b), name_hash) >> 32);
}

static void ring_free(void *table)
{
    struct ring *rg = table;
    if (!rg)
        return;
    free(rg->pos);
    free(rg->owner);
    free(rg->bucket);
    free(rg);
}

static int ring_build(struct host_set *hs, char *err, size_t errlen)
{
    struct ring *rg = tern_calloc(1, sizeof(*rg));
    uint64_t total_w = 0, cfg_w = 0;
    uint32_t k = RING_POINTS_PER_WEIGHT, p = 0, bits = 0, nbuckets;
    struct ring_point *pts;

    /* points per weight from the configured endpoints, not the current
     * set: K must not change when an endpoint goes down or comes back */
    for (uint32_t i = 0; i < hs->cluster->nendpoints; i++)
        cfg_w += hs->cluster->endpoints[i]->weight;
    if (cfg_w * k > RING_MAX_POINTS)
        k = RING_MAX_POINTS / cfg_w ? (uint32_t)(RING_MAX_POINTS / cfg_w) : 1;
    for (uint32_t i = 0; i < hs->n; i++)
        total_w += hs->w[i];
    if (total_w > cfg_w && total_w * k > RING_MAX_POINTS) /* eps not from the cluster */
        k = RING_MAX_POINTS / total_w ? (uint32_t)(RING_MAX_POINTS / total_w) : 1;
    rg->npoints = (uint32_t)(total_w * k);

    pts = tern_calloc(rg->npoints ? rg->npoints : 1, sizeof(*pts));
    for (uint32_t i = 0; i < hs->n; i++) {
        const char *name = hs->eps[i]->name;
        uint64_t nh = tern_hash64(name, strlen(name), 0);
        uint32_t reps = hs->w[i] * k;
        for (uint32_t r = 0; r < reps; r++) {
            pts[p].pos = point_pos(nh, r);
            pts[p].owner = i;
            pts[p].name = name;
            p++;
        }
    }
    qsort(pts, rg->npoints, sizeof(*pts), point_cmp);

    rg->pos = tern_calloc(rg->npoints ? rg->npoints : 1, sizeof(*rg->pos));
    rg->owner = tern_calloc(rg->npoints ? rg->npoints : 1, sizeof(*rg->owner));
    for (uint32_t i = 0; i < rg->npoints; i++) {
        rg->pos[i] = pts[i].pos;
        rg->owner[i] = pts[i].owner;
    }
    free(pts);

    /* about one point per bucket: 2^bits buckets, bits = floor(log2(P)) */
    while (bits < 31 && (2u << bits) <= rg->npoints)
        bits++;
    nbuckets = 1u << bits;
    rg->bucket_shift = 32 - bits; /* bits = 0: shift 32, handled in pick */
    rg->bucket = tern_calloc(nbuckets + 1, sizeof(*rg->bucket));
    for (uint32_t b = 0, i = 0; b <= nbuckets; b++) {
        /* first point whose bucket is >= b */
        while (i < rg->npoints && ((uint64_t)rg->pos[i] >> rg->bucket_shift) < b)
            i++;
        rg->bucket[b] = i;
    }
    hs->table = rg;
    return 0;
}

/* Index of the first point at or after position x, wrapping round. */
static uint32_t ring_find(const struct ring *rg, uint32_t x)
{
    uint32_t b = (uint32_t)((uint64_t)x >> rg->bucket_shift);
    uint32_t lo = rg->bucket[b], hi = rg->bucket[b + 1];

    /* about one point per bucket: a short linear scan beats a search */
    while (lo < hi && rg->pos[lo] < x)
        lo++;
    return lo == rg->npoints ? 0 : lo;
}

static struct endpoint *ring_pick(const struct host_set *hs, void *wstate,
                                  const struct lb_pick_ctx *ctx)
{
    const struct ring *rg = hs->table;
    uint32_t i;
    struct endpoint *ep;

    if (rg->npoints == 0)
        return NULL;
    i = ring_find(rg, (uint32_t)(lb_mix64(ctx->hash_key) >> 32));
    ep = hs->eps[rg->owner[i]];
    if (ep == ctx->avoid && hs->n > 1) {
        /* redispatch: the next point clockwise owned by someone else */
        do {
            i = i + 1 == rg->npoints ? 0 : i + 1;
            ep = hs->eps[rg->owner[i]];
        } while (ep == ctx->avoid);
    }
    return ep;
}

const struct lb_ops lb_ring_ops = {
    .name = "consistent-ring",
    .build = ring_build,
    .free_table = ring_free,
    .pick = ring_pick,
};
