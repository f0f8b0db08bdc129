/*
 * The ClientHello parser, on real hellos captured at run time from
 * `openssl s_client` (connected to a socket this test listens on) and on
 * hellos built here field by field to break each length and rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/tls/clienthello.h"

/* ---- capture from openssl s_client ------------------------------------------ */

/* Runs `openssl s_client <args>` against a local socket and returns the
 * bytes it sent (at most cap) once they parse as a complete hello. */
static size_t capture(const char *args, uint8_t *out, size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c;
    size_t got = 0;
    struct tls_hello h;
    pid_t pid;
    char cmd[512];

    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    snprintf(cmd, sizeof(cmd), "exec openssl s_client -connect 127.0.0.1:%d %s </dev/null >/dev/null 2>&1",
             ntohs(a.sin_port), args);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    c = accept(l, NULL, NULL);
    assert_true(c >= 0);
    for (;;) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        ssize_t n;
        assert_true(poll(&p, 1, 10000) == 1);
        n = read(c, out + got, cap - got);
        assert_true(n > 0);
        got += (size_t)n;
        if (tls_hello_parse(out, got, 0, &h) != TLS_HELLO_NEED_MORE)
            break;
    }
    close(c);
    close(l);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return got;
}

static void assert_alpn(const struct tls_hello *h, const char *const *want)
{
    size_t pos = 0, n;
    const char *name;
    int i = 0;

    while (tls_hello_next_alpn(h, &pos, &name, &n)) {
        assert_non_null(want[i]);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(name, want[i], n);
        i++;
    }
    assert_null(want[i]);
}

static uint8_t real13[8192], real12[8192];
static size_t real13_len, real12_len;

static void test_real_tls13_hello(void **state)
{
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    struct tls_hello h;

    real13_len = capture("-servername www.Example.com -alpn h2,http/1.1", real13, sizeof(real13));
    assert_int_equal(tls_hello_parse(real13, real13_len, 0, &h), TLS_HELLO_OK);
    assert_int_equal(h.hs_type, 1);
    assert_true(h.has_sni);
    assert_string_equal(h.sni, "www.Example.com");
    assert_int_equal(h.sni_len, 15);
    assert_true(h.has_alpn);
    assert_alpn(&h, alpn);
    assert_true(h.has_versions);
    assert_int_equal(h.max_version, 0x0304);
    assert_int_equal(h.legacy_version, 0x0303);
    assert_int_equal(h.record_bytes, real13_len);
}

static void test_real_tls12_hello(void **state)
{
    static const char *const none[] = {NULL};
    struct tls_hello h;

    real12_len = capture("-tls1_2 -noservername", real12, sizeof(real12));
    assert_int_equal(tls_hello_parse(real12, real12_len, 0, &h), TLS_HELLO_OK);
    assert_false(h.has_sni);
    assert_false(h.has_alpn);
    assert_alpn(&h, none);
    assert_false(h.has_versions);
    assert_int_equal(h.max_version, 0x0303);
}

static void test_every_prefix_needs_more(void **state)
{
    struct tls_hello h;

    assert_true(real13_len > 0);
    for (size_t i = 0; i < real13_len; i++)
        assert_int_equal(tls_hello_parse(real13, i, 0, &h), TLS_HELLO_NEED_MORE);
    /* Bytes after the hello (early data, a second record) change nothing. */
    uint8_t more[8300];
    memcpy(more, real13, real13_len);
    memcpy(more + real13_len, "\x17\x03\x03\x00\x01X", 6);
    assert_int_equal(tls_hello_parse(more, real13_len + 6, 0, &h), TLS_HELLO_OK);
    assert_string_equal(h.sni, "www.Example.com");
}

/* Re-frames the hello's handshake message into records of `size` bytes. */
static size_t reframe(const uint8_t *in, size_t in_len, size_t size, uint8_t *out)
{
    const uint8_t *msg = in + 5;
    size_t msg_len = in_len - 5, k = 0;

    for (size_t off = 0; off < msg_len; off += size) {
        size_t n = msg_len - off < size ? msg_len - off : size;
        out[k++] = 22;
        out[k++] = 3;
        out[k++] = 1;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
        memcpy(out + k, msg + off, n);
        k += n;
    }
    return k;
}

static void test_hello_across_records(void **state)
{
    static uint8_t framed[8192 * 6];
    const size_t sizes[] = {1, 2, 3, 4, 5, 7, 100, 511};
    struct tls_hello h;

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = reframe(real13, real13_len, sizes[s], framed);
        assert_int_equal(tls_hello_parse(framed, n, 0, &h), TLS_HELLO_OK);
        assert_string_equal(h.sni, "www.Example.com");
        assert_int_equal(h.record_bytes, n);
        assert_int_equal(tls_hello_parse(framed, n - 1, 0, &h), TLS_HELLO_NEED_MORE);
    }
    /* An alert (or anything but handshake) in the middle is malformed. */
    size_t n = reframe(real13, real13_len, 50, framed);
    framed[55] = 21;
    assert_int_equal(tls_hello_parse(framed, n, 0, &h), TLS_HELLO_MALFORMED);
}

static void test_not_tls(void **state)
{
    struct tls_hello h;
    const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};

    assert_int_equal(tls_hello_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, 0, &h),
                     TLS_HELLO_NOT_TLS);
    assert_int_equal(tls_hello_parse((const uint8_t *)"G", 1, 0, &h), TLS_HELLO_NOT_TLS);
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16", 1, 0, &h), TLS_HELLO_NEED_MORE);
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x02", 2, 0, &h), TLS_HELLO_NOT_TLS);
    assert_int_equal(tls_hello_parse(sslv2, sizeof(sslv2), 0, &h), TLS_HELLO_NOT_TLS);
    assert_int_equal(tls_hello_parse((const uint8_t *)"", 0, 0, &h), TLS_HELLO_NEED_MORE);
    /* A ServerHello: TLS, but not a ClientHello. */
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9,
                                     0, &h),
                     TLS_HELLO_NOT_HELLO);
    assert_int_equal(h.hs_type, 2);
    assert_string_equal(tls_hello_result_name(TLS_HELLO_NOT_HELLO), "not_hello");
}

/* ---- built hellos ------------------------------------------------------------ */

struct b {
    uint8_t p[70000];
    size_t n;
};

static void u8(struct b *b, unsigned v) { b->p[b->n++] = (uint8_t)v; }
static void u16(struct b *b, unsigned v) { u8(b, v >> 8); u8(b, v & 0xff); }
static void bytes(struct b *b, const void *s, size_t n) { memcpy(b->p + b->n, s, n); b->n += n; }

/* A ClientHello record around `ext` (ext_len bytes of extensions, or no
 * extensions block when ext is NULL). sid_len/cs_len/cm_len tweak fields. */
static size_t hello(uint8_t *out, const uint8_t *ext, size_t ext_len, unsigned sid_len,
                    unsigned cs_len, unsigned cm_len)
{
    static struct b body, rec;
    body.n = rec.n = 0;
    u16(&body, 0x0303);
    for (int i = 0; i < 32; i++)
        u8(&body, i);
    u8(&body, sid_len);
    for (unsigned i = 0; i < sid_len; i++)
        u8(&body, 0xaa);
    u16(&body, cs_len);
    for (unsigned i = 0; i < cs_len; i++)
        u8(&body, 0x13);
    u8(&body, cm_len);
    for (unsigned i = 0; i < cm_len; i++)
        u8(&body, 0);
    if (ext) {
        u16(&body, (unsigned)ext_len);
        bytes(&body, ext, ext_len);
    }
    u8(&rec, 22);
    u16(&rec, 0x0301);
    u16(&rec, (unsigned)body.n + 4);
    u8(&rec, 1);
    u8(&rec, 0);
    u16(&rec, (unsigned)body.n);
    bytes(&rec, body.p, body.n);
    memcpy(out, rec.p, rec.n);
    return rec.n;
}

static enum tls_hello_result parse_ext(const void *ext, size_t len, struct tls_hello *h)
{
    static uint8_t buf[70000];
    size_t n = hello(buf, ext, len, 32, 2, 1);
    return tls_hello_parse(buf, n, 0, h);
}

#define EXT(s) (s), sizeof(s) - 1

static void test_built_hellos(void **state)
{
    static uint8_t buf[70000];
    struct tls_hello h;
    size_t n;

    /* Minimal, no extensions. */
    n = hello(buf, NULL, 0, 0, 2, 1);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_OK);
    assert_false(h.has_sni);
    /* Field lengths. */
    n = hello(buf, NULL, 0, 33, 2, 1);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_MALFORMED); /* session id > 32 */
    n = hello(buf, NULL, 0, 0, 3, 1);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_MALFORMED); /* odd suites */
    n = hello(buf, NULL, 0, 0, 0, 1);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_MALFORMED); /* no suites */
    n = hello(buf, NULL, 0, 0, 2, 0);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_MALFORMED); /* no compression */

    /* SNI. */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x08\x00\x00\x05" "a.b-c"), &h), TLS_HELLO_OK);
    assert_string_equal(h.sni, "a.b-c");
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x08\x00\x00\x05" "a b.c"), &h),
                     TLS_HELLO_MALFORMED); /* a space */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x08\x00\x00\x05" "a\0b.c"), &h),
                     TLS_HELLO_MALFORMED); /* a NUL */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x06\x00\x04\x00\x00\x01" "."), &h),
                     TLS_HELLO_MALFORMED); /* trailing dot */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x05\x00\x03\x00\x00\x00"), &h),
                     TLS_HELLO_MALFORMED); /* empty name */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x08\x00\x00\x06" "a.b-c"), &h),
                     TLS_HELLO_MALFORMED); /* name longer than its list */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x09\x00\x00\x05" "a.b-c"), &h),
                     TLS_HELLO_MALFORMED); /* list longer than its extension */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0b\x00\x08\x00\x00\x05" "a.b-cX"), &h),
                     TLS_HELLO_MALFORMED); /* bytes after the list */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0b\x00\x09\x00\x00\x01" "a" "\x00\x00\x02" "bb"),
                               &h),
                     TLS_HELLO_MALFORMED); /* two host_names */
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0b\x00\x09\x09\x00\x01" "a" "\x00\x00\x02" "bb"),
                               &h),
                     TLS_HELLO_OK); /* an unknown name type first, skipped */
    assert_string_equal(h.sni, "bb");
    assert_int_equal(parse_ext(EXT("\x00\x00\x00\x0a\x00\x08\x00\x00\x05" "a.b-c"
                                   "\x00\x00\x00\x0a\x00\x08\x00\x00\x05" "a.b-c"),
                               &h),
                     TLS_HELLO_MALFORMED); /* the extension twice */

    /* ALPN. */
    assert_int_equal(parse_ext(EXT("\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1"), &h), TLS_HELLO_OK);
    assert_int_equal(h.n_alpn, 2);
    assert_int_equal(parse_ext(EXT("\x00\x10\x00\x05\x00\x03\x00h2"), &h), TLS_HELLO_MALFORMED);
    assert_int_equal(parse_ext(EXT("\x00\x10\x00\x02\x00\x00"), &h), TLS_HELLO_MALFORMED);
    assert_int_equal(parse_ext(EXT("\x00\x10\x00\x05\x00\x03\x03h2"), &h), TLS_HELLO_MALFORMED);
    {
        /* 300 bytes of protocol names: kept up to the bound, flagged. */
        static struct b e;
        e.n = 0;
        u16(&e, 16);
        u16(&e, 2 + 30 * 10);
        u16(&e, 30 * 10);
        for (int i = 0; i < 30; i++) {
            u8(&e, 9);
            bytes(&e, "proto-xyz", 9);
        }
        assert_int_equal(parse_ext(e.p, e.n, &h), TLS_HELLO_OK);
        assert_true(h.alpn_truncated);
        assert_int_equal(h.n_alpn, 25);
        assert_true(h.alpn_len <= TLS_HELLO_ALPN_MAX);
    }

    /* supported_versions, with GREASE ignored for the maximum. */
    assert_int_equal(parse_ext(EXT("\x00\x2b\x00\x07\x06\x7a\x7a\x03\x04\x03\x03"), &h), TLS_HELLO_OK);
    assert_int_equal(h.n_versions, 3);
    assert_int_equal(h.max_version, 0x0304);
    assert_int_equal(parse_ext(EXT("\x00\x2b\x00\x04\x03\x03\x04\x03"), &h), TLS_HELLO_MALFORMED);
    assert_int_equal(parse_ext(EXT("\x00\x2b\x00\x01\x00"), &h), TLS_HELLO_MALFORMED);

    /* Extension block lengths. */
    assert_int_equal(parse_ext(EXT("\x00\x99\x00\x05" "abc"), &h), TLS_HELLO_MALFORMED);
    assert_int_equal(parse_ext(EXT("\x00\x99"), &h), TLS_HELLO_MALFORMED);
    assert_int_equal(parse_ext(EXT("\x00\x99\x00\x00\x00\x98\x00\x00"), &h), TLS_HELLO_OK);
}

static void test_bounds(void **state)
{
    static uint8_t buf[70000];
    struct tls_hello h;
    size_t n;

    /* Record lengths 0 and > 2^14. */
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, 0, &h),
                     TLS_HELLO_MALFORMED);
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x01", 5, 0, &h),
                     TLS_HELLO_MALFORMED);
    /* A hello announcing 16 MiB: too big at once, without waiting. */
    assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9,
                                     0, &h),
                     TLS_HELLO_TOO_BIG);
    /* A real hello under a caller's smaller bound. */
    assert_int_equal(tls_hello_parse(real13, real13_len, 100, &h), TLS_HELLO_TOO_BIG);
    /* A handshake message whose length says less than the ClientHello holds:
     * the fields overrun the message. */
    n = hello(buf, NULL, 0, 0, 2, 1);
    buf[8] = (uint8_t)(buf[8] - 1);
    assert_int_equal(tls_hello_parse(buf, n, 0, &h), TLS_HELLO_MALFORMED);
    /* Bytes after the extensions inside the message. */
    {
        size_t k = hello(buf, (const uint8_t *)"\x00\x99\x00\x00", 4, 0, 2, 1);
        buf[k] = 0xee;
        buf[4] = (uint8_t)(buf[4] + 1); /* record */
        buf[8] = (uint8_t)(buf[8] + 1); /* message */
        assert_int_equal(tls_hello_parse(buf, k + 1, 0, &h), TLS_HELLO_MALFORMED);
    }
    /* 200 extensions: more than anyone sends. */
    {
        static struct b e;
        e.n = 0;
        for (int i = 0; i < 200; i++) {
            u16(&e, 1000 + i);
            u16(&e, 0);
        }
        assert_int_equal(parse_ext(e.p, e.n, &h), TLS_HELLO_MALFORMED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_tls13_hello),
        cmocka_unit_test(test_real_tls12_hello),
        cmocka_unit_test(test_every_prefix_needs_more),
        cmocka_unit_test(test_hello_across_records),
        cmocka_unit_test(test_not_tls),
        cmocka_unit_test(test_built_hellos),
        cmocka_unit_test(test_bounds),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
