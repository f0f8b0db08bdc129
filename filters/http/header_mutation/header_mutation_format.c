/*
 * header_mutation_format.c: HAProxy log-format strings, the values of the
 * http-request / http-response actions: compiled once at config load into
 * parts (literal text, %[<fetch>], regex groups), evaluated on the request
 * path into a caller's buffer.
 *
 * Supported: literal text, `%%` (a percent sign), `%[<fetch>]` with the
 * fetches of the ACL engine (acl_sample_parse: no converters), and in
 * replace formats `\0`..`\9` (a group of the match). Everything else
 * HAProxy's log-format has (`%ci`, `%{+Q}[...]`, `%H`, ...) is refused with
 * a message that names it: a value silently missing a piece would be worse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter_err.h"
#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/acl/acl.h"

static struct hm_part *new_part(struct hm_fmt *f)
{
    struct hm_part *n = realloc(f->parts, (f->nparts + 1) * sizeof(*n));

    if (!n)
        abort();
    f->parts = n;
    n = &f->parts[f->nparts++];
    memset(n, 0, sizeof(*n));
    n->group = -1;
    return n;
}

/* Appends literal bytes: to the previous part when it is literal too. */
static void add_lit(struct hm_fmt *f, size_t *blen, const char *p, size_t n)
{
    struct hm_part *last = f->nparts ? &f->parts[f->nparts - 1] : NULL;

    memcpy(f->blob + *blen, p, n);
    if (last && !last->fetch && last->group < 0 && last->lit + last->len == f->blob + *blen) {
        last->len += (uint32_t)n;
    } else {
        struct hm_part *pt = new_part(f);
        pt->lit = f->blob + *blen;
        pt->len = (uint32_t)n;
    }
    *blen += n;
}

int hm_fmt_compile(struct hm_fmt *f, const char *text, bool groups, bool response, char *err,
                   size_t errlen)
{
    size_t len = strlen(text), blen = 0;
    const char *p = text, *end = text + len;
    char ferr[256];

    memset(f, 0, sizeof(*f));
    f->blob = malloc(len + 1);
    if (!f->blob)
        abort();
    while (p < end) {
        if (*p == '%') {
            if (p + 1 < end && p[1] == '%') {
                add_lit(f, &blen, "%", 1);
                p += 2;
                continue;
            }
            if (p + 1 < end && p[1] == '[') {
                const char *close = memchr(p + 2, ']', (size_t)(end - p - 2));
                char inner[256];
                struct acl_expr *e;
                struct hm_part *pt;

                if (!close) {
                    filter_err(err, errlen, "missing ']' after '%.*s' in '%s'", 40, p, text);
                    goto bad;
                }
                if ((size_t)(close - p - 2) >= sizeof(inner)) {
                    filter_err(err, errlen, "sample fetch too long in '%s'", text);
                    goto bad;
                }
                memcpy(inner, p + 2, (size_t)(close - p - 2));
                inner[close - p - 2] = 0;
                if (acl_sample_parse(inner, &e, ferr, sizeof(ferr)) != 0) {
                    filter_err(err, errlen, "%%[%s]: %s", inner, ferr);
                    goto bad;
                }
                if (acl_sample_check(e, response ? ACL_WHERE_RESPONSE : ACL_WHERE_REQUEST, ferr,
                                     sizeof(ferr)) != 0) {
                    acl_sample_free(e);
                    filter_err(err, errlen, "%%[%s]: %s", inner, ferr);
                    goto bad;
                }
                pt = new_part(f);
                pt->fetch = e;
                p = close + 1;
                continue;
            }
            if (p + 1 >= end) {
                filter_err(err, errlen, "lone '%%' at the end of '%s' (write '%%%%' for a percent sign)",
                     text);
                goto bad;
            }
            {
                /* the name of the unsupported variable: %{...}x or letters */
                const char *q = p + 1;
                if (*q == '{') {
                    const char *c = memchr(q, '}', (size_t)(end - q));
                    q = c ? c + 1 : end;
                }
                while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                                   *q == '[' || *q == '_'))
                    q++;
                if (q == p + 1)
                    q++;
                filter_err(err, errlen,
                     "'%.*s' in '%s' is not supported (log-format variables are not: only "
                     "%%[<fetch>] and %%%%)",
                     (int)(q - p), p, text);
                goto bad;
            }
        }
        if (groups && *p == '\\' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            struct hm_part *pt = new_part(f);
            pt->group = (int8_t)(p[1] - '0');
            p += 2;
            continue;
        }
        {
            const char *q = p + 1;
            while (q < end && *q != '%' && !(groups && *q == '\\'))
                q++;
            add_lit(f, &blen, p, (size_t)(q - p));
            p = q;
        }
    }
    f->blob[blen] = 0;
    return 0;

bad:
    hm_fmt_free(f);
    return -1;
}

void hm_fmt_free(struct hm_fmt *f)
{
    for (uint32_t i = 0; i < f->nparts; i++)
        acl_sample_free(f->parts[i].fetch);
    free(f->parts);
    free(f->blob);
    memset(f, 0, sizeof(*f));
}

bool hm_fmt_constant(const struct hm_fmt *f)
{
    for (uint32_t i = 0; i < f->nparts; i++)
        if (f->parts[i].fetch || f->parts[i].group >= 0)
            return false;
    return true;
}

long hm_fmt_eval(const struct hm_fmt *f, const struct acl_ctx *ctx, const char *subject,
                 const size_t *ovec, int ngroups, char *out, size_t cap)
{
    size_t o = 0;
    char num[64];

    if (cap == 0)
        return -1;
    for (uint32_t i = 0; i < f->nparts; i++) {
        const struct hm_part *pt = &f->parts[i];
        const char *p = NULL;
        size_t n = 0;

        if (pt->fetch) {
            if (!acl_sample_text(pt->fetch, ctx, num, sizeof(num), &p, &n))
                continue; /* no sample: nothing, as HAProxy */
        } else if (pt->group >= 0) {
            size_t s, e;
            if (!subject || pt->group >= ngroups)
                continue;
            s = ovec[2 * pt->group];
            e = ovec[2 * pt->group + 1];
            if (s == (size_t)-1 || e < s)
                continue; /* the group took no part in the match */
            p = subject + s;
            n = e - s;
        } else {
            p = pt->lit;
            n = pt->len;
        }
        if (n >= cap - o)
            return -1;
        memcpy(out + o, p, n);
        o += n;
    }
    out[o] = 0;
    return (long)o;
}
