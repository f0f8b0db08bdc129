"""The xDS end-to-end scenario, run once per ADS variant (xds_sotw_test.py,
xds_delta_test.py): tern driven by the test control plane
(tests/e2e/lib/xds_cp.py, Envoy's own .proto files) with no frontend in its
file. Each step checks what the backends saw, the ACK/NACK tern sent and
/config_dump."""

import http.client
import json
import socket
import sys
import threading
import time

from ternlib import (HttpBackend, NameServer, Tern, fetch_name, free_port, http_get,
                     poll_until)
from xds_cp import (CDS, EDS, LDS, RDS, CLUSTER, ControlPlane, cla, eds_cluster,
                    hcm_listener, route_config, static_cluster, tcp_listener)


def cfg(cp_port, admin_port, protocol="sotw"):
    return """global
    nbthread 2
    admin 127.0.0.1:%d

xds
    server 127.0.0.1:%d
    node-id tern-test
    node-cluster e2e
    init-timeout 5s
    protocol %s
    drain-time 2s
""" % (admin_port, cp_port, protocol)


def backend_of(body):
    return body.split(" ", 1)[0]


class Load:
    """Requests through tern in a loop (new connections and kept-alive ones)
    until stopped; counts failures and connections tern closed on us."""

    def __init__(self, port, path="/load"):
        self.port = port
        self.path = path
        self.ok = 0
        self.failures = []
        self.seen = set()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(keep,), daemon=True)
                        for keep in (True, False, True)]
        for t in self.threads:
            t.start()

    def run(self, keep):
        c = None
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", self.path)
                r = c.getresponse()
                body = r.read().decode()
                if r.status != 200:
                    self.failures.append("status %d %s" % (r.status, body.strip()))
                else:
                    self.ok += 1
                    self.seen.add(backend_of(body))
                if not keep or r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except Exception as e:  # a closed kept-alive connection counts too
                self.failures.append("%s: %s" % (type(e).__name__, e))
                if c:
                    c.close()
                c = None

    def finish(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)


def config_dump(t):
    status, _, body = t.admin_get("/config_dump")
    assert status == 200, status
    return json.loads(body)


def run(protocol):
    assert protocol in ("sotw", "delta")
    cp = ControlPlane()
    a, b, c2 = HttpBackend(name="A"), HttpBackend(name="B"), HttpBackend(name="C")
    names = NameServer(name="tcpname")
    http_port, tcp_port, admin_port = free_port(), free_port(), free_port()

    # The whole configuration comes from the control plane.
    cp.set(CDS, [eds_cluster(cp, "web"), static_cluster(cp, "tcpc", [(names.port, 1)])])
    cp.set(EDS, [cla(cp, "web", [(a.port, 1)])])
    cp.set(LDS, [hcm_listener(cp, "http", http_port, rds="routes"),
                 tcp_listener(cp, "tcp", tcp_port, "tcpc")])
    cp.set(RDS, [route_config(cp, "routes", [("all", ["*"], [({"prefix": "/"}, "web")])])])

    with Tern(cfg(cp.port, admin_port, protocol), admin_port=admin_port, ready_timeout=15) as t:
        # 1. listeners from xDS alone
        st, _, body = http_get(http_port, "/hello")
        assert st == 200 and backend_of(body) == "A", (st, body)
        assert fetch_name(tcp_port) == "tcpname"
        for typ in (CDS, EDS, LDS, RDS):
            cp.wait_ack(typ)
        d = config_dump(t)
        assert d["control_plane"]["connected"] is True, d
        assert d["protocol"] == protocol, d
        assert [r["name"] for r in d["types"]["lds"]["resources"]] == ["http", "tcp"], d
        assert d["types"]["eds"]["subscribed"] == ["web"], d
        assert d["types"]["rds"]["subscribed"] == ["routes"], d
        st, _, body = t.admin_get("/ready")
        assert st == 200 and "xds: connected" in body, body
        print("ok: HCM+RDS and tcp_proxy listeners from xDS alone")

        # 2. a route change applies on the next request of a kept-alive connection
        cp.set(CDS, [eds_cluster(cp, "web"), eds_cluster(cp, "web2"),
                     static_cluster(cp, "tcpc", [(names.port, 1)])])
        cp.set(EDS, [cla(cp, "web", [(a.port, 1)]), cla(cp, "web2", [(b.port, 1)])])
        cp.wait_ack(CDS)
        cp.wait_ack(EDS)
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        conn.request("GET", "/v2/x")
        r = conn.getresponse()
        assert backend_of(r.read().decode()) == "A"
        accepted_before = a.conn_count + b.conn_count
        v = cp.set(RDS, [route_config(cp, "routes", [
            ("all", ["*"], [({"prefix": "/v2/"}, "web2"), ({"prefix": "/"}, "web")])])])
        cp.wait_ack(RDS, v)
        poll_until(lambda: config_dump(t)["types"]["rds"]["version"] == v, desc="rds applied")
        conn.request("GET", "/v2/x")
        r = conn.getresponse()
        body = r.read().decode()
        assert backend_of(body) == "B", body
        conn.request("GET", "/other")
        r = conn.getresponse()
        assert backend_of(r.read().decode()) == "A"
        conn.close()
        print("ok: a route change applies on the next request of a kept-alive connection")

        # 3. endpoints and clusters added, re-weighted, removed under load
        load = Load(http_port)
        poll_until(lambda: load.ok > 50, timeout=10, desc="load running")
        steps = [
            [cla(cp, "web", [(a.port, 1), (c2.port, 1)]), cla(cp, "web2", [(b.port, 1)])],
            [cla(cp, "web", [(a.port, 1), (c2.port, 5)]), cla(cp, "web2", [(b.port, 1)])],
            [cla(cp, "web", [(c2.port, 1)]), cla(cp, "web2", [(b.port, 1)])],
        ]
        for s in steps:
            v = cp.set(EDS, s)
            cp.wait_ack(EDS, v)
            n = load.ok
            poll_until(lambda: load.ok > n + 30, timeout=10, desc="load continues")
        # a new cluster, the route moved to it, the old one removed
        cp.set(CDS, [eds_cluster(cp, "web"), eds_cluster(cp, "web2"), eds_cluster(cp, "web3"),
                     static_cluster(cp, "tcpc", [(names.port, 1)])])
        cp.set(EDS, [cla(cp, "web", [(c2.port, 1)]), cla(cp, "web2", [(b.port, 1)]),
                     cla(cp, "web3", [(b.port, 1)])], )
        cp.wait_ack(CDS)
        cp.wait_ack(EDS)
        v = cp.set(RDS, [route_config(cp, "routes", [
            ("all", ["*"], [({"prefix": "/v2/"}, "web2"), ({"prefix": "/"}, "web3")])])])
        cp.wait_ack(RDS, v)
        n = load.ok
        poll_until(lambda: load.ok > n + 30, timeout=10, desc="load continues")
        v = cp.set(CDS, [eds_cluster(cp, "web2"), eds_cluster(cp, "web3"),
                         static_cluster(cp, "tcpc", [(names.port, 1)])])
        cp.wait_ack(CDS, v)
        n = load.ok
        poll_until(lambda: load.ok > n + 30, timeout=10, desc="load continues")
        load.finish()
        assert not load.failures, load.failures[:5]
        assert load.seen >= {"A", "B", "C"}, load.seen
        d = config_dump(t)
        assert sorted(r["name"] for r in d["types"]["cds"]["resources"]) == [
            "tcpc", "web2", "web3"], d
        assert d["types"]["eds"]["subscribed"] == ["web2", "web3"], d
        if protocol == "delta":
            # the cluster removed: its endpoints unsubscribed by name
            with cp.lock:
                assert any(r.type_url == EDS and "web" in r.resource_names_unsubscribe
                           for r in cp.requests), "no EDS unsubscribe of 'web'"
        print("ok: %d requests, 0 failed, while endpoints and clusters changed" % load.ok)

        # 4. an invalid update is NACKed, traffic unaffected
        bad = cp.msg(CLUSTER, {"name": "bad", "type": "EDS", "lb_policy": "MAGLEV",
                               "eds_cluster_config": {"eds_config": {"ads": {}}}})
        good = [eds_cluster(cp, "web2"), eds_cluster(cp, "web3"),
                static_cluster(cp, "tcpc", [(names.port, 1)])]
        nonce = cp.send_raw(CDS, good + [bad], "bad-1")
        req = cp.wait_nack(CDS, nonce)
        detail = req.error_detail.message
        assert "Cluster 'bad'" in detail and "lb_policy" in detail, detail
        if protocol == "sotw":
            assert req.version_info == v, (req.version_info, v)  # the last good version
        nonce = cp.send_raw(CDS, good + [cp.msg(CLUSTER, {
            "name": "dns", "type": "STATIC", "dns_refresh_rate": "5s"})], "bad-2")
        detail = cp.wait_nack(CDS, nonce).error_detail.message
        assert "Cluster 'dns'" in detail and "dns_refresh_rate" in detail, detail
        st, _, body = http_get(http_port, "/after-nack")
        assert st == 200 and backend_of(body) == "B", body
        d = config_dump(t)
        assert d["types"]["cds"]["version"] == v, d
        assert "dns_refresh_rate" in d["types"]["cds"]["last_nack"]["error"], d
        m = t.metrics()
        assert m.value("tern_xds_updates_total", type="cds", result="rejected") == 2
        print("ok: invalid updates NACKed: %s" % detail)

        # 5. control plane stopped and restarted
        load = Load(http_port)
        poll_until(lambda: load.ok > 30, timeout=10, desc="load running")
        opened = cp.streams_opened
        cp.stop()
        poll_until(lambda: "unreachable" in t.admin_get("/ready")[2], timeout=10,
                   desc="/ready says the control plane is unreachable")
        assert t.admin_get("/ready")[0] == 200
        assert t.metrics().value("tern_xds_connected") == 0
        n = load.ok
        poll_until(lambda: load.ok > n + 50, timeout=10, desc="traffic while away")
        nreq = len(cp.requests)
        cp.start()
        poll_until(lambda: cp.streams_opened > opened and cp.n_streams() > 0, timeout=20,
                   desc="tern reconnects")
        poll_until(lambda: config_dump(t)["control_plane"]["connected"], timeout=10,
                   desc="connected again")
        if protocol == "delta":
            # the new stream starts from what tern holds
            with cp.lock:
                first = [r for r in cp.requests[nreq:] if r.type_url == CDS and r.node.id]
            assert first and sorted(first[0].initial_resource_versions) == [
                "tcpc", "web2", "web3"], first
        v = cp.set(EDS, [cla(cp, "web2", [(a.port, 1)]), cla(cp, "web3", [(a.port, 1)])])
        cp.wait_ack(EDS, v)
        poll_until(lambda: backend_of(http_get(http_port, "/resync")[2]) == "A", timeout=10,
                   desc="resynced endpoints used")
        load.finish()
        assert not load.failures, load.failures[:5]
        print("ok: control plane restarted: %d requests, 0 failed; reconnected and resynced"
              % load.ok)

        # 6. a listener removed from LDS stops listening; the other keeps serving
        v = cp.set(LDS, [hcm_listener(cp, "http", http_port, rds="routes")])
        cp.wait_ack(LDS, v)

        def tcp_gone():
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                return False
            except OSError:
                return True
        poll_until(tcp_gone, timeout=10, desc="tcp listener closed")
        assert http_get(http_port, "/still")[0] == 200
        print("ok: a listener removed; the other unaffected")
    cp.stop()
    print("PASS (%s)" % protocol)
