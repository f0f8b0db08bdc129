/*
 * h1_field.c: the field-line scanner, shared by header fields and trailer
 * fields (RFC 9112 5: field-name ":" OWS field-value OWS CRLF).
 *
 * It is a small resumable state machine: each state has a tight loop over
 * one byte class, and a call that runs out of bytes records its state and
 * position so the next call continues there. Every byte is examined once.
 *
 * Strict by design, since a field another parser reads differently is how
 * requests get smuggled: the name is a non-empty token directly followed by
 * the colon (whitespace there is an error, not something to trim); a line
 * starting with SP or HTAB (obs-fold) is an error; the value admits VCHAR,
 * SP, HTAB and obs-text only (no NUL, no other CTL, no DEL); lines end in
 * CRLF, and a lone CR or LF is an error wherever it appears.
 */
#include "proxy/codec/h1.h"
#include "proxy/codec/h1_int.h"

int h1_field_line(const char *buf, uint32_t end, struct h1_scan *s, struct h1_header *f)
{
    const unsigned char *b = (const unsigned char *)buf;
    uint32_t p = s->pos;
    uint32_t v;
    unsigned char c;

    switch (s->sub) {
    case H1_FS_START:
        if (p >= end)
            goto more;
        c = b[p];
        if (c == '\r') {
            p++;
            s->sub = H1_FS_END_LF;
            goto end_lf;
        }
        if (c == '\n')
            return H1_ERR_BARE_LF;
        if (c == ' ' || c == '\t')
            return H1_ERR_OBS_FOLD;
        if (!h1_is(c, H1_C_TCHAR))
            return H1_ERR_HEADER_NAME;   /* ':' here: empty name */
        p++;
        s->sub = H1_FS_NAME;
        /* fall through */
    case H1_FS_NAME:
        while (p < end && h1_is(b[p], H1_C_TCHAR))
            p++;
        if (p >= end)
            goto more;
        c = b[p];
        if (c != ':') {
            if (c == ' ' || c == '\t')
                return H1_ERR_HEADER_SPACE;
            if (c == '\n')
                return H1_ERR_BARE_LF;
            return H1_ERR_HEADER_NAME;   /* bad byte, or a line without colon */
        }
        s->mark = p;                     /* the colon: end of the name */
        p++;
        s->sub = H1_FS_OWS;
        /* fall through */
    case H1_FS_OWS:
        while (p < end && (b[p] == ' ' || b[p] == '\t'))
            p++;
        if (p >= end)
            goto more;
        s->mark2 = p;                    /* value start */
        s->sub = H1_FS_VALUE;
        /* fall through */
    case H1_FS_VALUE:
        p = h1_skip_value(b, p, end);
        if (p >= end)
            goto more;
        c = b[p];
        if (c != '\r')
            return c == '\n' ? H1_ERR_BARE_LF : H1_ERR_HEADER_VALUE;
        p++;
        s->sub = H1_FS_LF;
        /* fall through */
    case H1_FS_LF:
        if (p >= end)
            goto more;
        if (b[p] != '\n')
            return H1_ERR_BARE_CR;
        /* value: [mark2, CR) less trailing OWS (leading OWS was skipped) */
        v = p - 1;
        while (v > s->mark2 && (b[v - 1] == ' ' || b[v - 1] == '\t'))
            v--;
        f->name.off = s->line;
        f->name.len = s->mark - s->line;
        f->value.off = s->mark2;
        f->value.len = v - s->mark2;
        f->id = h1_hdr_id(buf + s->line, f->name.len);
        p++;
        s->pos = s->line = p;
        s->sub = H1_FS_START;
        return H1_FL_FIELD;
    case H1_FS_END_LF:
    end_lf:
        if (p >= end)
            goto more;
        if (b[p] != '\n')
            return H1_ERR_BARE_CR;
        p++;
        s->pos = s->line = p;
        s->sub = H1_FS_START;
        return H1_FL_EMPTY;
    }
    return H1_ERR_HEADER_NAME;   /* unreachable: corrupt state */

more:
    s->pos = p;
    return H1_FL_MORE;
}
