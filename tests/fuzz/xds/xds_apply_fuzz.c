/*
 * xds_apply_fuzz.c: libFuzzer target for what the xDS client does with a
 * response before anything is applied: decode (DiscoveryResponse and
 * DeltaDiscoveryResponse readings of the same bytes), decode and check each
 * resource (xds_resource_decode: type URL, strict field whitelist), build a
 * snapshot of every accepted resource (xds_translate, strict then lenient)
 * and runtime-initialise it (LB tables), then build the same resources again
 * over it as the running snapshot (xds_translate_from: clusters carried
 * over; with complete inputs every one must be, else abort). Must never
 * crash, leak or trip a sanitizer, whatever the bytes.
 *
 * Seeds: corpus/xds_decode (tests/unit/proto samples, shared with
 * xds_decode_fuzz) and corpus/xds_apply (make_apply_corpus.py: responses
 * that translate, built with Envoy's own protos).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/model/model.h"
#include "xds/client/xds_translate.h"

#define MAX_RESOURCES 64

static void add(struct xds_resource_set sets[XDS_NTYPES], const Google__Protobuf__Any *a)
{
    struct xds_resource r;
    char err[1024];
    int t;

    if (!a || !a->type_url)
        return;
    t = xds_type_of_url(a->type_url);
    if (t < 0 || sets[t].n >= MAX_RESOURCES)
        return;
    if (xds_resource_decode((enum xds_type)t, a->type_url, a->value.data, a->value.len, &r, err,
                            sizeof(err)) != 0)
        return;
    if (xds_set_find(&sets[t], r.name)) {
        xds_resource_clear(&r);
        return;
    }
    sets[t].v[sets[t].n++] = r;
}

static void build(const struct xds_resource_set sets[XDS_NTYPES], bool lenient, bool cds)
{
    struct snapshot *snap = snapshot_new("fuzz"), *next;
    struct xds_build_stats st;
    char err[4096];

    if (xds_translate(snap, sets, lenient, cds, err, sizeof(err)) != 0 ||
        snapshot_runtime_init(snap, 1, err, sizeof(err)) != 0) {
        snapshot_unref(snap);
        return;
    }
    next = snapshot_new("fuzz");
    if (xds_translate_from(next, snap, sets, lenient, cds, &st, err, sizeof(err)) == 0) {
        /* nothing changed and nothing was missing: nothing to build */
        if (!lenient && st.clusters_built != 0)
            abort();
        snapshot_take_over(next, snap);
        snapshot_runtime_init(next, 1, err, sizeof(err));
    }
    snapshot_unref(next);
    snapshot_unref(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xds_resource_set sets[XDS_NTYPES];
    Envoy__Service__Discovery__V3__DiscoveryResponse *r;
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *d;

    for (int t = 0; t < XDS_NTYPES; t++) {
        sets[t].v = calloc(MAX_RESOURCES, sizeof(*sets[t].v));
        sets[t].n = 0;
    }
    r = envoy__service__discovery__v3__discovery_response__unpack(NULL, size, data);
    if (r) {
        for (size_t i = 0; i < r->n_resources; i++)
            add(sets, r->resources[i]);
        envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    }
    d = envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, size, data);
    if (d) {
        for (size_t i = 0; i < d->n_resources; i++)
            add(sets, d->resources[i]->resource);
        envoy__service__discovery__v3__delta_discovery_response__free_unpacked(d, NULL);
    }
    build(sets, false, false);
    build(sets, false, true);
    build(sets, true, true);
    for (int t = XDS_EDS; t <= XDS_RDS; t += XDS_RDS - XDS_EDS) {
        char **names;
        size_t n;
        xds_references(sets, (enum xds_type)t, &names, &n);
        xds_names_free(names, n);
    }
    for (int t = 0; t < XDS_NTYPES; t++) {
        for (size_t i = 0; i < sets[t].n; i++)
            xds_resource_clear(&sets[t].v[i]);
        free(sets[t].v);
    }
    return 0;
}
