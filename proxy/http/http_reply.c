/*
 * http_reply.c: the bytes of tern's own replies (see http_h1.h). Small HTML
 * pages like HAProxy's, or a filter's body, always with content-length, so
 * a kept-alive connection stays in sync.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/http/http_h1.h"
#include "proxy/http/http_reason.h"
#include "proxy/model/model_types.h"

static const char *reply_text(uint16_t status)
{
    switch (status) {
    case 400: return "The request is invalid and was not forwarded.";
    case 403: return "The request was refused.";
    case 408: return "The request did not arrive in time.";
    case 413: return "The request body is too large.";
    case 414: return "The request target is too long.";
    case 429: return "Too many requests: retry later.";
    case 431: return "The request header fields are too large.";
    case 501: return "The request uses a feature that is not supported.";
    case 502: return "The server's response was invalid or the server closed the connection.";
    case 503: return "No server could take this request.";
    case 504: return "The server did not answer in time.";
    case 505: return "The HTTP version is not supported.";
    default: return "The request could not be completed.";
    }
}

/* The errorfile's head as it is (ending with its last field's CRLF), then the fields tern owes: its own
 * framing when the file has none, this hop's Connection, x-tern-error. */
static int file_head(char *out, size_t cap, const struct http_local_reply *r)
{
    const struct http_errorfile *f = r->file;
    char clen[48] = "";
    int n;

    if (f->head_len > cap)
        return -1;
    memcpy(out, f->raw, f->head_len);
    if (!f->has_length)
        snprintf(clen, sizeof(clen), "content-length: %u\r\n", (unsigned)f->body_len);
    n = snprintf(out + f->head_len, cap - f->head_len, "%s%s%s%s%s", clen,
                 r->close ? "connection: close\r\n" : "", r->error_header ? "x-tern-error: " : "",
                 r->error_header ? http_reason_name(r->reason) : "",
                 r->error_header ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap - f->head_len)
        return -1;
    return (int)f->head_len + n;
}

ssize_t http_local_reply_write(char *out, size_t cap, const struct http_local_reply *r)
{
    char page[512];
    const char *body = r->body, *content_type = r->content_type;
    size_t body_len = r->body_len, o;
    int head, plen;
    uint16_t status = r->status;

    if (r->file) {
        body = r->file->raw + r->file->head_len;
        body_len = r->file->body_len;
        head = file_head(out, cap, r);
        if (head < 0)
            return -1;
    } else {
        if (!body) {
            plen = snprintf(page, sizeof(page),
                            "<html><body><h1>%u %s</h1>\n%s\n</body></html>\n",
                            (unsigned)status, http_status_text(status), reply_text(status));
            body = page;
            body_len = (size_t)plen;
            content_type = "text/html";
        }
        head = snprintf(out, cap,
                        "HTTP/1.1 %u %s\r\ncontent-length: %zu\r\ncache-control: no-cache\r\n"
                        "content-type: %s\r\n%s%s%s%s",
                        (unsigned)status, http_status_text(status), body_len,
                        content_type ? content_type : "text/plain",
                        r->close ? "connection: close\r\n" : "",
                        r->error_header ? "x-tern-error: " : "",
                        r->error_header ? http_reason_name(r->reason) : "",
                        r->error_header ? "\r\n" : "");
        if (head < 0 || (size_t)head >= cap)
            return -1;
    }
    o = (size_t)head;
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct http_hdr *h = &r->hdrs[i];
        size_t need = h->name.len + 2 + h->value.len + 2;
        if (need > cap - o)
            return -1;
        memcpy(out + o, h->name.p, h->name.len);
        o += h->name.len;
        memcpy(out + o, ": ", 2);
        o += 2;
        memcpy(out + o, h->value.p, h->value.len);
        o += h->value.len;
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    if (cap - o < 2)
        return -1;
    memcpy(out + o, "\r\n", 2);
    o += 2;
    if (r->head_only)
        return (ssize_t)o;
    if (body_len > cap - o)
        return -1;
    memcpy(out + o, body, body_len);
    return (ssize_t)(o + body_len);
}
