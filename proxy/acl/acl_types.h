/*
 * acl_types.h: the types of the ACL engine (HAProxy's `acl` lines and
 * `if`/`unless` conditions). Prototypes and contracts are in acl.h.
 *
 * Shape, from the top:
 *
 *   struct acl_cond   one `if ...`/`unless ...`: a disjunction of suites
 *                     (`||`), each suite a conjunction of terms, each term
 *                     a [negated] pointer to a struct acl.
 *   struct acl        a named ACL (all `acl <name> ...` lines of a section,
 *                     ORed), an anonymous `{ ... }` ACL or a predefined one.
 *   struct acl_expr   one `acl` line: a fetch (what to extract from the
 *                     request), a match method and its compiled patterns
 *                     (ORed).
 *
 * Everything here is built on the main thread at config load and never
 * written afterwards: workers read it concurrently without locks.
 */
#ifndef TERN_ACL_TYPES_H
#define TERN_ACL_TYPES_H

#include <stdbool.h>
#include <stdint.h>

struct http_msg;
struct sockaddr;
struct acl_fetch;

/*
 * What a fetch may read while a condition is evaluated. Every pointer is
 * borrowed for the duration of the call and may be NULL: a fetch whose input
 * is missing finds no sample, so its ACL is false (and `!acl` true).
 */
struct acl_ctx {
    const struct http_msg *req;   /* request head; NULL in TCP mode */
    const struct http_msg *res;   /* response head in http-response rules, else NULL */
    const struct sockaddr *src;   /* client address (AF_INET or AF_INET6) */
    const struct sockaddr *dst;   /* address the client connected to */
    const struct acl_conn_tls *tls; /* TLS-terminated connection, else NULL (ssl_fc false) */
    const struct acl_payload *payload; /* mode tcp: the client's first bytes, else NULL */
};

/* What the req.* content fetches read in mode tcp (tcp-request content and
 * use_backend after the inspection): the bytes buffered from the client and
 * the ClientHello found at their start, parsed once by the caller. Borrowed. */
struct acl_payload {
    uint64_t len;              /* req.len: bytes buffered */
    int hello_type;            /* req.ssl_hello_type: 1 = a complete ClientHello, 0 none */
    int64_t ssl_ver;           /* req.ssl_ver: major * 65536 + minor, 0 when unknown */
    const char *sni;           /* req.ssl_sni: the server_name, or NULL */
    const uint8_t *alpn;       /* req.ssl_alpn: wire format (len, bytes)..., or NULL */
    uint32_t alpn_len;
};

/* What the ssl_* fetches read about a connection whose TLS tern terminated
 * (filled once after the handshake; borrowed strings). */
struct acl_conn_tls {
    bool c_used;               /* ssl_c_used: the client presented a certificate */
    long c_verify;             /* ssl_c_verify: the verify result, 0 = ok */
    const char *c_s_dn;        /* ssl_c_s_dn: subject DN (RFC 2253), or NULL */
    const char *spiffe_id;     /* ssl_c_spiffe_id: the SPIFFE ID (URI SAN), or NULL */
    const char *sni;           /* ssl_fc_sni: the SNI the client sent, or NULL */
};

/* Sample types a fetch returns (HAProxy's). */
enum acl_type {
    ACL_T_BOOL = 0,
    ACL_T_INT,
    ACL_T_IP,
    ACL_T_STR,
    ACL_T_METH,      /* a method: enum + token, matched by ACL_M_METH */
};

/* Match methods (`-m <name>`, or implied by the fetch keyword). */
enum acl_match {
    ACL_M_FOUND = 0, /* a sample exists; patterns ignored */
    ACL_M_BOOL,      /* boolean true / integer non-zero; patterns ignored */
    ACL_M_INT,       /* integer in one of the ranges */
    ACL_M_IP,        /* address within one of the networks */
    ACL_M_STR,       /* exact string */
    ACL_M_BEG,       /* prefix */
    ACL_M_END,       /* suffix */
    ACL_M_SUB,       /* substring */
    ACL_M_REG,       /* PCRE2 regex */
    ACL_M_LEN,       /* length of the string, matched as an integer */
    ACL_M_DOM,       /* word delimited by . : / ? or the ends */
    ACL_M_DIR,       /* word delimited by / ? or the ends */
    ACL_M_METH,      /* HTTP method (the `method` fetch) */
    ACL_M_COUNT,
};

/* A string pattern: a slice of the expression's text blob. */
struct acl_pat_str {
    const char *p;
    uint32_t len;
};

/* An integer pattern: the inclusive range [lo, hi] (operators and
 * "a:b" ranges both compile to this). */
struct acl_pat_int {
    int64_t lo;
    int64_t hi;
};

/* An address pattern: addr is already masked. IPv4 uses bytes 0..3. */
struct acl_pat_ip {
    uint8_t v4;          /* 1: IPv4 network, 0: IPv6 network */
    uint8_t addr[16];
    uint8_t mask[16];
};

/* A method pattern: a well-known method compares by id (as HAProxy: GET,
 * HEAD, POST, PUT, DELETE, OPTIONS, TRACE, CONNECT); any other token
 * compares as a string with a request whose method is not one of those. */
struct acl_pat_meth {
    int meth;            /* enum http_method, HTTP_M_OTHER for other tokens */
    const char *p;
    uint32_t len;
};

/* Arguments of a fetch: `hdr(<name>[,<occ>])`, `urlp([<name>[,<delim>]])`. */
struct acl_args {
    char *name;          /* owned; NULL when absent (hdr: every header) */
    uint32_t name_len;
    int32_t occ;         /* 0: every occurrence; >0 from the first; <0 from the last */
    char delim;          /* urlp delimiter; '?' by default */
};

/* One `acl` line (or the content of `{ ... }`). */
struct acl_expr {
    const struct acl_fetch *fetch;  /* static table entry (acl_fetch.c) */
    struct acl_args args;
    uint8_t match;                  /* enum acl_match */
    bool icase;                     /* -i */
    uint32_t npat;
    union {
        struct acl_pat_str *str;    /* STR BEG END SUB DOM DIR */
        struct acl_pat_int *ints;   /* INT LEN */
        struct acl_pat_ip *ip;      /* IP */
        struct acl_pat_meth *meth;  /* METH */
        void **re;                  /* REG: pcre2_code_8 * each */
    } pat;
    uint32_t *hash;                 /* ACL_M_STR with many patterns: open-addressing
                                     * table of pattern index + 1 (0 = empty) */
    uint32_t hash_mask;
    char *blob;                     /* owned storage of the string patterns */
    char *text;                     /* the criterion as written, for messages */
};

/* A named, anonymous or predefined ACL: true when any expression matches. */
struct acl {
    char *name;                     /* owned; NULL for an anonymous ACL */
    struct acl_expr **exprs;        /* owned */
    uint32_t nexprs;
    uint32_t cap;
};

/* The named ACLs of one proxy section. */
struct acl_set {
    struct acl **acls;              /* owned; each struct acl is a stable pointer */
    uint32_t n;
    uint32_t cap;
};

/* One term of a suite: an ACL, possibly negated. */
struct acl_term {
    const struct acl *acl;          /* borrowed from the set, or one of cond->owned */
    bool neg;
};

/* `if`/`unless` + a disjunction of conjunctions. */
struct acl_cond {
    bool unless;
    struct acl_term *terms;         /* every suite's terms, one after the other */
    uint32_t nterms;
    uint32_t *suite_end;            /* suite i is terms[suite_end[i-1] .. suite_end[i]) */
    uint32_t nsuites;
    struct acl **owned;             /* anonymous and predefined ACLs this condition uses */
    uint32_t nowned;
};

#endif /* TERN_ACL_TYPES_H */
