/*
 * identity.c: SPIFFE ID validation and the XFCC formatter. Pure string work;
 * the certificate side is in tls_openssl.c.
 */
#include "proxy/tls/identity.h"

#include <stdlib.h>
#include <string.h>

void tls_peer_identity_clear(struct tls_peer_identity *id)
{
    free(id->storage);
    memset(id, 0, sizeof(*id));
}

static bool td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

bool tls_spiffe_id_check(const char *s, size_t len, size_t *td_len)
{
    static const char scheme[] = "spiffe://";
    const size_t sl = sizeof(scheme) - 1;
    size_t i, td;

    if (len > TLS_SPIFFE_ID_MAX || len <= sl || memcmp(s, scheme, sl) != 0)
        return false;
    for (i = sl; i < len && s[i] != '/'; i++)
        if (!td_char((unsigned char)s[i]))
            return false; /* upper case, ':' (port), '@' (userinfo), '?', '#', '%' */
    td = i - sl;
    if (td == 0 || td > TLS_SPIFFE_TD_MAX)
        return false;
    while (i < len) {
        size_t start = ++i; /* past the '/' */
        while (i < len && s[i] != '/') {
            if (!path_char((unsigned char)s[i]))
                return false;
            i++;
        }
        size_t seg = i - start;
        if (seg == 0)
            return false; /* "//" or a trailing '/' */
        if ((seg == 1 && s[start] == '.') || (seg == 2 && s[start] == '.' && s[start + 1] == '.'))
            return false;
    }
    if (td_len)
        *td_len = td;
    return true;
}

/* ---- XFCC -------------------------------------------------------------- */

struct out {
    char *dst;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->dst + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static bool needs_quotes(const char *v)
{
    return strpbrk(v, ",;=\"\\ ") != NULL;
}

static void put_value(struct out *o, const char *v, bool force_quotes)
{
    if (!force_quotes && !needs_quotes(v)) {
        put_str(o, v);
        return;
    }
    put(o, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(o, "\\", 1);
        put(o, p, 1);
    }
    put(o, "\"", 1);
}

static void put_pair(struct out *o, const char *key, const char *v, bool force_quotes)
{
    if (o->len > 0)
        put(o, ";", 1);
    put_str(o, key);
    put(o, "=", 1);
    put_value(o, v, force_quotes);
}

size_t tls_xfcc_format(char *dst, size_t cap, const char *by, const struct tls_peer_identity *id)
{
    struct out o = {dst, cap, 0};

    if (by)
        put_pair(&o, "By", by, false);
    if (id->cert_present)
        put_pair(&o, "Hash", id->hash, false);
    if (id->subject)
        put_pair(&o, "Subject", id->subject, true);
    if (id->uri)
        put_pair(&o, "URI", id->uri, false);
    for (unsigned i = 0; i < id->n_dns; i++)
        put_pair(&o, "DNS", id->dns[i], false);
    if (cap > 0)
        dst[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}
