"""HTTP/2 downstream (bind ... proto h2, prior knowledge) to an HTTP/1.1
server: curl --http2-prior-knowledge and h2load as real clients, Debian's
python3-h2 as a low-level one. Asserts what the backend saw (Host from
:authority, HTTP/1.1, a body without length sent chunked with its
trailers), what the client got (a chunked response's framing removed, its
trailers as an HTTP/2 trailer section), local replies (plain and gRPC),
stream-level errors that leave the connection usable, the rapid-reset
defence, and the access log's HTTP/2.0."""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from ternlib import (TERN_BIN, HttpBackend, Tern, cfg_http, free_port, http_access_log, pattern_bytes,
                     poll_until)


class H2Client:
    """A blocking python3-h2 client over one socket (prior knowledge)."""

    def __init__(self, port, window=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.streams = {}
        self.closed = False
        self.goaway = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, headers=(), body=None, end=True, port=0):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % port)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        self.streams[sid] = {"headers": None, "data": b"", "trailers": None, "ended": False,
                             "reset": None}
        self.flush()
        if body is not None:
            self.send_body(sid, body, end)
        return sid

    def send_body(self, sid, data, end):
        """Sends data within the stream's and connection's windows, reading
        (window updates) whenever they are closed."""
        while True:
            w = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(data))
            if w > 0 or not data:
                self.conn.send_data(sid, data[:w], end_stream=end and w == len(data))
                self.flush()
                data = data[w:]
                if not data:
                    return
                continue
            self.sock.settimeout(10)
            got = self.sock.recv(65536)
            if not got:
                raise AssertionError("connection closed while sending")
            for ev in self.conn.receive_data(got):
                st = self.streams.get(getattr(ev, "stream_id", None))
                if isinstance(ev, h2.events.DataReceived):
                    st["data"] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.ResponseReceived):
                    st["headers"] = dict(ev.headers)
            self.flush()

    def pump(self, until, timeout=10):
        self.sock.settimeout(timeout)
        while not until():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("timed out")
            if not data:
                self.closed = True
                return
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
                elif isinstance(ev, h2.events.StreamReset):
                    if st is not None:
                        st["reset"] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev.error_code
            self.flush()

    def get(self, sid):
        self.pump(lambda: self.streams[sid]["ended"] or self.streams[sid]["reset"] is not None)
        return self.streams[sid]

    def close(self):
        self.sock.close()


def cfg(fp, bport, extra_fe="", extra_global=(), admin_port=None):
    return cfg_http(global_extra=extra_global, admin_port=admin_port) + (
        "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n%s\n"
        "backend be\n    server s1 127.0.0.1:%d\n" % (fp, extra_fe, bport))


class H2BasicTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b1")
        cls.fp, cls.ap = free_port(), free_port()
        cls.t = Tern(cfg(cls.fp, cls.b.port, admin_port=cls.ap), admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def last_request(self, target):
        return poll_until(lambda: [q for q in self.b.requests if q.target == target][-1:],
                          desc="backend saw %s" % target)[0]

    def test_curl_prior_knowledge(self):
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-",
                              "http://127.0.0.1:%d/hello?x=1" % self.fp],
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith(b"HTTP/2 200"), out.stdout[:100])
        self.assertTrue(out.stdout.endswith(b"b1 GET /hello?x=1\n"), out.stdout)
        q = self.last_request("/hello?x=1")
        self.assertEqual(q.version, "HTTP/1.1")
        # RFC 9113 8.3.1: Host from :authority
        self.assertEqual(q.header("host"), "127.0.0.1:%d" % self.fp)
        log = poll_until(lambda: [e for e in http_access_log(self.t.stderr_text())
                                  if "/hello?x=1" in e["request"]], desc="access log")
        self.assertIn("HTTP/2.0", log[-1]["request"])

    def test_many_fields_and_cookies_reach_the_server(self):
        # more fields than the first field array holds (it grows), several
        # cookie fields joined (RFC 9113 8.2.3), Host added from :authority
        extra = [("x-f%02d" % i, "v%d" % i) for i in range(70)] + \
            [("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "c=3")]
        c = H2Client(self.fp)
        sid = c.request("GET", "/fields", extra, port=self.fp)
        st = c.get(sid)
        c.close()
        self.assertEqual(st["headers"][":status"], "200")
        q = self.last_request("/fields")
        for i in range(70):
            self.assertEqual(q.header("x-f%02d" % i), "v%d" % i)
        self.assertEqual(q.header("cookie"), "a=1; b=2; c=3")
        self.assertEqual(q.header("host"), "127.0.0.1:%d" % self.fp)

    def test_post_with_length_and_large_response(self):
        body = pattern_bytes(300000)
        c = H2Client(self.fp)
        sid = c.request("POST", "/echo", [("content-length", str(len(body)))], body,
                        port=self.fp)
        st = c.get(sid)
        self.assertEqual(st["headers"][":status"], "200")
        self.assertEqual(hashlib.sha256(st["data"]).hexdigest(),
                         hashlib.sha256(body).hexdigest())
        # a 4 MB response through windows the client opens as it reads
        sid = c.request("GET", "/big/4000000", port=self.fp)
        st = c.get(sid)
        self.assertEqual(st["data"], pattern_bytes(4000000))
        c.close()

    def test_body_without_length_goes_chunked_with_trailers(self):
        c = H2Client(self.fp)
        sid = c.request("POST", "/sink", [("te", "trailers")], end=False, port=self.fp)
        data = pattern_bytes(100000)
        for i in range(0, len(data), 7000):
            c.send_body(sid, data[i:i + 7000], False)
        c.conn.send_headers(sid, [("x-check", "abc")], end_stream=True)
        c.flush()
        st = c.get(sid)
        self.assertEqual(st["headers"][":status"], "200")
        self.assertEqual(st["data"].decode().split(),
                         [str(len(data)), hashlib.sha256(data).hexdigest()])
        q = self.last_request("/sink")
        self.assertEqual(q.header("transfer-encoding"), "chunked")
        self.assertIsNone(q.header("content-length"))
        self.assertIn(("x-check", "abc"), [(k.lower(), v) for k, v in q.trailers])
        c.close()

    def test_chunked_response_becomes_data_and_trailers(self):
        c = H2Client(self.fp)
        sid = c.request("GET", "/chunked/25000", [("te", "trailers")], port=self.fp)
        st = c.get(sid)
        self.assertEqual(st["headers"][":status"], "200")
        self.assertNotIn("transfer-encoding", st["headers"])
        self.assertEqual(st["data"], pattern_bytes(25000))
        self.assertIsNotNone(st["trailers"])
        self.assertIn("x-sum", st["trailers"])
        c.close()

    def test_many_streams_on_one_connection(self):
        c = H2Client(self.fp)
        sids = [c.request("GET", "/m%d" % i, port=self.fp) for i in range(50)]
        for i, sid in enumerate(sids):
            st = c.get(sid)
            self.assertEqual(st["data"], b"b1 GET /m%d\n" % i)
        c.close()

    def test_malformed_request_resets_only_its_stream(self):
        c = H2Client(self.fp)
        # RFC 9113 8.2.1: uppercase field names make the request malformed
        bad = c.request("GET", "/bad", [("X-Upper", "1")], port=self.fp)
        good = c.request("GET", "/good", port=self.fp)
        st = c.get(bad)
        self.assertEqual(st["reset"], 1)  # PROTOCOL_ERROR
        st = c.get(good)
        self.assertEqual(st["data"], b"b1 GET /good\n")
        # connection-specific fields too (8.2.2)
        bad = c.request("GET", "/bad2", [("connection", "keep-alive")], port=self.fp)
        self.assertEqual(c.get(bad)["reset"], 1)
        self.assertFalse(c.closed)
        c.close()

    @unittest.skipUnless(shutil.which("h2load"), "h2load (nghttp2-client) not installed")
    def test_h2load_100_streams_4_connections(self):
        out = subprocess.run(["h2load", "-n", "4000", "-c", "4", "-m", "25",
                              "http://127.0.0.1:%d/load" % self.fp],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("4000 succeeded, 0 failed, 0 errored, 0 timeout", out.stdout)
        self.assertIn("status codes: 4000 2xx", out.stdout)

    def test_rapid_reset_closes_the_abuser_not_others(self):
        stop = threading.Event()
        served = []

        def normal():
            c = H2Client(self.fp)
            while not stop.is_set():
                sid = c.request("GET", "/normal", port=self.fp)
                if c.get(sid)["data"] == b"b1 GET /normal\n":
                    served.append(1)
            c.close()

        th = threading.Thread(target=normal)
        th.start()
        try:
            a = H2Client(self.fp)
            for i in range(2000):
                if a.closed or a.goaway is not None:
                    break
                try:
                    sid = a.request("GET", "/slow/2000", port=self.fp)
                    a.conn.reset_stream(sid, 8)  # CANCEL
                    a.flush()
                except (OSError, h2.exceptions.ProtocolError):
                    break
            a.pump(lambda: a.closed or a.goaway is not None, timeout=10)
            self.assertTrue(a.closed or a.goaway == 11, (a.closed, a.goaway))  # ENHANCE_YOUR_CALM
            a.close()
            n = len(served)
            poll_until(lambda: len(served) > n + 5, desc="normal client still served")
            m = poll_until(lambda: self.t.metrics().value("tern_h2_goaway_sent_total",
                                                           proxy="fe"),
                           desc="GOAWAY counted")
            self.assertGreaterEqual(m, 1)
            self.assertGreater(self.t.metrics().value("tern_h2_rst_received_total", proxy="fe"),
                               100)
        finally:
            stop.set()
            th.join(10)


class H2LocalReplyTest(unittest.TestCase):
    def test_no_server_plain_and_grpc(self):
        fp, dead = free_port(), free_port()
        with Tern(cfg(fp, dead)) as t:
            c = H2Client(fp)
            sid = c.request("GET", "/x", port=fp)
            st = c.get(sid)
            self.assertEqual(st["headers"][":status"], "503")
            sid = c.request("POST", "/pkg.Svc/Method",
                            [("content-type", "application/grpc"), ("te", "trailers")],
                            b"\x00\x00\x00\x00\x00", port=fp)
            st = c.get(sid)
            # a gRPC error: HTTP 200, grpc-status 14 UNAVAILABLE (trailers-only)
            self.assertEqual(st["headers"][":status"], "200")
            self.assertEqual(st["headers"]["grpc-status"], "14")
            c.close()

    def test_config_proto_errors(self):
        for bind, want in (("bind 127.0.0.1:%d proto h2", "'proto h2' needs mode http"),
                           ("bind 127.0.0.1:%d proto h3", "unknown protocol 'h3'"),
                           ("bind 127.0.0.1:%d proto", "expects a protocol name")):
            with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
                f.write(cfg_http() + (
                    "frontend fe\n    mode tcp\n    " + bind % free_port() +
                    "\n    default_backend be\nbackend be\n    mode tcp\n"
                    "    server s1 127.0.0.1:1\n"))
            p = subprocess.run([TERN_BIN, "-c", "-f", f.name], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=20)
            os.unlink(f.name)
            self.assertNotEqual(p.returncode, 0)
            self.assertRegex(p.stderr, r"\.cfg:\d+: bind: .*" + re.escape(want))

if __name__ == "__main__":
    unittest.main()
