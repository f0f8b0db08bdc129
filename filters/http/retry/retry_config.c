/*
 * retry_config.c: `filter retry ...` arguments (see retry.h, README.md).
 * Errors name the argument and what was expected; the caller adds
 * FILE:LINE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter_err.h"
#include "filters/http/retry/retry.h"
#include "proxy/core/util.h"

/* "16k", "1m", "4096": bytes. */
static int parse_size(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (!s[0] || s[0] < '0' || s[0] > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024, end++;
    if (*end || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int retry_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    /* the slots are cache-line aligned: so must the object be */
    size_t size = (sizeof(struct retry_config) + 63) & ~(size_t)63;
    struct retry_config *c = aligned_alloc(64, size);
    int i;

    if (!c)
        return filter_err(err, errlen, "%s", "out of memory");
    memset(c, 0, size);
    c->buffer = RETRY_BUFFER_DEFAULT;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "backoff") == 0) {
            if (i + 2 >= argc) {
                filter_err(err, errlen, "%s", "backoff needs <base> <max> (e.g. backoff 25ms 250ms)");
                goto bad;
            }
            if (tern_parse_duration_ms(argv[i + 1], &c->backoff_base_ms) != 0 ||
                c->backoff_base_ms == 0) {
                filter_err(err, errlen, "invalid backoff base '%s' (a time above 0, e.g. 25ms)",
                     argv[i + 1]);
                goto bad;
            }
            if (tern_parse_duration_ms(argv[i + 2], &c->backoff_max_ms) != 0 ||
                c->backoff_max_ms < c->backoff_base_ms) {
                filter_err(err, errlen, "invalid backoff max '%s' (a time, at least the base)",
                     argv[i + 2]);
                goto bad;
            }
            i += 2;
        } else if (strcmp(a, "per-try-timeout") == 0) {
            if (i + 1 >= argc || tern_parse_duration_ms(argv[i + 1], &c->per_try_timeout_ms) != 0 ||
                c->per_try_timeout_ms == 0) {
                filter_err(err, errlen, "%s", "per-try-timeout needs a time above 0 (e.g. 2s)");
                goto bad;
            }
            i++;
        } else if (strcmp(a, "budget") == 0) {
            long v;
            const char *p = i + 1 < argc ? argv[i + 1] : "";
            char num[16];
            size_t n = strlen(p);
            if (n && p[n - 1] == '%')
                n--;
            if (n == 0 || n >= sizeof(num)) {
                filter_err(err, errlen, "%s", "budget needs a percentage (e.g. budget 20%)");
                goto bad;
            }
            memcpy(num, p, n);
            num[n] = 0;
            if (tern_parse_int(num, 1, 100, &v) != 0) {
                filter_err(err, errlen, "invalid budget '%s' (a percentage from 1 to 100)", p);
                goto bad;
            }
            c->budget_percent = (uint32_t)v;
            c->min_concurrency = 3; /* Envoy's default */
            i++;
            if (i + 1 < argc && strcmp(argv[i + 1], "min-concurrency") == 0) {
                if (i + 2 >= argc || tern_parse_int(argv[i + 2], 0, 1000000, &v) != 0) {
                    filter_err(err, errlen, "%s", "min-concurrency needs a number (0 to 1000000)");
                    goto bad;
                }
                c->min_concurrency = (uint32_t)v;
                i += 2;
            }
        } else if (strcmp(a, "buffer") == 0) {
            if (i + 1 >= argc || parse_size(argv[i + 1], RETRY_BUFFER_MAX, &c->buffer) != 0) {
                filter_err(err, errlen, "%s", "buffer needs a size up to 64m (e.g. 16k, 1m; 0: bodies "
                                        "are never replayed)");
                goto bad;
            }
            i++;
        } else if (strcmp(a, "retry-non-idempotent") == 0) {
            c->non_idempotent = true;
        } else if (strcmp(a, "min-concurrency") == 0) {
            filter_err(err, errlen, "%s", "min-concurrency goes after budget <percent>");
            goto bad;
        } else {
            filter_err(err, errlen,
                 "unknown argument '%s' (expected backoff, per-try-timeout, budget, buffer, "
                 "retry-non-idempotent; what to retry is the backend's retry-on, how often its "
                 "retries)",
                 a);
            goto bad;
        }
    }
    *cfg = c;
    return 0;
bad:
    free(c);
    return -1;
}

void retry_config_free(void *cfg)
{
    free(cfg);
}
