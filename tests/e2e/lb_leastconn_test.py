"""balance leastconn: new connections go to the server with the fewest
current connections, counted across all workers."""

import collections
import unittest

from ternlib import NameServer, Tern, cfg_head, connect, free_port, poll_until, recv_line


class LeastConnTest(unittest.TestCase):
    def test_prefers_idle_server(self):
        s1, s2 = NameServer("s1", mode="hold"), NameServer("s2", mode="hold")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance leastconn\n"
            "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n" % (fp, s1.port, s2.port))
        held = {"s1": [], "s2": []}
        try:
            with Tern(cfg, admin_port=ap) as t:
                def cur(name):
                    return t.metrics().get("tern_server_current_connections",
                                           proxy="be", server=name)

                def open_one():
                    c = connect(fp)
                    name = recv_line(c).decode()
                    held[name].append(c)
                    return name

                # 6 long connections spread 3/3 (each goes to the least loaded)
                got = [open_one() for _ in range(6)]
                self.assertEqual(collections.Counter(got), {"s1": 3, "s2": 3}, got)
                poll_until(lambda: cur("s1") == 3 and cur("s2") == 3, desc="3/3 current")
                # close s2's: s1 holds 3 long connections, s2 is idle
                for c in held["s2"]:
                    c.close()
                held["s2"] = []
                poll_until(lambda: cur("s2") == 0, desc="s2 idle in tern's view")
                # the next 3 go to the idle server, then they alternate
                got = [open_one() for _ in range(3)]
                self.assertEqual(got, ["s2", "s2", "s2"])
                got = [open_one() for _ in range(4)]
                self.assertEqual(collections.Counter(got), {"s1": 2, "s2": 2}, got)
                self.assertEqual((cur("s1"), cur("s2")), (5, 5))
        finally:
            for cs in held.values():
                for c in cs:
                    c.close()
            s1.kill()
            s2.kill()

    def test_weighted_leastconn(self):
        # leastconn compares current connections relative to weight
        s1, s2 = NameServer("s1", mode="hold"), NameServer("s2", mode="hold")
        fp = free_port()
        cfg = cfg_head(nbthread=1) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance leastconn\n"
            "    server s1 127.0.0.1:%d weight 1\n    server s2 127.0.0.1:%d weight 3\n"
            % (fp, s1.port, s2.port))
        held = []
        try:
            with Tern(cfg):
                got = []
                for _ in range(8):
                    c = connect(fp)
                    held.append(c)
                    got.append(recv_line(c).decode())
            self.assertEqual(collections.Counter(got), {"s1": 2, "s2": 6}, got)
        finally:
            for c in held:
                c.close()
            s1.kill()
            s2.kill()


if __name__ == "__main__":
    unittest.main()
