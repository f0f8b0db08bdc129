"""TLS end to end, with real peers: openssl s_client, curl, Python's ssl,
Debian's nginx as a TLS backend, and a second tern. The test PKI comes from
tests/unit/tls/gen_certs.sh, run in a temporary directory (ECDSA P-256 and
RSA-2048 leaves, SPIFFE URI SANs, another CA, an expired certificate).

Checked: SNI picks the certificate (default for unknown names); ALPN offers
what mode http serves (h2 and http/1.1); TLS 1.1 and a non-FS/non-AEAD
suite are refused; garbage on a TLS port never reaches the backend; a
client that never finishes its handshake is cut at timeout client-hs;
handshake failures are counted by reason; mTLS refuses no certificate, a
foreign CA and an expired certificate and accepts the right one; the
identity reaches ACLs (ssl_c_spiffe_id routing), the access log (peer=) and
the service (x-forwarded-client-cert, a client's own copy replaced); mode
tcp termination; upstream TLS to nginx with verification, SNI and
keep-alive reuse, and a wrong name refused; tern-to-tern mTLS; rotation of
the certificate file while an older connection keeps working, and a broken
replacement that changes nothing."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import testpki
from testpki import pki
from ternlib import (HttpBackend, HttpReader, Nginx, Tern, cfg_http, free_port, http_access_log,
                     poll_until)

setUpModule = testpki.setup
tearDownModule = testpki.teardown


def s_client(port, *args, data=b""):
    """openssl s_client against 127.0.0.1:port; returns (rc, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-CAfile", pki("ca.pem")] + list(args),
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=10)
    return p.returncode, p.stdout.decode("latin-1")


def subject_cn(port, servername):
    rc, out = s_client(port, "-servername", servername)
    for line in out.splitlines():
        if line.startswith("subject="):
            return line.split("CN = ")[1].split(",")[0].strip()
    raise AssertionError("no certificate: %s" % out[-500:])


def curl(url, *args):
    """curl; returns (exit code, status, http version, body)."""
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "5", "-o", "-", "-w",
                        "\n%{http_code} %{http_version}", "--cacert", pki("ca.pem")] +
                       list(args) + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=15)
    body, _, tail = p.stdout.decode("latin-1").rpartition("\n")
    code, _, ver = tail.partition(" ")
    return p.returncode, int(code or 0), ver, body


def failures(t, proxy, reason):
    return t.metrics().value("tern_tls_handshake_failures_total", 0, proxy=proxy, reason=reason)


class DownstreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.front = HttpBackend("front")
        cls.other = HttpBackend("other")
        cls.plain = HttpBackend("plain")
        cls.fp, cls.mp, cls.tp, cls.ap = free_port(), free_port(), free_port(), free_port()
        cfg = cfg_http(admin_port=cls.ap) + (
            "frontend fe\n"
            "    bind 127.0.0.1:%(fp)d ssl crt %(srv)s crt %(rsa)s alpn h2,http/1.1\n"
            "    timeout client-hs 300ms\n"
            "    default_backend be_plain\n\n"
            "frontend mtls\n"
            "    bind 127.0.0.1:%(mp)d ssl crt %(svc)s ca-file %(ca)s verify required\n"
            "    option forward-client-cert sanitize-set\n"
            "    use_backend be_front if { ssl_c_spiffe_id spiffe://mesh.local/ns/a/sa/frontend }\n"
            "    default_backend be_other\n\n"
            "frontend tcpfe\n"
            "    mode tcp\n"
            "    bind 127.0.0.1:%(tp)d ssl crt %(srv)s\n"
            "    default_backend be_tcp\n\n"
            "backend be_plain\n    server s 127.0.0.1:%(pl)d\n"
            "backend be_front\n    server s 127.0.0.1:%(fr)d\n"
            "backend be_other\n    server s 127.0.0.1:%(ot)d\n"
            "backend be_tcp\n    mode tcp\n    server s 127.0.0.1:%(pl)d\n"
        ) % {"fp": cls.fp, "mp": cls.mp, "tp": cls.tp, "srv": pki("server.pem"), "svc": pki("svc.pem"),
             "rsa": pki("rsa.pem"), "ca": pki("ca.pem"), "pl": cls.plain.port,
             "fr": cls.front.port, "ot": cls.other.port}
        cls.t = Tern(cfg, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        for b in (cls.front, cls.other, cls.plain):
            b.kill()

    def test_sni_selects_certificate(self):
        self.assertEqual(subject_cn(self.fp, "www.example.com"), "www.example.com")
        self.assertEqual(subject_cn(self.fp, "api.example.com"), "www.example.com")
        self.assertEqual(subject_cn(self.fp, "rsa.example.com"), "rsa.example.com")
        self.assertEqual(subject_cn(self.fp, "unknown.example.org"), "www.example.com")
        rc, code, ver, body = curl("https://rsa.example.com:%d/x" % self.fp, "--resolve",
                                   "rsa.example.com:%d:127.0.0.1" % self.fp)
        self.assertEqual((rc, code), (0, 200))
        self.assertEqual(body, "plain GET /x\n")

    def test_alpn_offers_what_mode_http_serves(self):
        # h2 and http/1.1 are served (h2_tls_test.py covers HTTP/2 itself)
        self.assertNotIn("alpn 'h2,http/1.1'", self.t.stderr_text())
        rc, out = s_client(self.fp, "-alpn", "h2,http/1.1", "-servername", "www.example.com")
        self.assertIn("ALPN protocol: h2", out)
        rc, out = s_client(self.fp, "-alpn", "http/1.1", "-servername", "www.example.com")
        self.assertIn("ALPN protocol: http/1.1", out)
        rc, out = s_client(self.fp, "-alpn", "spdy/3", "-servername", "www.example.com")
        self.assertIn("No ALPN negotiated", out)
        rc, code, ver, body = curl("https://www.example.com:%d/" % self.fp, "--http2",
                                   "--resolve", "www.example.com:%d:127.0.0.1" % self.fp)
        self.assertEqual((rc, code, ver), (0, 200, "2"))

    def test_old_versions_and_weak_suites_refused(self):
        v0 = failures(self.t, "fe", "tls_version")
        c0 = failures(self.t, "fe", "tls_no_shared_cipher")
        rc, out = s_client(self.fp, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(rc, 0)
        self.assertNotIn("BEGIN CERTIFICATE", out)
        rc, out = s_client(self.fp, "-tls1_2", "-cipher", "AES128-SHA")
        self.assertNotEqual(rc, 0)
        rc, out = s_client(self.fp, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        self.assertNotEqual(rc, 0)
        poll_until(lambda: failures(self.t, "fe", "tls_version") > v0, desc="tls_version")
        poll_until(lambda: failures(self.t, "fe", "tls_no_shared_cipher") >= c0 + 2,
                   desc="no shared cipher")
        rc, out = s_client(self.fp, "-tls1_3")
        self.assertIn("TLSv1.3", out)

    def test_garbage_never_reaches_a_codec(self):
        n0 = len(self.plain.requests)
        p0 = failures(self.t, "fe", "tls_protocol")
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            try:
                d = s.recv(4096)
            except ConnectionResetError:
                break  # closed with the request unread: a reset is fine
            if not d:
                break
            got += d
        s.close()
        self.assertNotIn(b"HTTP/1.", got)
        poll_until(lambda: failures(self.t, "fe", "tls_protocol") > p0, desc="counted")
        self.assertEqual(len(self.plain.requests), n0)

    def test_handshake_timeout(self):
        h0 = failures(self.t, "fe", "hs_timeout")
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=5)
        s.settimeout(3)
        self.assertEqual(s.recv(10), b"")  # cut by timeout client-hs (300ms)
        s.close()
        poll_until(lambda: failures(self.t, "fe", "hs_timeout") > h0, desc="hs_timeout")

    def mtls_curl(self, cert, *extra):
        return curl("https://www.example.com:%d/id" % self.mp, "--resolve",
                    "www.example.com:%d:127.0.0.1" % self.mp,
                    *((("--cert", pki(cert)) if cert else ()) + extra))

    def test_mtls(self):
        n0 = failures(self.t, "mtls", "tls_no_cert")
        rc, code, _, _ = self.mtls_curl(None)
        self.assertNotEqual(code, 200)
        poll_until(lambda: failures(self.t, "mtls", "tls_no_cert") > n0, desc="no cert")
        u0 = failures(self.t, "mtls", "tls_unknown_ca")
        rc, code, _, _ = self.mtls_curl("client-foreign.pem")
        self.assertNotEqual(code, 200)
        poll_until(lambda: failures(self.t, "mtls", "tls_unknown_ca") > u0, desc="unknown CA")
        e0 = failures(self.t, "mtls", "tls_cert_expired")
        rc, code, _, _ = self.mtls_curl("expired.pem")
        self.assertNotEqual(code, 200)
        poll_until(lambda: failures(self.t, "mtls", "tls_cert_expired") > e0, desc="expired")

        # the right one: routed by its SPIFFE ID, XFCC set (the client's own
        # copy replaced), peer= in the access log
        nf = len(self.front.requests)
        rc, code, _, body = self.mtls_curl("client.pem", "-H",
                                           "X-Forwarded-Client-Cert: URI=spiffe://evil/x")
        self.assertEqual((rc, code, body), (0, 200, "front GET /id\n"))
        req = self.front.requests[nf]
        xfcc = req.header("x-forwarded-client-cert")
        # By= first: the URI SAN of the certificate this listener presented
        self.assertTrue(xfcc.startswith("By=spiffe://mesh.local/ns/b/sa/api;Hash="), xfcc)
        self.assertIn("URI=spiffe://mesh.local/ns/a/sa/frontend", xfcc)
        self.assertIn("Hash=", xfcc)
        self.assertIn('Subject="O=tern,CN=frontend"', xfcc)  # RFC 2253 order
        self.assertIn("DNS=client.mesh.local", xfcc)
        self.assertNotIn("evil", xfcc)
        poll_until(lambda: any(d["frontend"] == "mtls" and
                               d.get("peer") == "spiffe://mesh.local/ns/a/sa/frontend"
                               for d in http_access_log(self.t.stderr_text())),
                   desc="peer= in the access log")
        no = len(self.other.requests)
        rc, code, _, body = self.mtls_curl("client-other.pem")
        self.assertEqual((code, body), (200, "other GET /id\n"))
        self.assertIn("sa/other", self.other.requests[no].header("x-forwarded-client-cert"))

    def test_xfcc_stripped_without_mtls(self):
        n0 = len(self.plain.requests)
        rc, code, _, _ = curl("https://www.example.com:%d/" % self.fp, "--resolve",
                              "www.example.com:%d:127.0.0.1" % self.fp, "-H",
                              "X-Forwarded-Client-Cert: URI=spiffe://evil/x")
        self.assertEqual(code, 200)
        self.assertIsNone(self.plain.requests[n0].header("x-forwarded-client-cert"))

    def test_tcp_termination(self):
        rc, code, _, body = curl("https://www.example.com:%d/t" % self.tp, "--resolve",
                                 "www.example.com:%d:127.0.0.1" % self.tp)
        self.assertEqual((rc, code, body), (0, 200, "plain GET /t\n"))
        self.assertGreaterEqual(
            self.t.metrics().value("tern_tls_handshakes_total", 0, proxy="tcpfe"), 1)

    def test_expiry_metric(self):
        m = self.t.metrics()
        v = [s for s in m.find("tern_tls_cert_not_after_seconds", proxy="fe")]
        self.assertEqual(len(v), 2)
        self.assertTrue(all(x[2] > 1.7e9 for x in v))


class RotationTest(unittest.TestCase):
    def test_rotation(self):
        b = HttpBackend("rot")
        d = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        crt = os.path.join(d, "site.pem")
        shutil.copy(pki("server.pem"), crt)
        fp, ap = free_port(), free_port()
        cfg = cfg_http(admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d ssl crt %s\n    default_backend be\n"
            "backend be\n    server s 127.0.0.1:%d\n" % (fp, crt, b.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                self.assertEqual(subject_cn(fp, "x.example"), "www.example.com")
                # a long-lived keep-alive connection opened before the rotation
                ctx = ssl.create_default_context(cafile=pki("ca.pem"))
                old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", fp), timeout=5),
                                      server_hostname="www.example.com")

                def get(sock, path):
                    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
                    got = b""
                    while not got.endswith(b"\n\n") and b"rot GET" not in got:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        got += chunk
                    return got
                self.assertIn(b"rot GET /1", get(old, b"/1"))
                # replaced by rename (a new inode), as certificate tools do
                tmp = crt + ".new"
                with open(tmp, "w") as f:
                    f.write(open(pki("rsa.pem")).read() + open(pki("rsa.pem.key")).read())
                os.rename(tmp, crt)
                poll_until(lambda: subject_cn(fp, "x.example") == "rsa.example.com", timeout=10,
                           desc="new handshakes use the new certificate")
                self.assertIn(b"rot GET /2", get(old, b"/2"))
                self.assertEqual(t.metrics().value("tern_tls_cert_rotations_total", 0,
                                                   proxy="fe"), 1)
                # a broken replacement (key of another certificate) changes nothing
                shutil.copy(pki("mismatch.pem"), crt)
                poll_until(lambda: t.metrics().value("tern_tls_cert_rotation_failures_total",
                                                     0, proxy="fe") == 1, timeout=10,
                           desc="broken replacement counted")
                self.assertIn("rejected, the old ones stay in service", t.stderr_text())
                self.assertEqual(subject_cn(fp, "x.example"), "rsa.example.com")
                self.assertIn(b"rot GET /3", get(old, b"/3"))
                old.close()
        finally:
            b.kill()
            shutil.rmtree(d, ignore_errors=True)


    def test_reload_keeps_tls_and_rotation(self):
        """A SIGHUP reload keeps a TLS listener's socket and its TLS: old
        connections go on, new handshakes work and follow the new routes,
        and certificate rotation then watches the new configuration's
        files."""
        import signal
        b1, b2 = HttpBackend("one"), HttpBackend("two")
        d = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        crt = os.path.join(d, "site.pem")
        shutil.copy(pki("server.pem"), crt)
        fp, ap = free_port(), free_port()

        def cfg(port):
            return cfg_http(admin_port=ap) + (
                "frontend fe\n    bind 127.0.0.1:%d ssl crt %s\n    default_backend be\n"
                "backend be\n    server s 127.0.0.1:%d\n" % (fp, crt, port))
        try:
            with Tern(cfg(b1.port), admin_port=ap) as t:
                ctx = ssl.create_default_context(cafile=pki("ca.pem"))
                old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", fp), timeout=5),
                                      server_hostname="www.example.com")
                old.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                st, _, body, _ = HttpReader(old).response()
                self.assertEqual((st, body), (200, b"one GET /a\n"))
                before = t.clusters()["version"]
                with open(t.cfg_path, "w") as f:
                    f.write(cfg(b2.port))
                t.send_signal(signal.SIGHUP)
                poll_until(lambda: t.clusters()["version"] > before, desc="reload applied")
                rc, st, _, body = curl("https://www.example.com:%d/b" % fp, "--resolve",
                                       "www.example.com:%d:127.0.0.1" % fp)
                self.assertEqual((rc, st, body), (0, 200, "two GET /b\n"))
                old.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
                st, _, body, _ = HttpReader(old).response()
                self.assertEqual((st, body), (200, b"two GET /c\n"))
                old.close()
                tmp = crt + ".new"
                with open(tmp, "w") as f:
                    f.write(open(pki("rsa.pem")).read() + open(pki("rsa.pem.key")).read())
                os.rename(tmp, crt)
                poll_until(lambda: subject_cn(fp, "x.example") == "rsa.example.com", timeout=10,
                           desc="rotation seen after the reload")
        finally:
            b1.kill()
            b2.kill()
            shutil.rmtree(d, ignore_errors=True)


class UpstreamTest(unittest.TestCase):
    def test_nginx_backend_verified_with_sni_and_reuse(self):
        ng = Nginx(listen_opts="ssl", server_extra=(
            "ssl_certificate %s; ssl_certificate_key %s;" % (pki("server.pem"),
                                                             pki("server.pem"))),
            locations='location / { return 200 "nginx $ssl_server_name $uri\\n"; }')
        fp, bad = free_port(), free_port()
        cfg = cfg_http() + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "frontend fe_bad\n    bind 127.0.0.1:%d\n    default_backend be_bad\n"
            "backend be\n    server n 127.0.0.1:%d ssl verify required ca-file %s "
            "sni str(www.example.com)\n"
            "backend be_bad\n    retries 0\n    server n 127.0.0.1:%d ssl ca-file %s "
            "sni str(wrong.example.org)\n" % (fp, bad, ng.port, pki("ca.pem"), ng.port,
                                              pki("ca.pem")))
        try:
            with Tern(cfg) as t:
                import http.client
                c = http.client.HTTPConnection("127.0.0.1", fp, timeout=5)
                for i in range(5):
                    c.request("GET", "/k%d" % i)
                    r = c.getresponse()
                    self.assertEqual((r.status, r.read()),
                                     (200, b"nginx www.example.com /k%d\n" % i))
                c.close()
                self.assertEqual(len(set(ng.connections())), 1)  # one TLS connection reused
                c = http.client.HTTPConnection("127.0.0.1", bad, timeout=5)
                c.request("GET", "/")
                r = c.getresponse()
                self.assertEqual(r.status, 503)  # the certificate does not match the SNI
                r.read()
                c.close()
                self.assertIn("TLS handshake failed: tls_bad_cert", t.stderr_text())
        finally:
            ng.close()

    def test_tern_to_tern_mtls(self):
        front, other = HttpBackend("front"), HttpBackend("other")
        ip, op, op2 = free_port(), free_port(), free_port()
        inbound = cfg_http() + (
            "frontend inbound\n"
            "    bind 127.0.0.1:%d ssl crt %s ca-file %s verify required\n"
            "    option forward-client-cert sanitize-set\n"
            "    use_backend app if { ssl_c_spiffe_id spiffe://mesh.local/ns/a/sa/frontend }\n"
            "    default_backend other\n"
            "backend app\n    server s 127.0.0.1:%d\n"
            "backend other\n    server s 127.0.0.1:%d\n"
            % (ip, pki("server.pem"), pki("ca.pem"), front.port, other.port))
        outbound = cfg_http() + (
            "frontend outbound\n    bind 127.0.0.1:%d\n    default_backend mesh\n"
            "frontend outbound2\n    bind 127.0.0.1:%d\n    default_backend mesh2\n"
            "backend mesh\n    server in 127.0.0.1:%d ssl verify required ca-file %s "
            "crt %s sni str(www.example.com)\n"
            "backend mesh2\n    server in 127.0.0.1:%d ssl verify required ca-file %s "
            "crt %s verifyhost api.example.com\n"
            % (op, op2, ip, pki("ca.pem"), pki("client.pem"), ip, pki("ca.pem"),
               pki("client-other.pem")))
        try:
            with Tern(inbound) as tin, Tern(outbound):
                import http.client
                c = http.client.HTTPConnection("127.0.0.1", op, timeout=5)
                c.request("GET", "/svc")
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"front GET /svc\n"))
                self.assertIn("URI=spiffe://mesh.local/ns/a/sa/frontend",
                              front.requests[-1].header("x-forwarded-client-cert"))
                c = http.client.HTTPConnection("127.0.0.1", op2, timeout=5)
                c.request("GET", "/svc")
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"other GET /svc\n"))
                poll_until(lambda: {d.get("peer") for d in
                                    http_access_log(tin.stderr_text(), "inbound")} >=
                           {"spiffe://mesh.local/ns/a/sa/frontend",
                            "spiffe://mesh.local/ns/a/sa/other"}, desc="peers logged")
        finally:
            front.kill()
            other.kill()


if __name__ == "__main__":
    unittest.main()
