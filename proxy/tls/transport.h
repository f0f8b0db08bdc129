/*
 * transport.h: the byte stream under a connection, plain or TLS.
 *
 * A connection (h1_conn, upstream_h1, tcp_proxy's conn) does its socket I/O
 * through a `struct transport` instead of read/writev/shutdown on the fd, so
 * the codecs above never know whether the bytes are encrypted. The transport
 * is a small struct embedded in the connection (no allocation for plain), with
 * a `const` ops table chosen when the connection is set up:
 *
 *   transport_plain_init(t, fd)                 plain TCP (transport.c)
 *   tls_transport_init_server(t, fd, srv)       TLS, accepting (tls.h)
 *   tls_transport_init_client(t, fd, cli, ...)  TLS, connecting (tls.h)
 *
 * Ownership. The fd is BORROWED: the connection opened it, registers it with
 * libevent and closes it. The transport owns what it adds (a TLS transport
 * owns its SSL and frees it in transport_release(); the SSL points back to
 * the struct, so it must not move between init and release, except by
 * transport_move). A transport is used by
 * the one worker thread that owns its connection; nothing in it is shared.
 *
 * Readiness (edge-triggered sockets). The connection records the readiness
 * its event reports with transport_set_ready(); the transport clears a bit
 * when the socket says EAGAIN or a read or write was short (the socket is
 * drained or full: the next bytes or room raise a new edge). The TLS
 * transport reads the socket only while READABLE (or RDHUP) is set, so an
 * operation that finds it cleared says AGAIN without a syscall: every
 * connection must set the bits from every event it gets, as all do (a fresh
 * transport has none; registering the fd reports the socket's state). A TLS
 * read may need the socket to be writable
 * (a handshake message or alert to flush) and a TLS write may need it to be
 * readable; the transport remembers what each blocked operation waits for,
 * so the connection only asks:
 *
 *   transport_can_read(t)   a read (or handshake step) may make progress now
 *   transport_can_write(t)  a write may make progress now
 *
 * and never reasons about want-read/want-write itself. After an operation
 * returns TRANSPORT_AGAIN, the event that makes can_* true again will come.
 *
 * Handshake: a connection calls transport_handshake() once its socket is
 * set up (a TLS client's first step needs only writability), then whenever
 * transport_can_read() until it returns 1. read/writev also drive a
 * handshake that is not finished, but the connection should wait for 1 to
 * learn the ALPN protocol and the peer identity before choosing a codec.
 *
 * Return codes (every operation):
 *   > 0 / 0 / 1     success, as each operation says
 *   TRANSPORT_AGAIN would block: wait for the event (see above)
 *   TRANSPORT_ERROR fatal: the connection must close; transport_reason()
 *                   says why (a TLS alert, a verify failure, ECONNRESET...)
 *
 * Writes: after TRANSPORT_AGAIN (or a short write), the next write must start
 * with the same bytes that were not reported written (more may follow). A TLS
 * record may already hold them; buffers that are only consumed by what a write
 * reports (struct buf) satisfy this naturally.
 *
 * Thread: the owning worker only.
 */
#ifndef TERN_TLS_TRANSPORT_H
#define TERN_TLS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "proxy/core/buf.h"

struct transport;

enum {
    TRANSPORT_AGAIN = -1,
    TRANSPORT_ERROR = -2,
};

/* Readiness bits (transport_set_ready, t->ready, t->rd_wants, t->wr_wants). */
#define TRANSPORT_READABLE 0x01
#define TRANSPORT_WRITABLE 0x02
#define TRANSPORT_RDHUP    0x04 /* the peer's FIN is queued (EV_CLOSED) */

/* Why a transport failed (transport_reason). Names: transport_reason_name. */
enum transport_reason {
    TRANSPORT_R_NONE = 0,
    TRANSPORT_R_SYSCALL,           /* socket error; t->sys_errno says which */
    TRANSPORT_R_RESET,             /* ECONNRESET / EPIPE from the peer */
    TRANSPORT_R_EOF_IN_HANDSHAKE,  /* FIN before the handshake finished */
    TRANSPORT_R_TLS_PROTOCOL,      /* malformed TLS, not TLS at all, bad record */
    TRANSPORT_R_TLS_VERSION,       /* no protocol version in common */
    TRANSPORT_R_TLS_NO_SHARED_CIPHER,
    TRANSPORT_R_TLS_NO_CERT,       /* verify required, peer sent no certificate */
    TRANSPORT_R_TLS_UNKNOWN_CA,    /* peer certificate not from a trusted CA */
    TRANSPORT_R_TLS_CERT_EXPIRED,  /* peer certificate expired / not yet valid */
    TRANSPORT_R_TLS_BAD_CERT,      /* peer certificate otherwise rejected (name...) */
    TRANSPORT_R_TLS_ALERT,         /* the peer sent a fatal alert */
    TRANSPORT_R_TLS_NO_SNI_MATCH,  /* strict SNI: no certificate for the name */
    TRANSPORT_R_TLS_INTERNAL,      /* anything else the library reported */
    TRANSPORT_R_HS_TIMEOUT,        /* the connection's owner cut a handshake that took too
                                    * long (timeout client-hs); set with transport_fail */
    TRANSPORT_R_MAX
};

struct transport_ops {
    const char *name; /* "plain", "tls" */
    /* Drives the handshake. Returns 1 when it is complete (at once for
     * plain), TRANSPORT_AGAIN, TRANSPORT_ERROR. */
    int (*handshake)(struct transport *t);
    /* Reads up to `len` bytes. Returns bytes read (> 0), 0 at the end of the
     * peer's stream (FIN; TLS: close_notify, or a FIN after the handshake,
     * then t->unclean_eof is set), TRANSPORT_AGAIN, TRANSPORT_ERROR. A short
     * read means the transport is drained (or an end is pending, which the
     * next call reports: can_read stays true). */
    ssize_t (*read)(struct transport *t, void *dst, size_t len);
    /* Writes the iovecs in order. Returns bytes written (> 0; short when the
     * socket filled), TRANSPORT_AGAIN, TRANSPORT_ERROR. */
    ssize_t (*writev)(struct transport *t, const struct iovec *iov, int iovcnt);
    /* Ends this side's stream: plain sends a FIN; TLS sends close_notify,
     * then a FIN. Returns 0 when done, TRANSPORT_AGAIN, TRANSPORT_ERROR. */
    int (*shutdown)(struct transport *t);
    /* Frees what the transport owns (not the fd). */
    void (*release)(struct transport *t);
    /* The struct was copied to `t` (transport_move): re-point what refers
     * back to it. NULL when nothing does (plain). */
    void (*moved)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    void *ssl;          /* TLS: the SSL (owned); plain: NULL */
    int fd;             /* borrowed: the connection closes it */
    int sys_errno;      /* with TRANSPORT_R_SYSCALL */
    uint8_t ready;      /* TRANSPORT_READABLE | WRITABLE | RDHUP, from events */
    uint8_t rd_wants;   /* what a blocked read / handshake waits for */
    uint8_t wr_wants;   /* what a blocked write waits for */
    uint8_t reason;     /* enum transport_reason, once failed */
    unsigned handshaken : 1;  /* handshake complete */
    unsigned rd_pending : 1;  /* an end or error is pending for the next read */
    unsigned eof : 1;         /* the end of input was seen */
    unsigned unclean_eof : 1; /* TLS: FIN without close_notify */
    unsigned shut : 1;        /* our side's end was sent */
    unsigned failed : 1;      /* fatal error: no more TLS calls (no close_notify) */
    unsigned fin_next : 1;    /* set by the caller: a shutdown (or close) follows the
                               * next writes at once; plain sends them with MSG_MORE so
                               * the last bytes and the FIN leave in one segment */
    unsigned sock_eof : 1;    /* TLS: a socket read returned 0 (the library asks) */
};

/* Sets up a plain transport over `fd` (borrowed). Cannot fail. */
void transport_plain_init(struct transport *t, int fd);

static inline void transport_set_ready(struct transport *t, uint8_t bits)
{
    t->ready |= bits;
}

static inline bool transport_can_read(const struct transport *t)
{
    return t->rd_pending || (t->ready & t->rd_wants) != 0;
}

static inline bool transport_can_write(const struct transport *t)
{
    return (t->ready & t->wr_wants) != 0;
}

static inline int transport_handshake(struct transport *t)
{
    return t->ops->handshake(t);
}

static inline ssize_t transport_read(struct transport *t, void *dst, size_t len)
{
    return t->ops->read(t, dst, len);
}

static inline ssize_t transport_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    return t->ops->writev(t, iov, iovcnt);
}

static inline int transport_shutdown(struct transport *t)
{
    return t->ops->shutdown(t);
}

/* Frees what the transport owns; the fd stays open. Safe to call twice. */
static inline void transport_release(struct transport *t)
{
    if (t->ops)
        t->ops->release(t);
    t->ops = NULL;
}

/*
 * Moves a transport to another struct (a connection handing its client to
 * another codec, e.g. HTTP/1.1 -> HTTP/2 after ALPN): *dst takes everything,
 * *src is left released (its ops NULL). The fd stays open.
 */
static inline void transport_move(struct transport *dst, struct transport *src)
{
    *dst = *src;
    src->ops = NULL;
    src->ssl = NULL;
    if (dst->ops && dst->ops->moved)
        dst->ops->moved(dst);
}

static inline bool transport_is_tls(const struct transport *t)
{
    return t->ssl != NULL;
}

static inline enum transport_reason transport_reason(const struct transport *t)
{
    return (enum transport_reason)t->reason;
}

/* "tls_unknown_ca" ...: a word for logs and counter labels. */
const char *transport_reason_name(enum transport_reason r);

/*
 * buf_read_fd() over a transport: reads into *bp, taking a buffer from the
 * pool when *bp is NULL and giving it back when nothing was read into an
 * empty one. Returns bytes read (> 0), 0 at the end of input, -1 when the
 * buffer is full or the transport would block, -2 on an error (see
 * transport_reason). The same contract as buf_read_fd, so a connection's
 * pump changes one call.
 */
ssize_t transport_read_buf(struct transport *t, struct buf_pool *p, struct buf **bp);

/* For the implementations: records a failure and returns TRANSPORT_ERROR. */
int transport_fail(struct transport *t, enum transport_reason r, int sys_errno);

/*
 * The socket I/O under every transport, with the readiness rules above (the
 * plain transport, and the TLS transport's socket BIO). One syscall, EINTR
 * retried. transport_sock_read returns bytes (> 0; a short read clears
 * READABLE unless the FIN is queued, RDHUP), 0 at the peer's FIN, -1 with
 * errno (EAGAIN clears READABLE). transport_sock_send writes the iovecs with
 * MSG_NOSIGNAL | MSG_DONTWAIT | flags and returns bytes (>= 0; a short write
 * clears WRITABLE) or -1 with errno (EAGAIN clears WRITABLE).
 */
ssize_t transport_sock_read(struct transport *t, void *dst, size_t len);
ssize_t transport_sock_send(struct transport *t, const struct iovec *iov, int iovcnt, int flags);

#endif /* TERN_TLS_TRANSPORT_H */
