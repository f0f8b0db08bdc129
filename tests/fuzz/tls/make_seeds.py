#!/usr/bin/python3
"""Writes the seed corpus of tls_clienthello_fuzz (corpus/tls_clienthello/):
ClientHellos captured from `openssl s_client` (connected to a socket this
script listens on, then cut off), each also re-framed across small records,
plus a few malformed and non-TLS inputs. Run from the repository root:
    python3 tests/fuzz/tls/make_seeds.py
A file's name is its case and a hash of its bytes: rerunning adds, never
renames (s_client's random bytes differ on every run)."""
import hashlib
import os
import socket
import subprocess

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tls_clienthello")

CASES = {
    "tls13_sni_alpn": ["-servername", "www.example.com", "-alpn", "h2,http/1.1"],
    "tls12_only": ["-tls1_2", "-servername", "api.example.com"],
    "no_sni": ["-noservername"],
    "tls13_only_psk_groups": ["-tls1_3", "-groups", "P-256:X25519", "-servername", "a.wild.test"],
    "long_alpn": ["-alpn", ",".join("proto%02d" % i for i in range(30)), "-servername", "x.test"],
    "status_request": ["-status", "-servername", "ocsp.example.com"],
}


def capture(args):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    c, _ = ls.accept()
    data = b""
    while True:
        c.settimeout(5)
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) >= 9:
            need = 5 + (data[3] << 8 | data[4])
            if len(data) >= need:
                break
    c.close()
    ls.close()
    p.kill()
    p.wait()
    return data


def reframe(rec, size):
    msg = rec[5:]
    out = b""
    for i in range(0, len(msg), size):
        part = msg[i:i + size]
        out += bytes([22, 3, 1, len(part) >> 8, len(part) & 0xff]) + part
    return out


def write(name, data):
    h = hashlib.sha1(data).hexdigest()[:10]
    with open(os.path.join(OUT, "%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        rec = capture(args)
        write(name, rec)
        write(name + "_frag7", reframe(rec, 7))
        write(name + "_frag300", reframe(rec, 300))
        write(name + "_truncated", rec[: len(rec) // 2])
    write("http_get", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write("sslv2", bytes([0x80, 0x2e, 0x01, 0x00, 0x02]) + b"\x00" * 40)
    write("zero_record", bytes([22, 3, 1, 0, 0]))
    write("huge_hello", bytes([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]))
    write("server_hello", bytes([22, 3, 3, 0, 4, 2, 0, 0, 0]))


if __name__ == "__main__":
    main()
