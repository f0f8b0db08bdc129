/*
 * cfg_parse.c: turns HAProxy-syntax configuration text into a snapshot.
 *
 * The parse never stops at the first problem: every line is read, every
 * problem becomes one "FILE:LINE: keyword: message" line in the caller's
 * cfg_diag, and the snapshot is only returned when there was none.
 *
 * Flow: cfg_lex_next() yields logical lines; a section keyword closes the
 * current section (writing its settings into the model) and opens the next;
 * any other line is looked up in the keyword table (cfg_keywords.c) and
 * handed to its handler. What needs the whole file (default_backend and
 * use_backend name backends declared later; "is there any listener at all")
 * is checked at the end. `acl` lines and use_backend conditions are compiled
 * by proxy/acl as they are read; where a condition may run depends on the
 * section's mode, so that is checked when the section ends (finish_rules).
 *
 * Defaults, as in HAProxy 2.6: each `defaults` section starts from HAProxy's
 * built-in values (or from `defaults <name> from <other>`), and a proxy
 * starts from the last defaults section before it, or from the one it names
 * with `from <name>`.
 *
 * Where HAProxy would run without a timeout, tern applies its own default
 * (and warns, as HAProxy does): see DEFAULT_TIMEOUT_* below.
 */
#include "proxy/config/cfg_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/filter.h"
#include "filters/network_filter.h"
#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/acl/acl.h"
#include "proxy/config/cfg_int.h"
#include "proxy/config/cfg_lex.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"

/*
 * Timeouts tern applies when a proxy sets none (HAProxy would wait forever
 * and warns). connect: a server on a working network answers a SYN well
 * within 5s; client/server: 5 minutes of silence on an established TCP
 * connection, long enough for interactive protocols, short enough that
 * dead peers do not pin file descriptors forever. (Documented in README.)
 */
#define DEFAULT_TIMEOUT_CONNECT_MS 5000
#define DEFAULT_TIMEOUT_CLIENT_MS (5 * 60 * 1000)
#define DEFAULT_TIMEOUT_SERVER_MS (5 * 60 * 1000)

#define MAX_FILE_SIZE (64u << 20)
#define MAX_MESSAGE 1024

/* ---- diagnostics ---------------------------------------------------------- */

/* Formats, makes the message one printable line, and appends it. */
static void diag_add(char ***list, size_t *n, const char *fmt, va_list ap)
{
    char buf[MAX_MESSAGE];
    char *out, *o;
    int len = vsnprintf(buf, sizeof(buf), fmt, ap);
    bool truncated = len < 0 || (size_t)len >= sizeof(buf);

    out = tern_malloc(sizeof(buf) * 4 + 4);
    o = out;
    for (const unsigned char *c = (const unsigned char *)buf; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        } else {
            *o++ = (char)*c;
        }
    }
    if (truncated) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = 0;
    *list = tern_realloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = out;
}

void cfg_diag_error(struct cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->errors, &d->nerrors, fmt, ap);
    va_end(ap);
}

void cfg_diag_warning(struct cfg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->warnings, &d->nwarnings, fmt, ap);
    va_end(ap);
}

void cfg_diag_free(struct cfg_diag *d)
{
    for (size_t i = 0; i < d->nerrors; i++)
        free(d->errors[i]);
    for (size_t i = 0; i < d->nwarnings; i++)
        free(d->warnings[i]);
    free(d->errors);
    free(d->warnings);
    d->errors = d->warnings = NULL;
    d->nerrors = d->nwarnings = 0;
}

static void report(struct cfg *p, bool error, const char *fmt, va_list ap)
{
    char msg[MAX_MESSAGE];
    size_t k;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (error) {
        cfg_diag_error(p->d, "%s:%d: %s: %s", p->file, p->line, p->kw, msg);
        k = p->d->nerrors - p->errors_before;
        p->err_lines = tern_realloc(p->err_lines, k * sizeof(int));
        p->err_lines[k - 1] = p->line;
    } else {
        cfg_diag_warning(p->d, "%s:%d: %s: %s", p->file, p->line, p->kw, msg);
        k = p->d->nwarnings - p->warnings_before;
        p->warn_lines = tern_realloc(p->warn_lines, k * sizeof(int));
        p->warn_lines[k - 1] = p->line;
    }
}

struct sort_item {
    int line;
    size_t seq;
    char *msg;
};

static int cmp_item(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Stable sort of list[from..to-1] by line (lines[i] is the line of
 * list[from + i]): messages found at the end of a section or of the file
 * take their place among the others. */
static void sort_by_line(char **list, size_t from, size_t to, const int *lines)
{
    struct sort_item *it;
    size_t n = to - from;
    char **msgs;

    if (n < 2)
        return;
    msgs = list + from;
    it = tern_malloc(n * sizeof(*it));
    for (size_t i = 0; i < n; i++) {
        it[i].line = lines[i];
        it[i].seq = i;
        it[i].msg = msgs[i];
    }
    qsort(it, n, sizeof(*it), cmp_item);
    for (size_t i = 0; i < n; i++)
        msgs[i] = it[i].msg;
    free(it);
}

void cfg_err(struct cfg *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(p, true, fmt, ap);
    va_end(ap);
}

void cfg_warn(struct cfg *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(p, false, fmt, ap);
    va_end(ap);
}

/* Sets the keyword shown in messages (shortened if absurdly long). */
static void set_kw(struct cfg *p, const char *a, const char *b, const char *c)
{
    snprintf(p->kwbuf, sizeof(p->kwbuf), "%s%s%s%s%s", a, b ? " " : "", b ? b : "",
             c ? " " : "", c ? c : "");
    if (strlen(p->kwbuf) == sizeof(p->kwbuf) - 1)
        memcpy(p->kwbuf + sizeof(p->kwbuf) - 4, "...", 3);
    p->kw = p->kwbuf;
}

/* ---- suggestions ---------------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein plus transpositions). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[33][33];

    /* no suggestion is ever more than 2 edits away: skip hopeless pairs */
    if (la > 32 || lb > 32 || la > lb + 2 || lb > la + 2)
        return (size_t)-1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *cfg_closest(const char *word, const char *const *cand, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1, wl = strlen(word);

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cand[i]);
        size_t l = strlen(cand[i]) > wl ? strlen(cand[i]) : wl;
        /* a plausible typo: at most 2 edits, and at most a third of the word */
        if (d < best_d && d <= 2 && d * 3 <= l) {
            best = cand[i];
            best_d = d;
        }
    }
    return best;
}

/* ---- settings ------------------------------------------------------------- */

void cfg_conf_init(struct proxy_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->mode = PROXY_MODE_TCP;
    c->lb_policy = LB_ROUNDROBIN;
    c->random_draws = 2;
    c->hash_type = LB_HASH_MAP_BASED;
    c->consistent_algo = LB_CONSISTENT_RING;
    c->defsrv.weight = 1;
    c->defsrv.inter_ms = 2000;
    c->defsrv.rise = 2;
    c->defsrv.fall = 3;
    c->defsrv.pool_max_conn = -1;
    c->defsrv.pool_purge_delay = 5000; /* HAProxy's default */
    c->retries = 3;
    c->retry_on = RETRY_ON_CONN_FAILURE; /* HAProxy's default */
    c->redispatch_interval = -1;
}

static char *dup_or_null(const char *s)
{
    return s ? tern_strdup(s) : NULL;
}

void cfg_conf_copy(struct proxy_conf *dst, const struct proxy_conf *src)
{
    *dst = *src;
    dst->default_backend = dup_or_null(src->default_backend);
    dst->chk_method = dup_or_null(src->chk_method);
    dst->chk_uri = dup_or_null(src->chk_uri);
    dst->chk_version = dup_or_null(src->chk_version);
    dst->chk_grpc_service = dup_or_null(src->chk_grpc_service);
    dst->forwardfor.header = dup_or_null(src->forwardfor.header);
    dst->request_id_header = dup_or_null(src->request_id_header);
    dst->errorfiles = errorfiles_copy(src->errorfiles, src->nerrorfiles);
}

void cfg_conf_free(struct proxy_conf *c)
{
    free(c->default_backend);
    free(c->chk_method);
    free(c->chk_uri);
    free(c->chk_version);
    free(c->chk_grpc_service);
    free(c->forwardfor.header);
    free(c->request_id_header);
    errorfiles_free(c->errorfiles, c->nerrorfiles);
    memset(c, 0, sizeof(*c));
}

static const struct {
    const char *name;
    enum cfg_sec sec;
} sections[] = {
    {"global", SEC_GLOBAL},     {"defaults", SEC_DEFAULTS}, {"frontend", SEC_FRONTEND},
    {"backend", SEC_BACKEND},   {"listen", SEC_LISTEN},     {"peers", SEC_SKIP},
    {"resolvers", SEC_SKIP},    {"userlist", SEC_SKIP},     {"mailers", SEC_SKIP},
    {"program", SEC_SKIP},      {"http-errors", SEC_SKIP},  {"ring", SEC_SKIP},
    {"cache", SEC_SKIP},        {"fcgi-app", SEC_SKIP},     {"log-forward", SEC_SKIP},
    {"crt-store", SEC_SKIP},    {"traces", SEC_SKIP},       {"xds", SEC_XDS},
};

const char *cfg_sec_name(enum cfg_sec s)
{
    for (size_t i = 0; i < TERN_ARRAY_SIZE(sections); i++)
        if (sections[i].sec == s)
            return sections[i].name;
    return "?";
}

const char *cfg_sec_list(unsigned secs, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < TERN_ARRAY_SIZE(sections); i++) {
        if (sections[i].sec != SEC_SKIP && (secs & sections[i].sec)) {
            int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", sections[i].name);
            if (n < 0 || (size_t)n >= len - o)
                break;
            o += (size_t)n;
        }
    }
    return buf;
}

/* ---- sections ------------------------------------------------------------- */

/* Copies the timeouts into the model; an unset one gets tern's default and
 * one warning per proxy lists them (HAProxy warns about the same ones). */
static void apply_timeouts(struct cfg *p, const char *kind)
{
    char missing[64] = "", using[96] = "";
    struct listener *l = p->l;
    struct cluster *c = p->c;

#define MISSING(what, dflt)                                                               \
    do {                                                                                  \
        size_t m_ = strlen(missing), u_ = strlen(using);                                  \
        snprintf(missing + m_, sizeof(missing) - m_, "%s%s", m_ ? ", " : "", what);       \
        snprintf(using + u_, sizeof(using) - u_, "%s%s %s", u_ ? ", " : "", what, dflt);  \
    } while (0)

    if (l) {
        l->access_log = !p->conf.no_log;
        l->timeout_client_ms = p->conf.timeout_client;
        if (!l->timeout_client_ms) {
            l->timeout_client_ms = DEFAULT_TIMEOUT_CLIENT_MS;
            MISSING("client", "5m");
        }
    }
    if (c) {
        c->timeout_connect_ms = p->conf.timeout_connect;
        if (!c->timeout_connect_ms) {
            c->timeout_connect_ms = DEFAULT_TIMEOUT_CONNECT_MS;
            MISSING("connect", "5s");
        }
        c->timeout_server_ms = p->conf.timeout_server;
        if (!c->timeout_server_ms) {
            c->timeout_server_ms = DEFAULT_TIMEOUT_SERVER_MS;
            MISSING("server", "5m");
        }
    }
#undef MISSING
    if (missing[0]) {
        snprintf(p->kwbuf, sizeof(p->kwbuf), "%s '%.100s'", kind, p->px_name);
        p->kw = p->kwbuf;
        cfg_warn(p, "missing timeouts %s: tern uses %s (set them with 'timeout')", missing,
                 using);
    }
}

static void finish_cluster_health(struct cfg *p, struct cluster *c)
{
    const struct proxy_conf *cf = &p->conf;
    struct health_spec *hc = &c->hc;
    uint32_t inter = 0;
    bool any_check = false;

    for (uint32_t i = 0; i < c->nendpoints; i++) {
        const struct endpoint *ep = c->endpoints[i];
        if (!ep->check)
            continue;
        any_check = true;
        if (!inter || ep->inter_ms < inter)
            inter = ep->inter_ms;
    }
    if (!inter)
        inter = cf->defsrv.inter_ms;

    if (cf->grpcchk) {
        hc->type = HC_GRPC;
        hc->service = tern_strdup(cf->chk_grpc_service ? cf->chk_grpc_service : "");
        /* the check speaks HTTP/2 only: every checked server must too */
        for (uint32_t i = 0; i < c->nendpoints; i++) {
            const struct endpoint *ep = c->endpoints[i];
            if (ep->check && !ep->proto_h2) {
                int line = p->line;
                p->line = ep->loc.line;
                p->kw = "option tern-grpc-check";
                cfg_err(p, "server '%s' has 'check' but not 'proto h2' (gRPC health checks "
                        "speak HTTP/2)", ep->name);
                p->line = line;
            }
        }
    } else if (cf->httpchk) {
        hc->type = HC_HTTP;
        hc->method = tern_strdup(cf->chk_method ? cf->chk_method : "OPTIONS");
        hc->uri = tern_strdup(cf->chk_uri ? cf->chk_uri : "/");
        hc->version = tern_strdup(cf->chk_version ? cf->chk_version : "HTTP/1.0");
        hc->expect_status = cf->expect_status;
    } else {
        hc->type = any_check ? HC_TCP : HC_NONE;
        if (cf->expect_line) {
            int line = p->line;
            p->line = cf->expect_line;
            p->kw = "http-check expect";
            cfg_warn(p, "has no effect without 'option httpchk'");
            p->line = line;
        }
    }
    /*
     * HAProxy: without `timeout check` the whole check (connect and response)
     * must finish within `inter`. With it, the connect gets
     * min(timeout connect, inter) and the response `timeout check`. `inter`
     * is per server; the cluster's spec takes the smallest one.
     */
    if (cf->timeout_check) {
        hc->timeout_ms = cf->timeout_check;
        hc->connect_timeout_ms =
            cf->timeout_connect && cf->timeout_connect < inter ? cf->timeout_connect : inter;
    } else {
        hc->timeout_ms = inter;
        hc->connect_timeout_ms = inter;
    }
}

/*
 * Moves the section's ACLs and use_backend conditions into the model and
 * checks that each condition can run where the frontend's mode puts it:
 * mode http evaluates them on the request head, mode tcp at accept time,
 * where only address fetches (src, dst, ...) have an input.
 */
static void finish_rules(struct cfg *p, struct listener *l, struct cfg_feref *fe)
{
    char err[512];

    l->acls = p->acls;
    p->acls = NULL;
    for (uint32_t i = 0; i < l->ntcp_rules; i++) {
        p->line = l->tcp_rules[i].line;
        p->kw = "tcp-request";
        if (p->conf.mode != PROXY_MODE_TCP)
            cfg_err(p, "content rules run in mode tcp only in tern (%s '%s' is mode http: "
                       "use http-request rules)", cfg_sec_name(p->sec), p->px_name);
        else if (acl_cond_check(l->tcp_rules[i].cond, ACL_WHERE_TCP, err, sizeof(err)) != 0)
            cfg_err(p, "%s", err);
    }
    p->line = p->px_line;
    p->kw = cfg_sec_name(p->sec);
    if (!p->nrules)
        return;
    l->rules = tern_calloc(p->nrules, sizeof(*l->rules));
    fe->rules = p->rules;
    l->nrules = (uint32_t)p->nrules;
    for (size_t i = 0; i < p->nrules; i++) {
        struct cfg_rule *r = &p->rules[i];
        enum acl_where where = p->conf.mode == PROXY_MODE_HTTP ? ACL_WHERE_REQUEST : ACL_WHERE_TCP;

        l->rules[i].cond = r->cond;
        r->cond = NULL;
        if (acl_cond_check(l->rules[i].cond, where, err, sizeof(err)) != 0) {
            p->line = r->line;
            p->kw = "use_backend";
            cfg_err(p, "%s", err);
        }
    }
    p->rules = NULL;
    p->nrules = 0;
    p->line = p->px_line;
    p->kw = cfg_sec_name(p->sec);
}

static void free_args(struct cfg_filter *f)
{
    for (int i = 0; i < f->nargs; i++)
        free(f->args[i]);
    free(f->args);
    f->args = NULL;
    f->nargs = 0;
}

static void free_filters(struct cfg *p)
{
    for (size_t i = 0; i < p->nfilters; i++) {
        if (p->filters[i].cfg && p->filters[i].ops->config_free)
            p->filters[i].ops->config_free(p->filters[i].cfg);
        free_args(&p->filters[i]);
    }
    free(p->filters);
    p->filters = NULL;
    p->nfilters = 0;
}

static struct filter_instance *chain_push(struct filter_instance **v, uint32_t *n,
                                          const struct http_filter_ops *ops, void *cfg)
{
    *v = tern_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n].ops = ops;
    (*v)[*n].cfg = cfg;
    return &(*v)[(*n)++];
}

/*
 * Moves the section's `filter` lines into the chains, in order: a
 * frontend's into its listener's chain (run on every request it accepts), a
 * backend's into its cluster's (run once a request is routed there, after
 * the frontend's). A listen section is both: its `retry` filter governs its
 * backend's retries and goes to the cluster, the others to the listener.
 * The section's http-request/http-response/redirect rules are one implicit
 * filter placed first in the chain it feeds (HAProxy runs its HTTP rules
 * before any filter sees the request): a frontend's in the listener's, a
 * backend's in the cluster's (run once the request is routed there).
 * A backend whose `retry-on` names an HTTP condition (anything beyond
 * conn-failure) and that has no `filter retry` line gets one with default
 * arguments, so HAProxy's `retries` / `retry-on` work without tern's
 * keyword. Filters run on HTTP streams: in a mode tcp proxy each line is an
 * error (HAProxy would run them on TCP streams; tern's filters are HTTP
 * only).
 */
static void finish_filters(struct cfg *p, struct listener *l, struct cluster *c)
{
    const struct http_filter_ops *retry = filter_find("retry");
    bool has_retry = false;

    if (p->hm && p->conf.mode != PROXY_MODE_HTTP) {
        /* HAProxy warns and ignores them too */
        p->line = p->hm_line;
        p->kw = p->hm_kw;
        cfg_warn(p, "ignored: %s '%s' is mode tcp (http-request, http-response and redirect "
                    "rules need mode http)", cfg_sec_name(p->sec), p->px_name);
        hm_config_free(p->hm);
        p->hm = NULL;
    }

    if (p->conf.mode != PROXY_MODE_HTTP) {
        for (size_t i = 0; i < p->nfilters; i++) {
            struct cfg_filter *f = &p->filters[i];
            const struct network_filter_ops *nops = network_filter_find(f->ops->name);
            char err[512];
            void *cfg = NULL;

            p->line = f->line;
            p->kw = "filter";
            if (!nops) {
                cfg_err(p, "%s: needs mode http (%s '%s' is mode tcp)", f->ops->name,
                        cfg_sec_name(p->sec), p->px_name);
                continue;
            }
            if (!l) {
                cfg_err(p, "%s: a network filter belongs in the frontend (or listen) section "
                           "that accepts the connections", f->ops->name);
                continue;
            }
            err[0] = 0;
            if (nops->config_parse(f->nargs, f->args, &cfg, err, sizeof(err)) != 0) {
                cfg_err(p, "%s: %s", f->ops->name, err[0] ? err : "invalid arguments");
                continue;
            }
            l->net_filters = tern_realloc(l->net_filters,
                                          (l->nnet_filters + 1) * sizeof(*l->net_filters));
            l->net_filters[l->nnet_filters].ops = nops;
            l->net_filters[l->nnet_filters++].cfg = cfg;
        }
        p->line = p->px_line;
        p->kw = cfg_sec_name(p->sec);
        free_filters(p);
        return;
    }
    /* filters that exist in both forms were kept unparsed: mode http's turn */
    for (size_t i = 0; i < p->nfilters; i++) {
        struct cfg_filter *f = &p->filters[i];
        char err[512];

        if (f->cfg || !f->args)
            continue;
        err[0] = 0;
        if (f->ops->config_parse(f->nargs, f->args, &f->cfg, err, sizeof(err)) != 0) {
            p->line = f->line;
            p->kw = "filter";
            cfg_err(p, "%s: %s", f->ops->name, err[0] ? err : "invalid arguments");
            p->line = p->px_line;
            p->kw = cfg_sec_name(p->sec);
            f->cfg = NULL;
            f->ops = NULL; /* reported: left out of the chain */
        }
        free_args(f);
    }
    if (p->hm) {
        if (l)
            chain_push(&l->filters, &l->nfilters, &header_mutation_filter, p->hm);
        else
            chain_push(&c->filters, &c->nfilters, &header_mutation_filter, p->hm);
        p->hm = NULL;
    }
    for (size_t i = 0; i < p->nfilters; i++) {
        struct cfg_filter *f = &p->filters[i];
        bool to_cluster = c && (!l || f->ops == retry);
        if (!f->ops)
            continue;
        if (f->ops == retry) {
            if (!c) {
                p->line = f->line;
                p->kw = "filter";
                cfg_err(p, "retry: belongs in the backend (or listen) section whose 'retries' "
                           "and 'retry-on' it applies; frontend '%s' has no servers",
                        p->px_name);
                p->line = p->px_line;
                p->kw = cfg_sec_name(p->sec);
                if (f->ops->config_free)
                    f->ops->config_free(f->cfg);
                continue;
            }
            if (has_retry) {
                p->line = f->line;
                p->kw = "filter";
                cfg_err(p, "retry: a second retry filter in '%s' (one governs a backend)",
                        p->px_name);
                p->line = p->px_line;
                p->kw = cfg_sec_name(p->sec);
                if (f->ops->config_free)
                    f->ops->config_free(f->cfg);
                continue;
            }
            has_retry = true;
        }
        if (to_cluster)
            chain_push(&c->filters, &c->nfilters, f->ops, f->cfg);
        else
            chain_push(&l->filters, &l->nfilters, f->ops, f->cfg);
    }
    free(p->filters);
    p->filters = NULL;
    p->nfilters = 0;
    if (c && !has_retry && retry && (p->conf.retry_on & RETRY_ON_L7)) {
        void *cfg = NULL;
        char err[256];
        if (retry->config_parse(0, NULL, &cfg, err, sizeof(err)) != 0)
            cfg_err(p, "retry: %s", err); /* not expected: no arguments */
        else
            chain_push(&c->filters, &c->nfilters, retry, cfg);
    }
}

static void free_rules(struct cfg_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        acl_cond_free(rules[i].cond);
        free(rules[i].backend);
    }
    free(rules);
}

/*
 * What decides whether a reload may keep the running cluster (model_swap.c):
 * the words of its lines and of its defaults section, plus what those words
 * point at outside the file: the addresses the server names resolved to and
 * the contents of the errorfiles. Never 0.
 */
static uint64_t cluster_fingerprint(const struct cluster *c, uint64_t h)
{
    for (uint32_t i = 0; i < c->nendpoints; i++)
        h = tern_hash64(&c->endpoints[i]->addr, c->endpoints[i]->addrlen, h);
    for (uint32_t i = 0; i < c->nerrorfiles; i++)
        h = tern_hash64(c->errorfiles[i].raw,
                        (size_t)c->errorfiles[i].head_len + c->errorfiles[i].body_len, h);
    return h ? h : 1;
}

/* Writes the finished proxy section's settings into its listener/cluster. */
/* `bind ... ssl`: the mode is known now, so is what ALPN the listener can
 * serve; certificates are loaded and contexts built (FILE:LINE of the bind). */
static void finish_binds_tls(struct cfg *p, struct listener *l)
{
    const char *kw = p->kw;
    int line = p->line;

    for (uint32_t i = 0; i < l->nbinds; i++) {
        struct tls_bind *tb = l->binds[i].tls;
        char warn[256], err[512];
        if (!tb || tb->ctx)
            continue;
        p->line = l->binds[i].loc.line;
        p->kw = "bind";
        if (tls_bind_build(tb, p->conf.mode == PROXY_MODE_HTTP, warn, sizeof(warn), err,
                           sizeof(err)) != 0)
            cfg_err(p, "%s", err);
        else if (warn[0] && (i == 0 || l->binds[i - 1].loc.line != p->line))
            cfg_warn(p, "%s", warn);
    }
    p->line = line;
    p->kw = kw;
}

static void finish_proxy(struct cfg *p)
{
    const char *kind = cfg_sec_name(p->sec);
    const struct proxy_conf *cf = &p->conf;

    p->line = p->px_line;
    p->kw = kind;
    if (p->l) {
        struct listener *l = p->l;
        struct cfg_feref *fe;

        if (p->nbind_lines == 0)
            cfg_err(p, "'%s' has no 'bind' line (declare it as a backend if it only has "
                       "servers)", p->px_name);
        l->mode = cf->mode;
        l->maxconn = cf->maxconn;
        l->timeout_client_hs_ms = cf->timeout_client_hs;
        finish_binds_tls(p, l);
        l->timeout_http_request_ms = cf->timeout_http_request;
        l->timeout_http_keep_alive_ms = cf->timeout_http_keep_alive;
        l->max_request_body = cf->max_request_body;
        l->http_mode = cf->http_mode;
        l->forwardfor = cf->forwardfor;
        l->forwardfor.header = dup_or_null(cf->forwardfor.header);
        l->error_header = cf->error_header;
        l->request_id_header = dup_or_null(cf->request_id_header);
        l->xfcc = cf->xfcc;
        l->errorfiles = errorfiles_copy(cf->errorfiles, cf->nerrorfiles);
        l->nerrorfiles = cf->nerrorfiles;
        p->fes = tern_realloc(p->fes, (p->nfes + 1) * sizeof(*p->fes));
        fe = &p->fes[p->nfes++];
        fe->l = l;
        fe->own = p->c;
        fe->backend = dup_or_null(cf->default_backend);
        fe->line = cf->default_backend_line;
        fe->rules = NULL;
        finish_rules(p, l, fe);
    }
    if (p->c) {
        struct cluster *c = p->c;
        c->mode = cf->mode;
        c->lb_policy = cf->lb_policy;
        c->random_draws = cf->random_draws;
        c->hash_type = cf->hash_type;
        c->consistent_algo = cf->consistent_algo;
        c->timeout_queue_ms = cf->timeout_queue;
        c->timeout_tunnel_ms = cf->timeout_tunnel;
        c->timeout_check_ms = cf->timeout_check;
        c->retries = cf->retries;
        c->retry_on = cf->retry_on;
        memcpy(c->retry_status, cf->retry_status, sizeof(c->retry_status));
        c->redispatch = cf->redispatch;
        c->redispatch_interval = cf->redispatch_interval;
        c->allbackups = cf->allbackups;
        c->http_reuse = cf->http_reuse;
        c->http_mode = cf->http_mode;
        c->forwardfor = cf->forwardfor;
        c->forwardfor.header = dup_or_null(cf->forwardfor.header);
        c->error_header = cf->error_header;
        c->errorfiles = errorfiles_copy(cf->errorfiles, cf->nerrorfiles);
        c->nerrorfiles = cf->nerrorfiles;
        if (!p->l) {
            c->acls = p->acls;
            p->acls = NULL;
        }
        finish_cluster_health(p, c);
        c->fingerprint = cluster_fingerprint(c, cf->text_hash);
    }
    if (p->l || p->c)
        finish_filters(p, p->l, p->c);
    if (cf->mode == PROXY_MODE_TCP && cf->http_only_kw[0]) {
        /* HAProxy warns too, and ignores them */
        p->line = cf->http_only_line;
        p->kw = cf->http_only_kw;
        cfg_warn(p, "ignored: %s '%s' is mode tcp (this keyword needs mode http)", kind,
                 p->px_name);
        p->line = p->px_line;
        p->kw = kind;
    }
    for (uint32_t i = 0; p->l && cf->mode == PROXY_MODE_TCP && i < p->l->nbinds; i++) {
        if (p->l->binds[i].proto == BIND_PROTO_H2) {
            /* HAProxy refuses an HTTP mux on a TCP frontend too */
            p->line = p->l->binds[i].loc.line;
            p->kw = "bind";
            cfg_err(p, "'proto h2' needs mode http (%s '%s' is mode tcp)", kind, p->px_name);
            p->line = p->px_line;
            p->kw = kind;
        }
    }
    apply_timeouts(p, kind);
}

static void end_section(struct cfg *p)
{
    if (p->sec == SEC_DEFAULTS) {
        struct cfg_defaults *def = tern_calloc(1, sizeof(*def));
        def->name = p->def_name;
        def->line = p->px_line;
        def->conf = p->conf; /* moved */
        memset(&p->conf, 0, sizeof(p->conf));
        p->def_name = NULL;
        p->defs = tern_realloc(p->defs, (p->ndefs + 1) * sizeof(*p->defs));
        p->defs[p->ndefs++] = def;
        p->base = &def->conf;
    } else if (p->sec & (SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN)) {
        finish_proxy(p);
    }
    /* left over only when a section could not take them */
    free_filters(p);
    hm_config_free(p->hm);
    p->hm = NULL;
    free_rules(p->rules, p->nrules);
    p->rules = NULL;
    p->nrules = 0;
    acl_set_free(p->acls);
    p->acls = NULL;
    cfg_conf_free(&p->conf);
    free(p->px_name);
    free(p->def_name);
    p->px_name = NULL;
    p->def_name = NULL;
    p->l = NULL;
    p->c = NULL;
    p->nbind_lines = 0;
    p->sec = SEC_NONE;
}

/* `from <name>`: the named defaults section, or NULL after an error. */
static const struct proxy_conf *find_defaults(struct cfg *p, const char *name)
{
    const struct cfg_defaults *found = NULL;

    for (size_t i = 0; i < p->ndefs; i++) {
        const struct cfg_defaults *d = p->defs[i];
        if (!d->name || strcmp(d->name, name) != 0)
            continue;
        if (found) {
            cfg_err(p, "ambiguous defaults section name '%s' (declared at lines %d and %d)",
                    name, found->line, d->line);
            return NULL;
        }
        found = d;
    }
    if (!found) {
        cfg_err(p, "no defaults section named '%s' before this line", name);
        return NULL;
    }
    return &found->conf;
}

/*
 * Proxy names, as in HAProxy: two proxies may share a name unless their
 * capabilities overlap (a frontend and a backend may; a listen is both).
 */
static void register_name(struct cfg *p, enum cfg_sec sec, const char *name)
{
    unsigned caps = sec == SEC_FRONTEND  ? SEC_FRONTEND
                    : sec == SEC_BACKEND ? SEC_BACKEND
                                         : SEC_FRONTEND | SEC_BACKEND;
    struct cfg_pname *n;

    for (size_t k = 0; k < p->nnames; k++) {
        const struct cfg_pname *o = &p->names[k];
        if ((o->caps & caps) && strcmp(o->name, name) == 0) {
            cfg_err(p, "'%s' has the same name as %s '%s' declared at line %d", name, o->kind,
                    o->name, o->line);
            return;
        }
    }
    p->names = tern_realloc(p->names, (p->nnames + 1) * sizeof(*p->names));
    n = &p->names[p->nnames++];
    n->name = tern_strdup(name);
    n->caps = caps;
    n->kind = cfg_sec_name(sec);
    n->line = p->line;
}

static void begin_section(struct cfg *p, enum cfg_sec sec, char **av, size_t ac)
{
    const char *kind = av[0];
    const struct proxy_conf *base;
    const char *name = NULL;
    size_t i = 1;
    int line = p->line;

    end_section(p); /* a defaults section becomes p->base here */
    base = p->base;
    p->line = p->px_line = line;
    p->kw = kind;
    p->sec = sec;
    if (sec == SEC_SKIP) {
        cfg_err(p, "section not supported by tern (its lines are skipped)");
        return;
    }
    if (sec == SEC_GLOBAL) {
        if (ac > 1)
            cfg_err(p, "unexpected argument '%s' (global takes none)", av[1]);
        return;
    }
    if (sec == SEC_XDS) {
        cfg_xds_begin(p, av, ac);
        return;
    }

    /* defaults [<name>] [from <defaults>]; frontend|backend|listen <name> [from <defaults>] */
    if (i < ac && !(sec == SEC_DEFAULTS && strcmp(av[i], "from") == 0))
        name = av[i++];
    if (i < ac && strcmp(av[i], "from") == 0) {
        if (i + 1 >= ac) {
            cfg_err(p, "missing defaults section name after 'from'");
        } else {
            const struct proxy_conf *named = find_defaults(p, av[i + 1]);
            if (named)
                base = named;
        }
        i += 2;
    } else if (sec == SEC_DEFAULTS) {
        base = &p->builtin; /* a defaults section starts afresh */
    }
    if (i < ac)
        cfg_err(p, "unexpected argument '%s'%s", av[i],
                sec == SEC_DEFAULTS ? "" : " (listening addresses go on 'bind' lines)");
    cfg_conf_copy(&p->conf, base);
    p->conf.text_hash = tern_hash64(kind, strlen(kind) + 1, p->conf.text_hash);

    if (sec == SEC_DEFAULTS) {
        p->def_name = dup_or_null(name);
        p->px_name = tern_strdup(name ? name : "");
        if (name)
            cfg_valid_name(p, "defaults section", name);
        return;
    }

    if (!name) {
        cfg_err(p, "missing name (usage: %s <name>)", kind);
        name = "";
    } else if (cfg_valid_name(p, kind, name)) {
        register_name(p, sec, name);
    }
    p->px_name = tern_strdup(name);
    if (sec & (SEC_FRONTEND | SEC_LISTEN)) {
        p->l = snapshot_add_listener(p->snap, name);
        p->l->loc.file = p->snap->source;
        p->l->loc.line = p->line;
    }
    if (sec & (SEC_BACKEND | SEC_LISTEN)) {
        p->c = snapshot_add_cluster(p->snap, name);
        p->c->loc.file = p->snap->source;
        p->c->loc.line = p->line;
    }
}

/* ---- one line ------------------------------------------------------------- */

static bool is_family(const char *w)
{
    for (size_t i = 0; cfg_families[i]; i++)
        if (strcmp(w, cfg_families[i]) == 0)
            return true;
    return false;
}

/* Suggestion for an unknown keyword: among keywords tern handles (and, for a
 * first word, the families and the section names). */
static const char *suggest(const char *family, const char *word)
{
    const char *cand[256];
    size_t n = 0;
    size_t flen = family ? strlen(family) : 0;

    for (size_t i = 0; cfg_keywords[i].name && n < TERN_ARRAY_SIZE(cand); i++) {
        const struct cfg_kw *k = &cfg_keywords[i];
        if (k->kind == KW_UNSUPPORTED)
            continue;
        if (family) {
            if (strncmp(k->name, family, flen) == 0 && k->name[flen] == ' ')
                cand[n++] = k->name + flen + 1;
        } else if (!strchr(k->name, ' ')) {
            cand[n++] = k->name;
        }
    }
    if (!family) {
        for (size_t i = 0; cfg_families[i] && n < TERN_ARRAY_SIZE(cand); i++)
            cand[n++] = cfg_families[i];
        for (size_t i = 0; i < 5 && n < TERN_ARRAY_SIZE(cand); i++)
            cand[n++] = sections[i].name;
    }
    return cfg_closest(word, cand, n);
}

static void dispatch(struct cfg *p, char **av, size_t ac)
{
    const struct cfg_kw *found = NULL, *here = NULL;
    unsigned allowed = 0;
    size_t used = 1;
    bool family;
    char where[96];

    for (size_t i = 0; i < TERN_ARRAY_SIZE(sections); i++) {
        if (strcmp(av[0], sections[i].name) == 0) {
            begin_section(p, sections[i].sec, av, ac);
            return;
        }
    }
    if (p->sec == SEC_SKIP)
        return;
    if (p->sec & SEC_PROXY) /* each word with its NUL: "a b" and "ab" differ */
        for (size_t i = 0; i < ac; i++)
            p->conf.text_hash = tern_hash64(av[i], strlen(av[i]) + 1, p->conf.text_hash);
    p->neg = false;
    if (strcmp(av[0], "no") == 0) {
        if (ac == 1) {
            p->kw = "no";
            cfg_err(p, "missing keyword after 'no'");
            return;
        }
        p->neg = true;
        av++;
        ac--;
    }

    family = is_family(av[0]);
    if (family && ac < 2) {
        set_kw(p, p->neg ? "no" : av[0], p->neg ? av[0] : NULL, NULL);
        cfg_err(p, "missing argument (which %s?)", av[0]);
        return;
    }
    if (family) {
        used = 2;
        set_kw(p, p->neg ? "no" : av[0], p->neg ? av[0] : av[1], p->neg ? av[1] : NULL);
    } else {
        set_kw(p, p->neg ? "no" : av[0], p->neg ? av[0] : NULL, NULL);
    }
    if (!av[0][0]) {
        p->kw = "\"\"";
        cfg_err(p, "empty keyword");
        return;
    }

    for (size_t i = 0; cfg_keywords[i].name; i++) {
        const struct cfg_kw *k = &cfg_keywords[i];
        bool match = family ? strncmp(k->name, av[0], strlen(av[0])) == 0 &&
                                  k->name[strlen(av[0])] == ' ' &&
                                  strcmp(k->name + strlen(av[0]) + 1, av[1]) == 0
                            : strcmp(k->name, av[0]) == 0;
        if (!match)
            continue;
        if (!found)
            found = k;
        allowed |= k->secs;
        if (!here && (k->secs & p->sec))
            here = k;
    }
    /* `server` is also an xds keyword, unrelated to a backend's: where a
     * HAProxy section takes the word, do not point at the xds section */
    if (allowed & SEC_ALL)
        allowed &= ~(unsigned)SEC_XDS;

    if (p->sec == SEC_NONE) {
        const char *hint = found ? NULL : suggest(NULL, av[0]);
        if (hint && strcmp(hint, av[0]) != 0)
            cfg_err(p, "keyword outside any section; did you mean '%s'?", hint);
        else
            cfg_err(p, "keyword outside any section (a section starts with global, defaults, "
                       "frontend, backend or listen)");
        return;
    }
    if (!found) {
        const char *hint = suggest(family ? av[0] : NULL, family ? av[1] : av[0]);
        if (hint)
            cfg_err(p, "unknown keyword in '%s' section; did you mean '%s%s%s'?",
                    cfg_sec_name(p->sec), family ? av[0] : "", family ? " " : "", hint);
        else
            cfg_err(p, "unknown keyword in '%s' section", cfg_sec_name(p->sec));
        return;
    }
    if (found->kind == KW_UNSUPPORTED && !here) {
        cfg_err(p, "%s", found->note);
        return;
    }
    if (!here) {
        cfg_err(p, "not allowed in a '%s' section (only in %s)", cfg_sec_name(p->sec),
                cfg_sec_list(allowed, where, sizeof(where)));
        return;
    }
    if (p->neg && !here->negatable) {
        cfg_err(p, "'no' cannot be used with '%s'", here->name);
        return;
    }
    switch (here->kind) {
    case KW_ACCEPT:
        break;
    case KW_IGNORE:
        cfg_warn(p, "%s", here->note);
        break;
    case KW_UNSUPPORTED:
        cfg_err(p, "%s", here->note);
        break;
    case KW_HANDLE:
        if (strcmp(here->name, "bind") == 0)
            p->nbind_lines++;
        here->fn(p, av + used, ac - used);
        break;
    }
}

/* ---- whole file ----------------------------------------------------------- */

/* "no backend named ..." with a hint: a frontend of that name, or a close one. */
static void no_backend(struct cfg *p, const char *name)
{
    const char *cand[64];
    size_t n = 0;
    const char *hint;

    for (uint32_t j = 0; j < p->snap->nclusters && n < TERN_ARRAY_SIZE(cand); j++)
        cand[n++] = p->snap->clusters[j]->name;
    hint = cfg_closest(name, cand, n);
    if (snapshot_find_listener(p->snap, name))
        cfg_err(p, "no backend named '%s' ('%s' is a frontend)", name, name);
    else if (hint)
        cfg_err(p, "no backend named '%s'; did you mean '%s'?", name, hint);
    else
        cfg_err(p, "no backend named '%s'", name);
}

/* The backend called `name` if it exists and its mode is l's, else NULL
 * after an error at the current line. */
static struct cluster *find_backend(struct cfg *p, const struct cfg_feref *fe, const char *name)
{
    const struct listener *l = fe->l;
    struct cluster *c = snapshot_find_cluster(p->snap, name);

    if (!c) {
        no_backend(p, name);
        return NULL;
    }
    if (c->mode != l->mode) {
        cfg_err(p, "%s '%s' is mode %s but backend '%s' is mode %s (modes must match)",
                fe->own ? "listen" : "frontend", l->name, proxy_mode_name(l->mode), c->name,
                proxy_mode_name(c->mode));
        return NULL;
    }
    return c;
}

static void resolve_frontends(struct cfg *p)
{
    for (size_t i = 0; i < p->nfes; i++) {
        struct cfg_feref *fe = &p->fes[i];
        struct listener *l = fe->l;
        bool reported = false;

        if (l->nfilters && l->filters[0].ops == &header_mutation_filter)
            hm_config_set_max_hdrs(l->filters[0].cfg, p->snap->global.http_maxhdr);
        p->kw = "use_backend";
        for (uint32_t k = 0; k < l->nrules; k++) {
            p->line = fe->rules[k].line;
            l->rules[k].target = find_backend(p, fe, fe->rules[k].backend);
        }
        if (!fe->backend) {
            l->default_cluster = fe->own;
            if (!fe->own && !l->nrules) {
                p->line = l->loc.line;
                snprintf(p->kwbuf, sizeof(p->kwbuf), "frontend '%.100s'", l->name);
                p->kw = p->kwbuf;
                cfg_warn(p, "no default_backend: every connection will be closed at once");
            }
            continue;
        }
        p->line = fe->line;
        p->kw = "default_backend";
        if (!snapshot_find_cluster(p->snap, fe->backend)) {
            /* inherited from one defaults line: say it once */
            for (size_t j = 0; j < i && !reported; j++)
                reported = p->fes[j].line == fe->line && p->fes[j].backend &&
                           strcmp(p->fes[j].backend, fe->backend) == 0;
            if (reported)
                continue;
        }
        l->default_cluster = find_backend(p, fe, fe->backend);
    }
}

static void cfg_free(struct cfg *p)
{
    for (size_t i = 0; i < p->ndefs; i++) {
        free(p->defs[i]->name);
        cfg_conf_free(&p->defs[i]->conf);
        free(p->defs[i]);
    }
    free(p->defs);
    for (size_t i = 0; i < p->nnames; i++)
        free(p->names[i].name);
    free(p->names);
    for (size_t i = 0; i < p->nfes; i++) {
        free(p->fes[i].backend);
        free_rules(p->fes[i].rules, p->fes[i].l->nrules);
    }
    free(p->fes);
    cfg_conf_free(&p->builtin);
    free(p->err_lines);
    free(p->warn_lines);
}

struct snapshot *cfg_parse_buffer(const char *name, const char *text, size_t len,
                                  struct cfg_diag *d)
{
    struct cfg p;
    struct cfg_lexer lx;
    struct cfg_words w = {0};
    int last_line = 1;
    char err[256];
    int r;

    memset(&p, 0, sizeof(p));
    p.file = name;
    p.d = d;
    p.snap = snapshot_new(name);
    p.kw = "";
    p.errors_before = d->nerrors;
    p.warnings_before = d->nwarnings;
    cfg_conf_init(&p.builtin);
    p.base = &p.builtin;

    cfg_lex_init(&lx, text, len);
    while ((r = cfg_lex_next(&lx, &w, err, sizeof(err))) != 0) {
        p.line = w.line;
        if (r < 0) {
            /* a malformed bind line is still a bind line: no "no bind" error */
            if (w.n && strcmp(w.v[0], "bind") == 0)
                p.nbind_lines++;
            set_kw(&p, w.n ? w.v[0] : "syntax", NULL, NULL);
            cfg_err(&p, "%s", err);
            last_line = w.line;
            continue;
        }
        if (w.n == 0)
            continue;
        last_line = w.line;
        dispatch(&p, w.v, w.n);
    }
    cfg_words_free(&w);
    end_section(&p);
    resolve_frontends(&p);
    cfg_xds_finish(&p);
    if (p.snap->nlisteners == 0 && !p.snap->xds.enabled) {
        p.line = last_line;
        p.kw = "config";
        cfg_err(&p, "no frontend or listen section: nothing to listen on");
    }
    sort_by_line(d->errors, p.errors_before, d->nerrors, p.err_lines);
    sort_by_line(d->warnings, p.warnings_before, d->nwarnings, p.warn_lines);
    cfg_free(&p);
    if (d->nerrors > p.errors_before) {
        snapshot_unref(p.snap);
        return NULL;
    }
    return p.snap;
}

int cfg_read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            if (cap >= MAX_FILE_SIZE) {
                snprintf(err, errlen, "%s: file too large (more than %u MiB)", path,
                         MAX_FILE_SIZE >> 20);
                free(buf);
                close(fd);
                return -1;
            }
            cap = cap ? cap * 2 : 16384;
            buf = tern_realloc(buf, cap);
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;
}

struct snapshot *cfg_parse_file(const char *path, struct cfg_diag *d)
{
    struct snapshot *snap;
    char *buf, err[512];
    size_t len;

    if (cfg_read_text(path, &buf, &len, err, sizeof(err)) != 0) {
        cfg_diag_error(d, "%s", err);
        return NULL;
    }
    snap = cfg_parse_buffer(path, buf, len, d);
    free(buf);
    return snap;
}
