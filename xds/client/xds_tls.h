/*
 * xds_tls.h: transport_socket envoy.transport_sockets.tls from xDS, with the
 * certificates and trust bundles delivered as SDS Secrets:
 *   FilterChain.transport_socket  DownstreamTlsContext -> the bind's TLS
 *                                 (require_client_certificate -> verify
 *                                 required against the trust bundle)
 *   Cluster.transport_socket      UpstreamTlsContext -> every endpoint's TLS
 *                                 (sni, client certificate, the server's URI
 *                                 SAN checked: a SPIFFE ID)
 * Supported: one tls_certificate_sds_secret_configs entry; the validation
 * context as validation_context_sds_secret_config, or
 * combined_validation_context (its default_validation_context may only
 * hold match_typed_subject_alt_names / match_subject_alt_names, one exact
 * URI: the peer's identity); alpn_protocols. Inline certificates
 * (tls_certificates, validation_context.trusted_ca) are refused: tern takes
 * key material over SDS only, so that it rotates.
 *
 * Secrets: Secret.tls_certificate (certificate_chain, private_key) and
 * Secret.validation_context (trusted_ca), each an inline_bytes or
 * inline_string DataSource (files and environment variables are refused).
 *
 * Thread: main thread. No state.
 */
#ifndef TERN_XDS_TLS_H
#define TERN_XDS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"

struct tls_bind;
struct tls_upstream;

typedef Envoy__Extensions__TransportSockets__Tls__V3__Secret XdsSecret;

/* Looks a Secret up by name among the accepted ones (NULL: not there yet). */
typedef const XdsSecret *(*xds_secret_lookup)(void *arg, const char *name);

/* Decode-time checks (messages name the field). 0 or -1 with err. */
int xds_tls_check_downstream(const Envoy__Config__Core__V3__TransportSocket *ts, char *err,
                             size_t errlen);
int xds_tls_check_upstream(const Envoy__Config__Core__V3__TransportSocket *ts, char *err,
                           size_t errlen);
int xds_tls_check_secret(const XdsSecret *s, char *err, size_t errlen);

/* The Secret names ts refers to, appended to *v (grown; strings owned). */
void xds_tls_secret_names(const Envoy__Config__Core__V3__TransportSocket *ts, char ***v,
                          size_t *n);

/*
 * Builds a bind's TLS (mode http when `http`). Returns 0 with *out (owned),
 * 1 when a Secret has not arrived (its name copied to missing[mlen]), or -1
 * with err.
 */
int xds_tls_bind(const Envoy__Config__Core__V3__TransportSocket *ts, bool http,
                 xds_secret_lookup lookup, void *arg, struct tls_bind **out,
                 char *missing, size_t mlen, char *err, size_t errlen);

/* The same for a cluster: one tls_upstream (call it once per endpoint). */
int xds_tls_upstream(const Envoy__Config__Core__V3__TransportSocket *ts,
                     xds_secret_lookup lookup, void *arg, struct tls_upstream **out,
                     char *missing, size_t mlen, char *err, size_t errlen);

/* A hash of what ts makes of its secrets (folded into fingerprints so that
 * a rotated secret replaces the cluster). */
unsigned long long xds_tls_hash(const Envoy__Config__Core__V3__TransportSocket *ts,
                                xds_secret_lookup lookup, void *arg);

#endif /* TERN_XDS_TLS_H */
