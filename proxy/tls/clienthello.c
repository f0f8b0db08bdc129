/*
 * clienthello.c: the ClientHello parser (RFC 8446 section 4.1.2, RFC 5246
 * section 7.4.1.2, extensions from RFC 6066, 7301, 8446).
 *
 * Two steps. The record layer: handshake records (type 22, version 3.x,
 * 1..16384 bytes) are walked from the start of the stream and their payloads
 * gathered into a bounded stack buffer until the first handshake message is
 * complete (its 4-byte header gives its length). Then the message: each field
 * is read through a cursor that refuses to go past the end of what contains
 * it, so a length can never point outside the bytes it claims.
 */
#include "proxy/tls/clienthello.h"

#include <string.h>

#define REC_HANDSHAKE 22
#define REC_MAX 16384
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_MAX_COUNT 128

struct cur {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static uint32_t get(struct cur *c, size_t n)
{
    uint32_t v = 0;

    if (c->bad || c->left < n) {
        c->bad = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | c->p[i];
    c->p += n;
    c->left -= n;
    return v;
}

/* A sub-cursor over the next n bytes (consumed from c). */
static struct cur sub(struct cur *c, size_t n)
{
    struct cur s = {c->p, n, false};

    if (c->bad || c->left < n) {
        c->bad = true;
        s.left = 0;
        s.bad = true;
        return s;
    }
    c->p += n;
    c->left -= n;
    return s;
}

static bool grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static bool host_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

static bool parse_sni(struct cur e, struct tls_hello *h)
{
    struct cur list = sub(&e, get(&e, 2));

    if (e.bad || e.left != 0 || list.left == 0)
        return false;
    while (list.left > 0) {
        uint8_t type = (uint8_t)get(&list, 1);
        struct cur name = sub(&list, get(&list, 2));
        if (list.bad)
            return false;
        if (type != 0)
            continue; /* unknown name types are skipped (RFC 6066) */
        if (h->has_sni || name.left == 0 || name.left > 255)
            return false; /* one host_name at most */
        for (size_t i = 0; i < name.left; i++)
            if (!host_char(name.p[i]))
                return false;
        if (name.p[name.left - 1] == '.')
            return false; /* "without a trailing dot" */
        memcpy(h->sni, name.p, name.left);
        h->sni[name.left] = '\0';
        h->sni_len = (uint8_t)name.left;
        h->has_sni = true;
    }
    return true;
}

static bool parse_alpn(struct cur e, struct tls_hello *h)
{
    struct cur list = sub(&e, get(&e, 2));

    if (e.bad || e.left != 0 || list.left < 2)
        return false;
    h->has_alpn = true;
    while (list.left > 0) {
        size_t n = get(&list, 1);
        struct cur proto = sub(&list, n);
        if (list.bad || n == 0)
            return false;
        if (h->alpn_len + 1 + n > TLS_HELLO_ALPN_MAX || h->n_alpn == UINT8_MAX) {
            h->alpn_truncated = true;
            continue;
        }
        h->alpn[h->alpn_len] = (uint8_t)n;
        memcpy(h->alpn + h->alpn_len + 1, proto.p, n);
        h->alpn_len = (uint16_t)(h->alpn_len + 1 + n);
        h->n_alpn++;
    }
    return true;
}

static bool parse_versions(struct cur e, struct tls_hello *h)
{
    struct cur list = sub(&e, get(&e, 1));

    if (e.bad || e.left != 0 || list.left < 2 || (list.left & 1))
        return false;
    h->has_versions = true;
    while (list.left > 0) {
        uint16_t v = (uint16_t)get(&list, 2);
        if (h->n_versions < TLS_HELLO_VERSIONS_MAX)
            h->versions[h->n_versions++] = v;
        if (!grease(v) && v > h->max_version)
            h->max_version = v;
    }
    return true;
}

static enum tls_hello_result parse_hello(const uint8_t *msg, size_t len, struct tls_hello *h)
{
    struct cur c = {msg, len, false};
    uint16_t seen[EXT_MAX_COUNT];
    unsigned n_seen = 0;
    size_t n;

    h->legacy_version = (uint16_t)get(&c, 2);
    get(&c, 32); /* random */
    n = get(&c, 1);
    if (n > 32)
        return TLS_HELLO_MALFORMED;
    sub(&c, n); /* legacy_session_id */
    n = get(&c, 2);
    if (c.bad || n < 2 || (n & 1))
        return TLS_HELLO_MALFORMED;
    sub(&c, n); /* cipher_suites */
    n = get(&c, 1);
    if (c.bad || n < 1)
        return TLS_HELLO_MALFORMED;
    sub(&c, n); /* legacy_compression_methods */
    if (c.bad || (h->legacy_version >> 8) != 3)
        return TLS_HELLO_MALFORMED;
    if (c.left == 0) {
        h->max_version = h->legacy_version; /* no extensions (TLS 1.2 and older) */
        return TLS_HELLO_OK;
    }
    struct cur exts = sub(&c, get(&c, 2));
    if (c.bad || c.left != 0)
        return TLS_HELLO_MALFORMED; /* bytes after the extensions */
    while (exts.left > 0) {
        uint16_t type = (uint16_t)get(&exts, 2);
        struct cur e = sub(&exts, get(&exts, 2));
        bool ok = true;

        if (exts.bad)
            return TLS_HELLO_MALFORMED;
        for (unsigned i = 0; i < n_seen; i++)
            if (seen[i] == type)
                return TLS_HELLO_MALFORMED; /* one extension of a type (RFC 8446 4.2) */
        if (n_seen == EXT_MAX_COUNT)
            return TLS_HELLO_MALFORMED;
        seen[n_seen++] = type;
        switch (type) {
        case EXT_SERVER_NAME:
            ok = parse_sni(e, h);
            break;
        case EXT_ALPN:
            ok = parse_alpn(e, h);
            break;
        case EXT_SUPPORTED_VERSIONS:
            ok = parse_versions(e, h);
            break;
        default:
            break;
        }
        if (!ok)
            return TLS_HELLO_MALFORMED;
    }
    if (!h->has_versions)
        h->max_version = h->legacy_version;
    return TLS_HELLO_OK;
}

enum tls_hello_result tls_hello_parse(const uint8_t *data, size_t len, size_t max_len,
                                      struct tls_hello *out)
{
    uint8_t msg[TLS_HELLO_MAX_LEN];
    size_t have = 0, off = 0, total = 0;

    memset(out, 0, sizeof(*out));
    if (max_len == 0 || max_len > TLS_HELLO_MAX_LEN)
        max_len = TLS_HELLO_MAX_LEN;
    for (;;) {
        size_t rlen, avail;

        /* The record header, checked byte by byte as it arrives so that
         * "not TLS" is said as early as possible. */
        if (len - off < 5) {
            size_t got = len - off;
            if (got >= 1 && data[off] != REC_HANDSHAKE)
                return off == 0 ? TLS_HELLO_NOT_TLS : TLS_HELLO_MALFORMED;
            if (got >= 2 && data[off + 1] != 3)
                return off == 0 ? TLS_HELLO_NOT_TLS : TLS_HELLO_MALFORMED;
            return TLS_HELLO_NEED_MORE;
        }
        if (data[off] != REC_HANDSHAKE || data[off + 1] != 3)
            return off == 0 ? TLS_HELLO_NOT_TLS : TLS_HELLO_MALFORMED;
        if (off == 0)
            out->record_version = (uint16_t)(data[1] << 8 | data[2]);
        rlen = (size_t)data[off + 3] << 8 | data[off + 4];
        if (rlen == 0 || rlen > REC_MAX)
            return TLS_HELLO_MALFORMED;
        avail = len - off - 5;
        if (avail > rlen)
            avail = rlen;
        /* Gather no more than the message needs (once its length is known)
         * and never more than max_len. */
        size_t want = avail;
        if (total && want > total - have)
            want = total - have;
        if (have + want > max_len)
            want = max_len - have;
        memcpy(msg + have, data + off + 5, want);
        have += want;
        if (total == 0 && have >= 4) {
            out->hs_type = msg[0];
            total = 4 + ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]);
            if (out->hs_type != HS_CLIENT_HELLO)
                return TLS_HELLO_NOT_HELLO;
            if (total > max_len)
                return TLS_HELLO_TOO_BIG;
            if (have > total)
                have = total;
        }
        if (total && have >= total) {
            out->record_bytes = off + 5 + rlen;
            return parse_hello(msg + 4, total - 4, out);
        }
        if (avail < rlen)
            return TLS_HELLO_NEED_MORE;
        if (have >= max_len)
            return TLS_HELLO_TOO_BIG;
        off += 5 + rlen;
    }
}

bool tls_hello_next_alpn(const struct tls_hello *h, size_t *pos, const char **name,
                         size_t *name_len)
{
    if (*pos >= h->alpn_len)
        return false;
    *name_len = h->alpn[*pos];
    *name = (const char *)h->alpn + *pos + 1;
    *pos += 1 + *name_len;
    return true;
}

const char *tls_hello_result_name(enum tls_hello_result r)
{
    switch (r) {
    case TLS_HELLO_OK:
        return "ok";
    case TLS_HELLO_NEED_MORE:
        return "need_more";
    case TLS_HELLO_NOT_TLS:
        return "not_tls";
    case TLS_HELLO_NOT_HELLO:
        return "not_hello";
    case TLS_HELLO_MALFORMED:
        return "malformed";
    case TLS_HELLO_TOO_BIG:
        return "too_big";
    }
    return "unknown";
}
