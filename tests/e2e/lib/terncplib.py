"""terncplib: end-to-end helpers for tern-cp (the control plane).

  TernCp        context manager: writes a mesh file, runs tern-cp on free
                loopback ports, polls /ready, stops it with SIGTERM and fails
                on a non-zero exit or a sanitizer report
  envoy_pool()  Envoy's own .proto files (the @grpc/grpc-js-xds npm package,
                see bazel/setup.sh) compiled with Debian's protoc, so what
                tern-cp sends is decoded by the upstream definitions, not ours
  msg(name)     a message class of that pool; unpack(any) an Any's payload
  AdsClient     one simulated proxy: an ADS stream (SotW or Delta) through
                Debian's python3-grpcio, responses queued for the test

Waits poll (ternlib.poll_until); nothing sleeps to synchronise.
"""

import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

import grpc

import envoy_protos
from ternlib import free_port, poll_until

TERNCP_BIN = os.environ.get("TERNCP_BIN", "")

T_CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
T_EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
T_LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
T_RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
T_SDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"

SANITIZER_RE = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"WARNING: ThreadSanitizer)")

# --------------------------------------------------------------------------
# Envoy's protos


def envoy_pool():
    return envoy_protos.envoy_pool()


def msg(full_name):
    return envoy_protos.message_class(full_name)


def unpack(any_msg):
    """The payload of an Any, decoded with Envoy's definition of its type."""
    name = any_msg.type_url.split("/", 1)[1]
    m = msg(name)()
    m.ParseFromString(any_msg.value)
    return m


# --------------------------------------------------------------------------
# tern-cp


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class TernCp:
    """Runs tern-cp with `mesh` (YAML text) as its mesh file."""

    def __init__(self, mesh, extra_args=(), ca_dir=None, binary=None, workdir=None):
        self.mesh_text = mesh
        self.extra = list(extra_args)
        self.ca_dir = ca_dir
        self.bin = binary or TERNCP_BIN
        self.dir = workdir or tempfile.mkdtemp(prefix="terncp_")
        self.mesh_path = os.path.join(self.dir, "mesh.yaml")
        self.xds_port = free_port()
        self.admin_port = free_port()
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "terncp.stderr")

    @property
    def xds(self):
        return "127.0.0.1:%d" % self.xds_port

    @property
    def admin(self):
        return "http://127.0.0.1:%d" % self.admin_port

    def write_mesh(self, text):
        """Replaces the mesh file the way editors do: write aside, rename.
        A later start() (a restart) writes this text again."""
        self.mesh_text = text
        tmp = self.mesh_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.mesh_path)

    def start(self, wait_ready=True):
        """wait_ready False: wait for the admin API only (/ready may be 503
        while registry sources have not read their registry)."""
        with open(self.mesh_path, "w") as f:
            f.write(self.mesh_text)
        args = [self.bin, "--mesh", self.mesh_path, "--xds", self.xds,
                "--admin", "127.0.0.1:%d" % self.admin_port] + self.extra
        if self.ca_dir:
            args += ["--ca-dir", self.ca_dir]
        self.err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err)
        def up():
            if self.proc.poll() is not None:
                return True
            if wait_ready:
                return http_get(self.admin + "/ready")[0] == 200
            try:
                http_get(self.admin + "/ready")
            except urllib.error.HTTPError:
                pass
            return True
        poll_until(up, timeout=20, desc="tern-cp /ready")
        if self.proc.poll() is not None:
            raise AssertionError("tern-cp exited %s:\n%s" % (self.proc.returncode, self.stderr()))
        return self

    def stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def get(self, path):
        return http_get(self.admin + path)[1]

    def json(self, path):
        return json.loads(self.get(path))

    def metrics(self):
        out = {}
        for line in self.get("/metrics").splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def proxies(self):
        return self.json("/proxies")

    def proxy(self, node):
        for p in self.proxies():
            if p["node"] == node:
                return p
        return None

    def stop(self, expect_rc=0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("tern-cp did not stop on SIGTERM:\n" + self.stderr())
        self.err.close()
        log = self.stderr()
        if SANITIZER_RE.search(log):
            raise AssertionError("sanitizer report from tern-cp:\n" + log)
        if expect_rc is not None and self.proc.returncode != expect_rc:
            raise AssertionError("tern-cp exited %s:\n%s" % (self.proc.returncode, log))

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.err.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(expect_rc=0 if exc[0] is None else None)


# --------------------------------------------------------------------------
# a simulated proxy


class AdsClient:
    """One ADS stream. `token` goes into node.metadata["tern.token"];
    `meta` adds more node metadata (tern.inbound, ...)."""

    def __init__(self, target, node_id, token=None, cluster="", delta=False, meta=None):
        self.delta = delta
        self.node = msg("envoy.config.core.v3.Node")(id=node_id, cluster=cluster)
        if token is not None:
            self.node.metadata.fields["tern.token"].string_value = token
        for k, v in (meta or {}).items():
            self.node.metadata.fields[k].string_value = v
        self.Req = msg("envoy.service.discovery.v3.%sDiscoveryRequest" % ("Delta" if delta else ""))
        self.Resp = msg("envoy.service.discovery.v3.%sDiscoveryResponse" % ("Delta" if delta else ""))
        self.channel = grpc.insecure_channel(target)
        self.out = queue.Queue()
        self.inq = queue.Queue()
        self.error = None
        self.first = True
        call = self.channel.stream_stream(
            DELTA if delta else SOTW,
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=self.Resp.FromString)
        self.stream = call(iter(self.out.get, None))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for r in self.stream:
                self.inq.put(r)
        except grpc.RpcError as e:
            self.error = e
        self.inq.put(None)

    def _node(self, req):
        if self.first:
            req.node.CopyFrom(self.node)
            self.first = False

    def request(self, type_url, names=(), version="", nonce="", error=None):
        """SotW DiscoveryRequest (the whole subscription each time)."""
        r = self.Req(type_url=type_url, resource_names=list(names), version_info=version,
                     response_nonce=nonce)
        if error is not None:
            r.error_detail.code = 3
            r.error_detail.message = error
        self._node(r)
        self.out.put(r)

    def subscribe(self, type_url, sub=(), unsub=(), nonce="", error=None, initial=None):
        """Delta request."""
        r = self.Req(type_url=type_url, resource_names_subscribe=list(sub),
                     resource_names_unsubscribe=list(unsub), response_nonce=nonce)
        for k, v in (initial or {}).items():
            r.initial_resource_versions[k] = v
        if error is not None:
            r.error_detail.code = 3
            r.error_detail.message = error
        self._node(r)
        self.out.put(r)

    def raw(self, data):
        self.out.put(data)

    def recv(self, timeout=5.0):
        """The next response; AssertionError if none within timeout or the
        stream ended."""
        try:
            r = self.inq.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no response within %.1fs" % timeout)
        if r is None:
            self.inq.put(None)
            raise AssertionError("stream ended: %s" % self.error)
        return r

    def ack(self, resp, names=None):
        if self.delta:
            self.subscribe(resp.type_url, nonce=resp.nonce)
        else:
            self.request(resp.type_url, names or (), version=resp.version_info, nonce=resp.nonce)

    def nack(self, resp, message, names=None, version=""):
        if self.delta:
            self.subscribe(resp.type_url, nonce=resp.nonce, error=message)
        else:
            self.request(resp.type_url, names or (), version=version, nonce=resp.nonce,
                         error=message)

    def wait_end(self, timeout=5.0):
        """Waits for the stream to end; returns the grpc.RpcError (or None)."""
        poll_until(lambda: not self.thread.is_alive(), timeout=timeout, desc="stream end")
        return self.error

    def close(self):
        self.out.put(None)
        self.stream.cancel()
        self.channel.close()


def resources_by_name(resp):
    """{name: decoded resource} of a SotW or Delta response."""
    out = {}
    if hasattr(resp, "version_info"):
        for a in resp.resources:
            m = unpack(a)
            out[m.name if hasattr(m, "name") and m.name else m.cluster_name] = m
    else:
        for r in resp.resources:
            out[r.name] = unpack(r.resource)
    return out
