#!/usr/bin/env bash
# 10,000 clusters with endpoints pushed to tern through xDS (the test control
# plane, Envoy's own protos): time to apply, peak RSS, the longest data-path
# stall of a client sending requests throughout. A benchmark, not a
# pass/fail test; figures in bench/RESULTS.md. See bench/xds_bench.py.
#
# Usage: bench/xds_bench.sh [--clusters N] [--endpoints K] [--protocol delta|sotw]
#                           [--json FILE] [--cp-nice N] [--trace FILE] [--perf FILE]
# (--help: what each does). The probing clients and their backend run in a
# process of their own, apart from the control plane.
# Env:   TERN_BIN            use this tern binary, skip the build
#        BENCH_BAZEL_STARTUP bazel startup options (e.g. --output_base=...)
#        BENCH_BAZEL_FLAGS   bazel build options (e.g. --symlink_prefix=...)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

if [ -z "${TERN_BIN:-}" ]; then
  # shellcheck disable=SC2086 # word splitting of option lists is intended
  bazel ${BENCH_BAZEL_STARTUP:-} build ${BENCH_BAZEL_FLAGS:-} //proxy:tern >&2
  # shellcheck disable=SC2086
  TERN_BIN="$(bazel ${BENCH_BAZEL_STARTUP:-} info ${BENCH_BAZEL_FLAGS:-} \
    bazel-bin 2>/dev/null)/proxy/tern"
fi
export TERN_BIN
exec /usr/bin/python3 -u "$here/xds_bench.py" "$@"
