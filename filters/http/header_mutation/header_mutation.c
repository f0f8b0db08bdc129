/*
 * header_mutation.c: the request path of the http-request / http-response
 * rules: each rule's condition, then its action on the message head.
 *
 * Rules run in line order; `allow` stops the rules of its direction, and a
 * final action (deny, return, redirect) ends the request with a local reply
 * (response rules: deny). A format is evaluated into a per-thread scratch
 * buffer, then copied once into the stream's arena by the http_msg edit (or
 * by filter_local_reply / filter_reply_header, which copy): nothing is
 * allocated outside the arena and nothing is locked.
 *
 * Request rules see the request as the earlier rules left it (a set-path is
 * seen by a later `path` fetch), exactly as HAProxy's. Changing Host also
 * changes the request's authority, so that routing and the serializer agree.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/acl/acl.h"
#include "proxy/core/arena.h"

/* Evaluation scratch: formats, then a value being assembled. */
static __thread char scratch[HM_SCRATCH];
static __thread char scratch2[HM_SCRATCH];

static bool name_eq(struct http_str n, const char *name, uint32_t len)
{
    return http_str_ieq(n, name, len);
}

static bool is_host(const char *name, uint32_t len)
{
    return len == 4 && strncasecmp(name, "host", 4) == 0;
}

/* ---- del-header -m ----------------------------------------------------------------- */

static bool ci_match(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n) == 0;
}

static bool del_matches(const struct hm_rule *r, struct http_str n)
{
    size_t ovec[2 * ACL_REGEX_GROUPS];

    switch (r->del_match) {
    case HM_DEL_STR:
        return name_eq(n, r->name, r->name_len);
    case HM_DEL_BEG:
        return n.len >= r->name_len && ci_match(n.p, r->name, r->name_len);
    case HM_DEL_END:
        return n.len >= r->name_len && ci_match(n.p + n.len - r->name_len, r->name, r->name_len);
    case HM_DEL_SUB:
        for (uint32_t i = 0; i + r->name_len <= n.len; i++)
            if (ci_match(n.p + i, r->name, r->name_len))
                return true;
        return false;
    case HM_DEL_REG:
        return acl_regex_exec(r->re, n.p, n.len, ovec) > 0;
    }
    return false;
}

static void del_header(const struct hm_rule *r, struct http_msg *m)
{
    uint32_t out = 0;

    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (!del_matches(r, m->hdrs[i].name))
            m->hdrs[out++] = m->hdrs[i];
    m->nhdrs = out;
}

/* ---- replace-header / replace-value ------------------------------------------------- */

/* The replacement of one value matching the rule's regex, into out; 0 when
 * it does not match (value kept), -1 when the result does not fit. */
static long replace_one(const struct hm_rule *r, const struct acl_ctx *ctx, const char *v,
                        size_t n, char *out, size_t cap)
{
    size_t ovec[2 * ACL_REGEX_GROUPS];
    int g = acl_regex_exec(r->re, v, n, ovec);

    if (g <= 0)
        return 0;
    return hm_fmt_eval(&r->fmt, ctx, v, ovec, g, out, cap) < 0 ? -1 : 1;
}

static char *arena_copy(struct http_msg *m, const char *p, size_t n)
{
    return arena_strndup(m->arena, p, n);
}

/* replace-header: the whole value of each field `name` that matches. */
static int replace_header(const struct hm_rule *r, struct http_msg *m, const struct acl_ctx *ctx)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct http_hdr *h = &m->hdrs[i];
        long k;

        if (!name_eq(h->name, r->name, r->name_len))
            continue;
        k = replace_one(r, ctx, h->value.p ? h->value.p : "", h->value.len, scratch,
                        sizeof(scratch));
        if (k < 0)
            return -1;
        if (k > 0) {
            size_t n = strlen(scratch);
            h->value.p = arena_copy(m, scratch, n);
            h->value.len = (uint32_t)n;
        }
    }
    return 0;
}

/* replace-value: each comma-separated element of each field `name` (spaces
 * around an element are kept as they were; commas inside double quotes do
 * not separate). */
static int replace_value(const struct hm_rule *r, struct http_msg *m, const struct acl_ctx *ctx)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct http_hdr *h = &m->hdrs[i];
        const char *v = h->value.p ? h->value.p : "";
        uint32_t n = h->value.len, s = 0;
        size_t o = 0;
        bool changed = false;

        if (!name_eq(h->name, r->name, r->name_len))
            continue;
        while (s <= n) {
            uint32_t e = s, a, b;
            bool quoted = false;
            long k;

            for (; e < n; e++) {
                if (quoted && v[e] == '\\') {
                    e++;
                    continue;
                }
                if (v[e] == '"')
                    quoted = !quoted;
                else if (!quoted && v[e] == ',')
                    break;
            }
            if (e > n)
                e = n;
            a = s;
            b = e;
            while (a < b && (v[a] == ' ' || v[a] == '\t'))
                a++;
            while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
                b--;
            /* leading blanks as they were */
            if (a - s > sizeof(scratch2) - o)
                return -1;
            memcpy(scratch2 + o, v + s, a - s);
            o += a - s;
            k = replace_one(r, ctx, v + a, b - a, scratch, sizeof(scratch));
            if (k < 0)
                return -1;
            if (k > 0) {
                size_t len = strlen(scratch);
                if (len > sizeof(scratch2) - o)
                    return -1;
                memcpy(scratch2 + o, scratch, len);
                o += len;
                changed = true;
            } else {
                if (b - a > sizeof(scratch2) - o)
                    return -1;
                memcpy(scratch2 + o, v + a, b - a);
                o += b - a;
            }
            /* trailing blanks and the comma */
            if (e - b + 1 > sizeof(scratch2) - o)
                return -1;
            memcpy(scratch2 + o, v + b, e - b);
            o += e - b;
            if (e >= n)
                break;
            scratch2[o++] = ',';
            s = e + 1;
        }
        if (changed) {
            h->value.p = arena_copy(m, scratch2, o);
            h->value.len = (uint32_t)o;
        }
    }
    return 0;
}

/* ---- the request target and method -------------------------------------------------- */

/* Bytes a path may hold: visible ASCII but '?' and '#' (and '?' for a
 * query). Anything else would change how the request line reads. */
static bool target_chars(const char *p, size_t n, bool query)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '#' || (!query && c == '?'))
            return false;
    }
    return true;
}

static bool token_chars(const char *p, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

/* "/path[?query]" into m (copied into the arena). */
static bool set_pathq(struct http_msg *m, const char *v, size_t n)
{
    const char *q = memchr(v, '?', n);
    size_t plen = q ? (size_t)(q - v) : n;
    char *copy;

    if (plen == 0 || v[0] != '/' || !target_chars(v, plen, false) ||
        (q && !target_chars(q + 1, n - plen - 1, true)))
        return false;
    copy = arena_copy(m, v, n);
    m->path = (struct http_str){copy, (uint32_t)plen};
    m->query = q ? (struct http_str){copy + plen + 1, (uint32_t)(n - plen - 1)}
                 : (struct http_str){NULL, 0};
    return true;
}

/* set-uri: origin form "/p?q" or absolute form "scheme://authority/p?q". */
static bool set_uri(struct http_msg *m, const char *v, size_t n)
{
    const char *sep, *auth, *rest, *end = v + n;
    char *copy;

    if (n && v[0] == '/')
        return set_pathq(m, v, n);
    sep = n >= 3 ? strstr(v, "://") : NULL;
    if (!sep || sep == v || !token_chars(v, (size_t)(sep - v)))
        return false;
    auth = sep + 3;
    rest = auth;
    while (rest < end && *rest != '/' && *rest != '?')
        rest++;
    if (rest == auth || !target_chars(auth, (size_t)(rest - auth), false))
        return false;
    if (rest == end) {
        if (!set_pathq(m, "/", 1))
            return false;
    } else if (*rest == '?') {
        /* "http://h?q": the path is "/" */
        char *pq = arena_alloc(m->arena, (size_t)(end - rest) + 2);
        pq[0] = '/';
        memcpy(pq + 1, rest, (size_t)(end - rest));
        if (!set_pathq(m, pq, (size_t)(end - rest) + 1))
            return false;
    } else if (!set_pathq(m, rest, (size_t)(end - rest))) {
        return false;
    }
    copy = arena_copy(m, v, (size_t)(rest - v));
    m->scheme = (struct http_str){copy, (uint32_t)(sep - v)};
    m->authority = (struct http_str){copy + (auth - v), (uint32_t)(rest - auth)};
    return true;
}

/* ---- the rules ---------------------------------------------------------------------- */

static void host_changed(struct http_msg *m)
{
    struct http_str h = http_msg_get(m, "host", 4);
    m->authority = h;
}

const struct hm_rule *hm_run(const struct hm_config *c, enum hm_dir dir, struct http_msg *m,
                             const struct acl_ctx *ctx, uint16_t *fail)
{
    bool req = dir == HM_REQUEST;
    uint16_t too_large = req ? 431 : 502, invalid = req ? 400 : 502;
    uint32_t max = c->max_hdrs;

    *fail = 0;
    for (uint32_t i = 0; i < c->nrules[dir]; i++) {
        const struct hm_rule *r = &c->rules[dir][i];
        long n;

        if (r->cond && !acl_cond_eval(r->cond, ctx))
            continue;
        switch (r->act) {
        case HM_A_ALLOW:
            return NULL;
        case HM_A_DENY:
        case HM_A_RETURN:
        case HM_A_REDIRECT:
            return r;
        case HM_A_SET_HEADER:
        case HM_A_ADD_HEADER:
            n = hm_fmt_eval(&r->fmt, ctx, NULL, NULL, 0, scratch, sizeof(scratch));
            if (n < 0) {
                *fail = too_large;
                return NULL;
            }
            if ((r->act == HM_A_SET_HEADER
                     ? http_msg_set(m, r->name, r->name_len, scratch, (size_t)n, max)
                     : http_msg_add(m, r->name, r->name_len, scratch, (size_t)n, max)) != 0) {
                *fail = too_large;
                return NULL;
            }
            if (req && is_host(r->name, r->name_len))
                host_changed(m);
            break;
        case HM_A_DEL_HEADER:
            del_header(r, m);
            if (req)
                host_changed(m);
            break;
        case HM_A_REPLACE_HEADER:
        case HM_A_REPLACE_VALUE:
            if ((r->act == HM_A_REPLACE_HEADER ? replace_header(r, m, ctx)
                                               : replace_value(r, m, ctx)) != 0) {
                *fail = too_large;
                return NULL;
            }
            if (req && is_host(r->name, r->name_len))
                host_changed(m);
            break;
        case HM_A_SET_PATH:
        case HM_A_SET_QUERY:
        case HM_A_SET_URI:
        case HM_A_SET_PATHQ:
        case HM_A_SET_METHOD:
            n = hm_fmt_eval(&r->fmt, ctx, NULL, NULL, 0, scratch, sizeof(scratch));
            if (n < 0) {
                *fail = too_large;
                return NULL;
            }
            switch (r->act) {
            case HM_A_SET_PATH:
                if (n == 0 || !target_chars(scratch, (size_t)n, false)) {
                    *fail = invalid;
                    return NULL;
                }
                m->path = (struct http_str){arena_copy(m, scratch, (size_t)n), (uint32_t)n};
                break;
            case HM_A_SET_QUERY:
                if (!target_chars(scratch, (size_t)n, true)) {
                    *fail = invalid;
                    return NULL;
                }
                /* HAProxy: an existing '?' stays even when the value is
                 * empty; none is added for an empty value */
                if (m->query.p || n > 0)
                    m->query = (struct http_str){arena_copy(m, scratch, (size_t)n), (uint32_t)n};
                break;
            case HM_A_SET_PATHQ:
                if (!set_pathq(m, scratch, (size_t)n)) {
                    *fail = invalid;
                    return NULL;
                }
                break;
            case HM_A_SET_URI:
                if (!set_uri(m, scratch, (size_t)n)) {
                    *fail = invalid;
                    return NULL;
                }
                break;
            default: /* HM_A_SET_METHOD */
                if (!token_chars(scratch, (size_t)n)) {
                    *fail = invalid;
                    return NULL;
                }
                m->method_str = (struct http_str){arena_copy(m, scratch, (size_t)n),
                                                  (uint32_t)n};
                m->method = http_method_from(scratch, (size_t)n);
                break;
            }
            break;
        }
    }
    return NULL;
}

/* ---- replies ------------------------------------------------------------------------ */

/* Location of a redirect rule, into scratch2; its length, or -1. */
static long redirect_location(const struct hm_rule *r, const struct http_msg *m,
                              const struct acl_ctx *ctx)
{
    long n = hm_fmt_eval(&r->fmt, ctx, NULL, NULL, 0, scratch, sizeof(scratch));
    size_t o = 0;

#define PUT(p_, n_)                                      \
    do {                                                 \
        size_t k_ = (n_);                                \
        if (k_ >= sizeof(scratch2) - o)                  \
            return -1;                                   \
        memcpy(scratch2 + o, (p_), k_);                  \
        o += k_;                                         \
    } while (0)

    if (n < 0)
        return -1;
    if (r->redir == HM_REDIR_LOCATION) {
        PUT(scratch, (size_t)n);
    } else {
        struct http_str path = m->path.p ? m->path : HTTP_STR("/");
        if (r->redir == HM_REDIR_SCHEME) {
            struct http_str host = m->authority.p ? m->authority : http_msg_get(m, "host", 4);
            PUT(scratch, (size_t)n);
            if (host.p) {
                PUT("://", 3);
                PUT(host.p, host.len);
            }
        } else if (!(n == 1 && scratch[0] == '/')) {
            /* HAProxy: a prefix of "/" leaves the URI as it is */
            PUT(scratch, (size_t)n);
        }
        PUT(path.p, path.len);
        if (r->append_slash && (path.len == 0 || path.p[path.len - 1] != '/'))
            PUT("/", 1);
        if (!r->drop_query && m->query.p) {
            PUT("?", 1);
            PUT(m->query.p, m->query.len);
        }
    }
    scratch2[o] = 0;
#undef PUT
    return (long)o;
}

/* Sends the reply of a final rule (deny, return, redirect). */
static void reply(struct filter_stream *fs, const struct hm_rule *r, const struct http_msg *m,
                  const struct acl_ctx *ctx)
{
    long n;

    if (r->act == HM_A_REDIRECT) {
        n = redirect_location(r, m, ctx);
        if (n < 0 || filter_reply_header(fs, "location", scratch2) != 0) {
            filter_local_reply(fs, 431, NULL, NULL, 0, TERN_R_HEADERS_TOO_LARGE);
            return;
        }
        filter_local_reply(fs, r->status, NULL, "", 0, TERN_R_LOCAL_RESPONSE);
        return;
    }
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        if (hm_fmt_eval(&r->hdrs[i].value, ctx, NULL, NULL, 0, scratch, sizeof(scratch)) < 0 ||
            filter_reply_header(fs, r->hdrs[i].name, scratch) != 0) {
            filter_local_reply(fs, 431, NULL, NULL, 0, TERN_R_HEADERS_TOO_LARGE);
            return;
        }
    }
    {
        enum tern_reason why = r->act == HM_A_DENY ? TERN_R_DENIED : TERN_R_LOCAL_RESPONSE;
        if (r->body_page) {
            filter_local_reply(fs, r->status, NULL, NULL, 0, why);
        } else if (r->body_lf) {
            n = hm_fmt_eval(&r->fmt, ctx, NULL, NULL, 0, scratch, sizeof(scratch));
            if (n < 0)
                filter_local_reply(fs, 500, NULL, NULL, 0, why);
            else
                filter_local_reply(fs, r->status, r->ctype, scratch, (size_t)n, why);
        } else {
            filter_local_reply(fs, r->status, r->ctype, r->body ? r->body : "", r->body_len,
                               why);
        }
    }
}

/* ---- hooks -------------------------------------------------------------------------- */

static enum filter_status hm_request_headers(struct filter_stream *fs, void *state,
                                             struct http_msg *req, bool end_stream)
{
    const struct hm_config *c = filter_config(fs);
    const struct hm_rule *r;
    struct acl_ctx ctx = {0};
    uint16_t failed;

    (void)state;
    (void)end_stream;
    if (!c || !c->nrules[HM_REQUEST])
        return FILTER_CONTINUE;
    ctx.req = req;
    ctx.src = filter_info(fs)->client;
    r = hm_run(c, HM_REQUEST, req, &ctx, &failed);
    if (failed) {
        filter_local_reply(fs, failed, NULL, NULL, 0,
                           failed == 431 ? TERN_R_HEADERS_TOO_LARGE : TERN_R_BAD_REQUEST);
        return FILTER_STOP;
    }
    if (r) {
        reply(fs, r, req, &ctx);
        return FILTER_STOP;
    }
    return FILTER_CONTINUE;
}

static enum filter_status hm_response_headers(struct filter_stream *fs, void *state,
                                              struct http_msg *resp, bool end_stream)
{
    const struct hm_config *c = filter_config(fs);
    const struct filter_stream_info *info;
    const struct hm_rule *r;
    struct acl_ctx ctx = {0};
    uint16_t failed;

    (void)state;
    (void)end_stream;
    if (!c || !c->nrules[HM_RESPONSE])
        return FILTER_CONTINUE;
    info = filter_info(fs);
    ctx.req = info->request;
    ctx.res = resp;
    ctx.src = info->client;
    r = hm_run(c, HM_RESPONSE, resp, &ctx, &failed);
    if (failed) {
        filter_local_reply(fs, failed, NULL, NULL, 0, TERN_R_BAD_UPSTREAM_RESPONSE);
        return FILTER_STOP;
    }
    if (r) {
        reply(fs, r, resp, &ctx);
        return FILTER_STOP;
    }
    return FILTER_CONTINUE;
}

static int hm_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    (void)argc;
    (void)argv;
    (void)cfg;
    snprintf(err, errlen, "configured by http-request / http-response lines, not by 'filter'");
    return -1;
}

const struct http_filter_ops header_mutation_filter = {
    .name = "header-mutation",
    .config_parse = hm_config_parse,
    .config_free = hm_config_free,
    .request_headers = hm_request_headers,
    .response_headers = hm_response_headers,
};
