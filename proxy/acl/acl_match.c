/*
 * acl_match.c: the match methods: a sample against an expression's compiled
 * patterns. This is request-path code: no allocation (but see the regex
 * match block below), no lock, no copy of the sample.
 *
 * Strings. A sample is a (pointer, length) slice of the request; patterns are
 * slices of the expression's blob. Case-insensitive comparisons fold ASCII
 * only, through a table (no locale, no NUL sensitivity).
 *   str  equal length and bytes. With ACL_STR_HASH_MIN patterns or more,
 *        the expression carries an open-addressing table keyed by a
 *        (case-folded when -i) FNV-1a hash, so a long list (`-f` files of
 *        host names) costs one hash and usually one comparison; below that a
 *        linear scan is faster than hashing.
 *   beg/end/sub  linear over the patterns; sub is memmem, or a first-byte
 *        filtered scan with -i. O(patterns x sample) worst case: fine for
 *        the handful of values ACLs carry; use reg or a hashed str list for
 *        more.
 *   dom/dir  HAProxy's word match: the pattern (its own leading and trailing
 *        delimiters stripped at parse time) must appear starting at the
 *        beginning of the sample or right after a delimiter, and end at the
 *        end or right before one. Delimiters: dir '/' '?'; dom also '.' ':'.
 *        A word start that fails disqualifies the rest of that word, as in
 *        HAProxy ("png" matches "/images/png/x" but "ng" does not).
 *   reg  PCRE2, compiled with JIT at config load. pcre2_match() needs a
 *        match-data block: one per thread, created on the thread's first
 *        regex (or by acl_thread_prepare()), released by a pthread key
 *        destructor at thread exit. It holds ACL_REGEX_GROUPS pairs of
 *        offsets: ACLs only ask whether a regex matches, rewrite rules
 *        (acl_regex_exec) read the groups \0..\9.
 *   len  the length as an integer (ranges below).
 *   ip   the text read as an address ("-m ip" on a string fetch).
 * Integers: inclusive ranges [lo, hi]; operators compile to ranges.
 * Addresses: HAProxy's rules. v4 sample / v4 pattern: masked compare.
 * v6 / v6: masked compare. v6 sample / v4 pattern: only when the sample is
 * IPv4-mapped (::ffff:a.b.c.d), compared as that IPv4. v4 sample / v6
 * pattern: the sample is mapped to ::ffff:a.b.c.d first.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "proxy/acl/acl.h"
#include "proxy/acl/acl_int.h"
#include "proxy/core/util.h"
#include "proxy/http/http_msg.h"

/* ---- ASCII case folding -------------------------------------------------- */

static const unsigned char fold_tab[256] = {
#define R8(b) (b), (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6, (b) + 7
    R8(0x00), R8(0x08), R8(0x10), R8(0x18), R8(0x20), R8(0x28), R8(0x30), R8(0x38),
    /* 'A'..'Z' -> 'a'..'z' */
    0x40, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    R8(0x60), R8(0x68), R8(0x70), R8(0x78), R8(0x80), R8(0x88), R8(0x90), R8(0x98),
    R8(0xa0), R8(0xa8), R8(0xb0), R8(0xb8), R8(0xc0), R8(0xc8), R8(0xd0), R8(0xd8),
    R8(0xe0), R8(0xe8), R8(0xf0), R8(0xf8),
#undef R8
};

static inline bool bytes_eq(const char *a, const char *b, size_t n, bool icase)
{
    if (!icase)
        return n == 0 || memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (fold_tab[(unsigned char)a[i]] != fold_tab[(unsigned char)b[i]])
            return false;
    return true;
}

uint32_t acl_str_hash(const char *p, size_t n, bool icase)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        h ^= icase ? fold_tab[c] : c;
        h *= 16777619u;
    }
    return h ^ (h >> 15);
}

/* ---- strings ------------------------------------------------------------- */

static bool match_str_hashed(const struct acl_expr *e, const char *p, size_t n)
{
    uint32_t i = acl_str_hash(p, n, e->icase) & e->hash_mask;

    for (;; i = (i + 1) & e->hash_mask) {
        uint32_t slot = e->hash[i];
        if (slot == 0)
            return false;
        const struct acl_pat_str *ps = &e->pat.str[slot - 1];
        if (ps->len == n && bytes_eq(p, ps->p, n, e->icase))
            return true;
    }
}

static bool contains(const char *s, size_t n, const char *w, size_t wl, bool icase)
{
    if (wl == 0)
        return true;
    if (wl > n)
        return false;
    if (!icase)
        return memmem(s, n, w, wl) != NULL;
    unsigned char first = fold_tab[(unsigned char)w[0]];
    for (size_t i = 0; i + wl <= n; i++)
        if (fold_tab[(unsigned char)s[i]] == first && bytes_eq(s + i + 1, w + 1, wl - 1, true))
            return true;
    return false;
}

static inline bool is_delim(unsigned char c, bool dom)
{
    return c == '/' || c == '?' || (dom && (c == '.' || c == ':'));
}

static bool word_match(const char *s, size_t n, const char *w, size_t wl, bool icase, bool dom)
{
    bool at_start = true;

    if (wl == 0 || wl > n)
        return false;
    for (size_t i = 0; i + wl <= n; i++) {
        if (is_delim((unsigned char)s[i], dom)) {
            at_start = true;
            continue;
        }
        if (!at_start)
            continue;
        at_start = false;
        if (bytes_eq(s + i, w, wl, icase) &&
            (i + wl == n || is_delim((unsigned char)s[i + wl], dom)))
            return true;
    }
    return false;
}

/* ---- regexes ------------------------------------------------------------- */

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static __thread pcre2_match_data *tl_md;

static void md_destroy(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_create(void)
{
    if (pthread_key_create(&md_key, md_destroy) != 0)
        tern_panic(__FILE__, __LINE__, "acl: pthread_key_create failed");
}

static pcre2_match_data *thread_md(void)
{
    if (TERN_LIKELY(tl_md != NULL))
        return tl_md;
    pthread_once(&md_once, md_key_create);
    tl_md = pcre2_match_data_create(ACL_REGEX_GROUPS, NULL);
    if (!tl_md)
        tern_panic(__FILE__, __LINE__, "acl: out of memory (pcre2 match data)");
    pthread_setspecific(md_key, tl_md);
    return tl_md;
}

void acl_thread_prepare(void)
{
    (void)thread_md();
}

void acl_thread_release(void)
{
    if (!tl_md)
        return;
    pthread_setspecific(md_key, NULL);
    pcre2_match_data_free(tl_md);
    tl_md = NULL;
}

int acl_regex_compile(const char *re, bool icase, void **out, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  icase ? PCRE2_CASELESS : 0, &code, &off, NULL);

    if (!c) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        return acl_err(err, errlen, "invalid regex '%s' : %s at offset %zu", re, (char *)msg,
                       (size_t)off);
    }
    /* JIT is an optimisation: where it is unavailable the interpreter runs
     * the same regex, so a JIT failure is not a config error. */
    (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    *out = c;
    return 0;
}

void acl_regex_free(void *re)
{
    pcre2_code_free(re);
}

int acl_regex_exec(const void *re, const char *p, size_t n, size_t ovec[2 * ACL_REGEX_GROUPS])
{
    pcre2_match_data *md = thread_md();
    const PCRE2_SIZE *v;
    int rc = pcre2_match(re, (PCRE2_SPTR)p, n, 0, 0, md, NULL);

    if (rc < 0)
        return 0;
    if (rc == 0 || rc > ACL_REGEX_GROUPS) /* 0: the block is too small */
        rc = ACL_REGEX_GROUPS;
    v = pcre2_get_ovector_pointer(md);
    for (int i = 0; i < 2 * rc; i++)
        ovec[i] = v[i];
    return rc;
}

static bool match_regex(const struct acl_expr *e, const char *p, size_t n)
{
    pcre2_match_data *md = thread_md();

    for (uint32_t i = 0; i < e->npat; i++) {
        /* >= 0: matched; PCRE2_ERROR_NOMATCH or a limit: no match. */
        if (pcre2_match(e->pat.re[i], (PCRE2_SPTR)p, n, 0, 0, md, NULL) >= 0)
            return true;
    }
    return false;
}

/* ---- integers, addresses, methods ----------------------------------------- */

bool acl_match_int(const struct acl_expr *e, int64_t v)
{
    switch (e->match) {
    case ACL_M_FOUND:
        return true;
    case ACL_M_BOOL:
        return v != 0;
    case ACL_M_INT:
    case ACL_M_LEN:
        for (uint32_t i = 0; i < e->npat; i++)
            if (v >= e->pat.ints[i].lo && v <= e->pat.ints[i].hi)
                return true;
        return false;
    default:
        return false;
    }
}

bool acl_match_bool(const struct acl_expr *e, bool b)
{
    return e->match == ACL_M_BOOL ? b : acl_match_int(e, b ? 1 : 0);
}

static const uint8_t v4mapped_pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static inline bool masked_eq(const uint8_t *a, const struct acl_pat_ip *pat, int n)
{
    for (int i = 0; i < n; i++)
        if ((a[i] & pat->mask[i]) != pat->addr[i])
            return false;
    return true;
}

bool acl_match_addr(const struct acl_expr *e, const struct acl_addr *a)
{
    uint8_t v6[16];
    const uint8_t *v4 = NULL;

    if (e->match == ACL_M_FOUND)
        return true;
    if (e->match != ACL_M_IP)
        return false;
    if (a->v4) {
        v4 = a->a;
        memcpy(v6, v4mapped_pfx, 12);
        memcpy(v6 + 12, a->a, 4);
    } else {
        memcpy(v6, a->a, 16);
        if (memcmp(a->a, v4mapped_pfx, 12) == 0)
            v4 = a->a + 12;
    }
    for (uint32_t i = 0; i < e->npat; i++) {
        const struct acl_pat_ip *pat = &e->pat.ip[i];
        if (pat->v4 ? (v4 && masked_eq(v4, pat, 4)) : masked_eq(v6, pat, 16))
            return true;
    }
    return false;
}

/* HAProxy knows these eight methods by number; any other token (PATCH
 * included) compares as a string. */
static inline bool meth_is_known(int m)
{
    return m != HTTP_M_OTHER && m != HTTP_M_PATCH;
}

bool acl_match_meth(const struct acl_expr *e, int meth, const char *p, size_t n)
{
    if (e->match != ACL_M_METH)
        return acl_match_str(e, p, n);
    for (uint32_t i = 0; i < e->npat; i++) {
        const struct acl_pat_meth *pm = &e->pat.meth[i];
        if (meth_is_known(pm->meth)) {
            if (pm->meth == meth)
                return true;
        } else if (!meth_is_known(meth) && pm->len == n && bytes_eq(p, pm->p, n, e->icase)) {
            return true;
        }
    }
    return false;
}

/* ---- the string dispatcher ------------------------------------------------- */

bool acl_match_str(const struct acl_expr *e, const char *p, size_t n)
{
    const struct acl_pat_str *ps = e->pat.str;
    uint32_t np = e->npat;
    bool ic = e->icase;

    if (!p)
        p = "";
    switch (e->match) {
    case ACL_M_FOUND:
        return true;
    case ACL_M_STR:
        if (e->hash)
            return match_str_hashed(e, p, n);
        for (uint32_t i = 0; i < np; i++)
            if (ps[i].len == n && bytes_eq(p, ps[i].p, n, ic))
                return true;
        return false;
    case ACL_M_BEG:
        for (uint32_t i = 0; i < np; i++)
            if (ps[i].len <= n && bytes_eq(p, ps[i].p, ps[i].len, ic))
                return true;
        return false;
    case ACL_M_END:
        for (uint32_t i = 0; i < np; i++)
            if (ps[i].len <= n && bytes_eq(p + n - ps[i].len, ps[i].p, ps[i].len, ic))
                return true;
        return false;
    case ACL_M_SUB:
        for (uint32_t i = 0; i < np; i++)
            if (contains(p, n, ps[i].p, ps[i].len, ic))
                return true;
        return false;
    case ACL_M_DOM:
    case ACL_M_DIR:
        for (uint32_t i = 0; i < np; i++)
            if (word_match(p, n, ps[i].p, ps[i].len, ic, e->match == ACL_M_DOM))
                return true;
        return false;
    case ACL_M_REG:
        return match_regex(e, p, n);
    case ACL_M_LEN:
        return acl_match_int(e, (int64_t)n);
    case ACL_M_IP: {
        struct acl_addr a;
        return acl_addr_from_text(p, n, &a) && acl_match_addr(e, &a);
    }
    default:
        return false;
    }
}
