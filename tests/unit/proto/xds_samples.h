/*
 * xds_samples.h: realistic xDS messages, built with the protoc-c structs of
 * //proto:xds and packed to bytes, for the proto tests (round trip in C, the
 * Python decode with Envoy's own .proto files) and the fuzz seed corpus.
 *
 * Each sample is what a control plane would send a sidecar: a listener with
 * an http_connection_manager (RDS, local rate limit, RBAC, router) behind TLS
 * from SDS, a tcp_proxy listener, a route table, an EDS cluster with health
 * checks, circuit breakers, upstream mTLS and HTTP/2, a static cluster, the
 * endpoints, two secrets, and the discovery requests/responses carrying them.
 * Typed configs are packed into google.protobuf.Any as Envoy expects them.
 */
#ifndef TERN_TESTS_UNIT_PROTO_XDS_SAMPLES_H
#define TERN_TESTS_UNIT_PROTO_XDS_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#define XDS_TYPE_PREFIX "type.googleapis.com/"
#define XDS_TYPE_LISTENER XDS_TYPE_PREFIX "envoy.config.listener.v3.Listener"
#define XDS_TYPE_ROUTE XDS_TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration"
#define XDS_TYPE_CLUSTER XDS_TYPE_PREFIX "envoy.config.cluster.v3.Cluster"
#define XDS_TYPE_CLA XDS_TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment"
#define XDS_TYPE_SECRET XDS_TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.Secret"
#define XDS_TYPE_HCM \
    XDS_TYPE_PREFIX "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define XDS_TYPE_TCP_PROXY XDS_TYPE_PREFIX "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define XDS_TYPE_ROUTER XDS_TYPE_PREFIX "envoy.extensions.filters.http.router.v3.Router"
#define XDS_TYPE_LOCAL_RATELIMIT \
    XDS_TYPE_PREFIX "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
#define XDS_TYPE_RBAC XDS_TYPE_PREFIX "envoy.extensions.filters.http.rbac.v3.RBAC"
#define XDS_TYPE_DOWNSTREAM_TLS \
    XDS_TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
#define XDS_TYPE_UPSTREAM_TLS XDS_TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
#define XDS_TYPE_HTTP_PROTOCOL_OPTIONS \
    XDS_TYPE_PREFIX "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

/* Packed bytes of one sample; data is malloc'ed and owned by the caller. */
struct xds_bytes {
    uint8_t *data;
    size_t len;
};

enum xds_sample_id {
    XDS_SAMPLE_LISTENER_HTTP,     /* envoy.config.listener.v3.Listener */
    XDS_SAMPLE_LISTENER_TCP,      /* envoy.config.listener.v3.Listener */
    XDS_SAMPLE_ROUTE,             /* envoy.config.route.v3.RouteConfiguration */
    XDS_SAMPLE_CLUSTER_EDS,       /* envoy.config.cluster.v3.Cluster */
    XDS_SAMPLE_CLUSTER_STATIC,    /* envoy.config.cluster.v3.Cluster */
    XDS_SAMPLE_CLA,               /* envoy.config.endpoint.v3.ClusterLoadAssignment */
    XDS_SAMPLE_SECRET_CERT,       /* envoy.extensions.transport_sockets.tls.v3.Secret */
    XDS_SAMPLE_SECRET_CA,         /* envoy.extensions.transport_sockets.tls.v3.Secret */
    XDS_SAMPLE_RESPONSE,          /* envoy.service.discovery.v3.DiscoveryResponse */
    XDS_SAMPLE_DELTA_RESPONSE,    /* envoy.service.discovery.v3.DeltaDiscoveryResponse */
    XDS_SAMPLE_REQUEST,           /* envoy.service.discovery.v3.DiscoveryRequest */
    XDS_SAMPLE_DELTA_REQUEST,     /* envoy.service.discovery.v3.DeltaDiscoveryRequest */
    XDS_SAMPLE_COUNT
};

/* The sample's file-friendly name ("listener_http") and the full protobuf
 * name of its message ("envoy.config.listener.v3.Listener"). */
const char *xds_sample_name(enum xds_sample_id id);
const char *xds_sample_message(enum xds_sample_id id);

/* Builds and packs sample `id` into *out. Returns 0, or -1 when out of memory. */
int xds_sample_pack(enum xds_sample_id id, struct xds_bytes *out);

#endif
