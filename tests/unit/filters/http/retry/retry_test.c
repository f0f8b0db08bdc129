/*
 * retry_test.c: the retry filter (filters/http/retry): argument parsing and
 * its errors, the full-jitter backoff bounds, the budget arithmetic, and the
 * upstream_result decisions (retry-on, retries left, replayable body,
 * idempotent methods, connect failures, the budget), driven through the
 * fake core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filters/http/retry/retry.h"
#include "tests/unit/filters/http/rate_limit/fake_core.h"

int retry_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen);
void retry_config_free(void *cfg);


static int parse(const char *line, struct retry_config **out, char *err, size_t errlen)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    void *cfg = NULL;
    int r;

    snprintf(buf, sizeof(buf), "%s", line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    err[0] = 0;
    r = retry_config_parse(argc, argv, &cfg, err, errlen);
    *out = cfg;
    return r;
}

static struct retry_config *ok(const char *line)
{
    struct retry_config *c;
    char err[256];
    if (parse(line, &c, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", line, err);
    return c;
}

static void bad(const char *line, const char *msg)
{
    struct retry_config *c;
    char err[256];
    assert_int_equal(parse(line, &c, err, sizeof(err)), -1);
    if (!strstr(err, msg))
        fail_msg("'%s': got '%s', want '%s'", line, err, msg);
}

static void test_defaults_and_options(void **unused)
{
    struct retry_config *c = ok("");
    (void)unused;
    assert_int_equal(c->backoff_base_ms, 0);
    assert_int_equal(c->budget_percent, 0);
    assert_int_equal(c->buffer, RETRY_BUFFER_DEFAULT);
    assert_false(c->non_idempotent);
    retry_config_free(c);

    c = ok("backoff 25ms 1s per-try-timeout 2s budget 20% min-concurrency 5 buffer 1m "
           "retry-non-idempotent");
    assert_int_equal(c->backoff_base_ms, 25);
    assert_int_equal(c->backoff_max_ms, 1000);
    assert_int_equal(c->per_try_timeout_ms, 2000);
    assert_int_equal(c->budget_percent, 20);
    assert_int_equal(c->min_concurrency, 5);
    assert_int_equal(c->buffer, 1 << 20);
    assert_true(c->non_idempotent);
    retry_config_free(c);

    c = ok("budget 50");
    assert_int_equal(c->budget_percent, 50);
    assert_int_equal(c->min_concurrency, 3); /* Envoy's default */
    retry_config_free(c);
    c = ok("buffer 0");
    assert_int_equal(c->buffer, 0);
    retry_config_free(c);
}

static void test_errors(void **unused)
{
    (void)unused;
    bad("backoff", "backoff needs <base> <max>");
    bad("backoff 10ms", "backoff needs <base> <max>");
    bad("backoff 0 10ms", "invalid backoff base '0'");
    bad("backoff x 10ms", "invalid backoff base 'x'");
    bad("backoff 100ms 10ms", "invalid backoff max '10ms'");
    bad("per-try-timeout", "per-try-timeout needs a time");
    bad("per-try-timeout 0", "per-try-timeout needs a time");
    bad("budget", "budget needs a percentage");
    bad("budget 0%", "invalid budget '0%'");
    bad("budget 101%", "invalid budget '101%'");
    bad("budget 20% min-concurrency", "min-concurrency needs a number");
    bad("min-concurrency 3", "min-concurrency goes after budget");
    bad("buffer 65m", "buffer needs a size up to 64m");
    bad("buffer lots", "buffer needs a size");
    bad("retries 3", "unknown argument 'retries'");
}

static void test_backoff_bounds(void **unused)
{
    struct retry_config *c = ok("backoff 10ms 80ms");
    uint64_t rng = 42;
    uint32_t max_seen[6] = {0};
    (void)unused;

    for (int i = 0; i < 20000; i++) {
        for (uint32_t k = 0; k < 6; k++) {
            uint32_t d = retry_backoff_ms(c, k, &rng);
            uint32_t cap = 10u << k;
            if (cap > 80)
                cap = 80;
            assert_true(d <= cap);
            if (d > max_seen[k])
                max_seen[k] = d;
        }
    }
    /* full jitter reaches the top of each window */
    assert_int_equal(max_seen[0], 10);
    assert_int_equal(max_seen[1], 20);
    assert_int_equal(max_seen[2], 40);
    assert_int_equal(max_seen[5], 80);
    retry_config_free(c);
    c = ok("");
    assert_int_equal(retry_backoff_ms(c, 3, &rng), 0);
    retry_config_free(c);
}

static struct http_msg req_of(enum http_method m)
{
    struct http_msg r;
    memset(&r, 0, sizeof(r));
    r.kind = HTTP_MSG_REQUEST;
    r.method = m;
    return r;
}

static struct upstream_result result(enum filter_outcome oc, uint32_t attempt)
{
    struct upstream_result r = {
        .outcome = oc,
        .failure = TERN_R_NONE,
        .status = 503,
        .attempt = attempt,
        .max_retries = 3,
        .retry_on = true,
        .request_replayable = true,
        .endpoint = "s1",
    };
    return r;
}

static enum filter_retry decide(struct filter_stream *fs, struct retry_state *st,
                                struct upstream_result r, uint32_t *delay)
{
    *delay = 12345;
    return retry_filter.upstream_result(fs, st, &r, delay);
}

static void test_decisions(void **unused)
{
    struct retry_config *c = ok("per-try-timeout 1s");
    struct filter_stream fs;
    struct retry_state st;
    struct http_msg get = req_of(HTTP_M_GET), post = req_of(HTTP_M_POST);
    struct retry_stats stats;
    uint32_t delay;
    (void)unused;

    fake_stream_init(&fs, c);
    memset(&st, 0, sizeof(st));
    assert_int_equal(retry_filter.request_headers(&fs, &st, &get, true), FILTER_CONTINUE);
    assert_int_equal(fs.buffer_body, RETRY_BUFFER_DEFAULT);
    assert_int_equal(fs.attempt_timeout, 1000);

    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_RESPONSE, 1), &delay), FILTER_RETRY);
    assert_int_equal(delay, 0); /* no backoff configured: at once, as HAProxy */
    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_RESPONSE, 3), &delay), FILTER_RETRY);
    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_RESPONSE, 4), &delay), FILTER_ACCEPT);
    {
        struct upstream_result r = result(FILTER_OUTCOME_RESPONSE, 1);
        r.retry_on = false;
        assert_int_equal(decide(&fs, &st, r, &delay), FILTER_ACCEPT);
        r.retry_on = true;
        r.request_replayable = false;
        assert_int_equal(decide(&fs, &st, r, &delay), FILTER_ACCEPT);
    }
    retry_filter.stream_done(&fs, &st, NULL);

    /* POST: never retried after it may have reached the server ... */
    memset(&st, 0, sizeof(st));
    fake_stream_init(&fs, c);
    retry_filter.request_headers(&fs, &st, &post, false);
    assert_int_equal(fs.buffer_body, 0); /* and its body is not kept */
    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_RESPONSE, 1), &delay), FILTER_ACCEPT);
    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_EMPTY_RESPONSE, 1), &delay),
                     FILTER_ACCEPT);
    /* ... but a connect failure never reached it */
    assert_int_equal(decide(&fs, &st, result(FILTER_OUTCOME_CONN_FAILURE, 1), &delay),
                     FILTER_RETRY);
    retry_filter.stream_done(&fs, &st, NULL);

    retry_stats(c, &stats);
    assert_int_equal(stats.retries, 3);
    assert_int_equal(stats.not_idempotent, 2);
    for (int i = 0; i < RETRY_SLOTS; i++) {
        assert_int_equal(c->slots[i].active, 0);
        assert_int_equal(c->slots[i].retrying, 0);
    }
    retry_config_free(c);
}

static void test_budget(void **unused)
{
    struct retry_config *c = ok("budget 20% min-concurrency 2");
    struct filter_stream fs[20];
    struct retry_state st[20];
    struct http_msg get = req_of(HTTP_M_GET);
    struct retry_stats stats;
    uint32_t delay;
    int retried = 0;
    (void)unused;

    memset(st, 0, sizeof(st));
    for (int i = 0; i < 20; i++) {
        fake_stream_init(&fs[i], c);
        fs[i].worker = (uint32_t)i % 2;
        retry_filter.request_headers(&fs[i], &st[i], &get, true);
    }
    /* 20 active: 20% is 4 streams retrying at once */
    for (int i = 0; i < 20; i++)
        retried += decide(&fs[i], &st[i], result(FILTER_OUTCOME_RESPONSE, 1), &delay) ==
                   FILTER_RETRY;
    assert_int_equal(retried, 4);
    /* a stream already retrying may go on */
    assert_int_equal(decide(&fs[0], &st[0], result(FILTER_OUTCOME_RESPONSE, 2), &delay),
                     FILTER_RETRY);
    retry_stats(c, &stats);
    assert_int_equal(stats.budget_exhausted, 16);
    for (int i = 0; i < 20; i++)
        retry_filter.stream_done(&fs[i], &st[i], NULL);

    /* few active: min-concurrency still allows 2 */
    memset(st, 0, sizeof(st));
    for (int i = 0; i < 3; i++) {
        fake_stream_init(&fs[i], c);
        retry_filter.request_headers(&fs[i], &st[i], &get, true);
    }
    retried = 0;
    for (int i = 0; i < 3; i++)
        retried += decide(&fs[i], &st[i], result(FILTER_OUTCOME_RESPONSE, 1), &delay) ==
                   FILTER_RETRY;
    assert_int_equal(retried, 2);
    for (int i = 0; i < 3; i++)
        retry_filter.stream_done(&fs[i], &st[i], NULL);
    assert_true(retry_budget_allows(c));
    retry_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_options),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
