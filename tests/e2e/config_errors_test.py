"""Config errors through the real binary: `tern -c -f FILE` on bad files
exits 1 and prints every problem as FILE:LINE: keyword: message; a good file
exits 0 with one line; `tern -f` on a bad file starts nothing."""

import os
import re
import socket
import subprocess
import tempfile
import unittest

from ternlib import TERN_BIN, free_port

# Lines 1-8: a valid frontend + backend. Bad lines appended by a case start
# at line 9 (inside backend "app"), or replace the whole text.
BASE = """\
frontend web
    bind 127.0.0.1:{port}
    default_backend app
    timeout client 10s
backend app
    timeout connect 2s
    timeout server 10s
    server s1 127.0.0.1:{sport}
"""

# (name, text, line, keyword, message fragment): the text is appended to BASE,
# unless it starts with FULL, then it is the whole config. {port} and {sport}
# are free ports.
FULL = "#full\n"
CASES = [
    ("unknown_keyword", "    balanse roundrobin\n", 9, "balanse",
     "unknown keyword in 'backend' section; did you mean 'balance'?"),
    ("unsupported_keyword", "    use-server s if TRUE\n", 9, "use-server",
     "not supported by tern"),
    ("wrong_section_bind", "    bind 127.0.0.1:1\n", 9, "bind",
     "not allowed in a 'backend' section (only in frontend, listen)"),
    ("server_outside_backend",
     FULL + "frontend web\n    bind 127.0.0.1:{port}\n    server s 127.0.0.1:{sport}\n",
     3, "server", "not allowed in a 'frontend' section (only in backend, listen)"),
    ("missing_argument", "    balance\n", 9, "balance", "missing argument"),
    ("extra_argument", "    retries 3 4\n", 9, "retries",
     "unexpected extra argument '4'"),
    ("bad_number", "    retries lots\n", 9, "retries",
     "invalid retry count 'lots'"),
    ("bad_time", "    timeout queue 5x\n", 9, "timeout queue", "invalid time '5x'"),
    ("weight_out_of_range", "    server s2 127.0.0.1:1 weight 300\n", 9, "server",
     "invalid weight '300' (expected an integer from 0 to 256)"),
    ("port_out_of_range", "    server s2 127.0.0.1:65536\n", 9, "server",
     "invalid port '65536'"),
    ("port_missing", "    server s2 127.0.0.1\n", 9, "server", "has no port"),
    ("bad_ip", "    server s2 300.1.2.3:80\n", 9, "server",
     "invalid IPv4 address '300.1.2.3'"),
    ("hostname_not_resolved", "    server s2 db.example:80\n", 9, "server",
     "tern does not resolve names"),
    ("duplicate_server", "    server s1 127.0.0.1:2\n", 9, "server",
     "duplicate server name 's1' in backend 'app' (first defined at line 8)"),
    ("duplicate_backend", "backend app\n    server x 127.0.0.1:2\n", 9, "backend",
     "'app' has the same name as backend 'app' declared at line 5"),
    ("missing_backend",
     FULL + "frontend web\n    bind 127.0.0.1:{port}\n    timeout client 1s\n"
     "    default_backend aap\nbackend app\n    server s 127.0.0.1:{sport}\n",
     4, "default_backend", "no backend named 'aap'; did you mean 'app'?"),
    ("frontend_without_bind",
     FULL + "frontend web\n    default_backend app\nlisten l\n    bind 127.0.0.1:{port}\n"
     "backend app\n    server s 127.0.0.1:{sport}\n",
     1, "frontend", "'web' has no 'bind' line"),
    ("no_listener", FULL + "backend app\n    server s 127.0.0.1:{sport}\n", 2, "config",
     "no frontend or listen section: nothing to listen on"),
    ("unterminated_quote", "    server \"s2 127.0.0.1:1\n", 9, "server",
     "unterminated double quote"),
    ("unknown_section", "resolvers dns\n    nameserver a 10.0.0.1:53\n", 9, "resolvers",
     "section not supported by tern"),
    ("mode_mismatch", "    mode http\n", 3, "default_backend",
     "frontend 'web' is mode tcp but backend 'app' is mode http (modes must match)"),
    ("http_reuse_value", "    mode http\n    http-reuse sometimes\n", 10, "http-reuse",
     "unknown mode 'sometimes' (expected never, safe, aggressive or always)"),
    ("keyword_before_section", FULL + "nbthread 2\n" + BASE, 1, "nbthread",
     "keyword outside any section"),
    ("daemon", FULL + "global\n    daemon\n" + BASE, 2, "daemon",
     "not supported: tern runs in the foreground"),
    ("bufsize_bounds", FULL + "global\n    tune.bufsize 10\n" + BASE, 2, "tune.bufsize",
     "invalid buffer size '10' (expected an integer from 1024 to 1048576)"),
    ("bind_in_use_twice",
     FULL + "frontend web\n    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{port}\n"
     "    default_backend app\nbackend app\n    server s 127.0.0.1:{sport}\n",
     3, "bind", "is already bound by this proxy 'web' at line 2"),
]


def tmpdir():
    return tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR"))


def check(path, env=None):
    p = subprocess.run([TERN_BIN, "-c", "-f", path], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10, env=env)
    return p.returncode, p.stdout, p.stderr


class ConfigErrorsTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.sport = free_port()

    def write(self, d, name, text):
        path = os.path.join(d, name + ".cfg")
        with open(path, "w") as f:
            f.write(text.format(port=self.port, sport=self.sport))
        return path

    def test_table_of_bad_configs(self):
        self.assertGreaterEqual(len(CASES), 15)
        with tmpdir() as d:
            for name, text, line, kw, frag in CASES:
                with self.subTest(name):
                    full = text[len(FULL):] if text.startswith(FULL) else BASE + text
                    path = self.write(d, name, full)
                    rc, out, err = check(path)
                    self.assertEqual(rc, 1, "%s: exit %d\n%s%s" % (name, rc, out, err))
                    prefix = "%s:%d: %s: " % (path, line, kw)
                    lines = [l for l in err.splitlines() if prefix in l]
                    self.assertTrue(lines, "%s: no line with %r in:\n%s" % (name, prefix, err))
                    self.assertTrue(any(frag in l for l in lines),
                                    "%s: %r not in %r" % (name, frag, lines))
                    self.assertNotIn("Configuration file is valid", out)

    def test_all_errors_are_reported(self):
        text = ("global\n"                                  # 1
                "    nbthread many\n"                       # 2
                "frontend web\n"                            # 3
                "    bind 127.0.0.1:{port}\n"               # 4
                "    bind 127.0.0.1:99999\n"                # 5
                "    default_backend missing\n"             # 6
                "    server s 127.0.0.1:{sport}\n"          # 7
                "backend app\n"                             # 8
                "    balance roundrobin sometimes\n"        # 9
                "    server s1 127.0.0.1:{sport} weight -2\n"  # 10
                "    server s1 127.0.0.1:{sport}\n"         # 11
                "    frobnicate\n")                         # 12
        want = [(2, "nbthread", "invalid thread count 'many'"),
                (5, "bind", "invalid port '99999'"),
                (6, "default_backend", "no backend named 'missing'"),
                (7, "server", "not allowed in a 'frontend' section"),
                (9, "balance", "unexpected extra argument 'sometimes'"),
                (10, "server", "invalid weight '-2'"),
                (11, "server", "duplicate server name 's1'"),
                (12, "frobnicate", "unknown keyword in 'backend' section")]
        with tmpdir() as d:
            path = self.write(d, "multi", text)
            rc, out, err = check(path)
            self.assertEqual(rc, 1, err)
            got = [l for l in err.splitlines() if re.search(re.escape(path) + r":\d+: ", l)]
            errors = [l for l in got if "missing timeouts" not in l
                      and "no default_backend" not in l]
            self.assertEqual(len(errors), len(want), "\n".join(got))
            # every error, in line order
            for (line, kw, frag), l in zip(want, errors):
                self.assertIn("%s:%d: %s: " % (path, line, kw), l)
                self.assertIn(frag, l)
            self.assertIn("%d error" % len(want), err)

    def test_valid_config(self):
        with tmpdir() as d:
            path = self.write(d, "ok", "global\n    nbthread 2\n" + BASE +
                              "    balance leastconn\n"
                              "    option httpchk GET /health\n"
                              "    server s2 [::1]:{sport} check inter 1s\n")
            rc, out, err = check(path)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.strip().splitlines(), ["Configuration file is valid"])
            self.assertNotIn("ALERT", err)
            self.assertNotIn("WARNING", err)

    def test_warnings_do_not_fail(self):
        with tmpdir() as d:
            path = self.write(d, "warn", "global\n    log /dev/log local0\n"
                              "listen l\n    bind 127.0.0.1:{port}\n"
                              "    server s 127.0.0.1:{sport}\n")
            rc, out, err = check(path)
            self.assertEqual(rc, 0, err)
            self.assertIn("Configuration file is valid", out)
            self.assertIn("%s:2: log: ignored" % path, err)
            self.assertIn("%s:3: listen 'l': missing timeouts client, connect, server" % path,
                          err)

    def test_environment_expansion(self):
        text = ("listen l\n    bind \"127.0.0.1:${{TERN_E2E_PORT}}\"\n"
                "    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n"
                "    server s 127.0.0.1:{sport}\n")
        with tmpdir() as d:
            path = self.write(d, "env", text)
            env = dict(os.environ, TERN_E2E_PORT=str(self.port))
            rc, out, err = check(path, env)
            self.assertEqual(rc, 0, err)
            env.pop("TERN_E2E_PORT")
            rc, out, err = check(path, env)
            self.assertEqual(rc, 1, err)
            self.assertIn("%s:2: bind: invalid port '' in '127.0.0.1:'" % path, err)

    def test_bad_config_starts_nothing(self):
        with tmpdir() as d:
            path = self.write(d, "run", BASE + "    retries x\n")
            p = subprocess.run([TERN_BIN, "-f", path], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("%s:9: retries: invalid retry count 'x'" % path, p.stderr)
            # the frontend's port was never taken
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", self.port))
            finally:
                s.close()


if __name__ == "__main__":
    unittest.main()
