/*
 * regex_test.c: the regex match (PCRE2 + JIT, acl_match.c): compile errors
 * as config errors, -i, anchors on slices that are not NUL-terminated,
 * several regexes ORed, a pathological regex, and evaluation from several
 * threads at once with their per-thread match blocks.
 */
#include <pthread.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "acl_test_util.h"

static const char *compile_error(const char *line)
{
    return acl_error(line);
}

static void test_compile_errors(void **state)
{
    assert_string_equal(compile_error("path_reg ("),
                        "invalid regex '(' : missing closing parenthesis at offset 1");
    assert_string_equal(compile_error("path_reg [a-"),
                        "invalid regex '[a-' : missing terminating ] for character class at "
                        "offset 3");
    assert_string_equal(compile_error("path_reg a{2,1}"),
                        "invalid regex 'a{2,1}' : numbers out of order in {} quantifier at "
                        "offset 5");
    assert_string_equal(compile_error("path_reg *a"),
                        "invalid regex '*a' : quantifier does not follow a repeatable item at "
                        "offset 0");
    /* the first bad regex of a list is reported; the good ones are freed */
    assert_string_equal(compile_error("hdr_reg(host) ^ok$ ^fine ) ^never"),
                        "invalid regex ')' : unmatched closing parenthesis at offset 0");
    assert_string_equal(compile_error("path -m reg -i (?<n"),
                        "invalid regex '(?<n' : syntax error in subpattern name (missing "
                        "terminator?) at offset 4");
}

static void test_match(void **state)
{
    struct treq r;
    static const char *const hdrs[] = {"Host: WWW.Example.ORG", NULL};

    treq_init(&r, "GET /api/v2/items/42?x=1 HTTP/1.1", hdrs);
    assert_true(acl1("path_reg ^/api/v[0-9]+/", &r));
    assert_true(acl1("path_reg /items/[0-9]+$", &r)); /* $ at the end of the path */
    assert_false(acl1("path_reg \\?x=1", &r));        /* the query is not in path */
    assert_true(acl1("url_reg \\?x=1$", &r));
    assert_false(acl1("path_reg ^/API/", &r));
    assert_true(acl1("path_reg -i ^/API/", &r));
    assert_true(acl1("hdr_reg(host) -i ^www\\.example\\.org$", &r));
    assert_false(acl1("hdr_reg(host) ^www\\.example\\.org$", &r));
    assert_true(acl1("hdr(host) -m reg (?i)example", &r)); /* inline flags work too */
    assert_true(acl1("path_reg ^/nope ^/also-not /items/", &r)); /* ORed */
    assert_false(acl1("path_reg ^/nope ^/also-not", &r));
    assert_true(acl1("path_reg <empty>", &r)); /* the empty regex matches anything */
}

/* A sample is a slice: the regex must not see the bytes after it. */
static void test_slice_bounds(void **state)
{
    static char buf[] = "abcdef";
    struct treq r;

    treq_init(&r, "GET / HTTP/1.1", NULL);
    r.hdrs[0].name = treq_slice("X-S", 3);
    r.hdrs[0].value = treq_slice(buf, 3); /* "abc", followed by "def" in memory */
    r.m.nhdrs = 1;
    assert_true(acl1("fhdr(x-s) -m reg ^abc$", &r));
    assert_true(acl1("fhdr(x-s) -m reg c$", &r));
    assert_false(acl1("fhdr(x-s) -m reg abcd", &r));
    assert_false(acl1("fhdr(x-s) -m reg f", &r));
    r.hdrs[0].value = treq_slice(buf + 3, 0);
    assert_true(acl1("fhdr(x-s) -m reg ^$", &r));
}

/* JIT is used when the library has it. */
static void test_jit(void **state)
{
    uint32_t jit = 0;
    char err[128];
    char *argv[] = {"path_reg", "^/a+b"};
    struct acl_set *set = acl_set_new();

    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    assert_int_equal(acl_set_add(set, "x", 2, argv, err, sizeof(err)), 0);
    const struct acl_expr *e = acl_set_find(set, "x")->exprs[0];
    assert_int_equal(e->npat, 1);
    size_t jitsize = 0;
    assert_int_equal(pcre2_pattern_info(e->pat.re[0], PCRE2_INFO_JITSIZE, &jitsize), 0);
    if (jit)
        assert_true(jitsize > 0);
    acl_set_free(set);
}

/* Catastrophic backtracking hits PCRE2's match limit: no match, no hang. */
static void test_pathological(void **state)
{
    struct treq r;
    char line[128];
    char path[64];

    memset(path, 'a', 40);
    path[0] = '/';
    strcpy(path + 40, "!");
    snprintf(line, sizeof(line), "GET %s HTTP/1.1", path);
    treq_init(&r, line, NULL);
    assert_false(acl1("path_reg ^/(a|aa)+$", &r));
    assert_true(acl1("path_reg ^/(a|aa)+!$", &r));
}

/* Several threads evaluate the same compiled condition at once; each gets
 * its own match block (created lazily, freed when the thread exits). */
struct worker {
    const struct acl_cond *cond;
    int id;
    int mismatches;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct treq *r = calloc(1, sizeof(*r));
    char line[64];

    for (int i = 0; i < 20000; i++) {
        int n = (i * 7 + w->id) % 100;
        snprintf(line, sizeof(line), "GET /item/%d HTTP/1.1", n);
        treq_init(r, line, NULL);
        bool want = n % 2 == 0 && n >= 10;
        if (acl_cond_eval(w->cond, &r->ctx) != want)
            w->mismatches++;
    }
    free(r);
    return NULL;
}

static void test_threads(void **state)
{
    char err[256];
    char **argv;
    int argc = words("if { path_reg ^/item/[1-9][0-9]*[02468]$ } !{ path_reg -i ^/ITEM/[0-9]$ }",
                     &argv);
    struct acl_cond *c;
    assert_int_equal(acl_cond_parse(NULL, argc, argv, &c, err, sizeof(err)), 0);

    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].mismatches, 0);
    }
    acl_cond_free(c);
}

static void test_thread_prepare_release(void **state)
{
    acl_thread_prepare();
    acl_thread_prepare(); /* idempotent */
    acl_thread_release();
    acl_thread_release();
    struct treq r;
    treq_init(&r, "GET /x HTTP/1.1", NULL);
    assert_true(acl1("path_reg x", &r)); /* recreated on demand */
    acl_thread_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_slice_bounds),
        cmocka_unit_test(test_jit),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_thread_prepare_release),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    acl_thread_release();
    return rc;
}
