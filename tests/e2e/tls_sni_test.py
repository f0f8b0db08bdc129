"""SNI passthrough in mode tcp, with real TLS peers: two `openssl s_server`
backends with their own certificates behind one tern frontend that does not
terminate TLS (tcp-request inspect-delay, tcp-request content accept if
{ req.ssl_hello_type 1 }, use_backend ... if { req.ssl_sni -i <name> }).

Checked: each name reaches its own backend and the client sees that
backend's certificate (verified against the test CA: tern never touched the
bytes); the match ignores case with -i; an unknown name goes to the default
backend; a ClientHello sent in two pieces still routes by SNI (the
inspection waits for the whole hello); req.ssl_alpn routes; plain text is
rejected by `reject unless { req.ssl_hello_type 1 }` (reason=denied, no
backend connection); config errors for req.* in mode http."""

import os
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import testpki
from testpki import pki
from ternlib import TERN_BIN, NameServer, Tern, cfg_head, free_port, poll_until

setUpModule = testpki.setup
tearDownModule = testpki.teardown


class SServer:
    """openssl s_server -www on a free port with one certificate."""

    def __init__(self, cert, key=None):
        self.port = free_port()
        args = ["openssl", "s_server", "-quiet", "-www", "-accept", "127.0.0.1:%d" % self.port,
                "-cert", cert]
        if key:
            args += ["-key", key]
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        def up():
            if self.p.poll() is not None:
                raise AssertionError("openssl s_server exited with %s" % self.p.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        # a loaded machine may take seconds to start it: a generous bound, not a sleep
        poll_until(up, timeout=30, desc="s_server up")

    def kill(self):
        self.p.kill()
        self.p.wait()


def client_ctx(alpn=None):
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    ctx.check_hostname = False  # the test reads the certificate's names itself
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def cert_cn(cert):
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def fetch(port, sni, alpn=None):
    """TLS through tern to whichever backend; returns (certificate CN, HTTP
    status line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with client_ctx(alpn).wrap_socket(raw, server_hostname=sni) as s:
            cn = cert_cn(s.getpeercert())
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            return cn, data.split(b"\r\n")[0].decode()


def fetch_split(port, sni, pause):
    """Like fetch, but the ClientHello goes out in two writes `pause` apart."""
    ctx = client_ctx()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        raw.sendall(hello[:20])
        time.sleep(pause)  # the point of the test: a slow client, not synchronisation
        raw.sendall(hello[20:])
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = out.read()
                if pending:
                    raw.sendall(pending)
                d = raw.recv(65536)
                if not d:
                    raise ConnectionError("closed during the handshake")
                inc.write(d)
        pending = out.read()
        if pending:
            raw.sendall(pending)
        return cert_cn(obj.getpeercert())


class SniPassthroughTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.www = SServer(pki("server.pem"))
        cls.rsa = SServer(pki("rsa.pem"), pki("rsa.pem.key"))
        cls.dflt = NameServer("default")
        cls.fp, cls.rp, cls.ap, cls.lp = free_port(), free_port(), free_port(), free_port()
        cfg = cfg_head(admin_port=cls.ap) + (
            "frontend sni\n"
            "    bind 127.0.0.1:%(fp)d\n"
            "    tcp-request inspect-delay 5s\n"
            "    tcp-request content accept if { req.ssl_hello_type 1 }\n"
            "    use_backend be_www if { req.ssl_sni -i www.example.com }\n"
            "    use_backend be_rsa if { req.ssl_sni -i rsa.example.com }\n"
            "    default_backend be_default\n\n"
            "frontend strict\n"
            "    bind 127.0.0.1:%(rp)d\n"
            "    tcp-request inspect-delay 2s\n"
            "    tcp-request content reject unless { req.ssl_hello_type 1 }\n"
            "    default_backend be_default\n\n"
            "frontend alpn\n"
            "    bind 127.0.0.1:%(lp)d\n"
            "    tcp-request inspect-delay 5s\n"
            "    tcp-request content accept if { req.ssl_hello_type 1 }\n"
            "    use_backend be_rsa if { req.ssl_alpn h2 }\n"
            "    default_backend be_www\n\n"
            "backend be_www\n    server s 127.0.0.1:%(wp)d\n"
            "backend be_rsa\n    server s 127.0.0.1:%(rsp)d\n"
            "backend be_default\n    server s 127.0.0.1:%(dp)d\n"
        ) % {"fp": cls.fp, "rp": cls.rp, "lp": cls.lp, "wp": cls.www.port,
             "rsp": cls.rsa.port, "dp": cls.dflt.port}
        cls.t = Tern(cfg, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.www.kill()
        cls.rsa.kill()
        cls.dflt.kill()

    def test_two_names_two_backends(self):
        cn, status = fetch(self.fp, "www.example.com")
        self.assertEqual(cn, "www.example.com")
        self.assertTrue(status.startswith("HTTP/1.0 200"), status)
        cn, status = fetch(self.fp, "rsa.example.com")
        self.assertEqual(cn, "rsa.example.com")
        self.assertTrue(status.startswith("HTTP/1.0 200"), status)
        self.assertEqual(fetch(self.fp, "RSA.Example.COM")[0], "rsa.example.com")

    def test_unknown_name_default_backend(self):
        before = self.dflt.bytes_in
        with socket.create_connection(("127.0.0.1", self.fp), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                client_ctx().wrap_socket(raw, server_hostname="nobody.example.com")
        # the ClientHello reached the default backend
        poll_until(lambda: self.dflt.bytes_in > before, desc="hello at the default backend")

    def test_split_hello(self):
        self.assertEqual(fetch_split(self.fp, "rsa.example.com", 0.2), "rsa.example.com")

    def test_alpn(self):
        self.assertEqual(fetch(self.lp, "www.example.com", ["h2"])[0], "rsa.example.com")
        self.assertEqual(fetch(self.lp, "www.example.com", ["http/1.1"])[0],
                         "www.example.com")

    def test_reject_plain(self):
        before = self.dflt.bytes_in
        with socket.create_connection(("127.0.0.1", self.rp), timeout=5) as s:
            s.sendall(b"hello there, not TLS\n")
            self.assertEqual(s.recv(100), b"")
        poll_until(lambda: any(" strict <NOSRV>/<NOSRV> " in l and "reason=denied" in l
                               for l in self.t.stderr_lines()), desc="denied in the log")
        self.assertEqual(self.dflt.bytes_in, before)
        # a real hello passes the same frontend
        with socket.create_connection(("127.0.0.1", self.rp), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                client_ctx().wrap_socket(raw, server_hostname="x")
        poll_until(lambda: self.dflt.bytes_in > before, desc="hello at the default backend")


class ConfigTest(unittest.TestCase):
    def check(self, body):
        d = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        f = os.path.join(d, "t.cfg")
        with open(f, "w") as fh:
            fh.write("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
                     "    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:%d\n%s"
                     "    default_backend b\nbackend b\n    server s 127.0.0.1:1\n"
                     % (free_port(), body))
        p = subprocess.run([TERN_BIN, "-c", "-f", f], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        return p.returncode, p.stdout.decode()

    def test_errors(self):
        rc, out = self.check("    use_backend b if { req.ssl_sni x }\n")
        self.assertEqual(rc, 1)
        self.assertIn("t.cfg:8: use_backend: 'req.ssl_sni' reads the client's first bytes: "
                      "only available in mode tcp", out)
        rc, out = self.check("    tcp-request content accept\n")
        self.assertIn("t.cfg:8: tcp-request: content rules run in mode tcp only", out)
        rc, out = self.check("    tcp-request connection reject\n")
        self.assertIn("'tcp-request connection' is not supported by tern", out)
        rc, out = self.check("    tcp-request content set-var(txn.x) int(1)\n")
        self.assertIn("action 'set-var(txn.x)' is not supported", out)
        rc, out = self.check("    tcp-request inspect-delay 5q\n")
        self.assertIn("invalid inspect-delay '5q'", out)


if __name__ == "__main__":
    unittest.main()
