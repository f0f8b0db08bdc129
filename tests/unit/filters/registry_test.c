/* Tests for filters/registry.c: the built-in table, lookups by name and type
 * URL, and what filter_register refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "filters/http/access_log/access_log.h"
#include "filters/http/rate_limit/rate_limit.h"
#include "filters/http/retry/retry.h"
#include "filters/registry.h"
#include "filters/http/rbac/rbac.h"

static const struct http_filter_ops fake_a = {.name = "x-test", .type_url = "type.example/x"};
static const struct http_filter_ops fake_same_name = {.name = "x-test"};
static const struct http_filter_ops fake_same_url = {.name = "x-other",
                                                     .type_url = "type.example/x"};
static const struct http_filter_ops fake_no_name = {.name = NULL};
static const struct http_filter_ops fake_empty_name = {.name = ""};

static void test_builtin(void **state)
{
    (void)state;
    filter_registry_init();
    filter_registry_init(); /* idempotent */
    /* every shipped filter, each once, in registry.c's order */
    assert_int_equal(filter_count(), 4);
    assert_ptr_equal(filter_at(0), &rate_limit_filter);
    assert_ptr_equal(filter_at(1), &retry_filter);
    assert_ptr_equal(filter_at(2), &access_log_filter);
    assert_ptr_equal(filter_at(3), &rbac_filter);
    assert_null(filter_at(4));
    /* rbac is also a network filter (mode tcp); the others are not */
    assert_ptr_equal(network_filter_find("rbac"), &rbac_network_filter);
    assert_null(network_filter_find("rate-limit"));
    assert_null(network_filter_find(NULL));
    assert_ptr_equal(filter_find("retry"), &retry_filter);
    assert_ptr_equal(filter_find("access-log"), &access_log_filter);
    assert_ptr_equal(filter_find("rate-limit"), &rate_limit_filter);
    assert_string_equal(rate_limit_filter.name, "rate-limit");
    assert_null(filter_find("rate_limit"));
    assert_null(filter_find("Rate-Limit"));
    assert_null(filter_find(""));
    assert_null(filter_find(NULL));
    assert_null(filter_find_by_type_url(NULL));
    assert_null(filter_find_by_type_url("type.example/none"));
}

static void test_register(void **state)
{
    (void)state;
    size_t n = filter_count();

    assert_int_equal(filter_register(&fake_a), 0);
    assert_int_equal(filter_count(), n + 1);
    assert_ptr_equal(filter_find("x-test"), &fake_a);
    assert_ptr_equal(filter_find_by_type_url("type.example/x"), &fake_a);
    assert_ptr_equal(filter_at(n), &fake_a);
    /* refused: a taken name or type URL, no name, NULL, the built-in again */
    assert_int_equal(filter_register(&fake_same_name), -1);
    assert_int_equal(filter_register(&fake_same_url), -1);
    assert_int_equal(filter_register(&fake_no_name), -1);
    assert_int_equal(filter_register(&fake_empty_name), -1);
    assert_int_equal(filter_register(NULL), -1);
    assert_int_equal(filter_register(&rate_limit_filter), -1);
    assert_int_equal(filter_count(), n + 1);
    assert_ptr_equal(filter_find("rate-limit"), &rate_limit_filter);
}

static void test_full(void **state)
{
    (void)state;
    static struct http_filter_ops many[FILTER_REGISTRY_MAX];
    static char names[FILTER_REGISTRY_MAX][16];
    size_t added = 0;

    for (size_t i = 0; i < FILTER_REGISTRY_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "f%zu", i);
        many[i].name = names[i];
        if (filter_register(&many[i]) == 0)
            added++;
        else
            break;
    }
    assert_int_equal(filter_count(), FILTER_REGISTRY_MAX);
    assert_true(added < FILTER_REGISTRY_MAX);
    assert_int_equal(filter_register(&many[FILTER_REGISTRY_MAX - 1]), -1);
    assert_ptr_equal(filter_find("f0"), &many[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
