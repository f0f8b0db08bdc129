/*
 * header_mutation_config.c: `http-request` / `http-response` / `redirect`
 * lines -> struct hm_rule (main thread, off the data path).
 *
 * One line is: <action> <arguments...> [if|unless <condition>]. The words
 * from the first `if` or `unless` on are the condition (proxy/acl); the
 * words before belong to the action. Formats are compiled, regexes compiled
 * (PCRE2 JIT), files read, here: the request path only evaluates.
 *
 * Syntax and defaults are HAProxy 2.6's (configuration manual 4.2,
 * "http-request", "http-response", "redirect"); what tern refuses is said in
 * the message and in README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/filter_err.h"
#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/acl/acl.h"

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ---- the rule set -------------------------------------------------------------- */

struct hm_config *hm_config_new(uint32_t max_hdrs)
{
    struct hm_config *c = xcalloc(1, sizeof(*c));
    c->max_hdrs = max_hdrs;
    return c;
}

void hm_config_set_max_hdrs(struct hm_config *c, uint32_t max_hdrs)
{
    c->max_hdrs = max_hdrs;
}

uint32_t hm_config_count(const struct hm_config *c, enum hm_dir dir)
{
    return c ? c->nrules[dir] : 0;
}

static void rule_free(struct hm_rule *r)
{
    acl_cond_free(r->cond);
    free(r->name);
    hm_fmt_free(&r->fmt);
    if (r->re)
        acl_regex_free(r->re);
    free(r->ctype);
    free(r->body);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        hm_fmt_free(&r->hdrs[i].value);
    }
    free(r->hdrs);
    memset(r, 0, sizeof(*r));
}

void hm_config_free(void *cfg)
{
    struct hm_config *c = cfg;

    if (!c)
        return;
    for (int d = 0; d < 2; d++) {
        for (uint32_t i = 0; i < c->nrules[d]; i++)
            rule_free(&c->rules[d][i]);
        free(c->rules[d]);
    }
    free(c);
}

/* ---- checks ----------------------------------------------------------------------- */

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* A literal part of a header value: no CR, LF, NUL or other control
 * character but HTAB (a config escape like \r would split the head). */
static int check_value_fmt(const struct hm_fmt *f, const char *text, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < f->nparts; i++) {
        const struct hm_part *pt = &f->parts[i];
        for (uint32_t k = 0; !pt->fetch && pt->group < 0 && k < pt->len; k++) {
            unsigned char c = (unsigned char)pt->lit[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return filter_err(err, errlen, "control character 0x%02x in value '%s'", c, text);
        }
    }
    return 0;
}

static int parse_status(const char *s, unsigned lo, unsigned hi, uint16_t *out)
{
    unsigned v = 0;

    if (!*s || strlen(s) > 3)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* Reads a payload file (`file <path>`): whole, at most max bytes. */
static int read_file(const char *path, uint32_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
    struct stat st;
    char *buf;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return filter_err(err, errlen, "cannot open file '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return filter_err(err, errlen, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return filter_err(err, errlen, "file '%s' is too large (%lld bytes; at most tune.bufsize, %u)",
                    path, (long long)st.st_size, max);
    }
    buf = xcalloc(1, (size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return filter_err(err, errlen, "cannot read file '%s': %s", path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

/* ---- actions ---------------------------------------------------------------------- */

/* HAProxy actions tern does not have, named in the message. */
static const char *const known_unsupported[] = {
    "auth", "tarpit", "reject", "silent-drop", "set-var", "unset-var", "set-var-fmt",
    "capture", "track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc", "sc-inc-gpc0",
    "sc-inc-gpc1", "sc-set-gpt0", "set-log-level", "set-nice", "set-tos", "set-mark",
    "set-priority-class", "set-priority-offset", "set-src", "set-src-port", "set-dst",
    "set-dst-port", "add-acl", "del-acl", "set-map", "del-map", "cache-use", "cache-store",
    "use-service", "do-resolve", "early-hint", "normalize-uri", "strict-mode",
    "wait-for-body", "wait-for-handshake", "disable-l7-retry", "set-timeout", "set-status",
    "replace-path", "replace-pathq", "replace-uri", "send-spoe-group", "set-bandwidth-limit",
};

static const char req_actions[] =
    "allow, deny, return, redirect, set-header, add-header, del-header, replace-header, "
    "replace-value, set-path, set-pathq, set-query, set-uri, set-method";
static const char res_actions[] =
    "allow, deny, set-header, add-header, del-header, replace-header, replace-value";

struct line {
    int argc;        /* words before the condition */
    char **argv;
    int i;           /* next word */
    bool response;
    const char *action;
};

static const char *next(struct line *l)
{
    return l->i < l->argc ? l->argv[l->i++] : NULL;
}

static int need(struct line *l, const char *what, const char **out, char *err, size_t errlen)
{
    *out = next(l);
    if (!*out)
        return filter_err(err, errlen, "%s: missing %s", l->action, what);
    return 0;
}

static int compile(struct line *l, struct hm_fmt *f, const char *text, bool groups, char *err,
                   size_t errlen)
{
    char ferr[384];

    if (hm_fmt_compile(f, text, groups, l->response, ferr, sizeof(ferr)) != 0)
        return filter_err(err, errlen, "%s: %s", l->action, ferr);
    return 0;
}

static int header_name(struct line *l, struct hm_rule *r, char *err, size_t errlen)
{
    const char *n;

    if (need(l, "header name", &n, err, errlen) < 0)
        return -1;
    if (!valid_name(n))
        return filter_err(err, errlen, "%s: invalid header name '%s'", l->action, n);
    r->name = xstrdup(n);
    r->name_len = (uint32_t)strlen(n);
    return 0;
}

static int value_fmt(struct line *l, struct hm_rule *r, const char *what, bool groups, char *err,
                     size_t errlen)
{
    const char *v;

    if (need(l, what, &v, err, errlen) < 0 || compile(l, &r->fmt, v, groups, err, errlen) < 0)
        return -1;
    r->has_fmt = true;
    if (check_value_fmt(&r->fmt, v, err, errlen) < 0) {
        char m[320];
        snprintf(m, sizeof(m), "%s", err);
        return filter_err(err, errlen, "%s: %s", l->action, m);
    }
    return 0;
}

/* deny / return: [status|deny_status <code>] [content-type <t>]
 * [string <s> | file <path> | lf-string <fmt> | default-errorfiles]
 * [hdr <name> <fmt>]* */
static int parse_reply(struct line *l, struct hm_rule *r, uint32_t bufsize, char *err,
                       size_t errlen)
{
    bool deny = r->act == HM_A_DENY;
    bool payload = false;
    const char *w, *v;

    r->status = deny ? (l->response ? 502 : 403) : 200;
    r->body_page = deny; /* deny: tern's page (or the errorfile) by default */
    while ((w = next(l))) {
        if (strcmp(w, "status") == 0 || (deny && strcmp(w, "deny_status") == 0)) {
            if (need(l, "status code", &v, err, errlen) < 0)
                return -1;
            if (parse_status(v, 200, 599, &r->status) < 0)
                return filter_err(err, errlen, "%s: invalid status code '%s' (expected 200 to 599)",
                            l->action, v);
        } else if (strcmp(w, "content-type") == 0) {
            if (need(l, "content type", &v, err, errlen) < 0)
                return -1;
            for (const char *c = v; *c; c++)
                if ((unsigned char)*c < 0x20 && *c != '\t')
                    return filter_err(err, errlen, "%s: invalid content type '%s'", l->action, v);
            free(r->ctype);
            r->ctype = xstrdup(v);
        } else if (strcmp(w, "string") == 0 || strcmp(w, "file") == 0 ||
                   strcmp(w, "lf-string") == 0 || strcmp(w, "default-errorfiles") == 0) {
            if (payload)
                return filter_err(err, errlen, "%s: only one payload (string, file, lf-string or "
                                         "default-errorfiles) may be given", l->action);
            payload = true;
            r->body_page = false;
            if (strcmp(w, "default-errorfiles") == 0) {
                r->body_page = true;
                continue;
            }
            if (need(l, w[0] == 'f' ? "file name" : "string", &v, err, errlen) < 0)
                return -1;
            if (w[0] == 's') {
                r->body = xstrdup(v);
                r->body_len = strlen(v);
            } else if (w[0] == 'f') {
                char ferr[384];
                if (read_file(v, bufsize, &r->body, &r->body_len, ferr, sizeof(ferr)) < 0)
                    return filter_err(err, errlen, "%s: %s", l->action, ferr);
            } else {
                if (compile(l, &r->fmt, v, false, err, errlen) < 0)
                    return -1;
                r->has_fmt = true;
                r->body_lf = true;
            }
        } else if (strcmp(w, "hdr") == 0) {
            const char *n;
            struct hm_reply_hdr *h;
            if (l->response)
                return filter_err(err, errlen, "%s: 'hdr' is not supported in http-response rules "
                                         "by tern", l->action);
            if (need(l, "header name", &n, err, errlen) < 0 ||
                need(l, "header value", &v, err, errlen) < 0)
                return -1;
            if (!valid_name(n))
                return filter_err(err, errlen, "%s: invalid header name '%s'", l->action, n);
            r->hdrs = realloc(r->hdrs, (r->nhdrs + 1) * sizeof(*r->hdrs));
            if (!r->hdrs)
                abort();
            h = &r->hdrs[r->nhdrs];
            memset(h, 0, sizeof(*h));
            if (compile(l, &h->value, v, false, err, errlen) < 0)
                return -1;
            h->name = xstrdup(n);
            r->nhdrs++;
            if (check_value_fmt(&h->value, v, err, errlen) < 0) {
                char m[320];
                snprintf(m, sizeof(m), "%s", err);
                return filter_err(err, errlen, "%s: %s", l->action, m);
            }
        } else if (strcmp(w, "errorfile") == 0 || strcmp(w, "errorfiles") == 0 ||
                   strcmp(w, "lf-file") == 0) {
            return filter_err(err, errlen, "%s: payload '%s' is not supported by tern (use string, "
                                     "file, lf-string or default-errorfiles)", l->action, w);
        } else {
            return filter_err(err, errlen,
                        "%s: unexpected argument '%s' (expected %sstatus, content-type, "
                        "string, file, lf-string, default-errorfiles, hdr, or if/unless)",
                        l->action, w, deny ? "deny_status, " : "");
        }
    }
    if ((r->status == 204 || r->status == 304) && (r->body || r->body_lf))
        return filter_err(err, errlen, "%s: status %u cannot have a payload", l->action,
                    (unsigned)r->status);
    return 0;
}

/* redirect location|prefix|scheme <x> [code <c>] [drop-query] [append-slash] */
static int parse_redirect(struct line *l, struct hm_rule *r, char *err, size_t errlen)
{
    const char *kind, *v, *w;

    if (need(l, "'location', 'prefix' or 'scheme'", &kind, err, errlen) < 0)
        return -1;
    if (strcmp(kind, "location") == 0)
        r->redir = HM_REDIR_LOCATION;
    else if (strcmp(kind, "prefix") == 0)
        r->redir = HM_REDIR_PREFIX;
    else if (strcmp(kind, "scheme") == 0)
        r->redir = HM_REDIR_SCHEME;
    else
        return filter_err(err, errlen, "%s: expected 'location', 'prefix' or 'scheme', got '%s'",
                    l->action, kind);
    if (need(l, kind, &v, err, errlen) < 0 || compile(l, &r->fmt, v, false, err, errlen) < 0)
        return -1;
    r->has_fmt = true;
    if (check_value_fmt(&r->fmt, v, err, errlen) < 0) {
        char m[320];
        snprintf(m, sizeof(m), "%s", err);
        return filter_err(err, errlen, "%s: %s", l->action, m);
    }
    r->status = 302;
    while ((w = next(l))) {
        if (strcmp(w, "code") == 0) {
            if (need(l, "code", &v, err, errlen) < 0)
                return -1;
            if (parse_status(v, 301, 308, &r->status) < 0 ||
                (r->status > 303 && r->status < 307))
                return filter_err(err, errlen, "%s: invalid code '%s' (expected 301, 302, 303, 307 "
                                         "or 308)", l->action, v);
        } else if (strcmp(w, "drop-query") == 0) {
            r->drop_query = true;
        } else if (strcmp(w, "append-slash") == 0) {
            r->append_slash = true;
        } else if (strcmp(w, "set-cookie") == 0 || strcmp(w, "clear-cookie") == 0) {
            return filter_err(err, errlen, "%s: option '%s' is not supported by tern", l->action, w);
        } else {
            return filter_err(err, errlen, "%s: unexpected argument '%s' (expected code, drop-query, "
                                     "append-slash, or if/unless)", l->action, w);
        }
    }
    return 0;
}

static int parse_del_header(struct line *l, struct hm_rule *r, char *err, size_t errlen)
{
    const char *w, *m, *n;

    if (need(l, "header name", &n, err, errlen) < 0)
        return -1;
    r->name = xstrdup(n);
    r->name_len = (uint32_t)strlen(n);
    r->del_match = HM_DEL_STR;
    if ((w = next(l))) {
        if (strcmp(w, "-m") != 0)
            return filter_err(err, errlen, "%s: unexpected argument '%s' (expected '-m <method>' or "
                                     "if/unless)", l->action, w);
        if (need(l, "match method after '-m'", &m, err, errlen) < 0)
            return -1;
        if (strcmp(m, "str") == 0) {
            r->del_match = HM_DEL_STR;
        } else if (strcmp(m, "beg") == 0) {
            r->del_match = HM_DEL_BEG;
        } else if (strcmp(m, "end") == 0) {
            r->del_match = HM_DEL_END;
        } else if (strcmp(m, "sub") == 0) {
            r->del_match = HM_DEL_SUB;
        } else if (strcmp(m, "reg") == 0) {
            char rerr[320];
            r->del_match = HM_DEL_REG;
            /* the name is the regex; header names compare ignoring case */
            if (acl_regex_compile(r->name, true, &r->re, rerr, sizeof(rerr)) != 0)
                return filter_err(err, errlen, "%s: %s", l->action, rerr);
        } else {
            return filter_err(err, errlen, "%s: invalid match method '%s' (expected str, beg, end, "
                                     "sub or reg)", l->action, m);
        }
    }
    if (r->del_match != HM_DEL_REG && !valid_name(n))
        return filter_err(err, errlen, "%s: invalid header name '%s'", l->action, n);
    return 0;
}

static const struct {
    const char *name;
    enum hm_act act;
    bool response; /* allowed in http-response */
} actions[] = {
    {"allow", HM_A_ALLOW, true},
    {"deny", HM_A_DENY, true},
    {"return", HM_A_RETURN, false},
    {"redirect", HM_A_REDIRECT, false},
    {"set-header", HM_A_SET_HEADER, true},
    {"add-header", HM_A_ADD_HEADER, true},
    {"del-header", HM_A_DEL_HEADER, true},
    {"replace-header", HM_A_REPLACE_HEADER, true},
    {"replace-value", HM_A_REPLACE_VALUE, true},
    {"set-path", HM_A_SET_PATH, false},
    {"set-pathq", HM_A_SET_PATHQ, false},
    {"set-query", HM_A_SET_QUERY, false},
    {"set-uri", HM_A_SET_URI, false},
    {"set-method", HM_A_SET_METHOD, false},
};

int hm_config_add(struct hm_config *c, enum hm_dir dir, const struct acl_set *acls, int argc,
                  char **argv, uint32_t bufsize, char *err, size_t errlen)
{
    struct hm_rule r;
    struct line l = {0};
    int cond_at = argc, found = -1, rc = -1;
    const char *w;
    char cerr[384];

    memset(&r, 0, sizeof(r));
    if (argc < 1)
        return filter_err(err, errlen, "missing action (expected one of: %s)",
                    dir == HM_RESPONSE ? res_actions : req_actions);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "if") == 0 || strcmp(argv[i], "unless") == 0) {
            cond_at = i;
            break;
        }
    }
    l.argc = cond_at;
    l.argv = argv;
    l.i = 1;
    l.response = dir == HM_RESPONSE;
    l.action = argv[0];
    for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
        if (strcmp(actions[k].name, argv[0]) == 0)
            found = (int)k;
    if (found < 0 || (l.response && !actions[found].response)) {
        for (size_t k = 0; k < sizeof(known_unsupported) / sizeof(known_unsupported[0]); k++)
            if (strcmp(known_unsupported[k], argv[0]) == 0)
                return filter_err(err, errlen, "action '%s' is not supported by tern (supported: %s)",
                            argv[0], l.response ? res_actions : req_actions);
        if (found >= 0)
            return filter_err(err, errlen, "action '%s' is not available in http-response rules "
                                     "(supported: %s)", argv[0], res_actions);
        if (strncmp(argv[0], "lua.", 4) == 0)
            return filter_err(err, errlen, "Lua actions ('%s') are not supported by tern", argv[0]);
        return filter_err(err, errlen, "unknown action '%s' (expected one of: %s)", argv[0],
                    l.response ? res_actions : req_actions);
    }
    r.act = actions[found].act;

    switch (r.act) {
    case HM_A_ALLOW:
        break;
    case HM_A_DENY:
    case HM_A_RETURN:
        if (parse_reply(&l, &r, bufsize, err, errlen) < 0)
            goto out;
        break;
    case HM_A_REDIRECT:
        if (parse_redirect(&l, &r, err, errlen) < 0)
            goto out;
        break;
    case HM_A_SET_HEADER:
    case HM_A_ADD_HEADER:
        if (header_name(&l, &r, err, errlen) < 0 || value_fmt(&l, &r, "value", false, err, errlen) < 0)
            goto out;
        break;
    case HM_A_DEL_HEADER:
        if (parse_del_header(&l, &r, err, errlen) < 0)
            goto out;
        break;
    case HM_A_REPLACE_HEADER:
    case HM_A_REPLACE_VALUE: {
        const char *re;
        char rerr[320];
        if (header_name(&l, &r, err, errlen) < 0 ||
            need(&l, "regex", &re, err, errlen) < 0)
            goto out;
        if (acl_regex_compile(re, false, &r.re, rerr, sizeof(rerr)) != 0) {
            filter_err(err, errlen, "%s: %s", l.action, rerr);
            goto out;
        }
        if (value_fmt(&l, &r, "replacement", true, err, errlen) < 0)
            goto out;
        break;
    }
    case HM_A_SET_PATH:
    case HM_A_SET_PATHQ:
    case HM_A_SET_QUERY:
    case HM_A_SET_URI:
    case HM_A_SET_METHOD:
        if (value_fmt(&l, &r, "format", false, err, errlen) < 0)
            goto out;
        break;
    }
    if ((w = next(&l))) {
        filter_err(err, errlen, "%s: unexpected argument '%s'", l.action, w);
        goto out;
    }
    /* The body's framing is decided when the head is parsed: a rule must
     * not make the head say something else (request smuggling). */
    if (r.name && r.del_match != HM_DEL_REG &&
        (strcasecmp(r.name, "content-length") == 0 ||
         strcasecmp(r.name, "transfer-encoding") == 0)) {
        filter_err(err, errlen, "%s: header '%s' frames the body and cannot be changed by a rule",
             l.action, r.name);
        goto out;
    }
    if (cond_at < argc) {
        if (acl_cond_parse(acls, argc - cond_at, argv + cond_at, &r.cond, cerr, sizeof(cerr)) !=
                0 ||
            acl_cond_check(r.cond, l.response ? ACL_WHERE_RESPONSE : ACL_WHERE_REQUEST, cerr,
                           sizeof(cerr)) != 0) {
            filter_err(err, errlen, "%s", cerr);
            goto out;
        }
    }
    {
        struct hm_rule *n = realloc(c->rules[dir], (c->nrules[dir] + 1) * sizeof(*n));
        if (!n)
            abort();
        c->rules[dir] = n;
        n[c->nrules[dir]++] = r;
    }
    return 0;

out:
    rule_free(&r);
    return rc;
}
