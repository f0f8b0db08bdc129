/*
 * xds_translate.c: decoding, the strict field check and the mapping of
 * Listener, RouteConfiguration, Cluster and ClusterLoadAssignment onto the
 * model (see xds_translate.h; what maps to what is in README "xDS").
 *
 * The field check is one table: for every message tern interprets, the
 * field numbers it honours. A field set outside that list, or any unknown
 * field (protobuf-c keeps them in base.unknown_fields), refuses the resource.
 * Messages not in the table (Duration, wrappers, Metadata, Locality,
 * ConfigSource) are leaves: read where needed, never walked.
 */
#include "xds/client/xds_translate.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "proxy/acl/acl.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"
#include "filters/filter.h"
#include "xds/client/xds_http.h"
#include "xds/client/xds_tls.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb-c.h"
#include "envoy/extensions/filters/http/rbac/v3/rbac.pb-c.h"

#define TYPE_PREFIX "type.googleapis.com/"

typedef Envoy__Config__Listener__V3__Listener Listener;
typedef Envoy__Config__Listener__V3__FilterChain FilterChain;
typedef Envoy__Config__Route__V3__RouteConfiguration RouteConfiguration;
typedef Envoy__Config__Route__V3__VirtualHost VirtualHost;
typedef Envoy__Config__Route__V3__Route Route;
typedef Envoy__Config__Route__V3__RouteMatch RouteMatch;
typedef Envoy__Config__Route__V3__HeaderMatcher HeaderMatcher;
typedef Envoy__Config__Cluster__V3__Cluster Cluster;
typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment ClusterLoadAssignment;
typedef Envoy__Config__Core__V3__SocketAddress SocketAddress;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager Hcm;
typedef Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy TcpProxy;

static const ProtobufCMessageDescriptor *const type_desc[XDS_NTYPES] = {
    [XDS_CDS] = &envoy__config__cluster__v3__cluster__descriptor,
    [XDS_EDS] = &envoy__config__endpoint__v3__cluster_load_assignment__descriptor,
    [XDS_LDS] = &envoy__config__listener__v3__listener__descriptor,
    [XDS_RDS] = &envoy__config__route__v3__route_configuration__descriptor,
    [XDS_SDS] = &envoy__extensions__transport_sockets__tls__v3__secret__descriptor,
};

static const char *const type_urls[XDS_NTYPES] = {
    [XDS_CDS] = TYPE_PREFIX "envoy.config.cluster.v3.Cluster",
    [XDS_EDS] = TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment",
    [XDS_LDS] = TYPE_PREFIX "envoy.config.listener.v3.Listener",
    [XDS_RDS] = TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration",
    [XDS_SDS] = TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.Secret",
};

#define HCM_URL TYPE_PREFIX "envoy.extensions.filters.network.http_connection_manager.v3." \
                            "HttpConnectionManager"
#define TCP_PROXY_URL TYPE_PREFIX "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define ROUTER_URL TYPE_PREFIX "envoy.extensions.filters.http.router.v3.Router"

const char *xds_type_url(enum xds_type t)
{
    return type_urls[t];
}

const char *xds_type_name(enum xds_type t)
{
    return type_desc[t]->short_name;
}

int xds_type_of_url(const char *url)
{
    for (int t = 0; t < XDS_NTYPES; t++)
        if (strcmp(url, type_urls[t]) == 0)
            return t;
    return -1;
}

/* ---- the strict field check -------------------------------------------------- */

/* Field numbers tern honours, per message (full protobuf name); 0 ends. */
struct allowed {
    const char *msg;
    uint32_t fields[16];
};

static const struct allowed allowed[] = {
    /* name, address, filter_chains, metadata, stat_prefix, enable_reuse_port */
    {"envoy.config.listener.v3.Listener", {1, 2, 3, 6, 28, 29}},
    /* filters, metadata, transport_socket (xds_tls.c), name */
    {"envoy.config.listener.v3.FilterChain", {3, 5, 6, 7}},
    /* name, typed_config: envoy.transport_sockets.tls only */
    {"envoy.config.core.v3.TransportSocket", {1, 3}},
    /* common_tls_context, require_client_certificate */
    {"envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {1, 2}},
    /* common_tls_context, sni */
    {"envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {1, 2}},
    /* alpn_protocols, tls_certificate_sds_secret_configs, validation_context_sds_secret_config,
     * combined_validation_context */
    {"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", {4, 6, 7, 8}},
    {"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext."
     "CombinedCertificateValidationContext", {1, 2}},
    /* trusted_ca (in a Secret), match_subject_alt_names, match_typed_subject_alt_names */
    {"envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", {1, 9, 15}},
    {"envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", {1, 2}},
    /* name, sds_config (any source: tern's one ADS stream) */
    {"envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", {1, 2}},
    /* name, tls_certificate, validation_context */
    {"envoy.extensions.transport_sockets.tls.v3.Secret", {1, 2, 4}},
    /* certificate_chain, private_key */
    {"envoy.extensions.transport_sockets.tls.v3.TlsCertificate", {1, 2}},
    /* inline_bytes, inline_string */
    {"envoy.config.core.v3.DataSource", {2, 3}},
    {"envoy.config.listener.v3.Filter", {1, 4}},
    {"envoy.config.core.v3.Address", {1}},
    /* protocol (TCP only, checked), address, port_value */
    {"envoy.config.core.v3.SocketAddress", {1, 2, 3}},
    /* codec_type (checked), stat_prefix, rds, route_config, http_filters */
    {"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
     {1, 2, 3, 4, 5}},
    {"envoy.extensions.filters.network.http_connection_manager.v3.Rds", {1, 2}},
    /* name, typed_config, is_optional, disabled */
    {"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", {1, 4, 6, 7}},
    {"envoy.extensions.filters.http.router.v3.Router", {0}},
    /* stat_prefix, cluster */
    {"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {1, 2}},
    /* name, virtual_hosts, validate_clusters */
    {"envoy.config.route.v3.RouteConfiguration", {1, 2, 7}},
    {"envoy.config.route.v3.VirtualHost", {1, 2, 3}},
    /* match, route, metadata, name */
    {"envoy.config.route.v3.Route", {1, 2, 4, 14}},
    /* prefix, path, case_sensitive, headers, safe_regex */
    {"envoy.config.route.v3.RouteMatch", {1, 2, 4, 6, 10}},
    /* regex (any engine: PCRE2 reads RE2's syntax for the common subset) */
    {"envoy.type.matcher.v3.RegexMatcher", {1, 2}},
    {"envoy.type.matcher.v3.RegexMatcher.GoogleRE2", {0}},
    /* name, exact, present, prefix, suffix, safe_regex, contains, invert */
    {"envoy.config.route.v3.HeaderMatcher", {1, 4, 7, 9, 10, 11, 12, 8}},
    /* cluster, timeout, retry_policy (xds_http.c) */
    {"envoy.config.route.v3.RouteAction", {1, 8, 9}},
    /* retry_on, num_retries, per_try_timeout, retriable_status_codes */
    {"envoy.config.route.v3.RetryPolicy", {1, 2, 3, 7}},
    /* rules, rules_stat_prefix (xds_http.c: the rbac filter) */
    {"envoy.extensions.filters.http.rbac.v3.RBAC", {1, 6}},
    /* action, policies */
    {"envoy.config.rbac.v3.RBAC", {1, 2}},
    {"envoy.config.rbac.v3.RBAC.PoliciesEntry", {1, 2}},
    /* permissions, principals */
    {"envoy.config.rbac.v3.Policy", {1, 2}},
    /* any */
    {"envoy.config.rbac.v3.Permission", {3}},
    /* any, authenticated */
    {"envoy.config.rbac.v3.Principal", {3, 4}},
    {"envoy.config.rbac.v3.Principal.Authenticated", {2}},
    /* exact, prefix, ignore_case (refused where it matters) */
    {"envoy.type.matcher.v3.StringMatcher", {1, 2, 6}},
    /* stat_prefix, status, token_bucket, filter_enabled, filter_enforced */
    {"envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", {1, 2, 3, 4, 5}},
    {"envoy.type.v3.HttpStatus", {1}},
    /* max_tokens, tokens_per_fill, fill_interval */
    {"envoy.type.v3.TokenBucket", {1, 2, 3}},
    /* default_value, runtime_key (tern has no runtime: the default applies) */
    {"envoy.config.core.v3.RuntimeFractionalPercent", {1, 2}},
    {"envoy.type.v3.FractionalPercent", {1, 2}},
    /* name, type, eds_cluster_config, connect_timeout, lb_policy, metadata,
     * alt_stat_name, load_assignment, least_request_lb_config */
    {"envoy.config.cluster.v3.Cluster", {1, 2, 3, 4, 6, 24, 25, 28, 33, 37}},
    {"envoy.config.cluster.v3.Cluster.EdsClusterConfig", {1, 2}},
    {"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig", {1}},
    /* cluster_name, endpoints */
    {"envoy.config.endpoint.v3.ClusterLoadAssignment", {1, 2}},
    /* locality, lb_endpoints, load_balancing_weight (used only by locality
     * weighted LB, which tern has not: no effect), priority (0 only) */
    {"envoy.config.endpoint.v3.LocalityLbEndpoints", {1, 2, 3, 5}},
    /* endpoint, health_status, metadata, load_balancing_weight */
    {"envoy.config.endpoint.v3.LbEndpoint", {1, 2, 3, 4}},
    /* address, hostname */
    {"envoy.config.endpoint.v3.Endpoint", {1, 3}},
};

static const struct allowed *allowed_for(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < TERN_ARRAY_SIZE(allowed); i++)
        if (strcmp(allowed[i].msg, d->name) == 0)
            return &allowed[i];
    return NULL;
}

static bool field_allowed(const struct allowed *a, uint32_t id)
{
    for (size_t i = 0; i < TERN_ARRAY_SIZE(a->fields) && a->fields[i]; i++)
        if (a->fields[i] == id)
            return true;
    return false;
}

static bool field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    const void *p = base + f->offset;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)p != NULL;
    case PROTOBUF_C_TYPE_STRING: return *(char *const *)p && **(char *const *)p;
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return *(const uint64_t *)p != 0;
    default: return *(const uint32_t *)p != 0;
    }
}

/* Walks m; returns 0 or -1 with "unsupported field ..." in err. */
static int check_fields(const ProtobufCMessage *m, char *err, size_t errlen);

int xds_check_fields(const ProtobufCMessage *m, char *err, size_t errlen)
{
    return check_fields(m, err, errlen);
}

static int check_fields(const ProtobufCMessage *m, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const struct allowed *a = allowed_for(d);

    if (!a)
        return 0; /* a leaf */
    if (m->n_unknown_fields) {
        snprintf(err, errlen, "unsupported field %u of %s (unknown to tern)",
                 m->unknown_fields[0].tag, d->name);
        return -1;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!field_is_set(m, f))
            continue;
        if (!field_allowed(a, f->id)) {
            snprintf(err, errlen, "unsupported field %u (%s) of %s", f->id, f->name, d->name);
            return -1;
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)((const char *)m +
                                                                             f->offset);
            for (size_t j = 0; j < n; j++)
                if (check_fields(v[j], err, errlen))
                    return -1;
        } else if (check_fields(*(ProtobufCMessage *const *)((const char *)m + f->offset), err,
                                errlen)) {
            return -1;
        }
    }
    return 0;
}

/* Unpacks an Any of the expected type and checks it. */
static ProtobufCMessage *unpack_any(const Google__Protobuf__Any *any,
                                    const ProtobufCMessageDescriptor *d, char *err,
                                    size_t errlen)
{
    ProtobufCMessage *m;
    char want[256];

    snprintf(want, sizeof(want), TYPE_PREFIX "%s", d->name);
    if (!any || strcmp(any->type_url, want) != 0) {
        snprintf(err, errlen, "typed_config is '%s', expected '%s'", any ? any->type_url : "",
                 want);
        return NULL;
    }
    m = protobuf_c_message_unpack(d, NULL, any->value.len, any->value.data);
    if (!m) {
        snprintf(err, errlen, "typed_config of type %s does not decode", d->name);
        return NULL;
    }
    if (check_fields(m, err, errlen)) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

/* ---- resources ---------------------------------------------------------------- */

static const char *resource_name(enum xds_type t, const ProtobufCMessage *m)
{
    switch (t) {
    case XDS_CDS: return ((const Cluster *)m)->name;
    case XDS_EDS: return ((const ClusterLoadAssignment *)m)->cluster_name;
    case XDS_LDS: return ((const Listener *)m)->name;
    case XDS_RDS: return ((const RouteConfiguration *)m)->name;
    case XDS_SDS: return ((const XdsSecret *)m)->name;
    default: return "";
    }
}

static int check_listener(const Listener *l, char *err, size_t errlen);
static int check_cluster(const Cluster *c, char *err, size_t errlen);
static int check_cla(const ClusterLoadAssignment *a, char *err, size_t errlen);

int xds_resource_decode(enum xds_type t, const char *type_url, const uint8_t *data, size_t len,
                        struct xds_resource *out, char *err, size_t errlen)
{
    ProtobufCMessage *m;
    const char *name;
    char why[512];

    memset(out, 0, sizeof(*out));
    if (strcmp(type_url, type_urls[t]) != 0) {
        snprintf(err, errlen, "a resource of type '%s' in a %s response", type_url,
                 xds_type_name(t));
        return -1;
    }
    m = protobuf_c_message_unpack(type_desc[t], NULL, len, data);
    if (!m) {
        snprintf(err, errlen, "a %s does not decode (malformed protobuf)", xds_type_name(t));
        return -1;
    }
    name = resource_name(t, m);
    if (!name || !name[0]) {
        snprintf(err, errlen, "a %s has no name", xds_type_name(t));
        protobuf_c_message_free_unpacked(m, NULL);
        return -1;
    }
    why[0] = 0;
    if (check_fields(m, why, sizeof(why)) == 0) {
        if (t == XDS_LDS)
            check_listener((const Listener *)m, why, sizeof(why));
        else if (t == XDS_CDS)
            check_cluster((const Cluster *)m, why, sizeof(why));
        else if (t == XDS_EDS)
            check_cla((const ClusterLoadAssignment *)m, why, sizeof(why));
        else if (t == XDS_SDS)
            xds_tls_check_secret((const XdsSecret *)m, why, sizeof(why));
    }
    if (why[0]) {
        snprintf(err, errlen, "%s '%s': %s", xds_type_name(t), name, why);
        protobuf_c_message_free_unpacked(m, NULL);
        return -1;
    }
    out->name = tern_strdup(name);
    out->msg = m;
    out->hash = tern_hash64(data, len, 0x7864735f72657321ull);
    return 0;
}

void xds_resource_clear(struct xds_resource *r)
{
    free(r->name);
    free(r->version);
    if (r->msg)
        protobuf_c_message_free_unpacked(r->msg, NULL);
    memset(r, 0, sizeof(*r));
}

struct xds_resource *xds_set_find(const struct xds_resource_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i].name, name) == 0)
            return &set->v[i];
    return NULL;
}

/* ---- the name index ------------------------------------------------------------- */

void xds_index_init(struct xds_name_index *ix, size_t expected)
{
    size_t cap = 16;

    while (cap < 2 * expected + 2)
        cap <<= 1;
    ix->key = tern_calloc(cap, sizeof(*ix->key));
    ix->val = tern_calloc(cap, sizeof(*ix->val));
    ix->mask = cap - 1;
    ix->n = 0;
}

static size_t index_home(const struct xds_name_index *ix, const char *key)
{
    return (size_t)tern_hash64(key, strlen(key), 0x6e616d6573ull) & ix->mask;
}

void xds_index_put(struct xds_name_index *ix, const char *key, uint32_t val)
{
    size_t h;

    if (2 * (ix->n + 1) > ix->mask + 1) {
        struct xds_name_index big;
        xds_index_init(&big, ix->n + 1);
        for (size_t i = 0; i <= ix->mask; i++)
            if (ix->key[i])
                xds_index_put(&big, ix->key[i], ix->val[i]);
        xds_index_free(ix);
        *ix = big;
    }
    for (h = index_home(ix, key); ix->key[h]; h = (h + 1) & ix->mask)
        ;
    ix->key[h] = key;
    ix->val[h] = val;
    ix->n++;
}

long xds_index_get(const struct xds_name_index *ix, const char *key)
{
    if (!ix->key)
        return -1;
    for (size_t h = index_home(ix, key); ix->key[h]; h = (h + 1) & ix->mask)
        if (strcmp(ix->key[h], key) == 0)
            return (long)ix->val[h];
    return -1;
}

void xds_index_free(struct xds_name_index *ix)
{
    free(ix->key);
    free(ix->val);
    memset(ix, 0, sizeof(*ix));
}

void xds_index_set(struct xds_name_index *ix, const struct xds_resource_set *set)
{
    xds_index_init(ix, set->n);
    for (size_t i = 0; i < set->n; i++)
        xds_index_put(ix, set->v[i].name, (uint32_t)i);
}

/* ---- checks that need no other resource ---------------------------------------- */

static int parse_socket_address(const Envoy__Config__Core__V3__Address *a,
                                struct sockaddr_storage *ss, socklen_t *len, char *err,
                                size_t errlen)
{
    const SocketAddress *sa = a ? a->socket_address : NULL;
    uint32_t port;

    memset(ss, 0, sizeof(*ss));
    if (!sa) {
        snprintf(err, errlen, "address: no socket_address");
        return -1;
    }
    if (sa->protocol != ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PROTOCOL__TCP) {
        snprintf(err, errlen, "address: protocol UDP is not supported");
        return -1;
    }
    if (sa->port_specifier_case !=
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
        snprintf(err, errlen, "address: no port_value");
        return -1;
    }
    port = sa->port_value;
    if (port == 0 || port > 65535) {
        snprintf(err, errlen, "address: port_value %u is not 1..65535", port);
        return -1;
    }
    if (inet_pton(AF_INET, sa->address, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof(*in);
        return 0;
    }
    if (inet_pton(AF_INET6, sa->address, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    snprintf(err, errlen, "address: '%s' is not an IP address (tern does not resolve names)",
             sa->address);
    return -1;
}

/* The listener's one network filter, unpacked (caller frees), and which. */
static ProtobufCMessage *listener_filter(const Listener *l, bool *is_hcm, char *err,
                                         size_t errlen)
{
    const FilterChain *fc;
    const Envoy__Config__Listener__V3__Filter *f;

    if (l->n_filter_chains != 1) {
        snprintf(err, errlen, "filter_chains: %zu chains; tern supports exactly one (choosing "
                              "among chains needs filter_chain_match)", l->n_filter_chains);
        return NULL;
    }
    fc = l->filter_chains[0];
    if (fc->n_filters != 1) {
        snprintf(err, errlen, "filter_chains[0].filters: %zu filters; tern supports exactly "
                              "one (http_connection_manager or tcp_proxy)", fc->n_filters);
        return NULL;
    }
    f = fc->filters[0];
    if (f->config_type_case != ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG) {
        snprintf(err, errlen, "filter_chains[0].filters[0] '%s': no typed_config", f->name);
        return NULL;
    }
    if (strcmp(f->typed_config->type_url, HCM_URL) == 0) {
        *is_hcm = true;
        return unpack_any(f->typed_config,
                          &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
                          err, errlen);
    }
    if (strcmp(f->typed_config->type_url, TCP_PROXY_URL) == 0) {
        *is_hcm = false;
        return unpack_any(f->typed_config,
                          &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor,
                          err, errlen);
    }
    snprintf(err, errlen, "filter_chains[0].filters[0] '%s': network filter '%s' is not "
                          "supported (http_connection_manager or tcp_proxy)", f->name,
             f->typed_config->type_url);
    return NULL;
}

/* The typed_config of an rbac or local_ratelimit HTTP filter, unpacked and
 * field-checked; NULL with err. */
static ProtobufCMessage *http_filter_config(const Google__Protobuf__Any *any, char *err,
                                            size_t errlen)
{
    if (strcmp(any->type_url, XDS_RBAC_URL) == 0)
        return unpack_any(any, &envoy__extensions__filters__http__rbac__v3__rbac__descriptor, err,
                          errlen);
    return unpack_any(any,
                      &envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor,
                      err, errlen);
}

static int check_hcm(const Hcm *h, char *err, size_t errlen)
{
    size_t last = h->n_http_filters;

    if (h->codec_type != ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__AUTO &&
        h->codec_type != ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP1) {
        snprintf(err, errlen, "http_connection_manager: codec_type %d is not supported (AUTO or "
                              "HTTP1)", (int)h->codec_type);
        return -1;
    }
    if (h->route_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER__NOT_SET) {
        snprintf(err, errlen, "http_connection_manager: neither rds nor route_config");
        return -1;
    }
    if (h->route_specifier_case ==
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS &&
        !h->rds->route_config_name[0]) {
        snprintf(err, errlen, "http_connection_manager.rds: no route_config_name");
        return -1;
    }
    while (last > 0 && h->http_filters[last - 1]->disabled)
        last--;
    if (last == 0) {
        snprintf(err, errlen, "http_connection_manager.http_filters: no router filter (it must "
                              "be last)");
        return -1;
    }
    for (size_t i = 0; i < last; i++) {
        const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *f =
            h->http_filters[i];
        const char *url = f->config_type_case ==
                                  ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG
                              ? f->typed_config->type_url
                              : "";
        if (strcmp(url, ROUTER_URL) == 0) {
            ProtobufCMessage *r;
            if (i != last - 1) {
                snprintf(err, errlen, "http_connection_manager.http_filters[%zu]: the router "
                                      "must be the last filter", i);
                return -1;
            }
            r = unpack_any(f->typed_config, &envoy__extensions__filters__http__router__v3__router__descriptor,
                           err, errlen);
            if (!r)
                return -1;
            protobuf_c_message_free_unpacked(r, NULL);
            continue;
        }
        if (strcmp(url, XDS_RBAC_URL) == 0 || strcmp(url, XDS_LOCAL_RATELIMIT_URL) == 0) {
            struct filter_instance fi = {0};
            char why[384];
            ProtobufCMessage *m = http_filter_config(f->typed_config, why, sizeof(why));
            int rc = m ? xds_http_filter_build(url, m, &fi, why, sizeof(why)) : -1;
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
            if (rc == 0 && fi.ops->config_free)
                fi.ops->config_free(fi.cfg);
            if (rc < 0) {
                snprintf(err, errlen, "http_connection_manager.http_filters[%zu] '%.64s': %s", i,
                         f->name, why);
                return -1;
            }
            continue;
        }
        if (f->is_optional || f->disabled)
            continue; /* Envoy too skips an optional filter it does not know */
        snprintf(err, errlen, "http_connection_manager.http_filters[%zu] '%s': HTTP filter "
                              "'%s' is not supported%s", i, f->name, url,
                 i == last - 1 ? " (the router must be last)" : "");
        return -1;
    }
    return 0;
}

static int check_listener(const Listener *l, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ProtobufCMessage *f;
    bool is_hcm = false;
    int rc = 0;

    if (parse_socket_address(l->address, &ss, &len, err, errlen))
        return -1;
    f = listener_filter(l, &is_hcm, err, errlen);
    if (!f)
        return -1;
    if (l->filter_chains[0]->transport_socket &&
        xds_tls_check_downstream(l->filter_chains[0]->transport_socket, err, errlen) != 0) {
        protobuf_c_message_free_unpacked(f, NULL);
        return -1;
    }
    if (is_hcm) {
        rc = check_hcm((const Hcm *)f, err, errlen);
    } else {
        const TcpProxy *tp = (const TcpProxy *)f;
        if (tp->cluster_specifier_case !=
                ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_CLUSTER ||
            !tp->cluster[0]) {
            snprintf(err, errlen, "tcp_proxy: no cluster");
            rc = -1;
        }
    }
    protobuf_c_message_free_unpacked(f, NULL);
    return rc;
}

static int check_cla(const ClusterLoadAssignment *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *le = a->endpoints[i];
        if (le->priority != 0) {
            snprintf(err, errlen, "endpoints[%zu].priority %u: only priority 0 is supported", i,
                     le->priority);
            return -1;
        }
        for (size_t j = 0; j < le->n_lb_endpoints; j++) {
            const Envoy__Config__Endpoint__V3__LbEndpoint *e = le->lb_endpoints[j];
            struct sockaddr_storage ss;
            socklen_t len;
            char why[256];
            if (e->host_identifier_case !=
                    ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
                !e->endpoint) {
                snprintf(err, errlen, "endpoints[%zu].lb_endpoints[%zu]: no endpoint", i, j);
                return -1;
            }
            if (parse_socket_address(e->endpoint->address, &ss, &len, why, sizeof(why))) {
                snprintf(err, errlen, "endpoints[%zu].lb_endpoints[%zu].endpoint.%s", i, j, why);
                return -1;
            }
            if (e->load_balancing_weight &&
                (e->load_balancing_weight->value < 1 || e->load_balancing_weight->value > 256)) {
                snprintf(err, errlen, "endpoints[%zu].lb_endpoints[%zu].load_balancing_weight %u: "
                                      "tern supports 1..256", i, j,
                         e->load_balancing_weight->value);
                return -1;
            }
        }
    }
    return 0;
}

static int check_cluster(const Cluster *c, char *err, size_t errlen)
{
    if (c->transport_socket && xds_tls_check_upstream(c->transport_socket, err, errlen) != 0)
        return -1;
    switch (c->lb_policy) {
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN:
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST:
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM:
        break;
    default:
        snprintf(err, errlen, "lb_policy %d is not supported (ROUND_ROBIN, LEAST_REQUEST, "
                              "RANDOM)", (int)c->lb_policy);
        return -1;
    }
    if (c->type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC) {
        if (c->eds_cluster_config) {
            snprintf(err, errlen, "eds_cluster_config is set on a STATIC cluster");
            return -1;
        }
        if (c->load_assignment && check_cla(c->load_assignment, err, errlen)) {
            char why[512];
            snprintf(why, sizeof(why), "load_assignment.%s", err);
            snprintf(err, errlen, "%s", why);
            return -1;
        }
    } else if (c->type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS) {
        if (c->load_assignment) {
            snprintf(err, errlen, "load_assignment is set on an EDS cluster");
            return -1;
        }
    } else {
        snprintf(err, errlen, "type %d is not supported (STATIC or EDS)", (int)c->type);
        return -1;
    }
    if (c->connect_timeout &&
        (c->connect_timeout->seconds < 0 || c->connect_timeout->nanos < 0 ||
         c->connect_timeout->seconds > 86400 ||
         (c->connect_timeout->seconds == 0 && c->connect_timeout->nanos < 1000000))) {
        snprintf(err, errlen, "connect_timeout must be 1ms..24h");
        return -1;
    }
    if (c->lb_config_case ==
            ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_LEAST_REQUEST_LB_CONFIG &&
        c->least_request_lb_config->choice_count &&
        (c->least_request_lb_config->choice_count->value < 2 ||
         c->least_request_lb_config->choice_count->value > 100)) {
        snprintf(err, errlen, "least_request_lb_config.choice_count must be 2..100");
        return -1;
    }
    return 0;
}

/* ---- the model ------------------------------------------------------------------ */

/* Envoy's defaults where the model needs a value the resource does not give. */
#define DEFAULT_CONNECT_TIMEOUT_MS 5000   /* Cluster.connect_timeout */
#define HTTP_SERVER_TIMEOUT_MS 15000      /* RouteAction.timeout (tern: inactivity) */
#define HTTP_CLIENT_TIMEOUT_MS 300000     /* HCM stream_idle_timeout */
#define TCP_IDLE_TIMEOUT_MS 3600000       /* TcpProxy.idle_timeout */

struct xctx {
    struct snapshot *snap;
    const struct xds_resource_set *sets;
    bool lenient, cds_received;
    uint32_t first_dynamic_cluster;
    /* the running snapshot whose unchanged clusters are carried over (NULL:
     * none), its clusters by name (-> position), and per cluster of snap
     * (position - first_dynamic_cluster) the Cluster resource it came from
     * and whether it is a running cluster carried over */
    const struct snapshot *running;
    struct xds_name_index running_ix;
    const struct xds_resource **src;
    bool *carried;
    struct xds_build_stats *stats;
    /* per cluster of snap: who uses it (0 unused, 1 http, 2 tcp) */
    uint8_t *use;
    /* per cluster of snap: the routes' timeout / retry_policy (tern applies
     * them per cluster: every route to one cluster must agree) */
    struct xds_route_policy *policy;
    bool *has_policy;
    char (*policy_who)[160];
    /* lookups by name: the snapshot's clusters (-> id), and sets[] (-> position) */
    struct xds_name_index clusters, by_type[XDS_NTYPES];
    char *err;
    size_t errlen;
    bool warming;
};

static int xerr(struct xctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xerr(struct xctx *x, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int xwarm(struct xctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xwarm(struct xctx *x, const char *fmt, ...)
{
    va_list ap;

    if (!x->warming) {
        va_start(ap, fmt);
        vsnprintf(x->err, x->errlen, fmt, ap);
        va_end(ap);
    }
    x->warming = true;
    return 1;
}

static uint32_t duration_ms(const Google__Protobuf__Duration *d, uint32_t dflt)
{
    uint64_t ms;

    if (!d)
        return dflt;
    ms = (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
    return ms ? (uint32_t)ms : dflt;
}

static const char *eds_name(const Cluster *c)
{
    if (c->eds_cluster_config && c->eds_cluster_config->service_name[0])
        return c->eds_cluster_config->service_name;
    return c->name;
}

static void add_endpoints(struct cluster *c, const ClusterLoadAssignment *a)
{
    for (size_t i = 0; i < a->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *le = a->endpoints[i];
        for (size_t j = 0; j < le->n_lb_endpoints; j++) {
            const Envoy__Config__Endpoint__V3__LbEndpoint *e = le->lb_endpoints[j];
            const SocketAddress *sa;
            struct sockaddr_storage ss;
            socklen_t len;
            char name[320], why[128];
            struct endpoint *ep;

            if (!e->endpoint ||
                parse_socket_address(e->endpoint->address, &ss, &len, why, sizeof(why)))
                continue; /* refused at decode (check_cla) */
            sa = e->endpoint->address->socket_address;
            snprintf(name, sizeof(name), "%s%s%s:%u", ss.ss_family == AF_INET6 ? "[" : "",
                     sa->address, ss.ss_family == AF_INET6 ? "]" : "", sa->port_value);
            if (cluster_find_endpoint(c, name))
                continue; /* the same address twice: one endpoint */
            ep = cluster_add_endpoint(c, name);
            ep->addr = ss;
            ep->addrlen = len;
            ep->weight = e->load_balancing_weight ? e->load_balancing_weight->value : 1;
            switch (e->health_status) {
            case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNHEALTHY:
            case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING:
            case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__TIMEOUT:
                ep->disabled = true; /* never chosen, as Envoy excludes them */
                break;
            case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DEGRADED:
                ep->backup = true; /* used when no healthy endpoint is left */
                break;
            default:
                break;
            }
        }
    }
}

static struct cluster *find_cluster(const struct xctx *x, const char *name)
{
    long id = xds_index_get(&x->clusters, name);

    return id < 0 ? NULL : x->snap->clusters[id];
}

/* The position in snap of one of its clusters (a carried-over cluster's id
 * is its position in an older snapshot). */
static uint32_t cluster_pos(const struct xctx *x, const struct cluster *c)
{
    return (uint32_t)xds_index_get(&x->clusters, c->name);
}

static const struct xds_resource *find_resource(const struct xctx *x, enum xds_type t,
                                                const char *name)
{
    long i = xds_index_get(&x->by_type[t], name);

    return i < 0 ? NULL : &x->sets[t].v[i];
}

/* xds_secret_lookup over the accepted Secrets */
static const XdsSecret *lookup_secret(void *arg, const char *name)
{
    const struct xds_resource *r = find_resource(arg, XDS_SDS, name);

    return r ? (const XdsSecret *)r->msg : NULL;
}

/* Every endpoint of c gets its own client side of the cluster's
 * UpstreamTlsContext. Returns 0, 1 (warming: a Secret is missing), -1. */
static int cluster_tls(struct xctx *x, struct cluster *c, const Cluster *m)
{
    for (uint32_t i = 0; i < c->nendpoints; i++) {
        char missing[256], why[512];
        int rc = xds_tls_upstream(m->transport_socket, lookup_secret, x, &c->endpoints[i]->tls,
                                  missing, sizeof(missing), why, sizeof(why));
        if (rc < 0)
            return xerr(x, "Cluster '%s': %s", m->name, why);
        if (rc > 0 && x->lenient) {
            /* the init timeout passed without the Secret: no endpoint rather
             * than plaintext to a peer that expects mTLS */
            log_warn("xds: Cluster '%s': Secret '%s' did not arrive within the init timeout: "
                     "no endpoint", m->name, missing);
            for (uint32_t j = 0; j < c->nendpoints; j++)
                c->endpoints[j]->disabled = true;
            return 0;
        }
        if (rc > 0)
            return xwarm(x, "Cluster '%s' waits for Secret '%s'", m->name, missing);
    }
    return 0;
}

/* What the cluster r builds from: its ClusterLoadAssignment (inline, from
 * EDS, or NULL) and its source fingerprint (the Cluster's bytes, its
 * assignment's, its Secrets'); *complete: nothing it refers to is missing.
 * Returns 0, or 1 (warming: the assignment has not arrived). */
static int cluster_inputs(struct xctx *x, const struct xds_resource *r,
                          const ClusterLoadAssignment **cla, uint64_t *fp, bool *complete)
{
    const Cluster *m = (const Cluster *)r->msg;

    *cla = m->load_assignment;
    *fp = r->hash;
    *complete = true;
    if (m->type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS) {
        const struct xds_resource *e = find_resource(x, XDS_EDS, eds_name(m));
        if (e) {
            *cla = (const ClusterLoadAssignment *)e->msg;
            *fp = tern_hash64(&e->hash, sizeof(e->hash), *fp);
        } else if (!x->lenient) {
            return xwarm(x, "Cluster '%s' waits for ClusterLoadAssignment '%s'", m->name,
                         eds_name(m));
        } else {
            log_warn("xds: Cluster '%s': ClusterLoadAssignment '%s' did not arrive within the "
                     "init timeout: no endpoint", m->name, eds_name(m));
            *complete = false;
        }
    }
    if (m->transport_socket) {
        char **names = NULL;
        size_t n = 0;

        /* a rotated Secret makes a new cluster: new connections use it */
        *fp = tern_hash64(&(uint64_t){xds_tls_hash(m->transport_socket, lookup_secret, x)},
                          sizeof(uint64_t), *fp);
        xds_tls_secret_names(m->transport_socket, &names, &n);
        for (size_t i = 0; i < n; i++)
            *complete = *complete && lookup_secret(x, names[i]) != NULL;
        xds_names_free(names, n);
    }
    if (!*fp)
        *fp = 1;
    return 0;
}

/* Fills the new cluster c from its Cluster resource. Returns 0, 1 (warming:
 * a Secret is missing) or -1. */
static int build_cluster(struct xctx *x, struct cluster *c, const Cluster *m,
                         const ClusterLoadAssignment *cla, uint64_t fp)
{
    c->mode = PROXY_MODE_HTTP; /* until a tcp_proxy uses it */
    c->fingerprint = fp;
    c->source_fingerprint = fp;
    c->timeout_connect_ms = duration_ms(m->connect_timeout, DEFAULT_CONNECT_TIMEOUT_MS);
    c->timeout_server_ms = HTTP_SERVER_TIMEOUT_MS;
    switch (m->lb_policy) {
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST:
        /* Envoy's least request: the less loaded of choice_count (2) random picks */
        c->lb_policy = LB_RANDOM;
        c->random_draws = m->lb_config_case ==
                                      ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_LEAST_REQUEST_LB_CONFIG &&
                                  m->least_request_lb_config->choice_count
                              ? m->least_request_lb_config->choice_count->value
                              : 2;
        break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM:
        c->lb_policy = LB_RANDOM;
        c->random_draws = 1;
        break;
    default:
        c->lb_policy = LB_ROUNDROBIN;
        break;
    }
    if (cla)
        add_endpoints(c, cla);
    if (m->transport_socket)
        return cluster_tls(x, c, m);
    return 0;
}

/* The running cluster to carry over for a cluster named `name` built from
 * complete inputs with source fingerprint fp, or NULL: build it anew. */
static struct cluster *running_cluster(const struct xctx *x, const char *name, uint64_t fp)
{
    long i;
    struct cluster *rc;

    if (!x->running)
        return NULL;
    i = xds_index_get(&x->running_ix, name);
    if (i < 0)
        return NULL;
    rc = x->running->clusters[i];
    return rc->source_fingerprint == fp && rc->nworkers ? rc : NULL;
}

static int add_cluster(struct xctx *x, const struct xds_resource *r)
{
    const Cluster *m = (const Cluster *)r->msg;
    const ClusterLoadAssignment *cla;
    struct cluster *c;
    uint64_t fp;
    bool complete;
    uint32_t pos = x->snap->nclusters;
    int rc;

    if (find_cluster(x, m->name))
        return xerr(x, "Cluster '%s': a backend of that name is in the configuration file",
                    m->name);
    if ((rc = cluster_inputs(x, r, &cla, &fp, &complete)) != 0)
        return rc;
    x->src[pos - x->first_dynamic_cluster] = r;
    c = complete ? running_cluster(x, m->name, fp) : NULL;
    if (c) {
        /* unchanged: the running object itself (its users may still differ:
         * checked once the listeners are translated, finish_clusters) */
        cluster_ref(c);
        snapshot_put_cluster(x->snap, c);
        xds_index_put(&x->clusters, c->name, pos);
        x->carried[pos - x->first_dynamic_cluster] = true;
        return 0;
    }
    c = snapshot_add_cluster(x->snap, m->name);
    xds_index_put(&x->clusters, c->name, pos);
    return build_cluster(x, c, m, cla, fp);
}

/* Marks how cluster `name` is used; it must exist (or the update warms). */
static struct cluster *use_cluster(struct xctx *x, const char *name, enum proxy_mode mode,
                                   const char *who)
{
    struct cluster *c = find_cluster(x, name);
    uint8_t want = mode == PROXY_MODE_TCP ? 2 : 1;
    uint32_t pos;

    if (!c) {
        const struct xds_resource *r = find_resource(x, XDS_CDS, name);
        if (r || (!x->cds_received && !x->lenient))
            xwarm(x, "%s waits for Cluster '%s'", who, name); /* r: itself warming */
        else
            xerr(x, "%s: cluster '%s' does not exist (neither from CDS nor in the "
                    "configuration file)", who, name);
        return NULL;
    }
    pos = cluster_pos(x, c);
    if (pos < x->first_dynamic_cluster) {
        if (c->mode != mode) {
            xerr(x, "%s: backend '%s' of the configuration file is mode %s, the listener is "
                    "mode %s", who, name, proxy_mode_name(c->mode), proxy_mode_name(mode));
            return NULL;
        }
        return c;
    }
    if (x->use[pos] && x->use[pos] != want) {
        xerr(x, "%s: cluster '%s' is used by both tcp_proxy and http_connection_manager "
                "listeners, which tern does not support", who, name);
        return NULL;
    }
    x->use[pos] = want;
    return c;
}

static char *vh_domain_rank(const VirtualHost *vh, int *rank)
{
    /* 3 exact, 2 suffix wildcard, 1 prefix wildcard, 0 "*" (best of the list) */
    *rank = 0;
    for (size_t i = 0; i < vh->n_domains; i++) {
        const char *d = vh->domains[i];
        size_t n = strlen(d);
        int r = strcmp(d, "*") == 0 ? 0 : d[0] == '*' ? 2 : (n && d[n - 1] == '*') ? 1 : 3;
        if (r > *rank)
            *rank = r;
    }
    return NULL;
}

static int acl_add(struct xctx *x, struct acl_set *set, const char *name, const char *who,
                   int argc, char **argv)
{
    char why[512];

    if (acl_set_add(set, name, argc, argv, why, sizeof(why)) != 0)
        return xerr(x, "%s: %s", who, why);
    return 0;
}

/* The ACL for one HeaderMatcher; *negate for invert_match. */
static int header_acl(struct xctx *x, struct acl_set *set, const char *name, const char *who,
                      const HeaderMatcher *h, bool *negate)
{
    char fetch[320], re[4200];
    char *av[6];
    int ac = 0;

    if (strlen(h->name) > 256 || !h->name[0] || strpbrk(h->name, "(),"))
        return xerr(x, "%s: header name '%s' is not supported", who, h->name);
    snprintf(fetch, sizeof(fetch), "req.fhdr(%s)", h->name);
    av[ac++] = fetch;
    *negate = h->invert_match;
    switch (h->header_match_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH:
        av[ac++] = "-m";
        av[ac++] = "found";
        if (!h->present_match)
            *negate = !*negate;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH:
        av[ac++] = "-m"; av[ac++] = "str"; av[ac++] = "--"; av[ac++] = h->exact_match;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH:
        av[ac++] = "-m"; av[ac++] = "beg"; av[ac++] = "--"; av[ac++] = h->prefix_match;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH:
        av[ac++] = "-m"; av[ac++] = "end"; av[ac++] = "--"; av[ac++] = h->suffix_match;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH:
        av[ac++] = "-m"; av[ac++] = "sub"; av[ac++] = "--"; av[ac++] = h->contains_match;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH:
        if (strlen(h->safe_regex_match->regex) > 4096)
            return xerr(x, "%s: safe_regex_match longer than 4096 bytes", who);
        snprintf(re, sizeof(re), "^(?:%s)$", h->safe_regex_match->regex); /* RE2: full match */
        av[ac++] = "-m"; av[ac++] = "reg"; av[ac++] = "--"; av[ac++] = re;
        break;
    default:
        return xerr(x, "%s: header matcher of kind %d is not supported", who,
                    (int)h->header_match_specifier_case);
    }
    return acl_add(x, set, name, who, ac, av);
}

/* The rules of listener l from route configuration rc. */
/* A route's timeout and retry_policy, recorded for its cluster: all routes
 * to one cluster must carry the same (tern applies them per backend). */
static int route_policy(struct xctx *x, const Envoy__Config__Route__V3__RouteAction *a,
                        const struct cluster *target, const char *rwho)
{
    struct xds_route_policy p;
    char why[512];
    uint32_t id = cluster_pos(x, target);

    if (xds_route_policy(a, &p, why, sizeof(why)) != 0)
        return xerr(x, "%s: route.%s", rwho, why);
    if (id < x->first_dynamic_cluster && (p.has_timeout || p.has_retry))
        return xerr(x, "%s: route.timeout / retry_policy to backend '%s' of the configuration "
                       "file: set them in its section", rwho, target->name);
    if (x->has_policy[id]) {
        if (!xds_route_policy_equal(&x->policy[id], &p))
            return xerr(x, "%s: route.timeout / retry_policy differ from those of %s, which "
                           "routes to the same cluster '%s': tern applies them per cluster",
                        rwho, x->policy_who[id], target->name);
        return 0;
    }
    x->has_policy[id] = true;
    x->policy[id] = p;
    snprintf(x->policy_who[id], sizeof(x->policy_who[id]), "%.150s", rwho);
    return 0;
}

static int add_routes(struct xctx *x, struct listener *l, const RouteConfiguration *rc)
{
    size_t nvh = rc->n_virtual_hosts;
    size_t *order = tern_calloc(nvh ? nvh : 1, sizeof(*order));
    int *rank = tern_calloc(nvh ? nvh : 1, sizeof(*rank));
    int rc_ok = 0;
    bool done = false;

    l->acls = acl_set_new();
    for (size_t i = 0; i < nvh; i++) {
        order[i] = i;
        vh_domain_rank(rc->virtual_hosts[i], &rank[i]);
    }
    /* the most specific domains first (stable: the file's order among equals) */
    for (size_t i = 1; i < nvh; i++)
        for (size_t j = i; j > 0 && rank[order[j]] > rank[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t oi = 0; oi < nvh && !done && rc_ok == 0; oi++) {
        size_t i = order[oi];
        const VirtualHost *vh = rc->virtual_hosts[i];
        char vhname[32], who[600];
        bool any_host = false, has_host = false;

        snprintf(who, sizeof(who), "RouteConfiguration '%s': virtual_hosts[%zu] '%s'", rc->name,
                 i, vh->name);
        if (vh->n_domains == 0) {
            rc_ok = xerr(x, "%s: no domains", who);
            break;
        }
        snprintf(vhname, sizeof(vhname), "vh%zu", i);
        for (size_t d = 0; d < vh->n_domains && rc_ok == 0; d++) {
            const char *dom = vh->domains[d];
            size_t n = strlen(dom);
            char *av[6];
            char val[300];
            int ac = 0;

            if (strcmp(dom, "*") == 0) {
                any_host = true;
                continue;
            }
            if (n == 0 || n > 255) {
                rc_ok = xerr(x, "%s: domain '%s' is empty or too long", who, dom);
                break;
            }
            av[ac++] = "req.hdr(host)";
            av[ac++] = "-i";
            av[ac++] = "-m";
            if (dom[0] == '*') {
                av[ac++] = "end";
                snprintf(val, sizeof(val), "%s", dom + 1);
            } else if (dom[n - 1] == '*') {
                av[ac++] = "beg";
                snprintf(val, sizeof(val), "%.*s", (int)(n - 1), dom);
            } else {
                av[ac++] = "str";
                snprintf(val, sizeof(val), "%s", dom);
            }
            av[ac++] = "--";
            av[ac++] = val;
            rc_ok = acl_add(x, l->acls, vhname, who, ac, av);
            has_host = true;
        }
        if (rc_ok)
            break;
        if (any_host)
            has_host = false; /* "*" among the domains: every host */
        for (size_t r = 0; r < vh->n_routes && rc_ok == 0; r++) {
            const Route *rt = vh->routes[r];
            const RouteMatch *m = rt->match;
            char rname[32], hname[64], rwho[700], re[4200];
            char *cav[64];
            int cac = 0;
            char *av[6];
            int ac = 0;
            bool icase = m && m->case_sensitive && !m->case_sensitive->value;
            bool catch_all = false;
            struct cluster *target;
            struct acl_cond *cond = NULL;
            char why[512];
            char hnames[16][72];

            snprintf(rwho, sizeof(rwho), "%s: routes[%zu]%s%s", who, r, rt->name[0] ? " " : "",
                     rt->name);
            if (rt->action_case != ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE) {
                rc_ok = xerr(x, "%s: only a route action is supported (redirect and "
                                "direct_response are not)", rwho);
                break;
            }
            if (rt->route->cluster_specifier_case !=
                ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER) {
                rc_ok = xerr(x, "%s: route.cluster is required (weighted_clusters and "
                                "cluster_header are not supported)", rwho);
                break;
            }
            if (!m) {
                rc_ok = xerr(x, "%s: no match", rwho);
                break;
            }
            if (m->n_headers > 16) {
                rc_ok = xerr(x, "%s: more than 16 header matchers", rwho);
                break;
            }
            snprintf(rname, sizeof(rname), "r%zu_%zu", i, r);
            av[ac++] = "path";
            if (icase)
                av[ac++] = "-i";
            av[ac++] = "-m";
            switch (m->path_specifier_case) {
            case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX:
                if (m->prefix[0] == 0 || strcmp(m->prefix, "/") == 0) {
                    catch_all = true; /* every origin-form path */
                    ac = 0;
                    break;
                }
                av[ac++] = "beg";
                av[ac++] = "--";
                av[ac++] = m->prefix;
                break;
            case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH:
                av[ac++] = "str";
                av[ac++] = "--";
                av[ac++] = m->path;
                break;
            case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX:
                if (strlen(m->safe_regex->regex) > 4096) {
                    rc_ok = xerr(x, "%s: safe_regex longer than 4096 bytes", rwho);
                    break;
                }
                snprintf(re, sizeof(re), "^(?:%s)$", m->safe_regex->regex);
                av[ac++] = "reg";
                av[ac++] = "--";
                av[ac++] = re;
                break;
            default:
                rc_ok = xerr(x, "%s: match: no prefix, path or safe_regex", rwho);
                break;
            }
            if (rc_ok)
                break;
            cav[cac++] = "if";
            if (has_host)
                cav[cac++] = vhname;
            if (ac) {
                if ((rc_ok = acl_add(x, l->acls, rname, rwho, ac, av)))
                    break;
                cav[cac++] = rname;
            }
            for (size_t h = 0; h < m->n_headers && rc_ok == 0; h++) {
                bool neg = false;
                snprintf(hname, sizeof(hname), "%s_h%zu", rname, h);
                if ((rc_ok = header_acl(x, l->acls, hname, rwho, m->headers[h], &neg)))
                    break;
                snprintf(hnames[h], sizeof(hnames[h]), "%s%s", neg ? "!" : "", hname);
                cav[cac++] = hnames[h];
            }
            if (rc_ok)
                break;
            target = use_cluster(x, rt->route->cluster, PROXY_MODE_HTTP, rwho);
            if (!target) {
                rc_ok = x->warming ? 1 : -1;
                break;
            }
            if ((rc_ok = route_policy(x, rt->route, target, rwho)))
                break;
            if (cac == 1) {
                /* always true: the default, and the rules after it never match */
                l->default_cluster = target;
                done = true;
                break;
            }
            if (acl_cond_parse(l->acls, cac, cav, &cond, why, sizeof(why)) != 0) {
                rc_ok = xerr(x, "%s: %s", rwho, why);
                break;
            }
            if (acl_cond_check(cond, ACL_WHERE_REQUEST, why, sizeof(why)) != 0) {
                acl_cond_free(cond);
                rc_ok = xerr(x, "%s: %s", rwho, why);
                break;
            }
            l->rules = tern_realloc(l->rules, (l->nrules + 1) * sizeof(*l->rules));
            l->rules[l->nrules].cond = cond;
            l->rules[l->nrules].target = target;
            l->nrules++;
            (void)catch_all;
        }
    }
    free(order);
    free(rank);
    return rc_ok;
}

/* The HCM's rbac and local_ratelimit filters, in order, as the listener's
 * chain (the router follows). Checked at decode (check_hcm). */
static int add_http_filters(struct xctx *x, struct listener *l, const Hcm *h, const char *who)
{
    for (size_t i = 0; i < h->n_http_filters; i++) {
        const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *f =
            h->http_filters[i];
        struct filter_instance fi = {0};
        ProtobufCMessage *m;
        char why[512];
        int rc;

        if (f->disabled ||
            f->config_type_case !=
                ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG ||
            (strcmp(f->typed_config->type_url, XDS_RBAC_URL) != 0 &&
             strcmp(f->typed_config->type_url, XDS_LOCAL_RATELIMIT_URL) != 0))
            continue; /* the router, or an optional filter tern skips */
        m = http_filter_config(f->typed_config, why, sizeof(why));
        rc = m ? xds_http_filter_build(f->typed_config->type_url, m, &fi, why, sizeof(why)) : -1;
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        if (rc < 0)
            return xerr(x, "%s: http_filters[%zu] '%s': %s", who, i, f->name, why);
        if (rc == 1)
            continue;
        l->filters = tern_realloc(l->filters, (l->nfilters + 1) * sizeof(*l->filters));
        l->filters[l->nfilters++] = fi;
    }
    return 0;
}

static int add_listener(struct xctx *x, const struct xds_resource *r)
{
    const Listener *m = (const Listener *)r->msg;
    struct listener *l;
    ProtobufCMessage *f;
    bool is_hcm = false;
    char who[300], why[512];
    int rc = 0;
    const RouteConfiguration *rcfg = NULL;
    struct tls_bind *tls = NULL;

    snprintf(who, sizeof(who), "Listener '%s'", m->name);
    if (snapshot_find_listener(x->snap, m->name))
        return xerr(x, "%s: a frontend of that name is in the configuration file", who);
    f = listener_filter(m, &is_hcm, why, sizeof(why));
    if (!f)
        return xerr(x, "%s: %s", who, why); /* checked at decode: cannot happen */
    if (is_hcm) {
        const Hcm *h = (const Hcm *)f;
        if (h->route_specifier_case ==
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS) {
            const struct xds_resource *rr = find_resource(x, XDS_RDS,
                                                          h->rds->route_config_name);
            if (!rr) {
                if (x->lenient) {
                    log_warn("xds: %s: RouteConfiguration '%s' did not arrive within the init "
                             "timeout: the listener is left out", who,
                             h->rds->route_config_name);
                    rc = 0;
                } else {
                    rc = xwarm(x, "%s waits for RouteConfiguration '%s'", who,
                               h->rds->route_config_name);
                }
                protobuf_c_message_free_unpacked(f, NULL);
                return rc;
            }
            rcfg = (const RouteConfiguration *)rr->msg;
        } else {
            rcfg = h->route_config;
            if (check_fields(&rcfg->base, why, sizeof(why)) != 0) {
                protobuf_c_message_free_unpacked(f, NULL);
                return xerr(x, "%s: route_config: %s", who, why);
            }
        }
    }
    if (m->filter_chains[0]->transport_socket) {
        char missing[256];
        int trc = xds_tls_bind(m->filter_chains[0]->transport_socket, is_hcm, lookup_secret, x,
                               &tls, missing, sizeof(missing), why, sizeof(why));
        if (trc != 0) {
            protobuf_c_message_free_unpacked(f, NULL);
            if (trc < 0)
                return xerr(x, "%s: %s", who, why);
            if (x->lenient) {
                log_warn("xds: %s: Secret '%s' did not arrive within the init timeout: the "
                         "listener is left out", who, missing);
                return 0;
            }
            return xwarm(x, "%s waits for Secret '%s'", who, missing);
        }
    }
    l = snapshot_add_listener(x->snap, m->name);
    l->nbinds = 1;
    l->binds = tern_calloc(1, sizeof(*l->binds));
    l->binds[0].tls = tls;
    parse_socket_address(m->address, &l->binds[0].addr, &l->binds[0].addrlen, why, sizeof(why));
    l->binds[0].loc.file = x->snap->source;
    l->loc.file = x->snap->source;
    l->access_log = false; /* Envoy logs only what access_log asks for */
    if (is_hcm) {
        l->mode = PROXY_MODE_HTTP;
        l->timeout_client_ms = HTTP_CLIENT_TIMEOUT_MS;
        rc = add_http_filters(x, l, (const Hcm *)f, who);
        if (rc == 0)
            rc = add_routes(x, l, rcfg);
    } else {
        const TcpProxy *tp = (const TcpProxy *)f;
        l->mode = PROXY_MODE_TCP;
        l->timeout_client_ms = TCP_IDLE_TIMEOUT_MS;
        l->default_cluster = use_cluster(x, tp->cluster, PROXY_MODE_TCP, who);
        if (!l->default_cluster)
            rc = x->warming ? 1 : -1;
    }
    protobuf_c_message_free_unpacked(f, NULL);
    return rc;
}

/*
 * Once the listeners are translated, each dynamic cluster's users are known:
 * a tcp_proxy makes it mode tcp, routes give it their timeout / retry_policy
 * (both folded into its fingerprint). A new cluster takes them on; a carried
 * cluster whose users did not change stays as it is, else it is built anew
 * (never changed in place: it is running) and the listeners pointed at the
 * new object. Returns 0, or -1 with x->err.
 */
static int finish_clusters(struct xctx *x)
{
    struct snapshot *snap = x->snap;
    uint32_t n = snap->nclusters - x->first_dynamic_cluster, nmap = 0;
    struct cluster **from = tern_calloc(n + 1, sizeof(*from));
    struct cluster **to = tern_calloc(n + 1, sizeof(*to));
    int rc = 0;

    for (uint32_t i = x->first_dynamic_cluster; i < snap->nclusters && rc >= 0; i++) {
        uint32_t k = i - x->first_dynamic_cluster;
        struct cluster *c = snap->clusters[i];
        bool tcp = x->use[i] == 2;
        const struct xds_route_policy *p =
            x->has_policy[i] && (x->policy[i].has_timeout || x->policy[i].has_retry)
                ? &x->policy[i]
                : NULL;

        if (x->carried[k]) {
            const ClusterLoadAssignment *cla;
            uint64_t want = c->source_fingerprint, fp;
            bool complete;

            if (tcp)
                want = tern_hash64("tcp", 3, want) | 1;
            if (p)
                want = tern_hash64(p, sizeof(*p), want) | 1;
            if (want == c->fingerprint) {
                x->stats->clusters_carried++;
                continue;
            }
            cluster_inputs(x, x->src[k], &cla, &fp, &complete); /* complete: carried */
            from[nmap] = c;
            c = cluster_new(c->name);
            c->id = i;
            to[nmap++] = c;
            snap->clusters[i] = c;
            x->carried[k] = false;
            rc = build_cluster(x, c, (const Cluster *)x->src[k]->msg, cla, fp);
            if (rc < 0)
                break;
        }
        x->stats->clusters_built++;
        if (tcp) {
            c->mode = PROXY_MODE_TCP;
            c->timeout_server_ms = TCP_IDLE_TIMEOUT_MS;
            c->fingerprint = tern_hash64("tcp", 3, c->fingerprint) | 1;
        }
        if (p && xds_route_policy_apply(p, c, x->err, x->errlen) != 0)
            rc = -1;
    }
    snapshot_remap_clusters(snap, from, to, nmap);
    for (uint32_t k = 0; k < nmap; k++)
        cluster_unref(from[k]);
    free(from);
    free(to);
    return rc;
}

int xds_translate_from(struct snapshot *snap, const struct snapshot *running,
                       const struct xds_resource_set sets[XDS_NTYPES], bool lenient,
                       bool cds_received, struct xds_build_stats *stats, char *err,
                       size_t errlen)
{
    struct xds_build_stats scratch;
    struct xctx x = {
        .snap = snap, .sets = sets, .lenient = lenient, .cds_received = cds_received,
        .first_dynamic_cluster = snap->nclusters, .running = running,
        .stats = stats ? stats : &scratch, .err = err, .errlen = errlen,
    };
    int rc = 0;

    err[0] = 0;
    memset(x.stats, 0, sizeof(*x.stats));
    xds_index_init(&x.clusters, snap->nclusters + sets[XDS_CDS].n);
    for (uint32_t i = 0; i < snap->nclusters; i++)
        xds_index_put(&x.clusters, snap->clusters[i]->name, i);
    for (int t = 0; t < XDS_NTYPES; t++)
        xds_index_set(&x.by_type[t], &sets[t]);
    if (running) {
        xds_index_init(&x.running_ix, running->nclusters);
        for (uint32_t i = 0; i < running->nclusters; i++)
            xds_index_put(&x.running_ix, running->clusters[i]->name, i);
    }
    x.src = tern_calloc(sets[XDS_CDS].n + 1, sizeof(*x.src));
    x.carried = tern_calloc(sets[XDS_CDS].n + 1, sizeof(*x.carried));
    for (size_t i = 0; i < sets[XDS_CDS].n && rc >= 0; i++)
        rc = add_cluster(&x, &sets[XDS_CDS].v[i]);
    if (rc >= 0) {
        x.use = tern_calloc(snap->nclusters + 1, 1);
        x.policy = tern_calloc(snap->nclusters + 1, sizeof(*x.policy));
        x.has_policy = tern_calloc(snap->nclusters + 1, sizeof(*x.has_policy));
        x.policy_who = tern_calloc(snap->nclusters + 1, sizeof(*x.policy_who));
        for (size_t i = 0; i < sets[XDS_LDS].n && rc >= 0; i++)
            rc = add_listener(&x, &sets[XDS_LDS].v[i]);
    }
    if (rc >= 0)
        rc = finish_clusters(&x);
    free(x.use);
    free(x.policy);
    free(x.has_policy);
    free(x.policy_who);
    free(x.src);
    free(x.carried);
    xds_index_free(&x.clusters);
    xds_index_free(&x.running_ix);
    for (int t = 0; t < XDS_NTYPES; t++)
        xds_index_free(&x.by_type[t]);
    if (rc < 0)
        return -1;
    return x.warming ? 1 : 0;
}

int xds_translate(struct snapshot *snap, const struct xds_resource_set sets[XDS_NTYPES],
                  bool lenient, bool cds_received, char *err, size_t errlen)
{
    return xds_translate_from(snap, NULL, sets, lenient, cds_received, NULL, err, errlen);
}

/* ---- references --------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void xds_references(const struct xds_resource_set sets[XDS_NTYPES], enum xds_type t,
                    char ***names, size_t *n)
{
    char **v = NULL;
    size_t k = 0, out = 0;

    if (t == XDS_EDS) {
        for (size_t i = 0; i < sets[XDS_CDS].n; i++) {
            const Cluster *c = (const Cluster *)sets[XDS_CDS].v[i].msg;
            if (c->type != ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS)
                continue;
            v = tern_realloc(v, (k + 1) * sizeof(*v));
            v[k++] = tern_strdup(eds_name(c));
        }
    } else if (t == XDS_SDS) {
        for (size_t i = 0; i < sets[XDS_LDS].n; i++) {
            const Listener *l = (const Listener *)sets[XDS_LDS].v[i].msg;
            if (l->n_filter_chains == 1 && l->filter_chains[0]->transport_socket)
                xds_tls_secret_names(l->filter_chains[0]->transport_socket, &v, &k);
        }
        for (size_t i = 0; i < sets[XDS_CDS].n; i++) {
            const Cluster *c = (const Cluster *)sets[XDS_CDS].v[i].msg;
            if (c->transport_socket)
                xds_tls_secret_names(c->transport_socket, &v, &k);
        }
    } else if (t == XDS_RDS) {
        for (size_t i = 0; i < sets[XDS_LDS].n; i++) {
            const Listener *l = (const Listener *)sets[XDS_LDS].v[i].msg;
            bool is_hcm = false;
            char why[256];
            ProtobufCMessage *f = listener_filter(l, &is_hcm, why, sizeof(why));
            if (f && is_hcm) {
                const Hcm *h = (const Hcm *)f;
                if (h->route_specifier_case ==
                    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS) {
                    v = tern_realloc(v, (k + 1) * sizeof(*v));
                    v[k++] = tern_strdup(h->rds->route_config_name);
                }
            }
            if (f)
                protobuf_c_message_free_unpacked(f, NULL);
        }
    }
    if (k)
        qsort(v, k, sizeof(*v), cmp_str);
    for (size_t i = 0; i < k; i++) {
        if (out && strcmp(v[out - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[out++] = v[i];
    }
    *names = v;
    *n = out;
}

void xds_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
