#!/usr/bin/env bash
# Installs what tern's build and tests need on a Debian 12 machine, and nothing
# else. Idempotent: packages already present are not touched, and apt is only
# called when something is missing. Usage: bash bazel/setup.sh [extra-package...]
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-bootstrap-source gcc g++ libc6-dev
  # system libraries (bazel/BUILD)
  libevent-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  libgrpc-dev libssl-dev libpcre2-dev libyaml-dev
  # proto/: well-known .proto files, protoc (descriptor sets), Python protobuf (tests)
  libprotobuf-dev protobuf-compiler python3-protobuf
  # tests: unit framework, fuzzing toolchain, real peers
  libcmocka-dev clang-14 libclang-rt-14-dev python3 curl nginx-light
  # HTTP/2 tests: h2load, a low-level h2 client, gRPC client and server
  nghttp2-client python3-h2 python3-grpcio
  # tern-cp tests: etcd as the service registry
  etcd-server etcd-client
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# Envoy's own .proto files, as the npm package @grpc/grpc-js-xds ships them
# (deps/envoy-api, deps/xds, deps/googleapis), with grpc-js and proto-loader for
# a Node control plane in tests. Tests compare proto/ against these files and
# decode our C-encoded bytes with them. Pinned; installed once, outside the tree.
TERN_NPM_DIR="${TERN_NPM_DIR:-/opt/tern-deps/npm}"
XDS_JS_VERSION=1.14.1
xds_pkg="$TERN_NPM_DIR/node_modules/@grpc/grpc-js-xds/package.json"
if ! grep -q "\"version\": \"$XDS_JS_VERSION\"" "$xds_pkg" 2>/dev/null; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing npm (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >&2
    $SUDO apt-get install -y -q --no-install-recommends npm >&2
  fi
  echo "setup: npm install @grpc/grpc-js-xds@$XDS_JS_VERSION into $TERN_NPM_DIR" >&2
  $SUDO mkdir -p "$TERN_NPM_DIR"
  $SUDO npm install --prefix "$TERN_NPM_DIR" --no-audit --no-fund --omit=dev \
    "@grpc/grpc-js-xds@$XDS_JS_VERSION" >&2
fi
