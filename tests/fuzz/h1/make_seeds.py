#!/usr/bin/python3
"""Writes the seed corpora of the h1 fuzz targets (corpus/h1_request/ and
corpus/h1_response/): hand-written valid messages, plus every vector of the
unit tests (tests/unit/proxy/codec/*_test.c, the V("name", "bytes", ERR)
tables), so each smuggling case is a seed. Run from the repository root:
    python3 tests/fuzz/h1/make_seeds.py
Rerun after adding vectors to the unit tests; a file's name is its vector's
name and a hash of its bytes, so rerunning adds and never renames."""
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(ROOT, "..", "..", "unit", "proxy", "codec")


def c_unescape(lit):
    out = bytearray()
    i = 0
    simple = {"r": 13, "n": 10, "t": 9, "\\": 92, '"': 34, "'": 39, "0": 0}
    while i < len(lit):
        c = lit[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        e = lit[i + 1]
        if e == "x":
            j = i + 2
            while j < len(lit) and j < i + 4 and lit[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(lit[i + 2:j], 16))
            i = j
        else:
            out.append(simple[e])
            i += 2
    return bytes(out)


VEC = re.compile(r'V\(\s*"((?:[^"\\]|\\.)*)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*(H1_ERR_\w+)\)', re.S)
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


def vectors(path, start, end):
    src = open(path, encoding="latin-1").read()
    a = src.index(start)
    b = src.index(end, a)
    for m in VEC.finditer(src[a:b]):
        yield m.group(1), b"".join(c_unescape(x) for x in LIT.findall(m.group(2)))


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    fname = "%s-%s" % (slug(name)[:60], hashlib.sha1(data).hexdigest()[:8])
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


REQ = {
    "get": b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
    "get http10 keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "post content length": b"POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    "post chunked trailers": b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                             b"5;ext=\"q \\\" x\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
                 b"PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
                 b"DELETE /4 HTTP/1.1\r\nHost: a\r\n\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "options asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute form": b"GET http://user.example:8080/p/a%20th?x=y HTTP/1.1\r\nHost: other\r\nProxy-Connection: keep-alive\r\n\r\n",
    "websocket upgrade": b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "expect continue": b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "leading crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    "odd first byte limits": b"\x01GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "small limits": b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"1;aaaaaaaaaaaa\r\nx\r\n0\r\nT: 1\r\nU: 2\r\n\r\n",
}

RESP = {
    "ok length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "chunked trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4\r\nWiki\r\n5;a=b\r\npedia\r\n0\r\ngrpc-status: 0\r\n\r\n",
    "continue then ok": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "no content": b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "until close": b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall the rest is body",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
    "no reason": b"HTTP/1.1 503\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "obs text reason": b"HTTP/1.1 404 Introuvable \xe9\xff\r\nContent-Length: 0\r\n\r\n",
    "te gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
    "keepalive http10": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
}


def main():
    req_dir = os.path.join(ROOT, "corpus", "h1_request")
    resp_dir = os.path.join(ROOT, "corpus", "h1_response")
    for name, data in REQ.items():
        write(req_dir, "valid " + name, data)
    for name, data in RESP.items():
        write(resp_dir, "valid " + name, data)
    parse = os.path.join(TESTS, "h1_parse_test.c")
    chunked = os.path.join(TESTS, "h1_chunked_test.c")
    n = 0
    for name, data in vectors(parse, "bad_requests[] = {", "};"):
        write(req_dir, "bad " + name, data)
        n += 1
    for name, data in vectors(parse, "bad_responses[] = {", "};"):
        write(resp_dir, "bad " + name, data)
        n += 1
    # chunked vectors: as the body of a request and of a response
    for name, data in vectors(chunked, "bad[] = {", "};"):
        write(req_dir, "chunked " + name,
              b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
        write(resp_dir, "chunked " + name,
              b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
        n += 1
    print("wrote %d vectors + %d valid seeds" % (n, len(REQ) + len(RESP)), file=sys.stderr)


if __name__ == "__main__":
    main()
