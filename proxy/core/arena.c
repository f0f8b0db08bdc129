/*
 * arena.c: see arena.h. Chunks grow geometrically (4 KiB, then doubling up
 * to 64 KiB, or the request size when larger) so a stream that rewrites a
 * few headers costs at most one malloc.
 */
#include "proxy/core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "proxy/core/util.h"

#define ARENA_ALIGN 16
#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK 65536

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void arena_init(struct arena *a, void *buf, size_t size)
{
    memset(a, 0, sizeof(*a));
    if (buf) {
        /* align the inline region's start */
        uintptr_t p = (uintptr_t)buf;
        uintptr_t q = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
        if (q - p < size) {
            a->inline_buf = (unsigned char *)q;
            a->inline_size = size - (size_t)(q - p);
        }
    }
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c;
    size_t need = align_up(n ? n : 1);
    void *p;

    if (a->inline_buf && a->inline_size - a->inline_used >= need) {
        p = a->inline_buf + a->inline_used;
        a->inline_used += need;
        a->total += need;
        memset(p, 0, n);
        return p;
    }
    c = a->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        if (size > ARENA_MAX_CHUNK)
            size = ARENA_MAX_CHUNK;
        if (size < need)
            size = need;
        c = tern_malloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        c->next = a->chunks;
        a->chunks = c;
    }
    p = c->data + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void arena_reset(struct arena *a)
{
    while (a->chunks) {
        struct arena_chunk *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
    a->inline_used = 0;
    a->total = 0;
}

void arena_destroy(struct arena *a)
{
    arena_reset(a);
}
