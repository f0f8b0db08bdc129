"""mode http keep-alive on both sides: connection reuse (the backend sees
fewer connections than requests) under each http-reuse mode, pipelined
requests answered in order, server-close and close modes, the pool's limits
(pool-max-conn, pool-purge-delay), a reused connection the server closed
(idempotent request resent once, POST never), idle timeouts, memory of an
idle keep-alive client connection, graceful stop."""

import http.client
import signal
import socket
import time
import unittest

from ternlib import (HttpBackend, HttpReader, Nginx, Tern, cfg_http, connect, free_port,
                     http_access_log, parallel_map, poll_until, wait_readable)


def cfg(fp, bport, fe="", be="", defaults=(), srv=""):
    return cfg_http(defaults_extra=defaults) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n%s\n"
        "backend be\n%s    server s1 127.0.0.1:%d %s\n" % (fp, fe, be, bport, srv))


def get(c, path, method="GET", body=None):
    c.request(method, path, body=body)
    r = c.getresponse()
    return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}


class KeepAliveTest(unittest.TestCase):
    def setUp(self):
        self.b = HttpBackend("b")
        self.fp = free_port()

    def tearDown(self):
        self.b.kill()

    def test_one_client_one_server_connection(self):
        with Tern(cfg(self.fp, self.b.port)):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            for i in range(20):
                st, body, _ = get(c, "/r%d" % i)
                self.assertEqual((st, body), (200, b"b GET /r%d\n" % i))
            c.close()
            self.assertEqual(len(self.b.requests), 20)
            self.assertEqual(self.b.conn_count, 1)

    def run_sequential_clients(self, reuse, nclients=6, per_client=3):
        be = "    http-reuse %s\n" % reuse if reuse else ""
        with Tern(cfg(self.fp, self.b.port, be=be)):
            for k in range(nclients):
                c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
                for i in range(per_client):
                    self.assertEqual(get(c, "/c%d-%d" % (k, i))[0], 200)
                c.close()
            self.assertEqual(len(self.b.requests), nclients * per_client)
            return self.b.conn_count

    def test_reuse_safe_default(self):
        # each client's first request on a new connection, the others reused
        self.assertEqual(self.run_sequential_clients(None), 6)

    def test_reuse_never(self):
        # private connections, one per client, even with one request each
        self.assertEqual(self.run_sequential_clients("never", per_client=1), 6)

    def test_reuse_always(self):
        # first requests too may take an idle connection: one in all
        self.assertEqual(self.run_sequential_clients("always", per_client=1), 1)

    def test_reuse_aggressive(self):
        # a first request reuses a connection proven by two exchanges
        self.assertEqual(self.run_sequential_clients("aggressive", per_client=2), 1)
        self.b.kill()
        self.b = HttpBackend("b")
        self.fp = free_port()
        # ... but not one that served a single exchange
        self.assertEqual(self.run_sequential_clients("aggressive", per_client=1), 6)

    def test_never_keeps_connections_private(self):
        # two clients interleaved: each one's requests stay on its own
        # server connection
        with Tern(cfg(self.fp, self.b.port, be="    http-reuse never\n")):
            a = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            b = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            for i in range(4):
                get(a, "/a%d" % i)
                get(b, "/b%d" % i)
            a.close()
            b.close()
            conns_a = {q.conn for q in self.b.requests if q.target.startswith("/a")}
            conns_b = {q.conn for q in self.b.requests if q.target.startswith("/b")}
            self.assertEqual(len(conns_a), 1)
            self.assertEqual(len(conns_b), 1)
            self.assertNotEqual(conns_a, conns_b)

    def test_post_never_on_another_clients_connection(self):
        # with http-reuse always, GETs share one connection, but a client's
        # first POST never goes on a connection another client used
        with Tern(cfg(self.fp, self.b.port, be="    http-reuse always\n")):
            a = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            get(a, "/warm")
            a.close()
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/post", "POST", b"data")[0], 200)
            # ... and then its own connection is fine for its next POST
            self.assertEqual(get(c, "/post2", "POST", b"data")[0], 200)
            c.close()
            by = {q.target: q.conn for q in self.b.requests}
            self.assertNotEqual(by["/post"], by["/warm"])
            self.assertEqual(by["/post2"], by["/post"])

    def test_pipelining_in_order(self):
        with Tern(cfg(self.fp, self.b.port)):
            s = connect(self.fp)
            rd = HttpReader(s)
            # slow ones first: answers must still come in request order
            paths = [b"/slow/150", b"/p1", b"/slow/50", b"/p3", b"/p4", b"/slow/10", b"/p6"]
            s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in paths))
            for p in paths:
                st, _, body, _ = rd.response()
                self.assertEqual(st, 200)
                if p.startswith(b"/slow"):
                    self.assertEqual(body, b"slow\n")
                else:
                    self.assertEqual(body, b"b GET %s\n" % p)
            s.close()
            self.assertEqual([q.target for q in self.b.requests], [p.decode() for p in paths])
            self.assertEqual(self.b.conn_count, 1)

    def test_pipelined_bodies_are_not_mixed(self):
        with Tern(cfg(self.fp, self.b.port)):
            s = connect(self.fp)
            rd = HttpReader(s)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
                      b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"6\r\nsecond\r\n0\r\n\r\n"
                      b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(rd.response()[2], b"first")
            self.assertEqual(rd.response()[2], b"second")
            self.assertEqual(rd.response()[2], b"b GET /third\n")
            s.close()

    def test_http_server_close(self):
        with Tern(cfg(self.fp, self.b.port, fe="    option http-server-close\n")):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            for i in range(3):
                st, _, hdrs = get(c, "/s%d" % i)
                self.assertEqual(st, 200)
                self.assertNotEqual(hdrs.get("connection"), "close")  # client side kept
            c.close()
            self.assertEqual(self.b.conn_count, 3)  # server side closed each time
            self.assertEqual({q.header("connection") for q in self.b.requests}, {"close"})

    def test_httpclose(self):
        with Tern(cfg(self.fp, self.b.port, be="    option httpclose\n")):
            s = connect(self.fp)
            s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            st, hdrs, body, _ = HttpReader(s).response()
            self.assertEqual(st, 200)
            self.assertEqual(dict((k.lower(), v) for k, v in hdrs)["connection"], "close")
            # the connection ends after the first response
            self.assertTrue(wait_readable(s, 5))
            rest = b""
            try:
                rest = s.recv(100)
            except ConnectionResetError:
                pass
            self.assertEqual(rest, b"")
            s.close()
            self.assertEqual(self.b.seen(), ["/a"])

    def test_pool_max_conn_zero_disables_reuse(self):
        with Tern(cfg(self.fp, self.b.port, srv="pool-max-conn 0")):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            for i in range(4):
                self.assertEqual(get(c, "/m%d" % i)[0], 200)
            c.close()
            self.assertEqual(self.b.conn_count, 4)

    def test_pool_purge_delay(self):
        with Tern(cfg(self.fp, self.b.port, srv="pool-purge-delay 200ms")):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/x")[0], 200)
            c.close()
            t0 = time.monotonic()
            # the idle server connection is closed by the purge (half per
            # period: one connection goes within two periods)
            poll_until(lambda: self.b.n_active() == 0, timeout=3,
                       desc="idle server connection purged")
            self.assertLess(time.monotonic() - t0, 2.0)

    def test_idle_server_connection_kept_by_default(self):
        with Tern(cfg(self.fp, self.b.port)):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/x")[0], 200)
            c.close()
            # pool-purge-delay 5s: still open a second later (HAProxy's default)
            t_end = time.monotonic() + 1.0
            while time.monotonic() < t_end:
                self.assertEqual(self.b.n_active(), 1)
                time.sleep(0.1)  # sampling a steady state, not synchronising

    def test_server_closes_idle_connection(self):
        # the server resets its idle connection: tern sees it on the idle
        # connection and never reuses it
        def respond_then_close(q):
            if q.target.startswith("/once"):
                return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            return None
        self.b.hook = respond_then_close
        with Tern(cfg(self.fp, self.b.port)):
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/once1")[0], 200)
            # the backend kept it open; now close the server side of it
            poll_until(lambda: self.b.n_active() == 1, desc="server connection open")
            self.b.kill()
            self.b.restart()
            poll_until(lambda: self.b.n_active() == 0, desc="server connection reset")
            st, body, _ = get(c, "/once2")
            self.assertEqual((st, body), (200, b"ok"))
            c.close()

    def flaky_backend(self):
        # a server that drops the second request of each of its connections
        # without an answer: what a reused connection closed by the server
        # looks like when the race is lost
        def hook(q):
            with self.b.lock:
                n = sum(1 for r in self.b.requests if r.conn == q.conn)
            return "close" if n >= 2 else None
        self.b.hook = hook

    def test_reused_connection_closed_get_is_resent(self):
        self.flaky_backend()
        with Tern(cfg(self.fp, self.b.port)) as t:
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/first")[0], 200)
            st, body, _ = get(c, "/again")
            self.assertEqual((st, body), (200, b"b GET /again\n"))
            c.close()
            # once on the reused connection (dropped), once on a new one
            self.assertEqual(self.b.seen(), ["/first", "/again", "/again"])
            self.assertEqual(self.b.conn_count, 2)
            d = poll_until(lambda: [x for x in http_access_log(t.stderr_text())
                                    if x["request"].startswith("GET /again")],
                           desc="log line")[0]
            self.assertEqual((d["status"], d["reason"]), (200, "none"))

    def test_reused_connection_closed_post_is_not_resent(self):
        self.flaky_backend()
        with Tern(cfg(self.fp, self.b.port, fe="    option tern-error-header\n")) as t:
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/first")[0], 200)
            st, body, hdrs = get(c, "/pay", "POST", b"money")
            self.assertEqual(st, 502)
            self.assertEqual(hdrs.get("x-tern-error"), "upstream_reset_before_headers")
            c.close()
            self.assertEqual(self.b.seen(), ["/first", "/pay"])
            d = poll_until(lambda: [x for x in http_access_log(t.stderr_text())
                                    if x["request"].startswith("POST /pay")],
                           desc="log line")[0]
            self.assertEqual((d["status"], d["state"], d["reason"]),
                             (502, "SH--", "upstream_reset_before_headers"))

    def test_keep_alive_timeout_closes_silently(self):
        with Tern(cfg(self.fp, self.b.port, fe="    timeout http-keep-alive 300ms\n")) as t:
            s = connect(self.fp)
            s.sendall(b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n")
            HttpReader(s).response()
            t0 = time.monotonic()
            self.assertTrue(wait_readable(s, 5))
            self.assertEqual(s.recv(100), b"")  # closed, no 408
            took = time.monotonic() - t0
            self.assertGreaterEqual(took, 0.25)
            self.assertLess(took, 2.0)
            s.close()
            self.assertEqual(len(http_access_log(t.stderr_text())), 1)

    def test_graceful_stop_closes_idle_and_finishes_busy(self):
        with Tern(cfg(self.fp, self.b.port,
                      defaults=["timeout client 30s"])) as t:
            idle = connect(self.fp)
            idle.sendall(b"GET /i HTTP/1.1\r\nHost: x\r\n\r\n")
            HttpReader(idle).response()
            busy = connect(self.fp)
            busy.sendall(b"GET /slow/600 HTTP/1.1\r\nHost: x\r\n\r\n")
            poll_until(lambda: "/slow/600" in self.b.seen(), desc="slow request arrived")
            t.send_signal(signal.SIGTERM)
            # the idle keep-alive connection is closed at once
            self.assertTrue(wait_readable(idle, 5))
            self.assertEqual(idle.recv(10), b"")
            # the busy one gets its response, with Connection: close
            st, hdrs, body, _ = HttpReader(busy).response()
            self.assertEqual((st, body), (200, b"slow\n"))
            self.assertEqual(dict((k.lower(), v) for k, v in hdrs)["connection"], "close")
            self.assertEqual(t.wait_exit(10), 0)
            idle.close()
            busy.close()


class IdleMemoryTest(unittest.TestCase):
    def test_idle_keep_alive_connection_under_1k(self):
        # as bench/ measures it: connections opened one after another, each
        # doing one request/response and then left idle; the cost includes
        # the idle server connection each one keeps (http-reuse safe)
        b = HttpBackend("b")
        fp = free_port()
        n = 400
        try:
            with Tern(cfg(fp, b.port, defaults=["timeout client 60s"])) as t:
                if t.sanitized():
                    self.skipTest("memory per connection is not meaningful under a sanitizer")

                def open_idle(k):
                    socks = []
                    for i in range(k):
                        s = connect(fp)
                        s.sendall(b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n")
                        HttpReader(s).response()
                        socks.append(s)
                    return socks

                def stable_pss():
                    last = [None]

                    def same():
                        v = t.pss_anon_kb()
                        ok = v == last[0]
                        last[0] = v
                        return ok and v
                    return poll_until(same, timeout=5, interval=0.1, desc="stable Pss_Anon")

                warm = open_idle(50)  # buffer pool, stream cache, allocator arenas
                m1 = stable_pss()
                socks = open_idle(n)
                m2 = stable_pss()
                per_conn = (m2 - m1) * 1024.0 / n
                print("idle conn bytes: %.0f" % per_conn)
                for s in warm + socks:
                    s.close()
                self.assertEqual(b.conn_count, 50 + n)
                self.assertLess(per_conn, 1024,
                                "idle keep-alive connection costs %.0f bytes" % per_conn)
        finally:
            b.kill()


class NginxKeepAliveTest(unittest.TestCase):
    def test_nginx_backend_reuse(self):
        fp = free_port()
        with Nginx() as ng:
            with Tern(cfg(fp, ng.port)):
                def client(k):
                    c = http.client.HTTPConnection("127.0.0.1", fp, timeout=5)
                    out = []
                    for i in range(25):
                        st, body, _ = get(c, "/n%d-%d" % (k, i))
                        out.append((st, body))
                    c.close()
                    return out
                results = parallel_map(client, range(8), threads=8)
                for k, res in enumerate(results):
                    for i, (st, body) in enumerate(res):
                        self.assertEqual((st, body), (200, b"nginx GET /n%d-%d\n" % (k, i)))
                entries = poll_until(lambda: len(ng.entries()) == 200 and ng.entries(),
                                     desc="nginx logged 200 requests")
                conns = {e[0] for e in entries}
                # keep-alive both sides: at most one server connection per client
                self.assertLessEqual(len(conns), 8)
                self.assertLess(len(conns), len(entries))

    def test_answer_before_body_keeps_connections(self):
        # nginx's `return` answers as soon as the head arrives; the body
        # comes after the response: tern forwards it anyway, and both
        # connections carry the next request
        fp = free_port()
        with Nginx('location / { return 200 "early\n"; }') as ng:
            with Tern(cfg(fp, ng.port)):
                s = connect(fp)
                rd = HttpReader(s)
                s.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
                st, hdrs, body, _ = rd.response()
                self.assertEqual((st, body), (200, b"early\n"))
                self.assertNotEqual(dict((k.lower(), v) for k, v in hdrs).get("connection"),
                                    "close")
                s.sendall(b"y" * 200000)
                s.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
                st, _, body, _ = rd.response()
                self.assertEqual((st, body), (200, b"early\n"))
                s.close()
                entries = poll_until(lambda: len(ng.entries()) == 2 and ng.entries(),
                                     desc="nginx logged both")
                self.assertEqual([e[2] for e in entries], ["/early", "/next"])
                self.assertEqual(len({e[0] for e in entries}), 1)

    def test_nginx_post_bodies(self):
        fp = free_port()
        with Nginx('location / { return 200 "got $request_length\\n"; }') as ng:
            with Tern(cfg(fp, ng.port)):
                c = http.client.HTTPConnection("127.0.0.1", fp, timeout=5)
                for size in (0, 10, 100000):
                    st, body, _ = get(c, "/post", "POST", b"x" * size)
                    self.assertEqual(st, 200)
                c.close()
                self.assertEqual(len(ng.connections()), 1)


if __name__ == "__main__":
    unittest.main()
