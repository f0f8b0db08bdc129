#!/usr/bin/env bash
# The main job: installs what is missing, builds tern, starts three small
# HTTP backends and tern in front of them (examples/tcp/tern.cfg.in), shows
# round robin, a backend failing and its traffic moving away, then leaves
# tern running until Ctrl-C so you can point curl at it.
#   bash examples/demo.sh          # interactive: runs until Ctrl-C
#   bash examples/demo.sh --once   # narrates and stops everything
set -euo pipefail
cd "$(dirname "$0")/.."
once=0; [ "${1:-}" = "--once" ] && once=1

bash bazel/setup.sh
echo "building tern..."
bazel build //proxy:tern >/dev/null 2>&1 || bazel build //proxy:tern
TERN="$(bazel info bazel-bin 2>/dev/null)/proxy/tern"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; /usr/bin/python3 -c 'import time; time.sleep(0.05)'; done; echo "port $1 never opened" >&2; return 1; }

PORT=$(free_port); ADMIN=$(free_port); S1=$(free_port); S2=$(free_port); S3=$(free_port)
for n in 1 2 3; do
  port_var="S$n"; mkdir -p "$work/web$n"
  echo "hello from web$n" > "$work/web$n/index.html"
  /usr/bin/python3 -m http.server "${!port_var}" --bind 127.0.0.1 --directory "$work/web$n" >/dev/null 2>&1 &
  pids+=($!)
done
sed -e "s/@PORT@/$PORT/; s/@ADMIN@/$ADMIN/; s/@S1@/$S1/; s/@S2@/$S2/; s/@S3@/$S3/" \
  examples/tcp/tern.cfg.in > "$work/tern.cfg"
for p in $S1 $S2 $S3; do wait_port "$p"; done

"$TERN" -f "$work/tern.cfg" 2> "$work/tern.log" &
tern_pid=$!; pids+=($tern_pid)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break; /usr/bin/python3 -c 'import time; time.sleep(0.05)'; done

echo
echo "tern is proxying 127.0.0.1:$PORT -> web1, web2 (web3 is a backup). Try:"
echo "    curl http://127.0.0.1:$PORT/"
echo "    curl http://127.0.0.1:$ADMIN/stats/prometheus"
echo "    curl http://127.0.0.1:$ADMIN/clusters"
echo
echo "-- four requests, round robin:"
for _ in 1 2 3 4; do echo "   $(curl -s "http://127.0.0.1:$PORT/")"; done
echo "-- web1 stops; tern marks it down after 2 failed checks and sends everything to web2:"
kill "${pids[0]}"
for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$ADMIN/stats/prometheus" | grep -q 'tern_server_up{proxy="web",server="web1"} 0' && break; /usr/bin/python3 -c 'import time; time.sleep(0.1)'; done
for _ in 1 2 3; do echo "   $(curl -s "http://127.0.0.1:$PORT/")"; done
echo "-- tern's log (health transitions and one access-log line per connection):"
grep -E "DOWN|UP|ready" "$work/tern.log" | tail -3 | sed 's/^/   /'
tail -2 "$work/tern.log" | sed 's/^/   /'

if [ "$once" -eq 1 ]; then
  kill -TERM "$tern_pid"; wait "$tern_pid" && echo "-- tern stopped gracefully (exit 0)"
  exit 0
fi
echo
echo "tern keeps running on 127.0.0.1:$PORT; Ctrl-C stops everything."
wait "$tern_pid"
