"""HTTP/2 abuse against tern's h2 listener with hand-written frames:
a CONTINUATION flood (a header block that never ends) and a PING flood from
a client that never reads its ACKs. Each gets its connection closed with
tern's memory bounded, while a normal client on the same worker is served.
Then the clients that take too little: a zero-window stall (a client that
never opens its window) cut by `timeout client` and counted in
tern_h2_flow_stalls_total, and a slow reader of a 100 MB download whose
pace reaches the server (backpressure) with tern's memory bounded."""

import os
import socket
import struct
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.events

from ternlib import (HttpBackend, TcpServer, Tern, TernError, cfg_http, free_port, http_get,
                     poll_until)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


SETTINGS = frame(4, 0, 0, b"")
# a literal header field without indexing, new name: "x-flood: aaa...": 4 KiB each
FIELD = b"\x00\x07x-flood\x7f\x81\x1f" + b"a" * 4096  # 127 + 3969 = 4096 (HPACK int)


def hpack_min_request():
    # :method GET (idx 2), :scheme http (idx 6), :path / (idx 4), :authority x
    return b"\x82\x86\x84\x41\x01x"


def closed(sock, timeout=10.0):
    """Reads (and drops) until EOF or reset; True when the peer closed."""
    sock.settimeout(timeout)
    end = time.time() + timeout
    try:
        while time.time() < end:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class H2AbuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b")
        cls.fp, cls.hp, cls.ap = free_port(), free_port(), free_port()
        cls.t = Tern(cfg_http(admin_port=cls.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
            "frontend fe1\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (cls.fp, cls.hp, cls.b.port)),
            admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_continuation_flood_is_cut_with_bounded_memory(self):
        self.assertEqual(len(FIELD), 2 + 7 + 3 + 4096)
        rss0 = self.t.rss_kb()
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=10)
        s.sendall(PREFACE + SETTINGS + frame(1, 0, 1, hpack_min_request()))
        sent = 0
        cut = False
        try:
            # up to 64 MiB of CONTINUATION frames, never END_HEADERS
            for _ in range(16384):
                s.sendall(frame(9, 0, 1, FIELD))
                sent += len(FIELD)
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        self.assertTrue(cut or closed(s), "the flood was not cut")
        s.close()
        self.assertLess(sent, 8 << 20, "tern read %d bytes of one header block" % sent)
        # bounded: far below what was offered
        self.assertLess(self.t.rss_kb() - rss0, 16 * 1024)
        # others are served
        status, _, body = http_get(self.hp, "/after")[:3]
        self.assertEqual(status, 200)

    def test_ping_flood_without_reading_is_cut(self):
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(PREFACE + SETTINGS)
        cut = False
        t0 = time.time()
        ping = frame(6, 0, 0, b"12345678") * 512
        try:
            while time.time() - t0 < 20:
                s.sendall(ping)  # never read: the ACKs pile up in tern
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut = True
        s.close()
        self.assertTrue(cut, "a PING flood that never reads its ACKs kept its connection")
        status = http_get(self.hp, "/after")[0]
        self.assertEqual(status, 200)


def read_frame(sock):
    """One frame off a blocking socket: (type, flags, stream, payload), or
    None at EOF."""
    def exact(n):
        b = b""
        while len(b) < n:
            d = sock.recv(n - len(b))
            if not d:
                return None
            b += d
        return b
    hd = exact(9)
    if hd is None:
        return None
    n = int.from_bytes(hd[:3], "big")
    payload = exact(n) if n else b""
    if payload is None:
        return None
    return hd[3], hd[4], int.from_bytes(hd[5:9], "big") & 0x7fffffff, payload


class CountingSource(TcpServer):
    """An HTTP/1.1 server answering any request with `size` bytes
    (content-length), written in 64 KiB pieces with a small send buffer;
    `sent` is what the kernel took so far, so a test sees whether its
    client's pace reaches the server."""

    def __init__(self, size, **kw):
        self.size = size
        self.sent = 0
        super().__init__(**kw)

    def handle(self, c, addr):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(4096)
            if not d:
                return
            head += d
        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % self.size)
        piece = b"x" * 65536
        left = self.size
        while left:
            n = c.send(piece[:min(left, len(piece))])
            left -= n
            with self.lock:
                self.sent += n
        c.recv(1)  # until tern closes


class H2FlowTest(unittest.TestCase):
    """Clients that take too little: each test runs its own tern."""

    def test_zero_window_stall_is_cut_by_timeout_client(self):
        b = HttpBackend("b")
        fp, ap = free_port(), free_port()
        cfg = cfg_http(admin_port=ap, timeout_client="1s") + (
            "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, b.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                s = socket.create_connection(("127.0.0.1", fp), timeout=10)
                # SETTINGS_INITIAL_WINDOW_SIZE 0, then a GET of a 100 KB body;
                # never a WINDOW_UPDATE
                s.sendall(PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 0)) +
                          frame(1, 5, 1, b"\x82\x86\x04\x0b/big/100000\x41\x01x"))
                t0 = time.time()
                seen = []
                while True:
                    f = read_frame(s)
                    self.assertIsNotNone(f, "tern closed the connection instead of the stream "
                                            "(frames: %r)" % seen)
                    seen.append(f[:3])
                    if f[0] == 4 and not f[1] & 1:
                        s.sendall(frame(4, 1, 0, b""))  # ACK its SETTINGS
                    if f[0] == 3 and f[2] == 1:
                        break
                    self.assertLess(time.time() - t0, 8, "no RST_STREAM: %r" % seen)
                elapsed = time.time() - t0
                # the response head went, not one byte of body (the window is 0)
                self.assertIn((1, 4, 1), seen)
                self.assertFalse([f for f in seen if f[0] == 0],
                                 "DATA sent into a zero window: %r" % seen)
                # cut by timeout client (1 s), not at once and not never
                self.assertGreater(elapsed, 0.8)
                self.assertLess(elapsed, 4.0)
                m = poll_until(lambda: t.metrics().value("tern_h2_flow_stalls_total",
                                                         proxy="fe") or None,
                               desc="tern_h2_flow_stalls_total > 0")
                self.assertEqual(m, 1)
                # the connection itself lives on: a PING is answered
                s.sendall(frame(6, 0, 0, b"stillup!"))
                while True:
                    f = read_frame(s)
                    self.assertIsNotNone(f)
                    if f[0] == 6:
                        self.assertEqual(f[1:], (1, 0, b"stillup!"))
                        break
                s.close()
        finally:
            b.kill()

    def test_slow_reader_of_100mb_has_backpressure_and_bounded_memory(self):
        size = 100 * 1000 * 1000
        src = CountingSource(size)
        fp, ap = free_port(), free_port()
        cfg = cfg_http(admin_port=ap, timeout_client="30s", timeout_server="30s") + (
            "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, src.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                rss0 = t.rss_kb()
                s = socket.create_connection(("127.0.0.1", fp), timeout=30)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                c = h2.connection.H2Connection(h2.config.H2Configuration(
                    client_side=True, header_encoding="utf-8"))
                c.initiate_connection()
                c.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                                   (":path", "/download"), (":authority", "x")],
                               end_stream=True)
                s.sendall(c.data_to_send())
                got = [0]
                done = [False]

                def pump(nbytes):
                    d = s.recv(nbytes)
                    if not d:
                        raise TernError("tern closed after %d bytes" % got[0])
                    for ev in c.receive_data(d):
                        if isinstance(ev, h2.events.DataReceived):
                            got[0] += len(ev.data)
                            c.acknowledge_received_data(ev.flow_controlled_length,
                                                        ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded):
                            done[0] = True
                        elif isinstance(ev, h2.events.StreamReset):
                            raise TernError("stream reset after %d bytes" % got[0])
                    out = c.data_to_send()
                    if out:
                        s.sendall(out)

                # slow: 16 KiB every 5 ms (about 3 MB/s) up to 4 MB
                peak_ahead = 0
                while got[0] < 4 * 1000 * 1000:
                    pump(16384)
                    with src.lock:
                        peak_ahead = max(peak_ahead, src.sent - got[0])
                    time.sleep(0.005)  # the reader's pace, not a synchronisation
                # stopped: the server must stall far short of the 100 MB it has
                # (without backpressure it writes them in well under 2 s)
                with self.assertRaises(AssertionError):
                    poll_until(lambda: src.sent > got[0] + 16 * 1000 * 1000, timeout=2.0,
                               desc="server ran ahead")
                with src.lock:
                    ahead = src.sent - got[0]
                self.assertLess(max(ahead, peak_ahead), 16 * 1000 * 1000,
                                "the server wrote %d bytes ahead of the client" % ahead)
                grown = t.rss_kb() - rss0
                if os.environ.get("H2_VERBOSE"):
                    print("slow reader: %d bytes read, server %d ahead (peak %d), tern +%d KiB"
                          % (got[0], ahead, peak_ahead, grown))
                self.assertLess(grown, 16 * 1024, "tern grew %d KiB for one slow stream" % grown)
                # then the rest, as fast as it comes: all of it, intact in length
                while not done[0]:
                    pump(1 << 20)
                self.assertEqual(got[0], size)
                self.assertEqual(src.sent, size)
                self.assertLess(t.rss_kb() - rss0, 16 * 1024)
                s.close()
        finally:
            src.kill()


if __name__ == "__main__":
    unittest.main()
