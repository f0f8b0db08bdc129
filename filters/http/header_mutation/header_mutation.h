/*
 * header_mutation.h: HAProxy's `http-request` / `http-response` actions (and
 * the section keyword `redirect`) as one HTTP filter.
 *
 * Config file: the `http-request ...`, `http-response ...` and `redirect ...`
 * lines of a frontend or listen section, in order, make one implicit
 * instance of this filter, placed first in the section's chain (before the
 * `filter` lines). README.md next to this file is the user documentation.
 * The filter is not in the registry: it has no `filter <name>` form (its
 * rules need the section's named ACLs, which a `filter` line cannot see), so
 * the config parser builds it with hm_config_new / hm_config_add.
 *
 * Dependencies: filters/filter.h (the hooks), and the ACL engine
 * (proxy/acl/acl.h) for `if`/`unless` conditions, `%[<fetch>]` samples and
 * regexes. The ACL engine is a leaf library of the proxy (it sees only
 * http_msg), not the stream core: a filter may use it as it uses http_msg.
 *
 * Threads: hm_config_* on the main thread, at config load; the hooks on any
 * worker, concurrently, on the read-only config. No lock, no allocation
 * beyond the stream's arena (filter_alloc, http_msg_* edits): formats are
 * evaluated into a per-thread scratch buffer, then copied once.
 *
 * Rewrite failures (HAProxy 2.6's strict mode: a failed rewrite fails the
 * message): a request whose rewrite would exceed tune.http.maxhdr fields or
 * the scratch buffer gets 431 (headers_too_large); one whose new method,
 * path, query or URI is not valid HTTP (spaces, control characters...) gets
 * 400 (bad_request); a failed response rewrite gets 502
 * (bad_upstream_response).
 */
#ifndef TERN_FILTERS_HTTP_HEADER_MUTATION_H
#define TERN_FILTERS_HTTP_HEADER_MUTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filters/filter.h"

struct acl_set;
struct acl_cond;
struct acl_expr;

/* name "header-mutation"; not registered by name (see above). */
extern const struct http_filter_ops header_mutation_filter;

/* Which rules a line adds to. */
enum hm_dir {
    HM_REQUEST = 0, /* http-request, redirect */
    HM_RESPONSE,    /* http-response */
};

/* An empty rule set, owned by the caller until handed to a listener
 * (config_free of the ops table frees it). max_hdrs: tune.http.maxhdr, the
 * most fields a rewritten message may have (hm_config_set_max_hdrs may
 * change it until the snapshot is published). */
struct hm_config *hm_config_new(uint32_t max_hdrs);
void hm_config_set_max_hdrs(struct hm_config *c, uint32_t max_hdrs);

/*
 * Adds one rule: argv[0..argc) are the words after `http-request` or
 * `http-response` (the action, its arguments, an optional `if|unless
 * <condition>`). For the section keyword `redirect`, pass dir HM_REQUEST and
 * argv starting with "redirect". The condition is parsed against `acls`
 * (borrowed: the set must outlive the config; NULL: predefined and
 * anonymous ACLs only) and checked for where it runs. Files named by the
 * rule (`file <path>`) are read now; `bufsize` bounds them.
 * Returns 0, or -1 with a one-line message in err (the caller prefixes
 * FILE:LINE: keyword:); on error nothing is added.
 */
int hm_config_add(struct hm_config *c, enum hm_dir dir, const struct acl_set *acls, int argc,
                  char **argv, uint32_t bufsize, char *err, size_t errlen);

/* Rules of each direction (the parser asks, to place the instance). */
uint32_t hm_config_count(const struct hm_config *c, enum hm_dir dir);

/* Frees the config (its conditions before the ACL set they borrow from).
 * NULL is fine. Also the ops table's config_free. */
void hm_config_free(void *cfg);

/* ---- internals (header_mutation*.c and their unit tests only) ------------- */

/* Most bytes a format may produce (a header value, a path, a body). */
#define HM_SCRATCH 65536

/* One piece of a compiled log-format string: literal bytes, a sample fetch,
 * or (replace-header/-value formats) a regex group \0..\9. */
struct hm_part {
    const char *lit;         /* literal bytes (in the format's blob) */
    uint32_t len;
    struct acl_expr *fetch;  /* owned, or NULL */
    int8_t group;            /* -1 or 0..9 */
};

/* A compiled HAProxy log-format string: literal text, %[<fetch>], %%. */
struct hm_fmt {
    struct hm_part *parts;   /* owned [nparts] */
    uint32_t nparts;
    char *blob;              /* owned: the literal bytes */
};

enum hm_act {
    HM_A_ALLOW = 0,          /* stop evaluating this direction's rules */
    HM_A_DENY,
    HM_A_RETURN,
    HM_A_REDIRECT,
    HM_A_SET_HEADER,
    HM_A_ADD_HEADER,
    HM_A_DEL_HEADER,
    HM_A_REPLACE_HEADER,
    HM_A_REPLACE_VALUE,
    HM_A_SET_PATH,
    HM_A_SET_QUERY,
    HM_A_SET_URI,
    HM_A_SET_PATHQ,
    HM_A_SET_METHOD,
};

enum hm_redirect {
    HM_REDIR_LOCATION = 0,
    HM_REDIR_PREFIX,
    HM_REDIR_SCHEME,
};

/* del-header -m <method> */
enum hm_del_match {
    HM_DEL_STR = 0,
    HM_DEL_BEG,
    HM_DEL_END,
    HM_DEL_SUB,
    HM_DEL_REG,
};

/* A `hdr <name> <fmt>` of deny/return. */
struct hm_reply_hdr {
    char *name;              /* owned, NUL-terminated */
    struct hm_fmt value;
};

struct hm_rule {
    enum hm_act act;
    struct acl_cond *cond;   /* owned; NULL: always */

    /* header actions: the field name (NUL-terminated) */
    char *name;
    uint32_t name_len;
    /* set/add value; replace format; path, query, uri, pathq, method;
     * redirect location/prefix/scheme; return/deny lf-string body */
    struct hm_fmt fmt;
    bool has_fmt;
    void *re;                /* replace-header/-value, del-header -m reg */
    enum hm_del_match del_match;

    /* deny, return, redirect */
    uint16_t status;
    char *ctype;             /* owned or NULL */
    char *body;              /* owned: string / file payload; NULL: see below */
    size_t body_len;
    bool body_lf;            /* the body is fmt (lf-string) */
    bool body_page;          /* no payload: tern's page for the status (or errorfile) */
    struct hm_reply_hdr *hdrs; /* owned [nhdrs] */
    uint32_t nhdrs;
    enum hm_redirect redir;
    bool drop_query;
    bool append_slash;
};

struct hm_config {
    struct hm_rule *rules[2];  /* [enum hm_dir], owned, in line order */
    uint32_t nrules[2];
    uint32_t max_hdrs;
};

/*
 * Compiles a log-format string (header_mutation_format.c). `groups`: \0..\9
 * are regex groups (replace formats); `where`: request or response rules
 * (a response fetch in a request rule is refused). Returns 0, or -1 with err
 * naming the unsupported part ("'%ci' (log-format variables are not
 * supported: only %[<fetch>] and %%)").
 */
int hm_fmt_compile(struct hm_fmt *f, const char *text, bool groups, bool response, char *err,
                   size_t errlen);
void hm_fmt_free(struct hm_fmt *f);
/* True when the format has no fetch and no group (its value is its text). */
bool hm_fmt_constant(const struct hm_fmt *f);

/*
 * Evaluates f into out[0, cap): literal text, each fetch's sample (a fetch
 * without a sample gives nothing, as in HAProxy), each group of subject
 * (ovec from acl_regex_exec with ngroups groups; NULL subject: none).
 * Returns the length (out is NUL-terminated), or -1 when cap is too small.
 */
struct acl_ctx;
long hm_fmt_eval(const struct hm_fmt *f, const struct acl_ctx *ctx, const char *subject,
                 const size_t *ovec, int ngroups, char *out, size_t cap);

/*
 * Runs the rules of dir on msg (the request, or the response with req the
 * request): what the hooks do, without the filter_stream (the unit tests
 * call it directly). Returns the rule that ended the message (deny, return,
 * redirect) or NULL when every rule ran; *fail is set to the status of a
 * rewrite failure (400, 431, 502), else 0.
 */
const struct hm_rule *hm_run(const struct hm_config *c, enum hm_dir dir, struct http_msg *msg,
                             const struct acl_ctx *ctx, uint16_t *fail);

#endif /* TERN_FILTERS_HTTP_HEADER_MUTATION_H */
