/*
 * rate_limit_config.c: `filter rate-limit ...` arguments -> struct
 * rate_limit_config (main thread, off the data path).
 *
 * Besides checking the arguments, this is where the bucket's arithmetic is
 * fixed once: the time unit in which the interval between two tokens is a
 * whole number (so the data path only adds and compares integers and never
 * accumulates rounding), the capacity in those units, and the two constant
 * header values (RateLimit-Limit, RateLimit-Policy). The object also holds
 * the state the workers share (bucket words, keyed table, counters), zeroed
 * here: a zero bucket word is a full bucket.
 *
 * Messages are written for the user; the core prefixes FILE:LINE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "filters/filter_err.h"
#include "filters/http/rate_limit/rate_limit.h"

/* Decimal digits only (no sign, no blanks) into *out; -1 on anything else or
 * above `max`. `end` (when not NULL) receives where the digits stop and may
 * point at other characters; without it the whole string must be digits. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -2; /* too large */
        v = v * 10 + d;
    }
    if (end)
        *end = p;
    else if (*p)
        return -1;
    *out = v;
    return 0;
}

/* HAProxy time units, to microseconds. A unit is required here (HAProxy's
 * unit-less milliseconds would make `50/1` mean 50 per millisecond). */
static int unit_us(const char *u, uint64_t *mult)
{
    static const struct {
        const char *name;
        uint64_t us;
    } units[] = {
        {"us", 1},
        {"ms", 1000},
        {"s", 1000000},
        {"m", 60000000},
        {"h", 3600000000ull},
        {"d", 86400000000ull},
    };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(u, units[i].name) == 0) {
            *mult = units[i].us;
            return 0;
        }
    }
    return -1;
}

static int parse_rate(const char *text, struct rate_limit_config *c, char *err, size_t errlen)
{
    const char *p;
    uint64_t n, amount, mult;
    int r;

    if (*text == '-')
        return filter_err(err, errlen, "invalid rate '%s': the count must be a positive integer",
                    text);
    r = parse_u64(text, RL_COUNT_MAX, &n, &p);
    if (r == -2)
        return filter_err(err, errlen, "invalid rate '%s': the count is too large (max 4294967295)",
                    text);
    if (r < 0 || *p != '/')
        return filter_err(err, errlen, "invalid rate '%s': expected <N>/<period> such as 50/1s", text);
    if (n == 0)
        return filter_err(err, errlen, "invalid rate '%s': the count must be at least 1", text);

    p++;
    if (*p == '-')
        return filter_err(err, errlen, "invalid rate '%s': the period must be positive", text);
    r = parse_u64(p, RL_PERIOD_MAX_US, &amount, &p);
    if (r == -2)
        return filter_err(err, errlen, "invalid rate '%s': the period is too large (max 2147483647ms)",
                    text);
    if (r < 0)
        return filter_err(err, errlen, "invalid rate '%s': expected <N>/<period> such as 50/1s", text);
    if (*p == '\0')
        return filter_err(err, errlen,
                    "invalid rate '%s': the period needs a unit (us, ms, s, m, h or d)", text);
    if (unit_us(p, &mult) < 0)
        return filter_err(err, errlen,
                    "invalid rate '%s': unknown time unit '%s' (us, ms, s, m, h or d)", text, p);
    if (amount == 0)
        return filter_err(err, errlen, "invalid rate '%s': the period must be positive", text);
    if (amount > RL_PERIOD_MAX_US / mult)
        return filter_err(err, errlen, "invalid rate '%s': the period is too large (max 2147483647ms)",
                    text);
    c->count = n;
    c->period_us = amount * mult;
    return 0;
}

/* RFC 9110 token characters (a field name is a token). */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int parse_key(const char *text, struct rate_limit_config *c, char *err, size_t errlen)
{
    size_t len = strlen(text);

    if (strcmp(text, "src") == 0) {
        c->key = RL_KEY_SRC;
        return 0;
    }
    if (len >= 5 && strncmp(text, "hdr(", 4) == 0 && text[len - 1] == ')') {
        const char *name = text + 4;
        size_t nlen = len - 5;
        if (nlen == 0)
            return filter_err(err, errlen, "invalid key '%s': empty header name", text);
        for (size_t i = 0; i < nlen; i++)
            if (!is_tchar((unsigned char)name[i]))
                return filter_err(err, errlen, "invalid key '%s': bad character in header name",
                            text);
        c->hdr_name = malloc(nlen + 1);
        if (!c->hdr_name)
            return filter_err(err, errlen, "out of memory");
        memcpy(c->hdr_name, name, nlen);
        c->hdr_name[nlen] = '\0';
        c->hdr_len = nlen;
        c->key = RL_KEY_HDR;
        return 0;
    }
    return filter_err(err, errlen, "invalid key '%s': expected src or hdr(<name>)", text);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * The bucket's fixed arithmetic. With g = gcd(N, period_us), one token every
 * period_us/N microseconds is exactly (period_us/g) units of 1/(N/g)
 * microsecond. N/g is bounded (it multiplies the clock, and wrapping the
 * product mod 2^64 must stay far away: 2^64 / 65536 us is 8.9 years); above
 * the bound the unit is 1/65536 us and the interval rounded to the nearest
 * unit, which for at least 1024 units per token is within 2^-11 of the rate.
 */
static int derive(struct rate_limit_config *c, const char *rate, char *err, size_t errlen)
{
    uint64_t g = gcd(c->count, c->period_us);

    if (c->count / g <= RL_EXACT_UNITS_MAX) {
        c->units_per_us = c->count / g;
        c->interval = c->period_us / g;
        c->exact = true;
    } else {
        unsigned __int128 num = (unsigned __int128)c->period_us * RL_EXACT_UNITS_MAX;
        unsigned __int128 iv = (num + c->count / 2) / c->count;
        if (iv < 1024)
            return filter_err(err, errlen,
                        "invalid rate '%s': too high (above 64 requests per microsecond)",
                        rate);
        c->units_per_us = RL_EXACT_UNITS_MAX;
        c->interval = (uint64_t)iv;
        c->exact = false;
    }
    if (c->burst > ((uint64_t)1 << 62) / c->interval)
        return filter_err(err, errlen, "invalid burst '%llu': too large for rate %s",
                    (unsigned long long)c->burst, rate);
    c->tolerance = c->burst * c->interval;
    c->step_back = 1000000 * c->units_per_us;
    return 0;
}

/* RateLimit-Policy wants the window in whole seconds: a period that is not
 * one is advertised as the quota over the next whole number of seconds
 * (10/100ms -> 100;w=1), rounded down; `burst=` says the bucket's capacity
 * when it differs from that quota (10/100ms -> 100;w=1;burst=10). */
static void header_values(struct rate_limit_config *c)
{
    uint64_t w = (c->period_us + 999999) / 1000000;
    uint64_t quota = (uint64_t)((unsigned __int128)c->count * (w * 1000000) / c->period_us);
    int n;

    snprintf(c->limit_value, sizeof(c->limit_value), "%llu", (unsigned long long)quota);
    n = snprintf(c->policy_value, sizeof(c->policy_value), "%llu;w=%llu",
                 (unsigned long long)quota, (unsigned long long)w);
    if (c->burst != quota && n > 0 && (size_t)n < sizeof(c->policy_value))
        snprintf(c->policy_value + n, sizeof(c->policy_value) - (size_t)n, ";burst=%llu",
                 (unsigned long long)c->burst);
}

static void seed(struct rate_limit_config *c)
{
    uint64_t k[2];

    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        /* no entropy yet (early boot): still distinct per process and instance */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)c;
        k[1] = (uint64_t)ts.tv_sec * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)getpid();
    }
    c->sip_k0 = k[0];
    c->sip_k1 = k[1];
}

int rl_config_parse(int argc, char **argv, void **out, char *err, size_t errlen)
{
    struct rate_limit_config *c;
    size_t size = (sizeof(*c) + RL_CACHELINE - 1) / RL_CACHELINE * RL_CACHELINE;
    const char *rate = NULL;
    bool seen_burst = false, seen_key = false, seen_status = false, seen_table = false,
         seen_headers = false;
    uint64_t table = RL_TABLE_DEFAULT;

    *out = NULL;
    c = aligned_alloc(RL_CACHELINE, size);
    if (!c)
        return filter_err(err, errlen, "out of memory");
    memset(c, 0, size);
    c->deny_status = 429;

    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool *seen = NULL;

        if (strcmp(opt, "rate") == 0 || strcmp(opt, "burst") == 0 || strcmp(opt, "key") == 0 ||
            strcmp(opt, "deny-status") == 0 || strcmp(opt, "table-size") == 0 ||
            strcmp(opt, "headers") == 0) {
            if (!val) {
                filter_err(err, errlen, "missing value after '%s'", opt);
                goto bad;
            }
            i++;
        } else {
            filter_err(err, errlen,
                 "unknown option '%s' (expected rate, burst, key, deny-status, table-size or "
                 "headers)",
                 opt);
            goto bad;
        }

        if (strcmp(opt, "rate") == 0) {
            if (rate) {
                filter_err(err, errlen, "'rate' given twice");
                goto bad;
            }
            if (parse_rate(val, c, err, errlen) < 0)
                goto bad;
            rate = val;
            continue;
        }
        if (strcmp(opt, "burst") == 0) {
            seen = &seen_burst;
            if (!*seen) {
                int r = parse_u64(val, RL_COUNT_MAX, &c->burst, NULL);
                if (r < 0 || c->burst == 0) {
                    filter_err(err, errlen, "invalid burst '%s': expected an integer from 1 to %llu",
                         val, (unsigned long long)RL_COUNT_MAX);
                    goto bad;
                }
            }
        } else if (strcmp(opt, "key") == 0) {
            seen = &seen_key;
            if (!*seen && parse_key(val, c, err, errlen) < 0)
                goto bad;
        } else if (strcmp(opt, "deny-status") == 0) {
            uint64_t st;
            seen = &seen_status;
            if (!*seen) {
                if (parse_u64(val, 999, &st, NULL) < 0 || st < 400 || st > 599) {
                    filter_err(err, errlen, "invalid deny-status '%s': expected a 4xx or 5xx status",
                         val);
                    goto bad;
                }
                c->deny_status = (uint16_t)st;
            }
        } else if (strcmp(opt, "table-size") == 0) {
            seen = &seen_table;
            if (!*seen && (parse_u64(val, RL_TABLE_MAX, &table, NULL) < 0 || table == 0)) {
                filter_err(err, errlen, "invalid table-size '%s': expected an integer from 1 to %u",
                     val, RL_TABLE_MAX);
                goto bad;
            }
        } else { /* headers */
            seen = &seen_headers;
            if (!*seen) {
                if (strcmp(val, "deny") == 0)
                    c->headers = RL_HDRS_DENY;
                else if (strcmp(val, "always") == 0)
                    c->headers = RL_HDRS_ALWAYS;
                else if (strcmp(val, "never") == 0)
                    c->headers = RL_HDRS_NEVER;
                else {
                    filter_err(err, errlen, "invalid headers '%s': expected deny, always or never",
                         val);
                    goto bad;
                }
            }
        }
        if (*seen) {
            filter_err(err, errlen, "'%s' given twice", opt);
            goto bad;
        }
        *seen = true;
    }

    if (!rate) {
        filter_err(err, errlen, "missing 'rate <N>/<period>' (e.g. rate 50/1s)");
        goto bad;
    }
    if (seen_table && c->key == RL_KEY_NONE) {
        filter_err(err, errlen, "'table-size' needs 'key src' or 'key hdr(<name>)'");
        goto bad;
    }
    if (!seen_burst)
        c->burst = c->count;
    if (derive(c, rate, err, errlen) < 0)
        goto bad;
    header_values(c);

    if (c->key != RL_KEY_NONE) {
        uint32_t slots = RL_TABLE_MIN;
        while (slots < table)
            slots <<= 1;
        c->table_slots = slots;
        c->table = aligned_alloc(RL_CACHELINE, (size_t)slots * sizeof(struct rl_slot));
        if (!c->table) {
            filter_err(err, errlen, "out of memory (table-size %u)", slots);
            goto bad;
        }
        memset(c->table, 0, (size_t)slots * sizeof(struct rl_slot));
        seed(c);
    }
    *out = c;
    return 0;

bad:
    rl_config_free(c);
    return -1;
}

void rl_config_free(void *cfg)
{
    struct rate_limit_config *c = cfg;

    if (!c)
        return;
    free(c->table);
    free(c->hdr_name);
    free(c);
}
