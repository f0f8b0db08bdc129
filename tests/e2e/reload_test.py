"""SIGHUP reload: a new configuration replaces the running one inside the
process without closing a connection. A bad file changes nothing and says
why; a route change reaches the next request of a kept-alive connection; an
unchanged cluster keeps its health state and counters; an unchanged listener
keeps its sockets (no connection refused while reloading under load); a new
listener serves, a removed one stops accepting and drains its connections
for at most hard-stop-after."""

import http.client
import signal
import socket
import threading
import time
import unittest

from ternlib import (HttpBackend, NameServer, SourceServer, PatternStream, Tern, cfg_head,
                     cfg_http, connect, fetch_name, free_port, is_refused, poll_until)


def http_cfg(ap, fp, target, a_port, b_port, extra_fe="", extra_be_a="", nbthread=2,
             global_extra=()):
    return cfg_http(nbthread=nbthread, admin_port=ap, global_extra=global_extra) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend %s\n%s\n"
        "backend a\n%s    server s1 127.0.0.1:%d\n\n"
        "backend b\n    server s1 127.0.0.1:%d\n" % (fp, target, extra_fe, extra_be_a,
                                                     a_port, b_port))


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


class Reloader:
    """Writes a new config and sends SIGHUP; waits until /clusters shows a
    newer snapshot version (applied) or the log says it was refused."""

    def __init__(self, t):
        self.t = t

    def version(self):
        return self.t.clusters()["version"]

    def reload(self, config, expect_ok=True):
        before = self.version()
        nrefused = self.t.stderr_text().count("the running configuration is unchanged")
        with open(self.t.cfg_path, "w") as f:
            f.write(config)
        self.t.send_signal(signal.SIGHUP)
        if expect_ok:
            poll_until(lambda: self.version() > before, timeout=5, desc="reload applied")
        else:
            poll_until(lambda: self.t.stderr_text().count(
                "the running configuration is unchanged") > nrefused, timeout=5,
                desc="reload refused")
            self.assertEqual_version(before)

    def assertEqual_version(self, v):
        if self.version() != v:
            raise AssertionError("a refused reload changed the snapshot version")


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.a = HttpBackend("a")
        self.b = HttpBackend("b")
        self.fp, self.ap = free_port(), free_port()

    def tearDown(self):
        self.a.kill()
        self.b.kill()

    def cfg(self, target, **kw):
        return http_cfg(self.ap, self.fp, target, self.a.port, self.b.port, **kw)

    def test_route_change_on_kept_alive_connection(self):
        with Tern(self.cfg("a"), admin_port=self.ap) as t:
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/x"), (200, b"a GET /x\n"))
            Reloader(t).reload(self.cfg("b"))
            # same client connection, next request: the new route
            self.assertEqual(get(c, "/y"), (200, b"b GET /y\n"))
            self.assertEqual(get(c, "/z"), (200, b"b GET /z\n"))
            c.close()
            self.assertIn("configuration version", t.stderr_text())

    def test_bad_file_changes_nothing(self):
        with Tern(self.cfg("a"), admin_port=self.ap) as t:
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            self.assertEqual(get(c, "/1"), (200, b"a GET /1\n"))
            bad = self.cfg("b").replace("backend b\n", "backend b\n    balance nosuchalgo\n")
            Reloader(t).reload(bad, expect_ok=False)
            err = t.stderr_text()
            self.assertRegex(err, r"reload: .*tern\.cfg:\d+: balance: ")
            self.assertEqual(get(c, "/2"), (200, b"a GET /2\n"))
            # a global that cannot change at run time: refused, said why
            Reloader(t).reload(self.cfg("b", nbthread=3), expect_ok=False)
            self.assertIn("nbthread cannot change while tern runs (2 -> 3)", t.stderr_text())
            self.assertEqual(get(c, "/3"), (200, b"a GET /3\n"))
            # a listener that cannot bind: refused, the old one still serves
            busy = socket.socket()
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            bport = busy.getsockname()[1]
            extra = "frontend fe2\n    bind 127.0.0.1:%d\n    default_backend b\n" % bport
            Reloader(t).reload(self.cfg("b") + "\n" + extra, expect_ok=False)
            busy.close()
            self.assertRegex(t.stderr_text(), r"bind: cannot bind 127\.0\.0\.1:%d for 'fe2'"
                             % bport)
            self.assertEqual(get(c, "/4"), (200, b"a GET /4\n"))
            c.close()

    def test_unchanged_cluster_keeps_state(self):
        down = free_port()  # nothing listens: its check fails
        be = "    option httpchk\n    server s2 127.0.0.1:%d check inter 1s fall 1\n" % down
        with Tern(self.cfg("a", extra_be_a=be), admin_port=self.ap) as t:
            def server(name):
                cl = [x for x in t.clusters()["clusters"] if x["name"] == "a"][0]
                return [s for s in cl["servers"] if s["name"] == name][0], cl
            poll_until(lambda: server("s2")[0]["health"] == "DOWN", timeout=5,
                       desc="s2 down")
            for i in range(5):
                st, _ = get(http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5), "/")
                self.assertEqual(st, 200)
            total = server("s1")[1]["connections_total"]
            # backend a unchanged (only the frontend changes): same object
            Reloader(t).reload(self.cfg("a", extra_be_a=be, extra_fe="    maxconn 100\n"))
            s2, cl = server("s2")
            self.assertEqual(s2["health"], "DOWN")
            self.assertEqual(cl["connections_total"], total)
            self.assertIn("2 cluster(s), 2 of them unchanged", t.stderr_text())
            # backend a changed (s3 added): a new cluster, but s2 stays DOWN
            be3 = be + "    server s3 127.0.0.1:%d\n" % self.b.port
            Reloader(t).reload(self.cfg("a", extra_be_a=be3))
            self.assertIn("2 cluster(s), 1 of them unchanged", t.stderr_text())
            s2, cl = server("s2")
            self.assertEqual(s2["health"], "DOWN")
            self.assertEqual(cl["connections_total"], 0)  # a new cluster object
            for i in range(6):  # never routed to the down server
                st, body = get(http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5),
                               "/")
                self.assertEqual(st, 200)

    def test_reloads_under_load_lose_nothing(self):
        stop = threading.Event()
        failures, done = [], [0]

        def keepalive_client():
            c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
            n = 0
            while not stop.is_set():
                try:
                    st, body = get(c, "/k%d" % n)
                    if st != 200:
                        failures.append("status %d" % st)
                    done[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    failures.append("keep-alive: %r" % e)
                    c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
                n += 1
            c.close()

        def new_conn_client():
            while not stop.is_set():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5)
                    st, _ = get(c, "/n")
                    c.close()
                    if st != 200:
                        failures.append("status %d" % st)
                    done[0] += 1
                except Exception as e:  # noqa: BLE001
                    failures.append("new: %r" % e)

        with Tern(self.cfg("a"), admin_port=self.ap) as t:
            r = Reloader(t)
            threads = [threading.Thread(target=f, daemon=True)
                       for f in (keepalive_client, keepalive_client, new_conn_client,
                                 new_conn_client)]
            for th in threads:
                th.start()
            poll_until(lambda: done[0] > 50, timeout=10, desc="load running")
            for i in range(8):
                target = "b" if i % 2 == 0 else "a"
                extra = "    server s9 127.0.0.1:%d\n" % self.b.port if i % 3 == 0 else ""
                r.reload(self.cfg(target, extra_be_a=extra))
                mark = done[0]
                poll_until(lambda: done[0] > mark + 20, timeout=10, desc="requests flow")
            stop.set()
            for th in threads:
                th.join(10)
            self.assertEqual(failures, [])
            self.assertGreater(len(self.a.requests), 0)
            self.assertGreater(len(self.b.requests), 0)


class TcpListenersTest(unittest.TestCase):
    def test_listener_added_removed_drained(self):
        n1, n2 = NameServer("one"), NameServer("two")
        src = SourceServer(4 * 1024 * 1024, rate=1024 * 1024)  # about 4 s
        p1, p2, p3, ap = free_port(), free_port(), free_port(), free_port()

        def cfg(listeners, hard_stop="1500ms"):
            text = cfg_head(nbthread=2, admin_port=ap,
                            global_extra=["hard-stop-after %s" % hard_stop])
            for name, port, be in listeners:
                text += "frontend %s\n    bind 127.0.0.1:%d\n    default_backend %s\n\n" % (
                    name, port, be)
            text += ("backend one\n    server s 127.0.0.1:%d\n\n"
                     "backend two\n    server s 127.0.0.1:%d\n\n"
                     "backend src\n    server s 127.0.0.1:%d\n" % (n1.port, n2.port, src.port))
            return text
        try:
            with Tern(cfg([("f1", p1, "one"), ("fsrc", p3, "src")]), admin_port=ap) as t:
                r = Reloader(t)
                self.assertEqual(fetch_name(p1), "one")
                self.assertTrue(is_refused(p2))
                # a long transfer through the listener that will be removed
                s = connect(p3, timeout=20)
                ps = PatternStream()
                poll_until(lambda: ps.update(s.recv(65536)) or ps.n > 100_000, timeout=5,
                           desc="transfer under way")
                # f1 kept, f2 added, fsrc removed
                r.reload(cfg([("f1", p1, "two"), ("f2", p2, "one")]))
                self.assertEqual(fetch_name(p1), "two")
                self.assertEqual(fetch_name(p2), "one")
                poll_until(lambda: is_refused(p3), timeout=3, desc="removed listener closed")
                # the drained connection carries on, then is cut at hard-stop-after
                t0 = time.monotonic()
                got = ps.n
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    ps.update(d)
                elapsed = time.monotonic() - t0
                self.assertGreater(ps.n, got)
                self.assertEqual(ps.hexdigest(), PatternStream.digest_of_pattern(ps.n))
                self.assertLess(ps.n, 4 * 1024 * 1024)  # cut before the end
                self.assertLess(elapsed, 5)
                s.close()
                # rebinding f2 to another port: the old port stops, the new serves
                p4 = free_port()
                r.reload(cfg([("f1", p1, "two"), ("f2", p4, "one")]))
                self.assertEqual(fetch_name(p4), "one")
                poll_until(lambda: is_refused(p2), timeout=3, desc="rebound port closed")
        finally:
            n1.kill()
            n2.kill()
            src.kill()


if __name__ == "__main__":
    unittest.main()
