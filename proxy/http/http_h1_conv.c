/*
 * http_h1_conv.c: a parsed HTTP/1.1 head (offsets) -> http_msg (pointers).
 * See http_h1.h. No copy: every string points into the bytes the head was
 * parsed from, which the connection keeps in place until the head has been
 * forwarded.
 */
#include <assert.h>
#include <string.h>

#include "proxy/codec/h1.h"
#include "proxy/core/arena.h"
#include "proxy/http/http_h1.h"

/* A cast converts the codec's method ids into the message's: same order. */
static_assert((int)H1_METHOD_OTHER == (int)HTTP_M_OTHER, "method ids");
static_assert((int)H1_METHOD_GET == (int)HTTP_M_GET, "method ids");
static_assert((int)H1_METHOD_HEAD == (int)HTTP_M_HEAD, "method ids");
static_assert((int)H1_METHOD_POST == (int)HTTP_M_POST, "method ids");
static_assert((int)H1_METHOD_PUT == (int)HTTP_M_PUT, "method ids");
static_assert((int)H1_METHOD_DELETE == (int)HTTP_M_DELETE, "method ids");
static_assert((int)H1_METHOD_CONNECT == (int)HTTP_M_CONNECT, "method ids");
static_assert((int)H1_METHOD_OPTIONS == (int)HTTP_M_OPTIONS, "method ids");
static_assert((int)H1_METHOD_TRACE == (int)HTTP_M_TRACE, "method ids");
static_assert((int)H1_METHOD_PATCH == (int)HTTP_M_PATCH, "method ids");

static struct http_str str(const char *base, struct h1_slice s)
{
    return (struct http_str){base + s.off, s.len};
}

static uint32_t flags_of(const struct h1_msg *h1)
{
    uint32_t f = 0;

    if (!(h1->flags & H1_F_KEEP_ALIVE))
        f |= HTTP_MSG_F_CONN_CLOSE;
    if (h1->flags & H1_F_CONN_KEEP_ALIVE)
        f |= HTTP_MSG_F_CONN_KEEPALIVE;
    if ((h1->flags & H1_F_CONN_UPGRADE) && (h1->flags & H1_F_UPGRADE))
        f |= HTTP_MSG_F_CONN_UPGRADE;
    if (h1->flags & H1_F_EXPECT_CONTINUE)
        f |= HTTP_MSG_F_EXPECT_CONTINUE;
    if (h1->flags & H1_F_CHUNKED)
        f |= HTTP_MSG_F_CHUNKED;
    if (h1->flags & H1_F_CONTENT_LENGTH)
        f |= HTTP_MSG_F_HAS_LENGTH;
    return f;
}

static void common(struct http_msg *m, struct arena *a, const char *base,
                   const struct h1_msg *h1, const struct h1_header *hdrs, uint32_t spare)
{
    uint32_t cap = h1->nhdrs + spare;

    m->version = h1->version;
    m->flags = flags_of(h1);
    m->content_length = (h1->flags & H1_F_CONTENT_LENGTH) ? (int64_t)h1->content_length : 0;
    m->arena = a;
    m->nhdrs = h1->nhdrs;
    m->cap = cap ? cap : 1;
    m->hdrs = arena_alloc(a, m->cap * sizeof(*m->hdrs));
    for (uint32_t i = 0; i < h1->nhdrs; i++) {
        m->hdrs[i].name = str(base, hdrs[i].name);
        m->hdrs[i].value = str(base, hdrs[i].value);
    }
}

void http_h1_request_msg(struct http_msg *m, struct arena *a, const char *base,
                         const struct h1_msg *h1, const struct h1_header *hdrs, uint32_t spare)
{
    struct http_str target;
    const char *q;

    memset(m, 0, sizeof(*m));
    m->kind = HTTP_MSG_REQUEST;
    common(m, a, base, h1, hdrs, spare);
    m->method = (enum http_method)h1->method_id;
    m->method_str = str(base, h1->method);

    switch (h1->target_form) {
    case H1_TARGET_ABSOLUTE:
        m->scheme = str(base, h1->scheme);
        m->authority = str(base, h1->authority);
        target = str(base, h1->path);
        break;
    case H1_TARGET_AUTHORITY:
        m->authority = str(base, h1->authority);
        target = (struct http_str){NULL, 0};
        break;
    case H1_TARGET_ASTERISK:
        target = HTTP_STR("*");
        break;
    default:
        target = str(base, h1->target);
        break;
    }
    if (h1->target_form != H1_TARGET_ABSOLUTE && h1->target_form != H1_TARGET_AUTHORITY &&
        h1->host >= 0)
        m->authority = str(base, hdrs[h1->host].value);

    q = target.p ? memchr(target.p, '?', target.len) : NULL;
    if (q) {
        m->path = (struct http_str){target.p, (uint32_t)(q - target.p)};
        m->query = (struct http_str){q + 1, (uint32_t)(target.len - m->path.len - 1)};
    } else {
        m->path = target;
    }
    /* absolute-form without a path: "/" (RFC 9112 3.2.1 for the origin form
     * it becomes) */
    if (h1->target_form == H1_TARGET_ABSOLUTE && m->path.len == 0)
        m->path = HTTP_STR("/");
}

void http_h1_response_msg(struct http_msg *m, struct arena *a, const char *base,
                          const struct h1_msg *h1, const struct h1_header *hdrs,
                          uint32_t spare)
{
    memset(m, 0, sizeof(*m));
    m->kind = HTTP_MSG_RESPONSE;
    common(m, a, base, h1, hdrs, spare);
    m->status = h1->status;
    m->reason = str(base, h1->reason);
}
