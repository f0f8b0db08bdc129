/*
 * router.c: the last filter of every chain. It chooses the cluster
 * (route_select), finishes the request head (X-Forwarded-For, request id,
 * hop-by-hop fields, this hop's Connection field) and serializes it, then
 * gets the request an upstream connection:
 *
 *   pick (lb) --> slot --> idle connection http-reuse allows --> EXCHANGE
 *     |  all endpoints full                  |  none
 *     v                                      v
 *   QUEUED (timeout queue) --granted-->   CONNECTING (timeout connect)
 *                                            |  failed, retries left
 *                                            v
 *                     TURNAROUND (same endpoint after min(connect, 1s)),
 *                     at once after a timeout, or a new pick (redispatch)
 *
 * The pick / slot / queue / retry rules are mode tcp's (worker/upstream.c):
 * a server's `maxconn` counts requests being served, as in HAProxy.
 * Failures end in a local reply with their reason: no_healthy_upstream,
 * queue_full, queue_timeout (503), connect_failure, connect_timeout (503).
 */
#include <stdio.h>
#include <string.h>

#include "proxy/acl/acl_types.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"

static struct stream *of_req(struct upstream_req *r)
{
    return (struct stream *)((char *)r - offsetof(struct stream, up));
}

static uint64_t now_ms(const struct stream *s)
{
    return worker_now_ms(s->w);
}

/*
 * The cluster this request goes to: the first `use_backend` rule of the
 * listener whose condition holds on the request head and the client's
 * address, else the default backend (listener_route). The local address is
 * not known to the connection: `dst` fetches find no sample. xDS route
 * tables will compile into the same rules.
 */
struct cluster *route_select(struct stream *s)
{
    const struct listener *l = s->l;
    struct acl_ctx ctx = {
        .req = &s->req,
        .res = NULL,
        .src = (const struct sockaddr *)s->peer,
        .tls = s->tls ? &s->tls->acl : NULL,
        .dst = NULL,
    };

    if (!l->nrules)
        return l->default_cluster;
    return listener_route(l, &ctx);
}

/* ---- request head finishing -------------------------------------------------- */

static bool in_net(const struct sockaddr_in6 *peer, const struct http_forwardfor *ff)
{
    const struct sockaddr *sa = (const struct sockaddr *)peer;
    const unsigned char *a, *n;
    unsigned bits = ff->except_prefix, full, rest;

    if (sa->sa_family != ff->except_net.ss_family)
        return false;
    if (sa->sa_family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = (const unsigned char *)&((const struct sockaddr_in *)&ff->except_net)->sin_addr;
    } else {
        a = (const unsigned char *)&peer->sin6_addr;
        n = (const unsigned char *)&((const struct sockaddr_in6 *)&ff->except_net)->sin6_addr;
    }
    full = bits / 8;
    rest = bits % 8;
    if (memcmp(a, n, full) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((a[full] & mask) != (n[full] & mask))
            return false;
    }
    return true;
}

/* option forwardfor: the backend's setting when it has one, else the
 * frontend's. HAProxy appends a new field line with the client's address. */
static int add_forwardfor(struct stream *s, uint32_t maxhdr)
{
    const struct http_forwardfor *ff =
        s->up.c && s->up.c->forwardfor.enabled ? &s->up.c->forwardfor : &s->l->forwardfor;
    const char *name;
    char addr[INET6_ADDRSTRLEN];
    size_t n;

    if (!ff->enabled)
        return 0;
    if (ff->has_except && in_net(s->peer, ff))
        return 0;
    name = ff->header ? ff->header : "X-Forwarded-For";
    if (ff->if_none && http_msg_find(&s->req, name, strlen(name), 0) >= 0)
        return 0;
    /* the address without its port (and without the brackets of IPv6) */
    n = tern_format_ip((const struct sockaddr *)s->peer, addr, sizeof(addr));
    return http_msg_add(&s->req, name, strlen(name), addr, n, maxhdr);
}

/* option tern-request-id: a random version-4 UUID when the request has none. */
static int add_request_id(struct stream *s, uint32_t maxhdr)
{
    const char *name = s->l->request_id_header;
    uint64_t a, b;
    char id[40];

    if (!name || http_msg_find(&s->req, name, strlen(name), 0) >= 0)
        return 0;
    a = tern_rand_next(&s->w->rng);
    b = tern_rand_next(&s->w->rng);
    snprintf(id, sizeof(id), "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
    return http_msg_add(&s->req, name, strlen(name), id, strlen(id), maxhdr);
}

static enum http_conn_mode conn_mode(const struct stream *s)
{
    enum http_conn_mode m = s->l->http_mode;
    if (s->up.c->http_mode > m)
        m = s->up.c->http_mode;
    return m;
}

/* ---- upstream ------------------------------------------------------------------ */

static void router_pick(struct stream *s, const struct endpoint *avoid);

static void router_connect(struct stream *s)
{
    uint64_t now = now_ms(s);
    uint32_t tc = s->up.c->timeout_connect_ms;

    s->st = ST_CONNECTING;
    s->t_connect_start = now;
    s->deadline_ms = tc ? now + tc : 0;
    if (!upstream_connect(s))
        router_connect_failed(s, false);
}

static void router_attach(struct stream *s)
{
    if (upstream_take_idle(s)) {
        struct cluster_stats *cs = &s->up.c->stats[s->w->id];
        s->st = ST_EXCHANGE;
        s->reused = true;
        s->t_connect = 0;
        s->deadline_ms = 0;
        counter_add(&cs->http_conn_reuses, 1);
        return;
    }
    router_connect(s);
}

static void router_pick(struct stream *s, const struct endpoint *avoid)
{
    uint32_t tq;

    s->t_attempt = now_ms(s);
    switch (upstream_pick(&s->up, avoid)) {
    case UPSTREAM_PICKED:
        router_attach(s);
        return;
    case UPSTREAM_QUEUED:
        s->st = ST_QUEUED;
        tq = upstream_queue_timeout_ms(s->up.c);
        s->deadline_ms = tq ? s->up.queue_start_ms + tq : 0;
        return;
    case UPSTREAM_NO_SERVER:
        stream_local_reply(s, TERN_R_NO_HEALTHY_UPSTREAM, 0, false);
        return;
    case UPSTREAM_QUEUE_FULL:
        stream_local_reply(s, TERN_R_QUEUE_FULL, 0, false);
        return;
    }
}

static void router_granted(struct upstream_req *r)
{
    struct stream *s = of_req(r);

    /* Not from here: the caller may be another connection's callback.
     * The run loop of this stream's connection goes on (router_proceed). */
    s->granted = true;
    s->deadline_ms = 0; /* no queue timeout once out of the queue */
    s->down->kick(s);
}

void router_proceed(struct stream *s)
{
    s->granted = false;
    s->deadline_ms = 0;
    router_attach(s);
}

void router_connected(struct stream *s)
{
    s->t_connect = (int64_t)(now_ms(s) - s->t_connect_start);
    s->st = ST_EXCHANGE;
    s->deadline_ms = 0;
}

void router_connect_failed(struct stream *s, bool timeout)
{
    struct endpoint *ep = s->up.ep;
    enum tern_reason reason = timeout ? TERN_R_CONNECT_TIMEOUT : TERN_R_CONNECT_FAILURE;
    uint32_t pause = 0;

    if (s->uc) {
        upstream_close(s->uc);
        s->uc = NULL;
    }
    if (s->result_hooks) {
        /* a retry filter decides (backoff, budget, another host) */
        upstream_count_connect_error(&s->up);
        if (!router_attempt_done(s, FILTER_OUTCOME_CONN_FAILURE, reason, 0))
            stream_local_reply(s, reason, 0, false);
        return;
    }
    switch (upstream_connect_failed(&s->up, timeout, &pause)) {
    case UPSTREAM_GIVE_UP:
        stream_local_reply(s, reason, 0, false);
        return;
    case UPSTREAM_REDISPATCH:
        router_pick(s, ep);
        return;
    case UPSTREAM_RETRY_NOW:
        router_connect(s);
        return;
    case UPSTREAM_RETRY_LATER:
        s->st = ST_TURNAROUND;
        s->deadline_ms = now_ms(s) + pause;
        return;
    }
}

/* ---- attempts: what filters' retries need ----------------------------------- */

/* The grpc-status of a trailers-only response from an HTTP/2 server (gRPC's
 * errors before any message), -1 otherwise: the only gRPC status known
 * before anything reached the client. */
static int trailers_only_grpc_status(const struct stream *s)
{
    struct http_str g;
    int v = 0;

    if (!s->uc || !s->uc->h2 || !s->uc->h2_head_end)
        return -1;
    g = http_msg_get(&s->resp, "grpc-status", 11);
    if (!g.p || g.len == 0 || g.len > 2)
        return -1;
    for (uint32_t i = 0; i < g.len; i++) {
        if (g.p[i] < '0' || g.p[i] > '9')
            return -1;
        v = v * 10 + (g.p[i] - '0');
    }
    return v;
}

static bool retry_on_grpc(const struct cluster *c, int grpc_status)
{
    switch (grpc_status) {
    case 1: return c->retry_on & RETRY_ON_GRPC_CANCELLED;
    case 4: return c->retry_on & RETRY_ON_GRPC_DEADLINE_EXCEEDED;
    case 8: return c->retry_on & RETRY_ON_GRPC_RESOURCE_EXHAUSTED;
    case 13: return c->retry_on & RETRY_ON_GRPC_INTERNAL;
    case 14: return c->retry_on & RETRY_ON_GRPC_UNAVAILABLE;
    default: return false;
    }
}

static bool retry_on_matches(const struct cluster *c, enum filter_outcome oc, uint16_t status,
                             int grpc_status)
{
    switch (oc) {
    case FILTER_OUTCOME_CONN_FAILURE: return c->retry_on & RETRY_ON_CONN_FAILURE;
    case FILTER_OUTCOME_EMPTY_RESPONSE: return c->retry_on & RETRY_ON_EMPTY_RESPONSE;
    case FILTER_OUTCOME_JUNK_RESPONSE: return c->retry_on & RETRY_ON_JUNK_RESPONSE;
    case FILTER_OUTCOME_RESPONSE_TIMEOUT: return c->retry_on & RETRY_ON_RESPONSE_TIMEOUT;
    case FILTER_OUTCOME_RESPONSE:
        if (grpc_status >= 0 && retry_on_grpc(c, grpc_status))
            return true;
        if (!(c->retry_on & RETRY_ON_STATUS))
            return false;
        for (uint32_t i = 0; i < RETRY_STATUS_MAX && c->retry_status[i]; i++)
            if (c->retry_status[i] == status)
                return true;
        return false;
    }
    return false;
}

/* Whether the request can be sent again as it was. */
static bool replayable(const struct stream *s)
{
    if (s->req_body == H1_BODY_NONE || !s->req_body_started)
        return true; /* no body, or all of it still in the client's buffer */
    if (!s->replay_max || s->replay_overflow)
        return false;
    if (s->h2c && s->req_body == H1_BODY_CHUNKED && s->replay_len) {
        /* the replay is the bare payload an HTTP/2 server took: an
         * HTTP/1.1 server would need it chunked, so every server must be
         * HTTP/2 (read on the rare retry path only) */
        const struct cluster *c = s->up.c;
        for (uint32_t i = 0; i < c->nendpoints; i++)
            if (!c->endpoints[i]->proto_h2)
                return false;
    }
    if (!s->h2c && s->req_body == H1_BODY_CHUNKED && s->replay_len) {
        /* an HTTP/1.1 client's chunked body: sent to an HTTP/2 server it
         * loses its chunk framing in place (stream_unchunk), so the replay
         * would no longer match its Transfer-Encoding. Not replayed in a
         * backend with any HTTP/2 server (read on the rare retry path only) */
        const struct cluster *c = s->up.c;
        for (uint32_t i = 0; i < c->nendpoints; i++)
            if (c->endpoints[i]->proto_h2)
                return false;
    }
    return true;
}

/* Another attempt: the old one's connection and slot go, its response is
 * dropped, the request goes again from its first byte. */
static void attempt_again(struct stream *s, uint32_t delay_ms)
{
    struct cluster_stats *cs = &s->up.c->stats[s->w->id];

    counter_add(&cs->retries, 1);
    if (s->up.ep)
        counter_add(&s->up.ep->stats[s->w->id].retries, 1);
    s->avoid = s->up.ep;
    if (s->uc) {
        upstream_close(s->uc);
        s->uc = NULL;
    }
    upstream_unqueue(&s->up);
    upstream_release(&s->up);
    s->attempt++;
    s->req_head_sent = 0;
    s->replay_sent = 0;
    s->req_send_dead = false;
    s->resp_got = 0;
    s->reused = false;
    s->t_sent = 0;
    s->t_resp = 0;
    s->t_connect = -1;
    s->resp_held = false;
    s->resp_done = false;
    s->resp_fwd = 0;
    s->resp_body = 0;
    s->resp.nhdrs = 0;
    s->resp.status = 0;
    s->resp.reason = (struct http_str){NULL, 0};
    h1_msg_init(&s->h1);
    if (delay_ms) {
        s->st = ST_BACKOFF;
        s->deadline_ms = now_ms(s) + delay_ms;
        return;
    }
    router_pick(s, s->avoid);
}

bool router_attempt_done(struct stream *s, enum filter_outcome oc, enum tern_reason failure,
                         uint16_t status)
{
    struct upstream_result r;

    if (!s->result_hooks || s->resp_head || !s->up.c || !replayable(s))
        return false;
    r.outcome = oc;
    r.failure = failure;
    r.status = status;
    r.grpc_status = oc == FILTER_OUTCOME_RESPONSE ? trailers_only_grpc_status(s) : -1;
    r.attempt = s->attempt + s->up.retries_done;
    r.max_retries = s->up.c->retries;
    r.retry_on = retry_on_matches(s->up.c, oc, status, r.grpc_status);
    r.request_replayable = true;
    r.endpoint = s->up.ep ? s->up.ep->name : NULL;
    /* response order: the backend's filters first */
    for (uint32_t i = s->nfilters; i-- > 0;) {
        struct filter_stream *fs = &s->fs[i];
        uint32_t delay = 0;

        if (!fs->ops->upstream_result)
            continue;
        fs->saw = true;
        if (fs->ops->upstream_result(fs, fs->state, &r, &delay) == FILTER_RETRY) {
            attempt_again(s, delay);
            return true;
        }
    }
    return false;
}

void router_resend(struct stream *s)
{
    s->req_head_sent = 0;
    s->resp_got = 0;
    s->reused = false;
    h1_msg_init(&s->h1);
    router_connect(s);
}

void router_timeout(struct stream *s)
{
    switch (s->st) {
    case ST_QUEUED:
        if (s->granted) {
            router_proceed(s);
            return;
        }
        upstream_unqueue(&s->up);
        counter_add(&s->up.c->stats[s->w->id].queue_timeouts, 1);
        stream_local_reply(s, TERN_R_QUEUE_TIMEOUT, 0, false);
        return;
    case ST_TURNAROUND:
        s->deadline_ms = 0;
        if (upstream_retake(&s->up))
            router_connect(s);
        else
            router_pick(s, NULL); /* the endpoint filled up meanwhile */
        return;
    case ST_CONNECTING:
        router_connect_failed(s, true);
        return;
    case ST_BACKOFF:
        s->deadline_ms = 0;
        router_pick(s, s->avoid);
        return;
    default:
        return;
    }
}

/* ---- the filter ------------------------------------------------------------------ */

static enum filter_status router_request_headers(struct filter_stream *fs, void *state,
                                                 struct http_msg *req, bool end_stream)
{
    struct stream *s = fs->s;
    struct worker *w = s->w;
    struct cluster *c = s->route; /* the routing step chose it (stream.c) */
    struct http_h1_conn_opts o;
    struct cluster_stats *cs;
    ssize_t n;

    if (!c) {
        stream_local_reply(s, TERN_R_NO_HEALTHY_UPSTREAM, 0, false);
        return FILTER_CONTINUE;
    }
    upstream_req_init(&s->up, w, c, upstream_source_hash(s->peer), router_granted);
    cs = &c->stats[w->id];
    counter_add(&cs->conns_total, 1);
    counter_add(&cs->http_requests, 1);
    counter_add(&cs->cur_conns, 1);

    if (add_forwardfor(s, s->hw->maxhdr + HTTP_SPARE_HDRS) != 0 ||
        http_xfcc_apply(s, s->hw->maxhdr + HTTP_SPARE_HDRS) != 0 ||
        add_request_id(s, s->hw->maxhdr + HTTP_SPARE_HDRS) != 0) {
        stream_local_reply(s, TERN_R_HEADERS_TOO_LARGE, 0, true);
        return FILTER_CONTINUE;
    }

    /* The head as it goes upstream: the client's version (a 1.0 client must
     * not get a chunked response), Connection: close in the server-close
     * modes, keep-alive spelled out for 1.0. */
    s->server_close = conn_mode(s) >= HTTP_CONN_SERVER_CLOSE;
    o.version = req->version == 10 ? 10 : 11;
    o.close = s->server_close;
    o.keep_alive = !s->server_close && req->version == 10;
    o.upgrade = (struct http_str){NULL, 0};
    /* RFC 9110 7.8: a protocol switch (WebSocket) is HTTP/1.1 only, and a
     * request with a body cannot switch (the server would not know where
     * the body ends and the new protocol begins) */
    if ((req->flags & HTTP_MSG_F_CONN_UPGRADE) && req->version == 11 &&
        s->req_body == H1_BODY_NONE) {
        o.upgrade = http_msg_get(req, "upgrade", 7);
        s->upgrade_req = o.upgrade.p != NULL;
    }
    s->req_head = buf_get(&w->pool);
    n = http_h1_write_request(req, s->req_head->data, s->req_head->size, &o);
    if (n < 0) {
        /* the rewritten head outgrew a buffer */
        stream_local_reply(s, TERN_R_HEADERS_TOO_LARGE, 0, true);
        return FILTER_CONTINUE;
    }
    s->req_head->len = (uint32_t)n;
    s->req_head_sent = 0;
    /* req now points into req_head: the client's buffer may move on (an
     * HTTP/2 head was copied into the arena: no buffer holds it) */
    if (s->h1.head_len)
        buf_consume(*s->ibufp, s->h1.head_len);
    s->head_consumed = true;
    h1_msg_init(&s->h1); /* now for the response */

    router_pick(s, NULL);
    return FILTER_CONTINUE;
}

const struct http_filter_ops router_filter_ops = {
    .name = "router",
    .request_headers = router_request_headers,
};
