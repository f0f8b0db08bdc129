/*
 * xds_client.h: the xDS client's protocol state on the main thread.
 *
 * It owns the ADS stream (ads_stream.h), the accepted resources of each type
 * and the subscriptions: LDS and CDS wildcard, RDS and EDS by the names the
 * accepted listeners and clusters refer to. For each response:
 *   1. every resource is decoded and checked (xds_translate.h); one bad
 *      resource refuses the whole response;
 *   2. the type's resources are replaced (state of the world: LDS and CDS
 *      responses hold every resource, RDS and EDS the ones they update;
 *      Delta: the ones a response carries replace or join, its
 *      removed_resources leave);
 *   3. a snapshot is built from the static configuration (ops->base) plus
 *      every accepted resource, and applied (ops->apply);
 *   4. ACK (version_info and nonce echoed; Delta: the nonce), or NACK (the
 *      previous version, the nonce, error_detail naming the resource and the
 *      field) with the type's resources put back: nothing of that response
 *      is applied.
 * A build that lacks a referenced RouteConfiguration or ClusterLoadAssignment
 * is warming: the response is ACKed, nothing is applied, and the build is
 * retried as resources arrive, or without them when init-timeout passes.
 *
 * While the stream is down tern serves the last applied snapshot; the
 * thread reconnects with backoff and, on the new stream, sends every
 * subscription with the last accepted versions (the server resends; Delta:
 * initial_resource_versions, the server sends what differs).
 *
 * Thread: main thread only (callbacks of the stream arrive on its loop).
 */
#ifndef TERN_XDS_CLIENT_H
#define TERN_XDS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct model_xds;
struct snapshot;
struct xds_client;

struct xds_client_ops {
    /* A new snapshot of the static configuration (not runtime-initialised),
     * or NULL with err set. */
    struct snapshot *(*base)(void *arg, char *err, size_t errlen);
    /* Makes snap (reference taken) the running configuration: 0, or -1 with
     * err set and nothing changed (process_apply). */
    int (*apply)(void *arg, struct snapshot *snap, char *err, size_t errlen);
    /* The running snapshot (borrowed, main thread), whose unchanged clusters
     * a new one carries over instead of building them (xds_translate_from). */
    const struct snapshot *(*current)(void *arg);
};

/* Starts the client (and its thread) for the bootstrap `cfg` (copied).
 * Returns NULL with err set. */
struct xds_client *xds_client_start(struct event_base *base, const struct model_xds *cfg,
                                    const struct xds_client_ops *ops, void *arg, char *err,
                                    size_t errlen);

/* Stops the thread and frees everything. NULL is fine. */
void xds_client_stop(struct xds_client *c);

/* The static configuration changed (SIGHUP): builds and applies it with the
 * dynamic resources. Returns 0 (applied, or warming), or -1 with err set. */
int xds_client_rebuild(struct xds_client *c, char *err, size_t errlen);

/* /ready: true once the initial resources were applied (or init-timeout
 * passed); detail gets one line on the control plane's state. */
bool xds_client_ready(const struct xds_client *c, char *detail, size_t len);

/* GET /config_dump: every resource in use with its version, per type the
 * last accepted version, the last NACK (error and time), the counters, and
 * the connection state. JSON. */
void xds_client_config_dump(const struct xds_client *c, struct evbuffer *out);

/* Prometheus lines: tern_xds_connected, tern_xds_updates_total{type,result},
 * tern_xds_last_update_timestamp_seconds{type}, tern_xds_resources{type}. */
void xds_client_metrics(const struct xds_client *c, struct evbuffer *out);

#endif /* TERN_XDS_CLIENT_H */
