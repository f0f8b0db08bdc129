"""Idle timeouts: timeout client and timeout server close an idle
connection, logged with the matching termination state."""

import time
import unittest

from ternlib import (NameServer, Tern, access_log, cfg_head, connect, free_port, poll_until,
                     recv_line, wait_readable)


class TimeoutTest(unittest.TestCase):
    def run_idle(self, tclient, tserver, want_state, want_reason):
        s1 = NameServer("s1", mode="hold")
        fp = free_port()
        cfg = cfg_head(nbthread=1, timeout_client=tclient, timeout_server=tserver) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, s1.port))
        try:
            with Tern(cfg) as t:
                c = connect(fp)
                self.assertEqual(recv_line(c), b"s1")
                t0 = time.monotonic()
                self.assertTrue(wait_readable(c, 5), "idle connection never closed")
                took = time.monotonic() - t0
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
                self.assertGreaterEqual(took, 0.25)
                self.assertLess(took, 2.0)
                poll_until(lambda: access_log(t.stderr_text()), desc="log line")
                (d,) = access_log(t.stderr_text())
                self.assertEqual((d["state"], d["reason"]), (want_state, want_reason))
                poll_until(lambda: s1.n_active() == 0, desc="server side closed too")
        finally:
            s1.kill()

    def test_client_timeout(self):
        self.run_idle("300ms", "10s", "cD", "client_timeout")

    def test_server_timeout(self):
        self.run_idle("10s", "300ms", "sD", "server_timeout")


if __name__ == "__main__":
    unittest.main()
