"""The `filter access-log` HTTP filter through the real binary, with curl as
the client: httplog lines in a file identical to the core's own line on
stderr (requests a filter earlier in the chain answered and malformed ones
included); JSON lines that parse, with hostile request fields escaped; syslog
over UDP (RFC 5424) and over a unix datagram socket (RFC 3164); and targets
that block (a unix socket and a FIFO nobody reads): requests keep succeeding
at full speed while the lines that do not fit are dropped and counted on the
admin API's Prometheus page."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from ternlib import (HTTP_ACCESS_RE, TERN_BIN, HttpBackend, Tern, cfg_http, connect,
                     free_port, http_get, parse_prometheus, poll_until)

HOSTILE_UA = b'evil "quoted" \\back\\slash\ttab caf\xc3\xa9 \xff\xfe }{"x":1} end'
HOSTILE_UA_JSON = 'evil "quoted" \\back\\slash\ttab caf\u00e9 \ufffd\ufffd }{"x":1} end'


def curl(port, path, *args, host="127.0.0.1"):
    """One request with curl; returns the status code (int)."""
    out = subprocess.run(
        [b"curl", b"-s", b"-o", b"/dev/null", b"-w", b"%{http_code}", b"--max-time", b"10"]
        + [a if isinstance(a, bytes) else a.encode() for a in args]
        + [("http://%s:%d%s" % (host, port, path)).encode()],
        stdout=subprocess.PIPE, check=True)
    return int(out.stdout)


def builtin_lines(t):
    """The core's own httplog lines on tern's stderr."""
    return [l for l in t.stderr_lines() if HTTP_ACCESS_RE.match(l)]


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return data.decode("utf-8").splitlines()


def metrics(ap):
    st, _, body = http_get(ap, "/stats/prometheus")
    assert st == 200
    return parse_prometheus(body)


class AccessLogFilterTest(unittest.TestCase):
    def setUp(self):
        self.b = HttpBackend("b")
        self.dir = tempfile.mkdtemp(prefix="alog-e2e-", dir=os.environ.get("TEST_TMPDIR"))
        # unix socket paths must stay under 108 bytes: a short directory
        self.sdir = tempfile.mkdtemp(prefix="alog-", dir="/tmp")
        self.fp, self.fp2, self.ap = free_port(), free_port(), free_port()

    def tearDown(self):
        self.b.kill()
        shutil.rmtree(self.sdir, ignore_errors=True)

    def config(self, filters, filters2=None, nbthread=2):
        text = cfg_http(nbthread=nbthread, admin_port=self.ap)
        text += "frontend fe\n    bind 127.0.0.1:%d\n" % self.fp
        text += "".join("    filter %s\n" % f for f in filters)
        text += "    default_backend be\n\n"
        if filters2 is not None:
            text += "frontend limited\n    bind 127.0.0.1:%d\n" % self.fp2
            text += "".join("    filter %s\n" % f for f in filters2)
            text += "    default_backend be\n\n"
        text += "backend be\n    server s1 127.0.0.1:%d\n" % self.b.port
        return text

    def test_file_lines_match_the_core_line(self):
        alog = os.path.join(self.dir, "access.log")
        jlog = os.path.join(self.dir, "access.json")
        both = ["access-log target file@%s" % alog,
                "access-log format json target file %s" % jlog]
        # the limiter comes first: the log filters see its 429 all the same
        cfg = self.config(both, ["rate-limit rate 1/1m burst 1"] + both)
        with Tern(cfg, admin_port=self.ap) as t:
            self.assertEqual(curl(self.fp, "/x?y=1"), 200)
            self.assertEqual(curl(self.fp, "/status/204", "-I"), 204)
            self.assertEqual(curl(self.fp, "/echo", "-d", "hello=world"), 200)
            self.assertEqual(curl(self.fp, "/status/404"), 404)
            self.assertEqual(curl(self.fp, "/hostile", "-H", b"User-Agent: " + HOSTILE_UA,
                                  "-H", 'X-Request-Id: "}\\'), 200)
            self.assertEqual(curl(self.fp2, "/first"), 200)
            self.assertEqual(curl(self.fp2, "/second"), 429)
            # malformed: refused by the parser before any filter ran
            s = connect(self.fp)
            s.sendall(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b" 400 ", s.recv(4096))
            s.close()
            n = 8
            poll_until(lambda: len(builtin_lines(t)) >= n and len(read_lines(alog)) >= n
                       and len(read_lines(jlog)) >= n, desc="8 lines in each log")
            core = builtin_lines(t)
            self.assertEqual(len(core), n, core)
            # the same lines, byte for byte (the order may differ: two workers)
            self.assertEqual(sorted(read_lines(alog)), sorted(core))
            reqs = [HTTP_ACCESS_RE.match(l).group("request") for l in core]
            self.assertIn("<BADREQ>", reqs)
            self.assertIn("GET /second HTTP/1.1", reqs)

            # JSON: one object a line, the same facts as the httplog line
            objs = [json.loads(l) for l in read_lines(jlog)]
            self.assertEqual(len(objs), n)
            by_port = {}
            for l in core:
                m = HTTP_ACCESS_RE.match(l)
                by_port[int(m.group("client").rsplit(":", 1)[1])] = m
            for o in objs:
                m = by_port[o["client_port"]]
                self.assertEqual(o["client_ip"], "127.0.0.1")
                self.assertEqual(o["frontend_name"], m.group("frontend"))
                self.assertEqual(o["backend_name"] or "<NOSRV>", m.group("backend"))
                self.assertEqual(o["server_name"] or "<NOSRV>", m.group("server"))
                self.assertEqual(o["status_code"], int(m.group("status")))
                self.assertEqual(o["bytes_read"], int(m.group("bytes")))
                self.assertEqual(o["termination_state"], m.group("state"))
                self.assertEqual([o["TR"], o["Tw"], o["Tc"], o["Tr"], o["Ta"]],
                                 [int(m.group(k)) for k in ("tr", "tw", "tc", "tr_srv", "ta")])
                self.assertEqual(o["reason"], m.group("reason"))
                if o["method"] is None:
                    self.assertEqual(m.group("request"), "<BADREQ>")
                else:
                    self.assertEqual("%s %s %s" % (o["method"], o["uri"], o["http_version"]),
                                     m.group("request"))
                    self.assertEqual(o["host"], "127.0.0.1:%d" % (
                        self.fp if o["frontend_name"] == "fe" else self.fp2))
            hostile = [o for o in objs if o["uri"] == "/hostile"]
            self.assertEqual(len(hostile), 1)
            self.assertEqual(hostile[0]["user_agent"], HOSTILE_UA_JSON)
            self.assertEqual(hostile[0]["request_id"], '"}\\')
            limited = sorted((o["uri"], o["status_code"], o["reason"]) for o in objs
                             if o["frontend_name"] == "limited")
            self.assertEqual(limited, [("/first", 200, "none"), ("/second", 429, "rate_limited")])
            self.assertEqual([o["uri"] for o in objs if o["method"] == "POST"], ["/echo"])
            self.assertEqual([o["bytes_uploaded"] > 11 for o in objs if o["method"] == "POST"],
                             [True])

            poll_until(lambda: metrics(self.ap).sum("tern_access_log_lines_total") == 6 * 2 + 2 * 2,
                       desc="every line counted")
            mt = metrics(self.ap)
            for proxy, idx, lines in (("fe", "0", 6), ("fe", "1", 6), ("limited", "1", 2),
                                      ("limited", "2", 2)):
                self.assertEqual(mt.get("tern_access_log_lines_total", proxy=proxy, index=idx),
                                 lines)
                self.assertEqual(mt.get("tern_access_log_dropped_total", proxy=proxy,
                                        index=idx), 0)
            self.assertEqual(mt.find("tern_access_log_lines_total", proxy="limited",
                                     index="0"), [])  # the rate-limit filter reports none

    def test_stderr_target(self):
        """The filter's httplog line on stderr next to the core's: each twice."""
        with Tern(self.config(["access-log"]), admin_port=self.ap) as t:
            for i in range(4):
                self.assertEqual(curl(self.fp, "/s%d" % i), 200)
            poll_until(lambda: len(builtin_lines(t)) >= 8, desc="8 lines on stderr")
            lines = builtin_lines(t)
            self.assertEqual(len(lines), 8)
            for l in set(lines):
                self.assertEqual(lines.count(l), 2, l)

    def test_udp_syslog_rfc5424(self):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        cfg = self.config(["access-log format json target udp@127.0.0.1:%d "
                           "syslog-format rfc5424 tag tern-e2e facility local7 level notice"
                           % port])
        with Tern(cfg, admin_port=self.ap) as t:
            for i in range(5):
                self.assertEqual(curl(self.fp, "/u%d" % i), 200)
            got = [rx.recv(65536) for _ in range(5)]
            hdr = re.compile(rb"^<189>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) "
                             rb"(\S+) tern-e2e (\d+) - - (\{.*\})$")
            uris = []
            for d in got:
                m = hdr.match(d)
                self.assertIsNotNone(m, d)
                self.assertEqual(int(m.group(3)), t.pid)
                o = json.loads(m.group(4))
                self.assertEqual(o["status_code"], 200)
                uris.append(o["uri"])
            self.assertEqual(sorted(uris), ["/u%d" % i for i in range(5)])
            rx.close()

    def test_unix_syslog_rfc3164(self):
        path = os.path.join(self.sdir, "log")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(5)
        with Tern(self.config(["access-log target %s" % path]), admin_port=self.ap) as t:
            for i in range(3):
                self.assertEqual(curl(self.fp, "/x%d" % i), 200)
            got = [rx.recv(65536).decode() for _ in range(3)]
            poll_until(lambda: len(builtin_lines(t)) >= 3, desc="core lines")
            core = builtin_lines(t)
            hdr = re.compile(r"^<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) tern\[(\d+)\]: "
                             r"(.*)$")
            lines = []
            for d in got:
                m = hdr.match(d)
                self.assertIsNotNone(m, d)
                self.assertEqual(int(m.group(2)), t.pid)
                lines.append(m.group(3))
            self.assertEqual(sorted(lines), sorted(core))
        rx.close()

    def test_blocked_targets_drop_and_count(self):
        """A unix socket and a FIFO whose readers never read: the kernel's
        queues fill, every request still succeeds quickly, and the lines that
        did not fit are counted (Prometheus) and never cut."""
        sock_path = os.path.join(self.sdir, "stuck.sock")
        fifo = os.path.join(self.dir, "stuck.fifo")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(sock_path)
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
        total = 400
        try:
            cfg = self.config(["access-log format json target unix@%s" % sock_path,
                               "access-log format json target file@%s" % fifo])
            with Tern(cfg, admin_port=self.ap) as t:
                urls = [b"http://127.0.0.1:%d/n%d" % (self.fp, i) for i in range(total)]
                t0 = time.monotonic()
                out = subprocess.run(
                    [b"curl", b"-s", b"--max-time", b"30", b"-w", b"%{http_code}\n"]
                    + [a for u in urls for a in (b"-o", b"/dev/null", u)],
                    stdout=subprocess.PIPE, check=True).stdout.split()
                elapsed = time.monotonic() - t0
                self.assertEqual(out, [b"200"] * total)
                # 400 keep-alive requests on loopback: well under 10 ms each even
                # on a slow, shared machine; a blocked worker would take seconds
                self.assertLess(elapsed, 4.0, "requests slowed by a stuck log target")

                def counted():
                    mt = metrics(self.ap)
                    return [(mt.get("tern_access_log_lines_total", proxy="fe", index=i),
                             mt.get("tern_access_log_dropped_total", proxy="fe", index=i))
                            for i in ("0", "1")]
                res = poll_until(lambda: all(a + b == total for a, b in counted()) and counted(),
                                 desc="every line counted")
                (sock_lines, sock_drops), (fifo_lines, fifo_drops) = res
                self.assertGreater(sock_drops, 0)
                self.assertGreater(fifo_drops, 0)
                self.assertGreater(sock_lines, 0)
                self.assertGreater(fifo_lines, 0)
                # what was counted as written is there, whole
                rx.setblocking(False)
                dgrams = []
                while True:
                    try:
                        dgrams.append(rx.recv(65536))
                    except BlockingIOError:
                        break
                self.assertEqual(len(dgrams), sock_lines)
                for d in dgrams:
                    json.loads(d.split(b": ", 1)[1])
                data = b""
                while True:
                    try:
                        chunk = os.read(rfd, 1 << 16)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    data += chunk
                lines = data.split(b"\n")
                self.assertEqual(lines[-1], b"")
                self.assertEqual(len(lines) - 1, fifo_lines)
                for l in lines[:-1]:
                    self.assertEqual(json.loads(l)["status_code"], 200)
        finally:
            os.close(rfd)
            rx.close()

    def test_config_errors(self):
        """Bad `filter access-log` lines: FILE:LINE: filter: access-log: ..."""
        cases = [
            ("target tcp@127.0.0.1:514", "target 'tcp@127.0.0.1:514': unknown address type"),
            ("format xml", "invalid format 'xml'"),
            ("target udp@syslog.example:514", "tern does not resolve names"),
            ("target file@%s/missing/dir/a.log" % self.dir, "No such file or directory"),
            ("len 10", "invalid len '10' (1024-65535 bytes)"),
        ]
        for args, msg in cases:
            path = os.path.join(self.dir, "bad.cfg")
            with open(path, "w") as f:
                f.write(self.config(["access-log " + args]))
            r = subprocess.run([TERN_BIN, "-c", "-f", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            text = r.stdout.decode()
            self.assertEqual(r.returncode, 1, text)
            line = self.config(["access-log " + args]).splitlines().index(
                "    filter access-log " + args) + 1
            where = "%s:%d: filter: access-log: " % (path, line)
            self.assertIn(where, text)
            self.assertIn(msg, text.split(where, 1)[1].splitlines()[0])


if __name__ == "__main__":
    unittest.main()
