/*
 * body_probe.c: a test-only HTTP filter, linked into tern_test (never into
 * tern), that exercises the filter API's body path from the outside:
 *
 *   filter test-body-probe [hold]
 *
 * It counts and hashes (FNV-1a 64) the payload bytes its request_data and
 * response_data hooks see, counts the trailer fields, records whether each
 * direction's last call had end_stream, and prints one line per stream on
 * stderr at stream_done:
 *
 *   body-probe: req=<bytes>/<hash> req_trailers=<n> req_end=<0|1>
 *               resp=<bytes>/<hash> resp_trailers=<n> resp_end=<0|1> path=<path>
 *
 * With `hold`, every data slice is held (FILTER_STOP) and released 1 ms
 * later from a filter timer, so holds, filter_resume and filter_timer_* are
 * on the path of every byte.
 *
 * Registered by a constructor: test binaries only (tern's own filters are
 * listed in filters/registry.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"

struct probe_cfg {
    bool hold;
};

struct probe_state {
    uint64_t req_n, resp_n;
    uint64_t req_h, resp_h;
    uint32_t req_trl, resp_trl;
    bool req_end, resp_end;
    bool holding;
    char path[64];
};

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    if (!h)
        h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int probe_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    struct probe_cfg *c = calloc(1, sizeof(*c));
    if (argc == 1 && strcmp(argv[0], "hold") == 0) {
        c->hold = true;
    } else if (argc != 0) {
        snprintf(err, errlen, "usage: filter test-body-probe [hold]");
        free(c);
        return -1;
    }
    *cfg = c;
    return 0;
}

static void probe_free(void *cfg)
{
    free(cfg);
}

static void release(struct filter_stream *fs, void *state)
{
    struct probe_state *st = state;
    st->holding = false;
    filter_resume(fs);
}

static enum filter_status hold_maybe(struct filter_stream *fs, struct probe_state *st)
{
    const struct probe_cfg *c = filter_config(fs);
    if (!c->hold)
        return FILTER_CONTINUE;
    st->holding = true;
    filter_timer_start(fs, 1, release);
    return FILTER_STOP;
}

static enum filter_status probe_req_headers(struct filter_stream *fs, void *state,
                                            struct http_msg *req, bool end)
{
    struct probe_state *st = state;
    size_t n = req->path.len < sizeof(st->path) - 1 ? req->path.len : sizeof(st->path) - 1;
    (void)fs;
    memcpy(st->path, req->path.p, n);
    st->path[n] = 0;
    st->req_end = end; /* a request without a body ends with its head */
    return FILTER_CONTINUE;
}

static enum filter_status probe_resp_headers(struct filter_stream *fs, void *state,
                                             struct http_msg *resp, bool end)
{
    struct probe_state *st = state;
    (void)fs;
    (void)resp;
    st->resp_end = end;
    return FILTER_CONTINUE;
}

static enum filter_status probe_req_data(struct filter_stream *fs, void *state,
                                         const struct filter_data *d, bool end)
{
    struct probe_state *st = state;
    st->req_n += d->len;
    st->req_h = fnv(st->req_h, d->p, d->len);
    st->req_end |= end;
    return hold_maybe(fs, st);
}

static enum filter_status probe_resp_data(struct filter_stream *fs, void *state,
                                          const struct filter_data *d, bool end)
{
    struct probe_state *st = state;
    st->resp_n += d->len;
    st->resp_h = fnv(st->resp_h, d->p, d->len);
    st->resp_end |= end;
    return hold_maybe(fs, st);
}

static enum filter_status probe_req_trailers(struct filter_stream *fs, void *state,
                                             const struct http_msg *t)
{
    (void)fs;
    ((struct probe_state *)state)->req_trl += t->nhdrs;
    return FILTER_CONTINUE;
}

static enum filter_status probe_resp_trailers(struct filter_stream *fs, void *state,
                                              const struct http_msg *t)
{
    (void)fs;
    ((struct probe_state *)state)->resp_trl += t->nhdrs;
    return FILTER_CONTINUE;
}

static void probe_done(struct filter_stream *fs, void *state,
                       const struct filter_stream_info *info)
{
    struct probe_state *st = state;
    (void)fs;
    (void)info;
    fprintf(stderr,
            "body-probe: req=%llu/%016llx req_trailers=%u req_end=%d resp=%llu/%016llx "
            "resp_trailers=%u resp_end=%d path=%s\n",
            (unsigned long long)st->req_n, (unsigned long long)st->req_h, st->req_trl,
            st->req_end, (unsigned long long)st->resp_n, (unsigned long long)st->resp_h,
            st->resp_trl, st->resp_end, st->path);
}

static const struct http_filter_ops body_probe = {
    .name = "test-body-probe",
    .state_size = sizeof(struct probe_state),
    .config_parse = probe_parse,
    .config_free = probe_free,
    .request_headers = probe_req_headers,
    .response_headers = probe_resp_headers,
    .request_data = probe_req_data,
    .response_data = probe_resp_data,
    .request_trailers = probe_req_trailers,
    .response_trailers = probe_resp_trailers,
    .stream_done = probe_done,
};

__attribute__((constructor)) static void body_probe_register(void)
{
    if (filter_register(&body_probe) != 0)
        abort();
}
