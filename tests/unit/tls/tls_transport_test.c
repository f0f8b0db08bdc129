/*
 * The plain and TLS transports over socketpairs: both ends in this thread,
 * pumped with poll() until the handshake completes, then data both ways,
 * then shutdown; and every way a handshake is refused, with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy/tls/tls.h"
#include "tests/unit/tls/tls_test_util.h"

static struct tls_cert_store *store_of(unsigned flags, const char *const *names)
{
    char err[512];
    struct tls_cert_store *s = tls_cert_store_new(flags);

    for (; *names; names++) {
        if (tls_cert_store_add_path(s, tls_test_path(*names), err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    assert_int_equal(tls_cert_store_seal(s, err, sizeof(err)), 0);
    return s;
}

static struct tls_server_ctx *server_of(const struct tls_server_conf *conf, const char *const *names,
                                        struct tls_ticket_keys *keys)
{
    char err[512];
    struct tls_cert_store *s = store_of(0, names);
    struct tls_server_ctx *srv = tls_server_ctx_new(conf, s, keys, err, sizeof(err));

    if (!srv)
        fail_msg("%s", err);
    tls_cert_store_unref(s);
    return srv;
}

static struct tls_client_ctx *client_of(struct tls_client_conf *conf, const char *crt,
                                        unsigned flags)
{
    char err[512];
    struct tls_client_ctx *c;

    if (crt) {
        const char *n[] = {crt, NULL};
        conf->crt = store_of(flags, n);
    }
    c = tls_client_ctx_new(conf, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    tls_cert_store_unref(conf->crt);
    conf->crt = NULL;
    return c;
}

struct pair {
    int fds[2];
    struct transport c, s;
    int rc_c, rc_s;
};

static void connect_pair(struct pair *p, struct tls_server_ctx *srv, struct tls_client_ctx *cli,
                         const char *sni, struct tls_session_slot *slot)
{
    tls_test_socketpair(p->fds);
    assert_int_equal(tls_transport_init_server(&p->s, p->fds[0], srv), 0);
    assert_int_equal(tls_transport_init_client(&p->c, p->fds[1], cli, sni, slot), 0);
    tls_test_handshake(&p->c, &p->s, &p->rc_c, &p->rc_s);
}

static void close_pair(struct pair *p)
{
    transport_release(&p->c);
    transport_release(&p->s);
    close(p->fds[0]);
    close(p->fds[1]);
}

static const char *const SERVER[] = {"server.pem", NULL};

static void test_plain(void **state)
{
    struct transport a, b;
    int fds[2];
    char buf[64];

    tls_test_socketpair(fds);
    transport_plain_init(&a, fds[0]);
    transport_plain_init(&b, fds[1]);
    assert_int_equal(transport_handshake(&a), 1);
    assert_int_equal(tls_test_exchange(&a, &b, 3 << 20), 0);
    /* Drained: a read says AGAIN and clears readability. */
    tls_test_refresh(&b);
    b.ready |= TRANSPORT_READABLE;
    assert_int_equal(transport_read(&b, buf, sizeof(buf)), TRANSPORT_AGAIN);
    assert_false(transport_can_read(&b));
    assert_int_equal(transport_shutdown(&a), 0);
    tls_test_refresh(&b);
    assert_true(transport_can_read(&b));
    assert_int_equal(transport_read(&b, buf, sizeof(buf)), 0);
    assert_false(transport_is_tls(&a));
    transport_release(&a);
    transport_release(&b);
    close(fds[0]);
    close(fds[1]);
}

static void test_tls_handshake_data_shutdown(void **state)
{
    struct tls_server_conf sc = {.alpn = "h2,http/1.1"};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED,
                                 .ca_file = tls_test_path("ca.pem"),
                                 .alpn = "http/1.1,h2"};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct pair p;
    const char *proto;
    size_t plen;
    char buf[16];

    connect_pair(&p, srv, cli, "www.example.com", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(p.rc_s, 1);
    assert_true(transport_is_tls(&p.s));
    /* The server's preference wins: h2. */
    assert_true(tls_transport_alpn(&p.s, &proto, &plen));
    assert_int_equal(plen, 2);
    assert_memory_equal(proto, "h2", 2);
    assert_true(tls_transport_alpn(&p.c, &proto, &plen));
    assert_memory_equal(proto, "h2", 2);
    assert_string_equal(tls_transport_version(&p.s), "TLSv1.3");
    assert_string_equal(tls_transport_sni(&p.s), "www.example.com");
    assert_int_equal(tls_transport_cert_index(&p.s), 0);
    assert_false(tls_transport_resumed(&p.c));

    /* 3 MiB each way at once: records, partial writes, WANT_WRITE. */
    assert_int_equal(tls_test_exchange(&p.c, &p.s, 3 << 20), 0);

    /* close_notify from the client: a clean end on the server. */
    assert_int_equal(transport_shutdown(&p.c), 0);
    tls_test_refresh(&p.s);
    assert_true(transport_can_read(&p.s));
    assert_int_equal(transport_read(&p.s, buf, sizeof(buf)), 0);
    assert_false(p.s.unclean_eof);
    /* The server can still write after the client's half-close, then ends. */
    struct iovec iov = {"bye", 3};
    tls_test_refresh(&p.s);
    assert_int_equal(transport_writev(&p.s, &iov, 1), 3);
    assert_int_equal(transport_shutdown(&p.s), 0);
    tls_test_refresh(&p.c);
    assert_int_equal(transport_read(&p.c, buf, sizeof(buf)), 3);
    tls_test_refresh(&p.c);
    /* The end is reported by the next read (pending or from the socket). */
    assert_true(transport_can_read(&p.c));
    assert_int_equal(transport_read(&p.c, buf, sizeof(buf)), 0);
    assert_false(p.c.unclean_eof);

    close_pair(&p);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static void test_sni_selects_certificate(void **state)
{
    static const char *const certs[] = {"server.pem", "wild.pem", "rsa.pem", NULL};
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED, .ca_file = tls_test_path("ca.pem")};
    struct tls_client_conf cn = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, certs, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0), *loose = client_of(&cn, NULL, 0);
    struct pair p;

    connect_pair(&p, srv, cli, "a.wild.test", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(tls_transport_cert_index(&p.s), 1);
    close_pair(&p);

    connect_pair(&p, srv, cli, "RSA.example.com", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(tls_transport_cert_index(&p.s), 2);
    close_pair(&p);

    connect_pair(&p, srv, cli, "api.example.com", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(tls_transport_cert_index(&p.s), 0);
    close_pair(&p);

    /* Unknown name: the default certificate, which the client (checking the
     * name it asked for) refuses; a client that does not verify accepts. */
    connect_pair(&p, srv, cli, "unknown.test", NULL);
    assert_int_equal(p.rc_c, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&p.c), TRANSPORT_R_TLS_BAD_CERT);
    close_pair(&p);
    connect_pair(&p, srv, loose, "unknown.test", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(tls_transport_cert_index(&p.s), 0);
    close_pair(&p);
    connect_pair(&p, srv, loose, NULL, NULL); /* no SNI at all */
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(tls_transport_cert_index(&p.s), 0);
    close_pair(&p);

    tls_client_ctx_free(cli);
    tls_client_ctx_free(loose);
    tls_server_ctx_unref(srv);
}

static void test_strict_sni(void **state)
{
    struct tls_server_conf sc = {.strict_sni = true};
    struct tls_client_conf cn = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cn, NULL, 0);
    struct pair p;

    connect_pair(&p, srv, cli, "nope.test", NULL);
    assert_int_equal(p.rc_s, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&p.s), TRANSPORT_R_TLS_NO_SNI_MATCH);
    assert_int_equal(p.rc_c, TRANSPORT_ERROR);
    close_pair(&p);
    connect_pair(&p, srv, cli, "www.example.com", NULL);
    assert_int_equal(p.rc_s, 1);
    close_pair(&p);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static void mtls_case(struct tls_server_ctx *srv, const char *crt, unsigned flags, int want_rc,
                      enum transport_reason want_reason, const char *want_spiffe)
{
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED, .ca_file = tls_test_path("ca.pem")};
    struct tls_client_ctx *cli = client_of(&cc, crt, flags);
    struct tls_peer_identity id;
    struct pair p;

    connect_pair(&p, srv, cli, "www.example.com", NULL);
    if (want_rc == 1) {
        assert_int_equal(p.rc_s, 1);
        assert_int_equal(p.rc_c, 1);
        /* TLS 1.3: the client may finish before the server checked its
         * certificate; the data exchange proves both agree. */
        assert_int_equal(tls_test_exchange(&p.c, &p.s, 1000), 0);
        assert_int_equal(tls_transport_peer_identity(&p.s, &id), 0);
        assert_true(id.cert_present);
        assert_true(id.verified);
        if (want_spiffe) {
            assert_non_null(id.spiffe_id);
            assert_string_equal(id.spiffe_id, want_spiffe);
        }
        tls_peer_identity_clear(&id);
        /* The client sees the server's identity too. */
        assert_int_equal(tls_transport_peer_identity(&p.c, &id), 0);
        assert_true(id.verified);
        assert_string_equal(id.dns[0], "www.example.com");
        tls_peer_identity_clear(&id);
    } else {
        assert_int_equal(p.rc_s, TRANSPORT_ERROR);
        assert_int_equal(transport_reason(&p.s), want_reason);
    }
    close_pair(&p);
    tls_client_ctx_free(cli);
}

static void test_mtls(void **state)
{
    struct tls_server_conf sc = {.verify = TLS_VERIFY_REQUIRED, .ca_file = tls_test_path("ca.pem")};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);

    mtls_case(srv, "client.pem", 0, 1, 0, "spiffe://mesh.local/ns/a/sa/frontend");
    mtls_case(srv, "client-other.pem", 0, 1, 0, "spiffe://mesh.local/ns/a/sa/other");
    mtls_case(srv, NULL, 0, TRANSPORT_ERROR, TRANSPORT_R_TLS_NO_CERT, NULL);
    mtls_case(srv, "client-foreign.pem", 0, TRANSPORT_ERROR, TRANSPORT_R_TLS_UNKNOWN_CA, NULL);
    mtls_case(srv, "expired.pem", TLS_STORE_ALLOW_EXPIRED, TRANSPORT_ERROR,
              TRANSPORT_R_TLS_CERT_EXPIRED, NULL);
    tls_server_ctx_unref(srv);

    /* verify optional: no certificate is fine, a bad one is not. */
    sc.verify = TLS_VERIFY_OPTIONAL;
    srv = server_of(&sc, SERVER, NULL);
    {
        struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
        struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
        struct tls_peer_identity id;
        struct pair p;
        connect_pair(&p, srv, cli, NULL, NULL);
        assert_int_equal(p.rc_s, 1);
        assert_int_equal(tls_transport_peer_identity(&p.s, &id), 0);
        assert_false(id.cert_present);
        tls_peer_identity_clear(&id);
        close_pair(&p);
        tls_client_ctx_free(cli);
    }
    mtls_case(srv, "client-foreign.pem", 0, TRANSPORT_ERROR, TRANSPORT_R_TLS_UNKNOWN_CA, NULL);
    tls_server_ctx_unref(srv);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    char *out;

    assert_non_null(f);
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    out = malloc(*len);
    assert_non_null(out);
    memcpy(out, buf, *len);
    return out;
}

/* Trust anchors from PEM bytes (SDS) on both sides, and the client's URI SAN
 * check (a SPIFFE ID instead of a host name; the SNI is the service name). */
static void test_pem_trust_and_uri_san(void **state)
{
    size_t ca_len, other_len;
    char *ca = read_all(tls_test_path("ca.pem"), &ca_len);
    char *other = read_all(tls_test_path("other-ca.pem"), &other_len);
    const char *const frontend[] = {"client.pem", NULL};
    struct tls_server_conf sc = {.verify = TLS_VERIFY_REQUIRED, .ca_pem = ca, .ca_pem_len = ca_len};
    struct tls_server_ctx *srv = server_of(&sc, frontend, NULL);
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED, .ca_pem = ca, .ca_pem_len = ca_len,
                                 .match_uri_san = "spiffe://mesh.local/ns/a/sa/frontend"};
    struct tls_client_ctx *cli = client_of(&cc, "client-other.pem", 0);
    struct tls_peer_identity id;
    struct pair p;
    char err[256];

    /* the right peer: both ends verified, the server sees the client's ID */
    connect_pair(&p, srv, cli, "api", NULL);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(p.rc_s, 1);
    assert_int_equal(tls_transport_peer_identity(&p.s, &id), 0);
    assert_string_equal(id.spiffe_id, "spiffe://mesh.local/ns/a/sa/other");
    tls_peer_identity_clear(&id);
    close_pair(&p);
    tls_client_ctx_free(cli);

    /* a server with another identity than the one expected: refused */
    cc.match_uri_san = "spiffe://mesh.local/ns/a/sa/other";
    cli = client_of(&cc, "client-other.pem", 0);
    connect_pair(&p, srv, cli, "api", NULL);
    assert_int_equal(p.rc_c, TRANSPORT_ERROR);
    assert_int_not_equal(p.rc_s, 1);
    close_pair(&p);
    tls_client_ctx_free(cli);

    /* a client certificate of another CA than the in-memory bundle: refused */
    cc.match_uri_san = "spiffe://mesh.local/ns/a/sa/frontend";
    cli = client_of(&cc, "client-foreign.pem", 0);
    connect_pair(&p, srv, cli, "api", NULL);
    assert_int_equal(p.rc_s, TRANSPORT_ERROR);
    close_pair(&p);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);

    /* the client trusts only other-ca: the server is refused */
    sc.verify = TLS_VERIFY_NONE;
    srv = server_of(&sc, frontend, NULL);
    cc.ca_pem = other;
    cc.ca_pem_len = other_len;
    cli = client_of(&cc, NULL, 0);
    connect_pair(&p, srv, cli, "api", NULL);
    assert_int_equal(p.rc_c, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&p.c), TRANSPORT_R_TLS_UNKNOWN_CA);
    close_pair(&p);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);

    /* errors */
    cc.ca_pem = "not a certificate";
    cc.ca_pem_len = strlen(cc.ca_pem);
    assert_null(tls_client_ctx_new(&cc, err, sizeof(err)));
    assert_non_null(strstr(err, "no PEM certificate"));
    cc.verify = TLS_VERIFY_NONE;
    assert_null(tls_client_ctx_new(&cc, err, sizeof(err)));
    assert_non_null(strstr(err, "needs verify required"));
    free(ca);
    free(other);
}

static void test_server_unknown_ca(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED,
                                 .ca_file = tls_test_path("other-ca.pem")};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct pair p;

    connect_pair(&p, srv, cli, "www.example.com", NULL);
    assert_int_equal(p.rc_c, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&p.c), TRANSPORT_R_TLS_UNKNOWN_CA);
    assert_int_equal(p.rc_s, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&p.s), TRANSPORT_R_TLS_UNKNOWN_CA); /* the alert */
    close_pair(&p);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static bool resumes(struct tls_server_ctx *srv, struct tls_client_ctx *cli,
                    struct tls_session_slot *slot)
{
    struct pair p;
    bool r;

    connect_pair(&p, srv, cli, "www.example.com", slot);
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(p.rc_s, 1);
    /* TLS 1.3 tickets come after the handshake: read some data. */
    assert_int_equal(tls_test_exchange(&p.c, &p.s, 100), 0);
    r = tls_transport_resumed(&p.c);
    assert_int_equal(r, tls_transport_resumed(&p.s));
    transport_shutdown(&p.c);
    transport_shutdown(&p.s);
    close_pair(&p);
    return r;
}

static void resumption_for(enum tls_version max)
{
    struct tls_ticket_keys *keys = tls_ticket_keys_new();
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED,
                                 .ca_file = tls_test_path("ca.pem"),
                                 .max_version = max};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, keys);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct tls_session_slot slot = {0};

    assert_false(resumes(srv, cli, &slot));
    assert_non_null(slot.session);
    assert_true(resumes(srv, cli, &slot));
    /* One rotation: the ticket's key is now "previous", still accepted. */
    assert_int_equal(tls_ticket_keys_rotate(keys), 0);
    assert_true(resumes(srv, cli, &slot));
    /* The renewed ticket is under the current key; two rotations later the
     * old key is gone and a full handshake happens. */
    assert_int_equal(tls_ticket_keys_rotate(keys), 0);
    assert_int_equal(tls_ticket_keys_rotate(keys), 0);
    assert_false(resumes(srv, cli, &slot));
    /* A new context (a certificate rotation) with the same ring resumes. */
    struct tls_server_ctx *srv2 = server_of(&sc, SERVER, keys);
    assert_true(resumes(srv2, cli, &slot));
    tls_server_ctx_unref(srv2);

    tls_session_slot_clear(&slot);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
    tls_ticket_keys_unref(keys);
}

static void test_resumption_tls13(void **state)
{
    resumption_for(TLS_VERSION_13);
}

static void test_resumption_tls12(void **state)
{
    resumption_for(TLS_VERSION_12);
}

struct rotator {
    struct tls_ticket_keys *keys;
    atomic_bool stop;
    atomic_uint rotations;
};

static void *rotate_loop(void *arg)
{
    struct rotator *r = arg;
    while (!atomic_load(&r->stop)) {
        tls_ticket_keys_rotate(r->keys);
        atomic_fetch_add(&r->rotations, 1);
    }
    return NULL;
}

/* The main thread rotates while workers handshake: the seqlock must never
 * hand a worker a torn key (a torn key fails the ticket's HMAC: the
 * handshake still succeeds, as a full one). Run under --config=tsan too. */
static void test_rotation_while_handshaking(void **state)
{
    struct rotator r = {.keys = tls_ticket_keys_new()};
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, r.keys);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct tls_session_slot slot = {0};
    pthread_t th;

    assert_int_equal(pthread_create(&th, NULL, rotate_loop, &r), 0);
    /* the rotator must be running before the handshakes start (a loaded
     * machine may schedule it late): poll, do not sleep */
    while (atomic_load(&r.rotations) == 0)
        sched_yield();
    for (int i = 0; i < 30; i++)
        resumes(srv, cli, &slot);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    assert_true(atomic_load(&r.rotations) > 0);
    tls_session_slot_clear(&slot);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
    tls_ticket_keys_unref(r.keys);
}

static void test_no_tickets_no_resumption(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct tls_session_slot slot = {0};

    resumes(srv, cli, &slot);
    assert_false(resumes(srv, cli, &slot));
    tls_session_slot_clear(&slot);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

/* A raw OpenSSL client with settings our own client ctx refuses to have. */
static enum transport_reason raw_client_refused(int minv, int maxv, const char *ciphers)
{
    struct tls_server_conf sc = {0};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct transport s;
    int fds[2], rc_s = TRANSPORT_AGAIN;
    SSL *ssl;
    enum transport_reason r;

    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_max_proto_version(ctx, maxv);
    if (ciphers)
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
    ssl = SSL_new(ctx);
    tls_test_socketpair(fds);
    SSL_set_fd(ssl, fds[1]);
    assert_int_equal(tls_transport_init_server(&s, fds[0], srv), 0);
    for (int i = 0; i < 50 && rc_s == TRANSPORT_AGAIN; i++) {
        SSL_connect(ssl);
        tls_test_refresh(&s);
        if (transport_can_read(&s))
            rc_s = transport_handshake(&s);
    }
    assert_int_equal(rc_s, TRANSPORT_ERROR);
    r = transport_reason(&s);
    transport_release(&s);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fds[0]);
    close(fds[1]);
    tls_server_ctx_unref(srv);
    return r;
}

static void test_old_versions_and_weak_suites_refused(void **state)
{
    assert_int_equal(raw_client_refused(TLS1_VERSION, TLS1_1_VERSION, "DEFAULT@SECLEVEL=0"),
                     TRANSPORT_R_TLS_VERSION);
    assert_int_equal(raw_client_refused(TLS1_VERSION, TLS1_VERSION, "DEFAULT@SECLEVEL=0"),
                     TRANSPORT_R_TLS_VERSION);
    /* TLS 1.2 without forward secrecy / without AEAD. */
    assert_int_equal(raw_client_refused(TLS1_2_VERSION, TLS1_2_VERSION, "AES128-GCM-SHA256"),
                     TRANSPORT_R_TLS_NO_SHARED_CIPHER);
    assert_int_equal(raw_client_refused(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA"),
                     TRANSPORT_R_TLS_NO_SHARED_CIPHER);
}

static void test_ocsp_stapled(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct transport c, s;
    int fds[2], rc_c, rc_s;
    const unsigned char *resp;
    long n;
    unsigned char file[8192];
    FILE *f = fopen(tls_test_path("server.pem.ocsp"), "rb");
    size_t flen;

    assert_non_null(f);
    flen = fread(file, 1, sizeof(file), f);
    fclose(f);
    assert_true(flen > 100);

    tls_test_socketpair(fds);
    assert_int_equal(tls_transport_init_server(&s, fds[0], srv), 0);
    assert_int_equal(tls_transport_init_client(&c, fds[1], cli, "www.example.com", NULL), 0);
    SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
    tls_test_handshake(&c, &s, &rc_c, &rc_s);
    assert_int_equal(rc_c, 1);
    n = SSL_get_tlsext_status_ocsp_resp((SSL *)c.ssl, &resp);
    assert_int_equal(n, (long)flen);
    assert_memory_equal(resp, file, flen);
    transport_release(&c);
    transport_release(&s);
    close(fds[0]);
    close(fds[1]);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static void test_unclean_eof_and_garbage(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct pair p;
    struct transport s;
    int fds[2], rc;
    char buf[64];

    /* A FIN without close_notify after the handshake: an unclean end. */
    connect_pair(&p, srv, cli, NULL, NULL);
    assert_int_equal(p.rc_s, 1);
    assert_int_equal(tls_test_exchange(&p.c, &p.s, 10), 0);
    shutdown(p.fds[1], SHUT_WR);
    tls_test_refresh(&p.s);
    rc = (int)transport_read(&p.s, buf, sizeof(buf));
    if (rc != 0)
        fail_msg("read %d reason %s errno %d", rc, transport_reason_name(transport_reason(&p.s)), p.s.sys_errno);
    assert_true(p.s.unclean_eof);
    close_pair(&p);

    /* A FIN in the middle of the handshake. */
    tls_test_socketpair(fds);
    assert_int_equal(tls_transport_init_server(&s, fds[0], srv), 0);
    close(fds[1]);
    tls_test_refresh(&s);
    assert_int_equal(transport_handshake(&s), TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&s), TRANSPORT_R_EOF_IN_HANDSHAKE);
    transport_release(&s);
    close(fds[0]);

    /* Plain HTTP on a TLS port never reaches a codec. */
    tls_test_socketpair(fds);
    assert_int_equal(tls_transport_init_server(&s, fds[0], srv), 0);
    assert_int_equal(write(fds[1], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
    tls_test_refresh(&s);
    rc = transport_handshake(&s);
    assert_int_equal(rc, TRANSPORT_ERROR);
    assert_int_equal(transport_reason(&s), TRANSPORT_R_TLS_PROTOCOL);
    assert_string_equal(transport_reason_name(transport_reason(&s)), "tls_protocol");
    /* Reads after a failure keep failing; nothing was decrypted. */
    tls_test_refresh(&s);
    assert_int_equal(transport_read(&s, buf, sizeof(buf)), TRANSPORT_ERROR);
    transport_release(&s);
    close(fds[0]);
    close(fds[1]);

    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static void test_read_buf_contract(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct buf_pool pool;
    struct buf *b = NULL;
    struct pair p;
    struct iovec iov = {"hello world", 11};

    buf_pool_init(&pool, 16384, 4);
    connect_pair(&p, srv, cli, NULL, NULL);
    tls_test_refresh(&p.c);
    assert_int_equal(transport_writev(&p.c, &iov, 1), 11);
    tls_test_refresh(&p.s);
    assert_int_equal(transport_read_buf(&p.s, &pool, &b), 11);
    assert_memory_equal(buf_head(b), "hello world", 11);
    /* Drained: -1 and the buffer is kept (it holds bytes). */
    tls_test_refresh(&p.s);
    p.s.ready |= TRANSPORT_READABLE;
    assert_int_equal(transport_read_buf(&p.s, &pool, &b), -1);
    assert_non_null(b);
    buf_consume(b, 11);
    buf_put(&pool, b);
    b = NULL;
    /* Nothing to read into an empty buffer: it goes back to the pool. */
    p.s.ready |= TRANSPORT_READABLE;
    assert_int_equal(transport_read_buf(&p.s, &pool, &b), -1);
    assert_null(b);
    assert_int_equal(pool.in_use, 0);
    close_pair(&p);
    buf_pool_destroy(&pool);
    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

/*
 * The readiness rules the connections rely on (transport.h), with events
 * played by hand rather than refreshed from poll(): the socket is read only
 * while the events say readable; records the library already holds keep
 * the transport readable though no new edge will come for them.
 */
static void test_readiness_edges(void **state)
{
    struct tls_server_conf sc = {0};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_NONE};
    struct tls_server_ctx *srv = server_of(&sc, SERVER, NULL);
    struct tls_client_ctx *cli = client_of(&cc, NULL, 0);
    struct iovec hello = {"hello", 5}, world = {"world", 5}, get = {"GET", 3};
    struct pair p;
    char buf[16];
    int i;

    connect_pair(&p, srv, cli, NULL, NULL);
    assert_int_equal(p.rc_s, 1);
    tls_test_refresh(&p.c);
    assert_int_equal(transport_writev(&p.c, &hello, 1), 5);
    assert_int_equal(transport_writev(&p.c, &world, 1), 5);
    /* Two records wait, but no event said readable: no read. */
    p.s.ready = TRANSPORT_WRITABLE;
    assert_int_equal(transport_read(&p.s, buf, sizeof(buf)), TRANSPORT_AGAIN);
    assert_false(transport_can_read(&p.s));
    /* The edge: the records are read together; the caller's buffer takes
     * the first, the library keeps the second, and although the socket is
     * drained the transport stays readable for it. */
    transport_set_ready(&p.s, TRANSPORT_READABLE);
    assert_int_equal(transport_read(&p.s, buf, 5), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(transport_can_read(&p.s));
    assert_int_equal(transport_read(&p.s, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "world", 5);
    /* Everything read: not readable until the next edge. */
    assert_false(transport_can_read(&p.s));
    assert_int_equal(transport_read(&p.s, buf, sizeof(buf)), TRANSPORT_AGAIN);
    close_pair(&p);

    /* A TLS 1.3 client's first bytes follow its Finished at once: the
     * server's last handshake step reads them too, and the transport must
     * say readable when the handshake completes. */
    tls_test_socketpair(p.fds);
    assert_int_equal(tls_transport_init_server(&p.s, p.fds[0], srv), 0);
    assert_int_equal(tls_transport_init_client(&p.c, p.fds[1], cli, NULL, NULL), 0);
    p.rc_c = p.rc_s = TRANSPORT_AGAIN;
    for (i = 0; i < 100 && p.rc_c != 1; i++) {
        tls_test_refresh(&p.c);
        if (transport_can_read(&p.c) || transport_can_write(&p.c))
            p.rc_c = transport_handshake(&p.c);
        if (p.rc_c == 1)
            break;
        tls_test_refresh(&p.s);
        if (transport_can_read(&p.s))
            p.rc_s = transport_handshake(&p.s);
    }
    assert_int_equal(p.rc_c, 1);
    assert_int_equal(p.rc_s, TRANSPORT_AGAIN); /* the client's Finished is unread */
    tls_test_refresh(&p.c);
    assert_int_equal(transport_writev(&p.c, &get, 1), 3);
    tls_test_refresh(&p.s);
    assert_int_equal(transport_handshake(&p.s), 1);
    assert_true(transport_can_read(&p.s));
    assert_int_equal(transport_read(&p.s, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "GET", 3);
    assert_false(transport_can_read(&p.s));
    close_pair(&p);

    tls_client_ctx_free(cli);
    tls_server_ctx_unref(srv);
}

static void test_config_errors(void **state)
{
    char err[512];
    struct tls_cert_store *s = store_of(0, SERVER);
    struct tls_server_conf bad_alpn = {.alpn = "h2,,http/1.1"};
    struct tls_server_conf no_ca = {.verify = TLS_VERIFY_REQUIRED};
    struct tls_server_conf bad_ciphers = {.ciphers = "NOPE-NOT-A-CIPHER"};
    struct tls_server_conf bad_versions = {.min_version = TLS_VERSION_13,
                                           .max_version = TLS_VERSION_12};
    struct tls_client_conf cc = {.verify = TLS_VERIFY_REQUIRED};

    assert_null(tls_server_ctx_new(&bad_alpn, s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "alpn"));
    assert_null(tls_server_ctx_new(&no_ca, s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ca-file"));
    assert_null(tls_server_ctx_new(&bad_ciphers, s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "ciphers"));
    assert_null(tls_server_ctx_new(&bad_versions, s, NULL, err, sizeof(err)));
    assert_null(tls_client_ctx_new(&cc, err, sizeof(err)));
    assert_non_null(strstr(err, "ca-file"));
    tls_cert_store_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_tls_handshake_data_shutdown),
        cmocka_unit_test(test_sni_selects_certificate),
        cmocka_unit_test(test_strict_sni),
        cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_server_unknown_ca),
        cmocka_unit_test(test_pem_trust_and_uri_san),
        cmocka_unit_test(test_resumption_tls13),
        cmocka_unit_test(test_resumption_tls12),
        cmocka_unit_test(test_no_tickets_no_resumption),
        cmocka_unit_test(test_rotation_while_handshaking),
        cmocka_unit_test(test_old_versions_and_weak_suites_refused),
        cmocka_unit_test(test_ocsp_stapled),
        cmocka_unit_test(test_unclean_eof_and_garbage),
        cmocka_unit_test(test_read_buf_contract),
        cmocka_unit_test(test_readiness_edges),
        cmocka_unit_test(test_config_errors),
    };
    tls_test_pki();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
