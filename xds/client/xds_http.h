/*
 * xds_http.h: the HTTP parts of xDS that become tern filters and backend
 * settings:
 *   envoy.filters.http.rbac (RBAC)            -> the `rbac` filter
 *   envoy.filters.http.local_ratelimit        -> the `rate-limit` filter
 *   RouteAction.timeout and retry_policy      -> the cluster's timeout server,
 *                                                retry-on, retries and the
 *                                                `retry` filter (per-try timeout)
 * Each is translated into the words of the filter's config line and parsed
 * by the filter itself (ops->config_parse): one validator for the file and
 * for xDS, and the same error messages.
 *
 * Messages name the field: "http_filters[1] 'envoy.filters.http.rbac':
 * rules.policies 'p': permissions[0]: only `any` is supported".
 *
 * Thread: main thread (decode and translation), no global state.
 */
#ifndef TERN_XDS_HTTP_H
#define TERN_XDS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "proxy/model/model.h"

#define XDS_RBAC_URL "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
#define XDS_LOCAL_RATELIMIT_URL \
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter XdsHttpFilter;

/*
 * One HCM http_filter of type RBAC or LocalRateLimit (typed_config already
 * unpacked and field-checked into `cfg`). Returns 0 with *out filled (the
 * caller owns out->cfg: out->ops->config_free), 1 when the filter has no
 * effect (local_ratelimit not enabled: Envoy's filter_enabled unset), or -1
 * with err set.
 */
int xds_http_filter_build(const char *type_url, const void *cfg, struct filter_instance *out,
                          char *err, size_t errlen);

/* A route's policy as tern applies it to the route's cluster. */
struct xds_route_policy {
    bool has_timeout;
    uint32_t timeout_ms;       /* RouteAction.timeout; 0: none */
    bool has_retry;
    uint32_t retry_on;         /* RETRY_ON_* */
    uint16_t retry_status[RETRY_STATUS_MAX]; /* 0-terminated */
    uint32_t retries;          /* num_retries (Envoy's default 1) */
    uint32_t per_try_timeout_ms; /* 0: none */
};

/* Reads a RouteAction's timeout and retry_policy. Returns 0 or -1 with err
 * ("retry_policy.retry_on: 'x' is not supported ..."). */
int xds_route_policy(const Envoy__Config__Route__V3__RouteAction *a, struct xds_route_policy *p,
                     char *err, size_t errlen);
bool xds_route_policy_equal(const struct xds_route_policy *a, const struct xds_route_policy *b);

/*
 * Applies p to cluster c (a dynamic cluster, before the snapshot is
 * published): timeout server, and with a retry_policy retry-on, retries and a `retry` filter when
 * the conditions need one or a per-try timeout is set; folds the policy
 * into c->fingerprint. Returns 0 or -1 with err.
 */
int xds_route_policy_apply(const struct xds_route_policy *p, struct cluster *c, char *err,
                           size_t errlen);

#endif /* TERN_XDS_HTTP_H */
