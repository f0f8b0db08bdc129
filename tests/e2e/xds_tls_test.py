#!/usr/bin/python3
"""mTLS from xDS with SDS secrets (Envoy's own .proto files; both protocols):

- a listener with a DownstreamTlsContext (require_client_certificate; the
  certificate and the trust bundle as SDS Secrets) in front of an RBAC filter
  that allows one SPIFFE ID;
- plaintext listeners whose clusters carry an UpstreamTlsContext (client
  certificate over SDS, the server's URI SAN checked) to it: the allowed
  identity passes (200), another identity is denied by RBAC (403), a server
  identity other than the expected one fails the handshake (503);
- a listener whose Secret has not arrived warms (not bound) until it does;
- a rotated Secret changes new handshakes (the client identity changes: 403);
- secrets that are not inline and inline certificates are NACKed.
"""

import socket
import ssl
import unittest

import testpki
from testpki import pki
from ternlib import HttpBackend, Tern, free_port, http_get, poll_until
from xds_cp import (CDS, CLUSTER, LDS, RDS, SDS, ControlPlane, TYPE, ca_secret, cert_secret,
                    downstream_tls, hcm_listener, route_config, static_cluster, upstream_tls)
from xds_scenario import cfg

setUpModule = testpki.setup
tearDownModule = testpki.teardown

RBAC = TYPE + "envoy.extensions.filters.http.rbac.v3.RBAC"
FRONTEND = "spiffe://mesh.local/ns/a/sa/frontend"
OTHER = "spiffe://mesh.local/ns/a/sa/other"


def read(name):
    with open(pki(name)) as f:
        return f.read()


def allow_only(spiffe_id):
    return ("envoy.filters.http.rbac", {
        "@type": RBAC, "rules": {"action": "ALLOW", "policies": {"mesh-allow": {
            "permissions": [{"any": True}],
            "principals": [{"authenticated": {"principal_name": {"exact": spiffe_id}}}]}}}})


def tls_cluster(cp, name, port, client_secret, peer_uri):
    return cp.msg(CLUSTER, {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                         "port_value": port}}}}]}]},
        "transport_socket": upstream_tls(client_secret, "trust", peer_uri, "frontend")})


def bound(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class XdsTlsTest(unittest.TestCase):
    def run_protocol(self, protocol):
        app = HttpBackend(name="APP")
        cp = ControlPlane()
        p = {k: free_port() for k in ("in", "ok", "deny", "wrong", "late", "admin")}
        cp.set(SDS, [cert_secret(cp, "frontend-id", read("client.crt"), read("client.key")),
                     cert_secret(cp, "other-id", read("client-other.crt"),
                                 read("client-other.key")),
                     ca_secret(cp, "trust", read("ca.pem"))])
        cp.set(CDS, [static_cluster(cp, "app", [(app.port, 1)]),
                     tls_cluster(cp, "mesh", p["in"], "other-id", FRONTEND),
                     tls_cluster(cp, "mesh-deny", p["in"], "frontend-id", FRONTEND),
                     tls_cluster(cp, "mesh-wrong", p["in"], "other-id", OTHER)])
        cp.set(RDS, [route_config(cp, "to-app", [("a", ["*"], [({"prefix": "/"}, "app")])])] + [
            route_config(cp, c, [("a", ["*"], [({"prefix": "/"}, c)])])
            for c in ("mesh", "mesh-deny", "mesh-wrong")])
        cp.set(LDS, [
            hcm_listener(cp, "in", p["in"], rds="to-app", http_filters=[allow_only(OTHER)],
                         transport_socket=downstream_tls("frontend-id", "trust")),
            hcm_listener(cp, "ok", p["ok"], rds="mesh"),
            hcm_listener(cp, "deny", p["deny"], rds="mesh-deny"),
            hcm_listener(cp, "wrong", p["wrong"], rds="mesh-wrong")])
        try:
            with Tern(cfg(cp.port, p["admin"], protocol), admin_port=p["admin"],
                      ready_timeout=15) as t:
                for typ in (SDS, CDS, RDS, LDS):
                    cp.wait_ack(typ)
                # mTLS, the client's identity allowed by RBAC
                st, _, body = http_get(p["ok"], "/hello")
                self.assertEqual((st, body.split(" ")[0]), (200, "APP"), body)
                # another identity: verified, then denied
                self.assertEqual(http_get(p["deny"], "/x")[0], 403)
                # the server is not who the cluster expects: no connection
                self.assertEqual(http_get(p["wrong"], "/x")[0], 503)
                m = t.metrics()
                self.assertGreaterEqual(m.sum("tern_rbac_denied_total"), 1)
                self.assertGreaterEqual(m.sum("tern_rbac_allowed_total"), 1)
                # a client without a certificate cannot talk to the inbound listener
                ctx = ssl.create_default_context(cafile=pki("ca.pem"))
                ctx.check_hostname = False
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                    with socket.create_connection(("127.0.0.1", p["in"]), timeout=5) as s:
                        with ctx.wrap_socket(s) as ts:
                            ts.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                            if not ts.recv(100):
                                raise ConnectionError("closed")
                # warming: a listener whose Secret is missing is not bound until it arrives
                cp.set(LDS, [hcm_listener(cp, "late", p["late"], rds="to-app",
                                          transport_socket=downstream_tls("late-id", "trust"))],
                       replace=False)
                poll_until(lambda: any(r.type_url == SDS and "late-id" in (
                    list(getattr(r, "resource_names", [])) +
                    list(getattr(r, "resource_names_subscribe", []))) for r in cp.requests),
                    timeout=10, desc="tern subscribes to Secret late-id")
                self.assertFalse(bound(p["late"]))
                self.assertEqual(http_get(p["ok"], "/still")[0], 200)
                cp.set(SDS, [cert_secret(cp, "late-id", read("client.crt"), read("client.key"))],
                       replace=False)
                poll_until(lambda: bound(p["late"]), timeout=10, desc="listener 'late' bound")
                # rotation: "other-id" now holds the frontend identity: new
                # handshakes present it, and RBAC denies it
                cp.set(SDS, [cert_secret(cp, "other-id", read("client.crt"),
                                         read("client.key"))], replace=False)
                cp.wait_ack(SDS)
                poll_until(lambda: http_get(p["ok"], "/rotated")[0] == 403, timeout=10,
                           desc="the rotated client certificate in use")
                # bad secrets / contexts: NACKed, the field named
                nonce = cp.send_raw(SDS, [cp.msg("envoy.extensions.transport_sockets.tls.v3."
                                                 "Secret", {"name": "trust",
                                                            "validation_context": {
                                                                "trusted_ca": {
                                                                    "filename": "/etc/ca"}}})],
                                    "bad-1")
                detail = cp.wait_nack(SDS, nonce).error_detail.message
                self.assertIn("Secret 'trust'", detail)
                self.assertIn("filename", detail)
                ts = downstream_tls("frontend-id", "trust")
                ts["typed_config"]["common_tls_context"]["tls_certificates"] = [
                    {"certificate_chain": {"inline_string": read("client.crt")}}]
                nonce = cp.send_raw(LDS, [hcm_listener(cp, "in", p["in"], rds="to-app",
                                                       transport_socket=ts)], "bad-2")
                detail = cp.wait_nack(LDS, nonce).error_detail.message
                self.assertIn("Listener 'in'", detail)
                self.assertIn("tls_certificates", detail)
                self.assertEqual(http_get(p["deny"], "/after")[0], 403)
                d = t.admin_get("/config_dump")[2]
                self.assertIn('"sds"', d)
        finally:
            cp.stop()
            app.kill()

    def test_sotw(self):
        self.run_protocol("sotw")

    def test_delta(self):
        self.run_protocol("delta")


if __name__ == "__main__":
    unittest.main()
