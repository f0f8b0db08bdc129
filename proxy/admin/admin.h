/*
 * admin.h: tern's admin HTTP API (global `admin <addr:port>`), served by
 * libevent's evhttp on the main thread's event loop.
 *
 *   GET /ready              200 "ready\n" when serving (PROC_READY),
 *                           503 "draining\n" once a stop began,
 *                           503 "starting\n" before listeners serve;
 *                           with an xds section a second line says how the
 *                           control plane is, and the answer is 503
 *                           "starting" until the initial resources applied.
 *   GET /stats/prometheus   metrics, text exposition format 0.0.4
 *                           (prometheus.h)
 *   GET /clusters           backends, servers, health and counters as JSON
 *                           (clusters_json.h)
 *   GET /config_dump        the xDS client's resources, versions, NACKs and
 *                           connection state as JSON (xds_client.h)
 * HEAD works wherever GET does. Another method on these paths: 405 with
 * "Allow: GET, HEAD"; any other path: 404. Every answer carries
 * "Server: tern" and "Cache-Control: no-store".
 *
 * The pages read tern_proc (process.h) and the workers' counters
 * (workers_count / workers_stats) at request time.
 *
 * Thread: main thread only.
 */
#ifndef TERN_ADMIN_H
#define TERN_ADMIN_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;

/*
 * Binds addr (SO_REUSEADDR, not SO_REUSEPORT: a second tern on the same
 * admin port is an error) and serves on base. Returns 0, or -1 with a
 * reason in err (the address is in use, already started, ...).
 */
int admin_start(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen,
                char *err, size_t errlen);

/* The bound address (useful with port 0). Returns 0, or -1 when not started. */
int admin_local_addr(struct sockaddr_storage *out, socklen_t *outlen);

/* Closes the listener and every admin connection. No-op when not started. */
void admin_stop(void);

#endif /* TERN_ADMIN_H */
