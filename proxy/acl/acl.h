/*
 * acl.h: HAProxy's ACL engine: `acl` lines compiled once at config load,
 * `if`/`unless` conditions evaluated on the request path without a lock and
 * without an allocation.
 *
 * Config side (main thread):
 *
 *   struct acl_set *set = acl_set_new();
 *   // acl host_api hdr(host) -i api.example.com
 *   acl_set_add(set, "host_api", argc, argv, err, sizeof(err));
 *   // use_backend api if host_api !{ path_beg /admin } || METH_OPTIONS
 *   acl_cond_parse(set, argc, argv, &cond, err, sizeof(err));
 *
 * Request side (any worker): acl_cond_eval(cond, &ctx), ctx giving the
 * request, the response in http-response rules, and the connection's
 * addresses (struct acl_ctx).
 *
 * Syntax (HAProxy 2.6, section 7):
 *   acl <name> <criterion> [flags] [operator] <value> ...
 *   criterion: a fetch keyword, with arguments in parentheses where it takes
 *              them: hdr(host), hdr(x-forwarded-for,-1), urlp(id), urlp(j,;)
 *   flags:     -i (ignore case), -m <method>, -f <file> (patterns, one a
 *              line, '#' comments), -n (no DNS: tern never resolves), -u <id>
 *              (accepted, ignored), -- (end of flags). Flags come before the
 *              first value: a later "-i" is a value.
 *   operator:  eq ge gt le lt, before integer values (ranges "a:b", "a:",
 *              ":b" also work)
 *   values:    several values are ORed; several `acl` lines with the same
 *              name are ORed too.
 * Conditions: `if` or `unless`, then terms: an ACL name, optionally prefixed
 * by `!`; terms side by side are ANDed; `||` or `or` separates ORed suites
 * (AND binds tighter); `{ <criterion> [flags] <values> }` is an anonymous
 * ACL (braces are separate words).
 *
 * The fetches, match methods and predefined ACLs supported, and where tern
 * differs from HAProxy, are listed in README.md ("Content switching"); in short, every
 * fetch of acl_fetch.c's table with the matches of its sample type.
 *
 * Errors: functions of the config side return 0, or -1 with a one-line
 * message in err (never prefixed: the caller adds "FILE:LINE: acl:"). On
 * error nothing is added and nothing leaks.
 *
 * Ownership: a condition borrows the named ACLs of the set it was parsed
 * against: free every condition before (or together with) its set, and never
 * evaluate a condition whose set is gone. Anonymous and predefined ACLs
 * belong to the condition. A condition holds the named ACL itself, so an
 * `acl` line with the same name added after the condition was parsed is seen
 * by it (HAProxy behaves the same).
 *
 * Threads: parsing and freeing on one thread (config load). Evaluation from
 * any number of threads at once once parsing is over: the compiled ACLs are
 * read-only; regexes use a per-thread match block (see acl_thread_prepare).
 */
#ifndef TERN_ACL_H
#define TERN_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/acl/acl_types.h"

/* Longest URL the `url`/`pathq`/`urlp` fetches rebuild when a rewrite left
 * its parts apart in memory (they are used in place otherwise); a longer URL
 * gives no sample. */
#define ACL_URL_SCRATCH 16384

/* ---- named ACLs ------------------------------------------------------ */

/* An empty set, owned by the caller (acl_set_free). Never NULL. */
struct acl_set *acl_set_new(void);

/*
 * Adds one `acl <name> ...` line: argv[0..argc) are the words after the name
 * (criterion, flags, values), borrowed (copied as needed). A name already in
 * the set gets this expression ORed with its others.
 * Returns 0, or -1 with err set, for example:
 *   "invalid ACL name 'a b': ...", "missing criterion",
 *   "unknown fetch 'pth' (did you mean 'path'?)", "unknown flag '-x' ...",
 *   "missing value for 'path_beg'", "invalid regex '(' : missing closing
 *   parenthesis at offset 1", "invalid address '300.1.1.1' for 'src'",
 *   "invalid integer 'abc' for 'hdr_cnt'", "match method '-m reg' cannot be
 *   used with 'src' (an address)".
 */
int acl_set_add(struct acl_set *set, const char *name, int argc, char **argv, char *err,
                size_t errlen);

/* The ACL called `name` (case-sensitive), or NULL. Predefined ACLs are not
 * in a set. */
const struct acl *acl_set_find(const struct acl_set *set, const char *name);

/* Frees the set and all its ACLs. NULL is fine. */
void acl_set_free(struct acl_set *set);

/* ---- conditions -------------------------------------------------------- */

/*
 * Parses argv[0..argc): "if"|"unless" followed by the condition, against the
 * named ACLs of `set` (may be NULL: only predefined and anonymous ACLs) and
 * the predefined ACLs (a name of the set wins over a predefined one, as in
 * HAProxy). On success *out is a condition owned by the caller.
 * Returns 0, or -1 with err set, for example:
 *   "expected 'if' or 'unless', got 'when'", "missing condition after 'if'",
 *   "unknown ACL 'is_api' (did you mean 'is_apu'?)", "missing '}'",
 *   "missing condition after '||'", "'!' not followed by an ACL",
 *   "empty anonymous ACL '{ }'", "predefined ACL 'WAIT_END' is not
 *   supported by tern", or any acl_set_add message for `{ ... }`.
 */
int acl_cond_parse(const struct acl_set *set, int argc, char **argv, struct acl_cond **out,
                   char *err, size_t errlen);

/* Where a condition will be evaluated (acl_cond_check). */
enum acl_where {
    ACL_WHERE_TCP = 0,     /* no HTTP message: ctx->req and ctx->res NULL */
    ACL_WHERE_REQUEST,     /* http-request, use_backend, ...: ctx->req set */
    ACL_WHERE_RESPONSE,    /* http-response: ctx->req and ctx->res set */
};

/*
 * Config-time check that every fetch of the condition can find its input
 * where it will run: a response fetch (`status`, `res.hdr`, ...) in a
 * request rule, or any HTTP fetch in a TCP rule, would silently never match,
 * so it is refused as HAProxy does. Returns 0, or -1 with err set, e.g.
 * "'status' reads the response: not available in a request rule".
 */
int acl_cond_check(const struct acl_cond *cond, enum acl_where where, char *err, size_t errlen);

/* Whether the condition reads the client's first bytes (req.len,
 * req.ssl_*): a tcp-request content rule then waits for them. */
bool acl_cond_uses_payload(const struct acl_cond *cond);

/*
 * Evaluates the condition on ctx (borrowed). Returns its value, `unless`
 * already applied; a NULL condition (a rule without if/unless) is true.
 * Never allocates (but see acl_thread_prepare), never locks, never fails: a
 * missing input is a missing sample.
 */
bool acl_cond_eval(const struct acl_cond *cond, const struct acl_ctx *ctx);

/* Frees a condition (not the named ACLs it borrows). NULL is fine. */
void acl_cond_free(struct acl_cond *cond);

/* Evaluates one ACL: true when one of its expressions matches. */
bool acl_eval(const struct acl *acl, const struct acl_ctx *ctx);

/* ---- samples: a fetch's value as text ------------------------------------ */

/*
 * `%[<fetch>]` in HAProxy log-format strings (http-request set-header ...):
 * one fetch of the table above with its arguments, as a sample fetch rather
 * than an ACL criterion. The ACL derivatives (`path_beg`, `hdr_reg`, ...)
 * and converters (`hdr(host),lower`) are refused. Where HAProxy's sample
 * fetch differs from its ACL (a header fetch takes the *last* occurrence by
 * default, `urlp` the first value), the sample follows HAProxy.
 *
 * acl_sample_parse: `text` is the inside of %[...] ("hdr(host)", "src").
 * Returns 0 with *out owned by the caller (acl_sample_free), or -1 with err
 * set ("unknown fetch 'pth' (did you mean 'path'?)", "'path_beg' is an ACL
 * match, not a sample fetch (use 'path')", "converters are not supported").
 */
int acl_sample_parse(const char *text, struct acl_expr **out, char *err, size_t errlen);

/* As acl_cond_check, for one sample fetch. */
int acl_sample_check(const struct acl_expr *e, enum acl_where where, char *err, size_t errlen);

/*
 * The sample as text: true with *out and *len set, or false when there is no
 * sample (header absent, no query, ...). The bytes are the message's own, a
 * per-thread scratch buffer, or buf[0, cap) (integers, addresses: cap >= 64
 * always suffices); valid until the next call on this thread or until the
 * message changes: copy them before either. Never allocates, never locks.
 */
bool acl_sample_text(const struct acl_expr *e, const struct acl_ctx *ctx, char *buf, size_t cap,
                     const char **out, size_t *len);

/* Frees a sample fetch. NULL is fine. */
void acl_sample_free(struct acl_expr *e);

/* ---- regexes ---------------------------------------------------------------- */

/* Groups a match reports: \0 (the whole match) to \9. */
#define ACL_REGEX_GROUPS 10

/* Compiles a regex (PCRE2, JIT when available). Returns 0 with *out owned by
 * the caller (acl_regex_free), or -1 with "invalid regex '<re>' : <pcre2
 * message> at offset <n>" in err. Main thread. */
int acl_regex_compile(const char *re, bool icase, void **out, char *err, size_t errlen);
void acl_regex_free(void *re);

/*
 * Runs a compiled regex on p[0, n) with the thread's match block (see
 * acl_thread_prepare). Returns 0 when it does not match, else the number of
 * groups g (1..ACL_REGEX_GROUPS) whose offsets are in ovec[0, 2g): group i
 * spans [ovec[2i], ovec[2i+1]), both PCRE2_UNSET (~0) for a group that took
 * no part in the match. Never allocates, never locks.
 */
int acl_regex_exec(const void *re, const char *p, size_t n, size_t ovec[2 * ACL_REGEX_GROUPS]);

/* ---- per-thread state ---------------------------------------------------- */

/*
 * Regex matching needs a small PCRE2 match block per thread. It is created
 * the first time a thread evaluates a regex, and freed when the thread exits.
 * A worker calls acl_thread_prepare() when it starts so that its request path
 * never allocates; acl_thread_release() frees it early (the main thread,
 * whose thread-exit hook never runs, and tests). Both are idempotent.
 */
void acl_thread_prepare(void);
void acl_thread_release(void);

#endif /* TERN_ACL_H */
