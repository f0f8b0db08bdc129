"""WebSocket through tern (mode http): the Upgrade handshake reaches the
server with its Upgrade / Sec-WebSocket-* fields, the 101 comes back with
Connection: upgrade, then frames flow both ways through the byte tunnel
(echoed by a real RFC 6455 server written here), half-closes are passed on,
`timeout tunnel` cuts an idle tunnel, and a server that refuses the switch
(plain 200/400) leaves a normal keep-alive HTTP exchange."""

import base64
import hashlib
import os
import socket
import struct
import time
import unittest

from ternlib import (HttpReader, TcpServer, Tern, cfg_http, connect, free_port,
                     http_access_log, poll_until)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += d
    return out


def read_frame(s):
    """(opcode, payload) of one frame, unmasking if masked."""
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    mask = recv_exact(s, 4) if b1 & 0x80 else None
    data = recv_exact(s, n)
    if mask:
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return b0 & 0x0F, data


def frame(opcode, payload, masked):
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("closed in the head: %r" % buf)
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        fields[k.strip().lower()] = v.strip()
    return lines[0], fields, rest


class WsEchoServer(TcpServer):
    """RFC 6455 echo: answers the handshake with 101 (or `refuse` status),
    echoes text/binary frames unmasked, answers close with close and then
    closes its side. Records each handshake's fields in `handshakes`;
    `accepted` (TcpServer) counts connections."""

    def __init__(self, refuse=None, **kw):
        self.refuse = refuse
        self.handshakes = []
        super().__init__(**kw)

    def handle(self, c, addr):
        try:
            start, f, rest = read_head(c)
        except EOFError:
            return
        self.handshakes.append((start, f))
        if self.refuse:
            body = b"no switch\n"
            c.sendall(b"HTTP/1.1 %d Nope\r\nContent-Length: %d\r\n\r\n%s"
                      % (self.refuse, len(body), body))
            # a keep-alive connection: serve one more plain request
            try:
                start, f, rest = read_head(c)
            except EOFError:
                return
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplain\n")
            return
        key = f["sec-websocket-key"].encode()
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key))
        assert rest == b"", rest
        while True:
            try:
                op, data = read_frame(c)
            except EOFError:
                return
            if op == 8:
                c.sendall(frame(8, data, masked=False))
                c.shutdown(socket.SHUT_WR)
                try:
                    while c.recv(4096):
                        pass
                except OSError:
                    pass
                return
            c.sendall(frame(op, data, masked=False))


def handshake(port, path="/chat", extra=b""):
    s = connect(port)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
              b"Sec-WebSocket-Version: 13\r\n%s\r\n" % (path.encode(), key, extra))
    return s, key


class WebSocketTest(unittest.TestCase):
    def setUp(self):
        self.fp = free_port()
        self.ap = free_port()
        self.ws = None

    def tearDown(self):
        if self.ws:
            self.ws.kill()

    def tern(self, be_extra="", refuse=None):
        self.ws = WsEchoServer(refuse=refuse)
        text = cfg_http(admin_port=self.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n%s    server ws 127.0.0.1:%d\n" % (self.fp, be_extra, self.ws.port))
        return Tern(text, admin_port=self.ap)

    def test_echo_through_the_tunnel(self):
        with self.tern() as t:
            s, key = handshake(self.fp)
            start, f, rest = read_head(s)
            self.assertEqual(start.split(" ", 2)[:2], ["HTTP/1.1", "101"])
            self.assertEqual(f["connection"].lower(), "upgrade")
            self.assertEqual(f["upgrade"], "websocket")
            self.assertEqual(f["sec-websocket-accept"].encode(), accept_key(key))
            self.assertEqual(rest, b"")
            # what the server saw
            sstart, sf = self.ws.handshakes[0]
            self.assertEqual(sstart, "GET /chat HTTP/1.1")
            self.assertEqual(sf["upgrade"], "websocket")
            self.assertEqual(sf["connection"].lower(), "upgrade")
            self.assertEqual(sf["sec-websocket-key"].encode(), key)
            self.assertEqual(sf["sec-websocket-version"], "13")
            # frames both ways: small, medium, a large binary one
            for payload in (b"hello", b"x" * 300, os.urandom(200000)):
                op = 1 if len(payload) < 1000 else 2
                s.sendall(frame(op, payload, masked=True))
                rop, data = read_frame(s)
                self.assertEqual((rop, data), (op, payload))
            # close handshake: the server closes after its close frame
            s.sendall(frame(8, b"\x03\xe8bye", masked=True))
            op, data = read_frame(s)
            self.assertEqual((op, data), (8, b"\x03\xe8bye"))
            self.assertEqual(s.recv(10), b"")  # the server's FIN, passed on
            s.close()
            d = poll_until(lambda: [x for x in http_access_log(t.stderr_text())
                                    if x["request"].startswith("GET /chat")],
                           desc="access-log line")[0]
            self.assertEqual(d["status"], 101)

    def test_client_half_close_is_passed_on(self):
        with self.tern():
            s, _ = handshake(self.fp)
            start, _, _ = read_head(s)
            self.assertIn(" 101 ", start)
            s.sendall(frame(1, b"last words", masked=True))
            s.shutdown(socket.SHUT_WR)
            # the server still answers, then sees the FIN and closes
            self.assertEqual(read_frame(s), (1, b"last words"))
            s.settimeout(5)
            self.assertEqual(s.recv(10), b"")
            s.close()

    def test_client_sending_before_the_101_is_not_lost(self):
        with self.tern():
            s, _ = handshake(self.fp)
            s.sendall(frame(1, b"eager", masked=True))  # before reading the 101
            start, _, rest = read_head(s)
            self.assertIn(" 101 ", start)
            # the echo may already be in `rest`
            buf = rest
            while len(buf) < 7:
                buf += s.recv(100)
            self.assertEqual(buf[:7], b"\x81\x05eager")
            s.close()

    def test_timeout_tunnel_cuts_an_idle_tunnel(self):
        with self.tern(be_extra="    timeout tunnel 400ms\n"):
            s, _ = handshake(self.fp)
            start, _, _ = read_head(s)
            self.assertIn(" 101 ", start)
            s.sendall(frame(1, b"ping", masked=True))
            self.assertEqual(read_frame(s), (1, b"ping"))
            t0 = time.monotonic()
            s.settimeout(5)
            self.assertEqual(s.recv(10), b"")
            self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            s.close()

    def test_refused_switch_is_a_normal_exchange(self):
        with self.tern(refuse=400):
            s, _ = handshake(self.fp)
            r = HttpReader(s)
            st, _, body, _ = r.response()
            self.assertEqual((st, body), (400, b"no switch\n"))
            s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            st, _, body, _ = r.response()
            self.assertEqual((st, body), (200, b"plain\n"))
            s.close()
            self.assertEqual(self.ws.accepted, 1)

    def test_upgrade_with_a_body_is_not_switched(self):
        with self.tern(refuse=200):
            s = connect(self.fp)
            s.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nContent-Length: 2\r\n\r\nhi")
            st, _, _, _ = HttpReader(s).response()
            self.assertEqual(st, 200)
            _, sf = self.ws.handshakes[0]
            self.assertNotIn("upgrade", sf)  # hop-by-hop: not forwarded
            s.close()

    def test_unrequested_101_is_a_bad_response(self):
        class Rogue(TcpServer):
            def handle(self, c, addr):
                read_head(c)
                c.sendall(b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
        rogue = Rogue()
        try:
            text = cfg_http(admin_port=self.ap) + (
                "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
                "    option tern-error-header\n\n"
                "backend be\n    server r 127.0.0.1:%d\n" % (self.fp, rogue.port))
            with Tern(text, admin_port=self.ap):
                s = connect(self.fp)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                st, hdrs, _, _ = HttpReader(s).response()
                self.assertEqual(st, 502)
                s.close()
        finally:
            rogue.kill()


if __name__ == "__main__":
    unittest.main()
