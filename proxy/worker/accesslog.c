/*
 * accesslog.c: batching of access-log lines, see accesslog.h.
 */
#include "proxy/worker/accesslog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "proxy/core/util.h"

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct accesslog *a = arg;
    a->flush_armed = false;
    accesslog_flush(a);
}

void accesslog_init(struct accesslog *a, struct event_base *base, int fd, size_t cap,
                    struct counter *dropped)
{
    a->buf = tern_malloc(cap);
    a->len = 0;
    a->cap = cap;
    a->fd = fd;
    a->flush_armed = false;
    a->dropped = dropped;
    event_assign(&a->flush_ev, base, -1, 0, flush_cb, a);
}

void accesslog_flush(struct accesslog *a)
{
    size_t off = 0;

    while (off < a->len) {
        ssize_t n = write(a->fd, a->buf + off, a->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* The log sink is gone or full: count whole lines lost. */
            for (size_t i = off; i < a->len; i++)
                if (a->buf[i] == '\n')
                    counter_add(a->dropped, 1);
            break;
        }
        off += (size_t)n;
    }
    a->len = 0;
}

void accesslog_printf(struct accesslog *a, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (int attempt = 0; attempt < 2; attempt++) {
        size_t room = a->cap - a->len;
        va_start(ap, fmt);
        n = vsnprintf(a->buf + a->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n + 1 < room) {
            a->len += (size_t)n;
            a->buf[a->len++] = '\n';
            if (!a->flush_armed) {
                a->flush_armed = true;
                /* runs after the callbacks of this loop iteration */
                event_active(&a->flush_ev, EV_TIMEOUT, 0);
            }
            return;
        }
        if (a->len == 0)
            break; /* a line larger than the whole buffer */
        accesslog_flush(a);
    }
    counter_add(a->dropped, 1);
}

const char *accesslog_date(struct accesslog *a, time_t secs)
{
    if (secs != a->date_sec || !a->date[0]) {
        struct tm tm;
        localtime_r(&secs, &tm);
        strftime(a->date, sizeof(a->date), "%d/%b/%Y:%H:%M:%S", &tm);
        a->date_sec = secs;
    }
    return a->date;
}

void accesslog_destroy(struct accesslog *a)
{
    accesslog_flush(a);
    if (a->flush_armed)
        event_del(&a->flush_ev);
    free(a->buf);
    a->buf = NULL;
}
