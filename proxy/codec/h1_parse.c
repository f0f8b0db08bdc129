/*
 * h1_parse.c: the head of an HTTP/1.1 message (start line and header fields)
 * and the framing analysis that decides where its body ends.
 *
 * Shape. A resumable state machine over the bytes: request line (method,
 * target, version) or status line (version, code, reason), then field lines
 * (h1_field.c), then the checks that need the whole head. Each state runs a
 * tight loop over one byte class from the 256-entry table (h1_util.c); when
 * the bytes run out, the state and position go into msg->ps and the next call
 * continues from there. The only second looks at a byte are the per-element
 * checks done once an element is complete (target form, a Content-Length or
 * Transfer-Encoding list): each element is seen once more, so the total work
 * stays linear in the head, however the bytes were split between reads.
 *
 * Limits are checked by position: a head is refused as soon as a byte beyond
 * max_head (431) or beyond max_line in the request line (414) arrives, not
 * when the message finally ends. Every decision depends only on the bytes up
 * to the one being examined, which is why the result never depends on how
 * the input was split (the unit tests and the fuzz targets check this).
 *
 * Framing (RFC 9112 6): the smuggling defences live in on_field() and
 * finish(). Anything two implementations could read differently is an error:
 * Content-Length with Transfer-Encoding, differing Content-Lengths, a
 * Transfer-Encoding that does not end in chunked (requests), chunked twice,
 * Transfer-Encoding in HTTP/1.0, several Host fields.
 */
#include <string.h>

#include "proxy/codec/h1.h"
#include "proxy/codec/h1_int.h"

enum {
    ST_NEW = 0,
    /* request line */
    ST_RL_START,       /* skipping empty lines before the request line */
    ST_RL_START_LF,
    ST_METHOD,
    ST_TARGET,
    ST_VERSION,
    ST_RL_LF,
    /* status line */
    ST_SL_START,
    ST_SL_START_LF,
    ST_SL_VERSION,
    ST_SL_STATUS,
    ST_SL_REASON,
    ST_SL_LF,
    /* field lines */
    ST_FIELDS,
    ST_DONE,
    ST_ERROR,
};

/* How an authority is checked (RFC 3986 3.2 without userinfo). */
enum {
    AUTH_HOST,         /* Host field: may be empty; port optional */
    AUTH_URI,          /* absolute-form: host required; port optional */
    AUTH_CONNECT,      /* authority-form: host ":" port, both required */
};

void h1_msg_init(struct h1_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->host = -1;
}

static inline uint32_t min32(size_t a, uint32_t b)
{
    return a < b ? (uint32_t)a : b;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Every '%' in s[0, n) is followed by two HEXDIG. */
static bool pct_ok(const char *s, uint32_t n)
{
    const char *p = s, *end = s + n;

    while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
        if (end - p < 3 || !h1_is((unsigned char)p[1], H1_C_HEX) ||
            !h1_is((unsigned char)p[2], H1_C_HEX))
            return false;
        p += 3;
    }
    return true;
}

/*
 * uri-host [":" port] (RFC 3986): IP-literal "[...]" of HEXDIG ':' '.', or a
 * reg-name of unreserved / sub-delims / pct-encoded bytes. No userinfo: '@'
 * is refused, as RFC 9110 4.2.4 asks of http(s) URIs. A port is 1 to 5
 * digits up to 65535.
 */
static bool authority_ok(const char *s, uint32_t n, int mode)
{
    uint32_t i = 0, port = 0, digits;

    if (n == 0)
        return mode == AUTH_HOST;
    if (s[0] == '[') {
        i = 1;
        while (i < n && (h1_is((unsigned char)s[i], H1_C_HEX) || s[i] == ':' || s[i] == '.'))
            i++;
        if (i == 1 || i >= n || s[i] != ']')
            return false;
        i++;
    } else {
        while (i < n) {
            unsigned char c = (unsigned char)s[i];
            if (h1_is(c, H1_C_HOST))
                i++;
            else if (c == '%' && n - i >= 3 && h1_is((unsigned char)s[i + 1], H1_C_HEX) &&
                     h1_is((unsigned char)s[i + 2], H1_C_HEX))
                i += 3;
            else
                break;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return mode != AUTH_CONNECT;
    if (s[i] != ':')
        return false;
    i++;
    digits = n - i;
    if (digits == 0 || digits > 5)
        return false;
    for (; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return false;
        port = port * 10 + (uint32_t)(s[i] - '0');
    }
    return port <= 65535;
}

/* Classifies and checks the request-target (RFC 9112 3.2) against the method. */
static int check_target(const char *buf, struct h1_msg *m)
{
    const char *t = buf + m->target.off;
    uint32_t n = m->target.len, i, a, j;

    if (t[0] == '/') {
        if (m->method_id == H1_METHOD_CONNECT)
            return H1_ERR_TARGET_FORM;
        if (!pct_ok(t, n))
            return H1_ERR_TARGET;
        m->target_form = H1_TARGET_ORIGIN;
        m->path = m->target;
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (m->method_id != H1_METHOD_OPTIONS)
            return H1_ERR_TARGET_FORM;
        m->target_form = H1_TARGET_ASTERISK;
        m->path = m->target;
        return 0;
    }
    if (m->method_id == H1_METHOD_CONNECT) {
        if (!authority_ok(t, n, AUTH_CONNECT))
            return H1_ERR_TARGET;
        m->target_form = H1_TARGET_AUTHORITY;
        m->authority = m->target;
        return 0;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
    i = 0;
    if ((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z')
        for (i = 1; i < n && h1_is((unsigned char)t[i], H1_C_SCHEME); i++)
            ;
    if (i == 0 || n - i < 3 || memcmp(t + i, "://", 3) != 0) {
        /* "host:port" is the authority-form, allowed with CONNECT only */
        return authority_ok(t, n, AUTH_CONNECT) ? H1_ERR_TARGET_FORM : H1_ERR_TARGET;
    }
    a = i + 3;
    for (j = a; j < n && t[j] != '/' && t[j] != '?'; j++)
        ;
    if (!authority_ok(t + a, j - a, AUTH_URI) || !pct_ok(t + j, n - j))
        return H1_ERR_TARGET;
    m->target_form = H1_TARGET_ABSOLUTE;
    m->scheme = (struct h1_slice){m->target.off, i};
    m->authority = (struct h1_slice){m->target.off + a, j - a};
    m->path = (struct h1_slice){m->target.off + j, n - j};
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT: 10 or 11, or an error. */
static int parse_version(const unsigned char *v, uint32_t n)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
        return H1_ERR_VERSION;
    if (v[5] == '1' && (v[7] == '0' || v[7] == '1'))
        return v[7] == '0' ? 10 : 11;
    return H1_ERR_VERSION_UNSUPPORTED;
}

static inline uint32_t skip_ows(const char *v, uint32_t i, uint32_t n)
{
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return i;
}

/*
 * Content-Length = 1*DIGIT, or a list of them (RFC 9110 8.6) that must all be
 * equal, within this line and across lines. No sign, no space inside a
 * number, no empty element; at most 2^63-1.
 */
static int on_content_length(const char *v, uint32_t n, struct h1_msg *m)
{
    uint32_t i = 0;

    for (;;) {
        uint64_t val = 0;
        uint32_t b = i;
        while (i < n && is_digit((unsigned char)v[i])) {
            unsigned d = (unsigned)(v[i] - '0');
            if (val > (UINT64_C(0x7fffffffffffffff) - d) / 10)
                return H1_ERR_CONTENT_LENGTH;
            val = val * 10 + d;
            i++;
        }
        if (i == b)
            return H1_ERR_CONTENT_LENGTH;
        if (m->flags & H1_F_CONTENT_LENGTH) {
            if (val != m->content_length)
                return H1_ERR_CONTENT_LENGTH_CONFLICT;
        } else {
            m->flags |= H1_F_CONTENT_LENGTH;
            m->content_length = val;
        }
        i = skip_ows(v, i, n);
        if (i == n)
            return 0;
        if (v[i] != ',')
            return H1_ERR_CONTENT_LENGTH;
        i = skip_ows(v, i + 1, n);
    }
}

/*
 * Transfer-Encoding = 1#transfer-coding. Several lines make one list. Each
 * element must be a bare token (no parameters, no empty element); what the
 * codings mean is judged in finish(), once the whole list is known.
 */
static int on_transfer_encoding(const char *v, uint32_t n, struct h1_msg *m)
{
    struct h1_parse_state *ps = &m->ps;
    uint32_t i = 0;

    m->flags |= H1_F_TRANSFER_ENCODING;
    for (;;) {
        uint32_t b = i;
        while (i < n && h1_is((unsigned char)v[i], H1_C_TCHAR))
            i++;
        if (i == b)
            return H1_ERR_TE_INVALID;
        if (h1_token_eq(v + b, i - b, "chunked", 7)) {
            if (ps->te_chunked)
                return H1_ERR_TE_CHUNKED_TWICE;
            ps->te_chunked = 1;
            ps->te_last_chunked = 1;
        } else {
            ps->te_other = 1;
            ps->te_last_chunked = 0;
        }
        i = skip_ows(v, i, n);
        if (i == n)
            return 0;
        if (v[i] != ',')
            return H1_ERR_TE_INVALID;
        i = skip_ows(v, i + 1, n);
    }
}

/* Connection = #connection-option (tokens; empty elements ignored). */
static int on_connection(const char *v, uint32_t n, struct h1_msg *m)
{
    uint32_t i = 0;

    for (;;) {
        uint32_t b;
        while (i < n && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i == n)
            return 0;
        b = i;
        while (i < n && h1_is((unsigned char)v[i], H1_C_TCHAR))
            i++;
        if (i == b)
            return H1_ERR_CONNECTION;
        if (h1_token_eq(v + b, i - b, "close", 5))
            m->flags |= H1_F_CONN_CLOSE;
        else if (h1_token_eq(v + b, i - b, "keep-alive", 10))
            m->flags |= H1_F_CONN_KEEP_ALIVE;
        else if (h1_token_eq(v + b, i - b, "upgrade", 7))
            m->flags |= H1_F_CONN_UPGRADE;
        else
            m->flags |= H1_F_CONN_OTHER;
        i = skip_ows(v, i, n);
        if (i < n && v[i] != ',')
            return H1_ERR_CONNECTION;
    }
}

/* The semantics of one complete field line, the idx-th of the head. */
static int on_field(const char *buf, struct h1_msg *m, const struct h1_header *f,
                    uint32_t idx, bool response)
{
    const char *v = buf + f->value.off;
    uint32_t n = f->value.len;

    switch (f->id) {
    case H1_HDR_HOST:
        if (response)
            return 0;
        if (m->flags & H1_F_HOST)
            return H1_ERR_HOST_DUPLICATE;
        if (!authority_ok(v, n, AUTH_HOST))
            return H1_ERR_HOST_INVALID;
        m->flags |= H1_F_HOST;
        m->host = (int32_t)idx;
        return 0;
    case H1_HDR_CONTENT_LENGTH:
        return on_content_length(v, n, m);
    case H1_HDR_TRANSFER_ENCODING:
        return on_transfer_encoding(v, n, m);
    case H1_HDR_CONNECTION:
        return on_connection(v, n, m);
    case H1_HDR_EXPECT:
        if (response)
            return 0;
        /* RFC 9110 10.1.1: a 100-continue in an HTTP/1.0 request is ignored */
        if (h1_token_eq(v, n, "100-continue", 12)) {
            if (m->version == 11)
                m->flags |= H1_F_EXPECT_CONTINUE;
        } else {
            m->flags |= H1_F_EXPECT_OTHER;
        }
        return 0;
    case H1_HDR_UPGRADE:
        m->flags |= H1_F_UPGRADE;
        return 0;
    case H1_HDR_TE:
        m->flags |= H1_F_TE;
        return 0;
    case H1_HDR_TRAILER:
        m->flags |= H1_F_TRAILER;
        return 0;
    default:
        return 0;
    }
}

/* The checks that need the whole head, and the body framing (RFC 9112 6.3). */
static int finish(struct h1_msg *m, bool response)
{
    const struct h1_parse_state *ps = &m->ps;
    bool ka;

    if (m->flags & H1_F_TRANSFER_ENCODING) {
        /* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing */
        if (m->version == 10)
            return H1_ERR_TE_HTTP10;
        /* RFC 9112 6.3 lets TE override CL "but ought to be handled as an error": it is */
        if (m->flags & H1_F_CONTENT_LENGTH)
            return H1_ERR_CL_AND_TE;
        if (!ps->te_last_chunked) {
            if (!response)
                return H1_ERR_TE_NOT_CHUNKED;
            m->body = H1_BODY_UNTIL_CLOSE;      /* RFC 9112 6.3 item 4 */
        } else if (ps->te_other) {
            return H1_ERR_TE_UNSUPPORTED;       /* we decode chunked only */
        } else {
            m->flags |= H1_F_CHUNKED;
            m->body = H1_BODY_CHUNKED;
        }
    } else if (m->flags & H1_F_CONTENT_LENGTH) {
        m->body = H1_BODY_LENGTH;
    } else {
        m->body = response ? H1_BODY_UNTIL_CLOSE : H1_BODY_NONE;
    }

    if (response) {
        if (m->status < 200 || m->status == 204 || m->status == 304)
            m->body = H1_BODY_NONE;
    } else if (m->version == 11 && !(m->flags & H1_F_HOST)) {
        return H1_ERR_HOST_MISSING;
    }

    /* RFC 9112 9.3 */
    if (m->flags & H1_F_CONN_CLOSE)
        ka = false;
    else if (m->version == 11)
        ka = true;
    else
        ka = (m->flags & H1_F_CONN_KEEP_ALIVE) != 0;
    if (ka)
        m->flags |= H1_F_KEEP_ALIVE;
    return 0;
}

static ssize_t fail(struct h1_msg *m, int err)
{
    m->ps.s.st = ST_ERROR;
    m->ps.err = (int8_t)err;
    return err;
}

static ssize_t parse_head(const char *buf, size_t len, struct h1_msg *m, struct h1_header *hdrs,
                          size_t max_hdrs, const struct h1_limits *lim, bool response)
{
    const unsigned char *b = (const unsigned char *)buf;
    struct h1_scan *s = &m->ps.s;
    uint32_t max_head = H1_DEFAULT_MAX_HEAD, max_line = H1_DEFAULT_MAX_LINE;
    uint32_t maxh = H1_DEFAULT_MAX_HDRS;
    uint32_t p, e, head_end, line_limit;
    unsigned char c;
    int r;

    if (s->st == ST_DONE)
        return m->head_len;
    if (s->st == ST_ERROR)
        return m->ps.err;
    if (len < s->pos)
        h1_msg_init(m);
    if (s->st == ST_NEW)
        s->st = response ? ST_SL_START : ST_RL_START;

    if (lim) {
        if (lim->max_head)
            max_head = lim->max_head < H1_MAX_HEAD_LIMIT ? lim->max_head : H1_MAX_HEAD_LIMIT;
        if (lim->max_line)
            max_line = lim->max_line < H1_MAX_HEAD_LIMIT ? lim->max_line : H1_MAX_HEAD_LIMIT;
        if (lim->max_hdrs)
            maxh = lim->max_hdrs;
    }
    if (!hdrs)
        max_hdrs = 0;
    if (max_hdrs < maxh)
        maxh = (uint32_t)max_hdrs;

    head_end = min32(len, max_head);   /* bytes we may look at now */
    p = s->pos;
    /* bytes of the start line we may look at: content up to max_line, then CR */
    line_limit = s->line + max_line + 1;
    e = head_end < line_limit ? head_end : line_limit;

    switch (s->st) {
    /* ---- request line: method SP request-target SP HTTP-version CRLF ---- */
    case ST_RL_START:
    rl_start:
        if (p >= head_end)
            goto more;
        c = b[p];
        if (c == '\r') {
            p++;
            s->st = ST_RL_START_LF;
            goto rl_start_lf;
        }
        if (c == '\n')
            return fail(m, H1_ERR_BARE_LF);
        s->line = s->mark = p;
        line_limit = p + max_line + 1;
        e = head_end < line_limit ? head_end : line_limit;
        s->st = ST_METHOD;
        goto method;
    case ST_RL_START_LF:
    rl_start_lf:
        if (p >= head_end)
            goto more;
        if (b[p] != '\n')
            return fail(m, H1_ERR_BARE_CR);
        p++;
        s->st = ST_RL_START;
        goto rl_start;
    case ST_METHOD:
    method:
        while (p < e && h1_is(b[p], H1_C_TCHAR))
            p++;
        if (p >= e)
            goto more_line;
        c = b[p];
        if (c != ' ' || p == s->mark) {
            if (c == '\n')
                return fail(m, H1_ERR_BARE_LF);
            if (c == '\r' || c == '\t' || c == ' ')
                return fail(m, H1_ERR_REQUEST_LINE);
            return fail(m, H1_ERR_METHOD);
        }
        m->method = (struct h1_slice){s->mark, p - s->mark};
        m->method_id = (uint8_t)h1_method_id(buf + s->mark, p - s->mark);
        s->mark = ++p;
        s->st = ST_TARGET;
        /* fall through */
    case ST_TARGET:
        p = h1_skip_target(b, p, e);
        if (p >= e)
            goto more_line;
        c = b[p];
        if (c != ' ' || p == s->mark) {
            if (c == '\n')
                return fail(m, H1_ERR_BARE_LF);
            if (c == '\r' || c == '\t' || c == ' ')
                return fail(m, H1_ERR_REQUEST_LINE);
            return fail(m, H1_ERR_TARGET);
        }
        m->target = (struct h1_slice){s->mark, p - s->mark};
        if ((r = check_target(buf, m)) < 0)
            return fail(m, r);
        s->mark = ++p;
        s->st = ST_VERSION;
        /* fall through */
    case ST_VERSION:
        while (p < e && (h1_is(b[p], H1_C_TCHAR) || b[p] == '/'))
            p++;
        if (p - s->mark > 8)
            return fail(m, H1_ERR_VERSION);
        if (p >= e)
            goto more_line;
        c = b[p];
        if (c != '\r') {
            if (c == '\n')
                return fail(m, H1_ERR_BARE_LF);
            if (c == ' ' || c == '\t')
                return fail(m, H1_ERR_REQUEST_LINE);
            return fail(m, H1_ERR_VERSION);
        }
        if ((r = parse_version(b + s->mark, p - s->mark)) < 0)
            return fail(m, r);
        m->version = (uint8_t)r;
        p++;
        s->st = ST_RL_LF;
        /* fall through */
    case ST_RL_LF:
        if (p >= head_end)
            goto more;
        if (b[p] != '\n')
            return fail(m, H1_ERR_BARE_CR);
        s->pos = s->line = ++p;
        s->sub = H1_FS_START;
        s->st = ST_FIELDS;
        goto fields;

    /* ---- status line: HTTP-version SP status-code SP [reason-phrase] CRLF ---- */
    case ST_SL_START:
    sl_start:
        if (p >= head_end)
            goto more;
        c = b[p];
        if (c == '\r') {
            p++;
            s->st = ST_SL_START_LF;
            goto sl_start_lf;
        }
        if (c == '\n')
            return fail(m, H1_ERR_BARE_LF);
        s->line = s->mark = p;
        line_limit = p + max_line + 1;
        e = head_end < line_limit ? head_end : line_limit;
        s->st = ST_SL_VERSION;
        goto sl_version;
    case ST_SL_START_LF:
    sl_start_lf:
        if (p >= head_end)
            goto more;
        if (b[p] != '\n')
            return fail(m, H1_ERR_BARE_CR);
        p++;
        s->st = ST_SL_START;
        goto sl_start;
    case ST_SL_VERSION:
    sl_version:
        while (p < e && (h1_is(b[p], H1_C_TCHAR) || b[p] == '/'))
            p++;
        if (p - s->mark > 8)
            return fail(m, H1_ERR_VERSION);
        if (p >= e)
            goto more_line;
        c = b[p];
        if (c != ' ') {
            if (c == '\n')
                return fail(m, H1_ERR_BARE_LF);
            if (c == '\r' || c == '\t')
                return fail(m, H1_ERR_STATUS_LINE);
            return fail(m, H1_ERR_VERSION);
        }
        if ((r = parse_version(b + s->mark, p - s->mark)) < 0)
            return fail(m, r);
        m->version = (uint8_t)r;
        s->mark = ++p;
        s->st = ST_SL_STATUS;
        /* fall through */
    case ST_SL_STATUS:
        while (p < e && p - s->mark < 3 && is_digit(b[p]))
            p++;
        if (p >= e)
            goto more_line;
        c = b[p];
        if (p - s->mark < 3)
            return fail(m, c == '\n' ? H1_ERR_BARE_LF : H1_ERR_STATUS_LINE);
        m->status = (uint16_t)((b[s->mark] - '0') * 100 + (b[s->mark + 1] - '0') * 10 +
                               (b[s->mark + 2] - '0'));
        if (m->status < 100 || m->status > 599)
            return fail(m, H1_ERR_STATUS_LINE);
        if (c == '\r') {
            /* "HTTP/1.1 200\r\n": the SP before an empty reason is often left out */
            m->reason = (struct h1_slice){p, 0};
            p++;
            s->st = ST_SL_LF;
            goto sl_lf;
        }
        if (c != ' ')
            return fail(m, c == '\n' ? H1_ERR_BARE_LF : H1_ERR_STATUS_LINE);
        s->mark = ++p;
        s->st = ST_SL_REASON;
        /* fall through */
    case ST_SL_REASON:
        p = h1_skip_value(b, p, e);
        if (p >= e)
            goto more_line;
        c = b[p];
        if (c != '\r')
            return fail(m, c == '\n' ? H1_ERR_BARE_LF : H1_ERR_STATUS_LINE);
        m->reason = (struct h1_slice){s->mark, p - s->mark};
        p++;
        s->st = ST_SL_LF;
        /* fall through */
    case ST_SL_LF:
    sl_lf:
        if (p >= head_end)
            goto more;
        if (b[p] != '\n')
            return fail(m, H1_ERR_BARE_CR);
        s->pos = s->line = ++p;
        s->sub = H1_FS_START;
        s->st = ST_FIELDS;
        /* fall through */

    /* ---- field lines, then the empty line ---- */
    case ST_FIELDS:
    fields:
        for (;;) {
            struct h1_header f;
            r = h1_field_line(buf, head_end, s, &f);
            if (r == H1_FL_FIELD) {
                if (m->nhdrs >= maxh)
                    return fail(m, H1_ERR_TOO_MANY_HEADERS);
                if ((r = on_field(buf, m, &f, m->nhdrs, response)) < 0)
                    return fail(m, r);
                hdrs[m->nhdrs++] = f;
                continue;
            }
            if (r == H1_FL_EMPTY)
                break;
            if (r < 0)
                return fail(m, r);
            p = s->pos;     /* H1_FL_MORE */
            goto more;
        }
        if ((r = finish(m, response)) < 0)
            return fail(m, r);
        m->head_len = s->pos;
        s->st = ST_DONE;
        return m->head_len;

    case ST_DONE:
    case ST_ERROR:
    default:
        break;
    }
    return fail(m, H1_ERR_REQUEST_LINE);   /* unreachable: corrupt state */

more_line:
    /* ran out inside the start line: by the limit, or by the bytes received */
    if (p >= line_limit) {
        s->pos = p;
        return fail(m, H1_ERR_LINE_TOO_LONG);
    }
    /* fall through */
more:
    s->pos = p;
    if (p >= len)
        return H1_INCOMPLETE;
    return fail(m, H1_ERR_HEAD_TOO_LARGE);
}

ssize_t h1_parse_request(const char *buf, size_t len, struct h1_msg *msg,
                         struct h1_header *hdrs, size_t max_hdrs, const struct h1_limits *lim)
{
    return parse_head(buf, len, msg, hdrs, max_hdrs, lim, false);
}

ssize_t h1_parse_response(const char *buf, size_t len, struct h1_msg *msg,
                          struct h1_header *hdrs, size_t max_hdrs, const struct h1_limits *lim)
{
    return parse_head(buf, len, msg, hdrs, max_hdrs, lim, true);
}

enum h1_body h1_response_body(const struct h1_msg *resp, enum h1_method req)
{
    if (resp->status == 101)
        return H1_BODY_TUNNEL;
    if (resp->status < 200)
        return H1_BODY_NONE;
    if (req == H1_METHOD_CONNECT && resp->status < 300)
        return H1_BODY_TUNNEL;
    if (req == H1_METHOD_HEAD || resp->status == 204 || resp->status == 304)
        return H1_BODY_NONE;
    return (enum h1_body)resp->body;
}

bool h1_response_keep_alive(const struct h1_msg *resp, enum h1_method req)
{
    enum h1_body body = h1_response_body(resp, req);

    return (resp->flags & H1_F_KEEP_ALIVE) && body != H1_BODY_UNTIL_CLOSE &&
           body != H1_BODY_TUNNEL;
}
