/*
 * clusters_json.h: the /clusters page: every backend (cluster) of a snapshot
 * with its servers, their configuration, health and counters, as JSON.
 *
 *   {"version": N, "clusters": [
 *     {"name", "mode", "balance", "hash_type", "health_check": {...},
 *      "active_servers", "backup_servers", <counters>,
 *      "servers": [{"name", "address", "weight", "maxconn", "backup",
 *                   "disabled", "check", "up", "health": "UP"|"DOWN",
 *                   "last_check", <check counters>, <counters>}]}]}
 *
 * Counters are per-worker slots summed at call time.
 * Thread: as prometheus.h (reads runtime fields of the snapshot).
 */
#ifndef TERN_ADMIN_CLUSTERS_JSON_H
#define TERN_ADMIN_CLUSTERS_JSON_H

struct evbuffer;
struct snapshot;

/* Appends the document for `snap` (NULL: no clusters) to out. */
void clusters_json_render(struct evbuffer *out, const struct snapshot *snap);

#endif /* TERN_ADMIN_CLUSTERS_JSON_H */
