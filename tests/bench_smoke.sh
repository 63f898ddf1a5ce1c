#!/usr/bin/env bash
# Smoke run of pushwire-bench against the real server: a few subscribers, a few
# messages, every transport; fails unless every message arrived exactly once.
set -euo pipefail
SERVER=$1 BENCH=$2 SEND_PATHS=$3 FLOORS=$4
DIR=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$DIR"' EXIT
start() {  # log-name server-flags... ; sets PID HTTP WS
  local log="$DIR/$1.log"; shift
  "$SERVER" --port 0 --ws-port 0 "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 600); do grep -q listening "$log" && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  read -r HTTP WS < <(sed -nE 's|.*https?://[^:]+:([0-9]+) wss?://[^:]+:([0-9]+).*|\1 \2|p' "$log")
}
start plain
for transport in websocket sse longpoll poll; do
  "$BENCH" --transport "$transport" --port "$HTTP" --ws-port "$WS" --pid "$PID" --subscribers 20 \
    --messages 30 --rate 300 --poll-interval-ms 100 --channel "smoke-$transport" --expect-no-loss >/dev/null
  "$BENCH" --transport "$transport" --scenario idle --port "$HTTP" --ws-port "$WS" --pid "$PID" \
    --subscribers 50 --duration-ms 300 --poll-interval-ms 1000 --channel "idle-$transport" --expect-no-loss >/dev/null
done
# The Node ws client of ./build.sh bench (bench/node_clients.mjs): ./build.sh deps installs
# its npm package; without it the WebSocket runs below would not run, so that is a failure.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -d "$ROOT/bench/node_modules/ws" ]]; then
  echo "bench smoke: bench/node_modules/ws is missing: run ./build.sh deps (npm ci in bench/)"
  exit 1
fi
line=$(node "$ROOT/bench/node_clients.mjs" --target pushwire --port "$HTTP" --ws-port "$WS" --pid "$PID" \
  --subscribers 20 --messages 30 --rate 100 --channel smoke-node 2>/dev/null)
grep -q '"lost":0,"duplicates":0' <<<"$line" || { echo "node-ws smoke: $line"; exit 1; }
# Reading one large publish, small: every size answered 200.
start big --max-message-bytes 1048576
line=$("$BENCH" --port "$HTTP" --ws-port "$WS" --pid "$PID" --scenario big-publish --keys 40000 --channel big \
  --expect-no-loss 2>/dev/null) || { echo "big-publish smoke: $line"; exit 1; }
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert len(r["sizes"]) == 4 and all(s["status"] == 200 and s["server_cpu_ms"] >= 0 for s in r["sizes"]), r' "$line" ||
  { echo "big-publish smoke: $line"; exit 1; }
# The auth runs: a token minted with openssl alone (as docs/security.md shows), the API key
# for the publisher; without the token the subscribers are refused.
openssl rand -hex 32 >"$DIR/secret"
openssl rand -hex 32 >"$DIR/api.key"
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
payload=$(printf '{"sub":"smoke","exp":%d,"subscribe":["*"]}' $(( $(date +%s) + 3600 )) | b64)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$(cat "$DIR/secret")" -binary | b64)
start auth --token-secret-file "$DIR/secret" --api-key-file "$DIR/api.key"
for transport in websocket sse longpoll; do
  "$BENCH" --transport "$transport" --port "$HTTP" --ws-port "$WS" --pid "$PID" --subscribers 20 --messages 30 \
    --rate 300 --channel "auth-$transport" --token "$header.$payload.$sig" --api-key "$(cat "$DIR/api.key")" \
    --expect-no-loss >/dev/null
  if "$BENCH" --transport "$transport" --port "$HTTP" --ws-port "$WS" --pid "$PID" --subscribers 2 --messages 3 \
    --channel "noauth-$transport" --api-key "$(cat "$DIR/api.key")" --expect-no-loss >/dev/null 2>&1; then
    echo "auth smoke: $transport subscribers without a token were not refused"; exit 1
  fi
done
# The TLS runs: Node's clients over wss:// and https:// against a certificate made here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -days 1 \
  -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
start tls --tls-cert "$DIR/cert.pem" --tls-key "$DIR/key.pem"
for transport in websocket sse; do
  line=$(node "$ROOT/bench/node_clients.mjs" --target pushwire --port "$HTTP" --pid "$PID" --transport "$transport" \
    --tls --subscribers 20 --messages 30 --rate 100 --channel "tls-$transport" 2>/dev/null)
  grep -q '"expected":1000,"received":1000,"lost":0,"duplicates":0' <<<"$line" || { echo "tls smoke $transport: $line"; exit 1; }
done
# The kernel's floor of ./build.sh bench: pushwire-send-paths, one JSON line with both
# sides' CPU per message, over both write paths (io_uring skipped, status 3, where the
# kernel refuses it).
for path in sendmsg io_uring; do
  status=0
  line=$("$SEND_PATHS" "$path" --json --sockets 20 --rounds 10 --rate 200 --warmup 2) || status=$?
  [[ $path == io_uring && $status == 3 ]] && continue
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["target"] == "floor" and r["send"] == sys.argv[2] and r["server_cpu_us_per_delivery"] > 0 and r["bench_cpu_us_per_delivery"] > 0, r' "$line" "$path" ||
    { echo "floor smoke $path (exit $status): $line"; exit 1; }
done
# The floors of pushwire-floors: long-poll, HTTP publish (paced and as fast as accepted),
# a TLS record (io_uring refused: status 3, skipped as above).
for mode in "longpoll --rate 200" "publish --rate 0" "publish --rate 400" "tls --rate 200"; do
  status=0
  # shellcheck disable=SC2086
  line=$("$FLOORS" $mode --json --sockets 4 --rounds 10 --warmup 2) || status=$?
  [[ $status == 3 ]] && continue
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); k = "publish" if r["send"] == "publish" else "delivery"; assert r["target"] == "floor" and r["send"] == sys.argv[2].split()[0] and r["server_cpu_us_per_" + k] > 0 and r["bench_cpu_us_per_" + k] > 0, r' "$line" "$mode" ||
    { echo "floor smoke $mode (exit $status): $line"; exit 1; }
done
# The chat scenario, small: many channels, publishes from HTTP and WebSocket clients, and
# NDJSON batches; every message once to every subscriber of its channel.
start chat
for args in "--transport websocket --publish-from both --rate 0" "--transport websocket --publish-from ws --rate 500" \
  "--transport sse --rate 500" "--transport longpoll --rate 0 --batch 10"; do
  # shellcheck disable=SC2086
  line=$("$BENCH" --scenario chat $args --port "$HTTP" --ws-port "$WS" --pid "$PID" --channels 40 --per-channel 2 \
    --messages 120 --http-publishers 3 --channel "chat$RANDOM" --expect-no-loss 2>/dev/null) ||
    { echo "chat smoke $args: $line"; exit 1; }
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["expected"] == 40 * 2 * 4 == r["received"] and r["server_cpu_us_per_publish"] > 0, r' "$line" ||
    { echo "chat smoke $args: $line"; exit 1; }
done
# Publishes only (the channel-growth runs): every publish answered, no errors, no delivery.
line=$("$BENCH" --scenario chat --transport websocket --publish-from http --rate 0 --port "$HTTP" --ws-port "$WS" \
  --pid "$PID" --channels 50 --per-channel 0 --messages 200 --http-publishers 3 --channel "grow$RANDOM" \
  --expect-no-loss 2>/dev/null) || { echo "publish-only smoke: $line"; exit 1; }
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["messages"] == 200 and r["publish_errors"] == 0 and r["received"] == 0 and r["server_cpu_us_per_publish"] > 0 and r["server_rss_end_bytes"] > 0, r' "$line" ||
  { echo "publish-only smoke: $line"; exit 1; }
# The presence scenario, small: a presence channel with join/leave, one without, a plain
# one; the member set counted by the API, stats read, every member gone after the leaves.
start presence --presence 'pr*,pj*' --join-leave 'pj*' --presence-grace-ms 0 --api-key-file "$DIR/api.key"
for channel in pj1 pr1 x1; do
  line=$("$BENCH" --scenario presence --port "$HTTP" --ws-port "$WS" --pid "$PID" --api-key "$(cat "$DIR/api.key")" \
    --subscribers 40 --duration-ms 300 --channel "$channel" --expect-no-loss 2>/dev/null) ||
    { echo "presence smoke $channel: $line"; exit 1; }
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); plain = sys.argv[2] == "x1"; assert r["failed_subscribers"] == 0 and r["join_cpu_us_per_member"] > 0 and (plain or r["stats_ms"]["p50"] > 0), r' "$line" "$channel" ||
    { echo "presence smoke $channel: $line"; exit 1; }
done
echo "bench smoke: every transport, with tokens, over TLS, the floors, chat, presence: passed"
