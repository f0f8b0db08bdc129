/*
 * snapshot.c: resource sets, sorted by name per type so lookups by name
 * (subscriptions, ACK bookkeeping) are binary searches.
 */
#include "xds/cp/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cp_type_url[CP_NTYPES] = {
	[CP_CDS] = "type.googleapis.com/envoy.config.cluster.v3.Cluster",
	[CP_EDS] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	[CP_LDS] = "type.googleapis.com/envoy.config.listener.v3.Listener",
	[CP_RDS] = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	[CP_SDS] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
};

const char *const cp_type_short[CP_NTYPES] = {
	[CP_CDS] = "cds", [CP_EDS] = "eds", [CP_LDS] = "lds", [CP_RDS] = "rds", [CP_SDS] = "sds",
};

int cp_type_from_url(const char *url)
{
	int t;

	for (t = 0; t < CP_NTYPES; t++)
		if (strcmp(url, cp_type_url[t]) == 0)
			return t;
	return -1;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void cp_hash_hex(const void *data, size_t len, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)fnv1a(0xcbf29ce484222325ULL, data, len));
}

void snap_builder_init(struct snap_builder *b, const char *key)
{
	memset(b, 0, sizeof(*b));
	b->s = calloc(1, sizeof(*b->s));
	if (!b->s)
		abort();
	b->s->refs = 1;
	arena_init(&b->s->arena);
	b->s->key = arena_strdup(&b->s->arena, key);
}

void snap_add(struct snap_builder *b, enum cp_type t, const char *name,
	      const void *data, size_t len)
{
	struct cp_snapshot *s = b->s;
	struct cp_resource *r;
	uint8_t *copy;

	if (s->n[t] == b->cap[t]) {
		unsigned cap = b->cap[t] ? b->cap[t] * 2 : 8;
		struct cp_resource *n = arena_alloc(&s->arena, sizeof(*n) * cap);

		if (s->n[t])
			memcpy(n, s->res[t], sizeof(*n) * s->n[t]);
		s->res[t] = n;
		b->cap[t] = cap;
	}
	r = &s->res[t][s->n[t]++];
	r->name = arena_strdup(&s->arena, name);
	copy = arena_alloc(&s->arena, len);
	memcpy(copy, data, len);
	r->data = copy;
	r->len = len;
	cp_hash_hex(data, len, r->version);
}

static int res_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cp_resource *)a)->name, ((const struct cp_resource *)b)->name);
}

struct cp_snapshot *snap_finish(struct snap_builder *b)
{
	struct cp_snapshot *s = b->s;
	int t;
	unsigned i;

	for (t = 0; t < CP_NTYPES; t++) {
		uint64_t h = 0xcbf29ce484222325ULL;

		if (s->n[t])
			qsort(s->res[t], s->n[t], sizeof(struct cp_resource), res_cmp);
		for (i = 0; i < s->n[t]; i++) {
			if (i && strcmp(s->res[t][i - 1].name, s->res[t][i].name) == 0) {
				fprintf(stderr, "tern-cp: bug: resource %s %s generated twice\n",
					cp_type_short[t], s->res[t][i].name);
				abort();
			}
			h = fnv1a(h, s->res[t][i].name, strlen(s->res[t][i].name) + 1);
			h = fnv1a(h, s->res[t][i].version, 16);
		}
		snprintf(s->type_version[t], 17, "%016llx", (unsigned long long)h);
	}
	b->s = NULL;
	return s;
}

void snapshot_ref(struct cp_snapshot *s)
{
	s->refs++;
}

void snapshot_unref(struct cp_snapshot *s)
{
	if (!s || --s->refs > 0)
		return;
	arena_free(&s->arena);
	free(s);
}

const struct cp_resource *snapshot_find(const struct cp_snapshot *s, enum cp_type t,
					const char *name)
{
	size_t lo = 0, hi = s->n[t];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, s->res[t][mid].name);

		if (c == 0)
			return &s->res[t][mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int snapshot_same(const struct cp_snapshot *a, const struct cp_snapshot *b)
{
	int t;

	for (t = 0; t < CP_NTYPES; t++)
		if (strcmp(a->type_version[t], b->type_version[t]) != 0)
			return 0;
	return 1;
}
