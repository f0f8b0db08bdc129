#!/usr/bin/env bash
# Runs one mesh end-to-end test (tern sidecars driven by tern-cp) with
# Debian's Python. Usage: run_mesh.sh <tern> <tern-cp> <test.py> [args...]
set -euo pipefail
TERN_BIN="$(realpath "$1")"
TERNCP_BIN="$(realpath "$2")"
export TERN_BIN TERNCP_BIN
test_py="$3"
shift 3
export PYTHONPATH="$(dirname "$(realpath "$test_py")")/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$test_py" "$@"
