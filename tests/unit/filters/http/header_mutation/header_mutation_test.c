/*
 * header_mutation_test.c: the rules run on http_msg heads (hm_run) and
 * through the hooks with a fake core: every action's effect, conditions,
 * `allow`, the order of rules, rewrite failures, and the replies of deny,
 * return and redirect.
 */
#include "tests/unit/proxy/acl/acl_test_util.h"

#include "filters/http/header_mutation/header_mutation.h"
#include "proxy/core/arena.h"
#include "tests/unit/filters/http/header_mutation/hm_test_util.h"

struct msg {
    struct treq r;
    struct arena a;
};

static void msg_init(struct msg *m, const char *line, const char *const *hdrs)
{
    treq_init(&m->r, line, hdrs);
    arena_init(&m->a, NULL, 0);
    m->r.m.arena = &m->a;
}

static void msg_fini(struct msg *m)
{
    arena_destroy(&m->a);
}

static const char *hdr(const struct msg *m, const char *name)
{
    static char out[1024];
    struct http_str v;
    int i = http_msg_find(&m->r.m, name, strlen(name), 0);

    if (i < 0)
        return "<none>";
    v = m->r.m.hdrs[i].value;
    snprintf(out, sizeof(out), "%.*s", (int)v.len, v.p ? v.p : "");
    return out;
}

static const char *str(struct http_str s)
{
    static char out[4][1024];
    static int k;
    k = (k + 1) % 4;
    if (!s.p)
        return "<none>";
    snprintf(out[k], sizeof(out[k]), "%.*s", (int)s.len, s.p);
    return out[k];
}

static const struct hm_rule *run(struct hm_config *c, struct msg *m, uint16_t *fail)
{
    return hm_run(c, HM_REQUEST, &m->r.m, &m->r.ctx, fail);
}

static void test_headers(void **state)
{
    static const char *const h[] = {"Host: a.example", "X-Drop: 1", "X-Pre-One: 1",
                                    "x-pre-two: 2", "X-Keep: k", "X-Rep: key=value",
                                    "X-Vals: a1 , b2,\"a,3\", a4", "X-Add: first", NULL};
    struct hm_config *c = hm_build(NULL,
                                   "http-request set-header X-Src %[src]:%[src_port]\n"
                                   "http-request add-header X-Add second\n"
                                   "http-request del-header x-drop\n"
                                   "http-request del-header X-PRE- -m beg\n"
                                   "http-request replace-header X-Rep ^([^=]*)=(.*)$ \\2=\\1;%[path]\n"
                                   "http-request replace-value X-Vals ^a(.*)$ A\\1\n"
                                   "http-request set-header X-Pct 100%%\n"
                                   "http-request set-header X-Missing <%[hdr(absent)]>");
    struct msg m;
    uint16_t fail;

    msg_init(&m, "GET /p HTTP/1.1", h);
    assert_null(run(c, &m, &fail));
    assert_int_equal(fail, 0);
    assert_string_equal(hdr(&m, "x-src"), "192.0.2.10:40000");
    assert_string_equal(hdr(&m, "x-drop"), "<none>");
    assert_string_equal(hdr(&m, "x-pre-one"), "<none>");
    assert_string_equal(hdr(&m, "x-pre-two"), "<none>");
    assert_string_equal(hdr(&m, "x-keep"), "k");
    assert_string_equal(hdr(&m, "x-rep"), "value=key;/p");
    /* each element on its own, separators and blanks as they were; the
     * quoted comma does not split */
    assert_string_equal(hdr(&m, "x-vals"), "A1 , b2,\"a,3\", A4");
    assert_string_equal(hdr(&m, "x-pct"), "100%");
    assert_string_equal(hdr(&m, "x-missing"), "<>");
    /* add-header appends, the first stays */
    assert_int_equal(http_msg_find(&m.r.m, "x-add", 5, 0) >= 0, 1);
    {
        int i = http_msg_find(&m.r.m, "x-add", 5, 0);
        int j = http_msg_find(&m.r.m, "x-add", 5, (uint32_t)i + 1);
        assert_true(j > i);
        assert_string_equal(str(m.r.m.hdrs[i].value), "first");
        assert_string_equal(str(m.r.m.hdrs[j].value), "second");
    }
    msg_fini(&m);
    hm_config_free(c);
}

static void test_del_reg_and_host(void **state)
{
    static const char *const h[] = {"Host: a.example", "X-A: 1", "X-B: 2", "X-AB: 3", NULL};
    struct hm_config *c = hm_build(NULL, "http-request del-header ^x-(a|b)$ -m reg\n"
                                         "http-request set-header Host b.example");
    struct msg m;
    uint16_t fail;

    msg_init(&m, "GET / HTTP/1.1", h);
    assert_null(run(c, &m, &fail));
    assert_string_equal(hdr(&m, "x-a"), "<none>");
    assert_string_equal(hdr(&m, "x-b"), "<none>");
    assert_string_equal(hdr(&m, "x-ab"), "3");
    /* Host and the authority move together */
    assert_string_equal(str(m.r.m.authority), "b.example");
    msg_fini(&m);
    hm_config_free(c);
}

static void test_target(void **state)
{
    struct hm_config *c;
    struct msg m;
    uint16_t fail;

    c = hm_build(NULL, "http-request set-path /v2%[path]\n"
                       "http-request set-query %[query]&added=1\n"
                       "http-request set-method POST\n"
                       "http-request set-header X-Seen %[path]");
    msg_init(&m, "GET /a?x=1 HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_string_equal(str(m.r.m.path), "/v2/a");
    assert_string_equal(str(m.r.m.query), "x=1&added=1");
    assert_string_equal(str(m.r.m.method_str), "POST");
    assert_int_equal(m.r.m.method, HTTP_M_POST);
    /* later rules see earlier rewrites */
    assert_string_equal(hdr(&m, "x-seen"), "/v2/a");
    msg_fini(&m);
    hm_config_free(c);

    /* set-query: no '?' added for an empty value; an existing one stays */
    c = hm_build(NULL, "http-request set-query %[hdr(absent)]");
    msg_init(&m, "GET /a HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_null(m.r.m.query.p);
    msg_fini(&m);
    msg_init(&m, "GET /a?b HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_non_null(m.r.m.query.p);
    assert_int_equal(m.r.m.query.len, 0);
    msg_fini(&m);
    hm_config_free(c);

    c = hm_build(NULL, "http-request set-uri /n?q=%[urlp(q)]");
    msg_init(&m, "GET /o?q=7 HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_string_equal(str(m.r.m.path), "/n");
    assert_string_equal(str(m.r.m.query), "q=7");
    msg_fini(&m);
    hm_config_free(c);

    c = hm_build(NULL, "http-request set-uri http://other.example:8080/z?k");
    msg_init(&m, "GET /o HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_string_equal(str(m.r.m.scheme), "http");
    assert_string_equal(str(m.r.m.authority), "other.example:8080");
    assert_string_equal(str(m.r.m.path), "/z");
    assert_string_equal(str(m.r.m.query), "k");
    msg_fini(&m);
    hm_config_free(c);

    c = hm_build(NULL, "http-request set-pathq /x/y?z");
    msg_init(&m, "GET /o?q HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_string_equal(str(m.r.m.path), "/x/y");
    assert_string_equal(str(m.r.m.query), "z");
    msg_fini(&m);
    hm_config_free(c);
}

static void test_failures(void **state)
{
    static const char *const sp[] = {"X-P: a b", NULL};
    struct hm_config *c;
    struct msg m;
    uint16_t fail;

    /* a path with a space would split the request line: 400 */
    c = hm_build(NULL, "http-request set-path /%[hdr(x-p)]");
    msg_init(&m, "GET / HTTP/1.1", sp);
    assert_null(run(c, &m, &fail));
    assert_int_equal(fail, 400);
    assert_string_equal(str(m.r.m.path), "/");
    msg_fini(&m);
    hm_config_free(c);

    c = hm_build(NULL, "http-request set-method %[hdr(x-p)]");
    msg_init(&m, "GET / HTTP/1.1", sp);
    run(c, &m, &fail);
    assert_int_equal(fail, 400);
    msg_fini(&m);
    hm_config_free(c);

    c = hm_build(NULL, "http-request set-uri nope");
    msg_init(&m, "GET / HTTP/1.1", NULL);
    run(c, &m, &fail);
    assert_int_equal(fail, 400);
    msg_fini(&m);
    hm_config_free(c);

    /* more fields than tune.http.maxhdr: 431 */
    c = hm_build(NULL, "http-request add-header X-1 a\nhttp-request add-header X-2 b");
    hm_config_set_max_hdrs(c, 1);
    msg_init(&m, "GET / HTTP/1.1", NULL);
    run(c, &m, &fail);
    assert_int_equal(fail, 431);
    msg_fini(&m);
    hm_config_free(c);

    /* response rewrite failures are the server's: 502 */
    c = hm_build(NULL, "http-response add-header X-1 a\nhttp-response add-header X-2 b");
    hm_config_set_max_hdrs(c, 1);
    msg_init(&m, "GET / HTTP/1.1", NULL);
    hm_run(c, HM_RESPONSE, &m.r.m, &m.r.ctx, &fail);
    assert_int_equal(fail, 502);
    msg_fini(&m);
    hm_config_free(c);
}

static void test_conditions_and_order(void **state)
{
    static const char *const h[] = {"X-Canary: yes", NULL};
    struct acl_set *set = acl_set_new();
    char *argv[] = {"hdr(x-canary)", "yes"};
    char err[128];
    struct hm_config *c;
    const struct hm_rule *r;
    struct msg m;
    uint16_t fail;

    assert_int_equal(acl_set_add(set, "canary", 2, argv, err, sizeof(err)), 0);
    c = hm_build(set, "http-request set-header X-If 1 if canary\n"
                      "http-request set-header X-Unless 1 unless canary\n"
                      "http-request deny if { path /deny }\n"
                      "http-request allow if { path /allow }\n"
                      "http-request set-header X-After 1\n"
                      "http-request return status 202");
    msg_init(&m, "GET /x HTTP/1.1", h);
    r = run(c, &m, &fail);
    assert_non_null(r);
    assert_int_equal(r->act, HM_A_RETURN);
    assert_string_equal(hdr(&m, "x-if"), "1");
    assert_string_equal(hdr(&m, "x-unless"), "<none>");
    assert_string_equal(hdr(&m, "x-after"), "1");
    msg_fini(&m);

    msg_init(&m, "GET /deny HTTP/1.1", NULL);
    r = run(c, &m, &fail);
    assert_int_equal(r->act, HM_A_DENY);
    assert_string_equal(hdr(&m, "x-unless"), "1");
    assert_string_equal(hdr(&m, "x-after"), "<none>"); /* deny is final */
    msg_fini(&m);

    /* allow: the request rules stop there */
    msg_init(&m, "GET /allow HTTP/1.1", NULL);
    assert_null(run(c, &m, &fail));
    assert_int_equal(fail, 0);
    assert_string_equal(hdr(&m, "x-after"), "<none>");
    msg_fini(&m);
    hm_config_free(c);
    acl_set_free(set);
}

/* ---- through the hooks -------------------------------------------------------- */

static void hook_req(struct hm_config *c, struct msg *m, struct filter_stream *fs)
{
    memset(fs, 0, sizeof(*fs));
    fs->cfg = c;
    fs->info.client = (const struct sockaddr *)&m->r.src;
    header_mutation_filter.request_headers(fs, NULL, &m->r.m, true);
}

static void test_replies(void **state)
{
    static const char *const h[] = {"Host: www.example.com", NULL};
    struct hm_config *c = hm_build(
        NULL, "http-request deny deny_status 429 hdr Retry-After 7 hdr X-Who %[src] if { path /rl }\n"
              "http-request deny if { path /d }\n"
              "http-request deny content-type text/plain string nope if { path /s }\n"
              "http-request return status 200 content-type text/plain lf-string "
              "hello<sp>%[src]<sp>%[path] if { path /hello }\n"
              "http-request return status 204 if { path /empty }\n"
              "http-request redirect location https://x.example/%[urlp(to)] code 303 if { path /loc }\n"
              "redirect prefix /new code 301 if { path_beg /old }\n"
              "redirect prefix /new drop-query append-slash if { path_beg /dq }\n"
              "redirect prefix / if { path /same }\n"
              "redirect scheme https if { path_beg /sec }");
    struct filter_stream fs;
    struct msg m;

    msg_init(&m, "GET /rl HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.nreplies, 1);
    assert_int_equal(fs.status, 429);
    assert_int_equal(fs.reason, TERN_R_DENIED);
    assert_true(fs.body_null); /* tern's page (or the errorfile) */
    assert_string_equal(fake_reply_hdr(&fs, "Retry-After"), "7");
    assert_string_equal(fake_reply_hdr(&fs, "X-Who"), "192.0.2.10");
    msg_fini(&m);

    msg_init(&m, "GET /d HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 403);
    assert_int_equal(fs.reason, TERN_R_DENIED);
    msg_fini(&m);

    msg_init(&m, "GET /s HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 403);
    assert_string_equal(fs.body, "nope");
    assert_string_equal(fs.ctype, "text/plain");
    msg_fini(&m);

    msg_init(&m, "GET /hello HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 200);
    assert_int_equal(fs.reason, TERN_R_LOCAL_RESPONSE);
    assert_string_equal(fs.body, "hello 192.0.2.10 /hello");
    msg_fini(&m);

    msg_init(&m, "GET /empty HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 204);
    assert_false(fs.body_null);
    assert_int_equal(fs.body_len, 0);
    msg_fini(&m);

    msg_init(&m, "GET /loc?to=there HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 303);
    assert_string_equal(fake_reply_hdr(&fs, "location"), "https://x.example/there");
    msg_fini(&m);

    msg_init(&m, "GET /old/a?q=1 HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 301);
    assert_int_equal(fs.reason, TERN_R_LOCAL_RESPONSE);
    assert_string_equal(fake_reply_hdr(&fs, "location"), "/new/old/a?q=1");
    msg_fini(&m);

    msg_init(&m, "GET /dq/b?q=1 HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.status, 302);
    assert_string_equal(fake_reply_hdr(&fs, "location"), "/new/dq/b/");
    msg_fini(&m);

    msg_init(&m, "GET /same?z HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_string_equal(fake_reply_hdr(&fs, "location"), "/same?z");
    msg_fini(&m);

    msg_init(&m, "GET /sec/x?y=1 HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_string_equal(fake_reply_hdr(&fs, "location"), "https://www.example.com/sec/x?y=1");
    msg_fini(&m);

    /* no rule matches: nothing happens */
    msg_init(&m, "GET /other HTTP/1.1", h);
    hook_req(c, &m, &fs);
    assert_int_equal(fs.nreplies, 0);
    msg_fini(&m);
    hm_config_free(c);
}

static void test_response_hook(void **state)
{
    static const char *const rh[] = {"Server: apache", "Set-Cookie: a=1", "Set-Cookie: b=2",
                                     NULL};
    struct hm_config *c = hm_build(NULL,
                                   "http-response del-header Server\n"
                                   "http-response set-header X-Status %[status]-%[path]\n"
                                   "http-response replace-header Set-Cookie (.*) \\1;<sp>Secure\n"
                                   "http-response deny if { status 500 }");
    struct filter_stream fs;
    struct msg req, res;

    msg_init(&req, "GET /p HTTP/1.1", NULL);
    msg_init(&res, "GET / HTTP/1.1", rh);
    res.r.m.kind = HTTP_MSG_RESPONSE;
    res.r.m.status = 200;
    memset(&fs, 0, sizeof(fs));
    fs.cfg = c;
    fs.info.client = (const struct sockaddr *)&req.r.src;
    fs.info.request = &req.r.m;
    assert_int_equal(header_mutation_filter.response_headers(&fs, NULL, &res.r.m, false),
                     FILTER_CONTINUE);
    assert_int_equal(fs.nreplies, 0);
    assert_string_equal(hdr(&res, "server"), "<none>");
    assert_string_equal(hdr(&res, "x-status"), "200-/p");
    assert_string_equal(str(res.r.m.hdrs[0].value), "a=1; Secure");
    assert_string_equal(str(res.r.m.hdrs[1].value), "b=2; Secure");

    res.r.m.status = 500;
    header_mutation_filter.response_headers(&fs, NULL, &res.r.m, false);
    assert_int_equal(fs.nreplies, 1);
    assert_int_equal(fs.status, 502);
    assert_int_equal(fs.reason, TERN_R_DENIED);
    msg_fini(&req);
    msg_fini(&res);
    hm_config_free(c);
    acl_thread_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_del_reg_and_host),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_conditions_and_order),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_response_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
