"""The `xds` section: checked like any section (FILE:LINE errors); both
protocols (delta, the default, and sotw) valid; a section added by a reload
refused, so that tern never runs without the control plane its file asks
for. The client itself: xds_sotw_test.py and xds_delta_test.py."""

import os
import signal
import subprocess
import tempfile
import unittest

from ternlib import TERN_BIN, HttpBackend, Tern, cfg_http, free_port, http_get, poll_until

XDS = ("xds\n    server 127.0.0.1:%d\n    node-id sidecar-1\n    node-cluster web\n"
       "    node-locality r1/z1\n    init-timeout 5s\n    protocol sotw\n    drain-time 30s\n")


def run(*args):
    p = subprocess.run([TERN_BIN] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


class XdsConfigTest(unittest.TestCase):
    def write(self, d, text):
        path = os.path.join(d, "t.cfg")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_errors_are_file_line(self):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as d:
            notpem = os.path.join(d, "notpem.txt")
            with open(notpem, "w") as f:
                f.write("not a certificate\n")
            path = self.write(d, "xds\n    server 127.0.0.1:1 ssl ca-file %s\n"
                                 "    node-id n\n    protocol fast\n" % notpem)
            rc, out = run("-c", "-f", path)
            self.assertEqual(rc, 1)
            self.assertIn("%s:2: server: ca-file: '%s' holds no PEM certificate"
                          % (path, notpem), out)
            self.assertIn("%s:4: protocol: unknown protocol 'fast' (expected delta or sotw)"
                          % path, out)

    def test_sotw_and_delta_valid(self):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as d:
            for text in (XDS % free_port(),
                         (XDS % free_port()).replace("    protocol sotw\n", ""),
                         (XDS % free_port()).replace("protocol sotw", "protocol delta")):
                path = self.write(d, text)
                rc, out = run("-c", "-f", path)
                self.assertEqual(rc, 0, out)
                self.assertIn("Configuration file is valid", out)

    def test_reload_adding_xds_is_refused(self):
        b = HttpBackend("b")
        fp = free_port()
        base = cfg_http() + "listen l\n    bind 127.0.0.1:%d\n    server s 127.0.0.1:%d\n" % (
            fp, b.port)
        try:
            with Tern(base) as t:
                with open(t.cfg_path, "w") as f:
                    f.write(base + "\n" + XDS % free_port())
                t.send_signal(signal.SIGHUP)
                poll_until(lambda: "the running configuration is unchanged" in t.stderr_text(),
                           desc="reload refused")
                self.assertIn("xds: a control plane cannot be added while tern runs",
                              t.stderr_text())
                self.assertEqual(http_get(fp, "/")[0], 200)
        finally:
            b.kill()


if __name__ == "__main__":
    unittest.main()
