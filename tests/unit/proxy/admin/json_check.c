/* json_check.c: see json_check.h. Recursive descent, test-only. */
#include "tests/unit/proxy/admin/json_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const unsigned char *p, *end;
    char *err;
    size_t errlen;
    int depth;
};

static struct jv *parse_value(struct parser *ps);

static void *fail(struct parser *ps, const char *what)
{
    if (ps->err[0] == '\0')
        snprintf(ps->err, ps->errlen, "%s at offset -%zu from end", what,
                 (size_t)(ps->end - ps->p));
    return NULL;
}

static void ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static void put_utf8(char **buf, size_t *len, size_t *cap, uint32_t cp)
{
    unsigned char tmp[4];
    size_t n;

    if (cp < 0x80)
        tmp[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800)
        tmp[0] = 0xc0 | (cp >> 6), tmp[1] = 0x80 | (cp & 0x3f), n = 2;
    else if (cp < 0x10000)
        tmp[0] = 0xe0 | (cp >> 12), tmp[1] = 0x80 | ((cp >> 6) & 0x3f),
        tmp[2] = 0x80 | (cp & 0x3f), n = 3;
    else
        tmp[0] = 0xf0 | (cp >> 18), tmp[1] = 0x80 | ((cp >> 12) & 0x3f),
        tmp[2] = 0x80 | ((cp >> 6) & 0x3f), tmp[3] = 0x80 | (cp & 0x3f), n = 4;
    if (*len + n + 1 > *cap) {
        *cap = (*cap + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, tmp, n);
    *len += n;
}

static int hex4(struct parser *ps, uint32_t *out)
{
    *out = 0;
    if (ps->end - ps->p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = *ps->p++;
        *out <<= 4;
        if (c >= '0' && c <= '9')
            *out |= c - '0';
        else if (c >= 'a' && c <= 'f')
            *out |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            *out |= c - 'A' + 10;
        else
            return -1;
    }
    return 0;
}

/* Decodes one UTF-8 sequence at p (strict); returns its length or 0. */
static size_t utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    size_t n;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, *cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, *cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, *cp = p[0] & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
        (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return n;
}

static char *parse_string(struct parser *ps, size_t *outlen)
{
    size_t cap = 16, len = 0;
    char *buf;

    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, "expected a string");
    ps->p++;
    buf = malloc(cap);
    for (;;) {
        uint32_t cp;
        size_t n;

        if (ps->p >= ps->end) {
            free(buf);
            return fail(ps, "unterminated string");
        }
        if (*ps->p == '"') {
            ps->p++;
            break;
        }
        if (*ps->p < 0x20) {
            free(buf);
            return fail(ps, "raw control character in a string");
        }
        if (*ps->p == '\\') {
            unsigned char e;
            ps->p++;
            if (ps->p >= ps->end) {
                free(buf);
                return fail(ps, "unterminated escape");
            }
            e = *ps->p++;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(ps, &cp) < 0) {
                    free(buf);
                    return fail(ps, "bad \\u escape");
                }
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    free(buf);
                    return fail(ps, "lone low surrogate");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                        free(buf);
                        return fail(ps, "lone high surrogate");
                    }
                    ps->p += 2;
                    if (hex4(ps, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                        free(buf);
                        return fail(ps, "bad surrogate pair");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                break;
            default:
                free(buf);
                return fail(ps, "bad escape");
            }
            put_utf8(&buf, &len, &cap, cp);
            continue;
        }
        n = utf8_decode(ps->p, ps->end, &cp);
        if (n == 0) {
            free(buf);
            return fail(ps, "invalid UTF-8");
        }
        ps->p += n;
        put_utf8(&buf, &len, &cap, cp);
    }
    buf[len] = '\0';
    *outlen = len;
    return buf;
}

static struct jv *new_value(enum jv_type t)
{
    struct jv *v = calloc(1, sizeof(*v));
    v->t = t;
    return v;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static struct jv *parse_number(struct parser *ps)
{
    const unsigned char *start = ps->p;
    char tmp[64];
    struct jv *v;

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p))
        return fail(ps, "bad number");
    if (*ps->p == '0')
        ps->p++;
    else
        while (ps->p < ps->end && is_digit(*ps->p))
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p))
            return fail(ps, "bad fraction");
        while (ps->p < ps->end && is_digit(*ps->p))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p))
            return fail(ps, "bad exponent");
        while (ps->p < ps->end && is_digit(*ps->p))
            ps->p++;
    }
    if ((size_t)(ps->p - start) >= sizeof(tmp))
        return fail(ps, "number too long");
    memcpy(tmp, start, (size_t)(ps->p - start));
    tmp[ps->p - start] = '\0';
    v = new_value(JV_NUM);
    v->num = strtod(tmp, NULL);
    return v;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static void push(struct jv *v, struct jv *item, char *key)
{
    v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
    v->items[v->n] = item;
    if (v->t == JV_OBJ) {
        v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
        v->keys[v->n] = key;
    }
    v->n++;
}

static struct jv *parse_container(struct parser *ps, bool object)
{
    struct jv *v = new_value(object ? JV_OBJ : JV_ARR);

    ps->p++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        struct jv *item;

        ws(ps);
        if (object) {
            size_t klen;
            key = parse_string(ps, &klen);
            if (!key)
                goto bad;
            for (size_t i = 0; i < v->n; i++) {
                if (strcmp(v->keys[i], key) == 0) {
                    free(key);
                    fail(ps, "duplicate key");
                    goto bad;
                }
            }
            ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                goto bad;
            }
            ps->p++;
        }
        item = parse_value(ps);
        if (!item) {
            free(key);
            goto bad;
        }
        push(v, item, key);
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            return v;
        }
        fail(ps, "expected ',' or the end of the container");
        goto bad;
    }
bad:
    jv_free(v);
    return NULL;
}

static struct jv *parse_value(struct parser *ps)
{
    struct jv *v;

    ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value");
    if (++ps->depth > 64)
        return fail(ps, "too deep");
    switch (*ps->p) {
    case '{':
        v = parse_container(ps, true);
        break;
    case '[':
        v = parse_container(ps, false);
        break;
    case '"':
        v = new_value(JV_STR);
        v->str = parse_string(ps, &v->len);
        if (!v->str) {
            free(v);
            v = NULL;
        }
        break;
    case 't':
    case 'f':
        v = new_value(JV_BOOL);
        v->b = *ps->p == 't';
        if (!literal(ps, v->b ? "true" : "false")) {
            free(v);
            v = fail(ps, "bad literal");
        }
        break;
    case 'n':
        v = new_value(JV_NULL);
        if (!literal(ps, "null")) {
            free(v);
            v = fail(ps, "bad literal");
        }
        break;
    default:
        v = parse_number(ps);
    }
    ps->depth--;
    return v;
}

struct jv *jv_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct parser ps = {(const unsigned char *)text, (const unsigned char *)text + len, err,
                        errlen, 0};
    struct jv *v;

    err[0] = '\0';
    v = parse_value(&ps);
    if (!v)
        return NULL;
    ws(&ps);
    if (ps.p != ps.end) {
        jv_free(v);
        return fail(&ps, "trailing bytes after the value");
    }
    return v;
}

void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jv_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const struct jv *jv_get(const struct jv *v, const char *path)
{
    char part[128];

    while (v && *path) {
        size_t n = strcspn(path, ".");
        const struct jv *next = NULL;

        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        path += n + (path[n] == '.');
        if (v->t == JV_OBJ) {
            for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], part) == 0)
                    next = v->items[i];
        } else if (v->t == JV_ARR) {
            char *end;
            unsigned long idx = strtoul(part, &end, 10);
            if (*end == '\0' && idx < v->n)
                next = v->items[idx];
        }
        v = next;
    }
    return v;
}
