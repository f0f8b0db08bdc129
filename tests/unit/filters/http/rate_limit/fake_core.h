/*
 * fake_core.h: a test-only stand-in for the stream core's side of
 * filters/filter.h, enough to drive one filter's hooks by hand.
 *
 * A struct filter_stream here is a plain struct the test fills (config,
 * clock, worker, client address) and reads back (the local reply and the
 * headers the filter added). Nothing is allocated; names and values are
 * copied into fixed arrays (a longer one fails the test).
 *
 * Thread: a stream is used by one thread at a time; filter_nworkers() reads
 * fake_nworkers.
 */
#ifndef TERN_TESTS_FAKE_CORE_H
#define TERN_TESTS_FAKE_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "filters/filter.h"

#define FAKE_MAX_HDRS 16

struct fake_hdr {
    char name[64];
    char value[128];
};

struct filter_stream {
    /* set by the test */
    const void *cfg;
    uint64_t now_us;
    uint32_t worker;
    struct sockaddr_storage client;
    bool has_client;
    struct filter_stream_info info;

    /* recorded */
    int nreplies;
    uint16_t status;
    enum tern_reason reason;
    bool reply_body_null;
    struct fake_hdr hdrs[FAKE_MAX_HDRS];
    int nhdrs;
    int bad_calls; /* filter_reply_header after the reply, overflow, ... */
    size_t buffer_body;       /* filter_buffer_request_body's largest max_bytes */
    uint32_t attempt_timeout; /* filter_set_attempt_timeout's last ms */
};

extern uint32_t fake_nworkers;

/* Zeroes fs and points it at cfg. */
void fake_stream_init(struct filter_stream *fs, const void *cfg);
/* Forgets the recorded reply and headers (keeps cfg, clock, client). */
void fake_stream_reset_output(struct filter_stream *fs);
/* Sets the client address from text ("1.2.3.4", "::1"), port given. */
void fake_stream_client(struct filter_stream *fs, const char *addr, uint16_t port);
/* Value of the recorded header `name` (exact case), NULL when absent; and how
 * many times it was added. */
const char *fake_header(const struct filter_stream *fs, const char *name);
int fake_header_count(const struct filter_stream *fs, const char *name);

#endif
