/*
 * cfg_lex.c: the configuration tokenizer (see cfg_lex.h for the rules).
 *
 * One pass over the raw bytes with three quote states (none, single,
 * double). Words grow in a small buffer and are pushed into the caller's
 * cfg_words. Every limit (words per line, bytes per line, NUL bytes) is an
 * error for that line only: the lexer then skips to the end of the logical
 * line so that the parser can go on and report the problems of later lines.
 */
#include "proxy/config/cfg_lex.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/core/util.h"

#define ENV_NAME_MAX 255

struct lex {
    struct cfg_lexer *lx;
    struct cfg_words *w;
    char *cur;          /* word being built */
    size_t ncur, capcur;
    bool in_word;       /* a word has started (even if still empty: "") */
    size_t total;       /* bytes of the logical line so far */
    bool failed;
    char *err;
    size_t errlen;
};

void cfg_lex_init(struct cfg_lexer *lx, const char *buf, size_t len)
{
    lx->buf = buf;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
}

void cfg_words_free(struct cfg_words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = 0;
    w->cap = 0;
}

static void fail(struct lex *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the line's first problem; later ones are consequences. */
static void fail(struct lex *s, const char *fmt, ...)
{
    va_list ap;

    if (s->failed)
        return;
    s->failed = true;
    va_start(ap, fmt);
    vsnprintf(s->err, s->errlen, fmt, ap);
    va_end(ap);
}

static void put(struct lex *s, char c)
{
    if (s->failed)
        return;
    if (++s->total > CFG_LEX_MAX_LINE) {
        fail(s, "line too long (at most %zu bytes)", (size_t)CFG_LEX_MAX_LINE);
        return;
    }
    if (s->ncur + 1 >= s->capcur) {
        s->capcur = s->capcur ? s->capcur * 2 : 32;
        s->cur = tern_realloc(s->cur, s->capcur);
    }
    s->cur[s->ncur++] = c;
    s->in_word = true;
}

/* Ends the current word, if one has started. */
static void end_word(struct lex *s)
{
    struct cfg_words *w = s->w;

    if (!s->in_word || s->failed)
        return;
    if (w->n >= CFG_LEX_MAX_WORDS) {
        fail(s, "too many words on one line (at most %zu)", (size_t)CFG_LEX_MAX_WORDS);
        return;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = tern_realloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n] = tern_malloc(s->ncur + 1);
    if (s->ncur)
        memcpy(w->v[w->n], s->cur, s->ncur);
    w->v[w->n][s->ncur] = 0;
    w->n++;
    s->ncur = 0;
    s->in_word = false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* True when the backslash at `pos` ends its physical line (continuation). */
static bool is_continuation(const struct cfg_lexer *lx, size_t pos)
{
    size_t n = pos + 1;
    if (n >= lx->len)
        return true;
    if (lx->buf[n] == '\n')
        return true;
    return lx->buf[n] == '\r' && (n + 1 >= lx->len || lx->buf[n + 1] == '\n');
}

/* True when `pos` is the end of a physical line ("\n", "\r\n" or a final "\r"). */
static bool is_eol(const struct cfg_lexer *lx, size_t pos)
{
    char c = lx->buf[pos];
    if (c == '\n')
        return true;
    return c == '\r' && (pos + 1 >= lx->len || lx->buf[pos + 1] == '\n');
}

/* Consumes the end of line at lx->pos, if any. */
static void skip_eol(struct cfg_lexer *lx)
{
    if (lx->pos < lx->len && lx->buf[lx->pos] == '\r')
        lx->pos++;
    if (lx->pos < lx->len && lx->buf[lx->pos] == '\n') {
        lx->pos++;
        lx->line++;
    }
}

/* After an error: skips the rest of the logical line, continuations included. */
static void skip_logical_line(struct cfg_lexer *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->buf[lx->pos];
        if (c == '\\' && lx->pos + 1 < lx->len && is_continuation(lx, lx->pos)) {
            lx->pos++;
            skip_eol(lx);
            continue;
        }
        if (is_eol(lx, lx->pos))
            break;
        lx->pos++;
    }
    skip_eol(lx);
}

/* A backslash outside single quotes at lx->pos; `dq` inside double quotes. */
static void escape(struct lex *s, bool dq, size_t col)
{
    struct cfg_lexer *lx = s->lx;
    size_t p = lx->pos + 1;
    char n = p < lx->len ? lx->buf[p] : 0;
    int hi, lo;

    switch (n) {
    case ' ':
    case '\\':
    case '#':
    case '\'':
    case '"':
        put(s, n);
        lx->pos += 2;
        return;
    case 'r':
        put(s, '\r');
        lx->pos += 2;
        return;
    case 'n':
        put(s, '\n');
        lx->pos += 2;
        return;
    case 't':
        put(s, '\t');
        lx->pos += 2;
        return;
    case 'x':
        hi = p + 1 < lx->len ? hexval(lx->buf[p + 1]) : -1;
        lo = p + 2 < lx->len ? hexval(lx->buf[p + 2]) : -1;
        if (hi < 0 || lo < 0) {
            fail(s, "truncated or invalid hexadecimal sequence '\\x' at column %zu "
                    "(expected two hex digits)", col);
            return;
        }
        if (hi == 0 && lo == 0) {
            fail(s, "'\\x00' at column %zu: a NUL byte is not allowed", col);
            return;
        }
        put(s, (char)(hi * 16 + lo));
        lx->pos += 4;
        return;
    case '$':
        if (dq) {
            put(s, '$');
            lx->pos += 2;
            return;
        }
        break;
    default:
        break;
    }
    put(s, '\\');
    lx->pos += 1;
}

static bool name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* A `$` inside double quotes at lx->pos: expands an environment variable. */
static void expand_env(struct lex *s, size_t col)
{
    struct cfg_lexer *lx = s->lx;
    size_t p = lx->pos + 1;
    bool brace = false, split = false, has_def = false;
    size_t name_at, name_len, def_at = 0, def_len = 0;
    char name[ENV_NAME_MAX + 1];
    const char *val;
    size_t val_len;

    if (p < lx->len && lx->buf[p] == '{') {
        brace = true;
        p++;
    }
    if (p >= lx->len || !name_start(lx->buf[p])) {
        fail(s, "forbidden first character in environment variable name at column %zu "
                "(write \\$ for a literal '$')", col);
        return;
    }
    name_at = p;
    while (p < lx->len && name_char(lx->buf[p]))
        p++;
    name_len = p - name_at;
    if (brace) {
        if (p + 2 < lx->len && lx->buf[p] == '[' && lx->buf[p + 1] == '*' &&
            lx->buf[p + 2] == ']') {
            split = true;
            p += 3;
        }
        if (p < lx->len && lx->buf[p] == '-') {
            has_def = true;
            def_at = ++p;
            while (p < lx->len && lx->buf[p] != '}' && lx->buf[p] != '\n' && lx->buf[p] != 0)
                p++;
            def_len = p - def_at;
        }
        if (p >= lx->len || lx->buf[p] != '}') {
            fail(s, "unmatched brace in environment variable name at column %zu", col);
            return;
        }
        p++;
    }
    if (name_len > ENV_NAME_MAX) {
        fail(s, "environment variable name too long at column %zu", col);
        return;
    }
    memcpy(name, lx->buf + name_at, name_len);
    name[name_len] = 0;
    val = getenv(name);
    if (val) {
        val_len = strlen(val);
    } else if (has_def) {
        val = lx->buf + def_at;
        val_len = def_len;
    } else {
        val = "";
        val_len = 0;
    }
    for (size_t i = 0; i < val_len && !s->failed; i++) {
        if (split && (val[i] == ' ' || val[i] == '\t'))
            end_word(s);
        else
            put(s, val[i]);
    }
    lx->pos = p;
}

int cfg_lex_next(struct cfg_lexer *lx, struct cfg_words *w, char *err, size_t errlen)
{
    struct lex s = {.lx = lx, .w = w, .err = err, .errlen = errlen};
    size_t line_start = lx->pos, quote_col = 0;
    char quote = 0;

    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    w->n = 0;
    if (err && errlen)
        err[0] = 0;
    if (lx->pos >= lx->len)
        return 0;
    w->line = lx->line;

    while (lx->pos < lx->len && !s.failed) {
        char c = lx->buf[lx->pos];
        size_t col = lx->pos - line_start + 1;

        if (c == '\\' && is_continuation(lx, lx->pos)) {
            lx->pos++;
            skip_eol(lx);
            line_start = lx->pos;
            continue;
        }
        if (is_eol(lx, lx->pos))
            break;
        if (c == 0) {
            fail(&s, "NUL byte at column %zu", col);
            break;
        }
        if (quote == '\'') {
            if (c == '\'')
                quote = 0;
            else
                put(&s, c);
            lx->pos++;
            continue;
        }
        if (c == '\\') {
            escape(&s, quote == '"', col);
            continue;
        }
        if (quote == '"') {
            if (c == '"') {
                quote = 0;
                lx->pos++;
            } else if (c == '$') {
                expand_env(&s, col);
            } else {
                put(&s, c);
                lx->pos++;
            }
            continue;
        }
        switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\v':
        case '\f':
            end_word(&s);
            lx->pos++;
            break;
        case '#':
            while (lx->pos < lx->len && !is_eol(lx, lx->pos))
                lx->pos++;
            break;
        case '"':
        case '\'':
            quote = c;
            quote_col = col;
            s.in_word = true;
            lx->pos++;
            break;
        default:
            put(&s, c);
            lx->pos++;
            break;
        }
    }
    if (!s.failed && quote)
        fail(&s, "unterminated %s quote (opened at column %zu)",
             quote == '"' ? "double" : "single", quote_col);
    end_word(&s);
    free(s.cur);
    if (s.failed) {
        skip_logical_line(lx);
        return -1;
    }
    skip_eol(lx);
    return 1;
}
