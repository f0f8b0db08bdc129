/*
 * transport.c: the plain transport (one syscall per operation, exactly what
 * the connections did before transports existed) and the helpers every
 * transport shares. The TLS transport is in tls_openssl.c.
 */
#include "proxy/tls/transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const reason_names[TRANSPORT_R_MAX] = {
    [TRANSPORT_R_NONE] = "none",
    [TRANSPORT_R_SYSCALL] = "syscall",
    [TRANSPORT_R_RESET] = "reset",
    [TRANSPORT_R_EOF_IN_HANDSHAKE] = "eof_in_handshake",
    [TRANSPORT_R_TLS_PROTOCOL] = "tls_protocol",
    [TRANSPORT_R_TLS_VERSION] = "tls_version",
    [TRANSPORT_R_TLS_NO_SHARED_CIPHER] = "tls_no_shared_cipher",
    [TRANSPORT_R_TLS_NO_CERT] = "tls_no_cert",
    [TRANSPORT_R_TLS_UNKNOWN_CA] = "tls_unknown_ca",
    [TRANSPORT_R_TLS_CERT_EXPIRED] = "tls_cert_expired",
    [TRANSPORT_R_TLS_BAD_CERT] = "tls_bad_cert",
    [TRANSPORT_R_TLS_ALERT] = "tls_alert",
    [TRANSPORT_R_TLS_NO_SNI_MATCH] = "tls_no_sni_match",
    [TRANSPORT_R_TLS_INTERNAL] = "tls_internal",
    [TRANSPORT_R_HS_TIMEOUT] = "hs_timeout",
};

const char *transport_reason_name(enum transport_reason r)
{
    if ((unsigned)r >= TRANSPORT_R_MAX)
        return "unknown";
    return reason_names[r];
}

int transport_fail(struct transport *t, enum transport_reason r, int sys_errno)
{
    if (t->reason == TRANSPORT_R_NONE) {
        t->reason = (uint8_t)r;
        t->sys_errno = sys_errno;
    }
    t->failed = 1;
    return TRANSPORT_ERROR;
}

static int sys_fail(struct transport *t, int e)
{
    if (e == ECONNRESET || e == EPIPE)
        return transport_fail(t, TRANSPORT_R_RESET, e);
    return transport_fail(t, TRANSPORT_R_SYSCALL, e);
}

ssize_t transport_read_buf(struct transport *t, struct buf_pool *p, struct buf **bp)
{
    struct buf *b = *bp;
    size_t room;
    ssize_t n;

    if (!b)
        b = *bp = buf_get(p);
    room = buf_tail_room(b);
    if (room == 0)
        return -1;
    n = transport_read(t, buf_tail(b), room);
    if (n > 0) {
        b->len += (uint32_t)n;
        return n;
    }
    if (b->len == 0) {
        buf_put(p, b);
        *bp = NULL;
    }
    if (n == 0)
        return 0;
    return n == TRANSPORT_AGAIN ? -1 : -2;
}

/* ---- plain ------------------------------------------------------------- */

static int plain_handshake(struct transport *t)
{
    return 1;
}

ssize_t transport_sock_read(struct transport *t, void *dst, size_t len)
{
    ssize_t n;

    do {
        n = read(t->fd, dst, len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        /* A short read drained the socket: the next bytes raise a new edge.
         * Unless the FIN is queued, then the caller reads on to see it. */
        if ((size_t)n < len && !(t->ready & TRANSPORT_RDHUP))
            t->ready &= (uint8_t)~TRANSPORT_READABLE;
    } else if (n < 0 && errno == EAGAIN) {
        t->ready &= (uint8_t)~TRANSPORT_READABLE;
    }
    return n;
}

ssize_t transport_sock_send(struct transport *t, const struct iovec *iov, int iovcnt, int flags)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    size_t want = 0;
    ssize_t n;

    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    /* sendmsg rather than writev: MSG_NOSIGNAL, no SIGPIPE whatever the
     * process's signal disposition. */
    do {
        n = sendmsg(t->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
    } while (n < 0 && errno == EINTR);
    if ((n >= 0 && (size_t)n < want) || (n < 0 && errno == EAGAIN))
        t->ready &= (uint8_t)~TRANSPORT_WRITABLE;
    return n;
}

static ssize_t plain_read(struct transport *t, void *dst, size_t len)
{
    ssize_t n;

    if (t->failed)
        return TRANSPORT_ERROR;
    if (t->eof)
        return 0;
    n = transport_sock_read(t, dst, len);
    if (n > 0)
        return n;
    if (n == 0) {
        t->eof = 1;
        return 0;
    }
    return errno == EAGAIN ? TRANSPORT_AGAIN : sys_fail(t, errno);
}

static ssize_t plain_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    ssize_t n;

    if (t->failed)
        return TRANSPORT_ERROR;
    n = transport_sock_send(t, iov, iovcnt, t->fin_next ? MSG_MORE : 0);
    if (n > 0)
        return n;
    if (n == 0 || errno == EAGAIN)
        return TRANSPORT_AGAIN;
    return sys_fail(t, errno);
}

static int plain_shutdown(struct transport *t)
{
    if (t->shut)
        return 0;
    t->shut = 1;
    if (shutdown(t->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return sys_fail(t, errno);
    return 0;
}

static void plain_release(struct transport *t)
{
}

static const struct transport_ops plain_ops = {
    .name = "plain",
    .handshake = plain_handshake,
    .read = plain_read,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .release = plain_release,
};

void transport_plain_init(struct transport *t, int fd)
{
    *t = (struct transport){
        .ops = &plain_ops,
        .fd = fd,
        .rd_wants = TRANSPORT_READABLE,
        .wr_wants = TRANSPORT_WRITABLE,
        .handshaken = 1,
    };
}
