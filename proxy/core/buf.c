/*
 * buf.c: the per-worker buffer pool. A small free list avoids malloc/free
 * churn under load; beyond max_free, buffers go back to the allocator so an
 * idle process returns to its idle footprint.
 */
#include "proxy/core/buf.h"

#include <stdlib.h>

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
