#!/usr/bin/env bash
# tern-cp with N simulated proxies (default 1,000) subscribed over ADS: the
# time from an etcd endpoint change to the last proxy's ACK, and tern-cp's
# RSS and CPU. Needs etcd-server / etcd-client (bazel/setup.sh). Results go
# to bench/RESULTS.md by hand. Usage: bench/terncp_bench.sh [--proxies N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
OB="${TERNCP_BENCH_OUTPUT_BASE:-$HOME/.cache/bazel-ob-terncp}"
bazel --output_base="$OB" build --symlink_prefix=/tmp/terncp- //xds:tern-cp //bench/terncp:ads_load >&2
BIN="$(bazel --output_base="$OB" info --symlink_prefix=/tmp/terncp- bazel-bin 2>/dev/null)"
exec /usr/bin/python3 -u bench/terncp_bench.py --terncp "$BIN/xds/tern-cp" --load "$BIN/bench/terncp/ads_load" "$@"
