/*
 * rbac_test.c: filters/http/rbac: parsing, the policy evaluation (groups,
 * first match, default), shadow mode and counters, and the HTTP hook's 403
 * through the fake core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "filters/http/rbac/rbac.h"
#include "proxy/http/http_msg.h"
#include "tests/unit/filters/http/rate_limit/fake_core.h"

#define FE "spiffe://mesh.local/ns/a/sa/frontend"
#define OTHER "spiffe://mesh.local/ns/a/sa/other"

static struct rbac_config *parse(bool l4, const char *line)
{
    char buf[1024], *argv[64], err[256];
    int argc = 0;
    void *cfg = NULL;

    strcpy(buf, line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    err[0] = 0;
    if (rbac_config_parse_mode(argc, argv, l4, &cfg, err, sizeof(err)) != 0) {
        print_message("parse error: %s\n", err);
        return NULL;
    }
    return cfg;
}

static const char *parse_err(bool l4, const char *line)
{
    static char err[256];
    char buf[1024], *argv[64];
    int argc = 0;
    void *cfg = NULL;

    strcpy(buf, line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    err[0] = 0;
    if (rbac_config_parse_mode(argc, argv, l4, &cfg, err, sizeof(err)) == 0) {
        rbac_config_free(cfg);
        return NULL;
    }
    return err;
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(1234)};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static void test_config_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(parse_err(false, ""), "no policy"));
    assert_non_null(strstr(parse_err(false, "policy p maybe"), "expected 'allow' or 'deny'"));
    assert_non_null(strstr(parse_err(false, "policy p allow policy p deny"), "defined twice"));
    assert_non_null(strstr(parse_err(false, "policy (default) deny"), "reserved"));
    assert_non_null(strstr(parse_err(false, "policy p allow colour red"), "unknown matcher"));
    assert_non_null(strstr(parse_err(false, "policy p allow hdr x"), "needs a name and a value"));
    assert_non_null(strstr(parse_err(true, "policy p allow path /x"), "needs mode http"));
    assert_non_null(strstr(parse_err(false, "policy p allow dst-port 80"), "mode tcp"));
    assert_non_null(strstr(parse_err(true, "policy p allow dst-port 0"), "not a port"));
    assert_non_null(strstr(parse_err(false, "policy p allow src 10.1.0.0/8"), "past the prefix"));
    assert_non_null(strstr(parse_err(false, "policy p allow src ::1/129"), "prefix length"));
    assert_non_null(strstr(parse_err(false, "policy p allow trust-domain Mesh"), "trust domain"));
    assert_non_null(strstr(parse_err(false, "policy p allow method get"), "upper-case"));
    assert_non_null(strstr(parse_err(false, "default"), "default needs"));
    assert_null(parse_err(true, "shadow default deny policy p allow dst-port 443 src ::/0"));
}

static void test_eval_groups_and_order(void **state)
{
    struct rbac_config *c = parse(false, "default deny"
                                         " policy no-admin deny path-prefix /admin"
                                         " policy fe allow spiffe-id " FE
                                         " policy read allow trust-domain mesh.local"
                                         " method GET method HEAD path /public"
                                         " policy lan allow src 10.0.0.0/8 src fd00::/8");
    struct http_msg req = {.kind = HTTP_MSG_REQUEST};
    struct sockaddr_in lan = v4("10.2.3.4"), wan = v4("192.0.2.1");
    struct sockaddr_in6 lan6 = {.sin6_family = AF_INET6}, mapped = {.sin6_family = AF_INET6};
    struct rbac_input in = {.req = &req, .src = (struct sockaddr *)&wan};
    int pi;

    (void)state;
    assert_non_null(c);
    inet_pton(AF_INET6, "fd12::1", &lan6.sin6_addr);
    inet_pton(AF_INET6, "::ffff:10.9.9.9", &mapped.sin6_addr);
    req.method_str = HTTP_STR("GET");
    req.path = HTTP_STR("/x");

    in.peer_id = FE;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    assert_int_equal(pi, 1);
    req.path = HTTP_STR("/admin/x"); /* the deny comes first */
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);
    assert_int_equal(pi, 0);

    in.peer_id = OTHER;
    req.path = HTTP_STR("/public");
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW); /* trust domain AND GET AND path */
    assert_int_equal(pi, 2);
    req.method_str = HTTP_STR("HEAD");
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    req.method_str = HTTP_STR("POST");
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);
    assert_int_equal(pi, -1); /* the default */
    req.method_str = HTTP_STR("GET");
    req.path = HTTP_STR("/public/x");
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);
    in.peer_id = "spiffe://mesh.localx/ns/a"; /* not the trust domain */
    req.path = HTTP_STR("/public");
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);

    in.peer_id = NULL;
    in.src = (struct sockaddr *)&lan;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    assert_int_equal(pi, 3);
    in.src = (struct sockaddr *)&lan6;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    in.src = (struct sockaddr *)&mapped;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    in.src = NULL;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);
    rbac_config_free(c);
}

static void test_headers_and_prefix(void **state)
{
    struct rbac_config *c = parse(false, "policy canary deny hdr x-canary yes hdr x-canary 1"
                                         " policy ns allow spiffe-prefix spiffe://mesh.local/ns/b/"
                                         " policy rest deny authenticated");
    struct http_hdr h[2] = {{HTTP_STR("X-Canary"), HTTP_STR("no")},
                            {HTTP_STR("x-canary"), HTTP_STR("1")}};
    struct http_msg req = {.kind = HTTP_MSG_REQUEST, .hdrs = h, .nhdrs = 2, .cap = 2};
    struct rbac_input in = {.req = &req};
    int pi;

    (void)state;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY); /* second field matches */
    assert_int_equal(pi, 0);
    req.nhdrs = 1;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW); /* default allow */
    assert_int_equal(pi, -1);
    in.peer_id = "spiffe://mesh.local/ns/b/sa/x";
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_ALLOW);
    assert_int_equal(pi, 1);
    in.peer_id = OTHER;
    assert_int_equal(rbac_eval(c, &in, &pi), RBAC_DENY);
    assert_int_equal(pi, 2);
    rbac_config_free(c);
}

static void test_shadow_and_counters(void **state)
{
    struct rbac_config *c = parse(true, "shadow default deny policy fe allow spiffe-id " FE);
    struct rbac_config *e = parse(true, "default deny policy fe allow spiffe-id " FE);
    struct rbac_input in = {.peer_id = OTHER};
    uint64_t a, d, s;

    (void)state;
    assert_false(rbac_decide(c, 0, 1, &in, "t"));
    assert_true(rbac_decide(e, 3, 1, &in, "t"));
    assert_true(rbac_decide(e, 3, 2, &in, "t")); /* within the log interval: not logged */
    assert_int_equal(atomic_load(&e->policies[0].unlogged), 0); /* default: no policy */
    in.peer_id = FE;
    assert_false(rbac_decide(c, 1, 3, &in, "t"));
    assert_false(rbac_decide(e, 70, 3, &in, "t")); /* worker 70 shares slot 6 */
    rbac_totals(c, &a, &d, &s);
    assert_true(a == 1 && d == 0 && s == 1);
    rbac_totals(e, &a, &d, &s);
    assert_true(a == 1 && d == 2 && s == 0);
    assert_int_equal(atomic_load(&e->policies[0].matched), 1);
    rbac_config_free(c);
    rbac_config_free(e);
}

static void test_http_hook(void **state)
{
    struct rbac_config *c = parse(false, "default deny policy fe allow spiffe-id " FE);
    struct filter_stream fs;
    struct http_msg req = {.kind = HTTP_MSG_REQUEST};

    (void)state;
    fake_stream_init(&fs, c);
    fs.info.peer_id = FE;
    assert_int_equal(rbac_filter.request_headers(&fs, NULL, &req, true), FILTER_CONTINUE);
    assert_int_equal(fs.nreplies, 0);
    fs.info.peer_id = OTHER;
    assert_int_equal(rbac_filter.request_headers(&fs, NULL, &req, true), FILTER_STOP);
    assert_int_equal(fs.nreplies, 1);
    assert_int_equal(fs.status, 403);
    assert_int_equal(fs.reason, TERN_R_DENIED);
    rbac_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_eval_groups_and_order),
        cmocka_unit_test(test_headers_and_prefix),
        cmocka_unit_test(test_shadow_and_counters),
        cmocka_unit_test(test_http_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
