"""xDS updates cost what they change: a snapshot carries over every running
cluster whose Cluster, ClusterLoadAssignment, Secrets and users (tcp_proxy,
route timeout / retry_policy) did not change, instead of building it again
(xds_translate_from). Checked through what tern shows, not through timing:
/config_dump's last_build (clusters built / carried over by the last
snapshot applied), tern_xds_clusters_*_total, and the per-server counters of
/clusters, which a carried cluster keeps and a rebuilt one starts again.
Both ADS variants."""

import json
import unittest

from ternlib import HttpBackend, Tern, free_port, http_get, poll_until
from xds_cp import (CDS, EDS, LDS, RDS, ControlPlane, cla, eds_cluster, hcm_listener,
                    route_config, tcp_listener)


def cfg(cp_port, admin_port, protocol):
    return """global
    nbthread 2
    admin 127.0.0.1:%d

xds
    server 127.0.0.1:%d
    node-id eds-test
    init-timeout 5s
    protocol %s
""" % (admin_port, cp_port, protocol)


def routes(cp, b_timeout):
    return route_config(cp, "routes", [("all", ["*"], [
        ({"prefix": "/a"}, "a"),
        ({"prefix": "/b"}, "b", {"timeout": b_timeout})])])


class XdsEdsTest(unittest.TestCase):
    def run_protocol(self, protocol):
        be = {n: HttpBackend(n) for n in ("a1", "a2", "b1", "t1")}
        cp = ControlPlane()
        http_port, tcp_port, admin_port = free_port(), free_port(), free_port()
        try:
            cp.set(CDS, [eds_cluster(cp, n) for n in ("a", "b", "t")])
            cp.set(EDS, [cla(cp, "a", [(be["a1"].port, 1)]), cla(cp, "b", [(be["b1"].port, 1)]),
                         cla(cp, "t", [(be["t1"].port, 1)])])
            cp.set(RDS, [routes(cp, "7s")])
            cp.set(LDS, [hcm_listener(cp, "http", http_port, rds="routes"),
                         tcp_listener(cp, "tcp", tcp_port, "t")])
            with Tern(cfg(cp.port, admin_port, protocol), admin_port=admin_port) as t:
                self.scenario(t, cp, be, http_port, tcp_port)
        finally:
            cp.stop()
            for b in be.values():
                b.kill()

    def dump(self, t):
        st, _, body = t.admin_get("/config_dump")
        self.assertEqual(st, 200)
        return json.loads(body)

    def endpoint_conns(self, t, cluster):
        """{server address: times the LB picked it} of a cluster in /clusters."""
        for c in t.clusters()["clusters"]:
            if c["name"] == cluster:
                return {e["address"]: e["lb_selected"] for e in c["servers"]}
        raise KeyError(cluster)

    def body(self, port, path):
        st, _, body = http_get(port, path)
        self.assertEqual(st, 200, body)
        return body.split(" ", 1)[0]  # the backend's name

    def wait_applied(self, t, before):
        poll_until(lambda: self.dump(t)["snapshots_applied"] > before, desc="a new snapshot")
        return self.dump(t)

    def scenario(self, t, cp, be, http_port, tcp_port):
        poll_until(lambda: http_get(http_port, "/a")[0] == 200, desc="listener from xDS")
        for _ in range(3):
            self.assertEqual(self.body(http_port, "/a"), "a1")
        for _ in range(2):
            self.assertEqual(self.body(http_port, "/b"), "b1")
        self.assertEqual(self.body(tcp_port, "/t"), "t1")
        d0 = self.dump(t)
        b_before = self.endpoint_conns(t, "b")
        t_before = self.endpoint_conns(t, "t")
        self.assertEqual(sum(b_before.values()), 2)
        self.assertEqual(sum(t_before.values()), 1)
        built0 = t.metrics().get("tern_xds_clusters_built_total")
        carried0 = t.metrics().get("tern_xds_clusters_carried_total")

        # 1. EDS of one cluster: that one is built, the other two carried over
        # as they run (their counters go on)
        v = cp.set(EDS, [cla(cp, "a", [(be["a1"].port, 1), (be["a2"].port, 1)])],
                   replace=False)
        cp.wait_ack(EDS, v)
        d1 = self.wait_applied(t, d0["snapshots_applied"])
        self.assertEqual(d1["last_build"], {"clusters_built": 1, "clusters_carried": 2})
        poll_until(lambda: self.body(http_port, "/a") == "a2", desc="a's new endpoint in use")
        self.assertEqual(self.endpoint_conns(t, "b"), b_before)
        self.assertEqual(self.endpoint_conns(t, "t"), t_before)
        self.assertEqual(self.body(http_port, "/b"), "b1")
        self.assertEqual(self.body(tcp_port, "/t"), "t1")
        m = t.metrics()
        self.assertEqual(m.get("tern_xds_clusters_built_total"), built0 + 1)
        self.assertEqual(m.get("tern_xds_clusters_carried_total"), carried0 + 2)

        # 2. an update that changes no cluster (a second listener on t) builds
        # none
        b_mid = self.endpoint_conns(t, "b")
        tcp2 = free_port()
        v = cp.set(LDS, [hcm_listener(cp, "http", http_port, rds="routes"),
                         tcp_listener(cp, "tcp", tcp_port, "t"),
                         tcp_listener(cp, "tcp2", tcp2, "t")])
        cp.wait_ack(LDS, v)
        d2 = self.wait_applied(t, d1["snapshots_applied"])
        self.assertEqual(d2["last_build"], {"clusters_built": 0, "clusters_carried": 3})
        self.assertEqual(self.body(tcp2, "/t"), "t1")
        t_before = self.endpoint_conns(t, "t")

        # 3. a route changes b's timeout: b's users changed, so b is a new
        # object (a running cluster is never changed in place; its counters
        # start again), a and t are carried over
        v = cp.set(RDS, [routes(cp, "9s")])
        cp.wait_ack(RDS, v)
        d3 = self.wait_applied(t, d2["snapshots_applied"])
        self.assertEqual(d3["last_build"], {"clusters_built": 1, "clusters_carried": 2})
        self.assertEqual(sum(self.endpoint_conns(t, "b").values()), 0, b_mid)
        self.assertEqual(self.endpoint_conns(t, "t"), t_before)
        self.assertEqual(self.body(http_port, "/b"), "b1")
        self.assertEqual(self.body(tcp_port, "/t"), "t1")

        # 4. a bad EDS update is NACKed: nothing is built or applied
        nonce = cp.send_raw(EDS, [cla(cp, "t", [(0, 1)])], "bad")
        cp.wait_nack(EDS, nonce)
        d4 = self.dump(t)
        self.assertEqual(d4["snapshots_applied"], d3["snapshots_applied"])
        self.assertEqual(d4["last_build"], d3["last_build"])
        self.assertEqual(self.body(tcp_port, "/t"), "t1")

    def test_sotw(self):
        self.run_protocol("sotw")

    def test_delta(self):
        self.run_protocol("delta")


if __name__ == "__main__":
    unittest.main()
