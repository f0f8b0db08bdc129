/*
 * rate_limit.c: the `rate-limit` HTTP filter: a token bucket shared by every
 * worker, without locks.
 *
 * The bucket is one 64-bit word
 *   A token bucket of capacity B refilled with one token every T is usually
 *   kept as (tokens, last refill time). Both fit in one number: the time at
 *   which the bucket will be full again, `tat` (GCRA's "theoretical arrival
 *   time"). At time `now` the bucket holds (now + B*T - max(tat, now)) / T
 *   tokens; taking one moves tat to max(tat, now) + T, and is allowed while
 *   that stays within B*T of now. So one word carries the token count (to the
 *   unit, in fixed point) and the refill clock at once, and a take is one
 *   compare-and-swap of that word: no lock, no torn pair, and a denial only
 *   reads it (under a flood of denials the cache line stays shared).
 *
 * Exact time, no drift
 *   Time is counted in units of 1/units_per_us microsecond, chosen when the
 *   config is parsed so that T is a whole number of units (50/1s: T = 20000
 *   units of 1 us; 7/1s: T = 1000000 units of 1/7 us). Refill is then exact
 *   integer arithmetic: a million takes later the bucket has admitted exactly
 *   B + floor(elapsed * N / period), never a token more or less. The clock is
 *   the worker loop's cached time (filter_now_us, no syscall) multiplied by
 *   units_per_us modulo 2^64; only differences of times are ever used, and
 *   they stay far below 2^63.
 *   A zero word is a bucket never used, i.e. full; a computed tat of exactly 0
 *   (once every 2^64 units) is stored as 1.
 *
 * Clock steps
 *   The loop clock is wall time, cached per worker loop turn. A forward step
 *   just fills buckets. Two workers' cached times differ by up to a loop
 *   turn, so a tat written by one may be a little more than B*T ahead of
 *   another's now: that is a plain denial, and the word is left alone (moving
 *   it back would hand out tokens). Only a tat more than B*T + 1 s ahead means
 *   the clock stepped back: it is pulled back to now + B*T, so a step back
 *   costs at most the time to refill one bucket, never the size of the step.
 *
 * Keyed buckets (key src | key hdr(<name>))
 *   A fixed table of (key hash, tat) slots per filter instance, sized at
 *   config time (table-size, power of two), allocated once: the request path
 *   never allocates. A key (SipHash-1-3 of the address or header value under
 *   a random per-instance key, so clients cannot aim collisions) probes
 *   RL_PROBES consecutive slots from its home slot: its own slot, else a
 *   never-used slot claimed by CAS on the key word. When all probed slots
 *   belong to other keys, the one whose bucket is the most refilled is taken
 *   over and restarted full. Taking over a full bucket loses nothing (a full
 *   bucket and a new one are the same); taking over a partly drained one is
 *   the approximation: its key starts again with a full bucket next time.
 *   That only happens when more keys are active at once than the table holds
 *   around one home slot, and is counted (evictions).
 *   The key and tat words of a slot are separate atomics: a request racing
 *   with the takeover of its own slot may charge its token to the new key's
 *   fresh bucket, or lose it; one token, only on a takeover. Two keys whose
 *   64-bit hashes are equal share a bucket (probability 2^-64 per pair).
 *
 * Counters: admitted / denied / evictions in per-worker slots of the config
 * object, one cache line each, summed by rate_limit_stats().
 *
 * The config object holds all the state: a reload (new config object) starts
 * every bucket full.
 */
#include "filters/http/rate_limit/rate_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the bucket ------------------------------------------------------------- */

static uint64_t units_to_us_ceil(const struct rate_limit_config *c, uint64_t units)
{
    return units / c->units_per_us + (units % c->units_per_us != 0);
}

uint64_t rl_seconds_ceil(uint64_t us)
{
    return us / 1000000 + (us % 1000000 != 0);
}

void rl_bucket_take(_Atomic uint64_t *word, const struct rate_limit_config *c, uint64_t now_us,
                    struct rl_verdict *v)
{
    uint64_t now = now_us * c->units_per_us; /* mod 2^64: differences only */
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);

    for (;;) {
        uint64_t base, ahead, next;
        int64_t lead = (int64_t)(old - now);
        bool pulled = false;

        if (old == RL_FRESH || lead <= 0) {
            base = now; /* full bucket */
        } else if ((uint64_t)lead > c->tolerance + c->step_back) {
            base = now + c->tolerance; /* the clock stepped back */
            pulled = true;
        } else {
            base = old;
        }
        ahead = base - now + c->interval; /* <= tolerance + step_back + interval < 2^63 */

        if (ahead > c->tolerance) {
            if (pulled) /* keep the pulled-back word so the bucket refills */
                atomic_compare_exchange_strong_explicit(word, &old, base ? base : 1,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed);
            v->admitted = false;
            v->remaining = 0;
            v->retry_after_us = units_to_us_ceil(c, ahead - c->tolerance);
            v->reset_us = units_to_us_ceil(c, base - now);
            return;
        }
        next = base + c->interval;
        if (next == RL_FRESH)
            next = 1;
        if (atomic_compare_exchange_weak_explicit(word, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            v->admitted = true;
            v->remaining = (c->tolerance - ahead) / c->interval;
            v->retry_after_us = 0;
            v->reset_us = units_to_us_ceil(c, ahead);
            return;
        }
        /* `old` now holds the word another worker wrote: decide again */
    }
}

/* ---- the keyed table ------------------------------------------------------------ */

_Atomic uint64_t *rl_table_bucket(struct rate_limit_config *c, uint64_t h, uint64_t now_us,
                                  bool *lossy)
{
    uint64_t now = now_us * c->units_per_us;
    uint32_t mask = c->table_slots - 1;
    struct rl_slot *victim = NULL;

    *lossy = false;
    if (h == 0)
        h = 1; /* 0 marks a never-used slot */

    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t victim_key = 0;
        int64_t victim_lead = INT64_MAX;

        victim = NULL;
        for (uint32_t i = 0; i < RL_PROBES; i++) {
            struct rl_slot *s = &c->table[(h + i) & mask];
            uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
            uint64_t t;
            int64_t lead;

            if (k == 0 && atomic_compare_exchange_strong_explicit(
                              &s->key, &k, h, memory_order_relaxed, memory_order_relaxed))
                return &s->tat; /* its tat is RL_FRESH: never written */
            if (k == h)
                return &s->tat;
            t = atomic_load_explicit(&s->tat, memory_order_relaxed);
            lead = t == RL_FRESH ? INT64_MIN : (int64_t)(t - now);
            if (!victim || lead < victim_lead) {
                victim = s;
                victim_key = k;
                victim_lead = lead;
            }
        }
        /* No slot of its own in reach: take over the most refilled one. */
        if (atomic_compare_exchange_strong_explicit(&victim->key, &victim_key, h,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&victim->tat, RL_FRESH, memory_order_relaxed);
            *lossy = victim_lead > 0;
            return &victim->tat;
        }
        if (victim_key == h) /* another worker took it for the same key */
            return &victim->tat;
        /* another worker took it for another key: look again */
    }
    /* Four takeovers lost in a row (a storm of new keys on one home slot):
     * share the last candidate's bucket rather than spin. */
    return &victim->tat;
}

/* ---- key hashes ----------------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                          \
    do {                                                                                  \
        v0 += v1;                                                                         \
        v1 = rotl(v1, 13);                                                                \
        v1 ^= v0;                                                                         \
        v0 = rotl(v0, 32);                                                                \
        v2 += v3;                                                                         \
        v3 = rotl(v3, 16);                                                                \
        v3 ^= v2;                                                                         \
        v0 += v3;                                                                         \
        v3 = rotl(v3, 21);                                                                \
        v3 ^= v0;                                                                         \
        v2 += v1;                                                                         \
        v1 = rotl(v1, 17);                                                                \
        v1 ^= v2;                                                                         \
        v2 = rotl(v2, 32);                                                                \
    } while (0)

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t rl_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len, int crounds,
                    int drounds)
{
    const unsigned char *p = data;
    const unsigned char *end = p + (len & ~(size_t)7);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = k1 ^ 0x7465646279746573ull;
    uint64_t m;

    for (; p != end; p += 8) {
        m = load_le64(p);
        v3 ^= m;
        for (int i = 0; i < crounds; i++)
            SIPROUND;
        v0 ^= m;
    }
    m = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        m |= (uint64_t)p[i] << (8 * i);
    v3 ^= m;
    for (int i = 0; i < crounds; i++)
        SIPROUND;
    v0 ^= m;
    v2 ^= 0xff;
    for (int i = 0; i < drounds; i++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Each kind of key hashes under its own variant of the instance key, so an
 * address, a header value and "absent" never meet. */
enum { TAG_ADDR = 1, TAG_VALUE = 2, TAG_ABSENT = 3, TAG_NO_ADDR = 4 };

static uint64_t key_hash(const struct rate_limit_config *c, uint64_t tag, const void *p,
                         size_t len)
{
    return rl_siphash(c->sip_k0 ^ tag, c->sip_k1, p, len, 1, 3);
}

uint64_t rl_hash_src(const struct rate_limit_config *c, const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return key_hash(c, TAG_ADDR, &in->sin_addr, 4);
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return key_hash(c, TAG_ADDR, &in6->sin6_addr.s6_addr[12], 4);
        return key_hash(c, TAG_ADDR, &in6->sin6_addr, 16);
    }
    return key_hash(c, TAG_NO_ADDR, "", 0);
}

uint64_t rl_hash_hdr(const struct rate_limit_config *c, const char *value, size_t len)
{
    if (!value)
        return key_hash(c, TAG_ABSENT, "", 0);
    return key_hash(c, TAG_VALUE, value, len);
}

/* ---- one decision ------------------------------------------------------------------ */

void rl_decide(struct rate_limit_config *c, uint32_t worker, uint64_t now_us, uint64_t h,
               struct rl_verdict *v)
{
    struct rl_counters *ctr = &c->counters[worker % RL_COUNTER_SLOTS];
    _Atomic uint64_t *word = &c->global_tat;

    if (c->key != RL_KEY_NONE) {
        bool lossy;
        word = rl_table_bucket(c, h, now_us, &lossy);
        if (lossy)
            atomic_fetch_add_explicit(&ctr->evictions, 1, memory_order_relaxed);
    }
    rl_bucket_take(word, c, now_us, v);
    /* A worker's own slot (shared only past RL_COUNTER_SLOTS workers). */
    atomic_fetch_add_explicit(v->admitted ? &ctr->admitted : &ctr->denied, 1,
                              memory_order_relaxed);
}

void rate_limit_stats(const void *cfg, struct rate_limit_stats *out)
{
    const struct rate_limit_config *c = cfg;

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < RL_COUNTER_SLOTS; i++) {
        out->admitted += atomic_load_explicit(&c->counters[i].admitted, memory_order_relaxed);
        out->denied += atomic_load_explicit(&c->counters[i].denied, memory_order_relaxed);
        out->evictions +=
            atomic_load_explicit(&c->counters[i].evictions, memory_order_relaxed);
    }
}

/* ---- the hooks ---------------------------------------------------------------------- */

/* Per-stream state (zeroed by the core): RateLimit-* values for the response
 * under `headers always`. */
struct rl_stream {
    uint64_t remaining;
    uint64_t reset_s;
    bool pending;
};

static char *u64_dec(char buf[24], uint64_t v)
{
    char *p = buf + 23;

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static void ratelimit_headers(struct filter_stream *fs, const struct rate_limit_config *c,
                              uint64_t remaining, uint64_t reset_s)
{
    char b1[24], b2[24];

    filter_reply_header(fs, "RateLimit-Limit", c->limit_value);
    filter_reply_header(fs, "RateLimit-Remaining", u64_dec(b1, remaining));
    filter_reply_header(fs, "RateLimit-Reset", u64_dec(b2, reset_s));
    filter_reply_header(fs, "RateLimit-Policy", c->policy_value);
}

static enum filter_status rl_request_headers(struct filter_stream *fs, void *state,
                                             struct http_msg *req, bool end_stream)
{
    /* The config is shared read-only except for its atomics: the buckets. */
    struct rate_limit_config *c = (struct rate_limit_config *)filter_config(fs);
    struct rl_stream *st = state;
    struct rl_verdict v;
    uint64_t h = 0;
    char b[24];

    if (c->key == RL_KEY_SRC) {
        const struct filter_stream_info *info = filter_info(fs);
        h = rl_hash_src(c, info ? info->client : NULL);
    } else if (c->key == RL_KEY_HDR) {
        struct http_str s = http_msg_get(req, c->hdr_name, c->hdr_len);
        h = rl_hash_hdr(c, s.p, s.len);
    }
    rl_decide(c, filter_worker(fs), filter_now_us(fs), h, &v);

    if (v.admitted) {
        if (c->headers == RL_HDRS_ALWAYS) {
            st->pending = true;
            st->remaining = v.remaining;
            st->reset_s = rl_seconds_ceil(v.reset_us);
        }
        return FILTER_CONTINUE;
    }
    filter_reply_header(fs, "Retry-After", u64_dec(b, rl_seconds_ceil(v.retry_after_us)));
    if (c->headers != RL_HDRS_NEVER)
        ratelimit_headers(fs, c, 0, rl_seconds_ceil(v.reset_us));
    /* body NULL: the core's standard page for the status */
    filter_local_reply(fs, c->deny_status, NULL, NULL, 0, TERN_R_RATE_LIMITED);
    return FILTER_STOP;
}

static enum filter_status rl_response_headers(struct filter_stream *fs, void *state,
                                              struct http_msg *resp, bool end_stream)
{
    const struct rate_limit_config *c = filter_config(fs);
    struct rl_stream *st = state;

    if (!st->pending)
        return FILTER_CONTINUE;
    st->pending = false;
    /* A backend that advertises its own limits keeps them: two sets of
     * RateLimit fields would contradict each other. */
    if (http_msg_find(resp, "RateLimit-Limit", 15, 0) < 0 &&
        http_msg_find(resp, "RateLimit-Policy", 16, 0) < 0)
        ratelimit_headers(fs, c, st->remaining, st->reset_s);
    return FILTER_CONTINUE;
}

static size_t rl_metrics(const void *cfg, struct filter_metric *out, size_t max)
{
    struct rate_limit_stats st;

    if (max < 3)
        return 0;
    rate_limit_stats(cfg, &st);
    out[0] = (struct filter_metric){"tern_rate_limit_admitted_total",
                                    "Requests the rate limiter let through.", st.admitted};
    out[1] = (struct filter_metric){"tern_rate_limit_denied_total",
                                    "Requests the rate limiter answered with its deny status.",
                                    st.denied};
    out[2] = (struct filter_metric){"tern_rate_limit_evictions_total",
                                    "Keyed buckets dropped before they were full (table too "
                                    "small).",
                                    st.evictions};
    return 3;
}

const struct http_filter_ops rate_limit_filter = {
    .name = "rate-limit",
    .type_url = NULL, /* xDS issue: envoy.extensions.filters.http.local_ratelimit.v3 */
    .state_size = sizeof(struct rl_stream),
    .config_parse = rl_config_parse,
    .config_free = rl_config_free,
    .request_headers = rl_request_headers,
    .response_headers = rl_response_headers,
    .metrics = rl_metrics,
};
