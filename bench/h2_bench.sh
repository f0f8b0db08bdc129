#!/usr/bin/env bash
# Side-by-side HTTP/2 benchmark of tern and HAProxy 2.6 (Debian's package):
# h2load (nghttp2-client) with prior-knowledge h2c to `bind ... proto h2`,
# HTTP/1.1 or h2c (--modes h2->h1,h2->h2) to the same nginx backend, one
# worker each, pinned CPUs, memory per idle h2 connection (--idle-conns),
# alternating rounds; requests/s, CPU time per request and the ratios.
# A benchmark, not a pass/fail test. See bench/README.md.
#
# Usage: bench/h2_bench.sh [driver options, see python3 bench/h2_bench.py
#        --help], e.g. --rounds 4 --duration 3 --conns 4 --streams 25
# Env:   TERN_BIN            use this tern binary, skip the build
#        BENCH_BAZEL_STARTUP bazel startup options (e.g. --output_base=...)
#        BENCH_BAZEL_FLAGS   bazel build options (e.g. --symlink_prefix=...)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
cmdline="bench/h2_bench.sh${*:+ $*}"

bash bazel/setup.sh haproxy nginx nghttp2-client util-linux

ulimit -n "$(ulimit -Hn)"

if [ -z "${TERN_BIN:-}" ]; then
  # shellcheck disable=SC2086 # word splitting of option lists is intended
  bazel ${BENCH_BAZEL_STARTUP:-} build ${BENCH_BAZEL_FLAGS:-} //proxy:tern >&2
  # shellcheck disable=SC2086
  TERN_BIN="$(bazel ${BENCH_BAZEL_STARTUP:-} info ${BENCH_BAZEL_FLAGS:-} \
    bazel-bin 2>/dev/null)/proxy/tern"
fi
[ -x "$TERN_BIN" ] || { echo "h2_bench: no tern binary at $TERN_BIN" >&2; exit 1; }

exec /usr/bin/python3 "$here/h2_bench.py" --command "$cmdline" --tern "$TERN_BIN" "$@"
