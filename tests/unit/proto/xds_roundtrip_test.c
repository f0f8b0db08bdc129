/*
 * Round trip of the xDS samples (xds_samples.h) through the protoc-c code of
 * //proto:xds: each sample decodes with its descriptor, with no unknown field
 * anywhere (Any payloads included, decoded by type URL), re-encodes to the
 * same bytes, and carries the values it was built with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
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
#include "tests/unit/proto/xds_samples.h"

static const struct {
    const char *type_url;
    const ProtobufCMessageDescriptor *desc;
} any_types[] = {
    {XDS_TYPE_LISTENER, &envoy__config__listener__v3__listener__descriptor},
    {XDS_TYPE_ROUTE, &envoy__config__route__v3__route_configuration__descriptor},
    {XDS_TYPE_CLUSTER, &envoy__config__cluster__v3__cluster__descriptor},
    {XDS_TYPE_CLA, &envoy__config__endpoint__v3__cluster_load_assignment__descriptor},
    {XDS_TYPE_SECRET, &envoy__extensions__transport_sockets__tls__v3__secret__descriptor},
    {XDS_TYPE_HCM, &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor},
    {XDS_TYPE_TCP_PROXY, &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor},
    {XDS_TYPE_ROUTER, &envoy__extensions__filters__http__router__v3__router__descriptor},
    {XDS_TYPE_LOCAL_RATELIMIT, &envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor},
    {XDS_TYPE_RBAC, &envoy__extensions__filters__http__rbac__v3__rbac__descriptor},
    {XDS_TYPE_DOWNSTREAM_TLS, &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor},
    {XDS_TYPE_UPSTREAM_TLS, &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor},
    {XDS_TYPE_HTTP_PROTOCOL_OPTIONS, &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor},
};

static const ProtobufCMessageDescriptor *any_type(const char *url)
{
    for (size_t i = 0; i < sizeof(any_types) / sizeof(any_types[0]); i++)
        if (strcmp(any_types[i].type_url, url) == 0)
            return any_types[i].desc;
    return NULL;
}

static const ProtobufCMessageDescriptor *descriptor_of(enum xds_sample_id id)
{
    const char *name = xds_sample_message(id);
    if (strcmp(name, "envoy.service.discovery.v3.DiscoveryResponse") == 0)
        return &envoy__service__discovery__v3__discovery_response__descriptor;
    if (strcmp(name, "envoy.service.discovery.v3.DeltaDiscoveryResponse") == 0)
        return &envoy__service__discovery__v3__delta_discovery_response__descriptor;
    if (strcmp(name, "envoy.service.discovery.v3.DiscoveryRequest") == 0)
        return &envoy__service__discovery__v3__discovery_request__descriptor;
    if (strcmp(name, "envoy.service.discovery.v3.DeltaDiscoveryRequest") == 0)
        return &envoy__service__discovery__v3__delta_discovery_request__descriptor;
    for (size_t i = 0; i < sizeof(any_types) / sizeof(any_types[0]); i++)
        if (strcmp(any_types[i].desc->name, name) == 0)
            return any_types[i].desc;
    return NULL;
}

/* Walks a decoded message: no unknown field at any depth, every Any of a
 * known type decodes too. Returns the number of Any payloads walked. */
static int walk(const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int anys = 0;

    assert_true(depth < 32);
    if (m->n_unknown_fields)
        fail_msg("%s: %u unknown field(s)", d->name, m->n_unknown_fields);
    if (d == &google__protobuf__any__descriptor) {
        const Google__Protobuf__Any *any = (const Google__Protobuf__Any *)m;
        const ProtobufCMessageDescriptor *t = any_type(any->type_url);
        ProtobufCMessage *inner;
        if (!t)
            fail_msg("Any of unexpected type %s", any->type_url);
        inner = protobuf_c_message_unpack(t, NULL, any->value.len, any->value.data);
        assert_non_null(inner);
        anys += 1 + walk(inner, depth + 1);
        protobuf_c_message_free_unpacked(inner, NULL);
        return anys;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                anys += walk(v[j], depth + 1);
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
            if (sub)
                anys += walk(sub, depth + 1);
        }
    }
    return anys;
}

static void test_every_sample_round_trips(void **state)
{
    /* How many Any payloads each sample carries, nested ones included. */
    static const int expected_anys[XDS_SAMPLE_COUNT] = {
        [XDS_SAMPLE_LISTENER_HTTP] = 5, [XDS_SAMPLE_LISTENER_TCP] = 1, [XDS_SAMPLE_CLUSTER_EDS] = 2,
        [XDS_SAMPLE_RESPONSE] = 4, [XDS_SAMPLE_DELTA_RESPONSE] = 1,
    };
    for (int id = 0; id < XDS_SAMPLE_COUNT; id++) {
        const ProtobufCMessageDescriptor *d = descriptor_of(id);
        struct xds_bytes b;
        ProtobufCMessage *m;
        uint8_t *again;
        size_t len;

        assert_non_null(d);
        assert_int_equal(xds_sample_pack(id, &b), 0);
        assert_true(b.len > 20);
        m = protobuf_c_message_unpack(d, NULL, b.len, b.data);
        if (!m)
            fail_msg("%s does not decode", xds_sample_name(id));
        assert_int_equal(walk(m, 0), expected_anys[id]);
        len = protobuf_c_message_get_packed_size(m);
        assert_int_equal(len, b.len);
        again = malloc(len);
        assert_int_equal(protobuf_c_message_pack(m, again), len);
        if (memcmp(again, b.data, len) != 0)
            fail_msg("%s re-encodes differently", xds_sample_name(id));
        free(again);
        protobuf_c_message_free_unpacked(m, NULL);
        free(b.data);
    }
}

static void *unpack_sample(enum xds_sample_id id, const ProtobufCMessageDescriptor *d)
{
    struct xds_bytes b;
    void *m;
    assert_int_equal(xds_sample_pack(id, &b), 0);
    m = protobuf_c_message_unpack(d, NULL, b.len, b.data);
    free(b.data);
    assert_non_null(m);
    return m;
}

static void *unpack_any(const Google__Protobuf__Any *any, const char *type_url, const ProtobufCMessageDescriptor *d)
{
    void *m;
    assert_non_null(any);
    assert_string_equal(any->type_url, type_url);
    m = protobuf_c_message_unpack(d, NULL, any->value.len, any->value.data);
    assert_non_null(m);
    return m;
}

static void test_listener_with_hcm(void **state)
{
    Envoy__Config__Listener__V3__Listener *l =
        unpack_sample(XDS_SAMPLE_LISTENER_HTTP, &envoy__config__listener__v3__listener__descriptor);
    assert_string_equal(l->name, "ingress_https");
    assert_int_equal(l->address->address_case, ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS);
    assert_string_equal(l->address->socket_address->address, "0.0.0.0");
    assert_int_equal(l->address->socket_address->port_value, 8443);
    assert_int_equal(l->per_connection_buffer_limit_bytes->value, 32768);
    assert_int_equal(l->n_filter_chains, 1);
    Envoy__Config__Listener__V3__FilterChain *fc = l->filter_chains[0];
    assert_int_equal(fc->filter_chain_match->n_server_names, 2);
    assert_string_equal(fc->filter_chain_match->server_names[1], "*.api.example.com");
    assert_string_equal(fc->filters[0]->name, "envoy.filters.network.http_connection_manager");

    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager *hcm = unpack_any(
        fc->filters[0]->typed_config, XDS_TYPE_HCM,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
    assert_string_equal(hcm->stat_prefix, "ingress_http");
    assert_int_equal(hcm->route_specifier_case,
                     ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS);
    assert_string_equal(hcm->rds->route_config_name, "local_route");
    assert_int_equal(hcm->rds->config_source->config_source_specifier_case,
                     ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS);
    assert_int_equal(hcm->n_http_filters, 3);
    assert_string_equal(hcm->http_filters[2]->name, "envoy.filters.http.router");
    assert_int_equal(hcm->stream_idle_timeout->seconds, 300);
    assert_true(hcm->use_remote_address->value);

    Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit *rl =
        unpack_any(hcm->http_filters[0]->typed_config, XDS_TYPE_LOCAL_RATELIMIT,
                   &envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor);
    assert_int_equal(rl->status->code, 429);
    assert_int_equal(rl->token_bucket->max_tokens, 100);
    assert_int_equal(rl->token_bucket->tokens_per_fill->value, 10);
    assert_int_equal(rl->filter_enforced->default_value->numerator, 100);
    protobuf_c_message_free_unpacked(&rl->base, NULL);

    Envoy__Extensions__Filters__Http__Rbac__V3__RBAC *rbac = unpack_any(
        hcm->http_filters[1]->typed_config, XDS_TYPE_RBAC, &envoy__extensions__filters__http__rbac__v3__rbac__descriptor);
    assert_int_equal(rbac->rules->action, ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__ALLOW);
    assert_int_equal(rbac->rules->n_policies, 1);
    assert_string_equal(rbac->rules->policies[0]->key, "frontend-reads-api");
    Envoy__Config__Rbac__V3__Policy *p = rbac->rules->policies[0]->value;
    assert_int_equal(p->permissions[0]->rule_case, ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_AND_RULES);
    assert_string_equal(p->permissions[0]->and_rules->rules[1]->url_path->path->prefix, "/api/");
    assert_int_equal(p->permissions[1]->destination_port, 8443);
    assert_string_equal(p->principals[0]->authenticated->principal_name->exact,
                        "spiffe://mesh.local/ns/default/sa/frontend");
    assert_string_equal(p->principals[1]->and_ids->ids[1]->not_id->source_ip->address_prefix, "10.9.0.0");
    protobuf_c_message_free_unpacked(&rbac->base, NULL);
    protobuf_c_message_free_unpacked(&hcm->base, NULL);

    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *dtls =
        unpack_any(fc->transport_socket->typed_config, XDS_TYPE_DOWNSTREAM_TLS,
                   &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor);
    assert_string_equal(fc->transport_socket->name, "envoy.transport_sockets.tls");
    assert_true(dtls->require_client_certificate->value);
    assert_int_equal(dtls->common_tls_context->n_alpn_protocols, 2);
    assert_string_equal(dtls->common_tls_context->alpn_protocols[0], "h2");
    assert_string_equal(dtls->common_tls_context->tls_certificate_sds_secret_configs[0]->name, "server_cert");
    assert_string_equal(dtls->common_tls_context->validation_context_sds_secret_config->name, "mesh_ca");
    protobuf_c_message_free_unpacked(&dtls->base, NULL);
    protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_listener_with_tcp_proxy(void **state)
{
    Envoy__Config__Listener__V3__Listener *l =
        unpack_sample(XDS_SAMPLE_LISTENER_TCP, &envoy__config__listener__v3__listener__descriptor);
    assert_int_equal(l->drain_type, ENVOY__CONFIG__LISTENER__V3__LISTENER__DRAIN_TYPE__MODIFY_ONLY);
    Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy *tcp =
        unpack_any(l->filter_chains[0]->filters[0]->typed_config, XDS_TYPE_TCP_PROXY,
                   &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor);
    assert_string_equal(tcp->stat_prefix, "db");
    assert_int_equal(tcp->weighted_clusters->n_clusters, 2);
    assert_string_equal(tcp->weighted_clusters->clusters[1]->name, "db_replica");
    assert_int_equal(tcp->weighted_clusters->clusters[0]->weight, 3);
    assert_int_equal(tcp->idle_timeout->seconds, 3600);
    protobuf_c_message_free_unpacked(&tcp->base, NULL);
    protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_route_configuration(void **state)
{
    Envoy__Config__Route__V3__RouteConfiguration *rc =
        unpack_sample(XDS_SAMPLE_ROUTE, &envoy__config__route__v3__route_configuration__descriptor);
    assert_string_equal(rc->name, "local_route");
    assert_non_null(rc->validate_clusters);
    assert_false(rc->validate_clusters->value);
    Envoy__Config__Route__V3__VirtualHost *vh = rc->virtual_hosts[0];
    assert_int_equal(vh->n_domains, 2);
    assert_int_equal(vh->require_tls, ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__ALL);
    assert_int_equal(vh->response_headers_to_add[0]->append_action,
                     ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);
    assert_int_equal(vh->n_routes, 4);

    Envoy__Config__Route__V3__Route *r = vh->routes[0];
    assert_string_equal(r->match->prefix, "/api/");
    assert_true(r->match->headers[0]->present_match);
    assert_string_equal(r->match->query_parameters[0]->string_match->exact, "1");
    assert_int_equal(r->route->cluster_specifier_case,
                     ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS);
    assert_int_equal(r->route->weighted_clusters->clusters[0]->weight->value, 90);
    assert_int_equal(r->route->timeout->seconds, 5);
    assert_string_equal(r->route->retry_policy->retry_on, "5xx,connect-failure,retriable-status-codes");
    assert_int_equal(r->route->retry_policy->n_retriable_status_codes, 2);
    assert_int_equal(r->route->retry_policy->retriable_status_codes[1], 504);

    r = vh->routes[1];
    assert_int_equal(r->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX);
    assert_string_equal(r->match->safe_regex->regex, "^/users/[0-9]+$");
    assert_false(r->match->case_sensitive->value);
    assert_string_equal(r->route->cluster, "users");
    assert_string_equal(r->route->prefix_rewrite, "/u/");
    assert_string_equal(r->route->host_rewrite_literal, "users.internal");
    assert_int_equal(r->route->idle_timeout->nanos, 500000000);

    r = vh->routes[2];
    assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT);
    assert_string_equal(r->redirect->path_redirect, "/new");
    assert_true(r->redirect->https_redirect);
    assert_int_equal(r->redirect->response_code,
                     ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT);

    r = vh->routes[3];
    assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE);
    assert_int_equal(r->direct_response->status, 404);
    assert_string_equal(r->direct_response->body->inline_string, "no route\n");
    protobuf_c_message_free_unpacked(&rc->base, NULL);
}

static void test_clusters(void **state)
{
    Envoy__Config__Cluster__V3__Cluster *c =
        unpack_sample(XDS_SAMPLE_CLUSTER_EDS, &envoy__config__cluster__v3__cluster__descriptor);
    assert_int_equal(c->cluster_discovery_type_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_string_equal(c->eds_cluster_config->service_name, "api_v1");
    assert_int_equal(c->connect_timeout->nanos, 250000000);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST);
    assert_int_equal(c->health_checks[0]->health_checker_case,
                     ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK);
    assert_string_equal(c->health_checks[0]->http_health_check->path, "/healthz");
    assert_int_equal(c->health_checks[0]->http_health_check->expected_statuses[0]->end, 300);
    assert_int_equal(c->health_checks[0]->unhealthy_threshold->value, 3);
    assert_int_equal(c->circuit_breakers->thresholds[0]->max_pending_requests->value, 256);
    assert_true(c->ignore_health_on_host_removal);

    Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *utls =
        unpack_any(c->transport_socket->typed_config, XDS_TYPE_UPSTREAM_TLS,
                   &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor);
    assert_string_equal(utls->sni, "api.mesh.local");
    Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext *cv =
        utls->common_tls_context->combined_validation_context;
    assert_int_equal(cv->default_validation_context->match_typed_subject_alt_names[0]->san_type,
                     ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI);
    assert_string_equal(cv->validation_context_sds_secret_config->name, "mesh_ca");
    assert_int_equal(utls->common_tls_context->tls_params->tls_minimum_protocol_version,
                     ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    protobuf_c_message_free_unpacked(&utls->base, NULL);

    assert_int_equal(c->n_typed_extension_protocol_options, 1);
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *hpo =
        unpack_any(c->typed_extension_protocol_options[0]->value, XDS_TYPE_HTTP_PROTOCOL_OPTIONS,
                   &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
    assert_int_equal(hpo->explicit_http_config->http2_protocol_options->max_concurrent_streams->value, 100);
    protobuf_c_message_free_unpacked(&hpo->base, NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);

    c = unpack_sample(XDS_SAMPLE_CLUSTER_STATIC, &envoy__config__cluster__v3__cluster__descriptor);
    /* STATIC is 0, and still present: it was set through the oneof. */
    assert_int_equal(c->cluster_discovery_type_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC);
    assert_string_equal(c->load_assignment->cluster_name, "db_primary");
    assert_int_equal(c->load_assignment->endpoints[0]->lb_endpoints[0]->endpoint->address->socket_address->port_value,
                     8080);
    assert_int_equal(c->health_checks[0]->health_checker_case,
                     ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_cluster_load_assignment(void **state)
{
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
        unpack_sample(XDS_SAMPLE_CLA, &envoy__config__endpoint__v3__cluster_load_assignment__descriptor);
    assert_string_equal(cla->cluster_name, "api_v1");
    assert_int_equal(cla->n_endpoints, 2);
    assert_string_equal(cla->endpoints[0]->locality->zone, "eu-west-1a");
    assert_int_equal(cla->endpoints[0]->load_balancing_weight->value, 3);
    Envoy__Config__Endpoint__V3__LbEndpoint *e = cla->endpoints[0]->lb_endpoints[0];
    assert_string_equal(e->endpoint->address->socket_address->address, "10.1.0.11");
    assert_int_equal(e->endpoint->health_check_config->port_value, 9901);
    assert_int_equal(e->health_status, ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY);
    assert_int_equal(e->load_balancing_weight->value, 2);
    assert_null(cla->endpoints[0]->lb_endpoints[1]->endpoint->health_check_config);
    assert_int_equal(cla->endpoints[1]->priority, 1);
    assert_string_equal(cla->endpoints[1]->lb_endpoints[0]->endpoint->address->socket_address->address, "fd00::21");
    assert_int_equal(cla->policy->overprovisioning_factor->value, 140);
    protobuf_c_message_free_unpacked(&cla->base, NULL);
}

static void test_secrets(void **state)
{
    Envoy__Extensions__TransportSockets__Tls__V3__Secret *s =
        unpack_sample(XDS_SAMPLE_SECRET_CERT, &envoy__extensions__transport_sockets__tls__v3__secret__descriptor);
    assert_string_equal(s->name, "server_cert");
    assert_int_equal(s->type_case, ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE);
    assert_non_null(strstr(s->tls_certificate->certificate_chain->inline_string, "BEGIN CERTIFICATE"));
    assert_int_equal(s->tls_certificate->private_key->specifier_case,
                     ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES);
    assert_int_equal(s->tls_certificate->private_key->inline_bytes.len, 10);
    assert_int_equal(s->tls_certificate->private_key->inline_bytes.data[8], 0xff);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = unpack_sample(XDS_SAMPLE_SECRET_CA, &envoy__extensions__transport_sockets__tls__v3__secret__descriptor);
    assert_int_equal(s->type_case, ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT);
    assert_string_equal(s->validation_context->trusted_ca->filename, "/etc/tern/mesh-ca.pem");
    assert_string_equal(s->validation_context->match_typed_subject_alt_names[0]->matcher->suffix, ".mesh.local");
    assert_true(s->validation_context->match_typed_subject_alt_names[0]->matcher->ignore_case);
    assert_int_equal(s->validation_context->max_verify_depth->value, 3);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_discovery_messages(void **state)
{
    Envoy__Service__Discovery__V3__DiscoveryResponse *r =
        unpack_sample(XDS_SAMPLE_RESPONSE, &envoy__service__discovery__v3__discovery_response__descriptor);
    assert_string_equal(r->version_info, "7");
    assert_string_equal(r->nonce, "nonce-7");
    assert_string_equal(r->type_url, XDS_TYPE_CLUSTER);
    assert_string_equal(r->control_plane->identifier, "tern-cp-0");
    assert_int_equal(r->n_resources, 2);
    Envoy__Config__Cluster__V3__Cluster *c =
        unpack_any(r->resources[1], XDS_TYPE_CLUSTER, &envoy__config__cluster__v3__cluster__descriptor);
    assert_string_equal(c->name, "db_primary");
    protobuf_c_message_free_unpacked(&c->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *d =
        unpack_sample(XDS_SAMPLE_DELTA_RESPONSE, &envoy__service__discovery__v3__delta_discovery_response__descriptor);
    assert_string_equal(d->system_version_info, "d-12");
    assert_string_equal(d->nonce, "dn-12");
    assert_string_equal(d->resources[0]->name, "api_v1");
    assert_string_equal(d->resources[0]->version, "5");
    assert_int_equal(d->resources[0]->ttl->seconds, 30);
    assert_int_equal(d->n_removed_resources, 1);
    assert_string_equal(d->removed_resources[0], "api_v0");
    protobuf_c_message_free_unpacked(&d->base, NULL);

    Envoy__Service__Discovery__V3__DiscoveryRequest *q =
        unpack_sample(XDS_SAMPLE_REQUEST, &envoy__service__discovery__v3__discovery_request__descriptor);
    assert_string_equal(q->node->id, "sidecar~10.1.0.11~frontend-7d9f~default");
    assert_string_equal(q->node->cluster, "frontend");
    assert_int_equal(q->node->metadata->n_fields, 3);
    assert_string_equal(q->node->metadata->fields[1]->key, "mesh");
    assert_true(q->node->metadata->fields[1]->value->bool_value);
    assert_string_equal(q->node->user_agent_version, "0.1.0");
    assert_int_equal(q->n_resource_names, 2);
    assert_string_equal(q->response_nonce, "nonce-7");
    assert_int_equal(q->error_detail->code, 3);
    protobuf_c_message_free_unpacked(&q->base, NULL);

    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *dq =
        unpack_sample(XDS_SAMPLE_DELTA_REQUEST, &envoy__service__discovery__v3__delta_discovery_request__descriptor);
    assert_int_equal(dq->n_resource_names_subscribe, 2);
    assert_string_equal(dq->resource_names_unsubscribe[0], "api_v0");
    assert_string_equal(dq->initial_resource_versions[0]->key, "api_v1");
    assert_string_equal(dq->initial_resource_versions[0]->value, "4");
    protobuf_c_message_free_unpacked(&dq->base, NULL);
}

/* Truncating a packed sample anywhere must fail cleanly or decode a prefix,
 * never crash: the decoder sees untrusted control-plane bytes. */
static void test_truncated_input(void **state)
{
    struct xds_bytes b;
    int rejected = 0;
    assert_int_equal(xds_sample_pack(XDS_SAMPLE_RESPONSE, &b), 0);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        ProtobufCMessage *m =
            protobuf_c_message_unpack(&envoy__service__discovery__v3__discovery_response__descriptor, NULL, n, copy);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        else
            rejected++;
        free(copy);
    }
    /* Most cuts land inside a length-delimited field. */
    assert_true(rejected > (int)b.len / 2);
    free(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sample_round_trips),
        cmocka_unit_test(test_listener_with_hcm),
        cmocka_unit_test(test_listener_with_tcp_proxy),
        cmocka_unit_test(test_route_configuration),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_cluster_load_assignment),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_discovery_messages),
        cmocka_unit_test(test_truncated_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
