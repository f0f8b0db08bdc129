#!/usr/bin/python3
"""The admin API's runtime server state (HAProxy's "set server <b>/<s> state"):
POST /servers/<backend>/<server>?state=ready|drain|maint&weight=N[%].

drain and maint take a server out of new picks at once (HTTP and TCP);
maint also pauses its health checks; ready brings it back; a runtime weight
(or a percentage of the configured one) applies to new picks. /clusters and
/stats/prometheus show the state; bad requests get 400/404/405 with a
message saying what is wrong.
"""

import collections
import http.client
import signal
import unittest

from ternlib import HttpBackend, NameServer, Tern, cfg_head, free_port, poll_until


def post(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def get(port, path="/"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def server(t, backend, name):
    for b in t.clusters()["clusters"]:
        if b["name"] == backend:
            for s in b["servers"]:
                if s["name"] == name:
                    return s
    raise KeyError(name)


class AdminStateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b1, cls.b2 = HttpBackend("s1"), HttpBackend("s2")
        cls.c1, cls.c2 = HttpBackend("c1"), HttpBackend("c2")
        cls.n1, cls.n2 = NameServer("t1", mode="close"), NameServer("t2", mode="close")
        cls.fp, cls.tp, cls.ap = free_port(), free_port(), free_port()
        cfg = cfg_head(nbthread=2, admin_port=cls.ap) + (
            "frontend fe\n    mode http\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    mode http\n    balance roundrobin\n"
            "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n\n"
            "backend checked\n    mode http\n"
            "    server c1 127.0.0.1:%d check inter 100ms\n"
            "    server c2 127.0.0.1:%d check inter 100ms\n\n"
            "listen tcp\n    bind 127.0.0.1:%d\n    balance roundrobin\n"
            "    server t1 127.0.0.1:%d\n    server t2 127.0.0.1:%d\n"
            % (cls.fp, cls.b1.port, cls.b2.port, cls.c1.port, cls.c2.port, cls.tp,
               cls.n1.port, cls.n2.port))
        cls.t = Tern(cfg, admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t.stop()
        for s in (cls.b1, cls.b2, cls.c1, cls.c2, cls.n1, cls.n2):
            s.kill()

    def names(self, n=10):
        return collections.Counter(get(self.fp, "/x")[1].split(" ")[0] for _ in range(n))

    def tcp_names(self, n=10):
        import socket
        out = collections.Counter()
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", self.tp), timeout=5) as s:
                data = b""
                while True:
                    d = s.recv(100)
                    if not d:
                        break
                    data += d
            out[data.decode().strip()] += 1
        return out

    def test_drain_and_ready_http(self):
        self.assertEqual(set(self.names()), {"s1", "s2"})
        st, _, body = post(self.ap, "/servers/be/s2?state=drain")
        self.assertEqual(st, 200, body)
        self.assertIn('"state":"drain"', body)
        self.assertEqual(self.names(), {"s1": 10})
        self.assertEqual(server(self.t, "be", "s2")["admin_state"], "drain")
        self.assertEqual(self.t.metrics().get("tern_server_admin_state", proxy="be",
                                              server="s2"), 1)
        st, _, body = post(self.ap, "/servers/be/s2?state=ready")
        self.assertEqual(st, 200, body)
        # two workers, each with its own rotation: both serve again
        self.assertEqual(set(self.names()), {"s1", "s2"})
        self.assertEqual(self.t.metrics().get("tern_server_admin_state", proxy="be",
                                              server="s2"), 0)

    def test_runtime_weight(self):
        st, _, body = post(self.ap, "/servers/be/s2?weight=3")
        self.assertEqual(st, 200, body)
        self.assertIn('"weight":3,"configured_weight":1', body)
        self.assertEqual(server(self.t, "be", "s2")["effective_weight"], 3)
        self.assertEqual(self.t.metrics().get("tern_server_weight", proxy="be", server="s2"), 3)
        n = self.names(40)
        # 1:3, each of the two workers rotating on its own: 30 +- 3
        self.assertTrue(27 <= n["s2"] <= 33, n)
        # a percentage of the configured weight; 0 takes it out of new picks
        st, _, body = post(self.ap, "/servers/be/s2?weight=0")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.names(), {"s1": 10})
        st, _, body = post(self.ap, "/servers/be/s2?weight=100%25")
        self.assertIn('"weight":1,', body)
        self.assertEqual(set(self.names()), {"s1", "s2"})
        for bad in ("abc", "257", "-1", "5x"):
            st, _, body = post(self.ap, "/servers/be/s2?weight=" + bad)
            self.assertEqual(st, 400, bad)
            self.assertIn("weight must be 0 to 256", body)
        self.assertEqual(server(self.t, "be", "s2")["effective_weight"], 1)

    def test_maint_tcp(self):
        st, _, _ = post(self.ap, "/servers/tcp/t1?state=maint")
        self.assertEqual(st, 200)
        self.assertEqual(self.tcp_names(), {"t2": 10})
        # both out: no server left, the client is closed without data
        post(self.ap, "/servers/tcp/t2?state=drain")
        self.assertEqual(self.tcp_names(2), {"": 2})
        post(self.ap, "/servers/tcp/t1?state=ready")
        post(self.ap, "/servers/tcp/t2?state=ready")
        self.assertEqual(set(self.tcp_names()), {"t1", "t2"})

    def test_maint_pauses_checks(self):
        poll_until(lambda: server(self.t, "checked", "c1")["checks_total"] >= 2,
                   desc="c1 checked")
        st, _, _ = post(self.ap, "/servers/checked/c1?state=maint")
        self.assertEqual(st, 200)
        poll_until(lambda: server(self.t, "checked", "c1")["last_check"] == "MAINT",
                   desc="c1's check paused")
        n1 = server(self.t, "checked", "c1")["checks_total"]
        n2 = server(self.t, "checked", "c2")["checks_total"]
        # c2 goes on being checked (5 more) while c1 is not
        poll_until(lambda: server(self.t, "checked", "c2")["checks_total"] >= n2 + 5,
                   desc="c2 checked 5 more times")
        self.assertEqual(server(self.t, "checked", "c1")["checks_total"], n1)
        post(self.ap, "/servers/checked/c1?state=ready")
        poll_until(lambda: server(self.t, "checked", "c1")["checks_total"] > n1,
                   desc="c1 checked again")

    def test_state_survives_a_rebuilding_reload(self):
        # its own tern: a reload that changes backend `be` (rebuilt, the same
        # servers) keeps what the operator set, as it keeps their health
        ap, fp = free_port(), free_port()

        def cfg(extra):
            return cfg_head(nbthread=1, admin_port=ap) + (
                "frontend fe\n    mode http\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
                "backend be\n    mode http\n    balance roundrobin\n%s"
                "    server s1 127.0.0.1:%d\n    server s2 127.0.0.1:%d\n"
                % (fp, extra, self.b1.port, self.b2.port))
        with Tern(cfg(""), admin_port=ap) as t:
            self.assertEqual(post(ap, "/servers/be/s2?state=drain")[0], 200)
            self.assertEqual(post(ap, "/servers/be/s1?weight=7")[0], 200)
            before = t.clusters()["version"]
            with open(t.cfg_path, "w") as f:
                f.write(cfg("    timeout server 7s\n"))
            t.send_signal(signal.SIGHUP)
            poll_until(lambda: t.clusters()["version"] > before, timeout=5, desc="reload")
            self.assertEqual(server(t, "be", "s2")["admin_state"], "drain")
            self.assertEqual(server(t, "be", "s1")["effective_weight"], 7)
            names = collections.Counter(get(fp, "/x")[1].split(" ")[0] for _ in range(6))
            self.assertEqual(names, {"s1": 6})

    def test_bad_requests(self):
        st, hdrs, body = post(self.ap, "/servers/nope/s1?state=drain")
        self.assertEqual((st, body), (404, "no backend 'nope'\n"))
        st, hdrs, body = post(self.ap, "/servers/be/s9?state=drain")
        self.assertEqual((st, body), (404, "no server 's9' in backend 'be'\n"))
        st, hdrs, body = post(self.ap, "/servers/be/s1?state=sleep")
        self.assertEqual(st, 400)
        self.assertIn("state must be ready, drain or maint", body)
        st, hdrs, body = post(self.ap, "/servers/be/s1")
        self.assertEqual(st, 400)
        st, hdrs, body = post(self.ap, "/servers/be")
        self.assertEqual(st, 404)
        self.assertIn("usage: POST /servers/<backend>/<server>", body)
        st, hdrs, body = self.t.admin_get("/servers/be/s1?state=drain")
        self.assertEqual(st, 405)
        self.assertEqual(hdrs["allow"], "POST")
        self.assertEqual(server(self.t, "be", "s1")["admin_state"], "ready")


if __name__ == "__main__":
    unittest.main()
