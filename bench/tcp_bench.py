#!/usr/bin/python3
"""Side-by-side TCP-mode benchmark: tern vs HAProxy, same backend, same CPU.

Run through bench/tcp_bench.sh (it installs packages, builds //proxy:tern and
raises the fd limit); this file is the driver and uses only the Python
standard library.

Layout on a 2-CPU machine:
  CPU --backend-cpu (0): nginx (1 worker, the backend) and wrk (1 thread)
  CPU --proxy-cpu   (1): each proxy, one worker thread, all of its threads
All traffic is on 127.0.0.1; every loop is bounded in count and time.

What is measured (see bench/README.md for the reasoning):
  * close mode: wrk with "Connection: close": one TCP connection per request,
    so proxy CPU / requests = proxy CPU per proxied connection;
  * keep-alive mode: wrk over persistent connections: CPU per request;
  * proxy CPU = utime + stime of the whole process (all threads), read from
    /proc/PID/stat before and after each wrk run;
  * Pss_Anon (/proc/PID/smaps_rollup) at idle after start and after load;
  * memory per idle keep-alive connection: fresh proxy, N client connections
    opened one after another, each doing one request/response then left idle,
    (Pss_Anon after - before) / N.
Runs alternate the order of the proxies round by round; figures are medians.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# /proc helpers


def proc_cpu_split_us(pid):
    """(utime, stime) of the whole process (all threads), in microseconds:
    the time it spent in user space and in the kernel."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return int(fields[11]) * 1e6 / CLK_TCK, int(fields[12]) * 1e6 / CLK_TCK


def proc_cpu_us(pid):
    """utime + stime of the whole process (all threads), in microseconds."""
    return sum(proc_cpu_split_us(pid))


def pss_anon_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss_Anon in /proc/%d/smaps_rollup" % pid)


def cpu_busy_us(cpu):
    """Busy time (all but idle and iowait) of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % cpu):
                v = [int(x) for x in line.split()[1:]]
                return (sum(v[:8]) - v[3] - v[4]) * 1e6 / CLK_TCK
    raise RuntimeError("cpu%d not in /proc/stat" % cpu)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def stable_pss_kb(pid, timeout=3.0):
    """Poll Pss_Anon until two reads 100 ms apart agree (bounded)."""
    deadline = time.monotonic() + timeout
    prev = pss_anon_kb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = pss_anon_kb(pid)
        if cur == prev:
            return cur
        prev = cur
    return prev


def is_listening(port):
    """True if some socket LISTENs on 127.0.0.1:port (no connection made,
    so readiness checks do not warm the proxy's allocators)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    return False


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


# --------------------------------------------------------------------------
# processes


class Server:
    """A process we started; stop() ends exactly this pid."""

    def __init__(self, name, argv, port, stop_sig, stdout, stderr, errlog):
        self.name = name
        self.port = port
        self.stop_sig = stop_sig
        self.errlog = errlog
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=stdout, stderr=stderr)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self, what):
        if not self.alive():
            tail = ""
            if self.errlog and os.path.exists(self.errlog):
                with open(self.errlog, errors="replace") as f:
                    tail = f.read()[-2000:]
            raise RuntimeError("%s exited (status %s) %s\n%s" % (
                self.name, self.popen.returncode, what, tail))

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive("before listening")
            if is_listening(self.port):
                return
            time.sleep(0.02)
        raise RuntimeError("%s not listening on %d after %.0fs" % (
            self.name, self.port, timeout))

    def stop(self):
        if self.popen.poll() is not None:
            return
        try:
            self.popen.send_signal(self.stop_sig)
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)


NGINX_CONF = """\
worker_processes 1;
worker_rlimit_nofile 19000;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
daemon off;
events {{
    worker_connections 16000;
}}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            return 200 "tern bench: small static response\\n";
        }}
    }}
}}
"""

# One config text for both proxies (tern reads HAProxy syntax). Global
# maxconn is 8000, not 10000: the hard fd limit here is 20000 and HAProxy
# wants about 2 x maxconn descriptors.
PROXY_CONF = """\
global
    nbthread 1
    maxconn 8000
{global_extra}defaults
    mode tcp
    maxconn 8000
    timeout connect 5s
    timeout client 60s
    timeout server 60s
{defaults_extra}listen bench
    bind 127.0.0.1:{port}
    balance roundrobin
    server s1 127.0.0.1:{bport}
"""

# Logging variants, the same text for both proxies. Plain: `no log` (no
# access log at all; tern and HAProxy both read it). "+log": HAProxy writes a
# tcplog line per connection to stdout; tern ignores the `log` lines (with a
# warning) and writes its own access-log line per connection to stderr. Both
# streams go to /dev/null.
NOLOG_DEFAULTS = "    no log\n"
LOG_GLOBAL = "    log stdout format raw local0\n"
LOG_DEFAULTS = "    log global\n    option tcplog\n"

# Syscalls counted one by one with --syscalls (the rest is "(other)").
SYSCALLS = ["read", "recvfrom", "readv", "write", "sendto", "writev",
            "sendmsg", "recvmsg", "close", "shutdown", "connect", "accept4",
            "accept", "socket", "setsockopt", "getsockopt", "fcntl",
            "epoll_ctl", "epoll_wait", "epoll_pwait", "clock_gettime",
            "getpid", "gettimeofday", "sched_yield"]

WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d"
    .. " status=%d timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(99)))
end
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="tern-bench-")
        self.servers = []
        self.lua = os.path.join(self.dir, "report.lua")
        with open(self.lua, "w") as f:
            f.write(WRK_LUA)

    # -- starting things ---------------------------------------------------

    def taskset(self, cpu, argv):
        return ["taskset", "-c", str(cpu)] + argv

    def start_backend(self):
        (port,) = free_ports(1)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=port))
        err = os.path.join(self.dir, "nginx-error.log")
        argv = self.taskset(self.args.backend_cpu,
                            [self.args.nginx, "-p", self.dir, "-c", conf,
                             "-e", err])
        srv = Server("nginx", argv, port, signal.SIGTERM,
                     subprocess.DEVNULL, open(err, "a"), err)
        self.servers.append(srv)
        srv.wait_ready()
        deadline = time.monotonic() + 5
        workers = []
        while not workers and time.monotonic() < deadline:
            workers = children_of(srv.pid)
            time.sleep(0.02)
        if len(workers) != 1:
            raise RuntimeError("expected 1 nginx worker, found %r" % workers)
        srv.worker_pid = workers[0]
        self.backend = srv
        return srv

    def proxy_conf(self, kind, port):
        log = kind.endswith("+log")
        path = os.path.join(self.dir, "%s-%d.cfg" % (kind, port))
        with open(path, "w") as f:
            f.write(PROXY_CONF.format(
                port=port, bport=self.backend.port,
                global_extra=LOG_GLOBAL if log else "",
                defaults_extra=LOG_DEFAULTS if log else NOLOG_DEFAULTS))
        return path

    def check_conf(self, kind):
        cfg = self.proxy_conf(kind, 1)
        if kind.startswith("tern"):
            argv = [self.args.tern, "-c", "-f", cfg]
        else:
            argv = [self.args.haproxy, "-c", "-f", cfg]
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("%s rejects the bench config:\n%s" % (
                kind, r.stdout))

    def start_proxy(self, kind):
        (port,) = free_ports(1)
        cfg = self.proxy_conf(kind, port)
        errlog = os.path.join(self.dir, "%s-%d.stderr" % (kind, port))
        if kind.startswith("tern"):
            # tern logs to stderr (tern+log: one access-log line per
            # connection); it goes to /dev/null (README: "Access logs").
            argv = [self.args.tern, "-f", cfg]
            stdout, stderr, sig = subprocess.DEVNULL, subprocess.DEVNULL, \
                signal.SIGINT
            errlog = None
        else:
            # -db: foreground, no daemon. haproxy+log writes its tcplog
            # lines to stdout, which goes to /dev/null like tern's stderr.
            argv = [self.args.haproxy, "-db", "-f", cfg]
            stdout, stderr, sig = subprocess.DEVNULL, open(errlog, "w"), \
                signal.SIGTERM
        srv = Server(kind, self.taskset(self.args.proxy_cpu, argv), port,
                     sig, stdout, stderr, errlog)
        self.servers.append(srv)
        srv.wait_ready()
        return srv

    def stop(self, srv):
        srv.stop()
        if srv in self.servers:
            self.servers.remove(srv)

    def stop_all(self):
        for srv in reversed(list(self.servers)):
            try:
                srv.stop()
            except Exception:  # best effort at exit
                pass
        self.servers = []

    # -- load --------------------------------------------------------------

    def wrk(self, port, mode, duration):
        argv = ["wrk", "-t1", "-c%d" % self.args.conns, "-d%ds" % duration,
                "--timeout", "5s", "-s", self.lua]
        if mode == "close":
            argv += ["-H", "Connection: close"]
        argv.append("http://127.0.0.1:%d/" % port)
        r = subprocess.run(self.taskset(self.args.backend_cpu, argv),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=duration + 30)
        for line in r.stdout.splitlines():
            if line.startswith("BENCH "):
                kv = dict(x.split("=") for x in line.split()[1:])
                return {k: int(v) for k, v in kv.items()}
        raise RuntimeError("wrk gave no result (rc %d):\n%s\n%s" % (
            r.returncode, r.stdout, r.stderr))

    def measured_run(self, srv, mode, duration):
        """One wrk run against srv; returns throughput and proxy CPU."""
        u0, k0 = proc_cpu_split_us(srv.pid) if srv is not None else (0.0, 0.0)
        busy0 = cpu_busy_us(self.args.proxy_cpu)
        t0 = time.monotonic()
        res = self.wrk(srv.port if srv else self.backend.port, mode, duration)
        wall = time.monotonic() - t0
        u1, k1 = proc_cpu_split_us(srv.pid) if srv is not None else (0.0, 0.0)
        cpu0, cpu1 = u0 + k0, u1 + k1
        busy1 = cpu_busy_us(self.args.proxy_cpu)
        if srv is not None:
            srv.check_alive("during a %s run" % mode)
        n = max(res["requests"], 1)
        errors = res["connect"] + res["read"] + res["write"] + \
            res["status"] + res["timeout"]
        return {
            "requests": res["requests"],
            "rps": res["requests"] / (res["duration_us"] / 1e6),
            "cpu_us": cpu1 - cpu0,
            "cpu_us_per_req": (cpu1 - cpu0) / n,
            # the user-space part (the rest is kernel time: syscalls and
            # the loopback TCP work they run in the proxy's context)
            "user_us_per_req": (u1 - u0) / n,
            "util": (cpu1 - cpu0) / 1e6 / wall,
            # Busy time on the proxy's CPU not spent by the proxy: other
            # processes on a shared machine, or their interrupts.
            "other": max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / 1e6 / wall,
            "errors": errors,
            "p50_us": res["p50_us"],
            "p99_us": res["p99_us"],
        }

    # -- idle connections --------------------------------------------------

    def open_idle(self, port, n):
        """n connections, opened one after another, one keep-alive
        request/response each, then left open and idle."""
        req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
        socks = []
        deadline = time.monotonic() + 60
        try:
            for _ in range(n):
                if time.monotonic() > deadline:
                    raise RuntimeError("opening idle connections: too slow")
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                socks.append(s)
                s.sendall(req)
                buf = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise RuntimeError("connection closed before reply")
                    buf += chunk
                    head, sep, body = buf.partition(b"\r\n\r\n")
                    if not sep:
                        continue
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError("bad reply %r" % head[:80])
                    clen = 0
                    for h in head.split(b"\r\n")[1:]:
                        k, _, v = h.partition(b":")
                        if k.strip().lower() == b"content-length":
                            clen = int(v)
                    if len(body) >= clen:
                        break
        except BaseException:
            for s in socks:
                s.close()
            raise
        return socks

    def idle_conn_memory(self, pid, port, n, baseline_fds=None):
        before = stable_pss_kb(pid)
        fds0 = fd_count(pid)
        t0 = time.monotonic()
        socks = self.open_idle(port, n)
        open_s = time.monotonic() - t0
        try:
            after = stable_pss_kb(pid)
            fds1 = fd_count(pid)
        finally:
            for s in socks:
                s.close()
        # Wait (bounded) for the process to drop the connections.
        deadline = time.monotonic() + 10
        while fd_count(pid) > fds0 + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        closed = stable_pss_kb(pid)
        return {
            "n": n,
            "pss_before_kb": before,
            "pss_idle_kb": after,
            "pss_after_close_kb": closed,
            "bytes_per_conn": (after - before) * 1024.0 / n,
            "fds_before": fds0,
            "fds_with_conns": fds1,
            "open_seconds": open_s,
        }

    # -- syscalls ----------------------------------------------------------

    def syscalls(self, srv, mode, duration):
        """Syscalls per request of srv under one wrk run, counted by the
        kernel's syscall tracepoints (perf stat), so the count is exact and
        does not depend on other load; tracing slows each syscall a little,
        which changes how many events each epoll_wait returns, not the rest.
        """
        out = os.path.join(self.dir, "perfstat-%s-%s.txt" % (srv.name, mode))
        events = ["raw_syscalls:sys_enter"] + \
            ["syscalls:sys_enter_" + n for n in SYSCALLS]
        st = subprocess.Popen(["perf", "stat", "-x,", "-o", out,
                               "-e", ",".join(events), "-p", str(srv.pid)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # let perf attach; counting only, not a result
        res = self.wrk(srv.port, mode, duration)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=30)
        n = max(res["requests"], 1)
        calls = {}
        with open(out) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 3 and parts[0].isdigit():
                    name = parts[2].split(":")[-1].replace("sys_enter_", "")
                    calls[name] = int(parts[0]) / n
        total = calls.pop("sys_enter", 0.0)
        calls["(other)"] = max(0.0, total - sum(calls.values()))
        return calls

    # -- profile -----------------------------------------------------------

    def profile(self, srv, mode, duration, out):
        data = os.path.join(out, "perf-%s-%s.data" % (srv.name, mode))
        rec = subprocess.Popen(["perf", "record", "-g", "-q", "-o", data,
                                "-p", str(srv.pid)],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # let perf attach; profiling only, not a result
        self.wrk(srv.port, mode, duration)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=30)
        rep = os.path.join(out, "perf-%s-%s.txt" % (srv.name, mode))
        with open(rep, "w") as f:
            subprocess.run(["perf", "report", "-i", data, "--stdio",
                            "--no-children", "--percent-limit", "0.5",
                            "-g", "none", "--sort", "sym"],
                           stdout=f, stderr=subprocess.DEVNULL)
        return rep


# --------------------------------------------------------------------------
# reporting


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def machine_info(args):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def first_line(argv):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=10)
            return r.stdout.strip().splitlines()[0]
        except Exception:
            return "?"

    info = {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "haproxy": first_line([args.haproxy, "-v"]),
        "nginx": first_line([args.nginx, "-v"]),
        "wrk": first_line(["wrk", "-v"]),
    }
    if args.tern:
        info["tern"] = first_line([args.tern, "-v"])
    return info


def print_report(args, info, names, runs, direct, idle, mem, verdicts):
    p = print
    p("")
    p("== tern vs HAProxy, TCP mode, one worker thread each ==")
    p("command : %s" % args.command)
    for k in ("date", "nproc", "cpu", "kernel", "tern", "haproxy", "nginx",
              "wrk"):
        if k in info:
            p("%-8s: %s" % (k, info[k]))
    p("layout  : backend nginx + wrk on CPU %d, proxy on CPU %d; "
      "%d rounds x %ds per mode, wrk -t1 -c%d; medians over rounds"
      % (args.backend_cpu, args.proxy_cpu, args.rounds, args.duration,
         args.conns))
    p("logging : tern, haproxy: `no log`; tern+log: access log on stderr "
      "-> /dev/null; haproxy+log: option tcplog, log stdout -> /dev/null")
    p("")
    hdr = "%-10s %-12s %9s %11s %8s %9s %6s %8s %8s %6s %6s %s" % (
        "mode", "proxy", "req/s", "CPU us/req", "user us", "proxyCPU", "other",
        "p50 us", "p99 us", "errors", "ratio", "(range over rounds)")
    p(hdr)
    p("-" * len(hdr))
    for mode in args.modes:
        for name in names:
            rs = runs[mode][name]
            cpu = med([r["cpu_us_per_req"] for r in rs])
            ratio = ""
            rng = ""
            peer = name.replace("tern", "haproxy")
            if name.startswith("tern") and peer in names:
                hcpu = med([r["cpu_us_per_req"] for r in runs[mode][peer]])
                ratio = "%.2f" % (cpu / hcpu)
                per = [t["cpu_us_per_req"] / h["cpu_us_per_req"]
                       for t, h in zip(rs, runs[mode][peer])]
                rng = "(%.2f .. %.2f)" % (min(per), max(per))
            p("%-10s %-12s %9.0f %11.2f %8.2f %8.0f%% %5.0f%% %8.0f %8.0f %6d %6s %s"
              % (mode, name, med([r["rps"] for r in rs]), cpu,
                med([r.get("user_us_per_req", 0.0) for r in rs]),
                100 * med([r["util"] for r in rs]),
                100 * med([r["other"] for r in rs]),
                med([r["p50_us"] for r in rs]),
                med([r["p99_us"] for r in rs]),
                sum(r["errors"] for r in rs), ratio, rng))
        if mode in direct:
            d = direct[mode]
            p("%-10s %-12s %9.0f %11s %8s %9s %5.0f%% %8.0f %8.0f %6d" % (
                mode, "(direct)", d["rps"], "-", "-", "-", 100 * d["other"],
                d["p50_us"],
                d["p99_us"], d["errors"]))
    others = [r["other"] for m in args.modes for n in names
              for r in runs[m][n]]
    if others and med(others) > 0.05:
        p("WARNING: other processes used %.0f%% (median) of the proxy's CPU "
          "during the runs: the machine was not quiet, figures are noisy"
          % (100 * med(others)))
    p("ratio = tern CPU us/req / haproxy CPU us/req, same logging (medians); "
      "user us = the user-space part of CPU us/req (the rest is kernel "
      "time); proxyCPU = proxy CPU time / wall time; other = busy time of the "
      "proxy's CPU not spent by the proxy (other load: should be ~0)")
    # How far user-space work alone could move the ratio: tern's kernel
    # time per request over HAProxy's total, i.e. the ratio tern would
    # reach if its own code cost nothing.
    for mode in args.modes:
        if "tern" in names and "haproxy" in names:
            t = runs[mode]["tern"]
            h = runs[mode]["haproxy"]
            tk = med([r["cpu_us_per_req"] - r.get("user_us_per_req", 0.0)
                      for r in t])
            hk = med([r["cpu_us_per_req"] - r.get("user_us_per_req", 0.0)
                      for r in h])
            p("kernel    : %-9s tern %.2f us/req, haproxy %.2f us/req; tern's "
              "kernel time alone is %.2fx haproxy's total CPU (the ratio if "
              "tern's user space cost nothing)" % (
                  mode, tk, hk,
                  tk / med([r["cpu_us_per_req"] for r in h])))
    p("")
    p("Memory (Pss_Anon, user-space private memory):")
    hdr = "%-12s %12s %12s %16s %14s %12s %10s" % (
        "process", "idle start", "idle after", "idle conns", "per idle conn",
        "after close", "fds s/a")
    p(hdr)
    p("-" * len(hdr))
    for name in list(names) + ["nginx"]:
        st = idle.get(name, {})
        m = mem.get(name)
        p("%-12s %12s %12s %16s %14s %12s %10s" % (
            name,
            "%d kB" % st["start"] if "start" in st else "-",
            "%d kB" % st["after_load"] if "after_load" in st else "-",
            ("%d x: %d kB" % (m["n"], m["pss_idle_kb"])) if m else "-",
            ("%.0f B" % m["bytes_per_conn"]) if m else "-",
            ("%d kB" % m["pss_after_close_kb"]) if m else "-",
            ("%d/%d" % (st["fds_start"], st["fds_after_load"]))
            if "fds_after_load" in st else "-"))
    p("idle start: right after start, no connection yet; idle after: after "
      "all load runs; per idle conn: fresh process, (Pss_Anon with N idle "
      "keep-alive conns - before) / N, each conn did one request first; "
      "nginx row = the backend's worker, clients connected directly; "
      "fds s/a: open descriptors at start / after all load (a leak shows "
      "as a/s difference)")
    if verdicts:
        p("")
        p("Targets:")
        for v in verdicts:
            p("  " + v)


def print_syscalls(names, sysc):
    print("")
    print("Syscalls per request (kernel tracepoints via perf stat on the "
          "proxy, one 2 s run; in close mode one request = one connection):")
    for mode, per in sysc.items():
        cols = [n for n in names if n in per]
        rows = sorted({k for n in cols for k in per[n]},
                      key=lambda k: -max(per[n].get(k, 0) for n in cols))
        print("%-10s %-16s" % (mode, "syscall") +
              "".join("%13s" % n for n in cols))
        for k in rows:
            if max(per[n].get(k, 0) for n in cols) < 0.005:
                continue
            print("%-10s %-16s" % ("", k) +
                  "".join("%13.2f" % per[n].get(k, 0) for n in cols))
        print("%-10s %-16s" % ("", "TOTAL") +
              "".join("%13.2f" % sum(per[n].values()) for n in cols))


def verdict_lines(names, runs, idle, mem, modes):
    out = []
    if "tern" not in names or "haproxy" not in names:
        return out
    if "close" in modes:
        t = med([r["cpu_us_per_req"] for r in runs["close"]["tern"]])
        h = med([r["cpu_us_per_req"] for r in runs["close"]["haproxy"]])
        line = "CPU per proxied connection <= 0.8x HAProxy: %.2fx -> %s" % (
            t / h, "MET" if t <= 0.8 * h else "NOT MET")
        if "tern+log" in names and "haproxy+log" in names:
            tl = med([r["cpu_us_per_req"] for r in runs["close"]["tern+log"]])
            hl = med([r["cpu_us_per_req"]
                      for r in runs["close"]["haproxy+log"]])
            line += " (both logging each connection: %.2fx)" % (tl / hl)
        out.append(line)
    ts, hs = idle["tern"].get("start"), idle["haproxy"].get("start")
    if ts is not None and hs is not None:
        out.append("idle Pss_Anon <= HAProxy's: %d kB vs %d kB -> %s" % (
            ts, hs, "MET" if ts <= hs else "NOT MET"))
    if "tern" in mem:
        b = mem["tern"]["bytes_per_conn"]
        out.append("<= 1 KiB per idle keep-alive connection: %.0f B -> %s"
                   % (b, "MET" if b <= 1024 else "NOT MET"))
    return out


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tern", help="tern binary (omit: HAProxy only)")
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--duration", type=int, default=2,
                    help="seconds per wrk run")
    ap.add_argument("--conns", type=int, default=50,
                    help="wrk concurrent connections")
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--modes", default="close,keepalive")
    ap.add_argument("--no-log-variants", action="store_true",
                    help="skip the tern+log and haproxy+log variants")
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--backend-cpu", type=int, default=0)
    ap.add_argument("--profile", metavar="DIR",
                    help="also perf-record tern in each mode, reports to DIR")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count syscalls per request (perf stat)")
    ap.add_argument("--json", metavar="FILE", help="write raw results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary dir (configs, stderr logs)")
    ap.add_argument("--command", default=" ".join(sys.argv),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    for m in args.modes:
        if m not in ("close", "keepalive"):
            ap.error("unknown mode %r" % m)
    if args.rounds < 1 or args.rounds > 50 or args.duration < 1 or \
            args.duration > 60:
        ap.error("rounds in 1..50, duration in 1..60")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle_conns + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        ap.error("fd hard limit %d < %d needed for --idle-conns" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    bases = (["tern"] if args.tern else []) + ["haproxy"]
    names = bases + ([] if args.no_log_variants else
                     [n + "+log" for n in bases])

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    b = Bench(args)
    info = machine_info(args)
    runs = {m: {n: [] for n in names} for m in args.modes}
    direct, idle, mem, sysc = {}, {n: {} for n in names}, {}, {}
    try:
        b.start_backend()
        for n in names:
            b.check_conf(n)
        proxies = {}
        for n in names:
            proxies[n] = b.start_proxy(n)
            idle[n]["start"] = stable_pss_kb(proxies[n].pid)
            idle[n]["fds_start"] = fd_count(proxies[n].pid)
        # Warm-up (not counted): page in code, fill caches of both sides.
        for mode in args.modes:
            b.measured_run(None, mode, 1)
            for n in names:
                b.measured_run(proxies[n], mode, 1)
            direct[mode] = b.measured_run(None, mode, args.duration)
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for mode in args.modes:
                for n in order:
                    res = b.measured_run(proxies[n], mode, args.duration)
                    runs[mode][n].append(res)
                    print("round %d %-9s %-12s %8.0f req/s %7.2f us/req "
                          "cpu %3.0f%% other %3.0f%% err %d" % (
                              r + 1, mode, n, res["rps"],
                              res["cpu_us_per_req"], 100 * res["util"],
                              100 * res["other"], res["errors"]),
                          file=sys.stderr, flush=True)
        for n in names:
            idle[n]["after_load"] = stable_pss_kb(proxies[n].pid)
            # Every connection is closed by now: the proxy should be back
            # to the descriptors it had at start (a leak shows here).
            pid, fds0 = proxies[n].pid, idle[n]["fds_start"]
            deadline = time.monotonic() + 10
            while fd_count(pid) > fds0 and time.monotonic() < deadline:
                time.sleep(0.05)
            idle[n]["fds_after_load"] = fd_count(pid)
        if args.syscalls:
            for mode in args.modes:
                for n in names:
                    sysc.setdefault(mode, {})[n] = b.syscalls(
                        proxies[n], mode, 2)
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
            for n in bases:
                for mode in args.modes:
                    rep = b.profile(proxies[n], mode, args.duration,
                                    args.profile)
                    print("profile: %s" % rep, file=sys.stderr)
        for n in names:
            b.stop(proxies[n])
        # Idle keep-alive connections, each proxy freshly started (logging
        # does not change what an idle connection holds: plain variants).
        for n in bases:
            srv = b.start_proxy(n)
            mem[n] = b.idle_conn_memory(srv.pid, srv.port, args.idle_conns)
            print("idle conns %-12s %.0f B/conn (fds %d -> %d)" % (
                n, mem[n]["bytes_per_conn"], mem[n]["fds_before"],
                mem[n]["fds_with_conns"]), file=sys.stderr, flush=True)
            # Each idle client connection holds a client and a server fd.
            if mem[n]["fds_with_conns"] < mem[n]["fds_before"] + \
                    2 * args.idle_conns:
                raise RuntimeError("%s holds %d fds with %d idle conns" % (
                    n, mem[n]["fds_with_conns"], args.idle_conns))
            b.stop(srv)
        mem["nginx"] = b.idle_conn_memory(b.backend.worker_pid,
                                          b.backend.port, args.idle_conns)
    finally:
        b.stop_all()
        if not args.keep:
            shutil.rmtree(b.dir, ignore_errors=True)
        else:
            print("kept: %s" % b.dir, file=sys.stderr)

    verdicts = verdict_lines(names, runs, idle, mem, args.modes)
    print_report(args, info, names, runs, direct, idle, mem, verdicts)
    if sysc:
        print_syscalls(names, sysc)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "args": vars(args), "runs": runs,
                       "direct": direct, "idle": idle, "idle_conns": mem,
                       "syscalls_per_req": sysc,
                       "targets": verdicts}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
