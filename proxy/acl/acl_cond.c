/*
 * acl_cond.c: `if`/`unless` conditions: parsing against a set of named ACLs,
 * HAProxy's predefined ACLs, and evaluation.
 *
 * A condition is HAProxy's disjunctive form, flattened:
 *
 *     if a !b || { path_beg /x } c
 *        `------'  `----------------'
 *        suite 0   suite 1 (anonymous ACL + c)
 *
 * terms[] holds the terms of every suite in order and suite_end[] where each
 * suite stops; evaluation walks the array once, skips the rest of a suite at
 * its first false term and stops at the first true suite. There is no
 * grouping other than this (HAProxy has no parentheses): AND binds tighter
 * than OR. `!` may be glued to the word or standalone, and repeats toggle
 * (`!!a` is `a`), as in HAProxy.
 *
 * Predefined ACLs (HAProxy 2.6 section 7.4) are compiled into the condition
 * that names them, from the same words a user would write, so they behave
 * exactly like the fetches they stand for. A named ACL of the set wins over a
 * predefined one of the same name. RDP_COOKIE, REQ_CONTENT and WAIT_END are
 * refused: they inspect a raw request buffer during TCP content inspection,
 * which tern's ACLs (evaluated on a parsed request head) do not have.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/acl/acl.h"
#include "proxy/acl/acl_int.h"
#include "proxy/core/util.h"

struct predef {
    const char *name;
    int argc;
    const char *argv[4];
};

static const struct predef predefs[] = {
    {"FALSE", 1, {"always_false"}},
    {"HTTP", 1, {"req.proto_http"}},
    {"HTTP_1.0", 2, {"req.ver", "1.0"}},
    {"HTTP_1.1", 2, {"req.ver", "1.1"}},
    {"HTTP_2.0", 2, {"req.ver", "2.0"}},
    {"HTTP_CONTENT", 3, {"req.hdr_val(content-length)", "gt", "0"}},
    {"HTTP_URL_ABS", 2, {"url_reg", "^[^/:]*://"}},
    {"HTTP_URL_SLASH", 2, {"url_beg", "/"}},
    {"HTTP_URL_STAR", 2, {"url", "*"}},
    {"LOCALHOST", 3, {"src", "127.0.0.1/8", "::1"}},
    {"METH_CONNECT", 2, {"method", "CONNECT"}},
    {"METH_DELETE", 2, {"method", "DELETE"}},
    {"METH_GET", 3, {"method", "GET", "HEAD"}},
    {"METH_HEAD", 2, {"method", "HEAD"}},
    {"METH_OPTIONS", 2, {"method", "OPTIONS"}},
    {"METH_POST", 2, {"method", "POST"}},
    {"METH_PUT", 2, {"method", "PUT"}},
    {"METH_TRACE", 2, {"method", "TRACE"}},
    {"TRUE", 1, {"always_true"}},
};

static const char *const unsupported_predefs[] = {"RDP_COOKIE", "REQ_CONTENT", "WAIT_END"};

/* ---- evaluation --------------------------------------------------------------- */

bool acl_eval(const struct acl *acl, const struct acl_ctx *ctx)
{
    for (uint32_t i = 0; i < acl->nexprs; i++)
        if (acl_expr_eval(acl->exprs[i], ctx))
            return true;
    return false;
}

bool acl_cond_eval(const struct acl_cond *c, const struct acl_ctx *ctx)
{
    uint32_t t = 0;
    bool res = false;

    if (!c)
        return true;
    for (uint32_t s = 0; s < c->nsuites && !res; s++) {
        uint32_t end = c->suite_end[s];
        res = true;
        for (; t < end; t++) {
            if (acl_eval(c->terms[t].acl, ctx) == c->terms[t].neg) {
                res = false;
                break;
            }
        }
        t = end;
    }
    return res != c->unless;
}

/* Whether fetch f can find its input where a rule runs (see acl_cond_check). */
static int check_fetch(const struct acl_fetch *f, const char *text, enum acl_where where,
                       char *err, size_t errlen)
{
    bool http = !(f->kind == ACL_F_TRUE || f->kind == ACL_F_FALSE || f->kind == ACL_F_SRC ||
                  f->kind == ACL_F_DST || f->kind == ACL_F_SRC_PORT || f->kind == ACL_F_DST_PORT ||
                  f->kind >= ACL_F_SSL_FC);

    if (where != ACL_WHERE_TCP && ACL_F_IS_PAYLOAD(f->kind))
        return acl_err(err, errlen, "'%s' reads the client's first bytes: only available in "
                                    "mode tcp", text);
    if (where == ACL_WHERE_TCP && http)
        return acl_err(err, errlen, "'%s' reads an HTTP message: not available in a "
                                    "TCP rule (mode tcp)", text);
    if (where == ACL_WHERE_REQUEST && f->dir == ACL_DIR_RES)
        return acl_err(err, errlen, "'%s' reads the response: not available in a request rule",
                       text);
    return 0;
}

int acl_cond_check(const struct acl_cond *c, enum acl_where where, char *err, size_t errlen)
{
    for (uint32_t t = 0; c && t < c->nterms; t++) {
        const struct acl *acl = c->terms[t].acl;
        for (uint32_t i = 0; i < acl->nexprs; i++)
            if (check_fetch(acl->exprs[i]->fetch, acl->exprs[i]->text, where, err, errlen) < 0)
                return -1;
    }
    return 0;
}

int acl_sample_check(const struct acl_expr *e, enum acl_where where, char *err, size_t errlen)
{
    return check_fetch(e->fetch, e->text, where, err, errlen);
}

/* ---- parsing ------------------------------------------------------------------ */

void acl_cond_free(struct acl_cond *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->nowned; i++)
        acl_free(c->owned[i]);
    free(c->owned);
    free(c->terms);
    free(c->suite_end);
    free(c);
}

static void add_term(struct acl_cond *c, const struct acl *acl, bool neg)
{
    c->terms = tern_realloc(c->terms, (c->nterms + 1) * sizeof(*c->terms));
    c->terms[c->nterms++] = (struct acl_term){acl, neg};
}

static void own(struct acl_cond *c, struct acl *acl)
{
    c->owned = tern_realloc(c->owned, (c->nowned + 1) * sizeof(*c->owned));
    c->owned[c->nowned++] = acl;
}

static void close_suite(struct acl_cond *c)
{
    c->suite_end = tern_realloc(c->suite_end, (c->nsuites + 1) * sizeof(*c->suite_end));
    c->suite_end[c->nsuites++] = c->nterms;
}

/* The predefined ACL `name`, compiled once per condition. NULL with err set
 * when the name is not a (supported) predefined ACL; *known tells which. */
static const struct acl *predefined(struct acl_cond *c, const char *name, bool *known, char *err,
                                    size_t errlen)
{
    *known = false;
    for (size_t i = 0; i < TERN_ARRAY_SIZE(unsupported_predefs); i++)
        if (strcmp(name, unsupported_predefs[i]) == 0) {
            *known = true;
            acl_err(err, errlen,
                    "predefined ACL '%s' is not supported by tern (it inspects the raw request "
                    "buffer; tern evaluates ACLs on the parsed request)", name);
            return NULL;
        }
    for (uint32_t i = 0; i < c->nowned; i++)
        if (c->owned[i]->name && strcmp(c->owned[i]->name, name) == 0)
            return c->owned[i];
    for (size_t i = 0; i < TERN_ARRAY_SIZE(predefs); i++) {
        if (strcmp(name, predefs[i].name) != 0)
            continue;
        *known = true;
        struct acl_expr *e =
            acl_expr_parse(predefs[i].argc, (char **)predefs[i].argv, err, errlen);
        TERN_ASSERT(e != NULL); /* the table is ours */
        struct acl *acl = acl_new(name);
        acl_push_expr(acl, e);
        own(c, acl);
        return acl;
    }
    return NULL;
}

static int unknown_acl(const struct acl_set *set, const char *name, char *err, size_t errlen)
{
    size_t n = (set ? set->n : 0) + TERN_ARRAY_SIZE(predefs);
    const char **cands = tern_malloc(n * sizeof(*cands));
    size_t k = 0;

    for (uint32_t i = 0; set && i < set->n; i++)
        cands[k++] = set->acls[i]->name;
    for (size_t i = 0; i < TERN_ARRAY_SIZE(predefs); i++)
        cands[k++] = predefs[i].name;
    const char *s = acl_suggest(name, cands, k);
    if (s)
        acl_err(err, errlen, "unknown ACL '%s' (did you mean '%s'?)", name, s);
    else
        acl_err(err, errlen, "unknown ACL '%s'", name);
    free(cands);
    return -1;
}

int acl_cond_parse(const struct acl_set *set, int argc, char **argv, struct acl_cond **out,
                   char *err, size_t errlen)
{
    struct acl_cond *c;
    bool neg = false;
    uint32_t suite_start = 0;

    *out = NULL;
    if (argc < 1)
        return acl_err(err, errlen, "missing 'if' or 'unless'");
    if (strcmp(argv[0], "if") != 0 && strcmp(argv[0], "unless") != 0)
        return acl_err(err, errlen, "expected 'if' or 'unless', got '%s'", argv[0]);
    c = tern_calloc(1, sizeof(*c));
    c->unless = argv[0][0] == 'u';

    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        while (*w == '!') {
            neg = !neg;
            w++;
        }
        if (!*w)
            continue; /* a lone "!" applies to the next word */

        if (strcmp(w, "||") == 0 || strcasecmp(w, "or") == 0) {
            if (neg) {
                acl_err(err, errlen, "'!' not followed by an ACL");
                goto fail;
            }
            if (c->nterms == suite_start) {
                acl_err(err, errlen, "missing condition before '%s'", w);
                goto fail;
            }
            close_suite(c);
            suite_start = c->nterms;
            continue;
        }

        if (strcmp(w, "{") == 0) {
            int j = i + 1;
            while (j < argc && strcmp(argv[j], "}") != 0)
                j++;
            if (j >= argc) {
                acl_err(err, errlen, "missing '}' after '{'");
                goto fail;
            }
            if (j == i + 1) {
                acl_err(err, errlen, "empty anonymous ACL '{ }'");
                goto fail;
            }
            struct acl_expr *e = acl_expr_parse(j - i - 1, argv + i + 1, err, errlen);
            if (!e)
                goto fail;
            struct acl *acl = acl_new(NULL);
            acl_push_expr(acl, e);
            own(c, acl);
            add_term(c, acl, neg);
            neg = false;
            i = j;
            continue;
        }
        if (strcmp(w, "}") == 0) {
            acl_err(err, errlen, "unexpected '}' without '{'");
            goto fail;
        }

        const struct acl *acl = acl_set_find(set, w);
        if (!acl) {
            bool known;
            acl = predefined(c, w, &known, err, errlen);
            if (!acl) {
                if (!known)
                    unknown_acl(set, w, err, errlen);
                goto fail;
            }
        }
        add_term(c, acl, neg);
        neg = false;
    }

    if (neg) {
        acl_err(err, errlen, "'!' not followed by an ACL");
        goto fail;
    }
    if (c->nterms == suite_start) {
        if (c->nsuites == 0)
            acl_err(err, errlen, "missing condition after '%s'", argv[0]);
        else
            acl_err(err, errlen, "missing condition after '||'");
        goto fail;
    }
    close_suite(c);
    *out = c;
    return 0;

fail:
    acl_cond_free(c);
    return -1;
}

bool acl_cond_uses_payload(const struct acl_cond *c)
{
    for (uint32_t t = 0; c && t < c->nterms; t++) {
        const struct acl *acl = c->terms[t].acl;
        for (uint32_t i = 0; i < acl->nexprs; i++)
            if (ACL_F_IS_PAYLOAD(acl->exprs[i]->fetch->kind))
                return true;
    }
    return false;
}
