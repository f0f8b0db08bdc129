/*
 * cfg_lex.h: splits HAProxy-syntax configuration text into logical lines of
 * words, the way HAProxy 2.6 does, plus tern's line continuation.
 *
 * Rules (checked against HAProxy 2.6's own behaviour):
 * - Words are separated by spaces and tabs. `#` outside quotes starts a
 *   comment that runs to the end of the physical line (even mid-word).
 * - Outside single quotes a backslash escapes: `\ ` `\#` `\\` `\'` `\"` give
 *   the character itself, `\r` `\n` `\t` CR, LF, TAB, `\xHH` the byte HH
 *   (exactly two hex digits). Inside double quotes `\$` gives `$`. Any other
 *   backslash is kept as it is (`\q` stays `\q`).
 * - 'single quotes' are strong: nothing inside is special.
 * - "double quotes" are weak: escapes work and environment variables expand:
 *   $NAME, ${NAME}, ${NAME-default} (default when NAME is unset) and
 *   ${NAME[*]} (the value split into several words on spaces). An unset
 *   variable expands to nothing. Outside double quotes `$` is an ordinary
 *   character.
 * - Quoted and unquoted pieces glue into one word: a"b c"d is `ab cd`; ""
 *   is an empty word.
 * - tern extension: a backslash that is the very last character of a
 *   physical line (before an optional CR) joins the next line; both the
 *   backslash and the newline disappear. This works inside quotes too, but
 *   never inside a comment.
 * - A NUL byte (raw or \x00) is an error: words are C strings.
 *
 * Thread: a lexer is confined to its thread; getenv() is read.
 */
#ifndef TERN_CFG_LEX_H
#define TERN_CFG_LEX_H

#include <stddef.h>

#define CFG_LEX_MAX_WORDS 64      /* as HAProxy's MAX_LINE_ARGS */
#define CFG_LEX_MAX_LINE 65536    /* bytes in one logical line, after expansion */

struct cfg_lexer {
    const char *buf;   /* borrowed, need not be NUL-terminated */
    size_t len;
    size_t pos;
    int line;          /* number of the next physical line, from 1 */
};

/* One logical line. Owned words; reset by cfg_lex_next, freed by cfg_words_free. */
struct cfg_words {
    char **v;
    size_t n;
    size_t cap;
    int line;          /* physical line the logical line starts on */
};

void cfg_lex_init(struct cfg_lexer *lx, const char *buf, size_t len);

/*
 * Reads the next logical line into w (its previous words are freed first).
 * Returns 1 with the words (w->n may be 0: blank or comment line), 0 at the
 * end of the text, or -1 when the line is malformed: a message goes to err,
 * w holds the words complete before the problem (so w->v[0] may name the
 * keyword), and the lexer has moved past the whole logical line.
 */
int cfg_lex_next(struct cfg_lexer *lx, struct cfg_words *w, char *err, size_t errlen);

void cfg_words_free(struct cfg_words *w);

#endif /* TERN_CFG_LEX_H */
