/*
 * prometheus.c: the /stats/prometheus page (see prometheus.h).
 *
 * The families that are plain sums of one per-worker counter are tables of
 * (name, help, type, offset into the stats slot); the loop that renders a
 * table is the same for frontends, backends and servers, with a small
 * per-scope "label writer". Families computed from other runtime fields
 * (server up, weight, check counters, backend servers up) are written by
 * hand below the tables. Families are grouped (all samples of a family
 * follow its HELP/TYPE lines), as the format requires.
 */
#include "proxy/admin/prometheus.h"

#include "proxy/tls/tls_conf.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/network_filter.h"
#include "proxy/codec/h1.h"
#include "proxy/core/util.h"
#include "proxy/http/http_reason.h"
#include "proxy/model/model_types.h"

enum metric_type {
    METRIC_COUNTER = 0,
    METRIC_GAUGE,
};

struct family {
    const char *name;
    const char *help;
    enum metric_type type;
    size_t off; /* of the struct counter in the stats slot */
};

#define C(field) offsetof(struct listener_stats, field)
static const struct family frontend_families[] = {
    {"tern_frontend_current_connections", "Client connections open on the frontend.",
     METRIC_GAUGE, C(cur_conns)},
    {"tern_frontend_connections_total", "Client connections accepted by the frontend.",
     METRIC_COUNTER, C(conns_total)},
    {"tern_frontend_bytes_in_total", "Bytes received from clients.", METRIC_COUNTER,
     C(bytes_in)},
    {"tern_frontend_bytes_out_total", "Bytes sent to clients.", METRIC_COUNTER, C(bytes_out)},
    {"tern_frontend_denied_connections_total",
     "Client connections refused because the frontend was at maxconn.", METRIC_COUNTER,
     C(denied_conns)},
    {"tern_frontend_accept_errors_total", "Failed accept() calls on the frontend's sockets.",
     METRIC_COUNTER, C(accept_errors)},
};
#undef C

#define C(field) offsetof(struct cluster_stats, field)
static const struct family backend_families[] = {
    {"tern_backend_current_connections", "Connections to the backend's servers open now.",
     METRIC_GAUGE, C(cur_conns)},
    {"tern_backend_connections_total", "Connections the backend sent to a server.",
     METRIC_COUNTER, C(conns_total)},
    {"tern_backend_bytes_in_total", "Bytes received from the backend's servers.",
     METRIC_COUNTER, C(bytes_in)},
    {"tern_backend_bytes_out_total", "Bytes sent to the backend's servers.", METRIC_COUNTER,
     C(bytes_out)},
    {"tern_backend_connect_errors_total", "Failed connection attempts to the backend's servers.",
     METRIC_COUNTER, C(connect_errors)},
    {"tern_backend_retries_total", "Connection attempts retried after a failure.",
     METRIC_COUNTER, C(retries)},
    {"tern_backend_redispatches_total", "Retries sent to another server (option redispatch).",
     METRIC_COUNTER, C(redispatches)},
    {"tern_backend_no_server_total", "Connections refused because no server was usable.",
     METRIC_COUNTER, C(no_server)},
    {"tern_backend_queue_timeouts_total", "Queued connections dropped at timeout queue.",
     METRIC_COUNTER, C(queue_timeouts)},
    {"tern_backend_queue_full_total", "Connections refused because the queue was full.",
     METRIC_COUNTER, C(queue_full)},
    {"tern_backend_current_queue", "Connections waiting in the backend's queue.", METRIC_GAUGE,
     C(cur_queued)},
};
#undef C

#define C(field) offsetof(struct endpoint_stats, field)
static const struct family server_families[] = {
    {"tern_server_current_connections", "Connections to the server open now.", METRIC_GAUGE,
     C(cur_conns)},
    {"tern_server_connections_total", "Connections established or attempted to the server.",
     METRIC_COUNTER, C(conns_total)},
    {"tern_server_bytes_in_total", "Bytes received from the server.", METRIC_COUNTER,
     C(bytes_in)},
    {"tern_server_bytes_out_total", "Bytes sent to the server.", METRIC_COUNTER, C(bytes_out)},
    {"tern_server_connect_errors_total", "Failed connection attempts to the server.",
     METRIC_COUNTER, C(connect_errors)},
    {"tern_server_retries_total", "Connection attempts to the server that were retried.",
     METRIC_COUNTER, C(retries)},
    {"tern_server_lb_selected_total", "Times the load balancer chose the server.",
     METRIC_COUNTER, C(lb_selected)},
};
#undef C

void prometheus_escape_label(struct evbuffer *out, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *esc;
        switch (*s) {
        case '\\': esc = "\\\\"; break;
        case '"': esc = "\\\""; break;
        case '\n': esc = "\\n"; break;
        default: continue;
        }
        if (s > run)
            evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, esc, 2);
        run = s + 1;
    }
    if (s > run)
        evbuffer_add(out, run, (size_t)(s - run));
}

static void header(struct evbuffer *out, const char *name, const char *help,
                   enum metric_type type)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        type == METRIC_GAUGE ? "gauge" : "counter");
}

static void labels_proxy(struct evbuffer *out, const char *proxy)
{
    evbuffer_add(out, "{proxy=\"", 8);
    prometheus_escape_label(out, proxy);
    evbuffer_add(out, "\"}", 2);
}

static void labels_server(struct evbuffer *out, const struct endpoint *ep, const char *extra_key,
                          const char *extra_val)
{
    evbuffer_add(out, "{proxy=\"", 8);
    prometheus_escape_label(out, ep->cluster->name);
    evbuffer_add(out, "\",server=\"", 10);
    prometheus_escape_label(out, ep->name);
    evbuffer_add(out, "\"", 1);
    if (extra_key) {
        evbuffer_add_printf(out, ",%s=\"", extra_key);
        prometheus_escape_label(out, extra_val);
        evbuffer_add(out, "\"", 1);
    }
    evbuffer_add(out, "}", 1);
}

static void value(struct evbuffer *out, enum metric_type type, uint64_t v)
{
    if (type == METRIC_GAUGE)
        evbuffer_add_printf(out, " %" PRId64 "\n", (int64_t)v);
    else
        evbuffer_add_printf(out, " %" PRIu64 "\n", v);
}

static void render_frontends(struct evbuffer *out, const struct snapshot *snap)
{
    for (size_t f = 0; f < TERN_ARRAY_SIZE(frontend_families); f++) {
        const struct family *fam = &frontend_families[f];
        header(out, fam->name, fam->help, fam->type);
        for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
            const struct listener *l = snap->listeners[i];
            evbuffer_add(out, fam->name, strlen(fam->name));
            labels_proxy(out, l->name);
            value(out, fam->type,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers, fam->off));
        }
    }
}

static void count_up(const struct cluster *c, uint64_t *active, uint64_t *backup)
{
    *active = *backup = 0;
    for (uint32_t i = 0; i < c->nendpoints; i++) {
        struct endpoint *ep = c->endpoints[i];
        if (ep->disabled || !atomic_load(&ep->up))
            continue;
        if (ep->backup)
            (*backup)++;
        else
            (*active)++;
    }
}

static void render_backends(struct evbuffer *out, const struct snapshot *snap)
{
    uint64_t active, backup;

    for (size_t f = 0; f < TERN_ARRAY_SIZE(backend_families); f++) {
        const struct family *fam = &backend_families[f];
        header(out, fam->name, fam->help, fam->type);
        for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
            const struct cluster *c = snap->clusters[i];
            evbuffer_add(out, fam->name, strlen(fam->name));
            labels_proxy(out, c->name);
            value(out, fam->type,
                  counter_sum(c->stats, sizeof(*c->stats), snap->nworkers, fam->off));
        }
    }
    header(out, "tern_backend_active_servers", "Non-backup servers of the backend that are up.",
           METRIC_GAUGE);
    for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
        count_up(snap->clusters[i], &active, &backup);
        evbuffer_add_printf(out, "tern_backend_active_servers");
        labels_proxy(out, snap->clusters[i]->name);
        value(out, METRIC_GAUGE, active);
    }
    header(out, "tern_backend_backup_servers", "Backup servers of the backend that are up.",
           METRIC_GAUGE);
    for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
        count_up(snap->clusters[i], &active, &backup);
        evbuffer_add_printf(out, "tern_backend_backup_servers");
        labels_proxy(out, snap->clusters[i]->name);
        value(out, METRIC_GAUGE, backup);
    }
}

/* Calls body(ep) for every server of the snapshot, in config order. */
#define FOR_EACH_SERVER(snap, ep)                                                         \
    for (uint32_t ci_ = 0; (snap) && ci_ < (snap)->nclusters; ci_++)                      \
        for (uint32_t ei_ = 0; ei_ < (snap)->clusters[ci_]->nendpoints; ei_++)            \
            for (const struct endpoint *ep = (snap)->clusters[ci_]->endpoints[ei_]; ep; ep = NULL)

static void server_sample(struct evbuffer *out, const char *name, const struct endpoint *ep,
                          enum metric_type type, uint64_t v)
{
    evbuffer_add(out, name, strlen(name));
    labels_server(out, ep, NULL, NULL);
    value(out, type, v);
}

static void render_servers(struct evbuffer *out, const struct snapshot *snap)
{
    for (size_t f = 0; f < TERN_ARRAY_SIZE(server_families); f++) {
        const struct family *fam = &server_families[f];
        header(out, fam->name, fam->help, fam->type);
        FOR_EACH_SERVER(snap, ep)
            server_sample(out, fam->name, ep, fam->type,
                          counter_sum(ep->stats, sizeof(*ep->stats), snap->nworkers, fam->off));
    }

    header(out, "tern_server_up",
           "1 when the server is up (health checks pass or are off) and enabled, else 0.",
           METRIC_GAUGE);
    FOR_EACH_SERVER(snap, ep)
        server_sample(out, "tern_server_up", ep, METRIC_GAUGE,
                      !ep->disabled && atomic_load(&((struct endpoint *)ep)->up) ? 1 : 0);

    header(out, "tern_server_admin_state",
           "What the admin API set: 0 ready, 1 drain, 2 maint (out of new picks when > 0).",
           METRIC_GAUGE);
    FOR_EACH_SERVER(snap, ep)
        server_sample(out, "tern_server_admin_state", ep, METRIC_GAUGE,
                      (uint64_t)atomic_load(&((struct endpoint *)ep)->admin_state));

    header(out, "tern_server_weight",
           "Weight of the server: the admin API's when set, else the configured one.",
           METRIC_GAUGE);
    FOR_EACH_SERVER(snap, ep)
        server_sample(out, "tern_server_weight", ep, METRIC_GAUGE, endpoint_weight(ep));

    header(out, "tern_server_checks_total", "Health checks run against the server.",
           METRIC_COUNTER);
    FOR_EACH_SERVER(snap, ep)
        server_sample(out, "tern_server_checks_total", ep, METRIC_COUNTER,
                      counter_get(&ep->hc.checks_total));

    header(out, "tern_server_check_failures_total", "Health checks of the server that failed.",
           METRIC_COUNTER);
    FOR_EACH_SERVER(snap, ep)
        server_sample(out, "tern_server_check_failures_total", ep, METRIC_COUNTER,
                      counter_get(&ep->hc.checks_failed));

    header(out, "tern_server_check_transitions_total",
           "Health state changes of the server, by the state entered.", METRIC_COUNTER);
    FOR_EACH_SERVER(snap, ep) {
        evbuffer_add_printf(out, "tern_server_check_transitions_total");
        labels_server(out, ep, "to", "down");
        value(out, METRIC_COUNTER, counter_get(&ep->hc.went_down));
        evbuffer_add_printf(out, "tern_server_check_transitions_total");
        labels_server(out, ep, "to", "up");
        value(out, METRIC_COUNTER, counter_get(&ep->hc.went_up));
    }
}

static void render_process(struct evbuffer *out, const struct prometheus_process *p)
{
    header(out, "tern_build_info", "tern's version, as a label; the value is always 1.",
           METRIC_GAUGE);
    evbuffer_add_printf(out, "tern_build_info{version=\"");
    prometheus_escape_label(out, TERN_VERSION);
    evbuffer_add_printf(out, "\"} 1\n");

    header(out, "tern_process_uptime_seconds", "Seconds since the process started.",
           METRIC_GAUGE);
    evbuffer_add_printf(out, "tern_process_uptime_seconds %.3f\n", p->uptime_seconds);
    header(out, "tern_process_start_time_seconds", "Start time of the process, in Unix time.",
           METRIC_GAUGE);
    evbuffer_add_printf(out, "tern_process_start_time_seconds %.3f\n", p->start_time_seconds);
    header(out, "tern_process_workers", "Worker threads.", METRIC_GAUGE);
    evbuffer_add_printf(out, "tern_process_workers %" PRIu32 "\n", p->workers);
    header(out, "tern_process_current_connections", "Client connections open on all workers.",
           METRIC_GAUGE);
    evbuffer_add_printf(out, "tern_process_current_connections %" PRId64 "\n", p->cur_conns);
    header(out, "tern_process_connections_total", "Client connections accepted on all workers.",
           METRIC_COUNTER);
    evbuffer_add_printf(out, "tern_process_connections_total %" PRIu64 "\n", p->conns_total);
    header(out, "tern_process_accept_paused_total",
           "Times accepting paused for lack of file descriptors.", METRIC_COUNTER);
    evbuffer_add_printf(out, "tern_process_accept_paused_total %" PRIu64 "\n", p->accept_paused);
    header(out, "tern_process_log_dropped_total",
           "Access-log lines dropped because the log could not keep up.", METRIC_COUNTER);
    evbuffer_add_printf(out, "tern_process_log_dropped_total %" PRIu64 "\n", p->log_dropped);
    header(out, "tern_process_queue_full_total",
           "Connections refused because a backend queue was full.", METRIC_COUNTER);
    evbuffer_add_printf(out, "tern_process_queue_full_total %" PRIu64 "\n", p->queue_full);
}

/* ---- mode http ------------------------------------------------------------ */

static void labels_proxy_kv(struct evbuffer *out, const char *proxy, const char *key,
                            const char *val)
{
    evbuffer_add(out, "{proxy=\"", 8);
    prometheus_escape_label(out, proxy);
    evbuffer_add_printf(out, "\",%s=\"", key);
    prometheus_escape_label(out, val);
    evbuffer_add(out, "\"}", 2);
}

#define LSUM(l, field)                                                                    \
    counter_sum((l)->stats, sizeof(*(l)->stats), snap->nworkers,                           \
              offsetof(struct listener_stats, field))

/* Per frontend in mode http: requests, responses by class, errors by reason
 * (tern_reason names), malformed requests by parser error. */
static void render_http_frontends(struct evbuffer *out, const struct snapshot *snap)
{
    static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

    header(out, "tern_http_requests_total", "HTTP requests received by the frontend.",
           METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (l->mode != PROXY_MODE_HTTP)
            continue;
        evbuffer_add_printf(out, "tern_http_requests_total");
        labels_proxy(out, l->name);
        value(out, METRIC_COUNTER, LSUM(l, http_requests));
    }
    header(out, "tern_http_responses_total",
           "HTTP responses sent by the frontend, by status class.", METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (l->mode != PROXY_MODE_HTTP)
            continue;
        for (int k = 1; k <= 6; k++) {
            int c = k % 6; /* 1xx..5xx, then other */
            evbuffer_add_printf(out, "tern_http_responses_total");
            labels_proxy_kv(out, l->name, "code", classes[c]);
            value(out, METRIC_COUNTER,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers,
                            offsetof(struct listener_stats, http_responses) +
                                (size_t)c * sizeof(struct counter)));
        }
    }
    header(out, "tern_http_errors_total",
           "HTTP requests that failed or got a local reply, by reason.", METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (l->mode != PROXY_MODE_HTTP)
            continue;
        for (int r = 1; r < HTTP_R__COUNT; r++) {
            if (r == TERN_R_LOCAL_RESPONSE)
                continue;
            evbuffer_add_printf(out, "tern_http_errors_total");
            labels_proxy_kv(out, l->name, "reason", http_reason_name(r));
            value(out, METRIC_COUNTER,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers,
                            offsetof(struct listener_stats, http_errors) +
                                (size_t)r * sizeof(struct counter)));
        }
    }
    header(out, "tern_http_bad_requests_total",
           "Malformed HTTP requests refused by the frontend, by parser error.", METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (l->mode != PROXY_MODE_HTTP)
            continue;
        for (int e = 2; e < H1_ERR_COUNT && e < MODEL_H1_ERRORS; e++) {
            if (-e == H1_ERR_STATUS_LINE)
                continue; /* responses only */
            evbuffer_add_printf(out, "tern_http_bad_requests_total");
            labels_proxy_kv(out, l->name, "reason", h1_err_name(-e));
            value(out, METRIC_COUNTER,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers,
                            offsetof(struct listener_stats, http_bad_requests) +
                                (size_t)e * sizeof(struct counter)));
        }
    }
}

static bool listener_h2(const struct listener *l)
{
    for (uint32_t b = 0; l->mode == PROXY_MODE_HTTP && b < l->nbinds; b++)
        if (l->binds[b].proto == BIND_PROTO_H2)
            return true;
    return false;
}

/* Per frontend with an HTTP/2 bind: connections, streams, resets each way,
 * GOAWAYs each way, window stalls, protocol errors. */
static void render_h2_frontends(struct evbuffer *out, const struct snapshot *snap)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"tern_h2_connections_total", "HTTP/2 client connections accepted.",
         offsetof(struct listener_stats, h2_conns)},
        {"tern_h2_streams_total", "HTTP/2 streams opened by clients.",
         offsetof(struct listener_stats, h2_streams)},
        {"tern_h2_rst_received_total", "RST_STREAM frames received from clients.",
         offsetof(struct listener_stats, h2_rst_recv)},
        {"tern_h2_rst_sent_total", "RST_STREAM frames sent to clients by tern.",
         offsetof(struct listener_stats, h2_rst_sent)},
        {"tern_h2_goaway_sent_total", "GOAWAY frames sent to clients.",
         offsetof(struct listener_stats, h2_goaway_sent)},
        {"tern_h2_goaway_received_total", "GOAWAY frames received from clients.",
         offsetof(struct listener_stats, h2_goaway_recv)},
        {"tern_h2_flow_stalls_total",
         "HTTP/2 streams reset because the client kept its window closed (timeout client).",
         offsetof(struct listener_stats, h2_flow_stalls)},
        {"tern_h2_protocol_errors_total", "Invalid frames and HTTP/2 connection errors.",
         offsetof(struct listener_stats, h2_protocol_errors)},
    };

    bool any = false;

    for (uint32_t i = 0; snap && i < snap->nlisteners; i++)
        any |= listener_h2(snap->listeners[i]);
    for (size_t f = 0; any && f < sizeof(fams) / sizeof(fams[0]); f++) {
        header(out, fams[f].name, fams[f].help, METRIC_COUNTER);
        for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
            const struct listener *l = snap->listeners[i];
            if (!listener_h2(l))
                continue;
            evbuffer_add_printf(out, "%s", fams[f].name);
            labels_proxy(out, l->name);
            value(out, METRIC_COUNTER,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers, fams[f].off));
        }
    }
}

static void render_http_backends(struct evbuffer *out, const struct snapshot *snap)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"tern_backend_http_requests_total", "HTTP requests routed to the backend.",
         offsetof(struct cluster_stats, http_requests)},
        {"tern_backend_http_connection_reuses_total",
         "HTTP requests sent on an idle server connection (http-reuse).",
         offsetof(struct cluster_stats, http_conn_reuses)},
        {"tern_backend_http_connection_retries_total",
         "HTTP requests sent again after a reused connection closed before answering.",
         offsetof(struct cluster_stats, http_conn_retries)},
    };
    for (size_t f = 0; f < TERN_ARRAY_SIZE(fams); f++) {
        header(out, fams[f].name, fams[f].help, METRIC_COUNTER);
        for (uint32_t i = 0; snap && i < snap->nclusters; i++) {
            const struct cluster *c = snap->clusters[i];
            if (c->mode != PROXY_MODE_HTTP)
                continue;
            evbuffer_add(out, fams[f].name, strlen(fams[f].name));
            labels_proxy(out, c->name);
            value(out, METRIC_COUNTER,
                  counter_sum(c->stats, sizeof(*c->stats), snap->nworkers, fams[f].off));
        }
    }
}

/* ---- filters ------------------------------------------------------------- */

/* The filter chains of a snapshot, in a fixed order: every listener's
 * (frontend side), then every cluster's (backend side). */
struct chain_ref {
    const char *proxy;
    const char *side; /* "frontend" | "backend" */
    const struct filter_instance *f;
    uint32_t n;
};

static uint32_t nchains(const struct snapshot *snap)
{
    return snap ? snap->nlisteners + snap->nclusters : 0;
}

static struct chain_ref chain_at(const struct snapshot *snap, uint32_t i)
{
    if (i < snap->nlisteners) {
        const struct listener *l = snap->listeners[i];
        return (struct chain_ref){l->name, "frontend", l->filters, l->nfilters};
    }
    {
        const struct cluster *c = snap->clusters[i - snap->nlisteners];
        return (struct chain_ref){c->name, "backend", c->filters, c->nfilters};
    }
}

/* Whether instance k of chain ci is the first of its ops in the snapshot:
 * its families are written when it is met. */
static bool first_of_ops(const struct snapshot *snap, uint32_t ci, uint32_t k)
{
    const struct http_filter_ops *ops = chain_at(snap, ci).f[k].ops;

    for (uint32_t i = 0; i <= ci; i++) {
        struct chain_ref c = chain_at(snap, i);
        for (uint32_t j = 0; j < c.n && (i < ci || j < k); j++)
            if (c.f[j].ops == ops)
                return false;
    }
    return true;
}

/*
 * Filter counters, HTTP and network alike: the samples of every instance of
 * one filter, gathered once, then written family by family (a family's
 * samples must be contiguous on the page), in the order families first
 * appear. An instance's labels are {proxy="<section>", chain="frontend|
 * backend|network", index="<position in that chain, from 0>"}, plus the
 * sample's own label when it has one (filter_metric.label_key).
 */
struct filter_sample {
    const char *proxy;
    const char *chain;
    uint32_t index;
    struct filter_metric m;
};

struct filter_samples {
    struct filter_sample *v;
    size_t n, cap;
};

/* Appends the samples of one instance. */
static void samples_add(struct filter_samples *ss, size_t (*metrics)(const void *, struct
                                                                     filter_metric *, size_t),
                        const void *cfg, const char *proxy, const char *chain, uint32_t index)
{
    struct filter_metric *m = tern_calloc(FILTER_METRICS_MAX, sizeof(*m));
    size_t n = metrics(cfg, m, FILTER_METRICS_MAX);

    if (n > FILTER_METRICS_MAX)
        n = FILTER_METRICS_MAX;
    if (ss->n + n > ss->cap) {
        ss->cap = (ss->n + n) * 2;
        ss->v = tern_realloc(ss->v, ss->cap * sizeof(*ss->v));
    }
    for (size_t i = 0; i < n; i++)
        ss->v[ss->n++] = (struct filter_sample){proxy, chain, index, m[i]};
    free(m);
}

/* Writes the gathered samples family by family, then empties the set. */
static void samples_render(struct evbuffer *out, struct filter_samples *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        const char *name = ss->v[i].m.name;
        bool seen = false;

        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(ss->v[j].m.name, name) == 0;
        if (seen)
            continue;
        header(out, name, ss->v[i].m.help, METRIC_COUNTER);
        for (size_t j = i; j < ss->n; j++) {
            const struct filter_sample *x = &ss->v[j];
            if (strcmp(x->m.name, name) != 0)
                continue;
            evbuffer_add(out, name, strlen(name));
            evbuffer_add_printf(out, "{proxy=\"");
            prometheus_escape_label(out, x->proxy);
            evbuffer_add_printf(out, "\",chain=\"%s\",index=\"%u\"", x->chain, x->index);
            if (x->m.label_key && x->m.label_value) {
                evbuffer_add_printf(out, ",%s=\"", x->m.label_key);
                prometheus_escape_label(out, x->m.label_value);
                evbuffer_add(out, "\"", 1);
            }
            evbuffer_add(out, "}", 1);
            value(out, METRIC_COUNTER, x->m.value);
        }
    }
    ss->n = 0;
}

/* HTTP filters (http_filter_ops.metrics). */
static void render_filters(struct evbuffer *out, const struct snapshot *snap)
{
    struct filter_samples ss = {0};

    for (uint32_t ci = 0; ci < nchains(snap); ci++) {
        struct chain_ref c = chain_at(snap, ci);
        for (uint32_t k = 0; k < c.n; k++) {
            const struct http_filter_ops *ops = c.f[k].ops;
            if (!ops->metrics || !first_of_ops(snap, ci, k))
                continue;
            for (uint32_t i = ci; i < nchains(snap); i++) {
                struct chain_ref c2 = chain_at(snap, i);
                for (uint32_t j = 0; j < c2.n; j++)
                    if (c2.f[j].ops == ops)
                        samples_add(&ss, ops->metrics, c2.f[j].cfg, c2.proxy, c2.side, j);
            }
            samples_render(out, &ss);
        }
    }
    free(ss.v);
}

/* Network filters of mode tcp listeners (filters/network_filter.h):
 * {proxy="<frontend>",chain="network",index="<i>"}. */
static void render_network_filters(struct evbuffer *out, const struct snapshot *snap)
{
    struct filter_samples ss = {0};

    for (uint32_t li = 0; snap && li < snap->nlisteners; li++) {
        const struct listener *l = snap->listeners[li];
        for (uint32_t k = 0; k < l->nnet_filters; k++) {
            const struct network_filter_ops *ops = l->net_filters[k].ops;
            bool first = true;
            for (uint32_t i = 0; i <= li && first; i++)
                for (uint32_t j = 0; j < snap->listeners[i]->nnet_filters &&
                                     (i < li || j < k); j++)
                    if (snap->listeners[i]->net_filters[j].ops == ops)
                        first = false;
            if (!ops->metrics || !first)
                continue;
            for (uint32_t i = li; i < snap->nlisteners; i++) {
                const struct listener *l2 = snap->listeners[i];
                for (uint32_t j = 0; j < l2->nnet_filters; j++)
                    if (l2->net_filters[j].ops == ops)
                        samples_add(&ss, ops->metrics, l2->net_filters[j].cfg, l2->name,
                                    "network", j);
            }
            samples_render(out, &ss);
        }
    }
    free(ss.v);
}

/* ---- TLS (bind ... ssl) ------------------------------------------------------ */

static bool has_tls(const struct listener *l)
{
    for (uint32_t j = 0; j < l->nbinds; j++)
        if (l->binds[j].tls)
            return true;
    return false;
}

/* Handshakes and failures by reason per frontend; per bind line: each
 * loaded certificate's expiry and the rotations. Main thread (the stores
 * are swapped there). */
static void render_tls(struct evbuffer *out, const struct snapshot *snap)
{
    header(out, "tern_tls_handshakes_total", "TLS handshakes completed by the frontend.",
           METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (!has_tls(l))
            continue;
        evbuffer_add_printf(out, "tern_tls_handshakes_total");
        labels_proxy(out, l->name);
        value(out, METRIC_COUNTER, LSUM(l, tls_handshakes));
    }
    header(out, "tern_tls_handshake_failures_total",
           "TLS handshakes the frontend refused or lost, by reason.", METRIC_COUNTER);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        if (!has_tls(l))
            continue;
        for (int r = 1; r < TRANSPORT_R_MAX && r < MODEL_TLS_REASONS; r++) {
            evbuffer_add_printf(out, "tern_tls_handshake_failures_total");
            labels_proxy_kv(out, l->name, "reason", transport_reason_name(r));
            value(out, METRIC_COUNTER,
                  counter_sum(l->stats, sizeof(*l->stats), snap->nworkers,
                              offsetof(struct listener_stats, tls_hs_failures) +
                                  (size_t)r * sizeof(struct counter)));
        }
    }
    header(out, "tern_tls_cert_not_after_seconds",
           "Expiry (unix time) of each certificate a TLS bind serves.", METRIC_GAUGE);
    for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
        const struct listener *l = snap->listeners[i];
        for (uint32_t j = 0; j < l->nbinds; j++) {
            const struct tls_bind *tb = l->binds[j].tls;
            for (unsigned k = 0; tb && tb->store && k < tb->store->n_entries; k++) {
                evbuffer_add_printf(out, "tern_tls_cert_not_after_seconds{proxy=\"");
                prometheus_escape_label(out, l->name);
                evbuffer_add_printf(out, "\",bind=\"%d\",cert=\"", l->binds[j].loc.line);
                prometheus_escape_label(out, tb->store->entries[k].source);
                evbuffer_add(out, "\"}", 2);
                value(out, METRIC_GAUGE, (uint64_t)tb->store->entries[k].not_after);
            }
        }
    }
    static const char *const rot[2][2] = {
        {"tern_tls_cert_rotations_total", "Certificate stores replaced after a file change."},
        {"tern_tls_cert_rotation_failures_total",
         "Changed certificate files rejected (the old certificates stay in service)."},
    };
    for (int f = 0; f < 2; f++) {
        header(out, rot[f][0], rot[f][1], METRIC_COUNTER);
        for (uint32_t i = 0; snap && i < snap->nlisteners; i++) {
            const struct listener *l = snap->listeners[i];
            for (uint32_t j = 0; j < l->nbinds; j++) {
                const struct tls_bind *tb = l->binds[j].tls;
                if (!tb)
                    continue;
                evbuffer_add_printf(out, "%s{proxy=\"", rot[f][0]);
                prometheus_escape_label(out, l->name);
                evbuffer_add_printf(out, "\",bind=\"%d\"}", l->binds[j].loc.line);
                value(out, METRIC_COUNTER,
                      atomic_load(f ? &((struct tls_bind *)tb)->rotation_failures
                                    : &((struct tls_bind *)tb)->rotations));
            }
        }
    }
}

void prometheus_render(struct evbuffer *out, const struct snapshot *snap,
                       const struct prometheus_process *proc)
{
    render_process(out, proc);
    render_frontends(out, snap);
    render_backends(out, snap);
    render_servers(out, snap);
    render_http_frontends(out, snap);
    render_h2_frontends(out, snap);
    render_http_backends(out, snap);
    render_filters(out, snap);
    render_network_filters(out, snap);
    render_tls(out, snap);
}
