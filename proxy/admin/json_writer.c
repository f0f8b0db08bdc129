/*
 * json_writer.c: see json_writer.h. Strings are copied in runs: bytes that
 * need no escaping go out with one evbuffer_add per run, so escaping costs
 * little on ordinary names. UTF-8 is validated by hand (shortest forms only,
 * no surrogates, at most U+10FFFF), as RFC 8259 wants valid UTF-8 text.
 */
#include "proxy/admin/json_writer.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proxy/core/util.h"

void json_init(struct json_writer *w, struct evbuffer *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

/* Length of the valid UTF-8 sequence at s[0..len) (2..4), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void json_escape(struct evbuffer *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the pending unescaped run */
    size_t i = 0;

    evbuffer_add(out, "\"", 1);
    while (i < len) {
        unsigned char c = s[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t n;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = utf8_seq_len(s + i, len - i)) > 0) {
            i += n;
            continue;
        }
        if (i > run)
            evbuffer_add(out, s + run, i - run);
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
                esc = ubuf;
            } else {
                esc = "\\ufffd"; /* a byte that is not valid UTF-8 */
            }
        }
        evbuffer_add(out, esc, strlen(esc));
        i++;
        run = i;
    }
    if (i > run)
        evbuffer_add(out, s + run, i - run);
    evbuffer_add(out, "\"", 1);
}

/* Writes the separator a new value needs at the current position. */
static void before_value(struct json_writer *w)
{
    if (w->depth == 0) {
        TERN_ASSERT(!w->top_started); /* one top-level value */
        w->top_started = true;
        return;
    }
    if (w->kind[w->depth - 1] == 'o') {
        TERN_ASSERT(w->key_pending);
        w->key_pending = false;
        return;
    }
    if (w->count[w->depth - 1]++ > 0)
        evbuffer_add(w->out, ",", 1);
}

static void open_container(struct json_writer *w, char kind)
{
    before_value(w);
    TERN_ASSERT(w->depth + 1 < JSON_MAX_DEPTH);
    w->depth++;
    w->kind[w->depth - 1] = kind;
    w->count[w->depth - 1] = 0;
    evbuffer_add(w->out, kind == 'o' ? "{" : "[", 1);
}

static void close_container(struct json_writer *w, char kind)
{
    TERN_ASSERT(w->depth > 0 && w->kind[w->depth - 1] == kind && !w->key_pending);
    w->depth--;
    evbuffer_add(w->out, kind == 'o' ? "}" : "]", 1);
}

void json_object_begin(struct json_writer *w)
{
    open_container(w, 'o');
}

void json_object_end(struct json_writer *w)
{
    close_container(w, 'o');
}

void json_array_begin(struct json_writer *w)
{
    open_container(w, 'a');
}

void json_array_end(struct json_writer *w)
{
    close_container(w, 'a');
}

void json_key(struct json_writer *w, const char *key)
{
    TERN_ASSERT(w->depth > 0 && w->kind[w->depth - 1] == 'o' && !w->key_pending);
    if (w->count[w->depth - 1]++ > 0)
        evbuffer_add(w->out, ",", 1);
    json_escape(w->out, key, strlen(key));
    evbuffer_add(w->out, ":", 1);
    w->key_pending = true;
}

void json_string_len(struct json_writer *w, const char *s, size_t len)
{
    before_value(w);
    json_escape(w->out, s, len);
}

void json_string(struct json_writer *w, const char *s)
{
    if (!s) {
        json_null(w);
        return;
    }
    json_string_len(w, s, strlen(s));
}

void json_uint(struct json_writer *w, uint64_t v)
{
    before_value(w);
    evbuffer_add_printf(w->out, "%" PRIu64, v);
}

void json_int(struct json_writer *w, int64_t v)
{
    before_value(w);
    evbuffer_add_printf(w->out, "%" PRId64, v);
}

void json_bool(struct json_writer *w, bool v)
{
    before_value(w);
    evbuffer_add(w->out, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json_writer *w)
{
    before_value(w);
    evbuffer_add(w->out, "null", 4);
}

bool json_done(const struct json_writer *w)
{
    return w->depth == 0 && w->top_started;
}
