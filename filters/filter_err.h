/*
 * filter_err.h: how a filter's config_parse writes the message of a refused
 * argument (filter.h: "returns -1 with a message in err"; the core prefixes
 * FILE:LINE: filter: <name>:). Header-only, part of //filters:filter_api.
 *
 *   if (bad)
 *       return filter_err(err, errlen, "invalid rate '%s' (...)", arg);
 *
 * Always returns -1; err may be NULL (the message is then dropped).
 */
#ifndef TERN_FILTERS_FILTER_ERR_H
#define TERN_FILTERS_FILTER_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int filter_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int filter_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif /* TERN_FILTERS_FILTER_ERR_H */
