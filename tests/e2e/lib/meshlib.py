"""meshlib: a mesh of real tern sidecars configured only by tern-cp.

  sidecar_config()  a sidecar's whole config file: global (admin) and an
                    `xds` section with the service token, nothing else
  Mesh              context manager: tern-cp (terncplib.TernCp) and the
                    sidecars started with sidecar(); waits for every sidecar
                    to ACK everything; restarts tern-cp on the same ports;
                    on exit stops the sidecars (sanitizer reports fail the
                    test) and tern-cp
  get()             one request through a sidecar's plaintext listener
  LoadLoop          a client thread sending requests continuously through a
                    sidecar, recording each one (when sent, when answered,
                    status, which backend answered) and every failure
  peer_cert()       the certificate a TLS listener presents (serial,
                    validity), checked against a CA
  pem_info()        serial and validity of a PEM certificate

Waits poll (ternlib.poll_until); nothing sleeps to synchronise.
"""

import contextlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from ternlib import Tern, free_port, poll_until
from terncplib import TernCp


def sidecar_config(xds, node, service, token, admin, extra=(), protocol=None, server_opts=""):
    """A sidecar of `service` (node `node`) with only an xds section: every
    listener, cluster and certificate comes from tern-cp. `extra`: more
    node metadata pairs (tern.inbound, tern.app, tern.outbound); protocol:
    "delta" or "sotw" (default: tern's); server_opts: after the xds server's
    address (e.g. "ssl ca-file <ca>")."""
    lines = ["global", "    nbthread 1", "    admin 127.0.0.1:%d" % admin, "",
             "xds", ("    server %s %s" % (xds, server_opts)).rstrip(), "    node-id %s" % node,
             "    node-cluster %s" % service, "    node-metadata tern.token %s" % token,
             "    init-timeout 10s"]
    lines += ["    node-metadata %s %s" % kv for kv in extra]
    if protocol:
        lines.append("    protocol %s" % protocol)
    return "\n".join(lines) + "\n"


def get(port, host, path="/", timeout=10):
    """(status, body) of one GET through 127.0.0.1:port with Host `host`."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


class Mesh:
    """tern-cp with `mesh_yaml` and the sidecars added by sidecar().

        with Mesh(yaml) as m:
            m.sidecar("api-1", "api", TOKEN)
            m.wait_acked()
    """

    def __init__(self, mesh_yaml, cp_args=(), ca_dir=None):
        self.cp = TernCp(mesh_yaml, extra_args=cp_args, ca_dir=ca_dir)
        self.sidecars = {}       # node -> Tern
        self.stack = contextlib.ExitStack()

    def __enter__(self):
        self.cp.start()
        return self

    def __exit__(self, *exc):
        try:
            self.stack.close()
        finally:
            self.cp.stop(expect_rc=0 if exc[0] is None else None)
        return False

    def sidecar(self, node, service, token, extra=(), protocol=None, server_opts=""):
        """Starts a sidecar and waits until its admin /ready answers 200
        (its first configuration from tern-cp applied)."""
        admin = free_port()
        t = self.stack.enter_context(Tern(sidecar_config(self.cp.xds, node, service, token,
                                                         admin, extra, protocol, server_opts),
                                          admin_port=admin, ready_timeout=20))
        self.sidecars[node] = t
        return t

    def acked(self, nodes=None):
        """True when tern-cp lists exactly `nodes` (default: every sidecar
        started) connected, none awaiting an ACK, every resource it sent
        ACKed and no NACK."""
        want = set(self.sidecars if nodes is None else nodes)
        ps = self.cp.proxies()
        if {p["node"] for p in ps} != want or len(ps) != len(want):
            return False
        for p in ps:
            if p["awaiting_ack"]:
                return False
            for ty in p["types"].values():
                if ty.get("nacks", 0):
                    raise AssertionError("NACK from %s: %s" % (p["node"], ty))
                for r in ty.get("resources", []):
                    if r.get("state") != "acked":
                        return False
        return True

    def wait_acked(self, nodes=None, timeout=20):
        poll_until(lambda: self.acked(nodes), timeout=timeout,
                   desc="every sidecar connected to tern-cp, everything ACKed")

    def config_dump(self, node):
        """The sidecar's own view of its xDS state (tern's /config_dump)."""
        st, _, body = self.sidecars[node].admin_get("/config_dump")
        if st != 200:
            raise AssertionError("%s /config_dump: %d" % (node, st))
        return json.loads(body)

    def in_sync(self, node):
        """True when the sidecar holds, resource by resource, the versions
        tern-cp sent it and has recorded as ACKed (both sides agree)."""
        p = self.cp.proxy(node)
        if not p:
            return False
        dump = self.config_dump(node)
        if not dump["control_plane"]["connected"]:
            return False
        for ty, cps in p["types"].items():
            sent = {r["name"]: r["acked"] for r in cps.get("resources", [])
                    if r["state"] == "acked"}
            if len(sent) != len(cps.get("resources", [])):
                return False
            have = {r["name"]: r["version"] for r in dump["types"][ty]["resources"]}
            if sent != have:
                return False
        return True

    def kill_cp(self):
        """SIGKILL to tern-cp (no goodbye to the sidecars)."""
        self.cp.kill()

    def restart_cp(self):
        """A new tern-cp on the same ports, mesh file and CA directory (the
        mesh file as last written), waits for /ready."""
        old = self.cp
        cp = TernCp(old.mesh_text, extra_args=old.extra, ca_dir=old.ca_dir, workdir=old.dir)
        cp.xds_port, cp.admin_port = old.xds_port, old.admin_port
        cp.stderr_path = os.path.join(old.dir, "terncp-%d.stderr" % time.monotonic_ns())
        self.cp = cp
        return cp.start()


class Result:
    __slots__ = ("t0", "t1", "status", "who", "error")

    def __init__(self, t0, t1, status, who, error):
        self.t0, self.t1, self.status, self.who, self.error = t0, t1, status, who, error

    def __repr__(self):
        return "<%.3f..%.3f %s %s%s>" % (self.t0, self.t1, self.status, self.who,
                                        " " + self.error if self.error else "")


class LoadLoop:
    """Requests GET `path` with Host `host` through 127.0.0.1:port one after
    the other, on one keep-alive connection (a new one when the sidecar
    closes it after a response), until stop(). Each request is recorded
    (Result: t0 sent, t1 answered, on time.monotonic(); status; who, the
    first word of the body: the backend's name). A failure is anything but
    a 200: an error status, a timeout, a connection refused, reset or closed
    without an answer.

        with LoadLoop(port, "api", "/x") as load:
            ...
        assert not load.failures()
    """

    def __init__(self, port, host, path="/", timeout=5.0):
        self.port, self.host, self.path, self.timeout = port, host, path, timeout
        self.results = []
        self.lock = threading.Lock()
        self.running = False
        self.thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        if self.thread:
            self.thread.join(30)
            if self.thread.is_alive():
                raise AssertionError("the load loop did not stop")

    def _run(self):
        conn = None
        while self.running:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            t0 = time.monotonic()
            status, who, error, close = None, None, None, False
            try:
                conn.request("GET", self.path, headers={"Host": self.host})
                r = conn.getresponse()
                body = r.read().decode("utf-8", "replace")
                status, who = r.status, body.split(" ", 1)[0]
                close = r.will_close
            except (OSError, http.client.HTTPException) as e:
                error, close = "%s: %s" % (type(e).__name__, e), True
            with self.lock:
                self.results.append(Result(t0, time.monotonic(), status, who, error))
            if close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def since(self, t):
        """The requests sent at or after t."""
        return [r for r in self.snapshot() if r.t0 >= t]

    def failures(self):
        return [r for r in self.snapshot() if r.status != 200]

    def count_ok(self, since=0.0, who=None):
        return sum(1 for r in self.since(since)
                   if r.status == 200 and (who is None or r.who == who))

    def wait_ok(self, n, since=0.0, who=None, timeout=10.0):
        """Waits until n requests sent at or after `since` were answered 200
        (by `who`, if given)."""
        poll_until(lambda: self.count_ok(since, who) >= n, timeout=timeout,
                   desc="%d requests answered by %s since %.3f" % (n, who or "anyone", since))

    def first(self, pred, since=0.0):
        """The first request sent at or after `since` satisfying pred, or None."""
        for r in self.since(since):
            if pred(r):
                return r
        return None


def pem_info(pem):
    """{"serial": int, "not_before": str, "not_after": str} of a PEM
    certificate (Debian's openssl command: the stdlib has no X.509 parser
    for a PEM string)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-startdate", "-enddate"],
                         input=pem, capture_output=True, text=True, check=True).stdout
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {"serial": int(kv["serial"], 16), "not_before": kv["notBefore"],
            "not_after": kv["notAfter"]}


def peer_cert(port, ca_pem, timeout=5.0):
    """The certificate the TLS listener at 127.0.0.1:port presents, verified
    against ca_pem (no client certificate is offered: a listener requiring
    one refuses the connection right after its first flight, which already
    carried its certificate). Returns {"serial": int, "not_before": str,
    "not_after": str, "uri": [...]}."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(ca_pem)
        f.flush()
        ctx.load_verify_locations(f.name)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s) as tls:
            c = tls.getpeercert()
    return {"serial": int(c["serialNumber"], 16), "not_before": c["notBefore"],
            "not_after": c["notAfter"],
            "uri": [v for k, v in c.get("subjectAltName", ()) if k == "URI"]}
