#!/usr/bin/env bash
# Runs one end-to-end test file with Debian's Python (never the first python3
# on PATH, which may lack Debian's python3-* packages).
# Usage (from Bazel): run_py.sh <path-to-tern> <test.py> [args...]
set -euo pipefail
TERN_BIN="$(realpath "$1")"
export TERN_BIN
shift
test_py="$1"
shift
export PYTHONPATH="$(dirname "$(realpath "$test_py")")/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$test_py" "$@"
