/*
 * health.h: the active health checker. For every endpoint with `check` (and
 * not `disabled`) it runs a check (health_check.h) every `inter` ms on the
 * main thread's event loop, feeds the result to the endpoint's rise/fall
 * counter (health_state.h) and, when the endpoint changes state:
 *   - stores ep->up (atomic: workers read it),
 *   - counts it (ep->hc.went_up / went_down),
 *   - logs one HAProxy-style line,
 *   - rebuilds the cluster's host set (cluster_rebuild_hosts) and hands it to
 *     the workers through the `publish` callback.
 * Every check also counts ep->hc.checks_total (and checks_failed) and leaves
 * a short human summary in ep->hc.last_status.
 *
 * Layering: health checks belong to the upstream layer, below the workers, so
 * this module does not call the workers itself; the caller passes the
 * publish step (in tern: workers_publish_hosts).
 *
 * Thread: main thread only (the thread running `base`). One checker per
 * process: health_start after health_stop to move to a new snapshot.
 */
#ifndef TERN_HEALTH_H
#define TERN_HEALTH_H

#include <stdint.h>

struct event_base;
struct snapshot;
struct cluster;

/*
 * Schedules checks for the endpoints of `snap` (borrowed: the caller keeps it
 * alive until health_stop). A cluster checks with its health_spec type; an
 * endpoint with `check` in a cluster whose type is HC_NONE gets a TCP connect
 * check (HAProxy: `check` without `option httpchk`). Each endpoint's first
 * check comes at a random offset within its `inter`, so checks spread out.
 * `nworkers` is passed to cluster_rebuild_hosts; `publish` (may be NULL) is
 * called after each rebuild with the cluster whose c->hosts changed.
 * Returns the number of endpoints scheduled (0 is fine), or -1 when a checker
 * is already running.
 */
int health_start(struct event_base *base, struct snapshot *snap, uint32_t nworkers,
                 void (*publish)(struct cluster *c));

/* Cancels every scheduled and in-flight check and frees the checker's
 * state (ep->hc.check is reset to NULL). No-op when not started. */
void health_stop(void);

#endif /* TERN_HEALTH_H */
