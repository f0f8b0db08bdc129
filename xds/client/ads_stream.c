/*
 * ads_stream.c: the xDS thread (see ads_stream.h for the contract).
 *
 * One call at a time. Its operations, each its own batch and tag:
 *   SEND_INITIAL_METADATA (once), RECV_STATUS_ON_CLIENT (once),
 *   RECV_MESSAGE (re-armed after each message), SEND_MESSAGE (one in flight,
 *   the next started when it completes, by this thread or the main thread).
 * The call is released when its status arrived and no operation is pending
 * (gRPC requires every started batch to complete before the unref).
 */
#include "xds/client/ads_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"

#define SOTW_METHOD "/envoy.service.discovery.v3.AggregatedDiscoveryService/" \
                    "StreamAggregatedResources"
#define DELTA_METHOD "/envoy.service.discovery.v3.AggregatedDiscoveryService/" \
                     "DeltaAggregatedResources"
/* How often the thread looks at its stop flag while waiting. */
#define POLL_MS 100
/* gRPC keepalive pings, so a control plane that vanished without a FIN is
 * noticed (as Envoy's bootstrap examples configure). */
#define KEEPALIVE_MS 30000
#define KEEPALIVE_TIMEOUT_MS 10000

enum tag {
    TAG_SEND_META = 1,
    TAG_RECV_STATUS,
    TAG_RECV_MSG,
    TAG_SEND_MSG,
};

enum ev_kind {
    AEV_STREAM,
    AEV_RESPONSE,
    AEV_CLOSED,
};

struct ads_event {
    struct ads_event *next;
    enum ev_kind kind;
    uint64_t gen;
    void *msg;            /* AEV_RESPONSE: owned decoded message */
    int status;           /* AEV_CLOSED */
    uint32_t retry_ms;    /* AEV_CLOSED */
    char detail[256];     /* AEV_CLOSED */
};

struct out_msg {
    struct out_msg *next;
    grpc_byte_buffer *bb;
};

struct ads_stream {
    struct ads_stream_conf conf;
    struct ads_stream_cbs cbs;
    void *arg;
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;

    /* the xDS thread's own */
    grpc_completion_queue *cq;
    grpc_byte_buffer *recv_bb;
    grpc_metadata_array initial;
    grpc_metadata_array trailing;
    grpc_status_code status;
    grpc_slice status_details;

    /* under mu: the call, its send line and pending operation count */
    pthread_mutex_t mu;
    grpc_call *call;
    uint64_t gen;
    bool closing;            /* status received: no new send */
    bool send_busy;
    grpc_byte_buffer *sending;
    struct out_msg *out_head, *out_tail;
    uint32_t pending;        /* started batches not yet completed */

    /* events to the main thread, under ev_mu */
    pthread_mutex_t ev_mu;
    struct ads_event *ev_head, *ev_tail;
    int efd;
    struct event *ev;
};

/* ---- events to the main thread ------------------------------------------- */

static void post(struct ads_stream *s, struct ads_event *e)
{
    uint64_t one = 1;

    e->next = NULL;
    pthread_mutex_lock(&s->ev_mu);
    if (s->ev_tail)
        s->ev_tail->next = e;
    else
        s->ev_head = e;
    s->ev_tail = e;
    pthread_mutex_unlock(&s->ev_mu);
    while (write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void free_event(struct ads_stream *s, struct ads_event *e)
{
    if (e->msg)
        protobuf_c_message_free_unpacked(e->msg, NULL);
    free(e);
}

static void events_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ads_stream *s = arg;
    struct ads_event *e, *next;
    uint64_t n;

    while (read(s->efd, &n, sizeof(n)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&s->ev_mu);
    e = s->ev_head;
    s->ev_head = s->ev_tail = NULL;
    pthread_mutex_unlock(&s->ev_mu);
    for (; e; e = next) {
        next = e->next;
        switch (e->kind) {
        case AEV_STREAM: s->cbs.on_stream(s->arg, e->gen); break;
        case AEV_RESPONSE:
            s->cbs.on_response(s->arg, e->gen, e->msg);
            e->msg = NULL; /* the callee's now */
            break;
        case AEV_CLOSED:
            s->cbs.on_closed(s->arg, e->gen, e->status, e->detail, e->retry_ms);
            break;
        }
        free_event(s, e);
    }
}

/* ---- the send line (either thread, under mu) --------------------------------- */

/* Starts the next queued send when the line is free. */
static void send_next_locked(struct ads_stream *s)
{
    struct out_msg *m = s->out_head;
    grpc_op op;

    if (!s->call || s->closing || s->send_busy || !m)
        return;
    s->out_head = m->next;
    if (!s->out_head)
        s->out_tail = NULL;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = m->bb;
    if (grpc_call_start_batch(s->call, &op, 1, (void *)(uintptr_t)TAG_SEND_MSG, NULL) !=
        GRPC_CALL_OK) {
        log_err("xds: cannot start a gRPC send; the request is dropped");
        grpc_byte_buffer_destroy(m->bb);
        free(m);
        return;
    }
    s->sending = m->bb;
    s->send_busy = true;
    s->pending++;
    free(m);
}

static void drop_queue_locked(struct ads_stream *s)
{
    struct out_msg *m, *next;

    for (m = s->out_head; m; m = next) {
        next = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
    }
    s->out_head = s->out_tail = NULL;
}

int ads_stream_send(struct ads_stream *s, uint64_t gen, const uint8_t *buf, size_t len)
{
    struct out_msg *m;
    grpc_slice sl;

    pthread_mutex_lock(&s->mu);
    if (!s->call || s->closing || gen != s->gen) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    m = tern_calloc(1, sizeof(*m));
    sl = grpc_slice_from_copied_buffer((const char *)buf, len);
    m->bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    if (s->out_tail)
        s->out_tail->next = m;
    else
        s->out_head = m;
    s->out_tail = m;
    send_next_locked(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- the xDS thread ------------------------------------------------------------ */

static gpr_timespec in_ms(uint32_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void format_target(const struct ads_stream_conf *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (c->server.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->server;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "ipv6:[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&c->server;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "ipv4:%s:%u", ip, ntohs(a->sin_port));
    }
}

static grpc_channel *new_channel(struct ads_stream *s)
{
    char target[128];
    grpc_arg args[8];
    grpc_channel_args ca = {0, args};
    /* TLS: gRPC core's defaults (TLS 1.2+, the server's chain verified
     * against ca_pem, its name checked); no client certificate: the node
     * authenticates with what its metadata carries */
    grpc_channel_credentials *creds =
        s->conf.ca_pem ? grpc_ssl_credentials_create(s->conf.ca_pem, NULL, NULL, NULL)
                       : grpc_insecure_credentials_create();
    grpc_channel *ch;
    int n = 0;

    /* a channel of its own each time (no shared subchannel and its backoff):
     * our backoff decides when the next connection is tried */
#define INT_ARG(k, v) \
    do { \
        args[n].type = GRPC_ARG_INTEGER; \
        args[n].key = (char *)(k); \
        args[n].value.integer = (int)(v); \
        n++; \
    } while (0)
    INT_ARG(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, s->conf.max_message_bytes);
    INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_MS);
    INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
    INT_ARG(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, s->conf.backoff_base_ms);
    INT_ARG(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, s->conf.backoff_base_ms);
    INT_ARG(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, s->conf.backoff_max_ms);
#undef INT_ARG
    if (s->conf.ca_pem && s->conf.verifyhost) {
        args[n].type = GRPC_ARG_STRING;
        args[n].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[n].value.string = (char *)s->conf.verifyhost;
        n++;
    }
    ca.num_args = (size_t)n;
    format_target(&s->conf, target, sizeof(target));
    ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

static bool arm_recv(struct ads_stream *s)
{
    grpc_op op;
    grpc_call_error rc;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_bb;
    pthread_mutex_lock(&s->mu);
    rc = grpc_call_start_batch(s->call, &op, 1, (void *)(uintptr_t)TAG_RECV_MSG, NULL);
    if (rc == GRPC_CALL_OK)
        s->pending++;
    else
        log_err("xds: cannot start a gRPC receive (error %d)", (int)rc);
    pthread_mutex_unlock(&s->mu);
    return rc == GRPC_CALL_OK;
}

/* Decodes one received message; NULL when it is not a valid response. */
static void *decode(struct ads_stream *s, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    grpc_slice sl;
    void *msg = NULL;

    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    sl = grpc_byte_buffer_reader_readall(&rd);
    if (s->conf.delta)
        msg = envoy__service__discovery__v3__delta_discovery_response__unpack(
            NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
    else
        msg = envoy__service__discovery__v3__discovery_response__unpack(
            NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
    grpc_slice_unref(sl);
    grpc_byte_buffer_reader_destroy(&rd);
    return msg;
}

/* Runs one call to its end. Returns true when it delivered a message (the
 * backoff starts over). */
static bool run_call(struct ads_stream *s, grpc_channel *ch, struct ads_event **closed)
{
    grpc_slice method = grpc_slice_from_static_string(s->conf.delta ? DELTA_METHOD : SOTW_METHOD);
    grpc_call *call;
    grpc_op ops[2];
    struct ads_event *ev;
    const char *error_string = NULL;
    bool got_message = false, status_done = false, cancelled = false;
    char detail[256] = "";
    uint64_t gen;

    call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, method, NULL,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s->initial);
    grpc_metadata_array_init(&s->trailing);
    s->status = GRPC_STATUS_UNKNOWN;
    s->status_details = grpc_empty_slice();

    pthread_mutex_lock(&s->mu);
    s->call = call;
    gen = ++s->gen;
    s->closing = false;
    s->send_busy = false;
    s->pending = 0;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
    if (grpc_call_start_batch(call, ops, 2, (void *)(uintptr_t)TAG_SEND_META, NULL) ==
        GRPC_CALL_OK)
        s->pending++;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->status_details;
    ops[0].data.recv_status_on_client.error_string = &error_string;
    if (grpc_call_start_batch(call, ops, 1, (void *)(uintptr_t)TAG_RECV_STATUS, NULL) ==
        GRPC_CALL_OK)
        s->pending++;
    pthread_mutex_unlock(&s->mu);
    arm_recv(s);

    ev = tern_calloc(1, sizeof(*ev));
    ev->kind = AEV_STREAM;
    ev->gen = gen;
    post(s, ev);

    for (;;) {
        grpc_event e = grpc_completion_queue_next(s->cq, in_ms(POLL_MS), NULL);
        bool done;

        if (e.type == GRPC_QUEUE_TIMEOUT) {
            if (atomic_load(&s->stop) && !cancelled) {
                grpc_call_cancel(call, NULL);
                cancelled = true;
            }
            continue;
        }
        if (e.type != GRPC_OP_COMPLETE)
            break; /* shutdown: not while a call runs */
        switch ((enum tag)(uintptr_t)e.tag) {
        case TAG_SEND_META:
            break;
        case TAG_RECV_STATUS:
            status_done = true;
            break;
        case TAG_RECV_MSG:
            if (e.success && s->recv_bb) {
                void *msg = decode(s, s->recv_bb);
                grpc_byte_buffer_destroy(s->recv_bb);
                s->recv_bb = NULL;
                if (!msg) {
                    snprintf(detail, sizeof(detail), "a message from the control plane is "
                                                     "not a valid %s",
                             s->conf.delta ? "DeltaDiscoveryResponse" : "DiscoveryResponse");
                    grpc_call_cancel(call, NULL);
                    break;
                }
                got_message = true;
                ev = tern_calloc(1, sizeof(*ev));
                ev->kind = AEV_RESPONSE;
                ev->gen = gen;
                ev->msg = msg;
                post(s, ev);
                /* counted below: this completion, then the new receive */
                pthread_mutex_lock(&s->mu);
                s->pending--;
                pthread_mutex_unlock(&s->mu);
                if (!arm_recv(s))
                    grpc_call_cancel(call, NULL);
                continue;
            }
            if (s->recv_bb) {
                grpc_byte_buffer_destroy(s->recv_bb);
                s->recv_bb = NULL;
            }
            break;
        case TAG_SEND_MSG:
            pthread_mutex_lock(&s->mu);
            grpc_byte_buffer_destroy(s->sending);
            s->sending = NULL;
            s->send_busy = false;
            s->pending--;
            if (e.success)
                send_next_locked(s);
            /* the status may have come first: then this was the last batch */
            done = status_done && s->pending == 0;
            pthread_mutex_unlock(&s->mu);
            if (done)
                goto over;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        s->pending--;
        if (status_done)
            s->closing = true;
        done = status_done && s->pending == 0;
        pthread_mutex_unlock(&s->mu);
        if (done)
            break;
    }

over:
    pthread_mutex_lock(&s->mu);
    s->call = NULL;
    s->closing = true;
    drop_queue_locked(s);
    pthread_mutex_unlock(&s->mu);

    ev = tern_calloc(1, sizeof(*ev));
    ev->kind = AEV_CLOSED;
    ev->gen = gen;
    ev->status = (int)s->status;
    if (detail[0]) {
        snprintf(ev->detail, sizeof(ev->detail), "%s", detail);
    } else {
        size_t n = GRPC_SLICE_LENGTH(s->status_details);
        if (n >= sizeof(ev->detail))
            n = sizeof(ev->detail) - 1;
        memcpy(ev->detail, GRPC_SLICE_START_PTR(s->status_details), n);
        ev->detail[n] = 0;
    }
    grpc_slice_unref(s->status_details);
    grpc_metadata_array_destroy(&s->initial);
    grpc_metadata_array_destroy(&s->trailing);
    if (error_string)
        gpr_free((void *)error_string);
    grpc_call_unref(call);
    /* retry_ms is filled by the caller */
    *closed = ev;
    return got_message;
}

/* Waits ms, or less when stopping. */
static void pause_ms(struct ads_stream *s, uint32_t ms)
{
    uint64_t end = tern_now_ms() + ms;

    while (!atomic_load(&s->stop)) {
        uint64_t now = tern_now_ms();
        if (now >= end)
            return;
        grpc_completion_queue_next(s->cq, in_ms(end - now < POLL_MS ? (uint32_t)(end - now)
                                                                    : POLL_MS), NULL);
    }
}

static void *thread_main(void *arg)
{
    struct ads_stream *s = arg;
    uint32_t attempt = 0;
    unsigned seed = (unsigned)tern_now_ms() ^ (unsigned)(uintptr_t)s;

    pthread_setname_np(pthread_self(), "tern-xds");
    while (!atomic_load(&s->stop)) {
        grpc_channel *ch = new_channel(s);
        struct ads_event *closed = NULL;
        uint64_t cap;
        uint32_t delay;

        if (run_call(s, ch, &closed))
            attempt = 0;
        grpc_channel_destroy(ch);
        /* exponential backoff with jitter: a random delay in [cap/2, cap) */
        cap = (uint64_t)s->conf.backoff_base_ms << (attempt < 16 ? attempt : 16);
        if (cap > s->conf.backoff_max_ms)
            cap = s->conf.backoff_max_ms;
        if (cap < 2)
            cap = 2;
        delay = (uint32_t)(cap / 2 + (uint64_t)rand_r(&seed) % (cap / 2));
        attempt++;
        closed->retry_ms = delay;
        if (atomic_load(&s->stop)) {
            free(closed);
            break;
        }
        post(s, closed);
        pause_ms(s, delay);
    }
    return NULL;
}

struct ads_stream *ads_stream_start(const struct ads_stream_conf *conf, struct event_base *base,
                                    const struct ads_stream_cbs *cbs, void *arg, char *err,
                                    size_t errlen)
{
    struct ads_stream *s = tern_calloc(1, sizeof(*s));
    int rc;

    s->conf = *conf;
    s->conf.ca_pem = conf->ca_pem ? tern_strdup(conf->ca_pem) : NULL;
    s->conf.verifyhost = conf->verifyhost ? tern_strdup(conf->verifyhost) : NULL;
    s->cbs = *cbs;
    s->arg = arg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ev_mu, NULL);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        snprintf(err, errlen, "xds: eventfd: %s", strerror(errno));
        free((char *)s->conf.ca_pem);
        free((char *)s->conf.verifyhost);
        free(s);
        return NULL;
    }
    s->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, events_cb, s);
    event_add(s->ev, NULL);
    grpc_init();
    s->cq = grpc_completion_queue_create_for_next(NULL);
    rc = pthread_create(&s->thread, NULL, thread_main, s);
    if (rc != 0) {
        snprintf(err, errlen, "xds: cannot start the xDS thread: %s", strerror(rc));
        ads_stream_stop(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

void ads_stream_stop(struct ads_stream *s)
{
    struct ads_event *e, *next;

    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(s->cq);
    grpc_shutdown();
    event_free(s->ev);
    close(s->efd);
    for (e = s->ev_head; e; e = next) {
        next = e->next;
        free_event(s, e);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ev_mu);
    free((char *)s->conf.ca_pem);
    free((char *)s->conf.verifyhost);
    free(s);
}
