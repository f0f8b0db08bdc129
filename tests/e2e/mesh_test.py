#!/usr/bin/python3
"""A mesh of tern sidecars configured only by tern-cp (no listener or
cluster in their files: an `xds` section with the service token):

    client -> frontend sidecar -> api sidecars (2 instances) -> api apps
    client -> api-1 sidecar (outbound) -> store sidecar -> store app
    client -> intruder sidecar -> api sidecars: 403

Every hop between sidecars is mTLS with tern-cp's SPIFFE certificates
(delivered over SDS); each side verifies the other (the caller checks the
server's URI SAN, the server's RBAC the caller's identity). The checks:
traffic passes and is balanced over the two api instances; an identity the
mesh file does not allow gets 403 from api's inbound RBAC; tern-cp shows
every sidecar ACKing everything (nothing NACKed); a sidecar cannot be
reached in plaintext on its inbound port.
"""

import socket
import unittest

from meshlib import Mesh, get
from ternlib import HttpBackend, free_port

P = {k: free_port() for k in (
    "front_out", "api1_in", "api2_in", "api1_out", "store_in", "intr_out")}


def mesh(apps):
    return """
trust_domain: mesh.test
cert_ttl: 10m
services:
  frontend:
    token: frontend-token-0123456789
    outbound: 127.0.0.1:%(front_out)d
    calls: [api]
  api:
    token: api-token-0123456789abc
    app: 127.0.0.1:%(api1_app)d
    inbound: 127.0.0.1:%(api1_in)d
    outbound: 127.0.0.1:%(api1_out)d
    endpoints: [127.0.0.1:%(api1_in)d, 127.0.0.1:%(api2_in)d]
    calls: [store]
    allow: [frontend]
    timeout: 5s
    retries: {attempts: 2, on: "connect-failure", per_try_timeout: 2s}
  store:
    token: store-token-0123456789ab
    app: 127.0.0.1:%(store_app)d
    inbound: 127.0.0.1:%(store_in)d
    endpoints: [127.0.0.1:%(store_in)d]
    allow: [api]
  intruder:
    token: intruder-token-012345678
    outbound: 127.0.0.1:%(intr_out)d
    calls: [api]
""" % dict(P, **apps)


class MeshTest(unittest.TestCase):
    def test_mesh(self):
        api1, api2, store = HttpBackend(name="API1"), HttpBackend(name="API2"), \
            HttpBackend(name="STORE")
        try:
            with Mesh(mesh({"api1_app": api1.port, "store_app": store.port})) as m:
                self.run_mesh(m, api1, api2)
        finally:
            for b in (api1, api2, store):
                b.kill()

    def run_mesh(self, m, api1, api2):
        m.sidecar("frontend-1", "frontend", "frontend-token-0123456789")
        m.sidecar("api-1", "api", "api-token-0123456789abc")
        m.sidecar("api-2", "api", "api-token-0123456789abc", (
            ("tern.inbound", "127.0.0.1:%d" % P["api2_in"]),
            ("tern.app", "127.0.0.1:%d" % api2.port),
            ("tern.outbound", "127.0.0.1:%d" % free_port())))
        m.sidecar("store-1", "store", "store-token-0123456789ab")
        m.sidecar("intruder-1", "intruder", "intruder-token-012345678")

        # every sidecar connected, everything ACKed, nothing NACKed
        m.wait_acked()
        print("ok: tern-cp: %s" % sorted((p["node"], p["service"]) for p in m.cp.proxies()))

        # frontend -> api over mTLS, balanced over both instances
        seen = {}
        for i in range(20):
            st, body = get(P["front_out"], "api", "/hello/%d" % i)
            self.assertEqual(st, 200, body)
            name = body.split(" ")[0]
            seen[name] = seen.get(name, 0) + 1
        self.assertEqual(set(seen), {"API1", "API2"}, seen)
        self.assertGreaterEqual(min(seen.values()), 5, seen)
        print("ok: frontend -> api over mTLS, balanced: %s" % seen)

        # api -> store (store allows api)
        st, body = get(P["api1_out"], "store", "/items")
        self.assertEqual((st, body.split(" ")[0]), (200, "STORE"), body)

        # an identity api does not allow: verified by mTLS, denied by RBAC
        st, _ = get(P["intr_out"], "api", "/steal")
        self.assertEqual(st, 403)
        print("ok: api -> store 200; intruder -> api 403")
        self.assertFalse(any("/steal" in r.target for r in api1.requests + api2.requests))

        # the verdicts were taken on the verified identities, by api's sidecars
        api_m = [m.sidecars[n].metrics() for n in ("api-1", "api-2")]
        self.assertEqual(sum(x.sum("tern_rbac_denied_total") for x in api_m), 1)
        self.assertGreaterEqual(sum(x.sum("tern_rbac_allowed_total") for x in api_m), 20)

        # api's inbound speaks only mTLS: a plaintext request gets no answer
        with socket.create_connection(("127.0.0.1", P["api1_in"]), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)

        # the sidecars' own view: connected, Secrets in use
        for t in m.sidecars.values():
            self.assertIn('"sds"', t.admin_get("/config_dump")[2])


if __name__ == "__main__":
    unittest.main()
