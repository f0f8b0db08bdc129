/*
 * buf.h: fixed-size byte buffers for proxying, and a per-worker pool of them.
 *
 * A buffer is linear: bytes live in [off, off+len) of data[size]. Reads go to
 * the tail; when the tail is full and bytes were consumed from the head, the
 * remaining bytes move to the front. Connections take a buffer only while
 * bytes are in flight and give it back when it empties, so an idle connection
 * holds none (see ARCHITECTURE.md, "Memory").
 *
 * Thread: a pool belongs to one worker; never shared.
 */
#ifndef TERN_CORE_BUF_H
#define TERN_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct buf {
    struct buf *next_free; /* pool link while free */
    uint32_t off;
    uint32_t len;
    uint32_t size;
    char data[];
};

struct buf_pool {
    struct buf *free;
    uint32_t nfree;
    uint32_t max_free;  /* buffers kept for reuse; the rest go back to malloc */
    uint32_t bufsize;
    uint64_t in_use;    /* buffers handed out and not yet returned */
};

void buf_pool_init(struct buf_pool *p, uint32_t bufsize, uint32_t max_free);
void buf_pool_destroy(struct buf_pool *p);

/* A buffer with len 0 (owned by the caller until buf_put). Never NULL. */
struct buf *buf_get(struct buf_pool *p);
void buf_put(struct buf_pool *p, struct buf *b);

/*
 * Reads from the non-blocking socket `fd` into *bp, taking a buffer from the
 * pool when *bp is NULL and giving it back when nothing was read into an
 * empty one. For edge-triggered sockets: a short read means the socket is
 * drained (more bytes raise a new event), so *readable is cleared without
 * the read that would only say EAGAIN, unless `rdhup` says the peer's FIN is
 * queued (then the caller reads on to see it).
 * Returns bytes read (> 0), 0 on EOF, -1 when the buffer is full or the
 * socket would block (then *readable is cleared), -2 on a socket error
 * (errno set).
 */
ssize_t buf_read_fd(struct buf_pool *p, int fd, struct buf **bp, bool *readable, bool rdhup);

/* Free room at the tail, compacting first when that gains room. */
static inline size_t buf_tail_room(struct buf *b)
{
    if (b->off + b->len == b->size && b->off > 0) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    return b->size - (b->off + b->len);
}

static inline char *buf_tail(struct buf *b)
{
    return b->data + b->off + b->len;
}

static inline char *buf_head(struct buf *b)
{
    return b->data + b->off;
}

/* Removes bytes [at, at + n) of the data (offsets from its head). */
static inline void buf_cut(struct buf *b, uint32_t at, uint32_t n)
{
    char *h = buf_head(b);

    memmove(h + at, h + at + n, b->len - at - n);
    b->len -= n;
}

static inline void buf_consume(struct buf *b, size_t n)
{
    b->off += (uint32_t)n;
    b->len -= (uint32_t)n;
    if (b->len == 0)
        b->off = 0;
}

#endif /* TERN_CORE_BUF_H */
