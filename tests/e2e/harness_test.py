"""Self-test of the e2e harness (tests/e2e/lib/ternlib.py) against real local
peers, without tern: the backends, the client helpers and the strict
Prometheus text-format parser (which must reject malformed expositions, or
the metrics tests could pass on garbage)."""

import socket
import unittest

from ternlib import (NameServer, SinkServer, SourceServer, HttpServer, PatternStream,
                     PromParseError, connect, fetch_name, free_port, http_get,
                     parse_prometheus, pattern_bytes, poll_until, recv_all, recv_line)

GOOD = """# HELP tern_frontend_connections_total Connections accepted.
# TYPE tern_frontend_connections_total counter
tern_frontend_connections_total{proxy="fe"} 3
tern_frontend_connections_total{proxy="a\\\\b\\"c\\nd",} 1e3
# TYPE tern_server_up gauge
tern_server_up{proxy="be",server="s1"} 1
tern_server_up{proxy="be",server="s2"} 0 1700000000000
# a free comment
# TYPE tern_lat histogram
tern_lat_bucket{le="+Inf"} 2
tern_lat_sum 0.5
tern_lat_count 2
tern_process_uptime_seconds +Inf
"""

BAD = [
    ("no newline at end", 'tern_x_total 1'),
    ("bad name", '# TYPE tern_x_total counter\n9tern 1\n'),
    ("unterminated labels", 'tern_x{a="b" 1\n'),
    ("bad escape", 'tern_x{a="\\t"} 1\n'),
    ("unquoted label value", 'tern_x{a=b} 1\n'),
    ("missing value", 'tern_x{a="b"}\n'),
    ("bad value", 'tern_x 1,5\n'),
    ("three fields", 'tern_x 1 2 3\n'),
    ("bad timestamp", 'tern_x 1 1.5\n'),
    ("no space before value", 'tern_x{a="b"}1\n'),
    ("duplicate series", 'tern_x{a="b"} 1\ntern_x{a="b"} 2\n'),
    ("duplicate label", 'tern_x{a="b",a="c"} 1\n'),
    ("second TYPE", '# TYPE tern_x gauge\n# TYPE tern_x gauge\ntern_x 1\n'),
    ("TYPE after samples", 'tern_x 1\n# TYPE tern_x gauge\n'),
    ("bad type", '# TYPE tern_x countr\ntern_x 1\n'),
    ("non-contiguous", 'tern_x{a="1"} 1\ntern_y 1\ntern_x{a="2"} 1\n'),
    ("negative counter", '# TYPE tern_x_total counter\ntern_x_total -1\n'),
    ("counter without _total", '# TYPE tern_x counter\ntern_x 1\n'),
    ("missing prefix", 'other_x 1\n'),
    ("reserved label", 'tern_x{__name__="y"} 1\n'),
]


class PromParserTest(unittest.TestCase):
    def test_good(self):
        m = parse_prometheus(GOOD)
        self.assertEqual(m.get("tern_frontend_connections_total", proxy="fe"), 3)
        self.assertEqual(m.get("tern_frontend_connections_total", proxy='a\\b"c\nd'), 1000)
        self.assertEqual(m.get("tern_server_up", server="s2"), 0)
        self.assertEqual(m.sum("tern_server_up", proxy="be"), 1)
        self.assertEqual(m.types["tern_lat"], "histogram")
        self.assertEqual(m.get("tern_lat_count"), 2)
        self.assertEqual(m.helps["tern_frontend_connections_total"], "Connections accepted.")

    def test_bad(self):
        for what, text in BAD:
            with self.subTest(what):
                with self.assertRaises(PromParseError, msg=what):
                    parse_prometheus(text)


class ServersTest(unittest.TestCase):
    def test_name_server_echo_kill_restart(self):
        s = NameServer("alpha")
        try:
            c = connect(s.port)
            self.assertEqual(recv_line(c), b"alpha")
            c.sendall(b"hello")
            self.assertEqual(c.recv(5), b"hello")
            poll_until(lambda: s.n_active() == 1, desc="one active")
            s.kill()
            # the live connection is reset, new ones refused
            try:
                self.assertEqual(c.recv(10), b"")
            except ConnectionResetError:
                pass
            c.close()
            with self.assertRaises(ConnectionRefusedError):
                connect(s.port)
            s.restart()
            self.assertEqual(fetch_name(s.port), "alpha")
            self.assertEqual(s.accepted, 2)
        finally:
            s.kill()

    def test_source_sink(self):
        src = SourceServer(1_000_000)
        sink = SinkServer()
        try:
            c = connect(src.port)
            data = recv_all(c)
            c.close()
            self.assertEqual(data, pattern_bytes(1_000_000))
            c = connect(sink.port)
            c.sendall(pattern_bytes(300_000))
            c.shutdown(socket.SHUT_WR)
            line = recv_line(c).decode()
            c.close()
            self.assertEqual(line, "300000 " + PatternStream.digest_of_pattern(300_000))
        finally:
            src.kill()
            sink.kill()

    def test_src_bind(self):
        s = NameServer("x")
        try:
            c = connect(s.port, src="127.9.8.7")
            recv_line(c)
            c.close()
            self.assertEqual(s.peers[0][0], "127.9.8.7")
        finally:
            s.kill()

    def test_http_server(self):
        h = HttpServer("h1", status=503)
        try:
            st, _, body = http_get(h.port, "/health")
            self.assertEqual((st, body), (503, "h1\n"))
            h.status = 200
            st, _, _ = http_get(h.port, "/x")
            self.assertEqual(st, 200)
            self.assertEqual(h.requests[0], ("GET", "/health", "HTTP/1.1"))
        finally:
            h.kill()

    def test_free_port_unique(self):
        ports = {free_port() for _ in range(50)}
        self.assertEqual(len(ports), 50)

    def test_poll_until_times_out(self):
        with self.assertRaises(AssertionError):
            poll_until(lambda: False, timeout=0.1, desc="never")


if __name__ == "__main__":
    unittest.main()
