"""xds_cp: a test xDS control plane (ADS, state of the world and Delta) in Python.

Resources are encoded with Envoy's *own* .proto files (the npm package
@grpc/grpc-js-xds ships them under deps/: envoy-api, xds, googleapis,
protoc-gen-validate), compiled here with Debian's protoc into a descriptor
set and loaded with google.protobuf's message_factory; the gRPC service is
Debian's python3-grpcio with a generic handler (grpc_tools is not in
Debian). So a wire mismatch between tern's protos and Envoy's fails a test.

    cp = ControlPlane()                   # listens on a free loopback port
    cp.set(LDS, [cp.msg(LISTENER, {...})])  # bumps LDS's version, pushes it
    cp.wait_ack(LDS)                      # tern ACKed that version
    err = cp.wait_nack(CDS)               # tern NACKed: its error_detail
    cp.stop(); cp.start()                 # same port

Both ADS methods are served: StreamAggregatedResources (every LDS/CDS
response holds all resources) and DeltaAggregatedResources (per stream, the
server remembers which version of each resource the client holds, from
initial_resource_versions and what it sent, and sends only the differences
plus removed_resources; a resource's version is a digest of its bytes, as
go-control-plane does). ACKs are matched by nonce in both variants.

Resources are given as dicts in protobuf's JSON mapping (json_format), with
"@type" on Any values, so a test reads like an Envoy config.
"""

import queue
import threading

import hashlib

import grpc
from google.protobuf import json_format

import envoy_protos

from ternlib import free_port, poll_until

TYPE = "type.googleapis.com/"
LISTENER = "envoy.config.listener.v3.Listener"
ROUTE = "envoy.config.route.v3.RouteConfiguration"
CLUSTER = "envoy.config.cluster.v3.Cluster"
CLA = "envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS, RDS, CDS, EDS = (TYPE + LISTENER, TYPE + ROUTE, TYPE + CLUSTER, TYPE + CLA)
SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret"
SDS = TYPE + SECRET
HCM = TYPE + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
TCP_PROXY = TYPE + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
ROUTER = TYPE + "envoy.extensions.filters.http.router.v3.Router"
SOTW_METHOD = "StreamAggregatedResources"
DELTA_METHOD = "DeltaAggregatedResources"
SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"

class EnvoyProtos:
    """Envoy's messages, from Envoy's .proto files (envoy_protos)."""

    def __init__(self):
        self.pool = envoy_protos.envoy_pool()

    def cls(self, full_name):
        return envoy_protos.message_class(full_name)

    def msg(self, full_name, d):
        """A message of type full_name from its JSON-mapping dict."""
        m = self.cls(full_name)()
        json_format.ParseDict(d, m, descriptor_pool=self.pool)
        return m


def resource_name(m):
    return m.cluster_name if m.DESCRIPTOR.full_name == CLA else m.name


class _Stream:
    def __init__(self, delta=False):
        self.q = queue.Queue()
        self.delta = delta
        self.subs = {}       # type_url -> list of names ([] : wildcard); Delta: a set, or None
        self.sent = {}       # type_url -> (version, nonce) last sent
        self.known = {}      # Delta: type_url -> {name: version} the client holds


def _digest(m):
    return hashlib.sha256(m.SerializeToString(deterministic=True)).hexdigest()[:16]


class ControlPlane:
    """An ADS server (state of the world) on 127.0.0.1:<port>."""

    def __init__(self, port=None):
        self.protos = EnvoyProtos()
        self.Req = self.protos.cls("envoy.service.discovery.v3.DiscoveryRequest")
        self.Resp = self.protos.cls("envoy.service.discovery.v3.DiscoveryResponse")
        self.DeltaReq = self.protos.cls("envoy.service.discovery.v3.DeltaDiscoveryRequest")
        self.DeltaResp = self.protos.cls("envoy.service.discovery.v3.DeltaDiscoveryResponse")
        self.nonces = {}     # nonce -> (type_url, version) of every response sent
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.resources = {LDS: {}, RDS: {}, CDS: {}, EDS: {}, SDS: {}}
        self.version = {LDS: 0, RDS: 0, CDS: 0, EDS: 0, SDS: 0}
        self.requests = []   # every DiscoveryRequest received, in order
        self.streams = set()
        self.streams_opened = 0
        self.nonce = 0
        self.server = None
        self.start()

    # -- building resources
    def msg(self, full_name, d):
        return self.protos.msg(full_name, d)

    # -- server
    def start(self):
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            SOTW_METHOD: grpc.stream_stream_rpc_method_handler(
                lambda it, ctx: self._stream(it, ctx, False),
                request_deserializer=self.Req.FromString,
                response_serializer=lambda m: m.SerializeToString()),
            DELTA_METHOD: grpc.stream_stream_rpc_method_handler(
                lambda it, ctx: self._stream(it, ctx, True),
                request_deserializer=self.DeltaReq.FromString,
                response_serializer=lambda m: m.SerializeToString()),
        })
        self.server = grpc.server(
            __import__("concurrent.futures").futures.ThreadPoolExecutor(max_workers=16),
            options=[("grpc.so_reuseport", 0),
                     ("grpc.max_send_message_length", 256 << 20)])
        self.server.add_generic_rpc_handlers((handler,))
        bound = self.server.add_insecure_port("127.0.0.1:%d" % self.port)
        if bound != self.port:
            raise RuntimeError("cannot bind the control plane to port %d" % self.port)
        self.server.start()

    def stop(self):
        with self.lock:
            streams = list(self.streams)
        for st in streams:
            st.q.put(None)
        self.server.stop(grace=0).wait()

    def _stream(self, request_iterator, context, delta):
        st = _Stream(delta)
        with self.lock:
            self.streams.add(st)
            self.streams_opened += 1

        def reader():
            try:
                for req in request_iterator:
                    self._on_request(st, req)
            except Exception:
                pass
            st.q.put(None)

        threading.Thread(target=reader, daemon=True).start()
        try:
            while True:
                item = st.q.get()
                if item is None:
                    return
                yield item
        finally:
            with self.lock:
                self.streams.discard(st)

    def _on_request(self, st, req):
        if st.delta:
            return self._on_delta_request(st, req)
        with self.lock:
            self.requests.append(req)
            t = req.type_url
            if t not in self.resources:
                return
            names = sorted(req.resource_names)
            first = t not in st.subs
            changed = st.subs.get(t) != names
            st.subs[t] = names
            if first or changed:
                self._send_locked(st, t)

    def _send_locked(self, st, t):
        if t in (LDS, CDS):
            res = list(self.resources[t].values())
        else:
            want = st.subs.get(t, [])
            res = [self.resources[t][n] for n in want if n in self.resources[t]]
            if not res:
                return
        self.nonce += 1
        resp = self.Resp(version_info=str(self.version[t]), type_url=t, nonce=str(self.nonce))
        for m in res:
            a = resp.resources.add()
            a.Pack(m, type_url_prefix="type.googleapis.com/")
        st.sent[t] = (str(self.version[t]), str(self.nonce))
        self.nonces[str(self.nonce)] = (t, str(self.version[t]))
        st.q.put(resp)

    def _on_delta_request(self, st, req):
        with self.lock:
            self.requests.append(req)
            t = req.type_url
            if t not in self.resources:
                return
            first = t not in st.subs
            if first:
                # no name on the first request: the implicit wildcard
                st.subs[t] = None if not req.resource_names_subscribe else set()
                st.known[t] = dict(req.initial_resource_versions)
            changed = False
            subs = st.subs[t]
            if subs is not None:
                for n in req.resource_names_subscribe:
                    if n not in subs:
                        subs.add(n)
                        changed = True
                for n in req.resource_names_unsubscribe:
                    if n in subs:
                        subs.discard(n)
                        st.known[t].pop(n, None)
            if first or changed:
                self._send_delta_locked(st, t, force=first)

    def _send_delta_locked(self, st, t, force=False):
        subs = st.subs[t]
        cur = {n: m for n, m in self.resources[t].items() if subs is None or n in subs}
        known = st.known[t]
        changed = [(n, m, _digest(m)) for n, m in sorted(cur.items())
                   if known.get(n) != _digest(m)]
        removed = sorted(n for n in known if n not in cur)
        if not changed and not removed and not force:
            return
        self.nonce += 1
        resp = self.DeltaResp(system_version_info=str(self.version[t]), type_url=t,
                              nonce=str(self.nonce), removed_resources=removed)
        for n, m, v in changed:
            r = resp.resources.add(name=n, version=v)
            r.resource.Pack(m, type_url_prefix="type.googleapis.com/")
            known[n] = v
        for n in removed:
            del known[n]
        st.sent[t] = (str(self.version[t]), str(self.nonce))
        self.nonces[str(self.nonce)] = (t, str(self.version[t]))
        st.q.put(resp)

    def _push_locked(self, st, t):
        if st.delta:
            self._send_delta_locked(st, t)
        else:
            self._send_locked(st, t)

    # -- the test's side
    def set(self, t, msgs, replace=True):
        """Sets the resources of type t (all of them when replace, else
        updates/adds these), bumps t's version and pushes it to every stream
        subscribed. Returns the new version (a string)."""
        with self.lock:
            if replace:
                self.resources[t] = {}
            for m in msgs:
                self.resources[t][resource_name(m)] = m
            self.version[t] += 1
            for st in self.streams:
                if t in st.subs:
                    self._push_locked(st, t)
            return str(self.version[t])

    def send_raw(self, t, msgs, version):
        """Pushes msgs as type t's response with this version, without
        recording them as the control plane's state (a bad update)."""
        with self.lock:
            for st in self.streams:
                if t not in st.subs:
                    continue
                self.nonce += 1
                if st.delta:
                    resp = self.DeltaResp(system_version_info=version, type_url=t,
                                          nonce=str(self.nonce))
                    for m in msgs:
                        r = resp.resources.add(name=resource_name(m), version="raw-" + version)
                        r.resource.Pack(m, type_url_prefix="type.googleapis.com/")
                else:
                    resp = self.Resp(version_info=version, type_url=t, nonce=str(self.nonce))
                    for m in msgs:
                        resp.resources.add().Pack(m, type_url_prefix="type.googleapis.com/")
                st.sent[t] = (version, str(self.nonce))
                self.nonces[str(self.nonce)] = (t, version)
                st.q.put(resp)
            return str(self.nonce)

    def acked(self, t, version):
        """tern ACKed a response of type t with this version (by its nonce;
        state of the world: the request echoes the version too)."""
        with self.lock:
            return any(r.type_url == t and self.nonces.get(r.response_nonce) == (t, version) and
                       not r.HasField("error_detail") and
                       (isinstance(r, self.DeltaReq) or r.version_info == version)
                       for r in self.requests)

    def wait_ack(self, t, version=None, timeout=10.0):
        v = str(self.version[t]) if version is None else version
        poll_until(lambda: self.acked(t, v), timeout=timeout,
                   desc="tern ACKs %s version %s" % (t.split(".")[-1], v))

    def nack_for(self, t, nonce):
        with self.lock:
            for r in self.requests:
                if r.type_url == t and r.response_nonce == nonce and r.HasField("error_detail"):
                    return r
        return None

    def wait_nack(self, t, nonce, timeout=10.0):
        return poll_until(lambda: self.nack_for(t, nonce), timeout=timeout,
                          desc="tern NACKs %s nonce %s" % (t.split(".")[-1], nonce))

    def n_streams(self):
        with self.lock:
            return len(self.streams)


# -- resource builders (Envoy JSON mapping)

def hcm_listener(cp, name, port, rds=None, route_config=None, http_filters=(),
                 transport_socket=None):
    """http_filters: (name, typed_config dict) pairs before the router;
    transport_socket: a TransportSocket dict (see downstream_tls)."""
    hcm = {"@type": HCM, "stat_prefix": name,
           "http_filters": [{"name": n, "typed_config": c} for n, c in http_filters] +
                           [{"name": "envoy.filters.http.router",
                             "typed_config": {"@type": ROUTER}}]}
    if rds:
        hcm["rds"] = {"route_config_name": rds, "config_source": {"ads": {}}}
    else:
        hcm["route_config"] = route_config
    return cp.msg(LISTENER, {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [dict({"filters": [{
            "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]},
            **({"transport_socket": transport_socket} if transport_socket else {}))]})


TLS_PREFIX = TYPE + "envoy.extensions.transport_sockets.tls.v3."


def _sds(name):
    return {"name": name, "sds_config": {"ads": {}}}


def downstream_tls(cert_secret, ca_secret=None, require_client=True):
    """A TransportSocket dict: DownstreamTlsContext with SDS secrets."""
    common = {"tls_certificate_sds_secret_configs": [_sds(cert_secret)]}
    if ca_secret:
        common["validation_context_sds_secret_config"] = _sds(ca_secret)
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": TLS_PREFIX + "DownstreamTlsContext", "common_tls_context": common,
        "require_client_certificate": require_client}}


def upstream_tls(cert_secret, ca_secret, peer_uri, sni):
    """A TransportSocket dict: UpstreamTlsContext, the peer's URI SAN checked."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": TLS_PREFIX + "UpstreamTlsContext", "sni": sni, "common_tls_context": {
            "tls_certificate_sds_secret_configs": [_sds(cert_secret)],
            "combined_validation_context": {
                "default_validation_context": {"match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"exact": peer_uri}}]},
                "validation_context_sds_secret_config": _sds(ca_secret)}}}}


def cert_secret(cp, name, chain_pem, key_pem):
    return cp.msg(SECRET, {"name": name, "tls_certificate": {
        "certificate_chain": {"inline_string": chain_pem},
        "private_key": {"inline_string": key_pem}}})


def ca_secret(cp, name, ca_pem):
    return cp.msg(SECRET, {"name": name, "validation_context": {
        "trusted_ca": {"inline_string": ca_pem}}})


def tcp_listener(cp, name, port, cluster):
    return cp.msg(LISTENER, {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                        "typed_config": {"@type": TCP_PROXY,
                                                         "stat_prefix": name,
                                                         "cluster": cluster}}]}]})


def route_config(cp, name, vhosts):
    """vhosts: [(vhost name, [domains], [(match dict, cluster)])]; a route may
    be (match dict, cluster, extra RouteAction dict) too."""
    def action(r):
        a = {"cluster": r[1]}
        a.update(r[2] if len(r) > 2 else {})
        return a
    return cp.msg(ROUTE, {"name": name, "virtual_hosts": [
        {"name": vn, "domains": doms,
         "routes": [{"match": r[0], "route": action(r)} for r in routes]}
        for vn, doms, routes in vhosts]})


def eds_cluster(cp, name, lb_policy="ROUND_ROBIN", extra=None):
    d = {"name": name, "type": "EDS", "connect_timeout": "1s", "lb_policy": lb_policy,
         "eds_cluster_config": {"eds_config": {"ads": {}}}}
    d.update(extra or {})
    return cp.msg(CLUSTER, d)


def static_cluster(cp, name, endpoints):
    return cp.msg(CLUSTER, {"name": name, "type": "STATIC", "connect_timeout": "1s",
                            "load_assignment": _cla_dict(name, endpoints)})


def _cla_dict(name, endpoints):
    """endpoints: [(port, weight)] or [(port, weight, health_status)] on 127.0.0.1"""
    lbs = []
    for e in endpoints:
        d = {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                         "port_value": e[0]}}},
             "load_balancing_weight": e[1]}
        if len(e) > 2:
            d["health_status"] = e[2]
        lbs.append(d)
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": lbs}]}


def cla(cp, name, endpoints):
    return cp.msg(CLA, _cla_dict(name, endpoints))
