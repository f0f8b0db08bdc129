"""HTTP/2 to the servers (`server ... proto h2`): a python3-h2 server as the
backend, curl (--http2-prior-knowledge and HTTP/1.1) and h2load as clients.

Checked: h2->h2 and h1->h2 requests with bodies, the response's trailers
(an HTTP/2 trailer section for an HTTP/2 client; the last chunk's trailer
fields for an HTTP/1.1 client, whose body without content-length is framed
chunked), streams multiplexed over few connections and a new connection when
the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached, a GOAWAY whose
refused streams are sent again on another connection (every request
succeeds), a server reset before the response as a 502, and h2load with 100
concurrent streams over 4 connections through tern with zero errors."""

import select
import socket
import subprocess
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from ternlib import Tern, cfg_http, free_port, pattern_bytes, poll_until


class H2Server:
    """A python3-h2 server, prior knowledge, one thread per connection.

    Paths: /echo (the body back, content-length), /trail (a body without
    content-length, then trailers x-sum and grpc-status), /big/<n> (n
    pattern bytes, no content-length), /slow/<ms> (200 after ms), /reset
    (RST_STREAM before any response), anything else "h2 <method> <path>".
    `goaway_after`: after that many requests a connection answers them,
    then refuses the next with GOAWAY (last_stream_id = the last answered)."""

    def __init__(self, max_streams=100, goaway_after=0):
        self.max_streams = max_streams
        self.goaway_after = goaway_after
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests = []       # (conn index, method, path, headers dict, body)
        self.trailers = {}       # (stream id, conn index) -> request trailers or None
        self.conns = 0
        self.max_seen = {}       # conn index -> most streams open at once
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                idx = self.conns
                self.conns += 1
            threading.Thread(target=self.serve, args=(c, idx), daemon=True).start()

    def serve(self, sock, idx):
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                              self.max_streams})
        sock.sendall(conn.data_to_send())
        streams = {}   # id -> {"headers", "body"}
        due = []       # (time, stream id)
        answered = 0
        open_now = set()
        pending = {}       # id -> body bytes waiting for window
        try:
            while True:
                timeout = None
                if due:
                    timeout = max(0, min(d[0] for d in due) - time.time())
                r, _, _ = select.select([sock], [], [], timeout)
                if r:
                    data = sock.recv(65536)
                    if not data:
                        return
                    for ev in conn.receive_data(data):
                        if isinstance(ev, h2.events.RequestReceived):
                            streams[ev.stream_id] = {"headers": dict(ev.headers), "body": b""}
                            open_now.add(ev.stream_id)
                            with self.lock:
                                self.max_seen[idx] = max(self.max_seen.get(idx, 0),
                                                         len(open_now))
                        elif isinstance(ev, h2.events.TrailersReceived):
                            streams[ev.stream_id]["trailers"] = dict(ev.headers)
                        elif isinstance(ev, h2.events.DataReceived):
                            streams[ev.stream_id]["body"] += ev.data
                            conn.acknowledge_received_data(ev.flow_controlled_length,
                                                           ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded):
                            st = streams[ev.stream_id]
                            if self.goaway_after and answered >= self.goaway_after:
                                conn.close_connection(last_stream_id=max(
                                    [i for i in streams if i < ev.stream_id and
                                     streams[i].get("done")] or [0]))
                                sock.sendall(conn.data_to_send())
                                time.sleep(0.05)
                                return
                            answered += 1
                            h = st["headers"]
                            with self.lock:
                                self.requests.append((idx, h[":method"], h[":path"], h,
                                                      st["body"]))
                                self.trailers[ev.stream_id, idx] = st.get("trailers")
                            path = h[":path"]
                            if path.startswith("/slow/"):
                                due.append((time.time() + int(path[6:]) / 1000.0,
                                            ev.stream_id))
                            else:
                                self.respond(conn, ev.stream_id, st, pending)
                                st["done"] = True
                                open_now.discard(ev.stream_id)
                        elif isinstance(ev, h2.events.StreamReset):
                            open_now.discard(ev.stream_id)
                for d in [d for d in due if d[0] <= time.time()]:
                    due.remove(d)
                    self.respond(conn, d[1], streams[d[1]], pending)
                    streams[d[1]]["done"] = True
                    open_now.discard(d[1])
                for sid in list(pending):
                    try:
                        pending[sid] = self.send_body(conn, sid, pending[sid], True)
                    except h2.exceptions.StreamClosedError:
                        pending[sid] = b""
                    if not pending[sid]:
                        del pending[sid]
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            sock.close()

    def send_body(self, conn, sid, body, end):
        while body:
            n = min(len(body), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            if n <= 0:
                return body  # the rest when the window opens
            conn.send_data(sid, body[:n], end_stream=end and n == len(body))
            body = body[n:]
        return b""

    def respond(self, conn, sid, st, pending):
        h = st["headers"]
        path = h[":path"]
        if path == "/reset":
            conn.reset_stream(sid, error_code=2)
            return
        if path == "/echo":
            conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(st["body"])))],
                              end_stream=not st["body"])
            if st["body"]:
                pending[sid] = self.send_body(conn, sid, st["body"], True)
            return
        if path == "/trail":
            body = b"trailing body"
            conn.send_headers(sid, [(":status", "200"), ("content-type", "text/plain")])
            conn.send_data(sid, body)
            conn.send_headers(sid, [("x-sum", "13"), ("grpc-status", "0")], end_stream=True)
            return
        if path.startswith("/big/"):
            body = pattern_bytes(int(path[5:]))
            conn.send_headers(sid, [(":status", "200")])
            pending[sid] = self.send_body(conn, sid, body, True)
            return
        body = ("h2 %s %s\n" % (h[":method"], path)).encode()
        conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
        conn.send_data(sid, body, end_stream=True)

    def kill(self):
        self.stop = True
        self.sock.close()


def curl(url, *args):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "10", "-o", "-", "-D", "-", "-w",
                        "\n%{http_code} %{http_version}"] + list(args) + [url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    out, _, tail = p.stdout.decode("latin-1").rpartition("\n")
    code, _, ver = tail.partition(" ")
    return p.returncode, int(code or 0), ver, out


def config(fp, hp, servers):
    return cfg_http() + (
        "frontend fe2\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
        "frontend fe1\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
        "backend be\n%s" % (fp, hp, "".join(
            "    server s%d 127.0.0.1:%d proto h2\n" % (i, p) for i, p in enumerate(servers))))


class H2UpstreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = H2Server()
        cls.fp, cls.hp = free_port(), free_port()
        cls.t = Tern(config(cls.fp, cls.hp, [cls.srv.port]))
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.srv.kill()

    def test_h2_to_h2_and_h1_to_h2(self):
        rc, code, ver, out = curl("http://127.0.0.1:%d/a?b=c" % self.fp, "--http2-prior-knowledge")
        self.assertEqual((rc, code, ver), (0, 200, "2"))
        self.assertTrue(out.endswith("h2 GET /a?b=c\n"), out)
        rc, code, ver, out = curl("http://127.0.0.1:%d/x" % self.hp)
        self.assertEqual((rc, code, ver), (0, 200, "1.1"))
        self.assertTrue(out.endswith("h2 GET /x\n"), out)
        with self.srv.lock:
            reqs = list(self.srv.requests)
        h = [r for r in reqs if r[2] == "/x"][-1][3]
        self.assertEqual(h[":authority"], "127.0.0.1:%d" % self.hp)
        self.assertEqual(h[":scheme"], "http")
        self.assertNotIn("host", h)
        self.assertNotIn("connection", h)

    def test_many_fields_lowercased_for_the_server(self):
        # HTTP/1.1 names in any case become lowercase (RFC 9113 8.2.1);
        # more fields than the first field array holds
        hdrs = []
        for i in range(40):
            hdrs += ["-H", "X-Field-%02d: v%d" % (i, i)]
        for port, extra in ((self.hp, []), (self.fp, ["--http2-prior-knowledge"])):
            rc, code, _, _ = curl("http://127.0.0.1:%d/fields%d" % (port, port), *(hdrs + extra))
            self.assertEqual((rc, code), (0, 200))
            with self.srv.lock:
                h = [r for r in self.srv.requests if r[2] == "/fields%d" % port][-1][3]
            for i in range(40):
                self.assertEqual(h.get("x-field-%02d" % i), "v%d" % i, sorted(h))

    def test_bodies_both_ways(self):
        body = pattern_bytes(200000)
        for port, extra in ((self.fp, ["--http2-prior-knowledge"]), (self.hp, [])):
            p = subprocess.run(["curl", "-s", "--max-time", "10", "--data-binary", "@-",
                                "-H", "content-type: application/octet-stream"] + extra +
                               ["http://127.0.0.1:%d/echo" % port], input=body,
                               stdout=subprocess.PIPE, timeout=20)
            self.assertEqual(p.returncode, 0)
            self.assertEqual(p.stdout, body)
        p = subprocess.run(["curl", "-s", "--max-time", "10", "--http2-prior-knowledge",
                            "http://127.0.0.1:%d/big/1000000" % self.fp],
                           stdout=subprocess.PIPE, timeout=20)
        self.assertEqual(p.stdout, pattern_bytes(1000000))

    def test_trailers(self):
        # HTTP/2 client: a trailer section
        rc, code, ver, out = curl("http://127.0.0.1:%d/trail" % self.fp,
                                  "--http2-prior-knowledge", "-v")
        self.assertEqual((rc, code), (0, 200))
        self.assertIn("trailing body", out)
        self.assertIn("x-sum: 13", out)
        self.assertIn("grpc-status: 0", out)
        # HTTP/1.1 client: chunked, the trailers after the last chunk
        s = socket.create_connection(("127.0.0.1", self.hp), timeout=10)
        s.sendall(b"GET /trail HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
        got = b""
        while not got.endswith(b"\r\n\r\n") or b"0\r\n" not in got:
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        head, _, rest = got.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        self.assertEqual(rest, b"d\r\ntrailing body\r\n0\r\nx-sum: 13\r\ngrpc-status: 0\r\n\r\n")

    def test_h1_chunked_request_body_goes_as_data_frames(self):
        # an HTTP/1.1 client's chunked body: the framing comes off, the
        # payload goes as DATA frames without content-length, the trailers
        # as a trailing HEADERS; a pipelined request after it is intact
        s = socket.create_connection(("127.0.0.1", self.hp), timeout=10)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"TE: trailers\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n"
                  b"0\r\nx-check: 42\r\n\r\n"
                  b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while got.count(b"HTTP/1.1 200") < 2 or not got.endswith(b"h2 GET /after\n"):
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        self.assertIn(b"\r\n\r\nhello world", got)
        self.assertTrue(got.endswith(b"h2 GET /after\n"), got)
        with self.srv.lock:
            reqs = [(r, self.srv.trailers) for r in self.srv.requests if r[2] == "/echo"]
        r = [r for r, _ in reqs if r[4] == b"hello world"]
        self.assertTrue(r, reqs)
        self.assertNotIn("content-length", r[-1][3])
        self.assertNotIn("transfer-encoding", r[-1][3])
        with self.srv.lock:
            self.assertIn({"x-check": "42"}, list(self.srv.trailers.values()))
        # a larger body, curl's own chunking, against the echo
        body = pattern_bytes(300000)
        p = subprocess.run(["curl", "-s", "--max-time", "10", "--data-binary", "@-",
                            "-H", "Transfer-Encoding: chunked",
                            "http://127.0.0.1:%d/echo" % self.hp], input=body,
                           stdout=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, body)

    def test_connection_window_given_back_for_ended_streams(self):
        # each response ends (END_STREAM) in the frame that brings its last
        # bytes, before the client took them: those bytes must still go back
        # to the server connection's window, else the connection stalls
        # after one window (16 KiB x 100) of responses. 2.4 MB here.
        p = subprocess.run(["h2load", "-n", "300", "-c", "1", "-m", "10",
                            "http://127.0.0.1:%d/big/8000" % self.fp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        self.assertIn("300 succeeded, 0 failed, 0 errored", out, out)

    def test_reset_before_response_is_502(self):
        rc, code, ver, out = curl("http://127.0.0.1:%d/reset" % self.fp, "--http2-prior-knowledge")
        self.assertEqual(code, 502)

    def test_h2load_100_streams_4_connections(self):
        p = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "25",
                            "http://127.0.0.1:%d/h2load" % self.fp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        self.assertIn("2000 succeeded, 0 failed, 0 errored", out, out)
        self.assertIn("status codes: 2000 2xx", out)
        # multiplexed: far fewer server connections than requests
        self.assertLess(self.srv.conns, 20)


class H2UpstreamLimitsTest(unittest.TestCase):
    def test_max_concurrent_streams_opens_connections(self):
        srv = H2Server(max_streams=2)
        fp, hp = free_port(), free_port()
        t = Tern(config(fp, hp, [srv.port]))
        t.start()
        try:
            # a first request: the connection exists and its SETTINGS are known
            rc, code, _, _ = curl("http://127.0.0.1:%d/warm" % fp, "--http2-prior-knowledge")
            self.assertEqual(code, 200)
            p = subprocess.run(["h2load", "-n", "6", "-c", "1", "-m", "6",
                                "http://127.0.0.1:%d/slow/300" % fp],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            out = p.stdout.decode()
            self.assertIn("6 succeeded, 0 failed", out, out)
            with srv.lock:
                self.assertGreaterEqual(srv.conns, 3)
                self.assertLessEqual(max(srv.max_seen.values()), 2)
        finally:
            t._cleanup(failed=False)
            srv.kill()

    def test_goaway_refused_streams_are_retried(self):
        srv = H2Server(goaway_after=3)
        fp, hp = free_port(), free_port()
        t = Tern(config(fp, hp, [srv.port]))
        t.start()
        try:
            p = subprocess.run(["h2load", "-n", "40", "-c", "1", "-m", "4",
                                "http://127.0.0.1:%d/g" % fp],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            out = p.stdout.decode()
            self.assertIn("40 succeeded, 0 failed, 0 errored", out, out)
            self.assertIn("status codes: 40 2xx", out, out)
            with srv.lock:
                self.assertGreater(srv.conns, 5)  # every few requests a new connection
                self.assertEqual(len(srv.requests), 40)  # each processed once
        finally:
            t._cleanup(failed=False)
            srv.kill()


if __name__ == "__main__":
    unittest.main()
