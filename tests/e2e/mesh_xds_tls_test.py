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

import os
import subprocess
import tempfile
import unittest

from meshlib import Mesh, get, sidecar_config
from ternlib import HttpBackend, Tern, free_port, poll_until
from terncplib import TERNCP_BIN

FRONT = ("frontend-1", "frontend", "frontend-token-0123456789")
API = ("api-1", "api", "api-token-0123456789abc")


def mesh_yaml(front_out, api_in, api_app):
    return """
trust_domain: mesh.test
cert_ttl: 10m
services:
  frontend:
    token: frontend-token-0123456789
    outbound: 127.0.0.1:%d
    calls: [api]
  api:
    token: api-token-0123456789abc
    app: 127.0.0.1:%d
    inbound: 127.0.0.1:%d
    endpoints: [127.0.0.1:%d]
    allow: [frontend]
""" % (front_out, api_app, api_in, api_in)


def new_ca_dir():
    tmp = tempfile.mkdtemp(prefix="xdstls_")
    os.mkdir(os.path.join(tmp, "ca"))
    return tmp, os.path.join(tmp, "ca")


class XdsTlsTest(unittest.TestCase):
    def setUp(self):
        self.api = HttpBackend(name="API")
        self.front_out, self.api_in = free_port(), free_port()

    def tearDown(self):
        self.api.kill()

    def test_sidecars_over_tls(self):
        tmp, ca_dir = new_ca_dir()
        ca = os.path.join(ca_dir, "ca.crt")
        # another CA: a self-signed certificate a sidecar would trust instead
        foreign = os.path.join(tmp, "foreign.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(tmp, "f.key"),
                        "-out", foreign, "-days", "1", "-subj", "/CN=foreign"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Mesh(mesh_yaml(self.front_out, self.api_in, self.api.port), cp_args=["--xds-tls"],
                  ca_dir=ca_dir) as m:
            front = m.sidecar(*FRONT, server_opts="ssl ca-file %s" % ca)
            apisc = m.sidecar(*API, server_opts="ssl ca-file %s verifyhost tern-cp" % ca)
            m.wait_acked()
            st, body = get(self.front_out, "api", "/over-tls")
            self.assertEqual((st, body.split(" ")[0]), (200, "API"), body)
            for t in (front, apisc):
                self.assertEqual(t.metrics().value("tern_xds_connected"), 1)

            # wrong roots / wrong name / plaintext: nothing reaches them
            bad = []
            for node, opts in (("api-bad-ca", "ssl ca-file %s" % foreign),
                               ("api-bad-name", "ssl ca-file %s verifyhost other" % ca),
                               ("api-plain", "")):
                ap = free_port()
                bad.append(Tern(sidecar_config(m.cp.xds, node, "api", API[2], ap,
                                               server_opts=opts),
                                admin_port=ap, wait_ready=False))
            try:
                for b in bad:
                    b.start()
                # each has tried (and failed) to connect at least once
                for b in bad:
                    poll_until(lambda b=b: b.metrics().value(
                        "tern_xds_stream_failures_total", 0) >= 1, timeout=15,
                        desc="a failed xDS connection")
                self.assertEqual({p["node"] for p in m.cp.proxies()}, {FRONT[0], API[0]})
                for b in bad:
                    self.assertEqual(b.metrics().value("tern_xds_connected"), 0)
            finally:
                for b in bad:
                    b.stop()

    def test_serving_certificate_rotates(self):
        # a 4 s certificate: re-issued every 2 s (half-life); each new
        # handshake sees the current one, an open stream keeps working
        tmp, ca_dir = new_ca_dir()
        ca = os.path.join(ca_dir, "ca.crt")
        with Mesh(mesh_yaml(self.front_out, self.api_in, self.api.port),
                  cp_args=["--xds-tls", "--xds-tls-ttl", "4"], ca_dir=ca_dir) as m:
            def served():
                p = subprocess.run(["openssl", "s_client", "-connect", m.cp.xds, "-alpn", "h2",
                                    "-CAfile", ca, "-verify_return_error", "-verify_ip",
                                    "127.0.0.1"],
                                   input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=10)
                self.assertIn("Verify return code: 0 (ok)", p.stdout.decode("latin-1"))
                x = subprocess.run(["openssl", "x509", "-noout", "-serial", "-ext",
                                    "subjectAltName"],
                                   input=p.stdout, stdout=subprocess.PIPE, timeout=10)
                return x.stdout.decode()

            front = m.sidecar(*FRONT, server_opts="ssl ca-file %s" % ca)
            first = served()
            self.assertIn("URI:spiffe://mesh.test/tern-cp", first)
            self.assertIn("DNS:tern-cp", first)
            self.assertIn("IP Address:127.0.0.1", first)
            poll_until(lambda: served().split("\n")[0] != first.split("\n")[0],
                       timeout=10, desc="a new serving certificate")
            self.assertGreaterEqual(m.cp.metrics()["tern_cp_xds_certificates_issued_total"], 2)
            # the stream opened under the first certificate still delivers
            self.assertEqual(front.metrics().value("tern_xds_connected"), 1)
            # a sidecar connecting now verifies the current certificate
            m.sidecar(*API, server_opts="ssl ca-file %s" % ca)
            m.wait_acked()
            st, body = get(self.front_out, "api", "/after-rotation")
            self.assertEqual((st, body.split(" ")[0]), (200, "API"), body)

    def test_xds_tls_needs_ca_dir(self):
        r = subprocess.run([TERNCP_BIN, "--mesh", "/nonexistent", "--xds", "127.0.0.1:1",
                            "--admin", "127.0.0.1:2", "--xds-tls"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--xds-tls needs the CA", r.stderr)


if __name__ == "__main__":
    unittest.main()
