"""Routing and connection life: listen sections and several frontends,
disabled servers, no usable server, frontend maxconn (the rest waits in the
backlog, as in HAProxy), many concurrent connections, and resets in the
middle of a transfer on either side (no leaked descriptor)."""

import socket
import struct
import unittest

from ternlib import (NameServer, SourceServer, Tern, access_log, cfg_head, connect,
                     fetch_name, free_port, poll_until, recv_line,
                     wait_readable, TcpServer, pattern_bytes)


def rst_close(sock):
    """Closes with a TCP reset (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class RoutingTest(unittest.TestCase):
    def test_listen_and_two_frontends(self):
        a, b, c = (NameServer(n, mode="close") for n in ("a", "b", "c"))
        p1, p2 = free_port(), free_port()
        cfg = cfg_head(nbthread=2) + (
            "listen web\n    bind 127.0.0.1:%d\n    balance roundrobin\n"
            "    server a 127.0.0.1:%d\n    server b 127.0.0.1:%d\n\n"
            "frontend fe2\n    bind 127.0.0.1:%d\n    default_backend be2\n\n"
            "backend be2\n    server c 127.0.0.1:%d\n" % (p1, a.port, b.port, p2, c.port))
        try:
            with Tern(cfg) as t:
                self.assertEqual({fetch_name(p1) for _ in range(6)}, {"a", "b"})
                self.assertEqual({fetch_name(p2) for _ in range(3)}, {"c"})
                poll_until(lambda: len(access_log(t.stderr_text())) == 9, desc="9 log lines")
                fronts = sorted((d["frontend"], d["backend"]) for d in access_log(t.stderr_text()))
                self.assertEqual(fronts, [("fe2", "be2")] * 3 + [("web", "web")] * 6)
        finally:
            for s in (a, b, c):
                s.kill()

    def test_disabled_server_never_chosen(self):
        a, b = NameServer("a", mode="close"), NameServer("b", mode="close")
        fp = free_port()
        cfg = cfg_head(nbthread=1) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server a 127.0.0.1:%d disabled\n    server b 127.0.0.1:%d\n"
            % (fp, a.port, b.port))
        try:
            with Tern(cfg):
                self.assertEqual({fetch_name(fp) for _ in range(6)}, {"b"})
            self.assertEqual(a.accepted, 0)
        finally:
            a.kill()
            b.kill()

    def test_no_usable_server(self):
        a = NameServer("a", mode="close")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server a 127.0.0.1:%d disabled\n" % (fp, a.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                c = connect(fp)
                self.assertTrue(wait_readable(c, 3), "client not closed")
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
                poll_until(lambda: access_log(t.stderr_text()), desc="log line")
                (d,) = access_log(t.stderr_text())
                self.assertEqual(d["reason"], "no_server")
                self.assertEqual(t.metrics().get("tern_backend_no_server_total", proxy="be"), 1)
            self.assertEqual(a.accepted, 0)
        finally:
            a.kill()

    def test_frontend_maxconn_waits_in_backlog(self):
        s1 = NameServer("s1", mode="hold")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    maxconn 2\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, s1.port))
        cs = []
        try:
            with Tern(cfg, admin_port=ap) as t:
                cs = [connect(fp) for _ in range(2)]
                self.assertEqual([recv_line(c) for c in cs], [b"s1", b"s1"])
                cs.append(connect(fp))  # connects (kernel backlog) but is not served
                self.assertFalse(wait_readable(cs[2], 0.3), "third connection served")
                self.assertEqual(t.metrics().get("tern_frontend_current_connections",
                                                 proxy="fe"), 2)
                cs[0].close()
                cs[2].settimeout(3)
                self.assertEqual(recv_line(cs[2]), b"s1")
                self.assertEqual(s1.accepted, 3)
        finally:
            for c in cs:
                c.close()
            s1.kill()

    def test_many_concurrent_connections(self):
        s1, s2 = NameServer("s1"), NameServer("s2")
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance leastconn\n"
            "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n" % (fp, s1.port, s2.port))
        n = 300
        cs = []
        try:
            with Tern(cfg, admin_port=ap) as t:
                base = t.fd_count()
                cs = [connect(fp) for _ in range(n)]
                names = [recv_line(c) for c in cs]
                self.assertEqual(sorted(set(names)), [b"s1", b"s2"])
                m = t.metrics()
                self.assertEqual(m.get("tern_frontend_current_connections", proxy="fe"), n)
                self.assertEqual(abs(names.count(b"s1") - names.count(b"s2")) <= 2, True)
                for i, c in enumerate(cs):
                    c.sendall(b"ping %d\n" % i)
                for i, c in enumerate(cs):
                    self.assertEqual(recv_line(c), b"ping %d" % i)
                for c in cs:
                    c.close()
                cs = []
                poll_until(lambda: t.metrics().get("tern_frontend_current_connections",
                                                   proxy="fe") == 0, desc="all closed")
                poll_until(lambda: t.fd_count() <= base, desc="descriptors released")
        finally:
            for c in cs:
                c.close()
            s1.kill()
            s2.kill()

    def test_client_reset_mid_transfer(self):
        src = SourceServer(200 * 1024 * 1024)
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, src.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                base = t.fd_count()
                c = connect(fp)
                got = 0
                while got < 1024 * 1024:
                    got += len(c.recv(65536))
                rst_close(c)
                poll_until(lambda: src.n_active() == 0, desc="server side closed")
                poll_until(lambda: t.fd_count() <= base, desc="descriptors released")
                poll_until(lambda: access_log(t.stderr_text()), desc="log line")
                (d,) = access_log(t.stderr_text())
                self.assertEqual(d["reason"], "client_reset")
                self.assertEqual(d["state"][0], "C")
                self.assertGreaterEqual(d["bytes_out"], got)
                self.assertEqual(src.sent, [], "server finished sending 200 MB")
        finally:
            src.kill()

    def test_server_reset_mid_transfer(self):
        class ResetServer(TcpServer):
            def handle(self, c, addr):
                c.sendall(pattern_bytes(100_000))
                recv_line(c)  # wait for the client's go
                rst_close(c)

        rs = ResetServer()
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, rs.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                base = t.fd_count()
                c = connect(fp)
                data = b""
                while len(data) < 100_000:
                    data += c.recv(65536)
                self.assertEqual(data, pattern_bytes(100_000))
                c.sendall(b"go\n")
                self.assertTrue(wait_readable(c, 3), "client not closed after server reset")
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
                poll_until(lambda: t.fd_count() <= base, desc="descriptors released")
                poll_until(lambda: access_log(t.stderr_text()), desc="log line")
                (d,) = access_log(t.stderr_text())
                self.assertEqual(d["reason"], "server_reset")
                self.assertEqual(d["state"], "SD")
                self.assertEqual(d["bytes_out"], 100_000)
                self.assertEqual(d["bytes_in"], 3)
        finally:
            rs.kill()


if __name__ == "__main__":
    unittest.main()
