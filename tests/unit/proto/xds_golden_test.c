/*
 * Golden bytes for the main xDS messages, written out by hand from Envoy's
 * field numbers (api/envoy/..., see proto/README.md) without going through our
 * .proto files: every tag byte is (field number << 3 | wire type), spelled out
 * with the field it stands for. Each fixture must decode with the protoc-c
 * code of //proto:xds into the values listed, with no unknown field, and our
 * encoder must give back the very same bytes. A wrong field number or type in
 * proto/ moves a value to another field or to the unknown list, and fails.
 *
 * Wire types: 0 varint, 2 length-delimited. Tags of fields >= 16 take two
 * bytes: field 24 LEN = 194 = 0xc2 0x01, field 33 LEN = 266 = 0x8a 0x02.
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
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define FIXTURE(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

/* Decodes the fixture, asserts no unknown field at the top, re-encodes and
 * compares byte for byte. Returns the decoded message (free it). */
static void *golden(const ProtobufCMessageDescriptor *d, const uint8_t *bytes, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, bytes);
    uint8_t *again;
    size_t n;

    if (!m)
        fail_msg("%s: golden bytes do not decode", d->name);
    if (m->n_unknown_fields)
        fail_msg("%s: %u unknown field(s), first number %u", d->name, m->n_unknown_fields,
                 m->unknown_fields[0].tag);
    n = protobuf_c_message_get_packed_size(m);
    again = malloc(n ? n : 1);
    protobuf_c_message_pack(m, again);
    if (n != len || memcmp(again, bytes, len) != 0) {
        for (size_t i = 0; i < len && i < n; i++)
            if (again[i] != bytes[i])
                fail_msg("%s: re-encoded %zu bytes (golden %zu), first difference at byte %zu: 0x%02x, golden 0x%02x",
                         d->name, n, len, i, again[i], bytes[i]);
        fail_msg("%s: re-encoded %zu bytes, golden %zu", d->name, n, len);
    }
    free(again);
    return m;
}

static void test_cluster(void **state)
{
    static const char bytes[] =
        "\x0a\x02" "c1"                 /* 1 name "c1" */
        "\x10\x03"                      /* 2 type = EDS (3) */
        "\x1a\x07"                      /* 3 eds_cluster_config { */
        "\x0a\x02\x1a\x00"              /*   1 eds_config { 3 ads {} } */
        "\x12\x01" "s"                  /*   2 service_name "s" } */
        "\x22\x02\x08\x05"              /* 4 connect_timeout { 1 seconds 5 } */
        "\x30\x01"                      /* 6 lb_policy = LEAST_REQUEST (1) */
        "\x52\x06\x0a\x04\x12\x02\x08\x64" /* 10 circuit_breakers { 1 thresholds { 2 max_connections { 100 } } } */
        "\xc2\x01\x05\x0a\x03" "tls"    /* 24 transport_socket { 1 name "tls" } */
        "\xe2\x01\x01" "a"              /* 28 alt_stat_name "a" */
        "\x80\x02\x01"                  /* 32 ignore_health_on_host_removal true */
        "\x8a\x02\x04\x0a\x02" "c1"     /* 33 load_assignment { 1 cluster_name "c1" } */
        "\xb8\x02\x01";                 /* 39 respect_dns_ttl true */
    Envoy__Config__Cluster__V3__Cluster *c = golden(&envoy__config__cluster__v3__cluster__descriptor, FIXTURE(bytes));
    assert_string_equal(c->name, "c1");
    assert_int_equal(c->cluster_discovery_type_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_int_equal(c->eds_cluster_config->eds_config->config_source_specifier_case,
                     ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS);
    assert_string_equal(c->eds_cluster_config->service_name, "s");
    assert_int_equal(c->connect_timeout->seconds, 5);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST);
    assert_int_equal(c->circuit_breakers->thresholds[0]->max_connections->value, 100);
    assert_string_equal(c->transport_socket->name, "tls");
    assert_string_equal(c->alt_stat_name, "a");
    assert_true(c->ignore_health_on_host_removal);
    assert_string_equal(c->load_assignment->cluster_name, "c1");
    assert_true(c->respect_dns_ttl);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_listener(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "l"                  /* 1 name "l" */
        "\x12\x0a\x0a\x08"              /* 2 address { 1 socket_address { */
        "\x12\x03" "::1"                /*   2 address "::1" */
        "\x18\x90\x3f"                  /*   3 port_value 8080 } } */
        "\x1a\x05\x1a\x03\x0a\x01" "f"  /* 3 filter_chains { 3 filters { 1 name "f" } } */
        "\x2a\x04\x08\x80\x80\x01"      /* 5 per_connection_buffer_limit_bytes { 16384 } */
        "\x40\x01"                      /* 8 drain_type = MODIFY_ONLY (1) */
        "\xca\x01\x03\x3a\x01" "d"      /* 25 default_filter_chain { 7 name "d" } */
        "\xe2\x01\x02" "sp"             /* 28 stat_prefix "sp" */
        "\xea\x01\x02\x08\x01";         /* 29 enable_reuse_port { true } */
    Envoy__Config__Listener__V3__Listener *l =
        golden(&envoy__config__listener__v3__listener__descriptor, FIXTURE(bytes));
    assert_string_equal(l->name, "l");
    assert_string_equal(l->address->socket_address->address, "::1");
    assert_int_equal(l->address->socket_address->port_value, 8080);
    assert_string_equal(l->filter_chains[0]->filters[0]->name, "f");
    assert_int_equal(l->per_connection_buffer_limit_bytes->value, 16384);
    assert_int_equal(l->drain_type, ENVOY__CONFIG__LISTENER__V3__LISTENER__DRAIN_TYPE__MODIFY_ONLY);
    assert_string_equal(l->default_filter_chain->name, "d");
    assert_string_equal(l->stat_prefix, "sp");
    assert_true(l->enable_reuse_port->value);
    protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_http_connection_manager(void **state)
{
    static const char bytes[] =
        "\x08\x02"                      /* 1 codec_type = HTTP2 (2) */
        "\x12\x02" "hp"                 /* 2 stat_prefix "hp" */
        "\x1a\x0a"                      /* 3 rds { */
        "\x0a\x04\x1a\x00\x30\x02"      /*   1 config_source { 3 ads {}, 6 resource_api_version = V3 (2) } */
        "\x12\x02" "rc"                 /*   2 route_config_name "rc" } */
        "\x2a\x49"                      /* 5 http_filters { */
        "\x0a\x01" "r"                  /*   1 name "r" */
        "\x22\x44\x0a\x42"              /*   4 typed_config { 1 type_url (66 bytes) */
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" /* } } */
        "\x72\x02\x08\x01"              /* 14 use_remote_address { true } */
        "\xc2\x01\x02\x08\x78"          /* 24 stream_idle_timeout { 1 seconds 120 } */
        "\x9a\x02\x04\x0a\x02\x08\x1e"; /* 35 common_http_protocol_options { 1 idle_timeout { 30 } } */
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager *h = golden(
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
        FIXTURE(bytes));
    assert_int_equal(h->codec_type,
                     ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP2);
    assert_string_equal(h->stat_prefix, "hp");
    assert_int_equal(h->rds->config_source->resource_api_version, ENVOY__CONFIG__CORE__V3__API_VERSION__V3);
    assert_string_equal(h->rds->route_config_name, "rc");
    assert_string_equal(h->http_filters[0]->name, "r");
    assert_string_equal(h->http_filters[0]->typed_config->type_url,
                        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router");
    assert_true(h->use_remote_address->value);
    assert_int_equal(h->stream_idle_timeout->seconds, 120);
    assert_int_equal(h->common_http_protocol_options->idle_timeout->seconds, 30);
    protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_route_configuration(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "r"                  /* 1 name "r" */
        "\x12\x2b"                      /* 2 virtual_hosts { */
        "\x0a\x01" "v"                  /*   1 name "v" */
        "\x12\x01" "*"                  /*   2 domains "*" */
        "\x1a\x23"                      /*   3 routes { */
        "\x0a\x03\x0a\x01" "/"          /*     1 match { 1 prefix "/" } */
        "\x12\x19"                      /*     2 route { */
        "\x0a\x01" "c"                  /*       1 cluster "c" */
        "\x2a\x02" "/x"                 /*       5 prefix_rewrite "/x" */
        "\x32\x01" "h"                  /*       6 host_rewrite_literal "h" */
        "\x42\x02\x08\x0f"              /*       8 timeout { 15 } */
        "\x4a\x09\x0a\x03" "5xx"        /*       9 retry_policy { 1 retry_on "5xx" */
        "\x12\x02\x08\x02"              /*         2 num_retries { 2 } } } */
        "\x72\x01" "n"                  /*     14 name "n" } } */
        "\x3a\x02\x08\x01";             /* 7 validate_clusters { true } */
    Envoy__Config__Route__V3__RouteConfiguration *rc =
        golden(&envoy__config__route__v3__route_configuration__descriptor, FIXTURE(bytes));
    Envoy__Config__Route__V3__Route *r = rc->virtual_hosts[0]->routes[0];
    assert_string_equal(rc->name, "r");
    assert_string_equal(rc->virtual_hosts[0]->domains[0], "*");
    assert_string_equal(r->match->prefix, "/");
    assert_string_equal(r->route->cluster, "c");
    assert_string_equal(r->route->prefix_rewrite, "/x");
    assert_string_equal(r->route->host_rewrite_literal, "h");
    assert_int_equal(r->route->timeout->seconds, 15);
    assert_string_equal(r->route->retry_policy->retry_on, "5xx");
    assert_int_equal(r->route->retry_policy->num_retries->value, 2);
    assert_string_equal(r->name, "n");
    assert_true(rc->validate_clusters->value);
    protobuf_c_message_free_unpacked(&rc->base, NULL);
}

static void test_route_actions(void **state)
{
    static const char redirect[] =
        "\x0a\x04\x12\x02" "/a"         /* 1 match { 2 path "/a" } */
        "\x1a\x0c"                      /* 3 redirect { */
        "\x0a\x01" "h"                  /*   1 host_redirect "h" */
        "\x18\x04"                      /*   3 response_code = PERMANENT_REDIRECT (4) */
        "\x20\x01"                      /*   4 https_redirect true */
        "\x30\x01"                      /*   6 strip_query true */
        "\x40\xbb\x03";                 /*   8 port_redirect 443 } */
    static const char direct[] =
        "\x0a\x03\x0a\x01" "/"          /* 1 match { 1 prefix "/" } */
        "\x3a\x08"                      /* 7 direct_response { */
        "\x08\xf7\x03"                  /*   1 status 503 */
        "\x12\x03\x1a\x01" "x";         /*   2 body { 3 inline_string "x" } } */
    static const char action[] =
        "\x1a\x09\x0a\x07"              /* 3 weighted_clusters { 1 clusters { */
        "\x0a\x01" "a"                  /*   1 name "a" */
        "\x12\x02\x08\x05"              /*   2 weight { 5 } } } */
        "\x7a\x04\x1a\x02\x08\x01"      /* 15 hash_policy { 3 connection_properties { 1 source_ip true } } */
        "\xa0\x01\x01"                  /* 20 cluster_not_found_response_code = NOT_FOUND (1) */
        "\xea\x01\x01" "H";             /* 29 host_rewrite_header "H" */
    Envoy__Config__Route__V3__Route *r = golden(&envoy__config__route__v3__route__descriptor, FIXTURE(redirect));
    assert_string_equal(r->match->path, "/a");
    assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT);
    assert_string_equal(r->redirect->host_redirect, "h");
    assert_int_equal(r->redirect->response_code,
                     ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT);
    assert_true(r->redirect->https_redirect);
    assert_true(r->redirect->strip_query);
    assert_int_equal(r->redirect->port_redirect, 443);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = golden(&envoy__config__route__v3__route__descriptor, FIXTURE(direct));
    assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE);
    assert_int_equal(r->direct_response->status, 503);
    assert_string_equal(r->direct_response->body->inline_string, "x");
    protobuf_c_message_free_unpacked(&r->base, NULL);

    Envoy__Config__Route__V3__RouteAction *a =
        golden(&envoy__config__route__v3__route_action__descriptor, FIXTURE(action));
    assert_string_equal(a->weighted_clusters->clusters[0]->name, "a");
    assert_int_equal(a->weighted_clusters->clusters[0]->weight->value, 5);
    assert_true(a->hash_policy[0]->connection_properties->source_ip);
    assert_int_equal(a->cluster_not_found_response_code,
                     ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_NOT_FOUND_RESPONSE_CODE__NOT_FOUND);
    assert_string_equal(a->host_rewrite_header, "H");
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_cluster_load_assignment(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "c"                  /* 1 cluster_name "c" */
        "\x12\x26"                      /* 2 endpoints { */
        "\x0a\x04\x0a\x02" "eu"         /*   1 locality { 1 region "eu" } */
        "\x12\x18"                      /*   2 lb_endpoints { */
        "\x0a\x10\x0a\x0e\x0a\x0c"      /*     1 endpoint { 1 address { 1 socket_address { */
        "\x12\x08" "10.0.0.1"           /*       2 address "10.0.0.1" */
        "\x18\x50"                      /*       3 port_value 80 } } } */
        "\x10\x01"                      /*     2 health_status = HEALTHY (1) */
        "\x22\x02\x08\x07"              /*     4 load_balancing_weight { 7 } } */
        "\x1a\x02\x08\x03"              /*   3 load_balancing_weight { 3 } */
        "\x28\x02"                      /*   5 priority 2 } */
        "\x22\x05\x1a\x03\x08\x8c\x01"; /* 4 policy { 3 overprovisioning_factor { 140 } } */
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
        golden(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, FIXTURE(bytes));
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = cla->endpoints[0];
    assert_string_equal(cla->cluster_name, "c");
    assert_string_equal(loc->locality->region, "eu");
    assert_string_equal(loc->lb_endpoints[0]->endpoint->address->socket_address->address, "10.0.0.1");
    assert_int_equal(loc->lb_endpoints[0]->endpoint->address->socket_address->port_value, 80);
    assert_int_equal(loc->lb_endpoints[0]->health_status, ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY);
    assert_int_equal(loc->lb_endpoints[0]->load_balancing_weight->value, 7);
    assert_int_equal(loc->load_balancing_weight->value, 3);
    assert_int_equal(loc->priority, 2);
    assert_int_equal(cla->policy->overprovisioning_factor->value, 140);
    protobuf_c_message_free_unpacked(&cla->base, NULL);
}

static void test_secrets(void **state)
{
    static const char cert[] =
        "\x0a\x01" "s"                  /* 1 name "s" */
        "\x12\x0c"                      /* 2 tls_certificate { */
        "\x0a\x04\x1a\x02" "CC"         /*   1 certificate_chain { 3 inline_string "CC" } */
        "\x12\x04\x12\x02\x00\xff";     /*   2 private_key { 2 inline_bytes 00 ff } } */
    static const char ca[] =
        "\x0a\x02" "ca"                 /* 1 name "ca" */
        "\x22\x13"                      /* 4 validation_context { */
        "\x0a\x03\x0a\x01" "f"          /*   1 trusted_ca { 1 filename "f" } */
        "\x7a\x07\x08\x03"              /*   15 match_typed_subject_alt_names { 1 san_type = URI (3) */
        "\x12\x03\x0a\x01" "u"          /*     2 matcher { 1 exact "u" } } */
        "\x82\x01\x02\x08\x02";         /*   16 max_verify_depth { 2 } } */
    Envoy__Extensions__TransportSockets__Tls__V3__Secret *s =
        golden(&envoy__extensions__transport_sockets__tls__v3__secret__descriptor, FIXTURE(cert));
    assert_string_equal(s->name, "s");
    assert_string_equal(s->tls_certificate->certificate_chain->inline_string, "CC");
    assert_int_equal(s->tls_certificate->private_key->inline_bytes.len, 2);
    assert_int_equal(s->tls_certificate->private_key->inline_bytes.data[1], 0xff);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = golden(&envoy__extensions__transport_sockets__tls__v3__secret__descriptor, FIXTURE(ca));
    assert_int_equal(s->type_case, ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT);
    assert_string_equal(s->validation_context->trusted_ca->filename, "f");
    assert_int_equal(s->validation_context->match_typed_subject_alt_names[0]->san_type,
                     ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI);
    assert_string_equal(s->validation_context->match_typed_subject_alt_names[0]->matcher->exact, "u");
    assert_int_equal(s->validation_context->max_verify_depth->value, 2);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_tls_contexts(void **state)
{
    static const char downstream[] =
        "\x0a\x0e"                      /* 1 common_tls_context { */
        "\x22\x02" "h2"                 /*   4 alpn_protocols "h2" */
        "\x32\x03\x0a\x01" "c"          /*   6 tls_certificate_sds_secret_configs { 1 name "c" } */
        "\x3a\x03\x0a\x01" "v"          /*   7 validation_context_sds_secret_config { 1 name "v" } } */
        "\x12\x02\x08\x01";             /* 2 require_client_certificate { true } */
    static const char upstream[] =
        "\x0a\x18"                      /* 1 common_tls_context { */
        "\x0a\x04\x08\x03\x10\x04"      /*   1 tls_params { 1 min = TLSv1_2 (3), 2 max = TLSv1_3 (4) } */
        "\x42\x10"                      /*   8 combined_validation_context { */
        "\x0a\x09\x7a\x07\x08\x03"      /*     1 default_validation_context { 15 { 1 san_type = URI */
        "\x12\x03\x0a\x01" "u"          /*       2 matcher { 1 exact "u" } } } */
        "\x12\x03\x0a\x01" "m"          /*     2 validation_context_sds_secret_config { 1 name "m" } } } */
        "\x12\x03" "sni";               /* 2 sni "sni" */
    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *d =
        golden(&envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor, FIXTURE(downstream));
    assert_string_equal(d->common_tls_context->alpn_protocols[0], "h2");
    assert_string_equal(d->common_tls_context->tls_certificate_sds_secret_configs[0]->name, "c");
    assert_string_equal(d->common_tls_context->validation_context_sds_secret_config->name, "v");
    assert_true(d->require_client_certificate->value);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *u =
        golden(&envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor, FIXTURE(upstream));
    assert_int_equal(u->common_tls_context->tls_params->tls_maximum_protocol_version,
                     ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    assert_string_equal(
        u->common_tls_context->combined_validation_context->default_validation_context->match_typed_subject_alt_names[0]
            ->matcher->exact,
        "u");
    assert_string_equal(u->common_tls_context->combined_validation_context->validation_context_sds_secret_config->name,
                        "m");
    assert_string_equal(u->sni, "sni");
    protobuf_c_message_free_unpacked(&u->base, NULL);
}

static void test_network_and_http_filters(void **state)
{
    static const char tcp[] =
        "\x0a\x01" "s"                  /* 1 stat_prefix "s" */
        "\x12\x01" "c"                  /* 2 cluster "c" */
        "\x3a\x02\x08\x03"              /* 7 max_connect_attempts { 3 } */
        "\x42\x02\x08\x0a";             /* 8 idle_timeout { 10 } */
    static const char ratelimit[] =
        "\x0a\x01" "l"                  /* 1 stat_prefix "l" */
        "\x12\x03\x08\xad\x03"          /* 2 status { 1 code 429 } */
        "\x1a\x0a"                      /* 3 token_bucket { */
        "\x08\x0a"                      /*   1 max_tokens 10 */
        "\x12\x02\x08\x05"              /*   2 tokens_per_fill { 5 } */
        "\x1a\x02\x08\x01"              /*   3 fill_interval { 1 seconds 1 } } */
        "\x58\x01";                     /* 11 local_rate_limit_per_downstream_connection true */
    static const char rbac[] =
        "\x0a\x23"                      /* 1 rules { */
        "\x08\x01"                      /*   1 action = DENY (1) */
        "\x12\x1f"                      /*   2 policies { */
        "\x0a\x01" "p"                  /*     key "p" */
        "\x12\x1a"                      /*     value { */
        "\x0a\x02\x18\x01"              /*       1 permissions { 3 any true } */
        "\x12\x0b\x52\x09\x0a\x07"      /*       2 principals { 10 direct_remote_ip { 1 address_prefix */
        "1.2.3.4"                       /*         "1.2.3.4" } } */
        "\x12\x07\x22\x05\x12\x03"      /*       2 principals { 4 authenticated { 2 principal_name { */
        "\x0a\x01" "s"                  /*         1 exact "s" } } } } } } */
        "\x32\x01" "x";                 /* 6 rules_stat_prefix "x" */
    Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy *t =
        golden(&envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor, FIXTURE(tcp));
    assert_string_equal(t->cluster, "c");
    assert_int_equal(t->max_connect_attempts->value, 3);
    assert_int_equal(t->idle_timeout->seconds, 10);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit *rl = golden(
        &envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor, FIXTURE(ratelimit));
    assert_int_equal(rl->status->code, ENVOY__TYPE__V3__STATUS_CODE__TooManyRequests);
    assert_int_equal(rl->token_bucket->max_tokens, 10);
    assert_int_equal(rl->token_bucket->tokens_per_fill->value, 5);
    assert_int_equal(rl->token_bucket->fill_interval->seconds, 1);
    assert_true(rl->local_rate_limit_per_downstream_connection);
    protobuf_c_message_free_unpacked(&rl->base, NULL);

    Envoy__Extensions__Filters__Http__Rbac__V3__RBAC *r =
        golden(&envoy__extensions__filters__http__rbac__v3__rbac__descriptor, FIXTURE(rbac));
    Envoy__Config__Rbac__V3__Policy *p = r->rules->policies[0]->value;
    assert_int_equal(r->rules->action, ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__DENY);
    assert_string_equal(r->rules->policies[0]->key, "p");
    assert_true(p->permissions[0]->any);
    assert_int_equal(p->principals[0]->identifier_case, ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_DIRECT_REMOTE_IP);
    assert_string_equal(p->principals[0]->direct_remote_ip->address_prefix, "1.2.3.4");
    assert_string_equal(p->principals[1]->authenticated->principal_name->exact, "s");
    assert_string_equal(r->rules_stat_prefix, "x");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_discovery_response(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "1"                  /* 1 version_info "1" */
        "\x12\x3b"                      /* 2 resources { */
        "\x0a\x33"                      /*   1 type_url (51 bytes) */
        "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        "\x12\x04\x0a\x02" "c1"         /*   2 value = Cluster { 1 name "c1" } } */
        "\x18\x01"                      /* 3 canary true */
        "\x22\x33"                      /* 4 type_url */
        "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        "\x2a\x01" "n"                  /* 5 nonce "n" */
        "\x32\x03\x0a\x01" "x";         /* 6 control_plane { 1 identifier "x" } */
    Envoy__Service__Discovery__V3__DiscoveryResponse *r =
        golden(&envoy__service__discovery__v3__discovery_response__descriptor, FIXTURE(bytes));
    assert_string_equal(r->version_info, "1");
    assert_int_equal(r->n_resources, 1);
    assert_string_equal(r->resources[0]->type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
    assert_true(r->canary);
    assert_string_equal(r->type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
    assert_string_equal(r->nonce, "n");
    assert_string_equal(r->control_plane->identifier, "x");
    Envoy__Config__Cluster__V3__Cluster *c = golden(&envoy__config__cluster__v3__cluster__descriptor,
                                                    r->resources[0]->value.data, r->resources[0]->value.len);
    assert_string_equal(c->name, "c1");
    protobuf_c_message_free_unpacked(&c->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_delta_discovery_response(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "v"                  /* 1 system_version_info "v" */
        "\x12\x55"                      /* 2 resources { */
        "\x0a\x01" "3"                  /*   1 version "3" */
        "\x12\x49\x0a\x42"              /*   2 resource { 1 type_url (66 bytes) */
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        "\x12\x03\x0a\x01" "c"          /*     2 value = ClusterLoadAssignment { 1 cluster_name "c" } } */
        "\x1a\x01" "c"                  /*   3 name "c" */
        "\x32\x02\x08\x3c"              /*   6 ttl { 60 } } */
        "\x22\x42"                      /* 4 type_url */
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        "\x2a\x01" "n"                  /* 5 nonce "n" */
        "\x32\x01" "o";                 /* 6 removed_resources "o" */
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r =
        golden(&envoy__service__discovery__v3__delta_discovery_response__descriptor, FIXTURE(bytes));
    assert_string_equal(r->system_version_info, "v");
    assert_string_equal(r->resources[0]->version, "3");
    assert_string_equal(r->resources[0]->name, "c");
    assert_int_equal(r->resources[0]->ttl->seconds, 60);
    assert_string_equal(r->nonce, "n");
    assert_string_equal(r->removed_resources[0], "o");
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
        golden(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, r->resources[0]->resource->value.data,
               r->resources[0]->resource->value.len);
    assert_string_equal(cla->cluster_name, "c");
    protobuf_c_message_free_unpacked(&cla->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_discovery_request(void **state)
{
    static const char bytes[] =
        "\x0a\x01" "1"                  /* 1 version_info "1" */
        "\x12\x25"                      /* 2 node { */
        "\x0a\x02" "id"                 /*   1 id "id" */
        "\x12\x01" "c"                  /*   2 cluster "c" */
        "\x1a\x0a\x0a\x08"              /*   3 metadata { 1 fields { */
        "\x0a\x01" "k"                  /*     1 key "k" */
        "\x12\x03\x1a\x01" "v"          /*     2 value { 3 string_value "v" } } } */
        "\x22\x04\x12\x02" "z1"         /*   4 locality { 2 zone "z1" } */
        "\x32\x04" "tern"               /*   6 user_agent_name "tern" */
        "\x3a\x01" "1"                  /*   7 user_agent_version "1" */
        "\x52\x01" "f"                  /*   10 client_features "f" } */
        "\x1a\x01" "a"                  /* 3 resource_names "a" */
        "\x22\x35"                      /* 4 type_url (53 bytes) */
        "type.googleapis.com/envoy.config.listener.v3.Listener"
        "\x2a\x01" "n"                  /* 5 response_nonce "n" */
        "\x32\x07\x08\x03\x12\x03" "bad"; /* 6 error_detail { 1 code 3, 2 message "bad" } */
    Envoy__Service__Discovery__V3__DiscoveryRequest *q =
        golden(&envoy__service__discovery__v3__discovery_request__descriptor, FIXTURE(bytes));
    assert_string_equal(q->version_info, "1");
    assert_string_equal(q->node->id, "id");
    assert_string_equal(q->node->cluster, "c");
    assert_string_equal(q->node->metadata->fields[0]->key, "k");
    assert_string_equal(q->node->metadata->fields[0]->value->string_value, "v");
    assert_string_equal(q->node->locality->zone, "z1");
    assert_string_equal(q->node->user_agent_name, "tern");
    assert_string_equal(q->node->user_agent_version, "1");
    assert_string_equal(q->node->client_features[0], "f");
    assert_string_equal(q->resource_names[0], "a");
    assert_string_equal(q->type_url, "type.googleapis.com/envoy.config.listener.v3.Listener");
    assert_string_equal(q->response_nonce, "n");
    assert_int_equal(q->error_detail->code, 3);
    assert_string_equal(q->error_detail->message, "bad");
    protobuf_c_message_free_unpacked(&q->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_listener),
        cmocka_unit_test(test_http_connection_manager),
        cmocka_unit_test(test_route_configuration),
        cmocka_unit_test(test_route_actions),
        cmocka_unit_test(test_cluster_load_assignment),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_tls_contexts),
        cmocka_unit_test(test_network_and_http_filters),
        cmocka_unit_test(test_discovery_response),
        cmocka_unit_test(test_delta_discovery_response),
        cmocka_unit_test(test_discovery_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
