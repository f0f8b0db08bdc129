#!/usr/bin/python3
"""tern sidecars reaching tern-cp over TLS (`tern-cp --xds-tls`, and in tern's
xds section `server ... ssl ca-file <mesh CA> [verifyhost <name>]`).

tern-cp issues its own xDS certificate from the mesh CA at start (URI SAN
spiffe://<trust domain>/tern-cp, DNS tern-cp, the --xds address as IP SAN),
so the proxies' tokens and the private keys SDS delivers never cross the
network in clear. The checks:
  - a frontend and an api sidecar configured only by tern-cp, over TLS, pass
    traffic (frontend -> api over mTLS) and ACK everything;
  - `verifyhost tern-cp` (the DNS SAN) works as well as the address;
  - a sidecar trusting another CA, one checking a name the certificate does
    not carry, and one speaking plaintext to the TLS port get no
    configuration at all: tern-cp never sees them as proxies, and their
    tern_xds_connected gauge stays 0;
  - tern-cp re-issues its certificate at half-life (--xds-tls-ttl 4): new
    handshakes verify the new one, a stream opened before keeps working;
  - tern-cp refuses --xds-tls without --ca-dir.
"""

import http.client
import os
import subprocess
import tempfile
import unittest

from ternlib import HttpBackend, Tern, free_port, poll_until
from terncplib import TERNCP_BIN, TernCp

P = {k: free_port() for k in ("front_out", "api_in", "front_admin", "api_admin", "bad_admin",
                              "bad2_admin", "bad3_admin")}

MESH = """
trust_domain: mesh.test
cert_ttl: 10m
services:
  frontend:
    token: frontend-token-0123456789
    outbound: 127.0.0.1:%(front_out)d
    calls: [api]
  api:
    token: api-token-0123456789abc
    app: 127.0.0.1:%(api_app)d
    inbound: 127.0.0.1:%(api_in)d
    endpoints: [127.0.0.1:%(api_in)d]
    allow: [frontend]
"""


def sidecar(cp, node, service, token, admin, server_opts):
    return "\n".join([
        "global", "    nbthread 1", "    admin 127.0.0.1:%d" % admin, "",
        "xds", "    server %s %s" % (cp.xds, server_opts), "    node-id %s" % node,
        "    node-cluster %s" % service, "    node-metadata tern.token %s" % token,
        "    init-timeout 10s"]) + "\n"


def get(port, host, path="/"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


class XdsTlsTest(unittest.TestCase):
    def test_sidecars_over_tls(self):
        api = HttpBackend(name="API")
        tmp = tempfile.mkdtemp(prefix="xdstls_")
        ca_dir = os.path.join(tmp, "ca")
        os.mkdir(ca_dir)
        cp = TernCp(MESH % dict(P, api_app=api.port), extra_args=["--xds-tls"], ca_dir=ca_dir)
        cp.start()
        ca = os.path.join(ca_dir, "ca.crt")
        # another CA: a self-signed certificate the sidecar would trust instead
        foreign = os.path.join(tmp, "foreign.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(tmp, "f.key"),
                        "-out", foreign, "-days", "1", "-subj", "/CN=foreign"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Tern(sidecar(cp, "frontend-1", "frontend", "frontend-token-0123456789",
                              P["front_admin"], "ssl ca-file %s" % ca),
                      admin_port=P["front_admin"], ready_timeout=20) as front, \
                 Tern(sidecar(cp, "api-1", "api", "api-token-0123456789abc", P["api_admin"],
                              "ssl ca-file %s verifyhost tern-cp" % ca),
                      admin_port=P["api_admin"], ready_timeout=20) as apisc:
                def acked():
                    ps = cp.proxies()
                    return len(ps) == 2 and all(
                        not p["awaiting_ack"] and
                        all(t.get("nacks", 0) == 0 for t in p["types"].values()) for p in ps)
                poll_until(acked, timeout=20, desc="2 sidecars over TLS, all ACKed")
                st, body = get(P["front_out"], "api", "/over-tls")
                self.assertEqual((st, body.split(" ")[0]), (200, "API"), body)
                for t in (front, apisc):
                    self.assertEqual(t.metrics().value("tern_xds_connected"), 1)

                # wrong roots / wrong name / plaintext: nothing reaches them
                bad = [Tern(sidecar(cp, "api-bad-ca", "api", "api-token-0123456789abc",
                                    P["bad_admin"], "ssl ca-file %s" % foreign),
                            admin_port=P["bad_admin"], wait_ready=False),
                       Tern(sidecar(cp, "api-bad-name", "api", "api-token-0123456789abc",
                                    P["bad2_admin"], "ssl ca-file %s verifyhost other" % ca),
                            admin_port=P["bad2_admin"], wait_ready=False),
                       Tern(sidecar(cp, "api-plain", "api", "api-token-0123456789abc",
                                    P["bad3_admin"], ""),
                            admin_port=P["bad3_admin"], wait_ready=False)]
                try:
                    for b in bad:
                        b.start()
                    # each has tried (and failed) to connect at least once:
                    # its xDS connection attempts are counted
                    for b in bad:
                        poll_until(lambda b=b: b.metrics().value(
                            "tern_xds_stream_failures_total", 0) >= 1, timeout=15,
                            desc="a failed xDS connection of %s" % b)
                    nodes = {p["node"] for p in cp.proxies()}
                    self.assertEqual(nodes, {"frontend-1", "api-1"})
                    for b in bad:
                        self.assertEqual(b.metrics().value("tern_xds_connected"), 0)
                finally:
                    for b in bad:
                        b.stop()
        finally:
            cp.stop()
            api.kill()

    def test_serving_certificate_rotates(self):
        # a 4 s certificate: re-issued every 2 s (half-life); each new
        # handshake sees the current one, an open stream keeps working
        api = HttpBackend(name="API")
        tmp = tempfile.mkdtemp(prefix="xdstls_")
        ca_dir = os.path.join(tmp, "ca")
        os.mkdir(ca_dir)
        ca = os.path.join(ca_dir, "ca.crt")
        cp = TernCp(MESH % dict(P, api_app=api.port),
                    extra_args=["--xds-tls", "--xds-tls-ttl", "4"], ca_dir=ca_dir)
        cp.start()

        def served():
            p = subprocess.run(["openssl", "s_client", "-connect", cp.xds, "-alpn", "h2",
                                "-CAfile", ca, "-verify_return_error", "-verify_ip", "127.0.0.1"],
                               input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=10)
            out = p.stdout.decode("latin-1")
            self.assertIn("Verify return code: 0 (ok)", out)
            x = subprocess.run(["openssl", "x509", "-noout", "-serial", "-ext", "subjectAltName"],
                               input=p.stdout, stdout=subprocess.PIPE, timeout=10)
            return x.stdout.decode()
        try:
            with Tern(sidecar(cp, "frontend-1", "frontend", "frontend-token-0123456789",
                              P["front_admin"], "ssl ca-file %s" % ca),
                      admin_port=P["front_admin"], ready_timeout=20) as front:
                first = served()
                self.assertIn("URI:spiffe://mesh.test/tern-cp", first)
                self.assertIn("DNS:tern-cp", first)
                self.assertIn("IP Address:127.0.0.1", first)
                poll_until(lambda: served().split("\n")[0] != first.split("\n")[0],
                           timeout=10, desc="a new serving certificate")
                self.assertGreaterEqual(
                    cp.metrics()["tern_cp_xds_certificates_issued_total"], 2)
                # the stream opened under the first certificate still delivers
                self.assertEqual(front.metrics().value("tern_xds_connected"), 1)
                # a sidecar connecting now verifies the current certificate
                with Tern(sidecar(cp, "api-1", "api", "api-token-0123456789abc",
                                  P["api_admin"], "ssl ca-file %s" % ca),
                          admin_port=P["api_admin"], ready_timeout=20):
                    poll_until(lambda: len(cp.proxies()) == 2 and
                               not any(p["awaiting_ack"] for p in cp.proxies()),
                               timeout=20, desc="both ACKed after rotation")
                    st, body = get(P["front_out"], "api", "/after-rotation")
                    self.assertEqual((st, body.split(" ")[0]), (200, "API"), body)
        finally:
            cp.stop()
            api.kill()

    def test_xds_tls_needs_ca_dir(self):
        r = subprocess.run([TERNCP_BIN, "--mesh", "/nonexistent", "--xds", "127.0.0.1:1",
                            "--admin", "127.0.0.1:2", "--xds-tls"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--xds-tls needs the CA", r.stderr)


if __name__ == "__main__":
    unittest.main()
