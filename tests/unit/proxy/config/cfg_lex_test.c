/* Tests for proxy/config/cfg_lex.c: HAProxy's quoting, escaping, comments,
 * environment expansion, and tern's line continuation. The expected words
 * were checked against HAProxy 2.6's own parser where HAProxy has the rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/config/cfg_lex.h"

/*
 * Lexes `text` and renders every logical line as "<line>:[w1][w2]" joined by
 * " | ", or "<line>:ERR(<message>)" for a malformed line. Blank lines are
 * left out. Returns a static buffer.
 */
static const char *lex_all(const char *text, size_t len)
{
    static char out[8192];
    struct cfg_lexer lx;
    struct cfg_words w = {0};
    char err[256];
    size_t o = 0;
    int r;

    out[0] = 0;
    cfg_lex_init(&lx, text, len);
    while ((r = cfg_lex_next(&lx, &w, err, sizeof(err))) != 0) {
        if (r > 0 && w.n == 0)
            continue;
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d:", o ? " | " : "", w.line);
        if (r < 0) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "ERR(%s)", err);
            continue;
        }
        for (size_t i = 0; i < w.n; i++)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "[%s]", w.v[i]);
    }
    cfg_words_free(&w);
    return out;
}

static const char *lex(const char *text)
{
    return lex_all(text, strlen(text));
}

static void test_words_and_blanks(void **state)
{
    assert_string_equal(lex(""), "");
    assert_string_equal(lex("\n\n   \n\t\n"), "");
    assert_string_equal(lex("a b\tc"), "1:[a][b][c]");
    assert_string_equal(lex("  server  s1\t 127.0.0.1:80  \n"), "1:[server][s1][127.0.0.1:80]");
    assert_string_equal(lex("a\n\nb\n"), "1:[a] | 3:[b]");
    /* CRLF line ends */
    assert_string_equal(lex("a b\r\nc\r\n"), "1:[a][b] | 2:[c]");
}

static void test_comments(void **state)
{
    assert_string_equal(lex("# all comment\nx # trailing\n"), "2:[x]");
    /* as HAProxy: '#' outside quotes starts a comment even mid-word */
    assert_string_equal(lex("ab#cd ef"), "1:[ab]");
    assert_string_equal(lex("\"ab#cd\" 'x#y'"), "1:[ab#cd][x#y]");
    /* a comment never continues on the next line */
    assert_string_equal(lex("a # comment \\\nb"), "1:[a] | 2:[b]");
}

static void test_backslash_escapes(void **state)
{
    assert_string_equal(lex("ab\\#cd"), "1:[ab#cd]");
    assert_string_equal(lex("ab\\ cd"), "1:[ab cd]");
    assert_string_equal(lex("ab\\\\cd"), "1:[ab\\cd]");
    assert_string_equal(lex("ab\\'cd"), "1:[ab'cd]");
    assert_string_equal(lex("ab\\\"cd"), "1:[ab\"cd]");
    assert_string_equal(lex("ab\\x41cd"), "1:[abAcd]");
    assert_string_equal(lex("ab\\tcd"), "1:[ab\tcd]");
    assert_string_equal(lex("a\\rb\\nc"), "1:[a\rb\nc]");
    /* unknown escapes stay as they are */
    assert_string_equal(lex("ab\\qcd"), "1:[ab\\qcd]");
    /* \$ is only an escape inside double quotes */
    assert_string_equal(lex("k\\$x"), "1:[k\\$x]");
}

static void test_hex_errors(void **state)
{
    assert_string_equal(lex("ab\\x4gcd"),
                        "1:ERR(truncated or invalid hexadecimal sequence '\\x' at column 3 "
                        "(expected two hex digits))");
    assert_string_equal(lex("a\\x"),
                        "1:ERR(truncated or invalid hexadecimal sequence '\\x' at column 2 "
                        "(expected two hex digits))");
    assert_string_equal(lex("a\\x00"), "1:ERR('\\x00' at column 2: a NUL byte is not allowed)");
}

static void test_double_quotes(void **state)
{
    assert_string_equal(lex("\"ab cd\""), "1:[ab cd]");
    assert_string_equal(lex("\"ab\\\"cd\""), "1:[ab\"cd]");
    assert_string_equal(lex("\"ab\\ cd\""), "1:[ab cd]");
    assert_string_equal(lex("\"a\\qb\""), "1:[a\\qb]");
    assert_string_equal(lex("\"k\\$FOO\""), "1:[k$FOO]");
    assert_string_equal(lex("a\"b c\"d"), "1:[ab cd]");
    assert_string_equal(lex("a \"\" b"), "1:[a][][b]");
    assert_string_equal(lex("\"\""), "1:[]");
    assert_string_equal(lex("x \"a'b\""), "1:[x][a'b]");
}

static void test_single_quotes(void **state)
{
    assert_string_equal(lex("'ab\"cd'"), "1:[ab\"cd]");
    assert_string_equal(lex("'ab\\ cd'"), "1:[ab\\ cd]");
    assert_string_equal(lex("'k$HOME'"), "1:[k$HOME]");
    assert_string_equal(lex("'a b'c\"d e\""), "1:[a bcd e]");
}

static void test_unterminated_quotes(void **state)
{
    assert_string_equal(lex("server \"abc\nnext"),
                        "1:ERR(unterminated double quote (opened at column 8)) | 2:[next]");
    assert_string_equal(lex("'ab\\'cd'"), "1:ERR(unterminated single quote (opened at column 8))");
    assert_string_equal(lex("ab'cd"), "1:ERR(unterminated single quote (opened at column 3))");
}

static void test_error_keeps_complete_words(void **state)
{
    struct cfg_lexer lx;
    struct cfg_words w = {0};
    char err[128];
    const char *text = "balance \"round\nmode tcp\n";

    cfg_lex_init(&lx, text, strlen(text));
    assert_int_equal(cfg_lex_next(&lx, &w, err, sizeof(err)), -1);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.v[0], "balance");
    assert_int_equal(w.line, 1);
    assert_int_equal(cfg_lex_next(&lx, &w, err, sizeof(err)), 1);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.line, 2);
    assert_int_equal(cfg_lex_next(&lx, &w, err, sizeof(err)), 0);
    cfg_words_free(&w);
}

static void test_env_expansion(void **state)
{
    setenv("TERN_T_FOO", "xyz", 1);
    setenv("TERN_T_BAR", "p q", 1);
    setenv("TERN_T_EMPTY", "", 1);
    unsetenv("TERN_T_NOPE");

    assert_string_equal(lex("\"k$TERN_T_FOO\""), "1:[kxyz]");
    assert_string_equal(lex("\"k${TERN_T_FOO}z\""), "1:[kxyzz]");
    /* the longest name is taken: TERN_T_FOOz is unset */
    assert_string_equal(lex("\"k$TERN_T_FOOz.\""), "1:[k.]");
    assert_string_equal(lex("\"k$TERN_T_NOPE.\""), "1:[k.]");
    assert_string_equal(lex("\"k${TERN_T_NOPE-def}.\""), "1:[kdef.]");
    assert_string_equal(lex("\"k${TERN_T_FOO-def}.\""), "1:[kxyz.]");
    /* set but empty is not unset */
    assert_string_equal(lex("\"k${TERN_T_EMPTY-def}.\""), "1:[k.]");
    /* a value with spaces stays one word... */
    assert_string_equal(lex("\"k$TERN_T_BAR\" x"), "1:[kp q][x]");
    /* ...unless [*] asks for word splitting */
    assert_string_equal(lex("\"k${TERN_T_BAR[*]}\" x"), "1:[kp][q][x]");
    /* outside double quotes, '$' is an ordinary character */
    assert_string_equal(lex("k$TERN_T_FOO 'k$TERN_T_FOO' k${TERN_T_FOO}"),
                        "1:[k$TERN_T_FOO][k$TERN_T_FOO][k${TERN_T_FOO}]");
}

static void test_env_errors(void **state)
{
    assert_string_equal(lex("\"k$ z\""),
                        "1:ERR(forbidden first character in environment variable name at "
                        "column 3 (write \\$ for a literal '$'))");
    assert_string_equal(lex("\"k$\""),
                        "1:ERR(forbidden first character in environment variable name at "
                        "column 3 (write \\$ for a literal '$'))");
    assert_string_equal(lex("\"k${}\""),
                        "1:ERR(forbidden first character in environment variable name at "
                        "column 3 (write \\$ for a literal '$'))");
    assert_string_equal(lex("\"k${FOO\""),
                        "1:ERR(unmatched brace in environment variable name at column 3)");
    assert_string_equal(lex("\"k${FOO:-a}\""),
                        "1:ERR(unmatched brace in environment variable name at column 3)");
}

static void test_continuation(void **state)
{
    assert_string_equal(lex("bind a \\\n   b\nnext"), "1:[bind][a][b] | 3:[next]");
    assert_string_equal(lex("ab\\\ncd"), "1:[abcd]");
    assert_string_equal(lex("a \\\r\nb\r\nc"), "1:[a][b] | 3:[c]");
    assert_string_equal(lex("a \\\n\\\n b \\\n c\nd"), "1:[a][b][c] | 5:[d]");
    /* inside quotes the quoted text continues */
    assert_string_equal(lex("\"ab \\\ncd\""), "1:[ab cd]");
    assert_string_equal(lex("'ab \\\ncd'"), "1:[ab cd]");
    /* an escaped backslash at the end is not a continuation */
    assert_string_equal(lex("a\\\\\nb"), "1:[a\\] | 2:[b]");
    /* a backslash at the very end of the text */
    assert_string_equal(lex("a \\"), "1:[a]");
    /* an error in a continued line skips the whole logical line */
    assert_string_equal(lex("a \"x \\\n y\nz"),
                        "1:ERR(unterminated double quote (opened at column 3)) | 3:[z]");
    assert_string_equal(lex("a \\x4 \\\n y\nz"),
                        "1:ERR(truncated or invalid hexadecimal sequence '\\x' at column 3 "
                        "(expected two hex digits)) | 3:[z]");
}

static void test_nul_and_limits(void **state)
{
    static const char nul[] = "a b\0c\nd";
    char many[1024];
    size_t o = 0;
    char *big;

    assert_string_equal(lex_all(nul, sizeof(nul) - 1), "1:ERR(NUL byte at column 4) | 2:[d]");

    for (int i = 0; i < CFG_LEX_MAX_WORDS + 1; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "w%d ", i);
    snprintf(many + o, sizeof(many) - o, "\nok");
    assert_string_equal(lex(many), "1:ERR(too many words on one line (at most 64)) | 2:[ok]");

    big = malloc(CFG_LEX_MAX_LINE + 16);
    memset(big, 'x', CFG_LEX_MAX_LINE + 1);
    memcpy(big + CFG_LEX_MAX_LINE + 1, "\nok", 4);
    assert_string_equal(lex(big), "1:ERR(line too long (at most 65536 bytes)) | 2:[ok]");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_blanks),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_backslash_escapes),
        cmocka_unit_test(test_hex_errors),
        cmocka_unit_test(test_double_quotes),
        cmocka_unit_test(test_single_quotes),
        cmocka_unit_test(test_unterminated_quotes),
        cmocka_unit_test(test_error_keeps_complete_words),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_nul_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
