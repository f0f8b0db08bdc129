/*
 * h1_util.c: the tables of the HTTP/1.1 codec (byte classes, methods, field
 * names, error reasons) and the small helpers built on them.
 *
 * The byte-class table is a literal so that it lives in read-only memory and
 * costs nothing at start-up; tests/unit/proxy/codec/h1_util_test.c rebuilds
 * it from the RFC definitions and compares.
 */
#include <string.h>

#include "proxy/codec/h1.h"
#include "proxy/codec/h1_int.h"

const uint8_t h1_ctype[256] = {
    /* 0x00 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* 0x10 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* 0x20 */ 0x22, 0x37, 0x06, 0x23, 0x37, 0x27, 0x37, 0x37, 0x36, 0x36, 0x37, 0x77, 0x36, 0x77, 0x77, 0x26,
    /* 0x30 */ 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x26, 0x36, 0x26, 0x36, 0x26, 0x26,
    /* 0x40 */ 0x26, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
    /* 0x50 */ 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x26, 0x06, 0x26, 0x27, 0x37,
    /* 0x60 */ 0x27, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
    /* 0x70 */ 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x26, 0x27, 0x26, 0x37, 0x00,
    /* 0x80 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0x90 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xa0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xb0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xc0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xd0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xe0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    /* 0xf0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

void h1_limits_default(struct h1_limits *lim)
{
    lim->max_line = H1_DEFAULT_MAX_LINE;
    lim->max_head = H1_DEFAULT_MAX_HEAD;
    lim->max_hdrs = H1_DEFAULT_MAX_HDRS;
    lim->max_chunk_line = H1_DEFAULT_MAX_CHUNK_LINE;
    lim->max_trailers = H1_DEFAULT_MAX_TRAILERS;
    lim->max_trailer_size = H1_DEFAULT_MAX_TRAILER_SIZE;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool h1_token_eq(const char *s, size_t len, const char *lit, size_t litlen)
{
    if (len != litlen)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

#define LIT(s) s, sizeof(s) - 1

enum h1_method h1_method_id(const char *s, size_t len)
{
    /* methods are case-sensitive: "get" is some other method */
    switch (len) {
    case 3:
        if (memcmp(s, "GET", 3) == 0)
            return H1_METHOD_GET;
        if (memcmp(s, "PUT", 3) == 0)
            return H1_METHOD_PUT;
        break;
    case 4:
        if (memcmp(s, "POST", 4) == 0)
            return H1_METHOD_POST;
        if (memcmp(s, "HEAD", 4) == 0)
            return H1_METHOD_HEAD;
        break;
    case 5:
        if (memcmp(s, "PATCH", 5) == 0)
            return H1_METHOD_PATCH;
        if (memcmp(s, "TRACE", 5) == 0)
            return H1_METHOD_TRACE;
        break;
    case 6:
        if (memcmp(s, "DELETE", 6) == 0)
            return H1_METHOD_DELETE;
        break;
    case 7:
        if (memcmp(s, "OPTIONS", 7) == 0)
            return H1_METHOD_OPTIONS;
        if (memcmp(s, "CONNECT", 7) == 0)
            return H1_METHOD_CONNECT;
        break;
    }
    return H1_METHOD_OTHER;
}

bool h1_method_idempotent(enum h1_method m)
{
    switch (m) {
    case H1_METHOD_GET:
    case H1_METHOD_HEAD:
    case H1_METHOD_PUT:
    case H1_METHOD_DELETE:
    case H1_METHOD_OPTIONS:
    case H1_METHOD_TRACE:
        return true;
    default:
        return false;
    }
}

bool h1_method_safe(enum h1_method m)
{
    switch (m) {
    case H1_METHOD_GET:
    case H1_METHOD_HEAD:
    case H1_METHOD_OPTIONS:
    case H1_METHOD_TRACE:
        return true;
    default:
        return false;
    }
}

enum h1_hdr_id h1_hdr_id(const char *n, size_t len)
{
    /* dispatch on the length first: most names are ruled out without a compare */
    switch (len) {
    case 2:
        if (h1_token_eq(n, len, LIT("te")))
            return H1_HDR_TE;
        break;
    case 4:
        if (h1_token_eq(n, len, LIT("host")))
            return H1_HDR_HOST;
        break;
    case 6:
        if (h1_token_eq(n, len, LIT("expect")))
            return H1_HDR_EXPECT;
        break;
    case 7:
        if (h1_token_eq(n, len, LIT("upgrade")))
            return H1_HDR_UPGRADE;
        if (h1_token_eq(n, len, LIT("trailer")))
            return H1_HDR_TRAILER;
        break;
    case 10:
        if (h1_token_eq(n, len, LIT("connection")))
            return H1_HDR_CONNECTION;
        if (h1_token_eq(n, len, LIT("keep-alive")))
            return H1_HDR_KEEP_ALIVE;
        break;
    case 14:
        if (h1_token_eq(n, len, LIT("content-length")))
            return H1_HDR_CONTENT_LENGTH;
        break;
    case 16:
        if (h1_token_eq(n, len, LIT("proxy-connection")))
            return H1_HDR_PROXY_CONNECTION;
        break;
    case 17:
        if (h1_token_eq(n, len, LIT("transfer-encoding")))
            return H1_HDR_TRANSFER_ENCODING;
        break;
    }
    return H1_HDR_OTHER;
}

bool h1_list_next(const char *s, size_t len, size_t *pos, struct h1_slice *elem)
{
    size_t p = *pos;

    while (p < len) {
        size_t b, e;
        while (p < len && (s[p] == ' ' || s[p] == '\t' || s[p] == ','))
            p++;
        if (p >= len)
            break;
        b = p;
        while (p < len && s[p] != ',')
            p++;
        e = p;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        if (p < len)
            p++;               /* the comma */
        *pos = p;
        elem->off = (uint32_t)b;
        elem->len = (uint32_t)(e - b);
        return true;
    }
    *pos = len;
    return false;
}

/* Indexed by -err. */
static const struct {
    const char *name;
    int status;
} errs[H1_ERR_COUNT] = {
    [0] = {"ok", 200},
    [-H1_INCOMPLETE] = {"incomplete", 400},
    [-H1_ERR_BARE_LF] = {"bare_lf", 400},
    [-H1_ERR_BARE_CR] = {"bare_cr", 400},
    [-H1_ERR_LINE_TOO_LONG] = {"line_too_long", 414},
    [-H1_ERR_REQUEST_LINE] = {"bad_request_line", 400},
    [-H1_ERR_METHOD] = {"bad_method", 400},
    [-H1_ERR_TARGET] = {"bad_target", 400},
    [-H1_ERR_TARGET_FORM] = {"bad_target_form", 400},
    [-H1_ERR_VERSION] = {"bad_version", 400},
    [-H1_ERR_VERSION_UNSUPPORTED] = {"version_unsupported", 505},
    [-H1_ERR_STATUS_LINE] = {"bad_status_line", 502},
    [-H1_ERR_HEADER_NAME] = {"bad_header_name", 400},
    [-H1_ERR_HEADER_SPACE] = {"space_before_colon", 400},
    [-H1_ERR_HEADER_VALUE] = {"bad_header_value", 400},
    [-H1_ERR_OBS_FOLD] = {"obs_fold", 400},
    [-H1_ERR_HEAD_TOO_LARGE] = {"head_too_large", 431},
    [-H1_ERR_TOO_MANY_HEADERS] = {"too_many_headers", 431},
    [-H1_ERR_CONTENT_LENGTH] = {"bad_content_length", 400},
    [-H1_ERR_CONTENT_LENGTH_CONFLICT] = {"content_length_conflict", 400},
    [-H1_ERR_CL_AND_TE] = {"content_length_and_transfer_encoding", 400},
    [-H1_ERR_TE_HTTP10] = {"transfer_encoding_http10", 400},
    [-H1_ERR_TE_INVALID] = {"bad_transfer_encoding", 400},
    [-H1_ERR_TE_NOT_CHUNKED] = {"transfer_encoding_not_chunked", 400},
    [-H1_ERR_TE_CHUNKED_TWICE] = {"chunked_twice", 400},
    [-H1_ERR_TE_UNSUPPORTED] = {"transfer_coding_unsupported", 501},
    [-H1_ERR_HOST_MISSING] = {"host_missing", 400},
    [-H1_ERR_HOST_DUPLICATE] = {"host_duplicate", 400},
    [-H1_ERR_HOST_INVALID] = {"bad_host", 400},
    [-H1_ERR_CONNECTION] = {"bad_connection", 400},
    [-H1_ERR_CHUNK_SIZE] = {"bad_chunk_size", 400},
    [-H1_ERR_CHUNK_EXT] = {"bad_chunk_extension", 400},
    [-H1_ERR_CHUNK_LINE_TOO_LONG] = {"chunk_line_too_long", 400},
    [-H1_ERR_CHUNK_CRLF] = {"chunk_missing_crlf", 400},
    [-H1_ERR_TRAILER_FORBIDDEN] = {"forbidden_trailer", 400},
    [-H1_ERR_TRAILERS_TOO_LARGE] = {"trailers_too_large", 431},
};

int h1_err_status(int err)
{
    if (err < 0 && -err < H1_ERR_COUNT)
        return errs[-err].status;
    return 400;
}

const char *h1_err_name(int err)
{
    if (err >= 0)
        return "ok";
    if (-err < H1_ERR_COUNT)
        return errs[-err].name;
    return "unknown";
}
