/*
 * Tests for proxy/codec/h1_util.c: the byte-class table against the RFC
 * grammar it encodes, methods, field-name ids, tokens, list walking and the
 * error table.
 */
#include "tests/unit/proxy/codec/h1_test_util.h"

#include "proxy/codec/h1_int.h"

static bool in(int c, const char *set)
{
    return c != 0 && strchr(set, c) != NULL;
}

static bool alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The table, rebuilt from the definitions in RFC 9110 5.6 / RFC 3986. */
static void test_ctype_table(void **state)
{
    for (int c = 0; c < 256; c++) {
        bool tchar = alpha(c) || digit(c) || in(c, "!#$%&'*+-.^_`|~");
        bool vchar = c >= 0x21 && c <= 0x7e;
        bool obs = c >= 0x80;
        bool value = vchar || obs || c == ' ' || c == '\t';
        bool target = vchar && c != '#';
        bool hex = digit(c) || in(c, "abcdefABCDEF");
        bool host = alpha(c) || digit(c) || in(c, "-._~") || in(c, "!$&'()*+,;=");
        bool qdtext = c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                      (c >= 0x5d && c <= 0x7e) || obs;
        bool scheme = alpha(c) || digit(c) || in(c, "+-.");
        if (h1_is((unsigned char)c, H1_C_TCHAR) != tchar || h1_is((unsigned char)c, H1_C_VALUE) != value ||
            h1_is((unsigned char)c, H1_C_TARGET) != target || h1_is((unsigned char)c, H1_C_HEX) != hex ||
            h1_is((unsigned char)c, H1_C_HOST) != host || h1_is((unsigned char)c, H1_C_QDTEXT) != qdtext ||
            h1_is((unsigned char)c, H1_C_SCHEME) != scheme)
            fail_msg("class of byte 0x%02x", c);
        if (hex)
            assert_int_equal(h1_hexval((unsigned char)c), (int)strtol((char[]){(char)c, 0}, NULL, 16));
    }
}

/* The word-at-a-time scanners agree with the table, byte for byte. */
static void test_skip_functions(void **state)
{
    unsigned char b[96];
    uint64_t rng = 88172645463325252ULL;

    for (int round = 0; round < 200000; round++) {
        uint32_t p, end, want;
        for (size_t i = 0; i < sizeof(b); i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* mostly plain text, sometimes any byte */
            b[i] = (rng % 23 == 0) ? (unsigned char)(rng >> 24) : (unsigned char)(0x21 + (rng >> 24) % 94);
        }
        p = (uint32_t)(rng % 40);
        end = p + (uint32_t)((rng >> 8) % (sizeof(b) - p + 1));
        for (want = p; want < end && h1_is(b[want], H1_C_VALUE); want++)
            ;
        if (h1_skip_value(b, p, end) != want)
            fail_msg("h1_skip_value round %d", round);
        for (want = p; want < end && h1_is(b[want], H1_C_TARGET); want++)
            ;
        if (h1_skip_target(b, p, end) != want)
            fail_msg("h1_skip_target round %d", round);
    }
    /* every single special byte, at every position of a word */
    for (int c = 0; c < 256; c++) {
        for (uint32_t at = 0; at < 24; at++) {
            uint32_t wv = h1_is((unsigned char)c, H1_C_VALUE) ? 24 : at;
            uint32_t wt = h1_is((unsigned char)c, H1_C_TARGET) ? 24 : at;
            memset(b, 'a', 24);
            b[at] = (unsigned char)c;
            assert_int_equal(h1_skip_value(b, 0, 24), wv);
            assert_int_equal(h1_skip_target(b, 0, 24), wt);
        }
    }
}

static void test_methods(void **state)
{
    static const struct {
        const char *s;
        enum h1_method m;
        bool idem, safe;
    } v[] = {
        {"GET", H1_METHOD_GET, true, true},        {"HEAD", H1_METHOD_HEAD, true, true},
        {"POST", H1_METHOD_POST, false, false},    {"PUT", H1_METHOD_PUT, true, false},
        {"DELETE", H1_METHOD_DELETE, true, false}, {"OPTIONS", H1_METHOD_OPTIONS, true, true},
        {"TRACE", H1_METHOD_TRACE, true, true},    {"CONNECT", H1_METHOD_CONNECT, false, false},
        {"PATCH", H1_METHOD_PATCH, false, false},  {"get", H1_METHOD_OTHER, false, false},
        {"GETS", H1_METHOD_OTHER, false, false},   {"PROPFIND", H1_METHOD_OTHER, false, false},
        {"", H1_METHOD_OTHER, false, false},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        enum h1_method m = h1_method_id(v[i].s, strlen(v[i].s));
        if (m != v[i].m || h1_method_idempotent(m) != v[i].idem || h1_method_safe(m) != v[i].safe)
            fail_msg("method %s", v[i].s);
    }
}

static void test_hdr_ids(void **state)
{
    static const struct {
        const char *s;
        enum h1_hdr_id id;
    } v[] = {
        {"Host", H1_HDR_HOST},
        {"HOST", H1_HDR_HOST},
        {"content-length", H1_HDR_CONTENT_LENGTH},
        {"Transfer-Encoding", H1_HDR_TRANSFER_ENCODING},
        {"Connection", H1_HDR_CONNECTION},
        {"Keep-Alive", H1_HDR_KEEP_ALIVE},
        {"Proxy-Connection", H1_HDR_PROXY_CONNECTION},
        {"te", H1_HDR_TE},
        {"Trailer", H1_HDR_TRAILER},
        {"Upgrade", H1_HDR_UPGRADE},
        {"Expect", H1_HDR_EXPECT},
        {"Hostx", H1_HDR_OTHER},
        {"Content-Lengt", H1_HDR_OTHER},
        {"Content_Length", H1_HDR_OTHER},
        {"Transfer-Encodinf", H1_HDR_OTHER},
        {"", H1_HDR_OTHER},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (h1_hdr_id(v[i].s, strlen(v[i].s)) != v[i].id)
            fail_msg("field %s", v[i].s);
}

static void test_token_eq(void **state)
{
    assert_true(h1_token_eq("ChUnKeD", 7, "chunked", 7));
    assert_true(h1_token_eq("chunked", 7, "CHUNKED", 7));
    assert_false(h1_token_eq("chunked", 7, "chunke", 6));
    assert_false(h1_token_eq("chunkee", 7, "chunked", 7));
    /* only ASCII letters fold: '-' is not '\r' | 0x20, '^' is not '~' */
    assert_false(h1_token_eq("\r", 1, "-", 1));
    assert_false(h1_token_eq("^", 1, "~", 1));
    assert_false(h1_token_eq("\xc1", 1, "\xe1", 1));
    assert_true(h1_token_eq("", 0, "", 0));
}

static void test_list_next(void **state)
{
    static const char s[] = " ,a , b\t,,  c d ,\t";
    struct h1_slice e;
    size_t pos = 0;
    assert_true(h1_list_next(s, sizeof(s) - 1, &pos, &e));
    assert_string_equal(h1t_str(s, e), "a");
    assert_true(h1_list_next(s, sizeof(s) - 1, &pos, &e));
    assert_string_equal(h1t_str(s, e), "b");
    assert_true(h1_list_next(s, sizeof(s) - 1, &pos, &e));
    assert_string_equal(h1t_str(s, e), "c d");
    assert_false(h1_list_next(s, sizeof(s) - 1, &pos, &e));
    assert_false(h1_list_next(s, sizeof(s) - 1, &pos, &e));
    pos = 0;
    assert_false(h1_list_next("", 0, &pos, &e));
    pos = 0;
    assert_false(h1_list_next(" , ,", 4, &pos, &e));
}

static void test_errors(void **state)
{
    /* every code has a distinct name and a status; unknown values are safe */
    for (int e = H1_INCOMPLETE; e > -H1_ERR_COUNT; e--) {
        const char *n = h1_err_name(e);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (int f = e - 1; f > -H1_ERR_COUNT; f--)
            assert_string_not_equal(n, h1_err_name(f));
        assert_true(h1_err_status(e) >= 400 && h1_err_status(e) <= 505);
    }
    assert_int_equal(-H1_ERR_TRAILERS_TOO_LARGE + 1, H1_ERR_COUNT);
    assert_string_equal(h1_err_name(5), "ok");
    assert_string_equal(h1_err_name(-H1_ERR_COUNT), "unknown");
    assert_string_equal(h1_err_name(-1000), "unknown");
    assert_int_equal(h1_err_status(-1000), 400);
    assert_int_equal(h1_err_status(H1_ERR_BARE_LF), 400);
    assert_int_equal(h1_err_status(H1_ERR_STATUS_LINE), 502);
}

static void test_limits_default(void **state)
{
    struct h1_limits l;
    h1_limits_default(&l);
    assert_int_equal(l.max_line, 8190);
    assert_int_equal(l.max_head, 16384);
    assert_int_equal(l.max_hdrs, 101);
    assert_int_equal(l.max_chunk_line, 1024);
    assert_int_equal(l.max_trailers, 101);
    assert_int_equal(l.max_trailer_size, 16384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctype_table),
        cmocka_unit_test(test_skip_functions),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_hdr_ids),
        cmocka_unit_test(test_token_eq),
        cmocka_unit_test(test_list_next),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
