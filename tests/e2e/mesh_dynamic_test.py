#!/usr/bin/python3
"""The mesh changing under load, seen by real tern sidecars configured only
by tern-cp:

    load loop -> frontend sidecar -> api sidecars (api-1, api-2) -> apps
                                  -> api-v2 sidecar -> app   (when routed)

A client thread sends requests back to back through the frontend sidecar
during each test and no request may fail:

- tern-cp killed (SIGKILL) and restarted on the same ports with its CA
  directory: the sidecars keep serving while it is down, reconnect, and end
  up holding exactly the versions the new tern-cp sent and recorded as
  ACKed; a mesh file edit made after the restart reaches them;
- a mesh file edit adds a route to another service, then removes it: each
  time routing changes within 1 s (the frontend sidecar on Delta, then on
  SotW);
- certificates rotate (cert_ttl 1m: tern-cp re-issues at half-life): the
  sidecars ACK the new Secret, api's sidecars present the new certificate
  (its serial seen by a TLS client checking it against tern-cp's CA, its
  expiry in their tern_tls_cert_not_after_seconds gauge), traffic goes on,
  and new connections from the frontend sidecar complete mTLS handshakes
  with the new certificates on both sides.
"""

import tempfile
import time
import unittest

from meshlib import LoadLoop, Mesh, peer_cert
from ternlib import HttpBackend, free_port, poll_until

FRONT = "frontend-token-0123456789"
API = "api-token-0123456789abc"
APIV2 = "apiv2-token-0123456789ab"


def mesh(p, routes=False, endpoints=("api1_in", "api2_in"), ttl="10m"):
    text = """
trust_domain: mesh.test
cert_ttl: %(ttl)s
services:
  frontend:
    token: %(front)s
    outbound: 127.0.0.1:%(front_out)d
    calls: [api]
  api:
    token: %(api)s
    app: 127.0.0.1:%(api1_app)d
    inbound: 127.0.0.1:%(api1_in)d
    endpoints: [%(endpoints)s]
    allow: [frontend]
    timeout: 5s
""" + ("""    routes:
      - {prefix: /v2/, to: api-v2}
      - {prefix: /, to: api}
""" if routes else "") + """  api-v2:
    token: %(apiv2)s
    app: 127.0.0.1:%(apiv2_app)d
    inbound: 127.0.0.1:%(apiv2_in)d
    endpoints: [127.0.0.1:%(apiv2_in)d]
    allow: [frontend]
"""
    return text % dict(p, front=FRONT, api=API, apiv2=APIV2, ttl=ttl,
                       endpoints=", ".join("127.0.0.1:%d" % p[k] for k in endpoints))


class MeshDynamicTest(unittest.TestCase):
    def setUp(self):
        self.apps = {n: HttpBackend(name=n) for n in ("API1", "API2", "APIV2")}
        self.p = {"front_out": free_port(), "api1_in": free_port(), "api2_in": free_port(),
                  "apiv2_in": free_port(), "api1_app": self.apps["API1"].port,
                  "apiv2_app": self.apps["APIV2"].port}

    def tearDown(self):
        for a in self.apps.values():
            a.kill()

    def start_sidecars(self, m, protocol=None):
        m.sidecar("frontend-1", "frontend", FRONT, protocol=protocol)
        m.sidecar("api-1", "api", API)
        m.sidecar("api-2", "api", API, (
            ("tern.inbound", "127.0.0.1:%d" % self.p["api2_in"]),
            ("tern.app", "127.0.0.1:%d" % self.apps["API2"].port),
            ("tern.outbound", "127.0.0.1:%d" % free_port())))
        m.sidecar("api-v2-1", "api-v2", APIV2)
        m.wait_acked()

    def test_terncp_restart(self):
        p = self.p
        with Mesh(mesh(p), ca_dir=tempfile.mkdtemp(prefix="terncp_ca_")) as m:
            self.start_sidecars(m)
            with LoadLoop(p["front_out"], "api", "/load") as load:
                load.wait_ok(20, who="API1")
                load.wait_ok(20, who="API2")
                streams = {n: m.config_dump(n)["control_plane"]["streams"] for n in m.sidecars}

                # tern-cp gone: every sidecar notices, and serves on
                m.kill_cp()
                t_kill = time.monotonic()
                poll_until(lambda: not any(m.config_dump(n)["control_plane"]["connected"]
                                           for n in m.sidecars),
                           timeout=10, desc="every sidecar sees tern-cp gone")
                load.wait_ok(100, since=time.monotonic())
                down = load.count_ok(since=t_kill)

                # back on the same ports: they reconnect and resync
                m.restart_cp()
                t_up = time.monotonic()
                m.wait_acked(timeout=30)
                poll_until(lambda: all(m.in_sync(n) for n in m.sidecars), timeout=10,
                           desc="each sidecar holds the versions the new tern-cp saw ACKed")
                for n in m.sidecars:
                    self.assertGreater(m.config_dump(n)["control_plane"]["streams"], streams[n])
                print("ok: tern-cp killed: %d requests served while it was down; restarted, "
                      "all 4 sidecars resynced %.2fs later" % (down, time.monotonic() - t_up))

                # a change made after the restart reaches them: api-2 leaves api
                m.cp.write_mesh(mesh(p, endpoints=("api1_in",)))
                t_edit = time.monotonic()
                load.wait_ok(50, since=t_edit + 1.0, timeout=10)
                late = [r for r in load.since(t_edit + 1.0) if r.who != "API1"]
                self.assertEqual(late, [], "api-2 still answering 1 s after the edit")
                m.wait_acked()
                n = len(load.snapshot())
            self.assertEqual(load.failures(), [], "failed requests under load")
            print("ok: the edit after the restart applied; %d requests, none failed" % n)

    def test_mesh_edit_routes_under_load(self):
        for protocol in ("delta", "sotw"):
            with self.subTest(protocol=protocol):
                self.edit_routes(protocol)

    def edit_routes(self, protocol):
        p = self.p
        with Mesh(mesh(p)) as m:
            self.start_sidecars(m, protocol)
            with LoadLoop(p["front_out"], "api", "/v2/load") as load:
                load.wait_ok(20, who="API1")
                self.assertEqual(load.count_ok(who="APIV2"), 0)

                # a route to api-v2 for /v2/: within 1 s every request goes there
                m.cp.write_mesh(mesh(p, routes=True))
                t_edit = time.monotonic()
                poll_until(lambda: load.first(lambda r: r.who == "APIV2", since=t_edit),
                           timeout=5, desc="a request routed to api-v2")
                first = load.first(lambda r: r.who == "APIV2", since=t_edit)
                load.wait_ok(30, since=t_edit + 1.0, timeout=10)
                late = [r for r in load.since(t_edit + 1.0) if r.who != "APIV2"]
                self.assertEqual(late, [], "not routed to api-v2 1 s after the edit")
                print("ok: %s: route added: the first request on api-v2 answered %.3fs after "
                      "the edit" % (protocol, first.t1 - t_edit))
                self.assertLess(first.t1 - t_edit, 1.0)

                # and removed: back to api within 1 s
                m.cp.write_mesh(mesh(p))
                t_edit = time.monotonic()
                load.wait_ok(30, since=t_edit + 1.0, timeout=10)
                late = [r for r in load.since(t_edit + 1.0) if r.who == "APIV2"]
                self.assertEqual(late, [], "still routed to api-v2 1 s after the edit")
                back = load.first(lambda r: r.who != "APIV2", since=t_edit)
                print("ok: %s: route removed: back on api %.3fs after the edit"
                      % (protocol, back.t1 - t_edit))
                m.wait_acked()
                n = len(load.snapshot())
            self.assertEqual(load.failures(), [], "failed requests under load")
            self.assertEqual(m.cp.metrics().get('tern_cp_mesh_reloads_total{result="ok"}'), 3.0)
            print("ok: %d requests, none failed" % n)

    def test_certificate_rotation_under_load(self):
        p = self.p
        api_id, front_id = "spiffe://mesh.test/api", "spiffe://mesh.test/frontend"
        with Mesh(mesh(p, ttl="1m")) as m:
            self.start_sidecars(m)
            ca = m.cp.json("/ca")
            leaves = {l["identity"]: l for l in ca["leaves"]}
            old = {i: leaves[i] for i in (api_id, front_id)}
            # what a TLS client sees on api's inbound: the certificate tern-cp issued
            seen = peer_cert(p["api1_in"], ca["certificate"])
            self.assertEqual(seen["serial"], int(old[api_id]["serial"], 16))
            self.assertEqual(seen["uri"], [api_id])

            with LoadLoop(p["front_out"], "api", "/load") as load:
                load.wait_ok(20, who="API1")
                load.wait_ok(20, who="API2")

                # tern-cp re-issues at half-life (30 s after the first issue)
                def renewed():
                    ls = {l["identity"]: l for l in m.cp.json("/ca")["leaves"]}
                    if all(ls[i]["serial"] != old[i]["serial"] for i in old):
                        return ls
                    return None
                wait = max(old[api_id]["renew_at"], old[front_id]["renew_at"]) - time.time()
                new = poll_until(renewed, timeout=wait + 10, interval=0.1,
                                 desc="tern-cp re-issuing the api and frontend certificates")
                t_rot = time.monotonic()
                m.wait_acked()
                poll_until(lambda: all(m.in_sync(n) for n in m.sidecars), timeout=10,
                           desc="the new Secrets ACKed")

                # api's sidecars present the new certificate
                serial = int(new[api_id]["serial"], 16)
                for port in (p["api1_in"], p["api2_in"]):
                    poll_until(lambda: peer_cert(port, ca["certificate"])["serial"] == serial,
                               timeout=5, desc="the new certificate on :%d" % port)
                for n in ("api-1", "api-2"):
                    g = m.sidecars[n].metrics().find("tern_tls_cert_not_after_seconds")
                    self.assertEqual([v for _, _, v in g], [new[api_id]["not_after"]], n)
                self.assertGreater(new[api_id]["not_after"], old[api_id]["not_after"])
                print("ok: rotated: api serial %s -> %s, frontend %s -> %s" % (
                    old[api_id]["serial"], new[api_id]["serial"],
                    old[front_id]["serial"], new[front_id]["serial"]))

                # traffic goes on, and new connections are made with the new
                # certificates on both sides: the connections already open
                # stay (as in Envoy), so a second client running alongside
                # makes the frontend sidecar open more; api's sidecars
                # (mTLS required, the frontend's identity checked) complete
                # those handshakes
                def handshakes():
                    return sum(m.sidecars[n].metrics().sum("tern_tls_handshakes_total")
                               for n in ("api-1", "api-2"))
                h0 = handshakes()
                with LoadLoop(p["front_out"], "api", "/load2") as load2:
                    poll_until(lambda: handshakes() > h0, timeout=10,
                               desc="new mTLS handshakes with the new certificates")
                    load.wait_ok(50, since=time.monotonic(), timeout=10)
                    load2.wait_ok(50, timeout=10)
                n = len(load.snapshot()) + len(load2.snapshot())
                after = load.count_ok(since=t_rot) + len(load2.snapshot())
            self.assertEqual(load.failures() + load2.failures(), [], "failed requests under load")
            print("ok: %d requests (%d after the rotation, %d new handshakes), none failed"
                  % (n, after, handshakes() - h0))


if __name__ == "__main__":
    unittest.main()
