/*
 * xds_samples.c: see xds_samples.h. Every message is built in a small arena
 * (one build, one free), so helpers can return nested messages by pointer;
 * typed configs are packed to bytes first and wrapped in an Any, as a control
 * plane does.
 */
#include "tests/unit/proto/xds_samples.h"

#include <stdlib.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/rbac/v3/rbac.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb-c.h"
#include "envoy/extensions/filters/http/rbac/v3/rbac.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define ARENA_MAX 1024

struct arena {
    void *ptr[ARENA_MAX];
    int n;
    int oom;
};

static void *arena_keep(struct arena *a, void *p)
{
    if (!p || a->n == ARENA_MAX) {
        free(p);
        a->oom = 1;
        return NULL;
    }
    a->ptr[a->n++] = p;
    return p;
}

static void *arena_dup(struct arena *a, const void *src, size_t n)
{
    void *p = malloc(n);
    if (p)
        memcpy(p, src, n);
    return arena_keep(a, p);
}

static void arena_free(struct arena *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->ptr[i]);
    a->n = 0;
}

/* A heap copy of a message written as a compound literal with designated
 * initializers; the first one is always .base = MSG(descriptor). */
#define NEW(a, T, ...) ((T *)arena_dup((a), &(T){__VA_ARGS__}, sizeof(T)))
#define MSG(d) PROTOBUF_C_MESSAGE_INIT(&(d))
/* Designated initializers of a repeated field: n_<field> and <field>. */
#define NARGS(T, ...) (sizeof((T[]){__VA_ARGS__}) / sizeof(T))
#define LIST(a, field, T, ...)            \
    .n_##field = NARGS(T *, __VA_ARGS__), \
    .field = ((T **)arena_dup((a), (T *[]){__VA_ARGS__}, sizeof((T *[]){__VA_ARGS__})))
#define STRS(a, field, ...)                  \
    .n_##field = NARGS(char *, __VA_ARGS__), \
    .field = ((char **)arena_dup((a), (char *[]){__VA_ARGS__}, sizeof((char *[]){__VA_ARGS__})))

typedef Google__Protobuf__Any Any;

static Any *any_of(struct arena *a, const char *type_url, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = arena_keep(a, malloc(len ? len : 1));
    if (!buf)
        return NULL;
    protobuf_c_message_pack(m, buf);
    return NEW(a, Any, .base = MSG(google__protobuf__any__descriptor), .type_url = (char *)type_url,
               .value = {len, buf});
}

static Google__Protobuf__Duration *dur(struct arena *a, int64_t s, int32_t ns)
{
    return NEW(a, Google__Protobuf__Duration, .base = MSG(google__protobuf__duration__descriptor), .seconds = s,
               .nanos = ns);
}

static Google__Protobuf__UInt32Value *u32(struct arena *a, uint32_t v)
{
    return NEW(a, Google__Protobuf__UInt32Value, .base = MSG(google__protobuf__uint32_value__descriptor), .value = v);
}

static Google__Protobuf__BoolValue *boolv(struct arena *a, int v)
{
    return NEW(a, Google__Protobuf__BoolValue, .base = MSG(google__protobuf__bool_value__descriptor), .value = v);
}

static Envoy__Config__Core__V3__Address *sockaddr(struct arena *a, const char *ip, uint32_t port)
{
    Envoy__Config__Core__V3__SocketAddress *sa = NEW(
        a, Envoy__Config__Core__V3__SocketAddress, .base = MSG(envoy__config__core__v3__socket_address__descriptor),
        .protocol = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PROTOCOL__TCP, .address = (char *)ip,
        .port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE,
        .port_value = port);
    return NEW(a, Envoy__Config__Core__V3__Address, .base = MSG(envoy__config__core__v3__address__descriptor),
               .address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS, .socket_address = sa);
}

/* "Over the ADS stream, v3 resources": how every reference in the samples
 * (RDS, EDS, SDS) says where its resource comes from. */
static Envoy__Config__Core__V3__ConfigSource *ads(struct arena *a)
{
    Envoy__Config__Core__V3__AggregatedConfigSource *agg =
        NEW(a, Envoy__Config__Core__V3__AggregatedConfigSource,
            .base = MSG(envoy__config__core__v3__aggregated_config_source__descriptor));
    return NEW(a, Envoy__Config__Core__V3__ConfigSource,
               .base = MSG(envoy__config__core__v3__config_source__descriptor),
               .resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3,
               .config_source_specifier_case = ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS,
               .ads = agg);
}

static Envoy__Type__Matcher__V3__StringMatcher *exact(struct arena *a, const char *s)
{
    return NEW(a, Envoy__Type__Matcher__V3__StringMatcher,
               .base = MSG(envoy__type__matcher__v3__string_matcher__descriptor),
               .match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT,
               .exact = (char *)s);
}

static Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig *sds(struct arena *a, const char *name)
{
    return NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig,
               .base = MSG(envoy__extensions__transport_sockets__tls__v3__sds_secret_config__descriptor),
               .name = (char *)name, .sds_config = ads(a));
}

static Envoy__Config__Core__V3__TransportSocket *tls_socket(struct arena *a, const char *type_url,
                                                              const ProtobufCMessage *ctx)
{
    return NEW(a, Envoy__Config__Core__V3__TransportSocket,
               .base = MSG(envoy__config__core__v3__transport_socket__descriptor),
               .name = "envoy.transport_sockets.tls",
               .config_type_case = ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG,
               .typed_config = any_of(a, type_url, ctx));
}

static Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *
http_filter(struct arena *a, const char *name, const char *type_url, const ProtobufCMessage *cfg)
{
    return NEW(a, Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter,
               .base = MSG(envoy__extensions__filters__network__http_connection_manager__v3__http_filter__descriptor),
               .name = (char *)name,
               .config_type_case =
                   ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG,
               .typed_config = any_of(a, type_url, cfg));
}

static Envoy__Config__Core__V3__RuntimeFractionalPercent *all_of_the_time(struct arena *a, const char *key)
{
    Envoy__Type__V3__FractionalPercent *p =
        NEW(a, Envoy__Type__V3__FractionalPercent, .base = MSG(envoy__type__v3__fractional_percent__descriptor),
            .numerator = 100, .denominator = ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED);
    return NEW(a, Envoy__Config__Core__V3__RuntimeFractionalPercent,
               .base = MSG(envoy__config__core__v3__runtime_fractional_percent__descriptor), .default_value = p,
               .runtime_key = (char *)key);
}

static ProtobufCMessage *local_ratelimit(struct arena *a)
{
    Envoy__Type__V3__HttpStatus *status =
        NEW(a, Envoy__Type__V3__HttpStatus, .base = MSG(envoy__type__v3__http_status__descriptor),
            .code = ENVOY__TYPE__V3__STATUS_CODE__TooManyRequests);
    Envoy__Type__V3__TokenBucket *bucket =
        NEW(a, Envoy__Type__V3__TokenBucket, .base = MSG(envoy__type__v3__token_bucket__descriptor),
            .max_tokens = 100, .tokens_per_fill = u32(a, 10), .fill_interval = dur(a, 1, 0));
    return (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit,
        .base = MSG(envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor),
        .stat_prefix = "http_local_rate_limiter", .status = status, .token_bucket = bucket,
        .filter_enabled = all_of_the_time(a, "local_rate_limit_enabled"),
        .filter_enforced = all_of_the_time(a, "local_rate_limit_enforced"));
}

/* RBAC: GET under /api/ on port 8443, from the frontend's SPIFFE identity or
 * from 10.0.0.0/8 but not from 10.9.0.0/16. */
static ProtobufCMessage *rbac(struct arena *a)
{
    typedef Envoy__Config__Rbac__V3__Permission Perm;
    typedef Envoy__Config__Rbac__V3__Principal Prin;
    Envoy__Config__Route__V3__HeaderMatcher *method = NEW(
        a, Envoy__Config__Route__V3__HeaderMatcher, .base = MSG(envoy__config__route__v3__header_matcher__descriptor),
        .name = ":method",
        .header_match_specifier_case = ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH,
        .string_match = exact(a, "GET"));
    Envoy__Type__Matcher__V3__StringMatcher *api_prefix = NEW(
        a, Envoy__Type__Matcher__V3__StringMatcher, .base = MSG(envoy__type__matcher__v3__string_matcher__descriptor),
        .match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX, .prefix = "/api/");
    Envoy__Type__Matcher__V3__PathMatcher *path =
        NEW(a, Envoy__Type__Matcher__V3__PathMatcher, .base = MSG(envoy__type__matcher__v3__path_matcher__descriptor),
            .rule_case = ENVOY__TYPE__MATCHER__V3__PATH_MATCHER__RULE_PATH, .path = api_prefix);
    Perm *p_method = NEW(a, Perm, .base = MSG(envoy__config__rbac__v3__permission__descriptor),
                         .rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_HEADER, .header = method);
    Perm *p_path = NEW(a, Perm, .base = MSG(envoy__config__rbac__v3__permission__descriptor),
                       .rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_URL_PATH, .url_path = path);
    Envoy__Config__Rbac__V3__Permission__Set *and_set =
        NEW(a, Envoy__Config__Rbac__V3__Permission__Set, .base = MSG(envoy__config__rbac__v3__permission__set__descriptor),
            LIST(a, rules, Perm, p_method, p_path));
    Perm *p_and = NEW(a, Perm, .base = MSG(envoy__config__rbac__v3__permission__descriptor),
                      .rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_AND_RULES, .and_rules = and_set);
    Perm *p_port = NEW(a, Perm, .base = MSG(envoy__config__rbac__v3__permission__descriptor),
                       .rule_case = ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_DESTINATION_PORT, .destination_port = 8443);

    Envoy__Config__Rbac__V3__Principal__Authenticated *authn = NEW(
        a, Envoy__Config__Rbac__V3__Principal__Authenticated,
        .base = MSG(envoy__config__rbac__v3__principal__authenticated__descriptor),
        .principal_name = exact(a, "spiffe://mesh.local/ns/default/sa/frontend"));
    Prin *who = NEW(a, Prin, .base = MSG(envoy__config__rbac__v3__principal__descriptor),
                    .identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AUTHENTICATED, .authenticated = authn);
    Envoy__Config__Core__V3__CidrRange *net10 =
        NEW(a, Envoy__Config__Core__V3__CidrRange, .base = MSG(envoy__config__core__v3__cidr_range__descriptor),
            .address_prefix = "10.0.0.0", .prefix_len = u32(a, 8));
    Envoy__Config__Core__V3__CidrRange *net10_9 =
        NEW(a, Envoy__Config__Core__V3__CidrRange, .base = MSG(envoy__config__core__v3__cidr_range__descriptor),
            .address_prefix = "10.9.0.0", .prefix_len = u32(a, 16));
    Prin *in10 = NEW(a, Prin, .base = MSG(envoy__config__rbac__v3__principal__descriptor),
                     .identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_DIRECT_REMOTE_IP,
                     .direct_remote_ip = net10);
    Prin *in10_9 = NEW(a, Prin, .base = MSG(envoy__config__rbac__v3__principal__descriptor),
                       .identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_SOURCE_IP, .source_ip = net10_9);
    Prin *not_in10_9 = NEW(a, Prin, .base = MSG(envoy__config__rbac__v3__principal__descriptor),
                           .identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_NOT_ID, .not_id = in10_9);
    Envoy__Config__Rbac__V3__Principal__Set *and_ids =
        NEW(a, Envoy__Config__Rbac__V3__Principal__Set, .base = MSG(envoy__config__rbac__v3__principal__set__descriptor),
            LIST(a, ids, Prin, in10, not_in10_9));
    Prin *from_net = NEW(a, Prin, .base = MSG(envoy__config__rbac__v3__principal__descriptor),
                         .identifier_case = ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AND_IDS, .and_ids = and_ids);

    Envoy__Config__Rbac__V3__Policy *policy =
        NEW(a, Envoy__Config__Rbac__V3__Policy, .base = MSG(envoy__config__rbac__v3__policy__descriptor),
            LIST(a, permissions, Perm, p_and, p_port), LIST(a, principals, Prin, who, from_net));
    Envoy__Config__Rbac__V3__RBAC__PoliciesEntry *entry =
        NEW(a, Envoy__Config__Rbac__V3__RBAC__PoliciesEntry,
            .base = MSG(envoy__config__rbac__v3__rbac__policies_entry__descriptor), .key = "frontend-reads-api",
            .value = policy);
    Envoy__Config__Rbac__V3__RBAC *rules =
        NEW(a, Envoy__Config__Rbac__V3__RBAC, .base = MSG(envoy__config__rbac__v3__rbac__descriptor),
            .action = ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__ALLOW,
            LIST(a, policies, Envoy__Config__Rbac__V3__RBAC__PoliciesEntry, entry));
    return (ProtobufCMessage *)NEW(a, Envoy__Extensions__Filters__Http__Rbac__V3__RBAC,
                                   .base = MSG(envoy__extensions__filters__http__rbac__v3__rbac__descriptor),
                                   .rules = rules, .rules_stat_prefix = "inbound_");
}

static ProtobufCMessage *listener_http(struct arena *a)
{
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds *rds =
        NEW(a, Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds,
            .base = MSG(envoy__extensions__filters__network__http_connection_manager__v3__rds__descriptor),
            .config_source = ads(a), .route_config_name = "local_route");
    Envoy__Config__Core__V3__HttpProtocolOptions *common =
        NEW(a, Envoy__Config__Core__V3__HttpProtocolOptions,
            .base = MSG(envoy__config__core__v3__http_protocol_options__descriptor), .idle_timeout = dur(a, 60, 0),
            .max_headers_count = u32(a, 100),
            .headers_with_underscores_action =
                ENVOY__CONFIG__CORE__V3__HTTP_PROTOCOL_OPTIONS__HEADERS_WITH_UNDERSCORES_ACTION__REJECT_REQUEST);
    ProtobufCMessage *router = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__Filters__Http__Router__V3__Router,
        .base = MSG(envoy__extensions__filters__http__router__v3__router__descriptor), .suppress_envoy_headers = 1);
    typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter HttpFilter;
    ProtobufCMessage *hcm = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager,
        .base = MSG(envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor),
        .codec_type = ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__AUTO,
        .stat_prefix = "ingress_http",
        .route_specifier_case =
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS,
        .rds = rds,
        LIST(a, http_filters, HttpFilter, http_filter(a, "envoy.filters.http.local_ratelimit", XDS_TYPE_LOCAL_RATELIMIT, local_ratelimit(a)),
             http_filter(a, "envoy.filters.http.rbac", XDS_TYPE_RBAC, rbac(a)),
             http_filter(a, "envoy.filters.http.router", XDS_TYPE_ROUTER, router)),
        .use_remote_address = boolv(a, 1), .xff_num_trusted_hops = 1, .stream_idle_timeout = dur(a, 300, 0),
        .request_timeout = dur(a, 0, 0), .common_http_protocol_options = common);

    typedef Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig Sds;
    Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext *common_tls =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__common_tls_context__descriptor),
            STRS(a, alpn_protocols, "h2", "http/1.1"), LIST(a, tls_certificate_sds_secret_configs, Sds, sds(a, "server_cert")),
            .validation_context_type_case =
                ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT_SDS_SECRET_CONFIG,
            .validation_context_sds_secret_config = sds(a, "mesh_ca"));
    ProtobufCMessage *dtls = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext,
        .base = MSG(envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor),
        .common_tls_context = common_tls, .require_client_certificate = boolv(a, 1));

    typedef Envoy__Config__Listener__V3__Filter Filter;
    Filter *f_hcm = NEW(a, Filter, .base = MSG(envoy__config__listener__v3__filter__descriptor),
                        .name = "envoy.filters.network.http_connection_manager",
                        .config_type_case = ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG,
                        .typed_config = any_of(a, XDS_TYPE_HCM, hcm));
    Envoy__Config__Listener__V3__FilterChainMatch *match =
        NEW(a, Envoy__Config__Listener__V3__FilterChainMatch,
            .base = MSG(envoy__config__listener__v3__filter_chain_match__descriptor), .transport_protocol = "tls",
            STRS(a, server_names, "api.example.com", "*.api.example.com"));
    Envoy__Config__Listener__V3__FilterChain *chain =
        NEW(a, Envoy__Config__Listener__V3__FilterChain,
            .base = MSG(envoy__config__listener__v3__filter_chain__descriptor), .filter_chain_match = match,
            LIST(a, filters, Filter, f_hcm), .transport_socket = tls_socket(a, XDS_TYPE_DOWNSTREAM_TLS, dtls),
            .name = "https");
    return (ProtobufCMessage *)NEW(
        a, Envoy__Config__Listener__V3__Listener, .base = MSG(envoy__config__listener__v3__listener__descriptor),
        .name = "ingress_https", .address = sockaddr(a, "0.0.0.0", 8443),
        LIST(a, filter_chains, Envoy__Config__Listener__V3__FilterChain, chain),
        .per_connection_buffer_limit_bytes = u32(a, 32768), .stat_prefix = "ingress",
        .enable_reuse_port = boolv(a, 1));
}

static ProtobufCMessage *listener_tcp(struct arena *a)
{
    typedef Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy__WeightedCluster__ClusterWeight Weight;
    Weight *w_a = NEW(a, Weight,
                      .base = MSG(envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__weighted_cluster__cluster_weight__descriptor),
                      .name = "db_primary", .weight = 3);
    Weight *w_b = NEW(a, Weight,
                      .base = MSG(envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__weighted_cluster__cluster_weight__descriptor),
                      .name = "db_replica", .weight = 1);
    Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy__WeightedCluster *wc =
        NEW(a, Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy__WeightedCluster,
            .base = MSG(envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__weighted_cluster__descriptor),
            LIST(a, clusters, Weight, w_a, w_b));
    ProtobufCMessage *tcp = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy,
        .base = MSG(envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor), .stat_prefix = "db",
        .cluster_specifier_case = ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS,
        .weighted_clusters = wc, .max_connect_attempts = u32(a, 2), .idle_timeout = dur(a, 3600, 0));
    typedef Envoy__Config__Listener__V3__Filter Filter;
    Filter *f = NEW(a, Filter, .base = MSG(envoy__config__listener__v3__filter__descriptor),
                    .name = "envoy.filters.network.tcp_proxy",
                    .config_type_case = ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG,
                    .typed_config = any_of(a, XDS_TYPE_TCP_PROXY, tcp));
    Envoy__Config__Listener__V3__FilterChain *chain =
        NEW(a, Envoy__Config__Listener__V3__FilterChain,
            .base = MSG(envoy__config__listener__v3__filter_chain__descriptor), LIST(a, filters, Filter, f));
    return (ProtobufCMessage *)NEW(
        a, Envoy__Config__Listener__V3__Listener, .base = MSG(envoy__config__listener__v3__listener__descriptor),
        .name = "db", .address = sockaddr(a, "127.0.0.1", 5432),
        LIST(a, filter_chains, Envoy__Config__Listener__V3__FilterChain, chain),
        .drain_type = ENVOY__CONFIG__LISTENER__V3__LISTENER__DRAIN_TYPE__MODIFY_ONLY);
}

static ProtobufCMessage *route_config(struct arena *a)
{
    typedef Envoy__Config__Route__V3__Route Route;
    typedef Envoy__Config__Route__V3__WeightedCluster__ClusterWeight Weight;
    typedef Envoy__Config__Core__V3__HeaderValueOption HVO;

    /* 1: /api/ with a canary header and ?debug=1, split 90/10, retried. */
    Envoy__Config__Route__V3__HeaderMatcher *canary = NEW(
        a, Envoy__Config__Route__V3__HeaderMatcher, .base = MSG(envoy__config__route__v3__header_matcher__descriptor),
        .name = "x-canary",
        .header_match_specifier_case = ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH,
        .present_match = 1);
    Envoy__Config__Route__V3__QueryParameterMatcher *debug =
        NEW(a, Envoy__Config__Route__V3__QueryParameterMatcher,
            .base = MSG(envoy__config__route__v3__query_parameter_matcher__descriptor), .name = "debug",
            .query_parameter_match_specifier_case =
                ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH,
            .string_match = exact(a, "1"));
    Envoy__Config__Route__V3__RouteMatch *m1 = NEW(
        a, Envoy__Config__Route__V3__RouteMatch, .base = MSG(envoy__config__route__v3__route_match__descriptor),
        .path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX, .prefix = "/api/",
        LIST(a, headers, Envoy__Config__Route__V3__HeaderMatcher, canary),
        LIST(a, query_parameters, Envoy__Config__Route__V3__QueryParameterMatcher, debug));
    Weight *w1 = NEW(a, Weight, .base = MSG(envoy__config__route__v3__weighted_cluster__cluster_weight__descriptor),
                     .name = "api_v1", .weight = u32(a, 90));
    Weight *w2 = NEW(a, Weight, .base = MSG(envoy__config__route__v3__weighted_cluster__cluster_weight__descriptor),
                     .name = "api_v2", .weight = u32(a, 10));
    Envoy__Config__Route__V3__WeightedCluster *split =
        NEW(a, Envoy__Config__Route__V3__WeightedCluster,
            .base = MSG(envoy__config__route__v3__weighted_cluster__descriptor), LIST(a, clusters, Weight, w1, w2));
    uint32_t *codes = arena_dup(a, (uint32_t[]){503, 504}, 2 * sizeof(uint32_t));
    Envoy__Config__Route__V3__RetryPolicy *retry =
        NEW(a, Envoy__Config__Route__V3__RetryPolicy, .base = MSG(envoy__config__route__v3__retry_policy__descriptor),
            .retry_on = "5xx,connect-failure,retriable-status-codes", .num_retries = u32(a, 3),
            .per_try_timeout = dur(a, 2, 0), .n_retriable_status_codes = 2, .retriable_status_codes = codes);
    Envoy__Config__Route__V3__RouteAction *a1 = NEW(
        a, Envoy__Config__Route__V3__RouteAction, .base = MSG(envoy__config__route__v3__route_action__descriptor),
        .cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS,
        .weighted_clusters = split, .timeout = dur(a, 5, 0), .retry_policy = retry);
    Route *r1 = NEW(a, Route, .base = MSG(envoy__config__route__v3__route__descriptor), .name = "api", .match = m1,
                    .action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE, .route = a1);

    /* 2: a regex path to one cluster, rewritten. */
    Envoy__Type__Matcher__V3__RegexMatcher *re =
        NEW(a, Envoy__Type__Matcher__V3__RegexMatcher, .base = MSG(envoy__type__matcher__v3__regex_matcher__descriptor),
            .regex = "^/users/[0-9]+$");
    Envoy__Config__Route__V3__RouteMatch *m2 =
        NEW(a, Envoy__Config__Route__V3__RouteMatch, .base = MSG(envoy__config__route__v3__route_match__descriptor),
            .path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX, .safe_regex = re,
            .case_sensitive = boolv(a, 0));
    Envoy__Config__Route__V3__RouteAction *a2 = NEW(
        a, Envoy__Config__Route__V3__RouteAction, .base = MSG(envoy__config__route__v3__route_action__descriptor),
        .cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER, .cluster = "users",
        .prefix_rewrite = "/u/",
        .host_rewrite_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL,
        .host_rewrite_literal = "users.internal", .idle_timeout = dur(a, 30, 500000000));
    Route *r2 = NEW(a, Route, .base = MSG(envoy__config__route__v3__route__descriptor), .match = m2,
                    .action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE, .route = a2);

    /* 3: a redirect. */
    Envoy__Config__Route__V3__RouteMatch *m3 =
        NEW(a, Envoy__Config__Route__V3__RouteMatch, .base = MSG(envoy__config__route__v3__route_match__descriptor),
            .path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH, .path = "/old");
    Envoy__Config__Route__V3__RedirectAction *redir = NEW(
        a, Envoy__Config__Route__V3__RedirectAction, .base = MSG(envoy__config__route__v3__redirect_action__descriptor),
        .host_redirect = "new.example.com",
        .path_rewrite_specifier_case = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT,
        .path_redirect = "/new",
        .response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT,
        .scheme_rewrite_specifier_case = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT,
        .https_redirect = 1, .strip_query = 1);
    Route *r3 = NEW(a, Route, .base = MSG(envoy__config__route__v3__route__descriptor), .match = m3,
                    .action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT, .redirect = redir);

    /* 4: everything else answered here. */
    Envoy__Config__Route__V3__RouteMatch *m4 =
        NEW(a, Envoy__Config__Route__V3__RouteMatch, .base = MSG(envoy__config__route__v3__route_match__descriptor),
            .path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX, .prefix = "/");
    Envoy__Config__Core__V3__DataSource *body =
        NEW(a, Envoy__Config__Core__V3__DataSource, .base = MSG(envoy__config__core__v3__data_source__descriptor),
            .specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING,
            .inline_string = "no route\n");
    Envoy__Config__Route__V3__DirectResponseAction *direct =
        NEW(a, Envoy__Config__Route__V3__DirectResponseAction,
            .base = MSG(envoy__config__route__v3__direct_response_action__descriptor), .status = 404, .body = body);
    Route *r4 = NEW(a, Route, .base = MSG(envoy__config__route__v3__route__descriptor), .match = m4,
                    .action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE, .direct_response = direct);

    Envoy__Config__Core__V3__HeaderValue *hv =
        NEW(a, Envoy__Config__Core__V3__HeaderValue, .base = MSG(envoy__config__core__v3__header_value__descriptor),
            .key = "x-served-by", .value = "tern");
    HVO *add = NEW(a, HVO, .base = MSG(envoy__config__core__v3__header_value_option__descriptor), .header = hv,
                   .append_action = ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);
    Envoy__Config__Route__V3__VirtualHost *vh = NEW(
        a, Envoy__Config__Route__V3__VirtualHost, .base = MSG(envoy__config__route__v3__virtual_host__descriptor),
        .name = "api", STRS(a, domains, "api.example.com", "api.example.com:8443"), LIST(a, routes, Route, r1, r2, r3, r4),
        .require_tls = ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__ALL,
        .n_response_headers_to_add = 1, .response_headers_to_add = arena_dup(a, (HVO *[]){add}, sizeof(HVO *)));
    return (ProtobufCMessage *)NEW(a, Envoy__Config__Route__V3__RouteConfiguration,
                                   .base = MSG(envoy__config__route__v3__route_configuration__descriptor),
                                   .name = "local_route", LIST(a, virtual_hosts, Envoy__Config__Route__V3__VirtualHost, vh),
                                   .validate_clusters = boolv(a, 0));
}

static ProtobufCMessage *cluster_eds(struct arena *a)
{
    Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig *eds =
        NEW(a, Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig,
            .base = MSG(envoy__config__cluster__v3__cluster__eds_cluster_config__descriptor), .eds_config = ads(a),
            .service_name = "api_v1");
    Envoy__Type__V3__Int64Range *ok =
        NEW(a, Envoy__Type__V3__Int64Range, .base = MSG(envoy__type__v3__int64_range__descriptor), .start = 200,
            .end = 300);
    Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck *http =
        NEW(a, Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck,
            .base = MSG(envoy__config__core__v3__health_check__http_health_check__descriptor), .host = "api.internal",
            .path = "/healthz", LIST(a, expected_statuses, Envoy__Type__V3__Int64Range, ok),
            .method = ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__HEAD);
    Envoy__Config__Core__V3__HealthCheck *hc = NEW(
        a, Envoy__Config__Core__V3__HealthCheck, .base = MSG(envoy__config__core__v3__health_check__descriptor),
        .timeout = dur(a, 1, 0), .interval = dur(a, 5, 0), .interval_jitter = dur(a, 0, 100000000),
        .unhealthy_threshold = u32(a, 3), .healthy_threshold = u32(a, 2),
        .health_checker_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK,
        .http_health_check = http, .unhealthy_interval = dur(a, 10, 0));
    typedef Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds Thresholds;
    Thresholds *th = NEW(a, Thresholds, .base = MSG(envoy__config__cluster__v3__circuit_breakers__thresholds__descriptor),
                         .priority = ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT, .max_connections = u32(a, 1024),
                         .max_pending_requests = u32(a, 256), .max_requests = u32(a, 2048), .max_retries = u32(a, 3));
    Envoy__Config__Cluster__V3__CircuitBreakers *cb =
        NEW(a, Envoy__Config__Cluster__V3__CircuitBreakers,
            .base = MSG(envoy__config__cluster__v3__circuit_breakers__descriptor), LIST(a, thresholds, Thresholds, th));

    typedef Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher San;
    San *san = NEW(a, San, .base = MSG(envoy__extensions__transport_sockets__tls__v3__subject_alt_name_matcher__descriptor),
                   .san_type = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI,
                   .matcher = exact(a, "spiffe://mesh.local/ns/default/sa/api"));
    Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext *peer =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__descriptor),
            .n_match_typed_subject_alt_names = 1, .match_typed_subject_alt_names = arena_dup(a, (San *[]){san}, sizeof(San *)));
    Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext *combined =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__common_tls_context__combined_certificate_validation_context__descriptor),
            .default_validation_context = peer, .validation_context_sds_secret_config = sds(a, "mesh_ca"));
    typedef Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig Sds;
    Envoy__Extensions__TransportSockets__Tls__V3__TlsParameters *params =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__TlsParameters,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__tls_parameters__descriptor),
            .tls_minimum_protocol_version = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2,
            .tls_maximum_protocol_version = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext *common_tls =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__common_tls_context__descriptor), .tls_params = params,
            STRS(a, alpn_protocols, "h2"), LIST(a, tls_certificate_sds_secret_configs, Sds, sds(a, "client_cert")),
            .validation_context_type_case =
                ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_COMBINED_VALIDATION_CONTEXT,
            .combined_validation_context = combined);
    ProtobufCMessage *utls = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext,
        .base = MSG(envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor),
        .common_tls_context = common_tls, .sni = "api.mesh.local");

    Envoy__Config__Core__V3__Http2ProtocolOptions *h2 =
        NEW(a, Envoy__Config__Core__V3__Http2ProtocolOptions,
            .base = MSG(envoy__config__core__v3__http2_protocol_options__descriptor), .max_concurrent_streams = u32(a, 100),
            .initial_stream_window_size = u32(a, 65536));
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig *explicit_h2 =
        NEW(a, Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig,
            .base = MSG(envoy__extensions__upstreams__http__v3__http_protocol_options__explicit_http_config__descriptor),
            .protocol_config_case =
                ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS,
            .http2_protocol_options = h2);
    ProtobufCMessage *hpo = (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions,
        .base = MSG(envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor),
        .upstream_protocol_options_case =
            ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG,
        .explicit_http_config = explicit_h2);
    typedef Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry Opt;
    Opt *opt = NEW(a, Opt, .base = MSG(envoy__config__cluster__v3__cluster__typed_extension_protocol_options_entry__descriptor),
                   .key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                   .value = any_of(a, XDS_TYPE_HTTP_PROTOCOL_OPTIONS, hpo));

    return (ProtobufCMessage *)NEW(
        a, Envoy__Config__Cluster__V3__Cluster, .base = MSG(envoy__config__cluster__v3__cluster__descriptor),
        .name = "api_v1", .eds_cluster_config = eds, .connect_timeout = dur(a, 0, 250000000),
        .lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST,
        LIST(a, health_checks, Envoy__Config__Core__V3__HealthCheck, hc), .circuit_breakers = cb,
        .transport_socket = tls_socket(a, XDS_TYPE_UPSTREAM_TLS, utls), .ignore_health_on_host_removal = 1,
        LIST(a, typed_extension_protocol_options, Opt, opt),
        .cluster_discovery_type_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE,
        .type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
}

static Envoy__Config__Endpoint__V3__LbEndpoint *lb_endpoint(struct arena *a, const char *ip, uint32_t port,
                                                            uint32_t weight, uint32_t hc_port)
{
    Envoy__Config__Endpoint__V3__Endpoint__HealthCheckConfig *hc =
        hc_port ? NEW(a, Envoy__Config__Endpoint__V3__Endpoint__HealthCheckConfig,
                      .base = MSG(envoy__config__endpoint__v3__endpoint__health_check_config__descriptor),
                      .port_value = hc_port)
                : NULL;
    Envoy__Config__Endpoint__V3__Endpoint *ep =
        NEW(a, Envoy__Config__Endpoint__V3__Endpoint, .base = MSG(envoy__config__endpoint__v3__endpoint__descriptor),
            .address = sockaddr(a, ip, port), .health_check_config = hc);
    return NEW(a, Envoy__Config__Endpoint__V3__LbEndpoint, .base = MSG(envoy__config__endpoint__v3__lb_endpoint__descriptor),
               .host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT, .endpoint = ep,
               .health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY, .load_balancing_weight = u32(a, weight));
}

static Envoy__Config__Core__V3__Locality *locality(struct arena *a, const char *region, const char *zone)
{
    return NEW(a, Envoy__Config__Core__V3__Locality, .base = MSG(envoy__config__core__v3__locality__descriptor),
               .region = (char *)region, .zone = (char *)zone);
}

static Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla(struct arena *a, const char *name, int with_backup)
{
    typedef Envoy__Config__Endpoint__V3__LbEndpoint Lb;
    typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Loc;
    Loc *l1 = NEW(a, Loc, .base = MSG(envoy__config__endpoint__v3__locality_lb_endpoints__descriptor),
                  .locality = locality(a, "eu-west-1", "eu-west-1a"),
                  LIST(a, lb_endpoints, Lb, lb_endpoint(a, "10.1.0.11", 8080, 2, 9901), lb_endpoint(a, "10.1.0.12", 8080, 1, 0)),
                  .load_balancing_weight = u32(a, 3));
    Loc *l2 = NEW(a, Loc, .base = MSG(envoy__config__endpoint__v3__locality_lb_endpoints__descriptor),
                  .locality = locality(a, "eu-west-1", "eu-west-1b"),
                  LIST(a, lb_endpoints, Lb, lb_endpoint(a, "fd00::21", 8080, 1, 0)), .priority = 1);
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy *policy =
        NEW(a, Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy,
            .base = MSG(envoy__config__endpoint__v3__cluster_load_assignment__policy__descriptor),
            .overprovisioning_factor = u32(a, 140));
    return NEW(a, Envoy__Config__Endpoint__V3__ClusterLoadAssignment,
               .base = MSG(envoy__config__endpoint__v3__cluster_load_assignment__descriptor), .cluster_name = (char *)name,
               .n_endpoints = with_backup ? 2 : 1, .endpoints = arena_dup(a, (Loc *[]){l1, l2}, 2 * sizeof(Loc *)),
               .policy = with_backup ? policy : NULL);
}

static ProtobufCMessage *cluster_static(struct arena *a)
{
    Envoy__Config__Core__V3__HealthCheck__TcpHealthCheck *tcp =
        NEW(a, Envoy__Config__Core__V3__HealthCheck__TcpHealthCheck,
            .base = MSG(envoy__config__core__v3__health_check__tcp_health_check__descriptor));
    Envoy__Config__Core__V3__HealthCheck *hc = NEW(
        a, Envoy__Config__Core__V3__HealthCheck, .base = MSG(envoy__config__core__v3__health_check__descriptor),
        .timeout = dur(a, 2, 0), .interval = dur(a, 10, 0), .unhealthy_threshold = u32(a, 2),
        .healthy_threshold = u32(a, 1),
        .health_checker_case = ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK,
        .tcp_health_check = tcp);
    /* STATIC is enum value 0: set through the oneof, so it is still sent. */
    return (ProtobufCMessage *)NEW(
        a, Envoy__Config__Cluster__V3__Cluster, .base = MSG(envoy__config__cluster__v3__cluster__descriptor),
        .name = "db_primary", .connect_timeout = dur(a, 1, 0),
        .lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN,
        LIST(a, health_checks, Envoy__Config__Core__V3__HealthCheck, hc), .load_assignment = cla(a, "db_primary", 0),
        .cluster_discovery_type_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE,
        .type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC);
}

static const char test_cert_pem[] = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTERN\n-----END CERTIFICATE-----\n";
static const uint8_t test_key_der[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0x00, 0xff, 0x80};

static ProtobufCMessage *secret_cert(struct arena *a)
{
    Envoy__Config__Core__V3__DataSource *chain =
        NEW(a, Envoy__Config__Core__V3__DataSource, .base = MSG(envoy__config__core__v3__data_source__descriptor),
            .specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING,
            .inline_string = (char *)test_cert_pem);
    Envoy__Config__Core__V3__DataSource *key =
        NEW(a, Envoy__Config__Core__V3__DataSource, .base = MSG(envoy__config__core__v3__data_source__descriptor),
            .specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES,
            .inline_bytes = {sizeof(test_key_der), (uint8_t *)test_key_der});
    Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate *cert =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__tls_certificate__descriptor),
            .certificate_chain = chain, .private_key = key);
    return (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__TransportSockets__Tls__V3__Secret,
        .base = MSG(envoy__extensions__transport_sockets__tls__v3__secret__descriptor), .name = "server_cert",
        .type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE, .tls_certificate = cert);
}

static ProtobufCMessage *secret_ca(struct arena *a)
{
    Envoy__Config__Core__V3__DataSource *ca =
        NEW(a, Envoy__Config__Core__V3__DataSource, .base = MSG(envoy__config__core__v3__data_source__descriptor),
            .specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME, .filename = "/etc/tern/mesh-ca.pem");
    Envoy__Type__Matcher__V3__StringMatcher *suffix = NEW(
        a, Envoy__Type__Matcher__V3__StringMatcher, .base = MSG(envoy__type__matcher__v3__string_matcher__descriptor),
        .match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SUFFIX, .suffix = ".mesh.local",
        .ignore_case = 1);
    typedef Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher San;
    San *san = NEW(a, San, .base = MSG(envoy__extensions__transport_sockets__tls__v3__subject_alt_name_matcher__descriptor),
                   .san_type = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__DNS,
                   .matcher = suffix);
    Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext *vc =
        NEW(a, Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext,
            .base = MSG(envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__descriptor),
            .trusted_ca = ca, .n_match_typed_subject_alt_names = 1,
            .match_typed_subject_alt_names = arena_dup(a, (San *[]){san}, sizeof(San *)),
            .max_verify_depth = u32(a, 3));
    return (ProtobufCMessage *)NEW(
        a, Envoy__Extensions__TransportSockets__Tls__V3__Secret,
        .base = MSG(envoy__extensions__transport_sockets__tls__v3__secret__descriptor), .name = "mesh_ca",
        .type_case = ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT,
        .validation_context = vc);
}

static ProtobufCMessage *discovery_response(struct arena *a)
{
    Envoy__Config__Core__V3__ControlPlane *cp =
        NEW(a, Envoy__Config__Core__V3__ControlPlane, .base = MSG(envoy__config__core__v3__control_plane__descriptor),
            .identifier = "tern-cp-0");
    return (ProtobufCMessage *)NEW(
        a, Envoy__Service__Discovery__V3__DiscoveryResponse,
        .base = MSG(envoy__service__discovery__v3__discovery_response__descriptor), .version_info = "7",
        LIST(a, resources, Any, any_of(a, XDS_TYPE_CLUSTER, cluster_eds(a)), any_of(a, XDS_TYPE_CLUSTER, cluster_static(a))),
        .type_url = XDS_TYPE_CLUSTER, .nonce = "nonce-7", .control_plane = cp);
}

static ProtobufCMessage *delta_response(struct arena *a)
{
    typedef Envoy__Service__Discovery__V3__Resource Resource;
    Resource *r = NEW(a, Resource, .base = MSG(envoy__service__discovery__v3__resource__descriptor), .version = "5",
                      .resource = any_of(a, XDS_TYPE_CLA, (ProtobufCMessage *)cla(a, "api_v1", 1)), .name = "api_v1",
                      .ttl = dur(a, 30, 0));
    return (ProtobufCMessage *)NEW(
        a, Envoy__Service__Discovery__V3__DeltaDiscoveryResponse,
        .base = MSG(envoy__service__discovery__v3__delta_discovery_response__descriptor), .system_version_info = "d-12",
        LIST(a, resources, Resource, r), .type_url = XDS_TYPE_CLA, .nonce = "dn-12", STRS(a, removed_resources, "api_v0"));
}

static Envoy__Config__Core__V3__Node *node(struct arena *a)
{
    typedef Google__Protobuf__Struct__FieldsEntry Field;
    Google__Protobuf__Value *v_ver = NEW(a, Google__Protobuf__Value, .base = MSG(google__protobuf__value__descriptor),
                                         .kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE, .string_value = "1.0");
    Google__Protobuf__Value *v_mesh = NEW(a, Google__Protobuf__Value, .base = MSG(google__protobuf__value__descriptor),
                                          .kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE, .bool_value = 1);
    Google__Protobuf__Value *v_w = NEW(a, Google__Protobuf__Value, .base = MSG(google__protobuf__value__descriptor),
                                       .kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE, .number_value = 2.5);
    Field *f1 = NEW(a, Field, .base = MSG(google__protobuf__struct__fields_entry__descriptor), .key = "TERN_VERSION",
                    .value = v_ver);
    Field *f2 = NEW(a, Field, .base = MSG(google__protobuf__struct__fields_entry__descriptor), .key = "mesh",
                    .value = v_mesh);
    Field *f3 = NEW(a, Field, .base = MSG(google__protobuf__struct__fields_entry__descriptor), .key = "weight",
                    .value = v_w);
    Google__Protobuf__Struct *md = NEW(a, Google__Protobuf__Struct, .base = MSG(google__protobuf__struct__descriptor),
                                       LIST(a, fields, Field, f1, f2, f3));
    return NEW(a, Envoy__Config__Core__V3__Node, .base = MSG(envoy__config__core__v3__node__descriptor),
               .id = "sidecar~10.1.0.11~frontend-7d9f~default", .cluster = "frontend", .metadata = md,
               .locality = locality(a, "eu-west-1", "eu-west-1a"), .user_agent_name = "tern",
               STRS(a, client_features, "envoy.lb.does_not_support_overprovisioning"),
               .user_agent_version_type_case = ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION,
               .user_agent_version = "0.1.0");
}

static ProtobufCMessage *discovery_request(struct arena *a)
{
    Google__Rpc__Status *err = NEW(a, Google__Rpc__Status, .base = MSG(google__rpc__status__descriptor), .code = 3,
                                   .message = "listener 'ingress_https': filter_chains[0]: unknown filter 'x'");
    return (ProtobufCMessage *)NEW(
        a, Envoy__Service__Discovery__V3__DiscoveryRequest,
        .base = MSG(envoy__service__discovery__v3__discovery_request__descriptor), .version_info = "6", .node = node(a),
        STRS(a, resource_names, "ingress_https", "db"), .type_url = XDS_TYPE_LISTENER, .response_nonce = "nonce-7", .error_detail = err);
}

static ProtobufCMessage *delta_request(struct arena *a)
{
    typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry Version;
    Version *v = NEW(a, Version,
                     .base = MSG(envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__descriptor),
                     .key = "api_v1", .value = "4");
    return (ProtobufCMessage *)NEW(
        a, Envoy__Service__Discovery__V3__DeltaDiscoveryRequest,
        .base = MSG(envoy__service__discovery__v3__delta_discovery_request__descriptor), .node = node(a),
        .type_url = XDS_TYPE_CLA, STRS(a, resource_names_subscribe, "api_v1", "api_v2"), STRS(a, resource_names_unsubscribe, "api_v0"), LIST(a, initial_resource_versions, Version, v),
        .response_nonce = "dn-11");
}

static const struct {
    const char *name;
    const char *message;
    ProtobufCMessage *(*build)(struct arena *a);
} samples[XDS_SAMPLE_COUNT] = {
    [XDS_SAMPLE_LISTENER_HTTP] = {"listener_http", "envoy.config.listener.v3.Listener", listener_http},
    [XDS_SAMPLE_LISTENER_TCP] = {"listener_tcp", "envoy.config.listener.v3.Listener", listener_tcp},
    [XDS_SAMPLE_ROUTE] = {"route", "envoy.config.route.v3.RouteConfiguration", route_config},
    [XDS_SAMPLE_CLUSTER_EDS] = {"cluster_eds", "envoy.config.cluster.v3.Cluster", cluster_eds},
    [XDS_SAMPLE_CLUSTER_STATIC] = {"cluster_static", "envoy.config.cluster.v3.Cluster", cluster_static},
    [XDS_SAMPLE_CLA] = {"cla", "envoy.config.endpoint.v3.ClusterLoadAssignment", NULL},
    [XDS_SAMPLE_SECRET_CERT] = {"secret_cert", "envoy.extensions.transport_sockets.tls.v3.Secret", secret_cert},
    [XDS_SAMPLE_SECRET_CA] = {"secret_ca", "envoy.extensions.transport_sockets.tls.v3.Secret", secret_ca},
    [XDS_SAMPLE_RESPONSE] = {"response", "envoy.service.discovery.v3.DiscoveryResponse", discovery_response},
    [XDS_SAMPLE_DELTA_RESPONSE] = {"delta_response", "envoy.service.discovery.v3.DeltaDiscoveryResponse",
                                   delta_response},
    [XDS_SAMPLE_REQUEST] = {"request", "envoy.service.discovery.v3.DiscoveryRequest", discovery_request},
    [XDS_SAMPLE_DELTA_REQUEST] = {"delta_request", "envoy.service.discovery.v3.DeltaDiscoveryRequest", delta_request},
};

static ProtobufCMessage *cla_api(struct arena *a)
{
    return (ProtobufCMessage *)cla(a, "api_v1", 1);
}

const char *xds_sample_name(enum xds_sample_id id)
{
    return samples[id].name;
}

const char *xds_sample_message(enum xds_sample_id id)
{
    return samples[id].message;
}

int xds_sample_pack(enum xds_sample_id id, struct xds_bytes *out)
{
    struct arena a = {.n = 0};
    ProtobufCMessage *m = id == XDS_SAMPLE_CLA ? cla_api(&a) : samples[id].build(&a);
    int rc = -1;

    out->data = NULL;
    out->len = 0;
    if (m && !a.oom) {
        out->len = protobuf_c_message_get_packed_size(m);
        out->data = malloc(out->len ? out->len : 1);
        if (out->data) {
            protobuf_c_message_pack(m, out->data);
            rc = 0;
        }
    }
    arena_free(&a);
    return rc;
}
