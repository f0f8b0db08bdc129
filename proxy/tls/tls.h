/*
 * tls.h: TLS contexts (server and client) and the TLS transport.
 *
 * Everything here is implemented in tls_openssl.c, the only file that calls
 * libssl/libcrypto; it keeps to the API subset BoringSSL also offers.
 *
 * Server side. A `struct tls_server_ctx` is built on the main thread from a
 * sealed certificate store (cert_store.h), a `struct tls_server_conf` (what
 * a `bind ... ssl` line says) and, optionally, a ticket key ring; it is then
 * immutable and refcounted, shared by all workers. Certificate rotation
 * builds a new one from the new store and swaps it per worker (as host sets
 * are); a TLS transport holds a reference to the ctx it started with, so
 * handshakes in progress and established connections are untouched.
 *
 * Secure defaults (see README.md): TLS 1.2 and 1.3 only; for TLS 1.2 only
 * ECDHE with AES-GCM or CHACHA20-POLY1305; no compression; no
 * renegotiation; session tickets only (no server-side session cache) with
 * keys from a ring the caller rotates; the server's cipher preference.
 *
 * Client side. A `struct tls_client_ctx` for one `server ... ssl` line; each
 * connection names its SNI and may resume the session kept in a
 * `struct tls_session_slot` (one per upstream pool key, per worker).
 *
 * Threads: contexts are built and freed on the main thread, used by any
 * worker; tls_ticket_keys_rotate() may run on the main thread while workers
 * handshake (the key ring is a seqlock, no mutex). A transport and a session
 * slot belong to one worker.
 */
#ifndef TERN_TLS_TLS_H
#define TERN_TLS_TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/tls/cert_store.h"
#include "proxy/tls/identity.h"
#include "proxy/tls/transport.h"

enum tls_verify {
    TLS_VERIFY_NONE = 0,
    TLS_VERIFY_OPTIONAL, /* ask for a certificate; if one is sent it must verify */
    TLS_VERIFY_REQUIRED,
};

enum tls_version {
    TLS_VERSION_DEFAULT = 0,
    TLS_VERSION_12,
    TLS_VERSION_13,
};

/* Default TLS 1.2 suites: forward-secret AEAD only. */
#define TLS_DEFAULT_CIPHERS                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                       \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                       \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_GROUPS "X25519:P-256:P-384"

/* ---- session ticket keys --------------------------------------------------- */

/*
 * A ring of two ticket keys: `current` encrypts new tickets, `previous` still
 * decrypts (and a ticket under it is renewed). The caller rotates on a timer
 * (e.g. every hour: a ticket lives at most two periods). Refcounted; it
 * outlives a certificate rotation, so tickets survive it.
 */
struct tls_ticket_keys;

/* A ring with a fresh random current key and no previous one. NULL if the
 * random generator fails. */
struct tls_ticket_keys *tls_ticket_keys_new(void);
/* current -> previous, a new random current. Returns 0, -1 if the random
 * generator fails (nothing changes). Any thread. */
int tls_ticket_keys_rotate(struct tls_ticket_keys *k);
void tls_ticket_keys_ref(struct tls_ticket_keys *k);
void tls_ticket_keys_unref(struct tls_ticket_keys *k);

/* ---- server ------------------------------------------------------------- */

struct tls_server_conf {
    const char *alpn;          /* "h2,http/1.1" (bind's alpn), or NULL */
    enum tls_verify verify;    /* client certificates */
    const char *ca_file;       /* required with verify optional|required (or ca_pem) */
    const char *ca_pem;        /* trust anchors as PEM bytes (an SDS validation context),
                                * instead of ca_file; copied */
    size_t ca_pem_len;
    enum tls_version min_version; /* ssl-min-ver; default TLS 1.2 */
    enum tls_version max_version; /* ssl-max-ver; default TLS 1.3 */
    const char *ciphers;       /* TLS 1.2 list, NULL: TLS_DEFAULT_CIPHERS */
    const char *ciphersuites;  /* TLS 1.3 list, NULL: the library's (all AEAD) */
    bool strict_sni;           /* no certificate for the SNI: refuse */
};

struct tls_server_ctx;

/*
 * Builds the contexts for `store` (sealed; a reference is taken) with
 * `conf` (copied) and `keys` (a reference is taken; NULL: no tickets).
 * Returns the context (one reference) or NULL with a message in err.
 * Main thread.
 */
struct tls_server_ctx *tls_server_ctx_new(const struct tls_server_conf *conf,
                                          struct tls_cert_store *store,
                                          struct tls_ticket_keys *keys, char *err,
                                          size_t errlen);
void tls_server_ctx_ref(struct tls_server_ctx *c);
void tls_server_ctx_unref(struct tls_server_ctx *c);

/*
 * Sets up `t` as the server side of a TLS connection on `fd` (borrowed).
 * Takes a reference on `srv` until transport_release(). Returns 0, or -1
 * (out of memory in the library) with t left released.
 */
int tls_transport_init_server(struct transport *t, int fd, struct tls_server_ctx *srv);

/* ---- client ------------------------------------------------------------- */

struct tls_client_conf {
    enum tls_verify verify;    /* none or required (HAProxy's server verify) */
    const char *ca_file;       /* required with verify required (or ca_pem) */
    const char *ca_pem;        /* trust anchors as PEM bytes (SDS), instead of ca_file */
    size_t ca_pem_len;
    /* The server must present this URI SAN (e.g. a SPIFFE ID), exactly; when
     * set it replaces the host name check of the SNI / verifyhost. */
    const char *match_uri_san;
    struct tls_cert_store *crt; /* client certificate (entry 0), or NULL */
    const char *alpn;          /* "h2,http/1.1", or NULL */
    const char *verifyhost;    /* name checked when no SNI is sent */
    enum tls_version min_version;
    enum tls_version max_version;
    const char *ciphers;
    const char *ciphersuites;
};

struct tls_client_ctx;

/* Builds the context (conf copied; a reference on conf->crt is taken).
 * Returns it or NULL with a message in err. Main thread. */
struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_conf *conf, char *err,
                                          size_t errlen);
void tls_client_ctx_free(struct tls_client_ctx *c);

/* The session to resume for one pool key (owned; worker-local). Zero it to
 * start; clear it before freeing its memory. */
struct tls_session_slot {
    void *session; /* the library's session object */
};
void tls_session_slot_clear(struct tls_session_slot *slot);

/*
 * Sets up `t` as the client side of a TLS connection on `fd` (borrowed).
 * `sni` (may be NULL) is sent and, with verify required, is the name the
 * server certificate must match (else conf->verifyhost, as HAProxy does).
 * `slot` (may be NULL; must outlive the transport) is resumed from and
 * receives the new session. `cli` must outlive the transport. Returns 0 or -1.
 */
int tls_transport_init_client(struct transport *t, int fd, struct tls_client_ctx *cli,
                              const char *sni, struct tls_session_slot *slot);

/* ---- after the handshake ------------------------------------------------ */

/* The negotiated ALPN protocol (not NUL-terminated) or false when none. */
bool tls_transport_alpn(const struct transport *t, const char **proto, size_t *len);
/* The SNI the client sent (server side) or NULL. */
const char *tls_transport_sni(const struct transport *t);
/* "TLSv1.3", cipher name ("TLS_AES_128_GCM_SHA256"). */
const char *tls_transport_version(const struct transport *t);
const char *tls_transport_cipher(const struct transport *t);
bool tls_transport_resumed(const struct transport *t);
/* Which certificate of the store the server presented (server side). */
int tls_transport_cert_index(const struct transport *t);

/*
 * Fills *id from the peer's certificate (id zeroed first; clear it with
 * tls_peer_identity_clear). Without a peer certificate: cert_present false,
 * nothing else set. Returns 0, -1 on out of memory in the library.
 */
int tls_transport_peer_identity(const struct transport *t, struct tls_peer_identity *id);

/* The same from a loaded certificate. */
int tls_cert_identity(const struct tls_cert *c, struct tls_peer_identity *id);

/* The same from the certificate we presented on this connection (server
 * side: the one SNI chose), for XFCC's By=. Without one: cert_present false. */
int tls_transport_own_identity(const struct transport *t, struct tls_peer_identity *id);

#endif /* TERN_TLS_TLS_H */
