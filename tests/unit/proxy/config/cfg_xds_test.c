/* Tests of proxy/config/cfg_xds.c: the xds section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/config/cfg_parse.h"
#include "proxy/core/util.h"
#include "proxy/model/model.h"

static struct cfg_diag D;

static struct snapshot *parse(const char *text)
{
    cfg_diag_free(&D);
    return cfg_parse_buffer("t.cfg", text, strlen(text), &D);
}

static void dump(void)
{
    for (size_t i = 0; i < D.nerrors; i++)
        print_message("  error: %s\n", D.errors[i]);
}

/* The text must fail with exactly this one error. */
static void only_error(const char *text, const char *msg)
{
    struct snapshot *s = parse(text);
    if (s || D.nerrors != 1 || strcmp(D.errors[0], msg) != 0) {
        print_message("config:\n%s\n", text);
        dump();
        snapshot_unref(s);
        fail_msg("expected exactly one error: %s", msg);
    }
}

#define XDS_MIN "xds\n    server 127.0.0.1:18000\n    node-id n1\n" /* lines 1-3 */

static void test_all_keywords(void **state)
{
    char buf[80];
    struct snapshot *s = parse("xds\n"
                               "    server 10.1.2.3:18000\n"
                               "    node-id sidecar-7.ns\n"
                               "    node-cluster payments\n"
                               "    node-locality eu-west-1/eu-west-1a\n"
                               "    init-timeout 3s\n"
                               "    protocol sotw\n"
                               "    drain-time 20s\n");
    if (!s)
        dump();
    assert_non_null(s);
    assert_true(s->xds.enabled);
    assert_string_equal(tern_format_addr((const struct sockaddr *)&s->xds.server, buf,
                                         sizeof(buf)),
                        "10.1.2.3:18000");
    assert_string_equal(s->xds.node_id, "sidecar-7.ns");
    assert_string_equal(s->xds.node_cluster, "payments");
    assert_string_equal(s->xds.region, "eu-west-1");
    assert_string_equal(s->xds.zone, "eu-west-1a");
    assert_int_equal(s->xds.init_timeout_ms, 3000);
    assert_int_equal(s->xds.protocol, XDS_PROTOCOL_SOTW);
    assert_int_equal(s->xds.drain_time_ms, 20000);
    assert_int_equal(s->xds.loc.line, 1);
    /* an xds section alone is a complete configuration: listeners come from xDS */
    assert_int_equal(s->nlisteners, 0);
    snapshot_unref(s);
}

static void test_defaults(void **state)
{
    struct snapshot *s = parse(XDS_MIN);
    assert_non_null(s);
    assert_int_equal(s->xds.protocol, XDS_PROTOCOL_DELTA);
    assert_int_equal(s->xds.init_timeout_ms, 15000);
    assert_int_equal(s->xds.drain_time_ms, 600000);
    assert_null(s->xds.node_cluster);
    assert_null(s->xds.region);
    snapshot_unref(s);
    /* no xds section: disabled */
    s = parse("frontend f\n bind 127.0.0.1:1\n");
    assert_non_null(s);
    assert_false(s->xds.enabled);
    snapshot_unref(s);
}

static void test_errors(void **state)
{
    only_error("xds\n    node-id n\n",
               "t.cfg:1: xds: no 'server <address>:<port>' line: tern needs its control "
               "plane's address");
    only_error("xds\n    server 127.0.0.1:1\n",
               "t.cfg:1: xds: no 'node-id <id>' line: the control plane knows tern by its "
               "node id");
    only_error(XDS_MIN "    server 127.0.0.1:1 ssl ca-file /ca.pem crt /c.pem\n",
               "t.cfg:4: server: unexpected argument 'crt' (usage: server <address>:<port> "
               "[ssl ca-file <file> [verifyhost <name>]])");
    only_error(XDS_MIN "    server 127.0.0.1:1 ssl\n",
               "t.cfg:4: server: ssl needs ca-file <file>: the roots the control plane's "
               "certificate is verified against (usage: server <address>:<port> "
               "[ssl ca-file <file> [verifyhost <name>]])");
    only_error(XDS_MIN "    server 127.0.0.1:1 ca-file /ca.pem\n",
               "t.cfg:4: server: ca-file without ssl (usage: server <address>:<port> "
               "[ssl ca-file <file> [verifyhost <name>]])");
    only_error(XDS_MIN "    server 127.0.0.1:1 ssl ca-file /nonexistent/ca.pem\n",
               "t.cfg:4: server: ca-file: cannot open '/nonexistent/ca.pem': No such file or "
               "directory");
    only_error(XDS_MIN "    server 127.0.0.1:1 ssl ca-file /dev/null\n",
               "t.cfg:4: server: ca-file: '/dev/null' is not a regular file");
    only_error(XDS_MIN "    protocol grpc\n",
               "t.cfg:4: protocol: unknown protocol 'grpc' (expected delta or sotw)");
    only_error(XDS_MIN "    node-locality eu-west-1\n",
               "t.cfg:4: node-locality: invalid locality 'eu-west-1' (expected <region>/<zone>, "
               "one '/')");
    only_error(XDS_MIN "    node-locality a/b/c\n",
               "t.cfg:4: node-locality: invalid locality 'a/b/c' (expected <region>/<zone>, "
               "one '/')");
    only_error(XDS_MIN "    node-locality /z\n",
               "t.cfg:4: node-locality: region must have 1 to 256 characters");
    only_error(XDS_MIN "    init-timeout 0\n", "t.cfg:4: init-timeout: '0' is too short (at "
                                              "least 1ms)");
    only_error(XDS_MIN "    drain-time soon\n",
               "t.cfg:4: drain-time: invalid time 'soon' (expected a number with an optional "
               "unit us, ms, s, m, h or d; no unit means ms)");
    only_error(XDS_MIN "    node-id\n", "t.cfg:4: node-id: missing argument (usage: node-id "
                                       "<id>)");
    only_error(XDS_MIN "    node-cluster a b\n",
               "t.cfg:4: node-cluster: unexpected extra argument 'b' (usage: node-cluster "
               "<name>)");
    only_error(XDS_MIN "    node-id \"a b\"\n",
               "t.cfg:4: node-id: node id 'a b' has a character that is not printable ASCII");
    only_error(XDS_MIN "xds\n", "t.cfg:4: xds: a second xds section (the first is at line 1): "
                                "tern has one control plane");
    only_error(XDS_MIN "    server localhost:18000\n",
               "t.cfg:4: server: invalid IPv4 address 'localhost' (tern does not resolve names "
               "in the config file)");
    /* xds keywords stay in their section, proxy keywords out of it */
    only_error(XDS_MIN "    balance roundrobin\n",
               "t.cfg:4: balance: not allowed in a 'xds' section (only in defaults, backend, "
               "listen)");
    only_error("frontend f\n    bind 127.0.0.1:1\n    node-id x\n",
               "t.cfg:3: node-id: not allowed in a 'frontend' section (only in xds)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_keywords),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    cfg_diag_free(&D);
    return r;
}
