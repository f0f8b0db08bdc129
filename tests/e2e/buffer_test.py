"""Backpressure: 100 MB through tern to a slow reader (a client that reads
slowly and stalls, or a server that does) completes intact while tern's RSS
stays within a small bound over its idle size (tune.bufsize 16384): a slow
reader never makes tern buffer without limit."""

import socket
import threading
import time
import unittest

from ternlib import (PatternStream, SinkServer, SourceServer, Tern, cfg_head, connect,
                     free_port, pattern_bytes, recv_line)

TOTAL = 100 * 1024 * 1024
RATE = 60 * 1024 * 1024     # the slow side's pace, bytes/s
STALL_AT = 20 * 1024 * 1024  # the slow side stops reading here ...
STALL = 1.0                  # ... for this long
RSS_BOUND_KB = 8 * 1024


class RssSampler:
    def __init__(self, tern):
        self.tern = tern
        self.max_kb = 0
        self.samples = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                self.max_kb = max(self.max_kb, self.tern.rss_kb())
                self.samples += 1
            except Exception:  # noqa: BLE001 - process gone: the test reports it
                return
            self.stop.wait(0.02)

    def finish(self):
        self.stop.set()
        self.t.join(5)
        return self.max_kb


def config(fp, server_port):
    return cfg_head(nbthread=1, global_extra=["tune.bufsize 16384"]) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
        "backend be\n    server s1 127.0.0.1:%d\n" % (fp, server_port))


class BufferBoundTest(unittest.TestCase):
    def test_download_to_slow_client(self):
        src = SourceServer(TOTAL)
        fp = free_port()
        try:
            with Tern(config(fp, src.port)) as t:
                base = t.rss_kb()
                sampler = RssSampler(t)
                c = connect(fp, timeout=30)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                ps = PatternStream()
                t0 = time.monotonic()
                stalled = False
                stall_rss = None
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    ps.update(d)
                    if not stalled and ps.n >= STALL_AT:
                        stalled = True
                        # stop reading: the server keeps writing as fast as
                        # tern lets it
                        time.sleep(STALL)
                        stall_rss = t.rss_kb()
                        t0 -= STALL
                    ahead = ps.n / RATE - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)  # pacing the slow reader
                c.close()
                peak = sampler.finish()
                print("\ndownload: RSS base %d KiB, during stall %d, peak %d (%d samples)"
                      % (base, stall_rss, peak, sampler.samples))
                self.assertGreater(sampler.samples, 20)
                self.assertEqual(ps.n, TOTAL)
                self.assertEqual(ps.hexdigest(), PatternStream.digest_of_pattern(TOTAL))
                self.assertEqual(src.sent, [TOTAL])
                self.assertLess(stall_rss - base, RSS_BOUND_KB,
                                "RSS grew %d KiB while the client stalled" % (stall_rss - base))
                self.assertLess(peak - base, RSS_BOUND_KB,
                                "RSS grew from %d to %d KiB" % (base, peak))
        finally:
            src.kill()

    def test_upload_to_slow_server(self):
        sink = SinkServer(rate=RATE)
        fp = free_port()
        try:
            with Tern(config(fp, sink.port)) as t:
                base = t.rss_kb()
                sampler = RssSampler(t)
                c = connect(fp, timeout=30)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
                sent = 0
                chunk = 1 << 20
                stall_rss = None
                while sent < TOTAL:
                    c.sendall(pattern_bytes(chunk, sent))
                    sent += chunk
                    if stall_rss is None and sent >= STALL_AT:
                        # the server is slower than us: by now tern holds
                        # whatever it is willing to buffer
                        stall_rss = t.rss_kb()
                c.shutdown(socket.SHUT_WR)
                reply = recv_line(c).decode()
                c.close()
                peak = sampler.finish()
                print("\nupload: RSS base %d KiB, at 20 MB %d, peak %d (%d samples)"
                      % (base, stall_rss, peak, sampler.samples))
                self.assertEqual(reply, "%d %s" % (TOTAL, PatternStream.digest_of_pattern(TOTAL)))
                self.assertLess(stall_rss - base, RSS_BOUND_KB)
                self.assertLess(peak - base, RSS_BOUND_KB,
                                "RSS grew from %d to %d KiB" % (base, peak))
        finally:
            sink.kill()


if __name__ == "__main__":
    unittest.main()
