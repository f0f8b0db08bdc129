/*
 * cfg_keywords.c: the keywords tern understands, one handler each, and the
 * HAProxy keywords it knowingly ignores or refuses.
 *
 * A handler gets the words after the keyword (av[0..ac-1]) and either
 * updates the current section's settings (p->conf, the global model, or the
 * listener/cluster for binds and servers) or reports what is wrong with
 * cfg_err(); it never stops the parse. Values and defaults follow HAProxy
 * 2.6's configuration manual; where tern differs, the table's note says so.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/http/header_mutation/header_mutation.h"
#include "filters/registry.h"
#include "proxy/acl/acl.h"
#include "proxy/config/cfg_int.h"
#include "proxy/core/util.h"
#include "proxy/tls/tls_conf.h"

#define MAXCONN_MAX INT_MAX

/* ---- argument helpers --------------------------------------------------- */

/* Checks the argument count; reports and returns false when it is wrong. */
static bool nargs(struct cfg *p, char **av, size_t ac, size_t min, size_t max,
                  const char *usage)
{
    if (ac < min) {
        cfg_err(p, "missing argument (usage: %s %s)", p->kw, usage);
        return false;
    }
    if (ac > max) {
        cfg_err(p, "unexpected extra argument '%s' (usage: %s %s)", av[max], p->kw, usage);
        return false;
    }
    return true;
}

static bool get_int(struct cfg *p, const char *what, const char *s, long min, long max,
                    long *out)
{
    if (tern_parse_int(s, min, max, out) == 0)
        return true;
    cfg_err(p, "invalid %s '%s' (expected an integer from %ld to %ld)", what, s, min, max);
    return false;
}

static bool get_time(struct cfg *p, const char *what, const char *s, uint32_t *ms)
{
    if (tern_parse_duration_ms(s, ms) == 0)
        return true;
    cfg_err(p, "invalid %s '%s' (expected a number with an optional unit us, ms, s, m, h "
               "or d; no unit means ms)", what, s);
    return false;
}

/*
 * Parses one "addr:port" as HAProxy writes it, with an optional "ipv4@" or
 * "ipv6@" prefix. No DNS: names are errors.
 */
static bool get_addr(struct cfg *p, const char *s, struct sockaddr_storage *ss,
                     socklen_t *sslen)
{
    char err[256];
    const char *at = strchr(s, '@');
    int want = AF_UNSPEC;

    /* a family prefix is a short lowercase word: "ipv4@", "unix@", "fd@" */
    for (const char *c = s; at && c < at; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+'))
            at = NULL;
    if (at) {
        if (strncmp(s, "ipv4@", 5) == 0) {
            want = AF_INET;
        } else if (strncmp(s, "ipv6@", 5) == 0) {
            want = AF_INET6;
        } else {
            cfg_err(p, "address '%s': only IPv4 and IPv6 addresses are supported by tern", s);
            return false;
        }
        s = at + 1;
    }
    if (s[0] == '/') {
        cfg_err(p, "address '%s': UNIX sockets are not supported by tern", s);
        return false;
    }
    if (!*s) {
        cfg_err(p, "missing address (expected <address>:<port>)");
        return false;
    }
    if (tern_parse_addr(s, false, ss, sslen, err, sizeof(err)) != 0) {
        cfg_err(p, "%s", err);
        return false;
    }
    if (want != AF_UNSPEC && ss->ss_family != want) {
        cfg_err(p, "address '%s' is not an %s address", s, want == AF_INET ? "IPv4" : "IPv6");
        return false;
    }
    return true;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? tern_strdup(s) : NULL;
}

bool cfg_valid_name(struct cfg *p, const char *what, const char *name)
{
    if (!*name) {
        cfg_err(p, "empty %s name", what);
        return false;
    }
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == ':')) {
            cfg_err(p, "character '%c' is not permitted in %s name '%s' (use letters, digits, "
                       "'-', '_', '.' and ':')", *c, what, name);
            return false;
        }
    }
    return true;
}

/* ---- global --------------------------------------------------------------- */

static void kw_nbthread(struct cfg *p, char **av, size_t ac)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<number>") && get_int(p, "thread count", av[0], 1, 1024, &v))
        p->snap->global.nbthread = (uint32_t)v;
}

static void kw_global_maxconn(struct cfg *p, char **av, size_t ac)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<number>") &&
        get_int(p, "connection count", av[0], 0, MAXCONN_MAX, &v))
        p->snap->global.maxconn = (uint32_t)v;
}

static void kw_admin(struct cfg *p, char **av, size_t ac)
{
    struct model_global *g = &p->snap->global;
    if (nargs(p, av, ac, 1, 1, "<address>:<port>") &&
        get_addr(p, av[0], &g->admin_addr, &g->admin_addrlen))
        g->has_admin = true;
}

static void kw_grace(struct cfg *p, char **av, size_t ac)
{
    if (nargs(p, av, ac, 1, 1, "<time>"))
        get_time(p, "time", av[0], &p->snap->global.grace_ms);
}

static void kw_hard_stop_after(struct cfg *p, char **av, size_t ac)
{
    if (nargs(p, av, ac, 1, 1, "<time>"))
        get_time(p, "time", av[0], &p->snap->global.hard_stop_after_ms);
}

static void kw_bufsize(struct cfg *p, char **av, size_t ac)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<bytes>") &&
        get_int(p, "buffer size", av[0], 1024, 1048576, &v))
        p->snap->global.bufsize = (uint32_t)v;
}

static void kw_http_maxhdr(struct cfg *p, char **av, size_t ac)
{
    long v;
    /* HAProxy's bounds */
    if (nargs(p, av, ac, 1, 1, "<number>") &&
        get_int(p, "header count", av[0], 1, 32767, &v))
        p->snap->global.http_maxhdr = (uint32_t)v;
}

/* tune.h2.*: HAProxy 2.6's names, bounds and defaults (RFC 9113 6.5.2). */
static void kw_h2_tune(struct cfg *p, char **av, size_t ac, const char *what, long lo, long hi,
                       uint32_t *out)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<number>") && get_int(p, what, av[0], lo, hi, &v))
        *out = (uint32_t)v;
}

static void kw_h2_max_streams(struct cfg *p, char **av, size_t ac)
{
    kw_h2_tune(p, av, ac, "stream count", 1, 65535,
               &p->snap->global.h2_max_concurrent_streams);
}

static void kw_h2_header_table(struct cfg *p, char **av, size_t ac)
{
    kw_h2_tune(p, av, ac, "table size", 0, 65536, &p->snap->global.h2_header_table_size);
}

static void kw_h2_window(struct cfg *p, char **av, size_t ac)
{
    kw_h2_tune(p, av, ac, "window size", 0, 2147483647L,
               &p->snap->global.h2_initial_window_size);
}

static void kw_h2_frame(struct cfg *p, char **av, size_t ac)
{
    kw_h2_tune(p, av, ac, "frame size", 16384, 16777215L, &p->snap->global.h2_max_frame_size);
}

/* ---- proxies -------------------------------------------------------------- */

static void kw_mode(struct cfg *p, char **av, size_t ac)
{
    if (!nargs(p, av, ac, 1, 1, "tcp|http"))
        return;
    if (strcmp(av[0], "tcp") == 0)
        p->conf.mode = PROXY_MODE_TCP;
    else if (strcmp(av[0], "http") == 0)
        p->conf.mode = PROXY_MODE_HTTP;
    else if (strcmp(av[0], "health") == 0)
        cfg_err(p, "mode health is not supported by tern (use mode tcp)");
    else
        cfg_err(p, "unknown mode '%s' (expected tcp or http)", av[0]);
}

static bool bind_exists(struct cfg *p, const struct sockaddr_storage *ss, socklen_t len,
                        const char *text)
{
    for (uint32_t i = 0; i < p->snap->nlisteners; i++) {
        const struct listener *l = p->snap->listeners[i];
        for (uint32_t j = 0; j < l->nbinds; j++) {
            if (l->binds[j].addrlen == len && memcmp(&l->binds[j].addr, ss, len) == 0) {
                cfg_err(p, "address %s is already bound by %s '%s' at line %d", text,
                        l == p->l ? "this proxy" : "proxy", l->name, l->binds[j].loc.line);
                return true;
            }
        }
    }
    return false;
}

static const char *const bind_unsupported[] = {
    "accept-netscaler-cip", "accept-proxy", "allow-0rtt", "backlog",
    "ca-ignore-err", "ca-sign-file", "crl-file",
    "crt-ignore-err", "crt-list", "curves", "defer-accept", "ecdhe", "expose-fd", "gid",
    "group", "id", "interface", "level", "maxconn", "mode", "mss", "name", "namespace", "nice",
    "no-ca-names", "no-sslv3", "no-tls-tickets", "no-tlsv10", "no-tlsv11", "no-tlsv12",
    "no-tlsv13", "npn", "prefer-client-ciphers", "process", "quic-cc-algo",
    "quic-force-retry", "severity-output", "shards",
    "tcp-ut", "tfo", "thread", "tls-ticket-keys", "transparent", "uid", "user",
    "v4v6", "v6only",
};

/* The bind options tern handles (TLS termination, HAProxy's meanings). */
static const char *const bind_options[] = {
    "ssl", "crt", "alpn", "ca-file", "verify", "ssl-min-ver", "ssl-max-ver", "ciphers",
    "ciphersuites", "strict-sni",
};

static bool get_tls_version(struct cfg *p, const char *what, const char *v, enum tls_version *out)
{
    if (strcmp(v, "TLSv1.2") == 0) {
        *out = TLS_VERSION_12;
    } else if (strcmp(v, "TLSv1.3") == 0) {
        *out = TLS_VERSION_13;
    } else if (strcmp(v, "SSLv3") == 0 || strcmp(v, "TLSv1.0") == 0 ||
               strcmp(v, "TLSv1.1") == 0) {
        cfg_err(p, "%s %s: tern refuses TLS versions below 1.2 (RFC 8996)", what, v);
        return false;
    } else {
        cfg_err(p, "invalid %s '%s' (expected TLSv1.2 or TLSv1.3)", what, v);
        return false;
    }
    return true;
}

/*
 * Parses the options of a bind line (av[1..ac-1]). Returns a TLS config when
 * `ssl` is among them, NULL otherwise (and on errors, reported). `report`:
 * errors are reported (the first address of the line only).
 */
static struct tls_bind *bind_opts_parse(struct cfg *p, char **av, size_t ac, bool report,
                                        bool *bad, enum bind_proto *proto)
{
    struct tls_bind *tb = tls_bind_new();
    bool ssl = false, tls_opt = false;

    *bad = false;
    for (size_t i = 1; i < ac && !*bad; i++) {
        const char *k = av[i], *v = i + 1 < ac ? av[i + 1] : NULL;
        bool takes_value = strcmp(k, "crt") == 0 || strcmp(k, "alpn") == 0 ||
                           strcmp(k, "ca-file") == 0 || strcmp(k, "verify") == 0 ||
                           strcmp(k, "ssl-min-ver") == 0 || strcmp(k, "ssl-max-ver") == 0 ||
                           strcmp(k, "ciphers") == 0 || strcmp(k, "ciphersuites") == 0;
        bool known = false;

        if (takes_value && !v) {
            if (report)
                cfg_err(p, "missing value after '%s'", k);
            *bad = true;
            break;
        }
        if (strcmp(k, "ssl") == 0) {
            ssl = true;
            continue;
        }
        if (strcmp(k, "proto") == 0) {
            /* HAProxy's mux names for an HTTP bind: h1, h2 */
            if (!v || (strcmp(v, "h2") != 0 && strcmp(v, "h1") != 0)) {
                if (report)
                    cfg_err(p, v ? "bind option 'proto': unknown protocol '%s' (expected h1 or "
                                   "h2)"
                                 : "bind option 'proto' expects a protocol name (h1 or h2)%s",
                            v ? v : "");
                *bad = true;
                break;
            }
            *proto = strcmp(v, "h2") == 0 ? BIND_PROTO_H2 : BIND_PROTO_H1;
            i++;
            continue;
        }
        if (strcmp(k, "strict-sni") == 0) {
            tb->strict_sni = true;
            tls_opt = true;
            continue;
        }
        if (takes_value) {
            tls_opt = true;
            i++;
            if (strcmp(k, "crt") == 0) {
                tb->crt = tern_realloc(tb->crt, (tb->ncrt + 1) * sizeof(*tb->crt));
                tb->crt[tb->ncrt++] = tern_strdup(v);
            } else if (strcmp(k, "alpn") == 0) {
                set_str(&tb->alpn, v);
            } else if (strcmp(k, "ca-file") == 0) {
                set_str(&tb->ca_file, v);
            } else if (strcmp(k, "ciphers") == 0) {
                set_str(&tb->ciphers, v);
            } else if (strcmp(k, "ciphersuites") == 0) {
                set_str(&tb->ciphersuites, v);
            } else if (strcmp(k, "verify") == 0) {
                if (strcmp(v, "none") == 0)
                    tb->verify = TLS_VERIFY_NONE;
                else if (strcmp(v, "optional") == 0)
                    tb->verify = TLS_VERIFY_OPTIONAL;
                else if (strcmp(v, "required") == 0)
                    tb->verify = TLS_VERIFY_REQUIRED;
                else {
                    if (report)
                        cfg_err(p, "invalid verify '%s' (expected none, optional or required)",
                                v);
                    *bad = true;
                }
            } else if (strcmp(k, "ssl-min-ver") == 0) {
                *bad = !get_tls_version(p, k, v, &tb->min_version);
            } else if (strcmp(k, "ssl-max-ver") == 0) {
                *bad = !get_tls_version(p, k, v, &tb->max_version);
            }
            continue;
        }
        for (size_t j = 0; j < TERN_ARRAY_SIZE(bind_unsupported); j++)
            known |= strcmp(k, bind_unsupported[j]) == 0;
        *bad = true;
        if (!report)
            break;
        if (known) {
            cfg_err(p, "bind option '%s' is not supported by tern", k);
        } else {
            const char *hint = cfg_closest(k, bind_options, TERN_ARRAY_SIZE(bind_options));
            if (!hint)
                hint = cfg_closest(k, bind_unsupported, TERN_ARRAY_SIZE(bind_unsupported));
            if (strchr(k, ':'))
                cfg_err(p, "unexpected argument '%s' (several addresses go in one word, "
                           "separated by commas)", k);
            else if (hint)
                cfg_err(p, "unknown bind option '%s' (did you mean '%s'?)", k, hint);
            else
                cfg_err(p, "unknown bind option '%s'", k);
        }
    }
    if (!*bad && tls_opt && !ssl) {
        if (report)
            cfg_err(p, "TLS options (crt, alpn, verify...) need 'ssl' on the same bind line");
        *bad = true;
    }
    if (*bad || !ssl) {
        tls_bind_free(tb);
        return NULL;
    }
    tb->file = p->snap->source;
    tb->line = p->line;
    return tb;
}

static void kw_bind(struct cfg *p, char **av, size_t ac)
{
    char *list, *save = NULL, *tok;
    struct listener *l = p->l;
    bool first = true, bad = false;
    enum bind_proto proto = BIND_PROTO_DEFAULT;

    if (!nargs(p, av, ac, 1, CFG_MAX_ARGS, "<address>:<port>[,...] [options]"))
        return;
    if (!av[0][0]) {
        cfg_err(p, "missing address (expected <address>:<port>)");
        return;
    }
    list = tern_strdup(av[0]);
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct sockaddr_storage ss;
        socklen_t sslen;
        struct tls_bind *tb = bind_opts_parse(p, av, ac, first, &bad, &proto);
        first = false;
        if (bad || !get_addr(p, tok, &ss, &sslen) || bind_exists(p, &ss, sslen, tok)) {
            tls_bind_free(tb);
            continue;
        }
        l->binds = tern_realloc(l->binds, (l->nbinds + 1) * sizeof(*l->binds));
        memset(&l->binds[l->nbinds], 0, sizeof(*l->binds));
        l->binds[l->nbinds].addr = ss;
        l->binds[l->nbinds].addrlen = sslen;
        l->binds[l->nbinds].tls = tb;
        l->binds[l->nbinds].proto = proto;
        l->binds[l->nbinds].loc.file = p->snap->source;
        l->binds[l->nbinds].loc.line = p->line;
        l->nbinds++;
    }
    if (av[0][0] == ',' || av[0][strlen(av[0]) - 1] == ',' || strstr(av[0], ",,"))
        cfg_err(p, "empty address in '%s'", av[0]);
    free(list);
}

static void kw_default_backend(struct cfg *p, char **av, size_t ac)
{
    if (!nargs(p, av, ac, 1, 1, "<backend>"))
        return;
    set_str(&p->conf.default_backend, av[0]);
    p->conf.default_backend_line = p->line;
}

/* acl <name> <criterion> [flags] [operator] <value> ...: the section's named
 * conditions (proxy/acl). Several lines with one name are ORed. */
static void kw_acl(struct cfg *p, char **av, size_t ac)
{
    char err[512];

    if (!nargs(p, av, ac, 2, CFG_MAX_ARGS, "<name> <criterion> [flags] [operator] <value> ..."))
        return;
    if (!p->acls)
        p->acls = acl_set_new();
    if (acl_set_add(p->acls, av[0], (int)ac - 1, av + 1, err, sizeof(err)) != 0)
        cfg_err(p, "%s", err);
}

/*
 * use_backend <backend> if|unless <condition>: the condition is parsed here
 * against the ACLs declared above it (as in HAProxy); where it may run
 * (mode) and the backend name are checked when the section and the file
 * end (cfg_parse.c).
 */
static void kw_use_backend(struct cfg *p, char **av, size_t ac)
{
    static const char usage[] = "<backend> if|unless <condition>";
    struct acl_cond *cond = NULL;
    struct cfg_rule *r;
    char err[512];

    if (!nargs(p, av, ac, 1, CFG_MAX_ARGS, usage))
        return;
    if (strstr(av[0], "%[")) {
        cfg_err(p, "dynamic backend name '%s' is not supported by tern", av[0]);
        return;
    }
    if (ac == 1) {
        cfg_err(p, "missing condition (usage: %s %s; use 'default_backend' for a backend "
                   "without condition)", p->kw, usage);
        return;
    }
    if (acl_cond_parse(p->acls, (int)ac - 1, av + 1, &cond, err, sizeof(err)) != 0) {
        cfg_err(p, "%s", err);
        return;
    }
    p->rules = tern_realloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
    r = &p->rules[p->nrules++];
    r->cond = cond;
    r->backend = tern_strdup(av[0]);
    r->line = p->line;
}

/*
 * tcp-request inspect-delay <time>
 * tcp-request content accept|reject [if|unless <condition>]
 * HAProxy's meaning, for mode tcp frontends: hold the connection up to the
 * delay while the content rules cannot decide yet on what the client sent.
 * The other tcp-request forms (connection, session, other actions) are
 * refused by name. The condition is parsed against the ACLs above the line;
 * the mode is checked when the section ends (cfg_parse.c).
 */
static void kw_tcp_request(struct cfg *p, char **av, size_t ac)
{
    struct listener *l = p->l;
    struct tcp_content_rule *r;
    struct acl_cond *cond = NULL;
    char err[512];

    if (!nargs(p, av, ac, 2, CFG_MAX_ARGS, "inspect-delay <time> | content accept|reject "
                                           "[if|unless <condition>]"))
        return;
    if (strcmp(av[0], "inspect-delay") == 0) {
        if (ac != 2) {
            cfg_err(p, "inspect-delay: unexpected extra argument '%s'", av[2]);
            return;
        }
        get_time(p, "inspect-delay", av[1], &l->inspect_delay_ms);
        return;
    }
    if (strcmp(av[0], "content") != 0) {
        cfg_err(p, "'tcp-request %s' is not supported by tern (supported: inspect-delay, "
                   "content accept|reject)", av[0]);
        return;
    }
    if (strcmp(av[1], "accept") != 0 && strcmp(av[1], "reject") != 0) {
        cfg_err(p, "content: action '%s' is not supported by tern (supported: accept, reject)",
                av[1]);
        return;
    }
    if (ac > 2 && acl_cond_parse(p->acls, (int)ac - 2, av + 2, &cond, err, sizeof(err)) != 0) {
        cfg_err(p, "%s", err);
        return;
    }
    l->tcp_rules = tern_realloc(l->tcp_rules, (l->ntcp_rules + 1) * sizeof(*l->tcp_rules));
    r = &l->tcp_rules[l->ntcp_rules++];
    r->action = strcmp(av[1], "accept") == 0 ? TCP_CONTENT_ACCEPT : TCP_CONTENT_REJECT;
    r->cond = cond;
    r->payload = acl_cond_uses_payload(cond);
    r->line = p->line;
}

/* HAProxy's own filters: named in the message when a config uses one. */
static const char *const haproxy_filters[] = {
    "trace", "compression", "cache", "spoe", "fcgi-app", "bwlim-in", "bwlim-out",
};

/*
 * filter <name> [args...]: a registered HTTP filter (filters/registry.c),
 * appended to the section's chain; the filter parses its own arguments.
 * Whether the proxy is mode http is checked when the section ends (the
 * mode may come later in the section).
 */
static void kw_filter(struct cfg *p, char **av, size_t ac)
{
    const struct http_filter_ops *ops;
    struct cfg_filter *f;
    void *cfg = NULL;
    char err[512];

    if (!nargs(p, av, ac, 1, CFG_MAX_ARGS, "<name> [args...]"))
        return;
    ops = filter_find(av[0]);
    if (!ops) {
        const char *cand[FILTER_REGISTRY_MAX];
        size_t n = filter_count(), len = 0;
        const char *hint;
        char names[256];

        for (size_t i = 0; i < n; i++)
            cand[i] = filter_at(i)->name;
        hint = cfg_closest(av[0], cand, n);
        if (hint) {
            cfg_err(p, "unknown filter '%s'; did you mean '%s'?", av[0], hint);
            return;
        }
        names[0] = 0;
        for (size_t i = 0; i < n && len < sizeof(names); i++)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                    cand[i]);
        for (size_t i = 0; i < sizeof(haproxy_filters) / sizeof(haproxy_filters[0]); i++) {
            if (strcmp(av[0], haproxy_filters[i]) == 0) {
                cfg_err(p, "HAProxy's filter '%s' is not supported by tern (tern's filters: "
                           "%s)", av[0], names);
                return;
            }
        }
        cfg_err(p, "unknown filter '%s' (tern's filters: %s)", av[0], names);
        return;
    }
    if (network_filter_find(av[0])) {
        /* also a network filter: parsed when the section ends, by the
         * HTTP or the network parser as the section's mode says */
        p->filters = tern_realloc(p->filters, (p->nfilters + 1) * sizeof(*p->filters));
        f = &p->filters[p->nfilters++];
        memset(f, 0, sizeof(*f));
        f->ops = ops;
        f->line = p->line;
        f->nargs = ac - 1 > INT_MAX ? INT_MAX : (int)(ac - 1);
        f->args = tern_calloc((size_t)f->nargs + 1, sizeof(*f->args));
        for (int i = 0; i < f->nargs; i++)
            f->args[i] = tern_strdup(av[i + 1]);
        return;
    }
    err[0] = 0;
    if (ops->config_parse(ac - 1 > INT_MAX ? INT_MAX : (int)(ac - 1), av + 1, &cfg, err,
                          sizeof(err)) != 0) {
        cfg_err(p, "%s: %s", ops->name, err[0] ? err : "invalid arguments");
        return;
    }
    p->filters = tern_realloc(p->filters, (p->nfilters + 1) * sizeof(*p->filters));
    f = &p->filters[p->nfilters++];
    memset(f, 0, sizeof(*f));
    f->ops = ops;
    f->cfg = cfg;
    f->line = p->line;
}

/*
 * http-request / http-response <action> ... [if|unless <cond>] and the
 * section keyword redirect: rules of the section's implicit header-mutation
 * filter (filters/http/header_mutation), which runs first in the chain. The
 * condition is parsed against the ACLs declared above the line. A
 * backend's rules run once a request is routed to it (the backend's chain).
 */
static void add_hm_rule(struct cfg *p, enum hm_dir dir, char **av, size_t ac)
{
    char err[640];

    if (!p->hm) {
        p->hm = hm_config_new(p->snap->global.http_maxhdr);
        p->hm_line = p->line;
        snprintf(p->hm_kw, sizeof(p->hm_kw), "%s", p->kw);
    }
    if (hm_config_add(p->hm, dir, p->acls, ac > INT_MAX ? INT_MAX : (int)ac, av,
                      p->snap->global.bufsize, err, sizeof(err)) != 0)
        cfg_err(p, "%s", err);
}

static void kw_http_request(struct cfg *p, char **av, size_t ac)
{
    add_hm_rule(p, HM_REQUEST, av, ac);
}

static void kw_http_response(struct cfg *p, char **av, size_t ac)
{
    add_hm_rule(p, HM_RESPONSE, av, ac);
}

/* redirect location|prefix|scheme ...: the same as `http-request redirect`. */
static void kw_redirect(struct cfg *p, char **av, size_t ac)
{
    char *words[CFG_MAX_ARGS + 1];

    if (ac >= CFG_MAX_ARGS) {
        cfg_err(p, "too many arguments");
        return;
    }
    words[0] = "redirect";
    memcpy(words + 1, av, ac * sizeof(*av));
    add_hm_rule(p, HM_REQUEST, words, ac + 1);
}

/* HAProxy's list of the statuses errorfile can replace. */
static const uint16_t errorfile_codes[] = {
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
};

/* errorfile <status> <file>: loaded and validated now (cfg_errorfile.c); a
 * later line for the same status replaces an earlier (or inherited) one. */
static void kw_errorfile(struct cfg *p, char **av, size_t ac)
{
    struct http_errorfile ef;
    struct proxy_conf *c = &p->conf;
    char err[512];
    bool handled = false;
    long st;

    if (!nargs(p, av, ac, 2, 2, "<status> <file>") ||
        !get_int(p, "status code", av[0], 100, 599, &st))
        return;
    for (size_t i = 0; i < sizeof(errorfile_codes) / sizeof(errorfile_codes[0]); i++)
        handled |= errorfile_codes[i] == st;
    if (!handled) {
        cfg_warn(p, "status code %ld not handled by 'errorfile', error customization will be "
                    "ignored (handled: 200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, "
                    "429, 500, 501, 502, 503, 504)", st);
        return;
    }
    if (cfg_errorfile_load(av[1], (uint16_t)st, p->snap->global.bufsize, &ef, err,
                           sizeof(err)) != 0) {
        cfg_err(p, "%s", err);
        return;
    }
    for (uint32_t i = 0; i < c->nerrorfiles; i++) {
        if (c->errorfiles[i].status == ef.status) {
            free(c->errorfiles[i].raw);
            c->errorfiles[i] = ef;
            return;
        }
    }
    c->errorfiles = tern_realloc(c->errorfiles, (c->nerrorfiles + 1) * sizeof(*c->errorfiles));
    c->errorfiles[c->nerrorfiles++] = ef;
}

static void kw_maxconn(struct cfg *p, char **av, size_t ac)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<number>") &&
        get_int(p, "connection count", av[0], 0, MAXCONN_MAX, &v))
        p->conf.maxconn = (uint32_t)v;
}

static const char *const balance_algos[] = {
    "roundrobin", "static-rr", "leastconn", "first", "source", "random",
};

static void kw_balance(struct cfg *p, char **av, size_t ac)
{
    const char *a;
    static const char usage[] = "roundrobin|static-rr|leastconn|first|source|random[(<draws>)]";

    if (!nargs(p, av, ac, 1, CFG_MAX_ARGS, usage))
        return;
    a = av[0];
    if (strcmp(a, "uri") == 0 || strcmp(a, "url_param") == 0 || strncmp(a, "hdr(", 4) == 0 ||
        strncmp(a, "rdp-cookie", 10) == 0 || strcmp(a, "hash") == 0) {
        cfg_err(p, "algorithm '%s' is not supported by tern (it needs mode http)", a);
        return;
    }
    if (ac > 1) {
        cfg_err(p, "unexpected extra argument '%s' (usage: balance %s)", av[1], usage);
        return;
    }
    if (strcmp(a, "roundrobin") == 0) {
        p->conf.lb_policy = LB_ROUNDROBIN;
    } else if (strcmp(a, "static-rr") == 0) {
        p->conf.lb_policy = LB_STATIC_RR;
    } else if (strcmp(a, "leastconn") == 0) {
        p->conf.lb_policy = LB_LEASTCONN;
    } else if (strcmp(a, "first") == 0) {
        p->conf.lb_policy = LB_FIRST;
    } else if (strcmp(a, "source") == 0) {
        p->conf.lb_policy = LB_SOURCE;
    } else if (strcmp(a, "random") == 0) {
        p->conf.lb_policy = LB_RANDOM;
        p->conf.random_draws = 2;
    } else if (strncmp(a, "random(", 7) == 0) {
        size_t n = strlen(a);
        char num[32];
        long v;
        if (a[n - 1] != ')' || n - 8 >= sizeof(num)) {
            cfg_err(p, "invalid '%s' (expected random(<draws>), e.g. random(2))", a);
            return;
        }
        memcpy(num, a + 7, n - 8);
        num[n - 8] = 0;
        if (get_int(p, "number of draws", num, 1, 100, &v)) {
            p->conf.lb_policy = LB_RANDOM;
            p->conf.random_draws = (uint32_t)v;
        }
    } else {
        const char *hint = cfg_closest(a, balance_algos, TERN_ARRAY_SIZE(balance_algos));
        if (hint)
            cfg_err(p, "unknown algorithm '%s'; did you mean '%s'?", a, hint);
        else
            cfg_err(p, "unknown algorithm '%s' (expected %s)", a, usage);
    }
}

static void kw_hash_type(struct cfg *p, char **av, size_t ac)
{
    static const char usage[] = "map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]";
    static const char *const funcs[] = {"sdbm", "djb2", "wt6", "crc32"};
    const char *ignored = NULL;

    if (!nargs(p, av, ac, 1, 3, usage))
        return;
    if (strcmp(av[0], "map-based") == 0) {
        p->conf.hash_type = LB_HASH_MAP_BASED;
    } else if (strcmp(av[0], "consistent") == 0) {
        p->conf.hash_type = LB_HASH_CONSISTENT;
    } else {
        cfg_err(p, "unknown hash method '%s' (expected map-based or consistent)", av[0]);
        return;
    }
    if (ac >= 2) {
        bool ok = false;
        for (size_t i = 0; i < TERN_ARRAY_SIZE(funcs); i++)
            ok |= strcmp(av[1], funcs[i]) == 0;
        if (!ok) {
            cfg_err(p, "unknown hash function '%s' (expected sdbm, djb2, wt6 or crc32)", av[1]);
            return;
        }
        ignored = av[1];
    }
    if (ac == 3) {
        if (strcmp(av[2], "avalanche") != 0) {
            cfg_err(p, "unknown hash modifier '%s' (expected avalanche)", av[2]);
            return;
        }
    }
    if (ignored)
        cfg_warn(p, "hash function '%s'%s ignored: tern always uses its own hash "
                    "(FNV-1a with a murmur3 finalizer)", ignored,
                 ac == 3 ? " and modifier 'avalanche'" : "");
}

static void kw_consistent_hash(struct cfg *p, char **av, size_t ac)
{
    if (!nargs(p, av, ac, 1, 1, "ring|maglev"))
        return;
    if (strcmp(av[0], "ring") == 0)
        p->conf.consistent_algo = LB_CONSISTENT_RING;
    else if (strcmp(av[0], "maglev") == 0)
        p->conf.consistent_algo = LB_CONSISTENT_MAGLEV;
    else
        cfg_err(p, "unknown consistent-hash implementation '%s' (expected ring or maglev)",
                av[0]);
}

/* ---- servers -------------------------------------------------------------- */

static const char *const srv_options[] = {
    "weight", "maxconn", "maxqueue", "check", "no-check", "inter", "rise", "fall",
    "backup", "no-backup", "disabled", "enabled", "pool-max-conn", "pool-purge-delay",
    "ssl", "no-ssl", "verify", "ca-file", "crt", "sni", "alpn", "verifyhost", "check-ssl",
    "proto", "check-sni",
};

static const char *const srv_unsupported[] = {
    "addr", "agent-addr", "agent-check", "agent-inter", "agent-port", "agent-send",
    "check-send-proxy", "ciphers", "cookie",
    "downinter", "error-limit", "fastinter", "id", "init-addr", "log-proto", "minconn",
    "no-tls-tickets", "no-verifyhost", "non-stick", "observe", "on-error",
    "on-marked-down", "on-marked-up", "pool-low-conn",
    "port", "redir", "resolve-opts", "resolve-prefer", "resolvers", "send-proxy",
    "send-proxy-v2", "slowstart", "socks4", "source", "ssl-max-ver",
    "ssl-min-ver", "stick", "tfo", "track", "ws",
};

/* Parses server options av[0..ac-1] into o. */
static void srv_opts_parse(struct cfg *p, char **av, size_t ac, struct srv_opts *o)
{
    for (size_t i = 0; i < ac; i++) {
        const char *k = av[i];
        const char *v = i + 1 < ac ? av[i + 1] : NULL;
        long n;
        bool needs_value = strcmp(k, "weight") == 0 || strcmp(k, "maxconn") == 0 ||
                           strcmp(k, "maxqueue") == 0 || strcmp(k, "inter") == 0 ||
                           strcmp(k, "rise") == 0 || strcmp(k, "fall") == 0 ||
                           strcmp(k, "pool-max-conn") == 0 ||
                           strcmp(k, "pool-purge-delay") == 0 || strcmp(k, "verify") == 0 ||
                           strcmp(k, "ca-file") == 0 || strcmp(k, "crt") == 0 ||
                           strcmp(k, "sni") == 0 || strcmp(k, "alpn") == 0 ||
                           strcmp(k, "verifyhost") == 0 || strcmp(k, "proto") == 0;
        char *dst = NULL;

        if (needs_value && !v) {
            cfg_err(p, "missing value after '%s'", k);
            return;
        }
        if (strcmp(k, "weight") == 0) {
            if (get_int(p, "weight", v, 0, 256, &n))
                o->weight = (uint32_t)n;
            i++;
        } else if (strcmp(k, "maxconn") == 0) {
            if (get_int(p, "maxconn", v, 0, MAXCONN_MAX, &n))
                o->maxconn = (uint32_t)n;
            i++;
        } else if (strcmp(k, "maxqueue") == 0) {
            if (get_int(p, "maxqueue", v, 0, MAXCONN_MAX, &n))
                o->maxqueue = (uint32_t)n;
            i++;
        } else if (strcmp(k, "inter") == 0) {
            uint32_t ms;
            if (get_time(p, "inter", v, &ms)) {
                if (ms == 0)
                    cfg_err(p, "invalid inter '%s' (must be greater than 0)", v);
                else
                    o->inter_ms = ms;
            }
            i++;
        } else if (strcmp(k, "rise") == 0) {
            if (get_int(p, "rise", v, 1, 1000, &n))
                o->rise = (uint32_t)n;
            i++;
        } else if (strcmp(k, "fall") == 0) {
            if (get_int(p, "fall", v, 1, 1000, &n))
                o->fall = (uint32_t)n;
            i++;
        } else if (strcmp(k, "pool-max-conn") == 0) {
            /* HAProxy: -1 (default) no limit, 0 no idle connection kept */
            if (get_int(p, "pool-max-conn", v, -1, MAXCONN_MAX, &n))
                o->pool_max_conn = (int32_t)n;
            i++;
        } else if (strcmp(k, "pool-purge-delay") == 0) {
            uint32_t ms;
            if (get_time(p, "pool-purge-delay", v, &ms))
                o->pool_purge_delay = ms;
            i++;
        } else if (strcmp(k, "proto") == 0) {
            /* HAProxy's mux names: h2 (HTTP/2 with prior knowledge, or
             * over ssl), h1 */
            if (strcmp(v, "h2") == 0)
                o->proto_h2 = true;
            else if (strcmp(v, "h1") == 0)
                o->proto_h2 = false;
            else
                cfg_err(p, "server option 'proto': unknown protocol '%s' (expected h1 or h2)",
                        v);
            i++;
        } else if (strcmp(k, "ssl") == 0) {
            o->tls.ssl = true;
        } else if (strcmp(k, "no-ssl") == 0) {
            o->tls.ssl = false;
        } else if (strcmp(k, "check-ssl") == 0) {
            /* checks go to the traffic port, so over TLS whenever the server
             * has `ssl` (HAProxy's rule without `port`/`addr`) */
            if (!o->tls.ssl)
                cfg_err(p, "check-ssl without 'ssl': tern checks the traffic port, so its "
                           "checks use TLS exactly when the server does");
        } else if (strcmp(k, "verify") == 0) {
            if (strcmp(v, "none") == 0)
                o->tls.verify = TLS_VERIFY_NONE;
            else if (strcmp(v, "required") == 0)
                o->tls.verify = TLS_VERIFY_REQUIRED;
            else
                cfg_err(p, "invalid verify '%s' (expected none or required)", v);
            o->tls.verify_set = true;
            i++;
        } else if (strcmp(k, "sni") == 0) {
            char err[256];
            if (tls_sni_expr_parse(v, &o->tls, err, sizeof(err)) != 0)
                cfg_err(p, "%s", err);
            i++;
        } else if ((strcmp(k, "ca-file") == 0 && (dst = o->tls.ca_file)) ||
                   (strcmp(k, "crt") == 0 && (dst = o->tls.crt)) ||
                   (strcmp(k, "alpn") == 0 && (dst = o->tls.alpn)) ||
                   (strcmp(k, "verifyhost") == 0 && (dst = o->tls.verifyhost)) ||
                   (strcmp(k, "check-sni") == 0 && (dst = o->tls.check_sni))) {
            if (strlen(v) >= TLS_OPT_MAX)
                cfg_err(p, "%s: value longer than %d bytes", k, TLS_OPT_MAX - 1);
            else
                memcpy(dst, v, strlen(v) + 1);
            i++;
        } else if (strcmp(k, "check") == 0) {
            o->check = true;
        } else if (strcmp(k, "no-check") == 0) {
            o->check = false;
        } else if (strcmp(k, "backup") == 0) {
            o->backup = true;
        } else if (strcmp(k, "no-backup") == 0) {
            o->backup = false;
        } else if (strcmp(k, "disabled") == 0) {
            o->disabled = true;
        } else if (strcmp(k, "enabled") == 0) {
            o->disabled = false;
        } else {
            bool known = false;
            const char *hint;
            for (size_t j = 0; j < TERN_ARRAY_SIZE(srv_unsupported); j++)
                known |= strcmp(k, srv_unsupported[j]) == 0;
            if (known) {
                /* what follows may be its value: one error is enough */
                cfg_err(p, "server option '%s' is not supported by tern", k);
                return;
            }
            hint = cfg_closest(k, srv_options, TERN_ARRAY_SIZE(srv_options));
            if (hint)
                cfg_err(p, "unknown server option '%s'; did you mean '%s'?", k, hint);
            else
                cfg_err(p, "unknown server option '%s' (expected weight, maxconn, maxqueue, "
                           "check, inter, rise, fall, backup, disabled, pool-max-conn or "
                           "pool-purge-delay)", k);
            return; /* the rest is likely garbage: one error is enough */
        }
    }
}

static void kw_server(struct cfg *p, char **av, size_t ac)
{
    struct cluster *c = p->c;
    struct srv_opts o = p->conf.defsrv;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    const struct endpoint *dup;
    struct endpoint *ep;
    bool ok = true;

    if (ac < 2) {
        cfg_err(p, "missing %s (usage: server <name> <address>:<port> [options])",
                ac == 0 ? "name and address" : "address");
        return;
    }
    if (!cfg_valid_name(p, "server", av[0]))
        ok = false;
    dup = ok ? cluster_find_endpoint(c, av[0]) : NULL;
    if (dup) {
        cfg_err(p, "duplicate server name '%s' in %s '%s' (first defined at line %d)", av[0],
                cfg_sec_name(p->sec), c->name, dup->loc.line);
        ok = false;
    }
    if (!get_addr(p, av[1], &ss, &sslen))
        ok = false;
    srv_opts_parse(p, av + 2, ac - 2, &o);
    if (!ok)
        return;
    ep = cluster_add_endpoint(c, av[0]);
    ep->addr = ss;
    ep->addrlen = sslen;
    ep->weight = o.weight;
    ep->maxconn = o.maxconn;
    ep->maxqueue = o.maxqueue;
    ep->backup = o.backup;
    ep->disabled = o.disabled;
    ep->check = o.check;
    ep->inter_ms = o.inter_ms;
    ep->rise = o.rise;
    ep->fall = o.fall;
    ep->pool_max_conn = o.pool_max_conn;
    ep->proto_h2 = o.proto_h2;
    ep->pool_purge_delay_ms = o.pool_purge_delay;
    if (o.tls.ssl) {
        char err[512];
        ep->tls = tls_upstream_new(&o.tls, err, sizeof(err));
        if (!ep->tls)
            cfg_err(p, "server '%s': %s", av[0], err);
    } else if (o.tls.ca_file[0] || o.tls.crt[0] || o.tls.sni_kind || o.tls.alpn[0] ||
               o.tls.verifyhost[0]) {
        cfg_err(p, "server '%s': TLS options (ca-file, crt, sni, alpn, verifyhost) need 'ssl'",
                av[0]);
    }
    ep->loc.file = p->snap->source;
    ep->loc.line = p->line;
}

static void kw_default_server(struct cfg *p, char **av, size_t ac)
{
    srv_opts_parse(p, av, ac, &p->conf.defsrv);
}

/* ---- timeouts, retries, options ------------------------------------------ */

static void timeout(struct cfg *p, char **av, size_t ac, uint32_t *dst)
{
    if (nargs(p, av, ac, 1, 1, "<time>"))
        get_time(p, "time", av[0], dst);
}

static void kw_timeout_connect(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_connect);
}

static void kw_timeout_client(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_client);
}

static void kw_timeout_client_hs(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_client_hs);
}

static void kw_timeout_server(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_server);
}

static void kw_timeout_check(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_check);
}

static void kw_timeout_queue(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_queue);
}

static void kw_timeout_tunnel(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_tunnel);
}

static void kw_retries(struct cfg *p, char **av, size_t ac)
{
    long v;
    if (nargs(p, av, ac, 1, 1, "<number>") && get_int(p, "retry count", av[0], 0, 1000, &v))
        p->conf.retries = (uint32_t)v;
}

static void http_only(struct cfg *p);

/* HAProxy's `retry-on`: the status codes it accepts. */
static const uint16_t retry_statuses[] = {401, 403, 404, 408, 425, 500, 501, 502, 503, 504};

static void kw_retry_on(struct cfg *p, char **av, size_t ac)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } conds[] = {
        {"none", 0},
        {"conn-failure", RETRY_ON_CONN_FAILURE},
        {"empty-response", RETRY_ON_EMPTY_RESPONSE},
        {"junk-response", RETRY_ON_JUNK_RESPONSE},
        {"response-timeout", RETRY_ON_RESPONSE_TIMEOUT},
        {"0rtt-rejected", RETRY_ON_0RTT_REJECTED},
        {"all-retryable-errors", RETRY_ON_CONN_FAILURE | RETRY_ON_EMPTY_RESPONSE |
                                     RETRY_ON_JUNK_RESPONSE | RETRY_ON_RESPONSE_TIMEOUT |
                                     RETRY_ON_0RTT_REJECTED | RETRY_ON_STATUS},
        /* Envoy's x-envoy-retry-grpc-on names (a gRPC status in a
         * trailers-only response) */
        {"cancelled", RETRY_ON_GRPC_CANCELLED},
        {"deadline-exceeded", RETRY_ON_GRPC_DEADLINE_EXCEEDED},
        {"resource-exhausted", RETRY_ON_GRPC_RESOURCE_EXHAUSTED},
        {"internal", RETRY_ON_GRPC_INTERNAL},
        {"unavailable", RETRY_ON_GRPC_UNAVAILABLE},
    };
    uint32_t bits = 0;
    uint16_t st[RETRY_STATUS_MAX] = {0};
    size_t nst = 0;

    if (!nargs(p, av, ac, 1, CFG_MAX_ARGS, "<condition> [<condition>...]"))
        return;
    for (size_t i = 0; i < ac; i++) {
        size_t k;
        bool found = false;

        for (k = 0; k < sizeof(conds) / sizeof(conds[0]); k++) {
            if (strcmp(av[i], conds[k].name) == 0) {
                if (k == 0 && ac > 1) {
                    cfg_err(p, "'none' cannot be combined with other conditions");
                    return;
                }
                bits |= conds[k].bits;
                found = true;
                if (strcmp(av[i], "all-retryable-errors") == 0) {
                    /* HAProxy: ... plus 500, 502, 503 and 504 */
                    static const uint16_t all[] = {500, 502, 503, 504};
                    for (size_t j = 0; j < 4; j++) {
                        bool dup = false;
                        for (size_t m = 0; m < nst; m++)
                            dup |= st[m] == all[j];
                        if (!dup)
                            st[nst++] = all[j];
                    }
                }
                break;
            }
        }
        if (found)
            continue;
        for (k = 0; k < sizeof(retry_statuses) / sizeof(retry_statuses[0]); k++) {
            char num[8];
            snprintf(num, sizeof(num), "%u", retry_statuses[k]);
            if (strcmp(av[i], num) == 0) {
                bool dup = false;
                for (size_t m = 0; m < nst; m++)
                    dup |= st[m] == retry_statuses[k];
                if (!dup) {
                    if (nst >= RETRY_STATUS_MAX - 1) {
                        cfg_err(p, "too many status codes");
                        return;
                    }
                    st[nst++] = retry_statuses[k];
                }
                bits |= RETRY_ON_STATUS;
                found = true;
                break;
            }
        }
        if (!found) {
            cfg_err(p, "unknown condition '%s' (expected none, conn-failure, empty-response, "
                       "junk-response, response-timeout, 0rtt-rejected, all-retryable-errors, "
                       "the gRPC conditions cancelled, deadline-exceeded, resource-exhausted, "
                       "internal, unavailable, "
                       "or one of the status codes 401 403 404 408 425 500 501 502 503 504)",
                    av[i]);
            return;
        }
    }
    http_only(p);
    p->conf.retry_on = bits;
    memcpy(p->conf.retry_status, st, sizeof(st));
}

static void kw_redispatch(struct cfg *p, char **av, size_t ac)
{
    long v = -1;

    if (p->neg) {
        if (nargs(p, av, ac, 0, 0, ""))
            p->conf.redispatch = false;
        return;
    }
    if (!nargs(p, av, ac, 0, 1, "[<interval>]"))
        return;
    if (ac == 1 && !get_int(p, "interval", av[0], -1000000, 1000000, &v))
        return;
    /* HAProxy: 0 disables redispatching; N > 0 every Nth retry; -N on the
     * Nth retry before the last (default -1: the last one). */
    p->conf.redispatch = v != 0;
    p->conf.redispatch_interval = (int)v;
}

/* `log ...`: tern writes its logs to stderr, so targets are ignored (with a
 * warning); `no log` in a proxy turns its access log off, as in HAProxy. */
static void kw_log(struct cfg *p, char **av, size_t ac)
{
    if (p->neg) {
        if (p->sec == SEC_GLOBAL) {
            cfg_err(p, "'no log' is only meaningful in a proxy section");
            return;
        }
        if (nargs(p, av, ac, 0, 0, ""))
            p->conf.no_log = true;
        return;
    }
    cfg_warn(p, "ignored (tern writes its logs to stderr)");
}

static void kw_allbackups(struct cfg *p, char **av, size_t ac)
{
    if (nargs(p, av, ac, 0, 0, ""))
        p->conf.allbackups = !p->neg;
}

static void kw_httpchk(struct cfg *p, char **av, size_t ac)
{
    struct proxy_conf *c = &p->conf;

    if (p->neg) {
        if (nargs(p, av, ac, 0, 0, ""))
            c->httpchk = false;
        return;
    }
    if (!nargs(p, av, ac, 0, 3, "[<method>] [<uri>] [<version>]"))
        return;
    /* HAProxy: no argument: OPTIONS / HTTP/1.0; one: the URI; two: method and
     * URI; three: method, URI and version. */
    set_str(&c->chk_method, ac >= 2 ? av[0] : NULL);
    set_str(&c->chk_uri, ac == 1 ? av[0] : ac >= 2 ? av[1] : NULL);
    set_str(&c->chk_version, ac == 3 ? av[2] : NULL);
    for (size_t i = 0; i < ac && i < 2; i++) {
        if (strpbrk(av[i], " \t\r\n")) {
            cfg_err(p, "'%s' must not contain spaces or line breaks", av[i]);
            return;
        }
    }
    if (c->chk_uri && c->chk_uri[0] != '/' && c->chk_uri[0] != '*' &&
        strncmp(c->chk_uri, "http", 4) != 0)
        cfg_warn(p, "URI '%s' does not start with '/'", c->chk_uri);
    c->httpchk = true;
    c->grpcchk = false;
}

/*
 * option tern-grpc-check [<service>] (tern; HAProxy has no gRPC check): the
 * servers' checks become grpc.health.v1.Health/Check calls over HTTP/2 with
 * HealthCheckRequest.service set to <service> ("" when absent: the server as
 * a whole). SERVING passes; anything else fails. Like httpchk, the last of
 * the two in a section wins.
 */
static void kw_grpcchk(struct cfg *p, char **av, size_t ac)
{
    struct proxy_conf *c = &p->conf;

    if (p->neg) {
        if (nargs(p, av, ac, 0, 0, ""))
            c->grpcchk = false;
        return;
    }
    if (!nargs(p, av, ac, 0, 1, "[<service>]"))
        return;
    if (ac == 1) {
        size_t n = strlen(av[0]);
        if (n > 200) {
            cfg_err(p, "service name of %zu bytes (200 at most)", n);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)av[0][i];
            if (ch <= 0x20 || ch >= 0x7f) {
                cfg_err(p, "service name '%s' must be printable ASCII without spaces", av[0]);
                return;
            }
        }
    }
    set_str(&c->chk_grpc_service, ac == 1 ? av[0] : NULL);
    c->grpcchk = true;
    c->httpchk = false;
}

static void kw_http_check_expect(struct cfg *p, char **av, size_t ac)
{
    long v;

    if (ac >= 1 && strcmp(av[0], "status") != 0) {
        cfg_err(p, "'%s' is not supported by tern (only 'http-check expect status <code>')",
                av[0]);
        return;
    }
    if (!nargs(p, av, ac, 2, 2, "status <code>"))
        return;
    if (strpbrk(av[1], ",-")) {
        cfg_err(p, "status lists and ranges ('%s') are not supported by tern (expected one "
                   "status code)", av[1]);
        return;
    }
    if (get_int(p, "status code", av[1], 100, 599, &v)) {
        p->conf.expect_status = (int)v;
        p->conf.expect_line = p->line;
    }
}

/* ---- mode http ------------------------------------------------------------- */

/* Remembers the first HTTP-only keyword of a section: a proxy that ends up
 * in mode tcp gets one warning that it is ignored (as HAProxy does). */
static void http_only(struct cfg *p)
{
    if (!p->conf.http_only_kw[0]) {
        snprintf(p->conf.http_only_kw, sizeof(p->conf.http_only_kw), "%s", p->kw);
        p->conf.http_only_line = p->line;
    }
}

/* `max-request-body <size>` (tern): a request body longer than this is
 * answered 413. Sizes as HAProxy writes them: bytes, or k/m/g suffixed. */
static void kw_max_request_body(struct cfg *p, char **av, size_t ac)
{
    char *end;
    unsigned long long v;

    if (!nargs(p, av, ac, 1, 1, "<size>"))
        return;
    if (av[0][0] < '0' || av[0][0] > '9')
        goto bad;
    v = strtoull(av[0], &end, 10);
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*end || v > (1ULL << 50))
        goto bad;
    p->conf.max_request_body = v;
    http_only(p);
    return;
bad:
    cfg_err(p, "invalid size '%s' (bytes, or with a k, m or g suffix, e.g. 10m; 0: no limit)",
            av[0]);
}

static void kw_timeout_http_request(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_http_request);
    http_only(p);
}

static void kw_timeout_http_keep_alive(struct cfg *p, char **av, size_t ac)
{
    timeout(p, av, ac, &p->conf.timeout_http_keep_alive);
    http_only(p);
}

/*
 * option http-keep-alive | http-server-close | httpclose. The last one of a
 * section wins; `no option X` goes back to keep-alive when X was the mode.
 */
static void set_http_mode(struct cfg *p, char **av, size_t ac, enum http_conn_mode m)
{
    if (!nargs(p, av, ac, 0, 0, ""))
        return;
    http_only(p);
    if (!p->neg)
        p->conf.http_mode = m;
    else if (p->conf.http_mode == m)
        p->conf.http_mode = HTTP_CONN_KEEP_ALIVE;
}

static void kw_http_keep_alive(struct cfg *p, char **av, size_t ac)
{
    set_http_mode(p, av, ac, HTTP_CONN_KEEP_ALIVE);
}

static void kw_http_server_close(struct cfg *p, char **av, size_t ac)
{
    set_http_mode(p, av, ac, HTTP_CONN_SERVER_CLOSE);
}

static void kw_httpclose(struct cfg *p, char **av, size_t ac)
{
    set_http_mode(p, av, ac, HTTP_CONN_CLOSE);
}

/* A header name as RFC 9110 5.1 defines it: a token. */
static bool valid_header_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* "<addr>[/<prefix>]" for `except`: IPv4 or IPv6, prefix defaulting to the
 * full length. */
static bool get_net(struct cfg *p, const char *s, struct http_forwardfor *ff)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    long prefix;
    struct sockaddr_storage ss;
    int maxp;

    memset(&ss, 0, sizeof(ss));
    if (alen == 0 || alen >= sizeof(addr))
        goto bad;
    memcpy(addr, s, alen);
    addr[alen] = 0;
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        maxp = 32;
    } else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        maxp = 128;
    } else {
        goto bad;
    }
    prefix = maxp;
    if (slash && tern_parse_int(slash + 1, 0, maxp, &prefix) != 0) {
        /* HAProxy also takes an IPv4 netmask: 10.0.0.0/255.0.0.0 */
        struct in_addr m;
        uint32_t mask;
        if (ss.ss_family != AF_INET || inet_pton(AF_INET, slash + 1, &m) != 1)
            goto bad;
        mask = ntohl(m.s_addr);
        prefix = __builtin_popcount(mask);
        if (mask != (prefix ? ~0u << (32 - prefix) : 0u))
            goto bad;
    }
    ff->has_except = true;
    ff->except_net = ss;
    ff->except_prefix = (uint8_t)prefix;
    return true;
bad:
    cfg_err(p, "invalid network '%s' after 'except' (expected <address>[/<prefix>])", s);
    return false;
}

/* option forwardfor [except <network>] [header <name>] [if-none] */
static void kw_forwardfor(struct cfg *p, char **av, size_t ac)
{
    struct http_forwardfor ff;
    static const char usage[] = "[except <network>] [header <name>] [if-none]";

    http_only(p);
    if (p->neg) {
        if (nargs(p, av, ac, 0, 0, "")) {
            free(p->conf.forwardfor.header);
            memset(&p->conf.forwardfor, 0, sizeof(p->conf.forwardfor));
        }
        return;
    }
    memset(&ff, 0, sizeof(ff));
    ff.enabled = true;
    for (size_t i = 0; i < ac; i++) {
        if (strcmp(av[i], "if-none") == 0) {
            ff.if_none = true;
        } else if (strcmp(av[i], "except") == 0 || strcmp(av[i], "header") == 0) {
            if (i + 1 >= ac) {
                cfg_err(p, "missing value after '%s' (usage: %s %s)", av[i], p->kw, usage);
                free(ff.header);
                return;
            }
            if (av[i][0] == 'e') {
                if (!get_net(p, av[i + 1], &ff)) {
                    free(ff.header);
                    return;
                }
            } else {
                if (!valid_header_name(av[i + 1])) {
                    cfg_err(p, "invalid header name '%s'", av[i + 1]);
                    free(ff.header);
                    return;
                }
                free(ff.header);
                ff.header = tern_strdup(av[i + 1]);
            }
            i++;
        } else {
            cfg_err(p, "unknown argument '%s' (usage: %s %s)", av[i], p->kw, usage);
            free(ff.header);
            return;
        }
    }
    free(p->conf.forwardfor.header);
    p->conf.forwardfor = ff;
}

static void kw_http_reuse(struct cfg *p, char **av, size_t ac)
{
    if (!nargs(p, av, ac, 1, 1, "never|safe|aggressive|always"))
        return;
    http_only(p);
    if (strcmp(av[0], "never") == 0)
        p->conf.http_reuse = HTTP_REUSE_NEVER;
    else if (strcmp(av[0], "safe") == 0)
        p->conf.http_reuse = HTTP_REUSE_SAFE;
    else if (strcmp(av[0], "aggressive") == 0)
        p->conf.http_reuse = HTTP_REUSE_AGGRESSIVE;
    else if (strcmp(av[0], "always") == 0)
        p->conf.http_reuse = HTTP_REUSE_ALWAYS;
    else
        cfg_err(p, "unknown mode '%s' (expected never, safe, aggressive or always)", av[0]);
}

static void kw_error_header(struct cfg *p, char **av, size_t ac)
{
    if (!nargs(p, av, ac, 0, 0, ""))
        return;
    http_only(p);
    p->conf.error_header = !p->neg;
}

/* option tern-request-id [<header>]: fill the header (default X-Request-Id)
 * with a generated id when a request arrives without one. */
/* option forward-client-cert sanitize|forward-only|append-forward|sanitize-set
 * (tern): what x-forwarded-client-cert the service gets, Envoy's modes. */
static void kw_forward_client_cert(struct cfg *p, char **av, size_t ac)
{
    static const char *const modes[] = {"sanitize", "forward-only", "append-forward",
                                        "sanitize-set"};

    if (!nargs(p, av, ac, 1, 1, "sanitize|forward-only|append-forward|sanitize-set"))
        return;
    http_only(p);
    for (size_t i = 0; i < TERN_ARRAY_SIZE(modes); i++)
        if (strcmp(av[0], modes[i]) == 0) {
            p->conf.xfcc = (uint8_t)i;
            return;
        }
    cfg_err(p, "unknown mode '%s' (expected sanitize, forward-only, append-forward or "
               "sanitize-set)", av[0]);
}

static void kw_request_id(struct cfg *p, char **av, size_t ac)
{
    http_only(p);
    if (p->neg) {
        if (nargs(p, av, ac, 0, 0, "")) {
            free(p->conf.request_id_header);
            p->conf.request_id_header = NULL;
        }
        return;
    }
    if (!nargs(p, av, ac, 0, 1, "[<header>]"))
        return;
    if (ac == 1 && !valid_header_name(av[0])) {
        cfg_err(p, "invalid header name '%s'", av[0]);
        return;
    }
    set_str(&p->conf.request_id_header, ac == 1 ? av[0] : "X-Request-Id");
}

/* ---- the table ------------------------------------------------------------ */

#define H(n, s, f) {n, s, KW_HANDLE, f, NULL, false}
#define HN(n, s, f) {n, s, KW_HANDLE, f, NULL, true}
#define ACCEPT(n, s) {n, s, KW_ACCEPT, NULL, NULL, true}
#define IGNORE(n, s, why) {n, s, KW_IGNORE, NULL, why, true}
#define UNSUP(n, why) {n, SEC_ALL, KW_UNSUPPORTED, NULL, why, true}

static const char IGN[] = "ignored by tern";
static const char LOG[] = "ignored (tern writes its logs to stderr)";
static const char NS[] = "not supported by tern";
static const char HTTP[] = "not supported by tern yet";

const char *const cfg_families[] = {"option", "timeout", "http-check", NULL};

const struct cfg_kw cfg_keywords[] = {
    /* global */
    H("nbthread", SEC_GLOBAL, kw_nbthread),
    H("maxconn", SEC_GLOBAL, kw_global_maxconn),
    H("admin", SEC_GLOBAL, kw_admin),
    H("grace", SEC_GLOBAL, kw_grace),
    H("hard-stop-after", SEC_GLOBAL, kw_hard_stop_after),
    H("tune.bufsize", SEC_GLOBAL, kw_bufsize),
    H("tune.http.maxhdr", SEC_GLOBAL, kw_http_maxhdr),
    /* xds (cfg_xds.c) */
    H("server", SEC_XDS, cfg_kw_xds_server),
    H("node-id", SEC_XDS, cfg_kw_xds_node_id),
    H("node-cluster", SEC_XDS, cfg_kw_xds_node_cluster),
    H("node-locality", SEC_XDS, cfg_kw_xds_node_locality),
    H("node-metadata", SEC_XDS, cfg_kw_xds_node_metadata),
    H("init-timeout", SEC_XDS, cfg_kw_xds_init_timeout),
    H("protocol", SEC_XDS, cfg_kw_xds_protocol),
    H("drain-time", SEC_XDS, cfg_kw_xds_drain_time),
    H("tune.h2.max-concurrent-streams", SEC_GLOBAL, kw_h2_max_streams),
    H("tune.h2.header-table-size", SEC_GLOBAL, kw_h2_header_table),
    H("tune.h2.initial-window-size", SEC_GLOBAL, kw_h2_window),
    H("tune.h2.max-frame-size", SEC_GLOBAL, kw_h2_frame),
    HN("log", SEC_ALL, kw_log),
    IGNORE("log-tag", SEC_GLOBAL, LOG),
    IGNORE("log-send-hostname", SEC_GLOBAL, LOG),
    IGNORE("user", SEC_GLOBAL, IGN),
    IGNORE("group", SEC_GLOBAL, IGN),
    IGNORE("uid", SEC_GLOBAL, IGN),
    IGNORE("gid", SEC_GLOBAL, IGN),
    IGNORE("chroot", SEC_GLOBAL, IGN),
    IGNORE("pidfile", SEC_GLOBAL, IGN),
    IGNORE("stats", SEC_GLOBAL, "ignored (tern's statistics are served by 'admin')"),
    IGNORE("ca-base", SEC_GLOBAL, IGN),
    IGNORE("crt-base", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-bind-ciphers", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-bind-ciphersuites", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-bind-options", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-server-ciphers", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-server-ciphersuites", SEC_GLOBAL, IGN),
    IGNORE("ssl-default-server-options", SEC_GLOBAL, IGN),
    IGNORE("tune.ssl.default-dh-param", SEC_GLOBAL, IGN),
    IGNORE("description", SEC_ALL, IGN),
    IGNORE("node", SEC_GLOBAL, IGN),
    IGNORE("quiet", SEC_GLOBAL, IGN),
    IGNORE("ulimit-n", SEC_GLOBAL, "ignored (tern sizes itself from the file descriptor "
                                   "limit it is given)"),
    IGNORE("cpu-map", SEC_GLOBAL, IGN),
    IGNORE("spread-checks", SEC_GLOBAL, IGN),
    UNSUP("daemon", "not supported: tern runs in the foreground"),
    UNSUP("master-worker", "not supported: tern runs as one process"),
    UNSUP("nbproc", "not supported: tern runs as one process (use nbthread)"),
    UNSUP("lua-load", NS),

    /* proxies */
    H("mode", SEC_PROXY, kw_mode),
    H("bind", SEC_FRONTEND | SEC_LISTEN, kw_bind),
    H("default_backend", SEC_FE, kw_default_backend),
    H("maxconn", SEC_FE, kw_maxconn),
    H("balance", SEC_BE, kw_balance),
    H("hash-type", SEC_BE, kw_hash_type),
    H("consistent-hash", SEC_BE, kw_consistent_hash),
    H("server", SEC_BACKEND | SEC_LISTEN, kw_server),
    H("default-server", SEC_BE, kw_default_server),
    H("timeout connect", SEC_BE, kw_timeout_connect),
    H("timeout client", SEC_FE, kw_timeout_client),
    H("timeout client-hs", SEC_FE, kw_timeout_client_hs),
    H("timeout server", SEC_BE, kw_timeout_server),
    H("timeout check", SEC_BE, kw_timeout_check),
    H("timeout queue", SEC_BE, kw_timeout_queue),
    H("timeout tunnel", SEC_BE, kw_timeout_tunnel),
    H("retries", SEC_BE, kw_retries),
    H("retry-on", SEC_BE, kw_retry_on),
    HN("option redispatch", SEC_BE, kw_redispatch),
    HN("option allbackups", SEC_BE, kw_allbackups),
    HN("option httpchk", SEC_BE, kw_httpchk),
    HN("option tern-grpc-check", SEC_BE, kw_grpcchk),
    H("http-check expect", SEC_BE, kw_http_check_expect),
    ACCEPT("option tcplog", SEC_PROXY),
    IGNORE("option dontlognull", SEC_PROXY, LOG),
    IGNORE("option log-health-checks", SEC_PROXY, LOG),
    IGNORE("option tcpka", SEC_PROXY, IGN),
    IGNORE("option clitcpka", SEC_PROXY, IGN),
    IGNORE("option srvtcpka", SEC_PROXY, IGN),
    H("errorfile", SEC_PROXY, kw_errorfile),
    ACCEPT("option httplog", SEC_PROXY),
    H("timeout http-request", SEC_FE, kw_timeout_http_request),
    H("max-request-body", SEC_FE, kw_max_request_body),
    H("timeout http-keep-alive", SEC_FE, kw_timeout_http_keep_alive),
    HN("option forwardfor", SEC_PROXY, kw_forwardfor),
    HN("option http-keep-alive", SEC_PROXY, kw_http_keep_alive),
    HN("option http-server-close", SEC_PROXY, kw_http_server_close),
    HN("option httpclose", SEC_PROXY, kw_httpclose),
    H("http-reuse", SEC_BE, kw_http_reuse),
    HN("option tern-error-header", SEC_PROXY, kw_error_header),
    HN("option tern-request-id", SEC_FE, kw_request_id),
    H("option forward-client-cert", SEC_FE, kw_forward_client_cert),

    /* HAProxy keywords tern knowingly refuses */
    H("acl", SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN, kw_acl),
    H("use_backend", SEC_FRONTEND | SEC_LISTEN, kw_use_backend),
    H("filter", SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN, kw_filter),
    H("http-request", SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN, kw_http_request),
    H("http-response", SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN, kw_http_response),
    H("redirect", SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN, kw_redirect),
    UNSUP("use-server", NS),
    H("tcp-request", SEC_FRONTEND | SEC_LISTEN, kw_tcp_request),
    UNSUP("tcp-response", NS),
    UNSUP("http-after-response", HTTP),
    UNSUP("cookie", HTTP),
    UNSUP("capture", HTTP),
    UNSUP("compression", HTTP),
    UNSUP("monitor-uri", HTTP),
    UNSUP("unique-id-format", HTTP),
    UNSUP("unique-id-header", HTTP),
    UNSUP("errorfiles", HTTP),
    UNSUP("errorloc", HTTP),
    UNSUP("stick-table", NS),
    UNSUP("stick", NS),
    UNSUP("server-template", NS),
    UNSUP("dispatch", NS),
    UNSUP("source", NS),
    UNSUP("fullconn", NS),
    UNSUP("hash-balance-factor", NS),
    UNSUP("log-format", NS),
    UNSUP("tcp-check", NS),
    UNSUP("external-check", NS),
    UNSUP("email-alert", NS),
    UNSUP("rate-limit", NS),
    UNSUP("backlog", NS),
    UNSUP("id", NS),
    UNSUP("disabled", NS),
    UNSUP("enabled", NS),
    {"grace", SEC_PROXY, KW_UNSUPPORTED, NULL,
     "not supported in proxies (removed in HAProxy 2.5): use 'grace' in global", true},
    UNSUP("option http-buffer-request", HTTP),
    UNSUP("option abortonclose", NS),
    UNSUP("option persist", NS),
    UNSUP("option splice-auto", NS),
    UNSUP("option splice-request", NS),
    UNSUP("option splice-response", NS),
    UNSUP("option ssl-hello-chk", NS),
    UNSUP("option smtpchk", NS),
    UNSUP("option mysql-check", NS),
    UNSUP("option pgsql-check", NS),
    UNSUP("option redis-check", NS),
    UNSUP("option ldap-check", NS),
    UNSUP("option spop-check", NS),
    UNSUP("option tcp-check", NS),
    UNSUP("option external-check", NS),
    UNSUP("option transparent", NS),
    UNSUP("option tcp-smart-accept", NS),
    UNSUP("option tcp-smart-connect", NS),
    UNSUP("option independent-streams", NS),
    UNSUP("option socket-stats", NS),
    UNSUP("option logasap", NS),
    UNSUP("timeout tarpit", NS),
    UNSUP("timeout client-fin", NS),
    UNSUP("timeout server-fin", NS),
    UNSUP("http-check send", HTTP),
    UNSUP("http-check connect", HTTP),
    UNSUP("http-check comment", HTTP),
    UNSUP("http-check disable-on-404", HTTP),
    UNSUP("http-check send-state", HTTP),
    UNSUP("http-check set-var", HTTP),
    UNSUP("http-check unset-var", HTTP),
    {NULL, 0, KW_HANDLE, NULL, NULL, false},
};
