/*
 * arena.h: a region allocator for memory that lives exactly as long as one
 * stream (HTTP request/response exchange): rewritten headers, local replies,
 * per-filter state. Allocation is a pointer bump inside chunks taken from
 * malloc; everything is released at once by arena_reset/arena_destroy, so a
 * stream never frees piecemeal and never leaks a piece.
 *
 * The first chunk may be embedded in the owner (arena_init with a buffer), so
 * a stream that rewrites nothing allocates nothing.
 *
 * Thread: one arena belongs to one stream, hence to one worker.
 */
#ifndef TERN_CORE_ARENA_H
#define TERN_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct arena {
    unsigned char *inline_buf; /* caller-provided first region, not freed */
    size_t inline_size;
    size_t inline_used;
    struct arena_chunk *chunks; /* malloc'ed, newest first */
    size_t total;               /* bytes handed out, for limits */
};

/* Sets up an arena whose first `size` bytes come from `buf` (may be NULL). */
void arena_init(struct arena *a, void *buf, size_t size);

/* n bytes aligned on 16, zeroed. Aborts on out-of-memory (our allocation). */
void *arena_alloc(struct arena *a, size_t n);

/* A copy of [s, s+n) with a terminating NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Releases every chunk; the arena can be used again (inline region kept). */
void arena_reset(struct arena *a);
void arena_destroy(struct arena *a);

#endif /* TERN_CORE_ARENA_H */
