/*
 * prometheus_test.c: proxy/admin/prometheus.c. The page is parsed back line
 * by line with the grammar of the text exposition format 0.0.4 (HELP/TYPE
 * before samples, families contiguous and unique, `name{labels} value`,
 * label-value escapes) and its numbers are checked against the per-worker
 * counters of test_snapshot.c, summed across the two workers.
 */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "proxy/admin/prometheus.h"
#include "tests/unit/proxy/admin/test_snapshot.h"

#define MAX_SAMPLES 512
#define MAX_FAMILIES 128

struct sample {
    char name[96];
    char labels[256]; /* unescaped, "k=v|k=v" in page order */
    double value;
};

struct page {
    struct sample samples[MAX_SAMPLES];
    int nsamples;
    char families[MAX_FAMILIES][96];
    char types[MAX_FAMILIES][16];
    int nfamilies;
};

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

/* Parses a metric or label name at *p; returns its length (0: none). */
static size_t parse_name(const char *p, bool label)
{
    size_t n = 0;

    while (name_char(p[n], n == 0) && !(label && p[n] == ':'))
        n++;
    return n;
}

static int find_family(const struct page *pg, const char *name)
{
    for (int i = 0; i < pg->nfamilies; i++)
        if (strcmp(pg->families[i], name) == 0)
            return i;
    return -1;
}

/* Parses one sample line into s; fails the test on any grammar error. */
static void parse_sample(const char *line, struct sample *s)
{
    const char *p = line;
    size_t n = parse_name(p, false);
    size_t lo = 0;
    char *end;

    assert_true(n > 0 && n < sizeof(s->name));
    memcpy(s->name, p, n);
    s->name[n] = '\0';
    p += n;
    s->labels[0] = '\0';
    if (*p == '{') {
        p++;
        while (*p != '}') {
            n = parse_name(p, true);
            if (n == 0)
                fail_msg("bad label name in: %s", line);
            if (lo)
                s->labels[lo++] = '|';
            memcpy(s->labels + lo, p, n);
            lo += n;
            s->labels[lo++] = '=';
            p += n;
            if (p[0] != '=' || p[1] != '"')
                fail_msg("expected =\" in: %s", line);
            p += 2;
            while (*p != '"') {
                char c = *p++;
                if (c == '\0' || c == '\n')
                    fail_msg("unterminated label value in: %s", line);
                if (c == '\\') {
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        fail_msg("bad escape \\%c in: %s", c, line);
                }
                assert_true(lo + 2 < sizeof(s->labels));
                s->labels[lo++] = c;
            }
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                fail_msg("expected , or } in: %s", line);
        }
        p++;
        s->labels[lo] = '\0';
    }
    if (*p != ' ')
        fail_msg("expected one space before the value in: %s", line);
    p++;
    s->value = strtod(p, &end);
    if (end == p || *end != '\0')
        fail_msg("bad value in: %s", line);
}

static void parse_page(const char *text, size_t len, struct page *pg)
{
    char *copy = malloc(len + 1);
    char *line, *save = NULL;
    int current = -1;    /* family whose TYPE line was seen last */
    bool help_seen = false;
    char help_name[96] = "";

    memcpy(copy, text, len);
    copy[len] = '\0';
    assert_true(len > 0 && copy[len - 1] == '\n'); /* the last line ends too */
    memset(pg, 0, sizeof(*pg));
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0) {
            size_t n = parse_name(line + 7, false);
            assert_true(n > 0 && line[7 + n] == ' ' && line[8 + n] != '\0');
            memcpy(help_name, line + 7, n);
            help_name[n] = '\0';
            help_seen = true;
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t n = parse_name(line + 7, false);
            char name[96];
            const char *type = line + 8 + n;
            assert_true(n > 0 && line[7 + n] == ' ');
            memcpy(name, line + 7, n);
            name[n] = '\0';
            assert_true(help_seen);
            assert_string_equal(name, help_name); /* HELP then TYPE, same family */
            if (find_family(pg, name) >= 0)
                fail_msg("family %s declared twice", name);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
            if (strcmp(type, "counter") == 0)
                assert_string_equal(name + strlen(name) - 6, "_total");
            else
                assert_true(strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0);
            assert_true(pg->nfamilies < MAX_FAMILIES);
            current = pg->nfamilies++;
            strcpy(pg->families[current], name);
            strcpy(pg->types[current], type);
            help_seen = false;
        } else if (line[0] == '#') {
            fail_msg("unexpected comment: %s", line);
        } else {
            struct sample *s;
            assert_true(pg->nsamples < MAX_SAMPLES);
            s = &pg->samples[pg->nsamples++];
            parse_sample(line, s);
            /* a sample belongs to the family declared just before it */
            if (current < 0 || strcmp(s->name, pg->families[current]) != 0)
                fail_msg("sample outside its family: %s", line);
            if (strcmp(pg->types[current], "counter") == 0)
                assert_true(s->value >= 0);
        }
    }
    free(copy);
}

/* The value of name{labels}; fails when absent or present twice. */
static double get(const struct page *pg, const char *name, const char *labels)
{
    int found = -1;

    for (int i = 0; i < pg->nsamples; i++) {
        if (strcmp(pg->samples[i].name, name) == 0 && strcmp(pg->samples[i].labels, labels) == 0) {
            if (found >= 0)
                fail_msg("duplicate sample %s{%s}", name, labels);
            found = i;
        }
    }
    if (found < 0)
        fail_msg("missing sample %s{%s}", name, labels);
    return pg->samples[found].value;
}

static struct page pg; /* large: not on the stack */

static void render(struct snapshot *snap, const struct prometheus_process *proc)
{
    struct evbuffer *out = evbuffer_new();
    size_t len;
    const char *text;

    prometheus_render(out, snap, proc);
    len = evbuffer_get_length(out);
    text = (const char *)evbuffer_pullup(out, -1);
    parse_page(text, len, &pg);
    evbuffer_free(out);
}

static const struct prometheus_process proc = {
    .uptime_seconds = 12.5,
    .start_time_seconds = 1700000000,
    .workers = 2,
    .cur_conns = 3,
    .conns_total = 40,
    .accept_paused = 1,
    .log_dropped = 2,
    .queue_full = 0,
};

#define FE "proxy=" TS_FE_NAME
#define BE "proxy=" TS_BE_NAME

static void test_frontend_sums(void **state)
{
    struct snapshot *snap = test_snapshot_new();

    render(snap, &proc);
    assert_true(get(&pg, "tern_frontend_connections_total", FE) == 7);
    assert_true(get(&pg, "tern_frontend_current_connections", FE) == 1); /* 2 + (-1) */
    assert_true(get(&pg, "tern_frontend_bytes_in_total", FE) == 1024);
    assert_true(get(&pg, "tern_frontend_bytes_out_total", FE) == 5);
    assert_true(get(&pg, "tern_frontend_denied_connections_total", FE) == 1);
    assert_true(get(&pg, "tern_frontend_connections_total", "proxy=fe2") == 0);
    test_snapshot_free(snap);
}

static void test_backend_and_servers(void **state)
{
    struct snapshot *snap = test_snapshot_new();

    render(snap, &proc);
    assert_true(get(&pg, "tern_backend_connections_total", BE) == 30);
    assert_true(get(&pg, "tern_backend_connect_errors_total", BE) == 3);
    assert_true(get(&pg, "tern_backend_retries_total", BE) == 5);
    assert_true(get(&pg, "tern_backend_no_server_total", BE) == 6);
    assert_true(get(&pg, "tern_backend_redispatches_total", BE) == 0);
    assert_true(get(&pg, "tern_backend_queue_timeouts_total", BE) == 0);
    assert_true(get(&pg, "tern_backend_active_servers", BE) == 1); /* s1 */
    assert_true(get(&pg, "tern_backend_backup_servers", BE) == 1); /* bk */

    assert_true(get(&pg, "tern_server_connections_total", BE "|server=s1") == 15);
    assert_true(get(&pg, "tern_server_lb_selected_total", BE "|server=s1") == 123);
    assert_true(get(&pg, "tern_server_bytes_out_total", BE "|server=s1") == 4096);
    assert_true(get(&pg, "tern_server_current_connections", BE "|server=s1") == 1);
    assert_true(get(&pg, "tern_server_weight", BE "|server=s1") == 3);
    assert_true(get(&pg, "tern_server_up", BE "|server=s1") == 1);
    assert_true(get(&pg, "tern_server_up", BE "|server=s2") == 0);
    assert_true(get(&pg, "tern_server_up", BE "|server=bk") == 1);
    assert_true(get(&pg, "tern_server_up", BE "|server=off") == 0);
    assert_true(get(&pg, "tern_server_checks_total", BE "|server=s2") == 9);
    assert_true(get(&pg, "tern_server_check_failures_total", BE "|server=s2") == 4);
    assert_true(get(&pg, "tern_server_check_transitions_total", BE "|server=s2|to=down") == 2);
    assert_true(get(&pg, "tern_server_check_transitions_total", BE "|server=s2|to=up") == 1);
    assert_true(get(&pg, "tern_server_connect_errors_total", BE "|server=s2") == 0);
    assert_true(get(&pg, "tern_server_retries_total", BE "|server=s2") == 0);
    test_snapshot_free(snap);
}

static void test_process(void **state)
{
    struct snapshot *snap = test_snapshot_new();

    render(snap, &proc);
    assert_true(get(&pg, "tern_process_workers", "") == 2);
    assert_true(fabs(get(&pg, "tern_process_uptime_seconds", "") - 12.5) < 1e-9);
    assert_true(get(&pg, "tern_process_start_time_seconds", "") == 1700000000);
    assert_true(get(&pg, "tern_process_current_connections", "") == 3);
    assert_true(get(&pg, "tern_process_connections_total", "") == 40);
    assert_true(get(&pg, "tern_process_accept_paused_total", "") == 1);
    assert_true(get(&pg, "tern_process_log_dropped_total", "") == 2);
    assert_true(get(&pg, "tern_build_info", "version=" TERN_VERSION) == 1);
    test_snapshot_free(snap);
}

/* Without a snapshot: process families only, families still declared. */
static void test_no_snapshot(void **state)
{
    render(NULL, &proc);
    assert_true(find_family(&pg, "tern_frontend_connections_total") >= 0);
    assert_true(get(&pg, "tern_process_workers", "") == 2);
    for (int i = 0; i < pg.nsamples; i++)
        assert_int_equal(strncmp(pg.samples[i].name, "tern_server_", 12) != 0, 1);
}

/* The raw escaped bytes, not only their round trip. */
static void test_escape_label(void **state)
{
    struct evbuffer *out = evbuffer_new();
    const char *text;

    prometheus_escape_label(out, "a\\b\"c\nd");
    evbuffer_add(out, "", 1);
    text = (const char *)evbuffer_pullup(out, -1);
    assert_string_equal(text, "a\\\\b\\\"c\\nd");
    evbuffer_free(out);

    out = evbuffer_new();
    prometheus_escape_label(out, "plain-name_1");
    evbuffer_add(out, "", 1);
    assert_string_equal((const char *)evbuffer_pullup(out, -1), "plain-name_1");
    evbuffer_free(out);
}

/* Every family we document is there, with the right type. */
static void test_families(void **state)
{
    static const struct {
        const char *name, *type;
    } want[] = {
        {"tern_frontend_current_connections", "gauge"},
        {"tern_frontend_connections_total", "counter"},
        {"tern_frontend_bytes_in_total", "counter"},
        {"tern_frontend_bytes_out_total", "counter"},
        {"tern_frontend_denied_connections_total", "counter"},
        {"tern_backend_current_connections", "gauge"},
        {"tern_backend_connections_total", "counter"},
        {"tern_backend_bytes_in_total", "counter"},
        {"tern_backend_bytes_out_total", "counter"},
        {"tern_backend_connect_errors_total", "counter"},
        {"tern_backend_retries_total", "counter"},
        {"tern_backend_redispatches_total", "counter"},
        {"tern_backend_queue_timeouts_total", "counter"},
        {"tern_backend_no_server_total", "counter"},
        {"tern_backend_active_servers", "gauge"},
        {"tern_server_current_connections", "gauge"},
        {"tern_server_connections_total", "counter"},
        {"tern_server_bytes_in_total", "counter"},
        {"tern_server_bytes_out_total", "counter"},
        {"tern_server_connect_errors_total", "counter"},
        {"tern_server_retries_total", "counter"},
        {"tern_server_lb_selected_total", "counter"},
        {"tern_server_up", "gauge"},
        {"tern_server_weight", "gauge"},
        {"tern_server_check_failures_total", "counter"},
        {"tern_server_check_transitions_total", "counter"},
        {"tern_process_uptime_seconds", "gauge"},
        {"tern_process_start_time_seconds", "gauge"},
        {"tern_process_workers", "gauge"},
        {"tern_process_current_connections", "gauge"},
        {"tern_process_accept_paused_total", "counter"},
        {"tern_process_log_dropped_total", "counter"},
    };
    struct snapshot *snap = test_snapshot_new();

    render(snap, &proc);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int f = find_family(&pg, want[i].name);
        if (f < 0)
            fail_msg("family %s missing", want[i].name);
        assert_string_equal(pg.types[f], want[i].type);
    }
    test_snapshot_free(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontend_sums),
        cmocka_unit_test(test_backend_and_servers),
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_no_snapshot),
        cmocka_unit_test(test_escape_label),
        cmocka_unit_test(test_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
