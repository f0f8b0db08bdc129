/*
 * model.h: building, sharing and releasing the configuration model.
 *
 * Ownership: a snapshot owns its listeners and clusters; a cluster owns its
 * endpoints and its main-thread host set. A snapshot is refcounted: the main
 * thread holds one reference for the "current" configuration, every worker one
 * for the snapshot it routes new connections with (see worker.h).
 *
 * Thread: snapshot_new/snapshot_add_* and snapshot_runtime_init run on the main
 * thread before publication; snapshot_ref/unref on any thread.
 */
#ifndef TERN_MODEL_H
#define TERN_MODEL_H

#include "proxy/model/model_types.h"

/* An empty snapshot with HAProxy's global defaults; refcount 1. */
struct snapshot *snapshot_new(const char *source);

/* Takes a reference. */
void snapshot_ref(struct snapshot *snap);
/* Drops a reference; frees everything when it was the last. */
void snapshot_unref(struct snapshot *snap);

/* Clusters are refcounted too: a snapshot holds one reference on each of its
 * clusters, and consecutive snapshots share the clusters that did not change
 * (snapshot_take_over). The last unref frees the cluster, on any thread. */
void cluster_ref(struct cluster *c);
void cluster_unref(struct cluster *c);

/* New objects, appended and owned by the snapshot (or cluster); fields take
 * HAProxy's defaults. The name is copied. */
struct listener *snapshot_add_listener(struct snapshot *snap, const char *name);
struct cluster *snapshot_add_cluster(struct snapshot *snap, const char *name);
struct endpoint *cluster_add_endpoint(struct cluster *c, const char *name);

/* A cluster of no snapshot yet (refcount 1, HAProxy's defaults, id 0), and
 * the append of a cluster to snap, which takes over the caller's reference:
 * a new cluster, or a running one (cluster_ref'd) that a source carries
 * over as it is (see cluster->source_fingerprint). snapshot_add_cluster is
 * the two in one, with id set to the position. */
struct cluster *cluster_new(const char *name);
void snapshot_put_cluster(struct snapshot *snap, struct cluster *c);

/* Points every listener of snap that borrows from[k] (default cluster, rule
 * targets) at to[k] instead, for k < n; O(listeners' rules + n). Main
 * thread, before snap is published. */
void snapshot_remap_clusters(struct snapshot *snap, struct cluster *const *from,
                             struct cluster *const *to, uint32_t n);

/* Lookup by exact name; NULL when absent. Linear: control path only. */
struct cluster *snapshot_find_cluster(const struct snapshot *snap, const char *name);
struct listener *snapshot_find_listener(const struct snapshot *snap, const char *name);
struct endpoint *cluster_find_endpoint(const struct cluster *c, const char *name);

/*
 * Prepares a complete, validated snapshot to run on `nworkers` workers:
 * allocates per-worker stats slots, picks each cluster's LB ops, marks every
 * enabled endpoint up (servers start up, as in HAProxy) and builds each
 * cluster's first host set. Returns 0, or -1 with a reason in err (an LB table
 * that cannot be built).
 */
int snapshot_runtime_init(struct snapshot *snap, uint32_t nworkers, char *err, size_t errlen);

/*
 * Before snapshot_runtime_init of `snap`, which is to replace `old` (running):
 *  - a cluster of snap that is running already (a running object the source
 *    carried over) stays as it is: counted, nothing else to do;
 *  - every other cluster of snap whose name and non-zero fingerprint match a cluster
 *    of old is replaced by old's (one more reference), and the listeners of
 *    snap are pointed at it: its host sets, health state, counters, queues
 *    and idle connections carry on (snapshot_runtime_init skips it);
 *  - in the other clusters, an endpoint with the same name, address and
 *    check settings as one of the old cluster of the same name starts with
 *    that endpoint's health (up/down, rise/fall counter, last status) instead
 *    of "up".
 * Returns the number of clusters taken over or carried over. The cost is one
 * pass over snap plus, only when some cluster is new, an index of old's.
 * Main thread; `old` is only read
 * (its clusters' main-thread fields, which only the main thread writes).
 */
uint32_t snapshot_take_over(struct snapshot *snap, const struct snapshot *old);

/* Once snap replaced old for good: the source locations of the clusters it
 * took over pointed into old's file name, which goes with old. Main thread
 * (the only reader of locations). */
void snapshot_own_locations(struct snapshot *snap);

/*
 * Rebuilds a cluster's host set from the endpoints' current `up` flags and
 * makes it the cluster's main-thread set (c->hosts); the caller then posts it
 * to the workers (worker_post_hostset). Main thread only. Returns the new
 * set (borrowed: owned by c->hosts), or NULL with a reason in err.
 */
struct host_set *cluster_rebuild_hosts(struct cluster *c, uint32_t nworkers, char *err,
                                       size_t errlen);

/*
 * Content switching: the target of the first of l's rules whose condition
 * holds on ctx (borrowed; see proxy/acl/acl_types.h), else l's default
 * cluster (NULL when it has none). Any worker thread; no allocation, no lock.
 */
struct acl_ctx;
struct cluster *listener_route(const struct listener *l, const struct acl_ctx *ctx);

/*
 * errorfile lines: a deep copy of src[0, n) (NULL when n is 0), and the
 * release of such an array. The errorfile for `status` in files[0, n), or
 * NULL. Any thread (lookup); main thread (copy, free).
 */
struct http_errorfile *errorfiles_copy(const struct http_errorfile *src, uint32_t n);
void errorfiles_free(struct http_errorfile *files, uint32_t n);
const struct http_errorfile *errorfile_find(const struct http_errorfile *files, uint32_t n,
                                            uint16_t status);

/* Human name of a policy/mode, for logs and stats. */
const char *lb_policy_name(enum lb_policy p);
const char *proxy_mode_name(enum proxy_mode m);

#endif /* TERN_MODEL_H */
