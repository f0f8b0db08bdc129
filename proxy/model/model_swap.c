/*
 * model_swap.c: what a new snapshot inherits from the one it replaces.
 *
 * A configuration change (a reload of the file, an xDS update) builds a whole
 * new snapshot. Most of its clusters are usually the very same as before, and
 * a cluster is more than its configuration: it has a health state per
 * endpoint, host sets in every worker, queued connections, idle server
 * connections and counters. So the new snapshot takes over the old cluster
 * object when the configuration that built it is identical (same name, same
 * fingerprint: see cluster->fingerprint): clusters are refcounted and shared
 * by consecutive snapshots, and nothing about them changes at all.
 *
 * A cluster that did change is a new object (its counters start at 0), but
 * its endpoints that are still the same server keep their health, so a
 * change elsewhere in the cluster does not turn a down server up again.
 *
 * A source may also carry a running cluster over itself (xDS does, for
 * every cluster whose resources did not change: cluster->source_fingerprint),
 * so that an update costs what it changes: such a cluster is simply kept.
 *
 * Names are matched through a small open-addressing table: a snapshot can
 * hold tens of thousands of clusters (xDS), and this runs on the main thread
 * while the workers serve.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/model/model.h"

struct name_index {
    struct cluster **slot;
    size_t mask;
};

static uint64_t name_hash(const char *s)
{
    return tern_hash64(s, strlen(s), 0x7465726e); /* "tern" */
}

static void index_build(struct name_index *ix, const struct snapshot *snap)
{
    size_t cap = 16;

    while (cap < (size_t)snap->nclusters * 2)
        cap <<= 1;
    ix->slot = tern_calloc(cap, sizeof(*ix->slot));
    ix->mask = cap - 1;
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        size_t h = (size_t)name_hash(c->name) & ix->mask;
        while (ix->slot[h])
            h = (h + 1) & ix->mask;
        ix->slot[h] = c;
    }
}

static struct cluster *index_find(const struct name_index *ix, const char *name)
{
    size_t h = (size_t)name_hash(name) & ix->mask;

    for (; ix->slot[h]; h = (h + 1) & ix->mask)
        if (strcmp(ix->slot[h]->name, name) == 0)
            return ix->slot[h];
    return NULL;
}

static bool same_addr(const struct endpoint *a, const struct endpoint *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* The new endpoint is the same server, checked the same way. */
static bool same_server(const struct endpoint *n, const struct endpoint *o)
{
    return same_addr(n, o) && n->check == o->check && n->disabled == o->disabled &&
           n->rise == o->rise && n->fall == o->fall;
}

static void carry_health(struct cluster *nc, const struct cluster *oc)
{
    for (uint32_t i = 0; i < nc->nendpoints; i++) {
        struct endpoint *ep = nc->endpoints[i];
        const struct endpoint *old = cluster_find_endpoint(oc, ep->name);

        if (!old || !same_server(ep, old) || !old->stats)
            continue;
        atomic_store(&ep->up, atomic_load(&((struct endpoint *)old)->up));
        ep->hc.health = old->hc.health;
        memcpy(ep->hc.last_status, old->hc.last_status, sizeof(ep->hc.last_status));
        ep->hc.carried = true;
        /* what an operator set through the admin API stays with the server */
        atomic_store(&ep->admin_state, atomic_load(&((struct endpoint *)old)->admin_state));
        atomic_store(&ep->rt_weight, atomic_load(&((struct endpoint *)old)->rt_weight));
    }
}

/* Pointer -> pointer, for the listeners' borrowed clusters. */
void snapshot_remap_clusters(struct snapshot *snap, struct cluster *const *from,
                             struct cluster *const *to, uint32_t n)
{
    struct cluster **slot; /* index + 1 into from[], as a pointer-sized value */
    size_t cap = 16, mask;

    if (!n)
        return;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    slot = tern_calloc(cap, sizeof(*slot));
    mask = cap - 1;
    for (uint32_t k = 0; k < n; k++) {
        size_t h = (size_t)tern_hash64(&from[k], sizeof(from[k]), 1) & mask;
        while (slot[h])
            h = (h + 1) & mask;
        slot[h] = (struct cluster *)(uintptr_t)(k + 1);
    }
#define REMAP(ptr)                                                                          \
    do {                                                                                    \
        if (ptr) {                                                                          \
            size_t h_ = (size_t)tern_hash64(&(ptr), sizeof(ptr), 1) & mask;                 \
            for (; slot[h_]; h_ = (h_ + 1) & mask) {                                        \
                size_t k_ = (size_t)(uintptr_t)slot[h_] - 1;                                \
                if (from[k_] == (ptr)) {                                                    \
                    (ptr) = to[k_];                                                         \
                    break;                                                                  \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    } while (0)
    for (uint32_t i = 0; i < snap->nlisteners; i++) {
        struct listener *l = snap->listeners[i];
        REMAP(l->default_cluster);
        for (uint32_t r = 0; r < l->nrules; r++)
            REMAP(l->rules[r].target);
    }
#undef REMAP
    free(slot);
}

uint32_t snapshot_take_over(struct snapshot *snap, const struct snapshot *old)
{
    struct name_index ix = {0};
    uint32_t taken = 0, kept = 0;
    struct cluster **map_from = NULL, **map_to = NULL;

    if (!old || !old->nclusters)
        return 0;
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *nc = snap->clusters[i];
        struct cluster *oc;

        if (nc->nworkers) { /* carried over by the source: running already */
            kept++;
            continue;
        }
        if (!ix.slot) {
            index_build(&ix, old);
            map_from = tern_calloc(snap->nclusters, sizeof(*map_from));
            map_to = tern_calloc(snap->nclusters, sizeof(*map_to));
        }
        oc = index_find(&ix, nc->name);
        if (!oc || !oc->nworkers)
            continue;
        if (nc->fingerprint == 0 || nc->fingerprint != oc->fingerprint) {
            carry_health(nc, oc);
            continue;
        }
        cluster_ref(oc);
        map_from[taken] = nc;
        map_to[taken] = oc;
        snap->clusters[i] = oc;
        taken++;
    }
    /* Point the listeners at the clusters taken over; only then drop the
     * replaced ones (the remap compared against their addresses). */
    snapshot_remap_clusters(snap, map_from, map_to, taken);
    for (uint32_t k = 0; k < taken; k++)
        cluster_unref(map_from[k]);
    free(map_from);
    free(map_to);
    free(ix.slot);
    return taken + kept;
}

void snapshot_own_locations(struct snapshot *snap)
{
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        c->loc.file = snap->source;
        for (uint32_t j = 0; j < c->nendpoints; j++)
            c->endpoints[j]->loc.file = snap->source;
    }
}
