"""Connect failures: retries, option redispatch, and a backend that refuses
every connection (client closed, counted, no crash, no leaked descriptor)."""

import collections
import unittest

from ternlib import (NameServer, Tern, cfg_head, connect, fetch_name, free_port,
                     parallel_map, poll_until)


def refused_port():
    """A loopback port nothing listens on."""
    return free_port()


class RetriesTest(unittest.TestCase):
    def test_redispatch_to_good_server(self):
        good = NameServer("good", mode="close")
        bad = refused_port()
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n    retries 2\n    option redispatch\n"
            "    server bad 127.0.0.1:%d\n    server good 127.0.0.1:%d\n"
            % (fp, bad, good.port))
        n = 10
        try:
            with Tern(cfg, admin_port=ap) as t:
                # HAProxy waits 1 s before retrying a refused connect, so
                # run the connections side by side
                got = collections.Counter(parallel_map(lambda _: fetch_name(fp), range(n),
                                                       threads=n))
                self.assertEqual(got, {"good": n})
                m = t.metrics()
                retries = m.get("tern_backend_retries_total", proxy="be")
                redisp = m.get("tern_backend_redispatches_total", proxy="be")
                bad_errs = m.get("tern_server_connect_errors_total", proxy="be", server="bad")
                self.assertGreaterEqual(redisp, 1)
                self.assertGreaterEqual(retries, redisp)
                self.assertGreaterEqual(bad_errs, redisp)
                # every redispatched connection first failed `retries` times
                # (HAProxy: the last retry is the redispatch)
                self.assertEqual(retries, 2 * redisp)
                self.assertEqual(m.get("tern_server_connections_total", proxy="be",
                                       server="good"), n)
                self.assertEqual(good.accepted, n)
                # the access log shows the retries
                poll_until(lambda: len([l for l in t.stderr_lines() if " fe be/" in l]) >= n,
                           desc="access log lines")
                lines = [l for l in t.stderr_lines() if " fe be/" in l]
                self.assertTrue(all(" be/good " in l for l in lines), lines)
        finally:
            good.kill()

    def test_backend_refusing_everything(self):
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    retries 2\n    server dead 127.0.0.1:%d\n" % (fp, refused_port()))
        n = 30
        with Tern(cfg, admin_port=ap) as t:
            def one():
                c = connect(fp)
                try:
                    c.settimeout(5)
                    try:
                        d = c.recv(100)
                    except ConnectionResetError:
                        d = b""
                    return d
                finally:
                    c.close()

            one()  # warm-up: lazily opened descriptors are not leaks
            base_fds = t.fd_count()
            # each takes 2 s (two 1 s turn-arounds before the retries)
            got = parallel_map(lambda _: one(), range(n), threads=n)
            self.assertEqual(got, [b""] * n, "client got data from a dead backend")
            self.assertTrue(t.alive())
            poll_until(lambda: t.fd_count() == base_fds, timeout=5,
                       desc="descriptor count back to %d" % base_fds)
            m = t.metrics()
            self.assertEqual(m.get("tern_frontend_connections_total", proxy="fe"), n + 1)
            self.assertGreaterEqual(m.get("tern_backend_connect_errors_total", proxy="be"), n + 1)
            self.assertEqual(m.get("tern_backend_retries_total", proxy="be"), 2 * (n + 1))
            poll_until(lambda: t.metrics().get("tern_backend_current_connections",
                                               proxy="be") == 0, desc="no connection left")
            self.assertEqual(t.admin_get("/ready")[0], 200)
            self.assertNotIn("Sanitizer", t.stderr_text())


if __name__ == "__main__":
    unittest.main()
