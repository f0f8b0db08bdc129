/*
 * clusters_json.c: the /clusters document (see clusters_json.h), written
 * with json_writer so that names from the config are always escaped.
 */
#include "proxy/admin/clusters_json.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stddef.h>

#include "proxy/admin/json_writer.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"

#define SUM(obj, field, nw) \
    counter_sum((obj)->stats, sizeof(*(obj)->stats), (nw), offsetof(__typeof__(*(obj)->stats), field))

static void member_uint(struct json_writer *w, const char *key, uint64_t v)
{
    json_key(w, key);
    json_uint(w, v);
}

static void member_int(struct json_writer *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}

static void member_bool(struct json_writer *w, const char *key, bool v)
{
    json_key(w, key);
    json_bool(w, v);
}

static void member_str(struct json_writer *w, const char *key, const char *v)
{
    json_key(w, key);
    json_string(w, v);
}

static const char *hc_type_name(enum health_check_type t)
{
    switch (t) {
    case HC_NONE: return "none";
    case HC_TCP: return "tcp";
    case HC_HTTP: return "http";
    case HC_GRPC: return "grpc";
    }
    return "?";
}

static void write_health_check(struct json_writer *w, const struct cluster *c)
{
    json_key(w, "health_check");
    json_object_begin(w);
    member_str(w, "type", hc_type_name(c->hc.type));
    if (c->hc.type == HC_HTTP) {
        member_str(w, "method", c->hc.method ? c->hc.method : "OPTIONS");
        member_str(w, "uri", c->hc.uri ? c->hc.uri : "/");
        member_str(w, "version", c->hc.version ? c->hc.version : "HTTP/1.0");
        member_int(w, "expect_status", c->hc.expect_status);
    }
    if (c->hc.type == HC_GRPC)
        member_str(w, "service", c->hc.service ? c->hc.service : "");
    member_uint(w, "timeout_ms", c->hc.timeout_ms);
    member_uint(w, "connect_timeout_ms", c->hc.connect_timeout_ms);
    json_object_end(w);
}

static void write_server(struct json_writer *w, const struct endpoint *ep, uint32_t nw)
{
    char addr[80];
    bool up = !ep->disabled && atomic_load(&((struct endpoint *)ep)->up);

    json_object_begin(w);
    member_str(w, "name", ep->name);
    member_str(w, "address", tern_format_addr((const struct sockaddr *)&ep->addr, addr,
                                              sizeof(addr)));
    member_uint(w, "weight", ep->weight);
    member_uint(w, "effective_weight", endpoint_weight(ep));
    member_uint(w, "maxconn", ep->maxconn);
    member_bool(w, "backup", ep->backup);
    member_bool(w, "disabled", ep->disabled);
    member_bool(w, "check", ep->check);
    member_bool(w, "up", up);
    member_str(w, "health", up ? "UP" : "DOWN");
    member_str(w, "admin_state",
               endpoint_admin_state_name(atomic_load(&((struct endpoint *)ep)->admin_state)));
    member_str(w, "last_check", ep->hc.last_status);
    member_uint(w, "check_inter_ms", ep->inter_ms);
    member_uint(w, "check_rise", ep->rise);
    member_uint(w, "check_fall", ep->fall);
    member_uint(w, "check_health", ep->hc.health);
    member_uint(w, "checks_total", counter_get(&ep->hc.checks_total));
    member_uint(w, "checks_failed", counter_get(&ep->hc.checks_failed));
    member_uint(w, "went_down", counter_get(&ep->hc.went_down));
    member_uint(w, "went_up", counter_get(&ep->hc.went_up));
    member_int(w, "current_connections", (int64_t)SUM(ep, cur_conns, nw));
    member_uint(w, "connections_total", SUM(ep, conns_total, nw));
    member_uint(w, "bytes_in", SUM(ep, bytes_in, nw));
    member_uint(w, "bytes_out", SUM(ep, bytes_out, nw));
    member_uint(w, "connect_errors", SUM(ep, connect_errors, nw));
    member_uint(w, "retries", SUM(ep, retries, nw));
    member_uint(w, "lb_selected", SUM(ep, lb_selected, nw));
    json_object_end(w);
}

static void write_cluster(struct json_writer *w, const struct cluster *c, uint32_t nw)
{
    uint64_t active = 0, backup = 0;

    for (uint32_t i = 0; i < c->nendpoints; i++) {
        struct endpoint *ep = c->endpoints[i];
        if (ep->disabled || !atomic_load(&ep->up))
            continue;
        if (ep->backup)
            backup++;
        else
            active++;
    }
    json_object_begin(w);
    member_str(w, "name", c->name);
    member_str(w, "mode", proxy_mode_name(c->mode));
    member_str(w, "balance", lb_policy_name(c->lb_policy));
    member_str(w, "hash_type", c->hash_type == LB_HASH_CONSISTENT ? "consistent" : "map-based");
    write_health_check(w, c);
    member_uint(w, "retries_max", c->retries);
    member_bool(w, "redispatch", c->redispatch);
    member_uint(w, "active_servers", active);
    member_uint(w, "backup_servers", backup);
    member_int(w, "current_connections", (int64_t)SUM(c, cur_conns, nw));
    member_uint(w, "connections_total", SUM(c, conns_total, nw));
    member_uint(w, "bytes_in", SUM(c, bytes_in, nw));
    member_uint(w, "bytes_out", SUM(c, bytes_out, nw));
    member_uint(w, "connect_errors", SUM(c, connect_errors, nw));
    member_uint(w, "retries", SUM(c, retries, nw));
    member_uint(w, "redispatches", SUM(c, redispatches, nw));
    member_uint(w, "no_server", SUM(c, no_server, nw));
    member_uint(w, "queue_timeouts", SUM(c, queue_timeouts, nw));
    member_uint(w, "queue_full", SUM(c, queue_full, nw));
    member_int(w, "current_queue", (int64_t)SUM(c, cur_queued, nw));
    json_key(w, "servers");
    json_array_begin(w);
    for (uint32_t i = 0; i < c->nendpoints; i++)
        write_server(w, c->endpoints[i], nw);
    json_array_end(w);
    json_object_end(w);
}

void clusters_json_render(struct evbuffer *out, const struct snapshot *snap)
{
    struct json_writer w;

    json_init(&w, out);
    json_object_begin(&w);
    member_uint(&w, "version", snap ? snap->version : 0);
    json_key(&w, "clusters");
    json_array_begin(&w);
    for (uint32_t i = 0; snap && i < snap->nclusters; i++)
        write_cluster(&w, snap->clusters[i], snap->nworkers);
    json_array_end(&w);
    json_object_end(&w);
    evbuffer_add(out, "\n", 1);
}
