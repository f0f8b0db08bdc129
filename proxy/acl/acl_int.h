/*
 * acl_int.h: what the files of proxy/acl share and nobody else sees.
 *
 *   acl_fetch.c  the fetch keyword table and the fetches (request path)
 *   acl_match.c  the match methods, regexes included (request path)
 *   acl_parse.c  `acl` lines: criterion, flags, patterns; acl_set
 *   acl_cond.c   `if`/`unless` conditions, predefined ACLs, evaluation
 */
#ifndef TERN_ACL_INT_H
#define TERN_ACL_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/acl/acl_types.h"

/* How a fetch takes arguments. */
enum acl_args_kind {
    ACL_ARGS_NONE = 0,   /* no parentheses, or empty ones */
    ACL_ARGS_HDR,        /* ([<name>[,<occ>]]): no name = every header */
    ACL_ARGS_HDR_NAME,   /* (<name>[,<occ>]): name required */
    ACL_ARGS_HDR_CNT,    /* ([<name>]) */
    ACL_ARGS_URLP,       /* ([<name>[,<delim>]]) */
};

/* Which sample a fetch extracts (acl_fetch.c switches on it). */
enum acl_fetch_kind {
    ACL_F_TRUE = 0,
    ACL_F_FALSE,
    ACL_F_PROTO_HTTP,
    ACL_F_HDR,           /* comma-separated values */
    ACL_F_FHDR,          /* full field values */
    ACL_F_HDR_CNT,
    ACL_F_FHDR_CNT,
    ACL_F_HDR_VAL,
    ACL_F_HDR_IP,
    ACL_F_PATH,
    ACL_F_PATHQ,
    ACL_F_URL,
    ACL_F_QUERY,
    ACL_F_URLP,
    ACL_F_URLP_VAL,
    ACL_F_METHOD,
    ACL_F_VER,
    ACL_F_SRC,
    ACL_F_DST,
    ACL_F_SRC_PORT,
    ACL_F_DST_PORT,
    ACL_F_STATUS,
    /* the connection's TLS (ctx->tls) */
    ACL_F_SSL_FC,
    ACL_F_SSL_C_USED,
    ACL_F_SSL_C_VERIFY,
    ACL_F_SSL_C_S_DN,
    ACL_F_SSL_FC_SNI,
    ACL_F_SSL_C_SPIFFE_ID,
    /* the client's first bytes in mode tcp (ctx->payload) */
    ACL_F_REQ_LEN,
    ACL_F_REQ_SSL_HELLO_TYPE,
    ACL_F_REQ_SSL_VER,
    ACL_F_REQ_SSL_SNI,
    ACL_F_REQ_SSL_ALPN,
};

#define ACL_F_IS_PAYLOAD(k) ((k) >= ACL_F_REQ_LEN && (k) <= ACL_F_REQ_SSL_ALPN)

/* Which message a fetch reads. */
enum acl_dir {
    ACL_DIR_REQ = 0,     /* ctx->req */
    ACL_DIR_RES,         /* ctx->res */
    ACL_DIR_AUTO,        /* ctx->res when there is one, else ctx->req (bare `hdr`) */
};

/* One fetch keyword: "hdr_beg" is the `hdr` fetch with ACL_M_BEG. */
struct acl_fetch {
    const char *name;
    uint8_t kind;        /* enum acl_fetch_kind */
    uint8_t type;        /* enum acl_type of its sample */
    uint8_t match;       /* enum acl_match implied by the keyword */
    uint8_t args;        /* enum acl_args_kind */
    uint8_t dir;         /* enum acl_dir */
};

extern const struct acl_fetch acl_fetches[];
extern const size_t acl_nfetches;

/* The table entry for `name` (exact, case-sensitive), or NULL. */
const struct acl_fetch *acl_fetch_find(const char *name, size_t len);

/* An address sample: IPv4 in a[0..3] when v4. */
struct acl_addr {
    uint8_t v4;
    uint8_t a[16];
};

/* Evaluates one expression: fetch every sample, true at the first match. */
bool acl_expr_eval(const struct acl_expr *e, const struct acl_ctx *ctx);

/* Matchers, one per sample type (acl_match.c); the expression's match
 * method was checked against the type at parse time. */
bool acl_match_str(const struct acl_expr *e, const char *p, size_t len);
bool acl_match_int(const struct acl_expr *e, int64_t v);
bool acl_match_addr(const struct acl_expr *e, const struct acl_addr *a);
bool acl_match_bool(const struct acl_expr *e, bool b);
bool acl_match_meth(const struct acl_expr *e, int meth, const char *p, size_t len);

/* Reads an address sample out of text: "1.2.3.4", "1.2.3.4:80", "::1",
 * "[::1]", "[::1]:80". Returns false when it is not one. */
bool acl_addr_from_text(const char *p, size_t len, struct acl_addr *out);
/* From a socket address (AF_INET / AF_INET6); false for anything else. */
bool acl_addr_from_sockaddr(const struct sockaddr *sa, struct acl_addr *out);

/* FNV-1a over the bytes, ASCII-folded when icase: the hash of the str
 * pattern table, the same at parse and match time. */
uint32_t acl_str_hash(const char *p, size_t n, bool icase);

/* `acl` line parsing (acl_parse.c), shared with `{ ... }` in conditions. */
struct acl_expr *acl_expr_parse(int argc, char **argv, char *err, size_t errlen);
void acl_expr_free(struct acl_expr *e);
struct acl *acl_new(const char *name);
void acl_push_expr(struct acl *acl, struct acl_expr *e);
void acl_free(struct acl *acl);

/* Did-you-mean: the candidate closest to `word` when it is close enough
 * (a typo or two), else NULL. */
const char *acl_suggest(const char *word, const char *const *cands, size_t n);

/* snprintf into err (when errlen > 0); returns -1 for `return acl_err(...)`. */
int acl_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* TERN_ACL_INT_H */
