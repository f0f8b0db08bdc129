/*
 * retry.h: the `retry` HTTP filter: HAProxy's `retries` / `retry-on` for
 * HTTP outcomes, with Envoy's refinements (exponential backoff with full
 * jitter, a per-try timeout, a retry budget, hosts already tried avoided).
 *
 * Config file (a backend or listen section; one per backend):
 *   filter retry [backoff <base> <max>] [per-try-timeout <time>]
 *                [budget <percent> [min-concurrency <n>]]
 *                [buffer <size>] [retry-non-idempotent]
 * What is retried and how often is the backend's own `retry-on` and
 * `retries` (HAProxy's keywords, HAProxy's meaning); a backend whose
 * retry-on names an HTTP condition gets this filter with no arguments when
 * it has no `filter retry` line. README.md next to this file is the user
 * documentation.
 *
 * Public part: the ops table (registered in filters/registry.c) and a stats
 * accessor. The rest is exposed for the unit tests only.
 *
 * Threads: config_parse/config_free on the main thread; the hooks on any
 * worker, concurrently; shared state is per-worker atomic counters in the
 * config object (no lock).
 */
#ifndef TERN_FILTERS_HTTP_RETRY_H
#define TERN_FILTERS_HTTP_RETRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "filters/filter.h"

extern const struct http_filter_ops retry_filter;

struct retry_stats {
    uint64_t retries;          /* attempts the filter asked for */
    uint64_t budget_exhausted; /* retries refused by the budget */
    uint64_t not_idempotent;   /* retries refused for the method */
};

/* Sums one instance's counters (cfg built by retry_filter.config_parse). */
void retry_stats(const void *cfg, struct retry_stats *out);

/* ---- internals (unit tests only) ------------------------------------------ */

#define RETRY_SLOTS 64                 /* per-worker counter slots (worker % slots) */
#define RETRY_BUFFER_DEFAULT 16384     /* HAProxy's bufsize: a replayable body */
#define RETRY_BUFFER_MAX (64u << 20)

struct retry_slot {
    _Atomic int64_t active;   /* streams of this worker in the filter */
    _Atomic int64_t retrying; /* of them, those past their first attempt */
    _Atomic uint64_t retries;
    _Atomic uint64_t budget_exhausted;
    _Atomic uint64_t not_idempotent;
    uint64_t rng;             /* jitter; touched by this slot's worker(s), races harmless */
} __attribute__((aligned(64)));

struct retry_config {
    uint32_t backoff_base_ms; /* 0: retry at once (HAProxy) */
    uint32_t backoff_max_ms;
    uint32_t per_try_timeout_ms;
    uint32_t budget_percent;  /* 0: no budget */
    uint32_t min_concurrency;
    uint32_t buffer;          /* request body bytes kept for a replay */
    bool non_idempotent;      /* retry any method */
    struct retry_slot slots[RETRY_SLOTS];
};

struct retry_state {
    bool counted;  /* in `active` */
    bool retrying; /* in `retrying` */
    bool idempotent;
    bool grpc;     /* content-type application/grpc[+proto|;...] */
};

/* Whether a request is a gRPC call (its content-type). */
bool retry_is_grpc(const struct http_msg *req);

/* Full-jitter backoff for the retry after `retries_done` retries: uniform in
 * [0, min(max, base * 2^retries_done)] ms. */
uint32_t retry_backoff_ms(const struct retry_config *c, uint32_t retries_done, uint64_t *rng);

/* Whether the budget allows one more retrying stream now. */
bool retry_budget_allows(const struct retry_config *c);

#endif /* TERN_FILTERS_HTTP_RETRY_H */
