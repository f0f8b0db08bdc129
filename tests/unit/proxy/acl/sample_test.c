/*
 * sample_test.c: the ACL engine's samples as text (acl_sample_parse,
 * acl_sample_text: `%[<fetch>]` of log-format strings) and acl_regex_exec's
 * groups.
 */
#include "tests/unit/proxy/acl/acl_test_util.h"

/* The sample of `fetch` on r, "<none>" when there is none. */
static const char *sample(const char *fetch, struct treq *r)
{
    static char out[512];
    char err[256], buf[64];
    struct acl_expr *e;
    const char *p;
    size_t n;

    if (acl_sample_parse(fetch, &e, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", fetch, err);
    if (!acl_sample_text(e, &r->ctx, buf, sizeof(buf), &p, &n))
        snprintf(out, sizeof(out), "<none>");
    else
        snprintf(out, sizeof(out), "%.*s", (int)n, p);
    acl_sample_free(e);
    return out;
}

static const char *sample_error(const char *fetch)
{
    static char err[256];
    struct acl_expr *e = NULL;

    err[0] = 0;
    if (acl_sample_parse(fetch, &e, err, sizeof(err)) == 0)
        fail_msg("'%s' parsed but should not", fetch);
    assert_null(e);
    return err;
}

static void test_request_samples(void **state)
{
    struct treq r;
    static const char *const h[] = {"Host: example.com", "X-Forwarded-For: 10.0.0.1, 10.0.0.2",
                                    "X-Forwarded-For: 10.0.0.3", "Cookie: a=1", "X-N: 42abc",
                                    NULL};

    treq_init(&r, "GET /a/b.css?x=1&y=two HTTP/1.1", h);
    assert_string_equal(sample("path", &r), "/a/b.css");
    assert_string_equal(sample("query", &r), "x=1&y=two");
    assert_string_equal(sample("pathq", &r), "/a/b.css?x=1&y=two");
    assert_string_equal(sample("url", &r), "/a/b.css?x=1&y=two");
    assert_string_equal(sample("method", &r), "GET");
    assert_string_equal(sample("req.ver", &r), "1.1");
    assert_string_equal(sample("urlp(y)", &r), "two");
    assert_string_equal(sample("url_param(x)", &r), "1");
    assert_string_equal(sample("urlp(z)", &r), "<none>");
    assert_string_equal(sample("urlp_val(x)", &r), "1");
    /* headers: the last occurrence by default, as HAProxy's sample fetches */
    assert_string_equal(sample("hdr(host)", &r), "example.com");
    assert_string_equal(sample("hdr(x-forwarded-for)", &r), "10.0.0.3");
    assert_string_equal(sample("hdr(x-forwarded-for,1)", &r), "10.0.0.1");
    assert_string_equal(sample("hdr(x-forwarded-for,-2)", &r), "10.0.0.2");
    assert_string_equal(sample("fhdr(x-forwarded-for,1)", &r), "10.0.0.1, 10.0.0.2");
    assert_string_equal(sample("req.fhdr(x-forwarded-for)", &r), "10.0.0.3");
    assert_string_equal(sample("hdr_cnt(x-forwarded-for)", &r), "3");
    assert_string_equal(sample("req.fhdr_cnt(x-forwarded-for)", &r), "2");
    assert_string_equal(sample("hdr_val(x-n)", &r), "42");
    assert_string_equal(sample("hdr_ip(x-forwarded-for)", &r), "10.0.0.3");
    assert_string_equal(sample("hdr(absent)", &r), "<none>");
    assert_string_equal(sample("src", &r), "192.0.2.10");
    assert_string_equal(sample("src_port", &r), "40000");
    assert_string_equal(sample("dst", &r), "198.51.100.1");
    assert_string_equal(sample("dst_port", &r), "80");
    assert_string_equal(sample("always_true", &r), "1");
    /* response fetches find no response in a request */
    assert_string_equal(sample("status", &r), "<none>");
    assert_string_equal(sample("res.hdr(x)", &r), "<none>");

    treq_src(&r, "2001:db8::1", 5);
    assert_string_equal(sample("src", &r), "2001:db8::1");
}

static void test_response_samples(void **state)
{
    struct treq req, res;
    static const char *const rh[] = {"Server: x", "Set-Cookie: a=1", "Set-Cookie: b=2", NULL};

    treq_init(&req, "GET / HTTP/1.1", NULL);
    treq_init(&res, "GET / HTTP/1.1", rh);
    res.m.kind = HTTP_MSG_RESPONSE;
    res.m.status = 404;
    req.ctx.res = &res.m;
    assert_string_equal(sample("status", &req), "404");
    assert_string_equal(sample("res.hdr(set-cookie)", &req), "b=2");
    assert_string_equal(sample("shdr(server)", &req), "x");
    /* bare hdr reads the response when there is one */
    assert_string_equal(sample("hdr(server)", &req), "x");
    assert_string_equal(sample("res.hdr_cnt(set-cookie)", &req), "2");
}

static void test_parse_errors(void **state)
{
    assert_non_null(strstr(sample_error("pth"), "unknown fetch 'pth' (did you mean 'path'?)"));
    assert_non_null(strstr(sample_error("path_beg"), "'path_beg' is an ACL match, not a sample "
                                                     "fetch (use 'path')"));
    assert_non_null(strstr(sample_error("hdr_reg(x)"), "use 'hdr'"));
    assert_non_null(strstr(sample_error("hdr(host),lower"), "converters are not supported"));
    assert_non_null(strstr(sample_error(""), "empty"));
    assert_non_null(strstr(sample_error("path(x)"), "takes no argument"));
}

static void test_check(void **state)
{
    struct acl_expr *e;
    char err[256];

    assert_int_equal(acl_sample_parse("status", &e, err, sizeof(err)), 0);
    assert_int_equal(acl_sample_check(e, ACL_WHERE_REQUEST, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "reads the response"));
    assert_int_equal(acl_sample_check(e, ACL_WHERE_RESPONSE, err, sizeof(err)), 0);
    acl_sample_free(e);
}

static void test_regex_groups(void **state)
{
    void *re;
    char err[256];
    size_t ov[2 * ACL_REGEX_GROUPS];
    const char *s = "key=value";

    assert_int_equal(acl_regex_compile("^([^=]*)=(.*)$", false, &re, err, sizeof(err)), 0);
    assert_int_equal(acl_regex_exec(re, s, strlen(s), ov), 3);
    assert_int_equal(ov[0], 0);
    assert_int_equal(ov[1], 9);
    assert_int_equal(ov[2], 0);
    assert_int_equal(ov[3], 3);
    assert_int_equal(ov[4], 4);
    assert_int_equal(ov[5], 9);
    assert_int_equal(acl_regex_exec(re, "novalue", 7, ov), 0);
    acl_regex_free(re);
    assert_int_equal(acl_regex_compile("(", false, &re, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid regex '('"));
    acl_thread_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_samples), cmocka_unit_test(test_response_samples),
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_check),
        cmocka_unit_test(test_regex_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
