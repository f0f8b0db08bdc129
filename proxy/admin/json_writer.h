/*
 * json_writer.h: a small streaming JSON writer into an evbuffer, for the
 * admin API. It tracks nesting so the caller never writes a comma or a colon
 * by hand, and escapes every string it is given: quote, backslash and
 * control characters as JSON escapes, and bytes that are not valid UTF-8 as
 * U+FFFD, so any name from any config always yields valid JSON.
 *
 * Misuse (a value where a key is due, closing the wrong container, nesting
 * deeper than JSON_MAX_DEPTH) is a programming error: it aborts.
 *
 * Thread: the writer belongs to its caller; no global state.
 */
#ifndef TERN_ADMIN_JSON_WRITER_H
#define TERN_ADMIN_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define JSON_MAX_DEPTH 16

struct json_writer {
    struct evbuffer *out; /* borrowed */
    uint32_t depth;
    /* per level: 'o' object, 'a' array */
    char kind[JSON_MAX_DEPTH];
    /* per level: number of members/elements written so far */
    uint32_t count[JSON_MAX_DEPTH];
    bool key_pending; /* inside an object, a key was written: a value is due */
    bool top_started; /* the one top-level value has begun */
};

void json_init(struct json_writer *w, struct evbuffer *out);

void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);

/* The key of the next member (inside an object only). */
void json_key(struct json_writer *w, const char *key);

void json_string(struct json_writer *w, const char *s); /* NULL writes null */
void json_string_len(struct json_writer *w, const char *s, size_t len);
void json_uint(struct json_writer *w, uint64_t v);
void json_int(struct json_writer *w, int64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);

/* True once a single top-level value is complete. */
bool json_done(const struct json_writer *w);

/* Appends `s` escaped as a JSON string (with its quotes) to out. */
void json_escape(struct evbuffer *out, const char *s, size_t len);

#endif /* TERN_ADMIN_JSON_WRITER_H */
