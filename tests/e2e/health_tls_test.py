"""Health checks over TLS (HAProxy 2.6's rules: a server with `ssl` is checked
over TLS, with the server line's verification; `check-sni` names the SNI of
checks, `sni` does not apply to them), against real TLS peers: openssl
s_server and Debian's nginx. The test PKI comes from
tests/unit/tls/gen_certs.sh, run in a temporary directory.

Checked: a TCP check passes when the handshake completes and the certificate
verifies (Layer6 check passed); a server with an expired certificate, one
from another CA and one whose name is not the check-sni go DOWN with the
handshake's reason, while `verify none` keeps the expired one UP as the line
says; a plain TCP server behind `ssl` goes DOWN (proof the check speaks TLS)
while the same server without `ssl` stays UP; `option httpchk` over TLS to
nginx passes on 200 (nginx logged the request: it came over TLS, since that
port speaks nothing else) and fails on 500 (Layer7 wrong status); failures
are counted like other checks."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from ternlib import NameServer, Nginx, Tern, cfg_head, cfg_http, free_port, poll_until

HERE = os.path.dirname(os.path.realpath(__file__))
GEN = os.path.join(HERE, "..", "unit", "tls", "gen_certs.sh")
PKI = None


def setUpModule():
    global PKI
    PKI = tempfile.mkdtemp(prefix="tern-pki-", dir=os.environ.get("TEST_TMPDIR"))
    subprocess.run(["sh", GEN, PKI], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def tearDownModule():
    shutil.rmtree(PKI, ignore_errors=True)


def pki(name):
    return os.path.join(PKI, name)


class SServer:
    """openssl s_server -www on a free port with one certificate."""

    def __init__(self, cert):
        self.port = free_port()
        self.p = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept",
                                   "127.0.0.1:%d" % self.port, "-cert", cert],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        def up():
            if self.p.poll() is not None:
                raise AssertionError("openssl s_server exited with %s" % self.p.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        poll_until(up, timeout=30, desc="s_server up")

    def kill(self):
        self.p.kill()
        self.p.wait()


def metric(t, name, server, proxy="be"):
    return t.metrics().get(name, proxy=proxy, server=server)


def checked(t, server, n, proxy="be"):
    """At least n checks of server were done."""
    return metric(t, "tern_server_checks_total", server, proxy) >= n


# a TLS handshake on a loaded machine may take tens of ms: room enough within inter
CHECK = "check inter 500ms rise 1 fall 1"


class TcpCheckOverTlsTest(unittest.TestCase):
    def test_handshake_decides(self):
        good = SServer(pki("server.pem"))
        expired = SServer(pki("expired.pem"))
        foreign = SServer(pki("client-foreign.pem"))
        plain = NameServer("plain", mode="close")
        ca = pki("ca.pem")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n"
            # the traffic's `sni` is not the checks' SNI: a wrong one does not matter
            "    server good 127.0.0.1:%d ssl verify required ca-file %s "
            "sni str(wrong.example.org) check-ssl check-sni www.example.com %s\n"
            "    server noname 127.0.0.1:%d ssl verify required ca-file %s %s\n"
            "    server wrongname 127.0.0.1:%d ssl verify required ca-file %s "
            "check-sni wrong.example.org %s\n"
            "    server expired 127.0.0.1:%d ssl verify required ca-file %s %s\n"
            "    server expired_noverify 127.0.0.1:%d ssl verify none %s\n"
            "    server foreign 127.0.0.1:%d ssl verify required ca-file %s %s\n"
            "    server plain_ssl 127.0.0.1:%d ssl verify none %s\n"
            "    server plain 127.0.0.1:%d %s\n"
            % (fp, good.port, ca, CHECK, good.port, ca, CHECK, good.port, ca, CHECK,
               expired.port, ca, CHECK, expired.port, CHECK, foreign.port, ca, CHECK,
               plain.port, CHECK, plain.port, CHECK))
        up = ["good", "noname", "expired_noverify", "plain"]
        down = {"wrongname": "tls_bad_cert", "expired": "tls_cert_expired",
                "foreign": "tls_unknown_ca", "plain_ssl": "tls_protocol"}
        try:
            with Tern(cfg, admin_port=ap) as t:
                poll_until(lambda: all(metric(t, "tern_server_up", s) == 0 for s in down),
                           timeout=15, desc="bad TLS servers down")
                poll_until(lambda: all(checked(t, s, 3) for s in up), timeout=20,
                           desc="three checks of each good server")
                for s in up:
                    self.assertEqual(metric(t, "tern_server_up", s), 1, s)
                    self.assertEqual(metric(t, "tern_server_check_failures_total", s), 0, s)
                log = t.stderr_text()
                for s, reason in down.items():
                    self.assertGreaterEqual(metric(t, "tern_server_check_failures_total", s), 1)
                    self.assertIn('Server be/%s is DOWN, reason: Layer6 invalid response, '
                                  'info: "TLS handshake: %s"' % (s, reason), log)
                clusters = t.clusters()
                eps = {e["name"]: e for b in clusters["clusters"] if b["name"] == "be"
                       for e in b["servers"]}
                self.assertTrue(eps["good"]["last_check"].startswith("L6OK"),
                                eps["good"]["last_check"])
                self.assertTrue(eps["plain"]["last_check"].startswith("L4OK"),
                                eps["plain"]["last_check"])
                self.assertTrue(eps["expired"]["last_check"].startswith("L6RSP"),
                                eps["expired"]["last_check"])
        finally:
            for s in (good, expired, foreign):
                s.kill()
            plain.kill()


class HttpCheckOverTlsTest(unittest.TestCase):
    def test_httpchk_over_tls(self):
        ng = Nginx(listen_opts="ssl", server_extra=(
            "ssl_certificate %s; ssl_certificate_key %s;" % (pki("server.pem"),
                                                             pki("server.pem"))),
            locations='location = /health { return 200 "ok\\n"; }\n'
                      'location = /sick { return 500 "sick\\n"; }\n'
                      'location / { return 404; }')
        fp, ap = free_port(), free_port()
        srv = "server n 127.0.0.1:%d ssl verify required ca-file %s check-sni www.example.com " \
              "%s\n" % (ng.port, pki("ca.pem"), CHECK)
        cfg = cfg_http(admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    option httpchk GET /health\n    " % fp + srv +
            "\nbackend sick\n    option httpchk GET /sick\n    " + srv)
        try:
            with Tern(cfg, admin_port=ap) as t:
                poll_until(lambda: metric(t, "tern_server_up", "n", "sick") == 0, timeout=15,
                           desc="the sick backend's server down")
                poll_until(lambda: checked(t, "n", 3), timeout=15, desc="three checks")
                self.assertEqual(metric(t, "tern_server_up", "n"), 1)
                self.assertEqual(metric(t, "tern_server_check_failures_total", "n"), 0)
                entries = ng.entries()
                self.assertIn(("GET", "/health", "200"), [e[1:4] for e in entries])
                self.assertIn(("GET", "/sick", "500"), [e[1:4] for e in entries])
                self.assertIn('Server sick/n is DOWN, reason: Layer7 wrong status, code: 500',
                              t.stderr_text())
        finally:
            ng.close()


if __name__ == "__main__":
    unittest.main()
