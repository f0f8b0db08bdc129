"""Large bodies through mode http within bounded memory: 100 MB up
(Content-Length), 100 MB down (Content-Length), chunked both ways, and a
slow reader that must stop tern reading the server (backpressure). tern's
RSS is sampled during each transfer; it must stay far below the body size
(each direction holds at most a couple of tune.bufsize buffers)."""

import socket
import threading
import time
import unittest

from ternlib import (HttpBackend, HttpReader, PatternStream, Tern, cfg_http, connect, free_port,
                     pattern_bytes)

MB = 1 << 20
# Far below 100 MB, above what the allocator and sanitizers add.
RSS_GROWTH_LIMIT_KB = 40 * 1024


class RssSampler:
    def __init__(self, t):
        self.t = t
        self.base = t.rss_kb()
        self.peak = self.base
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.t.rss_kb())
            except Exception:  # noqa: BLE001 - process gone: the test will say why
                return
            self.stop.wait(0.02)  # sampling period

    def growth_kb(self):
        self.stop.set()
        self.th.join(5)
        return self.peak - self.base


class BodiesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b", keep_body=False)
        cls.fp = free_port()
        cls.t = Tern(cfg_http(timeout_client="60s", timeout_server="60s") + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (cls.fp, cls.b.port)))
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_upload_100mb(self):
        n = 100 * MB
        rss = RssSampler(self.t)
        s = connect(self.fp, timeout=60)
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n)
        off = 0
        while off < n:
            k = min(4 * MB, n - off)
            s.sendall(pattern_bytes(k, off))
            off += k
        st, _, body, _ = HttpReader(s).response()
        s.close()
        growth = rss.growth_kb()
        self.assertEqual(st, 200)
        self.assertEqual(body.decode(), "%d %s" % (n, PatternStream.digest_of_pattern(n)))
        self.assertLess(growth, RSS_GROWTH_LIMIT_KB, "RSS grew by %d kB" % growth)

    def test_download_100mb(self):
        n = 100 * MB
        rss = RssSampler(self.t)
        s = connect(self.fp, timeout=60)
        s.sendall(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        ps = PatternStream()
        st, hdrs, _, _ = HttpReader(s).response(sink=ps.update)
        s.close()
        growth = rss.growth_kb()
        self.assertEqual(st, 200)
        self.assertEqual(ps.n, n)
        self.assertEqual(ps.hexdigest(), PatternStream.digest_of_pattern(n))
        self.assertLess(growth, RSS_GROWTH_LIMIT_KB, "RSS grew by %d kB" % growth)

    def test_chunked_both_ways(self):
        n = 20 * MB
        s = connect(self.fp, timeout=60)
        rd = HttpReader(s)
        # up: chunks of varying sizes
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        off, i = 0, 0
        out = bytearray()
        while off < n:
            k = min((i % 7 + 1) * 9973, n - off)
            out += b"%x\r\n" % k + pattern_bytes(k, off) + b"\r\n"
            off += k
            i += 1
            if len(out) > 2 * MB:
                s.sendall(out)
                out = bytearray()
        s.sendall(bytes(out) + b"0\r\n\r\n")
        st, _, body, _ = rd.response()
        self.assertEqual(st, 200)
        self.assertEqual(body.decode(), "%d %s" % (n, PatternStream.digest_of_pattern(n)))
        # down: 1000-byte chunks and a trailer
        s.sendall(b"GET /chunked/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        ps = PatternStream()
        st, _, _, trailers = rd.response(sink=ps.update)
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(ps.n, n)
        self.assertEqual(trailers, [("X-Sum", PatternStream.digest_of_pattern(n))])

    def test_slow_reader_backpressure(self):
        # the client reads nothing for a while: tern must stop reading the
        # server (its socket buffers fill) instead of buffering the body
        n = 64 * MB
        rss = RssSampler(self.t)
        s = connect(self.fp, timeout=60)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        # hold still ~1 s: a non-blocking proxy with unbounded buffers would
        # have read the whole body from the fast backend by then
        time.sleep(1.0)  # the slow reader's pause, not synchronisation
        stalled = rss.peak - rss.base
        ps = PatternStream()
        st, _, _, _ = HttpReader(s).response(sink=ps.update)
        s.close()
        growth = rss.growth_kb()
        self.assertEqual(st, 200)
        self.assertEqual(ps.hexdigest(), PatternStream.digest_of_pattern(n))
        self.assertLess(stalled, 8 * 1024, "RSS grew by %d kB while the client stalled" % stalled)
        self.assertLess(growth, RSS_GROWTH_LIMIT_KB)


if __name__ == "__main__":
    unittest.main()
