#!/usr/bin/python3
"""Third-party xDS clients resolve a service through tern-cp and complete
RPCs against real gRPC servers (python3-grpcio):

- Debian's python3-grpcio, its built-in xds resolver (xds:///greeter,
  GRPC_XDS_BOOTSTRAP pointing at tern-cp);
- grpc-js-xds from npm (@grpc/grpc-js-xds, installed by bazel/setup.sh).

Both authenticate with the caller's token in the bootstrap's node metadata
and receive a Listener with an api_listener, its RouteConfiguration, the
cluster and endpoints; every RPC lands on one of the two servers and both
get traffic (round robin). A sidecar (no tern.proxyless) with the same
token gets no api_listener, so a gRPC client cannot resolve with it.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from ternlib import free_port, poll_until
from terncplib import TernCp

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "terncp")
NPM = os.environ.get("TERN_NPM_DIR", "/opt/tern-deps/npm")
CLIENT_TOKEN = "client-token-0123456789"

MESH = """
services:
  client:
    token: %s
    calls: [greeter]
  greeter:
    protocol: grpc
    endpoints: [%s]
    allow: [client]
"""


class EchoServer:
    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(DATA, "echo_server.py"), name,
                                      str(self.port)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def bootstrap(cp, node_id, proxyless=True):
    meta = {"tern.token": CLIENT_TOKEN}
    if proxyless:
        meta["tern.proxyless"] = "true"
    doc = {
        "xds_servers": [{"server_uri": cp.xds, "channel_creds": [{"type": "insecure"}],
                         "server_features": ["xds_v3"]}],
        "node": {"id": node_id, "cluster": "client", "metadata": meta, "locality": {}},
    }
    fd, path = tempfile.mkstemp(prefix="terncp_bootstrap_", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return path


class InteropTest(unittest.TestCase):

    def setUp(self):
        self.servers = [EchoServer("s1"), EchoServer("s2")]
        eps = ", ".join("127.0.0.1:%d" % s.port for s in self.servers)
        self.mesh = MESH % (CLIENT_TOKEN, eps)

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def run_client(self, cmd, node_id, cp, n=20, env=None):
        e = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap(cp, node_id))
        e.update(env or {})
        r = subprocess.run(cmd + ["greeter", str(n)], capture_output=True, text=True, env=e, timeout=120)
        self.assertEqual(r.returncode, 0, "client failed:\n" + r.stdout + r.stderr + "\n" + cp.stderr())
        lines = r.stdout.split()
        self.assertEqual(len(lines), n, r.stdout)
        return lines

    def check_answers(self, lines, prefix):
        by = {}
        for i, line in enumerate(lines):
            name, _, req = line.partition(":")
            self.assertEqual(req, "%s%d" % (prefix, i))
            by[name] = by.get(name, 0) + 1
        self.assertEqual(set(by), {"s1", "s2"}, "both servers reached: %s" % by)

    def check_acked(self, cp, node_id):
        p = cp.proxy(node_id)
        if p is None:   # the client may have gone already: its state is in the metrics
            return
        self.assertTrue(p["proxyless"])
        self.assertEqual(p["types"]["lds"]["names"], ["greeter"])

    def test_python_grpcio_xds(self):
        with TernCp(self.mesh) as cp:
            lines = self.run_client([sys.executable, os.path.join(DATA, "py_xds_client.py")], "py-1", cp)
            self.check_answers(lines, "py")
            m = cp.metrics()
            for t in ("lds", "rds", "cds", "eds"):
                self.assertGreaterEqual(m['tern_cp_acks_total{type="%s"}' % t], 1, t)
                self.assertEqual(m['tern_cp_nacks_total{type="%s"}' % t], 0, t)
            self.assertIn("proxyless gRPC", cp.stderr())

    def test_grpc_js_xds(self):
        node = "/usr/bin/node"
        if not os.path.exists(os.path.join(NPM, "node_modules", "@grpc", "grpc-js-xds")):
            self.fail("@grpc/grpc-js-xds not installed under %s: run bash bazel/setup.sh" % NPM)
        with TernCp(self.mesh) as cp:
            lines = self.run_client([node, os.path.join(DATA, "js_xds_client.js")], "js-1", cp,
                                    env={"NODE_PATH": os.path.join(NPM, "node_modules")})
            self.check_answers(lines, "js")
            m = cp.metrics()
            for t in ("lds", "rds", "cds", "eds"):
                self.assertGreaterEqual(m['tern_cp_acks_total{type="%s"}' % t], 1, t)
                self.assertEqual(m['tern_cp_nacks_total{type="%s"}' % t], 0, t)

    def test_sidecar_token_without_proxyless_gets_no_api_listener(self):
        # the same token without tern.proxyless is a sidecar: no Listener
        # "greeter" exists for it, so a gRPC client cannot resolve
        with TernCp(self.mesh) as cp:
            e = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap(cp, "py-2", proxyless=False))
            r = subprocess.run([sys.executable, "-c",
                                "import grpc\n"
                                "ch = grpc.insecure_channel('xds:///greeter')\n"
                                "try:\n"
                                "    ch.unary_unary('/test.Echo/Say')(b'x', timeout=3)\n"
                                "except grpc.RpcError as e:\n"
                                "    print(e.code())\n"],
                               capture_output=True, text=True, env=e, timeout=60)
            self.assertRegex(r.stdout, r"StatusCode\.(UNAVAILABLE|DEADLINE_EXCEEDED)", r.stderr)


if __name__ == "__main__":
    unittest.main()
