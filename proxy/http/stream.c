/*
 * stream.c: one HTTP request/response exchange on a client connection.
 *
 * A stream is created when the first byte of a request arrives (or when
 * the first request of a connection times out before any byte, to answer
 * 408) and lives until the last byte of its response is written, or until
 * it is abandoned. It owns:
 *   - an arena whose first STREAM_ARENA_INLINE bytes are inside the stream,
 *     so the header arrays of both heads and the usual rewrites allocate
 *     nothing; the stream itself comes from a per-worker cache;
 *   - the request head (`req`, pointing into the client's input buffer
 *     until the router serializes it, then into `req_head`) and the
 *     response head (`resp`, valid until it is forwarded);
 *   - the filter chain's per-stream state, and the router's upstream claim.
 *
 * The filter chain (filters/filter.h): request headers go through filters
 * 0..n-1, the router being the last; response headers come back n-1..0. A
 * hook that returns FILTER_STOP holds its event until filter_resume() (or a
 * local reply). The chain is the listener's `filter` lines (l->filters,
 * config objects shared read-only by every stream) followed by the router;
 * each stream gets its array of filter_stream and their zeroed state from its
 * arena, so a chain costs no allocation beyond the arena and takes no lock.
 * Implemented from the filter API: filter_config, filter_resume,
 * filter_local_reply, filter_reply_header, filter_reset, filter_alloc,
 * filter_info, filter_now_us, filter_worker, filter_nworkers,
 * filter_buffer_request_body, filter_set_attempt_timeout, filter_timer_*
 * (the registry, filter_register/filter_find*, is filters/registry.c). Body
 * data goes to the data hooks as read-only slices of the buffers it is
 * forwarded from (chunk framing removed; a filter's hold stops the
 * direction until it resumes); trailers are collected for the trailers
 * hooks. Not yet: local replies do not pass the response filters (see
 * README "HTTP: not done yet").
 *
 * Routing happens when the request reaches the router the first time: the
 * listener's rules choose the cluster, whose own filters (backend `filter`
 * lines) are then spliced in before the router and run next.
 *
 * At the end: one access-log line in HAProxy's HTTP format, the counters
 * (requests, responses per class, errors per reason), stream_done on every
 * filter that saw the stream, everything released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/core/util.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"
#include "proxy/model/model.h"

struct listener_stats *stream_lst(const struct stream *s)
{
    return &s->l->stats[s->w->id];
}

static uint64_t now_ms(const struct stream *s)
{
    return worker_now_ms(s->w);
}

static uint64_t wall_us(struct worker *w)
{
    struct timeval tv;
    event_base_gettimeofday_cached(w->base, &tv);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* ---- life cycle --------------------------------------------------------------- */

static void chain_set(struct stream *s, uint32_t i, const struct http_filter_ops *ops,
                      const void *cfg)
{
    struct filter_stream *fs = &s->fs[i];

    memset(fs, 0, sizeof(*fs));
    fs->s = s;
    fs->idx = i;
    fs->ops = ops;
    fs->cfg = cfg;
    if (ops->state_size)
        fs->state = arena_alloc(&s->arena, ops->state_size);
    if (ops->upstream_result)
        s->result_hooks = true;
    if (ops->request_data || ops->request_trailers)
        s->req_data_hooks = true;
    if (ops->response_data || ops->response_trailers)
        s->resp_data_hooks = true;
}

/*
 * The routing step, when the request reaches the router the first time:
 * the cluster from the listener's rules, and its filters spliced in before
 * the router (they then see the request headers, next). False when there is
 * no cluster: the stream got its 503.
 */
static bool route_stream(struct stream *s)
{
    uint32_t base = s->l->nfilters;
    struct cluster *c = route_select(s);

    s->routed = true;
    if (!c) {
        stream_local_reply(s, TERN_R_NO_HEALTHY_UPSTREAM, 0, false);
        return false;
    }
    s->route = c;
    for (uint32_t i = 0; i < c->nfilters; i++)
        chain_set(s, base + i, c->filters[i].ops, c->filters[i].cfg);
    chain_set(s, base + c->nfilters, &router_filter_ops, NULL);
    s->nfilters = base + c->nfilters + 1;
    return true;
}

struct stream *stream_alloc(struct http_worker *hw, struct listener *l, struct worker_snap *ws,
                            const struct sockaddr_in6 *peer, const struct down_ops *down)
{
    struct stream *s = hw->free_streams;

    if (s) {
        hw->free_streams = s->next_free;
        hw->nfree_streams--;
    } else {
        s = tern_malloc(hw->stream_size);
    }
    memset(s, 0, offsetof(struct stream, arena_mem));
    arena_init(&s->arena, s->arena_mem, sizeof(s->arena_mem));
    h1_msg_init(&s->h1);
    s->down = down;
    s->w = hw->w;
    s->hw = hw;
    s->l = l;
    s->ws = ws;
    s->peer = peer;
    s->st = ST_HEAD;
    s->t_connect = -1;
    s->t_start = worker_now_ms(hw->w);
    s->start_us = wall_us(hw->w);

    /* The chain: the listener's filters in order, then (once routed) the
     * backend's, the router last. The array is sized for the longest
     * backend chain of the snapshot so that splicing one in never moves a
     * filter_stream a filter may hold; it and each filter's state come from
     * the arena, zeroed. */
    {
        uint32_t room = l->nfilters + ws->snap->max_cluster_filters + 1;
        s->fs = arena_alloc(&s->arena, room * sizeof(*s->fs));
        s->nfilters = l->nfilters + 1;
        for (uint32_t i = 0; i < l->nfilters; i++)
            chain_set(s, i, l->filters[i].ops, l->filters[i].cfg);
        chain_set(s, l->nfilters, &router_filter_ops, NULL);
    }
    s->attempt = 1;
    return s;
}

struct stream *stream_new(struct h1_conn *cc)
{
    struct stream *s;
    struct buf *ib = cc->ibuf;

    if (cc->ws != cc->w->snaps) /* a newer snapshot: follow it if the listener stays */
        h1c_follow_snapshot(cc);
    s = stream_alloc(cc->hw, cc->l, cc->ws, &cc->peer, &down_h1_ops);

    s->cc = cc;
    s->tls = cc->tls;
    s->ibufp = &cc->ibuf;
    cc->s = s;
    cc->nreq++;
    s->first_req = cc->nreq == 1;
    /* HAProxy's TR of a first request counts from the accept. */
    if (cc->nreq == 1) {
        s->t_start = cc->accept_ms;
        s->start_us -= (worker_now_ms(cc->w) - s->t_start) * 1000u;
    }

    /* The head's slices become pointers once it is complete: from here on
     * the request starts at the buffer's first byte and nothing moves it
     * (a buffer compacts only after bytes were consumed from its head). */
    if (ib && ib->off) {
        memmove(ib->data, ib->data + ib->off, ib->len);
        ib->off = 0;
    }
    return s;
}

static void stream_free(struct stream *s)
{
    struct http_worker *hw = s->hw;

    free(s->replay);
    arena_reset(&s->arena);
    if (hw->nfree_streams < STREAM_CACHE_MAX) {
        s->next_free = hw->free_streams;
        hw->free_streams = s;
        hw->nfree_streams++;
    } else {
        free(s);
    }
}

void stream_cache_free(struct http_worker *hw)
{
    while (hw->free_streams) {
        struct stream *s = hw->free_streams;
        hw->free_streams = s->next_free;
        free(s);
    }
    hw->nfree_streams = 0;
}

/* HAProxy's second termination letter: where the stream was when it failed. */
static char phase_of(const struct stream *s)
{
    switch (s->st) {
    case ST_HEAD: return 'R';
    case ST_ROUTING: return 'R';
    case ST_QUEUED: return 'Q';
    case ST_TURNAROUND:
    case ST_CONNECTING:
    case ST_BACKOFF: return 'C';
    case ST_EXCHANGE: return s->resp_head ? 'D' : 'H';
    case ST_REPLY: return 'L';
    case ST_DONE: return '-';
    }
    return '-';
}

void stream_fail(struct stream *s, int reason)
{
    if (s->reason != TERN_R_NONE || reason == TERN_R_NONE)
        return;
    s->reason = reason;
    /* the router's failures belong to its phase whatever the state */
    switch (reason) {
    case TERN_R_NO_HEALTHY_UPSTREAM:
    case TERN_R_CONNECT_FAILURE:
    case TERN_R_CONNECT_TIMEOUT:
        s->fail_phase = 'C';
        break;
    case TERN_R_QUEUE_FULL:
    case TERN_R_QUEUE_TIMEOUT:
        s->fail_phase = 'Q';
        break;
    default:
        s->fail_phase = phase_of(s);
        break;
    }
}

/* ---- the filter chain ---------------------------------------------------------- */

static bool chain_over(const struct stream *s)
{
    return s->st == ST_REPLY || s->st == ST_DONE || s->down->gone(s);
}

static void run_request_headers(struct stream *s)
{
    while (s->req_next < s->nfilters) {
        struct filter_stream *fs = &s->fs[s->req_next];
        enum filter_status st;

        if (fs->ops == &router_filter_ops && !s->routed) {
            if (!route_stream(s))
                return;
            continue; /* the backend's first filter is at req_next now */
        }
        if (!fs->ops->request_headers) {
            s->req_next++;
            continue;
        }
        fs->saw = true;
        st = fs->ops->request_headers(fs, fs->state, &s->req,
                                      s->req_body == H1_BODY_NONE || s->req_done);
        if (chain_over(s))
            return; /* the hook replied or reset */
        if (st == FILTER_STOP && fs->ops != &router_filter_ops)
            return; /* held until filter_resume() */
        s->req_next++;
    }
}

static void forward_response_head(struct stream *s);

static void run_response_headers(struct stream *s)
{
    while (s->resp_next > 0) {
        struct filter_stream *fs = &s->fs[s->resp_next - 1];
        enum filter_status st;

        if (!fs->ops->response_headers) {
            s->resp_next--;
            continue;
        }
        fs->saw = true;
        st = fs->ops->response_headers(fs, fs->state, &s->resp,
                                       s->resp_body == H1_BODY_NONE);
        if (chain_over(s))
            return;
        if (st == FILTER_STOP) {
            s->resp_held = true; /* the upstream is not read meanwhile */
            return;
        }
        s->resp_next--;
    }
    s->resp_held = false;
    forward_response_head(s);
}

/* ---- body data and trailers --------------------------------------------------- */

/* Runs the request data hooks from filter `from` up (the response ones from
 * `from` down); false when one holds the slice. */
static bool run_data(struct stream *s, bool request, int64_t from)
{
    struct data_hold *h = request ? &s->req_hold : &s->resp_hold;
    struct buf *b = request ? *s->ibufp : (s->uc ? s->uc->ibuf : NULL);
    uint32_t base = request ? s->req_fwd : s->resp_fwd;
    struct filter_data d = {b ? buf_head(b) + base + h->off : NULL, h->len};
    int64_t i = from; /* -1: past filter 0 of a response, done */

    while (request ? i < (int64_t)s->nfilters : i >= 0) {
        struct filter_stream *fs = &s->fs[i];
        enum filter_status st = FILTER_CONTINUE;

        if (request && fs->ops->request_data) {
            fs->saw = true;
            st = fs->ops->request_data(fs, fs->state, &d, h->end);
        } else if (!request && fs->ops->response_data) {
            fs->saw = true;
            st = fs->ops->response_data(fs, fs->state, &d, h->end);
        }
        if (chain_over(s))
            return false;
        if (st == FILTER_STOP) {
            h->held = true;
            h->next = (uint32_t)i;
            return false;
        }
        i += request ? 1 : -1;
    }
    h->held = false;
    return true;
}

bool stream_request_data(struct stream *s, uint32_t off, uint32_t len, uint32_t fwd, bool end)
{
    s->req_hold = (struct data_hold){false, end, 0, fwd, off, len};
    return run_data(s, true, 0);
}

bool stream_response_data(struct stream *s, uint32_t off, uint32_t len, uint32_t fwd, bool end)
{
    s->resp_hold = (struct data_hold){false, end, 0, fwd, off, len};
    return run_data(s, false, (int64_t)s->nfilters - 1);
}

void stream_trailer(struct stream *s, bool request, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    struct http_msg **m = request ? &s->req_trailers : &s->resp_trailers;

    if (!*m) {
        *m = arena_alloc(&s->arena, sizeof(**m));
        (*m)->kind = request ? HTTP_MSG_REQUEST : HTTP_MSG_RESPONSE;
        (*m)->arena = &s->arena;
    }
    /* bounded by the codec's trailer limits; copied: the buffer moves on */
    http_msg_add(*m, name, nlen, value, vlen, UINT32_MAX);
}

void stream_trailers_done(struct stream *s, bool request)
{
    const struct http_msg *m = request ? s->req_trailers : s->resp_trailers;

    if (!m)
        return;
    for (uint32_t k = 0; k < s->nfilters; k++) {
        uint32_t i = request ? k : s->nfilters - 1 - k;
        struct filter_stream *fs = &s->fs[i];
        if (request && fs->ops->request_trailers) {
            fs->saw = true;
            fs->ops->request_trailers(fs, fs->state, m);
        } else if (!request && fs->ops->response_trailers) {
            fs->saw = true;
            fs->ops->response_trailers(fs, fs->state, m);
        }
        if (chain_over(s))
            return;
    }
}

bool stream_unchunk(struct stream *s, bool request, struct buf *ib,
                    const struct h1_chunk_event *ev, uint32_t r)
{
    uint32_t base = request ? s->req_fwd : s->resp_fwd;
    bool hooks = request ? s->req_data_hooks : s->resp_data_hooks;

    switch (ev->type) {
    case H1_CHUNK_DATA: {
        uint32_t dl = (uint32_t)ev->data_len;
        char *h = buf_head(ib) + base;
        memmove(h, h + ev->data_off, dl);
        buf_cut(ib, base + dl, r - dl);
        if (hooks && !(request ? stream_request_data : stream_response_data)(s, 0, dl, dl, false))
            return false;
        if (request)
            s->req_fwd += dl;
        else
            s->resp_fwd += dl;
        return true;
    }
    case H1_CHUNK_TRAILER: {
        const char *line = buf_head(ib) + base + ev->data_off;
        stream_trailer(s, request, line + ev->trailer.name.off, ev->trailer.name.len,
                       line + ev->trailer.value.off, ev->trailer.value.len);
        buf_cut(ib, base, r);
        return true;
    }
    case H1_CHUNK_DONE:
        buf_cut(ib, base, r);
        stream_trailers_done(s, request);
        if (s->st != ST_EXCHANGE)
            return false;
        if (hooks && !(request ? stream_request_data : stream_response_data)(s, 0, 0, 0, true))
            return false;
        if (!request)
            s->resp_done = true;
        return true;
    default:
        buf_cut(ib, base, r);
        return true;
    }
}

void stream_request_head(struct stream *s)
{
    s->st = ST_ROUTING;
    s->req_next = 0;
    run_request_headers(s);
}

void stream_response_head(struct stream *s)
{
    s->resp_next = s->nfilters;
    run_response_headers(s);
}

/* ---- forwarding the response head ----------------------------------------------- */

static void forward_response_head(struct stream *s)
{
    struct up_conn *uc = s->uc;
    ssize_t n;

    n = s->down->response_head(s);
    if (n < 0) {
        stream_local_reply(s, TERN_R_BAD_UPSTREAM_RESPONSE, 0, false);
        return;
    }
    s->status = s->resp.status;
    s->bytes_out += (uint64_t)n;
    /* the head's bytes in the upstream buffer are not needed any more; the
     * message pointed into them */
    buf_consume(uc->ibuf, s->h1.head_len);
    s->resp.nhdrs = 0;
    s->resp.reason = (struct http_str){NULL, 0};
    s->resp_head = true;
    s->resp_fwd = 0;
    if (s->tunnel) {
        /* from now on the client's bytes (those it sent early too) are the
         * new protocol's, not a next request */
        s->req_done = false;
        s->req_fwd = 0;
    }
    switch (s->resp_body) {
    case H1_BODY_NONE:
        s->resp_done = true;
        break;
    case H1_BODY_LENGTH:
        s->resp_left = s->h1.content_length;
        s->resp_done = s->resp_left == 0;
        break;
    case H1_BODY_CHUNKED:
        h1_chunked_init(&s->resp_chunk, &s->hw->lim);
        break;
    default: /* until close */
        break;
    }
    if (uc->ibuf->len == 0 && s->resp_done) {
        buf_put(&s->w->pool, uc->ibuf);
        uc->ibuf = NULL;
    }
}

/* ---- the server side's timeouts (both client codecs) ---------------------------- */

/* Whether the server owes the exchange something: request bytes to read (head,
 * replayed body, body), or response bytes while tern has room for them. */
static bool server_owes(const struct stream *s)
{
    const struct up_conn *uc = s->uc;

    if (s->st != ST_EXCHANGE || !uc)
        return false;
    if (!s->req_send_dead && (s->req_head_sent < s->req_head->len || s->req_fwd ||
                              s->replay_sent < s->replay_len))
        return true;
    return !s->resp_done && !s->resp_held && (!uc->ibuf || uc->ibuf->len < uc->ibuf->size);
}

uint64_t stream_server_deadline(const struct stream *s)
{
    uint64_t d = UINT64_MAX;
    uint32_t ts = s->up.c ? s->up.c->timeout_server_ms : 0;

    if (s->try_timeout_ms && !s->resp_head)
        d = s->t_attempt + s->try_timeout_ms;
    if (ts && server_owes(s) && s->uc->active_ms + ts < d)
        d = s->uc->active_ms + ts;
    return d;
}

bool stream_server_timeout(struct stream *s, uint64_t now)
{
    if (now < stream_server_deadline(s))
        return false;
    if (s->resp_head)
        stream_abort(s, TERN_R_UPSTREAM_TIMEOUT); /* too late for a reply: a cut */
    else if (!router_attempt_done(s, FILTER_OUTCOME_RESPONSE_TIMEOUT, TERN_R_UPSTREAM_TIMEOUT,
                                  0))
        stream_local_reply(s, TERN_R_UPSTREAM_TIMEOUT, 0, false);
    return true;
}

/* ---- local replies ---------------------------------------------------------------- */

static void drop_upstream(struct stream *s)
{
    if (s->uc) {
        upstream_close(s->uc);
        s->uc = NULL;
    }
    upstream_unqueue(&s->up);
}

static bool error_header(const struct stream *s)
{
    return s->l->error_header || (s->up.c && s->up.c->error_header);
}

static void local_reply(struct stream *s, int reason, uint16_t status, bool close,
                        const char *ctype, const char *body, size_t body_len)
{
    const struct http_errorfile *file = NULL;
    ssize_t n;

    TERN_ASSERT(!s->resp_head);
    stream_fail(s, reason);
    drop_upstream(s);
    if (!status)
        status = http_reason_status(reason);
    if (!status)
        status = 500;
    /* errorfile: tern's page for this status is replaced by the file, the
     * backend's when the request reached one, else the frontend's */
    if (!body) {
        if (s->up.c)
            file = errorfile_find(s->up.c->errorfiles, s->up.c->nerrorfiles, status);
        if (!file)
            file = errorfile_find(s->l->errorfiles, s->l->nerrorfiles, status);
        if (file && file->close)
            close = true;
    }
    {
        struct http_local_reply r = {
            .status = status,
            .reason = reason,
            .close = close,
            .error_header = error_header(s),
            .head_only = s->head_ok && s->req.method == HTTP_M_HEAD,
            .content_type = ctype,
            .body = body,
            .body_len = body_len,
            .hdrs = s->reply_hdrs,
            .nhdrs = s->nreply_hdrs,
            .file = file,
        };
        n = s->down->reply(s, &r);
    }
    if (n > 0)
        s->bytes_out += (uint64_t)n;
    s->status = status;
    s->st = ST_REPLY;
}

void stream_local_reply(struct stream *s, int reason, uint16_t status, bool close)
{
    if (s->resp_head) {
        /* too late for a reply: the client has part of a response */
        stream_abort(s, reason);
        return;
    }
    local_reply(s, reason, status, close, NULL, NULL, 0);
}

void stream_abort(struct stream *s, int reason)
{
    stream_fail(s, reason);
    s->abort_client = true;
    s->down->abort(s, reason); /* ends the stream first */
}

/* ---- the end ---------------------------------------------------------------------- */

/* HAProxy's first termination letter: who or what ended the stream. */
static char who_of(int reason)
{
    switch (reason) {
    case TERN_R_NONE: return '-';
    case HTTP_R_CLIENT_ABORT: return 'C';
    case HTTP_R_CLIENT_TIMEOUT:
    case TERN_R_REQUEST_TIMEOUT:
    case HTTP_R_DEADLINE_EXCEEDED: return 'c';
    case TERN_R_NO_HEALTHY_UPSTREAM:
    case TERN_R_QUEUE_FULL:
    case TERN_R_CONNECT_FAILURE:
    case TERN_R_UPSTREAM_RESET_BEFORE_HEADERS:
    case TERN_R_UPSTREAM_RESET_AFTER_HEADERS: return 'S';
    case TERN_R_QUEUE_TIMEOUT:
    case TERN_R_CONNECT_TIMEOUT:
    case TERN_R_UPSTREAM_TIMEOUT: return 's';
    case TERN_R_RATE_LIMITED:
    case TERN_R_LOCAL_RESPONSE: return 'R';
    case HTTP_R_KILLED: return 'K';
    default: return 'P'; /* tern refused: bad request, denied, bad response */
    }
}

/*
 * The stream's facts for filters (filter_info, stream_done) and for the
 * built-in log line, which is written from them. `end`: the stream is ending,
 * take the connection counts too (a few shared atomics, not worth reading on
 * every filter_info).
 */
static void fill_info(struct stream *s, uint64_t now, bool end)
{
    struct filter_stream_info *i = &s->info;
    struct cluster *cl = s->up.c;
    struct endpoint *ep = s->uc && s->uc->ep ? s->uc->ep : s->up.ep;

    i->listener = s->l->name;
    i->cluster = cl ? cl->name : NULL;
    i->endpoint = ep ? ep->name : NULL;
    i->client = (const struct sockaddr *)s->peer;
    i->version = s->head_ok ? s->req.version : s->h2c ? 20 : 11;
    i->status = s->status;
    i->reason = s->reason < TERN_R__COUNT ? (enum tern_reason)s->reason : TERN_R_NONE;
    i->reason_name = http_reason_name(s->reason);
    i->start_us = s->start_us;
    i->duration_us = (now - s->t_start) * 1000u;
    i->bytes_in = s->bytes_in;
    i->bytes_out = s->bytes_out;
    i->attempts = s->attempt + s->up.retries_done + (s->reuse_retried ? 1u : 0u);
    i->request = s->head_ok ? &s->req : NULL;
    i->response = NULL; /* forwarded heads are not kept (see stream.c) */
    i->tls = s->tls != NULL;
    i->peer_id = s->tls ? s->tls->peer.spiffe_id : NULL;

    i->t_request = s->head_ok ? (int64_t)(s->t_head - s->t_start) : -1;
    if (s->up.queued)
        i->t_queue = (int64_t)(now - s->up.queue_start_ms);
    else if (s->up.queue_start_ms || s->up.ep || s->uc || s->t_connect >= 0)
        i->t_queue = (int64_t)s->up.queue_ms;
    else
        i->t_queue = -1;
    i->t_connect = s->t_connect;
    i->t_response = s->t_resp && s->t_sent ? (int64_t)(s->t_resp - s->t_sent) : -1;
    i->t_active = (int64_t)(now - s->t_start);
    i->termination[0] = who_of(s->reason);
    i->termination[1] = s->reason == TERN_R_NONE ? '-'
                        : s->fail_phase          ? s->fail_phase
                                                 : phase_of(s);
    i->termination[2] = '-';
    i->termination[3] = '-';
    i->termination[4] = 0;
    i->retries = s->up.retries_done + s->attempt - 1; /* connect and filter retries */
    if (end) {
        i->actconn = workers_active_conns();
        i->feconn = atomic_load_explicit(&s->l->cur_conns, memory_order_relaxed);
        i->beconn = cl ? counter_get(&cl->stats[s->w->id].cur_conns) : 0;
        i->srv_conn = ep ? atomic_load_explicit(&ep->cur_conns, memory_order_relaxed) : 0;
        i->srv_queue = 0;
        i->backend_queue = cl ? cl->worker[s->w->id].queue_len : 0;
    } else {
        i->actconn = i->beconn = 0;
        i->feconn = i->srv_conn = i->srv_queue = i->backend_queue = 0;
    }
}

#define LOG_URI_MAX 1024

/* The built-in line: HAProxy's httplog fields plus the reason, all read from
 * s->info (fill_info at the end of the stream). */
static void stream_log(struct stream *s)
{
    const struct filter_stream_info *i = &s->info;
    struct worker *w = s->w;
    char addr[80], reqline[LOG_URI_MAX + 64];
    time_t secs = (time_t)(i->start_us / 1000000u);

    if (!s->l->access_log)
        return;
    if (i->request) {
        /* the target: path[?query], or the authority of a CONNECT */
        const struct http_msg *r = i->request;
        struct http_str path = r->path.p ? r->path : r->authority;
        uint32_t plen = path.len, qlen = r->query.p ? r->query.len : 0;
        if (plen > LOG_URI_MAX)
            plen = LOG_URI_MAX;
        if (qlen > LOG_URI_MAX - plen)
            qlen = LOG_URI_MAX - plen;
        snprintf(reqline, sizeof(reqline), "%.*s %.*s%s%.*s HTTP/%s",
                 (int)(r->method_str.len > 32 ? 32 : r->method_str.len), r->method_str.p,
                 (int)plen, path.p ? path.p : "", r->query.p ? "?" : "", (int)qlen,
                 r->query.p ? r->query.p : "",
                 r->version == 20 ? "2.0" : r->version == 10 ? "1.0" : "1.1");
    } else {
        snprintf(reqline, sizeof(reqline), "<BADREQ>");
    }
    accesslog_printf(
        &w->alog,
        "%s [%s.%03u] %s %s/%s %lld/%lld/%lld/%lld/%lld %d %llu - - %s %llu/%u/%llu/%u/%u "
        "%u/%u \"%s\" reason=%s%s%s",
        tern_format_addr(i->client, addr, sizeof(addr)), accesslog_date(&w->alog, secs),
        (unsigned)(i->start_us / 1000u % 1000u), i->listener,
        i->cluster ? i->cluster : "<NOSRV>", i->endpoint ? i->endpoint : "<NOSRV>",
        (long long)i->t_request, (long long)i->t_queue, (long long)i->t_connect,
        (long long)i->t_response, (long long)i->t_active, i->status ? (int)i->status : -1,
        (unsigned long long)i->bytes_out, i->termination, (unsigned long long)i->actconn,
        i->feconn, (unsigned long long)i->beconn, i->srv_conn, i->retries, i->srv_queue,
        i->backend_queue, reqline, i->reason_name, i->tls ? " peer=" : "",
        i->tls ? (i->peer_id ? i->peer_id : "-") : "");
}

static void count(struct stream *s)
{
    struct listener_stats *ls = stream_lst(s);

    counter_add(&ls->http_requests, 1);
    if (s->status) {
        unsigned cls = s->status / 100;
        counter_add(&ls->http_responses[cls >= 1 && cls <= 5 ? cls : 0], 1);
    }
    if (s->reason != TERN_R_NONE && s->reason != TERN_R_LOCAL_RESPONSE &&
        s->reason < MODEL_HTTP_REASONS)
        counter_add(&ls->http_errors[s->reason], 1);
}

void stream_end(struct stream *s)
{
    struct worker *w = s->w;
    uint64_t now = now_ms(s);

    if (s->st == ST_DONE)
        return;
    fill_info(s, now, true);
    for (uint32_t i = 0; i < s->nfilters; i++)
        if (s->fs[i].timer)
            event_del(s->fs[i].timer);
    for (uint32_t i = 0; i < s->nfilters; i++) {
        struct filter_stream *fs = &s->fs[i];
        if ((fs->saw || fs->ops->every_stream) && fs->ops->stream_done)
            fs->ops->stream_done(fs, fs->state, &s->info);
    }
    stream_log(s);
    count(s);
    s->st = ST_DONE;

    /* The upstream connection: back to the pool when both directions ended
     * cleanly and the server keeps it, else closed. */
    if (s->uc) {
        struct up_conn *uc = s->uc;
        bool keep = s->resp_done && s->req_done && s->req_fwd == 0 && s->req_head &&
                    s->req_head_sent == s->req_head->len && s->replay_sent == s->replay_len &&
                    s->resp_fwd == 0 &&
                    (!uc->ibuf || uc->ibuf->len == 0) && !s->server_close &&
                    s->resp_body != H1_BODY_UNTIL_CLOSE &&
                    h1_response_keep_alive(&s->h1, (enum h1_method)s->req.method) &&
                    s->reason == TERN_R_NONE;
        s->uc = NULL;
        uc->s = NULL;
        upstream_release_conn(uc, s->cc, keep);
    }
    upstream_unqueue(&s->up);
    if (s->up.c)
        counter_add(&s->up.c->stats[w->id].cur_conns, (uint64_t)-1);
    upstream_release(&s->up);
    if (s->req_head) {
        buf_put(&w->pool, s->req_head);
        s->req_head = NULL;
    }
    s->down->ended(s, now);
    stream_free(s);
}

/* ---- the filter API (filters/filter.h) ------------------------------------------ */

const void *filter_config(const struct filter_stream *fs)
{
    return fs->cfg;
}

void filter_resume(struct filter_stream *fs)
{
    struct stream *s = fs->s;

    if (chain_over(s))
        return;
    if (s->st == ST_ROUTING && s->req_next == fs->idx) {
        s->req_next++;
        run_request_headers(s);
    } else if (s->resp_held && s->resp_next == fs->idx + 1) {
        s->resp_next--;
        run_response_headers(s);
    } else if (s->req_hold.held && s->req_hold.next == fs->idx) {
        if (run_data(s, true, fs->idx + 1))
            upstream_req_data_released(s);
    } else if (s->resp_hold.held && s->resp_hold.next == fs->idx) {
        if (run_data(s, false, (int64_t)fs->idx - 1))
            upstream_resp_data_released(s);
    } else {
        return;
    }
    s->down->kick(s);
}

void filter_local_reply(struct filter_stream *fs, uint16_t status, const char *content_type,
                        const char *body, size_t body_len, enum tern_reason reason)
{
    struct stream *s = fs->s;

    if (chain_over(s))
        return;
    if (s->resp_head) {
        stream_abort(s, reason);
        return;
    }
    local_reply(s, reason, status, false, content_type, body, body_len);
    s->down->kick(s);
}

int filter_reply_header(struct filter_stream *fs, const char *name, const char *value)
{
    struct stream *s = fs->s;
    uint32_t max = s->hw->maxhdr;
    size_t nl = strlen(name), vl = strlen(value);

    if (s->t_resp && !s->resp_head) /* inside a response hook: the response */
        return http_msg_add(&s->resp, name, nl, value, vl, max + HTTP_SPARE_HDRS);
    /* else the local reply about to be built */
    if (s->nreply_hdrs >= max)
        return -1;
    if (s->nreply_hdrs == s->reply_cap) {
        uint32_t cap = s->reply_cap ? s->reply_cap * 2 : 4;
        struct http_hdr *n = arena_alloc(&s->arena, cap * sizeof(*n));
        if (s->nreply_hdrs)
            memcpy(n, s->reply_hdrs, s->nreply_hdrs * sizeof(*n));
        s->reply_hdrs = n;
        s->reply_cap = cap;
    }
    s->reply_hdrs[s->nreply_hdrs].name = (struct http_str){arena_strndup(&s->arena, name, nl),
                                                           (uint32_t)nl};
    s->reply_hdrs[s->nreply_hdrs].value = (struct http_str){arena_strndup(&s->arena, value, vl),
                                                            (uint32_t)vl};
    s->nreply_hdrs++;
    return 0;
}

void filter_reset(struct filter_stream *fs, enum tern_reason reason)
{
    struct stream *s = fs->s;

    if (!chain_over(s))
        stream_abort(s, reason);
}

void filter_buffer_request_body(struct filter_stream *fs, size_t max_bytes)
{
    struct stream *s = fs->s;

    if (s->req_body_started)
        return; /* too late: bytes already left without a copy */
    if (max_bytes > UINT32_MAX / 2)
        max_bytes = UINT32_MAX / 2;
    if (max_bytes > s->replay_max)
        s->replay_max = (uint32_t)max_bytes;
}

void filter_set_attempt_timeout(struct filter_stream *fs, uint32_t ms)
{
    fs->s->try_timeout_ms = ms;
}

static void filter_timer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct filter_stream *fs = arg;
    struct stream *s = fs->s;

    if (chain_over(s) || !fs->timer_cb)
        return;
    fs->timer_cb(fs, fs->state);
    if (s->st != ST_DONE)
        s->down->run(s);
}

void filter_timer_start(struct filter_stream *fs, uint32_t ms,
                        void (*cb)(struct filter_stream *fs, void *state))
{
    struct stream *s = fs->s;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

    if (chain_over(s))
        return;
    if (!fs->timer) {
        fs->timer = arena_alloc(&s->arena, sizeof(*fs->timer));
        evtimer_assign(fs->timer, s->w->base, filter_timer_fire, fs);
    }
    fs->timer_cb = cb;
    evtimer_add(fs->timer, &tv);
}

void filter_timer_cancel(struct filter_stream *fs)
{
    if (fs->timer)
        event_del(fs->timer);
}

void *filter_alloc(struct filter_stream *fs, size_t n)
{
    return arena_alloc(&fs->s->arena, n);
}

const struct filter_stream_info *filter_info(const struct filter_stream *fs)
{
    struct stream *s = fs->s;
    fill_info(s, now_ms(s), false);
    return &s->info;
}

uint64_t filter_now_us(const struct filter_stream *fs)
{
    return wall_us(fs->s->w);
}

uint32_t filter_worker(const struct filter_stream *fs)
{
    return fs->s->w->id;
}

uint32_t filter_nworkers(void)
{
    return workers_count();
}
