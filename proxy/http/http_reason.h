/*
 * http_reason.h: why an HTTP stream ended the way it did.
 *
 * The public reasons are filters/filter.h's enum tern_reason (they reach the
 * access log, a counter per reason and, with `option tern-error-header`, the
 * x-tern-error response header). Two more, internal to the core, say that
 * the client went away; they are numbered after TERN_R__COUNT so that one
 * counter array indexed by reason covers both.
 *
 * Thread: any (tables only).
 */
#ifndef TERN_HTTP_REASON_H
#define TERN_HTTP_REASON_H

#include <stdint.h>

#include "filters/filter.h"

enum {
    HTTP_R_CLIENT_ABORT = TERN_R__COUNT, /* client closed or reset mid-exchange */
    HTTP_R_CLIENT_TIMEOUT,               /* timeout client while the client owed bytes */
    HTTP_R_KILLED,                       /* tern stopped (hard stop) mid-exchange */
    HTTP_R_DEADLINE_EXCEEDED,            /* a gRPC request's grpc-timeout expired */
    HTTP_R__COUNT,
};

/* Name of a tern_reason or an HTTP_R_* value ("none", "no_healthy_upstream",
 * "client_abort", ...); "unknown" for anything else. */
const char *http_reason_name(int reason);

/* The status a local reply for this reason carries (503, 502, 504, 400, ...);
 * 0 when the reason implies no reply (none, reset after headers, client
 * gone). */
uint16_t http_reason_status(int reason);

/* HAProxy's standard reason phrase of a status ("Service Unavailable");
 * "Unknown" for a code it does not name. */
const char *http_status_text(uint16_t status);

#endif /* TERN_HTTP_REASON_H */
