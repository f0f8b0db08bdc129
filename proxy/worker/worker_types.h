/*
 * worker_types.h: the structures a worker thread owns. Private to
 * proxy/worker/ and to the connection handlers it dispatches to (mode http,
 * proxy/http/); the rest of tern uses worker.h.
 */
#ifndef TERN_WORKER_TYPES_H
#define TERN_WORKER_TYPES_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/core/buf.h"
#include "proxy/model/model_types.h"
#include "proxy/tls/identity.h"
#include "proxy/tls/transport.h"
#include "proxy/worker/accesslog.h"
#include "proxy/worker/upstream.h"
#include "proxy/worker/worker.h"

enum msg_type {
    MSG_HOSTSET = 1,   /* a: struct cluster *, b: struct host_set * (one ref for us) */
    MSG_STOP_ACCEPT,   /* close listening sockets */
    MSG_EXIT,          /* close everything and leave the loop */
    MSG_DEQUEUE,       /* a: struct cluster * (one ref for us): a slot freed on another worker */
    MSG_SNAPSHOT,      /* a: struct snap_update * (ours to free) */
    MSG_TLS_CTX,       /* a: struct tls_bind *, b: struct tls_server_ctx * (one ref for us) */
};

/*
 * A new snapshot for one worker (workers_swap). listeners[k] is the new
 * array's k-th socket: either opened by the main thread (fd >= 0, from[k] ==
 * -1) or the socket the worker already has at index from[k] of its current
 * array (kept: no accept gap). Listening sockets of the current array that
 * no entry keeps belong to removed or rebound listeners: the worker closes
 * them and drains those listeners' connections.
 */
struct snap_update {
    struct snapshot *snap;                /* one reference, for the worker */
    struct worker_listener *listeners;    /* [nlisteners], taken by the worker */
    int32_t *from;                        /* [nlisteners] */
    uint32_t nlisteners;
    uint32_t drain_ms;                    /* then drained connections close; 0: no limit */
};

struct msg {
    struct msg *next;
    enum msg_type type;
    void *a;
    void *b;
};

/* One listening socket of one worker. */
struct worker_listener {
    struct worker *w;
    struct listener *l;   /* borrowed from the worker's snapshot */
    struct bind_addr *b;  /* the bind line it listens for (l->binds[i]): its TLS */
    int fd;
    bool paused;          /* accept disabled (maxconn reached or out of fds) */
    struct event ev;
};

/* Termination state of a connection, as HAProxy's two-letter code plus a
 * reason word for the access log and counters. */
enum conn_reason {
    CR_NONE = 0,
    CR_DONE,            /* both sides closed normally */
    CR_CLIENT_RESET,    /* client error/reset */
    CR_SERVER_RESET,    /* server error/reset in data phase */
    CR_CLIENT_TIMEOUT,
    CR_SERVER_TIMEOUT,
    CR_CONNECT_FAILED,  /* every connect attempt failed */
    CR_CONNECT_TIMEOUT, /* the last attempt timed out */
    CR_NO_SERVER,       /* no usable endpoint */
    CR_QUEUE_TIMEOUT,
    CR_QUEUE_FULL,
    CR_KILLED,          /* stop: hard-stop-after or immediate stop */
    CR_TLS_HANDSHAKE,   /* the client's TLS handshake failed or timed out */
    CR_DENIED,          /* refused by a rule (tcp-request content reject, a network filter) */
};

enum conn_state {
    CS_HANDSHAKE = 6,  /* bind ... ssl: the client's TLS handshake, before any pick */
    CS_INSPECT,        /* tcp-request inspect-delay: waiting for the client's first bytes */
    CS_QUEUED = 1,     /* waiting for a free endpoint slot */
    CS_TURNAROUND,     /* waiting before retrying the same endpoint */
    CS_CONNECTING,
    CS_ESTABLISHED,
    CS_CLOSED,
};

/* One proxied TCP connection: client side + server side. */
struct conn {
    struct conn *prev, *next;     /* worker's list of connections */
    struct conn *fin_prev, *fin_next; /* worker's deferred-FIN list */
    struct worker *w;
    struct worker_snap *ws;       /* snapshot pinned by this connection */
    struct listener *l;
    struct upstream_req up;       /* cluster, endpoint, slot, queue, retries */
    struct buf *c2s;              /* client -> server bytes in flight */
    struct buf *s2c;              /* server -> client bytes in flight */
    int cfd;
    int sfd;
    struct transport ct;          /* client side: plain, or TLS terminated (bind ... ssl) */
    struct transport st;          /* server side: plain, or TLS (server ... ssl) */
    struct tls_peer_identity *peer_id; /* after a client TLS handshake (owned), else NULL */
    bool s_handshaken;            /* server side usable (TLS handshake done) */
    enum conn_state state;
    enum conn_reason reason;
    bool c_eof : 1;      /* client sent FIN */
    bool s_eof : 1;      /* server sent FIN */
    bool c_shut : 1;     /* we sent FIN to the client */
    bool s_shut : 1;     /* we sent FIN to the server */
    bool in_pump : 1;
    bool fin_wait : 1;   /* a FIN to pass on waits for the next loop turn */
    bool fin_due : 1;    /* that turn came: pass the FIN on now */
    bool c_wev : 1;      /* cev includes EV_WRITE (see client_want_write) */
    uint64_t accept_ms;
    uint64_t connect_start_ms;
    uint64_t connected_ms;        /* 0 until established */
    uint64_t c_active_ms;         /* last client-side I/O */
    uint64_t s_active_ms;         /* last server-side I/O */
    uint64_t deadline_ms;         /* current deadline of the state (connect, queue, turnaround) */
    uint64_t timer_at_ms;         /* when the armed timer fires, 0 if none */
    uint64_t bytes_in;            /* from the client */
    uint64_t bytes_out;           /* to the client */
    struct sockaddr_in6 peer;     /* client address (v4 stored as AF_INET in the same space) */
    struct event cev;             /* client fd, edge-triggered read (+write once blocked) */
    struct event sev;             /* server fd, edge-triggered read+write */
    struct event timer;
};

/*
 * The handler of one listener mode other than tcp (today: mode http, from
 * proxy/http/, installed by main with workers_set_http_ops). Every function
 * runs on the worker's own thread.
 */
struct worker_mode_ops {
    /* A new client connection on wl: the handler owns fd from now on and
     * must count it like tcp_proxy does (w->nconns, worker_conn_closed). */
    void (*accept)(struct worker *w, struct worker_listener *wl, int fd,
                   const struct sockaddr *sa, socklen_t salen);
    /* Once the worker's loop exists, before it runs: per-worker state. */
    void (*worker_init)(struct worker *w);
    /* Graceful stop began (listeners closed): close idle connections and
     * end the busy ones after their current exchange. */
    void (*stop_accepting)(struct worker *w);
    /* The worker exits: close everything now (logged as killed). */
    void (*close_all)(struct worker *w);
    /* After the loop ended: free the per-worker state. */
    void (*worker_fini)(struct worker *w);
    /* The listener called `name` was removed or rebound: the connections
     * accepted on it (on any listener object of that name except `keep`, the
     * current snapshot's, which may be NULL) finish their exchange and close
     * (`now`: close them at once, the drain time is over). */
    void (*drain_listener)(struct worker *w, const char *name, const struct listener *keep,
                           bool now);
    /* The worker no longer uses `old`: close its idle server connections to
     * the clusters that the current snapshot w->snap does not have. */
    void (*release_snapshot)(struct worker *w, struct snapshot *old);
};

/* A snapshot as one worker uses it: pinned while connections use it. Holds
 * one reference; released once it is not the newest and nconns is 0. */
struct worker_snap {
    struct worker_snap *next;
    struct snapshot *snap;
    uint32_t nconns;
};

/* Listeners of an older snapshot whose connections drain (removed or
 * rebound); at `ev` the remaining ones are closed. Holds a reference to the
 * snapshot the listeners belong to. */
struct worker_drain {
    struct worker_drain *next;
    struct worker *w;
    struct snapshot *snap;
    const struct listener **ls;
    uint32_t nls;
    struct event ev;
};

struct worker {
    uint32_t id;
    pthread_t thread;
    struct event_base *base;
    struct snapshot *snap;              /* snapshot for new connections (== snaps->snap) */
    struct worker_snap *snaps;          /* current first, then older pinned ones */
    struct worker_drain *drains;        /* listeners draining with a deadline */
    uint64_t mark_gen;                  /* cluster_worker_slot.mark generations */
    struct worker_listener *listeners;
    uint32_t nlisteners;
    bool stopping;                      /* stop accepting requested */
    struct conn *conns;                 /* all open connections */
    uint64_t nconns;
    _Atomic uint64_t nconns_shared;     /* copy of nconns for the main thread */
    struct buf_pool pool;
    uint64_t rng;
    uint64_t last_emfile_log_ms;
    struct conn *fin_head;              /* connections with a deferred FIN */
    struct event fin_ev;                /* runs them after the next poll */
    struct event resume_ev;             /* re-enables paused listeners */
    bool resume_armed;
    struct accesslog alog;
    struct worker_stats stats;
    void *http;                         /* mode http's per-worker state (proxy/http) */
    /* message queue from the main thread */
    pthread_mutex_t mq_lock;
    struct msg *mq_head, *mq_tail;
    int mq_fd;                          /* eventfd */
    struct event mq_ev;
};

/* Cached loop time of the worker's event_base, in ms (no syscall). */
uint64_t worker_now_ms(struct worker *w);

/* tcp_proxy.c */
void tcp_proxy_accept(struct worker *w, struct worker_listener *wl, int fd,
                      const struct sockaddr *sa, socklen_t salen);
void tcp_proxy_close_all(struct worker *w, enum conn_reason why);

/* worker.c: tells the other workers that a slot of cluster c freed while
 * connections of theirs may be queued for it (only under saturation). */
void worker_kick_queues(struct worker *from, struct cluster *c);

/* tcp_proxy.c: the worker's deferred-FIN event callback. */
void tcp_proxy_fin_cb(evutil_socket_t fd, short what, void *arg);

/* worker.c: a connection closed; re-enable listeners paused at maxconn. */
void worker_conn_closed(struct worker *w, struct worker_snap *ws);

/* worker.c: a connection stops pinning ws (it closed, or moved to the newest
 * snapshot); ws is released when it was the last one of an older snapshot. */
void worker_snap_put(struct worker *w, struct worker_snap *ws);

/* tcp_proxy.c: closes the connections accepted on a listener called `name`
 * other than `keep` (drain time over; see worker_mode_ops.drain_listener). */
void tcp_proxy_close_listener(struct worker *w, const char *name, const struct listener *keep);

#endif /* TERN_WORKER_TYPES_H */
