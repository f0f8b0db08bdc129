/* The certificate store: HAProxy's crt conventions, rejection of bad
 * material, and the SNI index (exact, wildcard, default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/tls/cert_store.h"
#include "tests/unit/tls/tls_test_util.h"

static int lookup(const struct tls_cert_store *s, const char *name)
{
    return tls_cert_store_lookup(s, name, strlen(name));
}

static void test_file_with_key_and_ocsp(void **state)
{
    char err[512];
    struct tls_cert_store *s = tls_cert_store_new(0);

    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("server.pem"), err, sizeof(err)), 0);
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), 0);
    assert_int_equal(s->n_entries, 1);
    assert_non_null(s->entries[0].ocsp); /* server.pem.ocsp beside it */
    assert_true(s->entries[0].ocsp_len > 100);
    assert_int_equal(s->entries[0].n_names, 2); /* CN repeats a SAN: once */
    assert_string_equal(s->entries[0].names[0], "www.example.com");
    assert_string_equal(s->entries[0].names[1], "api.example.com");
    assert_true(s->entries[0].not_after > time(NULL) + 86400);
    assert_true(s->entries[0].not_after < time(NULL) + 31 * 86400);
    assert_int_equal(tls_cert_store_min_not_after(s), s->entries[0].not_after);
    assert_int_equal(lookup(s, "www.example.com"), 0);
    assert_int_equal(lookup(s, "API.Example.COM"), 0);
    assert_int_equal(lookup(s, "api.example.com."), 0);
    assert_int_equal(lookup(s, "example.com"), -1);
    assert_int_equal(lookup(s, ""), -1);
    tls_cert_store_unref(s);
}

static void test_key_beside_and_directory(void **state)
{
    char err[512];
    struct tls_cert_store *s = tls_cert_store_new(0);

    /* rsa.pem has no key: rsa.pem.key is read. */
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("rsa.pem"), err, sizeof(err)), 0);
    /* dir/: 10-server.pem (+ .ocsp, not loaded as a cert) then 20-wild.pem. */
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("dir"), err, sizeof(err)), 0);
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), 0);
    assert_int_equal(s->n_entries, 3);
    assert_null(s->entries[0].ocsp);
    assert_non_null(strstr(s->entries[1].source, "10-server.pem"));
    assert_non_null(s->entries[1].ocsp);
    assert_non_null(strstr(s->entries[2].source, "20-wild.pem"));
    assert_int_equal(lookup(s, "rsa.example.com"), 0);
    assert_int_equal(lookup(s, "www.example.com"), 1);
    /* wildcard: exactly one label */
    assert_int_equal(lookup(s, "a.wild.test"), 2);
    assert_int_equal(lookup(s, "A-b.WILD.test"), 2);
    assert_int_equal(lookup(s, "wild.test"), -1);
    assert_int_equal(lookup(s, "a.b.wild.test"), -1);
    assert_int_equal(lookup(s, ".wild.test"), -1);
    assert_int_equal(lookup(s, "*.wild.test"), -1);
    /* not a string: an embedded NUL never matches */
    assert_int_equal(tls_cert_store_lookup(s, "a.wild.test\0x", 13), -1);
    tls_cert_store_unref(s);
}

static void test_first_loaded_keeps_a_name(void **state)
{
    char err[512];
    struct tls_cert_store *s = tls_cert_store_new(0);

    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("wild.pem"), err, sizeof(err)), 0);
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("server.pem"), err, sizeof(err)), 0);
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("dir"), err, sizeof(err)), 0);
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), 0);
    assert_int_equal(lookup(s, "www.example.com"), 1);
    assert_int_equal(lookup(s, "x.wild.test"), 0);
    tls_cert_store_unref(s);
}

static void expect_error(const char *name, unsigned flags, const char *want)
{
    char err[512] = "";
    struct tls_cert_store *s = tls_cert_store_new(flags);

    assert_int_equal(tls_cert_store_add_path(s, tls_test_path(name), err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("%s: got '%s', want '%s'", name, err, want);
    assert_non_null(strstr(err, name)); /* the message names the file */
    assert_int_equal(s->n_entries, 0);
    tls_cert_store_unref(s);
}

static void test_bad_material_rejected(void **state)
{
    char err[512];
    FILE *f;

    expect_error("expired.pem", 0, "has expired");
    expect_error("mismatch.pem", 0, "does not match");
    expect_error("no-such.pem", 0, "No such file");
    expect_error("client.key", 0, "no certificate");
    /* A truncated PEM. */
    f = fopen(tls_test_path("truncated.pem"), "w");
    fputs("-----BEGIN CERTIFICATE-----\nMIIB\n", f);
    fclose(f);
    expect_error("truncated.pem", 0, "no certificate");
    /* A certificate without key anywhere. */
    expect_error("ca.pem", 0, "no private key");
    /* ... is fine for a CA bundle store. */
    struct tls_cert_store *s = tls_cert_store_new(TLS_STORE_NO_KEY_OK);
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("ca.pem"), err, sizeof(err)), 0);
    tls_cert_store_unref(s);
    /* Expired, when allowed (a client certificate in a test). */
    s = tls_cert_store_new(TLS_STORE_ALLOW_EXPIRED);
    assert_int_equal(tls_cert_store_add_path(s, tls_test_path("expired.pem"), err, sizeof(err)), 0);
    assert_true(s->entries[0].not_after < time(NULL));
    tls_cert_store_unref(s);
    /* An empty store does not seal. */
    s = tls_cert_store_new(0);
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), -1);
    tls_cert_store_unref(s);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = malloc(1 << 16);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void test_from_memory_as_sds(void **state)
{
    char err[512];
    size_t clen, klen, olen;
    char *crt = slurp(tls_test_path("rsa.crt"), &clen);
    char *key = slurp(tls_test_path("rsa.key"), &klen);
    char *other = slurp(tls_test_path("server.key"), &olen);
    struct tls_cert_store *s = tls_cert_store_new(0);

    assert_int_equal(tls_cert_store_add_pem(s, "sds:rsa", crt, clen, key, klen, NULL, 0, err,
                                            sizeof(err)),
                     0);
    assert_int_equal(tls_cert_store_add_pem(s, "sds:bad", crt, clen, other, olen, NULL, 0, err,
                                            sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "sds:bad"));
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), 0);
    /* Sealed: immutable. */
    assert_int_equal(tls_cert_store_add_pem(s, "late", crt, clen, key, klen, NULL, 0, err,
                                            sizeof(err)),
                     -1);
    assert_int_equal(lookup(s, "rsa.example.com"), 0);
    /* Refcounting: a second holder keeps it alive. */
    tls_cert_store_ref(s);
    tls_cert_store_unref(s);
    assert_int_equal(lookup(s, "rsa.example.com"), 0);
    tls_cert_store_unref(s);
    free(crt);
    free(key);
    free(other);
}

static void test_pem_has_key(void **state)
{
    const char *a = "junk\n-----BEGIN EC PRIVATE KEY-----\n";
    const char *b = "-----BEGIN CERTIFICATE-----\n";
    assert_true(tls_pem_has_key(a, strlen(a)));
    assert_false(tls_pem_has_key(b, strlen(b)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_with_key_and_ocsp),
        cmocka_unit_test(test_key_beside_and_directory),
        cmocka_unit_test(test_first_loaded_keeps_a_name),
        cmocka_unit_test(test_bad_material_rejected),
        cmocka_unit_test(test_from_memory_as_sds),
        cmocka_unit_test(test_pem_has_key),
    };
    tls_test_pki();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
