/* Tests filters/http/access_log/access_log_config.c: the arguments of
 * `filter access-log`, the targets (HAProxy's address spellings) and every
 * refusal with its message. */
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
#include <unistd.h>

#include <cmocka.h>

#include "filters/http/access_log/access_log.h"

static char dir[64];
static char err[512];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/alog_cfg_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Splits `line` at spaces and parses it; the config or NULL (err set). */
static struct access_log_config *parse(const char *line)
{
    static char buf[1024];
    char *argv[32];
    int argc = 0;
    void *cfg = NULL;

    snprintf(buf, sizeof(buf), "%s", line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        argv[argc++] = t;
    err[0] = 0;
    if (alog_config_parse(argc, argv, &cfg, err, sizeof(err)) < 0) {
        assert_null(cfg);
        assert_true(err[0] != 0);
        return NULL;
    }
    assert_non_null(cfg);
    return cfg;
}

static void refused(const char *line, const char *msg)
{
    struct access_log_config *c = parse(line);
    if (c) {
        alog_config_free(c);
        fail_msg("accepted: %s", line);
    }
    assert_string_equal(err, msg);
}

static void test_defaults(void **state)
{
    struct access_log_config *c = parse("");
    (void)state;
    assert_non_null(c);
    assert_int_equal(c->format, ALOG_FMT_HTTPLOG);
    assert_int_equal(c->target, ALOG_T_STDERR);
    assert_int_equal(c->syslog, ALOG_SL_RAW); /* a stream target: lines alone */
    assert_int_equal(c->facility, 16);        /* local0 */
    assert_int_equal(c->level, 6);            /* info */
    assert_string_equal(c->tag, "tern");
    assert_int_equal(c->pid, (uint32_t)getpid());
    assert_int_equal(c->buffer, ALOG_BUFFER_DEFAULT);
    assert_true(c->len + 1 <= c->buffer);
    assert_true(c->fd >= 0);
    alog_config_free(c);

    c = parse("format json target stdout facility daemon level notice tag edge-1 len 2048 "
              "buffer 1m");
    assert_non_null(c);
    assert_int_equal(c->format, ALOG_FMT_JSON);
    assert_int_equal(c->target, ALOG_T_STDOUT);
    assert_int_equal(c->facility, 3);
    assert_int_equal(c->level, 5);
    assert_string_equal(c->tag, "edge-1");
    assert_int_equal(c->buffer, 1u << 20);
    assert_int_equal(c->len, c->io == ALOG_IO_PIPE ? PIPE_BUF - 1 : 2048);
    alog_config_free(c);
}

static void test_udp_targets(void **state)
{
    static const struct {
        const char *spec;
        int family;
        uint16_t port;
    } ok[] = {
        {"udp@127.0.0.1:1514", AF_INET, 1514}, {"udp4@127.0.0.1", AF_INET, 514},
        {"ipv4@127.0.0.1:9", AF_INET, 9},      {"127.0.0.1:2000", AF_INET, 2000},
        {"127.0.0.1", AF_INET, 514},           {"[::1]:1514", AF_INET6, 1514},
        {"udp6@::1", AF_INET6, 514},           {"ipv6@[::1]:7", AF_INET6, 7},
    };
    char line[128];
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct access_log_config *c;
        snprintf(line, sizeof(line), "target %s", ok[i].spec);
        c = parse(line);
        if (!c)
            fail_msg("%s: %s", ok[i].spec, err);
        assert_int_equal(c->target, ALOG_T_UDP);
        assert_int_equal(c->io, ALOG_IO_DGRAM);
        assert_int_equal(c->syslog, ALOG_SL_RFC3164); /* syslog's default */
        assert_int_equal(c->len, ALOG_LEN_SYSLOG);
        if (ok[i].family)
            assert_int_equal(c->addr.ss_family, ok[i].family);
        assert_int_equal(ntohs(((struct sockaddr_in *)&c->addr)->sin_port), ok[i].port);
        alog_config_free(c);
    }
    /* the two-word spelling */
    {
        struct access_log_config *c = parse("target udp 127.0.0.1:1515 syslog-format rfc5424");
        assert_non_null(c);
        assert_int_equal(c->target, ALOG_T_UDP);
        assert_int_equal(c->syslog, ALOG_SL_RFC5424);
        alog_config_free(c);
    }
    /* HAProxy's `format <syslog format>` on the log line works too */
    {
        struct access_log_config *c = parse("format local target udp@127.0.0.1 format json");
        assert_non_null(c);
        assert_int_equal(c->syslog, ALOG_SL_LOCAL);
        assert_int_equal(c->format, ALOG_FMT_JSON);
        alog_config_free(c);
    }
}

static void test_unix_and_file_targets(void **state)
{
    char line[256], path[128];
    struct access_log_config *c;
    struct stat st;
    (void)state;

    /* a unix socket that is not there yet: accepted (a syslog daemon may
     * start later; its lines are counted as dropped until then) */
    snprintf(line, sizeof(line), "target %s/log", dir);
    c = parse(line);
    assert_non_null(c);
    assert_int_equal(c->target, ALOG_T_UNIX);
    assert_int_equal(c->io, ALOG_IO_DGRAM);
    assert_int_equal(((struct sockaddr_un *)&c->addr)->sun_family, AF_UNIX);
    alog_config_free(c);
    snprintf(line, sizeof(line), "target unix@%s/log syslog-format short", dir);
    c = parse(line);
    assert_non_null(c);
    assert_int_equal(c->syslog, ALOG_SL_SHORT);
    alog_config_free(c);

    /* a file is created, appended to, and written raw */
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(line, sizeof(line), "target file@%s", path);
    c = parse(line);
    assert_non_null(c);
    assert_int_equal(c->target, ALOG_T_FILE);
    assert_int_equal(c->io, ALOG_IO_WRITE);
    assert_int_equal(c->syslog, ALOG_SL_RAW);
    assert_int_equal(c->len, ALOG_LEN_STREAM);
    assert_int_equal(stat(path, &st), 0);
    assert_true(fcntl(c->fd, F_GETFL) & O_APPEND);
    assert_true(fcntl(c->fd, F_GETFL) & O_NONBLOCK);
    alog_config_free(c);
    snprintf(line, sizeof(line), "target file %s syslog-format rfc3164", path);
    c = parse(line);
    assert_non_null(c);
    assert_int_equal(c->syslog, ALOG_SL_RFC3164);
    alog_config_free(c);

}

static void test_fifo(void **state)
{
    char line[512], path[128];
    struct access_log_config *c;
    int rfd;
    (void)state;

    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(line, sizeof(line), "target file@%s", path);
    c = parse(line);
    assert_null(c);
    snprintf(line, sizeof(line), "target 'file@%s': FIFO '%s' has no reader", path, path);
    assert_string_equal(err, line);

    rfd = open(path, O_RDONLY | O_NONBLOCK);
    assert_true(rfd >= 0);
    snprintf(line, sizeof(line), "target file@%s len 8000", path);
    c = parse(line);
    assert_non_null(c);
    assert_int_equal(c->io, ALOG_IO_PIPE);
    assert_int_equal(c->len, PIPE_BUF - 1);
    alog_config_free(c);
    close(rfd);
}

static void test_refusals(void **state)
{
    char line[512], msg[512];
    (void)state;

    refused("colour blue", "unknown argument 'colour' (expected format, target, syslog-format, "
                           "facility, level, tag, len or buffer)");
    refused("format", "'format' needs a value");
    refused("format xml", "invalid format 'xml' (httplog or json; or a syslog format: rfc3164, "
                          "local, rfc5424, priority, short, raw)");
    refused("format json format httplog", "'format' given twice");
    refused("syslog-format rfc3164 format rfc5424",
            "'format rfc5424' and 'syslog-format' both set the syslog format");
    refused("syslog-format iso",
            "invalid syslog-format 'iso' (rfc3164, local, rfc5424, priority, short or raw)");
    refused("facility local8", "unknown facility 'local8' (kern, user, ..., local0-local7)");
    refused("level info2", "unknown level 'info2' (emerg, alert, crit, err, warning, notice, "
                           "info, debug)");
    refused("tag a:b", "invalid tag 'a:b' (1-32 letters, digits, '-', '_', '.', '/')");
    refused("tag 123456789012345678901234567890123",
            "invalid tag '123456789012345678901234567890123' (1-32 letters, digits, '-', '_', "
            "'.', '/')");
    refused("len 100", "invalid len '100' (1024-65535 bytes)");
    refused("len 70000", "invalid len '70000' (1024-65535 bytes)");
    refused("len -1", "invalid len '-1' (1024-65535 bytes)");
    refused("buffer 1000", "invalid buffer '1000' (1025 bytes to 64m; k and m suffixes)");
    refused("buffer 65m", "invalid buffer '65m' (1025 bytes to 64m; k and m suffixes)");
    refused("buffer 4k len 8192", "buffer 4096 is smaller than len 8192 plus a newline");
    refused("target", "'target' needs a value");
    refused("target file", "'target file' needs a path");
    refused("target udp", "'target udp' needs a host:port");
    refused("target tcp@127.0.0.1:514",
            "target 'tcp@127.0.0.1:514': unknown address type (stderr, stdout, file@<path>, "
            "udp@<host:port>, udp4@, udp6@, ipv4@, ipv6@, unix@<path>, /<path>)");
    refused("target udp@127.0.0.1:0", "target 'udp@127.0.0.1:0': invalid port '0' (1-65535)");
    refused("target udp@127.0.0.1:65536",
            "target 'udp@127.0.0.1:65536': invalid port '65536' (1-65535)");
    refused("target udp@127.0.0.1:", "target 'udp@127.0.0.1:': invalid port '' (1-65535)");
    refused("target udp@:514", "target 'udp@:514': missing or too long host");
    refused("target [::1", "target '[::1': invalid IPv6 address");
    refused("target [::1]x", "target '[::1]x': expected [address]:port");
    refused("target udp4@::1", "target 'udp4@::1': invalid IPv4 address '::1': "
                               "Address family for hostname not supported");
    refused("target udp@localhost:514",
            "target 'udp@localhost:514': invalid address 'localhost' (tern does not resolve "
            "names)");
    refused("target 300.1.2.3", "target '300.1.2.3': invalid address '300.1.2.3' (tern does "
                                "not resolve names)");
    refused("target unix@relative/log",
            "target 'unix@relative/log': a unix socket path must be absolute");
    refused("target file@", "target 'file@': missing file path");
    snprintf(line, sizeof(line), "target file@%s/no/such/dir/log", dir);
    snprintf(msg, sizeof(msg), "target 'file@%s/no/such/dir/log': cannot open "
                               "'%s/no/such/dir/log': No such file or directory", dir, dir);
    refused(line, msg);
    /* a unix path that exists and is not a socket */
    snprintf(line, sizeof(line), "target %s", dir);
    snprintf(msg, sizeof(msg), "target '%s': '%s' exists and is not a socket", dir, dir);
    refused(line, msg);
    {
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = 0;
        snprintf(line, sizeof(line), "target unix@%s", longp);
        snprintf(msg, sizeof(msg), "target 'unix@%s': path longer than 107 bytes", longp);
        refused(line, msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_udp_targets),
        cmocka_unit_test_setup_teardown(test_unix_and_file_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
