"""mode http failures, each with its status, reason (access log, counter,
x-tern-error header) and HAProxy termination state: 503 no server / connect
failure / queue timeout, 504 server timeout, 502 malformed response and
reset before headers, a cut after headers, 408 for slow heads (slowloris)
while other clients are served, client aborts; and the Prometheus families
that count them."""

import http.client
import socket
import threading
import time
import unittest

from ternlib import (HttpBackend, HttpReader, Tern, cfg_http, connect, free_port,
                     http_access_log, poll_until, wait_readable)


def get(port, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def log_for(t, request_prefix):
    return poll_until(lambda: [d for d in http_access_log(t.stderr_text())
                               if d["request"].startswith(request_prefix)],
                      desc="access-log line for %s" % request_prefix)[-1]


class HttpErrorsTest(unittest.TestCase):
    def setUp(self):
        self.b = HttpBackend("b")
        self.fp = free_port()
        self.ap = free_port()

    def tearDown(self):
        self.b.kill()

    def tern(self, backend_lines, fe="", timeouts=None, extra_sections=""):
        t = timeouts or {}
        text = cfg_http(admin_port=self.ap, timeout_server=t.get("server", "10s"),
                        timeout_client=t.get("client", "10s")) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "    option tern-error-header\n%s\nbackend be\n%s\n%s"
            % (self.fp, fe, backend_lines, extra_sections))
        return Tern(text, admin_port=self.ap)

    def check(self, t, path, status, reason, state, method="GET", body=None):
        st, hdrs, payload = get(self.fp, path, method, body)
        self.assertEqual(st, status)
        self.assertEqual(hdrs.get("x-tern-error"), reason)
        self.assertIn(b"<h1>%d " % status, payload)
        d = log_for(t, "%s %s " % (method, path))
        self.assertEqual((d["status"], d["reason"], d["state"]), (status, reason, state))
        m = t.metrics()
        self.assertGreaterEqual(m.get("tern_http_errors_total", proxy="fe", reason=reason), 1)
        return d

    def test_no_server_503(self):
        with self.tern("    server s1 127.0.0.1:%d disabled\n" % self.b.port) as t:
            d = self.check(t, "/ns", 503, "no_healthy_upstream", "SC--")
            self.assertEqual(d["server"], "<NOSRV>")
            self.assertEqual(self.b.requests, [])

    def test_frontend_without_backend_503(self):
        text = cfg_http(admin_port=self.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    option tern-error-header\n" % self.fp)
        with Tern(text, admin_port=self.ap) as t:
            self.check(t, "/none", 503, "no_healthy_upstream", "SC--")

    def test_connect_failure_503_after_retries(self):
        dead = free_port()
        with self.tern("    retries 2\n    server s1 127.0.0.1:%d\n" % dead) as t:
            d = self.check(t, "/dead", 503, "connect_failure", "SC--")
            self.assertEqual(d["retries"], 2)
            self.assertEqual(t.metrics().get("tern_backend_retries_total", proxy="be"), 2)

    def test_redispatch_to_a_live_server(self):
        dead = free_port()
        with self.tern("    retries 1\n    option redispatch\n    balance roundrobin\n"
                       "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n"
                       % (dead, self.b.port)) as t:
            for i in range(6):
                st, _, body = get(self.fp, "/rd%d" % i)
                self.assertEqual((st, body), (200, b"b GET /rd%d\n" % i))

    def test_queue_timeout_503(self):
        with self.tern("    timeout queue 300ms\n    server s1 127.0.0.1:%d maxconn 1\n"
                       % self.b.port) as t:
            holder = connect(self.fp)
            holder.sendall(b"GET /slow/1500 HTTP/1.1\r\nHost: x\r\n\r\n")
            poll_until(lambda: "/slow/1500" in self.b.seen(), desc="slot taken")
            t0 = time.monotonic()
            d = self.check(t, "/queued", 503, "queue_timeout", "sQ--")
            self.assertGreaterEqual(time.monotonic() - t0, 0.25)
            self.assertGreaterEqual(d["tw"], 250)
            st, _, body, _ = HttpReader(holder).response()
            self.assertEqual((st, body), (200, b"slow\n"))
            holder.close()
            self.assertNotIn("/queued", self.b.seen())

    def test_queued_request_served_when_slot_frees(self):
        with self.tern("    timeout queue 5s\n    server s1 127.0.0.1:%d maxconn 1\n"
                       % self.b.port) as t:
            holder = connect(self.fp)
            holder.sendall(b"GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n")
            poll_until(lambda: "/slow/300" in self.b.seen(), desc="slot taken")
            st, _, body = get(self.fp, "/waited")
            self.assertEqual((st, body), (200, b"b GET /waited\n"))
            d = log_for(t, "GET /waited ")
            self.assertGreater(d["tw"], 100)
            holder.close()

    def test_server_timeout_504(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port,
                       timeouts={"server": "300ms"}) as t:
            t0 = time.monotonic()
            self.check(t, "/slow/3000", 504, "upstream_timeout", "sH--")
            self.assertLess(time.monotonic() - t0, 2.5)

    def test_malformed_response_502(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            self.check(t, "/garbage", 502, "bad_upstream_response", "PH--")
            # the server connection was closed, the next request is fine
            st, _, body = get(self.fp, "/fine")
            self.assertEqual((st, body), (200, b"b GET /fine\n"))

    def test_junk_after_response_not_reused(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            c.request("GET", "/junkafter")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"abc"))
            c.request("GET", "/next")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"b GET /next\n"))
            c.close()
            # the stray bytes made that server connection unusable: a new one
            self.assertEqual(self.b.conn_count, 2)

    def test_reset_before_headers_502(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            self.check(t, "/reset", 502, "upstream_reset_before_headers", "SH--")
            self.check(t, "/close", 502, "upstream_reset_before_headers", "SH--")

    def test_cut_after_headers(self):
        # the backend sends the head and part of the body, then closes
        self.b.hook = lambda q: ((b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly-this",
                                  "close") if q.target == "/partial" else None)
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            s = connect(self.fp)
            s.sendall(b"GET /partial HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    break
                if not d:
                    break
                data += d
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
            self.assertTrue(data.endswith(b"only-this"))
            d = log_for(t, "GET /partial ")
            self.assertEqual((d["status"], d["reason"], d["state"]),
                             (200, "upstream_reset_after_headers", "SD--"))

    def test_slowloris_cut_while_others_served(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port,
                       fe="    timeout http-request 600ms\n") as t:
            slow = connect(self.fp)
            head = b"GET /loris HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 200
            t0 = time.monotonic()
            stop = threading.Event()
            served = []

            def others():
                while not stop.is_set():
                    st, _, body = get(self.fp, "/normal")
                    served.append(st)

            th = threading.Thread(target=others, daemon=True)
            th.start()
            got = b""
            for i, byte in enumerate(head):
                try:
                    slow.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                if wait_readable(slow, 0.02):  # pacing the drip; a reply ends it
                    break
            self.assertTrue(wait_readable(slow, 5))
            try:
                while True:
                    d = slow.recv(65536)
                    if not d:
                        break
                    got += d
            except ConnectionResetError:
                pass
            took = time.monotonic() - t0
            stop.set()
            th.join(10)
            slow.close()
            self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:100])
            self.assertIn(b"x-tern-error: request_timeout", got)
            self.assertGreaterEqual(took, 0.55)
            self.assertLess(took, 3.0)
            # other clients were served the whole time
            self.assertGreater(len(served), 5)
            self.assertEqual(set(served), {200})
            self.assertNotIn("/loris", self.b.seen())
            d = poll_until(lambda: [x for x in http_access_log(t.stderr_text())
                                    if x["status"] == 408], desc="408 log line")[0]
            self.assertEqual((d["reason"], d["state"], d["request"]),
                             ("request_timeout", "cR--", "<BADREQ>"))

    def test_silent_connection_gets_408(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port,
                       fe="    timeout http-request 300ms\n"):
            s = connect(self.fp)
            self.assertTrue(wait_readable(s, 5))
            data = s.recv(65536)
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
            s.close()

    def test_client_abort_mid_body(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            s = connect(self.fp)
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                      + b"z" * 1000)
            poll_until(lambda: "/upload" in self.b.seen(), desc="request forwarded")
            s.close()
            d = log_for(t, "POST /upload ")
            self.assertEqual((d["reason"], d["state"][0]), ("client_abort", "C"))
            # the server connection carrying half a request was closed
            poll_until(lambda: self.b.n_active() == 0, desc="server connection closed")

    def test_counters(self):
        with self.tern("    server s1 127.0.0.1:%d\n" % self.b.port) as t:
            for path in ("/a", "/b", "/status/404", "/status/500", "/garbage"):
                get(self.fp, path)
            s = connect(self.fp)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
            s.close()
            m = poll_until(lambda: (lambda m: m.get("tern_http_requests_total", proxy="fe")
                                    == 6 and m)(t.metrics()), desc="6 requests counted")
            self.assertEqual(m.get("tern_http_responses_total", proxy="fe", code="2xx"), 2)
            self.assertEqual(m.get("tern_http_responses_total", proxy="fe", code="4xx"), 2)
            self.assertEqual(m.get("tern_http_responses_total", proxy="fe", code="5xx"), 2)
            self.assertEqual(m.get("tern_http_responses_total", proxy="fe", code="1xx"), 0)
            self.assertEqual(m.get("tern_http_errors_total", proxy="fe",
                                   reason="bad_upstream_response"), 1)
            self.assertEqual(m.get("tern_http_errors_total", proxy="fe", reason="bad_request"), 1)
            self.assertEqual(m.get("tern_http_bad_requests_total", proxy="fe",
                                   reason="host_duplicate"), 1)
            self.assertEqual(m.get("tern_backend_http_requests_total", proxy="be"), 5)
            self.assertEqual(m.types["tern_http_errors_total"], "counter")


class HttpErrorHeaderOffTest(unittest.TestCase):
    def test_no_error_header_by_default(self):
        fp = free_port()
        text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
                             "backend be\n    server s1 127.0.0.1:%d disabled\n"
                             % (fp, free_port()))
        with Tern(text):
            st, hdrs, body = get(fp, "/x")
            self.assertEqual(st, 503)
            self.assertNotIn("x-tern-error", hdrs)
            self.assertEqual(hdrs["content-type"], "text/html")
            self.assertEqual(int(hdrs["content-length"]), len(body))


if __name__ == "__main__":
    unittest.main()
