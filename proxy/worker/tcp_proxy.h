/*
 * tcp_proxy.h: mode tcp. See worker_types.h for the connection structure and
 * tcp_proxy.c for the state machine; the entry points are declared in
 * worker_types.h because only the worker calls them.
 */
#ifndef TERN_TCP_PROXY_H
#define TERN_TCP_PROXY_H

#include "proxy/worker/worker_types.h"

/* Name of a termination reason, as written in the access log. */
const char *conn_reason_name(enum conn_reason r);

#endif /* TERN_TCP_PROXY_H */
