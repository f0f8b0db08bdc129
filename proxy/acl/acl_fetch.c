/*
 * acl_fetch.c: the fetch keywords and the fetches themselves: what an ACL
 * extracts from the request and hands to the matchers of acl_match.c.
 *
 * The table. One row per keyword, HAProxy's names: a fetch (`hdr`, `path`,
 * `urlp`, ...) and its ACL derivatives, which are the same fetch with another
 * implied match (`hdr_beg` = `hdr -m beg`). The row gives the sample type,
 * which decides the matches `-m` may choose (acl_parse.c checks them), and
 * the message it reads: the request, the response (`status`, `res.*`,
 * `shdr*`: false outside http-response rules), or for the bare `hdr`, as in
 * HAProxy, the response when there is one and the request otherwise.
 *
 * Samples are iterated, not collected: a fetch walks its samples (every
 * occurrence of a header, every value of a URL parameter) and calls the
 * matcher on each, stopping at the first match. An HAProxy ACL does the same
 * ("all occurrences are iterated over until a match is found"). Nothing is
 * copied: samples are slices of the request, with one exception: `url`,
 * `pathq` and `urlp` with a delimiter other than '?' need the target as one
 * string. When the parts still sit side by side in the receive buffer (always,
 * unless a filter rewrote the path or query) the slice covers them in place;
 * otherwise they are joined in a per-thread scratch buffer of ACL_URL_SCRATCH
 * bytes (no allocation; a longer URL gives no sample).
 *
 * Headers. `hdr` splits field values on commas outside double-quoted strings
 * and trims the spaces and tabs around each element, as HAProxy does for
 * list-valued headers; `fhdr` takes whole field values. An empty field value
 * is one empty sample (so `-m found` sees it). Names compare ignoring case.
 * Occurrence <occ>: 0 or absent = every element, N>0 = the Nth from the
 * first, -N = the Nth from the last.
 *
 * URL parameters (`urlp(<name>[,<delim>])`): the parameter list starts after
 * the first <delim> ('?' by default) of path + "?" + query; parameters end at
 * '&', ';' or <delim>; a parameter matches when it is `<name>=...` (name
 * case-sensitive); no name means every parameter that has a '='. Values are
 * not URL-decoded (HAProxy's behaviour).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/acl/acl.h"
#include "proxy/acl/acl_int.h"
#include "proxy/http/http_msg.h"

#define TD(name, kind, type, match, args, dir) \
    {name, ACL_F_##kind, ACL_T_##type, ACL_M_##match, ACL_ARGS_##args, ACL_DIR_##dir}
#define T(name, kind, type, match, args) TD(name, kind, type, match, args, REQ)
/* A string fetch and its _beg _dir _dom _end _len _reg _sub derivatives. */
#define STR_FAMILY(base, kind, args, dir)                                                  \
    TD(base "_beg", kind, STR, BEG, args, dir), TD(base "_dir", kind, STR, DIR, args, dir), \
        TD(base "_dom", kind, STR, DOM, args, dir),                                         \
        TD(base "_end", kind, STR, END, args, dir),                                         \
        TD(base "_len", kind, STR, LEN, args, dir),                                         \
        TD(base "_reg", kind, STR, REG, args, dir),                                         \
        TD(base "_sub", kind, STR, SUB, args, dir)

const struct acl_fetch acl_fetches[] = {
    T("always_false", FALSE, BOOL, BOOL, NONE),
    T("always_true", TRUE, BOOL, BOOL, NONE),
    T("dst", DST, IP, IP, NONE),
    T("dst_port", DST_PORT, INT, INT, NONE),
    T("fhdr", FHDR, STR, STR, HDR_NAME),
    /* bare `hdr` reads the response in response rules (HAProxy); its ACL
     * derivatives always read the request */
    TD("hdr", HDR, STR, STR, HDR, AUTO),
    STR_FAMILY("hdr", HDR, HDR, REQ),
    T("hdr_cnt", HDR_CNT, INT, INT, HDR_CNT),
    T("hdr_ip", HDR_IP, IP, IP, HDR),
    T("hdr_val", HDR_VAL, INT, INT, HDR),
    T("method", METHOD, METH, METH, NONE),
    T("path", PATH, STR, STR, NONE),
    STR_FAMILY("path", PATH, NONE, REQ),
    T("pathq", PATHQ, STR, STR, NONE),
    T("query", QUERY, STR, STR, NONE),
    T("req.fhdr", FHDR, STR, STR, HDR_NAME),
    T("req.fhdr_cnt", FHDR_CNT, INT, INT, HDR_CNT),
    T("req.hdr", HDR, STR, STR, HDR),
    T("req.hdr_cnt", HDR_CNT, INT, INT, HDR_CNT),
    T("req.hdr_ip", HDR_IP, IP, IP, HDR),
    T("req.hdr_val", HDR_VAL, INT, INT, HDR),
    T("req.len", REQ_LEN, INT, INT, NONE),
    T("req.proto_http", PROTO_HTTP, BOOL, BOOL, NONE),
    T("req.ssl_alpn", REQ_SSL_ALPN, STR, STR, NONE),
    T("req.ssl_hello_type", REQ_SSL_HELLO_TYPE, INT, INT, NONE),
    T("req.ssl_sni", REQ_SSL_SNI, STR, STR, NONE),
    STR_FAMILY("req.ssl_sni", REQ_SSL_SNI, NONE, REQ),
    T("req.ssl_ver", REQ_SSL_VER, INT, INT, NONE),
    T("req_len", REQ_LEN, INT, INT, NONE),
    T("req_ssl_hello_type", REQ_SSL_HELLO_TYPE, INT, INT, NONE),
    T("req_ssl_sni", REQ_SSL_SNI, STR, STR, NONE),
    T("req_ssl_ver", REQ_SSL_VER, INT, INT, NONE),
    T("req.ver", VER, STR, STR, NONE),
    T("req_ver", VER, STR, STR, NONE),
    TD("res.fhdr", FHDR, STR, STR, HDR_NAME, RES),
    TD("res.fhdr_cnt", FHDR_CNT, INT, INT, HDR_CNT, RES),
    TD("res.hdr", HDR, STR, STR, HDR, RES),
    STR_FAMILY("res.hdr", HDR, HDR, RES),
    TD("res.hdr_cnt", HDR_CNT, INT, INT, HDR_CNT, RES),
    TD("res.hdr_ip", HDR_IP, IP, IP, HDR, RES),
    TD("res.hdr_val", HDR_VAL, INT, INT, HDR, RES),
    TD("res.ver", VER, STR, STR, NONE, RES),
    TD("resp_ver", VER, STR, STR, NONE, RES),
    TD("shdr", HDR, STR, STR, HDR, RES),
    STR_FAMILY("shdr", HDR, HDR, RES),
    TD("shdr_cnt", HDR_CNT, INT, INT, HDR_CNT, RES),
    TD("shdr_ip", HDR_IP, IP, IP, HDR, RES),
    TD("shdr_val", HDR_VAL, INT, INT, HDR, RES),
    T("src", SRC, IP, IP, NONE),
    T("ssl_c_s_dn", SSL_C_S_DN, STR, STR, NONE),
    T("ssl_c_spiffe_id", SSL_C_SPIFFE_ID, STR, STR, NONE),
    STR_FAMILY("ssl_c_spiffe_id", SSL_C_SPIFFE_ID, NONE, REQ),
    T("ssl_c_used", SSL_C_USED, BOOL, BOOL, NONE),
    T("ssl_c_verify", SSL_C_VERIFY, INT, INT, NONE),
    T("ssl_fc", SSL_FC, BOOL, BOOL, NONE),
    T("ssl_fc_sni", SSL_FC_SNI, STR, STR, NONE),
    STR_FAMILY("ssl_fc_sni", SSL_FC_SNI, NONE, REQ),
    T("src_port", SRC_PORT, INT, INT, NONE),
    TD("status", STATUS, INT, INT, NONE, RES),
    T("url", URL, STR, STR, NONE),
    STR_FAMILY("url", URL, NONE, REQ),
    T("url_param", URLP, STR, STR, URLP),
    T("urlp", URLP, STR, STR, URLP),
    STR_FAMILY("urlp", URLP, URLP, REQ),
    T("urlp_val", URLP_VAL, INT, INT, URLP),
};
const size_t acl_nfetches = sizeof(acl_fetches) / sizeof(acl_fetches[0]);

const struct acl_fetch *acl_fetch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < acl_nfetches; i++)
        if (strlen(acl_fetches[i].name) == len && memcmp(acl_fetches[i].name, name, len) == 0)
            return &acl_fetches[i];
    return NULL;
}

/* ---- headers ---------------------------------------------------------------- */

static inline bool is_sp(char c)
{
    return c == ' ' || c == '\t';
}


/* The message an HTTP fetch reads: the request, or the response for res.*
 * fetches (and, in http-response rules, for the ones that read either). */
static const struct http_msg *fetch_msg(const struct acl_expr *e, const struct acl_ctx *ctx)
{
    switch (e->fetch->dir) {
    case ACL_DIR_RES:
        return ctx->res;
    case ACL_DIR_AUTO:
        return ctx->res ? ctx->res : ctx->req;
    default:
        return ctx->req;
    }
}

static inline bool name_is(const struct http_str n, const struct acl_args *a)
{
    if (!a->name)
        return true;
    if (n.len != a->name_len)
        return false;
    for (uint32_t i = 0; i < n.len; i++) {
        unsigned char x = (unsigned char)n.p[i], y = (unsigned char)a->name[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z'))
            return false;
    }
    return true;
}

/* Walks the header samples of a request: field values (split) or elements. */
struct hdr_iter {
    const struct http_msg *m;
    const struct acl_args *args;
    bool split;
    bool in_value;
    uint32_t h;      /* current field */
    uint32_t pos;    /* next element's offset in its value */
};

/* End of the list element starting at i: the next comma outside a
 * quoted-string (a backslash inside quotes escapes the next byte). */
static uint32_t elem_end(const char *v, uint32_t n, uint32_t i)
{
    bool quoted = false;

    for (; i < n; i++) {
        if (quoted) {
            if (v[i] == '\\')
                i++;
            else if (v[i] == '"')
                quoted = false;
        } else if (v[i] == '"') {
            quoted = true;
        } else if (v[i] == ',') {
            return i;
        }
    }
    return n;
}

static bool hdr_next(struct hdr_iter *it, const char **p, uint32_t *len)
{
    const struct http_msg *m = it->m;

    if (!it->in_value) {
        while (it->h < m->nhdrs && !name_is(m->hdrs[it->h].name, it->args))
            it->h++;
        if (it->h >= m->nhdrs)
            return false;
        it->in_value = true;
        it->pos = 0;
    }
    const struct http_hdr *hd = &m->hdrs[it->h];
    const char *v = hd->value.p ? hd->value.p : "";
    uint32_t n = hd->value.len;
    if (!it->split) {
        *p = v;
        *len = n;
        it->in_value = false;
        it->h++;
        return true;
    }
    uint32_t s = it->pos, e = elem_end(v, n, s);
    if (e >= n) {
        e = n;
        it->in_value = false;
        it->h++;
    } else {
        it->pos = e + 1;
    }
    while (s < e && is_sp(v[s]))
        s++;
    while (e > s && is_sp(v[e - 1]))
        e--;
    *p = v + s;
    *len = e - s;
    return true;
}

static void hdr_iter_init(struct hdr_iter *it, const struct http_msg *m, const struct acl_args *a,
                          bool split)
{
    *it = (struct hdr_iter){.m = m, .args = a, .split = split};
}

static uint32_t hdr_count(const struct http_msg *m, const struct acl_args *a, bool split)
{
    struct hdr_iter it;
    const char *p;
    uint32_t n, cnt = 0;

    hdr_iter_init(&it, m, a, split);
    while (hdr_next(&it, &p, &n))
        cnt++;
    return cnt;
}

/* HAProxy's strl2ic(): optional '-', then digits up to the first other byte;
 * no digit at all gives 0. Saturates instead of overflowing. */
static int64_t text_to_int(const char *p, uint32_t n)
{
    bool neg = false;
    int64_t v = 0;
    uint32_t i = 0;

    if (n > 0 && p[0] == '-') {
        neg = true;
        i = 1;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        int d = p[i] - '0';
        if (v > (INT64_MAX - d) / 10) {
            v = INT64_MAX;
            break;
        }
        v = v * 10 + d;
    }
    return neg ? -v : v;
}

/* Hands one header sample to the matcher of the fetch's type. */
static bool hdr_sample(const struct acl_expr *e, const char *p, uint32_t n)
{
    switch (e->fetch->kind) {
    case ACL_F_HDR_VAL:
        return acl_match_int(e, text_to_int(p, n));
    case ACL_F_HDR_IP: {
        struct acl_addr a;
        return acl_addr_from_text(p, n, &a) && acl_match_addr(e, &a);
    }
    default:
        return acl_match_str(e, p, n);
    }
}

/* The occ-th header sample (occ != 0: >0 from the first, <0 from the last). */
static bool hdr_pick(const struct http_msg *m, const struct acl_args *a, bool split, int32_t occ,
                     const char **p, uint32_t *n)
{
    struct hdr_iter it;

    if (occ < 0) {
        int64_t total = hdr_count(m, a, split);
        if (-(int64_t)occ > total)
            return false;
        occ = (int32_t)(total + occ + 1);
    }
    hdr_iter_init(&it, m, a, split);
    for (int32_t i = 0; i < occ; i++)
        if (!hdr_next(&it, p, n))
            return false;
    return true;
}

static bool fetch_hdr(const struct acl_expr *e, const struct http_msg *m, bool split)
{
    struct hdr_iter it;
    const char *p;
    uint32_t n;

    if (e->args.occ == 0) {
        hdr_iter_init(&it, m, &e->args, split);
        while (hdr_next(&it, &p, &n))
            if (hdr_sample(e, p, n))
                return true;
        return false;
    }
    return hdr_pick(m, &e->args, split, e->args.occ, &p, &n) && hdr_sample(e, p, n);
}

/* ---- the request target --------------------------------------------------- */

static __thread char url_scratch[ACL_URL_SCRATCH];

/* A part of a URL, preceded by a literal separator. */
struct url_part {
    const char *sep;
    uint32_t seplen;
    const char *p;
    uint32_t len;
};

/*
 * The concatenation of parts (separators included) as one slice: in place
 * when each part starts right after its predecessor and the separator bytes
 * between them are the expected ones (the parts then lie in one buffer, so
 * the bytes between are part of it), else copied into url_scratch.
 */
static bool url_join(const struct url_part *pt, int n, const char **out, uint32_t *outlen)
{
    const char *start = pt[0].p, *end = pt[0].p + pt[0].len;
    size_t total = pt[0].len;
    bool contiguous = true;

    for (int i = 1; i < n; i++) {
        total += (size_t)pt[i].seplen + pt[i].len;
        if (contiguous && (pt[i].p != end + pt[i].seplen ||
                           memcmp(end, pt[i].sep, pt[i].seplen) != 0))
            contiguous = false;
        end = pt[i].p + pt[i].len;
    }
    if (contiguous) {
        *out = start;
        *outlen = (uint32_t)(end - start);
        return true;
    }
    if (total > sizeof(url_scratch))
        return false;
    char *w = url_scratch;
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            memcpy(w, pt[i].sep, pt[i].seplen);
            w += pt[i].seplen;
        }
        if (pt[i].len)
            memcpy(w, pt[i].p, pt[i].len);
        w += pt[i].len;
    }
    *out = url_scratch;
    *outlen = (uint32_t)total;
    return true;
}

static inline bool path_ok(const struct http_msg *m)
{
    return m->path.p && m->path.len > 0 && m->path.p[0] == '/';
}

/* Path and query as one string ("/a?b"); false for "*" and CONNECT. */
static bool get_pathq(const struct http_msg *m, const char **p, uint32_t *n)
{
    struct url_part pt[2];
    int np = 0;

    if (!path_ok(m))
        return false;
    pt[np++] = (struct url_part){"", 0, m->path.p, m->path.len};
    if (m->query.p)
        pt[np++] = (struct url_part){"?", 1, m->query.p, m->query.len};
    return url_join(pt, np, p, n);
}

/* The URL as the client sent it: absolute form (or HTTP/2 with a scheme)
 * "scheme://authority/path?query", origin form "/path?query", "*", or the
 * authority of CONNECT. */
static bool get_url(const struct http_msg *m, const char **p, uint32_t *n)
{
    struct url_part pt[4];
    int np = 0;

    if (m->scheme.p) {
        pt[np++] = (struct url_part){"", 0, m->scheme.p, m->scheme.len};
        pt[np++] = (struct url_part){"://", 3, m->authority.p ? m->authority.p : "",
                                     m->authority.len};
        if (m->path.p)
            pt[np++] = (struct url_part){"", 0, m->path.p, m->path.len};
    } else if (m->path.p) {
        pt[np++] = (struct url_part){"", 0, m->path.p, m->path.len};
    } else if (m->authority.p) {
        *p = m->authority.p;
        *n = m->authority.len;
        return true;
    } else {
        return false;
    }
    if (m->query.p)
        pt[np++] = (struct url_part){"?", 1, m->query.p, m->query.len};
    return url_join(pt, np, p, n);
}

static inline bool urlp_is_delim(char c, char delim)
{
    return c == '&' || c == ';' || c == delim;
}

static bool urlp_sample(const struct acl_expr *e, const char *p, uint32_t n)
{
    return e->fetch->kind == ACL_F_URLP_VAL ? acl_match_int(e, text_to_int(p, n))
                                            : acl_match_str(e, p, n);
}

/* Calls cb on the value of each parameter urlp's arguments select, in order,
 * until it returns true. */
static bool urlp_walk(const struct acl_args *a, const struct http_msg *m,
                      bool (*cb)(const void *arg, const char *p, uint32_t n), const void *arg)
{
    const char *l;
    uint32_t n;

    if (a->delim == '?') {
        if (!path_ok(m) || !m->query.p)
            return false;
        l = m->query.p;
        n = m->query.len;
    } else {
        const char *d;
        if (!get_pathq(m, &l, &n) || !(d = memchr(l, a->delim, n)))
            return false;
        n -= (uint32_t)(d + 1 - l);
        l = d + 1;
    }
    for (uint32_t s = 0; s <= n;) {
        uint32_t e_ = s;
        while (e_ < n && !urlp_is_delim(l[e_], a->delim))
            e_++;
        if (a->name) {
            if (e_ - s > a->name_len && l[s + a->name_len] == '=' &&
                memcmp(l + s, a->name, a->name_len) == 0 &&
                cb(arg, l + s + a->name_len + 1, e_ - s - a->name_len - 1))
                return true;
        } else {
            const char *eq = memchr(l + s, '=', e_ - s);
            if (eq && cb(arg, eq + 1, (uint32_t)(l + e_ - eq - 1)))
                return true;
        }
        s = e_ + 1;
    }
    return false;
}

static bool urlp_match_cb(const void *arg, const char *p, uint32_t n)
{
    return urlp_sample(arg, p, n);
}

static bool fetch_urlp(const struct acl_expr *e, const struct http_msg *m)
{
    return urlp_walk(&e->args, m, urlp_match_cb, e);
}

/* ---- addresses -------------------------------------------------------------- */

bool acl_addr_from_sockaddr(const struct sockaddr *sa, struct acl_addr *out)
{
    if (!sa)
        return false;
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        out->v4 = 1;
        memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool acl_addr_from_text(const char *p, size_t n, struct acl_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    size_t alen = n;
    const char *port = NULL;
    bool bracket = false;

    memset(out, 0, sizeof(*out));
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close)
            return false;
        bracket = true;
        alen = (size_t)(close - p - 1);
        if ((size_t)(close - p) + 1 < n) {
            if (close[1] != ':')
                return false;
            port = close + 2;
        }
        p++;
    } else {
        const char *colon = memchr(p, ':', n);
        /* one colon: IPv4 with a port; more: an IPv6 address */
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - p))) {
            alen = (size_t)(colon - p);
            port = colon + 1;
        }
    }
    if (port) {
        const char *end = bracket ? p - 1 + n : p + n;
        uint32_t v = 0;
        if (port == end)
            return false;
        for (const char *q = port; q < end; q++) {
            if (*q < '0' || *q > '9' || (v = v * 10 + (uint32_t)(*q - '0')) > 65535)
                return false;
        }
    }
    if (alen == 0 || alen >= sizeof(buf))
        return false;
    memcpy(buf, p, alen);
    buf[alen] = '\0';
    if (!bracket && !memchr(buf, ':', alen)) {
        out->v4 = 1;
        return inet_pton(AF_INET, buf, out->a) == 1;
    }
    return inet_pton(AF_INET6, buf, out->a) == 1;
}

static bool sockaddr_port(const struct sockaddr *sa, int64_t *port)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET)
        *port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    else if (sa->sa_family == AF_INET6)
        *port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    else
        return false;
    return true;
}

/* ---- the dispatcher ----------------------------------------------------------- */

/* The string a TLS fetch reads, NULL when there is none. */
static const char *tls_str(const struct acl_ctx *ctx, uint8_t kind)
{
    if (!ctx->tls)
        return NULL;
    switch (kind) {
    case ACL_F_SSL_C_S_DN:
        return ctx->tls->c_s_dn;
    case ACL_F_SSL_FC_SNI:
        return ctx->tls->sni;
    case ACL_F_SSL_C_SPIFFE_ID:
        return ctx->tls->spiffe_id;
    default:
        return NULL;
    }
}

bool acl_expr_eval(const struct acl_expr *e, const struct acl_ctx *ctx)
{
    const struct http_msg *m;
    const char *p;
    uint32_t n;
    int64_t v;
    struct acl_addr a;

    switch (e->fetch->kind) {
    case ACL_F_TRUE:
        return acl_match_bool(e, true);
    case ACL_F_FALSE:
        return acl_match_bool(e, false);
    case ACL_F_SRC:
        return acl_addr_from_sockaddr(ctx->src, &a) && acl_match_addr(e, &a);
    case ACL_F_DST:
        return acl_addr_from_sockaddr(ctx->dst, &a) && acl_match_addr(e, &a);
    case ACL_F_SRC_PORT:
        return sockaddr_port(ctx->src, &v) && acl_match_int(e, v);
    case ACL_F_DST_PORT:
        return sockaddr_port(ctx->dst, &v) && acl_match_int(e, v);
    case ACL_F_SSL_FC:
        return acl_match_bool(e, ctx->tls != NULL);
    case ACL_F_SSL_C_USED:
        return ctx->tls && acl_match_bool(e, ctx->tls->c_used);
    case ACL_F_SSL_C_VERIFY:
        return ctx->tls && acl_match_int(e, ctx->tls->c_verify);
    case ACL_F_SSL_C_S_DN:
    case ACL_F_SSL_FC_SNI:
    case ACL_F_SSL_C_SPIFFE_ID: {
        const char *str = tls_str(ctx, e->fetch->kind);
        return str && acl_match_str(e, str, strlen(str));
    }
    case ACL_F_REQ_LEN:
        return ctx->payload && acl_match_int(e, (int64_t)ctx->payload->len);
    case ACL_F_REQ_SSL_HELLO_TYPE:
        return ctx->payload && ctx->payload->hello_type &&
               acl_match_int(e, ctx->payload->hello_type);
    case ACL_F_REQ_SSL_VER:
        return ctx->payload && ctx->payload->ssl_ver && acl_match_int(e, ctx->payload->ssl_ver);
    case ACL_F_REQ_SSL_SNI:
        return ctx->payload && ctx->payload->sni &&
               acl_match_str(e, ctx->payload->sni, strlen(ctx->payload->sni));
    case ACL_F_REQ_SSL_ALPN: {
        /* every protocol offered is a sample */
        const struct acl_payload *pl = ctx->payload;
        for (uint32_t i = 0; pl && pl->alpn && i < pl->alpn_len;) {
            uint32_t n = pl->alpn[i];
            if (n == 0 || i + 1 + n > pl->alpn_len)
                return false;
            if (acl_match_str(e, (const char *)pl->alpn + i + 1, n))
                return true;
            i += 1 + n;
        }
        return false;
    }
    default:
        break;
    }

    /* HTTP fetches: no message, no sample. */
    m = fetch_msg(e, ctx);
    if (!m)
        return false;
    switch (e->fetch->kind) {
    case ACL_F_PROTO_HTTP:
        return acl_match_bool(e, true);
    case ACL_F_HDR:
    case ACL_F_HDR_VAL:
    case ACL_F_HDR_IP:
        return fetch_hdr(e, m, true);
    case ACL_F_FHDR:
        return fetch_hdr(e, m, false);
    case ACL_F_HDR_CNT:
        return acl_match_int(e, hdr_count(m, &e->args, true));
    case ACL_F_FHDR_CNT:
        return acl_match_int(e, e->args.name ? hdr_count(m, &e->args, false) : m->nhdrs);
    case ACL_F_PATH:
        return path_ok(m) && acl_match_str(e, m->path.p, m->path.len);
    case ACL_F_PATHQ:
        return get_pathq(m, &p, &n) && acl_match_str(e, p, n);
    case ACL_F_URL:
        return get_url(m, &p, &n) && acl_match_str(e, p, n);
    case ACL_F_QUERY:
        return m->query.p && acl_match_str(e, m->query.p, m->query.len);
    case ACL_F_URLP:
    case ACL_F_URLP_VAL:
        return fetch_urlp(e, m);
    case ACL_F_METHOD:
        return m->method_str.p && acl_match_meth(e, m->method, m->method_str.p, m->method_str.len);
    case ACL_F_STATUS:
        return acl_match_int(e, m->status);
    case ACL_F_VER:
        switch (m->version) {
        case 10:
            return acl_match_str(e, "1.0", 3);
        case 11:
            return acl_match_str(e, "1.1", 3);
        case 20:
            return acl_match_str(e, "2.0", 3);
        default:
            return false;
        }
    default:
        return false;
    }
}

/* ---- samples as text (acl_sample_text) ------------------------------------------ */

struct first_val {
    const char *p;
    uint32_t n;
};

static bool urlp_first_cb(const void *arg, const char *p, uint32_t n)
{
    struct first_val *f = (struct first_val *)arg;
    f->p = p;
    f->n = n;
    return true;
}

static bool text_int(int64_t v, char *buf, size_t cap, const char **out, size_t *len)
{
    int k = snprintf(buf, cap, "%lld", (long long)v);
    if (k < 0 || (size_t)k >= cap)
        return false;
    *out = buf;
    *len = (size_t)k;
    return true;
}

static bool text_addr(const struct acl_addr *a, char *buf, size_t cap, const char **out,
                      size_t *len)
{
    if (!inet_ntop(a->v4 ? AF_INET : AF_INET6, a->a, buf, (socklen_t)cap))
        return false;
    *out = buf;
    *len = strlen(buf);
    return true;
}

bool acl_sample_text(const struct acl_expr *e, const struct acl_ctx *ctx, char *buf, size_t cap,
                     const char **out, size_t *len)
{
    const struct http_msg *m;
    const char *p;
    uint32_t n;
    int64_t v;
    struct acl_addr a;
    /* HAProxy's sample fetches take the last occurrence of a header */
    int32_t occ = e->args.occ ? e->args.occ : -1;

    switch (e->fetch->kind) {
    case ACL_F_TRUE:
        return text_int(1, buf, cap, out, len);
    case ACL_F_FALSE:
        return text_int(0, buf, cap, out, len);
    case ACL_F_SRC:
        return acl_addr_from_sockaddr(ctx->src, &a) && text_addr(&a, buf, cap, out, len);
    case ACL_F_DST:
        return acl_addr_from_sockaddr(ctx->dst, &a) && text_addr(&a, buf, cap, out, len);
    case ACL_F_SRC_PORT:
        return sockaddr_port(ctx->src, &v) && text_int(v, buf, cap, out, len);
    case ACL_F_DST_PORT:
        return sockaddr_port(ctx->dst, &v) && text_int(v, buf, cap, out, len);
    case ACL_F_SSL_FC:
        return text_int(ctx->tls != NULL, buf, cap, out, len);
    case ACL_F_SSL_C_USED:
        return ctx->tls && text_int(ctx->tls->c_used, buf, cap, out, len);
    case ACL_F_SSL_C_VERIFY:
        return ctx->tls && text_int(ctx->tls->c_verify, buf, cap, out, len);
    case ACL_F_SSL_C_S_DN:
    case ACL_F_SSL_FC_SNI:
    case ACL_F_SSL_C_SPIFFE_ID: {
        const char *str = tls_str(ctx, e->fetch->kind);
        if (!str)
            return false;
        *out = str;
        *len = strlen(str);
        return true;
    }
    case ACL_F_REQ_LEN:
        return ctx->payload && text_int((int64_t)ctx->payload->len, buf, cap, out, len);
    case ACL_F_REQ_SSL_HELLO_TYPE:
        return ctx->payload && ctx->payload->hello_type &&
               text_int(ctx->payload->hello_type, buf, cap, out, len);
    case ACL_F_REQ_SSL_VER:
        return ctx->payload && ctx->payload->ssl_ver &&
               text_int(ctx->payload->ssl_ver, buf, cap, out, len);
    case ACL_F_REQ_SSL_SNI:
        if (!ctx->payload || !ctx->payload->sni)
            return false;
        *out = ctx->payload->sni;
        *len = strlen(ctx->payload->sni);
        return true;
    case ACL_F_REQ_SSL_ALPN: {
        /* the first protocol offered */
        const struct acl_payload *pl = ctx->payload;
        if (!pl || !pl->alpn || pl->alpn_len < 2 || pl->alpn[0] == 0 ||
            1u + pl->alpn[0] > pl->alpn_len)
            return false;
        *out = (const char *)pl->alpn + 1;
        *len = pl->alpn[0];
        return true;
    }
    default:
        break;
    }
    m = fetch_msg(e, ctx);
    if (!m)
        return false;
    switch (e->fetch->kind) {
    case ACL_F_PROTO_HTTP:
        return text_int(1, buf, cap, out, len);
    case ACL_F_HDR:
    case ACL_F_FHDR:
        if (!hdr_pick(m, &e->args, e->fetch->kind == ACL_F_HDR, occ, &p, &n))
            return false;
        *out = p;
        *len = n;
        return true;
    case ACL_F_HDR_VAL:
        return hdr_pick(m, &e->args, true, occ, &p, &n) &&
               text_int(text_to_int(p, n), buf, cap, out, len);
    case ACL_F_HDR_IP:
        return hdr_pick(m, &e->args, true, occ, &p, &n) && acl_addr_from_text(p, n, &a) &&
               text_addr(&a, buf, cap, out, len);
    case ACL_F_HDR_CNT:
        return text_int(hdr_count(m, &e->args, true), buf, cap, out, len);
    case ACL_F_FHDR_CNT:
        return text_int(e->args.name ? hdr_count(m, &e->args, false) : m->nhdrs, buf, cap, out,
                        len);
    case ACL_F_PATH:
        if (!m->path.p)
            return false;
        *out = m->path.p;
        *len = m->path.len;
        return true;
    case ACL_F_PATHQ:
        if (!get_pathq(m, &p, &n))
            return false;
        *out = p;
        *len = n;
        return true;
    case ACL_F_URL:
        if (!get_url(m, &p, &n))
            return false;
        *out = p;
        *len = n;
        return true;
    case ACL_F_QUERY:
        if (!m->query.p)
            return false;
        *out = m->query.p;
        *len = m->query.len;
        return true;
    case ACL_F_URLP:
    case ACL_F_URLP_VAL: {
        struct first_val f = {NULL, 0};
        if (!urlp_walk(&e->args, m, urlp_first_cb, &f))
            return false;
        if (e->fetch->kind == ACL_F_URLP_VAL)
            return text_int(text_to_int(f.p, f.n), buf, cap, out, len);
        *out = f.p;
        *len = f.n;
        return true;
    }
    case ACL_F_METHOD:
        if (!m->method_str.p)
            return false;
        *out = m->method_str.p;
        *len = m->method_str.len;
        return true;
    case ACL_F_STATUS:
        return text_int(m->status, buf, cap, out, len);
    case ACL_F_VER:
        switch (m->version) {
        case 10: *out = "1.0"; break;
        case 11: *out = "1.1"; break;
        case 20: *out = "2.0"; break;
        default: return false;
        }
        *len = 3;
        return true;
    default:
        return false;
    }
}
