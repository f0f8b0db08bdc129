/*
 * rate_limit.h: the `rate-limit` HTTP filter (token bucket, lock-free,
 * shared by all workers).
 *
 * Config file (a frontend, backend or listen section):
 *   filter rate-limit rate <N>/<period> [burst <M>] [key src|hdr(<name>)]
 *                     [deny-status <code>] [table-size <n>]
 *                     [headers deny|always|never]
 * README.md next to this file is the user documentation.
 *
 * Public part: the ops table registered in filters/registry.c, and a stats
 * accessor for the admin API. The rest of this header is the filter's
 * internals, exposed for its unit tests only (nothing outside
 * filters/http/rate_limit/ and its tests may use them).
 *
 * Threads: rl_config_parse/rl_config_free on the main thread; everything else
 * on any worker, concurrently, without locks (the shared state is atomics in
 * the config object).
 */
#ifndef TERN_FILTERS_HTTP_RATE_LIMIT_H
#define TERN_FILTERS_HTTP_RATE_LIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filters/filter.h"

struct sockaddr;

/* name "rate-limit"; type_url NULL until the xDS issue maps Envoy's
 * envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit onto it. */
extern const struct http_filter_ops rate_limit_filter;

struct rate_limit_stats {
    uint64_t admitted;  /* requests let through */
    uint64_t denied;    /* requests answered with deny-status */
    uint64_t evictions; /* keyed buckets dropped while not full (table too small) */
};

/*
 * Sums the per-worker counters of one filter instance. `cfg` is a config
 * object built by rate_limit_filter.config_parse (the caller checks the
 * instance's ops is &rate_limit_filter). Any thread; the figures are a
 * relaxed snapshot (each counter exact, not all taken at the same instant).
 */
void rate_limit_stats(const void *cfg, struct rate_limit_stats *out);

/* ---- internals (unit tests only) ------------------------------------------ */

#define RL_CACHELINE 64
#define RL_COUNTER_SLOTS 64      /* per-worker counter slots (worker % slots) */
#define RL_PROBES 8              /* slots probed per key in the keyed table */
#define RL_TABLE_DEFAULT 65536u
#define RL_TABLE_MIN 16u
#define RL_TABLE_MAX (1u << 24)
#define RL_COUNT_MAX 4294967295ull        /* N and burst */
#define RL_PERIOD_MAX_US 2147483647000ull /* HAProxy's largest time: 2^31-1 ms */
#define RL_EXACT_UNITS_MAX 65536u         /* see units_per_us below */
#define RL_FRESH 0                        /* a bucket word never used: full */

enum rl_key {
    RL_KEY_NONE = 0, /* one bucket for every request */
    RL_KEY_SRC,      /* one per client address */
    RL_KEY_HDR,      /* one per value of a request header */
};

enum rl_headers {
    RL_HDRS_DENY = 0, /* RateLimit-* on denials only (default) */
    RL_HDRS_ALWAYS,   /* also on every admitted request's response */
    RL_HDRS_NEVER,    /* never (Retry-After is still sent on denials) */
};

/* A slot of the keyed table: the key's 64-bit hash (0: never used) and its
 * bucket word. */
struct rl_slot {
    _Atomic uint64_t key;
    _Atomic uint64_t tat;
};

struct rl_counters {
    _Alignas(RL_CACHELINE) _Atomic uint64_t admitted;
    _Atomic uint64_t denied;
    _Atomic uint64_t evictions;
};

/*
 * One filter instance. Everything up to `global_tat` is immutable after
 * rl_config_parse (the table's slots excepted: atomics); the rest is the
 * state the workers share, atomics only. Allocated aligned on a cache line.
 * A route's override of the filter config is an instance of its own, with
 * its own buckets.
 *
 * Time unit: the bucket counts time in units of 1/units_per_us microsecond,
 * chosen so that the interval between two tokens is a whole number of units
 * (exactly when the reduced fraction N/period has units_per_us <= 65536, which
 * covers every N <= 65536 and every round figure; above, units_per_us = 65536
 * and the interval is rounded, a relative rate error below 2^-11).
 */
struct rate_limit_config {
    uint64_t count;     /* N */
    uint64_t period_us;
    uint64_t burst;     /* bucket capacity in tokens (default N) */
    uint16_t deny_status;
    enum rl_key key;
    enum rl_headers headers;
    char *hdr_name;     /* RL_KEY_HDR: header name, NUL-terminated */
    size_t hdr_len;
    uint32_t table_slots; /* keyed: power of two; 0 without a key */

    uint64_t units_per_us;
    uint64_t interval;  /* units between two tokens */
    uint64_t tolerance; /* burst * interval (< 2^62) */
    uint64_t step_back; /* 1 s in units: a tat further ahead than tolerance +
                           step_back means the clock stepped back */
    bool exact;         /* interval is exact (no rounding) */
    uint64_t sip_k0, sip_k1; /* random key of the key hash (hash flooding) */

    char limit_value[24];  /* RateLimit-Limit */
    char policy_value[80]; /* RateLimit-Policy */
    struct rl_slot *table; /* keyed: table_slots slots, cache-line aligned */

    /* shared, written by every worker: each on a cache line of its own */
    _Alignas(RL_CACHELINE) _Atomic uint64_t global_tat;
    struct rl_counters counters[RL_COUNTER_SLOTS];
};

/* What one admission decision said. */
struct rl_verdict {
    bool admitted;
    uint64_t remaining;      /* whole tokens left after this decision */
    uint64_t retry_after_us; /* denied: until a token is back (> 0); else 0 */
    uint64_t reset_us;       /* until the bucket is full again */
};

/* config_parse / config_free of the ops table (rate_limit_config.c). */
int rl_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen);
void rl_config_free(void *cfg);

/*
 * Takes one token from the bucket word `tat` at time now_us (any clock that
 * only moves forward; a backward step is absorbed, see rate_limit.c), or
 * denies. Lock-free: one CAS loop on the word. Fills *v.
 */
void rl_bucket_take(_Atomic uint64_t *tat, const struct rate_limit_config *c, uint64_t now_us,
                    struct rl_verdict *v);

/*
 * The bucket word of key hash `h` in c's table: the slot holding h, else a
 * never-used slot claimed for it, else (RL_PROBES slots probed) the slot
 * whose bucket is the most refilled, taken over with a full bucket. Sets
 * *lossy when the slot taken over was not full (its key's history is lost).
 * Never allocates.
 */
_Atomic uint64_t *rl_table_bucket(struct rate_limit_config *c, uint64_t h, uint64_t now_us,
                                  bool *lossy);

/* Key hashes (SipHash-1-3 under the instance's random key). A NULL sa (or
 * not IP) is one "unknown source" key; an IPv4-mapped IPv6 address is its
 * IPv4 address; the port never counts. A NULL value is the "header absent"
 * key, distinct from every value including the empty one. */
uint64_t rl_hash_src(const struct rate_limit_config *c, const struct sockaddr *sa);
uint64_t rl_hash_hdr(const struct rate_limit_config *c, const char *value, size_t len);

/*
 * One decision for an instance: the global bucket (key none; `h` ignored) or
 * key h's; counts it in worker's counter slot. The request path of the hook
 * without the filter_stream around it.
 */
void rl_decide(struct rate_limit_config *c, uint32_t worker, uint64_t now_us, uint64_t h,
               struct rl_verdict *v);

/* SipHash with `crounds` compression and `drounds` finalization rounds
 * (2, 4: SipHash-2-4 of the paper; the filter uses 1, 3). */
uint64_t rl_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len, int crounds,
                    int drounds);

/* Whole seconds (rounded up) in a microsecond delay, as Retry-After and
 * RateLimit-Reset carry them. */
uint64_t rl_seconds_ceil(uint64_t us);

#endif /* TERN_FILTERS_HTTP_RATE_LIMIT_H */
