"""Half-close in both directions: a client's shutdown(SHUT_WR) reaches the
server as EOF while the server can still answer; a server's half-close
reaches the client while the client can still send."""

import socket
import unittest

from ternlib import (PatternStream, SinkServer, Tern, TcpServer, cfg_head, connect, free_port,
                     pattern_bytes, poll_until, recv_all, recv_line)


class ByeServer(TcpServer):
    """Sends "bye\\n", half-closes, then counts what it still receives."""

    def __init__(self, **kw):
        self.received = []
        super().__init__(**kw)

    def handle(self, c, addr):
        c.sendall(b"bye\n")
        c.shutdown(socket.SHUT_WR)
        with self.lock:
            self.received.append(len(recv_all(c)))


def config(fp, port):
    return cfg_head(nbthread=1) + (
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
        "backend be\n    server s1 127.0.0.1:%d\n" % (fp, port))


class HalfCloseTest(unittest.TestCase):
    def test_client_half_close(self):
        sink = SinkServer()
        fp = free_port()
        try:
            with Tern(config(fp, sink.port)):
                c = connect(fp)
                n = 3 * 1024 * 1024 + 17
                c.sendall(pattern_bytes(n))
                c.shutdown(socket.SHUT_WR)
                reply = recv_line(c).decode()
                self.assertEqual(reply, "%d %s" % (n, PatternStream.digest_of_pattern(n)))
                self.assertEqual(c.recv(10), b"")  # then EOF
                c.close()
        finally:
            sink.kill()

    def test_server_half_close(self):
        bye = ByeServer()
        fp = free_port()
        try:
            with Tern(config(fp, bye.port)):
                c = connect(fp)
                self.assertEqual(recv_all(c), b"bye\n")  # EOF after bye
                n = 500_000
                c.sendall(pattern_bytes(n))  # the other way still works
                c.shutdown(socket.SHUT_WR)
                poll_until(lambda: bye.received == [n], desc="server got the data")
                c.close()
        finally:
            bye.kill()


if __name__ == "__main__":
    unittest.main()
