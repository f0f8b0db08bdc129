/*
 * health_check.h: one active health check of one address, on a libevent
 * event_base: a TCP connect, or (HAProxy's `option httpchk`) a connect, an
 * HTTP request and its status line, or (tern's `option tern-grpc-check`) a
 * connect and a grpc.health.v1.Health/Check call over HTTP/2 (prior
 * knowledge, or ALPN h2 over TLS) that passes on status SERVING. With a TLS client context (a server with
 * `ssl`: HAProxy checks such a server over TLS) a TLS handshake follows the
 * connect: a TCP check passes when the handshake completes, certificate
 * verification included (as the server line says), and an HTTP check sends
 * its request over TLS.
 *
 * A check is started, runs on its own (non-blocking socket, one event) and
 * reports exactly once through its callback, unless it is cancelled first.
 * The callback is never called from inside health_check_start, even when
 * the outcome is known at once (a connect refused synchronously).
 *
 * Timeouts: the connect phase (and the TLS handshake: as for traffic, it is
 * part of connecting) is bounded by connect_timeout_ms, the whole
 * check (connect, request, status line) by timeout_ms, both counted from the
 * start. A zero timeout means "no limit" here; the scheduler (health.c)
 * substitutes the endpoint's `inter` before calling.
 *
 * Thread: the thread running `base` (the main thread in tern). No global
 * state; any number of checks may run at once.
 */
#ifndef TERN_HEALTH_CHECK_H
#define TERN_HEALTH_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/model/model_types.h"

struct event_base;
struct health_check;
struct tls_client_ctx;

/* Outcome of one check. */
enum health_result_code {
    HEALTH_OK = 0,
    HEALTH_ERR_SOCKET,          /* local failure: socket(), EMFILE, ... */
    HEALTH_ERR_REFUSED,         /* connection refused (RST to the SYN) */
    HEALTH_ERR_CONNECT,         /* other connect error (unreachable, ...) */
    HEALTH_ERR_CONNECT_TIMEOUT, /* no connection within connect_timeout_ms */
    HEALTH_ERR_READ_TIMEOUT,    /* connected, no complete status line in time */
    HEALTH_ERR_CLOSED,          /* the server closed (or reset) before answering */
    HEALTH_ERR_BAD_RESPONSE,    /* the answer is not an HTTP status line */
    HEALTH_ERR_BAD_STATUS,      /* a status line with a failing status */
    HEALTH_ERR_TLS,             /* TLS handshake failed (info: the reason word) */
    HEALTH_ERR_TLS_TIMEOUT,     /* TLS handshake not done within connect_timeout_ms */
};

struct health_check_result {
    enum health_result_code code;
    int status;           /* HC_HTTP, HC_GRPC: the HTTP status read, else 0 */
    int sys_errno;        /* errno behind SOCKET/REFUSED/CONNECT/CLOSED, else 0 */
    uint64_t duration_ms; /* from start to outcome */
    char info[96];        /* human detail: "Connection refused", "HTTP status 500" */
};

/* What to check; the strings are borrowed until the callback or cancel. */
struct health_check_params {
    enum health_check_type type;   /* HC_TCP, HC_HTTP or HC_GRPC (HC_NONE acts as HC_TCP) */
    const char *method;            /* HC_HTTP; NULL: "OPTIONS" */
    const char *uri;               /* HC_HTTP; NULL: "/" */
    const char *version;           /* HC_HTTP; NULL: "HTTP/1.0" */
    int expect_status;             /* HC_HTTP; 0: any 2xx or 3xx passes */
    const char *service;           /* HC_GRPC: HealthCheckRequest.service; NULL: "" */
    uint32_t connect_timeout_ms;   /* 0: no limit */
    uint32_t timeout_ms;           /* whole check; 0: no limit */
    struct tls_client_ctx *tls;    /* non-NULL: check over TLS with this context
                                    * (borrowed; must outlive the check) */
    const char *sni;               /* with tls: SNI sent (HAProxy's check-sni), or NULL */
};

/* Called once per check with its outcome; the check is already freed
 * (`result` is valid only during the call). */
typedef void (*health_check_cb)(const struct health_check_result *result, void *arg);

/*
 * Starts a check of `addr` on `base`. The params' strings are copied into the
 * request at once (the caller may free them afterwards).
 * Returns the in-flight check (owned by the engine until the callback runs or
 * health_check_cancel is called). Never NULL: a local failure (no socket) is
 * reported through the callback as HEALTH_ERR_SOCKET.
 */
struct health_check *health_check_start(struct event_base *base, const struct sockaddr *addr,
                                        socklen_t addrlen,
                                        const struct health_check_params *params,
                                        health_check_cb cb, void *arg);

/* Stops an in-flight check without calling its callback; frees it. */
void health_check_cancel(struct health_check *hc);

/* Is an answer with this status a pass? (expect_status 0: 2xx or 3xx) */
bool health_check_status_ok(int status, int expect_status);

/*
 * Parses an HTTP status line "HTTP/<d>.<d> <3 digits>[ reason]" (without its
 * line ending). Returns the status code (100..999), or -1 when the line is not
 * a status line.
 */
int health_check_parse_status_line(const char *line, size_t len);

/*
 * gRPC health, grpc.health.v1 (health.proto): a HealthCheckRequest message
 * {string service = 1} written to out (at most outlen bytes); returns its
 * length, or -1 when it does not fit. A HealthCheckResponse message
 * {ServingStatus status = 1} parsed from msg[0..len): returns the status
 * (0 UNKNOWN when absent, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN,
 * others as sent), or -1 when the bytes are not a valid message.
 */
int health_grpc_request(uint8_t *out, size_t outlen, const char *service);
int health_grpc_parse_response(const uint8_t *msg, size_t len);

/* HAProxy-style reason of a result: "Layer4 connection problem", "Layer4
 * timeout", "Layer6 invalid response" (TLS), "Layer7 wrong status", ...
 * `tls` says whether the check ran over TLS (a passed TCP check over TLS is
 * "Layer6 check passed"). Static string. */
const char *health_check_reason(const struct health_check_result *r,
                                enum health_check_type type, bool tls);

#endif /* TERN_HEALTH_CHECK_H */
