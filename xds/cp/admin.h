/*
 * admin.h: tern-cp's admin API over HTTP (libevent's evhttp), on the main
 * thread. Endpoints (all GET):
 *   /ready    200 "ready" once a mesh model is loaded and every registry
 *             source has read its registry once (nothing is pushed before),
 *             else 503
 *   /proxies  JSON: connected proxies, per type and resource: sent, ACKed,
 *             NACKed versions and the last NACK's error_detail
 *   /mesh     JSON: the mesh file, when it was loaded, the last load error,
 *             the services
 *   /sources  JSON: registry sources and the endpoints they hold
 *   /ca       JSON: the CA certificate and the issued leaf certificates
 *             (serials, identities, expiry; never a key)
 *   /metrics  Prometheus text format 0.0.4
 */
#ifndef TERNCP_ADMIN_H
#define TERNCP_ADMIN_H

#include "xds/cp/cp.h"

struct evhttp;

/* Binds HOST:PORT; NULL with a message on stderr on failure. */
struct evhttp *admin_start(struct cp *cp, const char *hostport);

#endif
