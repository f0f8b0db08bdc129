/*
 * ads.h: the Aggregated Discovery Service, State-of-the-world
 * (StreamAggregatedResources) and incremental (DeltaAggregatedResources),
 * on gRPC core's server API.
 *
 * Each accepted stream is one proxy. Its first request must carry a Node
 * whose metadata holds "tern.token": the token names the service (the
 * identity) the proxy may act for, and the proxy receives that service's
 * sidecar resources and nothing else. A stream that does not authenticate
 * is finished with UNAUTHENTICATED; one whose Node.cluster names another
 * service with PERMISSION_DENIED.
 *
 * Pushes: at most one response is outstanding per stream; the next waits
 * for the ACK or NACK of the previous one. Types go out in the order
 * CDS, EDS, LDS, RDS, SDS. A NACKed version is not sent again: the proxy
 * gets the next version that differs.
 *
 * Thread: main thread.
 */
#ifndef TERNCP_ADS_H
#define TERNCP_ADS_H

#include <event2/buffer.h>

#include "xds/cp/cp.h"

#define ADS_METHOD_SOTW  "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
#define ADS_METHOD_DELTA "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
#define ADS_TOKEN_KEY    "tern.token"

/* Registers both methods on cp->server (before grpc_server_start). */
void ads_register(struct cp *cp);

/* Asks gRPC for the first calls of each method (after grpc_server_start). */
void ads_start(struct cp *cp);

/* After a change: re-authenticates every stream against the new model,
 * swaps in its new snapshot and pushes what differs. */
void ads_refresh(struct cp *cp);

/* Cancels every stream (shutdown). Their memory goes when gRPC reports
 * their operations done. */
void ads_cancel_all(struct cp *cp);

/* JSON array of the connected proxies with their per-type and per-resource
 * ACK/NACK state. */
void ads_dump_json(struct cp *cp, struct evbuffer *out);

/* JSON string escaping into an evbuffer (quotes included). */
void json_str(struct evbuffer *out, const char *s);

#endif
