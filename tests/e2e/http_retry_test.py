"""Retries in mode http: HAProxy's `retries` / `retry-on` (status codes,
empty-response, junk-response, response-timeout, conn-failure) through the
retry filter, with tern's additions: per-try timeout, request-body replay
from a bounded buffer, the retry budget, and the rule that non-idempotent
requests are never retried (unless configured). Each test asserts what the
backend saw, so a retry that did not happen (or happened when it must not)
fails."""

import http.client
import os
import subprocess
import tempfile
import threading
import time
import unittest

from ternlib import TERN_BIN, HttpBackend, Tern, cfg_http, free_port, http_access_log


def check_config(text):
    """`tern -c -f` on text: (exit code, output)."""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False,
                                     dir=os.environ.get("TEST_TMPDIR")) as f:
        f.write(text)
    try:
        p = subprocess.run([TERN_BIN, "-c", "-f", f.name], capture_output=True, text=True,
                           timeout=20)
        return p.returncode, p.stdout + p.stderr
    finally:
        os.unlink(f.name)


def request(port, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class Flaky:
    """A backend hook failing every other request (the 1st, 3rd, ...) with
    `status`, or by `mode` ("close": no response at all)."""

    def __init__(self, status=503, mode=None, every=2):
        self.n = 0
        self.status = status
        self.mode = mode
        self.every = every
        self.lock = threading.Lock()

    def __call__(self, req):
        with self.lock:
            self.n += 1
            fail = (self.n - 1) % self.every == 0
        if not fail:
            return None
        if self.mode == "close":
            return "close"
        return b"HTTP/1.1 %d Nope\r\nContent-Length: 5\r\n\r\nnope\n" % self.status


class HttpRetryTest(unittest.TestCase):
    def setUp(self):
        self.fp = free_port()
        self.ap = free_port()
        self.backends = []

    def tearDown(self):
        for b in self.backends:
            b.kill()

    def backend(self, name="b", hook=None):
        b = HttpBackend(name, hook=hook)
        self.backends.append(b)
        return b

    def tern(self, backend_lines, nbthread=1, timeout_server="10s"):
        text = cfg_http(nbthread=nbthread, admin_port=self.ap, timeout_server=timeout_server) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "    option tern-error-header\n\nbackend be\n%s\n" % (self.fp, backend_lines))
        return Tern(text, admin_port=self.ap)

    def seen(self, b, method=None):
        return [r for r in b.requests if method is None or r.method == method]

    def test_every_other_503_gets_gets_all_through_and_posts_are_not_retried(self):
        b = self.backend(hook=Flaky(503))
        with self.tern("    retry-on 503\n    retries 3\n    server s1 127.0.0.1:%d\n"
                       % b.port) as t:
            for i in range(100):
                st, _, body = request(self.fp, "/g%d" % i)
                self.assertEqual((st, body), (200, b"b GET /g%d\n" % i))
            gets = self.seen(b, "GET")
            self.assertEqual(len(gets), 200)  # each GET: one 503, then the 200
            posts_ok = 0
            for i in range(20):
                st, _, _ = request(self.fp, "/p%d" % i, "POST", body=b"x" * 10)
                self.assertIn(st, (200, 503))
                posts_ok += st == 200
            self.assertEqual(len(self.seen(b, "POST")), 20)  # never sent twice
            self.assertEqual(posts_ok, 10)
            self.assertEqual(t.metrics().get("tern_backend_retries_total", proxy="be"), 100)
            d = [x for x in http_access_log(t.stderr_text()) if x["request"].startswith("GET /g5 ")]
            self.assertEqual(d[0]["retries"], 1)

    def test_retries_go_to_another_server_when_there_is_one(self):
        bad = self.backend("bad", hook=lambda req: b"HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n")
        good = self.backend("good")
        with self.tern("    retry-on 503\n    retries 1\n    balance roundrobin\n"
                       "    server bad 127.0.0.1:%d\n    server good 127.0.0.1:%d\n"
                       % (bad.port, good.port)):
            for i in range(10):
                st, _, body = request(self.fp, "/h%d" % i)
                self.assertEqual((st, body), (200, b"good GET /h%d\n" % i))
            # one retry and it avoided the host that failed
            self.assertEqual(len(good.requests), 10)

    def test_retries_exhausted_return_the_last_response(self):
        b = self.backend(hook=lambda req: b"HTTP/1.1 503 X\r\nContent-Length: 4\r\n\r\nlast")
        with self.tern("    retry-on 503\n    retries 2\n    server s1 127.0.0.1:%d\n" % b.port):
            st, _, body = request(self.fp, "/x")
            self.assertEqual((st, body), (503, b"last"))
            self.assertEqual(len(b.requests), 3)

    def test_status_not_in_retry_on_is_not_retried(self):
        b = self.backend(hook=Flaky(500))
        with self.tern("    retry-on 503 502\n    server s1 127.0.0.1:%d\n" % b.port):
            st, _, _ = request(self.fp, "/y")
            self.assertEqual(st, 500)
            self.assertEqual(len(b.requests), 1)

    def test_empty_response_retried(self):
        b = self.backend(hook=Flaky(mode="close"))
        with self.tern("    retry-on empty-response\n    server s1 127.0.0.1:%d\n" % b.port):
            for i in range(5):
                st, _, body = request(self.fp, "/e%d" % i)
                self.assertEqual((st, body), (200, b"b GET /e%d\n" % i))
            self.assertEqual(len(b.requests), 10)

    def test_empty_response_without_retry_on_is_502(self):
        b = self.backend(hook=Flaky(mode="close"))
        with self.tern("    server s1 127.0.0.1:%d\n" % b.port):
            st, hdrs, _ = request(self.fp, "/e")
            self.assertEqual((st, hdrs.get("x-tern-error")), (502, "upstream_reset_before_headers"))
            self.assertEqual(len(b.requests), 1)

    def test_body_replayed_from_the_buffer(self):
        b = self.backend(hook=Flaky(503))
        body = bytes(range(256)) * 32  # 8 KiB: fits the default 16 KiB buffer
        with self.tern("    retry-on 503\n    server s1 127.0.0.1:%d\n" % b.port):
            st, _, got = request(self.fp, "/echo", "PUT", body=body)
            self.assertEqual((st, got), (200, body))
            puts = self.seen(b, "PUT")
            self.assertEqual(len(puts), 2)
            self.assertEqual([p.body for p in puts], [body, body])

    def test_body_larger_than_the_buffer_is_not_replayed(self):
        b = self.backend(hook=Flaky(503))
        body = b"z" * (200 * 1024)
        with self.tern("    retry-on 503\n    filter retry buffer 16k\n"
                       "    server s1 127.0.0.1:%d\n" % b.port):
            st, _, _ = request(self.fp, "/echo", "PUT", body=body)
            self.assertEqual(st, 503)
            self.assertEqual(len(self.seen(b, "PUT")), 1)

    def test_retry_non_idempotent_opt_in(self):
        b = self.backend(hook=Flaky(503))
        with self.tern("    retry-on 503\n    filter retry retry-non-idempotent\n"
                       "    server s1 127.0.0.1:%d\n" % b.port):
            st, _, got = request(self.fp, "/echo", "POST", body=b"once more")
            self.assertEqual((st, got), (200, b"once more"))
            self.assertEqual(len(self.seen(b, "POST")), 2)

    def test_per_try_timeout(self):
        state = {"n": 0}

        def slow_first(req):
            state["n"] += 1
            if state["n"] == 1:
                time.sleep(2.0)
            return None

        b = self.backend(hook=slow_first)
        with self.tern("    retry-on response-timeout\n    filter retry per-try-timeout 300ms\n"
                       "    server s1 127.0.0.1:%d\n" % b.port):
            t0 = time.monotonic()
            st, _, body = request(self.fp, "/pt")
            self.assertEqual((st, body), (200, b"b GET /pt\n"))
            self.assertLess(time.monotonic() - t0, 1.8)
            self.assertEqual(len(b.requests), 2)

    def test_per_try_timeout_without_retry_is_504(self):
        b = self.backend(hook=lambda req: time.sleep(1.5))
        with self.tern("    filter retry per-try-timeout 200ms\n    server s1 127.0.0.1:%d\n"
                       % b.port):
            st, hdrs, _ = request(self.fp, "/pt")
            self.assertEqual((st, hdrs.get("x-tern-error")), (504, "upstream_timeout"))

    def test_conn_failure_not_retried_without_it_in_retry_on(self):
        dead = free_port()
        with self.tern("    retry-on 503\n    retries 3\n    server s1 127.0.0.1:%d\n" % dead) as t:
            st, hdrs, _ = request(self.fp, "/dead")
            self.assertEqual((st, hdrs.get("x-tern-error")), (503, "connect_failure"))
            self.assertEqual(t.metrics().get("tern_backend_retries_total", proxy="be"), 0)

    def test_conn_failure_retried_by_the_filter_to_another_server(self):
        dead = free_port()
        good = self.backend("good")
        with self.tern("    retry-on conn-failure\n    filter retry backoff 10ms 50ms\n"
                       "    balance roundrobin\n    server dead 127.0.0.1:%d\n"
                       "    server good 127.0.0.1:%d\n" % (dead, good.port)):
            for i in range(6):
                st, _, body = request(self.fp, "/c%d" % i)
                self.assertEqual((st, body), (200, b"good GET /c%d\n" % i))

    def budget_run(self, budget_line):
        """20 concurrent GETs to a backend answering 503 after 300 ms; returns
        (retries counted by tern, requests the backend saw)."""
        def slow_503(req):
            time.sleep(0.3)
            return b"HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n"

        b = self.backend(hook=slow_503)
        with self.tern("    retry-on 503\n    retries 3\n%s    server s1 127.0.0.1:%d\n"
                       % (budget_line, b.port), nbthread=2) as t:
            results = []

            def one(i):
                results.append(request(self.fp, "/bud%d" % i)[0])

            th = [threading.Thread(target=one, args=(i,)) for i in range(20)]
            for x in th:
                x.start()
            for x in th:
                x.join()
            self.assertEqual(results, [503] * 20)
            m = t.metrics()
            retries = m.get("tern_backend_retries_total", proxy="be")
            # the filter's own count (implicit or written, it is the backend chain's last)
            self.assertEqual(m.sum("tern_retry_filter_retries_total"), retries)
            self.budget_refused = m.sum("tern_retry_filter_budget_exhausted_total")
            return retries, len(b.requests)

    def test_budget_caps_retries_when_the_backend_is_down(self):
        retries, seen = self.budget_run("    filter retry budget 10% min-concurrency 2\n")
        # at most 2 streams retrying at once, each up to 3 times: far below 60
        self.assertLessEqual(retries, 12)
        self.assertEqual(seen, 20 + retries)
        self.assertGreater(self.budget_refused, 0)

    def test_without_budget_every_request_retries(self):
        retries, seen = self.budget_run("")
        self.assertEqual(retries, 60)
        self.assertEqual(seen, 80)
        self.assertEqual(self.budget_refused, 0)

    def test_config_errors(self):
        cases = [
            ("    retry-on 418\n", "retry-on: unknown condition '418'"),
            ("    retry-on none 503\n", "'none' cannot be combined"),
            ("    filter retry backoff 10ms\n", "backoff needs <base> <max>"),
            ("    filter retry backoff 100ms 10ms\n", "invalid backoff max '10ms'"),
            ("    filter retry budget 0%\n", "invalid budget '0%'"),
            ("    filter retry bogus\n", "unknown argument 'bogus'"),
            ("    filter retry\n    filter retry\n", "a second retry filter"),
        ]
        for line, msg in cases:
            text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
                                 "backend be\n%s    server s1 127.0.0.1:1\n" % (self.fp, line))
            rc, out = check_config(text)
            self.assertEqual(rc, 1, line)
            self.assertIn(msg, out, line)
            self.assertRegex(out, r"\.cfg:\d+: (retry-on|filter): ")
        text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    filter retry\n"
                             "    default_backend be\nbackend be\n    server s1 127.0.0.1:1\n"
                             % self.fp)
        rc, out = check_config(text)
        self.assertEqual(rc, 1)
        self.assertIn("retry: belongs in the backend", out)


if __name__ == "__main__":
    unittest.main()
