#!/usr/bin/python3
"""tern-cp benchmark (see terncp_bench.sh): etcd change -> last ACK of N
proxies, tern-cp RSS and CPU. Prints one line per round and a summary."""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "web-token-0123456789abcd"
MESH = """
services:
  web:
    token: %s
    outbound: 127.0.0.1:15001
    calls: [api]
  api:
    endpoints: [127.0.0.1:20000]
""" % TOKEN


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def poll(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit("timed out waiting for " + what)


def proc_stats(pid):
    """(RSS MiB, peak RSS MiB, CPU seconds) of a process."""
    with open("/proc/%d/status" % pid) as f:
        st = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1)) / 1024
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, hwm, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--terncp", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--proxies", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    for b in ("etcd", "etcdctl"):
        if not shutil.which(b):
            sys.exit("%s not installed: bash bazel/setup.sh" % b)

    d = tempfile.mkdtemp(prefix="terncp_bench_")
    cport, pport, xport, aport = free_port(), free_port(), free_port(), free_port()
    c, p = "http://127.0.0.1:%d" % cport, "http://127.0.0.1:%d" % pport
    etcd = subprocess.Popen(["etcd", "--name", "b", "--data-dir", d + "/etcd",
                             "--listen-client-urls", c, "--advertise-client-urls", c,
                             "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                             "--initial-cluster", "b=" + p],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = ["etcdctl", "--endpoints", "127.0.0.1:%d" % cport]
    poll(lambda: subprocess.run(ctl + ["endpoint", "health"], capture_output=True).returncode == 0,
         20, "etcd")
    with open(d + "/mesh.yaml", "w") as f:
        f.write(MESH)
    cp = subprocess.Popen([a.terncp, "--mesh", d + "/mesh.yaml", "--xds", "127.0.0.1:%d" % xport,
                           "--admin", "127.0.0.1:%d" % aport, "--etcd", "127.0.0.1:%d" % cport,
                           "--etcd-prefix", "/bench/"],
                          stdout=subprocess.DEVNULL, stderr=open(d + "/terncp.log", "w"))
    admin = "http://127.0.0.1:%d" % aport
    poll(lambda: urllib.request.urlopen(admin + "/ready").status == 200, 20, "tern-cp")
    idle = proc_stats(cp.pid)
    results = []
    try:
        for r in range(a.rounds):
            load = subprocess.Popen([a.load, "127.0.0.1:%d" % xport, str(a.proxies), TOKEN, "outbound|api"],
                                    stdout=subprocess.PIPE, text=True)
            t_conn = time.time()
            line = load.stdout.readline()
            if not line.startswith("ready"):
                sys.exit("ads_load: " + line)
            t_ready = time.time()
            before = proc_stats(cp.pid)
            t0 = time.time()
            subprocess.run(ctl + ["put", "/bench/api/i-%d" % r, "127.0.0.1:%d" % (21000 + r)],
                           check=True, capture_output=True)
            line = load.stdout.readline()
            if not line.startswith("done"):
                sys.exit("ads_load: " + line)
            t_last = float(line.split()[1])
            after = proc_stats(cp.pid)
            load.wait()
            res = dict(round=r + 1, connect_s=t_ready - t_conn, change_to_last_ack_s=t_last - t0,
                       rss_mib=after[0], peak_rss_mib=after[1], push_cpu_s=after[2] - before[2])
            results.append(res)
            print("round %(round)d: %(proxies)d proxies connected+synced in %(connect_s).2f s; "
                  "etcd put -> last ACK %(change_to_last_ack_s).3f s; tern-cp RSS %(rss_mib).1f MiB "
                  "(peak %(peak_rss_mib).1f), CPU for the push %(push_cpu_s).2f s"
                  % dict(res, proxies=a.proxies))
            poll(lambda: '"node"' not in urllib.request.urlopen(admin + "/proxies").read().decode(),
                 20, "proxies gone")
    finally:
        cp.terminate()
        cp.wait(timeout=20)
        etcd.terminate()
        etcd.wait(timeout=20)
        shutil.rmtree(d, ignore_errors=True)
    lat = sorted(x["change_to_last_ack_s"] for x in results)
    print("summary: %d proxies, %d rounds: change -> last ACK median %.3f s, max %.3f s; "
          "tern-cp idle RSS %.1f MiB, peak RSS %.1f MiB; connect+sync median %.2f s"
          % (a.proxies, len(results), lat[len(lat) // 2], lat[-1], idle[0],
             max(x["peak_rss_mib"] for x in results),
             sorted(x["connect_s"] for x in results)[len(results) // 2]))


if __name__ == "__main__":
    main()
