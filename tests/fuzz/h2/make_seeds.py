#!/usr/bin/python3
"""Writes the seed corpus of h2_server_fuzz (corpus/h2_server/): what a client
sends on a prior-knowledge HTTP/2 connection, made with Debian's python3-h2
(valid requests, and malformed ones with its header validation turned off)
plus hand-built frames where h2 refuses to misbehave (CONTINUATION floods,
rapid reset, bad frame sizes).

The fuzzer answers a request to the fake server with the response picked by
the input's last byte (see h2_server_fuzz.c); some seeds get one byte
appended to reach each response kind (an incomplete frame header, which the
connection simply waits on).

Usage: /usr/bin/python3 tests/fuzz/h2/make_seeds.py   (rewrites the directory)
"""

import os
import struct

import h2.config
import h2.connection
import h2.settings

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_server")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7fffffff) + payload


def conn(validate=True):
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding=None,
        validate_outbound_headers=validate, normalize_outbound_headers=validate,
        validate_inbound_headers=False))
    c.initiate_connection()
    return c


def req(path="/", method="GET", extra=()):
    return [(b":method", method.encode()), (b":scheme", b"http"), (b":path", path.encode()),
            (b":authority", b"fuzz.example")] + [(k.encode(), v.encode()) for k, v in extra]


def seeds():
    # ---- valid ----
    c = conn()
    c.send_headers(1, req("/"), end_stream=True)
    yield "get", c.data_to_send()
    for k in range(8):   # the same GET against each fake-server response
        yield "get_resp%d" % k, _get_bytes(k)

    c = conn()
    c.send_headers(1, req("/ret"), end_stream=True)
    c.send_headers(3, req("/deny"), end_stream=True)
    c.send_headers(5, req("/none"), end_stream=True)
    c.send_headers(7, req("/x", extra=[("x-in", "v")]), end_stream=True)
    yield "local_replies", c.data_to_send()

    c = conn()
    c.send_headers(1, req("/post", "POST", [("content-length", "11"),
                                             ("content-type", "text/plain")]))
    c.send_data(1, b"hello world", end_stream=True)
    yield "post_length", c.data_to_send()

    c = conn()
    c.send_headers(1, req("/post", "POST", [("te", "trailers")]))
    c.send_data(1, b"part one ")
    c.send_data(1, b"part two")
    c.send_headers(1, [(b"x-checksum", b"abc"), (b"grpc-status", b"0")], end_stream=True)
    yield "post_trailers", c.data_to_send()

    c = conn()
    c.send_headers(1, req("/svc.Echo/Call", "POST", [("content-type", "application/grpc"),
                                                      ("te", "trailers"),
                                                      ("grpc-timeout", "100m")]))
    c.send_data(1, b"\x00\x00\x00\x00\x03abc", end_stream=True)
    yield "grpc_unary", c.data_to_send() + b"\x01"

    c = conn()
    for i in range(12):   # more than max-concurrent-streams (8)
        c.send_headers(1 + 2 * i, req("/s%d" % i), end_stream=True)
    yield "many_streams", c.data_to_send()

    c = conn()
    c.send_headers(1, req("/big"), end_stream=True)
    c.increment_flow_control_window(1 << 20)
    c.increment_flow_control_window(1 << 20, stream_id=1)
    yield "big_windows", c.data_to_send() + b"\x03"

    c = conn()
    c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0,
                       h2.settings.SettingCodes.MAX_FRAME_SIZE: 32768,
                       h2.settings.SettingCodes.HEADER_TABLE_SIZE: 0})
    c.send_headers(1, req("/zero-window"), end_stream=True)
    yield "zero_window", c.data_to_send() + b"\x03"

    c = conn()
    c.send_headers(1, req("/p"), end_stream=True)
    c.ping(b"12345678")
    c.send_headers(3, req("/q", extra=[("cookie", "a=1"), ("cookie", "b=2")]),
                   end_stream=True, priority_weight=200, priority_depends_on=1)
    c.close_connection()
    yield "ping_priority_goaway", c.data_to_send()

    c = conn()
    c.send_headers(1, req("/upload", "PUT", [("content-length", "100")]))
    c.send_data(1, b"x" * 40)
    c.reset_stream(1)
    yield "reset_mid_body", c.data_to_send()

    # ---- malformed headers (h2's validation off) ----
    bad = {
        "upper_name": req("/", extra=[("X-Upper", "v")]),
        "connection_field": req("/", extra=[("connection", "keep-alive")]),
        "te_gzip": req("/", extra=[("te", "gzip")]),
        "no_path": [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a")],
        "dup_method": req("/") + [(b":method", b"POST")],
        "pseudo_after": [(b":method", b"GET"), (b"x", b"y"), (b":path", b"/"),
                         (b":scheme", b"http")],
        "unknown_pseudo": req("/") + [(b":foo", b"bar")],
        "status_in_request": req("/") + [(b":status", b"200")],
        "empty_path": req(""),
        "bad_value": req("/", extra=[("x-a", "a\r\nb")]),
        "cl_mismatch": req("/", "POST", [("content-length", "3")]),
        "connect": [(b":method", b"CONNECT"), (b":authority", b"h:443")],
        "host_and_authority": req("/", extra=[("host", "other.example")]),
    }
    for name, hdrs in bad.items():
        c = conn(validate=False)
        c.send_headers(1, hdrs, end_stream=name != "cl_mismatch")
        if name == "cl_mismatch":
            c.send_data(1, b"too long body", end_stream=True)
        c.send_headers(3, req("/after"), end_stream=True)   # the connection goes on
        yield "bad_" + name, c.data_to_send()

    # ---- hand-built frames ----
    settings = frame(4, 0, 0, b"")
    get = b"\x82\x86\x84\x41\x01x"   # GET http / authority x, HPACK static table
    # CONTINUATION flood: no END_HEADERS, ever
    field = b"\x00\x07x-flood\x7f\x81\x07" + b"a" * 1000
    yield "continuation_flood", PREFACE + settings + frame(1, 0, 1, get) + \
        b"".join(frame(9, 0, 1, field) for _ in range(12))
    # an empty CONTINUATION flood
    yield "continuation_empty", PREFACE + settings + frame(1, 0, 1, get) + \
        b"".join(frame(9, 0, 1, b"") for _ in range(40))
    # rapid reset: HEADERS then RST_STREAM CANCEL, again and again
    yield "rapid_reset", PREFACE + settings + b"".join(
        frame(1, 5, sid, get) + frame(3, 0, sid, struct.pack(">I", 8))
        for sid in range(1, 80, 2))
    # frames of the wrong size or on the wrong stream
    yield "ping_bad_len", PREFACE + settings + frame(6, 0, 0, b"1234567")
    yield "settings_on_stream", PREFACE + settings + frame(4, 0, 1, b"")
    yield "window_zero_inc", PREFACE + settings + frame(1, 5, 1, get) + \
        frame(8, 0, 1, struct.pack(">I", 0))
    yield "window_overflow", PREFACE + settings + frame(8, 0, 0, struct.pack(">I", 0x7fffffff)) * 2
    yield "data_idle_stream", PREFACE + settings + frame(0, 1, 5, b"data")
    yield "headers_even_stream", PREFACE + settings + frame(1, 5, 2, get)
    yield "stream_id_down", PREFACE + settings + frame(1, 5, 5, get) + frame(1, 5, 3, get)
    yield "padded_bad", PREFACE + settings + frame(1, 0x0d, 1, b"\x40" + get)
    yield "unknown_frame", PREFACE + settings + frame(0xfa, 0xff, 1, b"xyz") + frame(1, 5, 1, get)
    yield "hpack_bad_index", PREFACE + settings + frame(1, 5, 1, b"\xff\xff\xff\x7f")
    yield "hpack_table_grow", PREFACE + settings + frame(1, 5, 1, b"\x3f\xe1\xff\x03" + get)
    yield "settings_flood", PREFACE + b"".join(frame(4, 0, 0, struct.pack(">HI", 3, i))
                                               for i in range(60))
    yield "ping_flood", PREFACE + settings + frame(6, 0, 0, b"8bytes!!") * 200
    yield "bad_preface", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings
    yield "h1_request", b"GET / HTTP/1.1\r\nhost: a\r\n\r\n"
    yield "priority_self", PREFACE + settings + frame(2, 0, 1, struct.pack(">IB", 1, 16))
    yield "goaway_then_headers", PREFACE + settings + frame(7, 0, 0, struct.pack(">II", 0, 0)) + \
        frame(1, 5, 1, get)


def _get_bytes(k):
    c = conn()
    c.send_headers(1, req("/"), end_stream=True)
    return c.data_to_send() + bytes([k])


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.unlink(os.path.join(OUT, f))
    n = 0
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        n += 1
    print("wrote %d seeds to %s" % (n, OUT))


if __name__ == "__main__":
    main()
