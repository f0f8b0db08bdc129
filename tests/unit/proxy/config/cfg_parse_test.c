/* Tests for proxy/config/cfg_parse.c and cfg_keywords.c: every keyword's
 * effect on the model, defaults inheritance, and the exact text of each
 * class of error. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "filters/filter.h"
#include "filters/http/header_mutation/header_mutation.h"
#include "filters/http/rate_limit/rate_limit.h"
#include "proxy/acl/acl_types.h"
#include "proxy/config/cfg_parse.h"
#include "proxy/model/model.h"

static struct cfg_diag D;

static struct snapshot *parse(const char *text)
{
    cfg_diag_free(&D);
    return cfg_parse_buffer("t.cfg", text, strlen(text), &D);
}

static void dump_diag(void)
{
    for (size_t i = 0; i < D.nerrors; i++)
        print_message("  error: %s\n", D.errors[i]);
    for (size_t i = 0; i < D.nwarnings; i++)
        print_message("  warning: %s\n", D.warnings[i]);
}

/* Parses a config that must be valid and warning-free unless told. */
static struct snapshot *parse_ok(const char *text)
{
    struct snapshot *s = parse(text);
    if (!s) {
        dump_diag();
        fail_msg("expected a valid configuration");
    }
    return s;
}

static bool has(char **list, size_t n, const char *msg)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], msg) == 0)
            return true;
    return false;
}

#define assert_error(msg)                                                                  \
    do {                                                                                   \
        if (!has(D.errors, D.nerrors, (msg))) {                                            \
            dump_diag();                                                                   \
            fail_msg("missing error: %s", (msg));                                          \
        }                                                                                  \
    } while (0)

#define assert_warning(msg)                                                                \
    do {                                                                                   \
        if (!has(D.warnings, D.nwarnings, (msg))) {                                        \
            dump_diag();                                                                   \
            fail_msg("missing warning: %s", (msg));                                        \
        }                                                                                  \
    } while (0)

/* The config must fail with exactly this one error. */
static void only_error(const char *text, const char *msg)
{
    struct snapshot *s = parse(text);
    if (s || D.nerrors != 1 || strcmp(D.errors[0], msg) != 0) {
        print_message("config:\n%s\n", text);
        dump_diag();
        snapshot_unref(s);
        fail_msg("expected exactly one error: %s", msg);
    }
}

/* A complete valid config; tests append lines to its backend (line 9 on)
 * or its frontend by building their own. */
#define FE                                                                                 \
    "frontend f\n"           /* 1 */                                                       \
    "    bind 127.0.0.1:1\n" /* 2 */                                                       \
    "    default_backend b\n" /* 3 */                                                      \
    "    timeout client 1s\n" /* 4 */
#define BE                                                                                 \
    "backend b\n"                  /* 5 */                                                 \
    "    timeout connect 1s\n"     /* 6 */                                                 \
    "    timeout server 1s\n"      /* 7 */                                                 \
    "    server s 127.0.0.1:2\n"   /* 8 */
#define BASE FE BE

static const char *addr_str(const struct sockaddr_storage *ss)
{
    static char buf[80];
    return tern_format_addr((const struct sockaddr *)ss, buf, sizeof(buf));
}

/* ---- happy paths ------------------------------------------------------------ */

static void test_minimal(void **state)
{
    struct snapshot *s = parse_ok(BASE);
    struct listener *l;
    struct cluster *c;

    assert_int_equal(D.nwarnings, 0);
    assert_string_equal(s->source, "t.cfg");
    assert_int_equal(s->nlisteners, 1);
    assert_int_equal(s->nclusters, 1);
    l = s->listeners[0];
    c = s->clusters[0];
    assert_string_equal(l->name, "f");
    assert_int_equal(l->loc.line, 1);
    assert_ptr_equal(l->loc.file, s->source);
    assert_int_equal(l->nbinds, 1);
    assert_string_equal(addr_str(&l->binds[0].addr), "127.0.0.1:1");
    assert_int_equal(l->binds[0].loc.line, 2);
    assert_ptr_equal(l->default_cluster, c);
    assert_int_equal(l->mode, PROXY_MODE_TCP);
    assert_int_equal(l->maxconn, 0);
    assert_int_equal(l->timeout_client_ms, 1000);
    assert_string_equal(c->name, "b");
    assert_int_equal(c->loc.line, 5);
    assert_int_equal(c->timeout_connect_ms, 1000);
    assert_int_equal(c->timeout_server_ms, 1000);
    /* HAProxy's defaults */
    assert_int_equal(c->lb_policy, LB_ROUNDROBIN);
    assert_int_equal(c->hash_type, LB_HASH_MAP_BASED);
    assert_int_equal(c->consistent_algo, LB_CONSISTENT_RING);
    assert_int_equal(c->retries, 3);
    assert_false(c->redispatch);
    assert_int_equal(c->redispatch_interval, -1);
    assert_false(c->allbackups);
    assert_int_equal(c->timeout_queue_ms, 0);
    assert_int_equal(c->timeout_check_ms, 0);
    assert_int_equal(c->hc.type, HC_NONE);
    assert_int_equal(c->nendpoints, 1);
    assert_string_equal(c->endpoints[0]->name, "s");
    assert_string_equal(addr_str(&c->endpoints[0]->addr), "127.0.0.1:2");
    assert_int_equal(c->endpoints[0]->weight, 1);
    assert_int_equal(c->endpoints[0]->inter_ms, 2000);
    assert_int_equal(c->endpoints[0]->rise, 2);
    assert_int_equal(c->endpoints[0]->fall, 3);
    assert_false(c->endpoints[0]->check);
    assert_int_equal(c->endpoints[0]->loc.line, 8);
    assert_int_equal(s->global.nbthread, 0);
    assert_int_equal(s->global.maxconn, 0);
    assert_false(s->global.has_admin);
    assert_int_equal(s->global.bufsize, 16384);
    snapshot_unref(s);
}

static void test_global(void **state)
{
    struct snapshot *s = parse_ok("global\n"
                                  "    nbthread 4\n"
                                  "    maxconn 20000\n"
                                  "    admin [::1]:9100\n"
                                  "    grace 3s\n"
                                  "    hard-stop-after 1m\n"
                                  "    tune.bufsize 32768\n" BASE);
    assert_int_equal(s->global.nbthread, 4);
    assert_int_equal(s->global.maxconn, 20000);
    assert_true(s->global.has_admin);
    assert_string_equal(addr_str(&s->global.admin_addr), "[::1]:9100");
    assert_int_equal(s->global.admin_addrlen, sizeof(struct sockaddr_in6));
    assert_int_equal(s->global.grace_ms, 3000);
    assert_int_equal(s->global.hard_stop_after_ms, 60000);
    assert_int_equal(s->global.bufsize, 32768);
    snapshot_unref(s);
}

static void test_global_ignored_keywords_warn(void **state)
{
    struct snapshot *s = parse_ok("global\n"
                                  "    log /dev/log local0\n"
                                  "    user haproxy\n"
                                  "    group haproxy\n"
                                  "    chroot /var/lib/haproxy\n"
                                  "    pidfile /run/haproxy.pid\n"
                                  "    stats socket /run/haproxy.sock mode 660\n" BASE);
    assert_int_equal(D.nwarnings, 6);
    assert_string_equal(D.warnings[0], "t.cfg:2: log: ignored (tern writes its logs to stderr)");
    assert_string_equal(D.warnings[1], "t.cfg:3: user: ignored by tern");
    assert_string_equal(D.warnings[5],
                        "t.cfg:7: stats: ignored (tern's statistics are served by 'admin')");
    snapshot_unref(s);
}

static void test_binds(void **state)
{
    struct snapshot *s = parse_ok("frontend f\n"
                                  "    bind 127.0.0.1:80,[::1]:81,:82\n"
                                  "    bind *:83\n"
                                  "    bind ipv6@[::]:84\n"
                                  "    bind 10.0.0.1:85\n"
                                  "    maxconn 500\n"
                                  "    timeout client 10s\n"
                                  "    default_backend b\n" BE);
    struct listener *l = s->listeners[0];

    assert_int_equal(l->nbinds, 6);
    assert_string_equal(addr_str(&l->binds[0].addr), "127.0.0.1:80");
    assert_string_equal(addr_str(&l->binds[1].addr), "[::1]:81");
    assert_int_equal(l->binds[1].addrlen, sizeof(struct sockaddr_in6));
    assert_string_equal(addr_str(&l->binds[2].addr), "0.0.0.0:82");
    assert_string_equal(addr_str(&l->binds[3].addr), "0.0.0.0:83");
    assert_string_equal(addr_str(&l->binds[4].addr), "[::]:84");
    assert_string_equal(addr_str(&l->binds[5].addr), "10.0.0.1:85");
    assert_int_equal(l->binds[0].loc.line, 2);
    assert_int_equal(l->binds[2].loc.line, 2);
    assert_int_equal(l->binds[3].loc.line, 3);
    assert_int_equal(l->maxconn, 500);
    assert_int_equal(l->timeout_client_ms, 10000);
    snapshot_unref(s);
}

static void test_balance(void **state)
{
    static const struct {
        const char *line;
        enum lb_policy policy;
        uint32_t draws;
    } cases[] = {
        {"balance roundrobin", LB_ROUNDROBIN, 2}, {"balance static-rr", LB_STATIC_RR, 2},
        {"balance leastconn", LB_LEASTCONN, 2},   {"balance first", LB_FIRST, 2},
        {"balance source", LB_SOURCE, 2},         {"balance random", LB_RANDOM, 2},
        {"balance random(5)", LB_RANDOM, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cfg[512];
        struct snapshot *s;
        snprintf(cfg, sizeof(cfg), BASE "    %s\n", cases[i].line);
        s = parse_ok(cfg);
        assert_int_equal(s->clusters[0]->lb_policy, cases[i].policy);
        assert_int_equal(s->clusters[0]->random_draws, cases[i].draws);
        snapshot_unref(s);
    }
}

static void test_hash_type_and_consistent_hash(void **state)
{
    struct snapshot *s = parse_ok(BASE "    balance source\n"
                                       "    hash-type consistent\n");
    assert_int_equal(s->clusters[0]->hash_type, LB_HASH_CONSISTENT);
    assert_int_equal(s->clusters[0]->consistent_algo, LB_CONSISTENT_RING);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);

    s = parse_ok(BASE "    hash-type consistent djb2\n"
                      "    consistent-hash maglev\n");
    assert_int_equal(s->clusters[0]->hash_type, LB_HASH_CONSISTENT);
    assert_int_equal(s->clusters[0]->consistent_algo, LB_CONSISTENT_MAGLEV);
    assert_warning("t.cfg:9: hash-type: hash function 'djb2' ignored: tern always uses its "
                   "own hash (FNV-1a with a murmur3 finalizer)");
    snapshot_unref(s);

    s = parse_ok(BASE "    hash-type map-based sdbm avalanche\n"
                      "    consistent-hash ring\n");
    assert_int_equal(s->clusters[0]->hash_type, LB_HASH_MAP_BASED);
    assert_int_equal(s->clusters[0]->consistent_algo, LB_CONSISTENT_RING);
    assert_warning("t.cfg:9: hash-type: hash function 'sdbm' and modifier 'avalanche' ignored: "
                   "tern always uses its own hash (FNV-1a with a murmur3 finalizer)");
    snapshot_unref(s);
}

static void test_server_options(void **state)
{
    struct snapshot *s =
        parse_ok(BASE "    server a 127.0.0.1:3 weight 10 maxconn 20 maxqueue 30 check "
                      "inter 500ms rise 4 fall 5\n"
                      "    server b [::1]:4 backup disabled weight 0\n"
                      "    server c ipv4@10.1.2.3:5 check no-check backup no-backup disabled "
                      "enabled weight 256\n");
    struct cluster *c = s->clusters[0];
    struct endpoint *a, *b, *e;

    assert_int_equal(c->nendpoints, 4);
    a = c->endpoints[1];
    assert_string_equal(a->name, "a");
    assert_int_equal(a->id, 1);
    assert_ptr_equal(a->cluster, c);
    assert_int_equal(a->weight, 10);
    assert_int_equal(a->maxconn, 20);
    assert_int_equal(a->maxqueue, 30);
    assert_true(a->check);
    assert_int_equal(a->inter_ms, 500);
    assert_int_equal(a->rise, 4);
    assert_int_equal(a->fall, 5);
    assert_false(a->backup);
    assert_false(a->disabled);
    assert_int_equal(a->loc.line, 9);
    b = c->endpoints[2];
    assert_string_equal(addr_str(&b->addr), "[::1]:4");
    assert_true(b->backup);
    assert_true(b->disabled);
    assert_int_equal(b->weight, 0);
    assert_false(b->check);
    e = c->endpoints[3];
    assert_string_equal(addr_str(&e->addr), "10.1.2.3:5");
    assert_false(e->check);
    assert_false(e->backup);
    assert_false(e->disabled);
    assert_int_equal(e->weight, 256);
    snapshot_unref(s);
}

static void test_default_server(void **state)
{
    struct snapshot *s = parse_ok("defaults\n"
                                  "    default-server inter 3s fall 7\n" FE
                                  "backend b\n"
                                  "    timeout connect 1s\n"
                                  "    timeout server 1s\n"
                                  "    server s0 127.0.0.1:2\n"
                                  "    default-server check rise 9 weight 5\n"
                                  "    server s1 127.0.0.1:3\n"
                                  "    server s2 127.0.0.1:4 no-check weight 1\n");
    struct cluster *c = s->clusters[0];

    assert_int_equal(c->endpoints[0]->inter_ms, 3000);
    assert_int_equal(c->endpoints[0]->fall, 7);
    assert_int_equal(c->endpoints[0]->rise, 2);
    assert_false(c->endpoints[0]->check);
    assert_int_equal(c->endpoints[0]->weight, 1);
    assert_int_equal(c->endpoints[1]->inter_ms, 3000);
    assert_int_equal(c->endpoints[1]->fall, 7);
    assert_int_equal(c->endpoints[1]->rise, 9);
    assert_true(c->endpoints[1]->check);
    assert_int_equal(c->endpoints[1]->weight, 5);
    assert_false(c->endpoints[2]->check);
    assert_int_equal(c->endpoints[2]->weight, 1);
    assert_int_equal(c->hc.type, HC_TCP);
    snapshot_unref(s);
}

static void test_timeouts_retries_options(void **state)
{
    struct snapshot *s = parse_ok(BASE "    timeout queue 2s\n"
                                       "    timeout check 700\n"
                                       "    retries 0\n"
                                       "    option redispatch\n"
                                       "    option allbackups\n"
                                       "    option tcplog\n");
    struct cluster *c = s->clusters[0];

    assert_int_equal(c->timeout_queue_ms, 2000);
    assert_int_equal(c->timeout_check_ms, 700);
    assert_int_equal(c->retries, 0);
    assert_true(c->redispatch);
    assert_int_equal(c->redispatch_interval, -1);
    assert_true(c->allbackups);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);

    s = parse_ok(BASE "    option redispatch 3\n");
    assert_true(s->clusters[0]->redispatch);
    assert_int_equal(s->clusters[0]->redispatch_interval, 3);
    snapshot_unref(s);

    /* 0 disables, as in HAProxy */
    s = parse_ok(BASE "    option redispatch 0\n");
    assert_false(s->clusters[0]->redispatch);
    snapshot_unref(s);

    s = parse_ok("defaults\n"
                 "    option redispatch\n"
                 "    option allbackups\n" BASE "    no option redispatch\n"
                 "    no option allbackups\n");
    assert_false(s->clusters[0]->redispatch);
    assert_false(s->clusters[0]->allbackups);
    snapshot_unref(s);
}

static void test_httpchk_forms(void **state)
{
    static const struct {
        const char *line;
        const char *method, *uri, *version;
    } cases[] = {
        {"option httpchk", "OPTIONS", "/", "HTTP/1.0"},
        {"option httpchk /health", "OPTIONS", "/health", "HTTP/1.0"},
        {"option httpchk GET /health", "GET", "/health", "HTTP/1.0"},
        {"option httpchk HEAD /h HTTP/1.1", "HEAD", "/h", "HTTP/1.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cfg[512];
        struct snapshot *s;
        struct health_spec *hc;
        snprintf(cfg, sizeof(cfg), BASE "    %s\n", cases[i].line);
        s = parse_ok(cfg);
        hc = &s->clusters[0]->hc;
        assert_int_equal(hc->type, HC_HTTP);
        assert_string_equal(hc->method, cases[i].method);
        assert_string_equal(hc->uri, cases[i].uri);
        assert_string_equal(hc->version, cases[i].version);
        assert_int_equal(hc->expect_status, 0);
        snapshot_unref(s);
    }
}

static void test_health_spec(void **state)
{
    struct snapshot *s;
    struct health_spec *hc;

    /* no check anywhere */
    s = parse_ok(BASE);
    assert_int_equal(s->clusters[0]->hc.type, HC_NONE);
    snapshot_unref(s);

    /* tcp check; no timeout check: inter bounds the whole check (smallest inter) */
    s = parse_ok(BASE "    server a 127.0.0.1:3 check inter 3s\n"
                      "    server b 127.0.0.1:4 check inter 1500\n");
    hc = &s->clusters[0]->hc;
    assert_int_equal(hc->type, HC_TCP);
    assert_int_equal(hc->timeout_ms, 1500);
    assert_int_equal(hc->connect_timeout_ms, 1500);
    snapshot_unref(s);

    /* timeout check: the read gets it, the connect min(timeout connect, inter) */
    s = parse_ok(BASE "    server a 127.0.0.1:3 check\n"
                      "    timeout check 4s\n"
                      "    option httpchk GET /ok\n"
                      "    http-check expect status 204\n");
    hc = &s->clusters[0]->hc;
    assert_int_equal(hc->type, HC_HTTP);
    assert_int_equal(hc->expect_status, 204);
    assert_int_equal(hc->timeout_ms, 4000);
    assert_int_equal(hc->connect_timeout_ms, 1000); /* timeout connect 1s < inter 2s */
    snapshot_unref(s);

    s = parse_ok(FE "backend b\n"
                    "    timeout connect 10s\n"
                    "    timeout server 1s\n"
                    "    timeout check 4s\n"
                    "    server a 127.0.0.1:3 check\n");
    hc = &s->clusters[0]->hc;
    assert_int_equal(hc->connect_timeout_ms, 2000); /* inter 2s < timeout connect 10s */
    snapshot_unref(s);

    /* http-check expect without httpchk: a warning, no effect */
    s = parse_ok(BASE "    server a 127.0.0.1:3 check\n"
                      "    http-check expect status 200\n");
    assert_int_equal(s->clusters[0]->hc.type, HC_TCP);
    assert_warning("t.cfg:10: http-check expect: has no effect without 'option httpchk'");
    snapshot_unref(s);
}

/* `no log` turns a proxy's access log off; `log <target>` is ignored with a
 * warning (tern logs to stderr); `no log` in global is an error. */
static void test_log(void **state)
{
    struct snapshot *s = parse_ok(BASE);
    assert_true(s->listeners[0]->access_log);
    snapshot_unref(s);

    s = parse_ok("global\n    log stdout local0\n" FE "    no log\n" BE);
    assert_false(s->listeners[0]->access_log);
    assert_warning("t.cfg:2: log: ignored (tern writes its logs to stderr)");
    snapshot_unref(s);

    only_error("global\n    no log\n" BASE,
               "t.cfg:2: no log: 'no log' is only meaningful in a proxy section");
}

static void test_listen(void **state)
{
    struct snapshot *s = parse_ok("listen app\n"
                                  "    bind 127.0.0.1:80\n"
                                  "    timeout client 1s\n"
                                  "    timeout connect 1s\n"
                                  "    timeout server 1s\n"
                                  "    balance leastconn\n"
                                  "    maxconn 7\n"
                                  "    server s1 127.0.0.1:81\n"
                                  "listen other\n"
                                  "    bind 127.0.0.1:82\n"
                                  "    default_backend app\n"
                                  "    timeout client 1s\n"
                                  "    timeout connect 1s\n"
                                  "    timeout server 1s\n"
                                  "    server s2 127.0.0.1:83\n");
    assert_int_equal(s->nlisteners, 2);
    assert_int_equal(s->nclusters, 2);
    assert_string_equal(s->listeners[0]->name, "app");
    assert_string_equal(s->clusters[0]->name, "app");
    assert_ptr_equal(s->listeners[0]->default_cluster, s->clusters[0]);
    assert_int_equal(s->listeners[0]->maxconn, 7);
    assert_int_equal(s->clusters[0]->lb_policy, LB_LEASTCONN);
    /* default_backend wins over the listen's own servers, as in HAProxy */
    assert_ptr_equal(s->listeners[1]->default_cluster, s->clusters[0]);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);
}

static void test_frontend_and_backend_may_share_a_name(void **state)
{
    struct snapshot *s = parse_ok("frontend app\n"
                                  "    bind 127.0.0.1:1\n"
                                  "    timeout client 1s\n"
                                  "    default_backend app\n"
                                  "backend app\n"
                                  "    timeout connect 1s\n"
                                  "    timeout server 1s\n"
                                  "    server s 127.0.0.1:2\n");
    assert_ptr_equal(s->listeners[0]->default_cluster, s->clusters[0]);
    snapshot_unref(s);
}

static void test_default_backend_declared_later(void **state)
{
    struct snapshot *s = parse_ok(FE "backend a\n"
                                     "    timeout connect 1s\n"
                                     "    timeout server 1s\n" BE);
    assert_ptr_equal(s->listeners[0]->default_cluster, s->clusters[1]);
    snapshot_unref(s);
}

static void test_defaults_inheritance(void **state)
{
    struct snapshot *s = parse_ok("defaults\n"                    /* 1 */
                                  "    mode tcp\n"                /* 2 */
                                  "    timeout connect 2s\n"      /* 3 */
                                  "    timeout client 3s\n"       /* 4 */
                                  "    timeout server 4s\n"       /* 5 */
                                  "    balance leastconn\n"       /* 6 */
                                  "    retries 5\n"               /* 7 */
                                  "    maxconn 50\n"              /* 8 */
                                  "    default_backend b1\n"      /* 9 */
                                  "    option httpchk GET /d\n"   /* 10 */
                                  "frontend f1\n"                 /* 11 */
                                  "    bind 127.0.0.1:1\n"        /* 12 */
                                  "backend b1\n"                  /* 13 */
                                  "    retries 1\n"               /* 14 */
                                  "    server s 127.0.0.1:2\n"    /* 15 */
                                  "defaults\n"                    /* 16: resets */
                                  "    timeout connect 7s\n"      /* 17 */
                                  "    timeout client 7s\n"       /* 18 */
                                  "    timeout server 7s\n"       /* 19 */
                                  "backend b2\n"                  /* 20 */
                                  "    server s 127.0.0.1:3\n"    /* 21 */
                                  "frontend f2\n"                 /* 22 */
                                  "    bind 127.0.0.1:4\n"        /* 23 */
                                  "    default_backend b2\n");    /* 24 */
    struct listener *f1 = s->listeners[0], *f2 = s->listeners[1];
    struct cluster *b1 = s->clusters[0], *b2 = s->clusters[1];

    assert_int_equal(f1->timeout_client_ms, 3000);
    assert_int_equal(f1->maxconn, 50);
    assert_ptr_equal(f1->default_cluster, b1);
    assert_int_equal(b1->timeout_connect_ms, 2000);
    assert_int_equal(b1->timeout_server_ms, 4000);
    assert_int_equal(b1->lb_policy, LB_LEASTCONN);
    assert_int_equal(b1->retries, 1);
    assert_int_equal(b1->hc.type, HC_HTTP);
    assert_string_equal(b1->hc.uri, "/d");

    /* the second defaults section starts from HAProxy's defaults again */
    assert_int_equal(b2->timeout_connect_ms, 7000);
    assert_int_equal(b2->lb_policy, LB_ROUNDROBIN);
    assert_int_equal(b2->retries, 3);
    assert_int_equal(b2->hc.type, HC_NONE);
    assert_int_equal(f2->maxconn, 0);
    assert_int_equal(f2->timeout_client_ms, 7000);
    assert_ptr_equal(f2->default_cluster, b2);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);
}

static void test_named_defaults_and_from(void **state)
{
    struct snapshot *s = parse_ok("defaults slow\n"
                                  "    timeout connect 9s\n"
                                  "    timeout client 9s\n"
                                  "    timeout server 9s\n"
                                  "defaults fast from slow\n"
                                  "    timeout connect 1s\n"
                                  "backend b1 from slow\n"
                                  "    server s 127.0.0.1:2\n"
                                  "backend b2\n"
                                  "    server s 127.0.0.1:3\n"
                                  "frontend f from slow\n"
                                  "    bind 127.0.0.1:1\n"
                                  "    default_backend b2\n");
    assert_int_equal(s->clusters[0]->timeout_connect_ms, 9000);
    /* b2 takes the last defaults section, which itself started from "slow" */
    assert_int_equal(s->clusters[1]->timeout_connect_ms, 1000);
    assert_int_equal(s->clusters[1]->timeout_server_ms, 9000);
    assert_int_equal(s->listeners[0]->timeout_client_ms, 9000);
    snapshot_unref(s);
}

static void test_missing_timeouts_get_defaults_and_warn(void **state)
{
    struct snapshot *s = parse_ok("frontend f\n"
                                  "    bind 127.0.0.1:1\n"
                                  "    default_backend b\n"
                                  "backend b\n"
                                  "    timeout server 0\n"
                                  "    server s 127.0.0.1:2\n"
                                  "listen l\n"
                                  "    bind 127.0.0.1:3\n"
                                  "    timeout client 2s\n"
                                  "    timeout connect 2s\n"
                                  "    server s 127.0.0.1:4\n");
    assert_int_equal(s->listeners[0]->timeout_client_ms, 5 * 60 * 1000);
    assert_int_equal(s->clusters[0]->timeout_connect_ms, 5000);
    assert_int_equal(s->clusters[0]->timeout_server_ms, 5 * 60 * 1000);
    assert_int_equal(s->listeners[1]->timeout_client_ms, 2000);
    assert_int_equal(s->clusters[1]->timeout_connect_ms, 2000);
    assert_int_equal(s->clusters[1]->timeout_server_ms, 5 * 60 * 1000);
    assert_int_equal(D.nwarnings, 3);
    assert_string_equal(D.warnings[0], "t.cfg:1: frontend 'f': missing timeouts client: tern "
                                       "uses client 5m (set them with 'timeout')");
    assert_string_equal(D.warnings[1],
                        "t.cfg:4: backend 'b': missing timeouts connect, server: tern uses "
                        "connect 5s, server 5m (set them with 'timeout')");
    assert_string_equal(D.warnings[2], "t.cfg:7: listen 'l': missing timeouts server: tern "
                                       "uses server 5m (set them with 'timeout')");
    snapshot_unref(s);
}

static void test_frontend_without_default_backend_warns(void **state)
{
    struct snapshot *s = parse_ok("frontend f\n"
                                  "    bind 127.0.0.1:1\n"
                                  "    timeout client 1s\n");
    assert_null(s->listeners[0]->default_cluster);
    assert_string_equal(D.warnings[0], "t.cfg:1: frontend 'f': no default_backend: every "
                                       "connection will be closed at once");
    snapshot_unref(s);
}

static void test_quoting_reaches_the_model(void **state)
{
    struct snapshot *s;

    setenv("TERN_T_PORT", "8080", 1);
    setenv("TERN_T_ADDR", "127.0.0.9", 1);
    s = parse_ok("frontend 'f'   # comment\n"
                 "    bind \"${TERN_T_ADDR}:$TERN_T_PORT\"\n"
                 "    timeout client \\\n"
                 "        1s\n"
                 "    default_backend \"b\"\n" BE);
    assert_string_equal(addr_str(&s->listeners[0]->binds[0].addr), "127.0.0.9:8080");
    assert_int_equal(s->listeners[0]->timeout_client_ms, 1000);
    snapshot_unref(s);
}

static void test_parse_file(void **state)
{
    char path[] = "/tmp/cfg_parse_testXXXXXX";
    int fd = mkstemp(path);
    struct snapshot *s;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, BASE, strlen(BASE)), (ssize_t)strlen(BASE));
    close(fd);
    cfg_diag_free(&D);
    s = cfg_parse_file(path, &D);
    assert_non_null(s);
    assert_string_equal(s->source, path);
    snapshot_unref(s);
    unlink(path);

    cfg_diag_free(&D);
    assert_null(cfg_parse_file("/nonexistent/tern.cfg", &D));
    assert_int_equal(D.nerrors, 1);
    assert_string_equal(D.errors[0],
                        "/nonexistent/tern.cfg: cannot open: No such file or directory");
}

/* ---- errors ----------------------------------------------------------------- */

static void test_err_unknown_keyword(void **state)
{
    only_error(BASE "    balanse roundrobin\n",
               "t.cfg:9: balanse: unknown keyword in 'backend' section; did you mean 'balance'?");
    only_error(BASE "    frobnicate 1\n", "t.cfg:9: frobnicate: unknown keyword in 'backend' section");
    only_error(BASE "    option redispach\n", "t.cfg:9: option redispach: unknown keyword in "
                                               "'backend' section; did you mean 'option "
                                               "redispatch'?");
    only_error(BASE "    timeout conect 1s\n", "t.cfg:9: timeout conect: unknown keyword in "
                                               "'backend' section; did you mean 'timeout "
                                               "connect'?");
    only_error(BASE "    timeout\n", "t.cfg:9: timeout: missing argument (which timeout?)");
    only_error(BASE "backnd x\n",
               "t.cfg:9: backnd: unknown keyword in 'backend' section; did you mean 'backend'?");
}

/* ---- content switching: acl + use_backend ------------------------------------ */

#define SW                                                                                 \
    "defaults\n"                   /* 1 */                                                \
    "    mode http\n"              /* 2 */                                                \
    "    timeout connect 1s\n"     /* 3 */                                                \
    "    timeout client 1s\n"      /* 4 */                                                \
    "    timeout server 1s\n"      /* 5 */                                                \
    "backend api\n"                /* 6 */                                                \
    "    server s 127.0.0.1:2\n"   /* 7 */                                                \
    "backend web\n"                /* 8 */                                                \
    "    server s 127.0.0.1:3\n"   /* 9 */                                                \
    "backend dflt\n"               /* 10 */                                               \
    "    server s 127.0.0.1:4\n"   /* 11 */                                               \
    "frontend f\n"                 /* 12 */                                               \
    "    bind 127.0.0.1:1\n"       /* 13 */                                               \
    "    default_backend dflt\n"   /* 14 */

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, a, &sin.sin_addr);
    return sin;
}

static void test_use_backend_rules(void **state)
{
    struct snapshot *s = parse_ok(SW "    acl is_api hdr(host) -i api.example.com\n"
                                     "    acl is_get method GET\n"
                                     "    use_backend api if is_api is_get\n"
                                     "    use_backend web if { path_beg /static } || !is_get\n"
                                     "    use_backend api unless is_api\n"
                                     "    acl is_api path_beg /api\n" /* ORed, seen by rule 1 */
                                     "backend b2\n"
                                     "    acl local src 127.0.0.1\n"
                                     "    server s 127.0.0.1:5\n");
    struct listener *l = snapshot_find_listener(s, "f");

    assert_non_null(l->acls);
    assert_int_equal(l->nrules, 3);
    assert_ptr_equal(l->rules[0].target, snapshot_find_cluster(s, "api"));
    assert_ptr_equal(l->rules[1].target, snapshot_find_cluster(s, "web"));
    assert_ptr_equal(l->rules[2].target, snapshot_find_cluster(s, "api"));
    for (uint32_t i = 0; i < 3; i++)
        assert_non_null(l->rules[i].cond);
    assert_true(l->rules[2].cond->unless);
    assert_ptr_equal(l->default_cluster, snapshot_find_cluster(s, "dflt"));
    assert_non_null(snapshot_find_cluster(s, "b2")->acls);
    assert_null(snapshot_find_cluster(s, "api")->acls);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);
}

static void test_use_backend_order_and_fallback(void **state)
{
    /* first match wins; no match: default_backend */
    struct snapshot *s = parse_ok(SW "    use_backend web if { src 10.1.0.0/16 }\n"
                                     "    use_backend api if { src 10.0.0.0/8 }\n"
                                     "    use_backend dflt if { src 10.1.2.3 }\n");
    struct listener *l = s->listeners[0];
    struct sockaddr_in a = v4("10.1.2.3"), b = v4("10.2.0.1"), c = v4("192.168.0.1");
    struct acl_ctx ctx = {0};

    ctx.src = (const struct sockaddr *)&a;
    assert_ptr_equal(listener_route(l, &ctx), snapshot_find_cluster(s, "web"));
    ctx.src = (const struct sockaddr *)&b;
    assert_ptr_equal(listener_route(l, &ctx), snapshot_find_cluster(s, "api"));
    ctx.src = (const struct sockaddr *)&c;
    assert_ptr_equal(listener_route(l, &ctx), snapshot_find_cluster(s, "dflt"));
    snapshot_unref(s);
}

static void test_use_backend_tcp_src(void **state)
{
    /* mode tcp: address fetches only, evaluated at accept */
    struct snapshot *s = parse_ok(FE "    use_backend b2 if { src 10.0.0.0/8 }\n" BE
                                     "backend b2\n"
                                     "    timeout connect 1s\n"
                                     "    timeout server 1s\n"
                                     "    server s 127.0.0.1:3\n");
    struct listener *l = s->listeners[0];
    struct sockaddr_in a = v4("10.9.9.9"), b = v4("11.0.0.1");
    struct acl_ctx ctx = {0};

    assert_int_equal(l->nrules, 1);
    ctx.src = (const struct sockaddr *)&a;
    assert_ptr_equal(listener_route(l, &ctx), snapshot_find_cluster(s, "b2"));
    ctx.src = (const struct sockaddr *)&b;
    assert_ptr_equal(listener_route(l, &ctx), snapshot_find_cluster(s, "b"));
    snapshot_unref(s);
}

static void test_err_use_backend(void **state)
{
    only_error(SW "    use_backend apii if TRUE\n",
               "t.cfg:15: use_backend: no backend named 'apii'; did you mean 'api'?");
    only_error(SW "    use_backend f if TRUE\n",
               "t.cfg:15: use_backend: no backend named 'f' ('f' is a frontend)");
    only_error(SW "    acl is_api path_beg /api\n"
                  "    use_backend api if is_apu\n",
               "t.cfg:16: use_backend: unknown ACL 'is_apu' (did you mean 'is_api'?)");
    only_error(SW "    acl x pth /a\n",
               "t.cfg:15: acl: unknown fetch 'pth' (did you mean 'path'?)");
    only_error(SW "    acl x\n",
               "t.cfg:15: acl: missing argument (usage: acl <name> <criterion> [flags] "
               "[operator] <value> ...)");
    only_error(SW "    use_backend api\n",
               "t.cfg:15: use_backend: missing condition (usage: use_backend <backend> "
               "if|unless <condition>; use 'default_backend' for a backend without condition)");
    only_error(SW "    use_backend api when TRUE\n",
               "t.cfg:15: use_backend: expected 'if' or 'unless', got 'when'");
    only_error(SW "    use_backend api if { status 200 }\n",
               "t.cfg:15: use_backend: 'status' reads the response: not available in a "
               "request rule");
    only_error(SW "    use_backend tb if TRUE\n"
                  "backend tb\n"
                  "    mode tcp\n"
                  "    server s 127.0.0.1:5\n",
               "t.cfg:15: use_backend: frontend 'f' is mode http but backend 'tb' is mode tcp "
               "(modes must match)");
    only_error(FE "    use_backend b if { path_beg /x }\n" BE,
               "t.cfg:5: use_backend: 'path_beg' reads an HTTP message: not available in a "
               "TCP rule (mode tcp)");
    only_error(SW "backend x\n    use_backend api if TRUE\n",
               "t.cfg:16: use_backend: not allowed in a 'backend' section (only in frontend, "
               "listen)");
    only_error("defaults\n    acl a src 1.2.3.4\n" SW,
               "t.cfg:2: acl: not allowed in a 'defaults' section (only in frontend, backend, "
               "listen)");
    only_error(SW "    use_backend api if { path_beg }\n",
               "t.cfg:15: use_backend: missing value for 'path_beg'");
}

static void test_err_unsupported_keyword(void **state)
{
    only_error(BASE "    use-server s if TRUE\n", "t.cfg:9: use-server: not supported by tern");
    only_error(BASE "    http-after-response set-header a b\n",
               "t.cfg:9: http-after-response: not supported by tern yet");
    only_error("global\n    daemon\n" BASE,
               "t.cfg:2: daemon: not supported: tern runs in the foreground");
    only_error(BASE "    timeout tarpit 1s\n", "t.cfg:9: timeout tarpit: not supported by tern");
    only_error(BASE "    grace 1s\n", "t.cfg:9: grace: not supported in proxies (removed in "
                                      "HAProxy 2.5): use 'grace' in global");
    only_error(BASE "resolvers dns\n    nameserver a 1.1.1.1:53\n",
               "t.cfg:9: resolvers: section not supported by tern (its lines are skipped)");
}

static void test_err_wrong_section(void **state)
{
    only_error(FE "    server s 127.0.0.1:2\n" BE,
               "t.cfg:5: server: not allowed in a 'frontend' section (only in backend, listen)");
    only_error(BASE "    bind 127.0.0.1:3\n",
               "t.cfg:9: bind: not allowed in a 'backend' section (only in frontend, listen)");
    only_error("defaults\n    server s 127.0.0.1:2\n" BASE,
               "t.cfg:2: server: not allowed in a 'defaults' section (only in backend, listen)");
    only_error(BASE "    nbthread 2\n",
               "t.cfg:9: nbthread: not allowed in a 'backend' section (only in global)");
    only_error(BASE "    maxconn 2\n", "t.cfg:9: maxconn: not allowed in a 'backend' section "
                                      "(only in global, defaults, frontend, listen)");
    only_error(BASE "    timeout client 2s\n", "t.cfg:9: timeout client: not allowed in a "
                                               "'backend' section (only in defaults, "
                                               "frontend, listen)");
    only_error("global\n    mode tcp\n" BASE, "t.cfg:2: mode: not allowed in a 'global' section "
                                              "(only in defaults, frontend, backend, listen)");
}

static void test_err_outside_section(void **state)
{
    only_error("nbthread 4\n" BASE,
               "t.cfg:1: nbthread: keyword outside any section (a section starts with global, "
               "defaults, frontend, backend or listen)");
    only_error("fronted web\n" BASE,
               "t.cfg:1: fronted: keyword outside any section; did you mean 'frontend'?");
}

static void test_err_arguments(void **state)
{
    only_error(BASE "    balance\n", "t.cfg:9: balance: missing argument (usage: balance "
                                     "roundrobin|static-rr|leastconn|first|source|random[(<draws>)])");
    only_error(BASE "    retries 3 4\n",
               "t.cfg:9: retries: unexpected extra argument '4' (usage: retries <number>)");
    only_error(BASE "    balance roundrobin now\n",
               "t.cfg:9: balance: unexpected extra argument 'now' (usage: balance "
               "roundrobin|static-rr|leastconn|first|source|random[(<draws>)])");
    only_error(BASE "    server\n", "t.cfg:9: server: missing name and address (usage: server "
                                    "<name> <address>:<port> [options])");
    only_error(BASE "    server s2\n", "t.cfg:9: server: missing address (usage: server <name> "
                                       "<address>:<port> [options])");
    only_error(BASE "    server s2 127.0.0.1:3 weight\n",
               "t.cfg:9: server: missing value after 'weight'");
    only_error(BASE "    server s2 127.0.0.1:3 wieght 2\n",
               "t.cfg:9: server: unknown server option 'wieght'; did you mean 'weight'?");
    only_error(BASE "    server s2 127.0.0.1:3 ssl\n",
               "t.cfg:9: server: server 's2': verify is enabled by default but no CA file "
               "specified (set 'ca-file', or 'verify none' if the server's certificate need not "
               "be checked)");
    only_error(BASE "    server s2 127.0.0.1:3 sni str(a.example)\n",
               "t.cfg:9: server: server 's2': TLS options (ca-file, crt, sni, alpn, verifyhost) "
               "need 'ssl'");
    only_error(BASE "    server s2 127.0.0.1:3 ssl verify none sni hdr(x)\n",
               "t.cfg:9: server: sni 'hdr(x)': tern supports str(<name>) and req.hdr(host)");
    only_error(FE BE "    option httpchk GET / HTTP/1.1 x\n",
               "t.cfg:9: option httpchk: unexpected extra argument 'x' (usage: option httpchk "
               "[<method>] [<uri>] [<version>])");
    only_error("frontend f extra\n    bind 127.0.0.1:1\n    default_backend b\n"
               "    timeout client 1s\n" BE,
               "t.cfg:1: frontend: unexpected argument 'extra' (listening addresses go on "
               "'bind' lines)");
    only_error("global\n    nbthread\n" BASE,
               "t.cfg:2: nbthread: missing argument (usage: nbthread <number>)");
    only_error(FE BE "    mode\n", "t.cfg:9: mode: missing argument (usage: mode tcp|http)");
    only_error(BASE "    hash-type consistent md5\n",
               "t.cfg:9: hash-type: unknown hash function 'md5' (expected sdbm, djb2, wt6 or "
               "crc32)");
    only_error(BASE "    balance uri\n",
               "t.cfg:9: balance: algorithm 'uri' is not supported by tern (it needs mode "
               "http)");
    only_error(BASE "    balance leastcon\n",
               "t.cfg:9: balance: unknown algorithm 'leastcon'; did you mean 'leastconn'?");
    only_error(BASE "    consistent-hash jump\n", "t.cfg:9: consistent-hash: unknown "
                                                  "consistent-hash implementation 'jump' "
                                                  "(expected ring or maglev)");
    only_error(BASE "    http-check expect string OK\n",
               "t.cfg:9: http-check expect: 'string' is not supported by tern (only "
               "'http-check expect status <code>')");
    only_error(BASE "    http-check expect status 200-299\n",
               "t.cfg:9: http-check expect: status lists and ranges ('200-299') are not "
               "supported by tern (expected one status code)");
    only_error(BASE "    no balance roundrobin\n",
               "t.cfg:9: no balance: 'no' cannot be used with 'balance'");
}

static void test_err_numbers_and_times(void **state)
{
    only_error(BASE "    server s2 127.0.0.1:3 weight 257\n",
               "t.cfg:9: server: invalid weight '257' (expected an integer from 0 to 256)");
    only_error(BASE "    server s2 127.0.0.1:3 weight -1\n",
               "t.cfg:9: server: invalid weight '-1' (expected an integer from 0 to 256)");
    only_error(BASE "    server s2 127.0.0.1:3 rise 0\n",
               "t.cfg:9: server: invalid rise '0' (expected an integer from 1 to 1000)");
    only_error(BASE "    server s2 127.0.0.1:3 inter 0\n",
               "t.cfg:9: server: invalid inter '0' (must be greater than 0)");
    only_error(BASE "    server s2 127.0.0.1:3 inter 2x\n",
               "t.cfg:9: server: invalid inter '2x' (expected a number with an optional unit "
               "us, ms, s, m, h or d; no unit means ms)");
    only_error(BASE "    timeout connect 5 s\n", "t.cfg:9: timeout connect: unexpected extra "
                                                 "argument 's' (usage: timeout connect <time>)");
    only_error(BASE "    timeout server -1\n",
               "t.cfg:9: timeout server: invalid time '-1' (expected a number with an optional "
               "unit us, ms, s, m, h or d; no unit means ms)");
    only_error(BASE "    retries many\n",
               "t.cfg:9: retries: invalid retry count 'many' (expected an integer from 0 to "
               "1000)");
    only_error(BASE "    balance random(0)\n", "t.cfg:9: balance: invalid number of draws '0' "
                                               "(expected an integer from 1 to 100)");
    only_error(BASE "    http-check expect status 99\n",
               "t.cfg:9: http-check expect: invalid status code '99' (expected an integer "
               "from 100 to 599)");
    only_error("global\n    tune.bufsize 512\n" BASE,
               "t.cfg:2: tune.bufsize: invalid buffer size '512' (expected an integer from "
               "1024 to 1048576)");
    only_error("global\n    nbthread 0\n" BASE,
               "t.cfg:2: nbthread: invalid thread count '0' (expected an integer from 1 to "
               "1024)");
    only_error("global\n    hard-stop-after soon\n" BASE,
               "t.cfg:2: hard-stop-after: invalid time 'soon' (expected a number with an "
               "optional unit us, ms, s, m, h or d; no unit means ms)");
}

static void test_err_addresses(void **state)
{
    only_error(BASE "    server s2 127.0.0.1:70000\n",
               "t.cfg:9: server: invalid port '70000' in '127.0.0.1:70000' (expected 1-65535)");
    only_error(BASE "    server s2 127.0.0.1:0\n",
               "t.cfg:9: server: invalid port '0' in '127.0.0.1:0' (expected 1-65535)");
    only_error(BASE "    server s2 127.0.0.1\n",
               "t.cfg:9: server: '127.0.0.1' has no port (expected <address>:<port>)");
    only_error(BASE "    server s2 db.local:5432\n",
               "t.cfg:9: server: invalid IPv4 address 'db.local' (tern does not resolve names "
               "in the config file)");
    only_error(BASE "    server s2 [fe80::zz]:1\n",
               "t.cfg:9: server: invalid IPv6 address 'fe80::zz'");
    only_error(BASE "    server s2 /run/app.sock\n",
               "t.cfg:9: server: address '/run/app.sock': UNIX sockets are not supported by "
               "tern");
    only_error("frontend f\n    bind 1.2.3:80\n    default_backend b\n    timeout client 1s\n" BE,
               "t.cfg:2: bind: invalid IPv4 address '1.2.3' (tern does not resolve names in "
               "the config file)");
    only_error("frontend f\n    bind 127.0.0.1:1,\n    default_backend b\n"
               "    timeout client 1s\n" BE,
               "t.cfg:2: bind: empty address in '127.0.0.1:1,'");
    only_error(FE "    bind 127.0.0.1:2 crt x.pem\n" BE,
               "t.cfg:5: bind: TLS options (crt, alpn, verify...) need 'ssl' on the same bind "
               "line");
    only_error(FE "    bind 127.0.0.1:2 ssl\n" BE,
               "t.cfg:5: bind: 'ssl' needs at least one 'crt' (a certificate and its key)");
    only_error(FE "    bind 127.0.0.1:2 ssl crt /nonexistent/x.pem\n" BE,
               "t.cfg:5: bind: /nonexistent/x.pem: No such file or directory");
    only_error(FE "    bind 127.0.0.1:2 ssl crt x.pem ssl-min-ver TLSv1.1\n" BE,
               "t.cfg:5: bind: ssl-min-ver TLSv1.1: tern refuses TLS versions below 1.2 (RFC "
               "8996)");
    only_error(FE "    bind 127.0.0.1:2 ssl crt x.pem verify sometimes\n" BE,
               "t.cfg:5: bind: invalid verify 'sometimes' (expected none, optional or "
               "required)");
    only_error(FE "    bind 127.0.0.1:2 foo\n" BE, "t.cfg:5: bind: unknown bind option 'foo'");
    only_error("global\n    admin 127.0.0.1\n" BASE,
               "t.cfg:2: admin: '127.0.0.1' has no port (expected <address>:<port>)");
    only_error(FE "    bind 127.0.0.1:1\n" BE,
               "t.cfg:5: bind: address 127.0.0.1:1 is already bound by this proxy 'f' at line "
               "2");
}

static void test_err_duplicate_names(void **state)
{
    only_error(BASE "backend b\n    server s 127.0.0.1:2\n",
               "t.cfg:9: backend: 'b' has the same name as backend 'b' declared at line 5");
    only_error(BASE "listen f\n    bind 127.0.0.1:9\n    server s 127.0.0.1:2\n",
               "t.cfg:9: listen: 'f' has the same name as frontend 'f' declared at line 1");
    only_error(BASE "frontend f\n    bind 127.0.0.1:9\n    default_backend b\n",
               "t.cfg:9: frontend: 'f' has the same name as frontend 'f' declared at line 1");
    only_error(BASE "    server s 127.0.0.1:3\n", "t.cfg:9: server: duplicate server name 's' "
                                                  "in backend 'b' (first defined at line 8)");
    only_error(BASE "frontend bad/name\n    bind 127.0.0.1:9\n    default_backend b\n",
               "t.cfg:9: frontend: character '/' is not permitted in frontend name "
               "'bad/name' (use letters, digits, '-', '_', '.' and ':')");
    only_error(BASE "backend\n", "t.cfg:9: backend: missing name (usage: backend <name>)");
}

static void test_err_default_backend(void **state)
{
    only_error("frontend f\n    bind 127.0.0.1:1\n    default_backend apps\n"
               "    timeout client 1s\n"
               "backend app\n    timeout connect 1s\n    timeout server 1s\n",
               "t.cfg:3: default_backend: no backend named 'apps'; did you mean 'app'?");
    only_error("frontend f\n    bind 127.0.0.1:1\n    default_backend zzz\n"
               "    timeout client 1s\n" BE,
               "t.cfg:3: default_backend: no backend named 'zzz'");
    only_error("frontend f\n    bind 127.0.0.1:1\n    default_backend f\n"
               "    timeout client 1s\n" BE,
               "t.cfg:3: default_backend: no backend named 'f' ('f' is a frontend)");
    /* inherited by two frontends from one defaults line: reported once, there */
    only_error("defaults\n    default_backend nope\n    timeout client 1s\n"
               "frontend f1\n    bind 127.0.0.1:1\nfrontend f2\n    bind 127.0.0.1:2\n" BE,
               "t.cfg:2: default_backend: no backend named 'nope'");
}

static void test_err_frontend_without_bind_and_no_listener(void **state)
{
    only_error("frontend f\n    default_backend b\n    timeout client 1s\n" BE
               "frontend g\n    bind 127.0.0.1:1\n    default_backend b\n"
               "    timeout client 1s\n",
               "t.cfg:1: frontend: 'f' has no 'bind' line (declare it as a backend if it only "
               "has servers)");
    /* HAProxy refuses to start without a listener too */
    only_error(BE, "t.cfg:4: config: no frontend or listen section: nothing to listen on");
    only_error("", "t.cfg:1: config: no frontend or listen section: nothing to listen on");
}

static void test_err_mode_http(void **state)
{
    /* a frontend and its default backend must have the same mode */
    only_error(BASE "    mode http\n", "t.cfg:3: default_backend: frontend 'f' is mode tcp "
                                         "but backend 'b' is mode http (modes must match)");
    only_error(BASE "    mode udp\n", "t.cfg:9: mode: unknown mode 'udp' (expected tcp or http)");
}

/* ---- mode http keywords ------------------------------------------------------- */

#define HFE                                                                                \
    "defaults\n"                   /* 1 */                                                \
    "    mode http\n"              /* 2 */                                                \
    "    timeout connect 1s\n"     /* 3 */                                                \
    "    timeout client 1s\n"      /* 4 */                                                \
    "    timeout server 1s\n"      /* 5 */                                                \
    "frontend f\n"                 /* 6 */                                                \
    "    bind 127.0.0.1:1\n"       /* 7 */                                                \
    "    default_backend b\n"      /* 8 */
#define HBE                                                                                \
    "backend b\n"                  /* 9 */                                                \
    "    server s 127.0.0.1:2\n"   /* 10 */

static void test_http_defaults(void **state)
{
    struct snapshot *s = parse_ok(HFE HBE);
    struct listener *l = s->listeners[0];
    struct cluster *c = s->clusters[0];

    assert_int_equal(l->mode, PROXY_MODE_HTTP);
    assert_int_equal(c->mode, PROXY_MODE_HTTP);
    assert_int_equal(l->timeout_http_request_ms, 0);
    assert_int_equal(l->timeout_http_keep_alive_ms, 0);
    assert_int_equal(l->http_mode, HTTP_CONN_KEEP_ALIVE);
    assert_int_equal(c->http_mode, HTTP_CONN_KEEP_ALIVE);
    assert_int_equal(c->http_reuse, HTTP_REUSE_SAFE);
    assert_false(l->forwardfor.enabled);
    assert_false(l->error_header);
    assert_null(l->request_id_header);
    assert_int_equal(s->global.http_maxhdr, 101);
    assert_int_equal(c->endpoints[0]->pool_max_conn, -1);
    assert_int_equal(c->endpoints[0]->pool_purge_delay_ms, 5000);
    snapshot_unref(s);
}

static void test_http_keywords(void **state)
{
    struct snapshot *s = parse_ok(
        "global\n    tune.http.maxhdr 50\n" HFE
        "    timeout http-request 5s\n"
        "    timeout http-keep-alive 2s\n"
        "    option forwardfor except 10.0.0.0/8 header X-Client if-none\n"
        "    option http-server-close\n"
        "    option tern-error-header\n"
        "    option tern-request-id\n"
        "    option httplog\n" HBE
        "    http-reuse always\n"
        "    option httpclose\n"
        "    option forwardfor\n"
        "    default-server pool-max-conn 7 pool-purge-delay 1s\n"
        "    server s2 127.0.0.1:3\n"
        "    server s3 127.0.0.1:4 pool-max-conn -1 pool-purge-delay 0\n");
    struct listener *l = s->listeners[0];
    struct cluster *c = s->clusters[0];
    const struct sockaddr_in *net = (const struct sockaddr_in *)&l->forwardfor.except_net;

    assert_int_equal(s->global.http_maxhdr, 50);
    assert_int_equal(l->timeout_http_request_ms, 5000);
    assert_int_equal(l->timeout_http_keep_alive_ms, 2000);
    assert_true(l->forwardfor.enabled);
    assert_true(l->forwardfor.if_none);
    assert_true(l->forwardfor.has_except);
    assert_int_equal(l->forwardfor.except_prefix, 8);
    assert_int_equal(net->sin_family, AF_INET);
    assert_int_equal(ntohl(net->sin_addr.s_addr), 0x0a000000);
    assert_string_equal(l->forwardfor.header, "X-Client");
    assert_int_equal(l->http_mode, HTTP_CONN_SERVER_CLOSE);
    assert_true(l->error_header);
    assert_string_equal(l->request_id_header, "X-Request-Id");
    assert_int_equal(c->http_reuse, HTTP_REUSE_ALWAYS);
    assert_int_equal(c->http_mode, HTTP_CONN_CLOSE);
    assert_true(c->forwardfor.enabled);
    assert_null(c->forwardfor.header);
    assert_false(c->forwardfor.has_except);
    assert_int_equal(c->endpoints[0]->pool_max_conn, -1); /* before default-server */
    assert_int_equal(c->endpoints[1]->pool_max_conn, 7);
    assert_int_equal(c->endpoints[1]->pool_purge_delay_ms, 1000);
    assert_int_equal(c->endpoints[2]->pool_max_conn, -1);
    assert_int_equal(c->endpoints[2]->pool_purge_delay_ms, 0);
    snapshot_unref(s);

    /* no option ... undoes, the last mode wins, a named request id header */
    s = parse_ok(HFE "    option httpclose\n    no option httpclose\n"
                     "    option tern-request-id X-Trace\n    option forwardfor\n"
                     "    no option forwardfor\n"
                     "    option forwardfor except 2001:db8::/32\n" HBE
                     "    option http-server-close\n    option http-keep-alive\n"
                     "    http-reuse never\n");
    l = s->listeners[0];
    c = s->clusters[0];
    assert_int_equal(l->http_mode, HTTP_CONN_KEEP_ALIVE);
    assert_string_equal(l->request_id_header, "X-Trace");
    assert_true(l->forwardfor.enabled);
    assert_int_equal(l->forwardfor.except_prefix, 32);
    assert_int_equal(l->forwardfor.except_net.ss_family, AF_INET6);
    assert_int_equal(c->http_mode, HTTP_CONN_KEEP_ALIVE);
    assert_int_equal(c->http_reuse, HTTP_REUSE_NEVER);
    snapshot_unref(s);

    /* a netmask, as HAProxy also takes */
    s = parse_ok(HFE "    option forwardfor except 192.168.0.0/255.255.0.0\n" HBE);
    assert_int_equal(s->listeners[0]->forwardfor.except_prefix, 16);
    snapshot_unref(s);
}

static void test_http_keyword_errors(void **state)
{
    only_error(HFE "    http-reuse sometimes\n" HBE,
               "t.cfg:9: http-reuse: not allowed in a 'frontend' section (only in defaults, "
               "backend, listen)");
    only_error(HFE HBE "    http-reuse sometimes\n",
               "t.cfg:11: http-reuse: unknown mode 'sometimes' (expected never, safe, "
               "aggressive or always)");
    only_error(HFE HBE "    http-reuse\n",
               "t.cfg:11: http-reuse: missing argument (usage: http-reuse "
               "never|safe|aggressive|always)");
    only_error(HFE HBE "    timeout http-request 5s\n",
               "t.cfg:11: timeout http-request: not allowed in a 'backend' section (only in "
               "defaults, frontend, listen)");
    only_error(HFE "    timeout http-keep-alive soon\n" HBE,
               "t.cfg:9: timeout http-keep-alive: invalid time 'soon' (expected a number with "
               "an optional unit us, ms, s, m, h or d; no unit means ms)");
    only_error(HFE "    option forwardfor except\n" HBE,
               "t.cfg:9: option forwardfor: missing value after 'except' (usage: option "
               "forwardfor [except <network>] [header <name>] [if-none])");
    only_error(HFE "    option forwardfor except 10.0.0.0/33\n" HBE,
               "t.cfg:9: option forwardfor: invalid network '10.0.0.0/33' after 'except' "
               "(expected <address>[/<prefix>])");
    only_error(HFE "    option forwardfor header \"a b\"\n" HBE,
               "t.cfg:9: option forwardfor: invalid header name 'a b'");
    only_error(HFE "    option forwardfor always\n" HBE,
               "t.cfg:9: option forwardfor: unknown argument 'always' (usage: option "
               "forwardfor [except <network>] [header <name>] [if-none])");
    only_error(HFE "    option httpclose now\n" HBE,
               "t.cfg:9: option httpclose: unexpected extra argument 'now' (usage: option "
               "httpclose )");
    only_error(HFE "    option tern-request-id a:b\n" HBE,
               "t.cfg:9: option tern-request-id: invalid header name 'a:b'");
    only_error("global\n    tune.http.maxhdr 0\n" HFE HBE,
               "t.cfg:2: tune.http.maxhdr: invalid header count '0' (expected an integer from "
               "1 to 32767)");
    only_error(HFE HBE "    server s2 127.0.0.1:3 pool-max-conn -2\n",
               "t.cfg:11: server: invalid pool-max-conn '-2' (expected an integer from -1 to "
               "2147483647)");
    only_error(HFE HBE "    server s2 127.0.0.1:3 pool-purge-delay\n",
               "t.cfg:11: server: missing value after 'pool-purge-delay'");
    /* frontend http, backend tcp */
    only_error(HFE "backend b\n    mode tcp\n    server s 127.0.0.1:2\n",
               "t.cfg:8: default_backend: frontend 'f' is mode http but backend 'b' is mode "
               "tcp (modes must match)");
}

static void test_http_keywords_in_tcp_mode_warn(void **state)
{
    struct snapshot *s = parse_ok(BASE "    option forwardfor\n    http-reuse always\n");
    /* HAProxy warns and ignores them too: one warning per proxy */
    assert_int_equal(D.nwarnings, 1);
    assert_warning("t.cfg:9: option forwardfor: ignored: backend 'b' is mode tcp (this "
                   "keyword needs mode http)");
    snapshot_unref(s);
}

static void test_err_syntax(void **state)
{
    only_error(BASE "    server \"s2 127.0.0.1:3\n",
               "t.cfg:9: server: unterminated double quote (opened at column 12)");
    only_error(BASE "    'server s2\n",
               "t.cfg:9: syntax: unterminated single quote (opened at column 5)");
    only_error(BASE "    server s2 \"$\"\n",
               "t.cfg:9: server: forbidden first character in environment variable name at "
               "column 16 (write \\$ for a literal '$')");
    only_error(BASE "    \"\" x\n", "t.cfg:9: \"\": empty keyword");
}

static void test_err_from_defaults(void **state)
{
    only_error("defaults d1\n" BASE "backend x from nope\n    server s 127.0.0.1:2\n",
               "t.cfg:10: backend: no defaults section named 'nope' before this line");
    only_error("defaults d1\ndefaults d1\n" BASE "backend x from d1\n    server s 127.0.0.1:2\n",
               "t.cfg:11: backend: ambiguous defaults section name 'd1' (declared at lines 1 "
               "and 2)");
}

/* All problems are reported, in line order, not just the first. */
static void test_all_errors_reported(void **state)
{
    struct snapshot *s = parse("global\n"                          /* 1 */
                               "    nbthread x\n"                  /* 2 */
                               "frontend f\n"                      /* 3: no bind */
                               "    default_backend missing\n"     /* 4 */
                               "    balance roundrobin\n"          /* 5 */
                               "backend b\n"                       /* 6 */
                               "    server s 127.0.0.1:99999\n"    /* 7 */
                               "    server t 127.0.0.1:1 weight 999\n" /* 8 */
                               "    bogus\n");                     /* 9 */
    assert_null(s);
    if (D.nerrors != 7)
        dump_diag();
    assert_int_equal(D.nerrors, 7);
    assert_string_equal(D.errors[0], "t.cfg:2: nbthread: invalid thread count 'x' (expected an "
                                     "integer from 1 to 1024)");
    assert_string_equal(D.errors[1], "t.cfg:3: frontend: 'f' has no 'bind' line (declare it as "
                                     "a backend if it only has servers)");
    assert_string_equal(D.errors[2], "t.cfg:4: default_backend: no backend named 'missing'");
    assert_string_equal(D.errors[3], "t.cfg:5: balance: not allowed in a 'frontend' section "
                                     "(only in defaults, backend, listen)");
    assert_string_equal(D.errors[4], "t.cfg:7: server: invalid port '99999' in "
                                     "'127.0.0.1:99999' (expected 1-65535)");
    assert_string_equal(D.errors[5], "t.cfg:8: server: invalid weight '999' (expected an "
                                     "integer from 0 to 256)");
    assert_string_equal(D.errors[6], "t.cfg:9: bogus: unknown keyword in 'backend' section");
}

static void test_messages_are_one_printable_line(void **state)
{
    struct snapshot *s = parse(BASE "    bad\\nkw\\x01\n");
    assert_null(s);
    assert_int_equal(D.nerrors, 1);
    assert_string_equal(D.errors[0],
                        "t.cfg:9: bad\\x0akw\\x01: unknown keyword in 'backend' section");
}

static void test_diag_accumulates(void **state)
{
    struct cfg_diag d = {0};
    cfg_diag_error(&d, "e%d", 1);
    cfg_diag_warning(&d, "w%s", "x");
    cfg_diag_error(&d, "e%d", 2);
    assert_int_equal(d.nerrors, 2);
    assert_int_equal(d.nwarnings, 1);
    assert_string_equal(d.errors[1], "e2");
    assert_string_equal(d.warnings[0], "wx");
    cfg_diag_free(&d);
    assert_int_equal(d.nerrors, 0);
    assert_null(d.errors);
}

static int teardown(void **state)
{
    cfg_diag_free(&D);
    return 0;
}

/* ---- filter <name> [args...] ------------------------------------------------- */

static const struct listener *listener_named(const struct snapshot *s, const char *name)
{
    for (uint32_t i = 0; i < s->nlisteners; i++)
        if (strcmp(s->listeners[i]->name, name) == 0)
            return s->listeners[i];
    fail_msg("no listener %s", name);
    return NULL;
}

static void test_filters(void **state)
{
    (void)state;
    struct snapshot *s = parse_ok(SW "    filter rate-limit rate 50/1s\n"
                                     "    filter rate-limit rate 1000/1m burst 100 key src\n"
                                     "listen l\n"
                                     "    bind 127.0.0.1:9\n"
                                     "    filter rate-limit rate 7/1s headers always\n"
                                     "    server s 127.0.0.1:5\n");
    const struct listener *f = listener_named(s, "f"), *l = listener_named(s, "l");
    const struct rate_limit_config *c;

    assert_int_equal(f->nfilters, 2);
    assert_ptr_equal(f->filters[0].ops, &rate_limit_filter);
    assert_ptr_equal(f->filters[1].ops, &rate_limit_filter);
    c = f->filters[0].cfg; /* in file order */
    assert_int_equal(c->count, 50);
    assert_int_equal(c->burst, 50);
    assert_int_equal(c->key, RL_KEY_NONE);
    c = f->filters[1].cfg;
    assert_int_equal(c->count, 1000);
    assert_int_equal(c->burst, 100);
    assert_int_equal(c->key, RL_KEY_SRC);
    assert_int_equal(l->nfilters, 1);
    c = l->filters[0].cfg;
    assert_int_equal(c->count, 7);
    assert_int_equal(c->headers, RL_HDRS_ALWAYS);
    assert_int_equal(D.nwarnings, 0);
    snapshot_unref(s);

    /* no filter line: an empty chain */
    s = parse_ok(SW);
    assert_int_equal(listener_named(s, "f")->nfilters, 0);
    assert_null(listener_named(s, "f")->filters);
    snapshot_unref(s);
}

static void test_err_filter(void **state)
{
    (void)state;
    only_error(SW "    filter\n",
               "t.cfg:15: filter: missing argument (usage: filter <name> [args...])");
    only_error(SW "    filter rate-limt rate 5/1s\n",
               "t.cfg:15: filter: unknown filter 'rate-limt'; did you mean 'rate-limit'?");
    only_error(SW "    filter bogus\n",
               "t.cfg:15: filter: unknown filter 'bogus' (tern's filters: rate-limit, "
               "retry, access-log, rbac)");
    only_error(SW "    filter compression\n",
               "t.cfg:15: filter: HAProxy's filter 'compression' is not supported by tern "
               "(tern's filters: rate-limit, retry, access-log, rbac)");
    only_error(SW "    filter rate-limit\n",
               "t.cfg:15: filter: rate-limit: missing 'rate <N>/<period>' (e.g. rate 50/1s)");
    only_error(SW "    filter rate-limit rate 5/1s colour blue\n",
               "t.cfg:15: filter: rate-limit: unknown option 'colour' (expected rate, burst, "
               "key, deny-status, table-size or headers)");
    only_error(SW "    filter rate-limit rate 5/1\n",
               "t.cfg:15: filter: rate-limit: invalid rate '5/1': the period needs a unit "
               "(us, ms, s, m, h or d)");
    /* one error per bad line, the good lines kept until the end */
    {
        struct snapshot *s = parse(SW "    filter rate-limit rate 5/1s\n"
                                      "    filter nope\n"
                                      "    filter rate-limit burst 0\n");
        assert_null(s);
        assert_int_equal(D.nerrors, 2);
        assert_error("t.cfg:16: filter: unknown filter 'nope' (tern's filters: rate-limit, "
                     "retry, access-log, rbac)");
    }
    /* mode tcp: each filter line is an error (the mode may come after it) */
    only_error(FE "    filter rate-limit rate 5/1s\n" BE,
               "t.cfg:5: filter: rate-limit: needs mode http (frontend 'f' is mode tcp)");
    only_error("frontend f\n"
               "    bind 127.0.0.1:1\n"
               "    filter rate-limit rate 5/1s\n"
               "    mode http\n"
               "    mode tcp\n"
               "    default_backend b\n"
               "    timeout client 1s\n" BE,
               "t.cfg:3: filter: rate-limit: needs mode http (frontend 'f' is mode tcp)");
    /* a backend's filters form its own chain; retry-on with an HTTP
     * condition adds the retry filter when the backend has none */
    {
        struct snapshot *s = parse(SW "backend x\n"
                                      "    filter rate-limit rate 5/1s\n"
                                      "    retry-on 503\n"
                                      "    server s 127.0.0.1:6\n"
                                      "backend y\n"
                                      "    retry-on conn-failure\n"
                                      "    server s 127.0.0.1:7\n");
        struct cluster *x, *y;
        assert_non_null(s);
        x = snapshot_find_cluster(s, "x");
        y = snapshot_find_cluster(s, "y");
        assert_int_equal(x->nfilters, 2);
        assert_string_equal(x->filters[0].ops->name, "rate-limit");
        assert_string_equal(x->filters[1].ops->name, "retry");
        assert_int_equal(x->retry_on, RETRY_ON_STATUS);
        assert_int_equal(x->retry_status[0], 503);
        assert_int_equal(y->nfilters, 0);
        assert_int_equal(y->retry_on, RETRY_ON_CONN_FAILURE);
        snapshot_unref(s);
    }
    only_error(SW "    filter retry\n",
               "t.cfg:15: filter: retry: belongs in the backend (or listen) section whose "
               "'retries' and 'retry-on' it applies; frontend 'f' has no servers");
    only_error("defaults\n"
               "    filter rate-limit rate 5/1s\n" SW,
               "t.cfg:2: filter: not allowed in a 'defaults' section (only in frontend, "
               "backend, listen)");
}


/* ---- http-request / http-response / redirect, errorfile ------------------------ */

#define RFE                                                                                \
    "defaults\n"                                /* 1 */                                    \
    "    mode http\n"                           /* 2 */                                    \
    "    timeout client 1s\n"                   /* 3 */                                    \
    "    timeout connect 1s\n"                  /* 4 */                                    \
    "    timeout server 1s\n"                   /* 5 */                                    \
    "backend b\n"                               /* 6 */                                    \
    "    server s 127.0.0.1:2\n"                /* 7 */                                    \
    "frontend f\n"                              /* 8 */                                    \
    "    bind 127.0.0.1:1\n"                    /* 9 */                                    \
    "    default_backend b\n"                   /* 10 */

static void test_http_rules(void **state)
{
    struct snapshot *s = parse_ok(RFE "    acl api path_beg /api\n"
                                      "    filter rate-limit rate 10/1s\n"
                                      "    http-request deny if api\n"
                                      "    http-response set-header X-A 1\n"
                                      "    redirect prefix /new if { path /old }\n");
    const struct listener *l = snapshot_find_listener(s, "f");
    const struct hm_config *c;

    /* the rules are one filter, first in the chain, before the filter lines */
    assert_int_equal(l->nfilters, 2);
    assert_ptr_equal(l->filters[0].ops, &header_mutation_filter);
    assert_ptr_equal(l->filters[1].ops, &rate_limit_filter);
    c = l->filters[0].cfg;
    assert_int_equal(hm_config_count(c, HM_REQUEST), 2);
    assert_int_equal(hm_config_count(c, HM_RESPONSE), 1);
    assert_int_equal(c->max_hdrs, 101);
    snapshot_unref(s);

    /* no rules: no filter */
    s = parse_ok(RFE);
    assert_int_equal(snapshot_find_listener(s, "f")->nfilters, 0);
    snapshot_unref(s);

    /* every error is FILE:LINE: keyword: message */
    only_error(RFE "    http-request deny if api\n",
               "t.cfg:11: http-request: unknown ACL 'api'");
    only_error(RFE "    http-request set-header X-A %ci\n",
               "t.cfg:11: http-request: set-header: '%ci' in '%ci' is not supported "
               "(log-format variables are not: only %[<fetch>] and %%)");
    only_error(RFE "    http-response set-path /x\n",
               "t.cfg:11: http-response: action 'set-path' is not available in http-response "
               "rules (supported: allow, deny, set-header, add-header, del-header, "
               "replace-header, replace-value)");
    only_error(RFE "    redirect location /x code 200\n",
               "t.cfg:11: redirect: redirect: invalid code '200' (expected 301, 302, 303, 307 "
               "or 308)");
    only_error("defaults\n    http-request deny\n" RFE,
               "t.cfg:2: http-request: not allowed in a 'defaults' section (only in frontend, "
               "backend, listen)");

    /* mode tcp: ignored with a warning, as HAProxy */
    s = parse(BASE "frontend g\n    bind 127.0.0.1:5\n    default_backend b\n"
                   "    timeout client 1s\n    http-request deny\n");
    assert_non_null(s);
    assert_warning("t.cfg:13: http-request: ignored: frontend 'g' is mode tcp (http-request, "
                   "http-response and redirect rules need mode http)");
    assert_int_equal(snapshot_find_listener(s, "g")->nfilters, 0);
    snapshot_unref(s);
}

static char *write_tmp(const char *content)
{
    static char paths[8][64];
    static int k;
    char *p = paths[k++ % 8];
    int fd;

    snprintf(p, 64, "/tmp/cfg_ef_XXXXXX");
    fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return p;
}

static void test_errorfile(void **state)
{
    char *ok = write_tmp("HTTP/1.1 503 Service Unavailable\nContent-Type: text/html\n\n<p>down</p>\n");
    char *ok2 = write_tmp("HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
    char *badlen = write_tmp("HTTP/1.1 503 x\r\nContent-Length: 9\r\n\r\nshort");
    char *chunked = write_tmp("HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    char *nohead = write_tmp("just some text");
    char *badhead = write_tmp("HTTP/9.9 503 x\r\n\r\n");
    char text[2048], msg[512];
    struct snapshot *s;
    const struct http_errorfile *f;

    snprintf(text, sizeof(text),
             "defaults\n    mode http\n    errorfile 503 %s\n    timeout client 1s\n"
             "    timeout connect 1s\n    timeout server 1s\n"
             "backend b\n    server s 127.0.0.1:2\n"
             "frontend f\n    bind 127.0.0.1:1\n    default_backend b\n"
             "    errorfile 403 %s\n", ok, ok2);
    s = parse_ok(text);
    {
        const struct listener *l = snapshot_find_listener(s, "f");
        const struct cluster *c = snapshot_find_cluster(s, "b");
        /* inherited from defaults by both, plus the frontend's own */
        assert_int_equal(l->nerrorfiles, 2);
        assert_int_equal(c->nerrorfiles, 1);
        f = errorfile_find(l->errorfiles, l->nerrorfiles, 503);
        assert_non_null(f);
        /* bare LF line ends became CRLF; the head stops before the empty line */
        assert_memory_equal(f->raw, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                    "text/html\r\n", f->head_len);
        assert_int_equal(f->body_len, 12);
        assert_memory_equal(f->raw + f->head_len, "<p>down</p>\n", 12);
        assert_false(f->has_length);
        f = errorfile_find(l->errorfiles, l->nerrorfiles, 403);
        assert_true(f->has_length);
        assert_false(f->close);
        assert_null(errorfile_find(c->errorfiles, c->nerrorfiles, 403));
    }
    snapshot_unref(s);

    snprintf(text, sizeof(text), RFE "    errorfile 503 %s\n", badlen);
    snprintf(msg, sizeof(msg), "t.cfg:11: errorfile: '%s': Content-Length says 9 but the body "
                               "has 5 bytes", badlen);
    only_error(text, msg);
    snprintf(text, sizeof(text), RFE "    errorfile 503 %s\n", chunked);
    snprintf(msg, sizeof(msg), "t.cfg:11: errorfile: '%s': Transfer-Encoding is not supported "
                               "in an errorfile (give the body as it is, with or without "
                               "Content-Length)", chunked);
    only_error(text, msg);
    snprintf(text, sizeof(text), RFE "    errorfile 503 %s\n", nohead);
    snprintf(msg, sizeof(msg), "t.cfg:11: errorfile: '%s' is not an HTTP response (no empty "
                               "line ends its head)", nohead);
    only_error(text, msg);
    snprintf(text, sizeof(text), RFE "    errorfile 503 %s\n", badhead);
    s = parse(text);
    assert_null(s);
    assert_int_equal(D.nerrors, 1);
    assert_non_null(strstr(D.errors[0], "t.cfg:11: errorfile: "));
    assert_non_null(strstr(D.errors[0], "is not a valid HTTP response head"));
    only_error(RFE "    errorfile 503 /nonexistent/x.http\n",
               "t.cfg:11: errorfile: cannot open '/nonexistent/x.http': No such file or "
               "directory");
    only_error(RFE "    errorfile 503\n",
               "t.cfg:11: errorfile: missing argument (usage: errorfile <status> <file>)");
    only_error(RFE "    errorfile abc /x\n",
               "t.cfg:11: errorfile: invalid status code 'abc' (expected an integer from 100 "
               "to 599)");
    /* larger than tune.bufsize */
    snprintf(text, sizeof(text), "global\n    tune.bufsize 1024\n" RFE "    errorfile 503 %s\n",
             write_tmp("HTTP/1.1 503 x\r\n\r\n"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789012345678901234567890123456789"));
    s = parse(text);
    assert_null(s);
    assert_non_null(strstr(D.errors[0], "t.cfg:13: errorfile: "));
    assert_non_null(strstr(D.errors[0], "is too large"));
    /* a status HAProxy does not handle: warned and ignored */
    snprintf(text, sizeof(text), RFE "    errorfile 418 %s\n", ok);
    s = parse(text);
    assert_non_null(s);
    assert_non_null(strstr(D.warnings[0], "t.cfg:11: errorfile: status code 418 not handled by "
                                          "'errorfile'"));
    assert_int_equal(snapshot_find_listener(s, "f")->nerrorfiles, 0);
    snapshot_unref(s);
    unlink(ok);
    unlink(ok2);
    unlink(badlen);
    unlink(chunked);
    unlink(nohead);
    unlink(badhead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_global_ignored_keywords_warn),
        cmocka_unit_test(test_binds),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_hash_type_and_consistent_hash),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_default_server),
        cmocka_unit_test(test_timeouts_retries_options),
        cmocka_unit_test(test_httpchk_forms),
        cmocka_unit_test(test_health_spec),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_frontend_and_backend_may_share_a_name),
        cmocka_unit_test(test_default_backend_declared_later),
        cmocka_unit_test(test_defaults_inheritance),
        cmocka_unit_test(test_named_defaults_and_from),
        cmocka_unit_test(test_missing_timeouts_get_defaults_and_warn),
        cmocka_unit_test(test_frontend_without_default_backend_warns),
        cmocka_unit_test(test_quoting_reaches_the_model),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_err_unknown_keyword),
        cmocka_unit_test(test_err_unsupported_keyword),
        cmocka_unit_test(test_http_rules),
        cmocka_unit_test(test_errorfile),
        cmocka_unit_test(test_err_wrong_section),
        cmocka_unit_test(test_err_outside_section),
        cmocka_unit_test(test_err_arguments),
        cmocka_unit_test(test_err_numbers_and_times),
        cmocka_unit_test(test_err_addresses),
        cmocka_unit_test(test_err_duplicate_names),
        cmocka_unit_test(test_err_default_backend),
        cmocka_unit_test(test_err_frontend_without_bind_and_no_listener),
        cmocka_unit_test(test_err_mode_http),
        cmocka_unit_test(test_err_syntax),
        cmocka_unit_test(test_http_defaults),
        cmocka_unit_test(test_http_keywords),
        cmocka_unit_test(test_http_keyword_errors),
        cmocka_unit_test(test_http_keywords_in_tcp_mode_warn),
        cmocka_unit_test(test_err_from_defaults),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_messages_are_one_printable_line),
        cmocka_unit_test(test_diag_accumulates),
        cmocka_unit_test(test_use_backend_rules),
        cmocka_unit_test(test_use_backend_order_and_fallback),
        cmocka_unit_test(test_use_backend_tcp_src),
        cmocka_unit_test(test_err_use_backend),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_err_filter),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
