#!/usr/bin/python3
"""TLS termination benchmark: tern vs HAProxy 2.6, same certificate, same OpenSSL.

Run through bench/tls_bench.sh (it installs packages, builds //proxy:tern and
raises the fd limit); this file is the driver, standard library only. It
reuses http_bench.py (nginx backend, process handling, CPU accounting) and
changes the listener: `bind ... ssl crt <ECDSA P-256 cert> alpn http/1.1`,
one certificate generated at start with the openssl CLI and given to both.

Two modes, each a wrk -t1 -c<conns> run over https:
  handshake  `Connection: close`: every request is a new TCP connection and a
             full TLS handshake (wrk keeps no session: no resumption), so
             requests/s is handshakes/s and CPU per request is CPU per
             handshake (plus one small proxied request);
  keepalive  TLS keep-alive: requests on established TLS connections.
The backend is the plain-HTTP nginx of http_bench.py; both proxies keep their
server connections alive (http-reuse safe), so what differs is the TLS side.

Layout (2 CPUs): backend nginx + wrk on --backend-cpu, the proxy (one
thread) on --proxy-cpu; rounds alternate the order; medians over rounds.
"""

import argparse
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402
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
    bind 127.0.0.1:{port} ssl crt {crt} alpn http/1.1
    balance roundrobin
    http-reuse safe
    server s1 127.0.0.1:{bport}
"""

MODES = ("handshake", "keepalive")


def https_get(port, path="/", timeout=5.0):
    """One GET over TLS (no verification: the bench certificate is
    self-signed); returns (status line, body, TLS version, cipher)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="bench.local") as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close"
                       "\r\n\r\n" % path).encode())
            buf = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ssl.SSLError:
                    break
                if not chunk:
                    break
                buf += chunk
            version, cipher = s.version(), s.cipher()[0]
    head, _, body = buf.partition(b"\r\n\r\n")
    return (head.split(b"\r\n", 1)[0].decode(errors="replace"),
            body.decode(errors="replace"), version, cipher)


class TlsBench(hb.HttpBench):
    def make_cert(self):
        self.crt = os.path.join(self.dir, "bench.pem")
        key = os.path.join(self.dir, "bench.key")
        crt = os.path.join(self.dir, "bench.crt")
        subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "2", "-subj", "/CN=bench.local",
                        "-addext", "subjectAltName=DNS:bench.local"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(self.crt, "w") as out:
            for f in (crt, key):
                with open(f) as src:
                    out.write(src.read())

    def proxy_conf(self, kind, port):
        path = os.path.join(self.dir, "%s-%d.cfg" % (kind, port))
        with open(path, "w") as f:
            f.write(PROXY_CONF.format(port=port, bport=self.backend.port, crt=self.crt))
        return path

    def wrk(self, port, mode, duration):
        argv = ["wrk", "-t1", "-c%d" % self.args.conns, "-d%ds" % duration,
                "--timeout", "5s", "-s", self.lua]
        if mode == "handshake":
            argv += ["-H", "Connection: close"]
        scheme = "http" if port == self.backend.port else "https"
        argv.append("%s://127.0.0.1:%d/" % (scheme, port))
        r = subprocess.run(self.taskset(self.args.backend_cpu, argv),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=duration + 30)
        for line in r.stdout.splitlines():
            if line.startswith("BENCH "):
                kv = dict(x.split("=") for x in line.split()[1:])
                return {k: int(v) for k, v in kv.items()}
        raise RuntimeError("wrk gave no result (rc %d):\n%s\n%s" % (
            r.returncode, r.stdout, r.stderr))


def print_report(args, info, names, runs, tls_info, quiet):
    p = print
    p("")
    p("== TLS termination: tern vs HAProxy, one worker each, same certificate ==")
    p("command : %s" % args.command)
    for k in ("date", "nproc", "cpu", "kernel", "tern", "haproxy", "wrk"):
        if k in info:
            p("%-8s: %s" % (k, info[k]))
    p("openssl : %s" % subprocess.run(["openssl", "version"], stdout=subprocess.PIPE,
                                      universal_newlines=True).stdout.strip())
    if quiet:
        p("quiet   : idle before start %s" % " ".join(
            "%s %.0f%%" % (c, 100 * v) for c, v in sorted(quiet.items())))
    p("layout  : backend nginx + wrk on CPU %d, proxy on CPU %d; %d rounds x %ds, "
      "wrk -t1 -c%d; medians over rounds" % (args.backend_cpu, args.proxy_cpu,
                                            args.rounds, args.duration, args.conns))
    p("cert    : ECDSA P-256, self-signed, the same file for both; bind ... ssl crt "
      "<pem> alpn http/1.1")
    for n in names:
        p("tls     : %-8s %s %s" % (n, tls_info[n][0], tls_info[n][1]))
    p("")
    hdr = "%-10s %-9s %10s %11s %6s %6s %8s %8s" % (
        "mode", "process", "req/s", "CPU us/req", "CPU", "other", "p99 us", "errors")
    p(hdr)
    p("-" * len(hdr))
    for mode in MODES:
        for n in names:
            rs = runs[mode][n]
            p("%-10s %-9s %10.0f %11.2f %5.0f%% %5.0f%% %8.0f %8d" % (
                mode, n, tb.med([r["rps"] for r in rs]),
                tb.med([r["cpu_us_per_req"] for r in rs]),
                100 * tb.med([r["util"] for r in rs]),
                100 * tb.med([r["other"] for r in rs]),
                tb.med([r["p99_us"] for r in rs]), sum(r["errors"] for r in rs)))
    if "tern" in names:
        p("")
        for mode in MODES:
            t = [r["cpu_us_per_req"] for r in runs[mode]["tern"]]
            h = [r["cpu_us_per_req"] for r in runs[mode]["haproxy"]]
            per = [x / y for x, y in zip(t, h)]
            tr = [r["rps"] for r in runs[mode]["tern"]]
            hr = [r["rps"] for r in runs[mode]["haproxy"]]
            p("%-10s tern/HAProxy CPU per request %.3f (rounds %.3f..%.3f); "
              "req/s ratio %.3f" % (mode, tb.med(t) / tb.med(h), min(per), max(per),
                                    tb.med(tr) / tb.med(hr)))
        hs = tb.med([r["rps"] for r in runs["handshake"]["tern"]]) / \
            tb.med([r["rps"] for r in runs["handshake"]["haproxy"]])
        hs_cpu = tb.med([r["cpu_us_per_req"] for r in runs["handshake"]["tern"]]) / \
            tb.med([r["cpu_us_per_req"] for r in runs["handshake"]["haproxy"]])
        ka = tb.med([r["cpu_us_per_req"] for r in runs["keepalive"]["tern"]]) / \
            tb.med([r["cpu_us_per_req"] for r in runs["keepalive"]["haproxy"]])
        p("")
        p("target: handshakes/s >= HAProxy's: %.3fx (CPU per handshake %.3fx): %s" % (
            hs, hs_cpu, "MET" if hs >= 1.0 else "NOT MET"))
        p("target: TLS keep-alive CPU/request <= 0.85x HAProxy's: %.3fx: %s" % (
            ka, "MET" if ka <= 0.85 else "NOT MET"))


def add_common_args(ap, tool):
    """The options every side-by-side bench (tls_bench, h2_bench) shares."""
    ap.add_argument("--tern", help="tern binary (omit: HAProxy only)")
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=3, help="seconds per %s run" % tool)
    ap.add_argument("--quiet-wait", type=int, default=60,
                    help="wait at most this many seconds for every CPU to be >= 85%% "
                    "idle before starting (0: do not wait)")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--backend-cpu", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="write raw results here")
    ap.add_argument("--command", default=" ".join(sys.argv), help=argparse.SUPPRESS)


def check_common_args(ap, args):
    """Bounds of the shared options; every descriptor the hard limit allows;
    SIGTERM ends the run through the normal clean-up."""
    if args.rounds < 1 or args.rounds > 50 or args.duration < 1 or args.duration > 60:
        ap.error("rounds in 1..50, duration in 1..60")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap, "wrk")
    ap.add_argument("--conns", type=int, default=50, help="wrk concurrent connections")
    args = ap.parse_args()
    check_common_args(ap, args)
    names = (["tern"] if args.tern else []) + ["haproxy"]

    quiet = hb.wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    b = TlsBench(args)
    info = tb.machine_info(args)
    runs = {m: {n: [] for n in names} for m in MODES}
    tls_info = {}
    try:
        b.make_cert()
        b.start_backend()
        for n in names:
            b.check_conf(n)
        procs = {n: b.start_any(n) for n in names}
        for n in names:
            st, body, version, cipher = https_get(procs[n].port)
            if " 200" not in st or body != hb.BODY:
                raise RuntimeError("%s: GET / over TLS gave %r %r" % (n, st, body))
            tls_info[n] = (version, cipher)
        for n in names:  # warm-up, not counted
            for mode in MODES:
                b.measured_run(procs[n], mode, 1)
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for mode in MODES:
                for n in order:
                    res = b.measured_run(procs[n], mode, args.duration)
                    runs[mode][n].append(res)
                    print("round %d %-9s %-8s %8.0f req/s %8.2f us/req cpu %3.0f%% other "
                          "%3.0f%% errors %d" % (r + 1, mode, n, res["rps"],
                                                 res["cpu_us_per_req"], 100 * res["util"],
                                                 100 * res["other"], res["errors"]),
                          file=sys.stderr, flush=True)
    finally:
        b.stop_all()
    print_report(args, info, names, runs, tls_info, quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "runs": runs, "tls": tls_info}, f, indent=1)


if __name__ == "__main__":
    main()
