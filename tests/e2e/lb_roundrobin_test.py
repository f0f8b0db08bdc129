"""Load balancing without hashing, through the real tern binary: roundrobin
rotates exactly, weights hold their ratios over many connections (several
workers), static-rr, first and random behave as HAProxy's do."""

import collections
import unittest

from ternlib import (NameServer, Tern, cfg_head, connect, fetch_name, free_port,
                     parallel_map, poll_until, recv_line)


def backend(balance, servers, extra=()):
    lines = ["backend be", "    balance %s" % balance]
    lines += ["    " + x for x in extra]
    for s, opts in servers:
        lines.append("    server %s 127.0.0.1:%d %s" % (s.name, s.port, opts))
    return "\n".join(lines) + "\n"


def frontend(port):
    return "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n" % port


class RoundRobinTest(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()

    def names(self, n, mode="close"):
        for i in range(n):
            self.servers.append(NameServer("s%d" % (i + 1), mode=mode))
        return self.servers

    def test_exact_rotation_three_servers(self):
        srv = self.names(3)
        fp = free_port()
        cfg = cfg_head(nbthread=1) + frontend(fp) + backend("roundrobin", [(s, "") for s in srv])
        with Tern(cfg):
            seq = [fetch_name(fp) for _ in range(30)]
        self.assertEqual(sorted(seq[:3]), ["s1", "s2", "s3"], seq)
        for i, name in enumerate(seq):
            self.assertEqual(name, seq[i % 3], "rotation broken at %d: %s" % (i, seq))

    def test_smooth_weighted_single_worker(self):
        # smooth weighted round robin: every cycle of sum(weights) picks has
        # exactly the weights, and the heaviest is never picked 3 in a row
        srv = self.names(3)
        fp = free_port()
        cfg = (cfg_head(nbthread=1) + frontend(fp) +
               backend("roundrobin", [(srv[0], "weight 1"), (srv[1], "weight 2"),
                                      (srv[2], "weight 3")]))
        with Tern(cfg):
            seq = [fetch_name(fp) for _ in range(60)]
        for c in range(10):
            cyc = collections.Counter(seq[6 * c:6 * c + 6])
            self.assertEqual(cyc, {"s1": 1, "s2": 2, "s3": 3}, "cycle %d of %s" % (c, seq))
        for i in range(len(seq) - 2):
            self.assertFalse(seq[i] == seq[i + 1] == seq[i + 2], "not smooth: %s" % seq)

    def test_weighted_ratios_3000_connections(self):
        srv = self.names(3)
        fp, ap = free_port(), free_port()
        cfg = (cfg_head(nbthread=2, admin_port=ap) + frontend(fp) +
               backend("roundrobin", [(srv[0], "weight 1"), (srv[1], "weight 2"),
                                      (srv[2], "weight 3")]))
        n = 3000
        with Tern(cfg, admin_port=ap) as t:
            seq = parallel_map(lambda _: fetch_name(fp), range(n), threads=8)
            counts = collections.Counter(seq)
            m = t.metrics()
            for s in srv:
                self.assertEqual(m.get("tern_server_connections_total", proxy="be",
                                       server=s.name), counts[s.name])
        for s, w in zip(srv, (1, 2, 3)):
            expect = n * w / 6
            self.assertLessEqual(abs(counts[s.name] - expect), 0.05 * expect,
                                 "server %s got %d, expected %d +-5%% (%s)"
                                 % (s.name, counts[s.name], expect, dict(counts)))
            self.assertEqual(s.accepted, counts[s.name])

    def test_static_rr_weighted_rotation(self):
        srv = self.names(2)
        fp = free_port()
        cfg = (cfg_head(nbthread=1) + frontend(fp) +
               backend("static-rr", [(srv[0], "weight 1"), (srv[1], "weight 3")]))
        with Tern(cfg):
            seq = [fetch_name(fp) for _ in range(40)]
        for c in range(10):
            self.assertEqual(collections.Counter(seq[4 * c:4 * c + 4]), {"s1": 1, "s2": 3},
                             "cycle %d of %s" % (c, seq))

    def test_first_fills_servers_in_order(self):
        # balance first: the first server with free slots (maxconn) takes
        # each new connection
        srv = self.names(3, mode="hold")
        fp, ap = free_port(), free_port()
        cfg = (cfg_head(nbthread=1, admin_port=ap) + frontend(fp) +
               backend("first", [(s, "maxconn 2") for s in srv]))
        held = []
        try:
            with Tern(cfg, admin_port=ap) as t:
                got = []
                for _ in range(5):
                    c = connect(fp)
                    held.append(c)
                    got.append(recv_line(c).decode())
                self.assertEqual(got, ["s1", "s1", "s2", "s2", "s3"])
                # freeing a slot on s1 makes s1 the first choice again
                held[0].close()
                poll_until(lambda: t.metrics().get("tern_server_current_connections",
                                                   proxy="be", server="s1") == 1,
                           desc="tern sees s1's connection closed")
                c = connect(fp)
                held.append(c)
                self.assertEqual(recv_line(c).decode(), "s1")
        finally:
            for c in held:
                c.close()

    def test_random_weighted(self):
        srv = self.names(2)
        fp = free_port()
        cfg = (cfg_head(nbthread=2) + frontend(fp) +
               backend("random", [(srv[0], "weight 1"), (srv[1], "weight 3")]))
        n = 800
        # one connection at a time: loads are equal at each pick, so the
        # power-of-two-choices on load reduces to weighted random draws
        with Tern(cfg):
            counts = collections.Counter(fetch_name(fp) for _ in range(n))
        # expected 200 / 600; 5 standard deviations is about 61
        self.assertLess(abs(counts["s1"] - 200), 61, dict(counts))
        self.assertEqual(counts["s1"] + counts["s2"], n)


if __name__ == "__main__":
    unittest.main()
