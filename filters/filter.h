/*
 * filter.h: the HTTP filter API, the only tern header a filter under
 * filters/ includes (besides proxy/http/http_msg.h for the message heads it
 * is handed).
 *
 * STATUS: the stream core (proxy/http/stream.c) runs every hook below,
 * stream_done also for streams a filter never saw when it asks
 * (every_stream); filter timers, filter_defer, the request-body replay
 * buffer, attempt timeouts and the admin API metrics work. Per-route
 * config overrides are not there yet (filter_config returns the chain's).
 * Local replies do not go through response filters.
 *
 * A filter is a `const struct http_filter_ops` registered once by name (and,
 * for xDS, by type URL). A chain is an ordered list of filter instances per
 * listener (config file: `filter <name> [args...]` in a frontend, backend or
 * listen section, in order); the router is always the last filter and lives
 * in the core.
 *
 * Life of a stream through a chain
 *   request:  headers -> data* -> trailers?   filters 0, 1, ..., router
 *   response: headers -> data* -> trailers?   router, ..., 1, 0 (reverse)
 *   done:     stream_done on every filter that saw the stream, always, once.
 *
 * Hook results:
 *   FILTER_CONTINUE  pass the event to the next filter.
 *   FILTER_STOP      hold it: the core delivers nothing more *in this
 *                    direction* to later filters until this filter calls
 *                    filter_resume() (the held event then continues to the
 *                    next filter) or sends a local reply. The filter must do
 *                    one of the two eventually, or set a timer that will:
 *                    a stream stuck in STOP is ended by the stream's own
 *                    timeouts, never leaked.
 * Data-path hooks never return errors: a filter fails a request by replying
 * (filter_local_reply) or resetting (filter_reset).
 *
 * Memory: the core allocates `state_size` bytes of per-stream state per
 * filter, zeroed, from the stream's arena, and frees it with the stream.
 * Anything else a filter needs for one stream comes from filter_alloc()
 * (same lifetime). Config objects are built once on the main thread by
 * config_parse, shared read-only by all workers (refcounted with the
 * snapshot), and freed by config_free. Mutable state shared by workers (a
 * global rate-limit bucket) lives in the config object and must be atomic:
 * no filter takes a lock on the request path.
 *
 * Threads: config_parse/config_free on the main thread; every other hook on
 * the stream's worker thread, never concurrently for one stream.
 *
 * Timers and async work a filter opens through the core (filter_timer_*) are
 * cancelled by the core before stream_done runs.
 */
#ifndef TERN_FILTERS_FILTER_H
#define TERN_FILTERS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/http/http_msg.h"

struct filter_stream; /* opaque: a filter's handle on the stream it runs in */

enum filter_status {
    FILTER_CONTINUE = 0,
    FILTER_STOP = 1,
};

/*
 * Why a stream got a local reply or failed upstream. Each reason has a name
 * (access log, counters `tern_http_errors_total{reason=...}`, and the
 * `x-tern-error` response header under `option tern-error-header`).
 */
enum tern_reason {
    TERN_R_NONE = 0,
    TERN_R_NO_HEALTHY_UPSTREAM, /* 503 */
    TERN_R_QUEUE_FULL,          /* 503 */
    TERN_R_QUEUE_TIMEOUT,       /* 503 */
    TERN_R_CONNECT_FAILURE,     /* 503 */
    TERN_R_CONNECT_TIMEOUT,     /* 503 */
    TERN_R_UPSTREAM_RESET_BEFORE_HEADERS, /* 502 */
    TERN_R_UPSTREAM_RESET_AFTER_HEADERS,  /* stream reset, no reply possible */
    TERN_R_UPSTREAM_TIMEOUT,    /* 504 */
    TERN_R_BAD_UPSTREAM_RESPONSE, /* 502 */
    TERN_R_RATE_LIMITED,        /* 429 */
    TERN_R_DENIED,              /* 403 (or deny_status) */
    TERN_R_BAD_REQUEST,         /* 400 */
    TERN_R_REQUEST_TIMEOUT,     /* 408 */
    TERN_R_PAYLOAD_TOO_LARGE,   /* 413 */
    TERN_R_URI_TOO_LONG,        /* 414 */
    TERN_R_HEADERS_TOO_LARGE,   /* 431 */
    TERN_R_LOCAL_RESPONSE,      /* http-request return / redirect: not an error */
    TERN_R__COUNT,
};

/* "no_healthy_upstream", ... */
const char *tern_reason_name(enum tern_reason r);

/* A read-only view of body bytes passing through the chain, in order. The
 * bytes are valid only during the hook. */
struct filter_data {
    const char *p;
    size_t len;
};

/* What an upstream attempt came to, in HAProxy's `retry-on` terms. */
enum filter_outcome {
    FILTER_OUTCOME_RESPONSE = 0,     /* a response head arrived (see status) */
    FILTER_OUTCOME_CONN_FAILURE,     /* conn-failure: connect refused, failed or timed out */
    FILTER_OUTCOME_EMPTY_RESPONSE,   /* empty-response: closed before any response byte */
    FILTER_OUTCOME_JUNK_RESPONSE,    /* junk-response: an invalid or cut response head */
    FILTER_OUTCOME_RESPONSE_TIMEOUT, /* response-timeout: timeout server (or the attempt's
                                      * own timeout) before the response head */
};

/* Outcome of one upstream attempt, offered to filters before anything of the
 * response reaches the client (see upstream_result). */
struct upstream_result {
    enum filter_outcome outcome;
    enum tern_reason failure;   /* TERN_R_NONE when a response head arrived */
    uint16_t status;            /* response status when outcome == RESPONSE */
    int grpc_status;            /* outcome == RESPONSE, a trailers-only gRPC response
                                 * (HTTP/2 server): its grpc-status; else -1 */
    uint32_t attempt;           /* 1 for the first try; connect retries the core made
                                 * itself (retry-on conn-failure without a retry
                                 * filter) count too */
    uint32_t max_retries;       /* the backend's `retries` */
    bool retry_on;              /* the backend's `retry-on` names this outcome */
    bool request_replayable;    /* the request can be sent again: no body, or all of
                                 * it still buffered (filter_buffer_request_body) */
    const char *endpoint;       /* name of the server tried */
};

enum filter_retry {
    FILTER_ACCEPT = 0, /* go on with this outcome */
    FILTER_RETRY = 1,  /* send the request again (after *delay_ms) */
};

/*
 * What stream_done and the access log see. The core's own access-log line
 * (HAProxy's httplog) is written from these same fields, so a filter that
 * formats them cannot disagree with it. Strings are borrowed: valid during
 * the hook (stream_done) or until the stream's next event (filter_info).
 */
struct filter_stream_info {
    const char *listener;
    const char *cluster;        /* NULL when none was chosen */
    const char *endpoint;       /* NULL when none was reached */
    const struct sockaddr *client;
    uint8_t version;            /* 10, 11, 20 */
    uint16_t status;            /* status sent to the client, 0 if none */
    enum tern_reason reason;
    const char *reason_name;    /* tern_reason_name(reason), or the core's own
                                   end when no tern_reason applies:
                                   "client_abort", "client_timeout", "killed" */
    uint64_t start_us;          /* wall clock, microseconds */
    uint64_t duration_us;
    uint64_t bytes_in;          /* request bytes from the client */
    uint64_t bytes_out;         /* response bytes to the client */
    uint32_t attempts;
    const struct http_msg *request;  /* head as forwarded (after filters);
                                        NULL when no valid head arrived */
    const struct http_msg *response; /* NULL when no response head */
    bool tls;                   /* the client connection is TLS */
    const char *peer_id;        /* the client certificate's SPIFFE ID when verified, else NULL */

    /* HAProxy's timers, milliseconds; -1 when the stream ended before the
     * phase (HAProxy's convention). */
    int64_t t_request;          /* TR: the request head, from the accept (a
                                   connection's first request) or from the end
                                   of the previous one */
    int64_t t_queue;            /* Tw: waiting for a server slot */
    int64_t t_connect;          /* Tc: connecting to the server (0 for a reused
                                   connection) */
    int64_t t_response;         /* Tr: the response head, from the request's
                                   sending */
    int64_t t_active;           /* Ta: the whole stream (duration_us / 1000) */
    char termination[5];        /* HAProxy's termination state ("----", "SC--",
                                   "cR--", "PR--", ...), NUL-terminated */
    uint32_t retries;           /* connection retries (HAProxy's %rc) */
    /* Connection counts as HAProxy's log shows them (actconn/feconn/beconn/
     * srv_conn, srv_queue/backend_queue). Taken when the stream ends: set in
     * stream_done's info, 0 in filter_info's. */
    uint64_t actconn;           /* client connections of the process */
    uint32_t feconn;            /* of the listener */
    uint64_t beconn;            /* of the cluster */
    uint32_t srv_conn;          /* of the endpoint */
    uint32_t srv_queue;         /* waiting for the endpoint (no per-endpoint queue:
                                   0) */
    uint32_t backend_queue;     /* waiting in this worker's queue of the cluster */
};

/*
 * A deferred call on one worker (filter_defer): a filter that batches work
 * per worker (log lines) embeds one in its per-worker state and asks the core
 * to call `cb` once the callbacks of the current loop turn have run. `cb` is
 * the filter's; `next` and `armed` are the core's (zero them once, before
 * the first filter_defer).
 */
struct filter_defer {
    void (*cb)(struct filter_defer *d);
    struct filter_defer *next;
    bool armed;
};

/* One counter sample of a filter instance, for the admin API's Prometheus
 * page (see http_filter_ops.metrics). */
struct filter_metric {
    const char *name; /* family name, "tern_<filter>_<what>_total" */
    const char *help;
    uint64_t value;
    /* Optional extra label after {proxy,chain,index}: label_key="label_value"
     * (escaped by the core). NULL (what an initializer that stops at `value`
     * leaves): none. Both borrowed from the instance's config, which outlives
     * the page. Every sample of one family uses the same key, or none. */
    const char *label_key;
    const char *label_value;
};

/* The most samples the core asks one instance for (the `max` of metrics). */
#define FILTER_METRICS_MAX 1024

struct http_filter_ops {
    const char *name;     /* config file: `filter <name> ...` */
    const char *type_url; /* xDS typed_config type URL, or NULL */
    size_t state_size;    /* per-stream state, zeroed by the core */

    /* Main thread. Parses the arguments after `filter <name>` into a config
     * object (*cfg, owned by the core from then on). Returns 0, or -1 with a
     * message in err (the caller prefixes FILE:LINE). */
    int (*config_parse)(int argc, char **argv, void **cfg, char *err, size_t errlen);
    void (*config_free)(void *cfg);

    /* Worker thread. Each may be NULL (the event passes through).
     *
     * Data hooks see the body's payload (chunk framing removed) as it
     * streams, in slices valid during the call; the body is forwarded as it
     * arrived, so data is read-only. FILTER_STOP holds the slice (and the
     * stream's body in that direction) at this filter until filter_resume.
     * The last call of a body has end_stream set (possibly with len 0).
     * Trailers hooks see the trailer section of a chunked body, read-only
     * (it is forwarded as received), before that last data call; their
     * result is not a hold (FILTER_STOP counts as FILTER_CONTINUE). Bodies
     * of a switched protocol (101) are not HTTP and do not come here. */
    enum filter_status (*request_headers)(struct filter_stream *fs, void *state,
                                          struct http_msg *req, bool end_stream);
    enum filter_status (*request_data)(struct filter_stream *fs, void *state,
                                       const struct filter_data *d, bool end_stream);
    enum filter_status (*request_trailers)(struct filter_stream *fs, void *state,
                                           const struct http_msg *trailers);
    enum filter_status (*response_headers)(struct filter_stream *fs, void *state,
                                           struct http_msg *resp, bool end_stream);
    enum filter_status (*response_data)(struct filter_stream *fs, void *state,
                                        const struct filter_data *d, bool end_stream);
    enum filter_status (*response_trailers)(struct filter_stream *fs, void *state,
                                            const struct http_msg *trailers);
    /* An upstream attempt ended (failure, or a response head arrived and has
     * not been forwarded yet). Called in response order (backend filters
     * first), only while the request is replayable and nothing of a response
     * was sent to the client. Returning FILTER_RETRY asks the router to send
     * the request again after *delay_ms (0: at once) to another endpoint
     * when there is one (the one just tried is avoided); the first filter to
     * ask wins and later ones are not called. The attempt's connection is
     * closed and its response, if any, discarded. */
    enum filter_retry (*upstream_result)(struct filter_stream *fs, void *state,
                                         const struct upstream_result *r, uint32_t *delay_ms);
    /* Always called once at the end of a stream the filter saw. */
    void (*stream_done)(struct filter_stream *fs, void *state,
                        const struct filter_stream_info *info);

    /* Set by a filter that observes every stream (an access log): its
     * stream_done is also called for streams that never reached it, those
     * refused before the chain ran (a malformed head, a 408 before any byte)
     * and those an earlier filter answered (state is still allocated and
     * zeroed). Its other hooks keep their usual rules. */
    bool every_stream;

    /* Any thread that reads the snapshot (the admin API, on the main thread),
     * concurrently with the workers. Fills up to `max` samples of instance
     * `cfg` and returns how many. An instance may report several samples of
     * one family told apart by the extra label (one per policy, say), and
     * instances of one filter may report different numbers of samples; the
     * core writes each family once, all its samples together, in the order
     * families first appear. May be NULL. */
    size_t (*metrics)(const void *cfg, struct filter_metric *out, size_t max);
};

/* ---- registry (main thread, at start-up) ---------------------------------- */

/* Makes a filter known by name (and type URL). Returns 0, or -1 when the name
 * is taken. Filters register from a table in filters/registry.c, not from
 * constructors, so the set of filters is explicit. */
int filter_register(const struct http_filter_ops *ops);
const struct http_filter_ops *filter_find(const char *name);
const struct http_filter_ops *filter_find_by_type_url(const char *type_url);

/* ---- what a filter may ask of the core (worker thread) -------------------- */

/* This filter instance's config: the route's override when the matched route
 * has one for this filter, else the chain's. */
const void *filter_config(const struct filter_stream *fs);

/* Continues a held event with the next filter. */
void filter_resume(struct filter_stream *fs);

/* Ends the stream with a local reply (headers, optional body). Later filters
 * never see the request; response filters before this one see the reply. */
void filter_local_reply(struct filter_stream *fs, uint16_t status, const char *content_type,
                        const char *body, size_t body_len, enum tern_reason reason);

/* Adds a header to the local reply or response being built (e.g. Retry-After);
 * valid inside response hooks and just before filter_local_reply. Copies name
 * and value (the caller may pass stack buffers). Returns 0, or -1 when the
 * head would exceed tune.http.maxhdr. */
int filter_reply_header(struct filter_stream *fs, const char *name, const char *value);

/* Resets the stream (h1: closes the connection; h2: RST_STREAM). */
void filter_reset(struct filter_stream *fs, enum tern_reason reason);

/* Keeps up to `max_bytes` of the request body so the router can replay it on
 * a retry; past that the request is no longer replayable. Call it from
 * request_headers (before any body byte is sent). */
void filter_buffer_request_body(struct filter_stream *fs, size_t max_bytes);

/* Bounds each upstream attempt from its start to the response head (an
 * Envoy per-try timeout); when it fires the attempt ends with
 * FILTER_OUTCOME_RESPONSE_TIMEOUT (then 504 unless retried). 0: none, as
 * before. Call it from request_headers. */
void filter_set_attempt_timeout(struct filter_stream *fs, uint32_t ms);

/* Per-stream memory, zeroed, freed with the stream. */
void *filter_alloc(struct filter_stream *fs, size_t n);

/* One timer per filter per stream; starting it again re-arms it. Cancelled
 * automatically before stream_done. */
void filter_timer_start(struct filter_stream *fs, uint32_t ms,
                        void (*cb)(struct filter_stream *fs, void *state));
void filter_timer_cancel(struct filter_stream *fs);

/* The stream's facts so far (client address, listener, ...). */
const struct filter_stream_info *filter_info(const struct filter_stream *fs);

/* Current time of the worker's loop, wall clock in microseconds (no syscall). */
uint64_t filter_now_us(const struct filter_stream *fs);

/* Index of the calling worker, and how many there are: for per-worker
 * sharding of filter state kept in the config object. */
uint32_t filter_worker(const struct filter_stream *fs);
uint32_t filter_nworkers(void);

/*
 * Asks the core to call d->cb(d) on the calling worker after the callbacks of
 * the current loop turn: once however many times it is asked before then
 * (the streams that end in one turn share one call). `d` belongs to this
 * worker (one per worker per filter instance, in the config object): the
 * core links it into the worker's list until the call. The call also happens
 * when the worker exits, before it drops its snapshot, so a config object is
 * never freed with a call pending. Inside cb, filter_defer may re-arm d (it
 * then runs again after the callbacks already due). No allocation, no
 * syscall.
 */
void filter_defer(struct filter_stream *fs, struct filter_defer *d);

#endif /* TERN_FILTERS_FILTER_H */
