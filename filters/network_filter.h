/*
 * network_filter.h: the network (connection-level) filter hook of mode tcp.
 *
 * A network filter sees a connection once, when the client side is ready:
 * after the TLS handshake when the bind has `ssl` (the peer identity is
 * then known), after the inspection when the frontend has `tcp-request
 * content` rules, and before any backend is chosen. It answers allow or
 * deny; a denied connection is closed at once (reason `denied`, termination
 * state `PC`, in the access log; the filter counts it through its metrics)
 * and nothing of it reaches a backend. This is the minimal hook the RBAC filter needs:
 * no data hooks, no holding, no async work. Envoy's network filters
 * (on_new_connection, on_data) are the model it may grow into.
 *
 * Config file: `filter <name> [args...]` in a mode tcp frontend or listen
 * section; the parser looks the name up with network_filter_find (a filter
 * may exist in both forms: `rbac` does) and the instances run in line
 * order; the first deny wins.
 *
 * Contract
 *   config_parse  main thread; builds an immutable config object (*cfg,
 *                 owned by the listener from then on, freed by config_free).
 *                 Returns 0, or -1 with a message in err (the caller
 *                 prefixes FILE:LINE: filter: <name>:).
 *   on_connect    worker thread, concurrently for different connections;
 *                 must not block, allocate per connection or take a lock.
 *                 `conn` and everything it points to are borrowed for the
 *                 call. Returns NETWORK_FILTER_ALLOW or NETWORK_FILTER_DENY.
 *   metrics       as http_filter_ops.metrics (filters/filter.h). May be NULL.
 */
#ifndef TERN_FILTERS_NETWORK_FILTER_H
#define TERN_FILTERS_NETWORK_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filters/filter.h"

struct sockaddr;

enum network_filter_status {
    NETWORK_FILTER_ALLOW = 0,
    NETWORK_FILTER_DENY = 1,
};

/* The connection as a network filter sees it. */
struct network_filter_conn {
    const char *listener;        /* the frontend's name */
    const struct sockaddr *src;  /* the client's address */
    const struct sockaddr *dst;  /* the local address it connected to (NULL if unknown) */
    bool tls;                    /* the bind terminated TLS */
    const char *peer_id;         /* the client certificate's verified SPIFFE ID, or NULL */
    const char *sni;             /* the SNI of the terminated handshake, or NULL */
    uint32_t worker;             /* index of the calling worker */
    uint64_t now_us;             /* the worker loop's wall clock, microseconds */
};

struct network_filter_ops {
    const char *name;
    int (*config_parse)(int argc, char **argv, void **cfg, char *err, size_t errlen);
    void (*config_free)(void *cfg);
    enum network_filter_status (*on_connect)(void *cfg, const struct network_filter_conn *conn);
    size_t (*metrics)(const void *cfg, struct filter_metric *out, size_t max);
};

/* The network filters tern ships (filters/registry.c), by name; NULL when
 * none has that name. Main thread. */
const struct network_filter_ops *network_filter_find(const char *name);

#endif /* TERN_FILTERS_NETWORK_FILTER_H */
