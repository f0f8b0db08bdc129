/*
 * xds_http.c: RBAC and local_ratelimit HTTP filters, route timeouts and
 * retry policies from xDS, as tern's own filters and backend settings (see
 * xds_http.h). The protobuf messages have passed the strict field check
 * (xds_translate.c's table): only the fields read here can be set.
 *
 * Each filter is turned into the argument words of its config-file line and
 * handed to the filter's own parser, so the file and xDS share one
 * validator. The words are built in a fixed buffer (bounded: a message that
 * would not fit is refused).
 */
#include "xds/client/xds_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/rbac/v3/rbac.pb-c.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb-c.h"
#include "envoy/extensions/filters/http/rbac/v3/rbac.pb-c.h"
#include "filters/filter.h"
#include "proxy/core/util.h"

typedef Envoy__Config__Rbac__V3__RBAC RbacRules;
typedef Envoy__Config__Rbac__V3__Policy RbacPolicy;
typedef Envoy__Config__Rbac__V3__Principal RbacPrincipal;
typedef Envoy__Type__Matcher__V3__StringMatcher StringMatcher;
typedef Envoy__Extensions__Filters__Http__LocalRatelimit__V3__LocalRateLimit LocalRateLimit;
typedef Envoy__Config__Core__V3__RuntimeFractionalPercent RuntimePercent;

#define MAX_WORDS 512
#define WORD_BYTES 16384

/* The words of one filter line, their bytes in one buffer. */
struct words {
    char *v[MAX_WORDS];
    int n;
    char buf[WORD_BYTES];
    size_t used;
    bool full;
};

static void word(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void word(struct words *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->full || w->n == MAX_WORDS) {
        w->full = true;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->used, sizeof(w->buf) - w->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(w->buf) - w->used) {
        w->full = true;
        return;
    }
    w->v[w->n++] = w->buf + w->used;
    w->used += (size_t)n + 1;
}

static int parse_words(const char *name, struct words *w, struct filter_instance *out,
                       char *err, size_t errlen)
{
    const struct http_filter_ops *ops = filter_find(name);
    char why[512];

    if (w->full) {
        snprintf(err, errlen, "too large for tern's %s filter (%d words at most)", name,
                 MAX_WORDS);
        return -1;
    }
    if (!ops) {
        snprintf(err, errlen, "tern was built without the %s filter", name);
        return -1;
    }
    out->ops = ops;
    out->cfg = NULL;
    if (ops->config_parse(w->n, w->v, &out->cfg, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

/* ---- RBAC --------------------------------------------------------------------- */

/* One principal as rbac words; *any set for `any: true`. */
static int rbac_principal(const RbacPrincipal *pr, struct words *w, bool *any, char *err,
                          size_t errlen)
{
    const StringMatcher *m;

    switch (pr->identifier_case) {
    case ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_ANY:
        if (!pr->any) {
            snprintf(err, errlen, "any: false matches nothing; not supported");
            return -1;
        }
        *any = true;
        return 0;
    case ENVOY__CONFIG__RBAC__V3__PRINCIPAL__IDENTIFIER_AUTHENTICATED:
        m = pr->authenticated->principal_name;
        if (!m) {
            word(w, "authenticated");
            return 0;
        }
        if (m->ignore_case) {
            snprintf(err, errlen, "authenticated.principal_name.ignore_case is not supported");
            return -1;
        }
        if (m->match_pattern_case == ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT) {
            word(w, "spiffe-id");
            word(w, "%s", m->exact);
            return 0;
        }
        if (m->match_pattern_case == ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX) {
            word(w, "spiffe-prefix");
            word(w, "%s", m->prefix);
            return 0;
        }
        snprintf(err, errlen, "authenticated.principal_name: only exact and prefix (a SPIFFE ID) "
                              "are supported");
        return -1;
    default:
        snprintf(err, errlen, "only `any` and `authenticated` principals are supported");
        return -1;
    }
}

static int rbac_build(const Envoy__Extensions__Filters__Http__Rbac__V3__RBAC *f,
                      struct filter_instance *out, char *err, size_t errlen)
{
    static struct words w; /* main thread only; large */
    const RbacRules *r = f->rules;
    const char *verdict;

    memset(&w, 0, sizeof(w));
    if (!r) {
        /* Envoy: no rules, the filter does nothing */
        word(&w, "default");
        word(&w, "allow");
        return parse_words("rbac", &w, out, err, errlen);
    }
    switch (r->action) {
    case ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__ALLOW:
        word(&w, "default");
        word(&w, "deny");
        verdict = "allow";
        break;
    case ENVOY__CONFIG__RBAC__V3__RBAC__ACTION__DENY:
        word(&w, "default");
        word(&w, "allow");
        verdict = "deny";
        break;
    default:
        snprintf(err, errlen, "rules.action %d is not supported (ALLOW or DENY)", (int)r->action);
        return -1;
    }
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *name = r->policies[i]->key;
        const RbacPolicy *p = r->policies[i]->value;
        bool any_perm = false, any_principal = false;
        int mark;

        if (!p || p->n_permissions == 0 || p->n_principals == 0) {
            snprintf(err, errlen, "rules.policies '%s': needs permissions and principals", name);
            return -1;
        }
        for (size_t j = 0; j < p->n_permissions; j++) {
            if (p->permissions[j]->rule_case != ENVOY__CONFIG__RBAC__V3__PERMISSION__RULE_ANY ||
                !p->permissions[j]->any) {
                snprintf(err, errlen, "rules.policies '%s': permissions[%zu]: only `any: true` "
                                      "is supported", name, j);
                return -1;
            }
            any_perm = true;
        }
        (void)any_perm;
        word(&w, "policy");
        word(&w, "%s", name);
        word(&w, "%s", verdict);
        mark = w.n;
        for (size_t j = 0; j < p->n_principals; j++) {
            char why[256];
            if (rbac_principal(p->principals[j], &w, &any_principal, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "rules.policies '%s': principals[%zu]: %s", name, j, why);
                return -1;
            }
        }
        if (any_principal)
            w.n = mark; /* one principal matches anyone: the policy matches every request */
    }
    return parse_words("rbac", &w, out, err, errlen);
}

/* ---- local_ratelimit ------------------------------------------------------------ */

/* A RuntimeFractionalPercent (runtime_key ignored: tern has no runtime):
 * 0 when unset or 0%, 1 when 100%, -1 in between (not supported). */
static int percent_all(const RuntimePercent *rp)
{
    const Envoy__Type__V3__FractionalPercent *fp = rp ? rp->default_value : NULL;
    uint64_t den;

    if (!fp || fp->numerator == 0)
        return 0;
    switch (fp->denominator) {
    case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED: den = 100; break;
    case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__TEN_THOUSAND: den = 10000; break;
    case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__MILLION: den = 1000000; break;
    default: return -1;
    }
    return fp->numerator >= den ? 1 : -1;
}

static int ratelimit_build(const LocalRateLimit *f, struct filter_instance *out, char *err,
                           size_t errlen)
{
    static struct words w;
    const Envoy__Type__V3__TokenBucket *tb = f->token_bucket;
    int enabled = percent_all(f->filter_enabled);
    int enforced = percent_all(f->filter_enforced);
    uint64_t fill_ms;
    uint32_t per_fill;

    if (enabled < 0 || enforced < 0) {
        snprintf(err, errlen, "filter_enabled / filter_enforced: only 0%% or 100%% are "
                              "supported");
        return -1;
    }
    if (!tb || !tb->fill_interval) {
        snprintf(err, errlen, "token_bucket with fill_interval is required");
        return -1;
    }
    if (tb->fill_interval->seconds < 0 || tb->fill_interval->nanos < 0) {
        snprintf(err, errlen, "token_bucket.fill_interval is negative");
        return -1;
    }
    fill_ms = (uint64_t)tb->fill_interval->seconds * 1000 + (uint64_t)tb->fill_interval->nanos /
                                                               1000000;
    per_fill = tb->tokens_per_fill ? tb->tokens_per_fill->value : 1;
    if (fill_ms == 0 || fill_ms > 2147483647u || per_fill == 0 || tb->max_tokens == 0) {
        snprintf(err, errlen, "token_bucket: max_tokens, tokens_per_fill and fill_interval "
                              "(1ms..24.8 days) must be positive");
        return -1;
    }
    if (!enabled)
        return 1; /* Envoy: filter_enabled unset or 0%: the filter does nothing */
    if (!enforced) {
        snprintf(err, errlen, "filter_enforced 0%% (count without denying) is not supported");
        return -1;
    }
    memset(&w, 0, sizeof(w));
    word(&w, "rate");
    word(&w, "%u/%llums", per_fill, (unsigned long long)fill_ms);
    word(&w, "burst");
    word(&w, "%u", tb->max_tokens);
    word(&w, "headers");
    word(&w, "never"); /* Envoy sends no RateLimit-* fields unless asked */
    if (f->status && f->status->code) {
        word(&w, "deny-status");
        word(&w, "%d", (int)f->status->code);
    }
    return parse_words("rate-limit", &w, out, err, errlen);
}

int xds_http_filter_build(const char *type_url, const void *cfg, struct filter_instance *out,
                          char *err, size_t errlen)
{
    if (strcmp(type_url, XDS_RBAC_URL) == 0)
        return rbac_build(cfg, out, err, errlen);
    if (strcmp(type_url, XDS_LOCAL_RATELIMIT_URL) == 0)
        return ratelimit_build(cfg, out, err, errlen);
    snprintf(err, errlen, "HTTP filter '%s' is not supported", type_url);
    return -1;
}

/* ---- routes: timeout and retry_policy ------------------------------------------ */

static int duration(const Google__Protobuf__Duration *d, uint32_t *ms, const char *what,
                    char *err, size_t errlen)
{
    uint64_t v;

    if (d->seconds < 0 || d->nanos < 0 || d->seconds > 86400) {
        snprintf(err, errlen, "%s must be 0..24h", what);
        return -1;
    }
    v = (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
    if (v == 0 && d->nanos > 0)
        v = 1;
    *ms = (uint32_t)v;
    return 0;
}

static void add_status(struct xds_route_policy *p, uint16_t code)
{
    size_t n = 0;

    while (n < RETRY_STATUS_MAX - 1 && p->retry_status[n]) {
        if (p->retry_status[n] == code)
            return;
        n++;
    }
    if (n < RETRY_STATUS_MAX - 1)
        p->retry_status[n] = code;
}

/* The statuses tern's retry-on knows (cfg_keywords.c's kw_retry_on). */
static bool retriable_status(uint32_t code)
{
    static const uint16_t ok[] = {401, 403, 404, 408, 425, 500, 501, 502, 503, 504};

    for (size_t i = 0; i < TERN_ARRAY_SIZE(ok); i++)
        if (ok[i] == code)
            return true;
    return false;
}

/* Envoy's retry_on words, as tern's conditions. */
static int retry_word(struct xds_route_policy *p, const char *w, size_t len,
                      const Envoy__Config__Route__V3__RetryPolicy *rp, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } simple[] = {
        {"connect-failure", RETRY_ON_CONN_FAILURE},
        /* the upstream closed or reset without a response */
        {"reset", RETRY_ON_CONN_FAILURE | RETRY_ON_EMPTY_RESPONSE | RETRY_ON_JUNK_RESPONSE},
        {"refused-stream", RETRY_ON_EMPTY_RESPONSE},
        {"cancelled", RETRY_ON_GRPC_CANCELLED},
        {"deadline-exceeded", RETRY_ON_GRPC_DEADLINE_EXCEEDED},
        {"internal", RETRY_ON_GRPC_INTERNAL},
        {"resource-exhausted", RETRY_ON_GRPC_RESOURCE_EXHAUSTED},
        {"unavailable", RETRY_ON_GRPC_UNAVAILABLE},
    };

    for (size_t i = 0; i < TERN_ARRAY_SIZE(simple); i++)
        if (strlen(simple[i].name) == len && memcmp(simple[i].name, w, len) == 0) {
            p->retry_on |= simple[i].bits;
            return 0;
        }
    if (len == 3 && memcmp(w, "5xx", 3) == 0) {
        /* Envoy: a 5xx response, or no response at all */
        static const uint16_t c[] = {500, 501, 502, 503, 504};
        p->retry_on |= RETRY_ON_CONN_FAILURE | RETRY_ON_EMPTY_RESPONSE |
                       RETRY_ON_JUNK_RESPONSE | RETRY_ON_RESPONSE_TIMEOUT | RETRY_ON_STATUS;
        for (size_t i = 0; i < TERN_ARRAY_SIZE(c); i++)
            add_status(p, c[i]);
        return 0;
    }
    if (len == 13 && memcmp(w, "gateway-error", 13) == 0) {
        static const uint16_t c[] = {502, 503, 504};
        p->retry_on |= RETRY_ON_CONN_FAILURE | RETRY_ON_RESPONSE_TIMEOUT | RETRY_ON_STATUS;
        for (size_t i = 0; i < TERN_ARRAY_SIZE(c); i++)
            add_status(p, c[i]);
        return 0;
    }
    if (len == 22 && memcmp(w, "retriable-status-codes", 22) == 0) {
        if (rp->n_retriable_status_codes == 0) {
            snprintf(err, errlen, "retry_on retriable-status-codes without "
                                  "retriable_status_codes");
            return -1;
        }
        for (size_t i = 0; i < rp->n_retriable_status_codes; i++) {
            if (!retriable_status(rp->retriable_status_codes[i])) {
                snprintf(err, errlen, "retriable_status_codes: %u is not supported (401 403 404 "
                                      "408 425 500 501 502 503 504)",
                         rp->retriable_status_codes[i]);
                return -1;
            }
            add_status(p, (uint16_t)rp->retriable_status_codes[i]);
        }
        p->retry_on |= RETRY_ON_STATUS;
        return 0;
    }
    snprintf(err, errlen, "retry_on '%.*s' is not supported (5xx, gateway-error, reset, "
                          "connect-failure, refused-stream, retriable-status-codes, cancelled, "
                          "deadline-exceeded, internal, resource-exhausted, unavailable)",
             (int)(len > 64 ? 64 : len), w);
    return -1;
}

int xds_route_policy(const Envoy__Config__Route__V3__RouteAction *a, struct xds_route_policy *p,
                     char *err, size_t errlen)
{
    const Envoy__Config__Route__V3__RetryPolicy *rp = a->retry_policy;
    char why[384];

    memset(p, 0, sizeof(*p));
    if (a->timeout) {
        p->has_timeout = true;
        if (duration(a->timeout, &p->timeout_ms, "timeout", err, errlen) != 0)
            return -1;
    }
    if (!rp)
        return 0;
    p->has_retry = true;
    p->retries = rp->num_retries ? rp->num_retries->value : 1; /* Envoy's default */
    if (p->retries > 100) {
        snprintf(err, errlen, "retry_policy.num_retries %u: at most 100", p->retries);
        return -1;
    }
    if (rp->per_try_timeout &&
        duration(rp->per_try_timeout, &p->per_try_timeout_ms, "retry_policy.per_try_timeout",
                 err, errlen) != 0)
        return -1;
    for (const char *s = rp->retry_on; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && *s == ' ') {
            s++;
            len--;
        }
        while (len && s[len - 1] == ' ')
            len--;
        if (len && retry_word(p, s, len, rp, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "retry_policy.%s", why);
            return -1;
        }
        if (!e)
            break;
        s = e + 1;
    }
    if (rp->n_retriable_status_codes && !(p->retry_on & RETRY_ON_STATUS)) {
        snprintf(err, errlen, "retry_policy.retriable_status_codes without "
                              "retriable-status-codes in retry_on");
        return -1;
    }
    return 0;
}

bool xds_route_policy_equal(const struct xds_route_policy *a, const struct xds_route_policy *b)
{
    return memcmp(a, b, sizeof(*a)) == 0; /* memset in xds_route_policy: no padding garbage */
}

int xds_route_policy_apply(const struct xds_route_policy *p, struct cluster *c, char *err,
                           size_t errlen)
{
    if (p->has_timeout)
        c->timeout_server_ms = p->timeout_ms; /* 0: Envoy's "disabled" */
    /* Without a retry_policy the cluster keeps tern's defaults (a connection
     * that fails is retried elsewhere: what keeps endpoint removal lossless) */
    if (p->has_retry) {
        c->retry_on = p->retry_on;
        c->retries = p->retry_on ? p->retries : 0;
        memcpy(c->retry_status, p->retry_status, sizeof(c->retry_status));
    }
    if (p->has_retry && ((p->retry_on & RETRY_ON_L7) || p->per_try_timeout_ms)) {
        static struct words w;
        struct filter_instance fi;

        memset(&w, 0, sizeof(w));
        if (p->per_try_timeout_ms) {
            word(&w, "per-try-timeout");
            word(&w, "%ums", p->per_try_timeout_ms);
        }
        if (parse_words("retry", &w, &fi, err, errlen) != 0)
            return -1;
        c->filters = tern_realloc(c->filters, (c->nfilters + 1) * sizeof(*c->filters));
        c->filters[c->nfilters++] = fi;
    }
    c->fingerprint = tern_hash64(p, sizeof(*p), c->fingerprint) | 1;
    return 0;
}
