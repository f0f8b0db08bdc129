"""The command line: -v, -c on a valid file, unknown flags, a missing file."""

import os
import subprocess
import tempfile
import unittest

from ternlib import TERN_BIN, cfg_head, free_port


def run(*args):
    p = subprocess.run([TERN_BIN] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


class CliTest(unittest.TestCase):
    def test_version(self):
        rc, out = run("-v")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"tern.*\d+\.\d+")

    def test_unknown_flag(self):
        rc, out = run("--no-such-flag")
        self.assertEqual(rc, 2)
        self.assertIn("usage", out.lower())

    def test_check_valid(self):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as d:
            path = os.path.join(d, "ok.cfg")
            port = free_port()
            with open(path, "w") as f:
                f.write(cfg_head() + "listen l\n    bind 127.0.0.1:%d\n"
                        "    server s1 127.0.0.1:%d\n" % (port, free_port()))
            rc, out = run("-c", "-f", path)
            self.assertEqual(rc, 0, out)
            self.assertIn("Configuration file is valid", out)
            # -c does not listen
            import socket
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.close()

    def test_missing_file(self):
        rc, out = run("-c", "-f", "/nonexistent/tern.cfg")
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/tern.cfg", out)


if __name__ == "__main__":
    unittest.main()
