"""IPv6: a frontend bound on [::1] and on 127.0.0.1 at once, and an IPv6
server address."""

import unittest

from ternlib import NameServer, Tern, cfg_head, fetch_name, free_port, ipv6_available


@unittest.skipUnless(ipv6_available(), "no IPv6 loopback here")
class Ipv6Test(unittest.TestCase):
    def test_bind_v6_and_v4(self):
        s4 = NameServer("s4", mode="close")
        s6 = NameServer("s6", mode="close", host="::1")
        p6, p4 = free_port("::1"), free_port()
        cfg = cfg_head(nbthread=2) + (
            "frontend fe\n    bind [::1]:%d\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n"
            "    server s4 127.0.0.1:%d\n    server s6 [::1]:%d\n" % (p6, p4, s4.port, s6.port))
        try:
            with Tern(cfg):
                got6 = {fetch_name(p6, host="::1") for _ in range(6)}
                got4 = {fetch_name(p4) for _ in range(6)}
                self.assertEqual(got6, {"s4", "s6"})
                self.assertEqual(got4, {"s4", "s6"})
                self.assertEqual(s6.peers[0][0], "::1")
        finally:
            s4.kill()
            s6.kill()


if __name__ == "__main__":
    unittest.main()
