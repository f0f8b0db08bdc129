"""The access log: one line per closed connection with the right client,
frontend, backend/server, byte counts both ways, termination state and
reason."""

import socket
import unittest

from ternlib import (NameServer, Tern, access_log, cfg_head, connect, free_port,
                     pattern_bytes, poll_until, recv_all, recv_line)


class AccessLogTest(unittest.TestCase):
    def test_one_line_per_connection(self):
        srv = NameServer("s1")
        fp, fp2 = free_port(), free_port()
        dead = free_port()
        cfg = cfg_head(nbthread=2) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "frontend fe2\n    bind 127.0.0.1:%d\n    default_backend be2\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n\n"
            "backend be2\n    retries 1\n    server dead 127.0.0.1:%d\n"
            % (fp, fp2, srv.port, dead))
        try:
            with Tern(cfg) as t:
                expected = {}
                for i in range(12):
                    c = connect(fp)
                    name = recv_line(c)
                    size = 100 * i + 5
                    c.sendall(pattern_bytes(size))
                    c.shutdown(socket.SHUT_WR)
                    echoed = recv_all(c)
                    self.assertEqual(len(echoed), size)
                    port = c.getsockname()[1]
                    c.close()
                    expected["127.0.0.1:%d" % port] = (size, len(name) + 1 + size)
                poll_until(lambda: len(access_log(t.stderr_text(), "fe")) >= 12,
                           desc="12 access-log lines")
                lines = access_log(t.stderr_text(), "fe")
                self.assertEqual(len(lines), 12, lines)
                for d in lines:
                    self.assertIn(d["client"], expected)
                    bin_, bout = expected.pop(d["client"])
                    self.assertEqual((d["bytes_in"], d["bytes_out"]), (bin_, bout), d)
                    self.assertEqual((d["backend"], d["server"]), ("be", "s1"))
                    self.assertEqual(d["state"], "--")
                    self.assertEqual(d["reason"], "done")
                    self.assertEqual(d["retries"], 0)
                    self.assertGreaterEqual(d["tc"], 0)
                    self.assertGreaterEqual(d["tt"], d["tc"])
                self.assertEqual(expected, {})

                # a refused server: the line says so, with the retry
                c = connect(fp2)
                c.settimeout(5)
                try:
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                c.close()
                poll_until(lambda: access_log(t.stderr_text(), "fe2"), desc="fe2 line")
                (d,) = access_log(t.stderr_text(), "fe2")
                self.assertEqual(d["backend"], "be2")
                self.assertEqual(d["state"], "SC")
                self.assertEqual(d["reason"], "connect_failed")
                self.assertEqual(d["retries"], 1)
                self.assertEqual(d["bytes_out"], 0)
        finally:
            srv.kill()

    def test_no_log(self):
        """`no log` silences one proxy's access log, not the others'."""
        srv = NameServer("s1")
        fp, fp2 = free_port(), free_port()
        cfg = cfg_head(nbthread=1) + (
            "frontend quiet\n    bind 127.0.0.1:%d\n    no log\n    default_backend be\n\n"
            "frontend loud\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (fp, fp2, srv.port))
        try:
            with Tern(cfg) as t:
                for port in (fp, fp, fp2):
                    c = connect(port)
                    self.assertEqual(recv_line(c), b"s1")
                    c.shutdown(socket.SHUT_WR)
                    recv_all(c)
                    c.close()
                poll_until(lambda: access_log(t.stderr_text(), "loud"), desc="loud line")
                # the quiet frontend's connections closed before loud's: their
                # lines would be written already
                self.assertEqual(access_log(t.stderr_text(), "quiet"), [])
                self.assertEqual(len(access_log(t.stderr_text(), "loud")), 1)
        finally:
            srv.kill()


if __name__ == "__main__":
    unittest.main()
