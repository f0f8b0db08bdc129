/*
 * tls_conf.h: what a `bind ... ssl` or `server ... ssl` line turns into, and
 * the per-worker views of it that certificate rotation swaps.
 *
 * A `struct tls_bind` is built by the config parser (main thread) from a bind
 * line's options, finished when its section ends (tls_bind_build: the mode
 * is known then, so is the ALPN list the listener can serve), then owned by
 * its `struct bind_addr` and freed with the snapshot (tls_bind_free).
 *
 * Contexts and rotation. `ctx` is the main thread's current server context
 * (one reference). Each worker reads only its own slot `wctx[w]` (one
 * reference each), set by tls_bind_runtime_init before the workers start and
 * replaced on the worker by tls_bind_worker_swap when the main thread posts a
 * rotated context (MSG_TLS_CTX, as host sets are posted). A TLS transport
 * takes its own reference on the context it was accepted with, so a swap
 * never touches a connection in progress.
 *
 * Rotation (tls_bind_poll, main thread, every TLS_POLL_MS): each `crt` path
 * (and the files it loaded: a directory's entries, a `.key`, a `.ocsp`) is
 * stat()ed; when a size, mtime or inode changed, the whole store is rebuilt.
 * A store that fails (bad PEM, key mismatch, expired) is rejected: logged,
 * counted, and the old context stays in service.
 *
 * `struct tls_upstream` is a `server ... ssl` line's client side: the context,
 * the SNI rule and each worker's session slot (TLS resumption per server).
 *
 * Threads: build, poll, free on the main thread; tls_bind_ctx,
 * tls_bind_worker_swap and tls_upstream_slot on worker `w` for slot w only.
 */
#ifndef TERN_TLS_TLS_CONF_H
#define TERN_TLS_TLS_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proxy/tls/tls.h"

#define TLS_POLL_MS 2000                  /* certificate files checked this often */
#define TLS_TICKET_ROTATE_MS (3600 * 1000) /* ticket keys rotated this often */
#define TLS_OPT_MAX 256                   /* bytes of a path or name option */

/* One file a store was loaded from, as last seen. */
struct tls_file_stamp {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool missing;
};

struct tls_bind {
    /* options, as the bind line gave them (strings owned) */
    char **crt;                    /* `crt` paths, in order */
    unsigned ncrt;
    char *alpn;                    /* `alpn` as written, or NULL */
    char *ca_file;
    char *ca_pem;                  /* trust bundle as PEM (xDS SDS), instead of ca_file */
    size_t ca_pem_len;
    char *ciphers;
    char *ciphersuites;
    enum tls_verify verify;
    enum tls_version min_version;
    enum tls_version max_version;
    bool strict_sni;
    const char *file;              /* for messages (borrowed: snapshot's source) */
    int line;

    /* built by tls_bind_build */
    char *alpn_served;             /* what the listener offers; NULL: no ALPN */
    struct tls_server_ctx *ctx;    /* main thread's current (one reference) */
    struct tls_cert_store *store;  /* the store of ctx (one reference; metrics) */
    struct tls_file_stamp *stamps;
    unsigned nstamps;

    /* runtime */
    struct tls_server_ctx **wctx;  /* [nworkers]: slot w written and read by worker w */
    uint32_t nworkers;
    _Atomic uint64_t rotations;          /* stores replaced */
    _Atomic uint64_t rotation_failures;  /* replacements rejected */
    char last_error[256];          /* main thread: the last rejection, "" if none */
};

/* An empty bind TLS config (verify none, TLS 1.2..1.3). Never NULL. */
struct tls_bind *tls_bind_new(void);

/*
 * Finishes `b` once its section is parsed: `http` says the listener is mode
 * http (h2, http/1.1 and http/1.0 are served there: any other protocol is
 * removed from the offered ALPN with a warning in warn, tls_alpn_served). Loads every `crt`,
 * builds the context. Returns 0 (warn may be non-empty), or -1 with err.
 */
int tls_bind_build(struct tls_bind *b, bool http, char *warn, size_t warnlen, char *err,
                   size_t errlen);

/* TLS material from memory (xDS SDS secrets): PEM bytes instead of files. */
struct tls_pem_material {
    const char *source;            /* the secret's name, for messages */
    const char *cert_pem;          /* chain, leaf first (may hold the key) */
    size_t cert_len;
    const char *key_pem;           /* or NULL: the key is in cert_pem */
    size_t key_len;
    const char *ca_pem;            /* trust bundle, or NULL: no verification */
    size_t ca_len;
};

/*
 * tls_bind_build for a bind whose certificate and trust bundle come from
 * memory (`b` from tls_bind_new with verify/alpn set; no crt paths). Nothing
 * is polled: a new secret makes a new bind in a new snapshot, the running
 * connections keep the context they started with. Returns 0 or -1 with err.
 */
int tls_bind_build_pem(struct tls_bind *b, bool http, const struct tls_pem_material *m,
                       char *err, size_t errlen);

/* Gives each of `nworkers` workers a reference on the current context. */
void tls_bind_runtime_init(struct tls_bind *b, uint32_t nworkers);

/* The context worker `w` accepts new connections with. */
static inline struct tls_server_ctx *tls_bind_ctx(const struct tls_bind *b, uint32_t w)
{
    return b->wctx ? b->wctx[w] : b->ctx;
}

/* Worker `w`: `c` (a reference, given) replaces its slot; the old reference is dropped. */
void tls_bind_worker_swap(struct tls_bind *b, uint32_t w, struct tls_server_ctx *c);

/*
 * Main thread: checks the certificate files. Returns 0 (nothing changed),
 * 1 with *out a new context (one reference, owned by the caller, which
 * posts one reference to each worker), or -1 when a changed file makes a
 * bad store (message in b->last_error and err; counted; nothing changes).
 */
int tls_bind_poll(struct tls_bind *b, struct tls_server_ctx **out, char *err, size_t errlen);

void tls_bind_free(struct tls_bind *b);

/*
 * The ALPN list a listener serves from the one configured: mode http keeps
 * h2, http/1.1 and http/1.0 (the codecs h1_conn.c's choose_codec runs);
 * mode tcp keeps the list as written.
 * Returns a new string (or NULL when nothing is left) and sets *dropped when
 * a protocol was removed.
 */
char *tls_alpn_served(const char *configured, bool http, bool *dropped);

/*
 * Handshake failures are logged at most once per peer address per
 * TLS_HS_LOG_INTERVAL_MS (a scanner or a misconfigured client would flood the
 * log otherwise; the counters count every one). Per thread (no lock): true
 * when this failure of `sa` should be logged now.
 */
#define TLS_HS_LOG_INTERVAL_MS 10000
struct sockaddr;
bool tls_hs_log_allowed(const struct sockaddr *sa, uint64_t now_ms);

/* The process's ticket key ring (created on first use; main thread). */
struct tls_ticket_keys *tls_conf_ticket_keys(void);

/* ---- upstream ---------------------------------------------------------------- */

enum tls_sni_kind {
    TLS_SNI_NONE = 0,
    TLS_SNI_STR,    /* sni str(<name>) */
    TLS_SNI_HOST,   /* sni req.hdr(host): the request's Host, port removed */
};

/* A server line's TLS options (fixed-size: default-server copies them). */
struct tls_srv_opts {
    bool ssl;
    bool verify_set;
    enum tls_verify verify;
    char ca_file[TLS_OPT_MAX];
    char crt[TLS_OPT_MAX];
    char alpn[TLS_OPT_MAX];
    char verifyhost[TLS_OPT_MAX];
    enum tls_sni_kind sni_kind;
    char sni[TLS_OPT_MAX];         /* TLS_SNI_STR: the name */
    char check_sni[TLS_OPT_MAX];   /* `check-sni <name>`: SNI of health checks, or "" */
};

/*
 * Parses `sni <expr>`: `str(<name>)` or `req.hdr(host)` (HAProxy's sample
 * expressions; no other is supported). Returns 0 or -1 with err.
 */
int tls_sni_expr_parse(const char *expr, struct tls_srv_opts *o, char *err, size_t errlen);

struct tls_upstream {
    struct tls_client_ctx *ctx;
    struct tls_cert_store *crt;     /* client certificate, or NULL */
    enum tls_sni_kind sni_kind;
    char *sni;                      /* TLS_SNI_STR */
    char *alpn;
    char *check_sni;                /* `check-sni`, or NULL: checks send no SNI */
    /* per worker: the session to resume (used when the SNI is fixed) */
    struct tls_session_slot *slots; /* [nworkers] */
    uint32_t nworkers;
};

/* Builds a server's client context from its options. Returns it, or NULL
 * with err ("verify is enabled by default but no CA file specified..."). */
struct tls_upstream *tls_upstream_new(const struct tls_srv_opts *o, char *err, size_t errlen);
/* A client side from memory (xDS UpstreamTlsContext with SDS secrets): the
 * client certificate (m->cert_pem, may be NULL), verification against
 * m->ca_pem (NULL: none), `sni` sent (may be NULL), `match_uri_san` (may be
 * NULL) the URI SAN the server must present. Returns NULL with err. */
struct tls_upstream *tls_upstream_new_pem(const struct tls_pem_material *m, const char *sni,
                                          const char *alpn, const char *match_uri_san,
                                          char *err, size_t errlen);
void tls_upstream_runtime_init(struct tls_upstream *u, uint32_t nworkers);
void tls_upstream_free(struct tls_upstream *u);

#endif /* TERN_TLS_TLS_CONF_H */
