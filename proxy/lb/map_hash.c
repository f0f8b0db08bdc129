/*
 * map_hash.c: map-based hashing (balance source, hash-type map-based).
 *
 * HAProxy's default hash type: the client's hash picks an entry of a map in
 * which each endpoint appears weight times (the weighted map of lb_wmap.c,
 * weights reduced by their gcd), entry = hash % map length. The same client
 * always reaches the same endpoint while the set is unchanged, and weights
 * are honoured exactly, but any change of the set (a server down, added or
 * reweighted) changes the map length and remaps most clients: use
 * hash-type consistent (ring.c, maglev.c) when that matters.
 *
 * As for every hash algorithm the mapped endpoint is returned even when it
 * is full (the caller queues for it, keeping affinity); `avoid` (redispatch)
 * moves to the next entry of the map that is another endpoint.
 *
 * Cost: O(1) per pick (one modulo, one load); the map takes 4 bytes per
 * entry, at most 256 * n entries.
 */
#include <stdlib.h>

#include "proxy/lb/lb_internal.h"

struct map_table {
    uint32_t len;
    uint32_t *map; /* endpoint indexes */
};

static int map_build(struct host_set *hs, char *err, size_t errlen)
{
    struct map_table *t = tern_calloc(1, sizeof(*t));
    t->map = lb_weighted_map_build(hs, &t->len);
    hs->table = t;
    return 0;
}

static void map_free(void *table)
{
    struct map_table *t = table;
    free(t->map);
    free(t);
}

static struct endpoint *map_pick(const struct host_set *hs, void *wstate,
                                 const struct lb_pick_ctx *ctx)
{
    const struct map_table *t = hs->table;
    uint32_t pos;
    struct endpoint *ep;

    if (t->len == 0)
        return NULL;
    pos = (uint32_t)(lb_mix64(ctx->hash_key) % t->len);
    ep = hs->eps[t->map[pos]];
    if (ep == ctx->avoid && hs->n > 1) {
        /* another endpoint is at most one map turn away */
        do {
            pos = pos + 1 == t->len ? 0 : pos + 1;
            ep = hs->eps[t->map[pos]];
        } while (ep == ctx->avoid);
    }
    return ep;
}

const struct lb_ops lb_map_hash_ops = {
    .name = "map-based",
    .build = map_build,
    .free_table = map_free,
    .pick = map_pick,
};
