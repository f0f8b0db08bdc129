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

#include "proxy/model/model_types.h"

struct accesslog {
    char *buf;
    size_t len;
    size_t cap;
    int fd;
    bool flush_armed;
    struct event flush_ev;
    struct counter *dropped; /* worker's log_dropped counter */
};

void accesslog_init(struct accesslog *a, struct event_base *base, int fd, size_t cap,
                    struct counter *dropped);
/* Appends one formatted line (a newline is added). */
void accesslog_printf(struct accesslog *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void accesslog_flush(struct accesslog *a);
void accesslog_destroy(struct accesslog *a);

#endif /* TERN_ACCESSLOG_H */
