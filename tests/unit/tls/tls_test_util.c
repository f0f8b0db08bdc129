#include "tests/unit/tls/tls_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char pki[1024];

const char *tls_test_pki(void)
{
    char cmd[2300];
    const char *tmp;

    if (pki[0])
        return pki;
    signal(SIGPIPE, SIG_IGN);
    tmp = getenv("TEST_TMPDIR");
    snprintf(pki, sizeof(pki), "%s/pki.%d", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(cmd, sizeof(cmd), "sh tests/unit/tls/gen_certs.sh '%s' >/dev/null", pki);
    if (system(cmd) != 0) {
        fprintf(stderr, "gen_certs.sh failed\n");
        abort();
    }
    return pki;
}

const char *tls_test_path(const char *name)
{
    static char bufs[8][1200];
    static int next;
    char *b = bufs[next++ & 7];

    snprintf(b, sizeof(bufs[0]), "%s/%s", tls_test_pki(), name);
    return b;
}

void tls_test_socketpair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        abort();
    for (int i = 0; i < 2; i++)
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
}

void tls_test_refresh(struct transport *t)
{
    struct pollfd p = {.fd = t->fd, .events = POLLIN | POLLOUT};
    uint8_t r = 0;

    if (poll(&p, 1, 0) > 0) {
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            r |= TRANSPORT_READABLE;
        if (p.revents & POLLOUT)
            r |= TRANSPORT_WRITABLE;
    }
    t->ready = r;
}

static void step(struct transport *t, int *rc)
{
    if (*rc == 1 || *rc == TRANSPORT_ERROR)
        return;
    tls_test_refresh(t);
    if (transport_can_read(t))
        *rc = transport_handshake(t);
}

void tls_test_handshake(struct transport *a, struct transport *b, int *rc_a, int *rc_b)
{
    *rc_a = *rc_b = TRANSPORT_AGAIN;
    for (int i = 0; i < 200; i++) {
        step(a, rc_a);
        step(b, rc_b);
        if ((*rc_a == 1 || *rc_a == TRANSPORT_ERROR) && (*rc_b == 1 || *rc_b == TRANSPORT_ERROR))
            return;
        /* One side failed: the other learns it from the alert or the FIN. */
        if (*rc_a == TRANSPORT_ERROR && i > 50)
            return;
        if (*rc_b == TRANSPORT_ERROR && i > 50)
            return;
    }
}

struct dir {
    const unsigned char *src;
    unsigned char *dst;
    size_t sent, got, len;
};

static int move(struct transport *from, struct transport *to, struct dir *d)
{
    int progress = 0;

    if (d->sent < d->len && transport_can_write(from)) {
        /* Two iovecs of uneven sizes, to exercise the coalescing. */
        size_t left = d->len - d->sent, first = left > 100 ? 100 : left;
        struct iovec iov[2] = {
            {(void *)(d->src + d->sent), first},
            {(void *)(d->src + d->sent + first), left - first},
        };
        ssize_t n = transport_writev(from, iov, left > first ? 2 : 1);
        if (n == TRANSPORT_ERROR)
            return -1;
        if (n > 0) {
            d->sent += (size_t)n;
            progress = 1;
        }
    }
    if (d->got < d->len && transport_can_read(to)) {
        ssize_t n = transport_read(to, d->dst + d->got, d->len - d->got);
        if (n == TRANSPORT_ERROR || n == 0)
            return -1;
        if (n > 0) {
            d->got += (size_t)n;
            progress = 1;
        }
    }
    return progress;
}

int tls_test_exchange(struct transport *a, struct transport *b, size_t len)
{
    unsigned char *s1 = malloc(len), *s2 = malloc(len), *d1 = malloc(len), *d2 = malloc(len);
    struct dir ab = {s1, d1, 0, 0, len}, ba = {s2, d2, 0, 0, len};
    int rc = -1;

    for (size_t i = 0; i < len; i++) {
        s1[i] = (unsigned char)(i * 7 + 1);
        s2[i] = (unsigned char)(i * 13 + 5);
    }
    for (int iter = 0; iter < 1000000; iter++) {
        tls_test_refresh(a);
        tls_test_refresh(b);
        if (move(a, b, &ab) < 0 || move(b, a, &ba) < 0)
            goto out;
        if (ab.got == len && ba.got == len) {
            rc = memcmp(s1, d1, len) == 0 && memcmp(s2, d2, len) == 0 ? 0 : -1;
            goto out;
        }
    }
out:
    free(s1);
    free(s2);
    free(d1);
    free(d2);
    return rc;
}
