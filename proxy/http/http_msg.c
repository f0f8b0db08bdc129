/*
 * http_msg.c: header lookup and edits on an http_msg (see http_msg.h).
 * Lookups are linear: header counts are small (at most tune.http.maxhdr)
 * and a linear scan over a contiguous array beats any index we would have to
 * build per message.
 */
#include "proxy/http/http_msg.h"

#include <string.h>
#include <strings.h>

#include "proxy/core/arena.h"

bool http_str_ieq(struct http_str s, const char *lit, size_t len)
{
    return s.p && s.len == len && strncasecmp(s.p, lit, len) == 0;
}

int http_msg_find(const struct http_msg *m, const char *name, size_t name_len, uint32_t from)
{
    for (uint32_t i = from; i < m->nhdrs; i++)
        if (http_str_ieq(m->hdrs[i].name, name, name_len))
            return (int)i;
    return -1;
}

struct http_str http_msg_get(const struct http_msg *m, const char *name, size_t name_len)
{
    int i = http_msg_find(m, name, name_len, 0);
    return i < 0 ? (struct http_str){NULL, 0} : m->hdrs[i].value;
}

int http_msg_add(struct http_msg *m, const char *name, size_t name_len, const char *value,
                 size_t value_len, uint32_t max_hdrs)
{
    struct http_hdr *h;

    if (m->nhdrs >= max_hdrs)
        return -1;
    if (m->nhdrs == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 16;
        struct http_hdr *n;
        if (cap > max_hdrs)
            cap = max_hdrs;
        n = arena_alloc(m->arena, cap * sizeof(*n));
        if (m->nhdrs)
            memcpy(n, m->hdrs, m->nhdrs * sizeof(*n));
        m->hdrs = n;
        m->cap = cap;
    }
    h = &m->hdrs[m->nhdrs++];
    h->name.p = arena_strndup(m->arena, name, name_len);
    h->name.len = (uint32_t)name_len;
    h->value.p = arena_strndup(m->arena, value, value_len);
    h->value.len = (uint32_t)value_len;
    return 0;
}

uint32_t http_msg_del(struct http_msg *m, const char *name, size_t name_len)
{
    uint32_t out = 0, removed = 0;

    for (uint32_t i = 0; i < m->nhdrs; i++) {
        if (http_str_ieq(m->hdrs[i].name, name, name_len)) {
            removed++;
            continue;
        }
        m->hdrs[out++] = m->hdrs[i];
    }
    m->nhdrs = out;
    return removed;
}

int http_msg_set(struct http_msg *m, const char *name, size_t name_len, const char *value,
                 size_t value_len, uint32_t max_hdrs)
{
    http_msg_del(m, name, name_len);
    return http_msg_add(m, name, name_len, value, value_len, max_hdrs);
}

enum http_method http_method_from(const char *p, size_t len)
{
    static const struct {
        const char *s;
        size_t len;
        enum http_method m;
    } methods[] = {
        {"GET", 3, HTTP_M_GET},         {"HEAD", 4, HTTP_M_HEAD},
        {"POST", 4, HTTP_M_POST},       {"PUT", 3, HTTP_M_PUT},
        {"DELETE", 6, HTTP_M_DELETE},   {"CONNECT", 7, HTTP_M_CONNECT},
        {"OPTIONS", 7, HTTP_M_OPTIONS}, {"TRACE", 5, HTTP_M_TRACE},
        {"PATCH", 5, HTTP_M_PATCH},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (len == methods[i].len && memcmp(p, methods[i].s, len) == 0)
            return methods[i].m;
    return HTTP_M_OTHER;
}

bool http_method_idempotent(enum http_method m)
{
    switch (m) {
    case HTTP_M_GET:
    case HTTP_M_HEAD:
    case HTTP_M_PUT:
    case HTTP_M_DELETE:
    case HTTP_M_OPTIONS:
    case HTTP_M_TRACE:
        return true;
    default:
        return false;
    }
}
