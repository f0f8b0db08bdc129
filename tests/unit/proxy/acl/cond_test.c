/*
 * cond_test.c: `if`/`unless` conditions (acl_cond.c): `!`, implicit AND,
 * `||`/`or`, precedence, anonymous `{ }` ACLs, named ACLs ORed across lines,
 * the predefined ACLs, and every parse error.
 */
#include "acl_test_util.h"

/* Named ACLs t1/t2 (true) and f1/f2 (false) on the request below. */
static struct acl_set *S;
static struct treq R;

static void add(struct acl_set *set, const char *name, const char *line)
{
    char err[256];
    char **argv;
    int argc = words(line, &argv);

    if (acl_set_add(set, name, argc, argv, err, sizeof(err)) != 0)
        fail_msg("acl %s %s: %s", name, line, err);
}

static int setup(void **state)
{
    static const char *const hdrs[] = {"Host: api.example.com", "Content-Length: 3", NULL};

    treq_init(&R, "POST /v1/users?id=7 HTTP/1.1", hdrs);
    S = acl_set_new();
    add(S, "t1", "path_beg /v1");
    add(S, "t2", "hdr(host) api.example.com");
    add(S, "f1", "path_beg /v2");
    add(S, "f2", "method GET");
    return 0;
}

static int teardown(void **state)
{
    acl_set_free(S);
    S = NULL;
    return 0;
}

/* Parses and evaluates a condition against S on ctx. */
static bool cond_ctx(const char *text, const struct acl_ctx *ctx)
{
    char err[256] = "";
    char **argv;
    int argc = words(text, &argv);
    struct acl_cond *c;

    if (acl_cond_parse(S, argc, argv, &c, err, sizeof(err)) != 0)
        fail_msg("condition '%s' failed to parse: %s", text, err);
    bool res = acl_cond_eval(c, ctx);
    acl_cond_free(c);
    return res;
}

static bool cond(const char *text)
{
    return cond_ctx(text, &R.ctx);
}

static const char *cond_error(const struct acl_set *set, const char *text)
{
    static char err[256];
    char **argv;
    int argc = words(text, &argv);
    struct acl_cond *c = (struct acl_cond *)1;

    err[0] = '\0';
    if (acl_cond_parse(set, argc, argv, &c, err, sizeof(err)) == 0)
        fail_msg("condition '%s' parsed but should not", text);
    assert_null(c);
    return err;
}

static void test_single_and_negation(void **state)
{
    assert_true(cond("if t1"));
    assert_false(cond("if f1"));
    assert_false(cond("if !t1"));
    assert_true(cond("if !f1"));
    assert_true(cond("if ! f1")); /* standalone '!' */
    assert_true(cond("if !!t1")); /* repeated '!' toggles */
    assert_false(cond("if ! !f1"));
    assert_false(cond("unless t1"));
    assert_true(cond("unless f1"));
    assert_true(cond("unless !t1"));
}

static void test_and(void **state)
{
    assert_true(cond("if t1 t2"));
    assert_false(cond("if t1 f1"));
    assert_false(cond("if f1 t1"));
    assert_true(cond("if t1 !f1 t2 !f2"));
    assert_false(cond("unless t1 t2"));
    assert_true(cond("unless t1 f1"));
}

static void test_or_and_precedence(void **state)
{
    assert_true(cond("if f1 || t1"));
    assert_true(cond("if t1 || f1"));
    assert_false(cond("if f1 || f2"));
    assert_true(cond("if f1 or t1"));
    assert_true(cond("if f1 OR t1")); /* "or" ignores case, as HAProxy */
    /* AND binds tighter: (t1 && f1) || (t2 && !f2) */
    assert_true(cond("if t1 f1 || t2 !f2"));
    /* (f1) || (t1 && f2) || (!t2) */
    assert_false(cond("if f1 || t1 f2 || !t2"));
    /* (t1 && t2 && f1) || (f2) || (t1 && t2) */
    assert_true(cond("if t1 t2 f1 || f2 || t1 t2"));
    /* unless applies to the whole disjunction */
    assert_false(cond("unless f1 || t1"));
    assert_true(cond("unless f1 || f2 t1"));
    /* (!t1 && t2) || (!f1 && !f2) */
    assert_true(cond("if !t1 t2 || !f1 !f2"));
}

static void test_anonymous(void **state)
{
    assert_true(cond("if { path_beg /v1 }"));
    assert_false(cond("if { path_beg /v2 }"));
    assert_true(cond("if !{ path_beg /v2 }"));
    assert_true(cond("if ! { path_beg /v2 }"));
    assert_true(cond("if t1 { method POST } !{ src 10.0.0.0/8 }"));
    assert_true(cond("if f1 || { hdr(host) -i API.example.com } t2"));
    assert_true(cond("if { urlp(id) 7 } { hdr_cnt(host) eq 1 }"));
    assert_false(cond("if { urlp(id) 7 } { hdr_cnt(host) eq 2 }"));
    assert_true(cond("if { path -m reg ^/v[0-9]+/ }"));
    /* a brace as a value needs no escape outside its own word */
    assert_true(cond("if { always_true }"));
}

/* Several `acl` lines under one name are ORed; a condition sees lines added
 * after it was parsed (it holds the ACL, not a copy), as in HAProxy. */
static void test_named_or_across_lines(void **state)
{
    struct acl_set *set = acl_set_new();
    struct acl_cond *c;
    char err[256];
    char *argv[] = {"if", "static"};

    add(set, "static", "path_beg /static /img");
    assert_int_equal(acl_cond_parse(set, 2, argv, &c, err, sizeof(err)), 0);
    assert_false(acl_cond_eval(c, &R.ctx));
    add(set, "static", "path_end .css");
    assert_false(acl_cond_eval(c, &R.ctx));
    add(set, "static", "method POST");
    assert_true(acl_cond_eval(c, &R.ctx));
    acl_cond_free(c);
    acl_set_free(set);
}

static void test_predefined(void **state)
{
    struct treq r;
    static const char *const cl0[] = {"Content-Length: 0", NULL};
    static const char *const cl5[] = {"Content-Length: 5", NULL};

    assert_true(cond("if TRUE"));
    assert_false(cond("if FALSE"));
    assert_true(cond("if HTTP"));
    assert_true(cond("if HTTP_1.1"));
    assert_false(cond("if HTTP_1.0"));
    assert_false(cond("if HTTP_2.0"));
    assert_true(cond("if METH_POST"));
    assert_false(cond("if METH_GET"));
    assert_true(cond("if HTTP_URL_SLASH"));
    assert_false(cond("if HTTP_URL_ABS"));
    assert_false(cond("if HTTP_URL_STAR"));
    assert_true(cond("if HTTP_CONTENT"));
    assert_false(cond("if LOCALHOST"));
    assert_true(cond("if METH_POST HTTP_CONTENT || METH_GET")); /* reused within a condition */

    treq_init(&r, "HEAD / HTTP/1.0", cl0);
    assert_true(cond_ctx("if METH_GET", &r.ctx)); /* GET or HEAD */
    assert_true(cond_ctx("if METH_HEAD", &r.ctx));
    assert_true(cond_ctx("if HTTP_1.0", &r.ctx));
    assert_false(cond_ctx("if HTTP_CONTENT", &r.ctx)); /* content-length 0 */
    treq_init(&r, "GET http://a.example/x HTTP/1.1", cl5);
    assert_true(cond_ctx("if METH_GET HTTP_URL_ABS HTTP_CONTENT", &r.ctx));
    assert_false(cond_ctx("if HTTP_URL_SLASH", &r.ctx));
    treq_init(&r, "OPTIONS * HTTP/1.1", NULL);
    assert_true(cond_ctx("if METH_OPTIONS HTTP_URL_STAR", &r.ctx));
    assert_false(cond_ctx("if HTTP_URL_SLASH", &r.ctx));
    assert_false(cond_ctx("if HTTP_CONTENT", &r.ctx)); /* no content-length */
    treq_init(&r, "CONNECT a:443 HTTP/1.1", NULL);
    assert_true(cond_ctx("if METH_CONNECT !HTTP_URL_SLASH", &r.ctx));
    const char *m[] = {"PUT", "DELETE", "TRACE"};
    const char *p[] = {"if METH_PUT", "if METH_DELETE", "if METH_TRACE"};
    for (int i = 0; i < 3; i++) {
        char line[64];
        snprintf(line, sizeof(line), "%s / HTTP/1.1", m[i]);
        treq_init(&r, line, NULL);
        for (int k = 0; k < 3; k++)
            assert_int_equal(cond_ctx(p[k], &r.ctx), i == k);
    }
    treq_init(&r, "GET / HTTP/1.1", NULL);
    r.m.version = 20;
    r.m.scheme = treq_slice("https", 5);
    r.m.authority = treq_slice("h", 1);
    assert_true(cond_ctx("if HTTP_2.0 HTTP_URL_ABS", &r.ctx));

    treq_src(&R, "127.0.0.1", 1);
    assert_true(cond("if LOCALHOST"));
    treq_src(&R, "127.255.0.9", 1);
    assert_true(cond("if LOCALHOST"));
    treq_src(&R, "::1", 1);
    assert_true(cond("if LOCALHOST"));
    treq_src(&R, "::ffff:127.0.0.1", 1);
    assert_true(cond("if LOCALHOST"));
    treq_src(&R, "128.0.0.1", 1);
    assert_false(cond("if LOCALHOST"));

    /* a named ACL wins over a predefined one of the same name */
    add(S, "TRUE", "always_false");
    assert_false(cond("if TRUE"));
    /* no set at all: predefined and anonymous ACLs only */
    char *argv[] = {"if", "METH_POST", "{", "path_beg", "/v1", "}"};
    struct acl_cond *c;
    char err[128];
    assert_int_equal(acl_cond_parse(NULL, 6, argv, &c, err, sizeof(err)), 0);
    assert_true(acl_cond_eval(c, &R.ctx));
    acl_cond_free(c);
    acl_cond_free(NULL);
}

static void test_errors(void **state)
{
    assert_string_equal(cond_error(S, "when t1"), "expected 'if' or 'unless', got 'when'");
    assert_string_equal(cond_error(S, "IF t1"), "expected 'if' or 'unless', got 'IF'");
    assert_string_equal(cond_error(S, "<empty>"), "expected 'if' or 'unless', got ''");
    assert_string_equal(cond_error(S, "if"), "missing condition after 'if'");
    assert_string_equal(cond_error(S, "unless"), "missing condition after 'unless'");
    assert_string_equal(cond_error(S, "if t3"), "unknown ACL 't3' (did you mean 't1'?)");
    assert_string_equal(cond_error(S, "if METH_GTE"),
                        "unknown ACL 'METH_GTE' (did you mean 'METH_GET'?)");
    assert_string_equal(cond_error(S, "if completely_unknown"),
                        "unknown ACL 'completely_unknown'");
    assert_string_equal(cond_error(S, "if t1 ||"), "missing condition after '||'");
    assert_string_equal(cond_error(S, "if || t1"), "missing condition before '||'");
    assert_string_equal(cond_error(S, "if t1 || or t2"), "missing condition before 'or'");
    assert_string_equal(cond_error(S, "if t1 !"), "'!' not followed by an ACL");
    assert_string_equal(cond_error(S, "if ! || t1"), "'!' not followed by an ACL");
    assert_string_equal(cond_error(S, "if { path_beg /x"), "missing '}' after '{'");
    assert_string_equal(cond_error(S, "if { }"), "empty anonymous ACL '{ }'");
    assert_string_equal(cond_error(S, "if t1 }"), "unexpected '}' without '{'");
    assert_string_equal(cond_error(S, "if { path_beg }"), "missing value for 'path_beg'");
    assert_string_equal(cond_error(S, "if { pth / }"), "unknown fetch 'pth' (did you mean 'path'?)");
    assert_string_equal(cond_error(S, "if t1 { path_reg ( }"),
                        "invalid regex '(' : missing closing parenthesis at offset 1");
    assert_string_equal(cond_error(S, "if WAIT_END"),
                        "predefined ACL 'WAIT_END' is not supported by tern (it inspects the raw "
                        "request buffer; tern evaluates ACLs on the parsed request)");
    assert_string_equal(cond_error(S, "if t1 REQ_CONTENT"),
                        "predefined ACL 'REQ_CONTENT' is not supported by tern (it inspects the "
                        "raw request buffer; tern evaluates ACLs on the parsed request)");
    assert_true(strstr(cond_error(S, "if RDP_COOKIE"), "not supported") != NULL);
    assert_string_equal(cond_error(NULL, "if t1"), "unknown ACL 't1'");
    struct acl_cond *c = (struct acl_cond *)1;
    char err[64];
    assert_int_equal(acl_cond_parse(S, 0, NULL, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "missing 'if' or 'unless'");
    assert_null(c);
}

static void check(const char *text, enum acl_where where, const char *want_err)
{
    char err[256] = "";
    char **argv;
    int argc = words(text, &argv);
    struct acl_cond *c;

    assert_int_equal(acl_cond_parse(S, argc, argv, &c, err, sizeof(err)), 0);
    int rc = acl_cond_check(c, where, err, sizeof(err));
    if (want_err) {
        assert_int_equal(rc, -1);
        assert_string_equal(err, want_err);
    } else {
        assert_int_equal(rc, 0);
    }
    acl_cond_free(c);
}

static void test_check_where(void **state)
{
    check("if t1 || METH_GET", ACL_WHERE_REQUEST, NULL);
    check("if t1 { hdr(x) y }", ACL_WHERE_RESPONSE, NULL); /* the request stays readable */
    check("if { status 404 } !{ res.hdr(x) -m found }", ACL_WHERE_RESPONSE, NULL);
    check("if t1 || { status 404 }", ACL_WHERE_REQUEST,
          "'status' reads the response: not available in a request rule");
    check("if { shdr_beg(location) x }", ACL_WHERE_REQUEST,
          "'shdr_beg(location)' reads the response: not available in a request rule");
    check("if { src 10.0.0.0/8 } !{ dst_port 80 } TRUE", ACL_WHERE_TCP, NULL);
    check("if LOCALHOST || t2", ACL_WHERE_TCP,
          "'hdr(host)' reads an HTTP message: not available in a TCP rule (mode tcp)");
    assert_int_equal(acl_cond_check(NULL, ACL_WHERE_TCP, NULL, 0), 0);
    /* a rule without a condition always applies */
    assert_true(acl_cond_eval(NULL, &R.ctx));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_and_negation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_and, setup, teardown),
        cmocka_unit_test_setup_teardown(test_or_and_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_or_across_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predefined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_where, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    acl_thread_release();
    return rc;
}
