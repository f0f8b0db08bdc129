"""gRPC through tern, HTTP/2 on both sides (`bind ... proto h2`, `server
... proto h2`), with Debian's python3-grpcio as client and server.

The servicer uses grpc's generic handlers with bytes (de)serializers, so no
generated code is needed. Checked: unary, server-streaming, client-streaming
and bidi calls; the server's status code and message reach the client
(trailers-only errors and errors after messages); `grpc-timeout` is tern's
deadline (DEADLINE_EXCEEDED from tern itself, counted with reason
deadline_exceeded, seen with a raw h2 client that sets no deadline of its
own); tern's local replies are gRPC errors (UNAVAILABLE with no server,
RESOURCE_EXHAUSTED when rate limited); `retry-on unavailable` turns a
server failing every other call into 100% success, and a stream is never
retried once its response head reached the client."""

import socket
import threading
import time
import unittest
from concurrent import futures

import grpc
import h2.config
import h2.connection
import h2.events

from ternlib import Tern, cfg_http, free_port, poll_until

SVC = "tern.test.Echo"


def ident(b):
    return b


class Servicer:
    """Echo, Slow, Fail (every other call UNAVAILABLE), Abort (NOT_FOUND),
    Count (server-streaming), Sum (client-streaming), Chat (bidi), Late
    (messages, then INTERNAL)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {}

    def count(self, name):
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            return self.calls[name]

    def echo(self, req, ctx):
        self.count("Echo")
        return b"echo:" + req

    def slow(self, req, ctx):
        self.count("Slow")
        time.sleep(float(req.decode()))
        return b"late"

    def fail(self, req, ctx):
        n = self.count("Fail")
        if n % 2 == 1:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "odd call %d" % n)
        return b"ok:" + req

    def abort(self, req, ctx):
        self.count("Abort")
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())

    def count_stream(self, req, ctx):
        self.count("Count")
        for i in range(int(req.decode())):
            yield b"n%d" % i

    def sum_stream(self, it, ctx):
        self.count("Sum")
        total = 0
        for m in it:
            total += int(m.decode())
        return str(total).encode()

    def chat(self, it, ctx):
        self.count("Chat")
        for m in it:
            yield b"re:" + m

    def late(self, req, ctx):
        self.count("Late")
        yield b"first"
        yield b"second"
        ctx.abort(grpc.StatusCode.INTERNAL, "broke after two")

    def handler(self):
        u = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler(SVC, {
            "Echo": u(self.echo, ident, ident),
            "Slow": u(self.slow, ident, ident),
            "Fail": u(self.fail, ident, ident),
            "Abort": u(self.abort, ident, ident),
            "Count": grpc.unary_stream_rpc_method_handler(self.count_stream, ident, ident),
            "Sum": grpc.stream_unary_rpc_method_handler(self.sum_stream, ident, ident),
            "Chat": grpc.stream_stream_rpc_method_handler(self.chat, ident, ident),
            "Late": grpc.unary_stream_rpc_method_handler(self.late, ident, ident),
        })


def start_server():
    svc = Servicer()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    srv.add_generic_rpc_handlers((svc.handler(),))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, svc, port


def config(fp, ap, servers, be_extra="", fe_extra=""):
    return cfg_http(admin_port=ap) + (
        "frontend fe\n    bind 127.0.0.1:%d proto h2\n%s    default_backend be\n\n"
        "backend be\n%s%s" % (fp, fe_extra, be_extra, "".join(
            "    server s%d 127.0.0.1:%d proto h2\n" % (i, p) for i, p in enumerate(servers))))


def stub(ch, kind, name):
    f = getattr(ch, kind)
    return f("/%s/%s" % (SVC, name), request_serializer=ident, response_deserializer=ident)


def raw_grpc(port, path, timeout_hdr, body=b"\x00\x00\x00\x00\x01x", wait=10.0):
    """One gRPC call over python3-h2 with a grpc-timeout field and no
    deadline of our own: returns (response headers, trailers, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    hdrs = [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
            (":path", path), ("content-type", "application/grpc"), ("te", "trailers")]
    if timeout_hdr:
        hdrs.append(("grpc-timeout", timeout_hdr))
    c.send_headers(1, hdrs)
    c.send_data(1, body, end_stream=True)
    s.sendall(c.data_to_send())
    t0 = time.time()
    head, trailers = None, None
    try:
        while trailers is None:
            d = s.recv(65536)
            if not d:
                break
            for ev in c.receive_data(d):
                if isinstance(ev, h2.events.ResponseReceived):
                    head = dict(ev.headers)
                    if ev.stream_ended:
                        trailers = head
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.StreamReset):
                    trailers = {"reset": str(ev.error_code)}
            s.sendall(c.data_to_send())
    finally:
        s.close()
    return head, trailers, time.time() - t0


class GrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv, cls.svc, cls.sp = start_server()
        cls.fp, cls.ap = free_port(), free_port()
        cls.t = Tern(config(cls.fp, cls.ap, [cls.sp]), admin_port=cls.ap)
        cls.t.start()
        cls.ch = grpc.insecure_channel("127.0.0.1:%d" % cls.fp)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.t._cleanup(failed=False)
        cls.srv.stop(0)

    def test_unary(self):
        self.assertEqual(stub(self.ch, "unary_unary", "Echo")(b"hi", timeout=10), b"echo:hi")
        big = bytes(range(256)) * 4096  # 1 MiB: flow control both ways
        self.assertEqual(stub(self.ch, "unary_unary", "Echo")(big, timeout=20), b"echo:" + big)

    def test_server_streaming(self):
        got = list(stub(self.ch, "unary_stream", "Count")(b"50", timeout=10))
        self.assertEqual(got, [b"n%d" % i for i in range(50)])

    def test_client_streaming(self):
        msgs = iter([str(i).encode() for i in range(1, 101)])
        self.assertEqual(stub(self.ch, "stream_unary", "Sum")(msgs, timeout=10), b"5050")

    def test_bidi(self):
        # lock-step: each reply comes before the next message is sent
        q = []
        ev = threading.Event()
        it_done = threading.Event()

        def gen():
            for i in range(20):
                q.append(b"m%d" % i)
                yield b"m%d" % i
                if not ev.wait(10):
                    return
                ev.clear()
            it_done.set()

        got = []
        for r in stub(self.ch, "stream_stream", "Chat")(gen(), timeout=20):
            got.append(r)
            ev.set()
        self.assertEqual(got, [b"re:" + m for m in q])
        self.assertEqual(len(got), 20)

    def test_server_errors_keep_code_and_message(self):
        with self.assertRaises(grpc.RpcError) as cm:
            stub(self.ch, "unary_unary", "Abort")(b"x42", timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(cm.exception.details(), "no such thing: x42")
        # an error after messages: the status comes in the trailers
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for r in stub(self.ch, "unary_stream", "Late")(b"", timeout=10):
                got.append(r)
        self.assertEqual(got, [b"first", b"second"])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(cm.exception.details(), "broke after two")

    def test_grpc_timeout_is_the_deadline(self):
        # no deadline on the client's side: the server sees grpc-timeout too
        # and may answer DEADLINE_EXCEEDED itself at the same moment as tern
        # (a race on a loaded machine), or send its head early (then tern can
        # only reset the stream): any of the three ends the call in time
        head, tr, took = raw_grpc(self.fp, "/%s/Slow" % SVC, "300m",
                                  body=b"\x00\x00\x00\x00\x031.5")
        if "reset" not in tr:
            self.assertEqual(head[":status"], "200")
            self.assertEqual(tr.get("grpc-status"), "4", tr)
            self.assertIn("deadline", tr.get("grpc-message", "").lower())
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 1.4)

    def test_grpc_timeout_while_queued_is_terns_answer(self):
        """The deadline passes while the call waits in tern's queue (the
        server's one slot is held): only tern can answer, so the answer and
        the counter are tern's."""
        fp, ap = free_port(), free_port()
        cfg = config(fp, ap, [], be_extra="    timeout queue 10s\n"
                     "    server s0 127.0.0.1:%d proto h2 maxconn 1\n" % self.sp)
        with Tern(cfg, admin_port=ap) as t:
            holder = threading.Thread(target=raw_grpc, args=(
                fp, "/%s/Slow" % SVC, "5S"), kwargs={"body": b"\x00\x00\x00\x00\x031.5"})
            holder.start()
            try:
                poll_until(lambda: t.metrics().value("tern_backend_current_connections", 0,
                                                      proxy="be") >= 1,
                           desc="the slot is held", timeout=5)
                head, tr, took = raw_grpc(fp, "/%s/Slow" % SVC, "300m",
                                          body=b"\x00\x00\x00\x00\x010")
                self.assertEqual(head[":status"], "200")
                self.assertEqual(tr.get("grpc-status"), "4", tr)
                self.assertIn("deadline", tr.get("grpc-message", "").lower())
                self.assertGreaterEqual(took, 0.25)
                self.assertLess(took, 1.2)
                poll_until(lambda: t.metrics().value("tern_http_errors_total", 0, proxy="fe",
                                                      reason="deadline_exceeded") == 1,
                           desc="deadline_exceeded counted")
            finally:
                holder.join(10)

    def test_grpc_timeout_malformed_and_client_deadlines(self):
        # a malformed grpc-timeout is ignored (the call completes)
        head, tr, _ = raw_grpc(self.fp, "/%s/Slow" % SVC, "3x", body=b"\x00\x00\x00\x00\x010")
        self.assertEqual(tr.get("grpc-status"), "0", tr)
        # the real client: its deadline reaches the server and tern
        with self.assertRaises(grpc.RpcError) as cm:
            stub(self.ch, "unary_unary", "Slow")(b"1.5", timeout=0.3)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # a deadline long enough does not interfere
        self.assertEqual(stub(self.ch, "unary_unary", "Slow")(b"0.1", timeout=5), b"late")


class GrpcLocalRepliesTest(unittest.TestCase):
    def test_no_server_is_unavailable(self):
        fp, ap = free_port(), free_port()
        with Tern(config(fp, ap, [free_port()]), admin_port=ap):
            with grpc.insecure_channel("127.0.0.1:%d" % fp) as ch:
                with self.assertRaises(grpc.RpcError) as cm:
                    stub(ch, "unary_unary", "Echo")(b"x", timeout=10)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                self.assertIn("tern", cm.exception.details())

    def test_rate_limited_is_resource_exhausted(self):
        srv, svc, sp = start_server()
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, [sp], fe_extra="    filter rate-limit rate 1/60s burst 1\n"),
                      admin_port=ap):
                with grpc.insecure_channel("127.0.0.1:%d" % fp) as ch:
                    self.assertEqual(stub(ch, "unary_unary", "Echo")(b"a", timeout=10),
                                     b"echo:a")
                    with self.assertRaises(grpc.RpcError) as cm:
                        stub(ch, "unary_unary", "Echo")(b"b", timeout=10)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                    self.assertEqual(svc.calls.get("Echo"), 1)
        finally:
            srv.stop(0)


class GrpcRetryTest(unittest.TestCase):
    def test_retry_on_unavailable(self):
        srv, svc, sp = start_server()
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, [sp], be_extra="    retry-on unavailable\n    retries 2\n"),
                      admin_port=ap) as t:
                with grpc.insecure_channel("127.0.0.1:%d" % fp) as ch:
                    f = stub(ch, "unary_unary", "Fail")
                    for i in range(20):
                        self.assertEqual(f(b"%d" % i, timeout=10), b"ok:%d" % i)
                    # every other call failed at the server and was retried
                    self.assertEqual(svc.calls["Fail"], 40)
                    m = t.metrics()
                    self.assertEqual(m.sum("tern_backend_retries_total", proxy="be"), 20)
                    # a server-streaming call whose error comes after its
                    # head is not retried
                    got = []
                    with self.assertRaises(grpc.RpcError) as cm:
                        for r in stub(ch, "unary_stream", "Late")(b"", timeout=10):
                            got.append(r)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
                    self.assertEqual(svc.calls["Late"], 1)
        finally:
            srv.stop(0)

    def test_without_retry_on_the_error_reaches_the_client(self):
        srv, svc, sp = start_server()
        fp, ap = free_port(), free_port()
        try:
            with Tern(config(fp, ap, [sp], be_extra="    retry-on internal\n"), admin_port=ap):
                with grpc.insecure_channel("127.0.0.1:%d" % fp) as ch:
                    f = stub(ch, "unary_unary", "Fail")
                    with self.assertRaises(grpc.RpcError) as cm:
                        f(b"x", timeout=10)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                    self.assertEqual(cm.exception.details(), "odd call 1")
                    self.assertEqual(f(b"y", timeout=10), b"ok:y")
        finally:
            srv.stop(0)


if __name__ == "__main__":
    unittest.main()
