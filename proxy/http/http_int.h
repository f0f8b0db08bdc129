/*
 * http_int.h: the types and internal functions of mode http, shared by the
 * files of proxy/http/ (not an API: the worker sees only http.h).
 *
 *   h1_conn.c      downstream HTTP/1.1 connection: client socket, request
 *                  heads, keep-alive, pipelining, timeouts, the run loop
 *   stream.c       one request/response exchange: arena, messages, the
 *                  filter-chain runner and the filter API, local replies,
 *                  the access log and counters
 *   router.c       the last filter: route selection, load balancing,
 *                  queue, connect retries, request head serialization
 *   upstream_h1.c  upstream HTTP/1.1 connections: connect, send the request,
 *                  receive the response; the per-worker idle pool
 *   down_h1.c      the HTTP/1.1 client side of a stream (struct down_ops):
 *                  response heads and local replies into h1_conn's output
 *   h2_conn.c      downstream HTTP/2 connections (nghttp2 session driven by
 *                  our loop); each HTTP/2 stream is a struct stream
 *   http_reuse.c   http-reuse: which idle connection may carry a request
 *
 * Downstream interface: a stream reaches its client through s->down (an
 * ops table: run, kick, gone, response_head, reply, abort, ended) and a few
 * fields copied at creation (worker, listener, snapshot, peer, and
 * s->ibufp, where its validated request-body bytes are). The stream core,
 * the filter chain, the router and upstream_h1.c see only those, so an
 * HTTP/2 stream runs the same code as an HTTP/1.1 exchange.
 *
 * Ownership: a client connection (struct h1_conn) owns at most one stream
 * at a time (requests are answered in order; pipelined ones wait in its
 * input buffer). The stream owns its arena, the request head buffer and,
 * while it runs, the upstream connection it uses (struct up_conn). An idle
 * upstream connection belongs to its endpoint's per-worker idle list; the
 * client connection that used it last remembers it (`owned`) for http-reuse.
 *
 * Thread: everything here belongs to one worker.
 */
#ifndef TERN_HTTP_INT_H
#define TERN_HTTP_INT_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "filters/filter.h"
#include "proxy/acl/acl_types.h"
#include "proxy/codec/h1.h"
#include "proxy/core/arena.h"
#include "proxy/core/buf.h"
#include "proxy/http/http_msg.h"
#include "proxy/http/http_reason.h"
#include "proxy/http/http_reuse.h"
#include "proxy/tls/identity.h"
#include "proxy/tls/transport.h"
#include "proxy/worker/upstream.h"
#include "proxy/worker/worker_types.h"

/* Arena bytes inside the stream: both heads' field arrays and the usual
 * rewrites fit, so a normal request allocates nothing but the stream. */
#define STREAM_ARENA_INLINE 4096
/* Streams kept per worker for reuse (each a few KiB). */
#define STREAM_CACHE_MAX 64
/* Fields added to a message beyond what arrived before its array grows. */
#define HTTP_SPARE_HDRS 8
/* Bytes moved per run of a connection before it yields to the others. */
#define HTTP_RUN_BUDGET (256 * 1024)
/* Lingering close: after a reply that ends the connection, unread request
 * bytes are drained for at most this long (or this many bytes) so that the
 * kernel does not answer them with a RST that destroys the reply. */
#define HTTP_LINGER_MS 1000
#define HTTP_LINGER_BYTES (1024 * 1024)

struct stream;
struct up_conn;
struct h2_conn;
struct http_local_reply;

/* Per-worker state of mode http (worker->http). */
struct http_worker {
    struct worker *w;
    struct h1_conn *conns;       /* open client connections */
    struct stream *free_streams; /* cache of freed streams */
    uint32_t nfree_streams;
    size_t stream_size;          /* sizeof(struct stream) + maxhdr header slots */
    uint32_t maxhdr;
    struct h1_limits lim;
    uint32_t maxrewrite;         /* room kept in a buffer beyond the largest head */
    uint32_t purge_period_ms;    /* smallest pool-purge-delay of the http clusters; 0: none */
    struct h2_conn *h2conns;     /* open HTTP/2 client connections */
    uint64_t nidle;              /* idle upstream connections of this worker */
    bool purge_armed;
    struct event purge_ev;
    struct filter_defer *defer_head; /* filter_defer() calls due after this turn */
    struct event defer_ev;           /* runs them (event_active, never added) */
};

/* ---- downstream connection ------------------------------------------------ */

/* What a finished TLS handshake tells about a client connection (allocated
 * then, only for TLS: a plain connection carries a NULL pointer). */
struct h1_tls {
    struct tls_peer_identity peer; /* owned: tls_peer_identity_clear */
    struct tls_peer_identity own;  /* our certificate, for XFCC's By= (filled only when the
                                    * listener's forward-client-cert mode adds an element) */
    const char *sni;               /* the SSL's (lives as long as the transport) */
    struct acl_conn_tls acl;       /* what ssl_* fetches read (points into peer) */
};

struct h1_conn {
    struct h1_conn *prev, *next;  /* http_worker's list */
    struct worker *w;
    struct http_worker *hw;
    struct worker_snap *ws;       /* snapshot pinned by the connection */
    struct listener *l;
    struct stream *s;             /* the exchange in progress; NULL while idle */
    struct up_conn *owned;        /* the server connection it used last (http-reuse) */
    struct buf *ibuf;             /* request bytes (head, body, pipelined requests) */
    struct buf *obuf;             /* response head / local reply bytes to send */
    int fd;
    uint32_t nreq;                /* requests begun on this connection */
    struct transport tr;          /* plain or TLS: every byte of the client goes through it */
    struct h1_tls *tls;           /* after a TLS handshake, else NULL */
    bool handshaking : 1;         /* TLS handshake in progress: no codec yet */
    bool proto_h2 : 1;            /* TLS bind with proto h2: HTTP/2 whatever ALPN says */
    bool eof : 1;                 /* the client's FIN arrived */
    bool closing : 1;             /* close once obuf is written (then linger) */
    bool lingering : 1;           /* write side shut; draining input until EOF */
    bool closed : 1;
    bool draining : 1;            /* graceful stop: no keep-alive after this exchange */
    bool in_run : 1;
    bool rerun : 1;
    uint64_t accept_ms;
    uint64_t idle_since_ms;       /* end of the last exchange (keep-alive wait) */
    uint64_t active_ms;           /* last client I/O */
    uint64_t linger_until_ms;
    uint64_t linger_bytes;
    uint64_t timer_at_ms;         /* armed timer's deadline, 0 if none */
    struct sockaddr_in6 peer;
    struct event ev;              /* client fd: edge-triggered read+write */
    struct event timer;
};

/* ---- upstream connection -------------------------------------------------- */

struct up_conn {
    struct up_conn *prev, *next;  /* endpoint's idle list (this worker's slot) */
    struct worker *w;
    struct http_worker *hw;
    struct endpoint *ep;
    struct stream *s;             /* the stream using it; NULL while idle */
    struct h1_conn *owner;        /* the client connection that used it last; owner->owned
                                   * == this, always (upstream_h1.c: own, disown) */
    struct buf *ibuf;             /* response bytes */
    int fd;
    uint32_t nreqs;               /* exchanges completed on it */
    struct transport tr;          /* plain or TLS (the endpoint's `ssl`) */
    char *sni;                    /* the SNI it was opened with (owned), NULL: none */
    bool connected : 1;           /* TCP connected */
    bool handshaken : 1;          /* and the TLS handshake done (at once for plain) */
    bool idle : 1;                /* in the idle list */
    bool private_ : 1;            /* http-reuse never: only its owner may reuse it */
    bool closed : 1;
    uint64_t idle_since_ms;
    uint64_t active_ms;           /* last I/O while a stream uses it */
    struct event ev;
    /* proto h2 (upstream_h2.c): this up_conn is one stream's share of a
     * shared HTTP/2 connection; ibuf holds the response payload */
    struct uh2_conn *h2;
    int32_t h2_id;                /* HTTP/2 stream id, 0 before it is submitted */
    uint16_t h2_status;           /* :status of the head being received */
    uint32_t h2_unacked;          /* payload received, not yet given back to the window */
    char *h2_spill;               /* bytes beyond ibuf (malloc'd, bounded by the window) */
    uint32_t h2_spill_len;
    bool h2_deferred : 1;         /* the request body provider waits for bytes */
    bool h2_closed : 1;           /* nghttp2 closed the stream */
    bool h2_chunked : 1;          /* an HTTP/1.1 client gets the body chunked from here */
    bool h2_ended : 1;            /* the response's end was handled */
    bool h2_head_end : 1;         /* the final head carried END_STREAM (trailers-only) */
};

/* ---- stream ----------------------------------------------------------------- */

enum stream_state {
    ST_HEAD = 0,     /* receiving the request head */
    ST_ROUTING,      /* the request filters run (or one holds the head) */
    ST_QUEUED,       /* waiting for an endpoint slot */
    ST_TURNAROUND,   /* pause before connecting again to the same endpoint */
    ST_CONNECTING,   /* a new upstream connection is being set up */
    ST_BACKOFF,      /* a filter asked for another attempt after a pause */
    ST_EXCHANGE,     /* request going up, response coming down */
    ST_REPLY,        /* a local reply is being written */
    ST_DONE,
};

/* One filter instance's handle on the stream (filters/filter.h). */
struct filter_stream {
    struct stream *s;
    const struct http_filter_ops *ops;
    const void *cfg;
    void *state;
    uint32_t idx;
    bool saw : 1;                 /* a hook ran: stream_done is owed */
    struct event *timer;          /* filter_timer_start: from the arena, NULL if never used */
    void (*timer_cb)(struct filter_stream *fs, void *state);
};

/*
 * The client side of a stream. Every function runs on the stream's worker;
 * none is called after `ended`.
 */
struct down_ops {
    const char *name;
    /* Runs the client side now (moves bytes, advances its streams): after an
     * upstream or timer event. */
    void (*run)(struct stream *s);
    /* Schedules a run on the next loop turn (no recursion). */
    void (*kick)(struct stream *s);
    /* The client side is gone: the stream is over, touch nothing more. */
    bool (*gone)(const struct stream *s);
    /* Forwards the final response head s->resp (after the response
     * filters). Returns the bytes it costs on the wire (>= 0), or -1 when it
     * cannot be represented (too large): the caller answers 502. */
    ssize_t (*response_head)(struct stream *s);
    /* Writes tern's own reply r (r->close: end the client connection after
     * it, which the client side may force too). Returns the bytes queued. */
    ssize_t (*reply)(struct stream *s, struct http_local_reply *r);
    /* Cuts the stream: h1 closes the connection, h2 resets the stream. The
     * stream is ended (stream_end) before it returns. */
    void (*abort)(struct stream *s, int reason);
    /* stream_end's last step: detach the stream from its client side. */
    void (*ended)(struct stream *s, uint64_t now);
};

/* HTTP/2 client side of a stream (h2_conn.c); unused for HTTP/1.1. */
struct h2_strm {
    struct stream *prev, *next;   /* the connection's active streams */
    int32_t id;
    struct buf *ibuf;             /* request body payload (validated: s->req_fwd) */
    struct buf *rbuf;             /* a local reply's bytes (its body is sent from here) */
    char *spill;                  /* body bytes beyond ibuf (malloc'd): only what a client
                                   * may send before it acknowledged our smaller window */
    uint32_t spill_len;
    uint32_t rbody_off, rbody_len;
    uint32_t unacked;             /* request bytes received and not yet given back to the
                                   * peer's window (consumed) */
    uint32_t hdr_bytes;           /* request head (then trailers) so far, RFC 9113 6.5.2's
                                   * accounting */
    uint64_t active_ms;           /* last progress of this stream with the client */
    uint64_t grpc_deadline_ms;    /* a gRPC request's grpc-timeout, from its head; 0: none */
    bool chunk_out : 1;           /* the h1 server gets the body chunked (no length) */
    bool hdr_overflow : 1;        /* too many / too large request fields: 431 */
    bool bad : 1;                 /* malformed request: RST_STREAM PROTOCOL_ERROR */
    bool resp_submitted : 1;      /* a response (or reply) was given to nghttp2 */
    bool deferred : 1;            /* its data provider waits for bytes */
    bool eof_sent : 1;            /* the response's last DATA frame went out */
    bool req_end : 1;             /* the client's END_STREAM arrived */
    bool end_seen : 1;            /* the body's end went through the data hooks */
    bool closed : 1;              /* nghttp2 closed it */
    /* chunked framing of the request body to an h1 server, written around
     * the body bytes at send time (upstream_h1.c send_request) */
    char co_hdr[24];
    uint8_t co_hdr_len;
    uint32_t co_size;             /* payload bytes of the chunk being written */
    uint32_t co_sent;             /* bytes of this chunk (header, payload, CRLF) written */
    bool co_last : 1;             /* the last-chunk (and trailers) is being written */
    char *co_tail;                /* last-chunk + trailers (arena) */
    uint32_t co_tail_len;
};

struct stream {
    struct stream *next_free;
    const struct down_ops *down;  /* the client side */
    struct h1_conn *cc;           /* HTTP/1.1 client side, NULL for HTTP/2 */
    struct h2_conn *h2c;          /* HTTP/2 client side, NULL for HTTP/1.1 */
    struct worker *w;
    struct http_worker *hw;
    struct listener *l;
    struct worker_snap *ws;
    const struct sockaddr_in6 *peer;
    const struct h1_tls *tls;     /* the client connection's TLS facts, NULL: plain */
    struct buf **ibufp;           /* where the validated request-body bytes are:
                                   * &cc->ibuf, or &h2.ibuf */
    bool first_req;               /* the client connection's first request (http-reuse) */
    struct up_conn *uc;
    struct upstream_req up;       /* cluster, endpoint, slot, queue, retries */
    enum stream_state st;
    int reason;                   /* tern_reason or HTTP_R_* */
    char fail_phase;              /* HAProxy's session state letter when it failed */
    uint16_t status;              /* sent to the client, 0 if none */
    bool head_ok;                 /* a complete request head was parsed */
    bool head_consumed;           /* its bytes left the client buffer (serialized) */
    bool req_send_dead;           /* the server stopped taking the request body */

    /* request */
    struct h1_msg h1;             /* request head parse, then each response head */
    struct http_msg req;
    struct buf *req_head;         /* serialized request head (kept for a resend) */
    uint32_t req_head_sent;       /* bytes of it written upstream */
    uint8_t req_body;             /* enum h1_body */
    uint64_t req_left;            /* H1_BODY_LENGTH: body bytes not yet forwarded */
    struct h1_chunked req_chunk;
    uint32_t req_fwd;             /* validated body bytes at the head of cc->ibuf */
    uint64_t req_body_len;        /* chunked: data bytes so far (max-request-body) */
    bool req_done : 1;            /* whole body received and validated */
    bool req_body_started : 1;    /* a body byte went upstream (no resend possible) */
    bool client_keep : 1;         /* the client connection persists after this stream */
    bool server_close : 1;        /* ask the server to close (server-close modes) */
    bool expect_100 : 1;
    bool reused : 1;              /* uc was used before this request */
    bool reuse_retried : 1;       /* already resent once after a reused connection closed */
    bool granted : 1;             /* out of the queue with a slot: go on */
    bool resp_head : 1;           /* final response head forwarded */
    bool resp_done : 1;           /* whole response body received */
    bool resp_held : 1;           /* a response filter holds the head */
    bool abort_client : 1;        /* close the client connection when the stream ends */
    bool routed : 1;              /* route chosen, the backend's filters spliced in */
    bool result_hooks : 1;        /* a filter of the chain has upstream_result */
    bool replay_overflow : 1;     /* the body outgrew replay_max: not replayable */
    bool upgrade_req : 1;         /* the request asks for a protocol switch (Upgrade) */
    bool tunnel : 1;              /* switched (101): bytes both ways until both FINs */
    bool tunnel_fin : 1;          /* the server's FIN was passed on to the client */
    bool req_data_hooks : 1;      /* a filter has request_data or request_trailers */
    bool resp_data_hooks : 1;     /* a filter has response_data or response_trailers */

    /* attempts (filters' retries) */
    struct cluster *route;        /* the cluster chosen by the routing rules */
    uint32_t attempt;             /* this attempt's number, from 1 */
    uint32_t try_timeout_ms;      /* filter_set_attempt_timeout; 0: none */
    uint64_t t_attempt;           /* when this attempt began */
    const struct endpoint *avoid; /* the endpoint the last attempt failed on */
    /* request body replay (filter_buffer_request_body): the body bytes sent
     * upstream so far, resent first by a new attempt */
    char *replay;                 /* malloc'd, up to replay_max */
    uint32_t replay_len;
    uint32_t replay_cap;
    uint32_t replay_sent;         /* bytes of it written on this attempt */
    uint32_t replay_max;

    /* response */
    uint8_t resp_body;            /* enum h1_body */
    uint64_t resp_left;
    struct h1_chunked resp_chunk;
    uint32_t resp_fwd;            /* validated body bytes at the head of uc->ibuf */
    uint32_t resp_got;            /* response bytes received on this attempt */
    struct http_msg resp;

    /* filter chain (router last) */
    struct filter_stream *fs;
    uint32_t nfilters;
    uint32_t req_next;            /* next filter for the request headers event */
    uint32_t resp_next;           /* next filter (counting down) for the response head */

    /* timing (worker loop ms) */
    uint64_t t_start;             /* first byte of the request (accept for the first) */
    uint64_t t_head;              /* head complete */
    uint64_t t_connect_start;
    int64_t t_connect;            /* connect time, -1 if none */
    uint64_t t_sent;              /* request head written upstream */
    uint64_t t_resp;              /* response head received */
    uint64_t deadline_ms;         /* queue / turnaround / connect deadline */
    uint64_t start_us;            /* wall clock of t_start, for the log date */
    uint64_t bytes_in;            /* request bytes received */
    uint64_t bytes_out;           /* response bytes sent */

    /* body data through the chain (filters' data hooks): a slice a filter
     * holds (FILTER_STOP) waits, with the bytes before its end, until
     * filter_resume; offsets are from the first unforwarded byte */
    struct data_hold {
        bool held;
        bool end;                 /* the slice ends the body */
        uint32_t next;            /* the filter that holds it */
        uint32_t fwd;             /* buffer bytes released with it (framing included) */
        uint32_t off, len;        /* the payload slice */
    } req_hold, resp_hold;
    struct http_msg *req_trailers; /* collected for the trailers hooks, arena */
    struct http_msg *resp_trailers;

    struct filter_stream_info info; /* filled for filter_info and stream_done */
    struct http_hdr *reply_hdrs;  /* filter_reply_header() before a local reply */
    uint32_t nreply_hdrs;
    uint32_t reply_cap;
    struct h2_strm h2;
    uint8_t up_refused;           /* HTTP/2 server: times its stream was refused (retried) */
    struct arena arena;
    unsigned char arena_mem[STREAM_ARENA_INLINE];
    struct h1_header hdrs[];      /* hw->maxhdr slots for the codec */
};

/* ---- h1_conn.c ---------------------------------------------------------------- */

/* Runs the connection: moves every byte that can move, advances its stream,
 * re-arms its timer. Safe to call from any callback (re-entry is deferred). */
void h1c_run(struct h1_conn *cc);
/* Schedules a run on the next loop turn (no recursion). */
void h1c_kick(struct h1_conn *cc);
/* Closes at once (RST-free only if nothing is unread); frees on the next
 * loop turn. Ends the stream first when there is one. */
void h1c_close(struct h1_conn *cc, int reason);

/* ---- stream.c ----------------------------------------------------------------- */

/* An HTTP/1.1 client's next exchange (down_h1_ops). */
struct stream *stream_new(struct h1_conn *cc);
/* h1_conn.c: before a new request, a connection of a listener the newest
 * snapshot kept moves to that snapshot (new routes, clusters, filters). */
void h1c_follow_snapshot(struct h1_conn *cc);
/* A stream for any client side: from the worker's cache, its chain set up. */
struct stream *stream_alloc(struct http_worker *hw, struct listener *l, struct worker_snap *ws,
                            const struct sockaddr_in6 *peer, const struct down_ops *down);
/* The request head is complete and converted: run the request filters. */
void stream_request_head(struct stream *s);
/* A final response head is in s->resp: run the response filters, then
 * forward it (write it into the client's output, decide keep-alive). */
void stream_response_head(struct stream *s);
/* The client connection must end with this stream (after the response):
 * the request body cannot be skipped, the peer asked, tern is stopping. */
void stream_abort(struct stream *s, int reason);
/* Records why the stream failed (the first reason wins). */
void stream_fail(struct stream *s, int reason);
/*
 * Ends the exchange with a local reply: status from the reason (or
 * `status` when not 0), `close`: the client connection ends after it. Any
 * upstream connection is closed, the slot released.
 */
void stream_local_reply(struct stream *s, int reason, uint16_t status, bool close);
/* The exchange is over (response sent, or abandoned): log, count, release
 * everything, detach from the client connection and free. */
void stream_end(struct stream *s);
/*
 * Body bytes through the filters' data hooks (only when the chain has some:
 * s->req_data_hooks / resp_data_hooks). `off`/`len`: the payload slice,
 * from the first unforwarded byte of the direction's buffer; `fwd`: the
 * buffer bytes it releases (chunk framing included). Returns true when
 * every filter let it through (the caller forwards `fwd` bytes), false when
 * one holds it (the stream remembers; filter_resume releases it).
 */
bool stream_request_data(struct stream *s, uint32_t off, uint32_t len, uint32_t fwd, bool end);
bool stream_response_data(struct stream *s, uint32_t off, uint32_t len, uint32_t fwd, bool end);
/* One trailer field of a chunked body, collected for the trailers hooks. */
void stream_trailer(struct stream *s, bool request, const char *name, size_t nlen,
                    const char *value, size_t vlen);
/* The trailer section is complete: the trailers hooks see it (read-only). */
void stream_trailers_done(struct stream *s, bool request);
/*
 * A chunked HTTP/1.1 body going to an HTTP/2 peer (the request to an h2
 * server, or the response to an h2 client): one event of h1_chunked_parse
 * over r bytes at the direction's forward point in ib. The framing is
 * removed in place (DATA frames carry the payload; req_fwd / resp_fwd count
 * it), trailer fields are collected for a trailing HEADERS, the data hooks
 * run. Returns false when a filter holds the bytes or the stream was
 * answered.
 */
struct h1_chunk_event;
bool stream_unchunk(struct stream *s, bool request, struct buf *ib,
                    const struct h1_chunk_event *ev, uint32_t r);
/*
 * The server side's deadline of an exchange (ST_EXCHANGE), for the client
 * codec's timer: the attempt's own timeout (filter_set_attempt_timeout)
 * before the response head, and `timeout server` while the server owes
 * bytes; UINT64_MAX when none.
 */
uint64_t stream_server_deadline(const struct stream *s);
/* When that deadline has passed: the attempt ends as response-timeout
 * (retried, else 504) before the head, the stream is cut after it. Returns
 * true when it fired (the stream may be over). */
bool stream_server_timeout(struct stream *s, uint64_t now);
/* Frees the per-worker stream cache. */
void stream_cache_free(struct http_worker *hw);
/* Listener counters. */
struct listener_stats *stream_lst(const struct stream *s);

/* ---- http_xfcc.c ---------------------------------------------------------------- */

/* option forward-client-cert: the x-forwarded-client-cert field the request
 * goes upstream with (see enum xfcc_mode). Returns 0, or -1 when the message
 * would exceed `maxhdr` fields. */
int http_xfcc_apply(struct stream *s, uint32_t maxhdr);
/* ---- down_h1.c ---------------------------------------------------------------- */

extern const struct down_ops down_h1_ops;

/* ---- h2_conn.c ----------------------------------------------------------------- */

/* nghttp2's output on its way to a socket, for both HTTP/2 sides: what
 * mem_send returned and is not yet copied, and the pool buffer it is copied
 * into. Owned by the connection; obuf goes back to the pool when empty. */
struct h2_out {
    const uint8_t *pend;
    size_t pend_len;
    struct buf *obuf;
};
typedef struct nghttp2_session nghttp2_session;
/* Copies what the session has to send into o->obuf while it has room.
 * Returns 0, or -1 when the session failed (the connection must end). */
int h2_out_fill(nghttp2_session *ng, struct h2_out *o, struct buf_pool *pool);
/* Writes o->obuf: bytes written, TRANSPORT_AGAIN when nothing can be written
 * now (empty, or the socket is full), < 0 on an error. */
ssize_t h2_out_write(struct h2_out *o, struct transport *tr, struct buf_pool *pool);

extern const struct down_ops down_h2_ops;
/* A new connection on an h2 listener (prior knowledge); takes fd. */
void h2c_accept(struct worker *w, struct worker_listener *wl, int fd, const struct sockaddr *sa,
                socklen_t salen);
/* A TLS client connection whose ALPN chose h2 becomes an HTTP/2 one: cc's
 * fd, transport, TLS facts and snapshot reference move (cc is then freed by
 * its owner, closing nothing). */
void h2c_adopt(struct h1_conn *cc);
/* The codec a TLS handshake's ALPN chose: "h2" -> true (HTTP/2), anything
 * else (http/1.1, none) -> false. The TLS wiring calls this one function. */
bool http_alpn_is_h2(const unsigned char *proto, unsigned len);
/* Graceful stop / hard stop of every h2 connection of the worker. */
void h2c_stop_accepting(struct http_worker *hw);
void h2c_close_all(struct http_worker *hw);
/* upstream_h1.c's request body for an h2 stream with no length: the
 * iovecs of the next chunk (framing around the body bytes), and what a
 * write of n bytes of them consumed (returns payload bytes). */
int h2_chunk_iov(struct stream *s, struct iovec *iov, const char *data, uint32_t avail);
uint32_t h2_chunk_sent(struct stream *s, size_t n);
/* A head's field array as HTTP/2 fields arrive: H2_FIRST_FIELDS (+ the
 * spare) at first, doubled up to max when fewer than HTTP_SPARE_HDRS slots
 * are left (a maxhdr-sized array per stream cost more than a small head). */
#define H2_FIRST_FIELDS 16
void h2_grow_fields(struct http_msg *m, uint32_t max);
/* The allocator nghttp2's sessions use (both sides): per-thread free lists
 * by size class for blocks up to 512 bytes; NULL (libc's) under the sanitizers
 * and the fuzzer. h2_mem_thread_release, at worker exit on its thread,
 * frees the lists (blocks freed later go straight to libc). */
#ifdef NGHTTP2_H /* the files that include nghttp2.h */
nghttp2_mem *h2_nghttp2_mem(void);
#endif
void *h2_mem_alloc(size_t size);
void h2_mem_free(void *p);
void h2_mem_thread_release(void);
/* upstream_h1.c took n request-body bytes of an h2 stream: window back. */
void h2_request_consumed(struct stream *s, size_t n);
/* upstream_h1.c: keeps n body bytes just sent for a replay
 * (filter_buffer_request_body): past replay_max, or when the bytes went with
 * framing of tern's own (`framed`), the request stops being replayable. */
void http_replay_keep(struct stream *s, const char *p, size_t n, bool framed);
/* gRPC's grpc-timeout value ("100m", "5S") in ms, rounded up, at least 1;
 * -1 when malformed. */
int64_t h2_grpc_timeout_ms(const char *p, size_t len);

/* ---- upstream_h2.c ------------------------------------------------------------ */

/* proto h2 servers: the stream rides a connection of the endpoint's
 * per-worker pool. take_idle: a ready connection with a free stream slot
 * (s->uc set, request submitted); connect: joins a connection being set up
 * or opens one (s->uc set; router_connected/router_connect_failed follow).
 * The rest mirror upstream_h1.c's functions for an up_conn with uc->h2. */
struct up_conn *uh2_take(struct stream *s);
struct up_conn *uh2_connect(struct stream *s);
bool uh2_step(struct stream *s);
void uh2_release(struct up_conn *uc);
void uh2_resp_consumed(struct stream *s, size_t n);
/* Closes the slot's HTTP/2 connections that carry no stream (GOAWAY
 * first); busy ones are retired (no new stream) and close when done. */
void uh2_close_idle(struct endpoint_worker_slot *sl);

/* ---- router.c ----------------------------------------------------------------- */

extern const struct http_filter_ops router_filter_ops;
/* The cluster a request goes to: the first matching use_backend rule of the
 * listener, else its default backend (NULL: none). No allocation, no lock. */
struct cluster *route_select(struct stream *s);
/* Connection attempt outcomes, from upstream_h1.c. */
void router_connected(struct stream *s);
void router_connect_failed(struct stream *s, bool timeout);
/* A queued stream got its slot (checked by the run loop). */
void router_proceed(struct stream *s);
/* A reused connection closed before any response byte: send the request
 * again on a new connection (the caller checked it may). */
void router_resend(struct stream *s);
/* The timer of a queued / turning-around / connecting / backing-off stream
 * fired. */
void router_timeout(struct stream *s);
/*
 * An upstream attempt ended (a failure, or a response head not yet
 * forwarded): offers it to the filters' upstream_result hooks. Returns true
 * when one asked for another attempt: the attempt's connection is closed,
 * its slot released and the stream is backing off or attempting again; the
 * caller must not touch the old connection. False: go on with the outcome.
 */
bool router_attempt_done(struct stream *s, enum filter_outcome oc, enum tern_reason failure,
                         uint16_t status);

/* ---- upstream_h1.c ------------------------------------------------------------ */

/* An idle connection to s->up.ep that http-reuse lets s use, taken out of
 * the pool and attached to s; NULL when none. */
struct up_conn *upstream_take_idle(struct stream *s);
/* Starts a new connection to s->up.ep for s; NULL when the socket could not
 * even be created (a failed attempt). */
struct up_conn *upstream_connect(struct stream *s);
/* Moves what can move between s's client buffer, s->uc and s's response
 * state; returns true when something progressed. */
bool upstream_step(struct stream *s);
/* The stream is done with uc: back to the idle pool when `keep` (and the
 * pool has room), else closed. */
void upstream_release_conn(struct up_conn *uc, struct h1_conn *owner, bool keep);
/* (owner NULL: an HTTP/2 client's stream; the connection has no owner) */
/* Closes uc (whatever its state); freed on the next loop turn. */
void upstream_close(struct up_conn *uc);
/* The client connection goes away: forget it as owner (close private ones). */
void upstream_forget_owner(struct h1_conn *cc);
/* Closes every idle connection of the worker. */
void upstream_close_idle(struct http_worker *hw);
/* Closes the idle connections to clusters of `old` that the worker's current
 * snapshot does not have (the worker stops using `old`). */
void upstream_close_idle_gone(struct http_worker *hw, struct snapshot *old);
/* Periodic purge of idle connections (pool-purge-delay). */
void upstream_purge_cb(evutil_socket_t fd, short what, void *arg);
/* A held body slice went through the rest of the chain: forward it. */
void upstream_req_data_released(struct stream *s);
void upstream_resp_data_released(struct stream *s);
/* The client wrote n response-body bytes taken from uc->ibuf. */
void upstream_resp_consumed(struct stream *s, size_t n);

#endif /* TERN_HTTP_INT_H */
