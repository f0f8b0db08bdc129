/*
 * acl_parse.c: `acl <name> <criterion> [flags] [operator] <values...>` into a
 * compiled struct acl_expr, and the set of named ACLs of a proxy section.
 *
 * Everything the request path needs is decided here, once: the fetch row,
 * the match method (implied by the keyword, or -m), -i, and the patterns in
 * the form their matcher wants: strings in one blob (plus a hash table for
 * long exact-match lists), dom/dir words with their outer delimiters already
 * stripped, regexes compiled with JIT, integer operators and ranges as
 * inclusive [lo, hi] ranges, networks as masked address + mask.
 *
 * Order of the words, as in HAProxy: flags first (-i -m -f -n -u --); a flag
 * after the first value is a value. For integer matches an operator
 * (eq ge gt le lt) may come right after the flags.
 *
 * Where tern is stricter than HAProxy 2.6 (listed in README.md): an ACL
 * without a value is an error (HAProxy accepts it and it never matches),
 * hostnames are never resolved in address patterns (-n is implied),
 * converters (`hdr(host),lower`) and -M are refused, and IPv4 masks must
 * be written as a bit count or a dotted mask. Empty values ("") are
 * patterns that match an empty string (HAProxy stops at an empty word).
 *
 * Thread: config load only (main thread).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "proxy/acl/acl.h"
#include "proxy/acl/acl_int.h"
#include "proxy/core/util.h"
#include "proxy/http/http_msg.h"

/* Exact-match lists of at least this many values get a hash table. */
#define ACL_STR_HASH_MIN 16

int acl_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- did you mean ----------------------------------------------------------- */

/* Levenshtein distance, capped at 8 (longer words are never suggested). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

    if (la > 64 || lb > 64)
        return 8;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb] < 8 ? prev[lb] : 8;
}

const char *acl_suggest(const char *word, const char *const *cands, size_t n)
{
    size_t best_d = 8, wl = strlen(word);
    const char *best = NULL;
    /* one edit for short words, two from 6 characters, three from 12 */
    size_t limit = wl < 6 ? 1 : wl < 12 ? 2 : 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

/* ---- small helpers ------------------------------------------------------------ */

static const char *type_name(int type)
{
    switch (type) {
    case ACL_T_BOOL: return "a boolean";
    case ACL_T_INT: return "an integer";
    case ACL_T_IP: return "an address";
    case ACL_T_METH: return "a method";
    default: return "a string";
    }
}

static const char *const match_names[ACL_M_COUNT] = {
    [ACL_M_FOUND] = "found", [ACL_M_BOOL] = "bool", [ACL_M_INT] = "int",
    [ACL_M_IP] = "ip",       [ACL_M_STR] = "str",   [ACL_M_BEG] = "beg",
    [ACL_M_END] = "end",     [ACL_M_SUB] = "sub",   [ACL_M_REG] = "reg",
    [ACL_M_LEN] = "len",     [ACL_M_DOM] = "dom",   [ACL_M_DIR] = "dir",
    [ACL_M_METH] = NULL,     /* implied by `method`, not a -m name */
};

/* The match methods a sample type allows (a bit per enum acl_match). */
static uint32_t allowed_matches(int type)
{
#define B(m) (1u << ACL_M_##m)
    switch (type) {
    case ACL_T_BOOL: return B(FOUND) | B(BOOL) | B(INT);
    case ACL_T_INT: return B(FOUND) | B(BOOL) | B(INT);
    case ACL_T_IP: return B(FOUND) | B(IP);
    case ACL_T_METH:
        return B(FOUND) | B(METH) | B(STR) | B(BEG) | B(END) | B(SUB) | B(REG) | B(LEN) |
               B(DOM) | B(DIR);
    default:
        return B(FOUND) | B(STR) | B(BEG) | B(END) | B(SUB) | B(REG) | B(LEN) | B(DOM) |
               B(DIR) | B(IP);
    }
#undef B
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;

    if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* ---- the criterion ---------------------------------------------------------------- */

static int parse_args(struct acl_expr *e, const char *word, const char *a, size_t alen,
                      char *err, size_t errlen)
{
    const struct acl_fetch *f = e->fetch;
    const char *comma = memchr(a, ',', alen);
    size_t nlen = comma ? (size_t)(comma - a) : alen;
    const char *rest = comma ? comma + 1 : NULL;
    size_t rlen = comma ? alen - nlen - 1 : 0;

    e->args.delim = '?';
    switch (f->args) {
    case ACL_ARGS_NONE:
        if (alen)
            return acl_err(err, errlen, "'%s' takes no argument (in '%s')", f->name, word);
        return 0;
    case ACL_ARGS_HDR_CNT:
        if (comma)
            return acl_err(err, errlen, "too many arguments in '%s'", word);
        break;
    case ACL_ARGS_HDR_NAME:
        if (nlen == 0)
            return acl_err(err, errlen, "missing header name in '%s'", word);
        break;
    default:
        break;
    }
    if (rest && memchr(rest, ',', rlen))
        return acl_err(err, errlen, "too many arguments in '%s'", word);
    if (nlen) {
        e->args.name = tern_malloc(nlen + 1);
        memcpy(e->args.name, a, nlen);
        e->args.name[nlen] = '\0';
        e->args.name_len = (uint32_t)nlen;
    }
    if (!rest)
        return 0;
    if (f->args == ACL_ARGS_URLP) {
        if (rlen != 1)
            return acl_err(err, errlen, "invalid delimiter '%.*s' in '%s': one character expected",
                           (int)rlen, rest, word);
        e->args.delim = rest[0];
        return 0;
    }
    char occ[24];
    int64_t v;
    if (rlen == 0 || rlen >= sizeof(occ))
        return acl_err(err, errlen, "invalid occurrence '%.*s' in '%s'", (int)rlen, rest, word);
    memcpy(occ, rest, rlen);
    occ[rlen] = '\0';
    if (!parse_i64(occ, &v) || v < -1000000 || v > 1000000)
        return acl_err(err, errlen, "invalid occurrence '%s' in '%s'", occ, word);
    e->args.occ = (int32_t)v;
    return 0;
}

static int parse_criterion(struct acl_expr *e, const char *word, char *err, size_t errlen)
{
    size_t n = strcspn(word, "(,");
    const char *cands[128];
    size_t nc = 0;

    e->text = tern_strdup(word);
    e->fetch = acl_fetch_find(word, n);
    if (!e->fetch) {
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)n, word);
        for (size_t i = 0; i < acl_nfetches && nc < TERN_ARRAY_SIZE(cands); i++)
            cands[nc++] = acl_fetches[i].name;
        const char *s = acl_suggest(name, cands, nc);
        if (s)
            return acl_err(err, errlen, "unknown fetch '%s' (did you mean '%s'?)", name, s);
        return acl_err(err, errlen, "unknown fetch '%s'", name);
    }
    e->match = e->fetch->match;
    const char *args = "", *after = word + n;
    size_t alen = 0;
    if (*after == '(') {
        const char *close = strchr(after, ')');
        if (!close)
            return acl_err(err, errlen, "missing ')' in '%s'", word);
        args = after + 1;
        alen = (size_t)(close - args);
        after = close + 1;
    }
    if (*after == ',')
        return acl_err(err, errlen, "converters are not supported ('%s' in '%s')", after, word);
    if (*after)
        return acl_err(err, errlen, "unexpected '%s' after '%.*s'", after, (int)(after - word),
                       word);
    return parse_args(e, word, args, alen, err, errlen);
}

/* ---- patterns ---------------------------------------------------------------------- */

/* The values of one expression: borrowed argv words and owned file lines. */
struct vals {
    const char **v;
    bool *owned;
    size_t n, cap;
};

static void vals_push(struct vals *vs, const char *s, bool owned)
{
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 8;
        vs->v = tern_realloc(vs->v, vs->cap * sizeof(*vs->v));
        vs->owned = tern_realloc(vs->owned, vs->cap * sizeof(*vs->owned));
    }
    vs->v[vs->n] = s;
    vs->owned[vs->n++] = owned;
}

static void vals_free(struct vals *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        if (vs->owned[i])
            free((char *)vs->v[i]);
    free(vs->v);
    free(vs->owned);
}

/* -f: one value a line; leading spaces and tabs skipped; empty lines and
 * lines starting with '#' ignored (HAProxy's pattern file format). */
static int load_file(struct vals *vs, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    if (!f)
        return acl_err(err, errlen, "cannot open pattern file '%s': %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *s = line + strspn(line, " \t");
        if (*s && *s != '#')
            vals_push(vs, tern_strdup(s), true);
    }
    free(line);
    fclose(f);
    return 0;
}

static int compile_strs(struct acl_expr *e, const struct vals *vs)
{
    size_t total = 0;

    for (size_t i = 0; i < vs->n; i++)
        total += strlen(vs->v[i]) + 1;
    e->blob = tern_malloc(total ? total : 1);
    e->pat.str = tern_calloc(vs->n, sizeof(*e->pat.str));
    char *w = e->blob;
    for (size_t i = 0; i < vs->n; i++) {
        const char *s = vs->v[i];
        size_t l = strlen(s);
        if (e->match == ACL_M_DOM || e->match == ACL_M_DIR) {
            /* outer delimiters never take part in a word match */
            const char *d = e->match == ACL_M_DOM ? "/?.:" : "/?";
            while (l > 0 && strchr(d, *s)) {
                s++;
                l--;
            }
            while (l > 0 && strchr(d, s[l - 1]))
                l--;
        }
        memcpy(w, s, l);
        w[l] = '\0';
        e->pat.str[i] = (struct acl_pat_str){w, (uint32_t)l};
        w += l + 1;
    }
    e->npat = (uint32_t)vs->n;
    if (e->match == ACL_M_STR && e->npat >= ACL_STR_HASH_MIN) {
        uint32_t size = 1;
        while (size < 2 * e->npat)
            size <<= 1;
        e->hash = tern_calloc(size, sizeof(*e->hash));
        e->hash_mask = size - 1;
        for (uint32_t i = 0; i < e->npat; i++) {
            uint32_t h = acl_str_hash(e->pat.str[i].p, e->pat.str[i].len, e->icase) & e->hash_mask;
            while (e->hash[h])
                h = (h + 1) & e->hash_mask;
            e->hash[h] = i + 1;
        }
    }
    return 0;
}

static int compile_regs(struct acl_expr *e, const struct vals *vs, char *err, size_t errlen)
{
    e->pat.re = tern_calloc(vs->n, sizeof(*e->pat.re));
    for (size_t i = 0; i < vs->n; i++) {
        if (acl_regex_compile(vs->v[i], e->icase, &e->pat.re[i], err, errlen) < 0)
            return -1;
        e->npat++;
    }
    return 0;
}

enum int_op { OP_NONE = 0, OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT };

static int compile_ints(struct acl_expr *e, const struct vals *vs, enum int_op op, char *err,
                        size_t errlen)
{
    e->pat.ints = tern_calloc(vs->n, sizeof(*e->pat.ints));
    for (size_t i = 0; i < vs->n; i++) {
        const char *s = vs->v[i], *colon = strchr(s, ':');
        struct acl_pat_int *r = &e->pat.ints[i];
        int64_t v;

        r->lo = INT64_MIN;
        r->hi = INT64_MAX;
        if (colon) {
            char lo[32];
            size_t ll = (size_t)(colon - s);
            if (op != OP_NONE)
                return acl_err(err, errlen, "a range ('%s') cannot follow an operator in '%s'", s,
                               e->text);
            if (ll >= sizeof(lo) || (ll == 0 && !colon[1]))
                return acl_err(err, errlen, "invalid range '%s' for '%s'", s, e->text);
            memcpy(lo, s, ll);
            lo[ll] = '\0';
            if ((ll && !parse_i64(lo, &r->lo)) || (colon[1] && !parse_i64(colon + 1, &r->hi)))
                return acl_err(err, errlen, "invalid range '%s' for '%s'", s, e->text);
            if (r->lo > r->hi)
                return acl_err(err, errlen, "invalid range '%s' for '%s' (low > high)", s, e->text);
        } else {
            if (!parse_i64(s, &v))
                return acl_err(err, errlen, "invalid integer '%s' for '%s'", s, e->text);
            switch (op) {
            case OP_GE: r->lo = v; break;
            case OP_LE: r->hi = v; break;
            case OP_GT:
            case OP_LT:
                if (v == (op == OP_GT ? INT64_MAX : INT64_MIN)) {
                    *r = (struct acl_pat_int){1, 0}; /* nothing is beyond */
                } else if (op == OP_GT) {
                    r->lo = v + 1;
                } else {
                    r->hi = v - 1;
                }
                break;
            default: r->lo = r->hi = v; break;
            }
        }
        e->npat++;
    }
    return 0;
}

/* IPv4 as inet_aton reads it, decimal only: "a.b.c.d", "a.b.c" (c is 16
 * bits), "a.b" (b is 24 bits), "a" (32 bits). HAProxy's manual shows the
 * abbreviated forms ("127.1" = 127.0.0.1, "10.12" = 10.0.0.12). */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    uint64_t part[4];
    int np = 0;
    size_t i = 0;

    while (i <= n) {
        uint64_t v = 0;
        size_t d = 0;
        if (np == 4)
            return false;
        for (; i < n && s[i] >= '0' && s[i] <= '9' && d < 11; i++, d++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (d == 0 || (i < n && s[i] != '.'))
            return false;
        part[np++] = v;
        i++;
    }
    uint64_t last_max = np == 1 ? 0xffffffffu : np == 2 ? 0xffffffu : np == 3 ? 0xffffu : 0xffu;
    uint32_t a = 0;
    for (int k = 0; k < np - 1; k++) {
        if (part[k] > 255)
            return false;
        a |= (uint32_t)part[k] << (24 - 8 * k);
    }
    if (part[np - 1] > last_max)
        return false;
    a |= (uint32_t)part[np - 1];
    out[0] = (uint8_t)(a >> 24);
    out[1] = (uint8_t)(a >> 16);
    out[2] = (uint8_t)(a >> 8);
    out[3] = (uint8_t)a;
    return true;
}

static bool parse_bits(const char *s, int max, int *bits)
{
    int64_t v;

    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 3 || !parse_i64(s, &v) ||
        v > max)
        return false;
    *bits = (int)v;
    return true;
}

static void bits_to_mask(int bits, uint8_t *mask, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        int b = bits - 8 * i;
        mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (uint8_t)(0xff << (8 - b));
    }
}

static bool parse_net(const char *s, struct acl_pat_ip *p)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    int bits;

    memset(p, 0, sizeof(*p));
    if (memchr(s, ':', alen)) {
        char buf[INET6_ADDRSTRLEN + 1];
        if (alen >= sizeof(buf))
            return false;
        memcpy(buf, s, alen);
        buf[alen] = '\0';
        if (inet_pton(AF_INET6, buf, p->addr) != 1)
            return false;
        bits = 128;
        if (slash && !parse_bits(slash + 1, 128, &bits))
            return false;
        bits_to_mask(bits, p->mask, 16);
    } else {
        p->v4 = 1;
        if (!parse_v4(s, alen, p->addr))
            return false;
        bits = 32;
        if (slash && strchr(slash + 1, '.')) {
            /* dotted mask; HAProxy accepts any, contiguous or not */
            if (inet_pton(AF_INET, slash + 1, p->mask) != 1)
                return false;
        } else {
            if (slash && !parse_bits(slash + 1, 32, &bits))
                return false;
            bits_to_mask(bits, p->mask, 4);
        }
    }
    for (int i = 0; i < 16; i++)
        p->addr[i] &= p->mask[i];
    return true;
}

static int compile_ips(struct acl_expr *e, const struct vals *vs, char *err, size_t errlen)
{
    e->pat.ip = tern_calloc(vs->n, sizeof(*e->pat.ip));
    for (size_t i = 0; i < vs->n; i++) {
        if (!parse_net(vs->v[i], &e->pat.ip[i]))
            return acl_err(err, errlen, "invalid address '%s' for '%s'", vs->v[i], e->text);
        e->npat++;
    }
    return 0;
}

static const struct {
    const char *name;
    int meth;
} meth_names[] = {
    {"GET", HTTP_M_GET},         {"HEAD", HTTP_M_HEAD},       {"POST", HTTP_M_POST},
    {"PUT", HTTP_M_PUT},         {"DELETE", HTTP_M_DELETE},   {"CONNECT", HTTP_M_CONNECT},
    {"OPTIONS", HTTP_M_OPTIONS}, {"TRACE", HTTP_M_TRACE},     {"PATCH", HTTP_M_PATCH},
};

static int compile_meths(struct acl_expr *e, const struct vals *vs)
{
    compile_strs(e, vs); /* the tokens, in the blob */
    struct acl_pat_str *tok = e->pat.str;
    e->pat.meth = tern_calloc(vs->n, sizeof(*e->pat.meth));
    for (size_t i = 0; i < vs->n; i++) {
        e->pat.meth[i] = (struct acl_pat_meth){HTTP_M_OTHER, tok[i].p, tok[i].len};
        for (size_t k = 0; k < TERN_ARRAY_SIZE(meth_names); k++)
            if (strcmp(tok[i].p, meth_names[k].name) == 0)
                e->pat.meth[i].meth = meth_names[k].meth;
    }
    free(tok);
    return 0;
}

/* ---- an expression ----------------------------------------------------------------- */

struct acl_expr *acl_expr_parse(int argc, char **argv, char *err, size_t errlen)
{
    struct acl_expr *e = tern_calloc(1, sizeof(*e));
    struct vals vs = {0};
    enum int_op op = OP_NONE;
    int i;

    if (argc < 1 || !argv[0][0]) {
        acl_err(err, errlen, "missing criterion");
        goto fail;
    }
    if (parse_criterion(e, argv[0], err, errlen) < 0)
        goto fail;

    /* flags */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--") == 0) {
            i++;
            break;
        } else if (strcmp(f, "-i") == 0) {
            e->icase = true;
        } else if (strcmp(f, "-n") == 0) {
            /* no DNS: tern never resolves names in patterns */
        } else if (strcmp(f, "-m") == 0 || strcmp(f, "-f") == 0 || strcmp(f, "-u") == 0) {
            if (i + 1 >= argc) {
                acl_err(err, errlen, "missing argument after '%s'", f);
                goto fail;
            }
            const char *a = argv[++i];
            if (f[1] == 'f') {
                if (load_file(&vs, a, err, errlen) < 0)
                    goto fail;
            } else if (f[1] == 'm') {
                int m;
                for (m = 0; m < ACL_M_COUNT; m++)
                    if (match_names[m] && strcmp(match_names[m], a) == 0)
                        break;
                if (m == ACL_M_COUNT) {
                    acl_err(err, errlen,
                            "unknown match method '%s' for '-m' (expected found, bool, int, ip, "
                            "len, str, beg, end, sub, reg, dom or dir)", a);
                    goto fail;
                }
                e->match = (uint8_t)m;
            }
            /* -u <id>: the runtime API id of HAProxy; nothing to do */
        } else if (strcmp(f, "-M") == 0) {
            acl_err(err, errlen, "flag '-M' (map files) is not supported");
            goto fail;
        } else {
            acl_err(err, errlen, "unknown flag '%s' (put '--' before a value starting with '-')",
                    f);
            goto fail;
        }
    }
    if (!(allowed_matches(e->fetch->type) & (1u << e->match))) {
        acl_err(err, errlen, "match method '-m %s' cannot be used with '%s' (%s)",
                match_names[e->match] ? match_names[e->match] : "?", e->text,
                type_name(e->fetch->type));
        goto fail;
    }

    /* operator, for integer matches */
    if ((e->match == ACL_M_INT || e->match == ACL_M_LEN) && i < argc) {
        static const char *const ops[] = {"eq", "ge", "gt", "le", "lt"};
        for (size_t k = 0; k < TERN_ARRAY_SIZE(ops); k++)
            if (strcmp(argv[i], ops[k]) == 0) {
                op = (enum int_op)(k + 1);
                i++;
                break;
            }
    }
    for (; i < argc; i++)
        vals_push(&vs, argv[i], false);

    if (e->match == ACL_M_FOUND || e->match == ACL_M_BOOL) {
        /* no pattern: values, if any, are ignored (as HAProxy) */
    } else if (vs.n == 0) {
        acl_err(err, errlen, "missing value for '%s'", e->text);
        goto fail;
    } else {
        int rc;
        switch (e->match) {
        case ACL_M_REG: rc = compile_regs(e, &vs, err, errlen); break;
        case ACL_M_INT:
        case ACL_M_LEN: rc = compile_ints(e, &vs, op, err, errlen); break;
        case ACL_M_IP: rc = compile_ips(e, &vs, err, errlen); break;
        case ACL_M_METH: rc = compile_meths(e, &vs); break;
        default: rc = compile_strs(e, &vs); break;
        }
        if (rc < 0)
            goto fail;
    }
    vals_free(&vs);
    return e;

fail:
    vals_free(&vs);
    acl_expr_free(e);
    return NULL;
}

int acl_sample_parse(const char *text, struct acl_expr **out, char *err, size_t errlen)
{
    struct acl_expr *e = tern_calloc(1, sizeof(*e));

    if (!text[0]) {
        acl_err(err, errlen, "empty sample fetch");
        goto fail;
    }
    if (parse_criterion(e, text, err, errlen) < 0)
        goto fail;
    switch (e->fetch->match) {
    case ACL_M_BEG:
    case ACL_M_END:
    case ACL_M_SUB:
    case ACL_M_REG:
    case ACL_M_LEN:
    case ACL_M_DOM:
    case ACL_M_DIR: {
        /* "hdr_beg" -> "hdr": the fetch the derivative is made from */
        const char *us = strrchr(e->fetch->name, '_');
        acl_err(err, errlen, "'%s' is an ACL match, not a sample fetch (use '%.*s')",
                e->fetch->name, (int)(us - e->fetch->name), e->fetch->name);
        goto fail;
    }
    default:
        break;
    }
    *out = e;
    return 0;

fail:
    acl_expr_free(e);
    return -1;
}

void acl_sample_free(struct acl_expr *e)
{
    acl_expr_free(e);
}

void acl_expr_free(struct acl_expr *e)
{
    if (!e)
        return;
    switch (e->match) {
    case ACL_M_REG:
        for (uint32_t i = 0; i < e->npat; i++)
            acl_regex_free(e->pat.re[i]);
        free(e->pat.re);
        break;
    case ACL_M_INT:
    case ACL_M_LEN:
        free(e->pat.ints);
        break;
    case ACL_M_IP:
        free(e->pat.ip);
        break;
    case ACL_M_METH:
        free(e->pat.meth);
        break;
    default:
        free(e->pat.str);
        break;
    }
    free(e->hash);
    free(e->blob);
    free(e->text);
    free(e->args.name);
    free(e);
}

/* ---- ACLs and sets ------------------------------------------------------------------ */

struct acl *acl_new(const char *name)
{
    struct acl *acl = tern_calloc(1, sizeof(*acl));

    acl->name = name ? tern_strdup(name) : NULL;
    return acl;
}

void acl_push_expr(struct acl *acl, struct acl_expr *e)
{
    if (acl->nexprs == acl->cap) {
        acl->cap = acl->cap ? acl->cap * 2 : 2;
        acl->exprs = tern_realloc(acl->exprs, acl->cap * sizeof(*acl->exprs));
    }
    acl->exprs[acl->nexprs++] = e;
}

void acl_free(struct acl *acl)
{
    if (!acl)
        return;
    for (uint32_t i = 0; i < acl->nexprs; i++)
        acl_expr_free(acl->exprs[i]);
    free(acl->exprs);
    free(acl->name);
    free(acl);
}

struct acl_set *acl_set_new(void)
{
    return tern_calloc(1, sizeof(struct acl_set));
}

void acl_set_free(struct acl_set *set)
{
    if (!set)
        return;
    for (uint32_t i = 0; i < set->n; i++)
        acl_free(set->acls[i]);
    free(set->acls);
    free(set);
}

const struct acl *acl_set_find(const struct acl_set *set, const char *name)
{
    if (!set)
        return NULL;
    for (uint32_t i = 0; i < set->n; i++)
        if (strcmp(set->acls[i]->name, name) == 0)
            return set->acls[i];
    return NULL;
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

int acl_set_add(struct acl_set *set, const char *name, int argc, char **argv, char *err,
                size_t errlen)
{
    if (!name || !valid_name(name))
        return acl_err(err, errlen,
                       "invalid ACL name '%s': only letters, digits, '-', '_', '.' and ':' are "
                       "allowed", name ? name : "");
    struct acl_expr *e = acl_expr_parse(argc, argv, err, errlen);
    if (!e)
        return -1;
    struct acl *acl = (struct acl *)acl_set_find(set, name);
    if (!acl) {
        if (set->n == set->cap) {
            set->cap = set->cap ? set->cap * 2 : 8;
            set->acls = tern_realloc(set->acls, set->cap * sizeof(*set->acls));
        }
        acl = acl_new(name);
        set->acls[set->n++] = acl;
    }
    acl_push_expr(acl, e);
    return 0;
}
