#!/usr/bin/python3
"""The mesh demo (examples/mesh/run.sh runs it): tern-cp, the services
frontend -> api (two instances) and an intruder, each behind a tern sidecar
configured only by tern-cp, mTLS on every hop. It drives traffic, narrates
each step in a few lines, prints a summary and stops everything.

    demo.py --tern PATH --tern-cp PATH [--registry static|etcd]

--registry etcd: Debian's etcd (etcd-server, installed by bazel/setup.sh) is
started too, on free ports; the api instances are not in the mesh file but
register in etcd under a lease, as a deployment would, and one more
instance (api-3) shows registering and being revoked under load.
"""

import argparse
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("demo: timed out waiting for " + what)


class App(http.server.ThreadingHTTPServer):
    """A tiny service: answers "<name> <path>"; `fail` paths answer 503."""

    def __init__(self, name, fail=()):
        self.name, self.fail, self.hits = name, fail, 0

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(h):
                self.hits += 1
                code = 503 if h.path in self.fail else 200
                body = ("%s %s\n" % (self.name, h.path)).encode()
                h.send_response(code)
                h.send_header("content-length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)

            def log_message(h, *a):
                pass
        super().__init__(("127.0.0.1", 0), H)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


def call(port, host, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read().decode().split(" ")[0]
    finally:
        c.close()


def say(text):
    print(text, flush=True)


class Etcd:
    """Debian's etcd on free loopback ports, its data in a temp dir."""

    def __init__(self, work):
        self.ctl = shutil.which("etcdctl")
        self.bin = shutil.which("etcd")
        if not self.bin or not self.ctl:
            raise SystemExit("demo: --registry etcd needs etcd-server and etcd-client "
                             "(bash bazel/setup.sh installs them)")
        self.client, peer = free_port(), free_port()
        c, p = "http://127.0.0.1:%d" % self.client, "http://127.0.0.1:%d" % peer
        self.proc = subprocess.Popen(
            [self.bin, "--name", "demo", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", c, "--advertise-client-urls", c,
             "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
             "--initial-cluster", "demo=" + p, "--log-outputs", "stderr"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "etcd.log"), "w"))
        poll(lambda: self.ctl_run("endpoint", "health").returncode == 0, 20, "etcd")

    @property
    def target(self):
        return "127.0.0.1:%d" % self.client

    def ctl_run(self, *args):
        return subprocess.run([self.ctl, "--endpoints", self.target] + list(args),
                              capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))

    def ok(self, *args):
        r = self.ctl_run(*args)
        if r.returncode != 0:
            raise SystemExit("demo: etcdctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def register(self, key, addr, ttl=60):
        """Puts key=addr under a new lease (TTL seconds); returns the lease
        id. (A deployment keeps it alive with `etcdctl lease keep-alive`;
        the demo is over long before the TTL.)"""
        lease = re.search(r"lease ([0-9a-f]+) granted", self.ok("lease", "grant", str(ttl))).group(1)
        self.ok("put", "--lease=" + lease, key, addr)
        return lease


class Load:
    """Calls through a sidecar in a thread, one every `every` seconds (api's
    rate limit is 20/s per instance: the demo stays under it); records
    (sent, answered, status, who)."""

    def __init__(self, port, host, path, every=0.04):
        self.calls, self.running = [], True

        def run():
            while self.running:
                t0 = time.monotonic()
                try:
                    st, who = call(port, host, path)
                except OSError:
                    st, who = None, None
                self.calls.append((t0, time.monotonic(), st, who))
                time.sleep(max(0.0, t0 + every - time.monotonic()))  # the pace, not a wait
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.running = False
        self.thread.join(10)

    def first(self, who, since):
        return next((c for c in list(self.calls) if c[0] >= since and c[3] == who), None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", required=True)
    ap.add_argument("--tern-cp", required=True)
    ap.add_argument("--registry", choices=("static", "etcd"), default="static",
                    help="where the api instances come from: the mesh file, or etcd")
    args = ap.parse_args()
    etcd_mode = args.registry == "etcd"
    work = tempfile.mkdtemp(prefix="tern-mesh-")
    procs = {}
    apps = [App("api-1", fail=("/flaky",)), App("api-2")] + ([App("api-3")] if etcd_mode else [])
    p = {k: free_port() for k in ("xds", "cpadmin", "front_out", "api1_in", "api2_in",
                                  "api3_in", "intr_out")}
    summary = []
    etcd = None
    prefix = "/tern/services/"
    try:
        if etcd_mode:
            etcd = Etcd(work)
        # static: api's instances are in the mesh file; etcd: they register
        p["endpoints"] = "[]" if etcd_mode else \
            "[127.0.0.1:%(api1_in)d, 127.0.0.1:%(api2_in)d]" % p
        with open(os.path.join(work, "mesh.yaml"), "w") as f:
            f.write("""trust_domain: demo.local
cert_ttl: 10m
services:
  frontend:
    token: frontend-demo-token-0001
    outbound: 127.0.0.1:%(front_out)d
    calls: [api]
  api:
    token: api-demo-token-000000001
    app: 127.0.0.1:%(api1_app)d
    inbound: 127.0.0.1:%(api1_in)d
    endpoints: %(endpoints)s
    allow: [frontend]
    timeout: 5s
    retries: {attempts: 2, on: "5xx,connect-failure", per_try_timeout: 2s}
    rate_limit: {requests: 20, per: 1s}
  intruder:
    token: intruder-demo-token-0001
    outbound: 127.0.0.1:%(intr_out)d
    calls: [api]
""" % dict(p, api1_app=apps[0].port))
        say("1. tern-cp (the control plane and certificate authority) reads mesh.yaml:")
        if etcd_mode:
            say("   frontend -> api; intruder may not call api. api's instances come from etcd")
            say("   (started on :%d): tern-cp watches %s." % (etcd.client, prefix))
        else:
            say("   frontend -> api (2 instances); intruder may not call api.")
        say("   It serves xDS over TLS with a certificate from its own CA (--xds-tls); the")
        say("   sidecars verify it against the CA before they send their service token.")
        ca_dir = os.path.join(work, "ca")
        os.makedirs(ca_dir, exist_ok=True)
        procs["tern-cp"] = subprocess.Popen(
            [args.tern_cp, "--mesh", os.path.join(work, "mesh.yaml"), "--xds",
             "127.0.0.1:%d" % p["xds"], "--admin", "127.0.0.1:%d" % p["cpadmin"],
             "--ca-dir", ca_dir, "--xds-tls"] +
            (["--etcd", etcd.target, "--etcd-prefix", prefix] if etcd_mode else []),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "tern-cp.log"), "w"))
        poll(lambda: urllib.request.urlopen("http://127.0.0.1:%d/ready" % p["cpadmin"],
                                            timeout=1).status == 200, 20, "tern-cp")

        def sidecar(node, svc, token, extra=()):
            admin = free_port()
            cfg = os.path.join(work, node + ".cfg")
            with open(cfg, "w") as f:
                f.write("global\n    nbthread 1\n    admin 127.0.0.1:%d\n\nxds\n"
                        "    server 127.0.0.1:%d ssl ca-file %s\n    node-id %s\n"
                        "    node-cluster %s\n    node-metadata tern.token %s\n"
                        % (admin, p["xds"], os.path.join(ca_dir, "ca.crt"), node, svc, token))
                for k, v in extra:
                    f.write("    node-metadata %s %s\n" % (k, v))
            procs[node] = subprocess.Popen([args.tern, "-f", cfg], stdout=subprocess.DEVNULL,
                                           stderr=open(os.path.join(work, node + ".log"), "w"))
            poll(lambda: urllib.request.urlopen("http://127.0.0.1:%d/ready" % admin,
                                                timeout=1).status == 200, 20, node)

        say("2. Four tern sidecars start with only an `xds` section and their service token;")
        say("   tern-cp gives each its listeners, routes, clusters and a SPIFFE certificate.")
        sidecar("frontend-1", "frontend", "frontend-demo-token-0001")
        sidecar("api-1", "api", "api-demo-token-000000001")
        sidecar("api-2", "api", "api-demo-token-000000001",
                (("tern.inbound", "127.0.0.1:%d" % p["api2_in"]),
                 ("tern.app", "127.0.0.1:%d" % apps[1].port),
                 ("tern.outbound", "127.0.0.1:%d" % free_port())))
        sidecar("intruder-1", "intruder", "intruder-demo-token-0001")
        if etcd_mode:
            for i in (1, 2):
                etcd.register(prefix + "api/api-%d" % i, "127.0.0.1:%d" % p["api%d_in" % i])
            say("   api-1 and api-2 register in etcd: key %sapi/<instance>," % prefix)
            say("   value its sidecar's inbound address, under a 60 s lease.")
        poll(lambda: call(p["front_out"], "api", "/")[0] == 200, 20, "the first call")

        seen = {}
        for i in range(10):
            st, who = call(p["front_out"], "api", "/hello")
            seen[who] = seen.get(who, 0) + 1
        say("3. frontend -> api, 10 calls over mTLS (each side verifies the other's SPIFFE ID):")
        say("   answered by %s" % ", ".join("%s x%d" % kv for kv in sorted(seen.items())))
        summary.append("load balancing: %s" % seen)

        if etcd_mode:
            sidecar("api-3", "api", "api-demo-token-000000001",
                    (("tern.inbound", "127.0.0.1:%d" % p["api3_in"]),
                     ("tern.app", "127.0.0.1:%d" % apps[2].port),
                     ("tern.outbound", "127.0.0.1:%d" % free_port())))
            load = Load(p["front_out"], "api", "/etcd")
            try:
                t_put = time.monotonic()
                lease = etcd.register(prefix + "api/api-3", "127.0.0.1:%d" % p["api3_in"])
                poll(lambda: load.first("api-3", t_put), 5, "api-3 taking traffic")
                dt_in = load.first("api-3", t_put)[1] - t_put
                t_rev = time.monotonic()
                etcd.ok("lease", "revoke", lease)
                # 20 calls sent 1 s or more after the revoke: then look
                poll(lambda: len([c for c in load.calls if c[0] >= t_rev + 1.0]) >= 20, 10,
                     "calls after the revoke")
                last = [c for c in list(load.calls) if c[3] == "api-3"][-1]
                gone = [c for c in list(load.calls) if c[0] >= t_rev + 1.0 and c[3] == "api-3"]
            finally:
                load.stop()
            failed = sum(1 for c in load.calls if c[2] != 200)
            after = ("the last call it answered was sent %d ms after the revoke"
                     % ((last[0] - t_rev) * 1000) if last[0] >= t_rev
                     else "no call sent after the revoke reached it")
            say("3b. api-3 registers in etcd under a lease while frontend calls api 25 times a")
            say("   second: the first call reaches it %d ms after the put. Its lease is revoked:"
                % (dt_in * 1000))
            say("   %s; %d calls, %d failed." % (after, len(load.calls), failed))
            summary.append("etcd: an instance in rotation %d ms after registering, out of it "
                           "on revocation, %d/%d calls failed"
                           % (dt_in * 1000, failed, len(load.calls)))
            if gone:
                raise SystemExit("demo: api-3 still answering 1 s after its lease was revoked")

        oks = [call(p["front_out"], "api", "/flaky")[0] for _ in range(6)]
        say("4. api-1 answers 503 on /flaky; api's retry policy (5xx) retries on the other")
        say("   instance: %d of 6 calls succeeded" % oks.count(200))
        summary.append("retries: %d/6 calls to a failing path succeeded" % oks.count(200))

        st, _ = call(p["intr_out"], "api", "/steal")
        say("5. intruder -> api: its certificate is valid, but api's RBAC does not allow it: %d"
            % st)
        summary.append("identity not allowed: %d" % st)

        codes = [call(p["front_out"], "api", "/burst")[0] for _ in range(60)]
        say("6. 60 calls at once: api's rate limit (20/s per instance) answers %d of them 429"
            % codes.count(429))
        summary.append("rate limit: %d x 429 of 60" % codes.count(429))
        time.sleep(1.1)  # let the buckets refill before the next step (narration pace)

        procs["api-2"].send_signal(signal.SIGTERM)
        procs["api-2"].wait(10)
        codes = [call(p["front_out"], "api", "/after-kill")[0] for _ in range(10)]
        say("7. api-2's sidecar stopped: 10 calls, %d answered 200 (connect failures retried"
            % codes.count(200))
        say("   on api-1)")
        summary.append("instance killed: %d/10 calls succeeded" % codes.count(200))

        say("Summary: " + "; ".join(summary) + ".")
        say("Not shown: certificate rotation (tern-cp re-issues at half of cert_ttl, at least")
        say("30 s; tests/e2e/mesh_dynamic_test.py rotates them under load, no call failing).")
    finally:
        for name, pr in procs.items():
            if pr.poll() is None:
                pr.send_signal(signal.SIGTERM)
        for name, pr in procs.items():
            try:
                pr.wait(10)
            except subprocess.TimeoutExpired:
                pr.kill()
        if etcd:
            etcd.proc.terminate()
            try:
                etcd.proc.wait(10)
            except subprocess.TimeoutExpired:
                etcd.proc.kill()
        for a in apps:
            a.shutdown()
        shutil.rmtree(work, ignore_errors=True)
        say("Everything stopped.")


if __name__ == "__main__":
    sys.exit(main())
