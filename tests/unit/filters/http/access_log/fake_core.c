/*
 * fake_core.c: see fake_core.h. Only the filter.h functions the access-log
 * filter calls; a filter that starts using another fails to link its test
 * until the fake learns it.
 */
#include "tests/unit/filters/http/access_log/fake_core.h"

#include <stdlib.h>

uint32_t fake_nworkers = 1;
struct filter_defer *fake_deferred[FAKE_MAX_DEFERRED];
int fake_ndeferred;
int fake_defer_calls;

const void *filter_config(const struct filter_stream *fs)
{
    return fs->cfg;
}

uint64_t filter_now_us(const struct filter_stream *fs)
{
    return fs->now_us;
}

uint32_t filter_worker(const struct filter_stream *fs)
{
    return fs->worker;
}

uint32_t filter_nworkers(void)
{
    return fake_nworkers;
}

void filter_defer(struct filter_stream *fs, struct filter_defer *d)
{
    (void)fs;
    fake_defer_calls++;
    if (d->armed)
        return;
    if (fake_ndeferred == FAKE_MAX_DEFERRED)
        abort();
    d->armed = true;
    fake_deferred[fake_ndeferred++] = d;
}

void fake_run_deferred(void)
{
    int n = fake_ndeferred;

    fake_ndeferred = 0;
    for (int i = 0; i < n; i++) {
        struct filter_defer *d = fake_deferred[i];
        d->armed = false;
        d->cb(d);
    }
}
