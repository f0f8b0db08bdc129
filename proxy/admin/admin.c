/*
 * admin.c: the admin HTTP listener (see admin.h). The socket is made here
 * (so IPv6, SO_REUSEADDR and bind errors are ours to report) and handed to
 * evhttp. One generic callback routes by path; the pages themselves are
 * rendered by prometheus.c and clusters_json.c into the reply's evbuffer.
 * evhttp is told to let every method through so that a known path with a
 * wrong method gets our 405 rather than evhttp's 501/405 without Allow.
 */
#include "proxy/admin/admin.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "proxy/admin/clusters_json.h"
#include "proxy/admin/json_writer.h"
#include "proxy/admin/prometheus.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/main/process.h"
#include "proxy/model/model.h"
#include "proxy/model/model_types.h"
#include "proxy/worker/worker.h"

#define ADMIN_TIMEOUT_S 10
#define ADMIN_MAX_HEADERS 16384
#define ADMIN_MAX_BODY 65536

static struct {
    struct evhttp *http;
    struct evconnlistener *listener; /* owned by http once bound */
    struct event *resume;            /* re-enables the listener after EMFILE */
    uint64_t last_error_log_ms;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} admin;

#define ACCEPT_BACKOFF_MS 100

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    if (admin.listener)
        evconnlistener_enable(admin.listener);
}

/* accept(2) failed: most likely out of descriptors. Pause, then try again. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    uint64_t now = tern_now_ms();
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};

    if (now - admin.last_error_log_ms >= 1000) {
        admin.last_error_log_ms = now;
        log_warn("admin: accept paused: %s", evutil_socket_error_to_string(e));
    }
    evconnlistener_disable(l);
    evtimer_add(admin.resume, &tv);
}

static void reply(struct evhttp_request *req, int code, const char *reason,
                  const char *content_type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Server", "tern");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Content-Type", content_type);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* evhttp would send the body: announce its length, send none. */
        char len[32];
        snprintf(len, sizeof(len), "%zu", body ? evbuffer_get_length(body) : 0);
        evhttp_add_header(h, "Content-Length", len);
        evhttp_send_reply(req, code, reason, NULL);
        return;
    }
    evhttp_send_reply(req, code, reason, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *text)
{
    struct evbuffer *body = evbuffer_new();

    evbuffer_add(body, text, strlen(text));
    reply(req, code, reason, "text/plain; charset=utf-8", body);
    evbuffer_free(body);
}

static void page_ready(struct evhttp_request *req)
{
    char detail[1024], text[1100];

    switch (tern_proc.state) {
    case PROC_READY:
        if (tern_proc.xds) {
            bool ok = tern_proc.xds->ready(detail, sizeof(detail));
            snprintf(text, sizeof(text), "%s\n%s\n", ok ? "ready" : "starting", detail);
            reply_text(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", text);
            return;
        }
        reply_text(req, 200, "OK", "ready\n");
        return;
    case PROC_DRAINING:
        reply_text(req, 503, "Service Unavailable", "draining\n");
        return;
    case PROC_STARTING:
        break;
    }
    reply_text(req, 503, "Service Unavailable", "starting\n");
}

static void gather_process(struct prometheus_process *p)
{
    uint32_t n = workers_count();
    struct timespec now;

    memset(p, 0, sizeof(*p));
    p->uptime_seconds = (double)(tern_now_ms() - tern_proc.start_ms) / 1000.0;
    p->start_time_seconds = (double)tern_proc.start_wall;
    if (clock_gettime(CLOCK_REALTIME, &now) == 0 && tern_proc.start_wall == 0)
        p->start_time_seconds = (double)now.tv_sec - p->uptime_seconds;
    p->workers = n;
    for (uint32_t w = 0; w < n; w++) {
        const struct worker_stats *ws = workers_stats(w);
        if (!ws)
            continue;
        p->cur_conns += (int64_t)counter_get(&ws->cur_conns);
        p->conns_total += counter_get(&ws->conns_total);
        p->accept_paused += counter_get(&ws->accept_paused);
        p->log_dropped += counter_get(&ws->log_dropped);
        p->queue_full += counter_get(&ws->queue_full);
    }
}

static void page_prometheus(struct evhttp_request *req)
{
    struct evbuffer *body = evbuffer_new();
    struct prometheus_process proc;

    gather_process(&proc);
    prometheus_render(body, tern_proc.snap, &proc);
    if (tern_proc.xds)
        tern_proc.xds->metrics(body);
    reply(req, 200, "OK", PROMETHEUS_CONTENT_TYPE, body);
    evbuffer_free(body);
}

static void page_clusters(struct evhttp_request *req)
{
    struct evbuffer *body = evbuffer_new();

    clusters_json_render(body, tern_proc.snap);
    reply(req, 200, "OK", "application/json", body);
    evbuffer_free(body);
}

/* The xDS client's view (resources, versions, NACKs, connection); without
 * an xds section, a document saying so. */
static void page_config_dump(struct evhttp_request *req)
{
    struct evbuffer *body = evbuffer_new();

    if (tern_proc.xds)
        tern_proc.xds->config_dump(body);
    else
        evbuffer_add_printf(body, "{\"xds\":null}\n");
    reply(req, 200, "OK", "application/json", body);
    evbuffer_free(body);
}

/* ---- POST /servers/<backend>/<server>?state=ready|drain|maint&weight=N[%] ---------- */

/* HAProxy's "set server <b>/<s> state" and "set server <b>/<s> weight": drain
 * and maint take the server out of new picks, maint also pauses its checks; a
 * weight (0..256, or a percentage of the configured one) applies to new
 * picks. Either change makes a new host set, published like a health change.
 * Answers the server's state as JSON. */

/* "N" (0..256) or "N%" of `configured`; -1 when invalid. */
static long parse_weight(const char *s, uint32_t configured)
{
    char *end;
    long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    v = strtol(s, &end, 10);
    if (end - s > 6)
        return -1;
    if (*end == '%' && end[1] == 0)
        v = v * (long)configured / 100;
    else if (*end)
        return -1;
    return v <= 256 ? v : -1;
}

static void post_server_state(struct evhttp_request *req, const char *path, size_t plen)
{
    const char *rest = path + sizeof("/servers/") - 1, *slash, *want, *wstr;
    char enc[256], bname[256], sname[256], text[768], err[256];
    char *dec;
    struct evkeyvalq q;
    struct cluster *c;
    struct endpoint *ep;
    size_t blen, slen;
    int st = -1, old;
    long weight = -1;
    uint32_t old_rt;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reply_text(req, 405, "Method Not Allowed", "method not allowed (POST)\n");
        return;
    }
    slash = memchr(rest, '/', plen - (size_t)(rest - path));
    blen = slash ? (size_t)(slash - rest) : 0;
    slen = slash ? plen - (size_t)(slash + 1 - path) : 0;
    if (!slash || !blen || !slen || blen >= sizeof(bname) || slen >= sizeof(sname) ||
        memchr(slash + 1, '/', slen)) {
        reply_text(req, 404, "Not Found", "usage: POST /servers/<backend>/<server>?state="
                                          "ready|drain|maint\n");
        return;
    }
    /* names may be percent-encoded (xDS cluster names such as "outbound|api") */
    memcpy(enc, rest, blen);
    enc[blen] = 0;
    dec = evhttp_uridecode(enc, 0, NULL);
    snprintf(bname, sizeof(bname), "%s", dec ? dec : "");
    free(dec);
    memcpy(enc, slash + 1, slen);
    enc[slen] = 0;
    dec = evhttp_uridecode(enc, 0, NULL);
    snprintf(sname, sizeof(sname), "%s", dec ? dec : "");
    free(dec);
    c = snapshot_find_cluster(tern_proc.snap, bname);
    ep = c ? cluster_find_endpoint(c, sname) : NULL;
    if (!ep) {
        snprintf(text, sizeof(text), c ? "no server '%s' in backend '%s'\n" : "no backend '%s'\n",
                 c ? sname : bname, bname);
        reply_text(req, 404, "Not Found", text);
        return;
    }
    TAILQ_INIT(&q);
    want = wstr = NULL;
    if (evhttp_parse_query_str(path[plen] == '?' ? path + plen + 1 : "", &q) == 0) {
        want = evhttp_find_header(&q, "state");
        wstr = evhttp_find_header(&q, "weight");
    }
    for (int i = ENDPOINT_READY; want && i <= ENDPOINT_MAINT; i++)
        if (strcmp(want, endpoint_admin_state_name(i)) == 0)
            st = i;
    if (wstr)
        weight = parse_weight(wstr, ep->weight);
    evhttp_clear_headers(&q);
    if ((want && st < 0) || (!want && !wstr)) {
        reply_text(req, 400, "Bad Request", "state must be ready, drain or maint "
                                            "(POST /servers/<backend>/<server>?state=...&"
                                            "weight=...)\n");
        return;
    }
    if (wstr && weight < 0) {
        reply_text(req, 400, "Bad Request", "weight must be 0 to 256, or a percentage of the "
                                            "configured weight (50%)\n");
        return;
    }
    if (st < 0)
        st = atomic_load(&ep->admin_state);
    old = atomic_exchange(&ep->admin_state, st);
    old_rt = weight >= 0 ? atomic_exchange(&ep->rt_weight, (uint32_t)weight + 1)
                         : atomic_load(&ep->rt_weight);
    if (old != st || endpoint_weight(ep) != (old_rt ? old_rt - 1 : ep->weight)) {
        if (!cluster_rebuild_hosts(c, tern_proc.nworkers, err, sizeof(err))) {
            atomic_store(&ep->admin_state, old);
            atomic_store(&ep->rt_weight, old_rt);
            snprintf(text, sizeof(text), "cannot rebuild the host set of '%s': %s\n", bname, err);
            reply_text(req, 500, "Internal Server Error", text);
            return;
        }
        workers_publish_hosts(c);
        if (old != st)
            log_notice("Server %s/%s is %s (admin API, was %s).", bname, sname,
                       st == ENDPOINT_MAINT ? "going into maintenance"
                       : st == ENDPOINT_DRAIN ? "draining: no new connections"
                                              : "ready",
                       endpoint_admin_state_name(old));
        if (weight >= 0)
            log_notice("Server %s/%s weight is now %ld (admin API, configured %u).", bname,
                       sname, weight, ep->weight);
    }
    {
        struct evbuffer *body = evbuffer_new();
        struct json_writer w;

        json_init(&w, body);
        json_object_begin(&w);
        json_key(&w, "backend");
        json_string(&w, bname);
        json_key(&w, "server");
        json_string(&w, sname);
        json_key(&w, "state");
        json_string(&w, endpoint_admin_state_name(st));
        json_key(&w, "weight");
        json_uint(&w, endpoint_weight(ep));
        json_key(&w, "configured_weight");
        json_uint(&w, ep->weight);
        json_key(&w, "up");
        json_bool(&w, atomic_load(&ep->up) && !ep->disabled);
        json_object_end(&w);
        evbuffer_add(body, "\n", 1);
        reply(req, 200, "OK", "application/json", body);
        evbuffer_free(body);
    }
}

static const struct {
    const char *path;
    void (*page)(struct evhttp_request *req);
} routes[] = {
    {"/ready", page_ready},
    {"/stats/prometheus", page_prometheus},
    {"/clusters", page_clusters},
    {"/config_dump", page_config_dump},
};

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    size_t plen = strcspn(uri, "?#");

    if (plen > sizeof("/servers/") - 1 && memcmp(uri, "/servers/", sizeof("/servers/") - 1) == 0) {
        post_server_state(req, uri, plen);
        return;
    }
    for (size_t i = 0; i < TERN_ARRAY_SIZE(routes); i++) {
        if (strlen(routes[i].path) != plen || memcmp(routes[i].path, uri, plen) != 0)
            continue;
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
            reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
            return;
        }
        routes[i].page(req);
        return;
    }
    reply_text(req, 404, "Not Found", "not found\n");
}

int admin_start(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen,
                char *err, size_t errlen)
{
    char name[80];
    int one = 1;
    int fd;

    if (admin.http) {
        snprintf(err, errlen, "admin API already started");
        return -1;
    }
    tern_format_addr(addr, name, sizeof(name));
    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "admin %s: socket: %s", name, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, addr, addrlen) < 0) {
        snprintf(err, errlen, "admin %s: cannot bind: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 128) < 0) {
        snprintf(err, errlen, "admin %s: cannot listen: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    admin.addrlen = sizeof(admin.addr);
    if (getsockname(fd, (struct sockaddr *)&admin.addr, &admin.addrlen) < 0)
        admin.addrlen = 0;
    else
        tern_format_addr((const struct sockaddr *)&admin.addr, name, sizeof(name));

    admin.http = evhttp_new(base);
    if (!admin.http)
        tern_panic(__FILE__, __LINE__, "evhttp_new failed");
    evhttp_set_allowed_methods(admin.http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(admin.http, ADMIN_TIMEOUT_S);
    evhttp_set_max_headers_size(admin.http, ADMIN_MAX_HEADERS);
    evhttp_set_max_body_size(admin.http, ADMIN_MAX_BODY);
    evhttp_set_gencb(admin.http, on_request, NULL);
    /* Our own listener rather than evhttp's: on EMFILE evhttp's logs and
     * retries at once (the socket stays readable), spinning the main thread.
     * Ours pauses accepting for a moment, counted and logged once. */
    admin.listener = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (!admin.listener) {
        snprintf(err, errlen, "admin %s: cannot accept on the socket", name);
        evhttp_free(admin.http);
        admin.http = NULL;
        close(fd);
        return -1;
    }
    evconnlistener_set_error_cb(admin.listener, on_accept_error);
    admin.resume = evtimer_new(base, on_resume, NULL);
    if (!evhttp_bind_listener(admin.http, admin.listener)) {
        snprintf(err, errlen, "admin %s: cannot serve HTTP on the socket", name);
        evconnlistener_free(admin.listener);
        event_free(admin.resume);
        evhttp_free(admin.http);
        memset(&admin, 0, sizeof(admin));
        return -1;
    }
    log_info("admin API listening on %s", name);
    return 0;
}

int admin_local_addr(struct sockaddr_storage *out, socklen_t *outlen)
{
    if (!admin.http || admin.addrlen == 0)
        return -1;
    memcpy(out, &admin.addr, admin.addrlen);
    *outlen = admin.addrlen;
    return 0;
}

void admin_stop(void)
{
    if (!admin.http)
        return;
    /* evhttp_free closes the bound listener (and its socket) and every open
     * connection. */
    evhttp_free(admin.http);
    if (admin.resume)
        event_free(admin.resume);
    memset(&admin, 0, sizeof(admin));
}
