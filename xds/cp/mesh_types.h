/*
 * mesh_types.h: the mesh model, what a mesh file declares (see README.md for
 * the file format). Immutable once built; one arena owns all of it, so a new
 * model replaces the old one whole (mesh_model_free).
 */
#ifndef TERNCP_MESH_TYPES_H
#define TERNCP_MESH_TYPES_H

#include <stdint.h>

#include "xds/cp/arena.h"

#define MESH_MAX_SERVICES   1024
#define MESH_MAX_LIST       256    /* endpoints, calls, allow, routes per service */
#define MESH_NAME_MAX       63     /* service names: [a-z0-9-], DNS label rules */

/* host:port, IPv4 or IPv6 literal or a host name, as written. */
struct mesh_addr {
	const char *host;
	uint16_t port;
};

enum mesh_protocol {
	MESH_PROTO_HTTP = 0,   /* HTTP/1.1 to the application */
	MESH_PROTO_GRPC,       /* HTTP/2 to the application and between sidecars */
};

struct mesh_route {
	const char *prefix;     /* path prefix, starts with '/' */
	const char *to;         /* destination service name */
	const char *rewrite;    /* prefix_rewrite, or NULL */
	int line;
};

struct mesh_retries {
	uint32_t attempts;      /* 0: no retry policy */
	const char *on;         /* Envoy retry_on, e.g. "5xx,connect-failure" */
	uint32_t per_try_timeout_ms;
};

struct mesh_rate_limit {
	uint32_t requests;      /* 0: no limit */
	uint32_t per_ms;
};

struct mesh_service {
	const char *name;
	const char *token;      /* xDS credential of this service's sidecars; NULL: none may connect */
	enum mesh_protocol protocol;
	struct mesh_addr app;       /* the application, behind the sidecar */
	struct mesh_addr inbound;   /* the sidecar's mTLS listener */
	struct mesh_addr outbound;  /* the sidecar's listener for the app's outgoing calls */
	struct mesh_addr *endpoints; /* static instances (sidecar inbound addresses) */
	unsigned n_endpoints;
	const char **calls;     /* services this one may call (outbound routes) */
	unsigned n_calls;
	const char **allow;     /* identities (service names, "*") allowed to call it */
	unsigned n_allow;
	struct mesh_route *routes; /* routing of calls to this service; none: all to itself */
	unsigned n_routes;
	uint32_t timeout_ms;    /* per request, on callers' routes; 0: the proxy's default */
	struct mesh_retries retries;
	struct mesh_rate_limit rate_limit; /* enforced by the service's inbound listener */
	int line;
	int calls_line, allow_line; /* for errors in cross references */
};

struct mesh_model {
	struct arena arena;
	const char *trust_domain;
	uint32_t cert_ttl_s;    /* lifetime of issued leaf certificates */
	struct mesh_service *services; /* sorted by name */
	unsigned n_services;
};

#endif
