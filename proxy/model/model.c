/*
 * model.c: life cycle of the configuration model (snapshot, listeners,
 * clusters, endpoints). Sources (the config file parser, later xDS) fill a
 * fresh snapshot through snapshot_add_*; snapshot_runtime_init then prepares
 * it to run (stats slots, LB ops, first host sets).
 */
#include "proxy/model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/network_filter.h"
#include "proxy/tls/tls_conf.h"
#include "proxy/acl/acl.h"
#include "proxy/lb/lb.h"

#define DEFAULT_GLOBAL_MAXCONN 4096
#define DEFAULT_BUFSIZE 16384
#define DEFAULT_HTTP_MAXHDR 101        /* HAProxy's tune.http.maxhdr */
#define DEFAULT_POOL_PURGE_DELAY_MS 5000 /* HAProxy's pool-purge-delay */

/* Versions of snapshots built by this process, from 1. */
static _Atomic uint64_t snapshot_versions;

struct snapshot *snapshot_new(const char *source)
{
    struct snapshot *snap = tern_calloc(1, sizeof(*snap));
    atomic_init(&snap->refcnt, 1);
    snap->version = atomic_fetch_add(&snapshot_versions, 1) + 1;
    snap->source = tern_strdup(source ? source : "-");
    snap->global.maxconn = 0;
    snap->global.bufsize = DEFAULT_BUFSIZE;
    snap->global.http_maxhdr = DEFAULT_HTTP_MAXHDR;
    snap->global.h2_max_concurrent_streams = 100;
    snap->global.h2_header_table_size = 4096;
    snap->global.h2_initial_window_size = 65535;
    snap->global.h2_max_frame_size = 16384;
    return snap;
}

void snapshot_ref(struct snapshot *snap)
{
    atomic_fetch_add_explicit(&snap->refcnt, 1, memory_order_relaxed);
}

static void health_spec_free(struct health_spec *hc)
{
    free(hc->method);
    free(hc->uri);
    free(hc->version);
    free(hc->service);
}

static void cluster_free(struct cluster *c)
{
    uint32_t nworkers = c->nworkers;

    for (uint32_t i = 0; i < c->nendpoints; i++) {
        struct endpoint *ep = c->endpoints[i];
        free(ep->name);
        tls_upstream_free(ep->tls);
        free(ep->stats);
        free(ep->worker);
        free(ep);
    }
    free(c->endpoints);
    if (c->hosts)
        host_set_unref(c->hosts);
    if (c->worker) {
        /* Workers drop their own references before the snapshot dies; what is
         * left here belongs to workers that never ran (startup failure). */
        for (uint32_t w = 0; w < nworkers; w++)
            if (c->worker[w].hosts)
                host_set_unref(c->worker[w].hosts);
        free(c->worker);
    }
    for (uint32_t j = 0; j < c->nfilters; j++)
        if (c->filters[j].ops->config_free)
            c->filters[j].ops->config_free(c->filters[j].cfg);
    free(c->filters);
    health_spec_free(&c->hc);
    errorfiles_free(c->errorfiles, c->nerrorfiles);
    acl_set_free(c->acls);
    free(c->forwardfor.header);
    free(c->stats);
    free(c->name);
    free(c);
}

struct http_errorfile *errorfiles_copy(const struct http_errorfile *src, uint32_t n)
{
    struct http_errorfile *d;

    if (!n)
        return NULL;
    d = tern_calloc(n, sizeof(*d));
    for (uint32_t i = 0; i < n; i++) {
        size_t len = (size_t)src[i].head_len + src[i].body_len;
        d[i] = src[i];
        d[i].raw = tern_malloc(len + 1);
        memcpy(d[i].raw, src[i].raw, len);
        d[i].raw[len] = 0;
    }
    return d;
}

void errorfiles_free(struct http_errorfile *files, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(files[i].raw);
    free(files);
}

const struct http_errorfile *errorfile_find(const struct http_errorfile *files, uint32_t n,
                                            uint16_t status)
{
    for (uint32_t i = 0; i < n; i++)
        if (files[i].status == status)
            return &files[i];
    return NULL;
}

void snapshot_unref(struct snapshot *snap)
{
    if (!snap || atomic_fetch_sub_explicit(&snap->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < snap->nlisteners; i++) {
        struct listener *l = snap->listeners[i];
        /* conditions before the set whose ACLs they borrow */
        for (uint32_t j = 0; j < l->nrules; j++)
            acl_cond_free(l->rules[j].cond);
        free(l->rules);
        for (uint32_t j = 0; j < l->ntcp_rules; j++)
            acl_cond_free(l->tcp_rules[j].cond);
        free(l->tcp_rules);
        for (uint32_t j = 0; j < l->nfilters; j++)
            if (l->filters[j].ops->config_free)
                l->filters[j].ops->config_free(l->filters[j].cfg);
        free(l->filters);
        for (uint32_t j = 0; j < l->nnet_filters; j++)
            if (l->net_filters[j].ops->config_free)
                l->net_filters[j].ops->config_free(l->net_filters[j].cfg);
        free(l->net_filters);
        acl_set_free(l->acls);
        for (uint32_t j = 0; j < l->nbinds; j++)
            tls_bind_free(l->binds[j].tls);
        free(l->binds);
        free(l->stats);
        free(l->forwardfor.header);
        free(l->request_id_header);
        errorfiles_free(l->errorfiles, l->nerrorfiles);
        free(l->name);
        free(l);
    }
    free(snap->listeners);
    for (uint32_t i = 0; i < snap->nclusters; i++)
        cluster_unref(snap->clusters[i]);
    free(snap->clusters);
    free(snap->xds.node_id);
    free(snap->xds.ca_pem);
    free(snap->xds.ca_file);
    free(snap->xds.verifyhost);
    free(snap->xds.node_cluster);
    free(snap->xds.region);
    free(snap->xds.zone);
    for (uint32_t i = 0; i < snap->xds.nmeta; i++) {
        free(snap->xds.meta_keys[i]);
        free(snap->xds.meta_values[i]);
    }
    free(snap->xds.meta_keys);
    free(snap->xds.meta_values);
    free(snap->source);
    free(snap);
}

void cluster_ref(struct cluster *c)
{
    atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
}

void cluster_unref(struct cluster *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) == 1)
        cluster_free(c);
}

struct listener *snapshot_add_listener(struct snapshot *snap, const char *name)
{
    struct listener *l = tern_calloc(1, sizeof(*l));
    l->name = tern_strdup(name);
    l->id = snap->nlisteners;
    l->mode = PROXY_MODE_TCP;
    l->access_log = true;
    snap->listeners = tern_realloc(snap->listeners, (snap->nlisteners + 1) * sizeof(l));
    snap->listeners[snap->nlisteners++] = l;
    return l;
}

struct cluster *cluster_new(const char *name)
{
    struct cluster *c = tern_calloc(1, sizeof(*c));
    c->name = tern_strdup(name);
    c->mode = PROXY_MODE_TCP;
    c->lb_policy = LB_ROUNDROBIN;
    c->hash_type = LB_HASH_MAP_BASED;
    c->consistent_algo = LB_CONSISTENT_RING;
    c->random_draws = 2;
    c->retries = 3;
    c->retry_on = RETRY_ON_CONN_FAILURE;
    c->redispatch_interval = -1;
    atomic_init(&c->refcnt, 1);
    return c;
}

void snapshot_put_cluster(struct snapshot *snap, struct cluster *c)
{
    if ((snap->nclusters & (snap->nclusters - 1)) == 0) /* 0, 1, 2, 4...: grow by doubling */
        snap->clusters = tern_realloc(snap->clusters,
                                      (snap->nclusters ? 2 * snap->nclusters : 1) * sizeof(c));
    snap->clusters[snap->nclusters++] = c;
}

struct cluster *snapshot_add_cluster(struct snapshot *snap, const char *name)
{
    struct cluster *c = cluster_new(name);

    c->id = snap->nclusters;
    snapshot_put_cluster(snap, c);
    return c;
}

struct endpoint *cluster_add_endpoint(struct cluster *c, const char *name)
{
    struct endpoint *ep = tern_calloc(1, sizeof(*ep));
    ep->name = tern_strdup(name);
    ep->id = c->nendpoints;
    ep->cluster = c;
    ep->weight = 1;
    ep->inter_ms = 2000;
    ep->rise = 2;
    ep->fall = 3;
    ep->pool_max_conn = -1;
    ep->pool_purge_delay_ms = DEFAULT_POOL_PURGE_DELAY_MS;
    c->endpoints = tern_realloc(c->endpoints, (c->nendpoints + 1) * sizeof(ep));
    c->endpoints[c->nendpoints++] = ep;
    return ep;
}

struct cluster *snapshot_find_cluster(const struct snapshot *snap, const char *name)
{
    for (uint32_t i = 0; i < snap->nclusters; i++)
        if (strcmp(snap->clusters[i]->name, name) == 0)
            return snap->clusters[i];
    return NULL;
}

struct listener *snapshot_find_listener(const struct snapshot *snap, const char *name)
{
    for (uint32_t i = 0; i < snap->nlisteners; i++)
        if (strcmp(snap->listeners[i]->name, name) == 0)
            return snap->listeners[i];
    return NULL;
}

struct endpoint *cluster_find_endpoint(const struct cluster *c, const char *name)
{
    for (uint32_t i = 0; i < c->nendpoints; i++)
        if (strcmp(c->endpoints[i]->name, name) == 0)
            return c->endpoints[i];
    return NULL;
}

struct host_set *cluster_rebuild_hosts(struct cluster *c, uint32_t nworkers, char *err,
                                       size_t errlen)
{
    struct endpoint **eps = tern_calloc(c->nendpoints ? c->nendpoints : 1, sizeof(*eps));
    struct host_set *hs;
    uint32_t n = 0;
    bool backup = false;

    for (uint32_t i = 0; i < c->nendpoints; i++) {
        struct endpoint *ep = c->endpoints[i];
        if (!ep->backup && !ep->disabled && endpoint_weight(ep) > 0 && atomic_load(&ep->up) &&
            atomic_load(&ep->admin_state) == ENDPOINT_READY)
            eps[n++] = ep;
    }
    if (n == 0) {
        /* HAProxy: backups only when no active server is usable; the first
         * usable backup, or all of them with option allbackups. */
        for (uint32_t i = 0; i < c->nendpoints; i++) {
            struct endpoint *ep = c->endpoints[i];
            if (ep->backup && !ep->disabled && endpoint_weight(ep) > 0 && atomic_load(&ep->up) &&
                atomic_load(&ep->admin_state) == ENDPOINT_READY) {
                eps[n++] = ep;
                backup = true;
                if (!c->allbackups)
                    break;
            }
        }
    }
    hs = host_set_new(c, eps, n, backup, nworkers, err, errlen);
    free(eps);
    if (!hs)
        return NULL;
    if (c->hosts)
        host_set_unref(c->hosts);
    c->hosts = hs;
    return hs;
}

int snapshot_runtime_init(struct snapshot *snap, uint32_t nworkers, char *err, size_t errlen)
{
    snap->nworkers = nworkers;
    snap->max_cluster_filters = 0;
    for (uint32_t i = 0; i < snap->nclusters; i++)
        if (snap->clusters[i]->nfilters > snap->max_cluster_filters)
            snap->max_cluster_filters = snap->clusters[i]->nfilters;
    for (uint32_t i = 0; i < snap->nlisteners; i++) {
        struct listener *l = snap->listeners[i];
        l->stats = tern_calloc_aligned(nworkers * sizeof(*l->stats));
        for (uint32_t j = 0; j < l->nbinds; j++)
            if (l->binds[j].tls)
                tls_bind_runtime_init(l->binds[j].tls, nworkers);
    }
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        if (c->nworkers) /* taken over from the previous snapshot: running already */
            continue;
        c->nworkers = nworkers;
        c->lb = lb_ops_for(c);
        c->stats = tern_calloc_aligned(nworkers * sizeof(*c->stats));
        c->worker = tern_calloc_aligned(nworkers * sizeof(*c->worker));
        for (uint32_t j = 0; j < c->nendpoints; j++) {
            struct endpoint *ep = c->endpoints[j];
            ep->stats = tern_calloc_aligned(nworkers * sizeof(*ep->stats));
            ep->worker = tern_calloc_aligned(nworkers * sizeof(*ep->worker));
            if (ep->tls)
                tls_upstream_runtime_init(ep->tls, nworkers);
            if (ep->hc.carried) /* snapshot_take_over kept its health */
                continue;
            atomic_store(&ep->up, ep->disabled ? 0 : 1);
            ep->hc.health = ep->rise + ep->fall - 1;
        }
        if (!cluster_rebuild_hosts(c, nworkers, err, errlen))
            return -1;
        for (uint32_t w = 0; w < nworkers; w++) {
            host_set_ref(c->hosts);
            c->worker[w].hosts = c->hosts;
        }
    }
    return 0;
}

struct cluster *listener_route(const struct listener *l, const struct acl_ctx *ctx)
{
    for (uint32_t i = 0; i < l->nrules; i++)
        if (acl_cond_eval(l->rules[i].cond, ctx))
            return l->rules[i].target;
    return l->default_cluster;
}

const char *lb_policy_name(enum lb_policy p)
{
    switch (p) {
    case LB_ROUNDROBIN: return "roundrobin";
    case LB_STATIC_RR: return "static-rr";
    case LB_LEASTCONN: return "leastconn";
    case LB_FIRST: return "first";
    case LB_SOURCE: return "source";
    case LB_RANDOM: return "random";
    }
    return "?";
}

const char *proxy_mode_name(enum proxy_mode m)
{
    return m == PROXY_MODE_HTTP ? "http" : "tcp";
}
