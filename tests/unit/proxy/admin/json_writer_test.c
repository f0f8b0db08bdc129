/*
 * json_writer_test.c: proxy/admin/json_writer.c. Exact escaped bytes for
 * quotes, backslashes, control characters and invalid UTF-8; structure and
 * separators; every output checked with the strict parser (json_check.c),
 * including a round trip of every byte value. Also checks the checker
 * itself rejects broken documents, so that a pass means something.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "proxy/admin/json_writer.h"
#include "tests/unit/proxy/admin/json_check.h"

/* NUL-terminated copy of the buffer's content (freed by the caller). */
static char *text_of(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);

    evbuffer_copyout(b, s, n);
    s[n] = '\0';
    return s;
}

static char *escape(const char *s, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    char *out;

    json_escape(b, s, len);
    out = text_of(b);
    evbuffer_free(b);
    return out;
}

static void check_escape(const char *in, size_t len, const char *want)
{
    char *got = escape(in, len);
    assert_string_equal(got, want);
    free(got);
}

static void test_escape_exact(void **state)
{
    check_escape("plain", 5, "\"plain\"");
    check_escape("", 0, "\"\"");
    check_escape("a\"b", 3, "\"a\\\"b\"");
    check_escape("a\\b", 3, "\"a\\\\b\"");
    check_escape("l1\nl2\r\t", 7, "\"l1\\nl2\\r\\t\"");
    check_escape("\b\f", 2, "\"\\b\\f\"");
    check_escape("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    check_escape("nul\0x", 5, "\"nul\\u0000x\"");
    check_escape("/ and \x7f", 7, "\"/ and \x7f\"");
    /* valid UTF-8 passes through */
    check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6", 14,
                 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6\"");
    /* invalid UTF-8 becomes U+FFFD, one per bad byte */
    check_escape("\xff", 1, "\"\\ufffd\"");
    check_escape("a\xc3", 2, "\"a\\ufffd\"");                    /* truncated */
    check_escape("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");           /* overlong */
    check_escape("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    check_escape("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
    check_escape("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");
}

/* Every single byte value, alone and between letters, is valid JSON and
 * round-trips (bytes that are valid on their own come back unchanged). */
static void test_escape_all_bytes(void **state)
{
    for (int c = 0; c < 256; c++) {
        char in[3] = {'a', (char)c, 'b'};
        char *out = escape(in, 3);
        char err[128];
        struct jv *v = jv_parse(out, strlen(out), err, sizeof(err));

        if (!v)
            fail_msg("byte 0x%02x: %s: %s", c, err, out);
        assert_int_equal(v->t, JV_STR);
        if (c < 0x80) {
            assert_int_equal(v->len, 3);
            assert_memory_equal(v->str, in, 3);
        } else {
            assert_string_equal(v->str, "a\xef\xbf\xbd" "b");
        }
        jv_free(v);
        free(out);
    }
}

static void test_structure(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct json_writer w;
    char *out, err[128];
    struct jv *v;

    json_init(&w, b);
    assert_false(json_done(&w));
    json_object_begin(&w);
    json_key(&w, "a");
    json_uint(&w, 18446744073709551615ULL);
    json_key(&w, "b\"");
    json_array_begin(&w);
    json_int(&w, -5);
    json_bool(&w, true);
    json_bool(&w, false);
    json_null(&w);
    json_string(&w, NULL);
    json_string(&w, "x");
    json_object_begin(&w);
    json_object_end(&w);
    json_array_begin(&w);
    json_array_end(&w);
    json_array_end(&w);
    json_key(&w, "c");
    json_object_begin(&w);
    json_key(&w, "d");
    json_string_len(&w, "e\0f", 3);
    json_object_end(&w);
    json_object_end(&w);
    assert_true(json_done(&w));

    out = text_of(b);
    assert_string_equal(out, "{\"a\":18446744073709551615,\"b\\\"\":[-5,true,false,null,null,"
                             "\"x\",{},[]],\"c\":{\"d\":\"e\\u0000f\"}}");
    v = jv_parse(out, strlen(out), err, sizeof(err));
    assert_non_null(v);
    assert_int_equal(jv_get(v, "b\".1")->t, JV_BOOL);
    assert_int_equal(jv_get(v, "c.d")->len, 3);
    jv_free(v);
    free(out);
    evbuffer_free(b);
}

/* The checker rejects what it must, so its passes mean something. */
static void test_checker_rejects(void **state)
{
    static const char *const bad[] = {
        "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "\"a\nb\"", "\"\\x\"",
        "\"\\ud800\"", "01", "1.", "-", "tru", "{\"a\":1,\"a\":2}", "[1] x", "\"\xff\"",
        "\"\xc0\xaf\"", "{1:2}", "'a'",
    };
    char err[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jv *v = jv_parse(bad[i], strlen(bad[i]), err, sizeof(err));
        if (v)
            fail_msg("accepted invalid JSON: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_exact),
        cmocka_unit_test(test_escape_all_bytes),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_checker_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
