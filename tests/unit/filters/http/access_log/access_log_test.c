/* Tests filters/http/access_log/access_log.c: per-worker batches, one flush
 * per loop turn (filter_defer), and the targets that never block: a file,
 * UDP, a unix datagram socket nobody reads, a pipe nobody reads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "filters/http/access_log/access_log.h"
#include "tests/unit/filters/http/access_log/fake_core.h"

static char dir[64];
static struct filter_stream_info info;

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/alog_io_XXXXXX");
    assert_non_null(mkdtemp(dir));
    memset(&info, 0, sizeof(info));
    info.listener = "fe";
    info.reason_name = "none";
    info.status = 200;
    info.start_us = 1795970602868123ull;
    info.t_request = info.t_queue = info.t_connect = info.t_response = -1;
    strcpy(info.termination, "----");
    fake_ndeferred = 0;
    fake_defer_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct access_log_config *parse(const char *fmt, ...)
{
    static char buf[512];
    char *argv[32], err[256] = "";
    int argc = 0;
    void *cfg = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    if (alog_config_parse(argc, argv, &cfg, err, sizeof(err)) < 0)
        fail_msg("refused: %s", err);
    return cfg;
}

/* One stream ends on worker w: the hook, as the core calls it. */
static void stream_done(struct access_log_config *c, uint32_t w, uint64_t bytes)
{
    struct filter_stream fs = {.cfg = c, .now_us = 1772694489123456ull, .worker = w};
    info.bytes_out = bytes;
    access_log_filter.stream_done(&fs, NULL, &info);
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static struct access_log_stats stats(const struct access_log_config *c)
{
    struct access_log_stats st;
    access_log_stats(c, &st);
    return st;
}

/* Lines wait in their worker's batch until the end of the loop turn; one
 * deferred flush per worker however many streams ended. */
static void test_batched_per_worker(void **state)
{
    static char buf[1 << 16];
    char path[128];
    struct access_log_config *c;
    struct filter_metric m[4];
    (void)state;

    snprintf(path, sizeof(path), "%s/a.log", dir);
    c = parse("target file@%s", path);
    fake_nworkers = 2;
    for (int i = 0; i < 5; i++)
        stream_done(c, (uint32_t)i % 2, 100 + (uint64_t)i);
    assert_int_equal(fake_defer_calls, 5);
    assert_int_equal(fake_ndeferred, 2); /* one per worker's shard */
    assert_non_null(atomic_load(&c->shards[0]));
    assert_non_null(atomic_load(&c->shards[1]));
    assert_ptr_not_equal(atomic_load(&c->shards[0]), atomic_load(&c->shards[1]));
    assert_int_equal(slurp(path, buf, sizeof(buf)), 0); /* nothing written yet */
    assert_int_equal(stats(c).lines, 0);

    fake_run_deferred();
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), 5);
    /* worker 0's three lines, then worker 1's two (the order of the flushes) */
    assert_non_null(strstr(buf, " 200 100 - - ---- "));
    assert_non_null(strstr(buf, " 200 104 - - ---- "));
    assert_true(strstr(buf, " 200 102 ") < strstr(buf, " 200 101 "));
    assert_memory_equal(buf, "- [29/Nov/2026:", 15);
    assert_int_equal(stats(c).lines, 5);
    assert_int_equal(stats(c).dropped, 0);

    /* the admin page's view */
    assert_int_equal(access_log_filter.metrics(c, m, 4), 2);
    assert_string_equal(m[0].name, "tern_access_log_lines_total");
    assert_int_equal(m[0].value, 5);
    assert_string_equal(m[1].name, "tern_access_log_dropped_total");
    assert_int_equal(m[1].value, 0);
    assert_int_equal(access_log_filter.metrics(c, m, 1), 0);

    /* a line left in a batch is written when the config is freed */
    stream_done(c, 1, 777);
    alog_config_free(c);
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), 6);
    assert_non_null(strstr(buf, " 200 777 "));
    fake_ndeferred = 0;
    fake_nworkers = 1;
}

/* A full batch (bytes or lines) leaves at once, without waiting for the turn. */
static void test_early_flush(void **state)
{
    static char buf[1 << 20];
    char path[128];
    struct access_log_config *c;
    (void)state;

    snprintf(path, sizeof(path), "%s/b.log", dir);
    c = parse("target file@%s buffer 1025", path);
    assert_int_equal(c->len, 1024); /* len follows a small buffer */
    for (int i = 0; i < 3; i++)
        stream_done(c, 0, 1);
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), 2); /* the third waits for the turn */
    fake_run_deferred();
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), 3);
    alog_config_free(c);

    snprintf(path, sizeof(path), "%s/c.log", dir);
    c = parse("target file@%s", path);
    for (int i = 0; i < ALOG_BATCH_MAX + 10; i++)
        stream_done(c, 0, 1);
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), ALOG_BATCH_MAX);
    fake_run_deferred();
    slurp(path, buf, sizeof(buf));
    assert_int_equal(count_lines(buf), ALOG_BATCH_MAX + 10);
    assert_int_equal(stats(c).lines, ALOG_BATCH_MAX + 10);
    alog_config_free(c);
}

static int udp_listener(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Syslog over UDP: one datagram per line, the RFC 3164 header, no newline. */
static void test_udp(void **state)
{
    char buf[2048];
    uint16_t port;
    int fd = udp_listener(&port), got = 0;
    struct access_log_config *c;
    (void)state;

    setenv("TZ", "UTC0", 1);
    tzset();
    c = parse("target udp@127.0.0.1:%u tag edge facility local3 level notice", port);
    for (int i = 0; i < 7; i++)
        stream_done(c, 0, 1000 + (uint64_t)i);
    fake_run_deferred();
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            break;
        buf[n] = 0;
        /* local3 = 19, notice = 5: PRI 157 */
        assert_memory_equal(buf, "<157>Mar  5 07:08:09 ", 21);
        assert_non_null(strstr(buf, " edge["));
        assert_non_null(strstr(buf, "]: - [29/Nov/2026:16:43:22.868] fe <NOSRV>/<NOSRV> "));
        assert_true(buf[n - 1] != '\n');
        assert_non_null(strstr(buf, "\"<BADREQ>\" reason=none"));
        got++;
    }
    assert_int_equal(got, 7);
    assert_int_equal(stats(c).lines, 7);
    alog_config_free(c);
    close(fd);
}

/* A unix datagram socket nobody reads: the kernel's queue fills, the rest is
 * dropped and counted, and no call waits. */
static void test_unix_full(void **state)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char buf[4096];
    struct access_log_config *c;
    struct timespec t0, t1;
    int fd, queued = 0;
    const int total = 5000;
    struct access_log_stats st;
    (void)state;

    snprintf(a.sun_path, sizeof(a.sun_path), "%s/log", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    c = parse("target %s format json", a.sun_path);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < total; i++) {
        stream_done(c, 0, (uint64_t)i);
        if (i % 50 == 49)
            fake_run_deferred();
    }
    fake_run_deferred();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st = stats(c);
    assert_int_equal(st.lines + st.dropped, total);
    assert_true(st.dropped > 0);
    assert_true(st.lines > 0);
    /* nothing waited (5000 records, a generous bound for a slow machine) */
    assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 2000000000L);
    /* what was counted as taken is what the socket holds, each one whole */
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            break;
        buf[n] = 0;
        assert_memory_equal(buf, "<134>", 5);
        assert_non_null(strstr(buf, ": {\"accept_date\":"));
        assert_int_equal(buf[n - 1], '}');
        queued++;
    }
    assert_int_equal(queued, st.lines);
    alog_config_free(c);
    close(fd);
}

/* A unix socket that is not there: every line dropped, counted. */
static void test_unix_absent(void **state)
{
    struct access_log_config *c;
    (void)state;

    c = parse("target unix@%s/nobody", dir);
    for (int i = 0; i < 10; i++)
        stream_done(c, 0, 1);
    fake_run_deferred();
    assert_int_equal(stats(c).lines, 0);
    assert_int_equal(stats(c).dropped, 10);
    alog_config_free(c);
}

/* A pipe nobody reads (stderr into a stuck reader): writes of whole lines
 * only; the lines that do not fit are dropped, none is cut. */
static void test_pipe_full(void **state)
{
    static char buf[1 << 20];
    struct access_log_config *c;
    struct access_log_stats st;
    int p[2], total = 0;
    size_t n = 0;
    (void)state;

    assert_int_equal(pipe(p), 0);
    c = parse("target file@/proc/self/fd/%d format json", p[1]);
    assert_int_equal(c->io, ALOG_IO_PIPE);
    assert_true(c->len < PIPE_BUF);
    do {
        for (int i = 0; i < 100; i++, total++)
            stream_done(c, 0, (uint64_t)total);
        fake_run_deferred();
    } while (stats(c).dropped == 0 && total < 100000);
    st = stats(c);
    assert_true(st.dropped > 0);
    assert_int_equal(st.lines + st.dropped, total);
    assert_true(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    for (;;) {
        ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    assert_int_equal(count_lines(buf), st.lines);
    /* every line whole */
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_memory_equal(line, "{\"accept_date\":", 15);
        assert_int_equal(nl[-1], '}');
        line = nl + 1;
    }
    alog_config_free(c);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batched_per_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipe_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
