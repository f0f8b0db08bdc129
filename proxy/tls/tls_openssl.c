/*
 * tls_openssl.c: every libssl/libcrypto call tern makes.
 *
 * The rest of proxy/tls (and of tern) sees only tls.h, cert_store.h's
 * backend functions and transport.h. This file keeps to the API that
 * BoringSSL also offers, so a BoringSSL build replaces the link line in
 * bazel/BUILD and touches the few #ifdefs marked BORINGSSL below:
 *   - ticket keys use SSL_CTX_set_tlsext_ticket_key_cb (HMAC_CTX +
 *     EVP_CIPHER_CTX), the callback both libraries share; OpenSSL 3 calls it
 *     deprecated in favour of an EVP_MAC variant BoringSSL lacks, hence
 *     OPENSSL_SUPPRESS_DEPRECATED;
 *   - SNI selects a certificate by switching the connection to a per-
 *     certificate SSL_CTX in the servername callback (SSL_set_SSL_CTX);
 *   - TLS 1.3 suites are set with SSL_CTX_set_ciphersuites (OpenSSL only;
 *     BoringSSL's fixed TLS 1.3 suites are all AEAD already).
 *
 * Sections: certificate material, ticket keys, server contexts, client
 * contexts, the TLS transport, identity.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proxy/tls/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- ex_data indexes ------------------------------------------------------ */

static int idx_transport = -1; /* SSL -> struct transport * */
static int idx_server = -1;    /* SSL -> struct tls_server_ctx * */
static int idx_slot = -1;      /* SSL -> struct tls_session_slot * */
static int idx_entry = -1;     /* SSL_CTX -> store entry index + 1 */
static int idx_client = -1;    /* SSL_CTX -> struct tls_client_ctx * (URI SAN check) */
static BIO_METHOD *sock_method; /* the transport's socket BIO (NULL: out of memory) */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static BIO_METHOD *sock_method_new(void);

static void idx_init(void)
{
    idx_transport = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    idx_server = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    idx_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    idx_entry = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    idx_client = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    sock_method = sock_method_new();
}

static const char *lib_reason(void);

/* Trust anchors from PEM bytes (an SDS validation context): every
 * certificate into the context's store and, for a server, the names it
 * advertises to clients (names may be NULL). Returns 0 or -1 with err. */
static int load_ca_pem(SSL_CTX *c, const char *pem, size_t len, STACK_OF(X509_NAME) *names,
                       char *err, size_t errlen)
{
    BIO *bio;
    X509 *x;
    int n = 0;

    if (len > INT_MAX) {
        snprintf(err, errlen, "trusted CA: too large");
        return -1;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        snprintf(err, errlen, "trusted CA: %s", lib_reason());
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(SSL_CTX_get_cert_store(c), x) != 1) {
            snprintf(err, errlen, "trusted CA: %s", lib_reason());
            X509_free(x);
            BIO_free(bio);
            return -1;
        }
        if (names) {
            X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
            if (nm && !sk_X509_NAME_push(names, nm))
                X509_NAME_free(nm);
        }
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the PEM data reads as an error */
    if (n == 0) {
        snprintf(err, errlen, "trusted CA: no PEM certificate");
        return -1;
    }
    return 0;
}

static void *xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "tern: out of memory\n");
        abort();
    }
    return p;
}

/* The library's reason for the last error, for messages; clears the queue. */
static const char *lib_reason(void)
{
    static _Thread_local char buf[160];
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    snprintf(buf, sizeof(buf), "%s", r ? r : "unknown error");
    ERR_clear_error();
    return buf;
}

/* ---- certificate material ------------------------------------------------- */

struct tls_cert {
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key; /* NULL for a certificate without key (TLS_STORE_NO_KEY_OK) */
};

/* Never prompt on a terminal for an encrypted key's passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

void tls_cert_free(struct tls_cert *c)
{
    if (!c)
        return;
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    free(c);
}

struct tls_cert *tls_cert_parse(const char *pem, size_t pem_len, const char *key_pem,
                                size_t key_len, bool need_key, char *err, size_t errlen)
{
    struct tls_cert *c = xcalloc(sizeof(*c));
    BIO *b = NULL;
    X509 *x;

    ERR_clear_error();
    if (pem_len > INT_MAX || key_len > INT_MAX) {
        snprintf(err, errlen, "PEM too large");
        goto fail;
    }
    b = BIO_new_mem_buf(pem, (int)pem_len);
    if (!b || !(c->chain = sk_X509_new_null())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    c->leaf = PEM_read_bio_X509_AUX(b, NULL, no_passphrase, NULL);
    if (!c->leaf) {
        snprintf(err, errlen, "no certificate (bad PEM: %s)", lib_reason());
        goto fail;
    }
    while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
        if (!sk_X509_push(c->chain, x)) {
            X509_free(x);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    /* The loop ends at the end of the text (no start line) or on a bad block. */
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        snprintf(err, errlen, "bad PEM in the chain: %s", lib_reason());
        goto fail;
    }
    ERR_clear_error();
    BIO_free(b);
    b = NULL;
    if (tls_pem_has_key(pem, pem_len))
        b = BIO_new_mem_buf(pem, (int)pem_len);
    else if (key_pem && tls_pem_has_key(key_pem, key_len))
        b = BIO_new_mem_buf(key_pem, (int)key_len);
    if (b) {
        c->key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
        if (!c->key) {
            snprintf(err, errlen, "bad private key (%s)", lib_reason());
            goto fail;
        }
        if (X509_check_private_key(c->leaf, c->key) != 1) {
            ERR_clear_error();
            snprintf(err, errlen, "private key does not match the certificate");
            goto fail;
        }
    } else if (need_key) {
        snprintf(err, errlen, "no private key (in the file or a .key beside it)");
        goto fail;
    }
    BIO_free(b);
    return c;
fail:
    BIO_free(b);
    tls_cert_free(c);
    ERR_clear_error();
    return NULL;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    int days, secs;

    if (!t || !ASN1_TIME_diff(&days, &secs, NULL, t))
        return 0;
    return (int64_t)time(NULL) + (int64_t)days * 86400 + secs;
}

void tls_cert_validity(const struct tls_cert *c, int64_t *not_before, int64_t *not_after)
{
    *not_before = asn1_unix(X509_get0_notBefore(c->leaf));
    *not_after = asn1_unix(X509_get0_notAfter(c->leaf));
}

int tls_cert_foreach_name(const struct tls_cert *c,
                          int (*fn)(void *arg, const char *name, size_t len), void *arg)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    X509_NAME *subj = X509_get_subject_name(c->leaf);
    int rc = 0, i;

    for (i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            rc = fn(arg, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                    (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (rc == 0 && i >= 0) {
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
        if (n > 0)
            rc = fn(arg, (const char *)utf8, (size_t)n);
        OPENSSL_free(utf8);
    }
    ERR_clear_error();
    return rc;
}

/* ---- session ticket keys ---------------------------------------------------- */

/*
 * A seqlock: the main thread rotates, workers copy the keys in their ticket
 * callback. Every word is an atomic (relaxed) so the copy is race-free under
 * the C11 model; the sequence number tells a reader its copy was torn.
 */
#define TK_NAME 16
#define TK_HMAC 32
#define TK_AES 32
#define TK_WORDS ((TK_NAME + TK_HMAC + TK_AES) / 8)

struct tk {
    unsigned char name[TK_NAME];
    unsigned char hmac[TK_HMAC];
    unsigned char aes[TK_AES];
};

struct tls_ticket_keys {
    atomic_uint refs;
    atomic_uint seq;
    atomic_uint has_prev;
    _Atomic uint64_t w[2][TK_WORDS]; /* [0] current, [1] previous */
};

static void tk_store(struct tls_ticket_keys *k, int slot, const struct tk *v)
{
    uint64_t words[TK_WORDS];
    memcpy(words, v, sizeof(words));
    for (int i = 0; i < TK_WORDS; i++)
        atomic_store_explicit(&k->w[slot][i], words[i], memory_order_relaxed);
    OPENSSL_cleanse(words, sizeof(words));
}

/* Copies the ring; returns how many keys are valid (1 or 2). */
static int tk_load(struct tls_ticket_keys *k, struct tk out[2])
{
    uint64_t words[2][TK_WORDS];
    unsigned s1, s2, prev;

    for (;;) {
        s1 = atomic_load_explicit(&k->seq, memory_order_acquire);
        if (s1 & 1)
            continue; /* a rotation is writing */
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < TK_WORDS; i++)
                words[j][i] = atomic_load_explicit(&k->w[j][i], memory_order_relaxed);
        prev = atomic_load_explicit(&k->has_prev, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&k->seq, memory_order_relaxed);
        if (s1 == s2)
            break;
    }
    memcpy(out, words, sizeof(words));
    OPENSSL_cleanse(words, sizeof(words));
    return prev ? 2 : 1;
}

static int tk_random(struct tk *v)
{
    return RAND_bytes((unsigned char *)v, sizeof(*v)) == 1 ? 0 : -1;
}

struct tls_ticket_keys *tls_ticket_keys_new(void)
{
    struct tls_ticket_keys *k = xcalloc(sizeof(*k));
    struct tk first;

    atomic_init(&k->refs, 1);
    if (tk_random(&first) < 0) {
        ERR_clear_error();
        free(k);
        return NULL;
    }
    tk_store(k, 0, &first);
    OPENSSL_cleanse(&first, sizeof(first));
    return k;
}

int tls_ticket_keys_rotate(struct tls_ticket_keys *k)
{
    struct tk cur[2], fresh;
    unsigned s;

    if (tk_random(&fresh) < 0) {
        ERR_clear_error();
        return -1;
    }
    tk_load(k, cur);
    s = atomic_load_explicit(&k->seq, memory_order_relaxed);
    atomic_store_explicit(&k->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    tk_store(k, 1, &cur[0]);
    tk_store(k, 0, &fresh);
    atomic_store_explicit(&k->has_prev, 1, memory_order_relaxed);
    atomic_store_explicit(&k->seq, s + 2, memory_order_release);
    OPENSSL_cleanse(cur, sizeof(cur));
    OPENSSL_cleanse(&fresh, sizeof(fresh));
    return 0;
}

void tls_ticket_keys_ref(struct tls_ticket_keys *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void tls_ticket_keys_unref(struct tls_ticket_keys *k)
{
    if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

/* ---- server contexts ------------------------------------------------------- */

struct tls_server_ctx {
    atomic_uint refs;
    SSL_CTX **ctx;                /* one per store entry; [0] is the default */
    unsigned n_ctx;
    struct tls_cert_store *store;
    struct tls_ticket_keys *keys;
    unsigned char *alpn;          /* wire format */
    size_t alpn_len;
    bool strict_sni;
};

/* "h2,http/1.1" -> "\x02h2\x08http/1.1". */
static int alpn_wire(const char *list, unsigned char **out, size_t *out_len, char *err,
                     size_t errlen)
{
    size_t n = strlen(list), k = 0;
    unsigned char *w;
    const char *p = list;

    if (n == 0 || n > 1024) {
        snprintf(err, errlen, "alpn: bad protocol list '%s'", list);
        return -1;
    }
    w = xcalloc(n + 1);
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > 255) {
            snprintf(err, errlen, "alpn: empty or too long protocol name in '%s'", list);
            free(w);
            return -1;
        }
        w[k++] = (unsigned char)len;
        memcpy(w + k, p, len);
        k += len;
        p += len;
        if (*p == ',')
            p++;
        if (comma && !*p) {
            snprintf(err, errlen, "alpn: trailing ',' in '%s'", list);
            free(w);
            return -1;
        }
    }
    *out = w;
    *out_len = k;
    return 0;
}

static int proto_version(enum tls_version v, int dflt)
{
    switch (v) {
    case TLS_VERSION_12:
        return TLS1_2_VERSION;
    case TLS_VERSION_13:
        return TLS1_3_VERSION;
    default:
        return dflt;
    }
}

/* What every context (server or client) shares: versions, suites, groups,
 * no compression, no renegotiation, buffers released when idle. */
static int ctx_common(SSL_CTX *c, enum tls_version min, enum tls_version max,
                      const char *ciphers, const char *ciphersuites, char *err, size_t errlen)
{
    long opts = SSL_OP_NO_COMPRESSION;

#ifdef SSL_OP_NO_RENEGOTIATION
    opts |= SSL_OP_NO_RENEGOTIATION;
#endif
    SSL_CTX_set_options(c, opts);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One socket read takes whatever records are there (a request: one
     * read instead of a 5-byte header read and a body read); a short read
     * then tells the socket BIO that the socket is drained. BoringSSL
     * accepts the call and always reads record by record. */
    SSL_CTX_set_read_ahead(c, 1);
    if (!SSL_CTX_set_min_proto_version(c, proto_version(min, TLS1_2_VERSION)) ||
        !SSL_CTX_set_max_proto_version(c, proto_version(max, TLS1_3_VERSION))) {
        snprintf(err, errlen, "protocol versions: %s", lib_reason());
        return -1;
    }
    if (proto_version(min, TLS1_2_VERSION) > proto_version(max, TLS1_3_VERSION)) {
        snprintf(err, errlen, "ssl-min-ver is above ssl-max-ver");
        return -1;
    }
    if (!SSL_CTX_set_cipher_list(c, ciphers ? ciphers : TLS_DEFAULT_CIPHERS)) {
        snprintf(err, errlen, "ciphers '%s': %s", ciphers ? ciphers : TLS_DEFAULT_CIPHERS,
                 lib_reason());
        return -1;
    }
#ifndef OPENSSL_IS_BORINGSSL
    if (ciphersuites && !SSL_CTX_set_ciphersuites(c, ciphersuites)) {
        snprintf(err, errlen, "ciphersuites '%s': %s", ciphersuites, lib_reason());
        return -1;
    }
#else
    if (ciphersuites) {
        snprintf(err, errlen, "ciphersuites: not configurable with BoringSSL");
        return -1;
    }
#endif
    if (!SSL_CTX_set1_groups_list(c, TLS_DEFAULT_GROUPS)) {
        snprintf(err, errlen, "groups: %s", lib_reason());
        return -1;
    }
    return 0;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    struct tls_server_ctx *srv = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int e = name ? tls_cert_store_lookup(srv->store, name, strlen(name)) : -1;

    if (e < 0) {
        if (srv->strict_sni) {
            struct transport *t = SSL_get_ex_data(ssl, idx_transport);
            if (t)
                transport_fail(t, TRANSPORT_R_TLS_NO_SNI_MATCH, 0);
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    }
    if (e != 0 && !SSL_set_SSL_CTX(ssl, srv->ctx[e])) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    struct tls_server_ctx *srv = arg;
    unsigned char *sel;

    /* Our order of preference, as HAProxy; no overlap: carry on without ALPN
     * (HAProxy does the same rather than alert). */
    if (SSL_select_next_proto(&sel, outlen, srv->alpn, (unsigned int)srv->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int ocsp_status_cb(SSL *ssl, void *arg)
{
    const struct tls_cert_entry *e = arg;
    unsigned char *copy;

    if (!e || !e->ocsp)
        return SSL_TLSEXT_ERR_NOACK;
    copy = OPENSSL_malloc(e->ocsp_len);
    if (!copy)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, e->ocsp, e->ocsp_len);
    if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)e->ocsp_len)) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *ectx, HMAC_CTX *hctx, int enc)
{
    struct tls_server_ctx *srv = SSL_get_ex_data(ssl, idx_server);
    struct tk keys[2];
    int n, rc = 0;

    if (!srv || !srv->keys)
        return enc ? -1 : 0;
    n = tk_load(srv->keys, keys);
    if (enc) {
        memcpy(name, keys[0].name, TK_NAME);
        if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) == 1 &&
            EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, keys[0].aes, iv) &&
            HMAC_Init_ex(hctx, keys[0].hmac, TK_HMAC, EVP_sha256(), NULL))
            rc = 1;
        else
            rc = -1;
    } else {
        for (int i = 0; i < n; i++) {
            if (memcmp(name, keys[i].name, TK_NAME) != 0)
                continue;
            if (HMAC_Init_ex(hctx, keys[i].hmac, TK_HMAC, EVP_sha256(), NULL) &&
                EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, keys[i].aes, iv))
                /* 2: valid, and issue a new ticket. Always in TLS 1.3,
                 * where a client uses a ticket once (OpenSSL's client
                 * drops it after a resumption). */
                rc = (i == 0 && SSL_version(ssl) != TLS1_3_VERSION) ? 1 : 2;
            else
                rc = -1;
            break;
        }
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc;
}

/* The session id context: a ticket from a listener with other verify
 * settings must not resume here (it would skip our client verification). */
static void sid_ctx_of(const struct tls_server_conf *conf, unsigned char out[32])
{
    char text[4200];
    unsigned int len = 0;

    unsigned char pem_digest[32] = {0};
    unsigned int plen = 0;

    if (conf->ca_pem)
        EVP_Digest(conf->ca_pem, conf->ca_pem_len, pem_digest, &plen, EVP_sha256(), NULL);
    snprintf(text, sizeof(text), "tern|%d|%s|%02x%02x%02x%02x%02x%02x%02x%02x", (int)conf->verify,
             conf->ca_file ? conf->ca_file : "", pem_digest[0], pem_digest[1], pem_digest[2],
             pem_digest[3], pem_digest[4], pem_digest[5], pem_digest[6], pem_digest[7]);
    EVP_Digest(text, strlen(text), out, &len, EVP_sha256(), NULL);
}

static SSL_CTX *server_ctx_for(struct tls_server_ctx *srv, const struct tls_server_conf *conf,
                               unsigned idx, const unsigned char sid[32], char *err, size_t errlen)
{
    const struct tls_cert_entry *e = &srv->store->entries[idx];
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());

    if (!c) {
        snprintf(err, errlen, "SSL_CTX_new: %s", lib_reason());
        return NULL;
    }
    if (ctx_common(c, conf->min_version, conf->max_version, conf->ciphers, conf->ciphersuites,
                   err, errlen) < 0)
        goto fail;
    SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | (srv->keys ? 0 : SSL_OP_NO_TICKET));
    /* Tickets only: no server-side cache, nothing shared between workers. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(c, sid, 32);
    if (srv->keys)
        SSL_CTX_set_tlsext_ticket_key_cb(c, ticket_key_cb);
    if (!e->cert->key) {
        snprintf(err, errlen, "%s: no private key", e->source);
        goto fail;
    }
    if (SSL_CTX_use_certificate(c, e->cert->leaf) != 1 ||
        SSL_CTX_use_PrivateKey(c, e->cert->key) != 1) {
        snprintf(err, errlen, "%s: %s", e->source, lib_reason());
        goto fail;
    }
    for (int i = 0; i < sk_X509_num(e->cert->chain); i++) {
        if (SSL_CTX_add1_chain_cert(c, sk_X509_value(e->cert->chain, i)) != 1) {
            snprintf(err, errlen, "%s: chain: %s", e->source, lib_reason());
            goto fail;
        }
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        snprintf(err, errlen, "%s: private key does not match the certificate", e->source);
        ERR_clear_error();
        goto fail;
    }
    if (conf->verify != TLS_VERIFY_NONE && conf->ca_pem) {
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        if (!names || load_ca_pem(c, conf->ca_pem, conf->ca_pem_len, names, err, errlen) < 0) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(c, names);
        SSL_CTX_set_verify(c,
                           SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE |
                               (conf->verify == TLS_VERIFY_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                                    : 0),
                           NULL);
    } else if (conf->verify != TLS_VERIFY_NONE) {
        STACK_OF(X509_NAME) *names;
        if (!conf->ca_file) {
            snprintf(err, errlen, "verify %s needs a ca-file",
                     conf->verify == TLS_VERIFY_REQUIRED ? "required" : "optional");
            goto fail;
        }
        if (SSL_CTX_load_verify_locations(c, conf->ca_file, NULL) != 1) {
            snprintf(err, errlen, "ca-file %s: %s", conf->ca_file, lib_reason());
            goto fail;
        }
        names = SSL_load_client_CA_file(conf->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(c, names);
        ERR_clear_error();
        SSL_CTX_set_verify(c,
                           SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE |
                               (conf->verify == TLS_VERIFY_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                                    : 0),
                           NULL);
    }
    SSL_CTX_set_tlsext_servername_callback(c, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(c, srv);
    if (srv->alpn)
        SSL_CTX_set_alpn_select_cb(c, alpn_select_cb, srv);
    if (e->ocsp) {
        SSL_CTX_set_tlsext_status_cb(c, ocsp_status_cb);
        SSL_CTX_set_tlsext_status_arg(c, (void *)e);
    }
    SSL_CTX_set_ex_data(c, idx_entry, (void *)(uintptr_t)(idx + 1));
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

static void server_ctx_destroy(struct tls_server_ctx *srv)
{
    for (unsigned i = 0; i < srv->n_ctx; i++)
        SSL_CTX_free(srv->ctx[i]);
    free(srv->ctx);
    tls_cert_store_unref(srv->store);
    tls_ticket_keys_unref(srv->keys);
    free(srv->alpn);
    free(srv);
}

struct tls_server_ctx *tls_server_ctx_new(const struct tls_server_conf *conf,
                                          struct tls_cert_store *store,
                                          struct tls_ticket_keys *keys, char *err,
                                          size_t errlen)
{
    struct tls_server_ctx *srv;
    unsigned char sid[32];

    pthread_once(&idx_once, idx_init);
    if (!store->sealed || store->n_entries == 0) {
        snprintf(err, errlen, "certificate store not sealed or empty");
        return NULL;
    }
    srv = xcalloc(sizeof(*srv));
    atomic_init(&srv->refs, 1);
    tls_cert_store_ref(store);
    srv->store = store;
    if (keys) {
        tls_ticket_keys_ref(keys);
        srv->keys = keys;
    }
    srv->strict_sni = conf->strict_sni;
    if (conf->alpn && alpn_wire(conf->alpn, &srv->alpn, &srv->alpn_len, err, errlen) < 0)
        goto fail;
    sid_ctx_of(conf, sid);
    srv->ctx = xcalloc(sizeof(SSL_CTX *) * store->n_entries);
    for (unsigned i = 0; i < store->n_entries; i++) {
        srv->ctx[i] = server_ctx_for(srv, conf, i, sid, err, errlen);
        if (!srv->ctx[i])
            goto fail;
        srv->n_ctx++;
    }
    return srv;
fail:
    server_ctx_destroy(srv);
    return NULL;
}

void tls_server_ctx_ref(struct tls_server_ctx *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void tls_server_ctx_unref(struct tls_server_ctx *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        server_ctx_destroy(c);
}

/* ---- client contexts ------------------------------------------------------- */

struct tls_client_ctx {
    SSL_CTX *ctx;
    struct tls_cert_store *crt;
    char *verifyhost;
    char *match_uri_san;       /* the URI SAN the server must present, or NULL */
    enum tls_verify verify;
};

/* The leaf has a URI SAN equal to `want`. */
static bool has_uri_san(X509 *cert, const char *want)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t wlen = strlen(want);
    bool found = false;

    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !found; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_URI)
            continue;
        found = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier) == wlen &&
                memcmp(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), want, wlen) == 0;
    }
    GENERAL_NAMES_free(gens);
    return found;
}

/* Verification of a client context with match_uri_san: the chain as usual,
 * then the leaf's URI SAN (a mismatch reads as a host name mismatch). */
static int uri_san_verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl;
    const struct tls_client_ctx *cli;

    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    cli = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), idx_client) : NULL;
    if (!cli || !cli->match_uri_san)
        return ok;
    if (!has_uri_san(X509_STORE_CTX_get_current_cert(x), cli->match_uri_san)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
        return 0;
    }
    return 1;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_session_slot *slot = SSL_get_ex_data(ssl, idx_slot);

    if (!slot)
        return 0;
    if (slot->session)
        SSL_SESSION_free(slot->session);
    slot->session = sess; /* returning 1 keeps the reference we were given */
    return 1;
}

void tls_session_slot_clear(struct tls_session_slot *slot)
{
    if (slot->session)
        SSL_SESSION_free(slot->session);
    slot->session = NULL;
}

void tls_client_ctx_free(struct tls_client_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    tls_cert_store_unref(c->crt);
    free(c->verifyhost);
    free(c->match_uri_san);
    free(c);
}

struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_conf *conf, char *err,
                                          size_t errlen)
{
    struct tls_client_ctx *c = xcalloc(sizeof(*c));
    unsigned char *alpn = NULL;
    size_t alpn_len = 0;

    pthread_once(&idx_once, idx_init);
    c->verify = conf->verify;
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        snprintf(err, errlen, "SSL_CTX_new: %s", lib_reason());
        goto fail;
    }
    if (ctx_common(c->ctx, conf->min_version, conf->max_version, conf->ciphers,
                   conf->ciphersuites, err, errlen) < 0)
        goto fail;
    if (conf->verify == TLS_VERIFY_OPTIONAL) {
        snprintf(err, errlen, "verify: a server is verified (required) or not (none)");
        goto fail;
    }
    if (conf->match_uri_san && conf->verify != TLS_VERIFY_REQUIRED) {
        snprintf(err, errlen, "a URI SAN to match needs verify required");
        goto fail;
    }
    if (conf->verify == TLS_VERIFY_REQUIRED && conf->ca_pem) {
        if (load_ca_pem(c->ctx, conf->ca_pem, conf->ca_pem_len, NULL, err, errlen) < 0)
            goto fail;
        if (conf->match_uri_san) {
            c->match_uri_san = strdup(conf->match_uri_san);
            if (!c->match_uri_san) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            SSL_CTX_set_ex_data(c->ctx, idx_client, c);
            SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, uri_san_verify_cb);
        } else {
            SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        }
    } else if (conf->verify == TLS_VERIFY_REQUIRED) {
        if (!conf->ca_file) {
            snprintf(err, errlen, "verify required needs a ca-file");
            goto fail;
        }
        if (conf->match_uri_san) {
            c->match_uri_san = strdup(conf->match_uri_san);
            SSL_CTX_set_ex_data(c->ctx, idx_client, c);
        }
        if (SSL_CTX_load_verify_locations(c->ctx, conf->ca_file, NULL) != 1) {
            snprintf(err, errlen, "ca-file %s: %s", conf->ca_file, lib_reason());
            goto fail;
        }
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER,
                           c->match_uri_san ? uri_san_verify_cb : NULL);
    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    }
    if (conf->crt) {
        const struct tls_cert_entry *e;
        if (!conf->crt->sealed || conf->crt->n_entries == 0 ||
            !conf->crt->entries[0].cert->key) {
            snprintf(err, errlen, "crt: no client certificate with a key");
            goto fail;
        }
        e = &conf->crt->entries[0];
        if (SSL_CTX_use_certificate(c->ctx, e->cert->leaf) != 1 ||
            SSL_CTX_use_PrivateKey(c->ctx, e->cert->key) != 1) {
            snprintf(err, errlen, "crt %s: %s", e->source, lib_reason());
            goto fail;
        }
        for (int i = 0; i < sk_X509_num(e->cert->chain); i++)
            if (SSL_CTX_add1_chain_cert(c->ctx, sk_X509_value(e->cert->chain, i)) != 1) {
                snprintf(err, errlen, "crt %s: chain: %s", e->source, lib_reason());
                goto fail;
            }
        tls_cert_store_ref(conf->crt);
        c->crt = conf->crt;
    }
    if (conf->alpn) {
        if (alpn_wire(conf->alpn, &alpn, &alpn_len, err, errlen) < 0)
            goto fail;
        /* Returns 0 on success (sic). */
        if (SSL_CTX_set_alpn_protos(c->ctx, alpn, (unsigned int)alpn_len) != 0) {
            snprintf(err, errlen, "alpn: %s", lib_reason());
            free(alpn);
            goto fail;
        }
        free(alpn);
    }
    if (conf->verifyhost)
        c->verifyhost = strdup(conf->verifyhost);
    /* Sessions go to the connection's slot, never into a shared cache. */
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ctx, new_session_cb);
    return c;
fail:
    tls_client_ctx_free(c);
    return NULL;
}

/* ---- the TLS transport ------------------------------------------------------ */

/*
 * The thread's error queue. SSL_get_error() reads it, so a stale entry would
 * turn the next WANT_READ into a fatal error. This file is the only libcrypto
 * user on a worker thread, and every path in it leaves the queue empty: each
 * failure is classified and then cleared (ssl_io_error), a handshake step
 * starts from an empty queue and clears what callbacks may have left once it
 * completes. So reads and writes on an established connection do not clear
 * the queue first: ERR_clear_error() costs ~800 instructions in OpenSSL 3.0,
 * and there are two per proxied request (HAProxy does not clear either).
 */

/*
 * The socket BIO: the library's reads and writes of the socket, done here
 * instead of by BIO_s_socket, through transport_sock_read / _send (the
 * plain transport's own I/O), so that they follow the readiness rules of
 * transport.h:
 *  - a read is made only while the connection's events say the socket is
 *    readable (READABLE or RDHUP in t->ready); otherwise it says "retry"
 *    without a syscall;
 *  - a short read (with read-ahead the library asks for all the room in its
 *    buffer) or EAGAIN clears READABLE: the socket is drained and the next
 *    bytes raise a new edge. Unless the peer's FIN is queued (RDHUP): then
 *    the next read must see it;
 *  - a short write or EAGAIN clears WRITABLE; writes use MSG_NOSIGNAL.
 * On the keep-alive path this turns "read 5, read 58, read -> EAGAIN" into
 * one read per request, and lets tls_read stop without a last SSL_read that
 * would only say WANT_READ. The BIO's data is the struct transport (moved
 * with it, see tls_moved); it owns nothing.
 */
static int sock_bio_read(BIO *b, char *dst, int len)
{
    struct transport *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (!(t->ready & (TRANSPORT_READABLE | TRANSPORT_RDHUP))) {
        BIO_set_retry_read(b);
        return -1;
    }
    n = transport_sock_read(t, dst, (size_t)len);
    if (n > 0)
        return (int)n;
    if (n == 0) {
        t->sock_eof = 1;
        return 0;
    }
    if (errno == EAGAIN)
        BIO_set_retry_read(b);
    return -1;
}

static int sock_bio_write(BIO *b, const char *src, int len)
{
    struct transport *t = BIO_get_data(b);
    struct iovec iov = {(void *)src, (size_t)len};
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    n = transport_sock_send(t, &iov, 1, 0);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN)
        BIO_set_retry_write(b);
    return -1;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct transport *t = BIO_get_data(b);

    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF:
        return t && t->sock_eof;
    case BIO_C_GET_FD:
        if (!t)
            return -1;
        if (ptr)
            *(int *)ptr = t->fd;
        return t->fd;
    default:
        return 0;
    }
}

static BIO_METHOD *sock_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "tern transport");

    if (!m)
        return NULL;
    if (!BIO_meth_set_read(m, sock_bio_read) || !BIO_meth_set_write(m, sock_bio_write) ||
        !BIO_meth_set_ctrl(m, sock_bio_ctrl)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

static enum transport_reason verify_reason(long vr)
{
    switch (vr) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return TRANSPORT_R_TLS_CERT_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return TRANSPORT_R_TLS_UNKNOWN_CA;
    default:
        return TRANSPORT_R_TLS_BAD_CERT;
    }
}

/* Maps the library's error (queue + verify result) to a reason. */
static enum transport_reason ssl_reason(SSL *ssl)
{
    unsigned long e = ERR_peek_last_error();
    int r = ERR_GET_REASON(e);

    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return TRANSPORT_R_TLS_INTERNAL;
    switch (r) {
    case SSL_R_NO_SHARED_CIPHER:
        return TRANSPORT_R_TLS_NO_SHARED_CIPHER;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
#ifdef SSL_R_VERSION_TOO_LOW
    case SSL_R_VERSION_TOO_LOW:
#endif
        return TRANSPORT_R_TLS_VERSION;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
#ifdef SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
#endif
        return TRANSPORT_R_TLS_NO_CERT;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return verify_reason(SSL_get_verify_result(ssl));
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        return TRANSPORT_R_TLS_UNKNOWN_CA;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        return TRANSPORT_R_TLS_CERT_EXPIRED;
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        return TRANSPORT_R_TLS_BAD_CERT;
    default:
        if (r >= SSL_AD_REASON_OFFSET)
            return TRANSPORT_R_TLS_ALERT;
        return TRANSPORT_R_TLS_PROTOCOL;
    }
}

static bool is_unexpected_eof(void)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_SSL &&
           ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
    return false;
#endif
}

enum io_result { IO_AGAIN, IO_EOF, IO_ERROR };

/* Records the library holds (read ahead, or a record the caller's buffer
 * could not take) raise no socket edge: keep the transport readable while
 * there are any. For the end of an operation that did not stop on
 * WANT_READ (then what is held is a partial record that needs the socket). */
static void keep_readable_if_pending(struct transport *t)
{
    if (SSL_has_pending(t->ssl))
        t->ready |= TRANSPORT_READABLE;
}

static void note_handshake(struct transport *t)
{
    if (!t->handshaken && SSL_is_init_finished((SSL *)t->ssl)) {
        t->handshaken = 1;
        ERR_clear_error(); /* whatever a callback left: see above */
        keep_readable_if_pending(t);
    }
}

/*
 * Classifies a failed SSL call. `wants` is the field of t that records what
 * the operation waits for. EOF without close_notify after the handshake is
 * an (unclean) end; before it, an error.
 */
static enum io_result ssl_io_error(struct transport *t, int ret, uint8_t *wants)
{
    SSL *ssl = t->ssl;
    int sys = errno;
    int err = SSL_get_error(ssl, ret);

    note_handshake(t);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        t->ready &= (uint8_t)~TRANSPORT_READABLE;
        *wants = TRANSPORT_READABLE;
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->ready &= (uint8_t)~TRANSPORT_WRITABLE;
        *wants = TRANSPORT_WRITABLE;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (ret == 0 || sys == 0))
            goto eof;
        ERR_clear_error();
        transport_fail(t, (sys == ECONNRESET || sys == EPIPE) ? TRANSPORT_R_RESET
                                                              : TRANSPORT_R_SYSCALL,
                       sys);
        return IO_ERROR;
    case SSL_ERROR_SSL:
        if (is_unexpected_eof())
            goto eof;
        transport_fail(t, ssl_reason(ssl), 0);
        ERR_clear_error();
        return IO_ERROR;
    default:
        transport_fail(t, TRANSPORT_R_TLS_INTERNAL, 0);
        ERR_clear_error();
        return IO_ERROR;
    }
eof:
    ERR_clear_error();
    /* t->handshaken, not SSL_is_init_finished: a fatal error puts the
     * library's state machine back "in init". */
    if (!t->handshaken) {
        transport_fail(t, TRANSPORT_R_EOF_IN_HANDSHAKE, 0);
        return IO_ERROR;
    }
    t->unclean_eof = 1;
    t->failed = 1; /* no close_notify on a stream the peer cut */
    return IO_EOF;
}

static int tls_handshake(struct transport *t)
{
    int n;

    if (t->handshaken)
        return 1;
    if (t->failed)
        return TRANSPORT_ERROR;
    ERR_clear_error();
    n = SSL_do_handshake(t->ssl);
    if (n == 1) {
        ERR_clear_error();
        t->handshaken = 1;
        t->rd_wants = TRANSPORT_READABLE;
        t->wr_wants = TRANSPORT_WRITABLE;
        /* a TLS 1.3 client's first request often comes with its Finished */
        keep_readable_if_pending(t);
        return 1;
    }
    switch (ssl_io_error(t, n, &t->rd_wants)) {
    case IO_AGAIN:
        return TRANSPORT_AGAIN;
    case IO_EOF:
        transport_fail(t, TRANSPORT_R_EOF_IN_HANDSHAKE, 0);
        return TRANSPORT_ERROR;
    default:
        return TRANSPORT_ERROR;
    }
}

static ssize_t tls_read(struct transport *t, void *dst, size_t len)
{
    size_t got = 0;
    enum io_result r = IO_AGAIN;

    if (t->failed && !t->eof) {
        t->rd_pending = 0;
        return TRANSPORT_ERROR;
    }
    if (t->eof) {
        t->rd_pending = 0;
        return 0;
    }
    /* Fill the buffer with as many records as are there: a short result
     * then means the socket is drained, as a plain short read does. */
    while (got < len) {
        size_t want = len - got;
        int n = SSL_read(t->ssl, (char *)dst + got, want > INT_MAX ? INT_MAX : (int)want);
        if (n > 0) {
            got += (size_t)n;
            /* The socket BIO saw the socket drained and the library holds
             * nothing more: another SSL_read would only say WANT_READ. */
            if (!(t->ready & (TRANSPORT_READABLE | TRANSPORT_RDHUP)) &&
                !SSL_has_pending(t->ssl)) {
                t->rd_wants = TRANSPORT_READABLE;
                break;
            }
            continue;
        }
        r = ssl_io_error(t, n, &t->rd_wants);
        break;
    }
    note_handshake(t);
    if (got == len) {
        t->rd_wants = TRANSPORT_READABLE;
        keep_readable_if_pending(t);
        return (ssize_t)got;
    }
    if (r == IO_EOF)
        t->eof = 1;
    if (got > 0) {
        if (r != IO_AGAIN)
            t->rd_pending = 1; /* reported by the next call */
        return (ssize_t)got;
    }
    if (r == IO_AGAIN)
        return TRANSPORT_AGAIN;
    return r == IO_EOF ? 0 : TRANSPORT_ERROR;
}

#define TLS_RECORD 16384

static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    char chunk[TLS_RECORD];
    size_t done = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */

    if (t->failed || t->shut)
        return t->failed ? TRANSPORT_ERROR : transport_fail(t, TRANSPORT_R_TLS_INTERNAL, 0);
    while (i < iovcnt) {
        const char *p;
        size_t n;
        int w;

        if (iov[i].iov_len - off >= TLS_RECORD || i == iovcnt - 1) {
            /* Large enough (or the last piece): straight from the caller. */
            p = (const char *)iov[i].iov_base + off;
            n = iov[i].iov_len - off;
            if (n > INT_MAX)
                n = INT_MAX;
        } else {
            /* Small pieces (a head, a chunk-size line) go out in one record
             * rather than one record each. */
            int j = i;
            size_t o = off;
            n = 0;
            while (j < iovcnt && n < TLS_RECORD) {
                size_t take = iov[j].iov_len - o;
                if (take > TLS_RECORD - n)
                    take = TLS_RECORD - n;
                memcpy(chunk + n, (const char *)iov[j].iov_base + o, take);
                n += take;
                o += take;
                if (o == iov[j].iov_len) {
                    j++;
                    o = 0;
                }
            }
            p = chunk;
        }
        if (n == 0) {
            i++;
            off = 0;
            continue;
        }
        w = SSL_write(t->ssl, p, (int)n);
        if (w <= 0) {
            enum io_result r = ssl_io_error(t, w, &t->wr_wants);
            note_handshake(t);
            if (done > 0)
                return (ssize_t)done;
            if (r == IO_AGAIN)
                return TRANSPORT_AGAIN;
            if (r == IO_EOF)
                return transport_fail(t, TRANSPORT_R_RESET, 0);
            return TRANSPORT_ERROR;
        }
        note_handshake(t);
        t->wr_wants = TRANSPORT_WRITABLE;
        done += (size_t)w;
        /* advance (i, off) by w bytes */
        size_t adv = (size_t)w;
        while (adv > 0 && i < iovcnt) {
            size_t left = iov[i].iov_len - off;
            if (adv < left) {
                off += adv;
                adv = 0;
            } else {
                adv -= left;
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)done;
}

static int tls_shutdown(struct transport *t)
{
    int n;

    if (t->shut)
        return 0;
    if (!t->failed && SSL_is_init_finished((SSL *)t->ssl)) {
        ERR_clear_error();
        n = SSL_shutdown(t->ssl); /* 0: close_notify sent; 1: both sent */
        if (n < 0) {
            enum io_result r = ssl_io_error(t, n, &t->wr_wants);
            if (r == IO_AGAIN)
                return TRANSPORT_AGAIN;
            /* The peer is gone: nothing more to say, send the FIN. */
        }
    }
    t->shut = 1;
    if (shutdown(t->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return transport_fail(t, TRANSPORT_R_SYSCALL, errno);
    return 0;
}

static void tls_release(struct transport *t)
{
    SSL *ssl = t->ssl;
    struct tls_server_ctx *srv;

    if (!ssl)
        return;
    srv = SSL_get_ex_data(ssl, idx_server);
    if (t->failed || !t->shut)
        SSL_set_quiet_shutdown(ssl, 1);
    SSL_free(ssl);
    t->ssl = NULL;
    tls_server_ctx_unref(srv);
}

/* The SSL's back pointer follows the struct (servername_cb reads it). */
static void tls_moved(struct transport *t)
{
    if (t->ssl) {
        SSL_set_ex_data(t->ssl, idx_transport, t);
        BIO_set_data(SSL_get_rbio(t->ssl), t);
    }
}

static const struct transport_ops tls_ops = {
    .name = "tls",
    .moved = tls_moved,
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .release = tls_release,
};

static SSL *transport_ssl_new(struct transport *t, int fd, SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);
    BIO *bio = sock_method ? BIO_new(sock_method) : NULL;

    *t = (struct transport){
        .ops = &tls_ops,
        .fd = fd,
        .rd_wants = TRANSPORT_READABLE,
        .wr_wants = TRANSPORT_WRITABLE,
    };
    if (!ssl || !bio) {
        BIO_free(bio);
        SSL_free(ssl);
        ERR_clear_error();
        t->ops = NULL;
        return NULL;
    }
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio); /* one reference, used both ways */
    SSL_set_ex_data(ssl, idx_transport, t);
    t->ssl = ssl;
    return ssl;
}

int tls_transport_init_server(struct transport *t, int fd, struct tls_server_ctx *srv)
{
    SSL *ssl = transport_ssl_new(t, fd, srv->ctx[0]);

    if (!ssl)
        return -1;
    tls_server_ctx_ref(srv);
    SSL_set_ex_data(ssl, idx_server, srv);
    SSL_set_accept_state(ssl);
    return 0;
}

int tls_transport_init_client(struct transport *t, int fd, struct tls_client_ctx *cli,
                              const char *sni, struct tls_session_slot *slot)
{
    SSL *ssl = transport_ssl_new(t, fd, cli->ctx);
    /* a URI SAN to match replaces the host name check */
    const char *check = cli->match_uri_san ? NULL : sni ? sni : cli->verifyhost;

    if (!ssl)
        return -1;
    if (sni && !SSL_set_tlsext_host_name(ssl, sni))
        goto fail;
    if (cli->verify == TLS_VERIFY_REQUIRED && check) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!X509_VERIFY_PARAM_set1_host(param, check, 0))
            goto fail;
    }
    if (slot) {
        SSL_set_ex_data(ssl, idx_slot, slot);
        if (slot->session && SSL_SESSION_is_resumable(slot->session))
            SSL_set_session(ssl, slot->session);
    }
    SSL_set_connect_state(ssl);
    t->rd_wants = TRANSPORT_WRITABLE; /* the client speaks first */
    return 0;
fail:
    ERR_clear_error();
    SSL_free(ssl);
    t->ssl = NULL;
    t->ops = NULL;
    return -1;
}

bool tls_transport_alpn(const struct transport *t, const char **proto, size_t *len)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;

    if (!t->ssl)
        return false;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (!p || n == 0)
        return false;
    *proto = (const char *)p;
    *len = n;
    return true;
}

const char *tls_transport_sni(const struct transport *t)
{
    return t->ssl ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const char *tls_transport_version(const struct transport *t)
{
    return t->ssl ? SSL_get_version(t->ssl) : NULL;
}

const char *tls_transport_cipher(const struct transport *t)
{
    return t->ssl ? SSL_get_cipher_name((SSL *)t->ssl) : NULL;
}

bool tls_transport_resumed(const struct transport *t)
{
    return t->ssl && SSL_session_reused(t->ssl);
}

int tls_transport_cert_index(const struct transport *t)
{
    uintptr_t v;

    if (!t->ssl)
        return -1;
    v = (uintptr_t)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(t->ssl), idx_entry);
    return v ? (int)(v - 1) : -1;
}

/* ---- identity --------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

/* Appends s (n bytes) and a NUL; returns its offset. */
static size_t sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    size_t at = b->len;

    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256);
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "tern: out of memory\n");
            abort();
        }
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->p[b->len + n] = '\0';
    b->len += n + 1;
    return at;
}

static bool printable(const unsigned char *s, size_t n, bool spaces)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || (s[i] == ' ' && !spaces))
            return false;
    return true;
}

static int identity_fill(X509 *x, struct tls_peer_identity *id)
{
    struct sbuf b = {0};
    size_t subj_off = SIZE_MAX, uri_off = SIZE_MAX, dns_off[TLS_PEER_MAX_DNS];
    unsigned n_uri = 0;
    bool spiffe_seen = false;
    GENERAL_NAMES *gens;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    BIO *bio;

    id->cert_present = true;
    id->spiffe_status = TLS_SPIFFE_NONE;

    bio = BIO_new(BIO_s_mem());
    if (!bio)
        return -1;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && printable((const unsigned char *)data, (size_t)n, true))
            subj_off = sbuf_add(&b, data, (size_t)n);
    }
    BIO_free(bio);

    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const unsigned char *s;
        size_t n;

        if (g->type == GEN_URI) {
            s = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
            n = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
            n_uri++;
            if (n >= 7 && strncasecmp((const char *)s, "spiffe:", 7) == 0)
                spiffe_seen = true;
            if (!printable(s, n, false)) {
                id->n_dropped++;
                continue;
            }
            if (n_uri == 1)
                uri_off = sbuf_add(&b, (const char *)s, n);
        } else if (g->type == GEN_DNS) {
            s = ASN1_STRING_get0_data(g->d.dNSName);
            n = (size_t)ASN1_STRING_length(g->d.dNSName);
            if (!printable(s, n, false)) {
                id->n_dropped++;
                continue;
            }
            if (id->n_dns == TLS_PEER_MAX_DNS) {
                id->dns_truncated = true;
                continue;
            }
            dns_off[id->n_dns++] = sbuf_add(&b, (const char *)s, n);
        }
    }
    GENERAL_NAMES_free(gens);

    if (n_uri > 1) {
        uri_off = SIZE_MAX; /* "the" URI SAN is ambiguous */
        if (spiffe_seen)
            id->spiffe_status = TLS_SPIFFE_MULTIPLE_URI;
    } else if (n_uri == 1 && spiffe_seen) {
        size_t td;
        if (uri_off != SIZE_MAX &&
            tls_spiffe_id_check(b.p + uri_off, strlen(b.p + uri_off), &td)) {
            id->spiffe_status = TLS_SPIFFE_OK;
            id->spiffe_td_len = td;
        } else {
            id->spiffe_status = TLS_SPIFFE_INVALID;
        }
    }

    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
        for (unsigned i = 0; i < mdlen && i < 32; i++)
            snprintf(id->hash + 2 * i, 3, "%02x", md[i]);
    }
    ERR_clear_error();

    /* Pointers last: the block may have moved while it grew. */
    id->storage = b.p;
    if (subj_off != SIZE_MAX)
        id->subject = b.p + subj_off;
    if (uri_off != SIZE_MAX)
        id->uri = b.p + uri_off;
    if (id->spiffe_status == TLS_SPIFFE_OK)
        id->spiffe_id = id->uri;
    for (unsigned i = 0; i < id->n_dns; i++)
        id->dns[i] = b.p + dns_off[i];
    return 0;
}

int tls_cert_identity(const struct tls_cert *c, struct tls_peer_identity *id)
{
    memset(id, 0, sizeof(*id));
    return identity_fill(c->leaf, id);
}

int tls_transport_own_identity(const struct transport *t, struct tls_peer_identity *id)
{
    X509 *own;

    memset(id, 0, sizeof(*id));
    if (!t->ssl)
        return 0;
    own = SSL_get_certificate(t->ssl); /* not a reference: the SSL's */
    return own ? identity_fill(own, id) : 0;
}

int tls_transport_peer_identity(const struct transport *t, struct tls_peer_identity *id)
{
    X509 *peer;
    int rc = 0;

    memset(id, 0, sizeof(*id));
    if (!t->ssl)
        return 0;
    peer = SSL_get_peer_certificate(t->ssl); /* a reference */
    if (!peer)
        return 0;
    rc = identity_fill(peer, id);
    id->verify_result = SSL_get_verify_result(t->ssl);
    id->verified = id->verify_result == X509_V_OK;
    X509_free(peer);
    return rc;
}
