/*
 * retry.c: the `retry` filter's hooks (see retry.h).
 *
 * request_headers   counts the stream as active, keeps the request body for
 *                   a replay (up to `buffer` bytes) and sets the per-try
 *                   timeout.
 * upstream_result   decides: the backend's retry-on names the outcome, a
 *                   retry is left (`retries`), the method is idempotent (or
 *                   the outcome is a connect failure, which never reached the
 *                   server, or a gRPC status the backend's retry-on names:
 *                   Envoy retries those whatever the method, gRPC calls being
 *                   POSTs), the budget allows it. Then FILTER_RETRY with a
 *                   full-jitter backoff delay; the core avoids the endpoint
 *                   just tried.
 * stream_done       uncounts the stream.
 *
 * The budget is Envoy's: retrying streams may be at most budget_percent of
 * the active ones, but min_concurrency of them are always allowed. Active
 * and retrying counts are per-worker slots summed when a retry is
 * considered (a retry is rare; a request costs two relaxed atomic adds on
 * its own worker's cache line).
 */
#include "filters/http/retry/retry.h"

#include <string.h>
#include <strings.h>

static struct retry_slot *slot_of(const struct retry_config *c, const struct filter_stream *fs)
{
    return (struct retry_slot *)&c->slots[filter_worker(fs) % RETRY_SLOTS];
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: jitter, not secrets */
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

uint32_t retry_backoff_ms(const struct retry_config *c, uint32_t retries_done, uint64_t *rng)
{
    uint64_t cap = c->backoff_base_ms;

    if (!cap)
        return 0;
    for (uint32_t i = 0; i < retries_done && cap < c->backoff_max_ms; i++)
        cap *= 2;
    if (cap > c->backoff_max_ms)
        cap = c->backoff_max_ms;
    return (uint32_t)(rng_next(rng) % (cap + 1));
}

bool retry_budget_allows(const struct retry_config *c)
{
    int64_t active = 0, retrying = 0, allowed;

    if (!c->budget_percent)
        return true;
    for (uint32_t i = 0; i < RETRY_SLOTS; i++) {
        active += atomic_load_explicit(&c->slots[i].active, memory_order_relaxed);
        retrying += atomic_load_explicit(&c->slots[i].retrying, memory_order_relaxed);
    }
    allowed = active * (int64_t)c->budget_percent / 100;
    if (allowed < (int64_t)c->min_concurrency)
        allowed = (int64_t)c->min_concurrency;
    return retrying < allowed;
}

bool retry_is_grpc(const struct http_msg *req)
{
    struct http_str ct = http_msg_get(req, "content-type", 12);

    return ct.p && ct.len >= 16 && strncasecmp(ct.p, "application/grpc", 16) == 0 &&
           (ct.len == 16 || ct.p[16] == '+' || ct.p[16] == ';');
}

static enum filter_status retry_request_headers(struct filter_stream *fs, void *state,
                                                struct http_msg *req, bool end_stream)
{
    const struct retry_config *c = filter_config(fs);
    struct retry_state *st = state;

    (void)end_stream;
    st->counted = true;
    st->idempotent = http_method_idempotent(req->method);
    st->grpc = retry_is_grpc(req);
    atomic_fetch_add_explicit(&slot_of(c, fs)->active, 1, memory_order_relaxed);
    if (c->buffer && (st->idempotent || st->grpc || c->non_idempotent))
        filter_buffer_request_body(fs, c->buffer);
    if (c->per_try_timeout_ms)
        filter_set_attempt_timeout(fs, c->per_try_timeout_ms);
    return FILTER_CONTINUE;
}

static enum filter_retry retry_upstream_result(struct filter_stream *fs, void *state,
                                               const struct upstream_result *r,
                                               uint32_t *delay_ms)
{
    const struct retry_config *c = filter_config(fs);
    struct retry_state *st = state;
    struct retry_slot *sl = slot_of(c, fs);

    if (!r->retry_on || !r->request_replayable || r->attempt > r->max_retries)
        return FILTER_ACCEPT;
    if (!st->idempotent && !c->non_idempotent && r->outcome != FILTER_OUTCOME_CONN_FAILURE &&
        !(st->grpc && r->grpc_status >= 0)) {
        atomic_fetch_add_explicit(&sl->not_idempotent, 1, memory_order_relaxed);
        return FILTER_ACCEPT;
    }
    if (!st->retrying && !retry_budget_allows(c)) {
        atomic_fetch_add_explicit(&sl->budget_exhausted, 1, memory_order_relaxed);
        return FILTER_ACCEPT;
    }
    if (!st->retrying) {
        st->retrying = true;
        atomic_fetch_add_explicit(&sl->retrying, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&sl->retries, 1, memory_order_relaxed);
    *delay_ms = retry_backoff_ms(c, r->attempt - 1, &sl->rng);
    return FILTER_RETRY;
}

static void retry_stream_done(struct filter_stream *fs, void *state,
                              const struct filter_stream_info *info)
{
    const struct retry_config *c = filter_config(fs);
    struct retry_state *st = state;
    struct retry_slot *sl = slot_of(c, fs);

    (void)info;
    if (st->counted)
        atomic_fetch_sub_explicit(&sl->active, 1, memory_order_relaxed);
    if (st->retrying)
        atomic_fetch_sub_explicit(&sl->retrying, 1, memory_order_relaxed);
    st->counted = st->retrying = false;
}

void retry_stats(const void *cfg, struct retry_stats *out)
{
    const struct retry_config *c = cfg;

    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < RETRY_SLOTS; i++) {
        out->retries += atomic_load_explicit(&c->slots[i].retries, memory_order_relaxed);
        out->budget_exhausted +=
            atomic_load_explicit(&c->slots[i].budget_exhausted, memory_order_relaxed);
        out->not_idempotent +=
            atomic_load_explicit(&c->slots[i].not_idempotent, memory_order_relaxed);
    }
}

int retry_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen);
void retry_config_free(void *cfg);

static size_t retry_metrics(const void *cfg, struct filter_metric *out, size_t max)
{
    struct retry_stats st;

    if (max < 3)
        return 0;
    retry_stats(cfg, &st);
    out[0] = (struct filter_metric){"tern_retry_filter_retries_total",
                                    "Attempts the retry filter asked for.", st.retries};
    out[1] = (struct filter_metric){"tern_retry_filter_budget_exhausted_total",
                                    "Retries the retry budget refused.", st.budget_exhausted};
    out[2] = (struct filter_metric){"tern_retry_filter_not_idempotent_total",
                                    "Retries refused because the method is not idempotent.",
                                    st.not_idempotent};
    return 3;
}

const struct http_filter_ops retry_filter = {
    .name = "retry",
    .type_url = NULL,
    .state_size = sizeof(struct retry_state),
    .config_parse = retry_config_parse,
    .config_free = retry_config_free,
    .request_headers = retry_request_headers,
    .upstream_result = retry_upstream_result,
    .stream_done = retry_stream_done,
    .metrics = retry_metrics,
};
