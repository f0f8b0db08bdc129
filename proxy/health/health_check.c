/*
 * health_check.c: one active check of one address (see health_check.h).
 *
 * A check is a small state machine driven by one libevent event on one
 * non-blocking socket:
 *
 *   CONNECT --writable, SO_ERROR 0--> (TLS) HANDSHAKE --complete-->
 *             (HC_TCP: pass)
 *          -> SEND --request written--> RECV
 *   RECV --status line complete--> pass or fail on its status
 *
 * After the connect, bytes move through a `struct transport` (plain or TLS,
 * proxy/tls/transport.h), as a proxied connection's do: the check never
 * calls SSL itself. The events are one-shot (level), so each wake-up records
 * its readiness in the transport and the next wait asks for what the
 * blocked operation wants (a TLS read may wait for writability).
 *
 * Every wait re-arms the same event with the time left before the phase's
 * deadline (the connect deadline while connecting, the whole-check deadline
 * after), so a timeout is just an EV_TIMEOUT wake-up. The response is read
 * into a fixed 1 KiB buffer, only until the first line ending: a status line
 * split across reads is joined there, and a line that does not fit is an
 * invalid response rather than a reason to grow memory. The body is never
 * read; the socket is closed as soon as the status is known.
 *
 * A gRPC check (HC_GRPC) runs one call through an nghttp2 client session
 * driven by hand (mem_send/mem_recv over the same transport, no nghttp2
 * I/O): SETTINGS, HEADERS and one DATA frame go out, and the answer is read
 * until the stream closes: :status 200, grpc-status 0 (in the head of a
 * trailers-only answer or in the trailers) and one HealthCheckResponse
 * whose status is SERVING pass; the message is kept in a fixed 64-byte
 * buffer (a HealthCheckResponse is 2 bytes), anything longer is invalid.
 * The two messages are encoded and decoded here by hand: one field each
 * way, where protobuf-c would need a generated health.pb-c.c for it.
 *
 * An outcome known inside health_check_start (socket() or connect() failing
 * at once) is delivered from the loop through the same event made active, so
 * the caller never sees its callback before start returns.
 */
#include "proxy/health/health_check.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/core/util.h"
#include "proxy/tls/tls.h"
#include "proxy/tls/transport.h"

#define RESPONSE_MAX 1024
#define REQUEST_MAX 2048

enum check_phase {
    PHASE_CONNECT = 0,
    PHASE_HANDSHAKE, /* TLS only */
    PHASE_SEND,
    PHASE_RECV,
    PHASE_GRPC,      /* HC_GRPC: the HTTP/2 call, both ways */
    PHASE_DONE, /* outcome known, delivery pending */
};

struct health_check {
    struct event_base *base;
    struct event ev;
    int fd;
    struct transport tr;       /* set up once connected; ops NULL before */
    struct tls_client_ctx *tls; /* borrowed; NULL: plain */
    char *sni;
    enum check_phase phase;
    enum health_check_type type;
    int expect_status;
    uint64_t start_ms;
    uint64_t connect_deadline_ms; /* 0: none */
    uint64_t deadline_ms;         /* 0: none */
    health_check_cb cb;
    void *arg;
    struct health_check_result res;
    char *req;
    size_t req_len;
    size_t req_off;
    size_t resp_len;
    char resp[RESPONSE_MAX];
    /* HC_GRPC */
    nghttp2_session *ng;
    const uint8_t *pend;          /* mem_send output not yet written */
    size_t pend_len;
    int32_t sid;
    bool stream_closed;
    bool msg_over;                /* more message bytes than msg holds */
    uint32_t rst_code;
    int grpc_status;              /* -1: none seen, -2: not a number */
    uint32_t timeout_ms;
    size_t msg_len;
    uint8_t msg[64];              /* the response's gRPC frame(s) */
    size_t body_len, body_off;
    uint8_t body[5 + 3 + 200];    /* the request's gRPC frame */
    char authority[64];
    char grpc_message[48];
};

static void on_event(evutil_socket_t fd, short what, void *arg);

bool health_check_status_ok(int status, int expect_status)
{
    if (expect_status > 0)
        return status == expect_status;
    return status >= 200 && status < 400;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int health_check_parse_status_line(const char *line, size_t len)
{
    /* "HTTP/" DIGIT "." DIGIT SP 3DIGIT [ SP reason ] */
    if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || !is_digit(line[5]) || line[6] != '.' ||
        !is_digit(line[7]) || line[8] != ' ')
        return -1;
    if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]))
        return -1;
    if (len > 12 && line[12] != ' ')
        return -1;
    if (line[9] == '0')
        return -1;
    return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

const char *health_check_reason(const struct health_check_result *r,
                                enum health_check_type type, bool tls)
{
    switch (r->code) {
    case HEALTH_OK:
        if (type == HC_HTTP || type == HC_GRPC)
            return "Layer7 check passed";
        return tls ? "Layer6 check passed" : "Layer4 check passed";
    case HEALTH_ERR_SOCKET:
        return "Socket error";
    case HEALTH_ERR_REFUSED:
    case HEALTH_ERR_CONNECT:
        return "Layer4 connection problem";
    case HEALTH_ERR_CONNECT_TIMEOUT:
        return "Layer4 timeout";
    case HEALTH_ERR_READ_TIMEOUT:
        return "Layer7 timeout";
    case HEALTH_ERR_CLOSED:
    case HEALTH_ERR_BAD_RESPONSE:
        return "Layer7 invalid response";
    case HEALTH_ERR_BAD_STATUS:
        return "Layer7 wrong status";
    case HEALTH_ERR_TLS:
        return "Layer6 invalid response";
    case HEALTH_ERR_TLS_TIMEOUT:
        return "Layer6 timeout";
    }
    return "unknown";
}

/* Copies at most what fits of text[0..len) into dst, printable ASCII only. */
static void copy_printable(char *dst, size_t dstlen, const char *text, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)text[i];
        dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

static void set_result(struct health_check *hc, enum health_result_code code, int err,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_result(struct health_check *hc, enum health_result_code code, int err,
                       const char *fmt, ...)
{
    va_list ap;

    hc->res.code = code;
    hc->res.sys_errno = err;
    va_start(ap, fmt);
    vsnprintf(hc->res.info, sizeof(hc->res.info), fmt, ap);
    va_end(ap);
}

/* Frees the check and what it holds (event, transport, socket). A TLS
 * transport whose handshake completed says close_notify first, once, without
 * waiting: the check is over either way. */
static void release(struct health_check *hc)
{
    event_del(&hc->ev);
    if (hc->tr.ops) {
        if (transport_is_tls(&hc->tr) && hc->tr.handshaken && !hc->tr.failed &&
            !hc->tr.shut)
            (void)transport_shutdown(&hc->tr);
        transport_release(&hc->tr);
    }
    if (hc->fd >= 0)
        close(hc->fd);
    if (hc->ng)
        nghttp2_session_del(hc->ng);
    free(hc->req);
    free(hc->sni);
    free(hc);
}

/* Delivers the outcome in hc->res and frees the check. */
static void finish(struct health_check *hc)
{
    struct health_check_result res = hc->res;
    health_check_cb cb = hc->cb;
    void *arg = hc->arg;
    uint64_t now = tern_now_ms();

    res.duration_ms = now > hc->start_ms ? now - hc->start_ms : 0;
    release(hc);
    cb(&res, arg);
}

/* Outcome known now, but delivered from the loop (see the file comment). */
static void finish_later(struct health_check *hc)
{
    event_del(&hc->ev);
    hc->phase = PHASE_DONE;
    event_assign(&hc->ev, hc->base, -1, 0, on_event, hc);
    event_active(&hc->ev, EV_TIMEOUT, 1);
}

/* Waits for `what` on the socket until the current phase's deadline. */
static void wait_for(struct health_check *hc, short what)
{
    uint64_t deadline = hc->deadline_ms;
    struct timeval tv;

    if ((hc->phase == PHASE_CONNECT || hc->phase == PHASE_HANDSHAKE) &&
        hc->connect_deadline_ms &&
        (!deadline || hc->connect_deadline_ms < deadline))
        deadline = hc->connect_deadline_ms;

    event_del(&hc->ev);
    event_assign(&hc->ev, hc->base, hc->fd, what, on_event, hc);
    if (deadline) {
        uint64_t now = tern_now_ms();
        uint64_t left = deadline > now ? deadline - now : 0;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        event_add(&hc->ev, &tv);
    } else {
        event_add(&hc->ev, NULL);
    }
}

/* Waits for what a blocked transport operation wants (TRANSPORT_* bits). */
static void wait_for_transport(struct health_check *hc, uint8_t wants)
{
    short what = 0;

    if (wants & (TRANSPORT_READABLE | TRANSPORT_RDHUP))
        what |= EV_READ;
    if (wants & TRANSPORT_WRITABLE)
        what |= EV_WRITE;
    wait_for(hc, what ? what : EV_READ);
}

/* A transport failure, worded for the check's info. */
static void transport_failed(struct health_check *hc, enum health_result_code code,
                             const char *doing)
{
    const struct transport *t = &hc->tr;

    if (t->reason == TRANSPORT_R_SYSCALL || t->reason == TRANSPORT_R_RESET)
        set_result(hc, code, t->sys_errno, "%s: %s", doing,
                   t->sys_errno ? strerror(t->sys_errno) : transport_reason_name(t->reason));
    else
        set_result(hc, code, 0, "%s: %s", doing, transport_reason_name(t->reason));
}

static void connect_failed(struct health_check *hc, int err)
{
    set_result(hc, err == ECONNREFUSED ? HEALTH_ERR_REFUSED : HEALTH_ERR_CONNECT, err, "%s",
               strerror(err));
}

/* Sends what is left of the request; moves to RECV when all is written.
 * Returns true when the check is finished (hc->res set). */
static bool do_send(struct health_check *hc)
{
    while (hc->req_off < hc->req_len) {
        struct iovec iov = {hc->req + hc->req_off, hc->req_len - hc->req_off};
        ssize_t n = transport_writev(&hc->tr, &iov, 1);
        if (n == TRANSPORT_AGAIN) {
            wait_for_transport(hc, hc->tr.wr_wants);
            return false;
        }
        if (n < 0) {
            transport_failed(hc, HEALTH_ERR_CLOSED, "sending the request");
            return true;
        }
        hc->req_off += (size_t)n;
    }
    hc->phase = PHASE_RECV;
    wait_for(hc, EV_READ);
    return false;
}

/* Judges a complete status line resp[0..len) (line ending removed). */
static void judge_status_line(struct health_check *hc, size_t len)
{
    int status = health_check_parse_status_line(hc->resp, len);
    const char *reason;
    size_t rlen;

    if (status < 0) {
        char shown[48];
        copy_printable(shown, sizeof(shown), hc->resp, len);
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "not an HTTP status line: \"%s\"", shown);
        return;
    }
    hc->res.status = status;
    reason = len > 13 ? hc->resp + 13 : "";
    rlen = len > 13 ? len - 13 : 0;
    copy_printable(hc->res.info, sizeof(hc->res.info), reason, rlen);
    hc->res.sys_errno = 0;
    hc->res.code = health_check_status_ok(status, hc->expect_status) ? HEALTH_OK
                                                                      : HEALTH_ERR_BAD_STATUS;
}

/* Reads toward the first line ending. Returns true when finished. */
static bool do_recv(struct health_check *hc)
{
    for (;;) {
        size_t room = sizeof(hc->resp) - hc->resp_len;
        size_t old = hc->resp_len;
        char *nl;
        ssize_t n;

        if (room == 0) {
            set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "no line ending in the first %zu bytes",
                       sizeof(hc->resp));
            return true;
        }
        n = transport_read(&hc->tr, hc->resp + hc->resp_len, room);
        if (n == TRANSPORT_AGAIN) {
            wait_for_transport(hc, hc->tr.rd_wants);
            return false;
        }
        if (n < 0) {
            if (hc->tr.reason == TRANSPORT_R_SYSCALL || hc->tr.reason == TRANSPORT_R_RESET)
                set_result(hc, HEALTH_ERR_CLOSED, hc->tr.sys_errno, "%s",
                           strerror(hc->tr.sys_errno));
            else
                transport_failed(hc, HEALTH_ERR_CLOSED, "reading the response");
            return true;
        }
        if (n == 0) {
            if (hc->resp_len == 0)
                set_result(hc, HEALTH_ERR_CLOSED, 0, "connection closed before any response");
            else
                set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0,
                           "connection closed inside the status line (%zu bytes)",
                           hc->resp_len);
            return true;
        }
        hc->resp_len += (size_t)n;
        /* Something that cannot become "HTTP/" fails now, without waiting. */
        if (memcmp(hc->resp, "HTTP/", hc->resp_len < 5 ? hc->resp_len : 5) != 0) {
            char shown[48];
            copy_printable(shown, sizeof(shown), hc->resp, hc->resp_len < 32 ? hc->resp_len : 32);
            set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "not an HTTP response: \"%s\"", shown);
            return true;
        }
        nl = memchr(hc->resp + old, '\n', hc->resp_len - old);
        if (nl) {
            size_t len = (size_t)(nl - hc->resp);
            if (len > 0 && hc->resp[len - 1] == '\r')
                len--;
            judge_status_line(hc, len);
            return true;
        }
    }
}

/* ---- gRPC health (HC_GRPC) ------------------------------------------------- */

static void put_varint(uint8_t *out, size_t *off, uint64_t v)
{
    while (v >= 0x80) {
        out[(*off)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[(*off)++] = (uint8_t)v;
}

/* Reads a varint at msg[*off..len); false when truncated or over 10 bytes. */
static bool get_varint(const uint8_t *msg, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *off < len; shift += 7) {
        uint8_t b = msg[(*off)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

int health_grpc_request(uint8_t *out, size_t outlen, const char *service)
{
    size_t slen = service ? strlen(service) : 0;
    size_t off = 0;

    /* field 1 (tag 0x0a, length-delimited); proto3 omits an empty string */
    if (slen == 0)
        return 0;
    if (slen > (1u << 14) - 1 || outlen < 1 + 2 + slen)
        return -1;
    out[off++] = 0x0a;
    put_varint(out, &off, slen);
    memcpy(out + off, service, slen);
    return (int)(off + slen);
}

int health_grpc_parse_response(const uint8_t *msg, size_t len)
{
    size_t off = 0;
    int status = 0;

    while (off < len) {
        uint64_t key, v;
        if (!get_varint(msg, len, &off, &key) || (key >> 3) == 0)
            return -1;
        switch (key & 7) {
        case 0: /* varint */
            if (!get_varint(msg, len, &off, &v))
                return -1;
            if ((key >> 3) == 1)
                status = v > 0x7fffffff ? -1 : (int)v;
            break;
        case 1: /* 64-bit */
            if (len - off < 8)
                return -1;
            off += 8;
            break;
        case 2: /* length-delimited */
            if (!get_varint(msg, len, &off, &v) || v > len - off || (key >> 3) == 1)
                return -1;
            off += (size_t)v;
            break;
        case 5: /* 32-bit */
            if (len - off < 4)
                return -1;
            off += 4;
            break;
        default:
            return -1;
        }
    }
    return status;
}

static const char *serving_status_name(int st)
{
    switch (st) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
    }
    return "unknown status";
}

static int grpc_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                          size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                          void *ud)
{
    struct health_check *hc = ud;

    (void)ng;
    (void)flags;
    if (frame->hd.stream_id != hc->sid)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        /* nghttp2 checked it is three digits */
        hc->res.status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        int st = 0;
        if (valuelen == 0 || valuelen > 2)
            st = -2;
        for (size_t i = 0; st >= 0 && i < valuelen; i++)
            st = is_digit((char)value[i]) ? st * 10 + (value[i] - '0') : -2;
        hc->grpc_status = st;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        copy_printable(hc->grpc_message, sizeof(hc->grpc_message), (const char *)value,
                       valuelen);
    }
    return 0;
}

static int grpc_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                        size_t len, void *ud)
{
    struct health_check *hc = ud;

    (void)ng;
    (void)flags;
    if (id != hc->sid)
        return 0;
    if (len > sizeof(hc->msg) - hc->msg_len) {
        hc->msg_over = true;
        return 0;
    }
    memcpy(hc->msg + hc->msg_len, data, len);
    hc->msg_len += len;
    return 0;
}

static int grpc_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct health_check *hc = ud;

    (void)ng;
    if (id == hc->sid) {
        hc->stream_closed = true;
        hc->rst_code = code;
    }
    return 0;
}

static ssize_t grpc_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                              uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    struct health_check *hc = ud;
    size_t n = hc->body_len - hc->body_off;

    (void)ng;
    (void)id;
    (void)src;
    if (n > len)
        n = len;
    memcpy(buf, hc->body + hc->body_off, n);
    hc->body_off += n;
    if (hc->body_off == hc->body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

/* The client session, its SETTINGS and the call. Returns false (result set)
 * on failure. */
static bool grpc_start(struct health_check *hc)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_settings_entry iv[2] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0}};
    nghttp2_data_provider prd = {.read_callback = grpc_read_body};
    char timeout[16] = "";
    int rv;

    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        set_result(hc, HEALTH_ERR_SOCKET, 0, "HTTP/2: out of memory");
        return false;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, grpc_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, grpc_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, grpc_on_close);
    rv = nghttp2_session_client_new(&hc->ng, cbs, hc);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        set_result(hc, HEALTH_ERR_SOCKET, 0, "HTTP/2: %s", nghttp2_strerror(rv));
        return false;
    }
    if (hc->timeout_ms)
        snprintf(timeout, sizeof(timeout), "%um", hc->timeout_ms);
    {
        nghttp2_nv nv[] = {
            NV(":method", "POST"),
            NV(":scheme", hc->tls ? "https" : "http"),
            NV(":path", "/grpc.health.v1.Health/Check"),
            NV(":authority", hc->authority),
            NV("content-type", "application/grpc"),
            NV("te", "trailers"),
            NV("user-agent", "tern-health"),
            NV("grpc-timeout", timeout),
        };
        size_t nnv = sizeof(nv) / sizeof(nv[0]) - (timeout[0] ? 0 : 1);

        rv = nghttp2_submit_settings(hc->ng, NGHTTP2_FLAG_NONE, iv, 2);
        if (rv == 0) {
            hc->sid = nghttp2_submit_request(hc->ng, NULL, nv, nnv, &prd, hc);
            rv = hc->sid < 0 ? hc->sid : 0;
        }
    }
    if (rv != 0) {
        set_result(hc, HEALTH_ERR_SOCKET, 0, "HTTP/2: %s", nghttp2_strerror(rv));
        return false;
    }
    return true;
}

#undef NV

/* The stream closed: judge what came. */
static void grpc_judge(struct health_check *hc)
{
    uint32_t mlen;
    int st;

    if (hc->res.status == 0) {
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "stream reset before any answer (%s)",
                   nghttp2_http2_strerror(hc->rst_code));
        return;
    }
    if (hc->res.status != 200) {
        set_result(hc, HEALTH_ERR_BAD_STATUS, 0, "HTTP status %d", hc->res.status);
        return;
    }
    hc->res.status = 0; /* 200: the gRPC status says the rest */
    if (hc->grpc_status == -1) {
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "no grpc-status%s%s",
                   hc->rst_code ? ", stream reset: " : "",
                   hc->rst_code ? nghttp2_http2_strerror(hc->rst_code) : "");
        return;
    }
    if (hc->grpc_status != 0) {
        if (hc->grpc_status < 0)
            set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "grpc-status is not a number");
        else
            set_result(hc, HEALTH_ERR_BAD_STATUS, 0, "grpc-status %d%s%s", hc->grpc_status,
                       hc->grpc_message[0] ? ": " : "", hc->grpc_message);
        return;
    }
    /* one uncompressed gRPC frame: flag 0, 4-byte length, the message */
    if (hc->msg_over || hc->msg_len < 5 || hc->msg[0] != 0) {
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "%s",
                   hc->msg_over ? "response message over 59 bytes"
                   : hc->msg_len < 5 ? "no response message"
                                     : "compressed response message");
        return;
    }
    mlen = (uint32_t)hc->msg[1] << 24 | (uint32_t)hc->msg[2] << 16 | (uint32_t)hc->msg[3] << 8 |
           hc->msg[4];
    if (mlen != hc->msg_len - 5) {
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "gRPC frame of %u bytes with %zu", mlen,
                   hc->msg_len - 5);
        return;
    }
    st = health_grpc_parse_response(hc->msg + 5, mlen);
    if (st < 0) {
        set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "invalid HealthCheckResponse");
        return;
    }
    set_result(hc, st == 1 ? HEALTH_OK : HEALTH_ERR_BAD_STATUS, 0, "%s",
               serving_status_name(st));
}

/* Moves the HTTP/2 session both ways until the call's stream closes.
 * Returns true when finished. */
static bool do_grpc(struct health_check *hc)
{
    uint8_t buf[4096];

    for (;;) {
        ssize_t n;

        while (hc->pend_len || nghttp2_session_want_write(hc->ng)) {
            struct iovec iov;
            if (!hc->pend_len) {
                n = nghttp2_session_mem_send(hc->ng, &hc->pend);
                if (n < 0) {
                    set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "HTTP/2: %s",
                               nghttp2_strerror((int)n));
                    return true;
                }
                if (n == 0)
                    break;
                hc->pend_len = (size_t)n;
            }
            iov = (struct iovec){(void *)hc->pend, hc->pend_len};
            n = transport_writev(&hc->tr, &iov, 1);
            if (n == TRANSPORT_AGAIN) {
                wait_for_transport(hc, hc->tr.wr_wants);
                return false;
            }
            if (n < 0) {
                transport_failed(hc, HEALTH_ERR_CLOSED, "sending the call");
                return true;
            }
            hc->pend += n;
            hc->pend_len -= (size_t)n;
        }
        if (hc->stream_closed) {
            grpc_judge(hc);
            return true;
        }
        if (!nghttp2_session_want_read(hc->ng)) {
            set_result(hc, HEALTH_ERR_CLOSED, 0, "HTTP/2 session ended before the answer");
            return true;
        }
        n = transport_read(&hc->tr, buf, sizeof(buf));
        if (n == TRANSPORT_AGAIN) {
            wait_for_transport(hc, hc->tr.rd_wants);
            return false;
        }
        if (n < 0) {
            transport_failed(hc, HEALTH_ERR_CLOSED, "reading the answer");
            return true;
        }
        if (n == 0) {
            set_result(hc, HEALTH_ERR_CLOSED, 0, "connection closed before the answer");
            return true;
        }
        n = nghttp2_session_mem_recv(hc->ng, buf, (size_t)n);
        if (n < 0) {
            set_result(hc, HEALTH_ERR_BAD_RESPONSE, 0, "HTTP/2: %s", nghttp2_strerror((int)n));
            return true;
        }
    }
}

/* The connection (and TLS handshake) is up: a TCP check passes, an HTTP
 * check sends its request, a gRPC check starts its call. Returns true when
 * finished. */
static bool connected(struct health_check *hc)
{
    if (hc->type == HC_GRPC) {
        hc->phase = PHASE_GRPC;
        if (!grpc_start(hc))
            return true;
        return do_grpc(hc);
    }
    if (hc->type != HC_HTTP) {
        set_result(hc, HEALTH_OK, 0, hc->tls ? "TLS handshake completed" : "connected");
        return true;
    }
    hc->phase = PHASE_SEND;
    return do_send(hc);
}

/* Drives the TLS handshake. Returns true when finished. */
static bool do_handshake(struct health_check *hc)
{
    int r = transport_handshake(&hc->tr);
    const char *proto;
    size_t plen;

    if (r == TRANSPORT_AGAIN) {
        wait_for_transport(hc, hc->tr.rd_wants);
        return false;
    }
    if (r != 1) {
        transport_failed(hc, HEALTH_ERR_TLS, "TLS handshake");
        return true;
    }
    /* A gRPC call is HTTP/2: a server that chose another protocol by ALPN
     * would not understand it (none chosen: HTTP/2 as `proto h2` says). */
    if (hc->type == HC_GRPC && tls_transport_alpn(&hc->tr, &proto, &plen) &&
        !(plen == 2 && memcmp(proto, "h2", 2) == 0)) {
        set_result(hc, HEALTH_ERR_TLS, 0, "ALPN chose %.*s: gRPC checks speak HTTP/2 only",
                   (int)(plen > 32 ? 32 : plen), proto);
        return true;
    }
    /* The request is HTTP/1: a server that chose another protocol by ALPN
     * (the server line's `alpn h2`) would not understand it. */
    if (hc->type == HC_HTTP && tls_transport_alpn(&hc->tr, &proto, &plen) &&
        !(plen == 8 && memcmp(proto, "http/1.1", 8) == 0) &&
        !(plen == 8 && memcmp(proto, "http/1.0", 8) == 0)) {
        set_result(hc, HEALTH_ERR_TLS, 0, "ALPN chose %.*s: HTTP checks speak HTTP/1 only",
                   (int)(plen > 32 ? 32 : plen), proto);
        return true;
    }
    return connected(hc);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct health_check *hc = arg;
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (hc->phase == PHASE_DONE) {
        finish(hc);
        return;
    }
    if (what & EV_TIMEOUT) {
        if (hc->phase == PHASE_CONNECT)
            set_result(hc, HEALTH_ERR_CONNECT_TIMEOUT, 0, "no connection after %llu ms",
                       (unsigned long long)(tern_now_ms() - hc->start_ms));
        else if (hc->phase == PHASE_HANDSHAKE)
            set_result(hc, HEALTH_ERR_TLS_TIMEOUT, 0, "TLS handshake not done after %llu ms",
                       (unsigned long long)(tern_now_ms() - hc->start_ms));
        else
            set_result(hc, HEALTH_ERR_READ_TIMEOUT, 0, "no %s after %llu ms",
                       hc->type == HC_GRPC ? "gRPC answer" : "status line",
                       (unsigned long long)(tern_now_ms() - hc->start_ms));
        finish(hc);
        return;
    }
    if (hc->tr.ops)
        transport_set_ready(&hc->tr, (uint8_t)(((what & EV_READ) ? TRANSPORT_READABLE : 0) |
                                               ((what & EV_WRITE) ? TRANSPORT_WRITABLE : 0)));
    switch (hc->phase) {
    case PHASE_CONNECT:
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
            err = errno;
        if (err) {
            connect_failed(hc, err);
            finish(hc);
            return;
        }
        if (hc->tls) {
            if (tls_transport_init_client(&hc->tr, hc->fd, hc->tls, hc->sni, NULL) != 0) {
                set_result(hc, HEALTH_ERR_SOCKET, 0, "TLS: out of memory");
                finish(hc);
                return;
            }
            transport_set_ready(&hc->tr, TRANSPORT_WRITABLE);
            hc->phase = PHASE_HANDSHAKE;
            if (do_handshake(hc))
                finish(hc);
            return;
        }
        transport_plain_init(&hc->tr, hc->fd);
        transport_set_ready(&hc->tr, TRANSPORT_WRITABLE);
        if (connected(hc))
            finish(hc);
        return;
    case PHASE_HANDSHAKE:
        if (do_handshake(hc))
            finish(hc);
        return;
    case PHASE_SEND:
        if (do_send(hc))
            finish(hc);
        return;
    case PHASE_RECV:
        if (do_recv(hc))
            finish(hc);
        return;
    case PHASE_GRPC:
        if (do_grpc(hc))
            finish(hc);
        return;
    case PHASE_DONE:
        break;
    }
}

/* :authority of a gRPC check: the check-sni when set, else the address. */
static void authority_of(char *out, size_t len, const struct sockaddr *addr, const char *sni)
{
    char ip[INET6_ADDRSTRLEN] = "";

    if (sni) {
        snprintf(out, len, "%s", sni);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
    }
}

static char *build_request(const struct health_check_params *p, size_t *len)
{
    const char *method = p->method && *p->method ? p->method : "OPTIONS";
    const char *uri = p->uri && *p->uri ? p->uri : "/";
    const char *version = p->version && *p->version ? p->version : "HTTP/1.0";
    char *req = tern_malloc(REQUEST_MAX);
    int n = snprintf(req, REQUEST_MAX, "%s %s %s\r\nConnection: close\r\n\r\n", method, uri,
                     version);

    /* The config parser bounds these strings; a request that does not fit
     * would be a broken invariant, not bad input. */
    TERN_ASSERT(n > 0 && n < REQUEST_MAX);
    *len = (size_t)n;
    return req;
}

struct health_check *health_check_start(struct event_base *base, const struct sockaddr *addr,
                                        socklen_t addrlen,
                                        const struct health_check_params *params,
                                        health_check_cb cb, void *arg)
{
    struct health_check *hc = tern_calloc(1, sizeof(*hc));
    int one = 1;

    hc->base = base;
    hc->fd = -1;
    hc->cb = cb;
    hc->arg = arg;
    hc->type = params->type == HC_HTTP || params->type == HC_GRPC ? params->type : HC_TCP;
    hc->tls = params->tls;
    if (hc->tls && params->sni && *params->sni)
        hc->sni = tern_strdup(params->sni);
    hc->expect_status = params->expect_status;
    hc->start_ms = tern_now_ms();
    if (params->connect_timeout_ms)
        hc->connect_deadline_ms = hc->start_ms + params->connect_timeout_ms;
    if (params->timeout_ms)
        hc->deadline_ms = hc->start_ms + params->timeout_ms;
    if (hc->type == HC_HTTP)
        hc->req = build_request(params, &hc->req_len);
    if (hc->type == HC_GRPC) {
        int n = health_grpc_request(hc->body + 5, sizeof(hc->body) - 5, params->service);
        /* the config parser bounds the service name (200 bytes) */
        TERN_ASSERT(n >= 0);
        hc->body[0] = 0;
        hc->body[1] = hc->body[2] = 0;
        hc->body[3] = (uint8_t)(n >> 8);
        hc->body[4] = (uint8_t)n;
        hc->body_len = 5 + (size_t)n;
        hc->grpc_status = -1;
        hc->timeout_ms = params->timeout_ms;
        authority_of(hc->authority, sizeof(hc->authority), addr, hc->sni);
    }
    event_assign(&hc->ev, base, -1, 0, on_event, hc);

    hc->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (hc->fd < 0) {
        set_result(hc, HEALTH_ERR_SOCKET, errno, "socket: %s", strerror(errno));
        finish_later(hc);
        return hc;
    }
    setsockopt(hc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(hc->fd, addr, addrlen) == 0) {
        /* Connected at once: let the loop see it writable, as usual. */
        wait_for(hc, EV_WRITE);
    } else if (errno == EINPROGRESS || errno == EINTR) {
        wait_for(hc, EV_WRITE);
    } else {
        connect_failed(hc, errno);
        finish_later(hc);
    }
    return hc;
}

void health_check_cancel(struct health_check *hc)
{
    if (!hc)
        return;
    release(hc);
}
