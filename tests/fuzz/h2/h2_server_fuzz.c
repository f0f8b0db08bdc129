/*
 * h2_server_fuzz.c: libFuzzer target for tern's downstream HTTP/2 path.
 *
 * The input is what a client sends on a `bind ... proto h2` connection
 * (when it does not start with "PRI", the connection preface is put in
 * front of it, so mutations spend their time on frames). It reaches the
 * real code: h2c_accept() (proxy/http/h2_conn.c) on one end of a
 * socketpair, nghttp2's server session with tern's callbacks, the header
 * copy into the stream's arena, the translation into struct http_msg, the
 * filter chain (http-request rules), the router, the local replies, the
 * limits (max concurrent streams, head size, rapid reset, CONTINUATION).
 *
 * Nothing leaves the process: the worker is built here, on this thread,
 * around one event_base (what workers_start does, without the thread and
 * the listening sockets), and the one server is a fake one in this
 * process, on a loopback socket served by the same loop: it answers every
 * request head with a response picked by the input's last byte (a length,
 * chunked with trailers, 204, a large body that needs the client's window,
 * a malformed head, or a close), so the response path (data provider,
 * chunked decoding, trailers, 502s) is covered too.
 *
 * One input: the bytes are written in pieces (split points drawn from the
 * input itself) with loop turns in between, then the client half-closes,
 * then closes. Checked, besides what ASan/UBSan/LSan see:
 *   - tern's output is a well-formed frame sequence: its SETTINGS first,
 *     each frame within the default maximum frame size (16384: tern never
 *     advertises more and sends nghttp2's default), known frame types, no
 *     frame after a GOAWAY but a GOAWAY;
 *   - the connection ends once the client closed (no hang): it must be
 *     gone after a bounded number of loop turns;
 *   - nothing stays behind: no stream, no h2 connection, no upstream
 *     connection in the worker (checked after each input).
 * The run is deterministic: no timer fires within an input (the timeouts
 * are seconds long), loopback sockets deliver within the write call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/acl/acl.h"
#include "proxy/config/cfg_parse.h"
#include "proxy/core/log.h"
#include "proxy/http/http.h"
#include "proxy/http/http_int.h"
#include "proxy/model/model.h"
#include "proxy/worker/worker_types.h"

#define FZ_CHECK(c)                                                              \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "h2_server_fuzz: check failed: %s (line %d)\n", #c, \
                    __LINE__);                                                   \
            abort();                                                             \
        }                                                                        \
    } while (0)

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- the fake server ---------------------------------------------------------- */

#define FZ_MAX_UP 32

struct fake_up {
    int fd;
    int match;            /* bytes of "\r\n\r\n" matched so far */
    const char *out;      /* response bytes not yet written */
    size_t out_len;
    bool close_after;
    struct event ev;
};

static struct {
    int lfd;
    uint16_t port;
    struct event lev;
    struct fake_up up[FZ_MAX_UP];
    unsigned resp;        /* which response, from the input */
    uint64_t nreq;        /* request heads seen (H2FUZZ_DEBUG) */
    char big[64 + 100000];
    size_t big_len;
} fs;

static const char *const RESP[] = {
    "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n"
    "x-trailer: t\r\ngrpc-status: 0\r\n\r\n",
    "HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n",
    NULL, /* the big one, built at init */
    "HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    "", /* close without a response */
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close",
};
#define NRESP (sizeof(RESP) / sizeof(RESP[0]))

static void up_close(struct fake_up *u)
{
    if (u->fd < 0)
        return;
    event_del(&u->ev);
    close(u->fd);
    u->fd = -1;
}

static void up_flush(struct fake_up *u)
{
    while (u->out_len) {
        ssize_t n = write(u->fd, u->out, u->out_len);
        if (n <= 0)
            return; /* EAGAIN: the write event comes back; an error: the read sees it */
        u->out += n;
        u->out_len -= (size_t)n;
    }
    if (u->close_after)
        up_close(u);
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fake_up *u = arg;
    char b[4096];

    (void)fd;
    if (what & EV_READ) {
        for (;;) {
            ssize_t n = read(u->fd, b, sizeof(b));
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                up_close(u);
                return;
            }
            if (n < 0)
                break;
            /* a response for each request head (a body holding CRLFCRLF gets
             * one more: a stray response tern must handle too) */
            for (ssize_t i = 0; i < n; i++) {
                static const char end[] = "\r\n\r\n";
                u->match = b[i] == end[u->match] ? u->match + 1 : (b[i] == '\r');
                if (u->match < 4)
                    continue;
                u->match = 0;
                if (!u->out_len && !u->close_after) {
                    unsigned k = fs.resp % NRESP;
                    fs.nreq++;
                    u->out = k == 3 ? fs.big : RESP[k];
                    u->out_len = k == 3 ? fs.big_len : strlen(RESP[k]);
                    u->close_after = k == 5 || k == 7;
                }
            }
        }
    }
    up_flush(u);
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct event_base *base = arg;

    (void)what;
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct fake_up *u = NULL;
        if (c < 0)
            return;
        for (int i = 0; i < FZ_MAX_UP; i++)
            if (fs.up[i].fd < 0) {
                u = &fs.up[i];
                break;
            }
        if (!u) {
            close(c);
            continue;
        }
        memset(u, 0, sizeof(*u));
        u->fd = c;
        event_assign(&u->ev, base, c, EV_READ | EV_WRITE | EV_ET | EV_PERSIST, up_cb, u);
        event_add(&u->ev, NULL);
    }
}

static void fake_server_start(struct event_base *base)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int n;

    fs.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    FZ_CHECK(fs.lfd >= 0);
    FZ_CHECK(bind(fs.lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    FZ_CHECK(listen(fs.lfd, 64) == 0);
    FZ_CHECK(getsockname(fs.lfd, (struct sockaddr *)&a, &al) == 0);
    fs.port = ntohs(a.sin_port);
    for (int i = 0; i < FZ_MAX_UP; i++)
        fs.up[i].fd = -1;
    n = snprintf(fs.big, sizeof(fs.big), "HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n", 100000);
    memset(fs.big + n, 'b', 100000);
    fs.big_len = (size_t)n + 100000;
    event_assign(&fs.lev, base, fs.lfd, EV_READ | EV_PERSIST, accept_cb, base);
    event_add(&fs.lev, NULL);
}

/* ---- the worker ---------------------------------------------------------------- */

static struct worker *w;
static struct worker_listener wl;

static const char CFG[] =
    "global\n"
    "    nbthread 1\n"
    "    tune.bufsize 8192\n"
    "    tune.h2.max-concurrent-streams 8\n"
    "defaults\n"
    "    mode http\n"
    "    timeout connect 5s\n"
    "    timeout client 30s\n"
    "    timeout server 30s\n"
    "frontend fe\n"
    "    bind 127.0.0.1:1 proto h2\n"
    "    http-request deny if { path_beg /deny }\n"
    "    http-request return status 200 content-type text/plain string hi if { path_beg /ret }\n"
    "    http-request set-header x-fuzz %%[req.hdr(x-in)] if { req.hdr(x-in) -m found }\n"
    "    use_backend none if { path_beg /none }\n"
    "    default_backend up\n"
    "backend up\n"
    "    retry-on conn-failure empty-response 503\n"
    "    server s1 127.0.0.1:%u\n"
    "backend none\n";

static void init_once(void)
{
    static char text[2048];
    struct cfg_diag d = {0};
    struct snapshot *snap;
    char err[256];
    struct event_config *cfg;
    int n;

    tern_log_set_level(TERN_LOG_ERR);
    signal(SIGPIPE, SIG_IGN); /* as tern's main: a peer's close is an EPIPE */
    w = calloc(1, sizeof(*w));
    FZ_CHECK(w != NULL);
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    FZ_CHECK(w->base != NULL);
    fake_server_start(w->base);

    n = snprintf(text, sizeof(text), CFG, (unsigned)fs.port);
    FZ_CHECK(n > 0 && (size_t)n < sizeof(text));
    snap = cfg_parse_buffer("h2fuzz.cfg", text, (size_t)n, &d);
    if (!snap) {
        for (size_t i = 0; i < d.nerrors; i++)
            fprintf(stderr, "%s\n", d.errors[i]);
        abort();
    }
    cfg_diag_free(&d);
    FZ_CHECK(snapshot_runtime_init(snap, 1, err, sizeof(err)) == 0);

    /* workers_start, for one worker on this thread */
    w->id = 0;
    w->snap = snap;
    w->snaps = calloc(1, sizeof(*w->snaps));
    FZ_CHECK(w->snaps != NULL);
    w->snaps->snap = snap;
    w->rng = 1;
    w->mq_fd = -1;
    buf_pool_init(&w->pool, snap->global.bufsize, 256);
    accesslog_init(&w->alog, w->base, open("/dev/null", O_WRONLY | O_CLOEXEC), 64 * 1024,
                   &w->stats.log_dropped);
    acl_thread_prepare();
    http_mode_ops.worker_init(w);

    wl.w = w;
    wl.l = snap->listeners[0];
    wl.b = &wl.l->binds[0];
    wl.fd = -1;
}

/* ---- one input ------------------------------------------------------------------ */

struct out_check {
    uint8_t hd[9];
    size_t hd_have;       /* header bytes of the current frame */
    size_t skip;          /* payload bytes left */
    uint64_t frames;
    bool goaway;
};

/* tern's output, frame by frame (only the 9-byte headers are looked at) */
static void out_feed(struct out_check *o, const uint8_t *p, size_t n)
{
    while (n) {
        if (o->skip) {
            size_t k = n < o->skip ? n : o->skip;
            o->skip -= k;
            p += k;
            n -= k;
            continue;
        }
        o->hd[o->hd_have++] = *p++;
        n--;
        if (o->hd_have < 9)
            continue;
        o->hd_have = 0;
        {
            uint32_t len = (uint32_t)o->hd[0] << 16 | (uint32_t)o->hd[1] << 8 | o->hd[2];
            uint8_t type = o->hd[3];
            FZ_CHECK(len <= 16384);
            FZ_CHECK(type <= 9);
            if (o->frames == 0)
                FZ_CHECK(type == 4 && !(o->hd[4] & 1)); /* our SETTINGS, not an ACK */
            if (o->goaway)
                FZ_CHECK(type == 7);
            o->goaway |= type == 7;
            if (getenv("H2FUZZ_DEBUG"))
                fprintf(stderr, "  out: type %u flags 0x%02x stream %u len %u\n", type, o->hd[4],
                        ((uint32_t)o->hd[5] << 24 | (uint32_t)o->hd[6] << 16 |
                         (uint32_t)o->hd[7] << 8 | o->hd[8]) & 0x7fffffffu, len);
            o->frames++;
            o->skip = len;
        }
    }
}

static void drain_client(int fd, struct out_check *o)
{
    uint8_t b[16384];
    ssize_t n;

    while ((n = read(fd, b, sizeof(b))) > 0)
        out_feed(o, b, (size_t)n);
}

static void turns(int fd, struct out_check *o, int n)
{
    for (int i = 0; i < n; i++) {
        event_base_loop(w->base, EVLOOP_NONBLOCK);
        drain_client(fd, o);
    }
}

static uint64_t fz_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void write_all(int fd, struct out_check *o, const uint8_t *p, size_t n, uint64_t *rng)
{
    int stuck = 0;

    while (n) {
        size_t k = 1 + (size_t)(fz_rng(rng) % 512);
        ssize_t r;
        if (k > n)
            k = n;
        r = write(fd, p, k);
        if (r < 0) {
            /* tern stopped reading (its output is not taken, or it closed) */
            if (errno != EAGAIN || ++stuck > 64 || !w->http ||
                !((struct http_worker *)w->http)->h2conns)
                return;
        } else {
            stuck = 0;
            p += r;
            n -= (size_t)r;
        }
        turns(fd, o, 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct http_worker *hw;
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct out_check o = {0};
    uint64_t rng = 1469598103934665603ULL;
    int sv[2];

    if (!ready) {
        init_once();
        ready = true;
    }
    hw = w->http;
    for (size_t i = 0; i < size; i++)
        rng = (rng ^ data[i]) * 1099511628211ULL;
    rng |= 1;
    fs.resp = size ? data[size - 1] : 0;

    FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    /* what the worker's accept counts (h2c_close gives it back) */
    atomic_fetch_add_explicit(&wl.l->cur_conns, 1, memory_order_relaxed);
    h2c_accept(w, &wl, sv[0], (const struct sockaddr *)&peer, sizeof(peer));
    turns(sv[1], &o, 1);

    if (size < 3 || memcmp(data, "PRI", 3) != 0)
        write_all(sv[1], &o, (const uint8_t *)PREFACE, sizeof(PREFACE) - 1, &rng);
    write_all(sv[1], &o, data, size, &rng);
    turns(sv[1], &o, 16);

    /* the client is done sending, then gone: the connection must end */
    shutdown(sv[1], SHUT_WR);
    turns(sv[1], &o, 16);
    close(sv[1]);
    for (int i = 0; i < 64 && hw->h2conns; i++)
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    FZ_CHECK(hw->h2conns == NULL);

    /* the fake server closes its side; tern's pooled connections follow */
    for (int i = 0; i < FZ_MAX_UP; i++)
        up_close(&fs.up[i]);
    upstream_close_idle(hw);
    for (int i = 0; i < 8; i++)
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    FZ_CHECK(hw->nidle == 0);
    if (getenv("H2FUZZ_DEBUG"))
        fprintf(stderr, "h2_server_fuzz: %zu bytes in, %llu frames out%s, %llu server requests\n",
                size, (unsigned long long)o.frames, o.goaway ? " (GOAWAY)" : "",
                (unsigned long long)fs.nreq);
    fs.nreq = 0;
    return 0;
}
