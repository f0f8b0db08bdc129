/*
 * http_reuse.h: which idle server connection may carry a request (HAProxy's
 * `http-reuse never|safe|aggressive|always`, with tern's rule for
 * non-idempotent requests). Pure: no state, any thread.
 */
#ifndef TERN_HTTP_REUSE_H
#define TERN_HTTP_REUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/model/model_types.h"

/*
 * Whether a request may go on an idle connection:
 *   mode           the backend's http-reuse
 *   first_request  the request is the first of its client connection
 *   idempotent     RFC 9110 9.2.2 (GET HEAD PUT DELETE OPTIONS TRACE)
 *   owned          the connection last carried a request of the same client
 *                  connection
 *   conn_private   the connection is private to its owner (http-reuse never)
 *   conn_nreqs     exchanges the connection completed
 * never: only the client's own connection. safe (default): a first request
 * always on a new connection; later ones on the client's own or any idle
 * one. aggressive: a first request too, on a connection that completed at
 * least two exchanges (proven reusable). always: any idle connection.
 * In every mode a non-idempotent request goes only on the client's own
 * connection (the client took that connection's risk by reusing it) or a
 * new one: a connection the server may have closed meanwhile is never used
 * for it without the client's consent.
 */
bool http_reuse_allowed(enum http_reuse mode, bool first_request, bool idempotent, bool owned,
                        bool conn_private, uint32_t conn_nreqs);

#endif /* TERN_HTTP_REUSE_H */
