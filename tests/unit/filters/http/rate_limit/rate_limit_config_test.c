/*
 * rate_limit_config_test.c: `filter rate-limit` argument parsing
 * (filters/http/rate_limit/rate_limit_config.c): defaults, every option, the
 * derived bucket arithmetic and header values, each error message exactly,
 * and a randomized pass over malformed argument lists (no crash, no leak, a
 * message every time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filters/http/rate_limit/rate_limit.h"

#define MAXARGS 32

/* Splits `line` on spaces into argv (in buf) and parses it. */
static int parse_line(const char *line, struct rate_limit_config **out, char *err, size_t errlen)
{
    static char buf[1024];
    char *argv[MAXARGS];
    int argc = 0;
    void *cfg = (void *)1;
    int r;

    snprintf(buf, sizeof(buf), "%s", line);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        assert_true(argc < MAXARGS);
        argv[argc++] = tok;
    }
    err[0] = '\0';
    r = rl_config_parse(argc, argv, &cfg, err, errlen);
    *out = cfg;
    return r;
}

static struct rate_limit_config *ok(const char *line)
{
    struct rate_limit_config *c;
    char err[256];

    if (parse_line(line, &c, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", line, err);
    assert_non_null(c);
    return c;
}

static void test_defaults(void **state)
{
    struct rate_limit_config *c = ok("rate 50/1s");

    assert_int_equal(c->count, 50);
    assert_int_equal(c->period_us, 1000000);
    assert_int_equal(c->burst, 50);
    assert_int_equal(c->deny_status, 429);
    assert_int_equal(c->key, RL_KEY_NONE);
    assert_int_equal(c->headers, RL_HDRS_DENY);
    assert_null(c->table);
    assert_int_equal(c->table_slots, 0);
    /* one token every 20000 us, exactly */
    assert_true(c->exact);
    assert_int_equal(c->units_per_us, 1);
    assert_int_equal(c->interval, 20000);
    assert_int_equal(c->tolerance, 1000000);
    assert_string_equal(c->limit_value, "50");
    assert_string_equal(c->policy_value, "50;w=1");
    assert_int_equal(atomic_load(&c->global_tat), RL_FRESH);
    assert_int_equal((uintptr_t)c % RL_CACHELINE, 0);
    assert_int_equal((uintptr_t)&c->counters[1] % RL_CACHELINE, 0);
    rl_config_free(c);
}

static void test_all_options(void **state)
{
    struct rate_limit_config *c = ok("rate 100/10s burst 20 key hdr(X-User) deny-status 503 "
                                     "table-size 1000 headers always");

    assert_int_equal(c->count, 100);
    assert_int_equal(c->period_us, 10000000);
    assert_int_equal(c->burst, 20);
    assert_int_equal(c->key, RL_KEY_HDR);
    assert_string_equal(c->hdr_name, "X-User");
    assert_int_equal(c->hdr_len, 6);
    assert_int_equal(c->deny_status, 503);
    assert_int_equal(c->table_slots, 1024); /* rounded up to a power of two */
    assert_non_null(c->table);
    assert_int_equal((uintptr_t)c->table % RL_CACHELINE, 0);
    assert_int_equal(c->headers, RL_HDRS_ALWAYS);
    assert_string_equal(c->limit_value, "100");
    assert_string_equal(c->policy_value, "100;w=10;burst=20");
    rl_config_free(c);

    /* options in any order; key src; default table */
    c = ok("key src headers never rate 1000/1m");
    assert_int_equal(c->key, RL_KEY_SRC);
    assert_int_equal(c->table_slots, RL_TABLE_DEFAULT);
    assert_int_equal(c->headers, RL_HDRS_NEVER);
    assert_string_equal(c->policy_value, "1000;w=60");
    assert_int_equal(c->interval, 60000); /* 60 ms per token, units of 1 us */
    rl_config_free(c);

    c = ok("rate 5/1s key src table-size 1 headers deny deny-status 400");
    assert_int_equal(c->table_slots, RL_TABLE_MIN);
    assert_int_equal(c->headers, RL_HDRS_DENY);
    assert_int_equal(c->deny_status, 400);
    rl_config_free(c);

    c = ok("rate 5/1s deny-status 599");
    assert_int_equal(c->deny_status, 599);
    rl_config_free(c);
}

static void test_units_and_arithmetic(void **state)
{
    static const struct {
        const char *line;
        uint64_t period_us, units_per_us, interval;
        const char *policy;
    } cases[] = {
        {"rate 1/1us", 1, 1, 1, "1000000;w=1;burst=1"},
        {"rate 3/10ms", 10000, 3, 10000, "300;w=1;burst=3"},
        {"rate 7/1s", 1000000, 7, 1000000, "7;w=1"},
        {"rate 10/100ms", 100000, 1, 10000, "100;w=1;burst=10"},
        {"rate 3/1500ms", 1500000, 1, 500000, "4;w=2;burst=3"},
        {"rate 60/1m", 60000000, 1, 1000000, "60;w=60"},
        {"rate 1/1h", 3600000000ull, 1, 3600000000ull, "1;w=3600"},
        {"rate 2/1d", 86400000000ull, 1, 43200000000ull, "2;w=86400"},
        {"rate 1/24d", 2073600000000ull, 1, 2073600000000ull, "1;w=2073600"},
        {"rate 100000000/1s", 1000000, 100, 1, "100000000;w=1"},
        {"rate 65536/1s", 1000000, 1024, 15625, "65536;w=1"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rate_limit_config *c = ok(cases[i].line);
        assert_int_equal(c->period_us, cases[i].period_us);
        assert_true(c->exact);
        assert_int_equal(c->units_per_us, cases[i].units_per_us);
        assert_int_equal(c->interval, cases[i].interval);
        /* T units of 1/units_per_us us is exactly period/N */
        assert_int_equal(c->interval * c->count, c->period_us * c->units_per_us);
        assert_string_equal(c->policy_value, cases[i].policy);
        rl_config_free(c);
    }

    /* N/g above 65536: rounded interval, within 2^-11 of the rate */
    struct rate_limit_config *c = ok("rate 999983/1s burst 10");
    assert_false(c->exact);
    assert_int_equal(c->units_per_us, 65536);
    assert_int_equal(c->interval, 65537); /* 65537.11... */
    rl_config_free(c);
}

static void test_errors(void **state)
{
    static const struct {
        const char *line;
        const char *msg;
    } cases[] = {
        {"", "missing 'rate <N>/<period>' (e.g. rate 50/1s)"},
        {"burst 10", "missing 'rate <N>/<period>' (e.g. rate 50/1s)"},
        {"rate", "missing value after 'rate'"},
        {"rate 50/1s burst", "missing value after 'burst'"},
        {"rate 50/1s key", "missing value after 'key'"},
        {"rate 50", "invalid rate '50': expected <N>/<period> such as 50/1s"},
        {"rate abc/1s", "invalid rate 'abc/1s': expected <N>/<period> such as 50/1s"},
        {"rate /1s", "invalid rate '/1s': expected <N>/<period> such as 50/1s"},
        {"rate 5x/1s", "invalid rate '5x/1s': expected <N>/<period> such as 50/1s"},
        {"rate 50/s", "invalid rate '50/s': expected <N>/<period> such as 50/1s"},
        {"rate 50/", "invalid rate '50/': expected <N>/<period> such as 50/1s"},
        {"rate +5/1s", "invalid rate '+5/1s': expected <N>/<period> such as 50/1s"},
        {"rate 0/1s", "invalid rate '0/1s': the count must be at least 1"},
        {"rate -5/1s", "invalid rate '-5/1s': the count must be a positive integer"},
        {"rate 4294967296/1s",
         "invalid rate '4294967296/1s': the count is too large (max 4294967295)"},
        {"rate 99999999999999999999999/1s",
         "invalid rate '99999999999999999999999/1s': the count is too large (max 4294967295)"},
        {"rate 50/1", "invalid rate '50/1': the period needs a unit (us, ms, s, m, h or d)"},
        {"rate 50/1x", "invalid rate '50/1x': unknown time unit 'x' (us, ms, s, m, h or d)"},
        {"rate 50/1S", "invalid rate '50/1S': unknown time unit 'S' (us, ms, s, m, h or d)"},
        {"rate 50/1s/2", "invalid rate '50/1s/2': unknown time unit 's/2' (us, ms, s, m, h or d)"},
        {"rate 50/0s", "invalid rate '50/0s': the period must be positive"},
        {"rate 50/-1s", "invalid rate '50/-1s': the period must be positive"},
        {"rate 50/25d", "invalid rate '50/25d': the period is too large (max 2147483647ms)"},
        {"rate 50/2147483648ms",
         "invalid rate '50/2147483648ms': the period is too large (max 2147483647ms)"},
        {"rate 50/99999999999999999999999us",
         "invalid rate '50/99999999999999999999999us': the period is too large (max 2147483647ms)"},
        {"rate 4294967295/1us",
         "invalid rate '4294967295/1us': too high (above 64 requests per microsecond)"},
        {"rate 1/24d burst 4294967295", "invalid burst '4294967295': too large for rate 1/24d"},
        {"rate 50/1s rate 10/1s", "'rate' given twice"},
        {"rate 50/1s burst 0", "invalid burst '0': expected an integer from 1 to 4294967295"},
        {"rate 50/1s burst -1", "invalid burst '-1': expected an integer from 1 to 4294967295"},
        {"rate 50/1s burst 1x", "invalid burst '1x': expected an integer from 1 to 4294967295"},
        {"rate 50/1s burst 4294967296",
         "invalid burst '4294967296': expected an integer from 1 to 4294967295"},
        {"rate 50/1s burst 5 burst 6", "'burst' given twice"},
        {"rate 50/1s key foo", "invalid key 'foo': expected src or hdr(<name>)"},
        {"rate 50/1s key hdr(x", "invalid key 'hdr(x': expected src or hdr(<name>)"},
        {"rate 50/1s key hdr", "invalid key 'hdr': expected src or hdr(<name>)"},
        {"rate 50/1s key SRC", "invalid key 'SRC': expected src or hdr(<name>)"},
        {"rate 50/1s key hdr()", "invalid key 'hdr()': empty header name"},
        {"rate 50/1s key hdr(a:b)", "invalid key 'hdr(a:b)': bad character in header name"},
        {"rate 50/1s key hdr(a(b))", "invalid key 'hdr(a(b))': bad character in header name"},
        {"rate 50/1s key src key hdr(x)", "'key' given twice"},
        {"rate 50/1s deny-status 200", "invalid deny-status '200': expected a 4xx or 5xx status"},
        {"rate 50/1s deny-status 399", "invalid deny-status '399': expected a 4xx or 5xx status"},
        {"rate 50/1s deny-status 600", "invalid deny-status '600': expected a 4xx or 5xx status"},
        {"rate 50/1s deny-status 4290", "invalid deny-status '4290': expected a 4xx or 5xx status"},
        {"rate 50/1s deny-status abc", "invalid deny-status 'abc': expected a 4xx or 5xx status"},
        {"rate 50/1s deny-status 429 deny-status 503", "'deny-status' given twice"},
        {"rate 50/1s table-size 100", "'table-size' needs 'key src' or 'key hdr(<name>)'"},
        {"rate 50/1s key src table-size 0",
         "invalid table-size '0': expected an integer from 1 to 16777216"},
        {"rate 50/1s key src table-size 16777217",
         "invalid table-size '16777217': expected an integer from 1 to 16777216"},
        {"rate 50/1s key src table-size 1k",
         "invalid table-size '1k': expected an integer from 1 to 16777216"},
        {"rate 50/1s headers sometimes",
         "invalid headers 'sometimes': expected deny, always or never"},
        {"rate 50/1s headers never headers deny", "'headers' given twice"},
        {"rate 50/1s foo",
         "unknown option 'foo' (expected rate, burst, key, deny-status, table-size or headers)"},
        {"rate-limit rate 50/1s",
         "unknown option 'rate-limit' (expected rate, burst, key, deny-status, table-size or "
         "headers)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rate_limit_config *c;
        char err[256];
        int r = parse_line(cases[i].line, &c, err, sizeof(err));
        if (r != -1 || c != NULL || strcmp(err, cases[i].msg) != 0)
            fail_msg("'%s': got %d cfg=%p err '%s', want -1 '%s'", cases[i].line, r, (void *)c,
                     err, cases[i].msg);
    }
}

/* A short message buffer truncates, still NUL-terminated; errlen 0 writes
 * nothing. */
static void test_error_buffer(void **state)
{
    struct rate_limit_config *c;
    char err[8];
    char *argv[] = {"rate", "0/1s"};
    void *cfg;

    memset(err, 'X', sizeof(err));
    assert_int_equal(parse_line("rate 0/1s", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid");
    memset(err, 'X', sizeof(err));
    assert_int_equal(rl_config_parse(2, argv, &cfg, err, 0), -1);
    assert_int_equal(err[0], 'X');
    assert_null(cfg);
}

/* Random argument lists from a pool of near-misses and random bytes: parse
 * must accept or reject with a message, never crash or leak (ASan run). */
static void test_random_arguments(void **state)
{
    static const char *pool[] = {
        "rate", "burst", "key", "deny-status", "table-size", "headers", "50/1s", "1/1us",
        "4294967295/24d", "0/0s", "/", "", "-", "1/", "/1s", "src", "hdr(", "hdr()", "hdr(x)",
        "hdr(X-Forwarded-For)", "429", "0", "18446744073709551616", "always", "never", "deny",
        "1", "16777216", "4294967295", "99999999999999999999", "1/99999999999999999999d",
    };
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char bytes[8][16];
    int accepted = 0;

    for (int iter = 0; iter < 20000; iter++) {
        char *argv[12];
        int argc;
        char err[128];
        void *cfg = (void *)1;
        int r;

        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        argc = (int)((seed >> 33) % 12);
        for (int i = 0; i < argc; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            if ((seed >> 60) == 0 && i < 8) { /* a random string, sometimes */
                for (int j = 0; j < 15; j++)
                    bytes[i][j] = (char)(1 + (seed >> (j % 8 * 8)) % 255);
                bytes[i][(seed >> 20) % 16] = '\0';
                bytes[i][15] = '\0';
                argv[i] = bytes[i];
            } else {
                argv[i] = (char *)pool[(seed >> 33) % (sizeof(pool) / sizeof(pool[0]))];
            }
        }
        err[0] = '\0';
        r = rl_config_parse(argc, argv, &cfg, err, sizeof(err));
        if (r == 0) {
            assert_non_null(cfg);
            accepted++;
            rl_config_free(cfg);
        } else {
            assert_int_equal(r, -1);
            assert_null(cfg);
            assert_true(err[0] != '\0');
            assert_non_null(memchr(err, '\0', sizeof(err)));
        }
    }
    assert_true(accepted > 0); /* the pool does reach valid lines */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_options),
        cmocka_unit_test(test_units_and_arithmetic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_random_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
