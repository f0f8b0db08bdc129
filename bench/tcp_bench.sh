#!/usr/bin/env bash
# Side-by-side TCP-mode benchmark of tern and HAProxy 2.6 (Debian's haproxy):
# same nginx backend, one proxy worker thread each, pinned CPUs, alternating
# rounds. Prints throughput, proxy CPU time per request/connection and the
# tern/haproxy ratio, plus idle and per-idle-connection memory.
# A benchmark, not a pass/fail test. See bench/README.md.
#
# Usage: bench/tcp_bench.sh [--haproxy-only] [driver options, see
#        python3 bench/tcp_bench.py --help], e.g. --rounds 5 --duration 4
# Env:   TERN_BIN            use this tern binary, skip the build
#        BENCH_BAZEL_STARTUP bazel startup options (e.g. --output_base=...)
#        BENCH_BAZEL_FLAGS   bazel build options (e.g. --symlink_prefix=...)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
cmdline="bench/tcp_bench.sh${*:+ $*}"

haproxy_only=0
args=()
for a in "$@"; do
  if [ "$a" = "--haproxy-only" ]; then haproxy_only=1; else args+=("$a"); fi
done

# Packages: the backend, the load generator, the proxy to compare with,
# taskset; perf only matters for --profile.
extra=(haproxy nginx wrk util-linux)
for a in "${args[@]+"${args[@]}"}"; do
  case "$a" in
    --profile*) extra+=(linux-perf) ;;
    --syscalls) extra+=(linux-perf) ;;
  esac
done
bash bazel/setup.sh "${extra[@]}"

# 5,000 idle connections need about 10,000 descriptors in the proxy.
ulimit -n "$(ulimit -Hn)"

tern_args=()
if [ "$haproxy_only" = 0 ]; then
  if [ -z "${TERN_BIN:-}" ]; then
    # shellcheck disable=SC2086 # word splitting of option lists is intended
    bazel ${BENCH_BAZEL_STARTUP:-} build ${BENCH_BAZEL_FLAGS:-} //proxy:tern >&2
    # shellcheck disable=SC2086
    TERN_BIN="$(bazel ${BENCH_BAZEL_STARTUP:-} info ${BENCH_BAZEL_FLAGS:-} \
      bazel-bin 2>/dev/null)/proxy/tern"
  fi
  [ -x "$TERN_BIN" ] || { echo "tcp_bench: no tern binary at $TERN_BIN" >&2; exit 1; }
  tern_args=(--tern "$TERN_BIN")
fi

exec /usr/bin/python3 "$here/tcp_bench.py" --command "$cmdline" \
  "${tern_args[@]+"${tern_args[@]}"}" "${args[@]+"${args[@]}"}"
