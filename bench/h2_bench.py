#!/usr/bin/python3
"""HTTP/2 benchmark: h2load through tern and HAProxy 2.6 (h2c to the client,
HTTP/1.1 to the same nginx backend), one worker each.

Run through bench/h2_bench.sh (it installs packages, builds //proxy:tern and
raises the fd limit); this file is the driver, standard library only. It
reuses http_bench.py (nginx backend, process handling, CPU accounting) and
changes the listener to `bind ... proto h2` (cleartext, prior knowledge: the
same keyword in both) and the load generator to nghttp2's h2load:
`h2load -t1 -c<conns> -m<streams> -D<seconds>` on one URL, so each
connection carries <streams> concurrent streams. Both proxies keep their
server connections alive (http-reuse safe).

Layout (2 CPUs): backend nginx + h2load on --backend-cpu, the proxy (one
thread) on --proxy-cpu; rounds alternate the order; medians over rounds.
CPU per request is the proxy's user+system time over the requests h2load
counted as succeeded.
"""

import argparse
import json
import os
import re
import subprocess
import sys

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
    server s1 127.0.0.1:{bport}
"""

MODE = "h2->h1"


class H2Bench(hb.HttpBench):
    def proxy_conf(self, kind, port):
        path = os.path.join(self.dir, "%s-%d.cfg" % (kind, port))
        with open(path, "w") as f:
            f.write(PROXY_CONF.format(port=port, bport=self.backend.port))
        return path

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


def print_report(args, info, names, runs, quiet):
    p = print
    p("")
    p("== HTTP/2 (h2c to the client, HTTP/1.1 to nginx): tern vs HAProxy, one worker each ==")
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
    for n in names:
        rs = runs[n]
        p("%-8s %-9s %10.0f %11.2f %5.0f%% %5.0f%% %9.0f %8d" % (
            MODE, n, tb.med([r["rps"] for r in rs]), tb.med([r["cpu_us_per_req"] for r in rs]),
            100 * tb.med([r["util"] for r in rs]), 100 * tb.med([r["other"] for r in rs]),
            tb.med([r["p50_us"] for r in rs]), sum(r["errors"] for r in rs)))
    if "tern" in names:
        t = [r["cpu_us_per_req"] for r in runs["tern"]]
        h = [r["cpu_us_per_req"] for r in runs["haproxy"]]
        per = [x / y for x, y in zip(t, h)]
        tr = [r["rps"] for r in runs["tern"]]
        hr = [r["rps"] for r in runs["haproxy"]]
        ratio = tb.med(t) / tb.med(h)
        p("")
        p("%s tern/HAProxy CPU per request %.3f (rounds %.3f..%.3f); req/s ratio %.3f" % (
            MODE, ratio, min(per), max(per), tb.med(tr) / tb.med(hr)))
        p("target: CPU/request <= HAProxy's: %.3fx: %s" % (
            ratio, "MET" if ratio <= 1.0 else "NOT MET"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    tlsb.add_common_args(ap, "h2load")
    ap.add_argument("--conns", type=int, default=4, help="h2load connections")
    ap.add_argument("--streams", type=int, default=25,
                    help="h2load concurrent streams per connection")
    args = ap.parse_args()
    tlsb.check_common_args(ap, args)

    names = (["tern"] if args.tern else []) + ["haproxy"]

    quiet = hb.wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    b = H2Bench(args)
    info = tb.machine_info(args)
    runs = {n: [] for n in names}
    try:
        b.start_backend()
        for n in names:
            b.check_conf(n)
        procs = {n: b.start_any(n) for n in names}
        for n in names:  # warm-up (and a check that h2 works), not counted
            res = b.measured_run(procs[n], MODE, 1)
            if res["requests"] == 0 or res["errors"]:
                raise RuntimeError("%s: warm-up h2load run failed: %r" % (n, res))
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                res = b.measured_run(procs[n], MODE, args.duration)
                runs[n].append(res)
                print("round %d %-9s %8.0f req/s %8.2f us/req cpu %3.0f%% other %3.0f%% "
                      "errors %d" % (r + 1, n, res["rps"], res["cpu_us_per_req"],
                                     100 * res["util"], 100 * res["other"], res["errors"]),
                      file=sys.stderr, flush=True)
    finally:
        b.stop_all()
    print_report(args, info, names, runs, quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
