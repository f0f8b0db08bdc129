/*
 * rate_limit_test.c: the rate-limit filter (filters/http/rate_limit/
 * rate_limit.c) on a controlled clock: exact token accounting, refill
 * without drift over a million operations, the Retry-After and RateLimit-*
 * values, keys (header, source address) kept apart, the keyed table's
 * takeover rule, clock steps, counters, and the hooks driven through a fake
 * core (fake_core.c).
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
#include "proxy/http/http_msg.h"
#include "tests/unit/filters/http/rate_limit/fake_core.h"

/* A realistic wall clock (2023), so unit products wrap like in production. */
#define T0 1700000000000000ull

static struct rate_limit_config *cfg(const char *line)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    char err[256];
    void *c = NULL;

    snprintf(buf, sizeof(buf), "%s", line);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    if (rate_limit_filter.config_parse(argc, argv, &c, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", line, err);
    return c;
}

static bool take(struct rate_limit_config *c, uint64_t now, struct rl_verdict *v)
{
    rl_decide(c, 0, now, 0, v);
    return v->admitted;
}

static bool take_key(struct rate_limit_config *c, uint64_t h, uint64_t now)
{
    struct rl_verdict v;
    rl_decide(c, 0, now, h, &v);
    return v.admitted;
}

/* ---- token accounting ---------------------------------------------------------- */

static void test_burst_then_steady(void **state)
{
    struct rate_limit_config *c = cfg("rate 50/1s");
    struct rl_verdict v;

    /* the full bucket: 50 at once, remaining counting down */
    for (int i = 0; i < 50; i++) {
        assert_true(take(c, T0, &v));
        assert_int_equal(v.remaining, 49 - i);
        assert_int_equal(v.retry_after_us, 0);
        assert_int_equal(v.reset_us, (uint64_t)(i + 1) * 20000);
    }
    assert_false(take(c, T0, &v));
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.retry_after_us, 20000);
    assert_int_equal(v.reset_us, 1000000);

    /* then one token every 20 ms, to the microsecond */
    assert_false(take(c, T0 + 19999, &v));
    assert_int_equal(v.retry_after_us, 1);
    assert_true(take(c, T0 + 20000, &v));
    assert_int_equal(v.remaining, 0);
    assert_false(take(c, T0 + 20000, &v));

    /* 100 s of steady hammering at 1 ms steps: 5000 more */
    int admitted = 0;
    for (uint64_t j = 1; j <= 100000; j++)
        admitted += take(c, T0 + 20000 + j * 1000, &v);
    assert_int_equal(admitted, 5000);

    struct rate_limit_stats st;
    rate_limit_stats(c, &st);
    assert_int_equal(st.admitted, 50 + 1 + 5000);
    assert_int_equal(st.denied, 1 + 1 + 1 + (100000 - 5000));
    assert_int_equal(st.evictions, 0);
    rl_config_free(c);
}

static void test_burst_option(void **state)
{
    struct rate_limit_config *c = cfg("rate 10/1s burst 3");
    struct rl_verdict v;

    for (int i = 0; i < 3; i++)
        assert_true(take(c, T0, &v));
    assert_false(take(c, T0, &v));
    assert_int_equal(v.retry_after_us, 100000);
    assert_true(take(c, T0 + 100000, &v));
    assert_false(take(c, T0 + 100000, &v));
    /* a long idle time fills to 3, not to 10 */
    for (int i = 0; i < 3; i++)
        assert_true(take(c, T0 + 60000000, &v));
    assert_false(take(c, T0 + 60000000, &v));
    assert_int_equal(v.reset_us, 300000);
    rl_config_free(c);

    /* burst 1: strictly one per interval */
    c = cfg("rate 4/1s burst 1");
    assert_true(take(c, T0, &v));
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.reset_us, 250000);
    assert_false(take(c, T0 + 249999, &v));
    assert_true(take(c, T0 + 250000, &v));
    rl_config_free(c);
}

/* Drains the bucket at each step of an irregular clock: the admitted total
 * must be B + floor(elapsed * N / period) at every step, exactly. */
static void drift_run(const char *line, uint64_t steps, uint64_t max_step_us, bool exact)
{
    struct rate_limit_config *c = cfg(line);
    struct rl_verdict v;
    uint64_t t = T0, admitted = 0, seed = 42, ops = 0;

    for (uint64_t s = 0; s < steps; s++) {
        while (take(c, t, &v))
            admitted++, ops++;
        ops++;
        unsigned __int128 want =
            c->burst + (unsigned __int128)(t - T0) * c->count / c->period_us;
        if (exact) {
            if (admitted != (uint64_t)want)
                fail_msg("%s: step %llu at +%llu us: admitted %llu, want %llu", line,
                         (unsigned long long)s, (unsigned long long)(t - T0),
                         (unsigned long long)admitted, (unsigned long long)want);
        } else {
            uint64_t w = (uint64_t)want, slack = 2 + w / 2048;
            if (admitted + slack < w || admitted > w + slack)
                fail_msg("%s: step %llu: admitted %llu, want %llu +- %llu", line,
                         (unsigned long long)s, (unsigned long long)admitted,
                         (unsigned long long)w, (unsigned long long)slack);
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t += 1 + (seed >> 33) % max_step_us;
    }
    assert_true(ops >= steps);
    rl_config_free(c);
}

static void test_refill_no_drift(void **state)
{
    /* 1/7 s per token: not a whole number of microseconds */
    drift_run("rate 7/1s", 1000000, 800000, true);
    /* 3 per 10 ms with burst 5 */
    drift_run("rate 3/10ms burst 5", 1000000, 13000, true);
    /* a round figure */
    drift_run("rate 50/1s", 1000000, 900000, true);
    /* N/g above 65536: rounded interval, within 2^-11 */
    drift_run("rate 999983/1s burst 10", 100000, 8, false);
}

/* ---- headers, through the hooks ------------------------------------------------ */

static enum filter_status request(struct filter_stream *fs, struct http_msg *req)
{
    char state[64] = {0};
    static struct http_msg empty;

    assert_true(rate_limit_filter.state_size <= sizeof(state));
    fake_stream_reset_output(fs);
    return rate_limit_filter.request_headers(fs, state, req ? req : &empty, true);
}

static void test_deny_reply_and_headers(void **state)
{
    struct rate_limit_config *c = cfg("rate 10/1m");
    struct filter_stream fs;

    fake_stream_init(&fs, c);
    fs.now_us = T0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
        assert_int_equal(fs.nreplies, 0);
        assert_int_equal(fs.nhdrs, 0); /* headers deny: nothing on admitted requests */
    }
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    assert_int_equal(fs.nreplies, 1);
    assert_int_equal(fs.status, 429);
    assert_int_equal(fs.reason, TERN_R_RATE_LIMITED);
    assert_true(fs.reply_body_null);
    assert_int_equal(fs.bad_calls, 0);
    assert_int_equal(fs.nhdrs, 5);
    assert_string_equal(fake_header(&fs, "Retry-After"), "6");
    assert_string_equal(fake_header(&fs, "RateLimit-Limit"), "10");
    assert_string_equal(fake_header(&fs, "RateLimit-Remaining"), "0");
    assert_string_equal(fake_header(&fs, "RateLimit-Reset"), "60");
    assert_string_equal(fake_header(&fs, "RateLimit-Policy"), "10;w=60");
    assert_string_equal(fs.hdrs[0].name, "Retry-After");

    /* 5.5 s later: half a second to the next token, 54.5 s to a full bucket */
    fs.now_us = T0 + 5500000;
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    assert_string_equal(fake_header(&fs, "Retry-After"), "1");
    assert_string_equal(fake_header(&fs, "RateLimit-Reset"), "55");
    fs.now_us = T0 + 6000000;
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(fs.nreplies, 0);
    rl_config_free(c);

    /* 50/1s: 20 ms to wait is still "1" second (never 0) */
    c = cfg("rate 50/1s deny-status 503");
    fake_stream_init(&fs, c);
    fs.now_us = T0;
    for (int i = 0; i < 50; i++)
        assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    assert_int_equal(fs.status, 503);
    assert_string_equal(fake_header(&fs, "Retry-After"), "1");
    assert_string_equal(fake_header(&fs, "RateLimit-Reset"), "1");
    assert_string_equal(fake_header(&fs, "RateLimit-Policy"), "50;w=1");
    rl_config_free(c);

    /* headers never: Retry-After alone */
    c = cfg("rate 1/1h headers never");
    fake_stream_init(&fs, c);
    fs.now_us = T0;
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    assert_int_equal(fs.nhdrs, 1);
    assert_string_equal(fake_header(&fs, "Retry-After"), "3600");
    rl_config_free(c);

    /* sub-second period and a burst: the policy in whole seconds */
    c = cfg("rate 10/100ms burst 2");
    fake_stream_init(&fs, c);
    fs.now_us = T0;
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    assert_string_equal(fake_header(&fs, "RateLimit-Limit"), "100");
    assert_string_equal(fake_header(&fs, "RateLimit-Policy"), "100;w=1;burst=2");
    assert_string_equal(fake_header(&fs, "Retry-After"), "1");
    rl_config_free(c);
}

static void test_headers_always(void **state)
{
    struct rate_limit_config *c = cfg("rate 5/1s headers always");
    struct filter_stream fs;
    char st[64] = {0};
    struct http_hdr hdrs[2] = {{HTTP_STR("Content-Type"), HTTP_STR("text/plain")}};
    struct http_msg resp = {.kind = HTTP_MSG_RESPONSE, .status = 200, .hdrs = hdrs,
                            .nhdrs = 1, .cap = 2};
    struct http_msg req = {0};

    fake_stream_init(&fs, c);
    fs.now_us = T0;
    assert_int_equal(rate_limit_filter.request_headers(&fs, st, &req, true), FILTER_CONTINUE);
    assert_int_equal(fs.nhdrs, 0);
    assert_int_equal(rate_limit_filter.response_headers(&fs, st, &resp, false), FILTER_CONTINUE);
    assert_int_equal(fs.nhdrs, 4);
    assert_string_equal(fake_header(&fs, "RateLimit-Limit"), "5");
    assert_string_equal(fake_header(&fs, "RateLimit-Remaining"), "4");
    assert_string_equal(fake_header(&fs, "RateLimit-Reset"), "1");
    assert_string_equal(fake_header(&fs, "RateLimit-Policy"), "5;w=1");
    /* once per response */
    assert_int_equal(rate_limit_filter.response_headers(&fs, st, &resp, false), FILTER_CONTINUE);
    assert_int_equal(fs.nhdrs, 4);

    /* a backend announcing its own limits keeps them alone */
    memset(st, 0, sizeof(st));
    fake_stream_reset_output(&fs);
    hdrs[1] = (struct http_hdr){HTTP_STR("ratelimit-policy"), HTTP_STR("100;w=60")};
    resp.nhdrs = 2;
    assert_int_equal(rate_limit_filter.request_headers(&fs, st, &req, true), FILTER_CONTINUE);
    assert_int_equal(rate_limit_filter.response_headers(&fs, st, &resp, false), FILTER_CONTINUE);
    assert_int_equal(fs.nhdrs, 0);
    rl_config_free(c);

    /* the default (deny) adds nothing to responses */
    c = cfg("rate 5/1s");
    fake_stream_init(&fs, c);
    fs.now_us = T0;
    memset(st, 0, sizeof(st));
    resp.nhdrs = 1;
    assert_int_equal(rate_limit_filter.request_headers(&fs, st, &req, true), FILTER_CONTINUE);
    assert_int_equal(rate_limit_filter.response_headers(&fs, st, &resp, false), FILTER_CONTINUE);
    assert_int_equal(fs.nhdrs, 0);
    rl_config_free(c);
}

/* ---- keys ------------------------------------------------------------------------ */

static struct http_msg *with_header(struct http_hdr *h, struct http_msg *m, const char *name,
                                    const char *value)
{
    memset(m, 0, sizeof(*m));
    m->kind = HTTP_MSG_REQUEST;
    m->hdrs = h;
    m->cap = 2;
    h[0] = (struct http_hdr){HTTP_STR("Host"), HTTP_STR("example.com")};
    m->nhdrs = 1;
    if (name) {
        h[1].name = (struct http_str){name, (uint32_t)strlen(name)};
        h[1].value = (struct http_str){value, (uint32_t)strlen(value)};
        m->nhdrs = 2;
    }
    return m;
}

static void test_key_header(void **state)
{
    struct rate_limit_config *c = cfg("rate 2/1s key hdr(X-User)");
    struct filter_stream fs;
    struct http_hdr h[2];
    struct http_msg m;

    fake_stream_init(&fs, c);
    fs.now_us = T0;
#define REQ(name, value) request(&fs, with_header(h, &m, name, value))
    assert_int_equal(REQ("X-User", "alice"), FILTER_CONTINUE);
    assert_int_equal(REQ("x-user", "alice"), FILTER_CONTINUE); /* name: any case */
    assert_int_equal(REQ("X-USER", "alice"), FILTER_STOP);
    /* another value: its own bucket */
    assert_int_equal(REQ("X-User", "bob"), FILTER_CONTINUE);
    assert_int_equal(REQ("X-User", "Alice"), FILTER_CONTINUE); /* values: exact */
    assert_int_equal(REQ("X-User", "bob"), FILTER_CONTINUE);
    assert_int_equal(REQ("X-User", "bob"), FILTER_STOP);
    /* absent: one shared bucket, apart from the empty value */
    assert_int_equal(REQ(NULL, NULL), FILTER_CONTINUE);
    assert_int_equal(REQ("X-Other", "alice"), FILTER_CONTINUE);
    assert_int_equal(REQ(NULL, NULL), FILTER_STOP);
    assert_int_equal(REQ("X-User", ""), FILTER_CONTINUE);
    assert_int_equal(REQ("X-User", ""), FILTER_CONTINUE);
    assert_int_equal(REQ("X-User", ""), FILTER_STOP);
    /* alice refills on her own schedule */
    fs.now_us = T0 + 500000;
    assert_int_equal(REQ("X-User", "alice"), FILTER_CONTINUE);
    assert_int_equal(REQ("X-User", "alice"), FILTER_STOP);
#undef REQ
    struct rate_limit_stats st;
    rate_limit_stats(c, &st);
    assert_int_equal(st.admitted, 10);
    assert_int_equal(st.denied, 5);
    rl_config_free(c);
}

static void test_key_src(void **state)
{
    struct rate_limit_config *c = cfg("rate 1/1s key src");
    struct filter_stream fs;

    fake_stream_init(&fs, c);
    fs.now_us = T0;
    fake_stream_client(&fs, "10.0.0.1", 1000);
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    fake_stream_client(&fs, "10.0.0.1", 2000); /* the port never counts */
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    fake_stream_client(&fs, "::ffff:10.0.0.1", 3000); /* v4-mapped is the v4 address */
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    fake_stream_client(&fs, "10.0.0.2", 1000);
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    fake_stream_client(&fs, "2001:db8::1", 1000);
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    fake_stream_client(&fs, "2001:db8::2", 1000);
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    fake_stream_client(&fs, "2001:db8::1", 1000);
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    /* no address (unix socket): one shared bucket */
    fs.has_client = false;
    assert_int_equal(request(&fs, NULL), FILTER_CONTINUE);
    assert_int_equal(request(&fs, NULL), FILTER_STOP);
    rl_config_free(c);
}

static void test_key_hashes(void **state)
{
    struct rate_limit_config *a = cfg("rate 1/1s key hdr(x)");
    struct rate_limit_config *b = cfg("rate 1/1s key hdr(x)");

    /* stable within an instance, keyed per instance */
    assert_true(rl_hash_hdr(a, "v", 1) == rl_hash_hdr(a, "v", 1));
    assert_true(rl_hash_hdr(a, "v", 1) != rl_hash_hdr(a, "w", 1));
    assert_true(rl_hash_hdr(a, "v", 1) != rl_hash_hdr(b, "v", 1));
    /* absent, empty, and the empty address are three different keys */
    assert_true(rl_hash_hdr(a, NULL, 0) != rl_hash_hdr(a, "", 0));
    assert_true(rl_hash_src(a, NULL) != rl_hash_hdr(a, "", 0));
    assert_true(rl_hash_src(a, NULL) != rl_hash_hdr(a, NULL, 0));
    rl_config_free(a);
    rl_config_free(b);
}

/* SipHash-2-4 reference vectors (key 00..0f; message 00..0e and empty). */
static void test_siphash_vectors(void **state)
{
    unsigned char msg[15];
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;

    for (int i = 0; i < 15; i++)
        msg[i] = (unsigned char)i;
    assert_true(rl_siphash(k0, k1, msg, 15, 2, 4) == 0xa129ca6149be45e5ull);
    assert_true(rl_siphash(k0, k1, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ull);
    assert_true(rl_siphash(k0, k1, msg, 8, 2, 4) == 0x93f5f5799a932462ull);
}

/* ---- the keyed table ------------------------------------------------------------- */

/* Hashes with the same home slot `home` in a 16-slot table. */
#define H(i, home) ((uint64_t)(i) * 16 + (home))

static void test_table_takeover(void **state)
{
    struct rate_limit_config *c = cfg("rate 1/1s key src table-size 16");
    struct rate_limit_stats st;
    bool lossy;

    assert_int_equal(c->table_slots, 16);
    /* 8 keys fill the probe window of home slot 5, each drained at +i ms */
    for (int i = 1; i <= 8; i++) {
        assert_true(take_key(c, H(i, 5), T0 + i * 1000));
        assert_true(atomic_load(&c->table[4 + i].key) == H(i, 5));
    }
    for (int i = 1; i <= 8; i++) /* each finds its own slot again */
        assert_false(take_key(c, H(i, 5), T0 + 10000));
    assert_int_equal(c->table[13].key, 0);

    /* a 9th key: takes over the most refilled, key 1 (drained first) */
    assert_true(take_key(c, H(9, 5), T0 + 20000));
    assert_true(atomic_load(&c->table[5].key) == H(9, 5));
    rate_limit_stats(c, &st);
    assert_int_equal(st.evictions, 1); /* key 1 was not full: lossy */
    assert_false(take_key(c, H(9, 5), T0 + 20000));

    /* key 1 comes back: the approximation, a fresh bucket (over key 2's slot) */
    assert_true(take_key(c, H(1, 5), T0 + 30000));
    assert_true(atomic_load(&c->table[6].key) == H(1, 5));
    rate_limit_stats(c, &st);
    assert_int_equal(st.evictions, 2);

    /* 2 s later every bucket is full again: taking one over loses nothing */
    assert_true(take_key(c, H(10, 5), T0 + 2100000));
    rate_limit_stats(c, &st);
    assert_int_equal(st.evictions, 2);

    /* a window that wraps around the end of the table: 15, 0, 1, ... */
    assert_true(take_key(c, H(11, 15), T0 + 2100000));
    assert_true(atomic_load(&c->table[15].key) == H(11, 15));
    assert_true(take_key(c, H(12, 15), T0 + 2100000));
    assert_true(atomic_load(&c->table[0].key) == H(12, 15));
    assert_false(take_key(c, H(12, 15), T0 + 2100000));
    rl_config_free(c);

    /* claimed slots never taken from are full: taking them over is free */
    c = cfg("rate 1/1s key src table-size 16");
    for (int i = 1; i <= 8; i++) {
        assert_non_null(rl_table_bucket(c, H(i, 0), T0, &lossy));
        assert_false(lossy);
    }
    assert_true(rl_table_bucket(c, H(9, 0), T0, &lossy) == &c->table[0].tat);
    assert_false(lossy);
    assert_true(atomic_load(&c->table[0].key) == H(9, 0));
    rl_config_free(c);
}

/* A hash of 0 (the never-used marker) is still a key. */
static void test_table_zero_hash(void **state)
{
    struct rate_limit_config *c = cfg("rate 1/1s key src table-size 16");

    assert_true(take_key(c, 0, T0));
    assert_false(take_key(c, 0, T0));
    assert_true(take_key(c, 17, T0)); /* same home slot, another key */
    assert_false(take_key(c, 17, T0));
    rl_config_free(c);
}

/* ---- clocks ------------------------------------------------------------------------ */

static void test_clock_steps(void **state)
{
    struct rate_limit_config *c = cfg("rate 10/1s");
    struct rl_verdict v;
    uint64_t word;

    for (int i = 0; i < 10; i++)
        assert_true(take(c, T0, &v));
    word = atomic_load(&c->global_tat);

    /* another worker's cached time, half a second behind: a denial that
     * leaves the bucket alone (no token handed back) */
    assert_false(take(c, T0 - 500000, &v));
    assert_int_equal(v.retry_after_us, 600000);
    assert_true(atomic_load(&c->global_tat) == word);
    assert_false(take(c, T0 + 99999, &v));
    assert_true(take(c, T0 + 100000, &v));
    assert_false(take(c, T0 + 100000, &v));

    /* the wall clock steps back an hour: denied for one interval, not an hour */
    uint64_t back = T0 - 3600000000ull;
    assert_false(take(c, back, &v));
    assert_int_equal(v.retry_after_us, 100000);
    assert_false(take(c, back + 99999, &v));
    assert_true(take(c, back + 100000, &v));
    assert_false(take(c, back + 100000, &v));

    /* a forward step fills the bucket, no more */
    int n = 0;
    while (take(c, T0 + 86400000000ull, &v))
        n++;
    assert_int_equal(n, 10);
    rl_config_free(c);
}

/* A clock starting at 0 and unit products that wrap 2^64 work the same. */
static void test_clock_origin_and_wrap(void **state)
{
    struct rl_verdict v;
    /* 2^64 / 7 units: the product wraps in the middle of this run */
    uint64_t wrap_us = UINT64_MAX / 7;
    uint64_t starts[] = {0, 1, wrap_us - 3000000, T0};

    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        struct rate_limit_config *d = cfg("rate 7/1s burst 2");
        uint64_t t = starts[s], admitted = 0;
        for (int i = 0; i < 7000; i++, t += 1000)
            admitted += take(d, t, &v);
        /* 2 + floor(6.999 s * 7) */
        assert_int_equal(admitted, 2 + 48);
        rl_config_free(d);
    }
}

/* ---- counters and the ops table ----------------------------------------------- */

static void test_counters_per_worker(void **state)
{
    struct rate_limit_config *c = cfg("rate 2/1s");
    struct rl_verdict v;
    struct rate_limit_stats st;

    rl_decide(c, 0, T0, 0, &v);
    rl_decide(c, 1, T0, 0, &v);
    rl_decide(c, 1, T0, 0, &v);
    rl_decide(c, 70, T0, 0, &v); /* past RL_COUNTER_SLOTS: shares slot 6 */
    assert_int_equal(c->counters[0].admitted, 1);
    assert_int_equal(c->counters[1].admitted, 1);
    assert_int_equal(c->counters[1].denied, 1);
    assert_int_equal(c->counters[70 % RL_COUNTER_SLOTS].denied, 1);
    rate_limit_stats(c, &st);
    assert_int_equal(st.admitted, 2);
    assert_int_equal(st.denied, 2);
    rl_config_free(c);
}

static void test_ops_table(void **state)
{
    assert_string_equal(rate_limit_filter.name, "rate-limit");
    assert_null(rate_limit_filter.type_url);
    assert_true(rate_limit_filter.state_size > 0);
    assert_non_null(rate_limit_filter.config_parse);
    assert_non_null(rate_limit_filter.config_free);
    assert_non_null(rate_limit_filter.request_headers);
    assert_non_null(rate_limit_filter.response_headers);
    assert_null(rate_limit_filter.request_data);
    assert_null(rate_limit_filter.upstream_result);
    assert_null(rate_limit_filter.stream_done);
    rate_limit_filter.config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_steady),
        cmocka_unit_test(test_burst_option),
        cmocka_unit_test(test_refill_no_drift),
        cmocka_unit_test(test_deny_reply_and_headers),
        cmocka_unit_test(test_headers_always),
        cmocka_unit_test(test_key_header),
        cmocka_unit_test(test_key_src),
        cmocka_unit_test(test_key_hashes),
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_table_takeover),
        cmocka_unit_test(test_table_zero_hash),
        cmocka_unit_test(test_clock_steps),
        cmocka_unit_test(test_clock_origin_and_wrap),
        cmocka_unit_test(test_counters_per_worker),
        cmocka_unit_test(test_ops_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
