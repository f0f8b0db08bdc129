/*
 * access_log_config.c: `filter access-log ...` arguments -> struct
 * access_log_config (main thread, off the data path).
 *
 * The target is opened here, once, so that a target tern cannot use is a
 * configuration error with its line number, and so that the workers find a
 * descriptor that never blocks them:
 *   - a file is opened O_APPEND | O_NONBLOCK (a FIFO needs a reader now);
 *   - stderr/stdout that are a pipe, FIFO or terminal are reopened through
 *     /proc/self/fd/N, which gives tern a file description of its own, so
 *     O_NONBLOCK on it does not change the one shared with the parent (and
 *     the core's own log lines); a socket is written with MSG_DONTWAIT; a
 *     regular file as it is (its writes do not wait on a reader);
 *   - syslog over UDP or a unix datagram socket: one unconnected nonblocking
 *     socket, each datagram addressed (a syslog daemon that restarts and
 *     re-creates /dev/log is found again; one that is down costs drops, not
 *     errors at start-up).
 * Lines written to a pipe are kept within PIPE_BUF so that each write of
 * whole lines is atomic (several workers share the pipe).
 *
 * Messages are written for the user; the core prefixes FILE:LINE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "filters/filter_err.h"
#include "filters/http/access_log/access_log.h"

/* HAProxy's facility names, in code order (RFC 5424 6.2.1). */
static const char *const facilities[24] = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

static const char *const levels[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

static const struct {
    const char *name;
    enum alog_syslog v;
} syslog_formats[] = {
    {"rfc3164", ALOG_SL_RFC3164}, {"local", ALOG_SL_LOCAL}, {"rfc5424", ALOG_SL_RFC5424},
    {"priority", ALOG_SL_PRIORITY}, {"short", ALOG_SL_SHORT}, {"raw", ALOG_SL_RAW},
};

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int syslog_format(const char *s, enum alog_syslog *out)
{
    for (size_t i = 0; i < sizeof(syslog_formats) / sizeof(syslog_formats[0]); i++) {
        if (strcmp(syslog_formats[i].name, s) == 0) {
            *out = syslog_formats[i].v;
            return 0;
        }
    }
    return -1;
}

/* A size: decimal digits, optionally k or m (1024-based), as HAProxy's
 * size arguments. */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0, mult = 1;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    if (*p == 'k' || *p == 'K')
        mult = 1024, p++;
    else if (*p == 'm' || *p == 'M')
        mult = 1024 * 1024, p++;
    if (*p || v > max / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* ---- targets ---------------------------------------------------------------- */

/* ip[:port], [v6]:port or a bare IPv6 address -> c->addr (UDP). `family`:
 * AF_UNSPEC, AF_INET or AF_INET6 (udp4@/ipv4@, udp6@/ipv6@). Addresses only:
 * tern resolves no names (as for servers). */
static int resolve_udp(struct access_log_config *c, const char *spec, int family, char *err,
                       size_t errlen)
{
    char host[256], port[8] = "514";
    const char *colon;
    struct addrinfo hints, *res = NULL;
    int r;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || (size_t)(close - spec - 1) >= sizeof(host))
            return filter_err(err, errlen, "target '%s': invalid IPv6 address", c->spec);
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = 0;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon)
            return filter_err(err, errlen, "target '%s': expected [address]:port", c->spec);
    } else {
        colon = strchr(spec, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* several colons: an IPv6 address without a port */
        size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
        if (hl == 0 || hl >= sizeof(host))
            return filter_err(err, errlen, "target '%s': missing or too long host", c->spec);
        memcpy(host, spec, hl);
        host[hl] = 0;
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || colon[1] < '0' || colon[1] > '9' || p < 1 || p > 65535)
            return filter_err(err, errlen, "target '%s': invalid port '%s' (1-65535)", c->spec,
                        colon + 1);
        snprintf(port, sizeof(port), "%ld", p);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    r = getaddrinfo(host, port, &hints, &res);
    if (r == EAI_NONAME)
        return filter_err(err, errlen, "target '%s': invalid address '%s' (tern does not resolve "
                                 "names)", c->spec, host);
    if (r != 0 || !res)
        return filter_err(err, errlen, "target '%s': invalid %saddress '%s': %s", c->spec,
                    family == AF_INET ? "IPv4 " : family == AF_INET6 ? "IPv6 " : "", host,
                    gai_strerror(r));
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    c->fd = socket(c->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return filter_err(err, errlen, "target '%s': socket: %s", c->spec, strerror(errno));
    c->own_fd = true;
    c->io = ALOG_IO_DGRAM;
    return 0;
}

static int open_unix(struct access_log_config *c, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&c->addr;
    struct stat st;

    if (path[0] != '/')
        return filter_err(err, errlen, "target '%s': a unix socket path must be absolute", c->spec);
    if (strlen(path) >= sizeof(sun->sun_path))
        return filter_err(err, errlen, "target '%s': path longer than %zu bytes", c->spec,
                    sizeof(sun->sun_path) - 1);
    if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        return filter_err(err, errlen, "target '%s': '%s' exists and is not a socket", c->spec, path);
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, strlen(path));
    c->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    c->path = strdup(path);
    c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return filter_err(err, errlen, "target '%s': socket: %s", c->spec, strerror(errno));
    c->own_fd = true;
    c->io = ALOG_IO_DGRAM;
    return 0;
}

/* stderr / stdout: see the top of this file. */
static int open_std(struct access_log_config *c, int fd, char *err, size_t errlen)
{
    struct stat st;
    char proc[32];
    int nfd;

    if (fstat(fd, &st) < 0)
        return filter_err(err, errlen, "target '%s': not open (%s)", c->spec, strerror(errno));
    c->fd = fd;
    c->own_fd = false;
    c->io = ALOG_IO_WRITE;
    if (S_ISSOCK(st.st_mode)) {
        c->io = ALOG_IO_SEND;
        return 0;
    }
    if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
        return 0;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    nfd = open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (nfd >= 0) {
        c->fd = nfd;
        c->own_fd = true;
    } else {
        /* no /proc: the shared description, made nonblocking (it then is for
         * the core's line too, which drops rather than waits either way) */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    if (S_ISFIFO(st.st_mode))
        c->io = ALOG_IO_PIPE;
    return 0;
}

static int open_file(struct access_log_config *c, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (!path[0])
        return filter_err(err, errlen, "target '%s': missing file path", c->spec);
    c->path = strdup(path);
#ifdef TERN_FUZZ
    path = "/dev/null"; /* a fuzzed configuration creates no file where it runs */
#endif
    c->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0640);
    if (c->fd < 0) {
        if (errno == ENXIO)
            return filter_err(err, errlen, "target '%s': FIFO '%s' has no reader", c->spec, path);
        return filter_err(err, errlen, "target '%s': cannot open '%s': %s", c->spec, path,
                    strerror(errno));
    }
    c->own_fd = true;
    c->io = ALOG_IO_WRITE;
    if (fstat(c->fd, &st) == 0 && S_ISFIFO(st.st_mode))
        c->io = ALOG_IO_PIPE;
    return 0;
}

/*
 * The target, as HAProxy's `log` spells addresses: stderr, stdout,
 * udp@/udp4@/udp6@/ipv4@/ipv6@<host>[:port], <ip>[:port], unix@<path>,
 * /<path> (a unix datagram socket); and file@<path>, tern's own. `kind` and
 * `arg` are the two-word spelling (`file <path>`, `udp <host:port>`,
 * `unix <path>`), NULL otherwise.
 */
static int open_target(struct access_log_config *c, const char *kind, const char *arg,
                       char *err, size_t errlen)
{
    const char *s = c->spec;
    static const struct {
        const char *prefix;
        int family;
    } udp[] = {{"udp@", AF_UNSPEC}, {"udp4@", AF_INET}, {"ipv4@", AF_INET},
               {"udp6@", AF_INET6}, {"ipv6@", AF_INET6}};

    if (kind) {
        if (strcmp(kind, "file") == 0) {
            c->target = ALOG_T_FILE;
            return open_file(c, arg, err, errlen);
        }
        if (strcmp(kind, "udp") == 0) {
            c->target = ALOG_T_UDP;
            return resolve_udp(c, arg, AF_UNSPEC, err, errlen);
        }
        c->target = ALOG_T_UNIX;
        return open_unix(c, arg, err, errlen);
    }
    if (strcmp(s, "stderr") == 0) {
        c->target = ALOG_T_STDERR;
        return open_std(c, STDERR_FILENO, err, errlen);
    }
    if (strcmp(s, "stdout") == 0) {
        c->target = ALOG_T_STDOUT;
        return open_std(c, STDOUT_FILENO, err, errlen);
    }
    if (strncmp(s, "file@", 5) == 0) {
        c->target = ALOG_T_FILE;
        return open_file(c, s + 5, err, errlen);
    }
    if (strncmp(s, "unix@", 5) == 0) {
        c->target = ALOG_T_UNIX;
        return open_unix(c, s + 5, err, errlen);
    }
    if (s[0] == '/') {
        c->target = ALOG_T_UNIX;
        return open_unix(c, s, err, errlen);
    }
    for (size_t i = 0; i < sizeof(udp) / sizeof(udp[0]); i++) {
        size_t pl = strlen(udp[i].prefix);
        if (strncmp(s, udp[i].prefix, pl) == 0) {
            c->target = ALOG_T_UDP;
            return resolve_udp(c, s + pl, udp[i].family, err, errlen);
        }
    }
    if (strchr(s, '@'))
        return filter_err(err, errlen,
                    "target '%s': unknown address type (stderr, stdout, file@<path>, "
                    "udp@<host:port>, udp4@, udp6@, ipv4@, ipv6@, unix@<path>, /<path>)",
                    s);
    c->target = ALOG_T_UDP;
    return resolve_udp(c, s, AF_UNSPEC, err, errlen);
}

/* RFC 3164's TAG: up to 32 alphanumerics; HAProxy's tags also use - _ . / */
static bool valid_tag(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > ALOG_TAG_MAX)
        return false;
    for (; *t; t++) {
        unsigned char ch = (unsigned char)*t;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              strchr("-_./", ch)))
            return false;
    }
    return true;
}

/* ---- the line ----------------------------------------------------------------- */

int alog_config_parse(int argc, char **argv, void **cfg, char *err, size_t errlen)
{
    struct access_log_config *c = calloc(1, sizeof(*c));
    const char *target = "stderr", *kind = NULL, *karg = NULL;
    bool seen_format = false, seen_syslog = false, seen_target = false, seen_facility = false,
         seen_level = false, seen_tag = false, seen_len = false, seen_buffer = false;
    uint64_t len = 0, buffer = ALOG_BUFFER_DEFAULT;
    char host[256];

    if (!c)
        return filter_err(err, errlen, "out of memory");
    c->fd = -1;
    c->facility = 16; /* local0 */
    c->level = 6;     /* info */
    strcpy(c->tag, "tern");

    for (int i = 0; i < argc; i++) {
        const char *kw = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool *seen;
        int k;

        if (strcmp(kw, "format") == 0)
            seen = &seen_format;
        else if (strcmp(kw, "syslog-format") == 0)
            seen = &seen_syslog;
        else if (strcmp(kw, "target") == 0)
            seen = &seen_target;
        else if (strcmp(kw, "facility") == 0)
            seen = &seen_facility;
        else if (strcmp(kw, "level") == 0)
            seen = &seen_level;
        else if (strcmp(kw, "tag") == 0)
            seen = &seen_tag;
        else if (strcmp(kw, "len") == 0)
            seen = &seen_len;
        else if (strcmp(kw, "buffer") == 0)
            seen = &seen_buffer;
        else {
            filter_err(err, errlen,
                 "unknown argument '%s' (expected format, target, syslog-format, facility, "
                 "level, tag, len or buffer)",
                 kw);
            goto bad;
        }
        if (*seen) {
            filter_err(err, errlen, "'%s' given twice", kw);
            goto bad;
        }
        *seen = true;
        if (!v) {
            filter_err(err, errlen, "'%s' needs a value", kw);
            goto bad;
        }
        i++;
        if (seen == &seen_format) {
            /* httplog | json; HAProxy's log-line `format <syslog format>` too */
            if (strcmp(v, "httplog") == 0) {
                c->format = ALOG_FMT_HTTPLOG;
            } else if (strcmp(v, "json") == 0) {
                c->format = ALOG_FMT_JSON;
            } else if (syslog_format(v, &c->syslog) == 0) {
                if (seen_syslog) {
                    filter_err(err, errlen, "'format %s' and 'syslog-format' both set the syslog "
                                      "format", v);
                    goto bad;
                }
                seen_format = false; /* the line format may still follow */
                seen_syslog = true;
            } else {
                filter_err(err, errlen,
                     "invalid format '%s' (httplog or json; or a syslog format: rfc3164, "
                     "local, rfc5424, priority, short, raw)",
                     v);
                goto bad;
            }
        } else if (seen == &seen_syslog) {
            if (syslog_format(v, &c->syslog) < 0) {
                filter_err(err, errlen,
                     "invalid syslog-format '%s' (rfc3164, local, rfc5424, priority, short "
                     "or raw)",
                     v);
                goto bad;
            }
        } else if (seen == &seen_target) {
            if (strcmp(v, "file") == 0 || strcmp(v, "udp") == 0 || strcmp(v, "unix") == 0) {
                if (i + 1 >= argc) {
                    filter_err(err, errlen, "'target %s' needs a %s", v,
                         v[0] == 'u' && v[1] == 'd' ? "host:port" : "path");
                    goto bad;
                }
                kind = v;
                karg = argv[++i];
            }
            target = v;
        } else if (seen == &seen_facility) {
            if ((k = lookup(facilities, 24, v)) < 0) {
                filter_err(err, errlen, "unknown facility '%s' (kern, user, ..., local0-local7)", v);
                goto bad;
            }
            c->facility = (uint8_t)k;
        } else if (seen == &seen_level) {
            if ((k = lookup(levels, 8, v)) < 0) {
                filter_err(err, errlen,
                     "unknown level '%s' (emerg, alert, crit, err, warning, notice, info, "
                     "debug)",
                     v);
                goto bad;
            }
            c->level = (uint8_t)k;
        } else if (seen == &seen_tag) {
            if (!valid_tag(v)) {
                filter_err(err, errlen,
                     "invalid tag '%s' (1-%d letters, digits, '-', '_', '.', '/')", v,
                     ALOG_TAG_MAX);
                goto bad;
            }
            strcpy(c->tag, v);
        } else if (seen == &seen_len) {
            if (parse_size(v, ALOG_LEN_MAX, &len) < 0 || len < ALOG_LEN_MIN ||
                len > ALOG_LEN_MAX) {
                filter_err(err, errlen, "invalid len '%s' (%d-%d bytes)", v, ALOG_LEN_MIN,
                     ALOG_LEN_MAX);
                goto bad;
            }
        } else if (seen == &seen_buffer) {
            if (parse_size(v, ALOG_BUFFER_MAX, &buffer) < 0 || buffer < ALOG_LEN_MIN + 1) {
                filter_err(err, errlen, "invalid buffer '%s' (%d bytes to 64m; k and m suffixes)", v,
                     ALOG_LEN_MIN + 1);
                goto bad;
            }
        }
    }

    c->spec = strdup(kind ? karg : target);
    if (!c->spec) {
        filter_err(err, errlen, "out of memory");
        goto bad;
    }
    if (open_target(c, kind, karg, err, errlen) < 0)
        goto bad;
    if (!seen_syslog)
        c->syslog = c->io == ALOG_IO_DGRAM ? ALOG_SL_RFC3164 : ALOG_SL_RAW;
    if (!seen_len)
        len = c->io == ALOG_IO_DGRAM ? ALOG_LEN_SYSLOG : ALOG_LEN_STREAM;
    if (len + 1 > buffer) {
        if (seen_len && seen_buffer) {
            filter_err(err, errlen, "buffer %llu is smaller than len %llu plus a newline",
                 (unsigned long long)buffer, (unsigned long long)len);
            goto bad;
        }
        if (seen_len)
            buffer = len + 1;
        else
            len = buffer - 1;
    }
    if (c->io == ALOG_IO_PIPE && len > PIPE_BUF - 1)
        len = PIPE_BUF - 1; /* one write of whole lines stays atomic */
    c->len = (uint32_t)len;
    c->buffer = (uint32_t)buffer;

    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        strcpy(host, "-");
    host[sizeof(host) - 1] = 0;
    for (char *p = host; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7F)
            *p = '-';
    host[sizeof(c->host) - 1] = 0;
    memcpy(c->host, host, strlen(host) + 1);
    c->pid = (uint32_t)getpid();
    *cfg = c;
    return 0;

bad:
    alog_config_free(c);
    return -1;
}

void alog_config_free(void *cfg)
{
    struct access_log_config *c = cfg;

    if (!c)
        return;
    for (uint32_t w = 0; w < ALOG_MAX_WORKERS; w++) {
        struct alog_shard *sh = atomic_load_explicit(&c->shards[w], memory_order_acquire);
        if (sh) {
            alog_shard_flush(sh); /* the workers are gone: lines appended last */
            alog_shard_free(sh);
        }
    }
    if (c->own_fd && c->fd >= 0)
        close(c->fd);
    free(c->path);
    free(c->spec);
    free(c);
}
