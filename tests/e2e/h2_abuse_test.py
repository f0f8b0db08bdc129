"""HTTP/2 abuse against tern's h2 listener with hand-written frames:
a CONTINUATION flood (a header block that never ends) and a PING flood from
a client that never reads its ACKs. Each gets its connection closed with
tern's memory bounded, while a normal client on the same worker is served."""

import socket
import struct
import time
import unittest

from ternlib import HttpBackend, Tern, cfg_http, free_port, http_get

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


SETTINGS = frame(4, 0, 0, b"")
# a literal header field without indexing, new name: "x-flood: aaa...": 4 KiB each
FIELD = b"\x00\x07x-flood\x7f\x81\x1f" + b"a" * 4096  # 127 + 3969 = 4096 (HPACK int)


def hpack_min_request():
    # :method GET (idx 2), :scheme http (idx 6), :path / (idx 4), :authority x
    return b"\x82\x86\x84\x41\x01x"


def closed(sock, timeout=10.0):
    """Reads (and drops) until EOF or reset; True when the peer closed."""
    sock.settimeout(timeout)
    end = time.time() + timeout
    try:
        while time.time() < end:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class H2AbuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = HttpBackend("b")
        cls.fp, cls.hp, cls.ap = free_port(), free_port(), free_port()
        cls.t = Tern(cfg_http(admin_port=cls.ap) + (
            "frontend fe\n    bind 127.0.0.1:%d proto h2\n    default_backend be\n\n"
            "frontend fe1\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
            "backend be\n    server s1 127.0.0.1:%d\n" % (cls.fp, cls.hp, cls.b.port)),
            admin_port=cls.ap)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        cls.b.kill()

    def test_continuation_flood_is_cut_with_bounded_memory(self):
        self.assertEqual(len(FIELD), 2 + 7 + 3 + 4096)
        rss0 = self.t.rss_kb()
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=10)
        s.sendall(PREFACE + SETTINGS + frame(1, 0, 1, hpack_min_request()))
        sent = 0
        cut = False
        try:
            # up to 64 MiB of CONTINUATION frames, never END_HEADERS
            for _ in range(16384):
                s.sendall(frame(9, 0, 1, FIELD))
                sent += len(FIELD)
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        self.assertTrue(cut or closed(s), "the flood was not cut")
        s.close()
        self.assertLess(sent, 8 << 20, "tern read %d bytes of one header block" % sent)
        # bounded: far below what was offered
        self.assertLess(self.t.rss_kb() - rss0, 16 * 1024)
        # others are served
        status, _, body = http_get(self.hp, "/after")[:3]
        self.assertEqual(status, 200)

    def test_ping_flood_without_reading_is_cut(self):
        s = socket.create_connection(("127.0.0.1", self.fp), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(PREFACE + SETTINGS)
        cut = False
        t0 = time.time()
        ping = frame(6, 0, 0, b"12345678") * 512
        try:
            while time.time() - t0 < 20:
                s.sendall(ping)  # never read: the ACKs pile up in tern
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut = True
        s.close()
        self.assertTrue(cut, "a PING flood that never reads its ACKs kept its connection")
        status = http_get(self.hp, "/after")[0]
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
