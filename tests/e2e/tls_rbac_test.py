"""RBAC end to end (filter rbac), with real TLS peers: curl and Python's ssl
with client certificates from tests/unit/tls/gen_certs.sh.

HTTP (mode http, mTLS with verify optional): ordered policies decide on the
peer's SPIFFE ID, trust domain, method, path and a header; the first match
decides, else the default; a denial is a 403 with reason `denied` in the
access log, counted per instance and deny policy (tern_rbac_denied_total
{...,policy="<name>"}, policy="(default)" for the default action) and logged
with the policy's name; shadow mode denies nothing but logs and counts what it
would have denied. L4 (mode tcp): the same policies as a network filter
after the handshake: spiffe://mesh.local/ns/a/sa/frontend reaches the
backend, .../sa/other is closed before any backend is chosen (reason=denied
in the access log, tern_rbac_conn_denied_total); dst-port and src at L4
without TLS. Config errors: HTTP matchers in mode tcp, bad CIDR."""

import os
import socket
import ssl
import subprocess
import tempfile
import unittest

import testpki
from testpki import pki
from ternlib import (TERN_BIN, HttpBackend, NameServer, Tern, cfg_head, cfg_http, free_port,
                     http_access_log, poll_until)

FRONTEND = "spiffe://mesh.local/ns/a/sa/frontend"
setUpModule = testpki.setup
tearDownModule = testpki.teardown


def curl(port, path, cert=None, *extra):
    """curl over TLS to www.example.com:port; returns (exit code, status, body)."""
    args = ["curl", "-s", "-S", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
            "--cacert", pki("ca.pem"), "--resolve", "www.example.com:%d:127.0.0.1" % port]
    if cert:
        args += ["--cert", pki(cert)]
    p = subprocess.run(args + list(extra) + ["https://www.example.com:%d%s" % (port, path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    body, _, code = p.stdout.decode("latin-1").rpartition("\n")
    return p.returncode, int(code or 0), body


def tls_first_line(port, cert):
    """Connects with a client certificate, returns what the connection
    yields before EOF (up to a line), b"" when tern closed it."""
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    ctx.load_cert_chain(pki(cert))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="www.example.com") as s:
                data = b""
                while not data.endswith(b"\n"):
                    d = s.recv(100)
                    if not d:
                        break
                    data += d
                return data
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return b""


def plain_first_line(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        try:
            while not data.endswith(b"\n"):
                d = s.recv(100)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            return b""
        return data


class HttpRbacTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("app")
        cls.hp, cls.sp, cls.ap = free_port(), free_port(), free_port()
        tls = "ssl crt %s ca-file %s verify optional" % (pki("server.pem"), pki("ca.pem"))
        cfg = cfg_http(admin_port=cls.ap) + (
            "frontend h\n"
            "    bind 127.0.0.1:%(hp)d %(tls)s\n"
            "    filter rbac default deny"
            " policy no-admin deny path-prefix /admin"
            " policy frontend allow spiffe-id %(fe)s"
            " policy mesh-public allow trust-domain mesh.local method GET method HEAD"
            " path /public"
            " policy canary allow src 127.0.0.0/8 hdr x-canary yes\n"
            "    default_backend be\n\n"
            "frontend s\n"
            "    bind 127.0.0.1:%(sp)d %(tls)s\n"
            "    filter rbac shadow default deny policy frontend allow spiffe-id %(fe)s\n"
            "    default_backend be\n\n"
            "backend be\n    server s 127.0.0.1:%(bp)d\n"
        ) % {"hp": cls.hp, "sp": cls.sp, "tls": tls, "fe": FRONTEND, "bp": cls.b.port}
        cls.t = Tern(cfg, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def denied(self, proxy, policy=None):
        """Denials of proxy's instance: one policy's, or all (the sum of the
        per-policy samples)."""
        labels = {"proxy": proxy, "chain": "frontend"}
        if policy is not None:
            return self.t.metrics().get("tern_rbac_denied_total", policy=policy, **labels)
        return self.t.metrics().sum("tern_rbac_denied_total", **labels)

    def test_per_policy_samples(self):
        m = self.t.metrics()
        # one sample per deny policy and one for the default action, in both
        # families; allow policies have none
        self.assertEqual(sorted(s[1]["policy"] for s in m.find("tern_rbac_denied_total",
                                                               proxy="h")),
                         ["(default)", "no-admin"])
        self.assertEqual(sorted(s[1]["policy"] for s in m.find("tern_rbac_shadow_denied_total",
                                                               proxy="h")),
                         ["(default)", "no-admin"])
        self.assertEqual(m.sum("tern_rbac_shadow_denied_total", proxy="h"), 0)
        self.assertEqual([s[1]["policy"] for s in m.find("tern_rbac_denied_total", proxy="s")],
                         ["(default)"])
        self.assertEqual(len(m.find("tern_rbac_allowed_total", proxy="h")), 1)

    def test_frontend_allowed_other_denied(self):
        before = self.denied("h")
        before_dflt = self.denied("h", "(default)")
        before_admin = self.denied("h", "no-admin")
        self.assertEqual(curl(self.hp, "/x", "client.pem"), (0, 200, "app GET /x\n"))
        rc, code, body = curl(self.hp, "/x", "client-other.pem")
        self.assertEqual((rc, code), (0, 403))
        self.assertNotIn("app", body)
        self.assertEqual(self.denied("h"), before + 1)
        self.assertEqual(self.denied("h", "(default)"), before_dflt + 1)
        self.assertEqual(self.denied("h", "no-admin"), before_admin)
        poll_until(lambda: any(d["status"] == 403 and d["reason"] == "denied" and
                               d["peer"] == "spiffe://mesh.local/ns/a/sa/other"
                               for d in http_access_log(self.t.stderr_text(), "h")),
                   desc="403 reason=denied in the access log")
        poll_until(lambda: "rbac: denied by default action: peer=spiffe://mesh.local/ns/a/sa/"
                           "other" in self.t.stderr_text(), desc="denial logged")

    def test_no_certificate_denied(self):
        self.assertEqual(curl(self.hp, "/x")[:2], (0, 403))

    def test_first_match_decides(self):
        # the deny policy comes before the frontend's allow
        before_admin = self.denied("h", "no-admin")
        before_dflt = self.denied("h", "(default)")
        self.assertEqual(curl(self.hp, "/admin/users", "client.pem")[:2], (0, 403))
        self.assertEqual(self.denied("h", "no-admin"), before_admin + 1)
        self.assertEqual(self.denied("h", "(default)"), before_dflt)
        poll_until(lambda: "rbac: denied by policy no-admin: peer=" + FRONTEND
                   in self.t.stderr_text(), desc="policy named in the log")
        # trust domain + method + path
        self.assertEqual(curl(self.hp, "/public", "client-other.pem"),
                         (0, 200, "app GET /public\n"))
        self.assertEqual(curl(self.hp, "/public", "client-other.pem", "-X", "POST")[:2],
                         (0, 403))
        self.assertEqual(curl(self.hp, "/public/x", "client-other.pem")[:2], (0, 403))
        # source CIDR and a header, no certificate needed
        self.assertEqual(curl(self.hp, "/c", None, "-H", "x-canary: yes"), (0, 200, "app GET /c\n"))
        self.assertEqual(curl(self.hp, "/c", None, "-H", "x-canary: no")[:2], (0, 403))

    def test_shadow_denies_nothing(self):
        m = self.t.metrics()
        before = m.get("tern_rbac_shadow_denied_total", proxy="s", policy="(default)")
        self.assertEqual(curl(self.sp, "/y", "client-other.pem"), (0, 200, "app GET /y\n"))
        self.assertEqual(curl(self.sp, "/y", "client.pem"), (0, 200, "app GET /y\n"))
        m = self.t.metrics()
        self.assertEqual(m.get("tern_rbac_shadow_denied_total", proxy="s", policy="(default)"),
                         before + 1)
        self.assertEqual(m.sum("tern_rbac_denied_total", proxy="s"), 0)
        self.assertGreaterEqual(m.value("tern_rbac_allowed_total", 0, proxy="s"), 1)
        poll_until(lambda: "s: rbac: would deny (shadow) by default action: peer=spiffe://"
                           "mesh.local/ns/a/sa/other" in self.t.stderr_text(),
                   desc="shadow denial logged")


class TcpRbacTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = NameServer("svc")
        cls.tp, cls.pp, cls.dp, cls.ap = free_port(), free_port(), free_port(), free_port()
        cfg = cfg_head(admin_port=cls.ap) + (
            "frontend t\n"
            "    bind 127.0.0.1:%(tp)d ssl crt %(srv)s ca-file %(ca)s verify required\n"
            "    filter rbac default deny policy frontend allow spiffe-id %(fe)s\n"
            "    default_backend be\n\n"
            "frontend byport\n"
            "    bind 127.0.0.1:%(pp)d\n"
            "    filter rbac default deny policy port allow dst-port %(pp)d\n"
            "    default_backend be\n\n"
            "frontend bysrc\n"
            "    bind 127.0.0.1:%(dp)d\n"
            "    filter rbac policy local deny src 127.0.0.1/32 policy any allow\n"
            "    default_backend be\n\n"
            "backend be\n    server s 127.0.0.1:%(bp)d\n"
        ) % {"tp": cls.tp, "pp": cls.pp, "dp": cls.dp, "srv": pki("server.pem"),
             "ca": pki("ca.pem"), "fe": FRONTEND, "bp": cls.b.port}
        cls.t = Tern(cfg, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_identity_at_l4(self):
        self.assertEqual(tls_first_line(self.tp, "client.pem"), b"svc\n")
        # the backend is shared by this class's tests: wait until their
        # connections are over, then count accepted connections
        poll_until(lambda: self.b.n_active() == 0, desc="earlier backend connections done")
        before = self.b.accepted
        self.assertEqual(tls_first_line(self.tp, "client-other.pem"), b"")
        self.assertEqual(self.b.accepted, before)  # no backend connection
        m = self.t.metrics()
        self.assertEqual(m.get("tern_rbac_conn_denied_total", proxy="t", chain="network",
                               policy="(default)"), 1)
        self.assertEqual(m.value("tern_rbac_conn_allowed_total", 0, proxy="t"), 1)
        poll_until(lambda: any(" t <NOSRV>/<NOSRV> " in l and "reason=denied" in l and
                               "peer=spiffe://mesh.local/ns/a/sa/other" in l
                               for l in self.t.stderr_lines()),
                   desc="denied connection in the access log")
        poll_until(lambda: "t: rbac: denied by default action: peer=spiffe://mesh.local/ns/"
                           "a/sa/other" in self.t.stderr_text(), desc="denial logged")

    def test_dst_port_and_src(self):
        self.assertEqual(plain_first_line(self.pp), b"svc\n")
        self.assertEqual(plain_first_line(self.dp), b"")
        m = self.t.metrics()
        self.assertEqual(m.get("tern_rbac_conn_denied_total", proxy="bysrc", policy="local"), 1)
        self.assertEqual(m.get("tern_rbac_conn_denied_total", proxy="bysrc",
                               policy="(default)"), 0)
        self.assertEqual(m.get("tern_rbac_conn_shadow_denied_total", proxy="bysrc",
                               policy="local"), 0)
        poll_until(lambda: "bysrc: rbac: denied by policy local: peer=- src=127.0.0.1"
                   in self.t.stderr_text(), desc="src denial logged")


class ConfigTest(unittest.TestCase):
    def check(self, text):
        d = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        f = os.path.join(d, "t.cfg")
        with open(f, "w") as fh:
            fh.write(text)
        p = subprocess.run([TERN_BIN, "-c", "-f", f], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        return p.returncode, p.stdout.decode()

    def base(self, mode, line):
        return ("defaults\n    mode %s\n    timeout client 1s\n    timeout server 1s\n"
                "    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:%d\n%s\n"
                "    default_backend b\nbackend b\n    server s 127.0.0.1:1\n"
                % (mode, free_port(), line))

    def test_errors(self):
        rc, out = self.check(self.base("tcp", "    filter rbac policy p allow method GET"))
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"t\.cfg:8: filter: rbac: policy 'p': method needs mode http")
        rc, out = self.check(self.base("http", "    filter rbac policy p deny src 10.0.0.1/8"))
        self.assertEqual(rc, 1)
        self.assertIn("t.cfg:8: filter: rbac: src: '10.0.0.1/8' has bits set past the prefix",
                      out)
        rc, out = self.check(self.base("http", "    filter rbac default maybe policy p allow"))
        self.assertEqual(rc, 1)
        self.assertIn("default needs 'allow' or 'deny'", out)
        rc, out = self.check(self.base("http", "    filter rbac policy p allow policy p deny"))
        self.assertIn("policy 'p' is defined twice", out)
        rc, out = self.check(self.base("http", "    filter rbac policy p allow spiffe-id x"))
        self.assertIn("does not start with spiffe://", out)
        rc, out = self.check(self.base("tcp", "    filter rbac policy p allow dst-port 443"))
        self.assertEqual(rc, 0, out)
        rc, out = self.check(self.base("http", "    filter rbac shadow policy p allow"))
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
