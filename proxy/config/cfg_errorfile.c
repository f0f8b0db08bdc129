/*
 * cfg_errorfile.c: `errorfile <status> <file>`: loads and validates the file
 * once, at config load (HAProxy 2.6 meaning: a complete raw HTTP response
 * sent for tern's own replies with that status).
 *
 * Checks: the file exists, is a regular file, is readable, is at most
 * tune.bufsize bytes, and its head parses as an HTTP/1.x response with tern's
 * own strict response parser. Line ends may be bare LF (as hand-written
 * files often are): the head is rewritten with CRLF before it is parsed and
 * stored. The body is what follows the head: a Content-Length, when
 * present, must say exactly its length (tern adds one when absent, so a
 * kept-alive connection stays in sync); Transfer-Encoding is refused (the
 * file is sent as it is, never chunked).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/codec/h1.h"
#include "proxy/config/cfg_int.h"
#include "proxy/core/util.h"

#define EF_MAX_HDRS 101

int cfg_read_file(const char *path, uint32_t max, char **out, size_t *len, char *err,
                  size_t errlen)
{
    struct stat st;
    size_t got = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "'%s' is too large (%lld bytes; at most %u here)", path,
                 (long long)st.st_size, max);
        close(fd);
        return -1;
    }
    buf = tern_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot read '%s': %s", path, n < 0 ? strerror(errno)
                                                                      : "file shrank");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

/* Where the head ends (after its empty line, CRLF or bare LF), or 0. */
static size_t head_end(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != '\n')
            continue;
        if (i + 1 < n && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

int cfg_errorfile_load(const char *path, uint16_t status, uint32_t bufsize,
                       struct http_errorfile *out, char *err, size_t errlen)
{
    struct h1_header hdrs[EF_MAX_HDRS];
    struct h1_msg msg;
    char *file, *raw;
    size_t len, hend, o = 0, body_len;
    ssize_t r;

    if (cfg_read_file(path, bufsize, &file, &len, err, errlen) < 0)
        return -1;
    hend = head_end(file, len);
    if (!hend) {
        snprintf(err, errlen, "'%s' is not an HTTP response (no empty line ends its head)",
                 path);
        free(file);
        return -1;
    }
    /* the head with CRLF line ends, then the body as it is */
    body_len = len - hend;
    raw = tern_malloc(hend * 2 + body_len + 1);
    for (size_t i = 0; i < hend; i++) {
        if (file[i] == '\n' && (i == 0 || file[i - 1] != '\r'))
            raw[o++] = '\r';
        raw[o++] = file[i];
    }
    memcpy(raw + o, file + hend, body_len);
    raw[o + body_len] = 0;
    free(file);

    h1_msg_init(&msg);
    r = h1_parse_response(raw, o, &msg, hdrs, EF_MAX_HDRS, NULL);
    if (r <= 0 || (size_t)r != o) {
        snprintf(err, errlen, "'%s' is not a valid HTTP response head%s%s", path,
                 r < 0 ? ": " : "", r < 0 ? h1_err_name((int)r) : "");
        free(raw);
        return -1;
    }
    if (msg.flags & H1_F_TRANSFER_ENCODING) {
        snprintf(err, errlen, "'%s': Transfer-Encoding is not supported in an errorfile (give "
                              "the body as it is, with or without Content-Length)", path);
        free(raw);
        return -1;
    }
    if ((msg.flags & H1_F_CONTENT_LENGTH) && msg.content_length != body_len) {
        snprintf(err, errlen, "'%s': Content-Length says %llu but the body has %zu bytes", path,
                 (unsigned long long)msg.content_length, body_len);
        free(raw);
        return -1;
    }
    out->status = status;
    out->close = (msg.flags & H1_F_CONN_CLOSE) != 0;
    out->has_length = (msg.flags & H1_F_CONTENT_LENGTH) != 0;
    out->raw = raw;
    /* the stored head stops before its empty line: tern adds its own fields */
    out->head_len = (uint32_t)(o - 2);
    out->body_len = (uint32_t)body_len;
    memmove(raw + out->head_len, raw + o, body_len + 1);
    return 0;
}
