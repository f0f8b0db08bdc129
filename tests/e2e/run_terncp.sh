#!/usr/bin/env bash
# Runs one tern-cp end-to-end test with Debian's Python (python3-grpcio,
# python3-protobuf). Usage: run_terncp.sh <tern-cp> <test.py> [args...]
set -euo pipefail
TERNCP_BIN="$(realpath "$1")"
export TERNCP_BIN
test_py="$2"
shift 2
export PYTHONPATH="$(dirname "$(realpath "$test_py")")/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$test_py" "$@"
