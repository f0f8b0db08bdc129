/*
 * cert_store.c: loading certificate files HAProxy's way and indexing them by
 * SNI. No TLS library call here: the PEM parsing is the backend's
 * (tls_cert_parse in tls_openssl.c); this file does the files, the names and
 * the index, so SDS (PEM bytes from a secret) and a BoringSSL build share it.
 */
#include "proxy/tls/cert_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 253 /* a DNS name, without the trailing dot */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "tern: out of memory\n");
        abort();
    }
    return q;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

struct tls_cert_store *tls_cert_store_new(unsigned flags)
{
    struct tls_cert_store *s = xrealloc(NULL, sizeof(*s));
    memset(s, 0, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->flags = flags;
    return s;
}

void tls_cert_store_ref(struct tls_cert_store *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void tls_cert_store_unref(struct tls_cert_store *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < s->n_entries; i++) {
        struct tls_cert_entry *e = &s->entries[i];
        free(e->source);
        tls_cert_free(e->cert);
        free(e->ocsp);
        for (unsigned j = 0; j < e->n_names; j++)
            free(e->names[j]);
        free(e->names);
    }
    free(s->entries);
    free(s->exact);
    free(s->wild);
    free(s);
}

bool tls_pem_has_key(const char *pem, size_t len)
{
    static const char *const begins[] = {
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    };
    for (size_t i = 0; i < sizeof(begins) / sizeof(begins[0]); i++)
        if (memmem(pem, len, begins[i], strlen(begins[i])))
            return true;
    return false;
}

/* Reads a whole regular file of at most TLS_CERT_FILE_MAX bytes. Returns 1
 * with *out (owned, NUL-terminated), 0 when it does not exist, -1 on error. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_CERT_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 !S_ISREG(st.st_mode) ? "not a regular file" : "file too large");
        close(fd);
        return -1;
    }
    *out = xrealloc(NULL, (size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        n = read(fd, *out + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        snprintf(err, errlen, "%s: short read", path);
        free(*out);
        *out = NULL;
        return -1;
    }
    (*out)[got] = '\0';
    *len = got;
    return 1;
}

/* Lowercases and checks a certificate name: LDH labels, dots, a leading "*."
 * for wildcards. Names we could never match (IDN U-labels, IP literals with
 * ':', junk) are skipped, not errors: a certificate may carry them. */
static bool norm_name(const char *in, size_t len, char *out)
{
    size_t i = 0;

    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    if (len >= 2 && in[0] == '*' && in[1] == '.') {
        out[0] = '*';
        out[1] = '.';
        i = 2;
        if (len == 2)
            return false;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == '_'))
            return false;
        out[i] = (char)c;
    }
    out[len] = '\0';
    return true;
}

static int collect_name(void *arg, const char *name, size_t len)
{
    struct tls_cert_entry *e = arg;
    char buf[NAME_MAX_LEN + 1];

    if (!norm_name(name, len, buf))
        return 0;
    for (unsigned i = 0; i < e->n_names; i++)
        if (strcmp(e->names[i], buf) == 0)
            return 0; /* the CN usually repeats a SAN */
    e->names = xrealloc(e->names, sizeof(char *) * (e->n_names + 1));
    e->names[e->n_names++] = xstrndup(buf, len);
    return 0;
}

int tls_cert_store_add_pem(struct tls_cert_store *s, const char *source, const char *pem,
                           size_t pem_len, const char *key_pem, size_t key_len,
                           const uint8_t *ocsp, size_t ocsp_len, char *err, size_t errlen)
{
    struct tls_cert_entry e = {0};
    char why[256];
    time_t now = time(NULL);

    if (s->sealed) {
        snprintf(err, errlen, "%s: certificate store is sealed", source);
        return -1;
    }
    e.cert = tls_cert_parse(pem, pem_len, key_pem, key_len, !(s->flags & TLS_STORE_NO_KEY_OK),
                            why, sizeof(why));
    if (!e.cert) {
        snprintf(err, errlen, "%s: %s", source, why);
        return -1;
    }
    tls_cert_validity(e.cert, &e.not_before, &e.not_after);
    if (!(s->flags & TLS_STORE_ALLOW_EXPIRED) && (e.not_after < now || e.not_before > now)) {
        snprintf(err, errlen, "%s: certificate %s", source,
                 e.not_after < now ? "has expired" : "is not yet valid");
        tls_cert_free(e.cert);
        return -1;
    }
    tls_cert_foreach_name(e.cert, collect_name, &e);
    e.source = xstrndup(source, strlen(source));
    if (ocsp && ocsp_len) {
        e.ocsp = xrealloc(NULL, ocsp_len);
        memcpy(e.ocsp, ocsp, ocsp_len);
        e.ocsp_len = ocsp_len;
    }
    s->entries = xrealloc(s->entries, sizeof(*s->entries) * (s->n_entries + 1));
    s->entries[s->n_entries++] = e;
    return 0;
}

static int add_file(struct tls_cert_store *s, const char *path, char *err, size_t errlen)
{
    char *pem = NULL, *key = NULL, *ocsp = NULL;
    size_t pem_len = 0, key_len = 0, ocsp_len = 0;
    char extra[4096];
    int rc;

    rc = read_file(path, &pem, &pem_len, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "%s: no such file", path);
    if (rc <= 0)
        return -1;
    if (!tls_pem_has_key(pem, pem_len)) {
        snprintf(extra, sizeof(extra), "%s.key", path);
        if (read_file(extra, &key, &key_len, err, errlen) < 0)
            goto fail;
    }
    snprintf(extra, sizeof(extra), "%s.ocsp", path);
    if (read_file(extra, &ocsp, &ocsp_len, err, errlen) < 0)
        goto fail;
    rc = tls_cert_store_add_pem(s, path, pem, pem_len, key, key_len, (const uint8_t *)ocsp,
                                ocsp_len, err, errlen);
    free(pem);
    free(key);
    free(ocsp);
    return rc;
fail:
    free(pem);
    free(key);
    free(ocsp);
    return -1;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int skip_dirent(const struct dirent *d)
{
    if (d->d_name[0] == '.')
        return 0;
    if (has_suffix(d->d_name, ".key") || has_suffix(d->d_name, ".ocsp") ||
        has_suffix(d->d_name, ".issuer") || has_suffix(d->d_name, ".sctl"))
        return 0;
    return 1;
}

int tls_cert_store_add_path(struct tls_cert_store *s, const char *path, char *err, size_t errlen)
{
    struct dirent **list;
    struct stat st;
    int n, rc = 0;

    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(s, path, err, errlen);
    n = scandir(path, &list, skip_dirent, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (rc == 0) {
            snprintf(full, sizeof(full), "%s/%s", path, list[i]->d_name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
                rc = add_file(s, full, err, errlen);
        }
        free(list[i]);
    }
    free(list);
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "%s: no certificate in directory", path);
        return -1;
    }
    return rc;
}

static int slot_cmp(const void *a, const void *b)
{
    const struct tls_sni_slot *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->entry < y->entry ? -1 : x->entry > y->entry; /* first loaded first */
}

/* Sorts and drops later duplicates: the first certificate loaded keeps a name. */
static unsigned sort_unique(struct tls_sni_slot *v, unsigned n)
{
    unsigned k = 0;

    qsort(v, n, sizeof(*v), slot_cmp);
    for (unsigned i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1].name, v[i].name) != 0)
            v[k++] = v[i];
    return k;
}

int tls_cert_store_seal(struct tls_cert_store *s, char *err, size_t errlen)
{
    unsigned total = 0;

    if (s->n_entries == 0) {
        snprintf(err, errlen, "no certificate loaded");
        return -1;
    }
    for (unsigned i = 0; i < s->n_entries; i++)
        total += s->entries[i].n_names;
    s->exact = xrealloc(NULL, sizeof(*s->exact) * total);
    s->wild = xrealloc(NULL, sizeof(*s->wild) * total);
    for (unsigned i = 0; i < s->n_entries; i++) {
        for (unsigned j = 0; j < s->entries[i].n_names; j++) {
            const char *nm = s->entries[i].names[j];
            if (nm[0] == '*')
                s->wild[s->n_wild++] = (struct tls_sni_slot){nm + 2, i};
            else
                s->exact[s->n_exact++] = (struct tls_sni_slot){nm, i};
        }
    }
    s->n_exact = sort_unique(s->exact, s->n_exact);
    s->n_wild = sort_unique(s->wild, s->n_wild);
    s->sealed = true;
    return 0;
}

static int find(const struct tls_sni_slot *v, unsigned n, const char *name)
{
    unsigned lo = 0, hi = n;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c = strcmp(name, v[mid].name);
        if (c == 0)
            return (int)v[mid].entry;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

int tls_cert_store_lookup(const struct tls_cert_store *s, const char *name, size_t len)
{
    char buf[NAME_MAX_LEN + 1];
    const char *dot;
    int e;

    if (len > 0 && name[len - 1] == '.')
        len--; /* a fully qualified name: "example.com." */
    if (len == 0 || len > NAME_MAX_LEN || name[0] == '*')
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '\0')
            return -1;
        buf[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    buf[len] = '\0';
    e = find(s->exact, s->n_exact, buf);
    if (e >= 0)
        return e;
    dot = memchr(buf, '.', len);
    if (!dot || dot == buf || dot[1] == '\0')
        return -1;
    return find(s->wild, s->n_wild, dot + 1);
}

int64_t tls_cert_store_min_not_after(const struct tls_cert_store *s)
{
    int64_t m = INT64_MAX;
    for (unsigned i = 0; i < s->n_entries; i++)
        if (s->entries[i].not_after < m)
            m = s->entries[i].not_after;
    return m;
}
