/*
 * accesslog.h: the per-worker access log. Lines are appended to a worker-owned
 * buffer and written to stderr in one write(2) per loop iteration (or when the
 * buffer fills), so logging costs no syscall per connection and never takes a
 * lock. A line that does not fit in a full buffer is dropped and counted: the
 * worker never blocks on logging beyond that one write.
 *
 * Thread: the owning worker only.
 */
#ifndef TERN_ACCESSLOG_H
#define TERN_ACCESSLOG_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proxy/model/model_types.h"

struct accesslog {
    char *buf;
    size_t len;
    size_t cap;
    int fd;
    bool flush_armed;
    struct event flush_ev;
    struct counter *dropped; /* worker's log_dropped counter */
    time_t date_sec;         /* second that `date` shows */
    char date[32];           /* HAProxy's "%d/%b/%Y:%H:%M:%S" in local time */
};

void accesslog_init(struct accesslog *a, struct event_base *base, int fd, size_t cap,
                    struct counter *dropped);
/* Appends one formatted line (a newline is added). */
void accesslog_printf(struct accesslog *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void accesslog_flush(struct accesslog *a);

/* The date of second `secs` as HAProxy's logs write it ("29/Nov/2026:16:01:02"),
 * formatted at most once a second (localtime_r takes glibc's time-zone lock).
 * Valid until the next call. */
const char *accesslog_date(struct accesslog *a, time_t secs);
void accesslog_destroy(struct accesslog *a);

#endif /* TERN_ACCESSLOG_H */
