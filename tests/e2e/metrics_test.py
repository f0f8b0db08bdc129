"""GET /stats/prometheus parses line by line as text format 0.0.4 and its
counters (connections, bytes in/out per frontend, backend and server) equal
exactly what the test sent and received; GET /clusters is JSON describing
the backends."""

import collections
import socket
import unittest

from ternlib import (NameServer, Tern, cfg_head, connect, free_port, pattern_bytes,
                     poll_until, recv_line)

NCONN = 24


def exchange(fp, size):
    """Sends `size` bytes, reads the name line and the echo, closes.
    Returns (server name, bytes sent, bytes received)."""
    c = connect(fp)
    try:
        name = recv_line(c)
        payload = pattern_bytes(size)
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        assert got == payload, "echo mismatch"
        return name.decode(), size, len(name) + 1 + len(got)
    finally:
        c.close()


class MetricsTest(unittest.TestCase):
    def test_counters_match_traffic(self):
        srv = [NameServer("s1"), NameServer("s2")]
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n"
            "    server s1 127.0.0.1:%d weight 2\n    server s2 127.0.0.1:%d check inter 1s\n"
            % (fp, srv[0].port, srv[1].port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                m0 = t.metrics()
                self.assertTrue(m0.content_type.startswith("text/plain"), m0.content_type)
                self.assertIn("version=0.0.4", m0.content_type)
                self.assertEqual(m0.get("tern_frontend_connections_total", proxy="fe"), 0)

                results = [exchange(fp, 1000 + 977 * i) for i in range(NCONN)]
                sent = sum(r[1] for r in results)
                recvd = sum(r[2] for r in results)
                per = collections.defaultdict(lambda: [0, 0, 0])
                for name, s, r in results:
                    per[name][0] += 1
                    per[name][1] += s
                    per[name][2] += r

                expect = {
                    ("tern_frontend_connections_total", ("fe", None)): NCONN,
                    ("tern_frontend_bytes_in_total", ("fe", None)): sent,
                    ("tern_frontend_bytes_out_total", ("fe", None)): recvd,
                    ("tern_frontend_current_connections", ("fe", None)): 0,
                    ("tern_backend_connections_total", ("be", None)): NCONN,
                    ("tern_backend_bytes_in_total", ("be", None)): recvd,
                    ("tern_backend_bytes_out_total", ("be", None)): sent,
                    ("tern_backend_current_connections", ("be", None)): 0,
                    ("tern_backend_connect_errors_total", ("be", None)): 0,
                    ("tern_backend_retries_total", ("be", None)): 0,
                }
                for name in ("s1", "s2"):
                    n, s, r = per[name]
                    expect.update({
                        ("tern_server_connections_total", ("be", name)): n,
                        ("tern_server_bytes_in_total", ("be", name)): r,
                        ("tern_server_bytes_out_total", ("be", name)): s,
                        ("tern_server_current_connections", ("be", name)): 0,
                        ("tern_server_up", ("be", name)): 1,
                    })

                def diffs():
                    m = t.metrics()
                    out = {}
                    for (metric, (proxy, server)), want in expect.items():
                        labels = {"proxy": proxy}
                        if server:
                            labels["server"] = server
                        got = m.value(metric, **labels)
                        if got != want:
                            out[(metric, proxy, server)] = (got, want)
                    return out

                # counters are settled once every connection is closed in tern
                last = {}

                def settled():
                    last.clear()
                    last.update(diffs())
                    return not last

                try:
                    poll_until(settled, timeout=5, desc="counters settle")
                except AssertionError:
                    self.fail("metrics differ (got, expected): %r" % last)

                m = t.metrics()
                self.assertGreater(per["s1"][0], per["s2"][0])
                self.assertEqual(srv[0].bytes_in + srv[1].bytes_in, sent)
                # every family has HELP and TYPE; process metrics are there
                fams = set(m.types)
                for name, _, _ in m.samples:
                    base = name
                    self.assertTrue(any(base == f or base.startswith(f + "_") for f in fams),
                                    "no TYPE for %s" % name)
                for f in fams:
                    self.assertIn(f, m.helps, "no HELP for %s" % f)
                self.assertGreaterEqual(m.get("tern_process_uptime_seconds"), 0)
                self.assertEqual(m.get("tern_process_workers"), 2)
                self.assertGreaterEqual(t.threads(), 3, "nbthread 2: two workers + main")
                self.assertEqual(m.get("tern_process_connections_total"), NCONN)
                self.assertEqual(m.get("tern_server_weight", proxy="be", server="s1"), 2)
                self.assertIn(m.types.get("tern_server_up"), ("gauge",))
                self.assertEqual(m.types.get("tern_frontend_connections_total"), "counter")
                self.assertEqual(m.get("tern_server_lb_selected_total", proxy="be", server="s1"),
                                 per["s1"][0])
                # and again: the scrape itself is stable and still valid
                self.assertEqual(t.metrics().get("tern_frontend_connections_total", proxy="fe"),
                                 NCONN)
        finally:
            for s in srv:
                s.kill()

    def test_clusters_json(self):
        s1 = NameServer("s1", mode="close")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n"
            "    server s1 127.0.0.1:%d weight 7\n"
            "    server s2 127.0.0.1:%d weight 3 backup\n" % (fp, s1.port, free_port()))
        try:
            with Tern(cfg, admin_port=ap) as t:
                recv_line(connect(fp))
                poll_until(lambda: t.metrics().get("tern_server_connections_total",
                                                   proxy="be", server="s1") == 1,
                           desc="connection counted")
                j = t.clusters()
                (be,) = [c for c in j["clusters"] if c["name"] == "be"]
                self.assertEqual(be["balance"], "roundrobin")
                self.assertEqual(be["connections_total"], 1)
                servers = {s["name"]: s for s in be["servers"]}
                self.assertEqual(set(servers), {"s1", "s2"})
                self.assertEqual((servers["s1"]["weight"], servers["s2"]["weight"]), (7, 3))
                self.assertEqual((servers["s1"]["backup"], servers["s2"]["backup"]),
                                 (False, True))
                self.assertTrue(servers["s1"]["up"])
                self.assertEqual(servers["s1"]["connections_total"], 1)
                self.assertEqual(servers["s1"]["bytes_in"], 3)  # "s1\n" from the server
                self.assertEqual(servers["s1"]["address"], "127.0.0.1:%d" % s1.port)
        finally:
            s1.kill()

    def test_admin_unknown_path(self):
        fp, ap = free_port(), free_port()
        s1 = NameServer("s1")
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, s1.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                st, _, _ = t.admin_get("/no/such/thing")
                self.assertEqual(st, 404)
                self.assertEqual(t.admin_get("/ready")[0], 200)
        finally:
            s1.kill()


if __name__ == "__main__":
    unittest.main()
