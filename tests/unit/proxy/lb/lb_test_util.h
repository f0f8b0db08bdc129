/*
 * lb_test_util.h: fixtures shared by the LB unit tests. A test builds a real
 * snapshot with one cluster (snapshot_new / snapshot_add_cluster /
 * cluster_add_endpoint), prepares it with snapshot_runtime_init (which builds
 * c->hosts through cluster_rebuild_hosts and host_set_new) and picks through
 * c->lb->pick exactly as a worker does.
 */
#ifndef TERN_TESTS_LB_TEST_UTIL_H
#define TERN_TESTS_LB_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxy/lb/lb.h"
#include "proxy/model/model.h"

struct lbt {
    struct snapshot *snap;
    struct cluster *c;
    uint32_t nworkers;
};

/* A cluster "be" with endpoints s1..sN of the given weights (NULL: all 1),
 * not yet runtime-initialised, so a test can tune it first. */
static inline struct lbt lbt_new(enum lb_policy policy, uint32_t n, const uint32_t *weights)
{
    struct lbt t;
    t.snap = snapshot_new("test.cfg");
    t.c = snapshot_add_cluster(t.snap, "be");
    t.c->lb_policy = policy;
    t.nworkers = 0;
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%u", i + 1);
        struct endpoint *ep = cluster_add_endpoint(t.c, name);
        if (weights)
            ep->weight = weights[i];
    }
    return t;
}

/* Runtime init with nworkers; fails the test when the sets cannot be built. */
static inline void lbt_start(struct lbt *t, uint32_t nworkers)
{
    char err[256] = "";
    t->nworkers = nworkers;
    int rc = snapshot_runtime_init(t->snap, nworkers, err, sizeof(err));
    if (rc != 0)
        fail_msg("snapshot_runtime_init: %s", err);
    assert_non_null(t->c->hosts);
}

static inline struct lbt lbt_make(enum lb_policy policy, uint32_t n, const uint32_t *weights,
                                  uint32_t nworkers)
{
    struct lbt t = lbt_new(policy, n, weights);
    lbt_start(&t, nworkers);
    return t;
}

/* Rebuilds the host set from the endpoints' current up/disabled flags, as the
 * health checker does. */
static inline void lbt_rebuild(struct lbt *t)
{
    char err[256] = "";
    if (!cluster_rebuild_hosts(t->c, t->nworkers, err, sizeof(err)))
        fail_msg("cluster_rebuild_hosts: %s", err);
}

/* Drops what workers would drop (their host set references), then the
 * snapshot. */
static inline void lbt_free(struct lbt *t)
{
    for (uint32_t i = 0; i < t->snap->nclusters; i++) {
        struct cluster *c = t->snap->clusters[i];
        for (uint32_t w = 0; c->worker && w < t->nworkers; w++) {
            host_set_unref(c->worker[w].hosts);
            c->worker[w].hosts = NULL;
        }
    }
    snapshot_unref(t->snap);
}

static inline struct endpoint *lbt_pick_ex(const struct lbt *t, uint32_t worker, uint64_t key,
                                           const struct endpoint *avoid)
{
    struct lb_pick_ctx ctx = {.worker = worker, .hash_key = key, .avoid = avoid};
    return t->c->lb->pick(t->c->hosts, host_set_worker_state(t->c->hosts, worker), &ctx);
}

static inline struct endpoint *lbt_pick(const struct lbt *t, uint32_t worker)
{
    return lbt_pick_ex(t, worker, 0, NULL);
}

static inline struct endpoint *lbt_ep(const struct lbt *t, const char *name)
{
    struct endpoint *ep = cluster_find_endpoint(t->c, name);
    assert_non_null(ep);
    return ep;
}

static inline void lbt_set_conns(struct endpoint *ep, int conns)
{
    atomic_store(&ep->cur_conns, conns);
}

/* Name of a picked endpoint, "(null)" for NULL, for readable assertions. */
static inline const char *lbt_name(const struct endpoint *ep)
{
    return ep ? ep->name : "(null)";
}

/* A well-spread client key, as the proxy derives from a client address. */
static inline uint64_t lbt_key(uint32_t i)
{
    return tern_hash64(&i, sizeof(i), 0x6b6579);
}

#endif /* TERN_TESTS_LB_TEST_UTIL_H */
