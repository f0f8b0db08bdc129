/*
 * http_h1_write.c: http_msg -> HTTP/1.1 head bytes, without the hop-by-hop
 * fields (see http_h1.h for which, and why the framing fields are never
 * removed even when Connection lists them).
 *
 * One pass to drop the hop-by-hop fields from the message, one to write.
 * Writing is bounded by the caller's buffer (a connection buffer); a head
 * that does not fit is refused, never truncated.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/codec/h1.h"
#include "proxy/core/arena.h"
#include "proxy/core/util.h"
#include "proxy/http/http_h1.h"

struct out {
    char *p;
    char *end;
    bool full;
};

static char *put(struct out *o, const char *s, size_t n)
{
    char *at = o->p;

    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = true;
        return NULL;
    }
    memcpy(o->p, s, n);
    o->p += n;
    return at;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)
#define TERN_HTTP_ASSERT(c) TERN_ASSERT(c)

static bool ieq(struct http_str s, const char *lit)
{
    return http_str_ieq(s, lit, strlen(lit));
}

bool http_h1_is_hop_by_hop(const char *name, size_t len)
{
    static const struct {
        const char *s;
        size_t n;
    } hop[] = {
        {"connection", 10}, {"keep-alive", 10}, {"proxy-connection", 16},
        {"te", 2},          {"upgrade", 7},     {"http2-settings", 14},
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (len == hop[i].n && h1_token_eq(name, len, hop[i].s, hop[i].n))
            return true;
    return false;
}

/* Fields a Connection token may never remove: they frame the message. */
static bool framing_field(struct http_str name)
{
    return ieq(name, "content-length") || ieq(name, "transfer-encoding") || ieq(name, "host");
}

/* Whether a Connection field of m lists `name`. */
static bool listed_in_connection(const struct http_msg *m, struct http_str name)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct http_hdr *h = &m->hdrs[i];
        size_t pos = 0;
        struct h1_slice e;

        if (!ieq(h->name, "connection"))
            continue;
        while (h1_list_next(h->value.p, h->value.len, &pos, &e))
            if (e.len == name.len && h1_token_eq(h->value.p + e.off, e.len, name.p, name.len))
                return true;
    }
    return false;
}

/* Whether a TE field of m has the "trailers" element. */
static bool te_trailers(const struct http_msg *m)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct http_hdr *h = &m->hdrs[i];
        size_t pos = 0;
        struct h1_slice e;

        if (!ieq(h->name, "te"))
            continue;
        while (h1_list_next(h->value.p, h->value.len, &pos, &e)) {
            /* "trailers" takes no parameters: compare the whole element */
            if (h1_token_eq(h->value.p + e.off, e.len, "trailers", 8))
                return true;
        }
    }
    return false;
}

/* Connection tokens that name no field of their own (RFC 9110 7.6.1 lists
 * field names; these are the usual options). */
static bool conn_option(const char *p, size_t len)
{
    return h1_token_eq(p, len, "close", 5) || h1_token_eq(p, len, "keep-alive", 10) ||
           h1_token_eq(p, len, "upgrade", 7);
}

/* Whether m's Connection fields list a field name beyond the usual options:
 * only then must every field be checked against them. */
static bool connection_lists_fields(const struct http_msg *m)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct http_hdr *h = &m->hdrs[i];
        size_t pos = 0;
        struct h1_slice e;

        if (h->name.len != 10 || !ieq(h->name, "connection"))
            continue;
        while (h1_list_next(h->value.p, h->value.len, &pos, &e))
            if (!conn_option(h->value.p + e.off, e.len))
                return true;
    }
    return false;
}

/* Removes the hop-by-hop fields from m, keeping the order of the others. */
static void strip_hop_by_hop(struct http_msg *m)
{
    uint32_t out = 0;
    bool listed = connection_lists_fields(m);

    /* Mark (by emptying the name: no valid field has an empty name) the
     * fields to drop; the Connection fields last, since the others are
     * checked against what they list. */
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct http_str n = m->hdrs[i].name;
        if (n.len == 10 && ieq(n, "connection"))
            continue;
        if (http_h1_is_hop_by_hop(n.p, n.len) ||
            (listed && !framing_field(n) && listed_in_connection(m, n)))
            m->hdrs[i].name.len = 0;
    }
    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (m->hdrs[i].name.len == 10 && ieq(m->hdrs[i].name, "connection"))
            m->hdrs[i].name.len = 0;
    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (m->hdrs[i].name.len)
            m->hdrs[out++] = m->hdrs[i];
    m->nhdrs = out;
}

/* Writes the fields of m, recording where each name and value went when
 * `repoint` (so m then points into the output). */
static void put_fields(struct out *o, struct http_msg *m, bool repoint)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct http_hdr *h = &m->hdrs[i];
        char *n = put(o, h->name.p, h->name.len);
        char *v;

        PUT_LIT(o, ": ");
        v = put(o, h->value.p, h->value.len);
        PUT_LIT(o, "\r\n");
        if (repoint && !o->full) {
            h->name.p = n;
            h->value.p = v ? v : n + h->name.len; /* empty value: any valid pointer */
        }
    }
}

static void put_connection(struct out *o, const struct http_h1_conn_opts *c, bool te)
{
    const char *tok[3];
    size_t n = 0;

    if (c->upgrade.p) {
        PUT_LIT(o, "Connection: upgrade\r\nUpgrade: ");
        put(o, c->upgrade.p, c->upgrade.len);
        PUT_LIT(o, "\r\n");
        return;
    }
    if (c->close)
        tok[n++] = "close";
    else if (c->keep_alive)
        tok[n++] = "keep-alive";
    if (te)
        tok[n++] = "te";
    if (n == 0)
        return;
    PUT_LIT(o, "Connection: ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            PUT_LIT(o, ", ");
        put(o, tok[i], strlen(tok[i]));
    }
    PUT_LIT(o, "\r\n");
}

/* Bytes of the fields of m on the wire. */
static size_t fields_size(const struct http_msg *m)
{
    size_t n = 0;
    for (uint32_t i = 0; i < m->nhdrs; i++)
        n += m->hdrs[i].name.len + 2 + m->hdrs[i].value.len + 2;
    return n;
}

ssize_t http_h1_write_request(struct http_msg *m, char *buf, size_t cap,
                              const struct http_h1_conn_opts *c)
{
    struct out o = {buf, buf + cap, false};
    bool te = te_trailers(m);

    if (te)
        m->flags |= HTTP_MSG_F_TE_TRAILERS; /* an HTTP/2 server gets it back */
    char *meth, *path, *query = NULL;
    size_t need;

    strip_hop_by_hop(m);
    /* RFC 9112 3.2.2: with an absolute-form target, Host is the target's
     * authority whatever the client sent. */
    if (m->scheme.p && m->authority.p) {
        http_msg_set(m, "Host", 4, m->authority.p, m->authority.len, m->nhdrs + 1);
        m->scheme.p = arena_strndup(m->arena, m->scheme.p, m->scheme.len);
    }
    /* Check the size first: once writing starts, m is repointed. The
     * Connection line is at most "Connection: keep-alive, te" + CRLF. */
    need = m->method_str.len + 1 + m->path.len + (m->query.p ? 1 + m->query.len : 0) + 11 +
           fields_size(m) + 28 + (te ? 14 : 0) + 2 +
           (c->upgrade.p ? 32 + c->upgrade.len : 0);
    if (need > cap)
        return -1;

    meth = put(&o, m->method_str.p, m->method_str.len);
    PUT_LIT(&o, " ");
    path = put(&o, m->path.p, m->path.len);
    if (m->query.p) {
        PUT_LIT(&o, "?");
        query = put(&o, m->query.p, m->query.len);
        if (!query && !o.full)
            query = o.p;
    }
    if (c->version == 10)
        PUT_LIT(&o, " HTTP/1.0\r\n");
    else
        PUT_LIT(&o, " HTTP/1.1\r\n");
    put_fields(&o, m, true);
    put_connection(&o, c, te);
    if (te)
        PUT_LIT(&o, "TE: trailers\r\n");
    PUT_LIT(&o, "\r\n");
    TERN_HTTP_ASSERT(!o.full);
    m->method_str.p = meth;
    m->path.p = path;
    if (m->query.p)
        m->query.p = query;
    {
        struct http_str host = http_msg_get(m, "host", 4);
        m->authority = host;
    }
    return o.p - buf;
}

ssize_t http_h1_write_response(struct http_msg *m, char *buf, size_t cap,
                               const struct http_h1_conn_opts *c)
{
    struct out o = {buf, buf + cap, false};
    char code[8];

    strip_hop_by_hop(m);
    if (c->version == 10)
        PUT_LIT(&o, "HTTP/1.0 ");
    else
        PUT_LIT(&o, "HTTP/1.1 ");
    snprintf(code, sizeof(code), "%03u ", (unsigned)(m->status % 1000));
    put(&o, code, 4);
    if (m->reason.len)
        put(&o, m->reason.p, m->reason.len);
    PUT_LIT(&o, "\r\n");
    put_fields(&o, m, false);
    put_connection(&o, c, false);
    PUT_LIT(&o, "\r\n");
    return o.full ? -1 : o.p - buf;
}
