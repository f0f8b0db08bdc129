#!/usr/bin/env bash
# Runs xds_upstream_test.py with Debian's Python (python3-protobuf), never the
# first python3 on PATH. Usage: run_upstream_test.sh OURS.pb DUMP TEST.py CHECKER.py
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$3" "$1" "$(realpath "$2")" "$4"
