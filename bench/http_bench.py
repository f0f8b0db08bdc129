#!/usr/bin/python3
"""HTTP/1.1 keep-alive benchmark: tern vs HAProxy vs nginx, same backend.

Run through bench/http_bench.sh (it installs packages, builds //proxy:tern and
raises the fd limit); this file is the driver, standard library only. It
reuses the machinery of tcp_bench.py (/proc readers, process handling, wrk
with its Lua report, idle-connection memory) and adds what HTTP needs.

Layout on a 2-CPU machine:
  CPU --backend-cpu (0): the backend nginx (1 worker) and wrk (1 thread)
  CPU --proxy-cpu   (1): the process under test, one worker:
    tern         mode http, option forwardfor, http-reuse safe, no log
    haproxy      the same configuration text
    tern+log     / haproxy+log: the same plus an access log line per request
    nginx-proxy  nginx reverse proxy: upstream keepalive 32, HTTP/1.1 to the
                 upstream, X-Forwarded-For, access_log off
    nginx-bare   nginx answering the request itself: the CPU floor
  plus the (direct) row: wrk straight to the backend.

Per run: requests/s (wrk), CPU time per request of the whole process under
test (every process and thread of it: nginx master + worker), the busy time of
the proxy CPU not spent by it ("other"), non-2xx/3xx answers and socket errors
(wrk), and the server connections the backend accepted during the run
(nginx stub_status): a proxy that reuses its server connections opens none
once warm, so a non-zero figure is connection churn.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcp_bench as tb  # noqa: E402  (shared machinery, same directory)

BODY = "tern bench: small static response\n"

# The backend; nginx-bare is the same text on the proxy CPU. /xff echoes the
# X-Forwarded-For the proxy sent (a check that forwardfor is on), and
# /bench_status counts the connections the backend accepted.
NGINX_BACKEND_CONF = """\
worker_processes 1;
worker_rlimit_nofile 19000;
pid {dir}/{name}.pid;
error_log {dir}/{name}-error.log warn;
daemon off;
events {{
    worker_connections 16000;
}}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
{temp}    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            return 200 "{body}";
        }}
        location = /xff {{
            return 200 "$http_x_forwarded_for";
        }}
        location = /bench_status {{
            stub_status;
        }}
    }}
}}
"""

# nginx as a reverse proxy with the options of the issue. keepalive_requests
# is raised on both sides so that nginx does not close a connection every
# 1000 requests (its default) while tern and HAProxy keep theirs forever.
NGINX_PROXY_CONF = """\
worker_processes 1;
worker_rlimit_nofile 19000;
pid {dir}/{name}.pid;
error_log {dir}/{name}-error.log warn;
daemon off;
events {{
    worker_connections 16000;
}}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
{temp}    upstream bench_backend {{
        server 127.0.0.1:{bport};
        keepalive {keepalive};
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""

NGINX_TEMP = """\
    client_body_temp_path {dir}/{name}-body;
    proxy_temp_path {dir}/{name}-proxy;
    fastcgi_temp_path {dir}/{name}-fastcgi;
    uwsgi_temp_path {dir}/{name}-uwsgi;
    scgi_temp_path {dir}/{name}-scgi;
"""

# One config text for tern and HAProxy (tern reads HAProxy syntax).
PROXY_CONF = """\
global
    nbthread 1
    maxconn 8000
{global_extra}defaults
    mode http
    maxconn 8000
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 300s
    option forwardfor
{defaults_extra}listen bench
    bind 127.0.0.1:{port}
    balance roundrobin
    http-reuse safe
    server s1 127.0.0.1:{bport}
"""
NOLOG_DEFAULTS = "    no log\n"
LOG_GLOBAL = "    log stdout format raw local0\n"
LOG_DEFAULTS = "    log global\n    option httplog\n"


def http_get(port, path, timeout=5.0):
    """One GET with Connection: close; returns (status line, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close"
                   "\r\n\r\n" % path).encode())
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), \
        body.decode(errors="replace")


class HttpBench(tb.Bench):
    # -- starting things ---------------------------------------------------

    def start_nginx(self, name, template, cpu, **kw):
        (port,) = tb.free_ports(1)
        conf = os.path.join(self.dir, "%s.conf" % name)
        fmt = dict(dir=self.dir, name=name, port=port, body=BODY.replace(
            "\n", "\\n"), **kw)
        fmt["temp"] = NGINX_TEMP.format(**fmt)
        with open(conf, "w") as f:
            f.write(template.format(**fmt))
        err = os.path.join(self.dir, "%s-error.log" % name)
        argv = self.taskset(cpu, [self.args.nginx, "-p", self.dir, "-c", conf,
                                  "-e", err])
        srv = tb.Server(name, argv, port, signal.SIGTERM, subprocess.DEVNULL,
                        open(err, "a"), err)
        self.servers.append(srv)
        srv.wait_ready()
        deadline = time.monotonic() + 5
        workers = []
        while not workers and time.monotonic() < deadline:
            workers = tb.children_of(srv.pid)
            time.sleep(0.02)
        if len(workers) != 1:
            raise RuntimeError("%s: expected 1 worker, found %r" % (
                name, workers))
        srv.worker_pid = workers[0]
        srv.pids = [srv.pid, srv.worker_pid]
        return srv

    def start_backend(self):
        self.backend = self.start_nginx("backend", NGINX_BACKEND_CONF,
                                        self.args.backend_cpu)
        return self.backend

    def proxy_conf(self, kind, port):
        log = kind.endswith("+log")
        path = os.path.join(self.dir, "%s-%d.cfg" % (kind, port))
        with open(path, "w") as f:
            f.write(PROXY_CONF.format(
                port=port, bport=self.backend.port,
                global_extra=LOG_GLOBAL if log else "",
                defaults_extra=LOG_DEFAULTS if log else NOLOG_DEFAULTS))
        return path

    def start_any(self, kind):
        if kind == "nginx-proxy":
            return self.start_nginx(kind, NGINX_PROXY_CONF,
                                    self.args.proxy_cpu,
                                    bport=self.backend.port,
                                    keepalive=self.args.nginx_keepalive)
        if kind == "nginx-bare":
            return self.start_nginx(kind, NGINX_BACKEND_CONF,
                                    self.args.proxy_cpu)
        srv = self.start_proxy(kind)
        srv.pids = [srv.pid]
        srv.worker_pid = srv.pid
        return srv

    # -- measuring ---------------------------------------------------------

    def backend_accepts(self):
        """Connections the backend accepted so far, not counting the
        status requests themselves."""
        status, body = http_get(self.backend.port, "/bench_status")
        if " 200" not in status:
            raise RuntimeError("backend stub_status: %s" % status)
        nums = body.splitlines()[2].split()
        self.status_reads = getattr(self, "status_reads", 0) + 1
        return int(nums[0]) - self.status_reads

    def measured_run(self, srv, mode, duration):
        pids = srv.pids if srv is not None else []

        def cpu():
            return sum(tb.proc_cpu_us(p) for p in pids)
        acc0 = self.backend_accepts()
        cpu0 = cpu()
        busy0 = tb.cpu_busy_us(self.args.proxy_cpu)
        t0 = time.monotonic()
        res = self.wrk(srv.port if srv else self.backend.port, mode, duration)
        wall = time.monotonic() - t0
        cpu1 = cpu()
        busy1 = tb.cpu_busy_us(self.args.proxy_cpu)
        acc1 = self.backend_accepts()
        if srv is not None:
            srv.check_alive("during a %s run" % mode)
        n = max(res["requests"], 1)
        return {
            "requests": res["requests"],
            "rps": res["requests"] / (res["duration_us"] / 1e6),
            "cpu_us": cpu1 - cpu0,
            "cpu_us_per_req": (cpu1 - cpu0) / n,
            "util": (cpu1 - cpu0) / 1e6 / wall,
            "other": max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / 1e6 / wall,
            "sock_errors": res["connect"] + res["read"] + res["write"] +
            res["timeout"],
            "non2xx": res["status"],
            "errors": res["connect"] + res["read"] + res["write"] +
            res["status"] + res["timeout"],
            # Server connections the backend accepted during the run (for
            # the direct and bare rows: wrk's own connections).
            "srv_conns": acc1 - acc0,
            "p50_us": res["p50_us"],
            "p99_us": res["p99_us"],
        }


def wait_quiet(max_wait, idle_share=0.85, window=5.0):
    """Wait (bounded) until every CPU was at least idle_share idle over one
    window; returns the idle shares of the last window."""
    def snap():
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    v = [int(x) for x in line.split()[1:]]
                    out[line.split()[0]] = (v[3] + v[4], sum(v[:8]))
        return out
    deadline = time.monotonic() + max_wait
    while True:
        a = snap()
        time.sleep(window)
        b = snap()
        idle = {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in b}
        if min(idle.values()) >= idle_share or time.monotonic() > deadline:
            return idle
        print("waiting for a quiet machine: idle %s" % " ".join(
            "%s %.0f%%" % (c, 100 * v) for c, v in sorted(idle.items())),
            file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# reporting

def ratio_cell(runs, a, b):
    ta = tb.med([r["cpu_us_per_req"] for r in runs[a]])
    tbb = tb.med([r["cpu_us_per_req"] for r in runs[b]])
    per = [x["cpu_us_per_req"] / y["cpu_us_per_req"]
           for x, y in zip(runs[a], runs[b])]
    return ta / tbb, min(per), max(per)


def print_report(args, info, names, runs, direct, idle, mem, verdicts, quiet):
    p = print
    p("")
    p("== HTTP/1.1 keep-alive: tern vs HAProxy vs nginx, one worker each ==")
    p("command : %s" % args.command)
    for k in ("date", "nproc", "cpu", "kernel", "tern", "haproxy", "nginx",
              "wrk"):
        if k in info:
            p("%-8s: %s" % (k, info[k]))
    p("quiet   : idle before start %s" % " ".join(
        "%s %.0f%%" % (c, 100 * v) for c, v in sorted(quiet.items())))
    p("layout  : backend nginx + wrk on CPU %d, process under test on CPU %d;"
      " %d rounds x %ds, wrk -t1 -c%d keep-alive; medians over rounds"
      % (args.backend_cpu, args.proxy_cpu, args.rounds, args.duration,
         args.conns))
    p("options : tern, haproxy: mode http, option forwardfor, http-reuse "
      "safe, keep-alive, no log (+log: option httplog); nginx-proxy: upstream "
      "keepalive %d, proxy_http_version 1.1, X-Forwarded-For, access_log off"
      % args.nginx_keepalive)
    p("")
    hdr = "%-12s %9s %11s %9s %6s %8s %8s %6s %6s %9s" % (
        "process", "req/s", "CPU us/req", "CPU", "other", "p50 us", "p99 us",
        "non2xx", "sockerr", "srvconns")
    p(hdr)
    p("-" * len(hdr))
    for name in names:
        rs = runs[name]
        p("%-12s %9.0f %11.2f %8.0f%% %5.0f%% %8.0f %8.0f %6d %7d %9d" % (
            name, tb.med([r["rps"] for r in rs]),
            tb.med([r["cpu_us_per_req"] for r in rs]),
            100 * tb.med([r["util"] for r in rs]),
            100 * tb.med([r["other"] for r in rs]),
            tb.med([r["p50_us"] for r in rs]),
            tb.med([r["p99_us"] for r in rs]),
            sum(r["non2xx"] for r in rs), sum(r["sock_errors"] for r in rs),
            sum(r["srv_conns"] for r in rs)))
    d = direct
    p("%-12s %9.0f %11s %9s %5.0f%% %8.0f %8.0f %6d %7d %9s" % (
        "(direct)", tb.med([r["rps"] for r in d]), "-", "-",
        100 * tb.med([r["other"] for r in d]),
        tb.med([r["p50_us"] for r in d]), tb.med([r["p99_us"] for r in d]),
        sum(r["non2xx"] for r in d), sum(r["sock_errors"] for r in d), "-"))
    others = [r["other"] for n in names for r in runs[n]]
    if others and tb.med(others) > 0.05:
        p("WARNING: other processes used %.0f%% (median) of the proxy's CPU "
          "during the runs: the machine was not quiet, figures are noisy"
          % (100 * tb.med(others)))
    p("CPU = CPU time of the process under test (all its processes and "
      "threads) / wall time; other = busy time of its CPU not spent by it; "
      "non2xx, sockerr: wrk's counts over all rounds; srvconns: connections "
      "the backend accepted during all measured runs (0 = every server "
      "connection reused)")
    p("")
    p("Ratios of CPU time per request (median / median; range: per-round "
      "pairs):")
    for a, b in (("tern", "haproxy"), ("tern", "nginx-proxy"),
                 ("tern+log", "haproxy+log"), ("haproxy", "nginx-proxy")):
        if a in names and b in names:
            r, lo, hi = ratio_cell(runs, a, b)
            p("  %-12s / %-12s %5.2f  (%.2f .. %.2f)" % (a, b, r, lo, hi))
    if "nginx-bare" in names:
        floor = tb.med([r["cpu_us_per_req"] for r in runs["nginx-bare"]])
        p("  above the floor (CPU us/req - nginx-bare's %.2f): %s" % (
            floor, ", ".join(
                "%s %+.2f" % (n, tb.med([r["cpu_us_per_req"]
                                         for r in runs[n]]) - floor)
                for n in names if n != "nginx-bare")))
    p("")
    p("Memory (Pss_Anon of the worker process):")
    hdr = "%-12s %12s %12s %18s %14s %12s %12s" % (
        "process", "idle start", "idle after", "idle conns", "per idle conn",
        "after close", "fds s/a/idle")
    p(hdr)
    p("-" * len(hdr))
    for name in names:
        st = idle.get(name, {})
        m = mem.get(name)
        p("%-12s %12s %12s %18s %14s %12s %12s" % (
            name,
            "%d kB" % st["start"] if "start" in st else "-",
            "%d kB" % st["after_load"] if "after_load" in st else "-",
            ("%d x: %d kB" % (m["n"], m["pss_idle_kb"])) if m else "-",
            ("%.0f B" % m["bytes_per_conn"]) if m else "-",
            ("%d kB" % m["pss_after_close_kb"]) if m else "-",
            "%s/%s/%s" % (st.get("fds_start", "-"),
                          st.get("fds_after_load", "-"),
                          m["fds_with_conns"] if m else "-")))
    p("idle start: right after start; idle after: after all load runs; per "
      "idle conn: fresh process, (Pss_Anon with N idle keep-alive client "
      "conns - before) / N, each conn did one request first (nginx: the "
      "worker process); fds: at start / after load / with the N idle conns")
    if verdicts:
        p("")
        p("Targets:")
        for v in verdicts:
            p("  " + v)


def verdict_lines(names, runs):
    out = []
    if "tern" not in names:
        return out
    t = tb.med([r["cpu_us_per_req"] for r in runs["tern"]])
    if "haproxy" in names:
        h = tb.med([r["cpu_us_per_req"] for r in runs["haproxy"]])
        out.append("tern CPU/request <= 0.8x HAProxy's: %.2f vs %.2f us = "
                   "%.2fx -> %s" % (t, h, t / h,
                                    "MET" if t <= 0.8 * h else "NOT MET"))
    if "nginx-proxy" in names:
        n = tb.med([r["cpu_us_per_req"] for r in runs["nginx-proxy"]])
        out.append("tern CPU/request < nginx's: %.2f vs %.2f us = %.2fx -> %s"
                   % (t, n, t / n, "MET" if t < n else "NOT MET"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tern", help="tern binary (omit: HAProxy and nginx)")
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--duration", type=int, default=2,
                    help="seconds per wrk run")
    ap.add_argument("--conns", type=int, default=50,
                    help="wrk concurrent connections")
    ap.add_argument("--idle-conns", type=int, default=2000,
                    help="idle connections for the memory test (0: skip)")
    ap.add_argument("--nginx-keepalive", type=int, default=32,
                    help="nginx-proxy: idle upstream connections kept "
                    "(upstream keepalive N; the issue's setting is 32)")
    ap.add_argument("--no-log-variants", action="store_true",
                    help="skip the tern+log and haproxy+log variants")
    ap.add_argument("--quiet-wait", type=int, default=120,
                    help="wait at most this many seconds for every CPU to "
                    "be >= 85%% idle before starting (0: do not wait)")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--backend-cpu", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="write raw results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary dir (configs, stderr logs)")
    ap.add_argument("--command", default=" ".join(sys.argv),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1 or args.rounds > 50 or args.duration < 1 or \
            args.duration > 60:
        ap.error("rounds in 1..50, duration in 1..60")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle_conns + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        ap.error("fd hard limit %d < %d needed for --idle-conns" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    names = (["tern"] if args.tern else []) + ["haproxy", "nginx-proxy"]
    if not args.no_log_variants:
        names += (["tern+log"] if args.tern else []) + ["haproxy+log"]
    names.append("nginx-bare")

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    b = HttpBench(args)
    info = tb.machine_info(args)
    runs = {n: [] for n in names}
    direct, idle, mem = [], {n: {} for n in names}, {}
    try:
        b.start_backend()
        for n in names:
            if n.startswith(("tern", "haproxy")):
                b.check_conf(n)
        procs = {}
        for n in names:
            procs[n] = b.start_any(n)
            pid = procs[n].worker_pid
            idle[n]["start"] = tb.stable_pss_kb(pid)
            idle[n]["fds_start"] = tb.fd_count(pid)
        # Sanity: every proxy answers 200 with the backend's body and sends
        # X-Forwarded-For: 127.0.0.1 (this warms nothing that matters: one
        # connection, then the uncounted warm-up runs).
        for n in names:
            st, body = http_get(procs[n].port, "/")
            if " 200" not in st or body != BODY:
                raise RuntimeError("%s: GET / gave %r %r" % (n, st, body))
            if n != "nginx-bare":
                st, body = http_get(procs[n].port, "/xff")
                if body.strip() != "127.0.0.1":
                    raise RuntimeError("%s: X-Forwarded-For seen by the "
                                       "backend: %r" % (n, body))
        # Warm-up (not counted).
        b.measured_run(None, "keepalive", 1)
        for n in names:
            b.measured_run(procs[n], "keepalive", 1)
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            if r % 2 == 0:
                direct.append(b.measured_run(None, "keepalive",
                                             args.duration))
            for n in order:
                res = b.measured_run(procs[n], "keepalive", args.duration)
                runs[n].append(res)
                print("round %d %-12s %8.0f req/s %7.2f us/req cpu %3.0f%% "
                      "other %3.0f%% non2xx %d sockerr %d srvconns %d" % (
                          r + 1, n, res["rps"], res["cpu_us_per_req"],
                          100 * res["util"], 100 * res["other"],
                          res["non2xx"], res["sock_errors"],
                          res["srv_conns"]), file=sys.stderr, flush=True)
        for n in names:
            pid, fds0 = procs[n].worker_pid, idle[n]["fds_start"]
            idle[n]["after_load"] = tb.stable_pss_kb(pid)
            # The proxies keep their idle server connections (pool): the
            # count after load includes them.
            deadline = time.monotonic() + 3
            while tb.fd_count(pid) > fds0 and time.monotonic() < deadline:
                time.sleep(0.05)
            idle[n]["fds_after_load"] = tb.fd_count(pid)
        for n in names:
            b.stop(procs[n])
        # Idle keep-alive client connections, each process freshly started.
        if args.idle_conns > 0:
            for n in names:
                if n.endswith("+log"):
                    continue
                srv = b.start_any(n)
                mem[n] = b.idle_conn_memory(srv.worker_pid, srv.port,
                                            args.idle_conns)
                print("idle conns %-12s %.0f B/conn (fds %d -> %d)" % (
                    n, mem[n]["bytes_per_conn"], mem[n]["fds_before"],
                    mem[n]["fds_with_conns"]), file=sys.stderr, flush=True)
                if mem[n]["fds_with_conns"] < mem[n]["fds_before"] + \
                        args.idle_conns:
                    raise RuntimeError("%s holds %d fds with %d idle conns"
                                       % (n, mem[n]["fds_with_conns"],
                                          args.idle_conns))
                b.stop(srv)
    finally:
        b.stop_all()
        if not args.keep:
            shutil.rmtree(b.dir, ignore_errors=True)
        else:
            print("kept: %s" % b.dir, file=sys.stderr)

    verdicts = verdict_lines(names, runs)
    print_report(args, info, names, runs, direct, idle, mem, verdicts, quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "args": vars(args), "runs": runs,
                       "direct": direct, "idle": idle, "idle_conns": mem,
                       "targets": verdicts}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
