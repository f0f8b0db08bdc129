/*
 * http.h: mode http, as the worker sees it. main installs http_mode_ops with
 * workers_set_http_ops() before the workers start; each worker then hands
 * every connection accepted on a `mode http` listener to it.
 *
 * The life of a request through these files is in ARCHITECTURE.md ("Life of
 * an HTTP request"); http_int.h maps the files.
 *
 * Thread: the ops run on each worker's own thread (worker_types.h).
 */
#ifndef TERN_HTTP_H
#define TERN_HTTP_H

#include "proxy/worker/worker_types.h"

extern const struct worker_mode_ops http_mode_ops;

#endif /* TERN_HTTP_H */
