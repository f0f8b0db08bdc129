/*
 * h1.h: a strict, zero-copy, zero-allocation HTTP/1.1 message parser
 * (RFC 9110, RFC 9112). Pure protocol: it knows nothing of sockets, streams or
 * filters, and is used alike by the downstream connection manager (requests)
 * and the upstream pools (responses).
 *
 * What it does:
 *   - h1_parse_request / h1_parse_response: the head of a message (start line
 *     and header fields), fed as often as bytes arrive; framing analysed.
 *   - h1_chunked_parse: an incremental chunked-body decoder that points at the
 *     payload inside the caller's bytes.
 *   - helpers: method and error tables, case-insensitive tokens, list walking,
 *     the response-body rules of RFC 9112 6.3.
 *
 * Strictness: every framing ambiguity that lets two parsers disagree on where
 * a message ends (request smuggling, response splitting) is an error, never a
 * guess. Each choice, and where it is stricter than the RFC allows, is listed
 * in proxy/codec/README.md ("Strictness"). In short: CRLF only (bare LF and bare CR
 * are errors), single SP separators, no obs-fold, no whitespace before a
 * colon, no CTL in names or values, Content-Length digits only and equal when
 * repeated, Content-Length with Transfer-Encoding refused, Transfer-Encoding
 * only as a final "chunked", no whitespace in chunk lines.
 *
 * Cost: one pass over the bytes, a table lookup per byte in tight loops; a
 * call resumes where the previous one stopped, so a head arriving one byte at
 * a time costs the same as one arriving whole (O(n) in total).
 *
 * Slices: every name, value and token is an (offset, length) slice of the
 * caller's bytes (h1_types.h), valid as long as the caller keeps those bytes.
 *
 * Thread: no global mutable state; every function may be called from any
 * thread on objects it owns.
 */
#ifndef TERN_CODEC_H1_H
#define TERN_CODEC_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy/codec/h1_types.h"

/* The bytes of a slice. */
static inline const char *h1_ptr(const char *base, struct h1_slice s)
{
    return base + s.off;
}

/* Fills lim with the defaults (H1_DEFAULT_*). */
void h1_limits_default(struct h1_limits *lim);

/* Resets msg before the first call for a new message. */
void h1_msg_init(struct h1_msg *msg);

/*
 * Parses the head of a request: buf[0, len) holds the message from its first
 * byte (leading empty lines, which RFC 9112 2.2 lets a server skip, included)
 * to wherever the bytes received so far end; it may extend beyond the head
 * (body, pipelined requests), which is never read.
 *
 * Call again with the same msg each time more bytes arrive, with buf holding
 * the same bytes from the same first byte (it may have moved in memory) and
 * len at least as large as before; parsing resumes where it stopped. A call
 * with a smaller len restarts from scratch.
 *
 * hdrs[0, max_hdrs) receives the fields in order (msg->nhdrs of them); the
 * array must stay the same between calls for one message. lim: NULL for the
 * defaults; must stay the same between calls.
 *
 * Returns:
 *   > 0            the head is complete: the number of bytes it took, final
 *                  CRLF included (also msg->head_len); the body, if any,
 *                  starts there. msg is filled; msg->body says how the body
 *                  is delimited (never H1_BODY_UNTIL_CLOSE for a request).
 *   H1_INCOMPLETE  valid so far and within the limits: call again with more.
 *   H1_ERR_*       the request must be refused with h1_err_status(ret) and
 *                  the connection closed. Errors are detected as early as the
 *                  offending byte arrives, and the result never depends on how
 *                  the bytes were split between calls.
 * Once complete or failed, further calls return the same result.
 *
 * Checks beyond the grammar: Host (exactly one in HTTP/1.1, at most one in
 * HTTP/1.0, valid uri-host[:port]); the request-target form against the
 * method; Content-Length / Transfer-Encoding (see enum h1_err).
 */
ssize_t h1_parse_request(const char *buf, size_t len, struct h1_msg *msg,
                         struct h1_header *hdrs, size_t max_hdrs,
                         const struct h1_limits *lim);

/*
 * Parses the head of a response; same contract as h1_parse_request. The
 * status line is HTTP-version SP 3DIGIT (100..599) [SP reason-phrase], the
 * reason being any VCHAR / SP / HTAB / obs-text (the SP after the code may be
 * missing when the line ends there). 1xx responses are returned like any
 * other: the caller forwards or drops them and parses the next head.
 *
 * msg->body is the framing as far as the response alone tells (1xx, 204 and
 * 304: NONE; chunked; Content-Length; otherwise UNTIL_CLOSE); the request
 * method changes it: use h1_response_body(). Any error means 502 to the
 * client and closing the server connection.
 */
ssize_t h1_parse_response(const char *buf, size_t len, struct h1_msg *msg,
                          struct h1_header *hdrs, size_t max_hdrs,
                          const struct h1_limits *lim);

/*
 * The body of a complete response to a request with method req (RFC 9112 6.3):
 * HEAD, 1xx (except 101), 204, 304: NONE; 101 and 2xx to CONNECT: TUNNEL;
 * otherwise resp->body.
 */
enum h1_body h1_response_body(const struct h1_msg *resp, enum h1_method req);

/*
 * Whether the connection stays open after this complete response to a
 * request with method req: H1_F_KEEP_ALIVE (Connection and version, RFC 9112
 * 9.3) and a body that does not end with the connection.
 */
bool h1_response_keep_alive(const struct h1_msg *resp, enum h1_method req);

/* Prepares a decoder for one chunked body; lim: NULL for the defaults. */
void h1_chunked_init(struct h1_chunked *c, const struct h1_limits *lim);

/*
 * Decodes the chunked body in buf[0, len), the bytes that follow what earlier
 * calls consumed. Stops after at most one event:
 *   H1_CHUNK_DATA       payload at buf[ev->data_off, +ev->data_len), inside the
 *                       consumed bytes (forward it before dropping them);
 *   H1_CHUNK_TRAILER    one trailer field: the line at buf[ev->data_off,
 *                       +ev->data_len) (CRLF included); ev->trailer's slices are
 *                       relative to the line's first byte;
 *   H1_CHUNK_DONE       the body ended: what follows belongs to the next message;
 *   H1_CHUNK_NEED_MORE  every byte up to the return value was framing, and more
 *                       input is needed.
 * Returns the number of bytes consumed (the caller drops them and calls again
 * with the rest, plus whatever arrives), or a negative H1_ERR_* (the body is
 * invalid: close the connection). Call in a loop until NEED_MORE or DONE.
 *
 * A trailer line is consumed only once complete, so with NEED_MORE the return
 * value may be less than len: keep the unconsumed bytes and present them again
 * first (the line is not scanned twice). The caller's buffer therefore needs
 * room for max_trailer_size bytes.
 * Chunk sizes go up to 2^63-1; c->total counts payload bytes so far.
 * Once DONE or failed, further calls return 0 with DONE, or the same error.
 */
ssize_t h1_chunked_parse(struct h1_chunked *c, const char *buf, size_t len,
                         struct h1_chunk_event *ev);

/* Whether the decoder has seen the end of the body. */
bool h1_chunked_done(const struct h1_chunked *c);

/* The HTTP status to answer a request that failed with err (400 if unknown). */
int h1_err_status(int err);

/* A short stable name for err, for counters and logs ("bare_lf", ...);
 * "ok" for values >= 0, "incomplete" for H1_INCOMPLETE, "unknown" otherwise. */
const char *h1_err_name(int err);

/* The method's id; H1_METHOD_OTHER for any other (valid) token. Case-sensitive. */
enum h1_method h1_method_id(const char *s, size_t len);
/* Idempotent (RFC 9110 9.2.2): GET HEAD PUT DELETE OPTIONS TRACE. */
bool h1_method_idempotent(enum h1_method m);
/* Safe (RFC 9110 9.2.1): GET HEAD OPTIONS TRACE. */
bool h1_method_safe(enum h1_method m);

/* The id of a field name (case-insensitive), H1_HDR_OTHER if not one we know. */
enum h1_hdr_id h1_hdr_id(const char *name, size_t len);

/* Case-insensitive (ASCII) comparison of s[0, len) with lit[0, litlen). */
bool h1_token_eq(const char *s, size_t len, const char *lit, size_t litlen);

/*
 * Walks a comma-separated list (RFC 9110 5.6.1) in s[0, len): from *pos,
 * stores the next non-empty element, OWS trimmed, as a slice of s in *elem,
 * advances *pos past it and returns true; false at the end. Empty elements
 * are skipped as the RFC asks. Nothing is validated (the parser already has).
 */
bool h1_list_next(const char *s, size_t len, size_t *pos, struct h1_slice *elem);

#endif /* TERN_CODEC_H1_H */
