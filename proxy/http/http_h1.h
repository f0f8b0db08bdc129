/*
 * http_h1.h: between the HTTP/1.1 codec (proxy/codec/h1.h, offsets into a
 * connection's buffer) and the codec-neutral message head (http_msg.h,
 * pointers) that filters and the router work on.
 *
 *   http_h1_request_msg / http_h1_response_msg: a parsed head -> http_msg
 *     (pointers into the bytes the head was parsed from; no copy; the header
 *     array comes from the stream's arena);
 *   http_h1_write_request / http_h1_write_response: an http_msg -> the bytes
 *     of an HTTP/1.1 head, with the hop-by-hop fields removed (RFC 9110
 *     7.6.1) and this hop's own Connection field.
 *
 * Hop-by-hop fields removed on the way through: Connection and every field
 * it names (except the framing fields Content-Length, Transfer-Encoding and
 * Host: a proxy that dropped those because a peer listed them would change
 * where the body ends, a request smuggling vector), Keep-Alive,
 * Proxy-Connection, TE (a request keeps "TE: trailers", announced in its
 * Connection field as RFC 9110 10.1.4 asks), Upgrade (tern does not upgrade
 * connections yet), HTTP2-Settings. Proxy-Authenticate and
 * Proxy-Authorization are kept: they are consumed by a proxy that
 * authenticates, which tern is not, and RFC 9110 7.6.1 does not list them.
 * Transfer-Encoding and Content-Length are kept as they are: bodies are
 * forwarded with their original framing.
 *
 * Thread: any (no state).
 */
#ifndef TERN_HTTP_H1_H
#define TERN_HTTP_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy/codec/h1_types.h"
#include "proxy/http/http_msg.h"

struct arena;

/*
 * Fills m from a complete request head parsed by h1_parse_request from
 * base[0, h1->head_len): kind, version, flags, content length, method (id
 * and token), path and query (split at the first '?'), authority (the
 * target's in absolute- and authority-form, else Host), scheme (absolute
 * form only), and every header field in order. Strings point into base.
 * The header array (room for nhdrs + spare fields) comes from arena a, which
 * becomes m->arena. An absolute-form target without a path gets path "/";
 * asterisk-form gets path "*".
 */
void http_h1_request_msg(struct http_msg *m, struct arena *a, const char *base,
                         const struct h1_msg *h1, const struct h1_header *hdrs, uint32_t spare);

/* Same for a complete response head parsed by h1_parse_response. */
void http_h1_response_msg(struct http_msg *m, struct arena *a, const char *base,
                          const struct h1_msg *h1, const struct h1_header *hdrs,
                          uint32_t spare);

/* The start line's version and what the hop's own Connection field says. */
struct http_h1_conn_opts {
    uint8_t version;   /* version on the start line: 11, or 10 */
    bool close;        /* "Connection: close": this hop ends after the message */
    bool keep_alive;   /* "Connection: keep-alive" (for an HTTP/1.0 peer; ignored
                        * when close) */
    struct http_str upgrade; /* p != NULL: "Connection: upgrade" and "Upgrade: <this>"
                              * (a protocol switch: close and keep_alive ignored) */
};

/*
 * Writes the request head of m into out[0, cap): "METHOD target HTTP/1.x",
 * the fields of m without the hop-by-hop ones, the hop's Connection field,
 * and the empty line. The target is path[?query] (origin form: an
 * absolute-form target is forwarded as origin form with Host replaced by its
 * authority, RFC 9112 3.2.2), or "*".
 *
 * m is changed to be the head as forwarded: hop-by-hop fields are removed
 * from it, and every string of it (method, path, query, authority, header
 * names and values) then points into out, so the bytes it pointed to before
 * (the client's receive buffer) may be reused.
 *
 * Returns the length written, or -1 when it does not fit in cap (m is then
 * unchanged except for the removed hop-by-hop fields).
 */
ssize_t http_h1_write_request(struct http_msg *m, char *out, size_t cap,
                              const struct http_h1_conn_opts *o);

/*
 * Writes the response head of m into out[0, cap): "HTTP/1.x <status>
 * <reason>", the fields of m without the hop-by-hop ones, the hop's
 * Connection field and the empty line. m loses its hop-by-hop fields.
 * Returns the length written, or -1 when it does not fit.
 */
ssize_t http_h1_write_response(struct http_msg *m, char *out, size_t cap,
                               const struct http_h1_conn_opts *o);

/* One of tern's own replies (http_reply.c). */
struct http_errorfile;
struct http_local_reply {
    uint16_t status;
    int reason;                 /* tern_reason or HTTP_R_* (x-tern-error) */
    bool close;                 /* "connection: close": the connection ends after it */
    bool error_header;          /* "x-tern-error: <reason name>" */
    bool head_only;             /* the request was HEAD: no body bytes */
    const char *content_type;   /* with body; NULL: text/plain */
    const char *body;           /* NULL: a small HTML page naming the status */
    size_t body_len;
    const struct http_hdr *hdrs; /* more fields (a filter's Retry-After...), in order */
    uint32_t nhdrs;
    /* `errorfile` for this status: sent instead of the page (status, body and
     * content_type are then the file's); NULL: none */
    const struct http_errorfile *file;
};

/*
 * Writes a complete reply into out[0, cap): "HTTP/1.1 <status> <phrase>",
 * content-length (of the body, also for HEAD), cache-control: no-cache,
 * content-type, connection: close when r->close, x-tern-error when
 * r->error_header, r's extra fields, then the body unless head_only.
 * With r->file: the file's head as it is (its status line and fields),
 * content-length when the file has none, connection: close when r->close,
 * x-tern-error when r->error_header, r's extra fields, the file's body
 * unless head_only.
 * Returns the length, or -1 when cap is too small (nothing usable written).
 */
ssize_t http_local_reply_write(char *out, size_t cap, const struct http_local_reply *r);

/* True when the field named name[0, len) is hop-by-hop by itself (without
 * being listed in Connection): Connection, Keep-Alive, Proxy-Connection, TE,
 * Upgrade, HTTP2-Settings. */
bool http_h1_is_hop_by_hop(const char *name, size_t len);

#endif /* TERN_HTTP_H1_H */
