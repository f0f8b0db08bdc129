/*
 * log.h: tern's process log (errors, state changes, lifecycle), to stderr.
 *
 * One line per call: "<iso8601> tern[pid] <level>: <message>". Lines are written
 * with one write(2) each, so lines from different threads never interleave.
 * This is not the access log (see worker/accesslog.h), which is batched.
 * Never log a secret (keys, tokens, certificate private material).
 *
 * Thread: any thread.
 */
#ifndef TERN_CORE_LOG_H
#define TERN_CORE_LOG_H

enum tern_log_level {
    TERN_LOG_ERR = 0,
    TERN_LOG_WARN,
    TERN_LOG_NOTICE,
    TERN_LOG_INFO,
    TERN_LOG_DEBUG,
};

/* Lines above this level are dropped. Default TERN_LOG_INFO. */
void tern_log_set_level(enum tern_log_level level);

void tern_log(enum tern_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) tern_log(TERN_LOG_ERR, __VA_ARGS__)
#define log_warn(...) tern_log(TERN_LOG_WARN, __VA_ARGS__)
#define log_notice(...) tern_log(TERN_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) tern_log(TERN_LOG_INFO, __VA_ARGS__)
#define log_debug(...) tern_log(TERN_LOG_DEBUG, __VA_ARGS__)

#endif /* TERN_CORE_LOG_H */
