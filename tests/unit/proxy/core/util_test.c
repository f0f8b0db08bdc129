/* Tests proxy/core/util.c: durations, integers, addresses, hashing. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/core/util.h"

static void test_duration(void **state)
{
    static const struct {
        const char *text;
        uint32_t ms;
    } ok[] = {
        {"0", 0},       {"150", 150},      {"150ms", 150},  {"2s", 2000},
        {"1m", 60000},  {"1h", 3600000},   {"1d", 86400000}, {"1500us", 2},
        {"1us", 1},     {"0us", 0},        {"2147483647", 2147483647},
    };
    static const char *const bad[] = {
        "", "s", "-1", "1.5s", "10 s", "10S", "1w", "1ms2", "25d", "99999999999", " 1",
    };
    uint32_t ms;

    for (size_t i = 0; i < TERN_ARRAY_SIZE(ok); i++) {
        ms = 12345;
        assert_int_equal(tern_parse_duration_ms(ok[i].text, &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    for (size_t i = 0; i < TERN_ARRAY_SIZE(bad); i++) {
        if (tern_parse_duration_ms(bad[i], &ms) == 0)
            fail_msg("'%s' accepted as a duration", bad[i]);
    }
}

static void test_int(void **state)
{
    long v;

    assert_int_equal(tern_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(tern_parse_int("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(tern_parse_int("101", 0, 100, &v), -1);
    assert_int_equal(tern_parse_int("4x", 0, 100, &v), -1);
    assert_int_equal(tern_parse_int("", 0, 100, &v), -1);
    assert_int_equal(tern_parse_int(" 4", 0, 100, &v), -1);
    assert_int_equal(tern_parse_int("99999999999999999999", 0, 100, &v), -1);
}

/* tern_format_ip against inet_ntop on every IPv4 octet value, and IPv6 */
static void test_format_ip(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    struct sockaddr sa_other = {.sa_family = AF_UNIX};
    char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN];
    (void)state;

    for (unsigned v = 0; v < 256; v++) {
        unsigned char *a = (unsigned char *)&sin.sin_addr;
        a[0] = (unsigned char)v;
        a[1] = (unsigned char)(255 - v);
        a[2] = (unsigned char)(v * 7);
        a[3] = (unsigned char)(v / 3);
        inet_ntop(AF_INET, &sin.sin_addr, want, sizeof(want));
        assert_int_equal(tern_format_ip((struct sockaddr *)&sin, got, sizeof(got)), strlen(want));
        assert_string_equal(got, want);
    }
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    assert_int_equal(tern_format_ip((struct sockaddr *)&sin6, got, sizeof(got)), 11);
    assert_string_equal(got, "2001:db8::1");
    assert_int_equal(tern_format_ip(&sa_other, got, sizeof(got)), 0);
    assert_string_equal(got, "");
    assert_int_equal(tern_format_ip((struct sockaddr *)&sin, got, 8), 0); /* too small */
}

static void test_addr(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[128], buf[80];

    assert_int_equal(tern_parse_addr("127.0.0.1:80", false, &ss, &len, err, sizeof(err)), 0);
    assert_string_equal(tern_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "127.0.0.1:80");
    assert_int_equal(len, sizeof(struct sockaddr_in));

    assert_int_equal(tern_parse_addr("[::1]:8443", false, &ss, &len, err, sizeof(err)), 0);
    assert_string_equal(tern_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "[::1]:8443");
    assert_int_equal(len, sizeof(struct sockaddr_in6));

    /* HAProxy's IPv6 form without brackets: the last colon separates the port */
    assert_int_equal(tern_parse_addr("::1:8443", false, &ss, &len, err, sizeof(err)), 0);
    assert_string_equal(tern_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "[::1]:8443");

    assert_int_equal(tern_parse_addr("*:80", false, &ss, &len, err, sizeof(err)), 0);
    assert_string_equal(tern_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "0.0.0.0:80");
    assert_int_equal(tern_parse_addr(":81", false, &ss, &len, err, sizeof(err)), 0);
    assert_string_equal(tern_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "0.0.0.0:81");

    assert_int_equal(tern_parse_addr("127.0.0.1", false, &ss, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has no port"));
    assert_int_equal(tern_parse_addr("127.0.0.1:0", false, &ss, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid port"));
    assert_int_equal(tern_parse_addr("127.0.0.1:0", true, &ss, &len, err, sizeof(err)), 0);
    assert_int_equal(tern_parse_addr("127.0.0.1:65536", false, &ss, &len, err, sizeof(err)), -1);
    assert_int_equal(tern_parse_addr("300.0.0.1:80", false, &ss, &len, err, sizeof(err)), -1);
    assert_int_equal(tern_parse_addr("localhost:80", false, &ss, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not resolve names"));
    assert_int_equal(tern_parse_addr("[fe80::zz]:80", false, &ss, &len, err, sizeof(err)), -1);
}

static void test_hash(void **state)
{
    uint64_t a = tern_hash64("server1", 7, 0);
    uint64_t b = tern_hash64("server2", 7, 0);
    uint64_t c = tern_hash64("server1", 7, 1);
    int differing = 0;

    assert_int_equal(a, tern_hash64("server1", 7, 0)); /* stable */
    assert_true(a != b);
    assert_true(a != c); /* the seed matters */
    /* avalanche: one input bit flips about half of the output bits */
    for (uint64_t x = a ^ b; x; x &= x - 1)
        differing++;
    assert_in_range(differing, 16, 48);
}

static void test_rand(void **state)
{
    uint64_t s = 1, seen[64];

    for (int i = 0; i < 64; i++) {
        seen[i] = tern_rand_next(&s);
        assert_true(s != 0);
        for (int j = 0; j < i; j++)
            assert_true(seen[i] != seen[j]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration), cmocka_unit_test(test_int),  cmocka_unit_test(test_addr), cmocka_unit_test(test_format_ip),
        cmocka_unit_test(test_hash),     cmocka_unit_test(test_rand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
