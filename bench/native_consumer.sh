#!/usr/bin/env bash
# The native client as a consumer (docs/cpp.md, "How much one native consumer takes"): one
# `pushwire sub` (the C++ client on one io_context thread, printing each message as a JSON
# line to /dev/null) and pushwire-bench's own subscriber on one channel of a local server,
# fed by pushwire-bench's publisher at RATE messages/s (default 20000: a consumer slower than the
# publisher is cut by the server and resumes from history, which may no longer hold all). Prints, per transport,
# the CLI's CPU per delivery and deliveries per CPU-second (= per core, the client being
# one thread), beside pushwire-bench's JSON line (its bench_cpu_us_per_delivery counts its
# subscriber and its publisher, both in its process).
#   bench/native_consumer.sh build/native [MESSAGES] [TRANSPORTS...]
set -euo pipefail
BUILD=${1:-build/native} MESSAGES=${2:-100000}
shift $(( $# > 2 ? 2 : $# ))
TRANSPORTS=("${@:-websocket}")
[[ ${#TRANSPORTS[@]} -gt 0 ]] || TRANSPORTS=(websocket)
DIR=$(mktemp -d)
SERVER_PID=""
trap '[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$DIR"' EXIT
"$BUILD/bin/pushwire-server" --port 0 >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 600); do grep -q listening "$DIR/server.log" && break; sleep 0.1; done
PORT=$(sed -nE 's|.*http://[^:]+:([0-9]+) .*|\1|p' "$DIR/server.log" | head -1)
WARMUP=20
for transport in "${TRANSPORTS[@]}"; do
  channel="native-$transport"
  # The CLI under a rusage wrapper: its user+system CPU once it has read every message.
  python3 - "$BUILD/bin/pushwire" "http://127.0.0.1:$PORT" "$channel" "$transport" $((MESSAGES + WARMUP)) \
    "$DIR/cli.err" >"$DIR/cli.json" <<'PY' &
import json, resource, subprocess, sys, time
cli, url, channel, transport, count = sys.argv[1:6]
start = time.monotonic()
errors = open(sys.argv[6], "w")
proc = subprocess.run([cli, "sub", url, channel, "--transport", transport, "--count", count, "--verbose"],
                      stdout=subprocess.DEVNULL, stderr=errors)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"transport": transport, "exit": proc.returncode, "deliveries": int(count),
                  "cpu_s": round(cpu, 3), "cpu_us_per_delivery": round(cpu * 1e6 / int(count), 2),
                  "deliveries_per_cpu_s": round(int(count) / cpu), "wall_s": round(time.monotonic() - start, 2),
                  "max_rss_kb": usage.ru_maxrss}))
PY
  WRAPPER=$!
  # Connected (and its subscribe sent right after) before the first publish: it reads from now.
  for _ in $(seq 600); do grep -q connected "$DIR/cli.err" 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  "$BUILD/bin/pushwire-bench" --port "$PORT" --ws-port "$PORT" --transport "$transport" --subscribers 1 \
    --messages "$MESSAGES" --warmup "$WARMUP" --rate "${RATE:-20000}" --channel "$channel" --pid "$SERVER_PID" 2>/dev/null
  wait "$WRAPPER"
  cat "$DIR/cli.json"
done
