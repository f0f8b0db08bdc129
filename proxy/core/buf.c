/*
 * buf.c: the per-worker buffer pool. A small free list avoids malloc/free
 * churn under load; beyond max_free, buffers go back to the allocator so an
 * idle process returns to its idle footprint.
 */
#include "proxy/core/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxy/core/util.h"

void buf_pool_init(struct buf_pool *p, uint32_t bufsize, uint32_t max_free)
{
    memset(p, 0, sizeof(*p));
    p->bufsize = bufsize;
    p->max_free = max_free;
}

void buf_pool_destroy(struct buf_pool *p)
{
    while (p->free) {
        struct buf *b = p->free;
        p->free = b->next_free;
        free(b);
    }
    p->nfree = 0;
}

struct buf *buf_get(struct buf_pool *p)
{
    struct buf *b = p->free;

    if (b) {
        p->free = b->next_free;
        p->nfree--;
    } else {
        b = tern_malloc(sizeof(*b) + p->bufsize);
        b->size = p->bufsize;
    }
    b->next_free = NULL;
    b->off = 0;
    b->len = 0;
    p->in_use++;
    return b;
}

void buf_put(struct buf_pool *p, struct buf *b)
{
    p->in_use--;
    if (p->nfree >= p->max_free) {
        free(b);
        return;
    }
    b->next_free = p->free;
    p->free = b;
    p->nfree++;
}

ssize_t buf_read_fd(struct buf_pool *p, int fd, struct buf **bp, bool *readable, bool rdhup)
{
    struct buf *b = *bp;
    size_t room;
    ssize_t n;

    if (!b)
        b = *bp = buf_get(p);
    room = buf_tail_room(b);
    if (room == 0)
        return -1; /* full: the caller reads again once it drained some */
    do {
        n = read(fd, buf_tail(b), room);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        b->len += (uint32_t)n;
        if ((size_t)n < room && !rdhup)
            *readable = false;
        return n;
    }
    if (b->len == 0) {
        buf_put(p, b);
        *bp = NULL;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN) {
        *readable = false;
        return -1;
    }
    return -2;
}
