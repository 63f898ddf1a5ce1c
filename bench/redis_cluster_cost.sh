#!/usr/bin/env bash
# Redis's cost per publish, one Redis vs a 3-master Redis Cluster (issue 26): pushwire
# nodes follow CHANNELS channels each (one SSE reader per node), PUBLISHES publishes go
# through one node, and each Redis node's CPU (INFO cpu: used_cpu_user + used_cpu_sys)
# and bytes sent to clients (INFO stats: total_net_output_bytes) and on the cluster bus
# (CLUSTER INFO: cluster_stats_messages_sent, counted as messages) are read before and
# after. With sharded pub/sub (SPUBLISH) a publication goes only to its master's
# subscribers and replicas, so each master's share falls as masters are added.
# Usage: bench/redis_cluster_cost.sh [build/native/bin/pushwire-server] (light: ~20 s)
set -euo pipefail
SERVER=${1:-build/native/bin/pushwire-server}
NODES=${NODES:-2}
CHANNELS=${CHANNELS:-30}
PUBLISHES=${PUBLISHES:-3000}
WORK=$(mktemp -d /tmp/pushwire-clusterbench-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
redis() { # port [extra...]
  local port=$1; shift; mkdir -p "$WORK/$port"
  (cd "$WORK/$port" && exec redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile redis.log "$@") &
  PIDS+=($!)
  for _ in $(seq 1 200); do redis-cli -p "$port" PING >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server on $port did not start" >&2; exit 1
}
stat() { # port -> "cpu_seconds output_bytes bus_messages"
  local cpu out bus
  cpu=$(redis-cli -p "$1" INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/{s+=$2} END{printf "%.4f", s}')
  out=$(redis-cli -p "$1" INFO stats | tr -d '\r' | awk -F: '/^total_net_output_bytes:/{print $2}')
  bus=$(redis-cli -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | awk -F: '/^cluster_stats_messages_sent:/{print $2}')
  echo "$cpu $out ${bus:-0}"
}
run() { # label broker-url ports...
  local label=$1 url=$2; shift 2
  local ports=("$@") nodes=() list=""
  for i in $(seq 1 "$CHANNELS"); do list+="${list:+,}bench-$i"; done
  for n in $(seq 1 "$NODES"); do
    local port; port=$(free_port)
    "$SERVER" --port "$port" --broker "$url" --log-level error >/dev/null 2>&1 &
    PIDS+=($!); nodes+=("$port")
    for _ in $(seq 1 400); do curl -sf "127.0.0.1:$port/pushwire/healthz" >/dev/null && break; sleep 0.05; done
    curl -sN "127.0.0.1:$port/pushwire/sse?channels=$list" >/dev/null &
    PIDS+=($!)
  done
  sleep 1
  local before=() after=()
  for p in "${ports[@]}"; do before+=("$(stat "$p")"); done
  python3 - "${nodes[0]}" "$CHANNELS" "$PUBLISHES" <<'PY'
import http.client, json, sys
port, channels, publishes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(publishes):
    c.request("POST", "/pushwire/publish", json.dumps({"channel": f"bench-{i % channels + 1}", "data": {"i": i, "pad": "x" * 100}}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  sleep 1
  for p in "${ports[@]}"; do after+=("$(stat "$p")"); done
  local i=0 total_cpu=0
  for p in "${ports[@]}"; do
    read -r c0 o0 b0 <<<"${before[$i]}"; read -r c1 o1 b1 <<<"${after[$i]}"
    local role; role=$(redis-cli -p "$p" ROLE | head -1)
    awk -v l="$label" -v p="$p" -v r="$role" -v c="$(echo "$c1 - $c0" | bc)" -v o="$((o1 - o0))" -v b="$((b1 - b0))" -v n="$PUBLISHES" \
      'BEGIN{printf "%-8s redis :%s %-6s CPU %6.1f us/publish, sent to clients %6.0f B/publish, cluster bus %.2f msg/publish\n", l, p, r, c*1e6/n, o/n, b/n}'
    i=$((i + 1))
  done
}
one=$(free_port); redis "$one"
run one "redis://127.0.0.1:$one" "$one"
cports=(); for i in 1 2 3 4 5 6; do p=$(cluster_port); cports+=("$p"); redis "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000; done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 1 300); do
  ok=$(for p in "${cports[@]}"; do redis-cli -p "$p" CLUSTER INFO | grep -c cluster_state:ok || true; done | paste -sd+ | bc)
  [ "$ok" = 6 ] && break
  sleep 0.2
done
[ "$ok" = 6 ] || { echo "the cluster did not become ok" >&2; exit 1; }
run cluster "redis+cluster://127.0.0.1:${cports[0]}" "${cports[@]}"
