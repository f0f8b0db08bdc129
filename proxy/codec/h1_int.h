/*
 * h1_int.h: what the files of the HTTP/1.1 codec share and nobody else sees:
 * the byte-class table and the field-line scanner used for header fields
 * (h1_parse.c) and trailer fields (h1_chunked.c) alike.
 */
#ifndef TERN_CODEC_H1_INT_H
#define TERN_CODEC_H1_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proxy/codec/h1_types.h"

/*
 * h1_ctype[byte] is a set of these classes (RFC 9110 / RFC 3986 grammar).
 * One table lookup per byte is the whole cost of classifying it.
 */
#define H1_C_TCHAR  0x01  /* token char: ALPHA DIGIT !#$%&'*+-.^_`|~ */
#define H1_C_VALUE  0x02  /* field value byte: VCHAR, SP, HTAB, obs-text (0x80-0xFF);
                           * also a reason-phrase byte */
#define H1_C_TARGET 0x04  /* request-target byte: VCHAR except '#' */
#define H1_C_HEX    0x08  /* HEXDIG */
#define H1_C_HOST   0x10  /* reg-name byte: unreserved / sub-delims ('%' apart) */
#define H1_C_QDTEXT 0x20  /* quoted-string text: HTAB SP 0x21 0x23-0x5B 0x5D-0x7E obs-text */
#define H1_C_SCHEME 0x40  /* scheme byte after the first: ALPHA DIGIT + - . */

extern const uint8_t h1_ctype[256];

static inline bool h1_is(unsigned char c, uint8_t cls)
{
    return (h1_ctype[c] & cls) != 0;
}

static inline int h1_hexval(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/*
 * Word-at-a-time scanning. The long runs of a head (field values, the
 * request-target) are checked 8 bytes per step: a few integer operations say
 * whether a word holds any byte that ends the run or is not allowed in it; only
 * such words are looked at byte by byte. The tests are the classic ones
 * ("Bit Twiddling Hacks", hasless / hasmore / haszero): exact as to whether
 * some byte matches, which is all that is asked of them here.
 */
#define H1_W_ONES  UINT64_C(0x0101010101010101)
#define H1_W_HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t h1_w_load(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Some byte of x is < n (n <= 128). */
static inline uint64_t h1_w_less(uint64_t x, unsigned n)
{
    return (x - H1_W_ONES * n) & ~x & H1_W_HIGHS;
}

/* Some byte of x equals v. */
static inline uint64_t h1_w_eq(uint64_t x, unsigned v)
{
    uint64_t y = x ^ (H1_W_ONES * v);
    return (y - H1_W_ONES) & ~y & H1_W_HIGHS;
}

/* Some byte of x is > 0x7e (DEL or obs-text). */
static inline uint64_t h1_w_above_7e(uint64_t x)
{
    return ((x + H1_W_ONES) | x) & H1_W_HIGHS;
}

/*
 * Runs of one class from b[p], up to end: the position of the first byte not
 * in the class, or end. Words with an HTAB (allowed in values but caught by
 * the < 0x20 test) are simply done byte by byte.
 */
static inline uint32_t h1_skip_value(const unsigned char *b, uint32_t p, uint32_t end)
{
    for (;;) {
        uint32_t stop;
        while (end - p >= 8) {
            uint64_t x = h1_w_load(b + p);
            if (h1_w_less(x, 0x20) | h1_w_eq(x, 0x7f))
                break;
            p += 8;
        }
        stop = end - p > 8 ? p + 8 : end;
        while (p < stop && h1_is(b[p], H1_C_VALUE))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

static inline uint32_t h1_skip_target(const unsigned char *b, uint32_t p, uint32_t end)
{
    for (;;) {
        uint32_t stop;
        while (end - p >= 8) {
            uint64_t x = h1_w_load(b + p);
            if (h1_w_less(x, 0x21) | h1_w_above_7e(x) | h1_w_eq(x, '#'))
                break;
            p += 8;
        }
        stop = end - p > 8 ? p + 8 : end;
        while (p < stop && h1_is(b[p], H1_C_TARGET))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

/* Results of h1_field_line() besides the H1_ERR_* codes. */
#define H1_FL_MORE  0   /* every byte before end is valid; the line goes on */
#define H1_FL_FIELD 1   /* a complete field line: *f filled, s->pos after its LF */
#define H1_FL_EMPTY 2   /* the empty line ending the section: s->pos after its LF */

/* States of the field-line scanner (s->sub). */
enum {
    H1_FS_START = 0,
    H1_FS_NAME,
    H1_FS_OWS,
    H1_FS_VALUE,
    H1_FS_LF,
    H1_FS_END_LF,
};

/*
 * Scans one field line of buf starting at s->line, resuming at s->pos in
 * state s->sub (H1_FS_START with s->pos == s->line for a new line). Looks at
 * buf[s->pos, end) only. On H1_FL_FIELD, f gets the name and the value (OWS
 * trimmed) as offsets in buf, and f->id; s->line and s->pos move to the next
 * line. On H1_FL_MORE, s->pos == end. Errors: H1_ERR_BARE_LF, H1_ERR_BARE_CR,
 * H1_ERR_OBS_FOLD, H1_ERR_HEADER_NAME, H1_ERR_HEADER_SPACE, H1_ERR_HEADER_VALUE.
 */
int h1_field_line(const char *buf, uint32_t end, struct h1_scan *s, struct h1_header *f);

#endif /* TERN_CODEC_H1_INT_H */
