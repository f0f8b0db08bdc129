/*
 * gen.h: the mesh model turned into the xDS resources of one sidecar.
 *
 * Per sidecar of service S (names as the proxy sees them):
 *   Listener "inbound"   at S.inbound: mTLS required (DownstreamTlsContext,
 *                        certificate and trust bundle over SDS), HTTP
 *                        connection manager with RBAC (the identities S
 *                        allows), local rate limit (S.rate_limit), router;
 *                        routes from RDS "inbound".
 *   Route "inbound"      every path to cluster "inbound|S".
 *   Cluster "inbound|S"  STATIC, S.app (the local application).
 *   Listener "outbound"  at S.outbound: plain HTTP from the application; RDS
 *                        "outbound".
 *   Route "outbound"     a virtual host per service C that S calls (domains
 *                        C and C:port), its routes (C.routes, else all to C)
 *                        with C's timeout and retries.
 *   Cluster "outbound|T" EDS, for every T those routes reach: mTLS
 *                        origination (UpstreamTlsContext over SDS) verifying
 *                        the peer's URI SAN spiffe://<trust domain>/T.
 *   ClusterLoadAssignment "outbound|T": T's static endpoints plus those
 *                        the registry sources hold.
 *   Secrets "identity" (S's certificate and key) and "trust-bundle" (CA).
 * A proxyless gRPC client of service S (node metadata tern.proxyless) gets
 * instead, per service C that S calls: Listener "C" with an api_listener
 * (HttpConnectionManager, RDS "C"), Route "C" (C's routes) and the plaintext
 * clusters "outbound|T" with their endpoints: gRPC dials "xds:///C".
 * Only Envoy's own type URLs are used (see README.md).
 *
 * Thread: main thread.
 */
#ifndef TERNCP_GEN_H
#define TERNCP_GEN_H

#include "xds/cp/mesh_types.h"
#include "xds/cp/snapshot.h"

#define GEN_SECRET_IDENTITY "identity"
#define GEN_SECRET_TRUST    "trust-bundle"
#define GEN_LISTENER_IN     "inbound"
#define GEN_LISTENER_OUT    "outbound"

/* Where one sidecar runs: the service's addresses, or the proxy's own
 * (node metadata) where it gave them. A zero port: that listener or cluster
 * is not generated. */
struct gen_node {
	const struct mesh_service *svc;
	struct mesh_addr inbound, app, outbound;
	int proxyless;          /* a gRPC client, not a sidecar */
};

/* Endpoints of `service` known to registry sources (not the mesh file's
 * static ones): fills *out (borrowed until the next call) and returns how
 * many. */
typedef unsigned (*gen_endpoints_fn)(void *ctx, const char *service,
				     const struct mesh_addr **out);

struct gen_input {
	const struct mesh_model *model;
	gen_endpoints_fn endpoints;   /* may be NULL */
	void *endpoints_ctx;
	const char *cert_pem;         /* S's leaf certificate, NULL: no SDS secrets */
	const char *key_pem;
	const char *ca_pem;           /* trust bundle */
};

/* Builds the snapshot of `node`; `key` names it (admin, logs). */
struct cp_snapshot *gen_snapshot(const struct gen_input *in, const struct gen_node *node,
				 const char *key);

#endif
