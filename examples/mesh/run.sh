#!/usr/bin/env bash
# The mesh demo: installs what is missing (bazel/setup.sh), builds tern and
# tern-cp, then examples/mesh/demo.py starts tern-cp, the services and their
# tern sidecars (mTLS on every hop), narrates each step, prints a summary
# and stops everything.
#   bash examples/mesh/run.sh [--registry etcd]
# --registry etcd: api's instances register in etcd (Debian's etcd-server,
# installed by setup.sh) instead of being listed in the mesh file.
# TERN_BAZEL_ARGS / TERN_BUILD_ARGS (optional): extra bazel startup / build
# options (an output base, a symlink prefix); TERN_SKIP_SETUP=1 skips setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${TERN_SKIP_SETUP:-0}" = 1 ] || bash bazel/setup.sh
# shellcheck disable=SC2086
bz() { bazel ${TERN_BAZEL_ARGS:-} "$@"; }
echo "building tern and tern-cp..."
# shellcheck disable=SC2086
bz build ${TERN_BUILD_ARGS:-} //proxy:tern //xds:tern-cp >/dev/null 2>&1 ||
    bz build ${TERN_BUILD_ARGS:-} //proxy:tern //xds:tern-cp
bin="$(bz info bazel-bin 2>/dev/null)"
exec /usr/bin/python3 examples/mesh/demo.py --tern "$bin/proxy/tern" --tern-cp "$bin/xds/tern-cp" "$@"
