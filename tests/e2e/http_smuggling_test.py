"""The 400 corpus: request smuggling and malformed-request vectors sent on
raw sockets through tern. Each must be answered with its status (400, or
414/431/501/505 where the parser says so), the connection must close, and
the backend (which records every request head it parses) must never see
it. Counted per parser reason in tern_http_bad_requests_total."""

import unittest

from ternlib import HttpBackend, Tern, cfg_http, free_port, http_access_log, http_raw, poll_until

H = b"Host: a\r\n"

# (name, raw request, expected status)
VECTORS = [
    # framing ambiguities: the smuggling classics
    ("cl_and_te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400),
    ("te_and_cl", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Content-Length: 6\r\n\r\n0\r\n\r\nG", 400),
    ("cl_twice_differing", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\nhello!", 400),
    ("cl_list_differing", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
     400),
    ("cl_plus_sign", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl_hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl_inner_space", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 0\r\n\r\nhello", 400),
    ("cl_huge", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999\r\n\r\n",
     400),
    ("te_not_final_chunked", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("te_xchunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n", 400),
    ("te_chunked_twice", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_with_parameter", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
    ("te_gzip_chunked", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te_in_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_obs_fold", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_space_before_colon", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("cl_space_before_colon", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length : 5\r\n\r\nhello", 400),
    # line endings and bytes
    ("bare_lf", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("ctl_in_name", b"GET / HTTP/1.1\r\n" + H + b"X\x01A: b\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n  continued\r\n\r\n", 400),
    ("space_before_first_field", b"GET / HTTP/1.1\r\n " + H + b"\r\n", 400),
    # Host
    ("host_missing", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("host_twice", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("host_userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    ("host_bad_port", b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400),
    # request line
    ("double_space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("tab_separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("leading_space", b" GET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("http09", b"GET /\r\n\r\n", 400),
    ("bad_method", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("fragment_in_target", b"GET /a#frag HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad_percent", b"GET /a%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("authority_form_without_connect", b"GET a:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_with_userinfo", b"GET http://u@a/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase_version", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("version_2", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("connection_not_token", b"GET / HTTP/1.1\r\n" + H + b"Connection: close x\r\n\r\n", 400),
    # chunked bodies (the head arrives with a broken body: never forwarded)
    ("chunk_size_not_hex", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_space", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_bad_extension", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_missing_crlf", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n", 400),
    ("chunk_bare_lf", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
    ("trailer_content_length", b"POST / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", 400),
    # limits
    ("line_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("head_too_large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 16000 + b"\r\n\r\n", 431),
    ("too_many_fields", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\n", 431),
    # not supported: tunnels
    ("connect", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
]


class SmugglingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b")
        cls.fp = free_port()
        cls.ap = free_port()
        cls.t = Tern(cfg_http(admin_port=cls.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "    option tern-error-header\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (cls.fp, cls.b.port)),
            admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_corpus(self):
        self.assertGreaterEqual(len(VECTORS), 25)
        before = len(self.b.requests)
        m0 = self.t.metrics()
        for name, raw, status in VECTORS:
            with self.subTest(name):
                resp = http_raw(self.fp, raw)
                self.assertTrue(resp.startswith(b"HTTP/1.1 %d " % status), resp[:200])
                head = resp.split(b"\r\n\r\n", 1)[0].lower()
                self.assertIn(b"\r\nconnection: close", head)
                self.assertIn(b"\r\nx-tern-error: ", head)
                # http_raw returned: tern closed the connection
        # nothing ever reached the backend
        self.assertEqual(self.b.requests[before:], [])
        # lines are written once per loop turn, after the connection closed;
        # only this test's vectors log these request lines
        mine = ("<BADREQ>", "POST / HTTP/1.1", "CONNECT a:443 HTTP/1.1")
        lines = poll_until(lambda: (lambda ls: len(ls) == len(VECTORS) and ls)(
            [d for d in http_access_log(self.t.stderr_text()) if d["request"] in mine]),
            desc="one log line per vector")
        # refused by tern while the head (R) or the body (D) arrived
        self.assertEqual({d["state"] for d in lines}, {"PR--", "PD--"})
        m = self.t.metrics()
        # the body-level ones are counted by the chunked decoder's reason
        parse_errors = len([v for v in VECTORS if v[0] != "connect"])
        self.assertEqual(m.sum("tern_http_bad_requests_total", proxy="fe") -
                         m0.sum("tern_http_bad_requests_total", proxy="fe"), parse_errors)
        reason = "content_length_and_transfer_encoding"
        self.assertEqual(m.get("tern_http_bad_requests_total", proxy="fe", reason=reason) -
                         m0.get("tern_http_bad_requests_total", proxy="fe", reason=reason), 2)

    def test_smuggled_second_request_never_forwarded(self):
        # a valid request, then one whose framing is ambiguous, pipelined
        before = len(self.b.requests)
        resp = http_raw(self.fp, b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                                 b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                 b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"b GET /first\n", resp)
        self.assertIn(b"HTTP/1.1 400 ", resp)
        self.assertEqual(resp.count(b"HTTP/1.1 "), 2)
        self.assertEqual([q.target for q in self.b.requests[before:]], ["/first"])

    def test_connection_cannot_strip_framing(self):
        # Connection listing Content-Length must not make tern drop it and
        # forward the body as a second request
        before = len(self.b.requests)
        inner = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        resp = http_raw(self.fp, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                                 b"Connection: Content-Length, close\r\n\r\n%s"
                                 % (len(inner), inner))
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 "), resp)
        got = self.b.requests[before:]
        self.assertEqual([q.target for q in got], ["/echo"])
        self.assertEqual(got[0].header("content-length"), str(len(inner)))
        self.assertEqual(got[0].body, inner)
        self.assertTrue(resp.endswith(b"\r\n\r\n" + inner))


if __name__ == "__main__":
    unittest.main()
