#!/usr/bin/env bash
# Runs every scenario against pushwire and Nchan, each transport, each server fresh, on
# this machine in one go, and writes docs/benchmarks.md, bench/results/latest.json and
# the plots. Called by ./build.sh bench. Knobs (environment):
#   SUBSCRIBERS (1000)  LATENCY_MESSAGES (300) at RATE (100 msg/s)
#   THROUGHPUT_MESSAGES (1000, 300 for the polling transports)  IDLE (10000)  BYTES (100)
#   TRANSPORTS ("websocket sse longpoll poll")  REPEAT (3): runs of each fan-out scenario,
#   alternating servers; the report takes the median of each number
#   NODE_WS_RATE (20)  NODE_WS_MESSAGES (300): the WebSocket fan-out again with Node's ws
#   library as the subscriber (bench/node_clients.mjs)
#   BIG_PUBLISH_KEYS (400000): the largest object of the big-publish run (N/8 to N keys)
#   REDIS_TRANSPORTS ("websocket sse"): the fan-out with a Redis broker: pushwire on one
#   node and on two (subscribers split over both, publishing on the first) against Nchan
#   with its Redis storage; every process of each side is measured, Redis included
#   CHAT_CHANNELS (9000) CHAT_PER_CHANNEL (2) CHAT_MESSAGES (20000) CHAT_RATE (2000)
#   CHAT_TRANSPORTS ("websocket sse longpoll") CHAT_BATCH (100): the chat scenario, many
#   small channels, publishes spread over them (pushwire-bench --scenario chat): at
#   CHAT_RATE publishes a second and as fast as accepted, from HTTP and WebSocket clients,
#   pushwire's NDJSON batches of CHAT_BATCH, memory broker and Redis, against Nchan; the
#   HTTP publish floor (pushwire-floors publish) in the same rounds
#   PRESENCE_SUBSCRIBERS (10000) PRESENCE_IDLE_MS (15000) PRESENCE_TRANSPORTS ("websocket sse"):
#   the presence scenario (pushwire-bench --scenario presence), memory broker and Redis: a
#   join storm on a presence channel with join/leave on, one without join/leave, and one on
#   a channel outside --presence; presence_stats with the channel full; the idle refresh;
#   the leave storm. Then the fan-out on a presence channel (join/leave on) against a plain
#   one, pushwire against pushwire, for each of PRESENCE_TRANSPORTS
#   GROWTH_SUBSCRIBERS ("1000 5000 19000") GROWTH_TRANSPORTS ("websocket sse")
#   GROWTH_CHANNELS ("1 1000 10000 100000") GROWTH_PUBLISHES (20000): how cost grows: the
#   fan-out at RATE msg/s to each number of subscribers (the kernel's floor with as many
#   sockets in the same rounds), and HTTP publishes spread over each number of channels with
#   no subscriber (CPU per publish, and the RSS the channels' history holds), pushwire alone
#   CLUSTER_CHANNELS (10000) CLUSTER_PER_CHANNEL (1) CLUSTER_MESSAGES (40000)
#   CLUSTER_MASTERS (3) CLUSTER_PUBLISHERS (1) CLUSTER_IDLE ("1000 5000 19000"): one pushwire node on one Redis
#   against the same node on a Redis Cluster of CLUSTER_MASTERS masters (no replicas), and
#   Nchan on that cluster: the chat shape (WebSocket subscribers, CLUSTER_PER_CHANNEL a
#   channel; CLUSTER_PUBLISHERS HTTP publishers, each keeping 16 publishes in flight), as fast as accepted; each
#   Redis node's CPU and bytes sent per publish (INFO, pushwire-bench --redis-node). Then the
#   capacity model's memory: idle WebSocket connections held, RSS per connection. And one
#   channel's fan-out (SUBSCRIBERS at RATE msg/s and as fast as accepted, for each of
#   CLUSTER_FANOUT_TRANSPORTS ("websocket sse")) on the cluster, pushwire against Nchan on the
#   same cluster and the kernel's floor in the same rounds. What one
#   more node following a channel costs Redis: bench/redis_cross_node.sh (not run here)
#   TABS_USERS (100) TABS_TABS (8) TABS_RATE (10) TABS_SECONDS (20) TABS_TRANSPORT (websocket)
#   TABS_MAX_PSS_GIB (12) TABS_OPEN_SECONDS (0: no limit): tabs × pages (bench/tabs_pages.mjs): TABS_USERS browser contexts of
#   TABS_TABS tabs in headless Chromium, tabs sharing one connection per browser and with
#   share: false; the server's connections and CPU per delivery, Chromium's CPU and memory
#   (fewer users when Chromium would pass TABS_MAX_PSS_GIB, or leave under 4 GiB free, or
#   opening them took TABS_OPEN_SECONDS: stated)
#   ONLY (all): run only these sections, of fanout auth tls chat presence redis node big growth
#   cluster browser tabs (e.g. ONLY="presence"); the page and results then go to bench/results/partial/,
#   not docs/benchmarks.md, which stays the page of a whole run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/dist/bin"
RESULTS="$ROOT/bench/results"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
LATENCY_MESSAGES="${LATENCY_MESSAGES:-300}"
RATE="${RATE:-100}"
THROUGHPUT_MESSAGES="${THROUGHPUT_MESSAGES:-1000}"
IDLE="${IDLE:-10000}"
BYTES="${BYTES:-100}"
TRANSPORTS="${TRANSPORTS:-websocket sse longpoll poll}"
REPEAT="${REPEAT:-3}"
ONLY="${ONLY:-}"
want() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }
PAGE="$ROOT/docs/benchmarks.md"
if [[ -n $ONLY ]]; then RESULTS="$RESULTS/partial"; PAGE="$RESULTS/benchmarks.md"; fi
WORK="$(mktemp -d /tmp/pushwire-bench.XXXXXX)"
RAW="$WORK/results.jsonl"
trap 'stop_servers; rm -rf "$WORK"' EXIT

# One certificate for both servers' TLS runs; one HS256 secret, API key and token for the
# runs with auth (the token minted with openssl alone, as docs/security.md shows).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
openssl rand -hex 32 >"$WORK/token.secret"
openssl rand -hex 32 >"$WORK/api.key"
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
mint_token() {
  local header payload sig
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
  payload=$(printf '{"sub":"bench","exp":%d,"subscribe":["*"],"publish":["*"]}' $(( $(date +%s) + 86400 )) | b64)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$(cat "$WORK/token.secret")" -binary | b64)
  echo "$header.$payload.$sig"
}
TOKEN=$(mint_token)

# shellcheck source=lib.sh
source "$ROOT/bench/lib.sh"
healthy() {  # the node answers /pushwire/healthz with 200 (its broker connected)
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /pushwire/healthz HTTP/1.0\r\nHost: x\r\n\r\n' >&3 &&
    head -c 12 <&3 | grep -q ' 200') 2>/dev/null
}

PW_PID=""; NGINX_PID=""; PW2_PID=""; REDIS_PID=""; PW2_PORT=""; CLUSTER_PIDS=(); CLUSTER_PORTS=()
start_redis() {
  REDIS_PORT=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" \
    --protected-mode no --logfile "$WORK/redis/redis.log" &
  REDIS_PID=$!
  wait_port "$REDIS_PORT"
}
# A Redis Cluster of CLUSTER_MASTERS masters, no replicas, each node in its own directory;
# returns when every node says cluster_state:ok.
start_redis_cluster() {
  local i port create=()
  CLUSTER_PIDS=(); CLUSTER_PORTS=()
  for i in $(seq "${CLUSTER_MASTERS:-3}"); do
    port=$(cluster_port)
    mkdir -p "$WORK/cluster/$i"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/cluster/$i" \
      --protected-mode no --logfile "$WORK/cluster/$i/redis.log" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000 &
    CLUSTER_PIDS+=($!); CLUSTER_PORTS+=("$port"); create+=("127.0.0.1:$port")
  done
  for port in "${CLUSTER_PORTS[@]}"; do wait_port "$port"; done
  redis-cli --cluster create "${create[@]}" --cluster-replicas 0 --cluster-yes >"$WORK/cluster/create.log" 2>&1
  for _ in $(seq 200); do
    local ok=0
    for port in "${CLUSTER_PORTS[@]}"; do
      redis-cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q cluster_state:ok && ok=$((ok + 1))
    done
    (( ok == ${#CLUSTER_PORTS[@]} )) && return 0
    sleep 0.1
  done
  echo "the Redis Cluster never became ok" >&2
}
# pushwire on one Redis: BROKER_NODES processes, the first one published to; more flags
# for the first node (the presence runs).
start_pushwire_redis() {  # nodes [flags...]
  local nodes=$1; shift
  start_redis
  PW_PORT=$(free_port); PW_WS=$(free_port)
  "$BIN/pushwire-server" --port "$PW_PORT" --ws-port "$PW_WS" --history 2000 \
    --broker "redis://127.0.0.1:$REDIS_PORT" "$@" >"$WORK/pushwire.log" 2>&1 &
  PW_PID=$!
  wait_port "$PW_PORT"
  NODE_ARGS=(); PW2_PORT=""
  if [[ $nodes == 2 ]]; then
    PW2_PORT=$(free_port); PW2_WS=$(free_port)
    "$BIN/pushwire-server" --port "$PW2_PORT" --ws-port "$PW2_WS" --history 2000 \
      --broker "redis://127.0.0.1:$REDIS_PORT" >"$WORK/pushwire2.log" 2>&1 &
    PW2_PID=$!
    wait_port "$PW2_PORT"
    NODE_ARGS=(--subscribe-node "$PW_PORT:$PW_WS" --subscribe-node "$PW2_PORT:$PW2_WS" --pid "$PW2_PID")
  fi
  for port in "$PW_PORT" ${PW2_PORT:+"$PW2_PORT"}; do
    for _ in $(seq 100); do healthy "$port" && break; sleep 0.05; done
  done
}
start_pushwire() {  # extra server flags...
  PW_PORT=$(free_port); PW_WS=$(free_port)
  "$BIN/pushwire-server" --port "$PW_PORT" --ws-port "$PW_WS" --history 2000 "$@" >"$WORK/pushwire.log" 2>&1 &
  PW_PID=$!
  wait_port "$PW_PORT"
}
start_nchan() {
  NCHAN_PORT=$(free_port)
  mkdir -p "$WORK/nginx"
  local redis="" ssl="" cert=""
  [[ ${1:-} == redis ]] && redis="nchan_redis_url \"redis://127.0.0.1:$REDIS_PORT\"; nchan_use_redis on;"
  # A Redis Cluster: Nchan finds the other nodes from this one.
  [[ ${1:-} == cluster ]] && redis="nchan_redis_url \"redis://127.0.0.1:${CLUSTER_PORTS[0]}\"; nchan_use_redis on;"
  [[ ${1:-} == tls ]] && ssl=" ssl" && cert="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
  sed -e "s|@PORT@|$NCHAN_PORT|g" -e "s|@PREFIX@|$WORK/nginx|g" -e "s|@REDIS@|$redis|" \
    -e "s|@SSL@|$ssl|" -e "s|@SSL_CERT@|$cert|" \
    "$ROOT/bench/nchan.conf.in" >"$WORK/nginx/nginx.conf"
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" >"$WORK/nginx/out.log" 2>&1 &
  NGINX_PID=$!
  wait_port "$NCHAN_PORT"
  NCHAN_PIDS="--pid $NGINX_PID $(for p in $(pgrep -P "$NGINX_PID"); do printf -- '--pid %s ' "$p"; done)"
}
stop_servers() {
  [[ -n "$PW_PID" ]] && kill "$PW_PID" 2>/dev/null && wait "$PW_PID" 2>/dev/null || true
  [[ -n "$NGINX_PID" ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  [[ -n "$PW2_PID" ]] && kill "$PW2_PID" 2>/dev/null && wait "$PW2_PID" 2>/dev/null || true
  [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  local pid
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  [[ ${#CLUSTER_PIDS[@]} -gt 0 ]] && rm -rf "$WORK/cluster"
  PW_PID=""; NGINX_PID=""; PW2_PID=""; REDIS_PID=""; PW2_PORT=""; CLUSTER_PIDS=(); CLUSTER_PORTS=()
}
run() {  # target transport label bench-args...
  local target=$1 transport=$2 label=$3; shift 3
  local args line
  stop_servers
  if [[ $target == floor* ]]; then
    # The floors: no server, one process doing only what the path needs. floor: the
    # kernel's, a sender that only writes each message to each socket (pushwire-send-paths),
    # as many sockets, rounds and bytes as the 100 msg/s fan-out; floor-longpoll: reads each
    # request and writes a prebuilt answer (pushwire-floors); floor-tls and floor-plain: one
    # TLS record sealed and written, or the bytes written, at the TLS runs' rate;
    # floor-publish: reads each POST and answers it (the chat runs' publishers and rate).
    case $target in
      floor) line=$("$BIN/pushwire-send-paths" io_uring --json --sockets "$SUBSCRIBERS" --rounds "$LATENCY_MESSAGES" \
        --rate "$RATE" --bytes "$BYTES" || true) ;;
      floor-longpoll) line=$("$BIN/pushwire-floors" longpoll --json --sockets "$SUBSCRIBERS" \
        --rounds "$LATENCY_MESSAGES" --rate "$RATE" --bytes "$BYTES" || true) ;;
      floor-tls) line=$("$BIN/pushwire-floors" tls --json --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
        --sockets "$SUBSCRIBERS" --rounds "${TLS_MESSAGES:-200}" --rate "${NODE_WS_RATE:-20}" --bytes "$BYTES" || true) ;;
      floor-plain) line=$("$BIN/pushwire-send-paths" io_uring --json --sockets "$SUBSCRIBERS" \
        --rounds "${TLS_MESSAGES:-200}" --rate "${NODE_WS_RATE:-20}" --bytes "$BYTES" || true) ;;
      floor-publish) line=$("$BIN/pushwire-floors" publish --json --sockets "${CHAT_HTTP_PUBLISHERS:-8}" \
        --rounds $(( CHAT_MESSAGES / ${CHAT_HTTP_PUBLISHERS:-8} )) --rate "$@" --bytes "$BYTES" || true) ;;
    esac
    # Its row carries the transport of the runs it is set against (as their JSON names it).
    transport=${transport#node-}
    transport=${transport#chat-}
    [[ -n "$line" ]] && echo "${line%\}},\"transport\":\"$transport\",\"label\":\"$label\"}" >>"$RAW"
    return 0
  fi
  case $target in
    pushwire)
      start_pushwire
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID") ;;
    pushwire-auth)
      start_pushwire --token-secret-file "$WORK/token.secret" --api-key-file "$WORK/api.key"
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" --token "$TOKEN"
            --api-key "$(cat "$WORK/api.key")") ;;
    pushwire-growth)  # room for 19,000 subscribers and 100,000 channels
      start_pushwire --max-connections 19500 --max-connections-per-ip 19500 --max-channels 200000
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID") ;;
    pushwire-capacity)  # room for 19,000 idle connections, held longer than the heartbeat's timeout
      start_pushwire --max-connections 19500 --max-connections-per-ip 19500 --heartbeat-ms 60000
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID") ;;
    pushwire-tls)
      start_pushwire --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" --tls) ;;
    nchan-tls)
      start_nchan tls
      # shellcheck disable=SC2206
      args=(--target nchan --port "$NCHAN_PORT" $NCHAN_PIDS --tls) ;;
    # Presence: every channel starting pr or pj is a presence channel, pj ones with
    # join/leave; a leave is the close (no grace), the refresh every 3 s (a 9 s TTL).
    pushwire-presence|pushwire-presence-redis)
      local presence=(--presence 'pr*,pj*,b*' --join-leave 'pj*,b*' --presence-grace-ms 0 --presence-ttl 9
                      --api-key-file "$WORK/api.key")
      if [[ $target == pushwire-presence ]]; then
        start_pushwire "${presence[@]}"
        args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID")
      else
        start_pushwire_redis 1 "${presence[@]}"
        args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" --pid "$REDIS_PID"
              --redis-port "$REDIS_PORT")
      fi
      args+=(--api-key "$(cat "$WORK/api.key")") ;;
    pushwire-redis|pushwire-redis2)
      start_pushwire_redis "${target#pushwire-redis}"
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" --pid "$REDIS_PID" "${NODE_ARGS[@]}") ;;
    # The cluster section: one node, on one Redis or on the cluster; only pushwire's CPU is
    # --pid, each Redis node's is its own (--redis-node). Nchan's processes are its --pid.
    # The bench's subscribers send nothing, and a WebSocket that sends nothing for twice the
    # heartbeat (+2 s) is closed: a longer heartbeat keeps them through the slower runs.
    pushwire-one)
      start_pushwire_redis 1 --heartbeat-ms 60000
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" --redis-node "$REDIS_PORT") ;;
    pushwire-cluster)
      start_redis_cluster
      local seeds="127.0.0.1:${CLUSTER_PORTS[0]},127.0.0.1:${CLUSTER_PORTS[1]:-${CLUSTER_PORTS[0]}}"
      start_pushwire --broker "redis+cluster://$seeds" --heartbeat-ms 60000
      for _ in $(seq 200); do healthy "$PW_PORT" && break; sleep 0.05; done
      args=(--target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID")
      for port in "${CLUSTER_PORTS[@]}"; do args+=(--redis-node "$port"); done ;;
    nchan-cluster)
      start_redis_cluster
      start_nchan cluster
      # Nchan answers 503 until it has found the cluster's nodes: wait for its publisher
      # location to answer anything else (a channel's info or 404).
      for _ in $(seq 200); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NCHAN_PORT/pub/ready") != 503 ]] && break
        sleep 0.05
      done
      # shellcheck disable=SC2206
      args=(--target nchan --port "$NCHAN_PORT" $NCHAN_PIDS)
      for port in "${CLUSTER_PORTS[@]}"; do args+=(--redis-node "$port"); done ;;
    nchan-redis)
      start_redis
      start_nchan redis
      # shellcheck disable=SC2206
      args=(--target nchan --port "$NCHAN_PORT" $NCHAN_PIDS --pid "$REDIS_PID") ;;
    *)
      start_nchan
      # shellcheck disable=SC2206
      args=(--target nchan --port "$NCHAN_PORT" $NCHAN_PIDS) ;;
  esac
  if [[ $transport == presence ]]; then  # the channel comes with the arguments
    line=$("$BIN/pushwire-bench" "${args[@]}" --scenario presence "$@" || true)
  elif [[ $transport == chat-* ]]; then
    line=$("$BIN/pushwire-bench" "${args[@]}" --scenario chat --transport "${transport#chat-}" --channel "c${RANDOM}" \
      "$@" || true)
  elif [[ $transport == node-* ]]; then
    line=$(node "$ROOT/bench/node_clients.mjs" "${args[@]}" --transport "${transport#node-}" --channel "n${RANDOM}" "$@" || true)
  else
    line=$("$BIN/pushwire-bench" "${args[@]}" --transport "$transport" --channel "b${RANDOM}" "$@" || true)
  fi
  [[ -n "$line" ]] && echo "${line%\}},\"label\":\"$label\"}" >>"$RAW"
}

# Fan-out messages as fast as accepted: fewer for the polling transports (a request each).
throughput_messages() {
  if [[ $1 == longpoll || $1 == poll ]]; then echo $(( THROUGHPUT_MESSAGES < 300 ? THROUGHPUT_MESSAGES : 300 ))
  else echo "$THROUGHPUT_MESSAGES"; fi
}
# REPEAT rounds, the targets alternating within each: for every "target[:label]" of the list,
# `command target label args...` (label empty when not given).
rounds() {  # "target[:label] ..." command args...
  local list=$1 command=$2 entry; shift 2
  for _ in $(seq "$REPEAT"); do
    for entry in $list; do
      if [[ $entry == *:* ]]; then "$command" "${entry%%:*}" "${entry#*:}" "$@"; else "$command" "$entry" "" "$@"; fi
    done
  done
}
# The fan-out at RATE msg/s ("latency") and as fast as accepted ("throughput"), labelled
# "label-latency" and "label-throughput" when there is a label; the floor only at RATE msg/s.
fanout() {  # target label transport
  local prefix=${2:+$2-}
  run "$1" "$3" "${prefix}latency" --scenario fanout --subscribers "$SUBSCRIBERS" \
    --messages "$LATENCY_MESSAGES" --rate "$RATE" --bytes "$BYTES"
  [[ $1 == floor* ]] && return 0
  run "$1" "$3" "${prefix}throughput" --scenario fanout --subscribers "$SUBSCRIBERS" \
    --messages "$(throughput_messages "$3")" --rate 0 --bytes "$BYTES"
}
# Node's clients (bench/node_clients.mjs) at NODE_WS_RATE msg/s.
node_fanout() {  # target label node-transport messages
  run "$1" "$3" "$2" --subscribers "$SUBSCRIBERS" --messages "$4" --rate "${NODE_WS_RATE:-20}" --bytes "$BYTES"
}

# The chat scenario: CHAT_CHANNELS channels of CHAT_PER_CHANNEL subscribers, CHAT_MESSAGES
# publishes spread over them at CHAT_RATE a second ("chat-rate") and as fast as accepted
# ("chat-throughput"), from HTTP keep-alive publishers and WebSocket clients (the
# WebSocket runs: half the channels each); "chat-batch": pushwire's NDJSON batches. The
# HTTP publish floor runs with them, at the same rate and as fast as accepted.
CHAT_CHANNELS="${CHAT_CHANNELS:-9000}"
CHAT_PER_CHANNEL="${CHAT_PER_CHANNEL:-2}"
CHAT_MESSAGES="${CHAT_MESSAGES:-20000}"
CHAT_RATE="${CHAT_RATE:-2000}"
CHAT_BATCH="${CHAT_BATCH:-100}"
chat() {  # target label transport
  local prefix=${2:+$2-} from=http
  [[ $3 == websocket ]] && from=both
  if [[ $1 == floor* ]]; then
    run floor-publish "chat-$3" "${prefix}chat-rate" "$CHAT_RATE"
    run floor-publish "chat-$3" "${prefix}chat-throughput" 0
    return 0
  fi
  local common=(--channels "$CHAT_CHANNELS" --per-channel "$CHAT_PER_CHANNEL" --messages "$CHAT_MESSAGES"
    --bytes "$BYTES" --http-publishers "${CHAT_HTTP_PUBLISHERS:-8}" --publish-from "$from")
  run "$1" "chat-$3" "${prefix}chat-rate" "${common[@]}" --rate "$CHAT_RATE"
  run "$1" "chat-$3" "${prefix}chat-throughput" "${common[@]}" --rate 0
  [[ $1 == pushwire* ]] && run "$1" "chat-$3" "${prefix}chat-batch" "${common[@]}" --rate 0 --publish-from http \
    --batch "$CHAT_BATCH"
  return 0
}

# What the build wrote reaches the disk now, not during the first runs.
sync
echo "pushwire vs Nchan on $(nproc) cores, $(date -u +%F)" >&2
want fanout || TRANSPORTS=""
for transport in $TRANSPORTS; do
  # WebSocket and SSE write each message at 100 msg/s: the kernel's floor runs with them;
  # long-poll's floor reads each request and writes an answer.
  floor=""; [[ $transport == websocket || $transport == sse ]] && floor=" floor"
  [[ $transport == longpoll ]] && floor=" floor-longpoll"
  rounds "pushwire nchan$floor" fanout "$transport"
  for target in pushwire nchan; do
    run "$target" "$transport" idle --scenario idle --subscribers "$IDLE" --duration-ms 5000 --poll-interval-ms 5000
  done
done
# The cost of auth: the same fan-out with tokens on, alternating with runs without.
want auth || AUTH_TRANSPORTS=" "
for transport in ${AUTH_TRANSPORTS:-websocket sse longpoll poll}; do
  rounds "pushwire:plain pushwire-auth:auth" fanout "$transport"
done
# The cost of TLS: Node's clients (pushwire-bench speaks no TLS) over wss:// and https://.
want tls || TLS_TRANSPORTS=" "
for transport in ${TLS_TRANSPORTS:-websocket sse}; do
  rounds "pushwire:node-plain pushwire-tls:tls nchan-tls:tls floor-plain:node-plain floor-tls:tls" node_fanout \
    "node-$transport" "${TLS_MESSAGES:-200}"
done
# The chat scenario, memory broker and Redis (pushwire on one node, Nchan with its Redis).
want chat || CHAT_TRANSPORTS=" "
for transport in ${CHAT_TRANSPORTS:-websocket sse longpoll}; do
  rounds "pushwire nchan floor-publish" chat "$transport"
  rounds "pushwire-redis:redis nchan-redis:redis" chat "$transport"
done
# Presence: the storms (memory and Redis), then the fan-out with and without presence.
want presence || PRESENCE_TRANSPORTS=" "
want presence && for target in pushwire-presence pushwire-presence-redis; do
  broker=memory; [[ $target == *redis ]] && broker=redis
  for kind in pj:joinleave pr:presence x:plain; do
    run "$target" presence "presence-$broker-${kind#*:}" --channel "${kind%%:*}${RANDOM}" \
      --subscribers "${PRESENCE_SUBSCRIBERS:-10000}" --duration-ms "${PRESENCE_IDLE_MS:-15000}"
  done
done
for transport in ${PRESENCE_TRANSPORTS:-websocket sse}; do
  rounds "pushwire:nopresence pushwire-presence:presence" fanout "$transport"
done
# With a Redis broker: pushwire on one node and on two, Nchan with its Redis storage.
want redis || REDIS_TRANSPORTS=" "
for transport in ${REDIS_TRANSPORTS:-websocket sse}; do
  rounds "pushwire-redis:redis pushwire-redis2:redis2 nchan-redis:redis floor:redis" fanout "$transport"
done
# WebSocket subscribers that are not ours: Node's ws library (bench/node_clients.mjs).
want node && rounds "pushwire:node-ws nchan:node-ws" node_fanout node-websocket "${NODE_WS_MESSAGES:-300}"
# How cost grows: the fan-out at RATE msg/s to 1k, 5k and 19k subscribers (the floor with as
# many sockets), then publishes spread over 1 to 100k channels that nobody follows.
growth_fanout() {  # target label transport subscribers
  local SUBSCRIBERS=$4  # the floor's sockets too
  run "$1" "$3" "growth-$4" --scenario fanout --subscribers "$4" --messages "$LATENCY_MESSAGES" --rate "$RATE" \
    --bytes "$BYTES"
}
growth_channels() {  # target label channels
  local publishes=${GROWTH_PUBLISHES:-20000}
  (( $3 > publishes )) && publishes=$3
  run "$1" chat-websocket "growth-channels-$3" --channels "$3" --per-channel 0 --messages "$publishes" \
    --bytes "$BYTES" --http-publishers "${CHAT_HTTP_PUBLISHERS:-8}" --publish-from http --rate 0
}
if want growth; then
  for n in ${GROWTH_SUBSCRIBERS:-1000 5000 19000}; do
    for transport in ${GROWTH_TRANSPORTS:-websocket sse}; do
      rounds "pushwire-growth floor" growth_fanout "$transport" "$n"
    done
  done
  for n in ${GROWTH_CHANNELS:-1 1000 10000 100000}; do
    rounds "pushwire-growth" growth_channels "$n"
  done
fi
# Past one Redis: the chat shape on one node, its broker one Redis or a Redis Cluster (and
# Nchan on the same cluster), as fast as accepted from one HTTP publisher (16 in flight);
# the kernel's publish floor at the same window. Then idle connections held, for the
# capacity model's memory per connection.
cluster_chat() {  # target label
  local from=(--http-publishers "${CLUSTER_PUBLISHERS:-1}" --publish-from http)
  if [[ $1 == floor* ]]; then
    CHAT_HTTP_PUBLISHERS=${CLUSTER_PUBLISHERS:-1} CHAT_MESSAGES=${CLUSTER_MESSAGES:-40000} run floor-publish chat-websocket cluster-chat-floor 0
    return 0
  fi
  run "$1" chat-websocket "cluster-chat-$2" --channels "${CLUSTER_CHANNELS:-10000}" \
    --per-channel "${CLUSTER_PER_CHANNEL:-1}" --messages "${CLUSTER_MESSAGES:-40000}" --bytes "$BYTES" "${from[@]}" --rate 0
}
if want cluster; then
  rounds "pushwire-one:one pushwire-cluster:cluster nchan-cluster:nchan-cluster floor-publish" cluster_chat
  # One channel's fan-out with the broker a Redis Cluster: pushwire and Nchan each on the same
  # kind of cluster (CPU of the pushwire or nginx processes only), the kernel's floor in the
  # same rounds, at RATE msg/s and as fast as accepted.
  for transport in ${CLUSTER_FANOUT_TRANSPORTS:-websocket sse}; do
    rounds "pushwire-cluster:cluster nchan-cluster:cluster floor:cluster" fanout "$transport"
  done
  # Two nodes following every channel, publishes one at a time, one Redis vs 3+3 cluster
  # (bench/redis_cluster_cost.sh): each node's CPU, bytes and cluster-bus messages per publish.
  stop_servers
  cost=$(bash "$ROOT/bench/redis_cluster_cost.sh" "$BIN/pushwire-server" 2>&1 || true)
  python3 -c 'import json, sys; print(json.dumps({"scenario": "text", "target": "redis", "transport": "",
    "label": "cluster-cost", "text": sys.argv[1]}))' "$cost" >>"$RAW"
  for n in ${CLUSTER_IDLE:-1000 5000 19000}; do
    run pushwire-capacity websocket "capacity-idle-$n" --scenario idle --subscribers "$n" --duration-ms 2000
  done
fi
# Reading one large publish: the server's CPU per key as the key count doubles.
stop_servers
if want big; then
  start_pushwire --max-message-bytes 16777216
  line=$("$BIN/pushwire-bench" --target pushwire --port "$PW_PORT" --ws-port "$PW_WS" --pid "$PW_PID" \
    --scenario big-publish --keys "${BIG_PUBLISH_KEYS:-400000}" --channel big || true)
  [[ -n "$line" ]] && echo "${line%\}},\"label\":\"big-publish\"}" >>"$RAW"
  stop_servers
fi
# The browser module: its size, and delivery to a JS callback in headless Chromium (SDK
# against a raw WebSocket + JSON.parse in the same page), and the time to a first message.
if want browser; then
  js_gz=$(gzip -9 -c "$ROOT/dist/web/pushwire.js" | wc -c)
  wasm_gz=$(gzip -9 -c "$ROOT/dist/web/pushwire.wasm" | wc -c)
  # What the server sends a browser that takes gzip: the .gz copies ./build.sh made (zopfli).
  js_sent=$(stat -c %s "$ROOT/dist/web/pushwire.js.gz" 2>/dev/null || echo 0)
  wasm_sent=$(stat -c %s "$ROOT/dist/web/pushwire.wasm.gz" 2>/dev/null || echo 0)
  echo "{\"scenario\":\"size\",\"target\":\"pushwire\",\"transport\":\"\",\"label\":\"size\",\"js_bytes\":$(stat -c %s "$ROOT/dist/web/pushwire.js"),\"wasm_bytes\":$(stat -c %s "$ROOT/dist/web/pushwire.wasm"),\"js_gzip\":$js_gz,\"wasm_gzip\":$wasm_gz,\"js_sent\":$js_sent,\"wasm_sent\":$wasm_sent}" >>"$RAW"
  line=$(node "$ROOT/bench/browser_throughput.mjs" --messages "${BROWSER_MESSAGES:-20000}" --repeat "$REPEAT" || true)
  [[ -n "$line" ]] && echo "${line%\}},\"target\":\"pushwire\",\"transport\":\"websocket\",\"label\":\"browser\"}" >>"$RAW"
fi

# Tabs × pages: the server's connections and CPU per message delivered to a tab, with the
# tabs of each browser sharing one connection and with one connection per tab.
if want tabs; then
  touch "$RAW"
  node "$ROOT/bench/tabs_pages.mjs" --users "${TABS_USERS:-100}" --tabs "${TABS_TABS:-8}" --rate "${TABS_RATE:-10}" \
    --seconds "${TABS_SECONDS:-20}" --transport "${TABS_TRANSPORT:-websocket}" --max-pss-gib "${TABS_MAX_PSS_GIB:-12}" \
    --open-seconds "${TABS_OPEN_SECONDS:-0}" |
    while IFS= read -r line; do
      mode=$(sed -nE 's/.*"mode":"([a-z]+)".*/\1/p' <<<"$line")
      echo "${line%\}},\"target\":\"pushwire\",\"label\":\"tabs-$mode\"}" >>"$RAW"
    done || true
fi

mkdir -p "$RESULTS"
# Which code ran (marked when the tree had changes not committed), and when the run ended:
# the report keeps both when the page is re-rendered later.
ran=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ $ran != "?" ]] && ! git -C "$ROOT" diff --quiet HEAD -- && ran="$ran+changes"
{
  echo "{\"scenario\":\"meta\",\"target\":\"\",\"transport\":\"\",\"label\":\"meta\",\"commit\":\"$ran\",\"finished\":\"$(date -u '+%F %H:%M UTC')\"}"
  cat "$RAW"
} >"$RESULTS/latest.jsonl"
cp "$RESULTS/latest.jsonl" "$RAW"
python3 "$ROOT/bench/report.py" "$RAW" "$RESULTS" "$PAGE" \
  "REPEAT=$REPEAT SUBSCRIBERS=$SUBSCRIBERS NODE_WS_RATE=${NODE_WS_RATE:-20} TLS_MESSAGES=${TLS_MESSAGES:-200} LATENCY_MESSAGES=$LATENCY_MESSAGES RATE=$RATE THROUGHPUT_MESSAGES=$THROUGHPUT_MESSAGES IDLE=$IDLE BYTES=$BYTES"
echo "wrote ${PAGE#"$ROOT/"} and ${RESULTS#"$ROOT/"}/" >&2
