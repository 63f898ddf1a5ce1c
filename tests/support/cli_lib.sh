# What the shell tests of the command line share (sourced by tests/cli_check.sh,
# tests/tls_check.sh and tests/cli_hostile_check.sh after `set -euo pipefail`): a temporary
# directory and the processes started, both cleaned up at exit; fail; waits for a condition
# with a generous deadline (never a timed assertion); the real server started on a free
# port; the checks of what `pushwire sub` printed. TEST_NAME names the script in messages.
TEST_NAME=$(basename "$0")
trap 'echo "$TEST_NAME: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

fail() { echo "$TEST_NAME: $*" >&2; exit 1; }
# wait_for DESCRIPTION COMMAND...: until COMMAND succeeds, 60 s at most.
wait_for() {
  local what=$1; shift
  for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
  fail "waited 60 s for $what"
}
# lines FILE N: FILE has at least N lines.
lines() { [[ -f "$1" ]] && [[ $(wc -l <"$1") -ge $2 ]]; }
# start_server LOG-NAME SERVER-FLAGS...: $SERVER on the port its flags give (0: a free one);
# sets PID and PORT (read from its "listening" line, http:// or https://).
start_server() {
  local log="$DIR/$1.log"; shift
  "$SERVER" "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_for "the server to listen" grep -q listening "$log"
  PORT=$(sed -nE 's|.*https?://[^:]+:([0-9]+) .*|\1|p' "$log" | head -1)
  [[ -n "$PORT" ]] || fail "the server names no port: $(cat "$log")"
}
# expect_seqs FILE CHANNEL FIRST LAST: FILE is exactly the messages FIRST..LAST of CHANNEL,
# each {"n": its seq}.
expect_seqs() {
  python3 - "$@" <<'PY'
import json, sys
path, channel, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(path)]
seqs = [r.get("seq") for r in rows]
assert all(r.get("channel") == channel for r in rows), rows
assert seqs == list(range(first, last + 1)), f"{path}: seqs {seqs}, expected {first}..{last}"
assert all(r["data"] == {"n": r["seq"]} for r in rows), rows
PY
}
# publish URL CHANNEL FIRST LAST [PUB-ARGS...]: publishes {"n":FIRST}..{"n":LAST} by stdin
# with `pushwire pub`, and checks the seqs it printed.
publish() {
  local url=$1 channel=$2 first=$3 last=$4
  shift 4
  local seqs
  seqs=$(for n in $(seq "$first" "$last"); do echo "{\"n\":$n}"; done | "$CLI" pub "$url" "$channel" - "$@")
  [[ "$seqs" == "$(seq "$first" "$last")" ]] || fail "pub printed '$seqs' for $first..$last"
}
