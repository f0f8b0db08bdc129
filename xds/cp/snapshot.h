/*
 * snapshot.h: the resources one sidecar should have, by xDS type.
 *
 * A snapshot is immutable once built and refcounted: every proxy stream of
 * the same service and placement holds the same one, and keeps it while it
 * pushes. Each resource carries its own version, a hash of its encoded
 * bytes, so "changed" means "bytes differ" and a model change that leaves a
 * resource alone leaves its version alone (no push, no Delta update).
 *
 * Thread: main thread only (the refcount is not atomic).
 */
#ifndef TERNCP_SNAPSHOT_H
#define TERNCP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "xds/cp/arena.h"

/* In the order a proxy should receive them (xDS "make before break":
 * clusters and endpoints before the listeners and routes that use them). */
enum cp_type {
	CP_CDS = 0,
	CP_EDS,
	CP_LDS,
	CP_RDS,
	CP_SDS,
	CP_NTYPES
};

extern const char *const cp_type_url[CP_NTYPES];
extern const char *const cp_type_short[CP_NTYPES];   /* "cds", ... for metrics */

/* The type of an xDS type URL, or -1. */
int cp_type_from_url(const char *url);

/* LDS and CDS are "wildcard" types: SotW responses carry the whole set. */
static inline int cp_type_is_wildcard(enum cp_type t) { return t == CP_CDS || t == CP_LDS; }

struct cp_resource {
	const char *name;
	char version[17];      /* 16 hex digits of a 64-bit hash of data */
	const uint8_t *data;   /* the encoded resource message (not the Any) */
	size_t len;
};

struct cp_snapshot {
	int refs;
	struct arena arena;    /* owns everything below */
	struct cp_resource *res[CP_NTYPES]; /* sorted by name */
	unsigned n[CP_NTYPES];
	const char *key;       /* what it was built for, e.g. "api|..." */
	char type_version[CP_NTYPES][17]; /* hash of all (name, version) of a type */
};

/* A builder collects resources in any order; snapshot_finish sorts them. */
struct snap_builder {
	struct cp_snapshot *s;
	unsigned cap[CP_NTYPES];
};

void snap_builder_init(struct snap_builder *b, const char *key);

/* Adds a copy of `data` under `name` (copied). A name given twice for a type
 * is a bug in the generator: abort. */
void snap_add(struct snap_builder *b, enum cp_type t, const char *name,
	      const void *data, size_t len);

/* Returns the snapshot with one reference; the builder is spent. */
struct cp_snapshot *snap_finish(struct snap_builder *b);

void snapshot_ref(struct cp_snapshot *s);
void snapshot_unref(struct cp_snapshot *s);

/* The resource of that type and name, or NULL. */
const struct cp_resource *snapshot_find(const struct cp_snapshot *s, enum cp_type t,
					const char *name);

/* 1 if both hold the same names with the same versions for every type. */
int snapshot_same(const struct cp_snapshot *a, const struct cp_snapshot *b);

/* FNV-1a 64 of the bytes, as 16 lower-case hex digits + NUL. */
void cp_hash_hex(const void *data, size_t len, char out[17]);

#endif
