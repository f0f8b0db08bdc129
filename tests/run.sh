#!/usr/bin/env bash
# tern's whole test suite, as CI runs it (.ci/run calls this):
#   1. installs whatever is missing (bazel/setup.sh, Debian packages only);
#   2. builds everything and runs every test (unit + end-to-end) with gcc;
#   3. runs the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   4. runs each libFuzzer target for a bounded time over a copy of its corpus;
#   5. ends with one line "N passed, N failed" (N counts test targets and fuzz runs).
# Usage: bash tests/run.sh [--quick]   (--quick: skip the sanitizer and fuzz passes)
# Env: FUZZ_BUDGET (default 420) seconds of fuzzing shared by the fuzz targets, each
#      getting between 20 and 60; FUZZ_SECONDS, when set, is the time of each instead
#      (the CI run must stay under 30 minutes on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
FUZZ_BUDGET="${FUZZ_BUDGET:-420}"
FUZZ_SECONDS="${FUZZ_SECONDS:-}"

bash bazel/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
failures=()
logdir="$(mktemp -d)"

# Runs `bazel test` with the given flags and counts each test target's verdict.
run_suite() {
  local label="$1"; shift
  local log="$logdir/$label.log"
  echo "=== $label: bazel test $* //..."
  bazel test "$@" --test_summary=short //... 2>&1 | tee "$log" | grep -E "PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|ERROR" | grep -v "^INFO"
  local p f
  p=$(grep -cE "^//[^ ]+ +(\(cached\) )?PASSED" "$log")
  f=$(grep -cE "^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|FAILED TO BUILD)" "$log")
  if grep -qE "^ERROR: " "$log" && [ "$f" -eq 0 ]; then
    f=1  # the build itself failed
    failures+=("$label: build error (see above)")
  fi
  while read -r t; do failures+=("$label: $t"); done < <(grep -oE "^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY)" "$log" | awk '{print $1}')
  passed=$((passed + p))
  failed=$((failed + f))
  echo "=== $label: $p passed, $f failed"
}

run_fuzz() {
  local targets
  # Every cc_binary named *_fuzz under tests/fuzz; its seed corpus is
  # <package>/corpus/<name without _fuzz>/.
  targets=$(bazel query 'kind("cc_binary", attr(name, "_fuzz$", //tests/fuzz/...))' 2>/dev/null)
  [ -n "$targets" ] || return 0
  echo "=== fuzz: building $targets"
  if ! bazel build --config=fuzz $targets 2>&1 | tail -3; then
    failed=$((failed + 1)); failures+=("fuzz: build failed"); return
  fi
  if [ -z "$FUZZ_SECONDS" ]; then
    local n
    n=$(echo "$targets" | wc -w)
    FUZZ_SECONDS=$((FUZZ_BUDGET / n))
    [ "$FUZZ_SECONDS" -le 60 ] || FUZZ_SECONDS=60
    [ "$FUZZ_SECONDS" -ge 20 ] || FUZZ_SECONDS=20
  fi
  for t in $targets; do
    local name="${t##*:}"
    local pkg="${t#//}"; pkg="${pkg%%:*}"
    local corpus_src="$pkg/corpus/${name%_fuzz}"
    local bin
    bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)/$pkg/$name"
    local work="$logdir/corpus-$name"
    mkdir -p "$work"
    cp -r "$corpus_src"/. "$work"/ 2>/dev/null || true
    echo "=== fuzz: $name for ${FUZZ_SECONDS}s"
    if "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$logdir/$name-" "$work" > "$logdir/$name.log" 2>&1; then
      passed=$((passed + 1))
      tail -2 "$logdir/$name.log"
    else
      failed=$((failed + 1)); failures+=("fuzz: $name (crash input in $logdir)")
      tail -40 "$logdir/$name.log"
    fi
  done
}

run_suite default
if [ "$quick" -eq 0 ]; then
  run_suite asan --config=asan
  run_fuzz
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "Failures:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
