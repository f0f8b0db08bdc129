/*
 * worker.h: the worker threads. Each worker owns an event_base, its own
 * SO_REUSEPORT listening sockets, its connections, its LB state slots and its
 * stats slots. Workers never take a lock on the connection path; the main
 * thread talks to them only through each worker's message queue (a mutex
 * taken on the control path plus an eventfd that wakes the loop).
 *
 * Thread: every function here is called on the main thread, unless noted.
 */
#ifndef TERN_WORKER_H
#define TERN_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/model/model_types.h"

struct host_set;
struct worker_mode_ops;

/* Per-worker process-level counters (read by the admin API at scrape time). */
struct worker_stats {
    struct counter accept_paused;   /* accept paused for lack of fds (EMFILE/ENFILE) */
    struct counter conns_total;
    struct counter cur_conns;       /* gauge */
    struct counter log_dropped;     /* access-log lines dropped (never block) */
    struct counter queue_full;
} __attribute__((aligned(TERN_CACHELINE)));

/*
 * Opens every listening socket of `snap` once per worker (SO_REUSEPORT) on
 * the calling thread, so a bind failure is reported before anything runs.
 * On failure writes one "FILE:LINE: bind: ..." line per failing address to
 * errbuf (appending) and returns the number of failures; 0 on success.
 */
int workers_bind(struct snapshot *snap, uint32_t nworkers, char *errbuf, size_t errlen);

/*
 * Installs the handler of `mode http` listeners (proxy/http: http_mode_ops),
 * before workers_start. Without one, connections to a mode http listener are
 * closed at once. The ops are defined in worker_types.h.
 */
void workers_set_http_ops(const struct worker_mode_ops *ops);

/* Starts the workers on the snapshot bound above (each takes a reference). */
int workers_start(struct snapshot *snap);

/* Number of workers started. */
uint32_t workers_count(void);

/* Worker w's counters. */
const struct worker_stats *workers_stats(uint32_t w);

/* Connections open on all workers (client side), for graceful stop. */
uint64_t workers_active_conns(void);

/*
 * Hands the cluster's current main-thread host set (c->hosts) to every
 * worker; each worker swaps its slot and drops its reference to the old set.
 */
void workers_publish_hosts(struct cluster *c);

/*
 * Replaces the running snapshot with `snap` (runtime-initialised, every
 * cluster of it ready; the caller keeps its own reference; workers take
 * theirs). `old` is the snapshot the workers run now (the one the last
 * workers_start/workers_swap got). Listeners are matched by name: one with
 * the same bind addresses, in order, keeps its sockets (no accept gap; new
 * connections get the new listener's settings and filter chain); a new one
 * gets SO_REUSEPORT sockets opened here, on the main thread, so that a bind
 * failure rejects the whole swap before anything changes; a removed or
 * rebound one has its sockets closed and its connections drained: they
 * finish their exchange, and after drain_ms (0: no limit) the rest close.
 * Connections keep the snapshot they pinned; mode http connections move to
 * the new one at their next request when their listener is kept.
 * Returns 0, or the number of bind failures with one "FILE:LINE: bind: ..."
 * line each in errbuf (nothing changed then).
 */
int workers_swap(struct snapshot *old, struct snapshot *snap, uint32_t drain_ms, char *errbuf,
                 size_t errlen);

/* Sets the process-wide maxconn (a reload may change it). */
void workers_set_maxconn(uint32_t maxconn);

/* Graceful stop, step 1: every worker closes its listening sockets. */
void workers_stop_accepting(void);

/* Main thread, every TLS_POLL_MS: checks every `bind ... ssl`'s certificate
 * files; a changed, valid set becomes each worker's context for new
 * handshakes (MSG_TLS_CTX); a broken one is logged, counted and ignored.
 * Every TLS_TICKET_ROTATE_MS it also rotates the session-ticket keys. */
void workers_poll_tls(struct snapshot *snap);

/* Ends every worker loop (closing remaining connections) and joins them. */
void workers_shutdown(void);

#endif /* TERN_WORKER_H */
