/*
 * match_test.c: the match methods of acl_match.c, one by one, driven through
 * a header whose value the test chooses (hdr(x-v)), and the address matches
 * with their CIDR edge cases (/0, /32, /128, IPv4-mapped IPv6, dotted masks,
 * abbreviated IPv4).
 */
#include "acl_test_util.h"

/* Evaluates `acl x <line>` against a request whose X-V header is `value`. */
static bool on(const char *value, const char *line)
{
    struct treq r;
    char h[512];
    const char *hdrs[] = {h, NULL};

    snprintf(h, sizeof(h), "X-V: %s", value);
    treq_init(&r, "GET / HTTP/1.1", hdrs);
    return acl1(line, &r);
}

static void test_str(void **state)
{
    assert_true(on("abc", "fhdr(x-v) abc"));
    assert_false(on("abc", "fhdr(x-v) ab"));
    assert_false(on("abc", "fhdr(x-v) abcd"));
    assert_false(on("abc", "fhdr(x-v) ABC"));
    assert_true(on("abc", "fhdr(x-v) -i ABC"));
    assert_true(on("abc", "fhdr(x-v) x y abc z")); /* values ORed */
    assert_false(on("abc", "fhdr(x-v) x y z"));
    /* folding is ASCII only: bytes >= 0x80 compare as they are */
    assert_false(on("\xc3\xa9", "fhdr(x-v) -i \xc3\x89"));
    assert_true(on("a[b", "fhdr(x-v) -i A[B"));
    assert_false(on("a{b", "fhdr(x-v) -i A[B")); /* '{' is not '[' folded */
}

/* 16 values and more use the hash table: same answers as the linear scan. */
static void test_str_hashed(void **state)
{
    char line[8192];
    int n = snprintf(line, sizeof(line), "fhdr(x-v)");
    for (int i = 0; i < 200; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " host%d.example.com", i);
    assert_true(on("host0.example.com", line));
    assert_true(n < (int)sizeof(line));
    assert_true(on("host199.example.com", line));
    assert_true(on("host57.example.com", line));
    assert_false(on("host200.example.com", line));
    assert_false(on("HOST57.example.com", line));
    assert_false(on("", line));

    n = snprintf(line, sizeof(line), "fhdr(x-v) -i");
    for (int i = 0; i < 40; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " Host%d.Example.COM", i);
    assert_true(on("HOST7.example.com", line));
    assert_true(on("host39.EXAMPLE.com", line));
    assert_false(on("host40.example.com", line));

    /* duplicates and an empty value in a hashed list */
    n = snprintf(line, sizeof(line), "fhdr(x-v) <empty>");
    for (int i = 0; i < 20; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " dup");
    assert_true(on("dup", line));
    assert_true(on("", line));
    assert_false(on("du", line));
}

static void test_beg_end_sub(void **state)
{
    assert_true(on("/api/v1", "fhdr(x-v) -m beg /api"));
    assert_true(on("/api/v1", "fhdr(x-v) -m beg /api/v1"));
    assert_false(on("/api/v1", "fhdr(x-v) -m beg /api/v1/"));
    assert_false(on("/api/v1", "fhdr(x-v) -m beg /API"));
    assert_true(on("/api/v1", "fhdr(x-v) -m beg -i /API"));
    assert_true(on("/api/v1", "fhdr(x-v) -m beg <empty>")); /* empty prefix: always */

    assert_true(on("index.html", "fhdr(x-v) -m end .html"));
    assert_true(on("index.html", "fhdr(x-v) -m end index.html"));
    assert_false(on("index.html", "fhdr(x-v) -m end xindex.html"));
    assert_false(on("index.html", "fhdr(x-v) -m end .HTML"));
    assert_true(on("index.html", "fhdr(x-v) -i -m end .HTML"));

    assert_true(on("hello world", "fhdr(x-v) -m sub lo"));
    assert_true(on("hello world", "fhdr(x-v) -m sub hello"));
    assert_true(on("hello world", "fhdr(x-v) -m sub world"));
    assert_false(on("hello world", "fhdr(x-v) -m sub World"));
    assert_true(on("hello world", "fhdr(x-v) -m sub -i WORLD"));
    assert_true(on("hello world", "fhdr(x-v) -m sub -i HELLO"));
    assert_false(on("hello world", "fhdr(x-v) -m sub -i worldx"));
    assert_false(on("hi", "fhdr(x-v) -m sub -i hil"));
    assert_true(on("aaab", "fhdr(x-v) -m sub -i AAB"));
}

static void test_dom_dir(void **state)
{
    /* HAProxy's manual example for dom */
    const char *u = "http://www1.dc-eu.example.com:80/blah";
    const char *yes[] = {"http", "www1", ".www1", "dc-eu", "example", "com", "80",
                         "dc-eu.example", "blah", ":www1:", "www1.dc-eu.example.com:80"};
    const char *no[] = {"eu", "dc", "ww", "example.co", "80/blahx"};
    char line[128];
    for (size_t i = 0; i < TERN_ARRAY_SIZE(yes); i++) {
        snprintf(line, sizeof(line), "fhdr(x-v) -m dom %s", yes[i]);
        assert_true(on(u, line));
    }
    for (size_t i = 0; i < TERN_ARRAY_SIZE(no); i++) {
        snprintf(line, sizeof(line), "fhdr(x-v) -m dom %s", no[i]);
        assert_false(on(u, line));
    }
    assert_true(on(u, "fhdr(x-v) -m dom -i EXAMPLE"));
    assert_false(on(u, "fhdr(x-v) -m dom ..."));

    const char *p = "/images/png/logo/32x32.png";
    assert_true(on(p, "fhdr(x-v) -m dir /images"));
    assert_true(on(p, "fhdr(x-v) -m dir images/png"));
    assert_true(on(p, "fhdr(x-v) -m dir /png/logo"));
    assert_true(on(p, "fhdr(x-v) -m dir logo/32x32.png"));
    assert_true(on(p, "fhdr(x-v) -m dir 32x32.png"));
    assert_true(on(p, "fhdr(x-v) -m dir png")); /* HAProxy's code matches it (its manual says no) */
    assert_false(on(p, "fhdr(x-v) -m dir 32x32"));
    assert_false(on(p, "fhdr(x-v) -m dir mages"));
    assert_false(on(p, "fhdr(x-v) -m dir /images/png/logo/32x32.png/x"));
    assert_true(on("/a?b", "fhdr(x-v) -m dir a")); /* '?' delimits */
    assert_false(on("/a.b", "fhdr(x-v) -m dir a"));
    assert_true(on("/a.b", "fhdr(x-v) -m dom a"));
}

static void test_len_found_int(void **state)
{
    assert_true(on("12345", "fhdr(x-v) -m len 5"));
    assert_false(on("12345", "fhdr(x-v) -m len 4"));
    assert_true(on("12345", "fhdr(x-v) -m len ge 5"));
    assert_true(on("12345", "fhdr(x-v) -m len gt 4"));
    assert_false(on("12345", "fhdr(x-v) -m len gt 5"));
    assert_true(on("12345", "fhdr(x-v) -m len le 5"));
    assert_false(on("12345", "fhdr(x-v) -m len lt 5"));
    assert_true(on("12345", "fhdr(x-v) -m len eq 9 5"));
    assert_true(on("12345", "fhdr(x-v) -m len 1:5"));
    assert_true(on("12345", "fhdr(x-v) -m len 5:"));
    assert_true(on("12345", "fhdr(x-v) -m len :5"));
    assert_false(on("12345", "fhdr(x-v) -m len 6:"));
    assert_false(on("12345", "fhdr(x-v) -m len :4"));
    assert_true(on("12345", "fhdr(x-v) -m len 0:3 4:6"));
    assert_true(on("", "fhdr(x-v) -m len 0"));
    assert_true(on("", "fhdr(x-v) -m found"));

    /* integer fetch limits and operators at the edges */
    assert_true(on("9223372036854775807", "hdr_val(x-v) 9223372036854775807"));
    assert_true(on("99999999999999999999", "hdr_val(x-v) 9223372036854775807")); /* saturates */
    assert_false(on("9223372036854775807", "hdr_val(x-v) gt 9223372036854775807"));
    assert_false(on("-9223372036854775808", "hdr_val(x-v) lt -9223372036854775808"));
    assert_true(on("-5", "hdr_val(x-v) lt -4"));
    assert_true(on("-5", "hdr_val(x-v) -- -5:-5"));
}

/* An address in X-V, read by hdr_ip. */
static bool ip_in(const char *addr, const char *nets)
{
    char line[256];

    snprintf(line, sizeof(line), "hdr_ip(x-v) %s", nets);
    return on(addr, line);
}

static void test_cidr_v4(void **state)
{
    assert_true(ip_in("10.1.2.3", "10.0.0.0/8"));
    assert_false(ip_in("11.1.2.3", "10.0.0.0/8"));
    assert_true(ip_in("10.1.2.3", "10.1.2.3/32"));
    assert_true(ip_in("10.1.2.3", "10.1.2.3"));
    assert_false(ip_in("10.1.2.4", "10.1.2.3/32"));
    assert_true(ip_in("10.1.2.3", "0.0.0.0/0"));
    assert_true(ip_in("255.255.255.255", "0.0.0.0/0"));
    assert_true(ip_in("10.1.2.3", "10.1.2.99/24")); /* host bits of the pattern ignored */
    assert_true(ip_in("10.1.2.3", "10.1.2.2/31"));
    assert_false(ip_in("10.1.2.4", "10.1.2.2/31"));
    assert_true(ip_in("10.1.2.3", "10.1.0.0/255.255.0.0"));
    assert_false(ip_in("10.2.2.3", "10.1.0.0/255.255.0.0"));
    assert_true(ip_in("10.1.2.3", "0.0.0.3/0.0.0.255")); /* non-contiguous masks work */
    /* abbreviated forms (HAProxy's manual, 7.1.6) */
    assert_true(ip_in("127.0.0.1", "127.1"));
    assert_true(ip_in("10.0.0.12", "10.12"));
    assert_true(ip_in("192.168.0.1", "192.168.1"));
    assert_true(ip_in("127.200.0.1", "127.1/8"));
    assert_true(ip_in("0.0.1.0", "256"));
    /* an IPv4-mapped IPv6 sample matches an IPv4 pattern */
    assert_true(ip_in("::ffff:10.1.2.3", "10.0.0.0/8"));
    assert_true(ip_in("::ffff:10.1.2.3", "10.1.2.3/32"));
    assert_false(ip_in("::ffff:11.1.2.3", "10.0.0.0/8"));
    assert_true(ip_in("::ffff:11.1.2.3", "0.0.0.0/0"));
    /* other IPv6 samples never match an IPv4 pattern, not even /0 */
    assert_false(ip_in("::a01:203", "10.0.0.0/8")); /* ::10.1.2.3, "v4-compatible" */
    assert_false(ip_in("2002:a01:203::", "10.0.0.0/8"));
    assert_false(ip_in("2001:db8::1", "0.0.0.0/0"));
}

static void test_cidr_v6(void **state)
{
    assert_true(ip_in("2001:db8::1", "2001:db8::/32"));
    assert_false(ip_in("2001:db9::1", "2001:db8::/32"));
    assert_true(ip_in("2001:db8::1", "2001:db8::1/128"));
    assert_true(ip_in("2001:db8::1", "2001:db8::1"));
    assert_false(ip_in("2001:db8::2", "2001:db8::1/128"));
    assert_true(ip_in("2001:db8::1", "::/0"));
    assert_true(ip_in("10.1.2.3", "::/0")); /* an IPv4 sample, mapped first */
    assert_true(ip_in("2001:db8::1", "2001:db8::/33"));
    assert_false(ip_in("2001:db8:8000::1", "2001:db8::/33"));
    assert_true(ip_in("2001:db8:8000::1", "2001:db8::/32"));
    assert_true(ip_in("2001:db8::ff", "2001:db8::fe/127"));
    assert_false(ip_in("2001:db8::fd", "2001:db8::fe/127"));
    /* IPv4 sample against an IPv6 pattern: as ::ffff:a.b.c.d */
    assert_true(ip_in("10.1.2.3", "::ffff:10.1.2.3"));
    assert_true(ip_in("10.1.2.3", "::ffff:10.0.0.0/104"));
    assert_false(ip_in("11.1.2.3", "::ffff:10.0.0.0/104"));
    assert_false(ip_in("10.1.2.3", "::10.1.2.3"));
    /* mixed lists */
    assert_true(ip_in("::1", "127.0.0.1/8 ::1"));
    assert_true(ip_in("127.9.9.9", "127.0.0.1/8 ::1"));
    assert_false(ip_in("::2", "127.0.0.1/8 ::1"));
    assert_false(ip_in("not-an-ip", "0.0.0.0/0 ::/0"));
}

static void test_addr_from_text(void **state)
{
    assert_true(ip_in("1.2.3.4:80", "1.2.3.4"));
    assert_true(ip_in("[2001:db8::1]:443", "2001:db8::1"));
    assert_true(ip_in("[2001:db8::1]", "2001:db8::1"));
    assert_false(ip_in("[2001:db8::1]:", "::/0"));
    assert_false(ip_in("[2001:db8::1]x", "::/0"));
    assert_false(ip_in("[2001:db8::1", "::/0"));
    assert_false(ip_in("1.2.3.4:", "0.0.0.0/0"));
    assert_false(ip_in("1.2.3.4:65536", "0.0.0.0/0"));
    assert_true(ip_in("1.2.3.4:65535", "0.0.0.0/0"));
    assert_false(ip_in("1.2.3.4:8a", "0.0.0.0/0"));
    assert_false(ip_in("1.2.3", "0.0.0.0/0")); /* samples: dotted quad only */
    assert_false(ip_in("", "0.0.0.0/0"));
    assert_false(ip_in("1111:2222:3333:4444:5555:6666:7777:8888:9999", "::/0"));
}

static void test_src_mapped(void **state)
{
    struct treq r;

    treq_init(&r, "GET / HTTP/1.1", NULL);
    treq_src(&r, "::ffff:127.0.0.1", 1234);
    assert_true(acl1("src 127.0.0.0/8", &r));
    assert_true(acl1("src 127.0.0.1", &r));
    assert_true(acl1("src ::ffff:127.0.0.1/128", &r));
    assert_false(acl1("src 10.0.0.0/8", &r));
    assert_true(acl1("src_port 1234", &r));
    treq_src(&r, "::1", 5);
    assert_true(acl1("src ::1", &r));
    assert_false(acl1("src 127.0.0.0/8", &r));
    assert_false(acl1("src 0.0.0.0/0", &r));
    treq_src(&r, "127.0.0.1", 5);
    assert_true(acl1("src ::ffff:127.0.0.0/120", &r));
    assert_false(acl1("src ::1", &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_str_hashed),
        cmocka_unit_test(test_beg_end_sub),
        cmocka_unit_test(test_dom_dir),
        cmocka_unit_test(test_len_found_int),
        cmocka_unit_test(test_cidr_v4),
        cmocka_unit_test(test_cidr_v6),
        cmocka_unit_test(test_addr_from_text),
        cmocka_unit_test(test_src_mapped),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    acl_thread_release();
    return rc;
}
