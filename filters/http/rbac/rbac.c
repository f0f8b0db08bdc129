/*
 * rbac.c: policy evaluation, the HTTP filter hooks and the network filter's
 * on_connect: one decision routine (rbac_decide) behind both.
 *
 * A decision walks the policies in order and stops at the first whose
 * principals and permissions both match: a handful of string compares per
 * policy, no allocation, no lock. Counters are per-worker slots on their own
 * cache lines (allowed / denied / shadow_denied), plus one atomic per policy
 * bumped only on the policy's denials, which are rare on a healthy mesh.
 *
 * Logging: a denial (enforced, or the one shadow mode would have made) is
 * logged with the policy, the peer and the source address, at most once per
 * policy per second; the lines skipped meanwhile are counted into the next
 * one ("N more"), so a flood of refused clients costs no write(2) each.
 */
#include "filters/http/rbac/rbac.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxy/core/log.h"

/* ---- evaluation ------------------------------------------------------------ */

static bool src_match(const struct rbac_matcher *m, const struct sockaddr *sa)
{
    const uint8_t *a;
    uint8_t v4mapped[4];
    unsigned full, rest;

    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        if (m->family != AF_INET)
            return false;
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (m->family == AF_INET && IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(v4mapped, &a6->s6_addr[12], 4);
            a = v4mapped;
        } else if (m->family == AF_INET6) {
            a = a6->s6_addr;
        } else {
            return false;
        }
    } else {
        return false;
    }
    full = m->prefix_len / 8;
    rest = m->prefix_len % 8;
    if (memcmp(a, m->addr, full) != 0)
        return false;
    if (rest && ((a[full] ^ m->addr[full]) & (uint8_t)(0xff00u >> rest)))
        return false;
    return true;
}

static bool str_eq(struct http_str s, const char *p, size_t len)
{
    return s.p && s.len == len && memcmp(s.p, p, len) == 0;
}

static bool matcher_match(const struct rbac_matcher *m, const struct rbac_input *in)
{
    switch (m->kind) {
    case RBAC_P_SPIFFE_ID:
        return in->peer_id && strcmp(in->peer_id, m->s) == 0;
    case RBAC_P_SPIFFE_PREFIX:
    case RBAC_P_TRUST_DOMAIN:
        return in->peer_id && strncmp(in->peer_id, m->s, m->len) == 0;
    case RBAC_P_AUTHENTICATED:
        return in->peer_id != NULL;
    case RBAC_P_SRC:
        return src_match(m, in->src);
    case RBAC_Q_DST_PORT:
        return in->dst_port && in->dst_port == m->port;
    case RBAC_Q_METHOD:
        return in->req && str_eq(in->req->method_str, m->s, m->len);
    case RBAC_Q_PATH:
        return in->req && str_eq(in->req->path, m->s, m->len);
    case RBAC_Q_PATH_PREFIX:
        return in->req && in->req->path.p && in->req->path.len >= m->len &&
               memcmp(in->req->path.p, m->s, m->len) == 0;
    case RBAC_Q_HDR:
        if (!in->req)
            return false;
        for (int i = http_msg_find(in->req, m->name, m->name_len, 0); i >= 0;
             i = http_msg_find(in->req, m->name, m->name_len, (uint32_t)i + 1))
            if (str_eq(in->req->hdrs[i].value, m->s, m->len))
                return true;
        return false;
    }
    return false;
}

/* Matchers of one group are alternatives; a policy needs every group it
 * uses to have one matching matcher (see rbac.h). */
static uint32_t group_of(enum rbac_kind k)
{
    switch (k) {
    case RBAC_P_SPIFFE_ID:
    case RBAC_P_SPIFFE_PREFIX:
    case RBAC_P_TRUST_DOMAIN:
    case RBAC_P_AUTHENTICATED:
        return 1u << 0;
    case RBAC_P_SRC:
        return 1u << 1;
    case RBAC_Q_DST_PORT:
        return 1u << 2;
    case RBAC_Q_METHOD:
        return 1u << 3;
    case RBAC_Q_PATH:
    case RBAC_Q_PATH_PREFIX:
        return 1u << 4;
    case RBAC_Q_HDR:
        return 1u << 5;
    }
    return 0;
}

static void groups_match(const struct rbac_matcher *v, uint32_t n, const struct rbac_input *in,
                         uint32_t *used, uint32_t *matched)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = group_of(v[i].kind);
        *used |= g;
        if (!(*matched & g) && matcher_match(&v[i], in))
            *matched |= g;
    }
}

static bool policy_match(const struct rbac_policy *p, const struct rbac_input *in)
{
    uint32_t used = 0, matched = 0;

    groups_match(p->principals, p->nprincipals, in, &used, &matched);
    if (used != matched) /* who does not match: what is not looked at */
        return false;
    groups_match(p->permissions, p->npermissions, in, &used, &matched);
    return used == matched;
}

enum rbac_action rbac_eval(const struct rbac_config *c, const struct rbac_input *in,
                           int *policy)
{
    for (uint32_t i = 0; i < c->npolicies; i++) {
        const struct rbac_policy *p = &c->policies[i];
        if (policy_match(p, in)) {
            *policy = (int)i;
            return p->action;
        }
    }
    *policy = -1;
    return c->dflt;
}

/* ---- decision, counters, log ------------------------------------------------- */

static const char *fmt_addr(const struct sockaddr *sa, char *out, size_t len)
{
    if (sa && sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
                         (socklen_t)len);
    if (sa && sa->sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                         (socklen_t)len);
    return "-";
}

/* true when this denial may be logged now; otherwise counts it as unlogged. */
static bool log_allowed(_Atomic uint64_t *last, _Atomic uint64_t *unlogged, uint64_t now_us,
                        uint64_t *skipped)
{
    uint64_t prev = atomic_load_explicit(last, memory_order_relaxed);

    if (prev && now_us - prev < RBAC_LOG_INTERVAL_US) {
        if (unlogged)
            atomic_fetch_add_explicit(unlogged, 1, memory_order_relaxed);
        return false;
    }
    if (!atomic_compare_exchange_strong_explicit(last, &prev, now_us ? now_us : 1,
                                                 memory_order_relaxed, memory_order_relaxed)) {
        if (unlogged)
            atomic_fetch_add_explicit(unlogged, 1, memory_order_relaxed);
        return false;
    }
    *skipped = unlogged ? atomic_exchange_explicit(unlogged, 0, memory_order_relaxed) : 0;
    return true;
}

bool rbac_decide(struct rbac_config *c, uint32_t worker, uint64_t now_us,
                 const struct rbac_input *in, const char *where)
{
    struct rbac_counters *k = &c->counters[worker % RBAC_COUNTER_SLOTS];
    int pi;
    enum rbac_action a = rbac_eval(c, in, &pi);
    struct rbac_policy *p = pi >= 0 ? &c->policies[pi] : NULL;
    _Atomic uint64_t *last = p ? &p->last_log_us : &c->default_last_log_us;
    uint64_t skipped = 0;

    if (p)
        atomic_fetch_add_explicit(&p->matched, 1, memory_order_relaxed);
    if (a == RBAC_ALLOW) {
        atomic_fetch_add_explicit(&k->allowed, 1, memory_order_relaxed);
        return false;
    }
    atomic_fetch_add_explicit(c->shadow ? &k->shadow_denied : &k->denied, 1,
                              memory_order_relaxed);
    if (!p) /* a policy's own denials are its `matched` */
        atomic_fetch_add_explicit(&c->default_denied, 1, memory_order_relaxed);
    if (log_allowed(last, p ? &p->unlogged : NULL, now_us, &skipped)) {
        char addr[INET6_ADDRSTRLEN];
        char more[32] = "";
        if (skipped)
            snprintf(more, sizeof(more), " (%llu more)", (unsigned long long)skipped);
        log_warn("%s: rbac: %s by %s%s%s: peer=%s src=%s%s", where,
                 c->shadow ? "would deny (shadow)" : "denied", p ? "policy " : "default",
                 p ? "" : " action", p ? p->name : "", in->peer_id ? in->peer_id : "-",
                 fmt_addr(in->src, addr, sizeof(addr)), more);
    }
    return !c->shadow;
}

void rbac_totals(const struct rbac_config *c, uint64_t *allowed, uint64_t *denied,
                 uint64_t *shadow_denied)
{
    *allowed = *denied = *shadow_denied = 0;
    for (size_t i = 0; i < RBAC_COUNTER_SLOTS; i++) {
        const struct rbac_counters *k = &c->counters[i];
        *allowed += atomic_load_explicit(&k->allowed, memory_order_relaxed);
        *denied += atomic_load_explicit(&k->denied, memory_order_relaxed);
        *shadow_denied += atomic_load_explicit(&k->shadow_denied, memory_order_relaxed);
    }
}

/*
 * The metrics of one instance: the allowed total, then denials per deny
 * policy and for the default action ({policy="<name>"}, policy="(default)";
 * their sum is the instance's total), once as enforced denials and once as
 * shadow ones. Only the family of the instance's mode counts; the other's
 * samples are 0, so every instance reports both families the same way.
 */
struct rbac_families {
    const char *allowed, *allowed_help;
    const char *denied, *denied_help;
    const char *shadow, *shadow_help;
};

static size_t rbac_fill(const struct rbac_config *c, const struct rbac_families *f,
                        struct filter_metric *out, size_t max)
{
    uint64_t a, d, s;
    size_t n = 0;

    if (max < 1)
        return 0;
    rbac_totals(c, &a, &d, &s);
    out[n++] = (struct filter_metric){f->allowed, f->allowed_help, a};
    for (int shadow = 0; shadow <= 1; shadow++) {
        bool counts = (bool)shadow == c->shadow;
        const char *name = shadow ? f->shadow : f->denied;
        const char *help = shadow ? f->shadow_help : f->denied_help;
        for (uint32_t i = 0; i < c->npolicies && n < max; i++) {
            const struct rbac_policy *p = &c->policies[i];
            if (p->action != RBAC_DENY)
                continue;
            out[n++] = (struct filter_metric){
                name, help,
                counts ? atomic_load_explicit(&p->matched, memory_order_relaxed) : 0,
                "policy", p->name};
        }
        if (n < max)
            out[n++] = (struct filter_metric){
                name, help,
                counts ? atomic_load_explicit(&c->default_denied, memory_order_relaxed) : 0,
                "policy", RBAC_DEFAULT_POLICY_LABEL};
    }
    return n;
}

static size_t rbac_metrics(const void *cfg, struct filter_metric *out, size_t max)
{
    static const struct rbac_families f = {
        "tern_rbac_allowed_total", "Requests RBAC let through.",
        "tern_rbac_denied_total", "Requests RBAC refused (403), by policy.",
        "tern_rbac_shadow_denied_total",
        "Requests RBAC in shadow mode would have refused (and let through), by policy.",
    };

    return rbac_fill(cfg, &f, out, max);
}

/* ---- the HTTP filter ----------------------------------------------------------- */

static int rbac_http_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    return rbac_config_parse_mode(argc, argv, false, cfg, err, errlen);
}

static enum filter_status rbac_request_headers(struct filter_stream *fs, void *state,
                                               struct http_msg *req, bool end_stream)
{
    struct rbac_config *c = (struct rbac_config *)filter_config(fs);
    const struct filter_stream_info *info = filter_info(fs);
    struct rbac_input in = {
        .peer_id = info->peer_id,
        .src = info->client,
        .dst_port = 0,
        .req = req,
    };

    (void)state;
    (void)end_stream;
    if (rbac_decide(c, filter_worker(fs), filter_now_us(fs), &in, info->listener)) {
        filter_local_reply(fs, 403, NULL, NULL, 0, TERN_R_DENIED);
        return FILTER_STOP;
    }
    return FILTER_CONTINUE;
}

const struct http_filter_ops rbac_filter = {
    .name = "rbac",
    .type_url = NULL, /* xDS issue: envoy.extensions.filters.http.rbac.v3.RBAC */
    .state_size = 0,
    .config_parse = rbac_http_parse,
    .config_free = rbac_config_free,
    .request_headers = rbac_request_headers,
    .metrics = rbac_metrics,
};

/* ---- the network filter ------------------------------------------------------- */

static int rbac_l4_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    return rbac_config_parse_mode(argc, argv, true, cfg, err, errlen);
}

static uint16_t port_of(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa && sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

/* Families of their own at L4 (a family is written once per page). */
static size_t rbac_network_metrics(const void *cfg, struct filter_metric *out, size_t max)
{
    static const struct rbac_families f = {
        "tern_rbac_conn_allowed_total", "Connections (mode tcp) RBAC let through.",
        "tern_rbac_conn_denied_total", "Connections (mode tcp) RBAC closed, by policy.",
        "tern_rbac_conn_shadow_denied_total",
        "Connections (mode tcp) RBAC in shadow mode would have closed (and let through), "
        "by policy.",
    };

    return rbac_fill(cfg, &f, out, max);
}

static enum network_filter_status rbac_on_connect(void *cfg,
                                                  const struct network_filter_conn *conn)
{
    struct rbac_input in = {
        .peer_id = conn->peer_id,
        .src = conn->src,
        .dst_port = port_of(conn->dst),
        .req = NULL,
    };

    return rbac_decide(cfg, conn->worker, conn->now_us, &in, conn->listener)
               ? NETWORK_FILTER_DENY
               : NETWORK_FILTER_ALLOW;
}

const struct network_filter_ops rbac_network_filter = {
    .name = "rbac",
    .config_parse = rbac_l4_parse,
    .config_free = rbac_config_free,
    .on_connect = rbac_on_connect,
    .metrics = rbac_network_metrics,
};
