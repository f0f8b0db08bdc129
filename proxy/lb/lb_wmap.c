/*
 * lb_wmap.c: the weighted map behind static-rr and map-based hashing (see
 * lb_internal.h). Weights are first divided by their gcd, so the map has
 * T = sum(w) / gcd entries.
 *
 * The map is one cycle of smooth weighted round robin (as roundrobin.c, and
 * as HAProxy fills its own map): each step every endpoint gains its weight,
 * the richest takes the entry and pays T. Weights 5,1,1 give a a b a c a a,
 * so even walking over the end of the map never shows one endpoint five
 * times in a row. That costs O(T * n) = O(256 n^2) at worst; past
 * WMAP_SWRR_BUDGET steps (a very large set with uneven weights) the map is
 * built in O(T log T) instead by sorting each entry's ideal position
 * (2k + 1) / (2w) in [0, 1), which has the same counts and nearly the same
 * spread (endpoints whose positions tie are adjacent). Positions are compared
 * as fractions with 64-bit cross products: no floating point, and the same
 * order on every machine.
 */
#include <stdlib.h>

#include "proxy/lb/lb_internal.h"

struct wmap_entry {
    uint32_t idx;  /* endpoint index in the host set */
    uint32_t num;  /* position = num / den */
    uint32_t den;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct wmap_entry *x = a, *y = b;
    uint64_t l = (uint64_t)x->num * y->den;
    uint64_t r = (uint64_t)y->num * x->den;
    if (l != r)
        return l < r ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

#define WMAP_SWRR_BUDGET (1u << 24) /* steps x endpoints, ~10 ms */

static void build_swrr(const struct host_set *hs, uint32_t g, uint32_t total, uint32_t *map)
{
    int64_t *cw = tern_calloc(hs->n, sizeof(*cw));
    uint32_t *w = tern_calloc(hs->n, sizeof(*w));

    for (uint32_t i = 0; i < hs->n; i++)
        w[i] = hs->w[i] / g;
    for (uint32_t k = 0; k < total; k++) {
        uint32_t best = 0;
        for (uint32_t i = 0; i < hs->n; i++) {
            cw[i] += w[i];
            if (cw[i] > cw[best])
                best = i;
        }
        cw[best] -= total;
        map[k] = best;
    }
    free(w);
    free(cw);
}

static void build_sorted(const struct host_set *hs, uint32_t g, uint32_t total, uint32_t *map)
{
    struct wmap_entry *ent = tern_calloc(total, sizeof(*ent));
    uint32_t k = 0;

    for (uint32_t i = 0; i < hs->n; i++) {
        uint32_t w = hs->w[i] / g;
        for (uint32_t j = 0; j < w; j++) {
            ent[k].idx = i;
            ent[k].num = 2 * j + 1;
            ent[k].den = 2 * w;
            k++;
        }
    }
    qsort(ent, total, sizeof(*ent), entry_cmp);
    for (uint32_t i = 0; i < total; i++)
        map[i] = ent[i].idx;
    free(ent);
}

uint32_t *lb_weighted_map_build(const struct host_set *hs, uint32_t *len)
{
    uint32_t *map;
    uint32_t g = 0, total = 0;

    for (uint32_t i = 0; i < hs->n; i++)
        g = gcd32(hs->w[i], g);
    if (g == 0)
        g = 1;
    for (uint32_t i = 0; i < hs->n; i++)
        total += hs->w[i] / g;
    map = tern_calloc(total ? total : 1, sizeof(*map));
    if ((uint64_t)total * hs->n <= WMAP_SWRR_BUDGET)
        build_swrr(hs, g, total, map);
    else
        build_sorted(hs, g, total, map);
    *len = total;
    return map;
}
