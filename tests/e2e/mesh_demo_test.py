#!/usr/bin/python3
"""examples/mesh/demo.py, the README's main command, runs to the end in both
registry modes and its narration says what it showed: balanced calls, the
retry, the 403, the killed instance absorbed; with --registry etcd, an
instance registered in etcd taking traffic and leaving on revocation with no
failed call. The demo stops everything it started (its work directory is
gone, no child left)."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from ternlib import TERN_BIN
from terncplib import TERNCP_BIN

HERE = os.path.dirname(os.path.realpath(__file__))


def demo_path():
    # bazel runfiles: <runfiles>/tern/examples/mesh/demo.py beside tests/e2e
    for base in (os.environ.get("TEST_SRCDIR", ""), os.path.join(HERE, "..", "..")):
        for p in (os.path.join(base, "tern", "examples", "mesh", "demo.py"),
                  os.path.join(base, "examples", "mesh", "demo.py")):
            if os.path.exists(p):
                return p
    raise AssertionError("examples/mesh/demo.py not found")


class MeshDemoTest(unittest.TestCase):
    def run_demo(self, *args):
        r = subprocess.run(["/usr/bin/python3", demo_path(), "--tern", TERN_BIN,
                            "--tern-cp", TERNCP_BIN] + list(args),
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TMPDIR=self.tmp))
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(os.listdir(self.tmp), [], "the demo left its work directory")
        out = r.stdout
        self.assertRegex(out, r"answered by api-1 x\d+, api-2 x\d+")
        self.assertIn("6 of 6 calls succeeded", out)
        self.assertIn("RBAC does not allow it: 403", out)
        self.assertIn("serves xDS over TLS", out)
        self.assertIn("10 calls, 10 answered 200", out)
        self.assertTrue(out.rstrip().endswith("Everything stopped."), out)
        return out

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mesh_demo_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_static(self):
        out = self.run_demo()
        self.assertNotIn("etcd", out)

    def test_registry_etcd(self):
        if not shutil.which("etcd") or not shutil.which("etcdctl"):
            self.skipTest("etcd-server / etcd-client not installed (bash bazel/setup.sh)")
        out = self.run_demo("--registry", "etcd")
        m = re.search(r"the first call reaches it (\d+) ms after the put", out)
        self.assertIsNotNone(m, out)
        self.assertLess(int(m.group(1)), 1000)
        self.assertRegex(out, r"(no call sent after the revoke reached it|the last call it "
                              r"answered was sent \d+ ms after the revoke); \d+ calls, 0 failed")


if __name__ == "__main__":
    unittest.main()
