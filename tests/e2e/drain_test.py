"""Graceful stop: SIGTERM / SIGUSR1 stop accepting (after `grace`), let
in-flight transfers finish (bounded by hard-stop-after) and exit 0; SIGINT
stops at once."""

import signal
import threading
import time
import unittest

from ternlib import (NameServer, PatternStream, SourceServer, Tern, cfg_head, connect,
                     fetch_name, free_port, is_refused, poll_until, recv_line)


def config(fp, ap, server_port, global_extra=()):
    return cfg_head(nbthread=2, admin_port=ap, global_extra=global_extra) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
        "backend be\n    server s1 127.0.0.1:%d\n" % (fp, server_port))


class SlowDownload:
    """A client reading a paced transfer through tern in a thread."""

    def __init__(self, port):
        self.sock = connect(port, timeout=20)
        self.ps = PatternStream()
        self.done = threading.Event()
        self.end_time = None
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.ps.update(d)
        except OSError as e:
            self.error = e
        self.end_time = time.monotonic()
        self.sock.close()
        self.done.set()


class DrainTest(unittest.TestCase):
    def graceful(self, sig):
        nbytes = 3 * 1024 * 1024
        src = SourceServer(nbytes, rate=2 * 1024 * 1024)  # about 1.5 s
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, src.port, ["hard-stop-after 20s"]), admin_port=ap) as t:
                dl = SlowDownload(fp)
                poll_until(lambda: dl.ps.n > 100_000, desc="transfer under way")
                self.assertEqual(t.admin_get("/ready")[0], 200)
                t.send_signal(sig)
                t0 = time.monotonic()
                poll_until(lambda: t.admin_get("/ready", timeout=1)[0] == 503, timeout=2,
                           desc="/ready 503 while draining")
                # new connections are refused soon (grace is 0)
                poll_until(lambda: is_refused(fp), timeout=2, desc="listener closed")
                refused_after = time.monotonic() - t0
                self.assertFalse(dl.done.is_set(), "transfer ended before listeners closed")
                for _ in range(5):
                    self.assertTrue(is_refused(fp), "a new connection was accepted")
                # the in-flight transfer completes intact, then tern exits 0
                rc = t.wait_exit(timeout=15)
                exit_time = time.monotonic()
                self.assertTrue(dl.done.wait(5))
                self.assertIsNone(dl.error)
                self.assertEqual(dl.ps.n, nbytes)
                self.assertEqual(dl.ps.hexdigest(), PatternStream.digest_of_pattern(nbytes))
                self.assertEqual(rc, 0, "exit code")
                self.assertLessEqual(dl.end_time, exit_time + 0.05)
                self.assertLess(refused_after, 1.0)
        finally:
            src.kill()

    def test_sigterm_lets_inflight_finish(self):
        self.graceful(signal.SIGTERM)

    def test_sigusr1_lets_inflight_finish(self):
        self.graceful(signal.SIGUSR1)

    def test_grace_keeps_accepting(self):
        ns = NameServer("s1", mode="close")
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, ns.port, ["grace 1500ms"]), admin_port=ap) as t:
                t0 = time.monotonic()
                t.send_signal(signal.SIGTERM)
                poll_until(lambda: t.admin_get("/ready")[0] == 503, timeout=1,
                           desc="/ready 503 while draining")
                # still accepted and proxied during grace
                self.assertEqual(fetch_name(fp), "s1")
                self.assertLess(time.monotonic() - t0, 1.4, "test too slow to check grace")
                poll_until(lambda: is_refused(fp), timeout=4, desc="listener closed after grace")
                self.assertGreaterEqual(time.monotonic() - t0, 1.4, "grace cut short")
                self.assertEqual(t.wait_exit(5), 0)
        finally:
            ns.kill()

    def test_hard_stop_after_bounds_drain(self):
        ns = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, ns.port, ["hard-stop-after 500ms"]), admin_port=ap) as t:
                c = connect(fp)
                self.assertEqual(recv_line(c), b"s1")
                t0 = time.monotonic()
                t.send_signal(signal.SIGTERM)
                rc = t.wait_exit(5)
                took = time.monotonic() - t0
                self.assertGreaterEqual(took, 0.45, "idle connection not given its time")
                self.assertLess(took, 2.5)
                self.assertEqual(rc, 0)
                c.settimeout(2)
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
        finally:
            ns.kill()

    def test_sigint_stops_at_once(self):
        ns = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, ns.port), admin_port=ap) as t:
                c = connect(fp)
                self.assertEqual(recv_line(c), b"s1")
                t0 = time.monotonic()
                t.send_signal(signal.SIGINT)
                t.wait_exit(2)
                self.assertLess(time.monotonic() - t0, 2)
                c.settimeout(2)
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
                self.assertTrue(is_refused(fp))
        finally:
            ns.kill()


if __name__ == "__main__":
    unittest.main()
