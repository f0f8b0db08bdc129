/*
 * access_log.h: the `access-log` HTTP filter: one line per request, HAProxy's
 * httplog format or JSON, to stderr/stdout, a file, or syslog over UDP or a
 * unix datagram socket, without ever blocking a worker.
 *
 * Config file (a frontend or listen section):
 *   filter access-log [format httplog|json] [target <address>]
 *                     [syslog-format rfc3164|local|rfc5424|priority|short|raw]
 *                     [facility <name>] [level <name>] [tag <tag>]
 *                     [len <bytes>] [buffer <size>]
 * README.md next to this file is the user documentation (targets, fields of
 * the JSON object, what is dropped and counted).
 *
 * Public part: the ops table registered in filters/registry.c and a stats
 * accessor. The rest of this header is the filter's internals, exposed for
 * its unit tests only.
 *
 * Design: each worker appends lines to its own shard of the config object
 * (no lock; the shard is allocated by the worker on its first line) and asks
 * the core for one flush after the current loop turn (filter_defer): a
 * nonblocking write of the batch (stderr, file), or one sendmmsg of it
 * (datagrams, one line each, MSG_DONTWAIT). A line that finds the buffer full
 * (after an early flush), or that the target does not take at once, is
 * dropped and counted; nothing is retried, nothing waits.
 *
 * Threads: alog_config_parse/alog_config_free on the main thread; the hooks
 * on the workers, each on its own shard; access_log_stats and the metrics
 * hook on any thread (relaxed reads of the shards' counters).
 */
#ifndef TERN_FILTERS_HTTP_ACCESS_LOG_H
#define TERN_FILTERS_HTTP_ACCESS_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "filters/filter.h"

/* name "access-log"; type_url NULL until the xDS issue maps Envoy's
 * envoy.extensions.access_loggers onto it. */
extern const struct http_filter_ops access_log_filter;

struct access_log_stats {
    uint64_t lines;   /* lines the target took */
    uint64_t dropped; /* lines lost: buffer full, target would block or failed */
};

/* Sums the per-worker counters of one instance (cfg from its config_parse).
 * Any thread; each counter exact, not all read at the same instant. */
void access_log_stats(const void *cfg, struct access_log_stats *out);

/* ---- internals (unit tests only) ------------------------------------------ */

#define ALOG_MAX_WORKERS 1024        /* nbthread's maximum */
#define ALOG_BATCH_MAX 256           /* lines per flush (sendmmsg vector) */
#define ALOG_LEN_SYSLOG 1024         /* default `len` for syslog targets (HAProxy's) */
#define ALOG_LEN_STREAM 16384        /* default `len` for stderr/stdout/file */
#define ALOG_LEN_MIN 1024            /* RFC 3164 max; room for the JSON fixed fields */
#define ALOG_LEN_MAX 65535
#define ALOG_BUFFER_DEFAULT 65536    /* per worker */
#define ALOG_BUFFER_MAX (64u << 20)
#define ALOG_URI_MAX 1024            /* request target bytes logged (as the core's line) */
#define ALOG_HDR_MAX 256             /* JSON: bytes of a logged header value */
#define ALOG_TAG_MAX 32              /* RFC 3164 TAG: at most 32 characters */

enum alog_format {
    ALOG_FMT_HTTPLOG = 0, /* HAProxy's option httplog line, as the core's */
    ALOG_FMT_JSON,        /* one JSON object per line */
};

/* The syslog framing of a line (HAProxy's `log ... format <f>`). */
enum alog_syslog {
    ALOG_SL_RAW = 0,  /* the line alone */
    ALOG_SL_RFC3164,  /* <PRI>Mmm dd hh:mm:ss host tag[pid]: line */
    ALOG_SL_LOCAL,    /* rfc3164 without the host */
    ALOG_SL_RFC5424,  /* <PRI>1 time host tag pid - - line */
    ALOG_SL_PRIORITY, /* <PRI>line */
    ALOG_SL_SHORT,    /* <level>line */
};

enum alog_target {
    ALOG_T_STDERR = 0,
    ALOG_T_STDOUT,
    ALOG_T_FILE,
    ALOG_T_UDP,
    ALOG_T_UNIX,
};

/* How lines leave a shard, decided once from the target and its fd. */
enum alog_io {
    ALOG_IO_WRITE = 0, /* write(2) of the batch (regular file, tty, ...) */
    ALOG_IO_PIPE,      /* write(2) of chunks of whole lines <= PIPE_BUF (atomic) */
    ALOG_IO_SEND,      /* send(MSG_DONTWAIT) of the batch (a stream socket) */
    ALOG_IO_DGRAM,     /* sendmmsg(MSG_DONTWAIT), one datagram per line */
};

/* One cached broken-down second (localtime_r takes glibc's lock: once a
 * second per shard, not per line). */
struct alog_tm {
    time_t sec;   /* with tm.tm_mday == 0: empty */
    struct tm tm;
    long gmtoff;  /* seconds east of UTC */
};

/* A worker's part of an instance. Written only by its worker, except the
 * counters, which other threads read. */
struct alog_shard {
    struct filter_defer defer; /* first: the defer callback finds the shard */
    const struct access_log_config *cfg;
    char *buf;                 /* cfg->buffer bytes */
    size_t len;
    uint32_t nlines;
    uint32_t ends[ALOG_BATCH_MAX]; /* end offset of each line in buf */
    struct alog_tm tm_start, tm_now;
    _Atomic uint64_t lines;
    _Atomic uint64_t dropped;
};

struct access_log_config {
    enum alog_format format;
    enum alog_syslog syslog;
    enum alog_target target;
    enum alog_io io;
    uint8_t facility;          /* 0..23 */
    uint8_t level;             /* 0..7 */
    uint32_t len;              /* longest line, syslog header included, newline not */
    uint32_t buffer;           /* per-worker buffer bytes */
    char *path;                /* file, unix: as configured (messages) */
    char *spec;                /* the target as configured (messages, README) */
    struct sockaddr_storage addr; /* udp, unix: destination of every datagram */
    socklen_t addrlen;
    int fd;
    bool own_fd;               /* close it in config_free */
    char tag[ALOG_TAG_MAX + 1];
    char host[65];             /* rfc3164 / rfc5424 HOSTNAME */
    uint32_t pid;
    _Atomic(struct alog_shard *) shards[ALOG_MAX_WORKERS];
};

/* config_parse / config_free of the ops table (access_log_config.c). Opens the
 * file or socket: a target that cannot be used is a config error. */
int alog_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen);
void alog_config_free(void *cfg);

/* Writes the whole record of `info` for cfg into out (cap bytes): the syslog
 * header, then the httplog or JSON line, without a newline, at most cfg->len
 * bytes (httplog is cut there as HAProxy cuts; JSON strings are cut so the
 * object stays whole). `now_us` is the time of logging (the syslog
 * timestamp), `tm_start`/`tm_now` the shard's caches. Returns the length.
 * Pure but for localtime_r once a second. (access_log_format.c) */
size_t alog_format_record(const struct access_log_config *cfg,
                          const struct filter_stream_info *info, uint64_t now_us,
                          struct alog_tm *tm_start, struct alog_tm *tm_now, char *out,
                          size_t cap);

/* The parts, for tests. Each writes at most cap bytes and returns the length
 * written (never more than cap; no NUL). */
size_t alog_format_httplog(const struct filter_stream_info *info, struct alog_tm *tm_start,
                           char *out, size_t cap);
size_t alog_format_json(const struct filter_stream_info *info, struct alog_tm *tm_start,
                        char *out, size_t cap);
size_t alog_format_syslog_header(const struct access_log_config *cfg, uint64_t now_us,
                                 struct alog_tm *tm_now, char *out, size_t cap);
/*
 * JSON string body of bytes s[0..n) (without quotes) into out, at most cap
 * bytes: `"` `\` and controls escaped (\n \r \t \b \f, else \u00XX), DEL and
 * U+2028/U+2029 as \u escapes, valid UTF-8 kept, every byte of an invalid
 * sequence as \ufffd. Stops before an escape or character that would not
 * fit; *consumed (when not NULL) says how many input bytes were written.
 */
size_t alog_json_escape(const char *s, size_t n, char *out, size_t cap, size_t *consumed);

/* Appends one record to a shard (its worker only), formatted in place at the
 * end of the batch; the batch is flushed first when it has less than
 * cfg->len + 1 bytes or no line slot left (the buffer is at least that big,
 * so a record always finds room). A record that cannot be formatted within
 * cfg->len (JSON whose fixed fields alone are too long) is dropped and
 * counted. Returns true when the record is in the batch. */
bool alog_shard_append(struct alog_shard *sh, const struct filter_stream_info *info,
                       uint64_t now_us);
/* Hands the batch to the target (nonblocking) and empties it; lines the
 * target did not take are counted as dropped. */
void alog_shard_flush(struct alog_shard *sh);
struct alog_shard *alog_shard_new(const struct access_log_config *cfg);
void alog_shard_free(struct alog_shard *sh);

#endif /* TERN_FILTERS_HTTP_ACCESS_LOG_H */
