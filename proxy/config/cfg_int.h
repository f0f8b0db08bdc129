/*
 * cfg_int.h: what the parser's two halves share (private to proxy/config).
 *
 * cfg_parse.c drives: it reads logical lines, tracks sections, defaults and
 * proxy names, finds each line's keyword and reports every problem; at the
 * end it turns each proxy's settings into listeners and clusters and checks
 * what can only be checked once the whole file is read (default_backend).
 * cfg_keywords.c holds the keyword table and one handler per keyword.
 *
 * A proxy section's settings live in a `struct proxy_conf` while it is
 * parsed: it starts as a copy of its defaults section (HAProxy semantics),
 * keywords change it, and cfg_parse.c writes it into the model when the
 * section ends. Servers and binds are lists, so they go into the model
 * directly.
 */
#ifndef TERN_CFG_INT_H
#define TERN_CFG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config/cfg_lex.h"
#include "proxy/config/cfg_parse.h"
#include "proxy/model/model.h"
#include "proxy/tls/tls_conf.h"

/* Section kinds, as a bit set so a keyword can name where it is allowed. */
enum cfg_sec {
    SEC_NONE = 0,
    SEC_GLOBAL = 1 << 0,
    SEC_DEFAULTS = 1 << 1,
    SEC_FRONTEND = 1 << 2,
    SEC_BACKEND = 1 << 3,
    SEC_LISTEN = 1 << 4,
    SEC_SKIP = 1 << 5, /* a section tern does not support: lines ignored */
    SEC_XDS = 1 << 6,  /* the xDS client's bootstrap (cfg_xds.c) */
};

#define SEC_PROXY (SEC_DEFAULTS | SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN)
#define SEC_FE (SEC_DEFAULTS | SEC_FRONTEND | SEC_LISTEN) /* frontend side */
#define SEC_BE (SEC_DEFAULTS | SEC_BACKEND | SEC_LISTEN)  /* backend side */
#define SEC_ALL (SEC_GLOBAL | SEC_PROXY)

#define CFG_MAX_ARGS CFG_LEX_MAX_WORDS

/* Server settings: `default-server` sets them for the servers that follow. */
struct srv_opts {
    uint32_t weight;
    uint32_t maxconn;
    uint32_t maxqueue;
    uint32_t inter_ms;
    uint32_t rise;
    uint32_t fall;
    int32_t pool_max_conn;       /* -1: no limit */
    uint32_t pool_purge_delay;   /* ms */
    bool check;
    bool backup;
    bool disabled;
    bool proto_h2;               /* proto h2: HTTP/2 to the server */
    struct tls_srv_opts tls;     /* ssl, verify, ca-file, crt, sni, alpn, verifyhost */
};

/* The settings a defaults section carries and a proxy inherits. A timeout
 * of 0 means unset, as in HAProxy. Strings are owned. */
struct proxy_conf {
    enum proxy_mode mode;
    uint32_t maxconn;
    char *default_backend;
    int default_backend_line;
    enum lb_policy lb_policy;
    uint32_t random_draws;
    enum lb_hash_type hash_type;
    enum lb_consistent_algo consistent_algo;
    struct srv_opts defsrv;
    uint32_t timeout_connect;
    uint32_t timeout_client;
    uint32_t timeout_client_hs;
    uint32_t timeout_server;
    uint32_t timeout_check;
    uint32_t timeout_queue;
    uint32_t timeout_tunnel;
    uint32_t timeout_http_request;
    uint32_t timeout_http_keep_alive;
    uint64_t max_request_body; /* max-request-body (tern); 0: no limit */
    uint32_t retries;
    uint32_t retry_on;                        /* RETRY_ON_* (model_types.h) */
    uint16_t retry_status[RETRY_STATUS_MAX]; /* 0-terminated */
    bool redispatch;
    int redispatch_interval;
    bool allbackups;
    bool no_log;       /* `no log`: no access log for this proxy */
    bool httpchk;
    char *chk_method; /* NULL: HAProxy's default */
    char *chk_uri;
    char *chk_version;
    bool grpcchk;          /* option tern-grpc-check (replaces httpchk, and back) */
    char *chk_grpc_service; /* NULL: "" (the server's overall health) */
    int expect_status; /* 0: any 2xx/3xx */
    int expect_line;   /* where http-check expect was set, 0 if not */
    /* mode http */
    enum http_conn_mode http_mode;
    enum http_reuse http_reuse;
    struct http_forwardfor forwardfor; /* header owned */
    bool error_header;
    char *request_id_header; /* option tern-request-id; NULL: off */
    uint8_t xfcc;            /* option forward-client-cert: enum xfcc_mode */
    struct http_errorfile *errorfiles; /* errorfile lines (owned, deep-copied) */
    uint32_t nerrorfiles;
    int http_only_line;      /* first line of an HTTP-only keyword, for mode tcp warnings */
    uint64_t text_hash;      /* every word of the lines that made this conf (a defaults
                              * section's, then the proxy's): the cluster's fingerprint */
    char http_only_kw[48];   /* that keyword, "" if none */
};

struct hm_config;

struct cfg_defaults {
    char *name; /* NULL: anonymous */
    int line;
    struct proxy_conf conf;
};

struct cfg_pname {
    char *name;
    unsigned caps; /* SEC_FRONTEND and/or SEC_BACKEND */
    const char *kind;
    int line;
};

/* One `use_backend` line; the condition is moved to the listener's rules
 * when the section ends (cond NULL then), the name resolved at the end. */
struct cfg_rule {
    struct acl_cond *cond;
    char *backend;
    int line;
};

/* One `filter` line of the section, moved to the listener when it ends. */
struct cfg_filter {
    const struct http_filter_ops *ops;
    void *cfg; /* owned: ops->config_free; NULL until the section ends for a
                * filter that also exists as a network filter (its mode
                * decides which parser reads args) */
    char **args; /* owned copies of the arguments (such filters only) */
    int nargs;
    int line;
};

struct cfg_feref {
    struct listener *l;
    struct cfg_rule *rules; /* [l->nrules]: backend names and lines */
    struct cluster *own; /* listen: its own cluster */
    char *backend;       /* default_backend, or NULL */
    int line;            /* of default_backend */
};

struct cfg {
    const char *file;
    struct cfg_diag *d;
    struct snapshot *snap;
    int line;       /* current logical line */
    const char *kw; /* current keyword, for messages */
    char kwbuf[160];
    size_t errors_before; /* d's counts when the parse started */
    size_t warnings_before;
    bool neg;       /* the line started with "no" */

    /* current section */
    enum cfg_sec sec;
    char *px_name;
    int px_line;
    struct proxy_conf conf;
    struct listener *l; /* frontend, listen */
    struct cluster *c;  /* backend, listen */
    char *def_name;     /* defaults section being parsed: its name */

    int nbind_lines;    /* bind lines seen in this section (even bad ones) */
    struct acl_set *acls;    /* this section's `acl` lines; NULL before the first */
    struct cfg_rule *rules;  /* this section's `use_backend` lines */
    size_t nrules;
    struct cfg_filter *filters; /* this section's `filter` lines, in order */
    size_t nfilters;
    struct hm_config *hm;    /* this section's http-request/http-response/redirect
                              * rules: the implicit header-mutation filter */
    int hm_line;             /* first of those lines */
    char hm_kw[16];          /* its keyword */

    struct cfg_defaults **defs; /* every defaults section, in file order */
    size_t ndefs;
    struct proxy_conf builtin;      /* HAProxy's defaults */
    const struct proxy_conf *base;  /* last defaults section, or &builtin */

    struct cfg_pname *names;
    size_t nnames;
    struct cfg_feref *fes;
    size_t nfes;

    /* line of each message this parse added, to sort them by line at the end */
    int *err_lines;
    int *warn_lines;
};

typedef void (*cfg_kw_fn)(struct cfg *p, char **av, size_t ac);

enum cfg_kw_kind {
    KW_HANDLE = 0, /* fn parses it */
    KW_ACCEPT,     /* accepted silently, no effect */
    KW_IGNORE,     /* accepted with a warning: note says why */
    KW_UNSUPPORTED /* an error: note says why */
};

struct cfg_kw {
    const char *name; /* one word, or two ("timeout connect") */
    unsigned secs;
    enum cfg_kw_kind kind;
    cfg_kw_fn fn;
    const char *note;
    bool negatable; /* accepts a "no" prefix */
};

/* The keyword table (cfg_keywords.c), terminated by a NULL name. */
extern const struct cfg_kw cfg_keywords[];
/* Keyword families whose second word selects the keyword. */
extern const char *const cfg_families[];

/* Messages "FILE:LINE: <p->kw>: ..." at the current line. */
void cfg_err(struct cfg *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_warn(struct cfg *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* HAProxy's rule for proxy and server names (letters, digits, - _ . :);
 * reports and returns false when `name` breaks it. */
bool cfg_valid_name(struct cfg *p, const char *what, const char *name);

/* The closest of `n` candidates to `word` by edit distance, or NULL when
 * none is close enough to be a plausible typo. */
const char *cfg_closest(const char *word, const char *const *cand, size_t n);

/* errorfile: reads and validates `path` for `status` (cfg_errorfile.c).
 * Returns 0 with *out filled (out->raw owned), or -1 with a message. */
int cfg_errorfile_load(const char *path, uint16_t status, uint32_t bufsize,
                       struct http_errorfile *out, char *err, size_t errlen);

/* The xds section (cfg_xds.c): its keywords, its header line, and the
 * checks made once the file is read. */
void cfg_xds_begin(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_server(struct cfg *p, char **av, size_t ac);
/* Reads a whole regular file of at most `max` bytes into *out (NUL-terminated,
 * caller frees). Returns 0, or -1 with err set ("cannot open '<path>': ..."). */
int cfg_read_file(const char *path, uint32_t max, char **out, size_t *len, char *err,
                  size_t errlen);
void cfg_kw_xds_node_id(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_node_cluster(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_node_locality(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_node_metadata(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_init_timeout(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_protocol(struct cfg *p, char **av, size_t ac);
void cfg_kw_xds_drain_time(struct cfg *p, char **av, size_t ac);
void cfg_xds_finish(struct cfg *p);

/* Built-in (HAProxy's) proxy settings; copy and free of a conf. */
void cfg_conf_init(struct proxy_conf *c);
void cfg_conf_copy(struct proxy_conf *dst, const struct proxy_conf *src);
void cfg_conf_free(struct proxy_conf *c);

/* Human list of the sections in a bit set: "backend, listen". */
const char *cfg_sec_list(unsigned secs, char *buf, size_t len);
const char *cfg_sec_name(enum cfg_sec s);

#endif /* TERN_CFG_INT_H */
