"""Active health checks: a killed server is marked down within about
inter x fall and gets no new connection, comes back after rise; HTTP checks
(option httpchk, http-check expect status); backup servers take traffic only
when every other server is down."""

import collections
import threading
import time
import unittest

from ternlib import (HttpServer, NameServer, Tern, cfg_head, fetch_name, free_port,
                     http_get, poll_until)

INTER = 0.1  # seconds, as in the configs below
RISE, FALL = 2, 2
SLACK = 0.4  # scheduling, connect, publishing to workers, scrape interval


def server_up(t, name, proxy="be"):
    return t.metrics().get("tern_server_up", proxy=proxy, server=name)


def conns(t, name, proxy="be"):
    """Connections tern made to a server (health checks not included)."""
    return t.metrics().get("tern_server_connections_total", proxy=proxy, server=name)


def time_until(pred, timeout, desc):
    t0 = time.monotonic()
    poll_until(pred, timeout=timeout, interval=0.01, desc=desc)
    return time.monotonic() - t0


class TcpCheckTest(unittest.TestCase):
    def test_killed_server_down_then_up(self):
        srv = [NameServer("s%d" % i, mode="close") for i in (1, 2, 3)]
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n    retries 3\n    option redispatch\n"
            "    default-server check inter 100ms rise %d fall %d\n" % (fp, RISE, FALL))
        for s in srv:
            cfg += "    server %s 127.0.0.1:%d\n" % (s.name, s.port)
        traffic = collections.Counter()
        failures = []
        stop = threading.Event()

        def client_loop():
            while not stop.is_set():
                try:
                    traffic[fetch_name(fp)] += 1
                except Exception as e:  # noqa: BLE001
                    failures.append(e)

        try:
            with Tern(cfg, admin_port=ap) as t:
                poll_until(lambda: all(server_up(t, s.name) == 1 for s in srv),
                           desc="all servers up")
                bg = threading.Thread(target=client_loop, daemon=True)
                bg.start()
                poll_until(lambda: traffic["s2"] > 5, desc="traffic reaches s2")

                # kill s2 mid-traffic
                srv[1].kill()
                down_after = time_until(lambda: server_up(t, "s2") == 0,
                                        timeout=5, desc="s2 marked down")
                print("\ns2 marked down after %.3fs" % down_after)
                self.assertLessEqual(down_after, INTER * (FALL + 1) + SLACK,
                                     "s2 marked down after %.2fs" % down_after)
                # from now on s2 gets nothing and no client fails (a client
                # cut while s2 died does not count); a few connections first
                # so every worker has applied the new host set
                n = sum(traffic.values())
                poll_until(lambda: sum(traffic.values()) > n + 5, desc="traffic")
                del failures[:]
                sel = t.metrics().get("tern_server_connections_total", proxy="be",
                                      server="s2")
                n = sum(traffic.values())
                poll_until(lambda: sum(traffic.values()) > n + 40,
                           desc="traffic while s2 is down")
                m2 = t.metrics()
                self.assertEqual(m2.get("tern_server_connections_total", proxy="be",
                                        server="s2"), sel,
                                 "s2 got connections while down")
                self.assertEqual(m2.get("tern_server_up", proxy="be", server="s1"), 1)
                self.assertEqual(failures, [], "clients failed while s2 was down")

                # bring s2 back
                srv[1].restart()
                up_after = time_until(lambda: server_up(t, "s2") == 1,
                                      timeout=5, desc="s2 back up")
                print("s2 marked up after %.3fs" % up_after)
                self.assertLessEqual(up_after, INTER * (RISE + 1) + SLACK,
                                     "s2 marked up after %.2fs" % up_after)
                before = traffic["s2"]
                poll_until(lambda: traffic["s2"] > before + 5, desc="s2 gets traffic again")
                stop.set()
                bg.join(10)
                self.assertEqual(failures, [], "clients failed after s2 came back")
                log = t.stderr_text()
                self.assertRegex(log, r"be/s2 is DOWN")
                self.assertRegex(log, r"be/s2 is UP")
        finally:
            stop.set()
            for s in srv:
                s.kill()

    def test_flapping_server(self):
        # s2 goes down and up every ~150 ms under traffic: no crash, no stall,
        # clients keep being served (redispatch covers refused connects),
        # and the state settles once s2 stays up
        srv = [NameServer("s%d" % i, mode="close") for i in (1, 2)]
        fp, ap = free_port(), free_port()
        # timeout connect 200ms also shortens the retry turn-around to 200ms
        cfg = cfg_head(nbthread=2, admin_port=ap, timeout_connect="200ms") + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n    retries 3\n    option redispatch\n"
            "    default-server check inter 50ms rise 1 fall 1\n"
            "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n"
            % (fp, srv[0].port, srv[1].port))
        stop = threading.Event()
        served = collections.Counter()

        def client_loop():
            while not stop.is_set():
                try:
                    served[fetch_name(fp)] += 1
                except Exception:  # noqa: BLE001 - a reset while s2 dies
                    served["error"] += 1

        try:
            with Tern(cfg, admin_port=ap) as t:
                bgs = [threading.Thread(target=client_loop, daemon=True) for _ in range(3)]
                for b in bgs:
                    b.start()
                transitions0 = t.metrics().sum("tern_server_check_transitions_total",
                                               server="s2")
                for i in range(10):
                    srv[1].kill()
                    poll_until(lambda: server_up(t, "s2") == 0, timeout=3, desc="s2 down %d" % i)
                    n = served["s1"]
                    poll_until(lambda: served["s1"] > n + 3, timeout=3, desc="traffic %d" % i)
                    srv[1].restart()
                    poll_until(lambda: server_up(t, "s2") == 1, timeout=3, desc="s2 up %d" % i)
                n = sum(served.values())
                poll_until(lambda: sum(served.values()) > n + 50, desc="traffic after flapping")
                stop.set()
                for b in bgs:
                    b.join(10)
                self.assertTrue(t.alive())
                self.assertGreater(served["s2"], 0)
                self.assertLess(served["error"], 0.05 * sum(served.values()), served)
                m = t.metrics()
                self.assertGreaterEqual(m.sum("tern_server_check_transitions_total", server="s2")
                                        - transitions0, 20)
                poll_until(lambda: t.metrics().get("tern_backend_current_connections",
                                                   proxy="be") == 0,
                           desc="no connection left open")
        finally:
            stop.set()
            for s in srv:
                s.kill()


class HttpCheckTest(unittest.TestCase):
    def test_httpchk_expect_status(self):
        srv = [HttpServer("h%d" % i) for i in (1, 2)]
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n"
            "    option httpchk GET /healthz\n    http-check expect status 200\n"
            # a check answered late on a loaded machine (ASan, 2 CPUs) must
            # not count as a failure: only the status under test decides
            "    timeout check 2s\n"
            "    default-server check inter 100ms rise 2 fall 2\n" % fp)
        for s in srv:
            cfg += "    server %s 127.0.0.1:%d\n" % (s.name, s.port)
        try:
            with Tern(cfg, admin_port=ap) as t:
                poll_until(lambda: server_up(t, "h1") == 1 and server_up(t, "h2") == 1,
                           desc="both up")
                poll_until(lambda: srv[0].requests, desc="h1 checked")
                self.assertEqual(srv[0].requests[0][:2], ("GET", "/healthz"))
                # a 503 fails "expect status 200" (though 5xx vs 2xx is moot)
                srv[1].status = 503
                poll_until(lambda: server_up(t, "h2") == 0, timeout=3, desc="h2 down")
                names = {http_get(fp, "/")[2].strip() for _ in range(10)}
                self.assertEqual(names, {"h1"})
                # 201 is a success by default but not for "expect status 200"
                srv[1].status = 201
                n0 = len(srv[1].requests)
                poll_until(lambda: len(srv[1].requests) >= n0 + 4, desc="h2 checked 4x")
                self.assertEqual(server_up(t, "h2"), 0, "201 passed expect status 200")
                srv[1].status = 200
                poll_until(lambda: server_up(t, "h2") == 1, timeout=3, desc="h2 up")
                names = collections.Counter(http_get(fp, "/")[2].strip() for _ in range(10))
                self.assertEqual(names, {"h1": 5, "h2": 5})
        finally:
            for s in srv:
                s.kill()

    def test_httpchk_default_expect(self):
        # without http-check expect, 2xx and 3xx pass, others fail
        h = HttpServer("h1", status=302)
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=1, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    option httpchk /ping\n"
            "    server h1 127.0.0.1:%d check inter 100ms rise 1 fall 1\n" % (fp, h.port))
        try:
            with Tern(cfg, admin_port=ap) as t:
                n0 = len(h.requests)
                poll_until(lambda: len(h.requests) >= n0 + 2, desc="checks run")
                self.assertEqual(server_up(t, "h1"), 1)
                self.assertEqual(h.requests[0][:2], ("OPTIONS", "/ping"))
                h.status = 404
                poll_until(lambda: server_up(t, "h1") == 0, timeout=3, desc="404 is down")
        finally:
            h.kill()


class BackupTest(unittest.TestCase):
    def run_backup(self, allbackups):
        srv = [NameServer(n, mode="close") for n in ("s1", "s2", "b1", "b2")]
        fp, ap = free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    balance roundrobin\n%s"
            "    default-server check inter 100ms rise 1 fall 1\n"
            % (fp, "    option allbackups\n" if allbackups else ""))
        for s in srv:
            cfg += "    server %s 127.0.0.1:%d%s\n" % (
                s.name, s.port, " backup" if s.name.startswith("b") else "")
        try:
            with Tern(cfg, admin_port=ap) as t:
                poll_until(lambda: all(server_up(t, s.name) == 1 for s in srv),
                           desc="all up")
                got = collections.Counter(fetch_name(fp) for _ in range(20))
                self.assertEqual(set(got), {"s1", "s2"}, got)
                self.assertEqual(conns(t, "b1") + conns(t, "b2"), 0)

                srv[0].kill()
                poll_until(lambda: server_up(t, "s1") == 0, desc="s1 down")
                got = collections.Counter(fetch_name(fp) for _ in range(10))
                self.assertEqual(set(got), {"s2"}, "one active server left: %s" % got)

                srv[1].kill()
                poll_until(lambda: server_up(t, "s2") == 0, desc="s2 down")
                got = collections.Counter(fetch_name(fp) for _ in range(20))
                if allbackups:
                    self.assertEqual(got, {"b1": 10, "b2": 10})
                else:
                    self.assertEqual(got, {"b1": 20}, "only the first backup")

                srv[0].restart()
                poll_until(lambda: server_up(t, "s1") == 1, desc="s1 up")
                nb = conns(t, "b1") + conns(t, "b2")
                got = collections.Counter(fetch_name(fp) for _ in range(10))
                self.assertEqual(got, {"s1": 10})
                self.assertEqual(conns(t, "b1") + conns(t, "b2"), nb)
        finally:
            for s in srv:
                s.kill()

    def test_backup_only_when_all_down(self):
        self.run_backup(allbackups=False)

    def test_allbackups(self):
        self.run_backup(allbackups=True)


if __name__ == "__main__":
    unittest.main()
