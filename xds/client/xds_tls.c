/*
 * xds_tls.c: Downstream/UpstreamTlsContext with SDS secrets -> tern's TLS
 * binds and upstreams (see xds_tls.h). One reading of a transport socket
 * (parse_spec: which secrets, which peer identity, which ALPN) serves the
 * decode-time check, the references (the SDS subscription) and the build.
 */
#include "xds/client/xds_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "proxy/core/util.h"
#include "proxy/tls/tls_conf.h"
#include "xds/client/xds_translate.h"

#define TLS_SOCKET_NAME "envoy.transport_sockets.tls"
#define DOWNSTREAM_URL \
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
#define UPSTREAM_URL \
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

typedef Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext Downstream;
typedef Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext Upstream;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext Common;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext Validation;
typedef Envoy__Config__Core__V3__TransportSocket TransportSocket;
typedef Envoy__Config__Core__V3__DataSource DataSource;

/* What a transport socket asks for. */
struct spec {
    ProtobufCMessage *msg;       /* the unpacked context (owned) */
    const char *cert_secret;     /* tls_certificate_sds_secret_configs[0].name */
    const char *ca_secret;       /* the validation context's secret, or NULL */
    const char *uri_san;         /* the peer must present it, or NULL */
    bool require_client;         /* downstream: require_client_certificate */
    const char *sni;             /* upstream */
    char alpn[256];              /* "h2,http/1.1" or "" */
};

static void spec_free(struct spec *s)
{
    if (s->msg)
        protobuf_c_message_free_unpacked(s->msg, NULL);
    s->msg = NULL;
}

/* The peer identity of a default_validation_context: one URI SAN, exact. */
static int peer_san(const Validation *v, const char **out, char *err, size_t errlen)
{
    const Envoy__Type__Matcher__V3__StringMatcher *m = NULL;

    if (v->n_match_typed_subject_alt_names + v->n_match_subject_alt_names > 1) {
        snprintf(err, errlen, "default_validation_context: one subject alt name matcher at "
                              "most (the peer's identity)");
        return -1;
    }
    if (v->n_match_typed_subject_alt_names) {
        const Envoy__Extensions__TransportSockets__Tls__V3__SubjectAltNameMatcher *t =
            v->match_typed_subject_alt_names[0];
        if (t->san_type != ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__URI) {
            snprintf(err, errlen, "match_typed_subject_alt_names[0]: san_type %d is not "
                                  "supported (URI)", (int)t->san_type);
            return -1;
        }
        m = t->matcher;
    } else if (v->n_match_subject_alt_names) {
        m = v->match_subject_alt_names[0];
    }
    if (!m)
        return 0;
    if (m->match_pattern_case != ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT ||
        m->ignore_case || !m->exact[0]) {
        snprintf(err, errlen, "subject alt name matcher: only an exact URI is supported");
        return -1;
    }
    *out = m->exact;
    return 0;
}

static int parse_common(const Common *c, struct spec *s, char *err, size_t errlen)
{
    size_t used = 0;

    if (!c) {
        snprintf(err, errlen, "no common_tls_context");
        return -1;
    }
    if (c->n_tls_certificate_sds_secret_configs != 1) {
        snprintf(err, errlen, "common_tls_context.tls_certificate_sds_secret_configs: exactly one "
                              "(tern takes certificates over SDS)");
        return -1;
    }
    s->cert_secret = c->tls_certificate_sds_secret_configs[0]->name;
    switch (c->validation_context_type_case) {
    case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT_SDS_SECRET_CONFIG:
        s->ca_secret = c->validation_context_sds_secret_config->name;
        break;
    case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_COMBINED_VALIDATION_CONTEXT: {
        const Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext__CombinedCertificateValidationContext
            *cv = c->combined_validation_context;
        if (!cv->validation_context_sds_secret_config) {
            snprintf(err, errlen, "combined_validation_context: no "
                                  "validation_context_sds_secret_config");
            return -1;
        }
        s->ca_secret = cv->validation_context_sds_secret_config->name;
        if (cv->default_validation_context) {
            char why[256];
            if (peer_san(cv->default_validation_context, &s->uri_san, why, sizeof(why))) {
                snprintf(err, errlen, "combined_validation_context.%s", why);
                return -1;
            }
        }
        break;
    }
    case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT:
        snprintf(err, errlen, "common_tls_context.validation_context inline is not supported "
                              "(use SDS: validation_context_sds_secret_config)");
        return -1;
    default:
        break;
    }
    if ((s->cert_secret && !s->cert_secret[0]) || (s->ca_secret && !s->ca_secret[0])) {
        snprintf(err, errlen, "an SDS secret config without a name");
        return -1;
    }
    s->alpn[0] = 0;
    for (size_t i = 0; i < c->n_alpn_protocols; i++) {
        int n = snprintf(s->alpn + used, sizeof(s->alpn) - used, "%s%s", i ? "," : "",
                         c->alpn_protocols[i]);
        if (n < 0 || (size_t)n >= sizeof(s->alpn) - used || !c->alpn_protocols[i][0] ||
            strchr(c->alpn_protocols[i], ',')) {
            snprintf(err, errlen, "common_tls_context.alpn_protocols: invalid or too long");
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

static int parse_spec(const TransportSocket *ts, bool downstream, struct spec *s, char *err,
                      size_t errlen)
{
    const char *url = downstream ? DOWNSTREAM_URL : UPSTREAM_URL;
    const ProtobufCMessageDescriptor *d =
        downstream ? &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor
                   : &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor;
    char why[384];

    memset(s, 0, sizeof(*s));
    if (ts->config_type_case != ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG ||
        strcmp(ts->typed_config->type_url, url) != 0) {
        snprintf(err, errlen, "transport_socket '%s': only %s with a typed_config %s",
                 ts->name, TLS_SOCKET_NAME, url + strlen("type.googleapis.com/"));
        return -1;
    }
    s->msg = protobuf_c_message_unpack(d, NULL, ts->typed_config->value.len,
                                       ts->typed_config->value.data);
    if (!s->msg) {
        snprintf(err, errlen, "transport_socket: %s does not decode", d->name);
        return -1;
    }
    if (xds_check_fields(s->msg, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "transport_socket: %s", why);
        spec_free(s);
        return -1;
    }
    if (downstream) {
        const Downstream *m = (const Downstream *)s->msg;
        s->require_client = m->require_client_certificate && m->require_client_certificate->value;
        if (parse_common(m->common_tls_context, s, why, sizeof(why)) != 0)
            goto fail;
        if (s->require_client && !s->ca_secret) {
            snprintf(why, sizeof(why), "require_client_certificate without a validation context");
            goto fail;
        }
        if (s->uri_san) {
            /* the server side checks identities with RBAC, not here */
            snprintf(why, sizeof(why), "a subject alt name matcher on a listener is not "
                                       "supported (use the rbac filter)");
            goto fail;
        }
    } else {
        const Upstream *m = (const Upstream *)s->msg;
        if (parse_common(m->common_tls_context, s, why, sizeof(why)) != 0)
            goto fail;
        s->sni = m->sni[0] ? m->sni : NULL;
        if (s->uri_san && !s->ca_secret) {
            snprintf(why, sizeof(why), "a subject alt name matcher without a trust bundle");
            goto fail;
        }
    }
    return 0;
fail:
    snprintf(err, errlen, "transport_socket: %s", why);
    spec_free(s);
    return -1;
}

int xds_tls_check_downstream(const TransportSocket *ts, char *err, size_t errlen)
{
    struct spec s;

    if (parse_spec(ts, true, &s, err, errlen) != 0)
        return -1;
    spec_free(&s);
    return 0;
}

int xds_tls_check_upstream(const TransportSocket *ts, char *err, size_t errlen)
{
    struct spec s;

    if (parse_spec(ts, false, &s, err, errlen) != 0)
        return -1;
    spec_free(&s);
    return 0;
}

static bool inline_data(const DataSource *d, const char **p, size_t *len)
{
    if (!d)
        return false;
    if (d->specifier_case == ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES) {
        *p = (const char *)d->inline_bytes.data;
        *len = d->inline_bytes.len;
        return *len > 0;
    }
    if (d->specifier_case == ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING) {
        *p = d->inline_string;
        *len = strlen(d->inline_string);
        return *len > 0;
    }
    return false;
}

int xds_tls_check_secret(const XdsSecret *s, char *err, size_t errlen)
{
    const char *p;
    size_t len;

    switch (s->type_case) {
    case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE:
        if (!inline_data(s->tls_certificate->certificate_chain, &p, &len) ||
            !inline_data(s->tls_certificate->private_key, &p, &len)) {
            snprintf(err, errlen, "tls_certificate: certificate_chain and private_key must be "
                                  "inline_bytes or inline_string");
            return -1;
        }
        return 0;
    case ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT:
        if (!inline_data(s->validation_context->trusted_ca, &p, &len)) {
            snprintf(err, errlen, "validation_context: trusted_ca must be inline_bytes or "
                                  "inline_string");
            return -1;
        }
        if (s->validation_context->n_match_typed_subject_alt_names ||
            s->validation_context->n_match_subject_alt_names) {
            snprintf(err, errlen, "validation_context: subject alt name matchers belong in the "
                                  "combined_validation_context of the TLS context");
            return -1;
        }
        return 0;
    default:
        snprintf(err, errlen, "only tls_certificate and validation_context secrets are "
                              "supported");
        return -1;
    }
}

static void push_name(char ***v, size_t *n, const char *name)
{
    *v = tern_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = tern_strdup(name);
}

void xds_tls_secret_names(const TransportSocket *ts, char ***v, size_t *n)
{
    struct spec s;
    char err[256];
    bool down = ts->config_type_case ==
                    ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG &&
                strcmp(ts->typed_config->type_url, DOWNSTREAM_URL) == 0;

    if (parse_spec(ts, down, &s, err, sizeof(err)) != 0)
        return; /* refused at decode: cannot happen */
    push_name(v, n, s.cert_secret);
    if (s.ca_secret)
        push_name(v, n, s.ca_secret);
    spec_free(&s);
}

/* The PEM material of a spec's secrets: 0, 1 (missing names the Secret) or -1. */
static int material(const struct spec *s, xds_secret_lookup lookup, void *arg,
                    struct tls_pem_material *m, char *missing, size_t mlen, char *err, size_t errlen)
{
    const XdsSecret *cert = lookup(arg, s->cert_secret);
    const XdsSecret *ca = s->ca_secret ? lookup(arg, s->ca_secret) : NULL;

    memset(m, 0, sizeof(*m));
    if (!cert || (s->ca_secret && !ca)) {
        /* copied: the names live in the spec's message, freed by the caller */
        snprintf(missing, mlen, "%s", !cert ? s->cert_secret : s->ca_secret);
        return 1;
    }
    if (cert->type_case != ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE) {
        snprintf(err, errlen, "Secret '%s' is not a tls_certificate", s->cert_secret);
        return -1;
    }
    if (ca && ca->type_case != ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT) {
        snprintf(err, errlen, "Secret '%s' is not a validation_context", s->ca_secret);
        return -1;
    }
    m->source = s->cert_secret;
    inline_data(cert->tls_certificate->certificate_chain, &m->cert_pem, &m->cert_len);
    inline_data(cert->tls_certificate->private_key, &m->key_pem, &m->key_len);
    if (ca)
        inline_data(ca->validation_context->trusted_ca, &m->ca_pem, &m->ca_len);
    return 0;
}

int xds_tls_bind(const TransportSocket *ts, bool http, xds_secret_lookup lookup, void *arg,
                 struct tls_bind **out, char *missing, size_t mlen, char *err, size_t errlen)
{
    struct spec s;
    struct tls_pem_material m;
    struct tls_bind *b;
    int rc;

    *out = NULL;
    if (parse_spec(ts, true, &s, err, errlen) != 0)
        return -1;
    rc = material(&s, lookup, arg, &m, missing, mlen, err, errlen);
    if (rc != 0) {
        spec_free(&s);
        return rc;
    }
    b = tls_bind_new();
    b->verify = s.require_client ? TLS_VERIFY_REQUIRED : TLS_VERIFY_NONE;
    b->alpn = s.alpn[0] ? tern_strdup(s.alpn) : NULL;
    if (!s.require_client)
        m.ca_pem = NULL, m.ca_len = 0; /* Envoy: no client certificate asked */
    if (tls_bind_build_pem(b, http, &m, err, errlen) != 0) {
        tls_bind_free(b);
        spec_free(&s);
        return -1;
    }
    spec_free(&s);
    *out = b;
    return 0;
}

int xds_tls_upstream(const TransportSocket *ts, xds_secret_lookup lookup, void *arg,
                     struct tls_upstream **out, char *missing, size_t mlen, char *err, size_t errlen)
{
    struct spec s;
    struct tls_pem_material m;
    int rc;

    *out = NULL;
    if (parse_spec(ts, false, &s, err, errlen) != 0)
        return -1;
    rc = material(&s, lookup, arg, &m, missing, mlen, err, errlen);
    if (rc == 0) {
        *out = tls_upstream_new_pem(&m, s.sni, s.alpn[0] ? s.alpn : NULL, s.uri_san, err,
                                    errlen);
        rc = *out ? 0 : -1;
    }
    spec_free(&s);
    return rc;
}

unsigned long long xds_tls_hash(const TransportSocket *ts, xds_secret_lookup lookup, void *arg)
{
    struct spec s;
    struct tls_pem_material m;
    char missing[256], err[256];
    uint64_t h = 0x746c73;

    if (parse_spec(ts, ts->config_type_case ==
                               ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG &&
                           strcmp(ts->typed_config->type_url, DOWNSTREAM_URL) == 0,
                   &s, err, sizeof(err)) != 0)
        return h;
    if (material(&s, lookup, arg, &m, missing, sizeof(missing), err, sizeof(err)) == 0) {
        if (m.cert_pem)
            h = tern_hash64(m.cert_pem, m.cert_len, h);
        if (m.key_pem)
            h = tern_hash64(m.key_pem, m.key_len, h);
        if (m.ca_pem)
            h = tern_hash64(m.ca_pem, m.ca_len, h);
    }
    spec_free(&s);
    return h;
}
