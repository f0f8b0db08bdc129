/*
 * apply.c: a new configuration while tern serves (SIGHUP; later xDS).
 *
 * The order is what makes a bad configuration change nothing:
 *   1. checks that need the running state (globals fixed at start-up);
 *   2. the new snapshot takes over the clusters that did not change and is
 *      runtime-initialised (LB tables built): may fail, nothing published;
 *   3. the sockets of new listeners are opened (workers_swap): may fail,
 *      nothing published;
 *   4. published: every worker gets the snapshot; the health checker moves
 *      to it (endpoints of kept clusters keep their state); the old snapshot
 *      lives on in the workers as long as connections pin it.
 *
 * The replaced snapshot is retired, not released: the main thread keeps its
 * reference until it is the last one (polled), then drops it. So the free of
 * whatever only the old snapshot held (after a big CDS change, thousands of
 * clusters with their endpoints and host sets: milliseconds of free()) runs
 * here, never on a worker between two requests; a worker's release of a
 * snapshot is a decrement.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proxy/core/log.h"
#include "proxy/health/health.h"
#include "proxy/main/process.h"
#include "proxy/model/model.h"
#include "proxy/worker/worker.h"

/* File descriptors kept aside for the admin API, health checks and logs. */
#define FD_RESERVE 64
/* How often retired snapshots are checked for their workers' release. */
#define RETIRED_POLL_MS 100

static struct snapshot **retired; /* one reference each */
static uint32_t nretired;
static struct event *retired_ev;

/* Drops the retired snapshots nobody else holds any more (the workers'
 * releases happen-before: acquire). */
static void retired_poll(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval tv = {0, RETIRED_POLL_MS * 1000};
    uint32_t out = 0;

    for (uint32_t i = 0; i < nretired; i++) {
        if (atomic_load_explicit(&retired[i]->refcnt, memory_order_acquire) == 1)
            snapshot_unref(retired[i]);
        else
            retired[out++] = retired[i];
    }
    nretired = out;
    if (nretired)
        evtimer_add(retired_ev, &tv);
}

static void retire(struct snapshot *old)
{
    if (!retired_ev)
        retired_ev = evtimer_new(tern_proc.base, retired_poll, NULL);
    retired = tern_realloc(retired, (nretired + 1) * sizeof(*retired));
    retired[nretired++] = old;
    if (!evtimer_pending(retired_ev, NULL))
        retired_poll(-1, 0, NULL);
}

void process_apply_fini(void)
{
    for (uint32_t i = 0; i < nretired; i++)
        snapshot_unref(retired[i]);
    free(retired);
    retired = NULL;
    nretired = 0;
    if (retired_ev)
        event_free(retired_ev);
    retired_ev = NULL;
}

/* Raises the fd limit to what maxconn needs (2 fds per proxied connection)
 * and derives maxconn from the limit when the file does not set it, as
 * HAProxy does. */
void process_size_fd_limit(struct model_global *g)
{
    struct rlimit rl;
    rlim_t want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (g->maxconn) {
        want = (rlim_t)g->maxconn * 2 + FD_RESERVE;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < want) {
            log_warn("maxconn %u needs %llu file descriptors but the limit is %llu: "
                     "accept will pause when descriptors run out",
                     g->maxconn, (unsigned long long)want, (unsigned long long)rl.rlim_cur);
        }
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    g->maxconn = rl.rlim_cur > 2 * FD_RESERVE ? (uint32_t)((rl.rlim_cur - FD_RESERVE) / 2) : 64;
    if (g->maxconn > 1000000)
        g->maxconn = 1000000;
}

/* Globals sized into running structures: per-worker arrays (nbthread),
 * buffer pools (tune.bufsize), header arrays of cached streams
 * (tune.http.maxhdr) and the admin listener. */
static int check_fixed_globals(const struct model_global *o, const struct model_global *n,
                               uint32_t nworkers, char *err, size_t errlen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t want = n->nbthread ? n->nbthread : (uint32_t)(ncpu > 0 ? ncpu : 1);

    if (want != nworkers) {
        snprintf(err, errlen, "global: nbthread cannot change while tern runs (%u -> %u); "
                 "restart tern", nworkers, want);
        return -1;
    }
    if (n->bufsize != o->bufsize) {
        snprintf(err, errlen, "global: tune.bufsize cannot change while tern runs (%u -> %u); "
                 "restart tern", o->bufsize, n->bufsize);
        return -1;
    }
    if (n->http_maxhdr != o->http_maxhdr) {
        snprintf(err, errlen, "global: tune.http.maxhdr cannot change while tern runs "
                 "(%u -> %u); restart tern", o->http_maxhdr, n->http_maxhdr);
        return -1;
    }
    if (n->has_admin != o->has_admin || n->admin_addrlen != o->admin_addrlen ||
        memcmp(&n->admin_addr, &o->admin_addr, n->admin_addrlen) != 0) {
        snprintf(err, errlen, "global: admin cannot change while tern runs; restart tern");
        return -1;
    }
    return 0;
}

int process_apply(struct snapshot *snap, uint32_t drain_ms, char *err, size_t errlen)
{
    struct snapshot *old = tern_proc.snap;
    uint32_t taken;

    err[0] = 0;
    if (tern_proc.state != PROC_READY) {
        snprintf(err, errlen, "tern is %s", tern_proc.state == PROC_DRAINING ? "stopping"
                                                                            : "starting");
        snapshot_unref(snap);
        return -1;
    }
    if (check_fixed_globals(&old->global, &snap->global, tern_proc.nworkers, err, errlen)) {
        snapshot_unref(snap);
        return -1;
    }
    if (!snap->global.maxconn)
        process_size_fd_limit(&snap->global);
    else if (snap->global.maxconn != old->global.maxconn)
        process_size_fd_limit(&snap->global);

    taken = snapshot_take_over(snap, old);
    if (snapshot_runtime_init(snap, tern_proc.nworkers, err, errlen) != 0) {
        snapshot_unref(snap);
        return -1;
    }
    if (workers_swap(old, snap, drain_ms, err, errlen) != 0) {
        size_t n = strlen(err);
        while (n && err[n - 1] == '\n')
            err[--n] = 0;
        snapshot_unref(snap);
        return -1;
    }
    snapshot_own_locations(snap);
    workers_set_maxconn(snap->global.maxconn);
    health_stop();
    health_start(tern_proc.base, snap, tern_proc.nworkers, workers_publish_hosts);
    tern_proc.snap = snap;
    log_notice("configuration version %llu applied: %u listener(s), %u cluster(s), "
               "%u of them unchanged and kept running",
               (unsigned long long)snap->version, snap->nlisteners, snap->nclusters, taken);
    retire(old);
    return 0;
}
