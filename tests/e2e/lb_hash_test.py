"""balance source with consistent hashing (ring and Maglev): adding a server
moves at most about 1/N of the keys, and keys stick to their server. The key
is the client address, so each key is a distinct 127.x.y.z source address.
map-based hashing is the control: it must move most keys, which shows this
test can tell the two apart."""

import collections
import random
import unittest

from ternlib import NameServer, Tern, cfg_head, fetch_name, free_port, parallel_map

NKEYS = 600


def source_addrs(n, seed=2024):
    rnd = random.Random(seed)
    out = set()
    while len(out) < n:
        out.add("127.%d.%d.%d" % (rnd.randrange(1, 255), rnd.randrange(0, 256),
                                  rnd.randrange(1, 255)))
    return sorted(out)


class ConsistentHashTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = [NameServer("s%d" % (i + 1), mode="close") for i in range(5)]
        cls.keys = source_addrs(NKEYS)

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.kill()

    def mapping(self, hash_lines, nservers):
        fp = free_port()
        cfg = cfg_head(nbthread=2) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance source\n" % fp)
        cfg += "".join("    %s\n" % x for x in hash_lines)
        for s in self.servers[:nservers]:
            cfg += "    server %s 127.0.0.1:%d\n" % (s.name, s.port)
        with Tern(cfg):
            first = parallel_map(lambda k: fetch_name(fp, src=k), self.keys)
            again = parallel_map(lambda k: fetch_name(fp, src=k), self.keys[:100])
        self.assertEqual(first[:100], again, "source hashing is not sticky")
        return dict(zip(self.keys, first))

    def check_balanced(self, m, n):
        counts = collections.Counter(m.values())
        self.assertEqual(set(counts), {"s%d" % (i + 1) for i in range(n)}, counts)
        for name, c in counts.items():
            self.assertGreater(c, 0.4 * NKEYS / n, "server %s underloaded: %s" % (name, counts))
            self.assertLess(c, 1.6 * NKEYS / n, "server %s overloaded: %s" % (name, counts))

    def moved(self, before, after):
        return [k for k in self.keys if before[k] != after[k]]

    def run_consistent(self, algo_lines, strict_monotone):
        before = self.mapping(["hash-type consistent"] + algo_lines, 4)
        after = self.mapping(["hash-type consistent"] + algo_lines, 5)
        self.check_balanced(before, 4)
        self.check_balanced(after, 5)
        moved = self.moved(before, after)
        frac = len(moved) / NKEYS
        # ideal is 1/5 of the keys; "about 1/N": allow half again
        self.assertLessEqual(frac, 1.5 / 5, "%.1f%% of keys moved" % (100 * frac))
        self.assertGreater(frac, 0.5 / 5, "new server took only %.1f%%" % (100 * frac))
        to_new = sum(1 for k in moved if after[k] == "s5")
        if strict_monotone:
            self.assertEqual(to_new, len(moved),
                             "keys moved between old servers: %d of %d moved"
                             % (len(moved) - to_new, len(moved)))
        else:
            self.assertGreaterEqual(to_new, 0.8 * len(moved),
                                    "%d of %d moved keys went to old servers"
                                    % (len(moved) - to_new, len(moved)))

    def test_ring(self):
        self.run_consistent(["consistent-hash ring"], strict_monotone=True)

    def test_maglev(self):
        self.run_consistent(["consistent-hash maglev"], strict_monotone=False)

    def test_default_consistent(self):
        self.run_consistent([], strict_monotone=False)

    def test_map_based_control(self):
        before = self.mapping(["hash-type map-based"], 4)
        after = self.mapping(["hash-type map-based"], 5)
        self.check_balanced(before, 4)
        frac = len(self.moved(before, after)) / NKEYS
        self.assertGreater(frac, 0.5, "map-based moved only %.1f%%" % (100 * frac))


if __name__ == "__main__":
    unittest.main()
