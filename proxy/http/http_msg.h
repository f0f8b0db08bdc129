/*
 * http_msg.h: one HTTP message head (request or response, any version) as
 * the core, the filters and the ACL engine see it, independent of the codec
 * that parsed it (h1 today, h2 later).
 *
 * Memory: strings are (pointer, length) slices. After parsing they point
 * into the connection's receive buffer, which the codec keeps unchanged
 * until the head has been forwarded; anything a filter rewrites is copied
 * into the stream's arena (msg->arena). The header array itself comes from
 * the arena too (its inline region for the usual sizes), so handling a
 * request allocates nothing per header.
 *
 * Header names keep the case they arrived with; lookups are
 * case-insensitive. A deleted header is removed from the array (order of the
 * others is kept).
 *
 * Thread: the stream's worker.
 */
#ifndef TERN_HTTP_MSG_H
#define TERN_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

struct http_str {
    const char *p; /* NULL when absent */
    uint32_t len;
};

#define HTTP_STR(lit) ((struct http_str){(lit), (uint32_t)(sizeof(lit) - 1)})

struct http_hdr {
    struct http_str name;
    struct http_str value;
};

enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_CONNECT,
    HTTP_M_OPTIONS,
    HTTP_M_TRACE,
    HTTP_M_PATCH,
};

/* msg->flags, set by the codec */
#define HTTP_MSG_F_CONN_CLOSE (1u << 0)      /* Connection: close (or HTTP/1.0 without keep-alive) */
#define HTTP_MSG_F_CONN_KEEPALIVE (1u << 1)  /* Connection: keep-alive */
#define HTTP_MSG_F_CONN_UPGRADE (1u << 2)    /* Connection: upgrade + Upgrade header */
#define HTTP_MSG_F_EXPECT_CONTINUE (1u << 3) /* Expect: 100-continue */
#define HTTP_MSG_F_CHUNKED (1u << 4)         /* body framed by chunked coding */
#define HTTP_MSG_F_HAS_LENGTH (1u << 5)      /* content_length is valid */
#define HTTP_MSG_F_TE_TRAILERS (1u << 6)     /* TE lists trailers (the field itself is
                                              * hop-by-hop: gone once serialized) */

enum http_msg_kind {
    HTTP_MSG_REQUEST = 0,
    HTTP_MSG_RESPONSE,
};

struct http_msg {
    enum http_msg_kind kind;
    uint8_t version;          /* 10, 11 or 20 */
    uint32_t flags;
    int64_t content_length;   /* valid with HTTP_MSG_F_HAS_LENGTH */

    /* request */
    enum http_method method;
    struct http_str method_str;
    struct http_str path;      /* path of the target, without the query ("/a/b") */
    struct http_str query;     /* after '?', without it; p == NULL when no '?' */
    struct http_str authority; /* Host (h1) or :authority (h2) */
    struct http_str scheme;    /* absolute-form or :scheme; p == NULL when unknown */

    /* response */
    uint16_t status;
    struct http_str reason;

    struct http_hdr *hdrs;
    uint32_t nhdrs;
    uint32_t cap;
    struct arena *arena;       /* the stream's: rewrites are copied here */
};

/* Case-insensitive equality of a slice and a string of known length. */
bool http_str_ieq(struct http_str s, const char *lit, size_t len);

/* Index of the first header named `name` at or after `from`, or -1. */
int http_msg_find(const struct http_msg *m, const char *name, size_t name_len, uint32_t from);

/* Value of the first header named `name` (p == NULL when absent). */
struct http_str http_msg_get(const struct http_msg *m, const char *name, size_t name_len);

/*
 * Header edits; names and values are copied into the arena. Return 0, or -1
 * when the message would exceed `max_hdrs` fields (the caller answers 500
 * for a response rewrite or 431 for a request, and counts it).
 */
int http_msg_add(struct http_msg *m, const char *name, size_t name_len, const char *value,
                 size_t value_len, uint32_t max_hdrs);
/* Removes every header `name`, then adds one. */
int http_msg_set(struct http_msg *m, const char *name, size_t name_len, const char *value,
                 size_t value_len, uint32_t max_hdrs);
/* Removes every header `name`; returns how many were removed. */
uint32_t http_msg_del(struct http_msg *m, const char *name, size_t name_len);

/* Request method from its token (case-sensitive, as RFC 9110 says). */
enum http_method http_method_from(const char *p, size_t len);
/* RFC 9110 9.2.2: GET, HEAD, PUT, DELETE, OPTIONS, TRACE. */
bool http_method_idempotent(enum http_method m);

#endif /* TERN_HTTP_MSG_H */
