"""mode http, the basics: GET and POST through tern with http.client and raw
sockets against a test backend that records what it receives; headers as the
backend sees them (X-Forwarded-For, X-Request-Id, hop-by-hop fields gone,
absolute-form target); bodies with Content-Length and chunked (trailers
kept) both ways; HEAD/204/304 without a body; Expect: 100-continue; the
access-log line."""

import hashlib
import http.client
import re
import unittest

from ternlib import (HttpBackend, HttpReader, Tern, cfg_http, connect, free_port,
                     http_access_log, pattern_bytes, poll_until)


def one_backend_cfg(fp, bport, frontend_extra="", backend_extra=""):
    return cfg_http() + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n%s\n"
        "backend be\n    server s1 127.0.0.1:%d\n%s" % (fp, frontend_extra, bport, backend_extra))


class HttpBasicTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b1")
        cls.fp = free_port()
        cls.t = Tern(one_backend_cfg(cls.fp, cls.b.port,
                                     "    option forwardfor\n    option tern-request-id\n"))
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)

    def last_request(self, target):
        return poll_until(lambda: [q for q in self.b.requests if q.target == target][-1:],
                          desc="backend saw %s" % target)[0]

    def test_get(self):
        c = self.conn()
        c.request("GET", "/hello?x=1", headers={"X-Custom": "v"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read(), b"b1 GET /hello?x=1\n")
        q = self.last_request("/hello?x=1")
        self.assertEqual(q.method, "GET")
        self.assertEqual(q.version, "HTTP/1.1")
        self.assertEqual(q.header("x-custom"), "v")
        self.assertEqual(q.header("host"), "127.0.0.1:%d" % self.fp)
        # option forwardfor: the client's address; option tern-request-id: a UUID
        self.assertEqual(q.header("x-forwarded-for"), "127.0.0.1")
        self.assertRegex(q.header("x-request-id"),
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        c.close()

    def test_request_id_kept_when_present_and_unique_otherwise(self):
        c = self.conn()
        c.request("GET", "/rid1", headers={"X-Request-Id": "mine"})
        c.getresponse().read()
        c.request("GET", "/rid2")
        c.getresponse().read()
        c.request("GET", "/rid3")
        c.getresponse().read()
        c.close()
        self.assertEqual(self.last_request("/rid1").header_all("x-request-id"), ["mine"])
        self.assertNotEqual(self.last_request("/rid2").header("x-request-id"),
                            self.last_request("/rid3").header("x-request-id"))

    def test_post_content_length(self):
        body = pattern_bytes(300000)
        c = self.conn()
        c.request("POST", "/echo", body=body)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read(), body)
        q = self.last_request("/echo")
        self.assertEqual(q.body_len, len(body))
        self.assertEqual(q.header("content-length"), str(len(body)))
        c.close()

    def test_chunked_request_with_trailers(self):
        s = connect(self.fp)
        chunks = [pattern_bytes(n, n) for n in (1, 1000, 70000, 5)]
        raw = b"".join(b"%x;ext=1\r\n" % len(ch) + ch + b"\r\n" for ch in chunks)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"TE: trailers\r\n\r\n" + raw + b"0\r\nX-Trailer: yes\r\n\r\n")
        st, hdrs, body, _ = HttpReader(s).response()
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(body, b"".join(chunks))
        q = self.last_request("/echo")
        self.assertEqual(q.header("transfer-encoding"), "chunked")
        self.assertEqual(q.trailers, [("X-Trailer", "yes")])  # trailers kept
        self.assertEqual(q.header("te"), "trailers")

    def test_chunked_response_with_trailers(self):
        s = connect(self.fp)
        s.sendall(b"GET /chunked/123456 HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, body, trailers = HttpReader(s).response()
        s.close()
        self.assertEqual(st, 200)
        self.assertEqual(dict((k.lower(), v) for k, v in hdrs)["transfer-encoding"], "chunked")
        self.assertEqual(body, pattern_bytes(123456))
        self.assertEqual(trailers, [("X-Sum", hashlib.sha256(body).hexdigest())])

    def test_hop_by_hop_fields_removed(self):
        s = connect(self.fp)
        s.sendall(b"GET /hop HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Private\r\n"
                  b"Keep-Alive: timeout=3\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\n"
                  b"Upgrade: h2c\r\nX-Private: secret\r\nX-Public: ok\r\n\r\n")
        st, _, _, _ = HttpReader(s).response()
        s.close()
        self.assertEqual(st, 200)
        q = self.last_request("/hop")
        names = {k.lower() for k, _ in q.headers}
        for gone in ("connection", "keep-alive", "proxy-connection", "te", "upgrade",
                     "x-private"):
            self.assertNotIn(gone, names)
        self.assertEqual(q.header("x-public"), "ok")

    def test_absolute_form_target(self):
        s = connect(self.fp)
        s.sendall(b"GET http://origin.example:81/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        st, _, body, _ = HttpReader(s).response()
        s.close()
        self.assertEqual(st, 200)
        q = self.last_request("/abs?q=1")
        self.assertEqual(q.header_all("host"), ["origin.example:81"])

    def test_head_204_304_have_no_body(self):
        s = connect(self.fp)
        rd = HttpReader(s)
        # HEAD of a resource with a body; 204; 304; then a normal GET on the
        # same connection proves no stray body bytes were forwarded
        s.sendall(b"HEAD /big/5000 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /status/304 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, body, _ = rd.response("HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(dict((k.lower(), v) for k, v in hdrs)["content-length"], "5000")
        self.assertEqual(rd.response()[0], 204)
        self.assertEqual(rd.response()[0], 304)
        st, _, body, _ = rd.response()
        self.assertEqual((st, body), (200, b"b1 GET /after\n"))
        s.close()

    def test_expect_100_continue(self):
        s = connect(self.fp)
        rd = HttpReader(s)
        body = pattern_bytes(5000)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        # the body is sent only after the 100 Continue the backend emitted
        st, _, _, _ = rd.response()
        self.assertEqual(st, 100)
        s.sendall(body)
        st, _, got, _ = rd.response()
        self.assertEqual((st, got), (200, body))
        self.assertEqual(self.last_request("/echo").header("expect"), "100-continue")
        s.close()

    def test_expect_answered_without_100(self):
        # the server refuses at once (417-like) without reading the body: the
        # client gets the final answer and the connection ends cleanly
        s = connect(self.fp)
        rd = HttpReader(s)
        s.sendall(b"PUT /status/413 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 100000\r\n\r\n")
        st, hdrs, _, _ = rd.response()
        self.assertEqual(st, 413)
        s.close()

    def test_http10_client(self):
        s = connect(self.fp)
        s.sendall(b"GET /ten HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertIn(b"\r\nConnection: close\r\n", data)
        self.assertTrue(data.endswith(b"b1 GET /ten\n"))
        q = self.last_request("/ten")
        self.assertEqual(q.version, "HTTP/1.0")

    def test_http10_keep_alive(self):
        s = connect(self.fp)
        rd = HttpReader(s)
        for i in range(2):
            s.sendall(b"GET /ka10-%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
            st, hdrs, body, _ = rd.response()
            self.assertEqual(st, 200)
            self.assertEqual(dict((k.lower(), v) for k, v in hdrs).get("connection"),
                             "keep-alive")
        s.close()

    def test_access_log_line(self):
        c = self.conn()
        c.request("GET", "/logged?a=b")
        c.getresponse().read()
        c.close()
        lines = poll_until(lambda: [d for d in http_access_log(self.t.stderr_text())
                                    if d["request"] == "GET /logged?a=b HTTP/1.1"],
                           desc="access-log line")
        d = lines[0]
        self.assertEqual((d["frontend"], d["backend"], d["server"]), ("fe", "be", "s1"))
        self.assertEqual((d["status"], d["state"], d["reason"]), (200, "----", "none"))
        self.assertEqual(d["client"].split(":")[0], "127.0.0.1")
        self.assertGreater(d["bytes"], len(b"b1 GET /logged?a=b\n"))
        self.assertGreaterEqual(d["ta"], d["tr"])
        self.assertGreaterEqual(d["tc"], 0)
        self.assertRegex(d["date"], r"^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}$")


class HttpNoLogTest(unittest.TestCase):
    def test_no_log(self):
        b = HttpBackend("b")
        fp = free_port()
        try:
            with Tern(one_backend_cfg(fp, b.port, "    no log\n")) as t:
                c = http.client.HTTPConnection("127.0.0.1", fp, timeout=5)
                c.request("GET", "/x")
                self.assertEqual(c.getresponse().status, 200)
                c.close()
                poll_until(lambda: b.requests, desc="request served")
                self.assertEqual(http_access_log(t.stderr_text()), [])
        finally:
            b.kill()


if __name__ == "__main__":
    unittest.main()
