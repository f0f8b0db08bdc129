/*
 * etcd.h: etcd v3 as a registry source (source.h), through etcd's gRPC API
 * (our subset of its protos: proto/etcd).
 *
 * Layout: one key per instance, PREFIX<service>/<instance>, whose value is
 * the instance's sidecar address "HOST:PORT". Instances register with a
 * lease: when the lease is revoked or expires etcd deletes the key and the
 * instance goes. A value that is not HOST:PORT, or a key that does not name
 * a service and an instance, is logged, counted and ignored.
 *
 * Consistency: a Range of the prefix gives the state at revision R; a Watch
 * from R+1 then delivers every later change exactly once. When the watch
 * breaks (etcd restarted, network), it is re-created from the last revision
 * seen + 1, so nothing is lost or applied twice; only when etcd reports that
 * revision compacted away is the prefix read again with a new Range.
 *
 * Thread: main thread.
 */
#ifndef TERNCP_ETCD_H
#define TERNCP_ETCD_H

#include "xds/cp/cp.h"
#include "xds/cp/source.h"

/* Starts reading and watching `prefix` at etcd `target` (HOST:PORT).
 * Returns the source (owned by cp; freed through its stop op) or NULL. */
struct cp_source *etcd_source_start(struct cp *cp, const char *target, const char *prefix);

#endif
