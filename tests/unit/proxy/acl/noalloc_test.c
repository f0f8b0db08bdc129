/*
 * noalloc_test.c: evaluating conditions never allocates, whatever the fetch
 * and match method (regexes and the URL scratch buffer included), once the
 * thread has its regex match block (acl_thread_prepare).
 *
 * The test binary interposes malloc/calloc/realloc (the process-wide symbols,
 * so libpcre2 calls land here too) and counts calls made while `counting` is
 * set. Under ASan the allocator belongs to the sanitizer and the test only
 * runs the evaluations.
 */
#include "acl_test_util.h"

static volatile int counting; /* volatile: the compiler assumes malloc reads no global */
static volatile int allocs;

#ifndef TERN_ASAN
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
    allocs += counting;
    return __libc_malloc(n);
}

void *calloc(size_t nmemb, size_t size)
{
    allocs += counting;
    return __libc_calloc(nmemb, size);
}

void *realloc(void *p, size_t n)
{
    allocs += counting;
    return __libc_realloc(p, n);
}
#endif

static const char *const acl_lines[] = {
    "hdr(host) -i www.example.com",     "hdr_beg(host) www",
    "hdr_end(host) .com",               "hdr_sub(x-list) b",
    "hdr_dom(host) example",            "hdr_dir(x-path) a",
    "hdr_len(host) gt 3",               "hdr_reg(host) -i ^WWW\\.",
    "req.fhdr(x-list) -m sub ,",        "hdr_cnt(x-list) 3",
    "req.fhdr_cnt(x-list) 1",           "hdr_val(x-num) 12",
    "hdr_ip(x-ip) 10.0.0.0/8",          "hdr(x-ip) -m ip 10.0.0.0/8",
    "path_beg /a",                      "path_end .png",
    "path_reg ^/a/[a-z]+",              "path_dir b",
    "path -m found",                    "url_beg /a",
    "url_reg \\?k=",                    "pathq -m sub ?",
    "query -m beg k=",                  "urlp(k) v",
    "urlp(j,;) 5",                      "urlp_val(n) 3",
    "method GET",                       "method -i purge",
    "req.ver 1.1",                      "src 192.0.2.0/24 ::1",
    "dst ::ffff:198.51.100.1",          "src_port 1:65535",
    "always_true",                      "hdr(host) -f /dev/null x y z",
};

static void test_eval_never_allocates(void **state)
{
    static const char *const hdrs[] = {"Host: www.example.com", "X-List: a, b, c",
                                       "X-Num: 12", "X-Ip: 10.2.3.4", "X-Path: /a/b", NULL};
    static char rewritten[] = "/a/bcd;j=5";
    char err[256];
    struct acl_set *set = acl_set_new();
    struct acl_cond *conds[TERN_ARRAY_SIZE(acl_lines) + 2];
    size_t nc = 0;

    for (size_t i = 0; i < TERN_ARRAY_SIZE(acl_lines); i++) {
        char name[16], cond[32];
        char **argv;
        int argc = words(acl_lines[i], &argv);
        snprintf(name, sizeof(name), "a%zu", i);
        assert_int_equal(acl_set_add(set, name, argc, argv, err, sizeof(err)), 0);
        snprintf(cond, sizeof(cond), "if %s", name);
        argc = words(cond, &argv);
        assert_int_equal(acl_cond_parse(set, argc, argv, &conds[nc++], err, sizeof(err)), 0);
    }
    char **argv;
    int argc = words("unless METH_POST || { path_reg ^/zz } LOCALHOST || HTTP_URL_ABS", &argv);
    assert_int_equal(acl_cond_parse(set, argc, argv, &conds[nc++], err, sizeof(err)), 0);

    struct treq r, r2;
    treq_init(&r, "GET /a/bcd.png?k=v&n=3 HTTP/1.1", hdrs);
    treq_init(&r2, "PURGE /a/bcd.png?k=v&n=3 HTTP/1.1", hdrs);
    r2.m.path = treq_slice(rewritten, strlen(rewritten)); /* url joins in the scratch */
    treq_src(&r2, "::1", 9);

    acl_thread_prepare();
    int expect = 0, hits = 0;
    for (size_t i = 0; i < nc; i++)
        expect += acl_cond_eval(conds[i], &r.ctx) + acl_cond_eval(conds[i], &r2.ctx);
    counting = 1;
    for (int round = 0; round < 100; round++)
        for (size_t i = 0; i < nc; i++)
            hits += acl_cond_eval(conds[i], &r.ctx) + acl_cond_eval(conds[i], &r2.ctx);
    counting = 0;
    assert_int_equal(allocs, 0);
    assert_int_equal(hits, 100 * expect);
    /* the requests make most conditions true: the loop really matched */
    assert_true(expect > (int)nc);

#ifndef TERN_ASAN
    /* the counter itself works */
    void *volatile p;
    counting = 1;
    p = malloc(16);
    counting = 0;
    free(p);
    assert_int_equal(allocs, 1);
#endif

    for (size_t i = 0; i < nc; i++)
        acl_cond_free(conds[i]);
    acl_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_never_allocates),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    acl_thread_release();
    return rc;
}
