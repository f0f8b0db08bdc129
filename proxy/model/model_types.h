/*
 * model_types.h: tern's internal configuration model.
 *
 * Every configuration source (today the HAProxy-syntax file, later xDS)
 * compiles into these structures; nothing here knows the file syntax. A
 * complete model is one `struct snapshot`: immutable once published,
 * refcounted, and shared by all worker threads (see ARCHITECTURE.md).
 *
 *   snapshot -> listeners (frontends) -> route rules (ACL condition -> cluster)
 *                                       -> default cluster
 *            -> clusters (backends)   -> endpoints (servers) + health spec
 *
 * The only fields that change after publication are the ones marked
 * "runtime": atomics written by one known thread and read by others, and
 * per-worker stats slots written only by their worker.
 *
 * Names: "listener" is HAProxy's frontend, "cluster" its backend, "endpoint"
 * its server. A `listen` section yields one listener and one cluster of the
 * same name.
 */
#ifndef TERN_MODEL_TYPES_H
#define TERN_MODEL_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/core/util.h"

struct lb_ops;
struct host_set;
struct acl_set;
struct acl_cond;
struct tls_bind;
struct tls_upstream;

enum proxy_mode {
    PROXY_MODE_TCP = 0,
    PROXY_MODE_HTTP,
};

/* balance ... */
enum lb_policy {
    LB_ROUNDROBIN = 0, /* smooth weighted round robin, dynamic */
    LB_STATIC_RR,      /* weighted round robin over a precomputed table */
    LB_LEASTCONN,      /* fewest current connections relative to weight */
    LB_FIRST,          /* first endpoint (by id) with free slots */
    LB_SOURCE,         /* hash of the client address */
    LB_RANDOM,         /* weighted random, best of `draws` by load (P2C) */
};

/* hash-type map-based | consistent */
enum lb_hash_type {
    LB_HASH_MAP_BASED = 0,
    LB_HASH_CONSISTENT,
};

/* consistent-hash ring | maglev (tern extension; see README) */
enum lb_consistent_algo {
    LB_CONSISTENT_RING = 0,
    LB_CONSISTENT_MAGLEV,
};

/* How HTTP connections persist (HAProxy's option http-keep-alive /
 * http-server-close / httpclose). A frontend and its backend combine to the
 * stronger of the two (the larger value). */
enum http_conn_mode {
    HTTP_CONN_KEEP_ALIVE = 0, /* both sides persist (default) */
    HTTP_CONN_SERVER_CLOSE,   /* the server side closes after each response */
    HTTP_CONN_CLOSE,          /* both sides close after each exchange */
};

/* http-reuse: when an idle server connection may carry a request. */
enum http_reuse {
    HTTP_REUSE_SAFE = 0,     /* default: a client's first request on a new connection */
    HTTP_REUSE_NEVER,        /* server connections are private to a client connection */
    HTTP_REUSE_AGGRESSIVE,   /* first requests may use connections proven reusable */
    HTTP_REUSE_ALWAYS,       /* any request on any idle connection */
};

/* option forward-client-cert (tern; Envoy's forward_client_cert_details) */
enum xfcc_mode {
    XFCC_SANITIZE = 0,      /* default: drop any x-forwarded-client-cert */
    XFCC_FORWARD_ONLY,      /* mTLS: forward the client's header as it is; else drop */
    XFCC_APPEND_FORWARD,    /* mTLS: append the peer's element to the client's header */
    XFCC_SANITIZE_SET,      /* mTLS: replace it with the peer's element; else drop */
};

/* option forwardfor [except <net>] [header <name>] [if-none] */
struct http_forwardfor {
    bool enabled;
    bool if_none;             /* add only when the request has none */
    bool has_except;
    uint8_t except_prefix;    /* prefix length of the except network */
    struct sockaddr_storage except_net;
    char *header;             /* NULL: "X-Forwarded-For" */
};

/* Limits of the per-reason counter arrays (checked at build time against the
 * HTTP layer's enums: tern_reason and h1_err). */
#define MODEL_HTTP_REASONS 24
#define MODEL_H1_ERRORS 40
/* TLS handshake failure reasons counted per listener (enum transport_reason) */
#define MODEL_TLS_REASONS 16

enum health_check_type {
    HC_NONE = 0,
    HC_TCP,  /* connect only */
    HC_HTTP, /* option httpchk: request, then a status line */
    HC_GRPC, /* option tern-grpc-check: grpc.health.v1.Health/Check over HTTP/2 */
};

/* A counter owned by one worker: written only by that worker (relaxed
 * load+store, no lock prefix), read by any thread at scrape time. */
struct counter {
    _Atomic uint64_t v;
};

static inline void counter_add(struct counter *c, uint64_t n)
{
    atomic_store_explicit(&c->v, atomic_load_explicit(&c->v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t counter_get(const struct counter *c)
{
    return atomic_load_explicit(&((struct counter *)c)->v, memory_order_relaxed);
}

/* Sum over `nworkers` per-worker stats slots (an array with `stride` bytes
 * between slots) of the counter at byte offset `off` in each slot; what the
 * admin API reports. */
static inline uint64_t counter_sum(const void *slots, size_t stride, uint32_t nworkers,
                                   size_t off)
{
    uint64_t sum = 0;

    if (!slots)
        return 0;
    for (uint32_t w = 0; w < nworkers; w++)
        sum += counter_get((const struct counter *)((const char *)slots + w * stride + off));
    return sum;
}

/* Per-worker stats of a listener. Gauges are per-worker deltas whose sum is
 * the current value (a connection opens and closes on the same worker). */
struct listener_stats {
    struct counter cur_conns;   /* gauge */
    struct counter conns_total;
    struct counter bytes_in;    /* from clients */
    struct counter bytes_out;   /* to clients */
    struct counter denied_conns; /* refused at maxconn */
    struct counter accept_errors;
    /* mode http */
    struct counter http_requests;          /* requests whose head began to arrive */
    struct counter http_responses[6];      /* by class: 1xx..5xx, [0]: other */
    struct counter http_errors[MODEL_HTTP_REASONS];   /* by enum tern_reason */
    struct counter http_bad_requests[MODEL_H1_ERRORS]; /* by -enum h1_err */
    /* bind ... ssl */
    struct counter tls_handshakes;                    /* completed */
    struct counter tls_hs_failures[MODEL_TLS_REASONS]; /* by enum transport_reason */
    /* HTTP/2 (bind ... proto h2) */
    struct counter h2_conns;           /* HTTP/2 connections accepted */
    struct counter h2_streams;         /* streams opened by clients */
    struct counter h2_rst_recv;        /* RST_STREAM received */
    struct counter h2_rst_sent;        /* RST_STREAM sent (stream errors, cuts) */
    struct counter h2_goaway_sent;
    struct counter h2_goaway_recv;
    struct counter h2_flow_stalls;     /* streams reset after a window stall (timeout client) */
    struct counter h2_protocol_errors; /* invalid frames, connection errors */
} __attribute__((aligned(TERN_CACHELINE)));

struct cluster_stats {
    struct counter cur_conns; /* gauge */
    struct counter conns_total;
    struct counter bytes_in;  /* from servers */
    struct counter bytes_out; /* to servers */
    struct counter connect_errors;
    struct counter retries;
    struct counter redispatches;
    struct counter no_server;      /* no usable endpoint at all */
    struct counter queue_timeouts;
    struct counter queue_full;
    struct counter cur_queued; /* gauge */
    /* mode http */
    struct counter http_requests;     /* requests routed to the backend */
    struct counter http_conn_reuses;  /* requests sent on an already used connection */
    struct counter http_conn_retries; /* requests resent after a reused connection closed */
} __attribute__((aligned(TERN_CACHELINE)));

struct endpoint_stats {
    struct counter cur_conns; /* gauge */
    struct counter conns_total;
    struct counter bytes_in;
    struct counter bytes_out;
    struct counter connect_errors;
    struct counter retries;
    struct counter lb_selected; /* times the load balancer chose it */
} __attribute__((aligned(TERN_CACHELINE)));

/* Where in the source a model object came from, for error messages. */
struct source_loc {
    const char *file; /* borrowed from the snapshot's interned file name */
    int line;
};

struct health_spec {
    enum health_check_type type;
    char *method;         /* HC_HTTP: default "OPTIONS" (HAProxy's default) */
    char *uri;            /* HC_HTTP: default "/" */
    char *version;        /* HC_HTTP: default "HTTP/1.0" */
    char *service;        /* HC_GRPC: HealthCheckRequest.service, "" for the server */
    int expect_status;    /* 0: any 2xx or 3xx passes (HAProxy's default) */
    uint32_t timeout_ms;  /* timeout check, or inter when unset */
    uint32_t connect_timeout_ms; /* timeout connect, or inter when unset */
};

/* Health-check state of one endpoint; owned and written by the checker
 * (main thread) only, except `up` which workers read. */
struct endpoint_health {
    uint32_t health;       /* HAProxy's counter: 0..rise+fall-1, up when >= rise */
    uint64_t next_check_ms;
    struct counter checks_total;
    struct counter checks_failed;
    struct counter went_down;
    struct counter went_up;
    char last_status[64]; /* last check result, human readable */
    bool carried;         /* health taken from the previous snapshot (model_swap.c) */
    void *check;          /* the checker's in-flight state (health.c) */
};

/* What the admin API sets on a server at run time (HAProxy's "set server
 * <b>/<s> state"): drain and maint keep it out of new picks; maint also stops
 * its health checks. Carried with the health state when a reload or an xDS
 * update rebuilds the cluster with the same server (model_swap.c). */
enum endpoint_admin_state {
    ENDPOINT_READY = 0,
    ENDPOINT_DRAIN,
    ENDPOINT_MAINT,
};

/* "ready", "drain", "maint" (the admin API's words), NULL for another value. */
static inline const char *endpoint_admin_state_name(int st)
{
    static const char *const names[] = {"ready", "drain", "maint"};
    return st >= ENDPOINT_READY && st <= ENDPOINT_MAINT ? names[st] : NULL;
}

struct endpoint {
    char *name;
    uint32_t id;              /* position in cluster->endpoints, from 0 */
    struct cluster *cluster;  /* borrowed back pointer */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t weight;          /* 0..256, default 1 */
    uint32_t maxconn;         /* 0: unlimited */
    uint32_t maxqueue;        /* 0: unlimited (bounded by frontend maxconn) */
    bool backup;
    bool disabled;            /* "disabled": maintenance, never chosen */
    bool check;               /* "check": health checks enabled */
    uint32_t inter_ms;        /* default 2000 */
    uint32_t rise;            /* default 2 */
    uint32_t fall;            /* default 3 */
    int32_t pool_max_conn;    /* idle connections kept per worker; -1 (default): no limit */
    uint32_t pool_purge_delay_ms; /* default 5000; 0: idle connections are never purged */
    struct tls_upstream *tls; /* `ssl`: owned (proxy/tls/tls_conf.h); NULL: plain */
    bool proto_h2;            /* `proto h2`: HTTP/2 (proxy/http/upstream_h2.c) */
    struct source_loc loc;

    /* runtime */
    _Atomic int up;           /* written by the health checker only */
    _Atomic int admin_state;  /* enum endpoint_admin_state: the admin API's (main thread) */
    _Atomic uint32_t rt_weight; /* the admin API's weight + 1; 0: unset (the configured one) */
    _Atomic int cur_conns;    /* all workers: mode tcp: connections established or
                               * connecting; mode http: requests being sent or served */
    struct endpoint_health hc;
    struct endpoint_stats *stats; /* [nworkers] */
    /* mode http: each worker's idle connections to this endpoint (proxy/http
     * pool.c), written and read by that worker only */
    struct endpoint_worker_slot {
        void *idle_head;      /* most recently idle first (LIFO) */
        void *idle_tail;
        uint32_t nidle;
        void *h2_head;        /* proto h2: this worker's connections (upstream_h2.c) */
    } __attribute__((aligned(TERN_CACHELINE))) *worker;
};

/* The weight the next host set gives the endpoint: the admin API's runtime
 * weight when one is set, else the configured one. Host sets copy it at
 * build (host_set->w); the algorithms never read it at pick time. */
static inline uint32_t endpoint_weight(const struct endpoint *ep)
{
    uint32_t rt = atomic_load_explicit(&((struct endpoint *)ep)->rt_weight, memory_order_relaxed);
    return rt ? rt - 1 : ep->weight;
}

/*
 * One `filter <name> [args...]` line of a listener or backend: the registered filter and
 * the config object its config_parse built (owned by the listener or cluster, freed with
 * ops->config_free). Read-only once the snapshot is published.
 */
struct http_filter_ops;
struct filter_instance {
    const struct http_filter_ops *ops;
    void *cfg;
};

/* One `filter <name>` line of a mode tcp frontend: a network filter
 * (filters/network_filter.h) and its config object (owned, ops->config_free). */
struct network_filter_ops;
struct network_filter_instance {
    const struct network_filter_ops *ops;
    void *cfg;
};

/* HAProxy's retry-on conditions (cluster->retry_on). */
#define RETRY_ON_CONN_FAILURE (1u << 0)
#define RETRY_ON_EMPTY_RESPONSE (1u << 1)
#define RETRY_ON_JUNK_RESPONSE (1u << 2)
#define RETRY_ON_RESPONSE_TIMEOUT (1u << 3)
#define RETRY_ON_0RTT_REJECTED (1u << 4)
#define RETRY_ON_STATUS (1u << 5)  /* one of retry_status[] */
/* Envoy's gRPC conditions: the grpc-status of a trailers-only response */
#define RETRY_ON_GRPC_CANCELLED (1u << 6)          /* 1 */
#define RETRY_ON_GRPC_DEADLINE_EXCEEDED (1u << 7)  /* 4 */
#define RETRY_ON_GRPC_RESOURCE_EXHAUSTED (1u << 8) /* 8 */
#define RETRY_ON_GRPC_INTERNAL (1u << 9)           /* 13 */
#define RETRY_ON_GRPC_UNAVAILABLE (1u << 10)       /* 14 */
#define RETRY_ON_GRPC (RETRY_ON_GRPC_CANCELLED | RETRY_ON_GRPC_DEADLINE_EXCEEDED | \
                       RETRY_ON_GRPC_RESOURCE_EXHAUSTED | RETRY_ON_GRPC_INTERNAL | \
                       RETRY_ON_GRPC_UNAVAILABLE)
#define RETRY_ON_L7 (RETRY_ON_EMPTY_RESPONSE | RETRY_ON_JUNK_RESPONSE | \
                     RETRY_ON_RESPONSE_TIMEOUT | RETRY_ON_0RTT_REJECTED | RETRY_ON_STATUS | \
                     RETRY_ON_GRPC)
#define RETRY_STATUS_MAX 12

/*
 * `errorfile <status> <file>`: a complete HTTP response (status line, fields,
 * body) that tern sends instead of its own page for a local reply with that
 * status. Loaded and validated at config load (proxy/config); raw is one
 * owned allocation: the head (status line and fields, each with its CRLF,
 * without the empty line) then the body. Read-only once published.
 */
struct http_errorfile {
    uint16_t status;          /* the local-reply status it replaces */
    bool close;               /* the file says Connection: close */
    bool has_length;          /* it has a Content-Length (else tern adds one) */
    char *raw;                /* owned */
    uint32_t head_len;
    uint32_t body_len;        /* body at raw + head_len */
};

struct cluster {
    char *name;
    uint32_t id;              /* position in the clusters of the snapshot that built it
                               * (a carried-over cluster keeps its first one) */
    /* Identity of the configuration that built the cluster: two clusters of
     * the same name and fingerprint behave the same, so a new snapshot takes
     * over the old cluster object (with its host sets, health state, stats
     * and idle connections) instead of its own (model_swap.c). 0: never
     * taken over. Set by the config source. */
    uint64_t fingerprint;
    /* The source's own identity of the cluster, before what its users add to
     * the fingerprint (xDS: the Cluster, its ClusterLoadAssignment and
     * Secrets; the listeners' tcp use and route policy come after). A source
     * that finds a running cluster with the same name and source fingerprint
     * may put that very object in its new snapshot instead of building one
     * (snapshot_put_cluster), so that an update costs what it changes. 0:
     * none (the file's clusters). */
    uint64_t source_fingerprint;
    enum proxy_mode mode;
    enum lb_policy lb_policy;
    enum lb_hash_type hash_type;
    enum lb_consistent_algo consistent_algo;
    uint32_t random_draws;    /* balance random(<draws>), default 2 */
    const struct lb_ops *lb;  /* chosen from lb_policy and hash_type */
    struct endpoint **endpoints;
    uint32_t nendpoints;
    uint32_t timeout_connect_ms; /* 0: none (HAProxy warns; we default 5s, see README) */
    uint32_t timeout_server_ms;  /* 0: none */
    uint32_t timeout_queue_ms;   /* 0: timeout connect */
    uint32_t timeout_tunnel_ms;  /* 0: none (client and server timeouts apply) */
    uint32_t timeout_check_ms;   /* 0: unset */
    uint32_t retries;            /* default 3 */
    uint32_t retry_on;           /* RETRY_ON_* bits, default RETRY_ON_CONN_FAILURE */
    uint16_t retry_status[RETRY_STATUS_MAX]; /* retry-on <status> codes, 0-terminated */
    bool redispatch;             /* option redispatch */
    int redispatch_interval;     /* option redispatch <interval>, default -1 */
    bool allbackups;             /* option allbackups */
    enum http_reuse http_reuse;  /* http-reuse, default safe */
    enum http_conn_mode http_mode; /* option http-keep-alive|http-server-close|httpclose */
    struct http_forwardfor forwardfor;
    bool error_header;           /* option tern-error-header */
    struct http_errorfile *errorfiles; /* owned [nerrorfiles]: the section's errorfile lines */
    uint32_t nerrorfiles;
    struct acl_set *acls;        /* owned: the section's named conditions; NULL if none */
    /* mode http: the backend's `filter` lines (and the implicit retry filter
     * its retry-on asks for), run after the frontend's once the request is
     * routed here; owned [nfilters] */
    struct filter_instance *filters;
    uint32_t nfilters;
    struct health_spec hc;
    struct source_loc loc;

    /* runtime */
    _Atomic int refcnt;          /* snapshots holding the cluster (model_swap.c) */
    uint32_t nworkers;           /* per-worker slots allocated; 0 before runtime */
    struct host_set *hosts;      /* main thread's current set (owned ref) */
    _Atomic int queued;          /* connections queued on all workers */
    struct cluster_stats *stats; /* [nworkers] */
    /* Each worker's view of the host set; slot w is written by worker w only
     * (on a MSG_HOSTSET message) and read by worker w only. */
    struct cluster_worker_slot {
        struct host_set *hosts;
        /* connections of this worker waiting for a free endpoint slot */
        void *queue_head;
        void *queue_tail;
        uint32_t queue_len;
        uint64_t mark;           /* the worker's scratch mark (snapshot release) */
    } __attribute__((aligned(TERN_CACHELINE))) *worker;
};

/* One content-switching rule of a listener: requests for which `cond` holds
 * go to `target` (mode http; evaluated in order, the first match wins, then
 * the listener's default cluster). */
struct route_rule {
    struct acl_cond *cond;        /* owned (proxy/acl); never NULL */
    struct cluster *target;       /* borrowed */
};

/* `proto` of a bind line: the codec of its connections (mode http). */
enum bind_proto {
    BIND_PROTO_DEFAULT = 0, /* HTTP/1.1 (ALPN decides once TLS is there) */
    BIND_PROTO_H1,
    BIND_PROTO_H2,          /* HTTP/2 with prior knowledge (h2c) */
};

/* One `tcp-request content accept|reject [if|unless <cond>]` line of a mode
 * tcp listener (HAProxy's meaning): evaluated in order during the
 * inspection, the first whose condition holds decides; none: accept. */
enum tcp_content_action {
    TCP_CONTENT_ACCEPT = 0,
    TCP_CONTENT_REJECT,
};

struct tcp_content_rule {
    enum tcp_content_action action;
    struct acl_cond *cond;        /* owned; NULL: unconditional */
    bool payload;                 /* cond reads the client's first bytes (req.*) */
    int line;                     /* config line, for messages */
};

struct bind_addr {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct tls_bind *tls;         /* `ssl`: owned (proxy/tls/tls_conf.h); NULL: plain */
    enum bind_proto proto;
    struct source_loc loc;
};

struct listener {
    char *name;
    uint32_t id;
    enum proxy_mode mode;
    struct bind_addr *binds;
    uint32_t nbinds;
    uint32_t maxconn;             /* default 0: global maxconn applies */
    uint32_t timeout_client_ms;   /* 0: none */
    uint32_t timeout_client_hs_ms; /* TLS handshake; 0: unset (timeout client applies) */
    uint32_t timeout_http_request_ms;    /* 0: unset (timeout client applies) */
    uint32_t timeout_http_keep_alive_ms; /* 0: unset (http-request, then client) */
    uint64_t max_request_body;    /* mode http: longer request bodies get 413; 0: no limit */
    struct cluster *default_cluster; /* borrowed; NULL: connections refused */
    struct acl_set *acls;         /* owned: named conditions (a listen's too); NULL if none */
    struct route_rule *rules;     /* owned [nrules]; their conditions use `acls` */
    uint32_t nrules;
    bool access_log;              /* default true; `no log` turns it off */
    /* mode http */
    enum http_conn_mode http_mode;
    struct http_forwardfor forwardfor;
    bool error_header;            /* option tern-error-header */
    char *request_id_header;      /* option tern-request-id: header to fill; NULL: off */
    uint8_t xfcc;                 /* option forward-client-cert: enum xfcc_mode */
    struct http_errorfile *errorfiles; /* owned [nerrorfiles]: the section's errorfile lines */
    uint32_t nerrorfiles;
    struct filter_instance *filters; /* owned [nfilters], chain order (the router follows) */
    uint32_t nfilters;
    /* mode tcp: tcp-request inspect-delay (0: none) and content rules */
    uint32_t inspect_delay_ms;
    struct tcp_content_rule *tcp_rules; /* owned [ntcp_rules]; conditions use `acls` */
    uint32_t ntcp_rules;
    /* mode tcp: network filters, run in order once the client side is ready */
    struct network_filter_instance *net_filters; /* owned [nnet_filters] */
    uint32_t nnet_filters;
    struct source_loc loc;

    /* runtime */
    _Atomic int cur_conns;        /* all workers, for maxconn */
    struct listener_stats *stats; /* [nworkers] */
};

struct model_global {
    uint32_t nbthread;            /* 0: number of CPUs */
    uint32_t maxconn;             /* default 4096 */
    bool has_admin;
    struct sockaddr_storage admin_addr;
    socklen_t admin_addrlen;
    uint32_t grace_ms;            /* keep accepting this long after stop begins */
    uint32_t hard_stop_after_ms;  /* 0: wait for connections without limit */
    uint32_t bufsize;             /* tune.bufsize, default 16384 */
    uint32_t http_maxhdr;         /* tune.http.maxhdr, default 101 */
    /* HTTP/2 (HAProxy 2.6's tune.h2.* and their defaults) */
    uint32_t h2_max_concurrent_streams; /* tune.h2.max-concurrent-streams, 100 */
    uint32_t h2_header_table_size;      /* tune.h2.header-table-size, 4096 */
    uint32_t h2_initial_window_size;    /* tune.h2.initial-window-size, 65535 (capped to
                                         * tune.bufsize: a stream's buffer) */
    uint32_t h2_max_frame_size;         /* tune.h2.max-frame-size, 16384 */
};

/* xds protocol: state of the world or incremental. */
enum xds_protocol {
    XDS_PROTOCOL_DELTA = 0, /* default: DeltaAggregatedResources */
    XDS_PROTOCOL_SOTW,      /* StreamAggregatedResources */
};

/* The `xds` section: where the control plane is and who tern is to it
 * (Envoy's bootstrap node and ADS config source). */
struct model_xds {
    bool enabled;                  /* the file has an xds section */
    struct sockaddr_storage server; /* ADS server */
    socklen_t serverlen;
    char *ca_pem;                  /* owned; `server ... ssl ca-file`: TLS, verified against
                                    * these roots; NULL: plaintext gRPC */
    char *ca_file;                 /* owned; its path (messages, reload comparison) */
    char *verifyhost;              /* owned; name the server's certificate must carry;
                                    * NULL: its address */
    char *node_id;                 /* owned */
    char *node_cluster;            /* owned; NULL: unset */
    char *region;                  /* owned; node-locality <region>/<zone>; NULL: unset */
    char *zone;                    /* owned; NULL: unset */
    char **meta_keys;              /* owned; node-metadata <key> <value>: Node.metadata */
    char **meta_values;            /* owned; string values, parallel to meta_keys */
    uint32_t nmeta;
    uint32_t init_timeout_ms;      /* resource warming bound, default 15s */
    uint32_t drain_time_ms;        /* removed/rebound xDS listeners drain this long */
    enum xds_protocol protocol;
    struct source_loc loc;         /* the section's line */
};

struct snapshot {
    _Atomic int refcnt;
    uint64_t version;
    char *source;                 /* file name (interned; source_loc points here) */
    struct model_global global;
    struct model_xds xds;
    struct listener **listeners;
    uint32_t nlisteners;
    struct cluster **clusters;
    uint32_t nclusters;
    uint32_t nworkers;            /* stats slots allocated, 0 before runtime */
    uint32_t max_cluster_filters; /* longest backend chain (streams size their chain) */
};

#endif /* TERN_MODEL_TYPES_H */
