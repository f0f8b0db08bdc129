/*
 * http_reuse.c: HAProxy's http-reuse rules, as one pure function (see
 * http_int.h for the contract and tern's rule for non-idempotent requests).
 *
 * The danger reuse brings: a server may close an idle connection at the
 * moment a request goes out on it, and the request is then lost with no
 * way to know whether the server processed it. A client that reuses its own
 * keep-alive connection accepts that risk for its requests; a proxy that
 * puts a request on a connection the client never used takes the risk for
 * it. Hence: the client's own connection is always fine (except where the
 * client never had one: its first request), an idempotent request can be
 * resent (tern does so once), and a non-idempotent one never goes on a
 * connection the client did not use itself.
 */
#include "proxy/http/http_reuse.h"

bool http_reuse_allowed(enum http_reuse mode, bool first_request, bool idempotent, bool owned,
                        bool conn_private, uint32_t conn_nreqs)
{
    if (conn_private && !owned)
        return false;
    if (owned && !first_request)
        return true; /* the client reuses its own connection, as with no proxy */
    if (!idempotent)
        return false;
    switch (mode) {
    case HTTP_REUSE_NEVER:
        return false;
    case HTTP_REUSE_SAFE:
        return !first_request;
    case HTTP_REUSE_AGGRESSIVE:
        return !first_request || conn_nreqs >= 2;
    case HTTP_REUSE_ALWAYS:
        return true;
    }
    return false;
}
