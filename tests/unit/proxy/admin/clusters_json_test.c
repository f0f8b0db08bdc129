/*
 * clusters_json_test.c: proxy/admin/clusters_json.c. The document for
 * test_snapshot.c parses as strict JSON, names needing escapes come back
 * intact, and the counters are the sums of the two workers' slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "proxy/admin/clusters_json.h"
#include "tests/unit/proxy/admin/json_check.h"
#include "tests/unit/proxy/admin/test_snapshot.h"

static struct jv *render(const struct snapshot *snap)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *text, err[160];
    struct jv *v;

    clusters_json_render(b, snap);
    n = evbuffer_get_length(b);
    text = malloc(n + 1);
    evbuffer_copyout(b, text, n);
    text[n] = '\0';
    v = jv_parse(text, n, err, sizeof(err));
    if (!v)
        fail_msg("invalid JSON (%s): %s", err, text);
    free(text);
    evbuffer_free(b);
    return v;
}

static const struct jv *get(const struct jv *doc, const char *path, enum jv_type t)
{
    const struct jv *v = jv_get(doc, path);

    if (!v)
        fail_msg("missing %s", path);
    if (v->t != t)
        fail_msg("%s has type %d, want %d", path, v->t, t);
    return v;
}

static double num(const struct jv *doc, const char *path)
{
    return get(doc, path, JV_NUM)->num;
}

static const char *str(const struct jv *doc, const char *path)
{
    return get(doc, path, JV_STR)->str;
}

static bool boolean(const struct jv *doc, const char *path)
{
    return get(doc, path, JV_BOOL)->b;
}

static void test_clusters(void **state)
{
    struct snapshot *snap = test_snapshot_new();
    struct jv *doc = render(snap);

    assert_true(num(doc, "version") == 7);
    assert_int_equal(get(doc, "clusters", JV_ARR)->n, 1);
    assert_string_equal(str(doc, "clusters.0.name"), TS_BE_NAME);
    assert_string_equal(str(doc, "clusters.0.mode"), "tcp");
    assert_string_equal(str(doc, "clusters.0.balance"), "roundrobin");
    assert_string_equal(str(doc, "clusters.0.health_check.type"), "http");
    assert_string_equal(str(doc, "clusters.0.health_check.uri"), "/health");
    assert_string_equal(str(doc, "clusters.0.health_check.method"), "OPTIONS");
    assert_true(num(doc, "clusters.0.connections_total") == 30);
    assert_true(num(doc, "clusters.0.connect_errors") == 3);
    assert_true(num(doc, "clusters.0.retries") == 5);
    assert_true(num(doc, "clusters.0.no_server") == 6);
    assert_true(num(doc, "clusters.0.active_servers") == 1);
    assert_true(num(doc, "clusters.0.backup_servers") == 1);

    assert_int_equal(get(doc, "clusters.0.servers", JV_ARR)->n, 4);
    assert_string_equal(str(doc, "clusters.0.servers.0.name"), "s1");
    assert_string_equal(str(doc, "clusters.0.servers.0.address"), "10.0.0.1:8080");
    assert_true(num(doc, "clusters.0.servers.0.weight") == 3);
    assert_true(boolean(doc, "clusters.0.servers.0.up"));
    assert_string_equal(str(doc, "clusters.0.servers.0.health"), "UP");
    assert_true(num(doc, "clusters.0.servers.0.connections_total") == 15);
    assert_true(num(doc, "clusters.0.servers.0.current_connections") == 1);
    assert_true(num(doc, "clusters.0.servers.0.bytes_out") == 4096);
    assert_true(num(doc, "clusters.0.servers.0.lb_selected") == 123);
    assert_true(boolean(doc, "clusters.0.servers.0.check"));

    assert_false(boolean(doc, "clusters.0.servers.1.up"));
    assert_string_equal(str(doc, "clusters.0.servers.1.health"), "DOWN");
    assert_string_equal(str(doc, "clusters.0.servers.1.last_check"),
                        "L4CON: Connection \"refused\"");
    assert_true(num(doc, "clusters.0.servers.1.checks_failed") == 4);
    assert_true(num(doc, "clusters.0.servers.1.went_down") == 2);

    assert_true(boolean(doc, "clusters.0.servers.2.backup"));
    assert_true(boolean(doc, "clusters.0.servers.3.disabled"));
    assert_string_equal(str(doc, "clusters.0.servers.3.health"), "DOWN");
    assert_true(num(doc, "clusters.0.servers.3.maxconn") == 0);

    jv_free(doc);
    test_snapshot_free(snap);
}

static void test_empty(void **state)
{
    struct jv *doc = render(NULL);

    assert_int_equal(get(doc, "clusters", JV_ARR)->n, 0);
    jv_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
