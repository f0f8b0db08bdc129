/*
 * source.h: a registry source, something that knows where the instances of
 * services run (etcd today; a Consul catalog would be another).
 *
 * A source lives on the main thread. It keeps its own view of endpoints per
 * service and calls cp_changed(cp) when that view changes; tern-cp asks it
 * for a service's endpoints while regenerating snapshots. The mesh file
 * decides which services exist: endpoints of a service the file does not
 * declare are kept (and shown in the admin API) but reach no proxy.
 */
#ifndef TERNCP_SOURCE_H
#define TERNCP_SOURCE_H

#include <event2/buffer.h>

#include "xds/cp/mesh_types.h"

struct cp;
struct cp_source;

struct cp_source_ops {
	const char *kind;
	/* The endpoints of `service`; *out is borrowed until the source next
	 * changes (it only changes on the main thread, between regenerations). */
	unsigned (*endpoints)(struct cp_source *s, const char *service,
			      const struct mesh_addr **out);
	/* 1 once the source has read its registry completely at least once.
	 * Until every source has, tern-cp pushes nothing: a proxy that
	 * reconnects after a tern-cp restart must not get a partial endpoint
	 * set. */
	int (*synced)(struct cp_source *s);
	/* A JSON object describing the source's state (admin /sources). */
	void (*dump_json)(struct cp_source *s, struct evbuffer *out);
	/* Stops everything in flight and frees the source; called once, before
	 * the completion queue is shut down. May leave gRPC calls cancelled:
	 * their completions run later and must not touch freed memory, so a
	 * source frees itself when its last call completes. */
	void (*stop)(struct cp_source *s);
};

struct cp_source {
	const struct cp_source_ops *ops;
	struct cp *cp;
};

#endif
