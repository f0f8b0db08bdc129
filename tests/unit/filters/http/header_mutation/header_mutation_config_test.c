/*
 * header_mutation_config_test.c: every http-request / http-response action
 * and the section keyword redirect parse into the rule they mean; bad input
 * is refused with a message that says what is wrong (the caller adds
 * FILE:LINE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/acl/acl.h"
#include "tests/unit/filters/http/header_mutation/hm_test_util.h"

static const struct hm_rule *only(const struct hm_config *c, enum hm_dir d)
{
    assert_int_equal(c->nrules[d], 1);
    return &c->rules[d][0];
}

static void test_deny_return(void **state)
{
    struct hm_config *c;
    const struct hm_rule *r;

    c = hm_build(NULL, "http-request deny");
    r = only(c, HM_REQUEST);
    assert_int_equal(r->act, HM_A_DENY);
    assert_int_equal(r->status, 403);
    assert_true(r->body_page);
    assert_null(r->cond);
    hm_config_free(c);

    c = hm_build(NULL, "http-request deny deny_status 429 content-type text/plain string "
                       "go<sp>away hdr Retry-After 7 if TRUE");
    r = only(c, HM_REQUEST);
    assert_int_equal(r->status, 429);
    assert_string_equal(r->ctype, "text/plain");
    assert_string_equal(r->body, "go away");
    assert_false(r->body_page);
    assert_int_equal(r->nhdrs, 1);
    assert_string_equal(r->hdrs[0].name, "Retry-After");
    assert_non_null(r->cond);
    hm_config_free(c);

    c = hm_build(NULL, "http-request deny status 410");
    assert_int_equal(only(c, HM_REQUEST)->status, 410);
    hm_config_free(c);

    c = hm_build(NULL, "http-request return");
    r = only(c, HM_REQUEST);
    assert_int_equal(r->act, HM_A_RETURN);
    assert_int_equal(r->status, 200);
    assert_false(r->body_page);
    assert_null(r->body);
    hm_config_free(c);

    c = hm_build(NULL, "http-request return status 503 default-errorfiles");
    assert_true(only(c, HM_REQUEST)->body_page);
    hm_config_free(c);

    c = hm_build(NULL, "http-request return status 200 content-type text/plain lf-string "
                       "hi<sp>%[src] hdr X-A %[path]");
    r = only(c, HM_REQUEST);
    assert_true(r->body_lf);
    assert_false(hm_fmt_constant(&r->fmt));
    hm_config_free(c);

    /* a file payload, read at load */
    {
        char path[] = "/tmp/hm_test_XXXXXX";
        int fd = mkstemp(path);
        char line[256];
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "file body\n", 10), 10);
        close(fd);
        snprintf(line, sizeof(line), "http-request return content-type text/plain file %s",
                 path);
        c = hm_build(NULL, line);
        r = only(c, HM_REQUEST);
        assert_int_equal(r->body_len, 10);
        assert_memory_equal(r->body, "file body\n", 10);
        hm_config_free(c);
        unlink(path);
        assert_non_null(strstr(hm_error(NULL, line), "cannot open file"));
    }

    /* http-response deny: 502 by default (HAProxy) */
    c = hm_build(NULL, "http-response deny if { status 500 }");
    r = only(c, HM_RESPONSE);
    assert_int_equal(r->status, 502);
    hm_config_free(c);
}

static void test_redirect(void **state)
{
    struct hm_config *c;
    const struct hm_rule *r;

    c = hm_build(NULL, "http-request redirect location /x");
    r = only(c, HM_REQUEST);
    assert_int_equal(r->act, HM_A_REDIRECT);
    assert_int_equal(r->redir, HM_REDIR_LOCATION);
    assert_int_equal(r->status, 302);
    hm_config_free(c);

    c = hm_build(NULL, "redirect prefix /new code 301 drop-query append-slash if { path_beg /o }");
    r = only(c, HM_REQUEST);
    assert_int_equal(r->redir, HM_REDIR_PREFIX);
    assert_int_equal(r->status, 301);
    assert_true(r->drop_query);
    assert_true(r->append_slash);
    assert_non_null(r->cond);
    hm_config_free(c);

    c = hm_build(NULL, "redirect scheme https code 308");
    assert_int_equal(only(c, HM_REQUEST)->redir, HM_REDIR_SCHEME);
    assert_int_equal(only(c, HM_REQUEST)->status, 308);
    hm_config_free(c);
}

static void test_header_actions(void **state)
{
    struct hm_config *c = hm_build(NULL,
                                   "http-request set-header X-A %[src]\n"
                                   "http-request add-header X-B literal\n"
                                   "http-request del-header X-C\n"
                                   "http-request del-header x-pre -m beg\n"
                                   "http-request del-header ^x-(a|b)$ -m reg\n"
                                   "http-request replace-header X-D ^(.*)$ <\\1>\n"
                                   "http-request replace-value X-E ^a(.*) b\\1\n"
                                   "http-request set-path /p%[path]\n"
                                   "http-request set-pathq /p?q\n"
                                   "http-request set-query a=1\n"
                                   "http-request set-uri /u\n"
                                   "http-request set-method POST\n"
                                   "http-request allow\n"
                                   "http-response set-header X-R %[status]\n"
                                   "http-response add-header X-R2 v\n"
                                   "http-response del-header Server\n"
                                   "http-response replace-header Set-Cookie (.*) \\1;<sp>Secure\n"
                                   "http-response replace-value X-V a b\n"
                                   "http-response allow");
    static const enum hm_act req[] = {
        HM_A_SET_HEADER, HM_A_ADD_HEADER, HM_A_DEL_HEADER, HM_A_DEL_HEADER, HM_A_DEL_HEADER,
        HM_A_REPLACE_HEADER, HM_A_REPLACE_VALUE, HM_A_SET_PATH, HM_A_SET_PATHQ, HM_A_SET_QUERY,
        HM_A_SET_URI, HM_A_SET_METHOD, HM_A_ALLOW,
    };
    static const enum hm_act res[] = {
        HM_A_SET_HEADER, HM_A_ADD_HEADER, HM_A_DEL_HEADER, HM_A_REPLACE_HEADER,
        HM_A_REPLACE_VALUE, HM_A_ALLOW,
    };

    assert_int_equal(c->nrules[HM_REQUEST], sizeof(req) / sizeof(req[0]));
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
        assert_int_equal(c->rules[HM_REQUEST][i].act, req[i]);
    assert_int_equal(c->nrules[HM_RESPONSE], sizeof(res) / sizeof(res[0]));
    for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++)
        assert_int_equal(c->rules[HM_RESPONSE][i].act, res[i]);
    assert_int_equal(c->rules[HM_REQUEST][3].del_match, HM_DEL_BEG);
    assert_int_equal(c->rules[HM_REQUEST][4].del_match, HM_DEL_REG);
    assert_non_null(c->rules[HM_REQUEST][4].re);
    assert_non_null(c->rules[HM_REQUEST][5].re);
    hm_config_free(c);
}

static void test_conditions(void **state)
{
    struct acl_set *set = acl_set_new();
    char *argv[] = {"path_beg", "/api"};
    char err[256];
    struct hm_config *c;

    assert_int_equal(acl_set_add(set, "is_api", 2, argv, err, sizeof(err)), 0);
    c = hm_build(set, "http-request deny if is_api !{ src 10.0.0.0/8 }\n"
                      "http-request set-header X 1 unless is_api\n"
                      "http-response set-header Y 1 if { status 200 } is_api");
    assert_int_equal(c->nrules[HM_REQUEST], 2);
    assert_true(c->rules[HM_REQUEST][1].cond->unless);
    hm_config_free(c);

    assert_non_null(strstr(hm_error(set, "http-request deny if is_apu"),
                           "unknown ACL 'is_apu' (did you mean 'is_api'?)"));
    assert_non_null(strstr(hm_error(set, "http-request deny if { status 200 }"),
                           "'status' reads the response: not available in a request rule"));
    assert_non_null(strstr(hm_error(set, "http-request deny if"),
                           "missing condition after 'if'"));
    acl_set_free(set);
}

static void test_errors(void **state)
{
    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"http-request", "missing action"},
        {"http-request frobnicate", "unknown action 'frobnicate'"},
        {"http-request auth realm x", "action 'auth' is not supported by tern"},
        {"http-request lua.foo", "Lua actions"},
        {"http-response redirect location /", "not available in http-response rules"},
        {"http-response set-path /x", "not available in http-response rules"},
        {"http-request deny deny_status 99", "invalid status code '99'"},
        {"http-request deny deny_status 600", "invalid status code '600'"},
        {"http-request deny status abc", "invalid status code 'abc'"},
        {"http-request deny string a string b", "only one payload"},
        {"http-request deny errorfile /x", "payload 'errorfile' is not supported"},
        {"http-request deny bogus", "unexpected argument 'bogus'"},
        {"http-request deny hdr X-A", "missing header value"},
        {"http-request deny hdr Bad:Name v", "invalid header name 'Bad:Name'"},
        {"http-request return status 204 string x", "status 204 cannot have a payload"},
        {"http-response deny hdr X-A v", "'hdr' is not supported in http-response rules"},
        {"http-request redirect", "missing 'location', 'prefix' or 'scheme'"},
        {"http-request redirect to /x", "expected 'location', 'prefix' or 'scheme', got 'to'"},
        {"http-request redirect location /x code 305", "invalid code '305'"},
        {"http-request redirect location /x code 200", "invalid code '200'"},
        {"http-request redirect location /x set-cookie A=1", "'set-cookie' is not supported"},
        {"http-request redirect location /x extra", "unexpected argument 'extra'"},
        {"redirect location", "missing location"},
        {"http-request set-header", "missing header name"},
        {"http-request set-header X-A", "missing value"},
        {"http-request set-header X-A v extra", "unexpected argument 'extra'"},
        {"http-request set-header X<sp>A v", "invalid header name 'X A'"},
        {"http-request set-header X-A %ci", "'%ci' in '%ci' is not supported"},
        {"http-request set-header X-A %[src", "missing ']'"},
        {"http-request set-header X-A %[pth]", "unknown fetch 'pth' (did you mean 'path'?)"},
        {"http-request set-header X-A %[path_beg]", "is an ACL match, not a sample fetch"},
        {"http-request set-header X-A %[hdr(x),lower]", "converters are not supported"},
        {"http-request set-header X-A %[status]", "reads the response"},
        {"http-request set-header X-A 50%", "lone '%'"},
        {"http-request set-header X-A %{+Q}[src]", "'%{+Q}[src' in"},
        {"http-request set-header Content-Length 0", "frames the body"},
        {"http-response del-header transfer-encoding", "frames the body"},
        {"http-request del-header X -m foo", "invalid match method 'foo'"},
        {"http-request del-header X -x", "unexpected argument '-x'"},
        {"http-request del-header ( -m reg", "invalid regex '('"},
        {"http-request replace-header X-A", "missing regex"},
        {"http-request replace-header X-A ( y", "invalid regex '('"},
        {"http-request replace-header X-A a", "missing replacement"},
        {"http-request set-path", "missing format"},
        {"http-request set-method GET extra", "unexpected argument 'extra'"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *e = hm_error(NULL, bad[i].line);
        if (!strstr(e, bad[i].msg))
            fail_msg("'%s': got '%s', expected '%s'", bad[i].line, e, bad[i].msg);
    }
}

static void test_format_compile(void **state)
{
    struct hm_fmt f;
    char err[256];

    assert_int_equal(hm_fmt_compile(&f, "a%%b", false, false, err, sizeof(err)), 0);
    assert_true(hm_fmt_constant(&f));
    assert_int_equal(f.nparts, 1);
    assert_int_equal(f.parts[0].len, 3);
    assert_memory_equal(f.parts[0].lit, "a%b", 3);
    hm_fmt_free(&f);

    assert_int_equal(hm_fmt_compile(&f, "x=%[src]:%[src_port]\\1", true, false, err,
                                    sizeof(err)), 0);
    assert_int_equal(f.nparts, 5);
    assert_non_null(f.parts[1].fetch);
    assert_int_equal(f.parts[4].group, 1);
    hm_fmt_free(&f);

    /* without groups, \1 is literal text */
    assert_int_equal(hm_fmt_compile(&f, "\\1", false, false, err, sizeof(err)), 0);
    assert_true(hm_fmt_constant(&f));
    hm_fmt_free(&f);
    acl_thread_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deny_return),    cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_header_actions), cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_format_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
