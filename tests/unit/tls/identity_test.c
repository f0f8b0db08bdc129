/* Peer identity: SPIFFE ID validation, extraction from real certificates,
 * and the XFCC formatter's quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy/tls/tls.h"
#include "tests/unit/tls/tls_test_util.h"

static bool check(const char *s)
{
    size_t td = 0;
    return tls_spiffe_id_check(s, strlen(s), &td);
}

static void test_spiffe_id_rules(void **state)
{
    size_t td = 0;
    char long_id[2100];

    assert_true(tls_spiffe_id_check("spiffe://mesh.local/ns/a/sa/frontend", 36, &td));
    assert_int_equal(td, 10);
    assert_true(check("spiffe://example.org"));
    assert_true(check("spiffe://a_b-c.9/Path.With-Upper_1/x"));
    assert_true(check("spiffe://td/..a/.b/c.."));

    assert_false(check("spiffe://"));
    assert_false(check("spiffe:///path"));             /* no trust domain */
    assert_false(check("SPIFFE://example.org/x"));     /* scheme is lowercase */
    assert_false(check("spiffe://Example.org/x"));     /* trust domain is lowercase */
    assert_false(check("spiffe://example.org:8443/x")); /* no port */
    assert_false(check("spiffe://user@example.org/x")); /* no userinfo */
    assert_false(check("spiffe://example.org/"));      /* trailing slash */
    assert_false(check("spiffe://example.org/a//b"));  /* empty segment */
    assert_false(check("spiffe://example.org/a/./b")); /* dot segments */
    assert_false(check("spiffe://example.org/a/../b"));
    assert_false(check("spiffe://example.org/a?x=1")); /* query */
    assert_false(check("spiffe://example.org/a#frag")); /* fragment */
    assert_false(check("spiffe://example.org/a%20b")); /* percent-encoding */
    assert_false(check("spiffe://example.org/a b"));
    assert_false(check("https://example.org/a"));
    assert_false(tls_spiffe_id_check("spiffe://ex\0mple/a", 18, &td));

    memcpy(long_id, "spiffe://td/", 12);
    memset(long_id + 12, 'a', sizeof(long_id) - 12);
    assert_true(tls_spiffe_id_check(long_id, 2048, &td));
    assert_false(tls_spiffe_id_check(long_id, 2049, &td));
    char td256[300] = "spiffe://";
    memset(td256 + 9, 'a', 256);
    assert_false(tls_spiffe_id_check(td256, 9 + 256, &td));
    assert_true(tls_spiffe_id_check(td256, 9 + 255, &td));
}

static struct tls_cert_store *load(const char *name)
{
    char err[512];
    struct tls_cert_store *s = tls_cert_store_new(TLS_STORE_ALLOW_EXPIRED);
    if (tls_cert_store_add_path(s, tls_test_path(name), err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return s;
}

static void identity_of(const char *name, struct tls_peer_identity *id)
{
    struct tls_cert_store *s = load(name);
    assert_int_equal(tls_cert_identity(s->entries[0].cert, id), 0);
    tls_cert_store_unref(s); /* the identity owns its strings */
}

static void test_identity_from_certificates(void **state)
{
    struct tls_peer_identity id;

    identity_of("client.pem", &id);
    assert_true(id.cert_present);
    assert_int_equal(id.spiffe_status, TLS_SPIFFE_OK);
    assert_string_equal(id.spiffe_id, "spiffe://mesh.local/ns/a/sa/frontend");
    assert_int_equal(id.spiffe_td_len, strlen("mesh.local"));
    assert_string_equal(id.uri, id.spiffe_id);
    assert_string_equal(id.subject, "O=tern,CN=frontend");
    assert_int_equal(id.n_dns, 1);
    assert_string_equal(id.dns[0], "client.mesh.local");
    assert_int_equal(strlen(id.hash), 64);
    {
        /* The hash is the certificate's SHA-256 fingerprint, as openssl says. */
        char cmd[1400], line[256], hex[65];
        size_t k = 0;
        snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -sha256",
                 tls_test_path("client.crt"));
        FILE *f = popen(cmd, "r");
        assert_non_null(fgets(line, sizeof(line), f));
        pclose(f);
        for (const char *p = strchr(line, '=') + 1; *p && k < 64; p++)
            if (*p != ':' && *p != '\n')
                hex[k++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        hex[k] = '\0';
        assert_string_equal(id.hash, hex);
    }
    tls_peer_identity_clear(&id);
    assert_null(id.storage);

    identity_of("client-multi-uri.pem", &id);
    assert_int_equal(id.spiffe_status, TLS_SPIFFE_MULTIPLE_URI);
    assert_null(id.spiffe_id);
    assert_null(id.uri);
    tls_peer_identity_clear(&id);

    identity_of("client-bad-spiffe.pem", &id);
    assert_int_equal(id.spiffe_status, TLS_SPIFFE_INVALID);
    assert_null(id.spiffe_id);
    assert_string_equal(id.uri, "spiffe://Mesh.Local/x");
    tls_peer_identity_clear(&id);

    identity_of("server.pem", &id);
    assert_int_equal(id.spiffe_status, TLS_SPIFFE_NONE);
    assert_null(id.uri);
    assert_int_equal(id.n_dns, 2);
    assert_string_equal(id.dns[1], "api.example.com");
    assert_string_equal(id.subject, "O=tern,CN=www.example.com");
    tls_peer_identity_clear(&id);
}

static void test_xfcc_format(void **state)
{
    struct tls_peer_identity id;
    char out[2048], small[16];
    size_t n;
    char want[2048];

    identity_of("client.pem", &id);
    n = tls_xfcc_format(out, sizeof(out), "spiffe://mesh.local/ns/b/sa/backend", &id);
    snprintf(want, sizeof(want),
             "By=spiffe://mesh.local/ns/b/sa/backend;Hash=%s;Subject=\"O=tern,CN=frontend\";"
             "URI=spiffe://mesh.local/ns/a/sa/frontend;DNS=client.mesh.local",
             id.hash);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    /* Too small: truncated, terminated, and the needed length returned. */
    assert_int_equal(tls_xfcc_format(small, sizeof(small), NULL, &id), n - strlen("By=spiffe://mesh.local/ns/b/sa/backend;"));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    tls_peer_identity_clear(&id);

    /* Quoting: a subject with '"' and '\', values with ';' ',' '='. */
    struct tls_peer_identity q = {.cert_present = true,
                                  .subject = "CN=a\\,b \"q\"",
                                  .uri = "spiffe://x/y",
                                  .dns = {"a;b", "c=d", "plain"},
                                  .n_dns = 3};
    strcpy(q.hash, "ab");
    tls_xfcc_format(out, sizeof(out), "by,me", &q);
    assert_string_equal(out, "By=\"by,me\";Hash=ab;Subject=\"CN=a\\\\,b \\\"q\\\"\";URI=spiffe://x/y;"
                             "DNS=\"a;b\";DNS=\"c=d\";DNS=plain");
    /* No certificate: nothing but By. */
    struct tls_peer_identity none = {0};
    tls_xfcc_format(out, sizeof(out), "spiffe://m/x", &none);
    assert_string_equal(out, "By=spiffe://m/x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spiffe_id_rules),
        cmocka_unit_test(test_identity_from_certificates),
        cmocka_unit_test(test_xfcc_format),
    };
    tls_test_pki();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
