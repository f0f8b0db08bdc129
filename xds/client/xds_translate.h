/*
 * xds_translate.h: xDS resources -> tern's model.
 *
 * Two steps, both on the main thread, neither touching running state:
 *   xds_resource_decode   one Any of a response: type URL, protobuf decode,
 *                         and the strict field check: every field set on a
 *                         message tern interprets must be one tern honours
 *                         (else "unsupported field N (name) of <message>"),
 *                         and no unknown field may be set anywhere in it;
 *   xds_translate         every accepted resource, added to a snapshot that
 *                         already holds the file's static listeners and
 *                         clusters (a name clash is an error).
 * Error messages name the resource and the field:
 *   "Cluster 'web': lb_policy RING_HASH is not supported (...)".
 *
 * Ownership: an xds_resource owns its name, version and decoded message;
 * xds_translate only reads the sets and fills snap.
 */
#ifndef TERN_XDS_TRANSLATE_H
#define TERN_XDS_TRANSLATE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

enum xds_type {
    XDS_CDS = 0, /* Cluster, wildcard */
    XDS_EDS,     /* ClusterLoadAssignment, by name */
    XDS_LDS,     /* Listener, wildcard */
    XDS_RDS,     /* RouteConfiguration, by name */
    XDS_SDS,     /* Secret, by name (xds_tls.h) */
    XDS_NTYPES,
};

struct xds_resource {
    char *name;
    char *version;
    ProtobufCMessage *msg; /* decoded, owned */
    uint64_t hash;         /* of its serialized bytes: what the fingerprint is made of */
};

struct xds_resource_set {
    struct xds_resource *v;
    size_t n;
};

/* "type.googleapis.com/envoy.config.cluster.v3.Cluster", ... */
const char *xds_type_url(enum xds_type t);
/* "Cluster", "ClusterLoadAssignment", "Listener", "RouteConfiguration", "Secret" */
const char *xds_type_name(enum xds_type t);
/* The type of a type URL; -1 when tern does not subscribe to it. */
int xds_type_of_url(const char *url);

/* Decodes and checks one resource of type t. Returns 0 with *out filled, or
 * -1 with err set (nothing to free). */
int xds_resource_decode(enum xds_type t, const char *type_url, const uint8_t *data, size_t len,
                        struct xds_resource *out, char *err, size_t errlen);
void xds_resource_clear(struct xds_resource *r);
struct xds_resource *xds_set_find(const struct xds_resource_set *set, const char *name);

/*
 * Adds the resources of sets[] to snap. RouteConfigurations and
 * ClusterLoadAssignments that listeners and clusters need but that have not
 * arrived: when `lenient` is false the result is 1 (warming) and err names
 * the first missing one; when true (the init timeout passed) a cluster
 * without its assignment has no endpoint and a listener without its routes
 * is left out (logged). A route to a cluster that CDS does not have is
 * warming while CDS has not answered yet (`cds_received`), an error after.
 * Returns 0, 1 (warming) or -1 (err set; snap is then half-filled: drop it).
 */
int xds_translate(struct snapshot *snap, const struct xds_resource_set sets[XDS_NTYPES],
                  bool lenient, bool cds_received, char *err, size_t errlen);

/*
 * xds_translate, carrying over from `running` (the snapshot the workers
 * serve; NULL: none) every cluster whose Cluster, ClusterLoadAssignment,
 * Secrets and users (tcp_proxy, route timeout / retry_policy) are unchanged:
 * the running object itself goes into snap (one more reference), with its
 * host sets, health, counters and idle connections, and nothing is built for
 * it. So an EDS update of one cluster among 10,000 builds one cluster.
 * Running clusters are never modified. *stats (may be NULL): what was built.
 */
struct xds_build_stats {
    uint32_t clusters_built;   /* new cluster objects */
    uint32_t clusters_carried; /* running clusters carried over as they are */
};
int xds_translate_from(struct snapshot *snap, const struct snapshot *running,
                       const struct xds_resource_set sets[XDS_NTYPES], bool lenient,
                       bool cds_received, struct xds_build_stats *stats, char *err,
                       size_t errlen);

/*
 * The names the accepted resources refer to, for the by-name subscriptions:
 * t = XDS_RDS: route_config_name of every listener's rds;
 * t = XDS_EDS: service_name (else name) of every EDS cluster;
 * t = XDS_SDS: the Secrets the listeners' and clusters' transport sockets name.
 * Sorted, unique; *names owned by the caller (xds_names_free).
 */
void xds_references(const struct xds_resource_set sets[XDS_NTYPES], enum xds_type t,
                    char ***names, size_t *n);
void xds_names_free(char **names, size_t n);

/* The strict field check of one message and what it contains (the table of
 * honoured field numbers): 0, or -1 with "unsupported field N (name) of M". */
int xds_check_fields(const ProtobufCMessage *m, char *err, size_t errlen);

/*
 * A string -> uint32_t hash index (open addressing, grows), so that lookups
 * by name among 10,000 resources or clusters cost O(1). Keys are borrowed:
 * they must outlive the index. put does not check for an existing key.
 */
struct xds_name_index {
    const char **key;
    uint32_t *val;
    size_t mask, n;
};
void xds_index_init(struct xds_name_index *ix, size_t expected);
void xds_index_put(struct xds_name_index *ix, const char *key, uint32_t val);
/* The value of key, or -1. */
long xds_index_get(const struct xds_name_index *ix, const char *key);
void xds_index_free(struct xds_name_index *ix);
/* An index of a set: name -> position. */
void xds_index_set(struct xds_name_index *ix, const struct xds_resource_set *set);

#endif /* TERN_XDS_TRANSLATE_H */
