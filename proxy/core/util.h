/*
 * util.h: the few helpers every part of tern shares.
 *
 * - TERN_ASSERT / tern_panic: broken invariants abort with a message (the error
 *   policy: untrusted input never reaches these).
 * - tern_malloc & co: allocation on the control path; out-of-memory on our own
 *   allocations is fatal (see ARCHITECTURE.md, "Error policy").
 * - Durations and addresses as HAProxy writes them in a config file.
 *
 * Thread: everything here is thread-safe (no shared state).
 */
#ifndef TERN_CORE_UTIL_H
#define TERN_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/socket.h>

#define TERN_VERSION "0.1.0"

#define TERN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TERN_CACHELINE 64

#define TERN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TERN_LIKELY(x) __builtin_expect(!!(x), 1)

_Noreturn void tern_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TERN_ASSERT(cond)                                                    \
    do {                                                                     \
        if (TERN_UNLIKELY(!(cond)))                                          \
            tern_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);   \
    } while (0)

/* Allocation that aborts on failure. Returned memory is owned by the caller. */
void *tern_malloc(size_t n);
void *tern_calloc(size_t nmemb, size_t size);
void *tern_realloc(void *p, size_t n);
char *tern_strdup(const char *s);
/* Allocates n bytes aligned on a cache line, zeroed; release with free(). */
void *tern_calloc_aligned(size_t n);

/*
 * Parses an HAProxy time value: a non-negative integer with an optional unit
 * (us, ms, s, m, h, d); no unit means milliseconds. Stores milliseconds in *ms
 * (microseconds round up to 1 ms when non-zero).
 * Returns 0, or -1 when the text is not a time or overflows 2^31-1 ms.
 */
int tern_parse_duration_ms(const char *text, uint32_t *ms);

/*
 * Parses a decimal integer in [min, max] with no trailing characters.
 * Returns 0, or -1 when not a number or out of range.
 */
int tern_parse_int(const char *text, long min, long max, long *out);

/* The address of sa without its port ("10.0.0.1", "::1"), NUL-terminated;
 * returns its length (0 and "" for another family or a too small buffer:
 * INET6_ADDRSTRLEN always fits). No allocation, no locale. */
size_t tern_format_ip(const struct sockaddr *sa, char *buf, size_t buflen);

/*
 * Parses "addr:port" as HAProxy does: IPv4 "1.2.3.4:80", IPv6 "[::1]:80" or
 * "::1:80"-style with the last colon separating the port, "*:80" or ":80" for
 * any IPv4 address. The port must be 1..65535 unless allow_port0 (a bind
 * may ask the kernel for a port). No DNS resolution: a name is an error.
 * Returns 0, or -1 with a reason in err.
 */
int tern_parse_addr(const char *text, bool allow_port0, struct sockaddr_storage *out,
                    socklen_t *outlen, char *err, size_t errlen);

/* Formats an address as "1.2.3.4:80" or "[::1]:80" into buf; returns buf. */
char *tern_format_addr(const struct sockaddr *sa, char *buf, size_t buflen);

/* Monotonic clock in milliseconds / microseconds (control path; the data path
 * uses the worker's cached loop time). */
uint64_t tern_now_ms(void);
uint64_t tern_now_us(void);

/* murmur3's fmix64: spreads every input bit over the whole word. */
static inline uint64_t tern_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* 64-bit hash with good avalanche (FNV-1a followed by tern_mix64). */
uint64_t tern_hash64(const void *data, size_t len, uint64_t seed);

/* Fast per-thread PRNG (xorshift64*). The state must be non-zero. */
static inline uint64_t tern_rand_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* TERN_CORE_UTIL_H */
