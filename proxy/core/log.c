/*
 * log.c: the process log. Each line is formatted into a stack buffer and
 * written with a single write(2), so concurrent threads never interleave
 * within a line. Lines longer than the buffer are cut and marked with "...".
 */
#include "proxy/core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = TERN_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

void tern_log_set_level(enum tern_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void tern_log(enum tern_log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;
    va_list ap;

    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ tern[%d] %s: ", (long)tv.tv_usec / 1000,
                 (int)getpid(), level_names[level]);
    n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    if ((size_t)r >= sizeof(line) - n - 1) {
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)r;
    }
    line[n++] = '\n';
    /* A failed write to stderr has nowhere to be reported. */
    if (write(STDERR_FILENO, line, n) < 0) {
    }
}
