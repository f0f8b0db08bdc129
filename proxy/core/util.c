/*
 * util.c: allocation, duration/address parsing and hashing shared by all of
 * tern. See util.h for the contracts.
 */
#include "proxy/core/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Noreturn void tern_panic(const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tern: fatal: %s:%d: %s\n", file, line, msg);
    fflush(stderr);
    abort();
}

void *tern_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        tern_panic(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
    return p;
}

void *tern_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        tern_panic(__FILE__, __LINE__, "out of memory (%zu x %zu bytes)", nmemb, size);
    return p;
}

void *tern_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        tern_panic(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
    return q;
}

char *tern_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tern_malloc(n);
    memcpy(d, s, n);
    return d;
}

void *tern_calloc_aligned(size_t n)
{
    void *p = NULL;
    size_t rounded = (n + TERN_CACHELINE - 1) & ~(size_t)(TERN_CACHELINE - 1);
    if (posix_memalign(&p, TERN_CACHELINE, rounded ? rounded : TERN_CACHELINE) != 0)
        tern_panic(__FILE__, __LINE__, "out of memory (%zu aligned bytes)", n);
    memset(p, 0, rounded ? rounded : TERN_CACHELINE);
    return p;
}

int tern_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    if (!text || !*text || isspace((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int tern_parse_duration_ms(const char *text, uint32_t *ms)
{
    const char *p = text;
    uint64_t v = 0;
    uint64_t mult_us;

    if (!p || !isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT_MAX * 1000)
            return -1;
        p++;
    }
    if (*p == 0 || strcmp(p, "ms") == 0)
        mult_us = 1000;
    else if (strcmp(p, "us") == 0)
        mult_us = 1;
    else if (strcmp(p, "s") == 0)
        mult_us = 1000ULL * 1000;
    else if (strcmp(p, "m") == 0)
        mult_us = 60ULL * 1000 * 1000;
    else if (strcmp(p, "h") == 0)
        mult_us = 3600ULL * 1000 * 1000;
    else if (strcmp(p, "d") == 0)
        mult_us = 86400ULL * 1000 * 1000;
    else
        return -1;
    if (v > ((uint64_t)INT_MAX * 1000) / mult_us)
        return -1;
    v *= mult_us;
    *ms = (uint32_t)((v + 999) / 1000);
    return 0;
}

int tern_parse_addr(const char *text, bool allow_port0, struct sockaddr_storage *out,
                    socklen_t *outlen, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon, *port_s;
    size_t hlen;
    long port;

    memset(out, 0, sizeof(*out));
    colon = strrchr(text, ':');
    if (!colon) {
        snprintf(err, errlen, "'%s' has no port (expected <address>:<port>)", text);
        return -1;
    }
    port_s = colon + 1;
    if (tern_parse_int(port_s, allow_port0 ? 0 : 1, 65535, &port) != 0) {
        snprintf(err, errlen, "invalid port '%s' in '%s' (expected 1-65535)", port_s, text);
        return -1;
    }
    hlen = (size_t)(colon - text);
    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "address too long in '%s'", text);
        return -1;
    }
    memcpy(host, text, hlen);
    host[hlen] = 0;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = 0;
    }

    if (host[0] == 0 || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons((uint16_t)port);
        *outlen = sizeof(*sin);
        return 0;
    }
    if (strchr(host, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, errlen, "invalid IPv6 address '%s'", host);
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *outlen = sizeof(*sin6);
        return 0;
    }
    {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            snprintf(err, errlen,
                     "invalid IPv4 address '%s' (tern does not resolve names in the "
                     "config file)",
                     host);
            return -1;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *outlen = sizeof(*sin);
    }
    return 0;
}

size_t tern_format_ip(const struct sockaddr *sa, char *buf, size_t buflen)
{
    if (sa->sa_family == AF_INET && buflen >= 16) {
        /* by hand: glibc's inet_ntop goes through sprintf, which showed in
         * the request path's profile (option forwardfor) */
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            unsigned v = a[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : 0;
        }
        return (size_t)(p - buf - 1);
    }
    if (sa->sa_family == AF_INET6 &&
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
                  (socklen_t)buflen))
        return strlen(buf);
    if (buflen)
        buf[0] = 0;
    return 0;
}

char *tern_format_addr(const struct sockaddr *sa, char *buf, size_t buflen)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(buf, buflen, "%s:%u", ip, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, buflen, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, buflen, "-");
    }
    return buf;
}

uint64_t tern_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t tern_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t tern_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* spreads FNV's weak low bits over the whole word */
    return tern_mix64(h);
}
