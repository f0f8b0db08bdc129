/*
 * h1_chunked.c: incremental decoder of the chunked transfer coding
 * (RFC 9112 7.1), zero-copy.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( ";" chunk-ext-name [ "=" chunk-ext-val ] )
 *
 * The decoder never copies payload: it walks the framing byte by byte (a
 * chunk-size line is short, and bounded by max_chunk_line) and, on reaching
 * chunk data, reports the span of payload inside the caller's buffer and
 * returns, so the caller can forward those very bytes. Input may be split
 * anywhere; the state carries over.
 *
 * Strictness (each one a smuggling vector when parsers disagree):
 *   - chunk-size is 1*HEXDIG up to 2^63-1: no "0x", no sign, no whitespace
 *     before or after it. RFC 9112 allows "bad whitespace" around the ';' of
 *     an extension; we do not, as implementations differ on it.
 *   - extensions are validated (token names, token or quoted-string values)
 *     and dropped; the whole line is limited to max_chunk_line bytes.
 *   - chunk data must be followed by exactly CRLF.
 *   - a bare LF or CR anywhere is an error.
 *   - trailer fields are checked like header fields, counted, limited in
 *     total size, and may not be Content-Length, Transfer-Encoding or Host.
 *
 * Trailer lines are reported as slices, so a line must be whole in the
 * buffer: a partial one is left unconsumed, and the scanner remembers how far
 * it got so the next call does not rescan it (linear, like the head parser).
 */
#include "proxy/codec/h1.h"
#include "proxy/codec/h1_int.h"

enum {
    CS_SIZE0 = 0,      /* first hex digit of chunk-size */
    CS_SIZE,           /* more hex digits, ';' or CR */
    CS_EXT_NAME0,      /* after ';': first byte of an extension name */
    CS_EXT_NAME,
    CS_EXT_VAL0,       /* after '=' */
    CS_EXT_TOKEN,
    CS_EXT_QSTR,
    CS_EXT_QESC,       /* after a backslash in a quoted string */
    CS_EXT_QEND,       /* after the closing quote */
    CS_SIZE_LF,        /* after the CR of the chunk-size line */
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_TRAILER,        /* trailer section, one field line at a time */
    CS_DONE,
    CS_ERROR,
};

#define CHUNK_SIZE_MAX UINT64_C(0x7fffffffffffffff)

void h1_chunked_init(struct h1_chunked *c, const struct h1_limits *lim)
{
    struct h1_limits def;

    h1_limits_default(&def);
    *c = (struct h1_chunked){0};
    c->state = CS_SIZE0;
    c->max_chunk_line = lim && lim->max_chunk_line ? lim->max_chunk_line : def.max_chunk_line;
    c->max_trailers = lim && lim->max_trailers ? lim->max_trailers : def.max_trailers;
    c->max_trailer_size = lim && lim->max_trailer_size ? lim->max_trailer_size
                                                       : def.max_trailer_size;
    if (c->max_trailer_size > H1_MAX_HEAD_LIMIT)
        c->max_trailer_size = H1_MAX_HEAD_LIMIT;
}

bool h1_chunked_done(const struct h1_chunked *c)
{
    return c->state == CS_DONE;
}

static ssize_t fail(struct h1_chunked *c, int err)
{
    c->state = CS_ERROR;
    c->err = (int8_t)err;
    return err;
}

/* One trailer line starting at buf[p]. */
static ssize_t trailer(struct h1_chunked *c, const char *buf, size_t len, size_t p,
                       struct h1_chunk_event *ev)
{
    struct h1_scan s = {
        .pos = c->scan_pos,
        .line = 0,
        .mark = c->scan_mark,
        .mark2 = c->scan_mark2,
        .sub = c->scan_sub,
    };
    uint32_t budget = c->max_trailer_size - c->trailer_bytes;
    size_t avail = len - p;
    uint32_t end = avail < budget ? (uint32_t)avail : budget;
    struct h1_header f;
    int r;

    /* positions are relative to the line's first byte: they stay small, and
     * stay right when the caller moves the unconsumed bytes */
    r = h1_field_line(buf + p, end, &s, &f);
    if (r == H1_FL_MORE) {
        if (end < avail)
            return fail(c, H1_ERR_TRAILERS_TOO_LARGE);
        /* keep the partial line unconsumed; remember how far it was checked */
        c->scan_pos = s.pos;
        c->scan_mark = s.mark;
        c->scan_mark2 = s.mark2;
        c->scan_sub = s.sub;
        return (ssize_t)p;
    }
    if (r < 0)
        return fail(c, r);
    c->trailer_bytes += s.pos;
    c->scan_pos = c->scan_mark = c->scan_mark2 = 0;
    c->scan_sub = H1_FS_START;
    if (r == H1_FL_EMPTY) {
        c->state = CS_DONE;
        ev->type = H1_CHUNK_DONE;
        return (ssize_t)(p + s.pos);
    }
    if (++c->ntrailers > c->max_trailers)
        return fail(c, H1_ERR_TRAILERS_TOO_LARGE);
    /* framing and routing fields have no business after the body */
    if (f.id == H1_HDR_CONTENT_LENGTH || f.id == H1_HDR_TRANSFER_ENCODING || f.id == H1_HDR_HOST)
        return fail(c, H1_ERR_TRAILER_FORBIDDEN);
    ev->type = H1_CHUNK_TRAILER;
    ev->data_off = p;
    ev->data_len = s.pos;
    ev->trailer = f;
    return (ssize_t)(p + s.pos);
}

ssize_t h1_chunked_parse(struct h1_chunked *c, const char *buf, size_t len,
                         struct h1_chunk_event *ev)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t p = 0;

    ev->type = H1_CHUNK_NEED_MORE;
    ev->data_off = ev->data_len = 0;
    if (c->state == CS_ERROR)
        return c->err;
    if (c->state == CS_DONE) {
        ev->type = H1_CHUNK_DONE;
        return 0;
    }

    while (p < len) {
        unsigned char ch = b[p];

        switch (c->state) {
        case CS_DATA: {
            size_t n = len - p;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            ev->type = H1_CHUNK_DATA;
            ev->data_off = p;
            ev->data_len = n;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            return (ssize_t)(p + n);
        }
        case CS_DATA_CR:
            if (ch != '\r')
                return fail(c, H1_ERR_CHUNK_CRLF);
            c->state = CS_DATA_LF;
            p++;
            continue;
        case CS_DATA_LF:
            if (ch != '\n')
                return fail(c, H1_ERR_CHUNK_CRLF);
            c->state = CS_SIZE0;
            c->line_len = 0;
            p++;
            continue;
        case CS_SIZE_LF:
            if (ch != '\n')
                return fail(c, H1_ERR_BARE_CR);
            p++;
            c->state = c->remaining ? CS_DATA : CS_TRAILER;
            continue;
        case CS_TRAILER:
            return trailer(c, buf, len, p, ev);
        default:
            break;
        }

        /* the chunk-size line: chunk-size [ chunk-ext ] CRLF */
        if (ch == '\r') {
            switch (c->state) {
            case CS_SIZE:
            case CS_EXT_NAME:
            case CS_EXT_TOKEN:
            case CS_EXT_QEND:
                c->state = CS_SIZE_LF;
                p++;
                continue;
            case CS_SIZE0:
                return fail(c, H1_ERR_CHUNK_SIZE);
            default:
                return fail(c, H1_ERR_CHUNK_EXT);
            }
        }
        if (ch == '\n')
            return fail(c, H1_ERR_BARE_LF);
        if (++c->line_len > c->max_chunk_line)
            return fail(c, H1_ERR_CHUNK_LINE_TOO_LONG);

        switch (c->state) {
        case CS_SIZE0:
            if (!h1_is(ch, H1_C_HEX))
                return fail(c, H1_ERR_CHUNK_SIZE);
            c->remaining = (uint64_t)h1_hexval(ch);
            c->state = CS_SIZE;
            break;
        case CS_SIZE:
            if (h1_is(ch, H1_C_HEX)) {
                if (c->remaining > (CHUNK_SIZE_MAX >> 4))
                    return fail(c, H1_ERR_CHUNK_SIZE);
                c->remaining = (c->remaining << 4) | (uint64_t)h1_hexval(ch);
            } else if (ch == ';') {
                c->state = CS_EXT_NAME0;
            } else {
                return fail(c, H1_ERR_CHUNK_SIZE);
            }
            break;
        case CS_EXT_NAME0:
            if (!h1_is(ch, H1_C_TCHAR))
                return fail(c, H1_ERR_CHUNK_EXT);
            c->state = CS_EXT_NAME;
            break;
        case CS_EXT_NAME:
            if (ch == '=')
                c->state = CS_EXT_VAL0;
            else if (ch == ';')
                c->state = CS_EXT_NAME0;
            else if (!h1_is(ch, H1_C_TCHAR))
                return fail(c, H1_ERR_CHUNK_EXT);
            break;
        case CS_EXT_VAL0:
            if (ch == '"')
                c->state = CS_EXT_QSTR;
            else if (h1_is(ch, H1_C_TCHAR))
                c->state = CS_EXT_TOKEN;
            else
                return fail(c, H1_ERR_CHUNK_EXT);
            break;
        case CS_EXT_TOKEN:
            if (ch == ';')
                c->state = CS_EXT_NAME0;
            else if (!h1_is(ch, H1_C_TCHAR))
                return fail(c, H1_ERR_CHUNK_EXT);
            break;
        case CS_EXT_QSTR:
            if (ch == '"')
                c->state = CS_EXT_QEND;
            else if (ch == '\\')
                c->state = CS_EXT_QESC;
            else if (!h1_is(ch, H1_C_QDTEXT))
                return fail(c, H1_ERR_CHUNK_EXT);
            break;
        case CS_EXT_QESC:
            /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (!h1_is(ch, H1_C_VALUE))
                return fail(c, H1_ERR_CHUNK_EXT);
            c->state = CS_EXT_QSTR;
            break;
        case CS_EXT_QEND:
            if (ch != ';')
                return fail(c, H1_ERR_CHUNK_EXT);
            c->state = CS_EXT_NAME0;
            break;
        default:
            return fail(c, H1_ERR_CHUNK_SIZE);   /* unreachable: corrupt state */
        }
        p++;
    }
    return (ssize_t)p;
}
