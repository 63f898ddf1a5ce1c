#!/usr/bin/env bash
# Smoke run of pushwire-bench against the real server: a few subscribers, a few
# messages, every transport; fails unless every message arrived exactly once.
set -euo pipefail
SERVER=$1 BENCH=$2
LOG=$(mktemp)
"$SERVER" --port 0 --ws-port 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q listening "$LOG" && break; sleep 0.05; done
read -r HTTP WS < <(sed -nE 's|.*http://[^:]+:([0-9]+) ws://[^:]+:([0-9]+).*|\1 \2|p' "$LOG")
for transport in websocket sse longpoll poll; do
  "$BENCH" --transport "$transport" --port "$HTTP" --ws-port "$WS" --pid "$PID" --subscribers 20 \
    --messages 30 --rate 300 --poll-interval-ms 100 --channel "smoke-$transport" --expect-no-loss >/dev/null
  "$BENCH" --transport "$transport" --scenario idle --port "$HTTP" --ws-port "$WS" --pid "$PID" \
    --subscribers 50 --duration-ms 300 --poll-interval-ms 1000 --channel "idle-$transport" --expect-no-loss >/dev/null
done
# The Node ws client of ./build.sh bench (bench/node_ws.mjs), when its npm package is in.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -d "$ROOT/bench/node_modules/ws" ]]; then
  line=$(node "$ROOT/bench/node_ws.mjs" --target pushwire --port "$HTTP" --ws-port "$WS" --pid "$PID" \
    --subscribers 20 --messages 30 --rate 100 --channel smoke-node 2>/dev/null)
  grep -q '"lost":0,"duplicates":0' <<<"$line" || { echo "node-ws smoke: $line"; exit 1; }
fi
echo "bench smoke: 4 passed, 0 failed"
