/*
 * cert_store.h: the certificates a TLS listener (or a TLS client) presents,
 * behind one interface that a file loader and, later, SDS both feed.
 *
 * A store is built in two steps on the main thread: entries are added (from
 * PEM files or directories as HAProxy's `crt` loads them, or from PEM bytes
 * an SDS secret carries), then tls_cert_store_seal() builds the SNI index.
 * From then on the store is IMMUTABLE and refcounted: workers read it without
 * locks, and certificate rotation builds a whole new store (then a new
 * tls_server_ctx from it, see tls.h) that replaces the old one the way host
 * sets are replaced (posted to each worker, which swaps its pointer and drops
 * its reference). Handshakes in flight keep the old one alive.
 *
 * HAProxy's conventions for `crt <file|dir>`:
 *   - a file holds the certificate, its chain and (usually) the private key,
 *     in any order; when it has no key, "<file>.key" is read;
 *   - "<file>.ocsp" (DER OCSP response), when present, is stapled;
 *   - a directory loads every file in it in name order, except names ending
 *     in .key, .ocsp, .issuer, .sctl and hidden files;
 *   - the first certificate loaded is the default (no SNI, or no match).
 * A certificate is indexed under its DNS SANs and its subject CN, lowercased;
 * "*.example.com" is a wildcard matching exactly one label. An exact name
 * wins over a wildcard; for a name two certificates claim, the first loaded
 * wins.
 *
 * A certificate is rejected (the whole build fails, nothing changes) when the
 * PEM is bad, the key does not match, or it is expired or not yet valid
 * (unless TLS_STORE_ALLOW_EXPIRED).
 */
#ifndef TERN_TLS_CERT_STORE_H
#define TERN_TLS_CERT_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Library material for one certificate: leaf, chain, private key. Opaque;
 * defined by the library backend (tls_openssl.c). */
struct tls_cert;

#define TLS_STORE_ALLOW_EXPIRED 0x1 /* load expired / not-yet-valid certs */
#define TLS_STORE_NO_KEY_OK     0x2 /* a certificate without a key (CA bundles) */

#define TLS_CERT_FILE_MAX (1u << 20) /* bytes read from one PEM/.key/.ocsp file */

struct tls_cert_entry {
    char *source;          /* file path, or the SDS secret name (owned) */
    struct tls_cert *cert; /* owned */
    uint8_t *ocsp;         /* DER OCSP response to staple, or NULL (owned) */
    size_t ocsp_len;
    int64_t not_before;    /* unix seconds */
    int64_t not_after;     /* unix seconds: the expiry metric */
    char **names;          /* lowercased DNS SANs then CN (owned) */
    unsigned n_names;
};

struct tls_sni_slot {
    const char *name; /* exact name, or a wildcard's suffix after "*." */
    unsigned entry;
};

struct tls_cert_store {
    atomic_uint refs;
    bool sealed;
    unsigned flags;
    struct tls_cert_entry *entries; /* [0] is the default */
    unsigned n_entries;
    struct tls_sni_slot *exact;     /* sorted by name */
    unsigned n_exact;
    struct tls_sni_slot *wild;      /* sorted by suffix */
    unsigned n_wild;
};

/* A new empty store (one reference). `flags`: TLS_STORE_*. Never NULL. */
struct tls_cert_store *tls_cert_store_new(unsigned flags);

/*
 * Adds `path`: a PEM file, or a directory of them (see above). Before
 * seal only. Returns 0, or -1 with a message in err ("<path>: <why>").
 */
int tls_cert_store_add_path(struct tls_cert_store *s, const char *path, char *err, size_t errlen);

/*
 * Adds one certificate from memory (SDS): `pem` holds the chain and maybe
 * the key; `key_pem` (may be NULL) the key; `ocsp` (may be NULL) a DER OCSP
 * response. `source` names it in messages. Copies everything. Returns 0 or
 * -1 with a message in err.
 */
int tls_cert_store_add_pem(struct tls_cert_store *s, const char *source, const char *pem,
                           size_t pem_len, const char *key_pem, size_t key_len,
                           const uint8_t *ocsp, size_t ocsp_len, char *err, size_t errlen);

/* Builds the SNI index; the store is immutable afterwards. Fails (-1, err)
 * when it holds no certificate. */
int tls_cert_store_seal(struct tls_cert_store *s, char *err, size_t errlen);

/*
 * The entry serving `name` (a host name as sent in SNI, any case, `len`
 * bytes): exact match, else wildcard, else -1 (the caller picks the default
 * entry 0, or refuses with strict-sni). Sealed stores only; any thread.
 */
int tls_cert_store_lookup(const struct tls_cert_store *s, const char *name, size_t len);

/* The earliest not_after of all entries (for "expires soon" alerts). */
int64_t tls_cert_store_min_not_after(const struct tls_cert_store *s);

void tls_cert_store_ref(struct tls_cert_store *s);
/* Drops a reference; frees the store with the last one. NULL is a no-op. */
void tls_cert_store_unref(struct tls_cert_store *s);

/* ---- backend: implemented by tls_openssl.c, used by cert_store.c ---------- */

/*
 * Parses PEM text: the first certificate is the leaf, the others its chain;
 * the key comes from `pem` or, when it has none, from `key_pem`. Checks that
 * the key matches the certificate. `need_key`: a missing key is an error.
 * Returns the material or NULL with a message in err.
 */
struct tls_cert *tls_cert_parse(const char *pem, size_t pem_len, const char *key_pem,
                                size_t key_len, bool need_key, char *err, size_t errlen);
void tls_cert_free(struct tls_cert *c);
/* Validity period as unix seconds. */
void tls_cert_validity(const struct tls_cert *c, int64_t *not_before, int64_t *not_after);
/* Calls fn for each DNS SAN, then for the subject CN; stops when fn returns
 * nonzero and returns that. Names are raw (not lowercased, not checked). */
int tls_cert_foreach_name(const struct tls_cert *c,
                          int (*fn)(void *arg, const char *name, size_t len), void *arg);
/* True when the PEM text holds a private key block. */
bool tls_pem_has_key(const char *pem, size_t len);

#endif /* TERN_TLS_CERT_STORE_H */
