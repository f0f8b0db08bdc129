/*
 * access_log.c: the `access-log` filter's run time: per-worker batches and
 * their nonblocking flush (see access_log.h for the design).
 *
 * A record is formatted in place at the end of its worker's batch; the batch
 * leaves once per loop turn (filter_defer), or earlier when it is full. Every
 * write is nonblocking, and whatever the target does not take at once is
 * dropped and counted: under a stuck target the cost of a request is one
 * formatting and, once a turn, one failed syscall.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "filters/http/access_log/access_log.h"

static void count(_Atomic uint64_t *c, uint64_t n)
{
    /* one writer per shard: a relaxed load + store, no locked instruction */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void defer_cb(struct filter_defer *d)
{
    alog_shard_flush((struct alog_shard *)d); /* defer is the shard's first member */
}

struct alog_shard *alog_shard_new(const struct access_log_config *cfg)
{
    struct alog_shard *sh = calloc(1, sizeof(*sh));

    if (!sh)
        return NULL;
    sh->buf = malloc(cfg->buffer);
    if (!sh->buf) {
        free(sh);
        return NULL;
    }
    sh->cfg = cfg;
    sh->defer.cb = defer_cb;
    return sh;
}

void alog_shard_free(struct alog_shard *sh)
{
    if (!sh)
        return;
    free(sh->buf);
    free(sh);
}

/* Lines [from, nlines) of the batch were not taken. */
static void drop_from(struct alog_shard *sh, uint32_t from)
{
    if (from < sh->nlines)
        count(&sh->dropped, sh->nlines - from);
}

/* Line k spans [start(k), ends[k]) and its newline is at ends[k]. */
static size_t line_start(const struct alog_shard *sh, uint32_t k)
{
    return k ? sh->ends[k - 1] + 1 : 0;
}

/* write(2) or send(2) of bytes [off, len) until done or the target would
 * block; returns the offset reached. */
static size_t write_all(struct alog_shard *sh, size_t off, size_t len)
{
    const struct access_log_config *c = sh->cfg;

    while (off < len) {
        ssize_t n;
        if (c->io == ALOG_IO_SEND)
            n = send(c->fd, sh->buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
            n = write(c->fd, sh->buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return off;
}

/* Lines fully written when `off` bytes of the batch are. */
static uint32_t lines_upto(const struct alog_shard *sh, size_t off)
{
    uint32_t k = 0;

    while (k < sh->nlines && sh->ends[k] < off)
        k++;
    return k;
}

static void flush_stream(struct alog_shard *sh)
{
    size_t off = write_all(sh, 0, sh->len);
    uint32_t done = lines_upto(sh, off);

    count(&sh->lines, done);
    drop_from(sh, done);
}

/* A pipe: writes of whole lines, each at most PIPE_BUF bytes, so that a write
 * is all or nothing and lines of several workers never interleave (config
 * keeps len < PIPE_BUF). */
static void flush_pipe(struct alog_shard *sh)
{
    uint32_t k = 0;

    while (k < sh->nlines) {
        size_t start = line_start(sh, k);
        uint32_t e = k;
        ssize_t n;
        while (e + 1 < sh->nlines && sh->ends[e + 1] + 1 - start <= PIPE_BUF)
            e++;
        do {
            n = write(sh->cfg->fd, sh->buf + start, sh->ends[e] + 1 - start);
        } while (n < 0 && errno == EINTR);
        if (n != (ssize_t)(sh->ends[e] + 1 - start)) {
            /* EAGAIN (or an error): this chunk and the rest are lost; a short
             * write cannot happen at <= PIPE_BUF, count it lost all the same */
            break;
        }
        count(&sh->lines, e + 1 - k);
        k = e + 1;
    }
    drop_from(sh, k);
}

/* Datagrams: one per line (without its newline), sendmmsg of the batch. */
static void flush_dgram(struct alog_shard *sh)
{
    const struct access_log_config *c = sh->cfg;
    struct mmsghdr msgs[ALOG_BATCH_MAX];
    struct iovec iov[ALOG_BATCH_MAX];
    uint32_t k = 0;

    for (uint32_t i = 0; i < sh->nlines; i++) {
        size_t start = line_start(sh, i);
        iov[i].iov_base = sh->buf + start;
        iov[i].iov_len = sh->ends[i] - start;
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_name = (void *)&c->addr;
        msgs[i].msg_hdr.msg_namelen = c->addrlen;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (k < sh->nlines) {
        int n = sendmmsg(c->fd, msgs + k, sh->nlines - k, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* would block, or the receiver is gone: the rest is lost */
        count(&sh->lines, (uint64_t)n);
        k += (uint32_t)n;
    }
    drop_from(sh, k);
}

void alog_shard_flush(struct alog_shard *sh)
{
    if (sh->nlines) {
        switch (sh->cfg->io) {
        case ALOG_IO_DGRAM: flush_dgram(sh); break;
        case ALOG_IO_PIPE: flush_pipe(sh); break;
        default: flush_stream(sh); break;
        }
    }
    sh->len = 0;
    sh->nlines = 0;
}

bool alog_shard_append(struct alog_shard *sh, const struct filter_stream_info *info,
                       uint64_t now_us)
{
    const struct access_log_config *c = sh->cfg;
    size_t n;

    if (sh->nlines == ALOG_BATCH_MAX || c->buffer - sh->len < (size_t)c->len + 1)
        alog_shard_flush(sh);
    n = alog_format_record(c, info, now_us, &sh->tm_start, &sh->tm_now, sh->buf + sh->len,
                           c->len);
    if (n == 0) {
        count(&sh->dropped, 1);
        return false;
    }
    sh->buf[sh->len + n] = '\n';
    sh->len += n + 1;
    sh->ends[sh->nlines++] = (uint32_t)(sh->len - 1);
    return true;
}

/* ---- the filter --------------------------------------------------------------- */

static struct alog_shard *shard_of(struct access_log_config *c, uint32_t w)
{
    struct alog_shard *sh;

    if (w >= ALOG_MAX_WORKERS)
        return NULL;
    sh = atomic_load_explicit(&c->shards[w], memory_order_relaxed);
    if (!sh) {
        /* the worker's first line: its shard, once (only this worker
         * writes the slot; release for the admin thread's reads) */
        sh = alog_shard_new(c);
        if (sh)
            atomic_store_explicit(&c->shards[w], sh, memory_order_release);
    }
    return sh;
}

static void alog_stream_done(struct filter_stream *fs, void *state,
                             const struct filter_stream_info *info)
{
    struct access_log_config *c = (struct access_log_config *)filter_config(fs);
    struct alog_shard *sh = shard_of(c, filter_worker(fs));

    if (!sh)
        return;
    if (alog_shard_append(sh, info, filter_now_us(fs)))
        filter_defer(fs, &sh->defer);
}

void access_log_stats(const void *cfg, struct access_log_stats *out)
{
    const struct access_log_config *c = cfg;

    out->lines = out->dropped = 0;
    for (uint32_t w = 0; w < ALOG_MAX_WORKERS; w++) {
        struct alog_shard *sh =
            atomic_load_explicit(&((struct access_log_config *)c)->shards[w],
                                 memory_order_acquire);
        if (!sh)
            continue;
        out->lines += atomic_load_explicit(&sh->lines, memory_order_relaxed);
        out->dropped += atomic_load_explicit(&sh->dropped, memory_order_relaxed);
    }
}

static size_t alog_metrics(const void *cfg, struct filter_metric *out, size_t max)
{
    struct access_log_stats st;

    if (max < 2)
        return 0;
    access_log_stats(cfg, &st);
    out[0] = (struct filter_metric){"tern_access_log_lines_total",
                                    "Access-log lines the filter's target took.", st.lines};
    out[1] = (struct filter_metric){
        "tern_access_log_dropped_total",
        "Access-log lines dropped: the target would block or failed, or a line did not fit.",
        st.dropped};
    return 2;
}

const struct http_filter_ops access_log_filter = {
    .name = "access-log",
    .type_url = NULL,
    .state_size = 0,
    .config_parse = alog_config_parse,
    .config_free = alog_config_free,
    .stream_done = alog_stream_done,
    .every_stream = true,
    .metrics = alog_metrics,
};
