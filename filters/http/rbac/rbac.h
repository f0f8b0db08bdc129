/*
 * rbac.h: the `rbac` filter: role-based access control on the peer's
 * identity, its address and (mode http) the request, as an HTTP filter and
 * as a network filter (mode tcp, filters/network_filter.h). Both run the
 * same policy model and the same evaluation (rbac_eval).
 *
 * Config file (frontend or listen section; one line per rule set):
 *   filter rbac [shadow] [default allow|deny]
 *               policy <name> allow|deny [<matcher> <value>]... [policy ...]
 * README.md next to this file is the user documentation.
 *
 * The model follows Envoy's envoy.config.rbac.v3, so that an xDS RBAC
 * filter (rules and shadow_rules) compiles into the same structs:
 *   - a policy holds principals (who: peer SPIFFE ID exact / prefix / trust
 *     domain, any authenticated peer, source CIDR) and permissions (what:
 *     destination port, method, path exact / prefix, header). Matchers fall
 *     in groups: peer (spiffe-id, spiffe-prefix, trust-domain,
 *     authenticated), src, dst-port, method, path (path, path-prefix), hdr.
 *     Matchers of one group are alternatives (OR); a policy matches when
 *     every group it uses has a matching matcher (AND); a policy without
 *     matchers matches everything (Envoy's `any: true`). An Envoy policy
 *     (permissions OR'ed, principals OR'ed, and_rules) compiles into one
 *     tern policy per (principal, permission) pair with the same action,
 *     which first-match order makes equivalent;
 *   - tern's policies are ordered and each carries its own action; the
 *     first matching policy decides, else the default action. Envoy's RBAC
 *     (one action for all policies) is the special case: action ALLOW is
 *     allow-policies with `default deny`, action DENY deny-policies with
 *     `default allow`; shadow_rules is a second instance in shadow mode.
 *   - shadow: every decision is evaluated, counted and a would-be denial
 *     logged, but nothing is denied.
 *
 * Ownership: rbac_config_parse builds one immutable config object (owned
 * by the listener's chain, freed by rbac_config_free); its counters are
 * atomics written by every worker without locks.
 * Threads: parse/free on the main thread; rbac_eval and the hooks on any
 * worker, concurrently.
 */
#ifndef TERN_FILTERS_HTTP_RBAC_H
#define TERN_FILTERS_HTTP_RBAC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filters/filter.h"
#include "filters/network_filter.h"

struct sockaddr;

/* name "rbac"; type_url NULL until the xDS issue maps
 * envoy.extensions.filters.http.rbac.v3.RBAC onto it. */
extern const struct http_filter_ops rbac_filter;
/* name "rbac", mode tcp (envoy.extensions.filters.network.rbac.v3.RBAC later). */
extern const struct network_filter_ops rbac_network_filter;

/* ---- internals (this folder and its tests) ---------------------------------- */

#define RBAC_CACHELINE 64
#define RBAC_COUNTER_SLOTS 64 /* per-worker counter slots (worker % slots) */
#define RBAC_MAX_POLICIES 256
/* The `policy` label of the default action's denial counters; no policy may
 * take this name. */
#define RBAC_DEFAULT_POLICY_LABEL "(default)"
#define RBAC_LOG_INTERVAL_US 1000000 /* one log line per policy per second at most */

enum rbac_action {
    RBAC_ALLOW = 0,
    RBAC_DENY = 1,
};

enum rbac_kind {
    /* principals */
    RBAC_P_SPIFFE_ID = 0,   /* spiffe-id <uri>: the peer's SPIFFE ID, exactly */
    RBAC_P_SPIFFE_PREFIX,   /* spiffe-prefix <prefix>: starts with the prefix */
    RBAC_P_TRUST_DOMAIN,    /* trust-domain <td>: spiffe://<td>/... */
    RBAC_P_AUTHENTICATED,   /* authenticated: any verified SPIFFE ID */
    RBAC_P_SRC,             /* src <cidr>: the client's address */
    /* permissions */
    RBAC_Q_DST_PORT,        /* dst-port <port>: the local port (mode tcp) */
    RBAC_Q_METHOD,          /* method <m> (mode http) */
    RBAC_Q_PATH,            /* path <p>: path exactly, query excluded */
    RBAC_Q_PATH_PREFIX,     /* path-prefix <p> */
    RBAC_Q_HDR,             /* hdr <name> <value>: a field with exactly that value */
};

struct rbac_matcher {
    enum rbac_kind kind;
    char *s;                /* owned: the string to compare; hdr: the value */
    size_t len;
    char *name;             /* hdr: the field name (owned) */
    size_t name_len;
    uint8_t family;         /* src: AF_INET or AF_INET6 */
    uint8_t prefix_len;     /* src */
    uint8_t addr[16];       /* src: network address, host bits zero */
    uint16_t port;          /* dst-port */
};

struct rbac_policy {
    char *name;             /* owned */
    enum rbac_action action;
    struct rbac_matcher *principals; /* owned [nprincipals]; none: any peer */
    uint32_t nprincipals;
    struct rbac_matcher *permissions; /* owned [npermissions]; none: anything */
    uint32_t npermissions;
    _Atomic uint64_t matched;  /* decisions this policy made (a deny policy: its
                                * denials, or shadow ones; per-policy metrics) */
    _Atomic uint64_t last_log_us; /* rate limit of its denial log lines */
    _Atomic uint64_t unlogged; /* denials not logged since the last line */
};

struct rbac_counters {
    _Alignas(RBAC_CACHELINE) _Atomic uint64_t allowed;
    _Atomic uint64_t denied;        /* enforced denials */
    _Atomic uint64_t shadow_denied; /* shadow mode: would have been denied */
};

struct rbac_config {
    bool shadow;
    bool l4;                /* built for a network filter (no HTTP matchers) */
    enum rbac_action dflt;  /* when no policy matches (default: allow) */
    struct rbac_policy *policies; /* owned [npolicies], in order */
    uint32_t npolicies;
    _Atomic uint64_t default_last_log_us;
    _Atomic uint64_t default_denied; /* denials (or shadow ones) by the default action */
    struct rbac_counters counters[RBAC_COUNTER_SLOTS];
};

/* What a decision is made on. Every pointer is borrowed for the call and
 * may be NULL (no TLS peer identity, no request at L4). */
struct rbac_input {
    const char *peer_id;          /* verified SPIFFE ID, or NULL */
    const struct sockaddr *src;
    uint16_t dst_port;            /* 0: unknown (never matches dst-port) */
    const struct http_msg *req;
};

/* Parses the arguments after `filter rbac`. l4: reject request matchers
 * (method, path, path-prefix, hdr). Returns 0 with *cfg set, or -1 with a
 * message in err. */
int rbac_config_parse_mode(int argc, char **argv, bool l4, void **cfg, char *err, size_t errlen);
void rbac_config_free(void *cfg);

/*
 * The decision for `in`: the action of the first matching policy (its
 * index in *policy) or the default (*policy = -1). Pure: counts nothing.
 */
enum rbac_action rbac_eval(const struct rbac_config *c, const struct rbac_input *in,
                           int *policy);

/*
 * rbac_eval plus what follows it on the data path: counts the decision in
 * worker's slot, and for a denial (enforced or shadow) counts it on the
 * policy and logs one line per policy per RBAC_LOG_INTERVAL_US at most
 * (`where` names the listener or stream, peer and source go in the line).
 * Returns true when the connection or request must be refused (never in
 * shadow mode).
 */
bool rbac_decide(struct rbac_config *c, uint32_t worker, uint64_t now_us,
                 const struct rbac_input *in, const char *where);

/* Sums the counters of one instance. Any thread (relaxed snapshot). */
void rbac_totals(const struct rbac_config *c, uint64_t *allowed, uint64_t *denied,
                 uint64_t *shadow_denied);

#endif /* TERN_FILTERS_HTTP_RBAC_H */
