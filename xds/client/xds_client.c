/*
 * xds_client.c: subscriptions, ACK/NACK, warming and the build of each new
 * snapshot (see xds_client.h), over ADS in either variant:
 *   state of the world  every LDS/CDS response holds all resources of its
 *                       type; requests carry the whole name list and the
 *                       last accepted version_info;
 *   incremental (Delta) a response carries changed resources (each with its
 *                       own version) and removed_resources; requests carry
 *                       only the names added to / dropped from the
 *                       subscription, and, first on a new stream, the
 *                       versions tern holds (initial_resource_versions) so
 *                       that the server sends only what differs.
 * Both end in the same place: a type's accepted set replaced as a whole
 * (commit_set), one rebuild, ACK or NACK.
 */
#include "xds/client/xds_client.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/admin/json_writer.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"
#include "xds/client/ads_stream.h"
#include "xds/client/xds_translate.h"

typedef Envoy__Service__Discovery__V3__DiscoveryRequest DiscoveryRequest;
typedef Envoy__Service__Discovery__V3__DiscoveryResponse DiscoveryResponse;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest DeltaDiscoveryRequest;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
    InitialVersion;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryResponse DeltaDiscoveryResponse;

#define BACKOFF_BASE_MS 500      /* Envoy's ADS retry base */
#define BACKOFF_MAX_MS 10000
#define MAX_MESSAGE_BYTES (256u << 20)
#define NACK_DETAIL_MAX 4096
#define INVALID_ARGUMENT 3       /* google.rpc.Code */

/* Subscription order on a new stream: clusters before listeners (Envoy's). */
static const enum xds_type send_order[] = {XDS_CDS, XDS_EDS, XDS_LDS, XDS_RDS, XDS_SDS};

struct type_state {
    struct xds_resource_set set;  /* accepted */
    bool wildcard;
    char **names;                 /* by-name subscription (RDS, EDS) */
    size_t nnames;
    char *version;                /* last accepted version_info (Delta: system_version_info);
                                   * NULL: none yet */
    char *nonce;                  /* last nonce received on this stream */
    bool received;                /* one response accepted (ever) */
    uint64_t accepted, rejected;
    time_t last_update;           /* wall clock of the last accepted response */
    char *last_nack;              /* error_detail of the last NACK */
    time_t last_nack_time;
    char *last_nack_version;      /* the version the NACKed response carried */
};

struct xds_client {
    struct model_xds_copy {
        char *node_id, *node_cluster, *region, *zone;
        uint32_t init_timeout_ms;
    } cfg;
    /* Node.metadata, built once from node-metadata (owned, strings included) */
    Google__Protobuf__Struct meta;
    Google__Protobuf__Struct__FieldsEntry *meta_entries;
    Google__Protobuf__Struct__FieldsEntry **meta_fields;
    Google__Protobuf__Value *meta_values;
    struct xds_client_ops ops;
    void *arg;
    struct event_base *base;
    struct ads_stream *stream;
    bool delta;                   /* DeltaAggregatedResources, else state of the world */
    uint64_t gen;                 /* the open stream; 0: none */
    bool connected;               /* a response arrived on the open stream */
    time_t disconnected_since;    /* 0 while connected */
    char last_stream_error[256];
    uint64_t stream_failures;     /* ADS streams ended or not opened (metrics) */
    uint64_t streams;             /* streams opened */
    struct type_state types[XDS_NTYPES];
    bool initialized;             /* a snapshot with the initial resources applied */
    bool warming;
    bool init_expired;            /* the init timeout passed: build without what is missing */
    char warming_why[512];
    struct event *init_timer;
    uint64_t applied;             /* snapshots applied */
    struct xds_build_stats last_build; /* of the last snapshot applied */
    uint64_t clusters_built, clusters_carried; /* over every snapshot applied */
};

/* ---- requests --------------------------------------------------------------- */

static void fill_node(const struct xds_client *c, Envoy__Config__Core__V3__Node *node,
                      Envoy__Config__Core__V3__Locality *loc)
{
    node->id = c->cfg.node_id;
    node->cluster = c->cfg.node_cluster ? c->cfg.node_cluster : "";
    node->user_agent_name = "tern";
    node->user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node->user_agent_version = TERN_VERSION;
    if (c->meta.n_fields)
        node->metadata = (Google__Protobuf__Struct *)&c->meta;
    if (c->cfg.region) {
        loc->region = c->cfg.region;
        loc->zone = c->cfg.zone ? c->cfg.zone : "";
        node->locality = loc;
    }
}

static void send_packed(struct xds_client *c, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = tern_malloc(len ? len : 1);

    protobuf_c_message_pack(m, buf);
    ads_stream_send(c->stream, c->gen, buf, len);
    free(buf);
}

/* State of the world: the whole subscription of t, the last accepted
 * version and the last nonce; error_detail makes it a NACK. */
static void send_request(struct xds_client *c, enum xds_type t, const char *error_detail)
{
    struct type_state *ts = &c->types[t];
    DiscoveryRequest req = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Envoy__Config__Core__V3__Locality loc = ENVOY__CONFIG__CORE__V3__LOCALITY__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;

    if (!c->gen)
        return;
    fill_node(c, &node, &loc);
    req.node = &node;
    req.version_info = ts->version ? ts->version : "";
    req.type_url = (char *)xds_type_url(t);
    req.response_nonce = ts->nonce ? ts->nonce : "";
    if (!ts->wildcard) {
        req.n_resource_names = ts->nnames;
        req.resource_names = ts->names;
    }
    if (error_detail) {
        st.code = INVALID_ARGUMENT;
        st.message = (char *)error_detail;
        req.error_detail = &st;
    }
    send_packed(c, &req.base);
}

/* Delta, the first request of t on a stream: the node, the names (none for
 * a wildcard type: the protocol's implicit wildcard, which every server
 * understands) and the version of every resource tern holds. */
static void send_delta_initial(struct xds_client *c, enum xds_type t)
{
    struct type_state *ts = &c->types[t];
    DeltaDiscoveryRequest req = ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Envoy__Config__Core__V3__Locality loc = ENVOY__CONFIG__CORE__V3__LOCALITY__INIT;
    InitialVersion *iv = tern_calloc(ts->set.n ? ts->set.n : 1, sizeof(*iv));
    InitialVersion **ivp = tern_calloc(ts->set.n ? ts->set.n : 1, sizeof(*ivp));

    fill_node(c, &node, &loc);
    req.node = &node;
    req.type_url = (char *)xds_type_url(t);
    if (!ts->wildcard) {
        req.n_resource_names_subscribe = ts->nnames;
        req.resource_names_subscribe = ts->names;
    }
    for (size_t i = 0; i < ts->set.n; i++) {
        InitialVersion init =
            ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INITIAL_RESOURCE_VERSIONS_ENTRY__INIT;
        iv[i] = init;
        iv[i].key = ts->set.v[i].name;
        iv[i].value = ts->set.v[i].version ? ts->set.v[i].version : "";
        ivp[i] = &iv[i];
    }
    req.n_initial_resource_versions = ts->set.n;
    req.initial_resource_versions = ivp;
    send_packed(c, &req.base);
    free(ivp);
    free(iv);
}

/* Delta, later requests: an ACK (the nonce), a NACK (nonce + error_detail)
 * or a change of subscription (names added and dropped). */
static void send_delta(struct xds_client *c, enum xds_type t, const char *nonce,
                       const char *error_detail, char **sub, size_t nsub, char **unsub,
                       size_t nunsub)
{
    DeltaDiscoveryRequest req = ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;

    if (!c->gen)
        return;
    req.type_url = (char *)xds_type_url(t);
    req.response_nonce = nonce ? (char *)nonce : "";
    req.n_resource_names_subscribe = nsub;
    req.resource_names_subscribe = sub;
    req.n_resource_names_unsubscribe = nunsub;
    req.resource_names_unsubscribe = unsub;
    if (error_detail) {
        st.code = INVALID_ARGUMENT;
        st.message = (char *)error_detail;
        req.error_detail = &st;
    }
    send_packed(c, &req.base);
}

/* ACK (why NULL) or NACK of the last response of t, in the stream's variant. */
static void reply(struct xds_client *c, enum xds_type t, const char *why)
{
    if (c->delta)
        send_delta(c, t, c->types[t].nonce, why, NULL, 0, NULL, 0);
    else
        send_request(c, t, why);
}

/* Whether the type has anything to ask for (a by-name subscription to no
 * name is not sent: in the state of the world it would mean "all"). */
static bool subscribed(const struct type_state *ts)
{
    return ts->wildcard || ts->nnames > 0;
}

/* ---- building ------------------------------------------------------------------ */

static void init_timer_cb(evutil_socket_t fd, short what, void *arg);

static void arm_init_timer(struct xds_client *c)
{
    struct timeval tv = {c->cfg.init_timeout_ms / 1000, (c->cfg.init_timeout_ms % 1000) * 1000};

    if (!evtimer_pending(c->init_timer, NULL))
        evtimer_add(c->init_timer, &tv);
}

/*
 * Builds and applies a snapshot of the static configuration plus every
 * accepted resource. Returns 0 (applied, or warming: nothing applied) or -1
 * with err set (nothing applied).
 */
static int rebuild(struct xds_client *c, char *err, size_t errlen)
{
    struct xds_resource_set sets[XDS_NTYPES];
    struct xds_build_stats bs;
    struct snapshot *snap;
    int rc;

    for (int t = 0; t < XDS_NTYPES; t++)
        sets[t] = c->types[t].set;
    snap = c->ops.base(c->arg, err, errlen);
    if (!snap)
        return -1;
    rc = xds_translate_from(snap, c->ops.current ? c->ops.current(c->arg) : NULL, sets,
                            c->init_expired, c->types[XDS_CDS].received, &bs, err, errlen);
    if (rc < 0) {
        snapshot_unref(snap);
        return -1;
    }
    if (rc == 1) {
        snapshot_unref(snap);
        if (!c->warming)
            log_info("xds: warming: %s", err);
        c->warming = true;
        snprintf(c->warming_why, sizeof(c->warming_why), "%s", err);
        err[0] = 0;
        arm_init_timer(c);
        return 0;
    }
    if (c->ops.apply(c->arg, snap, err, errlen) != 0)
        return -1;
    c->warming = false;
    c->warming_why[0] = 0;
    c->applied++;
    c->last_build = bs;
    c->clusters_built += bs.clusters_built;
    c->clusters_carried += bs.clusters_carried;
    if (!c->initialized && c->types[XDS_LDS].received && c->types[XDS_CDS].received) {
        c->initialized = true;
        log_notice("xds: initial resources applied: %zu listener(s), %zu cluster(s)",
                   c->types[XDS_LDS].set.n, c->types[XDS_CDS].set.n);
    }
    if (c->initialized && evtimer_pending(c->init_timer, NULL))
        evtimer_del(c->init_timer);
    return 0;
}

static void init_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xds_client *c = arg;
    char err[NACK_DETAIL_MAX];

    if (!c->initialized)
        log_warn("xds: init-timeout (%ums) passed before the initial resources were complete%s%s",
                 c->cfg.init_timeout_ms, c->warming_why[0] ? ": " : "", c->warming_why);
    else if (c->warming)
        log_warn("xds: init-timeout passed while warming: %s", c->warming_why);
    c->init_expired = true;
    if (rebuild(c, err, sizeof(err)) != 0)
        log_err("xds: cannot apply the resources without the missing ones: %s", err);
    c->initialized = true; /* ready, as Envoy's init manager gives up waiting */
    c->init_expired = false;
}

/* ---- responses -------------------------------------------------------------------- */

static void set_free(struct xds_resource_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        xds_resource_clear(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? tern_strdup(s) : NULL;
}

static bool names_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(char *const *)elem);
}

/* v is sorted (xds_references makes every name list sorted and unique). */
static bool name_in(char **v, size_t n, const char *name)
{
    return n && bsearch(name, v, n, sizeof(*v), cmp_name) != NULL;
}

/* Delta: the names of `now` not in `before` (sub) and the reverse (unsub),
 * both lists sorted; the arrays are borrowed from the inputs. */
static void names_diff(char **before, size_t nb, char **now, size_t nn, char ***sub,
                       size_t *nsub, char ***unsub, size_t *nunsub)
{
    size_t i = 0, j = 0;

    *sub = tern_calloc(nn + 1, sizeof(**sub));
    *unsub = tern_calloc(nb + 1, sizeof(**unsub));
    *nsub = *nunsub = 0;
    while (i < nb || j < nn) {
        int d = i == nb ? 1 : j == nn ? -1 : strcmp(before[i], now[j]);
        if (d < 0)
            (*unsub)[(*nunsub)++] = before[i++];
        else if (d > 0)
            (*sub)[(*nsub)++] = now[j++];
        else
            i++, j++;
    }
}

/* The by-name subscriptions follow the accepted listeners and clusters; a
 * changed list is sent at once, and resources no longer named are dropped. */
static void update_subscriptions(struct xds_client *c)
{
    static const enum xds_type byname[] = {XDS_EDS, XDS_RDS, XDS_SDS};

    for (size_t k = 0; k < TERN_ARRAY_SIZE(byname); k++) {
        enum xds_type t = byname[k];
        struct type_state *ts = &c->types[t];
        struct xds_resource_set sets[XDS_NTYPES];
        char **names;
        size_t n, out = 0;

        for (int i = 0; i < XDS_NTYPES; i++)
            sets[i] = c->types[i].set;
        xds_references(sets, t, &names, &n);
        if (names_equal(names, n, ts->names, ts->nnames)) {
            xds_names_free(names, n);
            continue;
        }
        if (c->delta) {
            char **sub, **unsub;
            size_t nsub, nunsub;
            names_diff(ts->names, ts->nnames, names, n, &sub, &nsub, &unsub, &nunsub);
            send_delta(c, t, NULL, NULL, sub, nsub, unsub, nunsub);
            free(sub);
            free(unsub);
        }
        xds_names_free(ts->names, ts->nnames);
        ts->names = names;
        ts->nnames = n;
        for (size_t i = 0; i < ts->set.n; i++) {
            if (name_in(names, n, ts->set.v[i].name))
                ts->set.v[out++] = ts->set.v[i];
            else
                xds_resource_clear(&ts->set.v[i]);
        }
        ts->set.n = out;
        if (!c->delta && (n > 0 || ts->version))
            send_request(c, t, NULL); /* an empty list after a non-empty one: unsubscribe */
    }
}

static void nack(struct xds_client *c, enum xds_type t, const char *version, const char *why)
{
    struct type_state *ts = &c->types[t];

    ts->rejected++;
    set_str(&ts->last_nack, why);
    set_str(&ts->last_nack_version, version);
    ts->last_nack_time = time(NULL);
    log_err("xds: %s version '%s' rejected (NACK): %s", xds_type_name(t), version, why);
    reply(c, t, why);
}

/*
 * Makes `fresh` the accepted set of t and rebuilds. On success the old set
 * is handed back in *old for the caller to free, and t is ACKed with
 * `version`; on failure the old set is back in place, *old is empty, and t
 * is NACKed. Returns 0 or -1.
 */
static int commit_set(struct xds_client *c, enum xds_type t, struct xds_resource_set fresh,
                      const char *version, struct xds_resource_set *old)
{
    struct type_state *ts = &c->types[t];
    bool was_received = ts->received;
    char err[NACK_DETAIL_MAX];

    *old = ts->set;
    ts->set = fresh;
    ts->received = true;
    if (rebuild(c, err, sizeof(err)) != 0) {
        ts->set = *old;
        ts->received = was_received;
        memset(old, 0, sizeof(*old));
        nack(c, t, version, err);
        return -1;
    }
    set_str(&ts->version, version);
    ts->accepted++;
    ts->last_update = time(NULL);
    log_info("xds: %s version '%s' accepted: %zu resource(s)%s", xds_type_name(t), version,
             ts->set.n, c->warming ? " (warming)" : "");
    reply(c, t, NULL); /* ACK */
    return 0;
}

/* After an accepted update: follow the references, and retry a warming
 * build (a reference dropped by this update may have been what was missing). */
static void after_accept(struct xds_client *c)
{
    char err[NACK_DETAIL_MAX];

    update_subscriptions(c);
    if (c->warming && rebuild(c, err, sizeof(err)) != 0)
        log_err("xds: %s", err);
}

static void handle_response(struct xds_client *c, const DiscoveryResponse *r)
{
    int ti = xds_type_of_url(r->type_url);
    struct type_state *ts;
    struct xds_resource_set fresh = {0}, old;
    struct xds_name_index ix;
    char err[NACK_DETAIL_MAX];
    enum xds_type t;

    if (ti < 0) {
        log_warn("xds: a response of type '%s', which tern did not ask for: ignored",
                 r->type_url);
        return;
    }
    t = (enum xds_type)ti;
    ts = &c->types[t];
    set_str(&ts->nonce, r->nonce);
    fresh.v = tern_calloc(r->n_resources ? r->n_resources : 1, sizeof(*fresh.v));
    xds_index_init(&ix, r->n_resources);
    for (size_t i = 0; i < r->n_resources; i++) {
        const Google__Protobuf__Any *a = r->resources[i];
        struct xds_resource *res = &fresh.v[fresh.n];
        if (xds_resource_decode(t, a->type_url, a->value.data, a->value.len, res, err,
                                sizeof(err)) != 0) {
            set_free(&fresh);
            xds_index_free(&ix);
            nack(c, t, r->version_info, err);
            return;
        }
        fresh.n++;
        if (xds_index_get(&ix, res->name) >= 0) {
            snprintf(err, sizeof(err), "%s '%s' appears twice in the response", xds_type_name(t),
                     res->name);
            set_free(&fresh);
            xds_index_free(&ix);
            nack(c, t, r->version_info, err);
            return;
        }
        xds_index_put(&ix, res->name, (uint32_t)(fresh.n - 1));
        res->version = tern_strdup(r->version_info);
    }
    /* the state of the world: LDS and CDS responses carry every resource;
     * RDS and EDS responses the ones they update (the others stay) */
    if (t == XDS_RDS || t == XDS_EDS || t == XDS_SDS) {
        for (size_t i = 0; i < ts->set.n; i++) {
            const struct xds_resource *o = &ts->set.v[i];
            struct xds_resource *cp;
            if (xds_index_get(&ix, o->name) >= 0 || !name_in(ts->names, ts->nnames, o->name))
                continue;
            /* re-decode would cost; copy by re-packing the message */
            fresh.v = tern_realloc(fresh.v, (fresh.n + 1) * sizeof(*fresh.v));
            cp = &fresh.v[fresh.n++];
            memset(cp, 0, sizeof(*cp));
            {
                size_t len = protobuf_c_message_get_packed_size(o->msg);
                uint8_t *b = tern_malloc(len ? len : 1);
                protobuf_c_message_pack(o->msg, b);
                cp->msg = protobuf_c_message_unpack(o->msg->descriptor, NULL, len, b);
                free(b);
            }
            cp->name = tern_strdup(o->name);
            cp->version = tern_strdup(o->version);
            cp->hash = o->hash;
        }
    }
    xds_index_free(&ix);
    if (commit_set(c, t, fresh, r->version_info, &old) != 0) {
        set_free(&fresh);
        return;
    }
    set_free(&old);
    after_accept(c);
}

/* ---- Delta responses ---------------------------------------------------------------- */

/*
 * One DeltaDiscoveryResponse: the changed resources replace or join the
 * accepted ones, removed_resources leave, and the result is committed as a
 * whole. A resource of a by-name type that tern did not ask for is skipped
 * (the server may send more than asked; it is not used).
 */
static void handle_delta_response(struct xds_client *c, const DeltaDiscoveryResponse *r)
{
    int ti = xds_type_of_url(r->type_url);
    struct type_state *ts;
    struct xds_resource_set old, fresh = {0}, upd = {0}, prev;
    struct xds_name_index oix = {0}, uix = {0};
    bool *gone = NULL;
    char err[NACK_DETAIL_MAX];
    const char *version = r->system_version_info;
    enum xds_type t;
    size_t nremoved = 0;

    if (ti < 0) {
        log_warn("xds: a response of type '%s', which tern did not ask for: ignored",
                 r->type_url);
        return;
    }
    t = (enum xds_type)ti;
    ts = &c->types[t];
    set_str(&ts->nonce, r->nonce);
    old = ts->set;
    xds_index_set(&oix, &old);
    xds_index_init(&uix, r->n_resources);
    upd.v = tern_calloc(r->n_resources ? r->n_resources : 1, sizeof(*upd.v));
    err[0] = 0;
    for (size_t i = 0; i < r->n_resources && !err[0]; i++) {
        const Envoy__Service__Discovery__V3__Resource *rr = r->resources[i];
        struct xds_resource *res = &upd.v[upd.n];

        if (rr->ttl) {
            snprintf(err, sizeof(err), "%s '%s': Resource.ttl is not supported",
                     xds_type_name(t), rr->name);
            break;
        }
        if (!rr->resource) {
            snprintf(err, sizeof(err), "%s '%s': a Resource without resource (a TTL "
                                       "heartbeat; tern does not support ttl)",
                     xds_type_name(t), rr->name);
            break;
        }
        if (xds_resource_decode(t, rr->resource->type_url, rr->resource->value.data,
                                rr->resource->value.len, res, err, sizeof(err)) != 0)
            break;
        if (rr->name[0] && strcmp(rr->name, res->name) != 0) {
            snprintf(err, sizeof(err), "Resource '%s' holds %s '%s' (the names differ)",
                     rr->name, xds_type_name(t), res->name);
            xds_resource_clear(res);
            break;
        }
        if (!ts->wildcard && !name_in(ts->names, ts->nnames, res->name)) {
            log_debug("xds: %s '%s' was not asked for: skipped", xds_type_name(t), res->name);
            xds_resource_clear(res);
            continue;
        }
        if (xds_index_get(&uix, res->name) >= 0) {
            snprintf(err, sizeof(err), "%s '%s' appears twice in the response",
                     xds_type_name(t), res->name);
            xds_resource_clear(res);
            break;
        }
        res->version = tern_strdup(rr->version);
        xds_index_put(&uix, upd.v[upd.n].name, (uint32_t)upd.n);
        upd.n++;
    }
    gone = tern_calloc(old.n + 1, sizeof(*gone));
    for (size_t i = 0; i < r->n_removed_resources && !err[0]; i++) {
        const char *name = r->removed_resources[i];
        long p;
        if (xds_index_get(&uix, name) >= 0) {
            snprintf(err, sizeof(err), "%s '%s' is both in resources and in removed_resources",
                     xds_type_name(t), name);
            break;
        }
        p = xds_index_get(&oix, name);
        if (p >= 0 && !gone[p]) {
            gone[p] = true;
            nremoved++;
        }
    }
    if (err[0]) {
        nack(c, t, version, err);
        goto out;
    }
    if (upd.n == 0 && nremoved == 0 && ts->received) {
        /* nothing changed (e.g. the answer to a resubscription): ACK only */
        set_str(&ts->version, version);
        ts->accepted++;
        ts->last_update = time(NULL);
        reply(c, t, NULL);
        goto out;
    }
    /* the new set: the old resources kept (shared, not copied), then the
     * updated ones */
    for (size_t i = 0; i < upd.n; i++) {
        long p = xds_index_get(&oix, upd.v[i].name);
        if (p >= 0)
            gone[p] = true;
    }
    fresh.v = tern_calloc(old.n + upd.n + 1, sizeof(*fresh.v));
    for (size_t i = 0; i < old.n; i++)
        if (!gone[i])
            fresh.v[fresh.n++] = old.v[i];
    for (size_t i = 0; i < upd.n; i++)
        fresh.v[fresh.n++] = upd.v[i];
    if (commit_set(c, t, fresh, version, &prev) != 0) {
        free(fresh.v); /* its entries are old's (still in place) or upd's (freed below) */
        goto out;
    }
    /* accepted: what was replaced or removed goes; upd's entries live on in fresh */
    for (size_t i = 0; i < prev.n; i++)
        if (gone[i])
            xds_resource_clear(&prev.v[i]);
    free(prev.v);
    free(upd.v);
    upd.v = NULL;
    upd.n = 0;
    after_accept(c);
out:
    set_free(&upd);
    free(gone);
    xds_index_free(&oix);
    xds_index_free(&uix);
}

/* ---- stream callbacks ---------------------------------------------------------------- */

static void on_stream(void *arg, uint64_t gen)
{
    struct xds_client *c = arg;

    c->gen = gen;
    c->connected = false;
    c->streams++;
    for (int t = 0; t < XDS_NTYPES; t++)
        set_str(&c->types[t].nonce, NULL); /* nonces belong to a stream */
    for (size_t i = 0; i < TERN_ARRAY_SIZE(send_order); i++) {
        if (!subscribed(&c->types[send_order[i]]))
            continue;
        if (c->delta)
            send_delta_initial(c, send_order[i]);
        else
            send_request(c, send_order[i], NULL);
    }
}

static void on_response(void *arg, uint64_t gen, void *msg)
{
    struct xds_client *c = arg;

    if (gen == c->gen) {
        if (!c->connected) {
            log_notice("xds: connected to the control plane");
            c->connected = true;
            c->disconnected_since = 0;
            c->last_stream_error[0] = 0;
        }
        if (c->delta)
            handle_delta_response(c, msg);
        else
            handle_response(c, msg);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void on_closed(void *arg, uint64_t gen, int status, const char *detail, uint32_t retry_ms)
{
    struct xds_client *c = arg;

    if (gen != c->gen)
        return;
    c->gen = 0;
    if (c->connected || !c->disconnected_since) {
        c->disconnected_since = time(NULL);
        log_warn("xds: stream to the control plane ended (gRPC status %d: %s); serving the last "
                 "good configuration; retrying in %ums", status, detail, retry_ms);
    } else {
        log_debug("xds: cannot reach the control plane (gRPC status %d: %s); retrying in %ums",
                  status, detail, retry_ms);
    }
    c->connected = false;
    c->stream_failures++;
    snprintf(c->last_stream_error, sizeof(c->last_stream_error), "gRPC status %d: %s", status,
             detail);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? tern_strdup(s) : NULL;
}

/* Node.metadata from the node-metadata lines: a Struct of string Values. */
static void build_metadata(struct xds_client *c, const struct model_xds *cfg)
{
    Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
    size_t n = cfg->nmeta;

    c->meta = st;
    if (!n)
        return;
    c->meta_entries = tern_calloc(n, sizeof(*c->meta_entries));
    c->meta_fields = tern_calloc(n, sizeof(*c->meta_fields));
    c->meta_values = tern_calloc(n, sizeof(*c->meta_values));
    for (size_t i = 0; i < n; i++) {
        Google__Protobuf__Struct__FieldsEntry e = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
        Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
        v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        v.string_value = tern_strdup(cfg->meta_values[i]);
        c->meta_values[i] = v;
        e.key = tern_strdup(cfg->meta_keys[i]);
        e.value = &c->meta_values[i];
        c->meta_entries[i] = e;
        c->meta_fields[i] = &c->meta_entries[i];
    }
    c->meta.n_fields = n;
    c->meta.fields = c->meta_fields;
}

static void free_metadata(struct xds_client *c)
{
    for (size_t i = 0; i < c->meta.n_fields; i++) {
        free(c->meta_entries[i].key);
        free(c->meta_values[i].string_value);
    }
    free(c->meta_entries);
    free(c->meta_fields);
    free(c->meta_values);
}

struct xds_client *xds_client_start(struct event_base *base, const struct model_xds *cfg,
                                    const struct xds_client_ops *ops, void *arg, char *err,
                                    size_t errlen)
{
    struct xds_client *c;
    struct ads_stream_conf sc = {0};
    static const struct ads_stream_cbs cbs = {on_stream, on_response, on_closed};

    c = tern_calloc(1, sizeof(*c));
    c->delta = cfg->protocol == XDS_PROTOCOL_DELTA;
    c->cfg.node_id = dup_or_null(cfg->node_id);
    c->cfg.node_cluster = dup_or_null(cfg->node_cluster);
    c->cfg.region = dup_or_null(cfg->region);
    c->cfg.zone = dup_or_null(cfg->zone);
    c->cfg.init_timeout_ms = cfg->init_timeout_ms;
    build_metadata(c, cfg);
    c->ops = *ops;
    c->arg = arg;
    c->base = base;
    c->types[XDS_LDS].wildcard = true;
    c->types[XDS_CDS].wildcard = true;
    c->disconnected_since = time(NULL);
    c->init_timer = evtimer_new(base, init_timer_cb, c);
    arm_init_timer(c);
    sc.server = cfg->server;
    sc.serverlen = cfg->serverlen;
    sc.ca_pem = cfg->ca_pem;
    sc.verifyhost = cfg->verifyhost;
    sc.delta = c->delta;
    sc.backoff_base_ms = BACKOFF_BASE_MS;
    sc.backoff_max_ms = BACKOFF_MAX_MS;
    sc.max_message_bytes = MAX_MESSAGE_BYTES;
    c->stream = ads_stream_start(&sc, base, &cbs, c, err, errlen);
    if (!c->stream) {
        xds_client_stop(c);
        return NULL;
    }
    return c;
}

void xds_client_stop(struct xds_client *c)
{
    if (!c)
        return;
    ads_stream_stop(c->stream);
    if (c->init_timer)
        event_free(c->init_timer);
    for (int t = 0; t < XDS_NTYPES; t++) {
        struct type_state *ts = &c->types[t];
        set_free(&ts->set);
        xds_names_free(ts->names, ts->nnames);
        free(ts->version);
        free(ts->nonce);
        free(ts->last_nack);
        free(ts->last_nack_version);
    }
    free(c->cfg.node_id);
    free(c->cfg.node_cluster);
    free(c->cfg.region);
    free(c->cfg.zone);
    free_metadata(c);
    free(c);
}

int xds_client_rebuild(struct xds_client *c, char *err, size_t errlen)
{
    return rebuild(c, err, errlen);
}

/* ---- visibility ------------------------------------------------------------------------ */

static const char *type_key(enum xds_type t)
{
    static const char *const k[XDS_NTYPES] = {
        [XDS_CDS] = "cds", [XDS_EDS] = "eds", [XDS_LDS] = "lds", [XDS_RDS] = "rds",
        [XDS_SDS] = "sds"};
    return k[t];
}

bool xds_client_ready(const struct xds_client *c, char *detail, size_t len)
{
    if (!c->initialized) {
        snprintf(detail, len, "xds: waiting for the initial resources from the control plane "
                              "(%s%s%s)", c->connected ? "connected" : "not connected",
                 c->warming_why[0] ? "; " : "", c->warming_why);
        return false;
    }
    if (!c->connected)
        snprintf(detail, len, "xds: control plane unreachable for %llds (%s); serving the last "
                              "good configuration",
                 (long long)(time(NULL) - c->disconnected_since),
                 c->last_stream_error[0] ? c->last_stream_error : "connecting");
    else if (c->warming)
        snprintf(detail, len, "xds: connected; warming: %s", c->warming_why);
    else
        snprintf(detail, len, "xds: connected");
    return true;
}

static void json_time(struct json_writer *w, time_t t)
{
    if (t)
        json_uint(w, (uint64_t)t);
    else
        json_null(w);
}

void xds_client_config_dump(const struct xds_client *c, struct evbuffer *out)
{
    struct json_writer w;

    json_init(&w, out);
    json_object_begin(&w);
    json_key(&w, "control_plane");
    json_object_begin(&w);
    json_key(&w, "connected");
    json_bool(&w, c->connected);
    json_key(&w, "disconnected_since");
    json_time(&w, c->connected ? 0 : c->disconnected_since);
    json_key(&w, "last_error");
    json_string(&w, c->last_stream_error[0] ? c->last_stream_error : NULL);
    json_key(&w, "streams");
    json_uint(&w, c->streams);
    json_object_end(&w);
    json_key(&w, "protocol");
    json_string(&w, c->delta ? "delta" : "sotw");
    json_key(&w, "initialized");
    json_bool(&w, c->initialized);
    json_key(&w, "warming");
    json_string(&w, c->warming ? c->warming_why : NULL);
    json_key(&w, "snapshots_applied");
    json_uint(&w, c->applied);
    /* what the last applied snapshot built: an EDS update of one cluster
     * builds one and carries the others over */
    json_key(&w, "last_build");
    json_object_begin(&w);
    json_key(&w, "clusters_built");
    json_uint(&w, c->last_build.clusters_built);
    json_key(&w, "clusters_carried");
    json_uint(&w, c->last_build.clusters_carried);
    json_object_end(&w);
    json_key(&w, "types");
    json_object_begin(&w);
    for (int t = 0; t < XDS_NTYPES; t++) {
        const struct type_state *ts = &c->types[t];
        json_key(&w, type_key((enum xds_type)t));
        json_object_begin(&w);
        json_key(&w, "type_url");
        json_string(&w, xds_type_url((enum xds_type)t));
        json_key(&w, "version");
        json_string(&w, ts->version);
        json_key(&w, "accepted");
        json_uint(&w, ts->accepted);
        json_key(&w, "rejected");
        json_uint(&w, ts->rejected);
        json_key(&w, "last_update");
        json_time(&w, ts->last_update);
        json_key(&w, "last_nack");
        if (ts->last_nack) {
            json_object_begin(&w);
            json_key(&w, "version");
            json_string(&w, ts->last_nack_version);
            json_key(&w, "error");
            json_string(&w, ts->last_nack);
            json_key(&w, "time");
            json_time(&w, ts->last_nack_time);
            json_object_end(&w);
        } else {
            json_null(&w);
        }
        if (!ts->wildcard) {
            json_key(&w, "subscribed");
            json_array_begin(&w);
            for (size_t i = 0; i < ts->nnames; i++)
                json_string(&w, ts->names[i]);
            json_array_end(&w);
        }
        json_key(&w, "resources");
        json_array_begin(&w);
        for (size_t i = 0; i < ts->set.n; i++) {
            json_object_begin(&w);
            json_key(&w, "name");
            json_string(&w, ts->set.v[i].name);
            json_key(&w, "version");
            json_string(&w, ts->set.v[i].version);
            json_object_end(&w);
        }
        json_array_end(&w);
        json_object_end(&w);
    }
    json_object_end(&w);
    json_object_end(&w);
    evbuffer_add(out, "\n", 1);
}

void xds_client_metrics(const struct xds_client *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP tern_xds_connected 1 while the ADS stream to the control "
                             "plane delivers responses.\n# TYPE tern_xds_connected gauge\n"
                             "tern_xds_connected %d\n", c->connected ? 1 : 0);
    evbuffer_add_printf(out, "# HELP tern_xds_stream_failures_total ADS streams that ended or "
                             "could not be opened (unreachable, TLS refused, closed).\n"
                             "# TYPE tern_xds_stream_failures_total counter\n"
                             "tern_xds_stream_failures_total %llu\n",
                        (unsigned long long)c->stream_failures);
    evbuffer_add_printf(out, "# HELP tern_xds_updates_total xDS responses by type and result "
                             "(accepted: ACK, rejected: NACK).\n"
                             "# TYPE tern_xds_updates_total counter\n");
    for (int t = 0; t < XDS_NTYPES; t++) {
        evbuffer_add_printf(out, "tern_xds_updates_total{type=\"%s\",result=\"accepted\"} %llu\n",
                            type_key((enum xds_type)t),
                            (unsigned long long)c->types[t].accepted);
        evbuffer_add_printf(out, "tern_xds_updates_total{type=\"%s\",result=\"rejected\"} %llu\n",
                            type_key((enum xds_type)t),
                            (unsigned long long)c->types[t].rejected);
    }
    evbuffer_add_printf(out, "# HELP tern_xds_last_update_timestamp_seconds Wall time of the "
                             "last accepted response, by type (0: none).\n"
                             "# TYPE tern_xds_last_update_timestamp_seconds gauge\n");
    for (int t = 0; t < XDS_NTYPES; t++)
        evbuffer_add_printf(out, "tern_xds_last_update_timestamp_seconds{type=\"%s\"} %lld\n",
                            type_key((enum xds_type)t), (long long)c->types[t].last_update);
    evbuffer_add_printf(out, "# HELP tern_xds_clusters_built_total xDS clusters built anew "
                             "by the snapshots applied.\n"
                             "# TYPE tern_xds_clusters_built_total counter\n"
                             "tern_xds_clusters_built_total %llu\n"
                             "# HELP tern_xds_clusters_carried_total xDS clusters carried over "
                             "unchanged (running, not rebuilt) by the snapshots applied.\n"
                             "# TYPE tern_xds_clusters_carried_total counter\n"
                             "tern_xds_clusters_carried_total %llu\n",
                        (unsigned long long)c->clusters_built,
                        (unsigned long long)c->clusters_carried);
    evbuffer_add_printf(out, "# HELP tern_xds_resources Accepted resources, by type.\n"
                             "# TYPE tern_xds_resources gauge\n");
    for (int t = 0; t < XDS_NTYPES; t++)
        evbuffer_add_printf(out, "tern_xds_resources{type=\"%s\"} %zu\n",
                            type_key((enum xds_type)t), c->types[t].set.n);
}
