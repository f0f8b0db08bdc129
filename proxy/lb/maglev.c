/*
 * maglev.c: Maglev consistent hashing (balance source, hash-type consistent,
 * cluster consistent_algo = LB_CONSISTENT_MAGLEV).
 *
 * Google's Maglev (NSDI 2016): a lookup table of M entries, M prime. Every
 * endpoint has its own permutation of the table positions, offset + j * skip
 * (mod M), with offset and skip from two hashes of its NAME (not its position
 * or address: the table survives restarts, config reordering and address
 * changes). Endpoints take turns claiming the next free position of their
 * permutation until the table is full; a key maps to table[hash % M]. Turns
 * are weighted: each round an endpoint earns its weight in credit and claims
 * one position per max-weight of credit, so its share of the table is
 * weight / total. Turn order is by name hash, not config order.
 *
 * Table size: M = 65537 (the paper's and Envoy's default) whatever the set.
 * A smaller table for small clusters (say 5003 below 50 endpoints) would save
 * 118 KB per set, but M must never change when the set changes: a new M
 * remaps nearly every key, and the set changes on every health flip (sizing
 * M from the configured endpoint count would still remap everything when a
 * config or EDS update crosses the threshold). Balance also wants M >> N,
 * each endpoint's share being quantised to 1/M. Entries are uint16 endpoint
 * indexes, so a set holds at most 65,534 endpoints (with more than M some
 * would get no entry anyway): 128 KB per set.
 *
 * Measured (chash_compare, 10,000+ keys per endpoint), N = 3, 10, 100, 1000:
 * max/mean load 1.002, 1.004, 1.021, 1.035 (the last within the sampling
 * noise); adding or removing an endpoint moves its ~1/N of the keys plus
 * 0.07%, 0.26%, 0.6%, 0.58% of all keys between endpoints that did not change
 * (the fill order shifts), where a ring moves none; build 1-2.6 ms (O(M log M)
 * expected: the last free positions take the most probing); pick ~4 ns: one
 * mix, one modulo, one 2-byte load. `avoid` (redispatch) takes the next table
 * entry owned by another endpoint.
 *
 * See ring.c for the side-by-side figures and why the ring is the default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/lb/lb_internal.h"

#ifndef MAGLEV_TABLE_SIZE
#define MAGLEV_TABLE_SIZE 65537u /* prime */
#endif
#define MAGLEV_EMPTY 0xffffu

struct maglev {
    uint32_t m;
    uint16_t entry[]; /* [m] endpoint index */
};

struct mg_perm {
    uint64_t h1;       /* offset hash, also the turn order */
    const char *name;
    uint32_t idx;      /* endpoint index in the set */
    uint32_t offset;
    uint32_t skip;
    uint32_t next;     /* next j of the permutation to try */
    uint32_t weight;
    uint32_t credit;
};

static int perm_cmp(const void *a, const void *b)
{
    const struct mg_perm *x = a, *y = b;
    if (x->h1 != y->h1)
        return x->h1 < y->h1 ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void maglev_free(void *table)
{
    free(table);
}

static int maglev_build(struct host_set *hs, char *err, size_t errlen)
{
    const uint32_t m = MAGLEV_TABLE_SIZE;
    struct maglev *mg;
    struct mg_perm *p;
    uint32_t filled = 0, wmax = 0;

    if (hs->n >= MAGLEV_EMPTY) {
        snprintf(err, errlen, "cluster '%s': Maglev supports at most %u endpoints (%u usable)",
                 hs->cluster->name, MAGLEV_EMPTY - 1u, hs->n);
        return -1;
    }
    mg = tern_malloc(sizeof(*mg) + m * sizeof(mg->entry[0]));
    mg->m = m;
    for (uint32_t i = 0; i < m; i++)
        mg->entry[i] = MAGLEV_EMPTY;
    hs->table = mg;
    if (hs->n == 0)
        return 0;

    p = tern_calloc(hs->n, sizeof(*p));
    for (uint32_t i = 0; i < hs->n; i++) {
        const struct endpoint *ep = hs->eps[i];
        size_t len = strlen(ep->name);
        p[i].h1 = tern_hash64(ep->name, len, 0x6d61676c6576ULL);
        p[i].name = ep->name;
        p[i].idx = i;
        p[i].offset = (uint32_t)(p[i].h1 % m);
        p[i].skip = (uint32_t)(tern_hash64(ep->name, len, 0x736b6970ULL) % (m - 1)) + 1;
        p[i].weight = hs->w[i];
        if (hs->w[i] > wmax)
            wmax = hs->w[i];
    }
    qsort(p, hs->n, sizeof(*p), perm_cmp);

    while (filled < m) {
        for (uint32_t i = 0; i < hs->n && filled < m; i++) {
            uint32_t pos;
            p[i].credit += p[i].weight;
            if (p[i].credit < wmax)
                continue;
            p[i].credit -= wmax;
            do { /* skip in [1, m-1] and m prime: a full permutation */
                pos = (uint32_t)(((uint64_t)p[i].next * p[i].skip + p[i].offset) % m);
                p[i].next++;
            } while (mg->entry[pos] != MAGLEV_EMPTY);
            mg->entry[pos] = (uint16_t)p[i].idx;
            filled++;
        }
    }
    free(p);
    return 0;
}

static struct endpoint *maglev_pick(const struct host_set *hs, void *wstate,
                                    const struct lb_pick_ctx *ctx)
{
    const struct maglev *mg = hs->table;
    uint32_t pos;
    struct endpoint *ep;

    if (hs->n == 0)
        return NULL;
    pos = (uint32_t)(lb_mix64(ctx->hash_key) % mg->m);
    ep = hs->eps[mg->entry[pos]];
    if (ep == ctx->avoid && hs->n > 1) {
        do {
            pos = pos + 1 == mg->m ? 0 : pos + 1;
            ep = hs->eps[mg->entry[pos]];
        } while (ep == ctx->avoid);
    }
    return ep;
}

const struct lb_ops lb_maglev_ops = {
    .name = "consistent-maglev",
    .build = maglev_build,
    .free_table = maglev_free,
    .pick = maglev_pick,
};
