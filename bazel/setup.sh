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
  libgrpc-dev libssl-dev libpcre2-dev
  # tests: unit framework, fuzzing toolchain, real peers
  libcmocka-dev clang-14 libclang-rt-14-dev python3 curl nginx-light
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
