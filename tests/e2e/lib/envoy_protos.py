"""envoy_protos: Envoy's own .proto files, compiled once per process.

The @grpc/grpc-js-xds npm package (pinned in bazel/setup.sh) ships Envoy's
definitions under deps/ (envoy-api, xds, googleapis, protoc-gen-validate);
Debian's protoc compiles them into a descriptor set loaded with
google.protobuf, so the tests encode and decode xDS with the upstream
definitions, never tern's (a wire mismatch fails a test).

    pool = envoy_pool()            # a DescriptorPool, compiled on first use
    cls = message_class("envoy.config.cluster.v3.Cluster")
"""

import os
import re
import subprocess
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

XDS_JS_VERSION = "1.14.1"

ENVOY_FILES = [
    "envoy/service/discovery/v3/ads.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/extensions/transport_sockets/tls/v3/tls.proto",
    "envoy/extensions/transport_sockets/tls/v3/secret.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/http/rbac/v3/rbac.proto",
    "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
    "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
    "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
]

_POOL = None
_CLASSES = {}


def _deps():
    npm = os.environ.get("TERN_NPM_DIR", "/opt/tern-deps/npm")
    pkg = os.path.join(npm, "node_modules", "@grpc", "grpc-js-xds")
    try:
        with open(os.path.join(pkg, "package.json")) as f:
            version = re.search(r'"version":\s*"([^"]+)"', f.read()).group(1)
    except OSError:
        raise RuntimeError("%s not installed: run bash bazel/setup.sh" % pkg)
    if version != XDS_JS_VERSION:
        raise RuntimeError("@grpc/grpc-js-xds %s, %s expected: run bash bazel/setup.sh"
                           % (version, XDS_JS_VERSION))
    return os.path.join(pkg, "deps")


def _patched_validate(deps, tmp):
    # The package's protoc-gen-validate is older than its envoy-api, whose
    # options use `ignore_empty`: give each *Rules message that field so
    # protoc parses the options (they mean nothing on the wire).
    src = os.path.join(deps, "protoc-gen-validate", "validate", "validate.proto")
    out = os.path.join(tmp, "pgv", "validate")
    os.makedirs(out)
    lines, n = [], 0
    with open(src) as f:
        for line in f:
            lines.append(line)
            if re.match(r"^message \w+Rules \{", line):
                n += 1
                lines.append("  optional bool ignore_empty = %d;\n" % (1000 + n))
    with open(os.path.join(out, "validate.proto"), "w") as f:
        f.writelines(lines)
    return os.path.join(tmp, "pgv")


def envoy_pool():
    """The DescriptorPool of ENVOY_FILES and their imports (compiled once)."""
    global _POOL
    if _POOL:
        return _POOL
    deps = _deps()
    tmp = tempfile.mkdtemp(prefix="envoy-protos-", dir=os.environ.get("TEST_TMPDIR"))
    out = os.path.join(tmp, "envoy.pb")
    cmd = ["protoc"] + ["-I" + p for p in (
        os.path.join(deps, "envoy-api"), os.path.join(deps, "xds"),
        os.path.join(deps, "googleapis"), _patched_validate(deps, tmp), "/usr/include")] + [
        "--include_imports", "--descriptor_set_out=" + out] + ENVOY_FILES
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("protoc on Envoy's files failed:\n" + r.stderr)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    _POOL = pool
    return pool


def message_class(full_name):
    """The generated class of message `full_name` from envoy_pool()."""
    c = _CLASSES.get(full_name)
    if c is None:
        desc = envoy_pool().FindMessageTypeByName(full_name)
        c = message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass") \
            else message_factory.MessageFactory(envoy_pool()).GetPrototype(desc)
        _CLASSES[full_name] = c
    return c
