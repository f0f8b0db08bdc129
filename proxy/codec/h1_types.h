/*
 * h1_types.h: the types of the HTTP/1.1 codec (RFC 9110 / RFC 9112).
 *
 * Everything the parser produces is a slice of the caller's bytes: an
 * (offset, length) pair counted from the first byte of the message (for the
 * head) or of the buffer passed to that call (for the chunked decoder). The
 * codec never copies a name, a value or a byte of body, and never allocates.
 *
 * Offsets rather than pointers: the connection's buffer compacts (memmove)
 * while a head is still arriving, so a pointer taken on one read would dangle
 * on the next. An offset stays right wherever the bytes move; h1_ptr() turns
 * one into a pointer when the caller needs it.
 *
 * Prototypes and the contract of each function are in h1.h.
 */
#ifndef TERN_CODEC_H1_TYPES_H
#define TERN_CODEC_H1_TYPES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Results and errors. One enum of negative codes for the head parser and the
 * chunked decoder. H1_INCOMPLETE is not an error: more bytes are needed and
 * what arrived so far is valid and within the limits. Every other value is a
 * final verdict on the message; the comment gives the status a server answers
 * to a request with that error (h1_err_status()). A response with any error
 * is answered 502 to the client and the server connection is closed.
 * The code itself is the reason for counters and logs (h1_err_name()).
 */
enum h1_err {
    H1_INCOMPLETE = -1,                  /* need more bytes (not an error) */

    /* lines */
    H1_ERR_BARE_LF = -2,                 /* 400 LF not preceded by CR */
    H1_ERR_BARE_CR = -3,                 /* 400 CR not followed by LF */
    H1_ERR_LINE_TOO_LONG = -4,           /* 414 request line (or status line) over max_line */

    /* request line */
    H1_ERR_REQUEST_LINE = -5,            /* 400 not "method SP target SP version": missing part,
                                          *     doubled or trailing SP, HTAB as separator */
    H1_ERR_METHOD = -6,                  /* 400 method is not a token */
    H1_ERR_TARGET = -7,                  /* 400 byte not allowed in a request-target, bad %XX,
                                          *     unparsable absolute-form or authority */
    H1_ERR_TARGET_FORM = -8,             /* 400 form not allowed with this method (authority-form
                                          *     without CONNECT, CONNECT without it, "*" without
                                          *     OPTIONS) */
    H1_ERR_VERSION = -9,                 /* 400 HTTP-version is not "HTTP/" DIGIT "." DIGIT */
    H1_ERR_VERSION_UNSUPPORTED = -10,    /* 505 well-formed version other than 1.0 and 1.1 */

    /* status line (responses only) */
    H1_ERR_STATUS_LINE = -11,            /* 502 status code not 3 digits in 100..599, bad
                                          *     separator or byte in the reason phrase */

    /* header fields */
    H1_ERR_HEADER_NAME = -12,            /* 400 empty name, byte not a tchar, no colon */
    H1_ERR_HEADER_SPACE = -13,           /* 400 whitespace between field name and colon */
    H1_ERR_HEADER_VALUE = -14,           /* 400 CTL, NUL or DEL in a field value */
    H1_ERR_OBS_FOLD = -15,               /* 400 line starting with SP or HTAB (obs-fold, or
                                          *     whitespace before the first field) */
    H1_ERR_HEAD_TOO_LARGE = -16,         /* 431 head longer than max_head */
    H1_ERR_TOO_MANY_HEADERS = -17,       /* 431 more fields than max_hdrs */

    /* framing: the request smuggling defences */
    H1_ERR_CONTENT_LENGTH = -18,         /* 400 Content-Length not 1*DIGIT (list), or > 2^63-1 */
    H1_ERR_CONTENT_LENGTH_CONFLICT = -19,/* 400 several Content-Length values that differ */
    H1_ERR_CL_AND_TE = -20,              /* 400 Content-Length together with Transfer-Encoding */
    H1_ERR_TE_HTTP10 = -21,              /* 400 Transfer-Encoding in an HTTP/1.0 message */
    H1_ERR_TE_INVALID = -22,             /* 400 Transfer-Encoding list: empty element, element
                                          *     not a token, or parameters */
    H1_ERR_TE_NOT_CHUNKED = -23,         /* 400 request Transfer-Encoding whose last coding is
                                          *     not "chunked" */
    H1_ERR_TE_CHUNKED_TWICE = -24,       /* 400 "chunked" applied more than once */
    H1_ERR_TE_UNSUPPORTED = -25,         /* 501 a transfer coding other than chunked before the
                                          *     final chunked */
    H1_ERR_HOST_MISSING = -26,           /* 400 HTTP/1.1 request without Host */
    H1_ERR_HOST_DUPLICATE = -27,         /* 400 more than one Host field line */
    H1_ERR_HOST_INVALID = -28,           /* 400 Host not uri-host [":" port] */
    H1_ERR_CONNECTION = -29,             /* 400 Connection list element not a token */

    /* chunked body */
    H1_ERR_CHUNK_SIZE = -30,             /* 400 chunk-size empty, not hex, whitespace, > 2^63-1 */
    H1_ERR_CHUNK_EXT = -31,              /* 400 chunk extension not ;token[=token|quoted-string] */
    H1_ERR_CHUNK_LINE_TOO_LONG = -32,    /* 400 chunk-size line over max_chunk_line */
    H1_ERR_CHUNK_CRLF = -33,             /* 400 chunk data not followed by CRLF */
    H1_ERR_TRAILER_FORBIDDEN = -34,      /* 400 Content-Length, Transfer-Encoding or Host in the
                                          *     trailer section */
    H1_ERR_TRAILERS_TOO_LARGE = -35,     /* 431 trailer section over max_trailer_size bytes or
                                          *     max_trailers fields */
};
#define H1_ERR_COUNT 36   /* -H1_ERR_TRAILERS_TOO_LARGE + 1: size of a per-reason counter array */

/*
 * Request methods the codec knows by name (case-sensitive, RFC 9110 9.1).
 * Same order as enum http_method (proxy/http/http_msg.h): a cast converts.
 */
enum h1_method {
    H1_METHOD_OTHER = 0,   /* any other token: valid, forwarded as is */
    H1_METHOD_GET,
    H1_METHOD_HEAD,
    H1_METHOD_POST,
    H1_METHOD_PUT,
    H1_METHOD_DELETE,
    H1_METHOD_CONNECT,
    H1_METHOD_OPTIONS,
    H1_METHOD_TRACE,
    H1_METHOD_PATCH,
};

/* The four request-target forms of RFC 9112 3.2. */
enum h1_target_form {
    H1_TARGET_ORIGIN = 0,  /* "/path?query" */
    H1_TARGET_ABSOLUTE,    /* "http://host:port/path?query" */
    H1_TARGET_AUTHORITY,   /* "host:port" (CONNECT only) */
    H1_TARGET_ASTERISK,    /* "*" (OPTIONS only) */
};

/* How the message body is delimited (RFC 9112 6.3). */
enum h1_body {
    H1_BODY_NONE = 0,      /* no body: the next message starts right after the head */
    H1_BODY_LENGTH,        /* exactly content_length bytes (may be 0) */
    H1_BODY_CHUNKED,       /* chunked: decode with h1_chunked_parse() */
    H1_BODY_UNTIL_CLOSE,   /* responses only: the body ends when the server closes */
    H1_BODY_TUNNEL,        /* responses only, from h1_response_body(): 101 or 2xx to
                            * CONNECT; the connection becomes a byte tunnel */
};

/* Header fields the codec recognises by name (case-insensitive). */
enum h1_hdr_id {
    H1_HDR_OTHER = 0,
    H1_HDR_HOST,
    H1_HDR_CONTENT_LENGTH,
    H1_HDR_TRANSFER_ENCODING,
    H1_HDR_CONNECTION,
    H1_HDR_KEEP_ALIVE,
    H1_HDR_PROXY_CONNECTION,
    H1_HDR_TE,
    H1_HDR_TRAILER,
    H1_HDR_UPGRADE,
    H1_HDR_EXPECT,
};

/* msg->flags */
#define H1_F_CONN_CLOSE        0x0001u  /* Connection: close */
#define H1_F_CONN_KEEP_ALIVE   0x0002u  /* Connection: keep-alive */
#define H1_F_CONN_UPGRADE      0x0004u  /* Connection: upgrade */
#define H1_F_CONN_OTHER        0x0008u  /* Connection names other fields (hop-by-hop, to strip) */
#define H1_F_KEEP_ALIVE        0x0010u  /* the connection persists after this message by the
                                         * Connection/version rule (RFC 9112 9.3); for a
                                         * response see also h1_response_keep_alive() */
#define H1_F_UPGRADE           0x0020u  /* Upgrade field present */
#define H1_F_EXPECT_CONTINUE   0x0040u  /* HTTP/1.1 request with Expect: 100-continue */
#define H1_F_EXPECT_OTHER      0x0080u  /* Expect with another value (a server may answer 417) */
#define H1_F_CONTENT_LENGTH    0x0100u  /* Content-Length present (value in content_length) */
#define H1_F_TRANSFER_ENCODING 0x0200u  /* Transfer-Encoding present */
#define H1_F_CHUNKED           0x0400u  /* Transfer-Encoding ends with chunked */
#define H1_F_HOST              0x0800u  /* Host present (index in msg->host) */
#define H1_F_TE                0x1000u  /* TE field present (hop-by-hop) */
#define H1_F_TRAILER           0x2000u  /* Trailer field present */

/* A slice of the caller's bytes. */
struct h1_slice {
    uint32_t off;
    uint32_t len;
};

/* One header (or trailer) field: name and value with the OWS around it trimmed. */
struct h1_header {
    struct h1_slice name;
    struct h1_slice value;
    uint32_t id;           /* enum h1_hdr_id */
};

/*
 * Limits. A value of 0 in a field means "the default". The parser checks them
 * as the bytes arrive, so an oversized head is refused as soon as the limit is
 * crossed, not when it finally ends.
 */
struct h1_limits {
    uint32_t max_line;         /* request or status line, without CRLF (414) */
    uint32_t max_head;         /* whole head: start line, fields, final CRLF (431) */
    uint32_t max_hdrs;         /* field lines in a head (431) */
    uint32_t max_chunk_line;   /* chunk-size line with its extensions, without CRLF */
    uint32_t max_trailers;     /* fields in a trailer section */
    uint32_t max_trailer_size; /* bytes of a trailer section, final CRLF included */
};

#define H1_DEFAULT_MAX_LINE         8190   /* Apache's LimitRequestLine; fits an 8 KiB line buffer */
#define H1_DEFAULT_MAX_HEAD         16384  /* HAProxy's tune.bufsize */
#define H1_DEFAULT_MAX_HDRS         101    /* HAProxy's tune.http.maxhdr */
#define H1_DEFAULT_MAX_CHUNK_LINE   1024   /* size + extensions: nobody needs more */
#define H1_DEFAULT_MAX_TRAILERS     101
#define H1_DEFAULT_MAX_TRAILER_SIZE 16384
#define H1_MAX_HEAD_LIMIT           (1u << 24)  /* larger max_head values are clamped */

/*
 * Private: where a scan stopped, so the next call resumes there instead of
 * starting over (the parser is linear in the bytes received, however they
 * are split). Positions are offsets in the caller's bytes.
 */
struct h1_scan {
    uint32_t pos;          /* next byte to examine */
    uint32_t line;         /* first byte of the current line */
    uint32_t mark;         /* start of the current element, or end of a field name */
    uint32_t mark2;        /* start of a field value */
    uint8_t st;            /* parser state */
    uint8_t sub;           /* field-line state */
};

/* Private resume state of the head parser; see h1_msg_init(). */
struct h1_parse_state {
    struct h1_scan s;
    int8_t err;            /* the final error, once st is the error state */
    uint8_t te_chunked;    /* "chunked" codings seen */
    uint8_t te_last_chunked;
    uint8_t te_other;      /* a coding other than chunked was seen */
};

/*
 * A parsed head. Zero it with h1_msg_init() before the first call for a
 * message, keep it between calls while the head arrives. All slices are
 * offsets from the first byte of the message.
 */
struct h1_msg {
    /* request line */
    struct h1_slice method;
    struct h1_slice target;
    struct h1_slice scheme;    /* absolute-form only */
    struct h1_slice authority; /* absolute-form and authority-form */
    struct h1_slice path;      /* origin-form: the target; absolute-form: from the first '/'
                                * or '?' after the authority (may be empty); "*" form: "*" */
    uint8_t method_id;         /* enum h1_method */
    uint8_t target_form;       /* enum h1_target_form */

    /* status line */
    uint16_t status;
    struct h1_slice reason;

    uint8_t version;           /* 10 or 11 */
    uint8_t body;              /* enum h1_body */
    uint32_t flags;            /* H1_F_* */
    uint64_t content_length;   /* with H1_F_CONTENT_LENGTH */
    uint32_t nhdrs;            /* fields stored in the caller's array */
    int32_t host;              /* index of the Host field, -1 if none */
    uint32_t head_len;         /* bytes of the head (once complete) */

    struct h1_parse_state ps;
};

/*
 * Incremental decoder of a chunked body. Initialise with h1_chunked_init();
 * no other teardown.
 */
struct h1_chunked {
    uint64_t remaining;        /* payload bytes left in the current chunk */
    uint64_t total;            /* payload bytes decoded so far (for a max body size) */
    uint32_t line_len;         /* bytes of the current chunk-size line so far */
    uint32_t scan_pos;         /* pending trailer line: bytes already validated, */
    uint32_t scan_mark;        /* end of its name, */
    uint32_t scan_mark2;       /* start of its value (all from the line's first byte) */
    uint32_t trailer_bytes;    /* bytes of the trailer section consumed so far */
    uint32_t ntrailers;
    uint32_t max_chunk_line;
    uint32_t max_trailers;
    uint32_t max_trailer_size;
    uint8_t state;
    uint8_t scan_sub;
    int8_t err;                /* the final error, once state is the error state */
    uint8_t pad;
};

/* What one call to h1_chunked_parse() found (at most one event per call). */
enum h1_chunk_ev {
    H1_CHUNK_NEED_MORE = 0,    /* every byte returned as consumed was framing; give more */
    H1_CHUNK_DATA,             /* payload bytes at buf[data_off, data_off + data_len) */
    H1_CHUNK_TRAILER,          /* one trailer field: its line (CRLF included) is at
                                * buf[data_off, data_off + data_len); the name and
                                * value slices are relative to the line's first byte */
    H1_CHUNK_DONE,             /* last chunk, trailers and final CRLF consumed */
};

struct h1_chunk_event {
    enum h1_chunk_ev type;
    size_t data_off;
    size_t data_len;
    struct h1_header trailer;
};

#endif /* TERN_CODEC_H1_TYPES_H */
