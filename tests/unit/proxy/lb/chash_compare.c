/*
 * chash_compare.c: measures the two consistent-hash implementations side by
 * side, for the choice of the default (see proxy/lb/ring.c):
 *   - balance: max / mean keys per endpoint over 1,000,000 keys;
 *   - add: share of keys that move when endpoint N+1 joins (ideal 1/(N+1)),
 *     and the share that moves between two old endpoints (ideal 0);
 *   - remove: share that moves when one endpoint leaves (ideal 1/N), and the
 *     share that moves although it was not on the removed endpoint (ideal 0);
 *   - memory of one host set (malloc'd bytes), build time, pick time.
 * Usage: chash_compare [keys]   (bazel run //tests/unit/proxy/lb:chash_compare)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/lb/lb.h"
#include "proxy/model/model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t key_of(uint32_t i)
{
    return tern_hash64(&i, sizeof(i), 0x6b6579);
}

static struct endpoint *pick(struct cluster *c, uint64_t key)
{
    struct lb_pick_ctx ctx = {.worker = 0, .hash_key = key};
    return c->lb->pick(c->hosts, host_set_worker_state(c->hosts, 0), &ctx);
}

static void map_keys(struct cluster *c, uint32_t nkeys, struct endpoint **out)
{
    for (uint32_t i = 0; i < nkeys; i++)
        out[i] = pick(c, key_of(i));
}

static void rebuild(struct cluster *c)
{
    char err[256];
    if (!cluster_rebuild_hosts(c, 1, err, sizeof(err))) {
        fprintf(stderr, "rebuild: %s\n", err);
        exit(1);
    }
}

static void run(enum lb_consistent_algo algo, uint32_t n, uint32_t nkeys)
{
    struct snapshot *snap = snapshot_new("compare");
    struct cluster *c = snapshot_add_cluster(snap, "be");
    struct endpoint **before = calloc(nkeys, sizeof(*before));
    struct endpoint **after = calloc(nkeys, sizeof(*after));
    uint32_t *load = calloc(n + 1, sizeof(*load));
    char err[256];

    c->lb_policy = LB_SOURCE;
    c->hash_type = LB_HASH_CONSISTENT;
    c->consistent_algo = algo;
    for (uint32_t i = 0; i <= n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "app-%u.default.svc", i + 1);
        cluster_add_endpoint(c, name);
    }
    if (snapshot_runtime_init(snap, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    struct endpoint *extra = c->endpoints[n];
    atomic_store(&extra->up, 0);

    /* memory and build time of an N-endpoint set */
    struct mallinfo2 m0 = mallinfo2();
    double t0 = now_s();
    rebuild(c);
    double build_ms = (now_s() - t0) * 1e3;
    struct mallinfo2 m1 = mallinfo2();
    long mem = (long)m1.uordblks - (long)m0.uordblks;

    /* balance */
    map_keys(c, nkeys, before);
    for (uint32_t i = 0; i < nkeys; i++)
        load[before[i]->id]++;
    uint32_t maxl = 0;
    for (uint32_t i = 0; i < n; i++)
        if (load[i] > maxl)
            maxl = load[i];
    double balance = maxl / ((double)nkeys / n);

    /* pick cost */
    uint32_t npicks = 4000000;
    uintptr_t sink = 0;
    t0 = now_s();
    for (uint32_t i = 0; i < npicks; i++)
        sink += (uintptr_t)pick(c, (uint64_t)i * 0x9e3779b97f4a7c15ULL);
    double pick_ns = (now_s() - t0) * 1e9 / npicks;

    /* add endpoint N+1 */
    atomic_store(&extra->up, 1);
    rebuild(c);
    map_keys(c, nkeys, after);
    uint32_t moved = 0, moved_other = 0;
    for (uint32_t i = 0; i < nkeys; i++) {
        if (after[i] != before[i]) {
            moved++;
            if (after[i] != extra)
                moved_other++;
        }
    }

    /* remove one of the original N */
    struct endpoint *gone = c->endpoints[n / 2];
    atomic_store(&extra->up, 0);
    atomic_store(&gone->up, 0);
    rebuild(c);
    map_keys(c, nkeys, after);
    uint32_t rmoved = 0, rmoved_other = 0;
    for (uint32_t i = 0; i < nkeys; i++) {
        if (after[i] != before[i]) {
            rmoved++;
            if (before[i] != gone)
                rmoved_other++;
        }
    }

    printf("%-7s %5u  %6.3f  %6.4f (1/N+1 %6.4f) %6.4f  %6.4f (1/N %6.4f) %6.4f  %9ld  %8.2f  %6.1f%s\n",
           algo == LB_CONSISTENT_RING ? "ring" : "maglev", n, balance,
           (double)moved / nkeys, 1.0 / (n + 1), (double)moved_other / nkeys,
           (double)rmoved / nkeys, 1.0 / n, (double)rmoved_other / nkeys, mem, build_ms,
           pick_ns, sink == 1 ? " " : "");

    for (uint32_t w = 0; w < snap->nworkers; w++) {
        host_set_unref(c->worker[w].hosts);
        c->worker[w].hosts = NULL;
    }
    snapshot_unref(snap);
    free(before);
    free(after);
    free(load);
}

int main(int argc, char **argv)
{
    uint32_t nkeys = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
    static const uint32_t sizes[] = {3, 4, 10, 30, 100, 1000};

    printf("%u+ keys (10,000+ per endpoint); balance = max/mean keys per endpoint; moved = share of keys\n", nkeys);
    printf("algo        N  balance  add:moved            other   rm:moved             other"
           "   mem(B)  build(ms) pick(ns)\n");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* at least 10,000 keys per endpoint, so sampling noise (1%) stays
         * below the imbalance being measured */
        uint32_t k = nkeys > sizes[i] * 10000 ? nkeys : sizes[i] * 10000;
        run(LB_CONSISTENT_RING, sizes[i], k);
        run(LB_CONSISTENT_MAGLEV, sizes[i], k);
    }
    return 0;
}
