"""Running out of file descriptors (tern started with RLIMIT_NOFILE 64):
accept pauses and resumes, is counted and logged at most once per interval;
pending clients are served once descriptors free up; nothing spins."""

import time
import unittest

from ternlib import (NameServer, Tern, cfg_head, connect, free_port, poll_until, recv_line,
                     wait_readable)

LIMIT = 64
NCLIENTS = 40


class FdExhaustionTest(unittest.TestCase):
    def setUp(self):
        self.s1 = NameServer("s1", mode="hold")
        self.fp, self.ap = free_port(), free_port()
        self.cfg = cfg_head(nbthread=2, admin_port=self.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (self.fp, self.s1.port))
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.s1.kill()

    def exhaust(self, t, base_fds):
        """Opens NCLIENTS held connections; returns the ones tern served
        (got the name) once it is at its fd limit and the rest wait in the
        kernel's backlog."""
        self.clients = [connect(self.fp) for _ in range(NCLIENTS)]

        # two descriptors per proxied connection; one more connection may
        # be accepted but stuck retrying its server socket
        capacity = (LIMIT - base_fds) // 2

        def settled():
            ready = [c for c in self.clients if wait_readable(c, 0)]
            if (t.fd_count() >= LIMIT - 1 and len(ready) == self.s1.accepted
                    and len(ready) >= capacity - 2):
                return ready
            return None

        served = poll_until(settled, desc="tern at its fd limit, served clients answered")
        self.assertLess(len(served), NCLIENTS // 2 + 5, "fd limit not reached")
        return served

    def test_accept_pauses_and_resumes(self):
        with Tern(self.cfg, admin_port=self.ap, rlimit_nofile=LIMIT) as t:
            base_fds = t.fd_count()
            t0 = time.monotonic()
            served = self.exhaust(t, base_fds)
            self.assertTrue(t.alive())
            # free the served connections: everyone waiting is served now
            for c in served:
                self.assertEqual(recv_line(c), b"s1")
                c.close()
            pending = [c for c in self.clients if c not in served]
            poll_until(lambda: all(wait_readable(c, 0) for c in pending), timeout=10,
                       desc="%d pending clients served" % len(pending))
            for c in pending:
                self.assertEqual(recv_line(c), b"s1")
                c.close()
            self.clients = []
            took = time.monotonic() - t0
            poll_until(lambda: t.fd_count() <= base_fds, timeout=5,
                       desc="descriptors back to %d" % base_fds)
            m = t.metrics()
            self.assertGreater(m.get("tern_process_accept_paused_total"), 0)
            self.assertEqual(m.get("tern_frontend_connections_total", proxy="fe"), NCLIENTS)
            # logged, but at most once per second per worker
            lines = [l for l in t.stderr_lines() if "paused" in l]
            self.assertGreater(len(lines), 0, "running out of fds was not logged")
            self.assertLessEqual(len(lines), 2 * (took + 1) + 2, lines)

    def test_admin_during_exhaustion(self):
        with Tern(self.cfg, admin_port=self.ap, rlimit_nofile=LIMIT) as t:
            self.exhaust(t, t.fd_count())
            a = connect(self.ap)  # an admin client waits for a descriptor
            self.clients.append(a)
            size0, cpu0, t0 = len(t.stderr_text()), t.cpu_seconds(), time.monotonic()
            # measure one second of tern's behaviour (a measurement window,
            # not a synchronisation)
            time.sleep(1.0)
            cpu = t.cpu_seconds() - cpu0
            grew = len(t.stderr_text()) - size0
            wall = time.monotonic() - t0
            self.assertLess(cpu, 0.3 * wall, "tern spins: %.2fs CPU in %.2fs" % (cpu, wall))
            self.assertLess(grew, 4096, "stderr grew %d bytes in %.2fs: %r"
                            % (grew, wall, t.stderr_text()[size0:size0 + 300]))
            # once descriptors free up, the admin API answers again
            for c in self.clients[:-1]:
                c.close()
            self.clients = [a]
            a.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
            a.settimeout(5)
            self.assertIn(b" 200 ", recv_line(a))


if __name__ == "__main__":
    unittest.main()
