#!/usr/bin/env bash
# Side-by-side HTTP/1.1 keep-alive benchmark of tern (mode http), HAProxy 2.6
# and nginx 1.22 as a reverse proxy (Debian's packages), plus nginx serving
# the response itself (the CPU floor): same nginx backend, one worker each,
# pinned CPUs, alternating rounds. Prints requests/s, CPU time per request of
# each process under test, the ratios, errors and server-connection churn,
# and memory per idle keep-alive client connection.
# A benchmark, not a pass/fail test. See bench/README.md.
#
# Usage: bench/http_bench.sh [--without-tern] [driver options, see
#        python3 bench/http_bench.py --help], e.g. --rounds 5 --duration 4
# Env:   TERN_BIN            use this tern binary, skip the build
#        BENCH_BAZEL_STARTUP bazel startup options (e.g. --output_base=...)
#        BENCH_BAZEL_FLAGS   bazel build options (e.g. --symlink_prefix=...)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
cmdline="bench/http_bench.sh${*:+ $*}"

without_tern=0
args=()
for a in "$@"; do
  if [ "$a" = "--without-tern" ]; then without_tern=1; else args+=("$a"); fi
done

bash bazel/setup.sh haproxy nginx wrk util-linux

# 5,000 idle connections need about 5,000 descriptors in the proxy.
ulimit -n "$(ulimit -Hn)"

tern_args=()
if [ "$without_tern" = 0 ]; then
  if [ -z "${TERN_BIN:-}" ]; then
    # shellcheck disable=SC2086 # word splitting of option lists is intended
    bazel ${BENCH_BAZEL_STARTUP:-} build ${BENCH_BAZEL_FLAGS:-} //proxy:tern >&2
    # shellcheck disable=SC2086
    TERN_BIN="$(bazel ${BENCH_BAZEL_STARTUP:-} info ${BENCH_BAZEL_FLAGS:-} \
      bazel-bin 2>/dev/null)/proxy/tern"
  fi
  [ -x "$TERN_BIN" ] || { echo "http_bench: no tern binary at $TERN_BIN" >&2; exit 1; }
  tern_args=(--tern "$TERN_BIN")
fi

exec /usr/bin/python3 "$here/http_bench.py" --command "$cmdline" \
  "${tern_args[@]+"${tern_args[@]}"}" "${args[@]+"${args[@]}"}"
