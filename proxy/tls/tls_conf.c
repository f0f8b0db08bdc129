/*
 * tls_conf.c: bind and server TLS configurations, their per-worker context
 * slots, and the certificate-file watch behind rotation (see tls_conf.h).
 *
 * The watch polls with stat() rather than inotify: a handful of files every
 * two seconds on the main thread costs nothing, works for files replaced by
 * rename (what certificate tools and Kubernetes secret volumes do: a new
 * inode) and for edits in place (a new mtime or size), and needs no
 * descriptor per directory.
 */
#include "proxy/tls/tls_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proxy/core/log.h"
#include "proxy/core/util.h"

static struct tls_ticket_keys *ticket_keys;

struct tls_ticket_keys *tls_conf_ticket_keys(void)
{
    if (!ticket_keys)
        ticket_keys = tls_ticket_keys_new();
    return ticket_keys;
}

/* ---- handshake failure log limit -------------------------------------------- */

#define HS_LOG_SLOTS 256

static _Thread_local struct {
    uint64_t key;
    uint64_t at_ms;
} hs_log[HS_LOG_SLOTS];

bool tls_hs_log_allowed(const struct sockaddr *sa, uint64_t now_ms)
{
    uint64_t key = 1469598103934665603ull;
    const uint8_t *p;
    size_t n;

    if (sa->sa_family == AF_INET) {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    } else {
        p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        n = 16;
    }
    for (size_t i = 0; i < n; i++)
        key = (key ^ p[i]) * 1099511628211ull; /* FNV-1a */
    key |= 1; /* 0 marks an empty slot */
    /* direct-mapped: a collision only makes a line more likely, never lost forever */
    if (hs_log[key % HS_LOG_SLOTS].key == key &&
        now_ms - hs_log[key % HS_LOG_SLOTS].at_ms < TLS_HS_LOG_INTERVAL_MS)
        return false;
    hs_log[key % HS_LOG_SLOTS].key = key;
    hs_log[key % HS_LOG_SLOTS].at_ms = now_ms;
    return true;
}

/* ---- bind ------------------------------------------------------------------ */

struct tls_bind *tls_bind_new(void)
{
    struct tls_bind *b = tern_calloc(1, sizeof(*b));
    b->verify = TLS_VERIFY_NONE;
    return b;
}

char *tls_alpn_served(const char *configured, bool http, bool *dropped)
{
    char *out, *copy, *save = NULL, *tok;
    size_t len = 0;

    *dropped = false;
    if (!configured)
        return NULL;
    if (!http)
        return tern_strdup(configured);
    out = tern_calloc(1, strlen(configured) + 1);
    copy = tern_strdup(configured);
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        /* the codecs mode http has after the handshake (h1_conn.c's
         * choose_codec: HTTP/2 via http_alpn_is_h2, else HTTP/1.x) */
        if (strcmp(tok, "h2") != 0 && strcmp(tok, "http/1.1") != 0 &&
            strcmp(tok, "http/1.0") != 0) {
            *dropped = true;
            continue;
        }
        len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", tok);
    }
    free(copy);
    if (!len) {
        free(out);
        return NULL;
    }
    return out;
}

static void stamps_free(struct tls_file_stamp *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(s[i].path);
    free(s);
}

static void stamp_take(struct tls_file_stamp *st)
{
    struct stat sb;

    if (stat(st->path, &sb) != 0) {
        st->missing = true;
        st->dev = 0;
        st->ino = 0;
        st->size = 0;
        memset(&st->mtime, 0, sizeof(st->mtime));
        return;
    }
    st->missing = false;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
}

static bool stamp_changed(const struct tls_file_stamp *st)
{
    struct tls_file_stamp now = {.path = st->path};

    stamp_take(&now);
    return now.missing != st->missing || now.dev != st->dev || now.ino != st->ino ||
           now.size != st->size || now.mtime.tv_sec != st->mtime.tv_sec ||
           now.mtime.tv_nsec != st->mtime.tv_nsec;
}

static void stamp_add(struct tls_file_stamp **v, unsigned *n, const char *path, const char *suffix)
{
    size_t len = strlen(path) + (suffix ? strlen(suffix) : 0) + 1;
    struct tls_file_stamp *st;

    *v = tern_realloc(*v, (*n + 1) * sizeof(**v));
    st = &(*v)[(*n)++];
    memset(st, 0, sizeof(*st));
    st->path = tern_malloc(len);
    snprintf(st->path, len, "%s%s", path, suffix ? suffix : "");
    stamp_take(st);
}

/* Loads every crt path into a new sealed store and records the files it
 * read. Returns the store or NULL with err. */
static struct tls_cert_store *load_store(const struct tls_bind *b, struct tls_file_stamp **stamps,
                                         unsigned *nstamps, char *err, size_t errlen)
{
    struct tls_cert_store *s = tls_cert_store_new(0);
    struct tls_file_stamp *v = NULL;
    unsigned n = 0;

    /* stamped before reading: a change while we read is seen by the next poll */
    for (unsigned i = 0; i < b->ncrt; i++)
        stamp_add(&v, &n, b->crt[i], NULL);
    for (unsigned i = 0; i < b->ncrt; i++) {
        if (tls_cert_store_add_path(s, b->crt[i], err, errlen) != 0)
            goto fail;
    }
    if (tls_cert_store_seal(s, err, errlen) != 0)
        goto fail;
    for (unsigned i = 0; i < s->n_entries; i++) {
        const char *src = s->entries[i].source;
        bool listed = false;
        for (unsigned j = 0; j < b->ncrt; j++)
            listed |= strcmp(src, b->crt[j]) == 0;
        if (!listed)
            stamp_add(&v, &n, src, NULL); /* a directory's file */
        stamp_add(&v, &n, src, ".key");
        stamp_add(&v, &n, src, ".ocsp");
    }
    *stamps = v;
    *nstamps = n;
    return s;
fail:
    stamps_free(v, n);
    tls_cert_store_unref(s);
    return NULL;
}

static struct tls_server_ctx *make_ctx(const struct tls_bind *b, struct tls_cert_store *s,
                                       char *err, size_t errlen)
{
    struct tls_server_conf conf = {
        .alpn = b->alpn_served,
        .verify = b->verify,
        .ca_file = b->ca_file,
        .ca_pem = b->ca_pem,
        .ca_pem_len = b->ca_pem_len,
        .min_version = b->min_version,
        .max_version = b->max_version,
        .ciphers = b->ciphers,
        .ciphersuites = b->ciphersuites,
        .strict_sni = b->strict_sni,
    };
    return tls_server_ctx_new(&conf, s, tls_conf_ticket_keys(), err, errlen);
}

int tls_bind_build(struct tls_bind *b, bool http, char *warn, size_t warnlen, char *err,
                   size_t errlen)
{
    bool dropped;

    warn[0] = '\0';
    if (!b->ncrt) {
        snprintf(err, errlen, "'ssl' needs at least one 'crt' (a certificate and its key)");
        return -1;
    }
    if (b->verify != TLS_VERIFY_NONE && !b->ca_file) {
        snprintf(err, errlen, "verify %s needs 'ca-file' (the CAs client certificates must "
                              "chain to)", b->verify == TLS_VERIFY_REQUIRED ? "required" : "optional");
        return -1;
    }
    if (b->min_version && b->max_version && b->min_version > b->max_version) {
        snprintf(err, errlen, "ssl-min-ver is above ssl-max-ver");
        return -1;
    }
    free(b->alpn_served);
    b->alpn_served = tls_alpn_served(b->alpn, http, &dropped);
    if (dropped)
        snprintf(warn, warnlen, "alpn '%s': mode http serves only h2, http/1.1 and "
                                "http/1.0: offering %s", b->alpn,
                 b->alpn_served ? b->alpn_served : "no ALPN");
    b->store = load_store(b, &b->stamps, &b->nstamps, err, errlen);
    if (!b->store)
        return -1;
    b->ctx = make_ctx(b, b->store, err, errlen);
    if (!b->ctx)
        return -1;
    return 0;
}

int tls_bind_build_pem(struct tls_bind *b, bool http, const struct tls_pem_material *m,
                       char *err, size_t errlen)
{
    if (b->verify != TLS_VERIFY_NONE && !m->ca_pem) {
        snprintf(err, errlen, "client certificates required but no trusted CA");
        return -1;
    }
    free(b->alpn_served);
    b->alpn_served = tls_alpn_served(b->alpn, http, &(bool){false});
    if (m->ca_pem) {
        b->ca_pem = tern_malloc(m->ca_len ? m->ca_len : 1);
        memcpy(b->ca_pem, m->ca_pem, m->ca_len);
        b->ca_pem_len = m->ca_len;
    }
    b->store = tls_cert_store_new(0);
    if (tls_cert_store_add_pem(b->store, m->source, m->cert_pem, m->cert_len, m->key_pem,
                               m->key_len, NULL, 0, err, errlen) != 0 ||
        tls_cert_store_seal(b->store, err, errlen) != 0)
        return -1;
    b->ctx = make_ctx(b, b->store, err, errlen);
    return b->ctx ? 0 : -1;
}

void tls_bind_runtime_init(struct tls_bind *b, uint32_t nworkers)
{
    if (b->wctx || !b->ctx)
        return;
    b->wctx = tern_calloc(nworkers ? nworkers : 1, sizeof(*b->wctx));
    b->nworkers = nworkers;
    for (uint32_t i = 0; i < nworkers; i++) {
        tls_server_ctx_ref(b->ctx);
        b->wctx[i] = b->ctx;
    }
}

void tls_bind_worker_swap(struct tls_bind *b, uint32_t w, struct tls_server_ctx *c)
{
    struct tls_server_ctx *old = b->wctx[w];

    b->wctx[w] = c;
    if (old)
        tls_server_ctx_unref(old);
}

int tls_bind_poll(struct tls_bind *b, struct tls_server_ctx **out, char *err, size_t errlen)
{
    struct tls_file_stamp *stamps = NULL;
    unsigned nstamps = 0;
    struct tls_cert_store *s;
    struct tls_server_ctx *c;
    bool changed = false;

    *out = NULL;
    for (unsigned i = 0; i < b->nstamps && !changed; i++)
        changed = stamp_changed(&b->stamps[i]);
    if (!changed)
        return 0;
    s = load_store(b, &stamps, &nstamps, err, errlen);
    c = s ? make_ctx(b, s, err, errlen) : NULL;
    if (!c) {
        /* the files are remembered as they are now: the same broken file is
         * reported once, and a fixed one is loaded at the next change */
        if (s)
            tls_cert_store_unref(s);
        stamps_free(stamps, nstamps);
        for (unsigned i = 0; i < b->nstamps; i++)
            stamp_take(&b->stamps[i]);
        snprintf(b->last_error, sizeof(b->last_error), "%s", err);
        atomic_fetch_add(&b->rotation_failures, 1);
        return -1;
    }
    stamps_free(b->stamps, b->nstamps);
    b->stamps = stamps;
    b->nstamps = nstamps;
    tls_cert_store_unref(b->store);
    b->store = s;
    tls_server_ctx_unref(b->ctx);
    b->ctx = c;
    b->last_error[0] = '\0';
    atomic_fetch_add(&b->rotations, 1);
    tls_server_ctx_ref(c);
    *out = c;
    return 1;
}

void tls_bind_free(struct tls_bind *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->ncrt; i++)
        free(b->crt[i]);
    free(b->crt);
    free(b->alpn);
    free(b->alpn_served);
    free(b->ca_file);
    free(b->ca_pem);
    free(b->ciphers);
    free(b->ciphersuites);
    for (uint32_t i = 0; b->wctx && i < b->nworkers; i++)
        if (b->wctx[i])
            tls_server_ctx_unref(b->wctx[i]);
    free(b->wctx);
    if (b->ctx)
        tls_server_ctx_unref(b->ctx);
    if (b->store)
        tls_cert_store_unref(b->store);
    stamps_free(b->stamps, b->nstamps);
    free(b);
}

/* ---- upstream -------------------------------------------------------------- */

int tls_sni_expr_parse(const char *expr, struct tls_srv_opts *o, char *err, size_t errlen)
{
    size_t n = strlen(expr);

    if (strcmp(expr, "req.hdr(host)") == 0 || strcmp(expr, "hdr(host)") == 0) {
        o->sni_kind = TLS_SNI_HOST;
        o->sni[0] = '\0';
        return 0;
    }
    if (n > 5 && strncmp(expr, "str(", 4) == 0 && expr[n - 1] == ')') {
        size_t len = n - 5;
        if (len == 0 || len >= sizeof(o->sni) || len > 253) {
            snprintf(err, errlen, "sni '%s': empty or too long name", expr);
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            char c = expr[4 + i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.')) {
                snprintf(err, errlen, "sni '%s': '%c' is not allowed in a host name", expr, c);
                return -1;
            }
        }
        memcpy(o->sni, expr + 4, len);
        o->sni[len] = '\0';
        o->sni_kind = TLS_SNI_STR;
        return 0;
    }
    snprintf(err, errlen, "sni '%s': tern supports str(<name>) and req.hdr(host)", expr);
    return -1;
}

struct tls_upstream *tls_upstream_new(const struct tls_srv_opts *o, char *err, size_t errlen)
{
    struct tls_upstream *u;
    struct tls_client_conf conf = {0};
    enum tls_verify verify = o->verify_set ? o->verify : TLS_VERIFY_REQUIRED;

    if (verify == TLS_VERIFY_REQUIRED && !o->ca_file[0]) {
        /* HAProxy's rule (ssl-server-verify defaults to required) and its advice */
        snprintf(err, errlen, "verify is enabled by default but no CA file specified (set "
                              "'ca-file', or 'verify none' if the server's certificate need "
                              "not be checked)");
        return NULL;
    }
    u = tern_calloc(1, sizeof(*u));
    if (o->crt[0]) {
        u->crt = tls_cert_store_new(0);
        if (tls_cert_store_add_path(u->crt, o->crt, err, errlen) != 0 ||
            tls_cert_store_seal(u->crt, err, errlen) != 0)
            goto fail;
    }
    conf.verify = verify;
    conf.ca_file = o->ca_file[0] ? o->ca_file : NULL;
    conf.crt = u->crt;
    conf.alpn = o->alpn[0] ? o->alpn : NULL;
    conf.verifyhost = o->verifyhost[0] ? o->verifyhost : NULL;
    u->ctx = tls_client_ctx_new(&conf, err, errlen);
    if (!u->ctx)
        goto fail;
    u->sni_kind = o->sni_kind;
    u->sni = o->sni_kind == TLS_SNI_STR ? tern_strdup(o->sni) : NULL;
    u->alpn = conf.alpn ? tern_strdup(conf.alpn) : NULL;
    u->check_sni = o->check_sni[0] ? tern_strdup(o->check_sni) : NULL;
    return u;
fail:
    tls_upstream_free(u);
    return NULL;
}

struct tls_upstream *tls_upstream_new_pem(const struct tls_pem_material *m, const char *sni,
                                          const char *alpn, const char *match_uri_san,
                                          char *err, size_t errlen)
{
    struct tls_upstream *u = tern_calloc(1, sizeof(*u));
    struct tls_client_conf conf = {0};

    if (m->cert_pem) {
        u->crt = tls_cert_store_new(0);
        if (tls_cert_store_add_pem(u->crt, m->source, m->cert_pem, m->cert_len, m->key_pem,
                                   m->key_len, NULL, 0, err, errlen) != 0 ||
            tls_cert_store_seal(u->crt, err, errlen) != 0)
            goto fail;
    }
    conf.verify = m->ca_pem ? TLS_VERIFY_REQUIRED : TLS_VERIFY_NONE;
    conf.ca_pem = m->ca_pem;
    conf.ca_pem_len = m->ca_len;
    conf.match_uri_san = match_uri_san;
    conf.crt = u->crt;
    conf.alpn = alpn;
    u->ctx = tls_client_ctx_new(&conf, err, errlen);
    if (!u->ctx)
        goto fail;
    u->sni_kind = sni ? TLS_SNI_STR : TLS_SNI_NONE;
    u->sni = sni ? tern_strdup(sni) : NULL;
    u->alpn = alpn ? tern_strdup(alpn) : NULL;
    return u;
fail:
    tls_upstream_free(u);
    return NULL;
}

void tls_upstream_runtime_init(struct tls_upstream *u, uint32_t nworkers)
{
    if (u->slots)
        return;
    u->slots = tern_calloc(nworkers ? nworkers : 1, sizeof(*u->slots));
    u->nworkers = nworkers;
}

void tls_upstream_free(struct tls_upstream *u)
{
    if (!u)
        return;
    for (uint32_t i = 0; u->slots && i < u->nworkers; i++)
        tls_session_slot_clear(&u->slots[i]);
    free(u->slots);
    if (u->ctx)
        tls_client_ctx_free(u->ctx);
    if (u->crt)
        tls_cert_store_unref(u->crt);
    free(u->sni);
    free(u->alpn);
    free(u->check_sni);
    free(u);
}
