#!/usr/bin/python3
"""tern-cp's ADS server, seen by simulated proxies (python3-grpcio streams,
responses decoded with Envoy's own .proto files):

- SotW and Delta streams from several proxies at once, each authenticated
  by its service token and given only its own service's sidecar resources;
- the generated resources (listeners, routes, clusters, endpoints, secrets)
  read back with Envoy's definitions: mTLS, RBAC, rate limit, retries;
- one response outstanding per proxy: the next waits for the ACK;
- NACKs recorded per proxy and resource with their error_detail, in
  /proxies and /metrics, and the NACKed version not resent;
- a mesh file edit pushed within a second, Delta sending only what changed
  and removing what went; a cluster removed only after the routes that used
  it (make before break); an invalid edit refused with FILE:LINE and the
  previous model kept;
- refused credentials, garbage bytes: the stream ends with a status, other
  proxies keep their configuration.
"""

import os
import re
import subprocess
import tempfile
import time
import unittest

import grpc

from ternlib import poll_until
from terncplib import (AdsClient, TernCp, T_CDS, T_EDS, T_LDS, T_RDS, T_SDS, resources_by_name,
                       unpack)

MESH = """
trust_domain: mesh.test
cert_ttl: 10m
services:
  frontend:
    token: frontend-token-0123456789
    app: 127.0.0.1:9001
    inbound: 127.0.0.1:15001
    outbound: 127.0.0.1:15101
    calls: [api]
    allow: ["*"]
  api:
    token: api-token-0123456789abc
    app: 127.0.0.1:9002
    inbound: 127.0.0.1:15002
    outbound: 127.0.0.1:15102
    endpoints: [127.0.0.1:15002, 127.0.0.1:15012]
    calls: [store]
    allow: [frontend]
    timeout: 2s
    retries: {attempts: 2, on: "5xx,connect-failure", per_try_timeout: 500ms}
    rate_limit: {requests: 50, per: 1s}
  store:
    token: store-token-0123456789ab
    protocol: grpc
    app: 127.0.0.1:9003
    inbound: 127.0.0.1:15003
    endpoints: [127.0.0.1:15003]
    allow: [api]
"""

FRONTEND = "frontend-token-0123456789"
API = "api-token-0123456789abc"
STORE = "store-token-0123456789ab"


def sotw_sync(c, type_url, names=()):
    """Requests a type, returns the response after ACKing it."""
    c.request(type_url, names)
    r = c.recv()
    assert r.type_url == type_url, r.type_url
    c.ack(r, names)
    return r


def openssl_text(pem):
    return subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True,
                          text=True, check=True).stdout


class AdsTest(unittest.TestCase):

    def test_sotw_resources_of_a_sidecar(self):
        with TernCp(MESH) as cp:
            c = AdsClient(cp.xds, "api-1", API, cluster="api")
            try:
                cds = resources_by_name(sotw_sync(c, T_CDS))
                self.assertEqual(set(cds), {"inbound|api", "outbound|store"})
                out = cds["outbound|store"]
                self.assertEqual(out.type, out.EDS)
                self.assertTrue(out.eds_cluster_config.eds_config.HasField("ads"))
                tls = unpack(out.transport_socket.typed_config)
                self.assertEqual(type(tls).DESCRIPTOR.full_name,
                                 "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext")
                common = tls.common_tls_context
                self.assertEqual(common.tls_certificate_sds_secret_configs[0].name, "identity")
                cv = common.combined_validation_context
                san = cv.default_validation_context.match_typed_subject_alt_names[0]
                self.assertEqual(san.san_type, san.URI)
                self.assertEqual(san.matcher.exact, "spiffe://mesh.test/store")
                self.assertEqual(cv.validation_context_sds_secret_config.name, "trust-bundle")
                self.assertEqual(list(common.alpn_protocols), ["h2"], "store speaks gRPC")
                self.assertIn("envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                              out.typed_extension_protocol_options)
                inb = cds["inbound|api"]
                self.assertEqual(inb.type, inb.STATIC)
                sa = inb.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
                self.assertEqual((sa.address, sa.port_value), ("127.0.0.1", 9002))

                eds = resources_by_name(sotw_sync(c, T_EDS, ["outbound|store"]))
                eps = eds["outbound|store"].endpoints[0].lb_endpoints
                self.assertEqual([e.endpoint.address.socket_address.port_value for e in eps], [15003])

                lds = resources_by_name(sotw_sync(c, T_LDS))
                self.assertEqual(set(lds), {"inbound", "outbound"})
                inl = lds["inbound"]
                self.assertEqual(inl.address.socket_address.port_value, 15002)
                fc = inl.filter_chains[0]
                dtls = unpack(fc.transport_socket.typed_config)
                self.assertTrue(dtls.require_client_certificate.value, "mTLS required")
                hcm = unpack(fc.filters[0].typed_config)
                self.assertEqual(hcm.rds.route_config_name, "inbound")
                names = [f.name for f in hcm.http_filters]
                self.assertEqual(names, ["envoy.filters.http.rbac", "envoy.filters.http.local_ratelimit",
                                         "envoy.filters.http.router"])
                rbac = unpack(hcm.http_filters[0].typed_config)
                pol = rbac.rules.policies["mesh-allow"]
                self.assertEqual([p.authenticated.principal_name.exact for p in pol.principals],
                                 ["spiffe://mesh.test/frontend"])
                rl = unpack(hcm.http_filters[1].typed_config)
                self.assertEqual(rl.token_bucket.max_tokens, 50)
                self.assertEqual(rl.token_bucket.fill_interval.seconds, 1)
                self.assertEqual(rl.filter_enforced.default_value.numerator, 100)
                outl = lds["outbound"]
                self.assertFalse(outl.filter_chains[0].HasField("transport_socket"))

                rds = resources_by_name(sotw_sync(c, T_RDS, ["inbound", "outbound"]))
                vh = rds["outbound"].virtual_hosts[0]
                self.assertEqual(list(vh.domains), ["store", "store:15102"])
                act = vh.routes[0].route
                self.assertEqual(act.cluster, "outbound|store")
                self.assertEqual(rds["inbound"].virtual_hosts[0].routes[0].route.cluster, "inbound|api")

                sds = resources_by_name(sotw_sync(c, T_SDS, ["identity", "trust-bundle"]))
                cert = sds["identity"].tls_certificate.certificate_chain.inline_bytes.decode()
                text = openssl_text(cert)
                self.assertIn("URI:spiffe://mesh.test/api", text)
                self.assertIn("prime256v1", text)
                self.assertIn("BEGIN PRIVATE KEY", sds["identity"].tls_certificate.private_key.inline_bytes.decode())
                ca = sds["trust-bundle"].validation_context.trusted_ca.inline_bytes.decode()
                with tempfile.TemporaryDirectory() as d:
                    for n, pem in (("ca.pem", ca), ("leaf.pem", cert)):
                        with open(os.path.join(d, n), "w") as f:
                            f.write(pem)
                    v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
                                        os.path.join(d, "leaf.pem")], capture_output=True, text=True)
                    self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

                p = poll_until(lambda: cp.proxy("api-1"), desc="api-1 in /proxies")
                self.assertEqual(p["service"], "api")
                self.assertEqual(p["variant"], "sotw")
                poll_until(lambda: cp.proxy("api-1")["types"]["sds"]["acks"] == 1, desc="sds acked")
                res = {r["name"]: r for r in cp.proxy("api-1")["types"]["cds"]["resources"]}
                self.assertEqual(res["outbound|store"]["state"], "acked")
                self.assertEqual(res["outbound|store"]["acked"], res["outbound|store"]["sent"])
            finally:
                c.close()

    def test_one_response_outstanding_and_nack(self):
        with TernCp(MESH) as cp:
            c = AdsClient(cp.xds, "fe-1", FRONTEND, cluster="frontend")
            try:
                c.request(T_CDS)
                c.request(T_LDS)
                cds = c.recv()
                self.assertEqual(cds.type_url, T_CDS)
                # LDS is subscribed but must wait for the CDS ACK
                poll_until(lambda: cp.proxy("fe-1")["types"]["lds"]["subscribed"], desc="lds subscribed")
                p = cp.proxy("fe-1")
                self.assertEqual(p["awaiting_ack"], "cds")
                self.assertEqual(p["types"]["lds"]["pushes"], 0)
                c.ack(cds)
                lds = c.recv()
                self.assertEqual(lds.type_url, T_LDS)
                c.nack(lds, "listener 'inbound': field 9 (listener_filters) is not supported",
                       version=cds.version_info)
                poll_until(lambda: cp.proxy("fe-1")["types"]["lds"]["nacks"] == 1, desc="nack seen")
                t = cp.proxy("fe-1")["types"]["lds"]
                self.assertIn("listener_filters", t["last_nack"])
                states = {r["name"]: r for r in t["resources"]}
                self.assertEqual(states["inbound"]["state"], "nacked")
                self.assertIn("listener_filters", states["inbound"]["error"])
                self.assertEqual(states["inbound"]["acked"], "")
                m = cp.metrics()
                self.assertEqual(m['tern_cp_nacks_total{type="lds"}'], 1)
                self.assertIn("listener_filters", cp.stderr())
                # the NACKed version is not resent: the next request (re-stating
                # the subscription) gets nothing, later a changed model does
                c.request(T_LDS)
                poll_until(lambda: cp.proxy("fe-1")["types"]["lds"]["pushes"] == 1, desc="no resend")
                cp.write_mesh(MESH.replace("127.0.0.1:15101", "127.0.0.1:15111"))
                lds2 = c.recv(timeout=2)
                self.assertEqual(lds2.type_url, T_LDS)
                self.assertNotEqual(lds2.version_info, lds.version_info)
                out = resources_by_name(lds2)["outbound"]
                self.assertEqual(out.address.socket_address.port_value, 15111)
                c.ack(lds2)
                poll_until(lambda: cp.proxy("fe-1")["types"]["lds"]["acks"] == 1, desc="ack")
                m = cp.metrics()
                self.assertGreaterEqual(m["tern_cp_push_latency_seconds_count"], 2)
            finally:
                c.close()

    def test_delta_sends_only_changes_and_removals(self):
        with TernCp(MESH) as cp:
            c = AdsClient(cp.xds, "fe-d", FRONTEND, delta=True)
            try:
                c.subscribe(T_CDS)
                r = c.recv()
                self.assertEqual({x.name for x in r.resources}, {"inbound|frontend", "outbound|api"})
                versions = {x.name: x.version for x in r.resources}
                c.ack(r)
                c.subscribe(T_EDS, sub=["outbound|api"], nonce="")
                r = c.recv()
                self.assertEqual([x.name for x in r.resources], ["outbound|api"])
                eps = unpack(r.resources[0].resource).endpoints[0].lb_endpoints
                self.assertEqual(sorted(e.endpoint.address.socket_address.port_value for e in eps),
                                 [15002, 15012])
                c.ack(r)
                poll_until(lambda: cp.proxy("fe-d")["types"]["eds"]["acks"] == 1, desc="eds ack")

                # endpoints of api change: only the EDS resource is pushed
                t0 = time.monotonic()
                cp.write_mesh(MESH.replace("[127.0.0.1:15002, 127.0.0.1:15012]", "[127.0.0.1:15002]"))
                r = c.recv(timeout=2)
                self.assertLess(time.monotonic() - t0, 1.0, "pushed within a second")
                self.assertEqual(r.type_url, T_EDS)
                self.assertEqual([x.name for x in r.resources], ["outbound|api"])
                self.assertEqual(list(r.removed_resources), [])
                c.ack(r)
                poll_until(lambda: cp.proxy("fe-d")["types"]["eds"]["acks"] == 2, desc="eds ack 2")

                # frontend stops calling api: its cluster and endpoints are removed
                cp.write_mesh(MESH.replace("calls: [api]", "calls: []"))
                r = c.recv(timeout=2)
                self.assertEqual(r.type_url, T_CDS)
                self.assertEqual(list(r.removed_resources), ["outbound|api"])
                self.assertEqual(len(r.resources), 0)
                c.ack(r)
                r = c.recv(timeout=2)
                self.assertEqual(r.type_url, T_EDS)
                self.assertEqual(list(r.removed_resources), ["outbound|api"])
                c.ack(r)
            finally:
                c.close()

            # a reconnecting proxy that says what it has gets only what differs
            c = AdsClient(cp.xds, "fe-d2", FRONTEND, delta=True)
            try:
                cp.write_mesh(MESH)
                poll_until(lambda: cp.json("/mesh")["services"][1]["calls"] == ["api"], desc="reloaded")
                c.subscribe(T_CDS, initial=versions)
                r = c.recv()
                self.assertEqual(len(r.resources), 0, "nothing changed: %s" % [x.name for x in r.resources])
                c.ack(r)
                poll_until(lambda: cp.proxy("fe-d2")["types"]["cds"]["acks"] == 1, desc="ack")
                # an unknown old version is replaced
                c2 = AdsClient(cp.xds, "fe-d3", FRONTEND, delta=True)
                c2.subscribe(T_CDS, initial={"outbound|api": "0000000000000000"})
                r = c2.recv()
                self.assertEqual({x.name for x in r.resources}, {"inbound|frontend", "outbound|api"})
                c2.close()
            finally:
                c.close()

    def test_cluster_removed_after_the_routes_stop_using_it(self):
        # make before break: the routes that stop using outbound|api go out
        # (and are ACKed) before the cluster and its endpoints are removed,
        # or a proxy checking references would refuse the removal
        for delta in (True, False):
            with TernCp(MESH) as cp:
                node = "fe-%s" % ("delta" if delta else "sotw")
                c = AdsClient(cp.xds, node, FRONTEND, delta=delta)
                subs = ((T_CDS, ()), (T_EDS, ("outbound|api",)), (T_LDS, ()),
                        (T_RDS, ("inbound", "outbound")))
                try:
                    for t, names in subs:
                        if delta:
                            c.subscribe(t, sub=names)
                        else:
                            c.request(t, names)
                        r = c.recv()
                        self.assertEqual(r.type_url, t)
                        c.ack(r, names)
                    poll_until(lambda: cp.proxy(node)["types"]["rds"]["acks"] == 1, desc="rds ack")

                    cp.write_mesh(MESH.replace("calls: [api]", "calls: []"))
                    r = c.recv(timeout=2)
                    self.assertEqual(r.type_url, T_RDS, "the routes first")
                    out = resources_by_name(r)["outbound"]
                    self.assertEqual([vh.name for vh in out.virtual_hosts], [])
                    c.ack(r, ("inbound", "outbound"))
                    r = c.recv(timeout=2)
                    self.assertEqual(r.type_url, T_CDS, "then the cluster goes")
                    if delta:
                        self.assertEqual(list(r.removed_resources), ["outbound|api"])
                    else:
                        self.assertEqual(set(resources_by_name(r)), {"inbound|frontend"})
                    c.ack(r)
                    if delta:
                        r = c.recv(timeout=2)
                        self.assertEqual(r.type_url, T_EDS, "and its endpoints")
                        self.assertEqual(list(r.removed_resources), ["outbound|api"])
                        c.ack(r)
                    self.assertEqual(sum(t["nacks"] for t in cp.proxy(node)["types"].values()), 0)
                finally:
                    c.close()

    def test_credentials(self):
        with TernCp(MESH) as cp:
            good = AdsClient(cp.xds, "store-1", STORE)
            try:
                sotw_sync(good, T_CDS)
                cases = [
                    (dict(token=None), grpc.StatusCode.UNAUTHENTICATED, "tern.token"),
                    (dict(token="not-a-token-of-this-mesh"), grpc.StatusCode.UNAUTHENTICATED, "matches no"),
                    # api's token, claiming to be store: refused
                    (dict(token=API, cluster="store"), grpc.StatusCode.PERMISSION_DENIED, "node.cluster"),
                    (dict(token=API, meta={"tern.inbound": "nope"}), grpc.StatusCode.INVALID_ARGUMENT,
                     "HOST:PORT"),
                ]
                for kw, code, text in cases:
                    c = AdsClient(cp.xds, "intruder", **kw)
                    c.request(T_SDS, ["identity"])
                    err = c.wait_end()
                    self.assertIsNotNone(err, kw)
                    self.assertEqual(err.code(), code, kw)
                    self.assertIn(text, err.details())
                    c.close()
                # with api's token a proxy gets api's certificate, never store's
                c = AdsClient(cp.xds, "api-x", API)
                sds = resources_by_name(sotw_sync(c, T_SDS, ["identity"]))
                text = openssl_text(sds["identity"].tls_certificate.certificate_chain.inline_bytes.decode())
                self.assertIn("URI:spiffe://mesh.test/api", text)
                self.assertNotIn("spiffe://mesh.test/store", text)
                c.close()
                self.assertEqual(cp.metrics()["tern_cp_auth_failures_total"], 3)
                # garbage bytes instead of a DiscoveryRequest
                c = AdsClient(cp.xds, "garbage", API)
                c.raw(b"\xff\xff\xff\xff\x0f")
                err = c.wait_end()
                self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
                c.close()
                self.assertGreaterEqual(cp.metrics()["tern_cp_bad_requests_total"], 2)
                # the good proxy still gets its updates
                cp.write_mesh(MESH.replace("protocol: grpc", "protocol: http"))
                r = good.recv(timeout=2)
                self.assertEqual(r.type_url, T_CDS)
                good.ack(r)
            finally:
                good.close()

    def test_invalid_mesh_edit_keeps_model(self):
        with TernCp(MESH) as cp:
            c = AdsClient(cp.xds, "api-2", API, delta=True)
            try:
                c.subscribe(T_CDS)
                c.ack(c.recv())
                bad = MESH.replace("    timeout: 2s\n", "    timeout: 2 seconds\n")
                cp.write_mesh(bad)
                line = bad.splitlines().index("    timeout: 2 seconds") + 1
                poll_until(lambda: cp.json("/mesh")["last_error"], desc="error reported")
                err = cp.json("/mesh")["last_error"]
                self.assertEqual(err, "%s:%d: timeout: expected a duration such as 250ms, 2s, 1m, 1h "
                                 "(at most 24h, not 0), found '2 seconds'" % (cp.mesh_path, line))
                self.assertEqual(cp.metrics()['tern_cp_mesh_reloads_total{result="error"}'], 1)
                self.assertIn("previous mesh model stays", cp.stderr())
                cp.write_mesh(MESH.replace("calls: [store]", "calls: [nosuch]"))
                poll_until(lambda: "nosuch" in (cp.json("/mesh")["last_error"] or ""), desc="ref error")
                self.assertEqual(cp.metrics()['tern_cp_mesh_reloads_total{result="error"}'], 2)
                # the proxy got nothing from either
                self.assertEqual(cp.proxy("api-2")["types"]["cds"]["pushes"], 1)
                self.assertEqual(cp.json("/mesh")["services"][0]["calls"], ["store"])
                cp.write_mesh(MESH)
                poll_until(lambda: cp.json("/mesh")["last_error"] is None, desc="good again")
            finally:
                c.close()

    def test_certificate_rotation_at_half_life(self):
        # cert_ttl 1m: the leaf is re-issued after 30 s and pushed over SDS
        with TernCp(MESH.replace("cert_ttl: 10m", "cert_ttl: 1m")) as cp:
            c = AdsClient(cp.xds, "api-rot", API, delta=True)
            try:
                c.subscribe(T_SDS, sub=["identity", "trust-bundle"])
                r = c.recv()
                first = {x.name: unpack(x.resource) for x in r.resources}
                c.ack(r)
                t0 = time.monotonic()
                r = c.recv(timeout=45)
                self.assertGreater(time.monotonic() - t0, 20, "not before half-life")
                self.assertEqual([x.name for x in r.resources], ["identity"], "the CA did not change")
                c.ack(r)
                old = openssl_text(first["identity"].tls_certificate.certificate_chain.inline_bytes.decode())
                new = openssl_text(unpack(r.resources[0].resource).tls_certificate.certificate_chain
                                   .inline_bytes.decode())
                serial = lambda t: re.search(r"Serial Number:\s*\n?\s*([0-9a-f:]+)", t).group(1)
                self.assertNotEqual(serial(old), serial(new))
                self.assertIn("URI:spiffe://mesh.test/api", new)
                leaves = cp.json("/ca")["leaves"]
                self.assertEqual(len(leaves), 1)
                self.assertEqual(leaves[0]["not_after"] - leaves[0]["not_before"], 60 + 60)
                self.assertGreaterEqual(cp.metrics()["tern_cp_certificates_issued_total"], 2)
            finally:
                c.close()

    def test_many_proxies(self):
        with TernCp(MESH) as cp:
            clients = []
            try:
                for i in range(40):
                    tok, svc = [(FRONTEND, "frontend"), (API, "api"), (STORE, "store")][i % 3]
                    c = AdsClient(cp.xds, "p%d" % i, tok, delta=bool(i % 2))
                    c.svc = svc
                    clients.append(c)
                    if c.delta:
                        c.subscribe(T_CDS)
                    else:
                        c.request(T_CDS)
                for c in clients:
                    r = c.recv()
                    names = {x.name for x in r.resources} if c.delta else set(resources_by_name(r))
                    self.assertIn("inbound|" + c.svc, names)
                    c.ack(r)
                poll_until(lambda: cp.metrics()["tern_cp_connected_proxies"] == 40, desc="40 connected")
                poll_until(lambda: cp.metrics()['tern_cp_acks_total{type="cds"}'] == 40, desc="40 acks")
                m = cp.metrics()
                self.assertEqual(m['tern_cp_streams_total{variant="delta"}'], 20)
                # placements shared: three services, three snapshots (+ none rebuilt)
                self.assertEqual(m["tern_cp_snapshots_built_total"], 3)
                api = [c for c in clients if c.svc == "api"]
                for c in api:
                    if c.delta:
                        c.subscribe(T_EDS, sub=["outbound|store"])
                    else:
                        c.request(T_EDS, ["outbound|store"])
                    c.ack(c.recv(), ["outbound|store"])
                poll_until(lambda: cp.metrics()['tern_cp_acks_total{type="eds"}'] == len(api), desc="eds acks")
                before = {p["node"]: p["types"]["cds"]["pushes"] + p["types"]["eds"]["pushes"]
                          for p in cp.proxies()}
                # a change to store's endpoints reaches api's sidecars only
                cp.write_mesh(MESH.replace("endpoints: [127.0.0.1:15003]",
                                           "endpoints: [127.0.0.1:15003, 127.0.0.1:15013]"))
                for c in api:
                    r = c.recv(timeout=2)
                    self.assertEqual(r.type_url, T_EDS)
                    c.ack(r, ["outbound|store"])
                after = {p["node"]: p["types"]["cds"]["pushes"] + p["types"]["eds"]["pushes"]
                         for p in cp.proxies()}
                for c in clients:
                    self.assertEqual(after[c.node.id] - before[c.node.id], 1 if c.svc == "api" else 0,
                                     c.node.id)
                for c in clients:
                    c.close()
                poll_until(lambda: cp.metrics()["tern_cp_connected_proxies"] == 0, desc="all gone")
            finally:
                for c in clients:
                    c.close()


if __name__ == "__main__":
    unittest.main()
