"""`max-request-body` (tern): a Content-Length above the limit is answered
413 at once and never reaches the server; a chunked body is counted as it
streams and cut with 413 when it crosses the limit; bodies within the limit
pass whole. Each 413 has reason payload_too_large (log, counter, header)."""

import unittest

from ternlib import (HttpBackend, HttpReader, Tern, cfg_http, connect, free_port,
                     http_access_log, poll_until)


class MaxBodyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b")
        cls.fp = free_port()
        cls.ap = free_port()
        cls.t = Tern(cfg_http(admin_port=cls.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    max-request-body 10k\n"
            "    option tern-error-header\n    default_backend be\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (cls.fp, cls.b.port)),
            admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_content_length_within_and_above(self):
        s = connect(self.fp)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10240\r\n\r\n" +
                  b"a" * 10240)
        r = HttpReader(s)
        st, _, body, _ = r.response()
        self.assertEqual((st, len(body)), (200, 10240))
        s.sendall(b"POST /big-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 10241\r\n\r\n")
        st, hdrs, _, _ = r.response()
        hdrs = {k.lower(): v for k, v in hdrs}
        self.assertEqual((st, hdrs.get("x-tern-error")), (413, "payload_too_large"))
        self.assertEqual(hdrs.get("connection"), "close")
        s.close()
        self.assertNotIn("/big-cl", [r.target for r in self.b.requests])
        d = poll_until(lambda: [x for x in http_access_log(self.t.stderr_text())
                                if x["request"].startswith("POST /big-cl ")], desc="log")[0]
        self.assertEqual((d["status"], d["reason"]), (413, "payload_too_large"))
        self.assertGreaterEqual(self.t.metrics().get(
            "tern_http_errors_total", proxy="fe", reason="payload_too_large"), 1)

    def test_chunked_cut_when_it_crosses(self):
        s = connect(self.fp)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):
            s.sendall(b"800\r\n" + b"c" * 0x800 + b"\r\n")  # 8 KiB so far
        s.sendall(b"900\r\n" + b"c" * 0x900 + b"\r\n0\r\n\r\n")  # 10 KiB + 256
        st, hdrs, _, _ = HttpReader(s).response()
        hdrs = {k.lower(): v for k, v in hdrs}
        self.assertEqual((st, hdrs.get("x-tern-error")), (413, "payload_too_large"))
        s.close()

    def test_chunked_within(self):
        s = connect(self.fp)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"1000\r\n" + b"k" * 4096 + b"\r\n0\r\n\r\n")
        st, _, body, _ = HttpReader(s).response()
        self.assertEqual((st, body), (200, b"k" * 4096))
        s.close()

    def test_config_error(self):
        import subprocess, tempfile, os
        from ternlib import TERN_BIN
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False,
                                         dir=os.environ.get("TEST_TMPDIR")) as f:
            f.write(cfg_http() + "frontend fe\n    bind 127.0.0.1:1\n"
                    "    max-request-body 10q\n")
        p = subprocess.run([TERN_BIN, "-c", "-f", f.name], capture_output=True, text=True)
        os.unlink(f.name)
        self.assertEqual(p.returncode, 1)
        self.assertIn(":12: max-request-body: invalid size '10q'", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
