"""http-request / http-response actions, the section keyword redirect and
errorfile, through the real binary: header rewrites and target rewrites as
the backend sees them, conditions with if/unless, deny / return / redirect
answered by tern (the backend never sees them), response rewrites as the
client sees them, errorfiles served for tern's own replies (keep-alive
intact), and config errors reported as FILE:LINE."""

import os
import subprocess
import tempfile
import unittest

from ternlib import (TERN_BIN, HttpBackend, HttpReader, Tern, cfg_http, connect, free_port,
                     http_access_log, poll_until)


def hget(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def hall(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


class HttpActionsTest(unittest.TestCase):
    def setUp(self):
        self.b = HttpBackend("b")
        self.fp = free_port()
        self.dir = tempfile.mkdtemp(prefix="tern-actions-", dir=os.environ.get("TEST_TMPDIR"))

    def tearDown(self):
        self.b.kill()

    def tern(self, fe_lines, be_lines="", global_extra=()):
        text = cfg_http(global_extra=global_extra) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    option tern-error-header\n"
            "    default_backend be\n%s\n"
            "backend be\n    server s1 127.0.0.1:%d\n%s"
            % (self.fp, fe_lines, self.b.port, be_lines))
        return Tern(text)

    def request(self, raw_requests):
        """Sends the requests on one connection; returns the responses."""
        s = connect(self.fp)
        try:
            s.sendall(b"".join(raw_requests))
            r = HttpReader(s)
            return [r.response() for _ in raw_requests]
        finally:
            s.close()

    def get(self, target, headers=(), method="GET"):
        raw = ("%s %s HTTP/1.1\r\nHost: app.example\r\n" % (method, target)).encode()
        raw += b"".join(("%s: %s\r\n" % h).encode() for h in headers) + b"\r\n"
        return self.request([raw])[0]

    def seen(self):
        """The last request the backend received."""
        poll_until(lambda: self.b.requests, desc="a request at the backend")
        return self.b.requests[-1]

    def write(self, name, data):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_request_header_actions(self):
        fe = """\
    acl canary hdr(x-canary) -m str yes
    http-request set-header X-Client %[src]
    http-request set-header X-Path %[path]
    http-request add-header X-Multi second
    http-request del-header X-Secret
    http-request del-header X-Debug- -m beg
    http-request replace-header X-Swap ^([^=]*)=(.*)$ \\2=\\1
    http-request replace-value X-List ^old-(.*)$ new-\\1
    http-request set-header X-Canary-Seen 1 if canary
    http-request set-header X-Not-Canary 1 unless canary
    http-request set-header X-Pct 100%%
"""
        with self.tern(fe):
            st, h, body, _ = self.get("/a/b?x=1", [
                ("X-Multi", "first"), ("X-Secret", "s3cr3t"), ("X-Debug-One", "1"),
                ("X-Debug-Two", "2"), ("X-Swap", "key=value"),
                ("X-List", "old-a, keep, old-b"), ("X-Canary", "yes")])
            self.assertEqual(st, 200)
            req = self.seen()
            self.assertEqual(req.header("x-client"), "127.0.0.1")
            self.assertEqual(req.header("x-path"), "/a/b")
            self.assertEqual(req.header_all("x-multi"), ["first", "second"])
            self.assertIsNone(req.header("x-secret"))
            self.assertIsNone(req.header("x-debug-one"))
            self.assertIsNone(req.header("x-debug-two"))
            self.assertEqual(req.header("x-swap"), "value=key")
            self.assertEqual(req.header("x-list"), "new-a, keep, new-b")
            self.assertEqual(req.header("x-canary-seen"), "1")
            self.assertIsNone(req.header("x-not-canary"))
            self.assertEqual(req.header("x-pct"), "100%")

            self.get("/c", [("X-Canary", "no")])
            req = self.seen()
            self.assertIsNone(req.header("x-canary-seen"))
            self.assertEqual(req.header("x-not-canary"), "1")

    def test_target_actions(self):
        fe = """\
    http-request set-path /v2%[path] if { path_beg /api/ }
    http-request set-query %[query]&from=tern if { path_beg /v2/ }
    http-request set-method POST if { path /make-post }
    http-request set-uri /rewritten?orig=%[path] if { path /uri }
    http-request set-header Host other.example if { path /host }
"""
        with self.tern(fe):
            self.assertEqual(self.get("/api/users?id=7")[0], 200)
            self.assertEqual(self.seen().target, "/v2/api/users?id=7&from=tern")
            self.get("/make-post")
            self.assertEqual(self.seen().method, "POST")
            self.get("/uri")
            self.assertEqual(self.seen().target, "/rewritten?orig=/uri")
            self.get("/host")
            self.assertEqual(self.seen().header("host"), "other.example")

    def test_invalid_rewrite_is_refused(self):
        fe = "    http-request set-path /x%[hdr(x-p)]\n"
        with self.tern(fe) as t:
            st, h, _, _ = self.get("/", [("X-P", "a b")])
            self.assertEqual(st, 400)
            self.assertEqual(hget(h, "x-tern-error"), "bad_request")
            self.assertEqual(self.b.requests, [])

    def test_deny_return_redirect(self):
        fe = """\
    acl blocked src 127.0.0.0/8
    http-request deny if { path /deny } blocked
    http-request deny deny_status 429 content-type text/plain string slow-down hdr Retry-After 9 if { path /limited }
    http-request return status 200 content-type text/plain lf-string "hello %[src] on %[path]" hdr X-From tern if { path /hello }
    http-request redirect location https://login.example/?back=%[path] code 303 if { path_beg /private }
    redirect prefix /new code 301 if { path_beg /old/ }
    redirect scheme https if { path /secure }
    http-request allow if { path /allowed }
    http-request deny if { path_beg /allowed }
"""
        with self.tern(fe) as t:
            s = connect(self.fp)
            try:
                s.sendall(b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n"
                          b"GET /limited HTTP/1.1\r\nHost: a\r\n\r\n"
                          b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                          b"GET /private/x HTTP/1.1\r\nHost: a\r\n\r\n"
                          b"GET /old/page?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"
                          b"GET /secure HTTP/1.1\r\nHost: shop.example\r\n\r\n"
                          b"GET /allowed HTTP/1.1\r\nHost: a\r\n\r\n")
                r = HttpReader(s)
                deny, limited, hello, private, old, secure, allowed = \
                    [r.response() for _ in range(7)]
            finally:
                s.close()
            self.assertEqual(deny[0], 403)
            self.assertEqual(hget(deny[1], "x-tern-error"), "denied")
            self.assertEqual(limited[0], 429)
            self.assertEqual(limited[2], b"slow-down")
            self.assertEqual(hget(limited[1], "Retry-After"), "9")
            self.assertEqual(hget(limited[1], "content-type"), "text/plain")
            self.assertEqual(hello[0], 200)
            self.assertEqual(hello[2], b"hello 127.0.0.1 on /hello")
            self.assertEqual(hget(hello[1], "X-From"), "tern")
            self.assertEqual(private[0], 303)
            self.assertEqual(hget(private[1], "location"),
                             "https://login.example/?back=/private/x")
            self.assertEqual(old[0], 301)
            self.assertEqual(hget(old[1], "location"), "/new/old/page?q=1")
            self.assertEqual(secure[0], 302)
            self.assertEqual(hget(secure[1], "location"), "https://shop.example/secure")
            # allow stops the rules: the later deny never runs
            self.assertEqual(allowed[0], 200)
            # only the allowed request reached the backend
            self.assertEqual([q.target for q in self.b.requests], ["/allowed"])

            # curl sees the redirect too
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                                  "%{http_code} %{redirect_url}",
                                  "http://127.0.0.1:%d/old/x" % self.fp],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(out.stdout, "301 http://127.0.0.1:%d/new/old/x" % self.fp)

            log = poll_until(lambda: [l for l in http_access_log(t.stderr_text())
                                      if l["request"].startswith("GET /deny ")],
                             desc="access log line")
            self.assertEqual(log[0]["reason"], "denied")
            self.assertEqual(log[0]["status"], 403)

    def test_response_actions(self):
        fe = """\
    http-response set-header X-Served-By tern
    http-response add-header X-Status %[status]
    http-response del-header Server
    http-response replace-header Content-Type ^text/(.*)$ text/\\1;charset=utf-8
    http-response set-header X-Req-Path %[path] if { status 200 }
    http-response deny if { status 500 }
"""

        def hook(req):
            if req.target == "/server":
                body = b"ok"
                return (b"HTTP/1.1 200 OK\r\nServer: secret/1.0\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: 2\r\n\r\n" + body)
            return None

        self.b.kill()
        self.b = HttpBackend("b", hook=hook)
        with self.tern(fe):
            st, h, body, _ = self.get("/server")
            self.assertEqual(st, 200)
            self.assertEqual(body, b"ok")
            self.assertEqual(hget(h, "X-Served-By"), "tern")
            self.assertEqual(hget(h, "X-Status"), "200")
            self.assertEqual(hget(h, "X-Req-Path"), "/server")
            self.assertIsNone(hget(h, "Server"))
            self.assertEqual(hget(h, "Content-Type"), "text/plain;charset=utf-8")
            # http-response deny: 502 (HAProxy's status for it), reason denied
            st, h, _, _ = self.get("/status/500")
            self.assertEqual(st, 502)
            self.assertEqual(hget(h, "x-tern-error"), "denied")
            # the connection still serves after a plain response
            self.assertEqual(self.get("/status/404")[0], 404)

    def test_errorfile(self):
        f403 = self.write("403.http", b"HTTP/1.1 403 Forbidden\nContent-Type: text/html\n"
                                      b"X-Custom: yes\n\n<h1>go away</h1>\n")
        f503 = self.write("503.http", b"HTTP/1.1 503 Service Unavailable\r\n"
                                      b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\ndown!")
        fe = ("    errorfile 403 %s\n    http-request deny if { path /deny }\n"
              "    use_backend dead if { path /dead }\n" % f403)
        be = ("backend dead\n    retries 0\n    errorfile 503 %s\n"
              "    server d 127.0.0.1:%d\n" % (f503, free_port()))
        with self.tern(fe, be):
            # two on one connection: the errorfile keeps the connection in sync
            got = self.request([b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n",
                                b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n"])
            st, h, body, _ = got[0]
            self.assertEqual(st, 403)
            self.assertEqual(body, b"<h1>go away</h1>\n")
            self.assertEqual(hget(h, "X-Custom"), "yes")
            self.assertEqual(hget(h, "content-length"), str(len(body)))
            self.assertEqual(hget(h, "x-tern-error"), "denied")
            self.assertEqual(got[1][0], 200)
            # the backend's errorfile for a failure once the request reached it
            st, h, body, _ = self.get("/dead")
            self.assertEqual(st, 503)
            self.assertEqual(body, b"down!")
            self.assertEqual(hall(h, "content-length"), ["5"])
            self.assertEqual(hget(h, "x-tern-error"), "connect_failure")

    def test_config_errors(self):
        bad_file = self.write("bad.http", b"not an http response")
        cases = [
            ("    http-request frobnicate\n", "http-request", "unknown action 'frobnicate'"),
            ("    http-request set-header X %[pth]\n", "http-request",
             "unknown fetch 'pth' (did you mean 'path'?)"),
            ("    http-request set-header X %ci\n", "http-request",
             "'%ci' in '%ci' is not supported"),
            ("    http-request deny if nothere\n", "http-request", "unknown ACL 'nothere'"),
            ("    http-response set-header X %[status] if { path_beg / } { status 200 }\n"
             "    http-request deny if { status 200 }\n", "http-request",
             "'status' reads the response"),
            ("    errorfile 503 %s\n" % bad_file, "errorfile", "is not an HTTP response"),
            ("    errorfile 503 /nonexistent.http\n", "errorfile",
             "cannot open '/nonexistent.http'"),
        ]
        for text, kw, msg in cases:
            cfg = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n%s"
                                "backend be\n    server s1 127.0.0.1:%d\n"
                                % (self.fp, text, self.b.port))
            path = self.write("t.cfg", cfg.encode())
            p = subprocess.run([TERN_BIN, "-c", "-f", path], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            out = p.stdout + p.stderr
            # the line of the offending keyword
            want_line = next(i + 1 for i, l in enumerate(cfg.splitlines())
                             if l.strip().startswith(kw) and (kw != "http-request" or
                                                               "status 200 }" not in text or
                                                               "deny" in l))
            self.assertIn("%s:%d: %s: " % (path, want_line, kw), out)
            self.assertIn(msg, out)
        # a backend section's rules: errors there are FILE:LINE too
        cfg = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
                            "backend be\n    http-request bogus\n    server s1 127.0.0.1:%d\n"
                            % (self.fp, self.b.port))
        path = self.write("t.cfg", cfg.encode())
        line = cfg.splitlines().index("    http-request bogus") + 1
        p = subprocess.run([TERN_BIN, "-c", "-f", path], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:%d: http-request: " % (path, line), p.stdout + p.stderr)

    def test_backend_rules_run_after_routing(self):
        b2 = HttpBackend("b2")
        try:
            text = cfg_http() + (
                "frontend fe\n    bind 127.0.0.1:%d\n"
                "    http-request set-header X-Order fe\n"
                "    use_backend api if { path_beg /api }\n    default_backend be\n"
                "backend be\n    http-request set-header X-Backend be\n"
                "    server s1 127.0.0.1:%d\n"
                "backend api\n    http-request set-header X-Order %%[hdr(x-order)],api\n"
                "    http-request set-header X-Backend api\n"
                "    http-response set-header X-Served-By api\n"
                "    server s2 127.0.0.1:%d\n" % (self.fp, self.b.port, b2.port))
            with Tern(text):
                st, h, _, _ = self.get("/api/x")
                self.assertEqual(st, 200)
                self.assertIn(("X-Served-By", "api"), h)
                r = b2.requests[-1]
                self.assertEqual((r.header("x-backend"), r.header("x-order")), ("api", "fe,api"))
                st, h, _, _ = self.get("/other")
                self.assertNotIn("x-served-by", [k.lower() for k, _ in h])
                r = self.seen()
                self.assertEqual((r.header("x-backend"), r.header("x-order")), ("be", "fe"))
        finally:
            b2.kill()


if __name__ == "__main__":
    unittest.main()
