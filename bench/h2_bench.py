#!/usr/bin/python3
"""HTTP/2 benchmark: h2load through tern and HAProxy 2.6 (h2c to the client;
HTTP/1.1 or h2c to the same nginx backend), one worker each.

Run through bench/h2_bench.sh (it installs packages, builds //proxy:tern and
raises the fd limit); this file is the driver, standard library only. It
reuses http_bench.py (nginx backend, process handling, CPU accounting) and
changes the listener to `bind ... proto h2` (cleartext, prior knowledge: the
same keyword in both) and the load generator to nghttp2's h2load:
`h2load -t1 -c<conns> -m<streams> -D<seconds>` on one URL, so each
connection carries <streams> concurrent streams. Both proxies keep their
server connections alive (http-reuse safe).

Modes (--modes): h2->h1, the server is nginx over HTTP/1.1; h2->h2, the same
nginx over h2c (`listen ... http2` without ssl: nginx 1.22 speaks HTTP/2 with
prior knowledge there) with `server ... proto h2` in both proxies.

Layout (2 CPUs): backend nginx + h2load on --backend-cpu, the proxy (one
thread) on --proxy-cpu; rounds alternate the order; medians over rounds.
CPU per request is the proxy's user+system time over the requests h2load
counted as succeeded.

Memory per idle HTTP/2 connection (--idle-conns N, 0 skips it): each proxy
freshly started (h2->h1 config), N client connections opened one after the
other, each doing the preface, one GET on stream 1 read to its end, then
left open; (Pss_Anon with them - before) / N, as http_bench does for
HTTP/1.1 keep-alive connections.
"""

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402
import tls_bench as tlsb  # noqa: E402
import tcp_bench as tb  # noqa: E402

PROXY_CONF = """\
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    maxconn 8000
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 300s
    option forwardfor
    no log
listen bench
    bind 127.0.0.1:{port} proto h2
    balance roundrobin
    http-reuse safe
    server s1 127.0.0.1:{bport}{proto}
"""

MODES = ("h2->h1", "h2->h2")

# The backend: http_bench's nginx plus the same answer over h2c on a second
# port (`http2` without `ssl`: HTTP/2 with prior knowledge).
H2_SERVER_BLOCK = """\
    server {{
        listen 127.0.0.1:{h2port} http2 backlog=4096;
        http2_max_concurrent_streams 128;
        location / {{
            return 200 "{body}";
        }}
    }}
"""
BACKEND_CONF = hb.NGINX_BACKEND_CONF.rstrip()[:-2] + H2_SERVER_BLOCK + "}}\n"  # in http {}

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def h2_get_once(port):
    """A connection that did one GET / on stream 1 (read to END_STREAM,
    status 200), left open. HPACK by hand: :method GET, :scheme http,
    :path / from the static table, :authority as a literal."""
    auth = b"bench"
    block = b"\x82\x86\x84\x41" + bytes([len(auth)]) + auth
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(PREFACE + h2_frame(4, 0, 0, b"") +
                  h2_frame(1, 0x5, 1, block))  # HEADERS, END_STREAM|END_HEADERS
        buf, status_ok = b"", False
        while True:
            while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
                d = s.recv(65536)
                if not d:
                    raise RuntimeError("h2 connection closed before the response")
                buf += d
            n = int.from_bytes(buf[:3], "big")
            ftype, flags = buf[3], buf[4]
            sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
            payload, buf = buf[9:9 + n], buf[9 + n:]
            if ftype == 4 and not flags & 1:
                s.sendall(h2_frame(4, 1, 0, b""))  # SETTINGS ACK
            elif ftype == 7:
                raise RuntimeError("GOAWAY from the proxy: %r" % payload)
            elif sid == 1 and ftype == 3:
                raise RuntimeError("RST_STREAM from the proxy")
            elif sid == 1 and ftype == 1:
                # ":status: 200" is static-table entry 8 (0x88) in both proxies
                status_ok = status_ok or payload[:1] == b"\x88"
            if sid == 1 and ftype in (0, 1) and flags & 1:
                if not status_ok:
                    raise RuntimeError("no 200 status on stream 1")
                return s
    except BaseException:
        s.close()
        raise


class H2Bench(hb.HttpBench):
    mode = MODES[0]

    def start_backend(self):
        (self.h2port,) = tb.free_ports(1)
        self.backend = self.start_nginx("backend", BACKEND_CONF, self.args.backend_cpu,
                                        h2port=self.h2port)
        return self.backend

    def proxy_conf(self, kind, port):
        path = os.path.join(self.dir, "%s-%d.cfg" % (kind, port))
        h2 = self.mode == "h2->h2"
        with open(path, "w") as f:
            f.write(PROXY_CONF.format(port=port,
                                      bport=self.h2port if h2 else self.backend.port,
                                      proto=" proto h2" if h2 else ""))
        return path

    def open_idle(self, port, n):
        """tcp_bench's idle_conn_memory hook: n HTTP/2 connections that each
        did one request, open and idle."""
        socks = []
        deadline = time.monotonic() + 120
        try:
            for _ in range(n):
                if time.monotonic() > deadline:
                    raise RuntimeError("opening idle h2 connections: too slow")
                socks.append(h2_get_once(port))
        except BaseException:
            for s in socks:
                s.close()
            raise
        return socks

    def wrk(self, port, mode, duration):
        """One h2load run; returns measured_run's fields."""
        argv = ["h2load", "-t1", "-c%d" % self.args.conns, "-m%d" % self.args.streams,
                "-D%d" % duration, "http://127.0.0.1:%d/" % port]
        r = subprocess.run(self.taskset(self.args.backend_cpu, argv), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=duration + 30)
        out = r.stdout
        fin = re.search(r"finished in ([\d.]+)(m?s),", out)
        req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                        r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        lat = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+"
                        r"([\d.]+)(us|ms|s)", out)
        if not (fin and req and codes and lat) or r.returncode != 0:
            raise RuntimeError("h2load gave no result (rc %d):\n%s\n%s" % (
                r.returncode, out, r.stderr))
        unit = {"us": 1, "ms": 1000, "s": 1000000}
        secs = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
        return {
            "requests": int(req.group(4)),
            "duration_us": secs * 1e6,
            "connect": 0, "read": 0, "write": 0,
            "status": int(req.group(5)) + int(req.group(6)) + int(codes.group(3)) +
            int(codes.group(4)),
            "timeout": int(req.group(7)),
            # h2load gives no percentiles: mean and max of the request times
            "p50_us": float(lat.group(5)) * unit[lat.group(6)],
            "p99_us": float(lat.group(3)) * unit[lat.group(4)],
        }


def print_report(args, info, names, runs, mem, quiet):
    p = print
    p("")
    p("== HTTP/2 (h2c to the client; HTTP/1.1 or h2c to nginx): tern vs HAProxy, "
      "one worker each ==")
    p("command : %s" % args.command)
    for k in ("date", "nproc", "cpu", "kernel", "tern", "haproxy"):
        if k in info:
            p("%-8s: %s" % (k, info[k]))
    p("h2load  : %s" % subprocess.run(["h2load", "--version"], stdout=subprocess.PIPE,
                                      universal_newlines=True).stdout.strip())
    if quiet:
        p("quiet   : idle before start %s" % " ".join(
            "%s %.0f%%" % (c, 100 * v) for c, v in sorted(quiet.items())))
    p("layout  : backend nginx + h2load on CPU %d, proxy on CPU %d; %d rounds x %ds, "
      "h2load -t1 -c%d -m%d; medians over rounds" % (
          args.backend_cpu, args.proxy_cpu, args.rounds, args.duration, args.conns,
          args.streams))
    p("")
    hdr = "%-8s %-9s %10s %11s %6s %6s %9s %8s" % (
        "mode", "process", "req/s", "CPU us/req", "CPU", "other", "mean us", "errors")
    p(hdr)
    p("-" * len(hdr))
    for mode in args.modes:
        for n in names:
            rs = runs[mode][n]
            p("%-8s %-9s %10.0f %11.2f %5.0f%% %5.0f%% %9.0f %8d" % (
                mode, n, tb.med([r["rps"] for r in rs]),
                tb.med([r["cpu_us_per_req"] for r in rs]),
                100 * tb.med([r["util"] for r in rs]), 100 * tb.med([r["other"] for r in rs]),
                tb.med([r["p50_us"] for r in rs]), sum(r["errors"] for r in rs)))
    if "tern" in names:
        p("")
        for mode in args.modes:
            t = [r["cpu_us_per_req"] for r in runs[mode]["tern"]]
            h = [r["cpu_us_per_req"] for r in runs[mode]["haproxy"]]
            per = [x / y for x, y in zip(t, h)]
            tr = [r["rps"] for r in runs[mode]["tern"]]
            hr = [r["rps"] for r in runs[mode]["haproxy"]]
            ratio = tb.med(t) / tb.med(h)
            p("%s tern/HAProxy CPU per request %.3f (rounds %.3f..%.3f); req/s ratio %.3f" % (
                mode, ratio, min(per), max(per), tb.med(tr) / tb.med(hr)))
            p("  target: CPU/request <= HAProxy's: %.3fx: %s" % (
                ratio, "MET" if ratio <= 1.0 else "NOT MET"))
    if mem:
        p("")
        p("memory per idle HTTP/2 connection (%d connections, each did one GET, "
          "Pss_Anon delta / N):" % args.idle_conns)
        for n in names:
            m = mem[n]
            p("  %-9s %8.0f B/conn (Pss_Anon %d -> %d kB; fds %d -> %d)" % (
                n, m["bytes_per_conn"], m["pss_before_kb"], m["pss_idle_kb"],
                m["fds_before"], m["fds_with_conns"]))
        if "tern" in names:
            t, h = mem["tern"]["bytes_per_conn"], mem["haproxy"]["bytes_per_conn"]
            p("  target: memory per idle h2 connection <= HAProxy's: %.0f vs %.0f B: %s" % (
                t, h, "MET" if t <= h else "NOT MET"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    tlsb.add_common_args(ap, "h2load")
    ap.add_argument("--conns", type=int, default=4, help="h2load connections")
    ap.add_argument("--streams", type=int, default=25,
                    help="h2load concurrent streams per connection")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated, of %s" % ", ".join(MODES))
    ap.add_argument("--idle-conns", type=int, default=1000,
                    help="idle h2 connections for the memory test (0: skip)")
    args = ap.parse_args()
    tlsb.check_common_args(ap, args)
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m not in MODES for m in args.modes):
        ap.error("--modes: a comma-separated list of %s" % ", ".join(MODES))
    if args.idle_conns < 0 or args.idle_conns > 20000:
        ap.error("--idle-conns in 0..20000")

    names = (["tern"] if args.tern else []) + ["haproxy"]

    quiet = hb.wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    b = H2Bench(args)
    info = tb.machine_info(args)
    runs = {m: {n: [] for n in names} for m in args.modes}
    mem = {}
    try:
        b.start_backend()
        for mode in args.modes:
            b.mode = mode
            for n in names:
                b.check_conf(n)
            procs = {n: b.start_any(n) for n in names}
            for n in names:  # warm-up (and a check that h2 works), not counted
                res = b.measured_run(procs[n], mode, 1)
                if res["requests"] == 0 or res["errors"]:
                    raise RuntimeError("%s %s: warm-up h2load run failed: %r" % (n, mode, res))
            for r in range(args.rounds):
                order = names if r % 2 == 0 else names[::-1]
                for n in order:
                    res = b.measured_run(procs[n], mode, args.duration)
                    runs[mode][n].append(res)
                    print("%s round %d %-9s %8.0f req/s %8.2f us/req cpu %3.0f%% other %3.0f%% "
                          "errors %d" % (mode, r + 1, n, res["rps"], res["cpu_us_per_req"],
                                         100 * res["util"], 100 * res["other"], res["errors"]),
                          file=sys.stderr, flush=True)
            for n in names:
                b.stop(procs[n])
        if args.idle_conns:
            b.mode = MODES[0]
            for n in names:
                srv = b.start_any(n)
                mem[n] = b.idle_conn_memory(srv.worker_pid, srv.port, args.idle_conns)
                print("idle h2 conns %-9s %.0f B/conn (fds %d -> %d)" % (
                    n, mem[n]["bytes_per_conn"], mem[n]["fds_before"],
                    mem[n]["fds_with_conns"]), file=sys.stderr, flush=True)
                if mem[n]["fds_with_conns"] < mem[n]["fds_before"] + args.idle_conns:
                    raise RuntimeError("%s holds %d fds with %d idle h2 conns" % (
                        n, mem[n]["fds_with_conns"], args.idle_conns))
                b.stop(srv)
    finally:
        b.stop_all()
    print_report(args, info, names, runs, mem, quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "runs": runs, "idle_conns": mem}, f, indent=1)


if __name__ == "__main__":
    main()
