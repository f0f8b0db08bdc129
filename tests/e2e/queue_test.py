"""Server maxconn with a queue: a connection over the limit waits (no
server connection is made), proceeds when a slot frees, and is closed when
`timeout queue` expires first."""

import time
import unittest

from ternlib import (NameServer, Tern, cfg_head, connect, free_port, poll_until, recv_line,
                     wait_readable)


def config(fp, ap, port, tq):
    return cfg_head(nbthread=2, admin_port=ap) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
        "backend be\n    timeout queue %s\n    server s1 127.0.0.1:%d maxconn 1\n"
        % (fp, tq, port))


class QueueTest(unittest.TestCase):
    def test_waits_for_slot(self):
        s1 = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, s1.port, "5s"), admin_port=ap) as t:
                c1 = connect(fp)
                self.assertEqual(recv_line(c1), b"s1")
                c2 = connect(fp)
                poll_until(lambda: t.metrics().get("tern_backend_current_queue", proxy="be") == 1,
                           desc="second connection queued")
                self.assertFalse(wait_readable(c2, 0.3), "queued connection got data")
                self.assertEqual(s1.accepted, 1)
                c1.close()
                c2.settimeout(3)
                self.assertEqual(recv_line(c2), b"s1")
                self.assertEqual(s1.accepted, 2)
                c2.close()
                poll_until(lambda: t.metrics().get("tern_backend_current_queue", proxy="be") == 0,
                           desc="queue empty")
        finally:
            s1.kill()

    def test_queue_timeout(self):
        s1 = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, s1.port, "300ms"), admin_port=ap) as t:
                c1 = connect(fp)
                self.assertEqual(recv_line(c1), b"s1")
                t0 = time.monotonic()
                c2 = connect(fp)
                self.assertTrue(wait_readable(c2, 3), "queued connection never closed")
                took = time.monotonic() - t0
                try:
                    self.assertEqual(c2.recv(10), b"")
                except ConnectionResetError:
                    pass
                self.assertGreaterEqual(took, 0.25)
                self.assertLess(took, 2.0)
                self.assertEqual(s1.accepted, 1)
                self.assertEqual(t.metrics().get("tern_backend_queue_timeouts_total",
                                                 proxy="be"), 1)
                # the first connection is unaffected
                c1.sendall(b"x")
                c1.close()
                c2.close()
        finally:
            s1.kill()

    def test_slots_free_across_workers(self):
        # connections land on either worker; a slot freed on one worker must
        # let a connection queued on the other proceed
        s1 = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        cs = []
        try:
            with Tern(config(fp, ap, s1.port, "10s"), admin_port=ap) as t:
                cs = [connect(fp) for _ in range(8)]
                poll_until(lambda: t.metrics().get("tern_backend_current_queue", proxy="be") == 7,
                           desc="7 connections queued")
                served = poll_until(lambda: [c for c in cs if wait_readable(c, 0)],
                                    desc="the first connection served")
                self.assertEqual(len(served), 1)
                waiting = [c for c in cs if c not in served]
                for i in range(7):
                    served[-1].close()
                    nxt = poll_until(lambda: [c for c in waiting if wait_readable(c, 0)],
                                     timeout=3, desc="queued connection %d proceeds" % i)
                    self.assertEqual(len(nxt), 1, "more than one proceeded past maxconn 1")
                    self.assertEqual(recv_line(nxt[0]), b"s1")
                    waiting.remove(nxt[0])
                    served.append(nxt[0])
                self.assertEqual(s1.accepted, 8)
        finally:
            for c in cs:
                c.close()
            s1.kill()

    def test_maxqueue_full(self):
        # maxqueue bounds a server's own queue: the queue of connections that
        # must go to that server (here: by source hash). As in HAProxy, the
        # connection over the limit is closed (no option redispatch).
        s1 = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance source\n    timeout queue 10s\n"
            "    server s1 127.0.0.1:%d maxconn 1 maxqueue 1\n" % (fp, s1.port))
        cs = []
        try:
            with Tern(cfg, admin_port=ap) as t:
                cs = [connect(fp) for _ in range(2)]
                self.assertEqual(recv_line(cs[0]), b"s1")
                poll_until(lambda: t.metrics().get("tern_backend_current_queue", proxy="be") == 1,
                           desc="one queued")
                cs.append(connect(fp))  # queue full: closed at once
                self.assertTrue(wait_readable(cs[2], 3), "third connection not closed")
                try:
                    self.assertEqual(cs[2].recv(10), b"")
                except ConnectionResetError:
                    pass
                self.assertEqual(t.metrics().get("tern_backend_queue_full_total", proxy="be"), 1)
                self.assertFalse(wait_readable(cs[1], 0))
                cs[0].close()
                cs[1].settimeout(3)
                self.assertEqual(recv_line(cs[1]), b"s1")
        finally:
            for c in cs:
                c.close()
            s1.kill()


if __name__ == "__main__":
    unittest.main()
