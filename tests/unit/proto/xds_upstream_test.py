#!/usr/bin/python3
"""proto/ against Envoy's own .proto files.

1. Our FileDescriptorSet against Envoy's, field by field (proto/tools/check_upstream.py).
2. Every sample the C code encodes (xds_samples.c) decoded with Envoy's definitions
   and with ours: both readings, Any payloads expanded, must be the same document,
   and a few values are checked by name, so a field we encode under a number Envoy
   gives to something else, or does not know, fails here.

Envoy's files come from the npm package @grpc/grpc-js-xds (deps/envoy-api,
deps/xds, deps/googleapis, deps/protoc-gen-validate), installed by
bazel/setup.sh under $TERN_NPM_DIR (default /opt/tern-deps/npm).

Usage: xds_upstream_test.py OURS.pb SAMPLES_DUMP_BINARY CHECK_UPSTREAM_PY
"""
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

XDS_JS_VERSION = "1.14.1"

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def upstream_deps():
    npm = os.environ.get("TERN_NPM_DIR", "/opt/tern-deps/npm")
    pkg = os.path.join(npm, "node_modules", "@grpc", "grpc-js-xds")
    try:
        with open(os.path.join(pkg, "package.json")) as f:
            version = re.search(r'"version":\s*"([^"]+)"', f.read()).group(1)
    except OSError:
        sys.exit("FAIL: %s not installed: run bash bazel/setup.sh" % pkg)
    if version != XDS_JS_VERSION:
        sys.exit("FAIL: @grpc/grpc-js-xds %s installed, %s expected: run bash bazel/setup.sh"
                 % (version, XDS_JS_VERSION))
    return os.path.join(pkg, "deps")


def patched_validate(deps, tmp):
    """The package's protoc-gen-validate copy is older than its envoy-api copy,
    whose annotations use `ignore_empty`; protoc must parse those options
    (they mean nothing on the wire), so give each *Rules message that field."""
    src = os.path.join(deps, "protoc-gen-validate", "validate", "validate.proto")
    out_dir = os.path.join(tmp, "pgv", "validate")
    os.makedirs(out_dir)
    n = 0
    lines = []
    with open(src) as f:
        for line in f:
            lines.append(line)
            if re.match(r"^message \w+Rules \{", line):
                n += 1
                lines.append("  optional bool ignore_empty = %d;\n" % (1000 + n))
    with open(os.path.join(out_dir, "validate.proto"), "w") as f:
        f.writelines(lines)
    return os.path.join(tmp, "pgv")


def load_fds(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return fds


def pool_of(fds):
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    return pool


def decode(pool, full_name, data):
    cls = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(full_name))
    msg = cls()
    msg.ParseFromString(data)
    return msg


def unpack(pool, any_msg):
    name = any_msg.type_url.split("/")[-1]
    return decode(pool, name, any_msg.value)


def main(argv):
    ours_pb, dump_bin, checker_py = argv[1:4]
    deps = upstream_deps()
    tmp = tempfile.mkdtemp(prefix="xds_upstream_")

    # 1. Descriptors, field by field.
    ours_fds = load_fds(ours_pb)
    files = [f.name for f in ours_fds.file if not f.name.startswith("google/protobuf/")]
    upstream_pb = os.path.join(tmp, "upstream.pb")
    cmd = ["protoc"] + ["-I" + p for p in (
        os.path.join(deps, "envoy-api"), os.path.join(deps, "xds"), os.path.join(deps, "googleapis"),
        patched_validate(deps, tmp), "/usr/include")] + [
        "--include_imports", "--descriptor_set_out=" + upstream_pb] + files
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: protoc on Envoy's files:\n" + r.stderr)
    spec = importlib.util.spec_from_file_location("check_upstream", checker_py)
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    check(checker.main(["check_upstream", ours_pb, upstream_pb]) == 0,
          "proto/ differs from Envoy's definitions (MISMATCH lines above)")

    # 2. The C-encoded samples, read by both.
    up_pool = pool_of(load_fds(upstream_pb))
    our_pool = pool_of(ours_fds)
    out = os.path.join(tmp, "samples")
    os.makedirs(out)
    subprocess.run([dump_bin, out], check=True)
    samples = {}
    for fname in sorted(os.listdir(out)):
        name, full_name = fname[:-len(".bin")].split(".", 1)
        with open(os.path.join(out, fname), "rb") as f:
            data = f.read()
        up = decode(up_pool, full_name, data)
        ours = decode(our_pool, full_name, data)
        d_up = json_format.MessageToDict(up, preserving_proto_field_name=True, descriptor_pool=up_pool)
        d_ours = json_format.MessageToDict(ours, preserving_proto_field_name=True, descriptor_pool=our_pool)
        check(d_up == d_ours and len(d_up) > 1,
              "%s: Envoy reads %r\n  we wrote %r" % (name, d_up, d_ours))
        samples[name] = up

    # A few values by name, through Envoy's definitions only.
    lis = samples["listener_http"]
    check(lis.address.socket_address.port_value == 8443, "listener port")
    chain = lis.filter_chains[0]
    check(list(chain.filter_chain_match.server_names) == ["api.example.com", "*.api.example.com"], "server_names")
    hcm = unpack(up_pool, chain.filters[0].typed_config)
    check(hcm.rds.route_config_name == "local_route" and hcm.rds.config_source.HasField("ads"), "hcm rds")
    check([f.name for f in hcm.http_filters] ==
          ["envoy.filters.http.local_ratelimit", "envoy.filters.http.rbac", "envoy.filters.http.router"], "filters")
    rl = unpack(up_pool, hcm.http_filters[0].typed_config)
    check(rl.status.code == 429 and rl.token_bucket.max_tokens == 100 and
          rl.token_bucket.fill_interval.seconds == 1, "local rate limit")
    rbac = unpack(up_pool, hcm.http_filters[1].typed_config)
    pol = rbac.rules.policies["frontend-reads-api"]
    check(pol.principals[0].authenticated.principal_name.exact == "spiffe://mesh.local/ns/default/sa/frontend",
          "rbac principal")
    check(pol.principals[1].and_ids.ids[1].not_id.source_ip.prefix_len.value == 16, "rbac not_id")
    check(pol.permissions[1].destination_port == 8443, "rbac port")
    dtls = unpack(up_pool, chain.transport_socket.typed_config)
    check(dtls.require_client_certificate.value and
          dtls.common_tls_context.tls_certificate_sds_secret_configs[0].name == "server_cert", "downstream tls")
    tcp = unpack(up_pool, samples["listener_tcp"].filter_chains[0].filters[0].typed_config)
    check([(c.name, c.weight) for c in tcp.weighted_clusters.clusters] == [("db_primary", 3), ("db_replica", 1)],
          "tcp_proxy weights")
    rc = samples["route"]
    routes = rc.virtual_hosts[0].routes
    check(routes[0].route.weighted_clusters.clusters[1].weight.value == 10 and
          routes[0].route.retry_policy.num_retries.value == 3, "route 1")
    check(routes[1].match.safe_regex.regex == "^/users/[0-9]+$" and
          routes[1].route.host_rewrite_literal == "users.internal", "route 2")
    check(routes[2].redirect.response_code == 4 and routes[2].redirect.https_redirect, "route 3")
    check(routes[3].direct_response.status == 404 and routes[3].direct_response.body.inline_string == "no route\n",
          "route 4")
    cl = samples["cluster_eds"]
    check(cl.type == 3 and cl.lb_policy == 1 and cl.connect_timeout.nanos == 250000000, "cluster type/lb")
    check(cl.health_checks[0].http_health_check.path == "/healthz", "health check")
    check(cl.circuit_breakers.thresholds[0].max_requests.value == 2048, "circuit breakers")
    hpo = unpack(up_pool, cl.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"])
    check(hpo.explicit_http_config.http2_protocol_options.max_concurrent_streams.value == 100, "h2 options")
    st = samples["cluster_static"]
    check(st.HasField("type") and st.type == 0 and
          st.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "10.1.0.11",
          "static cluster")
    resp = samples["response"]
    check(len(resp.resources) == 2 and unpack(up_pool, resp.resources[1]).name == "db_primary", "response")
    dresp = samples["delta_response"]
    cla = unpack(up_pool, dresp.resources[0].resource)
    check(cla.endpoints[1].priority == 1 and cla.policy.overprovisioning_factor.value == 140 and
          list(dresp.removed_resources) == ["api_v0"], "delta response")
    req = samples["request"]
    check(req.node.metadata.fields["weight"].number_value == 2.5 and req.error_detail.code == 3, "request")
    dreq = samples["delta_request"]
    check(dict(dreq.initial_resource_versions) == {"api_v1": "4"} and
          list(dreq.resource_names_unsubscribe) == ["api_v0"], "delta request")

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
