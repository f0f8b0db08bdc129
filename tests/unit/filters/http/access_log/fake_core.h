/*
 * fake_core.h: a test-only stand-in for the stream core's side of
 * filters/filter.h, enough to drive the access-log filter's hooks by hand:
 * a struct filter_stream the test fills (config, clock, worker) and the
 * filter_defer calls it records (the test runs them itself, as the core
 * would after the loop turn).
 *
 * Thread: one test thread.
 */
#ifndef TERN_TESTS_ALOG_FAKE_CORE_H
#define TERN_TESTS_ALOG_FAKE_CORE_H

#include <stdint.h>

#include "filters/filter.h"

struct filter_stream {
    const void *cfg;
    uint64_t now_us;
    uint32_t worker;
};

#define FAKE_MAX_DEFERRED 64

extern uint32_t fake_nworkers;
/* filter_defer calls not run yet, in call order (an armed one is not added
 * twice, as the core does). */
extern struct filter_defer *fake_deferred[FAKE_MAX_DEFERRED];
extern int fake_ndeferred;
extern int fake_defer_calls;

/* Runs and forgets the recorded calls (the end of the loop turn). */
void fake_run_deferred(void);

#endif
