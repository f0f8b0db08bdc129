"""HTTP/2 over TLS: a TLS bind whose ALPN selects h2 runs the HTTP/2 codec
over the TLS transport. Real peers: curl --http2 (ALPN h2), curl --http1.1
and openssl s_client on the same bind, Debian's python3-h2 over Python's
ssl for many streams with bodies and trailers, mTLS identity reaching the
ACLs, x-forwarded-client-cert and the access log of an HTTP/2 stream, and a
`proto h2` TLS bind that speaks HTTP/2 without ALPN (HAProxy's meaning)."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import h2.config
import h2.connection
import h2.events

from ternlib import HttpBackend, Tern, cfg_http, free_port, http_access_log, pattern_bytes, poll_until

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


def curl(url, *args):
    """curl; returns (exit code, status, http version, body)."""
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "5", "-o", "-", "-w",
                        "\n%{http_code} %{http_version}", "--cacert", pki("ca.pem")] +
                       list(args) + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=15)
    body, _, tail = p.stdout.decode("latin-1").rpartition("\n")
    code, _, ver = tail.partition(" ")
    return p.returncode, int(code or 0), ver, body


class TlsH2Client:
    """python3-h2 over Python's ssl (blocking)."""

    def __init__(self, port, alpn=("h2",), cert=None):
        ctx = ssl.create_default_context(cafile=pki("ca.pem"))
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        if cert:
            ctx.load_cert_chain(pki(cert))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname="www.example.com")
        self.alpn = self.sock.selected_alpn_protocol()
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.streams = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, headers=(), body=None, trailers=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"),
                (":authority", "www.example.com")] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        self.streams[sid] = {"headers": None, "data": b"", "trailers": None, "ended": False,
                             "reset": None}
        self.flush()
        while body:
            w = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(body))
            if w <= 0:
                self.read_once()
                continue
            self.conn.send_data(sid, body[:w], end_stream=(w == len(body) and not trailers))
            body = body[w:]
            self.flush()
        if trailers:
            self.conn.send_headers(sid, trailers, end_stream=True)
            self.flush()
        return sid

    def read_once(self):
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("connection closed")
        for ev in self.conn.receive_data(data):
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                st["data"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                st["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                st["ended"] = True
            elif isinstance(ev, h2.events.StreamReset) and st is not None:
                st["reset"] = ev.error_code
        self.flush()

    def wait_all(self):
        while not all(s["ended"] or s["reset"] is not None for s in self.streams.values()):
            self.read_once()

    def close(self):
        self.sock.close()


class H2TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("plain")
        cls.front = HttpBackend("front")
        cls.fp, cls.mp, cls.pp, cls.ap = free_port(), free_port(), free_port(), free_port()
        conf = cfg_http(admin_port=cls.ap) + (
            "frontend fe\n"
            "    bind 127.0.0.1:%(fp)d ssl crt %(srv)s alpn h2,http/1.1\n"
            "    default_backend be\n\n"
            "frontend mtls\n"
            "    bind 127.0.0.1:%(mp)d ssl crt %(srv)s ca-file %(ca)s verify required alpn h2\n"
            "    option forward-client-cert sanitize-set\n"
            "    use_backend be_front if { ssl_c_spiffe_id spiffe://mesh.local/ns/a/sa/frontend }\n"
            "    default_backend be\n\n"
            "frontend forced\n"
            "    bind 127.0.0.1:%(pp)d ssl crt %(srv)s proto h2\n"
            "    default_backend be\n\n"
            "backend be\n    server s 127.0.0.1:%(bp)d\n"
            "backend be_front\n    server s 127.0.0.1:%(fr)d\n"
        ) % {"fp": cls.fp, "mp": cls.mp, "pp": cls.pp, "srv": pki("server.pem"),
             "ca": pki("ca.pem"), "bp": cls.b.port, "fr": cls.front.port}
        cls.t = Tern(conf, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()
        cls.front.kill()

    def url(self, path, port=None):
        return "https://www.example.com:%d%s" % (port or self.fp, path)

    def resolve(self, port=None):
        return ["--resolve", "www.example.com:%d:127.0.0.1" % (port or self.fp)]

    def test_alpn_h2_offered_and_served(self):
        self.assertNotIn("alpn 'h2,http/1.1'", self.t.stderr_text())  # no warning now
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.fp,
                            "-CAfile", pki("ca.pem"), "-alpn", "h2,http/1.1"],
                           input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
        self.assertIn("ALPN protocol: h2", p.stdout.decode("latin-1"))
        n = len(self.b.requests)
        rc, code, ver, body = curl(self.url("/x"), "--http2", *self.resolve())
        self.assertEqual((rc, code, ver, body), (0, 200, "2", "plain GET /x\n"))
        self.assertEqual(self.b.requests[n].version, "HTTP/1.1")
        self.assertEqual(self.b.requests[n].header("host"), "www.example.com:%d" % self.fp)
        poll_until(lambda: any(d["frontend"] == "fe" and "HTTP/2.0" in d["request"]
                               for d in http_access_log(self.t.stderr_text())),
                   desc="HTTP/2.0 in the access log")

    def test_http11_on_the_same_bind(self):
        rc, code, ver, body = curl(self.url("/y"), "--http1.1", *self.resolve())
        self.assertEqual((rc, code, ver, body), (0, 200, "1.1", "plain GET /y\n"))
        # no ALPN at all: HTTP/1.1
        ctx = ssl.create_default_context(cafile=pki("ca.pem"))
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.fp), timeout=10),
                             server_hostname="www.example.com") as s:
            self.assertIsNone(s.selected_alpn_protocol())
            s.sendall(b"GET /z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        self.assertTrue(got.endswith(b"plain GET /z\n"))

    def test_many_streams_bodies_and_trailers(self):
        c = TlsH2Client(self.fp)
        self.assertEqual(c.alpn, "h2")
        big = pattern_bytes(300000)
        sids = [c.request("GET", "/big/200000")]
        sids += [c.request("POST", "/echo", body=b"hello %d" % i) for i in range(10)]
        sids.append(c.request("POST", "/sink", body=big,
                              trailers=[("x-check", "yes")]))
        sids.append(c.request("GET", "/chunked/5000"))
        c.wait_all()
        st = c.streams
        self.assertEqual(st[sids[0]]["headers"][":status"], "200")
        self.assertEqual(st[sids[0]]["data"], pattern_bytes(200000))
        for i in range(10):
            self.assertEqual(st[sids[1 + i]]["data"], b"hello %d" % i)
        import hashlib
        self.assertEqual(st[sids[11]]["data"].decode(),
                         "%d %s" % (len(big), hashlib.sha256(big).hexdigest()))
        self.assertEqual(st[sids[12]]["data"], pattern_bytes(5000))
        self.assertIsNotNone(st[sids[12]]["trailers"])
        self.assertIn("x-sum", st[sids[12]]["trailers"])
        c.close()

    def test_mtls_identity_on_h2_streams(self):
        n = len(self.front.requests)
        c = TlsH2Client(self.mp, cert="client.pem")
        self.assertEqual(c.alpn, "h2")
        sid = c.request("GET", "/id", headers=[("x-forwarded-client-cert", "URI=spiffe://evil")])
        c.wait_all()
        self.assertEqual(c.streams[sid]["data"], b"front GET /id\n")
        xfcc = self.front.requests[n].header("x-forwarded-client-cert")
        self.assertIn("URI=spiffe://mesh.local/ns/a/sa/frontend", xfcc)
        self.assertNotIn("evil", xfcc)
        # this listener's certificate has no URI SAN: no By= (as Envoy)
        self.assertTrue(xfcc.startswith("Hash="), xfcc)
        c.close()
        poll_until(lambda: any(d["frontend"] == "mtls" and "HTTP/2.0" in d["request"] and
                               d.get("peer") == "spiffe://mesh.local/ns/a/sa/frontend"
                               for d in http_access_log(self.t.stderr_text())),
                   desc="peer= on the HTTP/2 stream's log line")

    def test_proto_h2_tls_bind_without_alpn(self):
        c = TlsH2Client(self.pp, alpn=None)
        self.assertIsNone(c.alpn)
        sid = c.request("GET", "/forced")
        c.wait_all()
        self.assertEqual(c.streams[sid]["headers"][":status"], "200")
        self.assertEqual(c.streams[sid]["data"], b"plain GET /forced\n")
        c.close()


if __name__ == "__main__":
    unittest.main()
