/*
 * json_check.h: a strict JSON parser for tests (RFC 8259: UTF-8 text,
 * escapes, number grammar, nothing after the value but whitespace; also
 * rejects duplicate keys) that builds a small tree to assert on.
 */
#ifndef TERN_TEST_JSON_CHECK_H
#define TERN_TEST_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    enum jv_type t;
    bool b;
    double num;
    char *str;   /* JV_STR: unescaped, NUL-terminated (may hold NULs: see len) */
    size_t len;
    struct jv **items; /* JV_ARR / JV_OBJ */
    char **keys;       /* JV_OBJ */
    size_t n;
};

/* Parses text; NULL with a reason in err when it is not valid JSON. */
struct jv *jv_parse(const char *text, size_t len, char *err, size_t errlen);
void jv_free(struct jv *v);

/* Looks up a dotted path: "clusters.0.servers.1.name". NULL when absent. */
const struct jv *jv_get(const struct jv *v, const char *path);

#endif
