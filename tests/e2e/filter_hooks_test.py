"""The filter API's body path seen from a filter (tern_test's
test-body-probe, tests/e2e/testfilters/body_probe.c): request and response
payload reach the data hooks whole and in order (byte count and FNV-1a hash
compared with what was sent), chunk framing removed, trailers delivered to
the trailers hooks, end_stream on the last call; and with `hold`, every
slice held by the filter and released from a filter timer still arrives
intact at the server and the client."""

import re
import unittest

from ternlib import (HttpBackend, HttpReader, Tern, cfg_http, connect, free_port,
                     pattern_bytes, poll_until)

PROBE = re.compile(r"body-probe: req=(\d+)/([0-9a-f]+) req_trailers=(\d+) req_end=(\d) "
                   r"resp=(\d+)/([0-9a-f]+) resp_trailers=(\d+) resp_end=(\d) path=(\S*)")


def fnv(data, h=0):
    if not data:
        return h
    if not h:
        h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


class FilterHooksTest(unittest.TestCase):
    HOLD = ""

    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b")
        cls.fp = free_port()
        cls.t = Tern(cfg_http() + (
            "frontend fe\n    bind 127.0.0.1:%d\n    filter test-body-probe %s\n"
            "    default_backend be\nbackend be\n    server s1 127.0.0.1:%d\n"
            % (cls.fp, cls.HOLD, cls.b.port)))
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def probe(self, path):
        def find():
            for m in PROBE.finditer(self.t.stderr_text()):
                if m.group(9) == path:
                    return m
            return None
        m = poll_until(find, desc="body-probe line for %s" % path)
        return {"req": int(m.group(1)), "req_h": int(m.group(2), 16),
                "req_trl": int(m.group(3)), "req_end": m.group(4) == "1",
                "resp": int(m.group(5)), "resp_h": int(m.group(6), 16),
                "resp_trl": int(m.group(7)), "resp_end": m.group(8) == "1"}

    def exchange(self, raw):
        s = connect(self.fp)
        s.sendall(raw)
        st, hdrs, body, trailers = HttpReader(s).response()
        s.close()
        return st, body, trailers

    def test_content_length_both_ways(self):
        up = pattern_bytes(300000)
        st, body, _ = self.exchange(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                    % len(up) + up)
        self.assertEqual((st, body), (200, up))
        p = self.probe("/echo")
        self.assertEqual((p["req"], p["req_h"], p["req_end"]), (len(up), fnv(up), True))
        self.assertEqual((p["resp"], p["resp_h"], p["resp_end"]), (len(up), fnv(up), True))

    def test_chunked_with_trailers_both_ways(self):
        parts = [b"a" * 1000, b"b" * 70000, b"c"]
        raw = b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for p in parts:
            raw += b"%x\r\n%s\r\n" % (len(p), p)
        raw += b"0\r\nX-One: 1\r\nX-Two: 2\r\n\r\n"
        st, body, _ = self.exchange(raw)
        self.assertEqual(st, 200)
        whole = b"".join(parts)
        p = self.probe("/sink")
        self.assertEqual((p["req"], p["req_h"], p["req_trl"], p["req_end"]),
                         (len(whole), fnv(whole), 2, True))
        # the server got the body unchanged (it hashes what it decoded)
        self.assertEqual(self.b.requests[-1].body_len, len(whole))

        st, body, trailers = self.exchange(b"GET /chunked/50000 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual((st, body), (200, pattern_bytes(50000)))
        self.assertTrue(trailers)
        p = self.probe("/chunked/50000")
        self.assertEqual((p["resp"], p["resp_h"], p["resp_trl"], p["resp_end"]),
                         (50000, fnv(body), 1, True))

    def test_no_body(self):
        st, body, _ = self.exchange(b"GET /nobody HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(st, 200)
        p = self.probe("/nobody")
        self.assertEqual((p["req"], p["req_end"]), (0, True))
        self.assertEqual((p["resp"], p["resp_h"], p["resp_end"]), (len(body), fnv(body), True))


class FilterHooksHoldTest(FilterHooksTest):
    """The same with every data slice held and released from a timer."""
    HOLD = "hold"




if __name__ == "__main__":
    unittest.main()
