/*
 * xds_decode_fuzz.c: libFuzzer target for decoding what a control plane sends:
 * the input is read as a DiscoveryResponse and as a DeltaDiscoveryResponse
 * (protoc-c code of //proto:xds), and every google.protobuf.Any inside them
 * whose type URL tern knows (resources, typed_config of filters and transport
 * sockets, typed_extension_protocol_options, per-route filter configs) is
 * decoded in turn, depth-bounded, as the xDS client will.
 *
 * Rejected input is fine. Crashes, leaks and sanitizer reports are not, and
 * neither is an encoder that disagrees with the decoder: every message that
 * decodes must re-encode to bytes that decode and re-encode identically.
 * One exception, a quirk of libprotobuf-c 1.4.1 found by this target: a tag
 * with field number 0 written in an overlong varint (0x80 0x00) is accepted
 * as an unknown field, then re-encoded as 0x00, which the decoder rejects.
 * Such a message is still checked for memory safety, not for the round trip
 * (field number 0 is invalid protobuf; the xDS client must reject it).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

#define TYPE_PREFIX "type.googleapis.com/"
#define MAX_DEPTH 8

static const ProtobufCMessageDescriptor *const known[] = {
    &envoy__config__listener__v3__listener__descriptor,
    &envoy__config__route__v3__route_configuration__descriptor,
    &envoy__config__cluster__v3__cluster__descriptor,
    &envoy__config__endpoint__v3__cluster_load_assignment__descriptor,
    &envoy__extensions__transport_sockets__tls__v3__secret__descriptor,
    &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
    &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor,
    &envoy__extensions__filters__http__router__v3__router__descriptor,
    &envoy__extensions__filters__http__local_ratelimit__v3__local_rate_limit__descriptor,
    &envoy__extensions__filters__http__rbac__v3__rbac__descriptor,
    &envoy__extensions__filters__http__rbac__v3__rbacper_route__descriptor,
    &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor,
    &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor,
    &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor,
};

static const ProtobufCMessageDescriptor *type_of(const char *url)
{
    size_t plen = strlen(TYPE_PREFIX);
    if (!url || strncmp(url, TYPE_PREFIX, plen) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(url + plen, known[i]->name) == 0)
            return known[i];
    return NULL;
}

static void decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, int depth);

/* Every Any in m (at any depth of m itself) of a known type is decoded.
 * Sets *tag0 when m holds an unknown field numbered 0 (see above). */
static void walk(const ProtobufCMessage *m, int depth, int *tag0)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            *tag0 = 1;
    if (d == &google__protobuf__any__descriptor) {
        const Google__Protobuf__Any *any = (const Google__Protobuf__Any *)m;
        const ProtobufCMessageDescriptor *t = type_of(any->type_url);
        if (t && depth < MAX_DEPTH)
            decode(t, any->value.data, any->value.len, depth + 1);
        return;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                walk(v[j], depth, tag0);
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
            if (sub)
                walk(sub, depth, tag0);
        }
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;
    *len = protobuf_c_message_get_packed_size(m);
    buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    if (protobuf_c_message_pack(m, buf) != *len)
        abort();
    return buf;
}

static void decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, int depth)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    ProtobufCMessage *again;
    uint8_t *b1, *b2;
    size_t l1, l2;
    int tag0 = 0;

    if (!m)
        return;
    walk(m, depth, &tag0);
    if (tag0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return;
    }
    b1 = pack(m, &l1);
    again = protobuf_c_message_unpack(d, NULL, l1, b1);
    if (!again)
        abort(); /* we wrote bytes we cannot read */
    b2 = pack(again, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        abort(); /* encoding is not stable */
    free(b1);
    free(b2);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(&envoy__service__discovery__v3__discovery_response__descriptor, data, size, 0);
    decode(&envoy__service__discovery__v3__delta_discovery_response__descriptor, data, size, 0);
    return 0;
}
