/*
 * cp.h: tern-cp's state, owned by the main thread.
 *
 * Sources of truth (the mesh file, registries such as etcd) change the model
 * or the endpoints and call cp_changed(); on the next loop turn every proxy
 * stream's snapshot is regenerated (once per distinct sidecar placement) and
 * the streams whose resources changed are pushed to. Nothing here is touched
 * by another thread: gRPC completions arrive through the pump (pump.h).
 */
#ifndef TERNCP_CP_H
#define TERNCP_CP_H

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <grpc/grpc.h>

#include "xds/cp/mesh_types.h"
#include "xds/cp/pump.h"
#include "xds/cp/snapshot.h"

struct ads_stream;
struct ca;
struct cp_source;

/* Push-latency histogram buckets (seconds), send to ACK. */
#define CP_LAT_BUCKETS 12
extern const double cp_lat_bounds[CP_LAT_BUCKETS];

struct cp_stats {
	uint64_t streams[2];            /* [0] SotW, [1] Delta, accepted */
	uint64_t pushes[CP_NTYPES];
	uint64_t acks[CP_NTYPES];
	uint64_t nacks[CP_NTYPES];
	uint64_t lat_count, lat_bucket[CP_LAT_BUCKETS];
	double lat_sum;
	uint64_t auth_failures;
	uint64_t bad_requests;          /* undecodable or invalid DiscoveryRequests */
	uint64_t unknown_types;         /* requests for a type tern-cp does not serve */
	uint64_t stale_nonces;
	uint64_t reloads_ok, reloads_failed;
	uint64_t snapshots_built;
	uint64_t certs_issued;
	uint64_t xds_tls_issued;        /* tern-cp's own xDS certificates (--xds-tls) */
};

/* A registry's contribution: endpoints per service (sorted by service). */
struct cp_registry_entry {
	char *service;
	struct mesh_addr *addrs;
	unsigned n;
};

struct cp {
	struct event_base *base;
	struct pump *pump;
	grpc_server *server;
	void *method_sotw, *method_delta;
	int stopping;

	/* the mesh file */
	const char *mesh_path;
	struct mesh_model *model;
	char last_error[512];           /* of the last failed load, "" if none */
	time_t loaded_at;

	/* registry sources, each contributing endpoints (see source.h) */
	struct cp_source **sources;
	unsigned n_sources;

	struct ca *ca;

	struct ads_stream *streams;     /* doubly linked, newest first */
	unsigned n_streams;
	uint64_t next_stream_id;
	uint64_t next_nonce;

	/* snapshots by placement key, valid until the next change */
	struct { char *key; struct cp_snapshot *snap; } *cache;
	unsigned n_cache, cap_cache;

	struct event *change_ev;        /* coalesces cp_changed() calls */
	int change_pending;
	uint64_t generation;            /* bumped by every applied change */
	struct timespec changed_at;     /* when the last change was noticed */

	struct cp_stats stats;
	const char *identifier;         /* ControlPlane.identifier in responses */
};

/* Schedules a regeneration on the next loop turn (coalesced). */
void cp_changed(struct cp *cp);

/* The snapshot for a sidecar placement (new reference), built at most once
 * per change. */
struct cp_snapshot *cp_snapshot_for(struct cp *cp, const struct mesh_service *svc,
				    const struct mesh_addr *inbound, const struct mesh_addr *app,
				    const struct mesh_addr *outbound, int proxyless);

/* 1 when every registry source has completed its first full read. */
int cp_sources_synced(const struct cp *cp);

/* Endpoints of `service` from all registry sources (gen_endpoints_fn). */
unsigned cp_registry_endpoints(void *cp, const char *service, const struct mesh_addr **out);

/* Monotonic seconds. */
double cp_now(void);

/* A log line on stderr: "tern-cp: <level>: ...". Never give it a secret. */
void cp_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
