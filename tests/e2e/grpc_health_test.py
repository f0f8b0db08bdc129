"""gRPC health checks (`option tern-grpc-check [<service>]`) of `proto h2`
servers, against python3-grpcio servers implementing grpc.health.v1.Health
by hand: generic handlers with bytes, HealthCheckRequest {string service = 1}
parsed and HealthCheckResponse {ServingStatus status = 1} written here (no
generated code). SERVING keeps a server up; NOT_SERVING, an unknown service
(grpc-status NOT_FOUND) and a dead server take it down, counted in
tern_server_check_failures_total and logged like the other checks; traffic
then avoids it; SERVING again brings it back after `rise`. Config errors:
a checked server without `proto h2`, a bad service name."""

import os
import socket
import subprocess
import tempfile
import threading
import unittest
from concurrent import futures

import grpc

from ternlib import TERN_BIN, Tern, cfg_http, free_port, poll_until

ECHO = "tern.test.Echo"
SERVING, NOT_SERVING = 1, 2


def ident(b):
    return b


def parse_service(req):
    """HealthCheckRequest.service from its bytes (field 1, length-delimited,
    length < 128 here); other fields are not sent by tern."""
    if not req:
        return ""
    assert req[0] == 0x0a and req[1] < 0x80 and len(req) == 2 + req[1], req
    return req[2:].decode()


class HealthServer:
    def __init__(self, name, statuses):
        self.name = name
        self.statuses = dict(statuses)  # service -> status; missing: NOT_FOUND
        self.lock = threading.Lock()
        self.seen = []  # (service, metadata dict) of each Check
        self.srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.srv.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
                "Check": grpc.unary_unary_rpc_method_handler(self.check, ident, ident)}),
            grpc.method_handlers_generic_handler(ECHO, {
                "Who": grpc.unary_unary_rpc_method_handler(self.who, ident, ident)}),
        ))
        self.port = self.srv.add_insecure_port("127.0.0.1:0")
        self.srv.start()

    def set(self, service, status):
        with self.lock:
            self.statuses[service] = status

    def check(self, req, ctx):
        service = parse_service(req)
        with self.lock:
            self.seen.append((service, dict(ctx.invocation_metadata())))
            st = self.statuses.get(service)
        if st is None:
            ctx.abort(grpc.StatusCode.NOT_FOUND, "unknown service " + service)
        return bytes([0x08, st])

    def who(self, req, ctx):
        return self.name.encode()

    def checks(self):
        with self.lock:
            return len(self.seen)

    def stop(self):
        self.srv.stop(0)


def config(fp, ap, servers, check="    option tern-grpc-check app\n"):
    return cfg_http(admin_port=ap) + (
        "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
        "backend be\n    balance roundrobin\n%s"
        "    default-server check inter 100ms rise 2 fall 2\n%s" % (fp, check, "".join(
            "    server %s 127.0.0.1:%d proto h2\n" % (s.name, s.port) for s in servers)))


def up(t, name):
    return t.metrics().get("tern_server_up", proxy="be", server=name)


class GrpcHealthTest(unittest.TestCase):
    def setUp(self):
        self.s1 = HealthServer("s1", {"app": SERVING})
        self.s2 = HealthServer("s2", {"app": SERVING})
        self.addCleanup(self.s1.stop)
        self.addCleanup(self.s2.stop)
        self.fp, self.ap = free_port(), free_port()

    def who(self, ch):
        return ch.unary_unary("/%s/Who" % ECHO, request_serializer=ident,
                              response_deserializer=ident)(b"", timeout=5).decode()

    def test_not_serving_goes_down_and_back_up(self):
        with Tern(config(self.fp, self.ap, [self.s1, self.s2]), admin_port=self.ap) as t:
            poll_until(lambda: self.s1.checks() >= 2 and self.s2.checks() >= 2,
                       desc="both checked")
            poll_until(lambda: up(t, "s1") == 1 and up(t, "s2") == 1, desc="both up")
            # what tern sent: the service name, a gRPC call over HTTP/2
            svc, md = self.s2.seen[0]
            self.assertEqual(svc, "app")
            self.assertEqual(md.get("user-agent", "").split(" ")[0], "tern-health")
            ch = grpc.insecure_channel("127.0.0.1:%d" % self.fp)
            self.addCleanup(ch.close)
            self.assertEqual({self.who(ch) for _ in range(6)}, {"s1", "s2"})

            failed0 = t.metrics().get("tern_server_check_failures_total", proxy="be",
                                      server="s2") or 0
            self.s2.set("app", NOT_SERVING)
            poll_until(lambda: up(t, "s2") == 0, timeout=5, desc="s2 down on NOT_SERVING")
            self.assertEqual(up(t, "s1"), 1)
            failed = t.metrics().get("tern_server_check_failures_total", proxy="be",
                                     server="s2")
            self.assertGreaterEqual(failed - failed0, 2)  # fall 2
            checks = t.metrics().get("tern_server_checks_total", proxy="be", server="s2")
            self.assertGreaterEqual(checks, self.s2.checks() - 1)
            log = t.stderr_text()
            self.assertRegex(log, r"Server be/s2 is DOWN, reason: Layer7 wrong status, "
                                  r"info: \"NOT_SERVING\"")
            # traffic avoids it
            self.assertEqual({self.who(ch) for _ in range(6)}, {"s1"})

            self.s2.set("app", SERVING)
            poll_until(lambda: up(t, "s2") == 1, timeout=5, desc="s2 back up")
            self.assertRegex(t.stderr_text(), r"Server be/s2 is UP, reason: Layer7 check passed")
            poll_until(lambda: self.who(ch) == "s2", desc="traffic reaches s2 again")

    def test_unknown_service_and_dead_server_go_down(self):
        self.s2.statuses = {}  # every service unknown: NOT_FOUND
        with Tern(config(self.fp, self.ap, [self.s1, self.s2]), admin_port=self.ap) as t:
            poll_until(lambda: up(t, "s1") == 1, desc="s1 up")
            poll_until(lambda: self.s2.checks() >= 3, desc="s2 checked")
            self.assertEqual(up(t, "s2"), 0)
            poll_until(lambda: "grpc-status 5: unknown service app" in t.stderr_text(),
                       desc="NOT_FOUND logged")
            be = [c for c in t.clusters()["clusters"] if c["name"] == "be"][0]
            self.assertEqual(be["health_check"]["type"], "grpc")
            self.assertEqual(be["health_check"]["service"], "app")
            s2 = [s for s in be["servers"] if s["name"] == "s2"][0]
            self.assertEqual(s2["last_check"], "L7STS: grpc-status 5: unknown service app")

            self.s1.stop()
            poll_until(lambda: up(t, "s1") == 0, timeout=5, desc="dead s1 down")

    def test_empty_service_asks_for_the_whole_server(self):
        self.s1.statuses = {"": SERVING}
        with Tern(config(self.fp, self.ap, [self.s1], check="    option tern-grpc-check\n"),
                  admin_port=self.ap) as t:
            poll_until(lambda: self.s1.checks() >= 2, desc="s1 checked")
            poll_until(lambda: up(t, "s1") == 1, desc="s1 up")
            self.assertEqual(self.s1.seen[0][0], "")
            self.s1.set("", NOT_SERVING)
            poll_until(lambda: up(t, "s1") == 0, timeout=5, desc="s1 down")


class SilentServer:
    """Listens and never accepts: the kernel completes the connect, no
    byte ever comes back."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]


class GrpcHealthTimeoutTest(unittest.TestCase):
    def test_silent_server_is_a_layer7_timeout(self):
        s = SilentServer("s1")
        self.addCleanup(s.sock.close)
        fp, ap = free_port(), free_port()
        with Tern(config(fp, ap, [s]), admin_port=ap) as t:
            poll_until(lambda: up(t, "s1") == 0, timeout=5, desc="silent s1 down")
            self.assertRegex(t.stderr_text(), r"Server be/s1 is DOWN, reason: Layer7 timeout, "
                                              r"info: \"no gRPC answer after \d+ ms\"")


class GrpcHealthConfigTest(unittest.TestCase):
    def check_config(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        p = subprocess.run([TERN_BIN, "-c", "-f", f.name], capture_output=True, text=True,
                           timeout=10)
        return p.returncode, p.stderr + p.stdout, f.name

    def test_checked_server_without_proto_h2(self):
        text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
                             "backend be\n    option tern-grpc-check\n"
                             "    server s1 127.0.0.1:1 check\n" % free_port())
        line = text.splitlines().index("    server s1 127.0.0.1:1 check") + 1
        rc, out, name = self.check_config(text)
        self.assertEqual(rc, 1, out)
        self.assertIn("%s:%d: option tern-grpc-check: server 's1' has 'check' but not "
                      "'proto h2'" % (name, line), out)

    def test_bad_service_name(self):
        text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
                             "backend be\n    option tern-grpc-check a\x01b\n"
                             "    server s1 127.0.0.1:1 proto h2 check\n" % free_port())
        rc, out, _ = self.check_config(text)
        self.assertEqual(rc, 1, out)
        self.assertIn("option tern-grpc-check: service name", out)

    def test_good_config(self):
        text = cfg_http() + ("frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
                             "backend be\n    option tern-grpc-check my.pkg.Svc\n"
                             "    server s1 127.0.0.1:1 proto h2 check\n" % free_port())
        rc, out, _ = self.check_config(text)
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
