#!/usr/bin/env bash
# The `pushwire` command line against a hostile or broken server (tests/cli_hostile_server.py,
# one misbehaviour per run): each command ends with exit 1 and a message (no crash, no hang,
# memory bounded) on answers of unexpected JSON shapes, endless or trickling bodies and a
# Retry-After of weeks; `sub` reports (and retries) an event stream with an endless line or
# event and an endless negotiate answer, its memory bounded. The only deadline is a generous one that only a hang breaks; memory is
# held under a ulimit that an unbounded read would hit long before it.
set -euo pipefail
CLI=$1
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=support/cli_lib.sh
source "$HERE/support/cli_lib.sh"

start_fake() {  # MODE; sets URL
  rm -f "$DIR/port"
  python3 "$HERE/cli_hostile_server.py" "$1" "$DIR/port" 2>"$DIR/fake-$1.log" &
  PIDS+=($!)
  for _ in $(seq 600); do [[ -f "$DIR/port" ]] && break; sleep 0.1; done
  [[ -f "$DIR/port" ]] || fail "the fake server ($1) did not start"
  URL="http://127.0.0.1:$(cat "$DIR/port")"
}

# expect_failure MODE GREP-PATTERN CLI-ARGS... (URL in the args is the fake's): exit 1, the
# pattern on stderr, within 120 s, under 1 GB of address space.
expect_failure() {
  local mode=$1 pattern=$2; shift 2
  start_fake "$mode"
  local args=() status=0
  for a in "$@"; do args+=("${a//URL/$URL}"); done
  (ulimit -v 1000000; timeout 120 "$CLI" "${args[@]}") >"$DIR/$mode.out" 2>"$DIR/$mode.err" || status=$?
  [[ $status == 1 ]] || fail "$mode: exit $status, not 1 (124: a hang; 134: a crash): $(tail -c 600 "$DIR/$mode.err")"
  grep -qE "$pattern" "$DIR/$mode.err" || fail "$mode: stderr does not say /$pattern/: $(tail -c 600 "$DIR/$mode.err")"
  if LC_ALL=C grep -q $'[\x01-\x08\x1b\x7f]' "$DIR/$mode.err"; then fail "$mode: raw control bytes echoed to stderr"; fi
  kill "${PIDS[-1]}" 2>/dev/null || true
  echo "ok: $mode: $(head -c 200 "$DIR/$mode.err")"
}

# Unexpected JSON shapes (each was a SIGABRT: an uncaught nlohmann type_error).
expect_failure pub-errcode 'HTTP 400 5: \[1\]' pub URL c '"x"'
expect_failure hist-typeerr 'not a page of history' history URL c
expect_failure hist-errcode 'HTTP 400 5: \[1\]' history URL c
expect_failure hist-errstr 'HTTP 400: nope' history URL c
expect_failure hist-badbytes 'HTTP 400: \\x1b\[31m\\xff\\xfe not JSON' history URL c
expect_failure hist-errnomsg 'HTTP 400 5' history URL c
expect_failure hist-cursor-num 'not a page of history' history URL c
expect_failure hist-loop 'same page again' history URL c
expect_failure presence-shape 'not a presence list' presence URL c
# history prints as sub does: keys in the server's order (not sorted).
start_fake hist-order
"$CLI" history "$URL" c >"$DIR/hist-order.out"
printf '%s\n' '{"gap":{"channel":"c","from":1,"to":1,"reason":"evicted"}}' \
  '{"channel":"c","seq":2,"data":{"b":1,"a":2},"time":5}' | diff - "$DIR/hist-order.out" || fail "hist-order: keys reordered"
kill "${PIDS[-1]}" 2>/dev/null || true
# Waits and bodies without end.
expect_failure pub-retryafter 'Retry-After' pub URL c '"x"'
expect_failure pub-slow 'no complete answer within' pub URL c '"x"'
expect_failure pub-huge 'larger than' pub URL c '"x"'
expect_failure pub-chunked-endless 'larger than' pub URL c '"x"'

# expect_reported MODE GREP-PATTERN CLI-ARGS...: a `sub` that goes on retrying (as it does on a
# broken stream) says PATTERN on stderr while under 1 GB of address space, then is stopped.
expect_reported() {
  local mode=$1 pattern=$2; shift 2
  start_fake "$mode"
  local args=()
  for a in "$@"; do args+=("${a//URL/$URL}"); done
  (ulimit -v 1000000; exec "$CLI" "${args[@]}") >"$DIR/$mode.out" 2>"$DIR/$mode.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1200); do
    grep -qE "$pattern" "$DIR/$mode.err" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -qE "$pattern" "$DIR/$mode.err" || fail "$mode: stderr does not say /$pattern/ (120 s): $(tail -c 600 "$DIR/$mode.err")"
  kill -0 "$pid" 2>/dev/null || fail "$mode: sub died: $(tail -c 600 "$DIR/$mode.err")"
  kill "$pid" "${PIDS[-2]}" 2>/dev/null || true
  echo "ok: $mode: $(grep -m1 -E "$pattern" "$DIR/$mode.err" | head -c 200)"
}
# The native client's event stream and requests: a line without end, endless data lines, an
# endless negotiate answer.
expect_reported sse-nolf 'larger than 16 MiB' sub URL c --transport sse
expect_reported sse-datalines 'larger than 16 MiB' sub URL c --transport sse
expect_reported neg-huge 'larger than 64 MiB' sub URL c --transport sse
# A channel refused on the event stream (403 before it, or an error event in it) ends sub as
# on the other transports, not retried for ever.
expect_failure sse-forbidden 'forbidden' sub URL c --transport sse
expect_failure sse-forbidden-inband 'forbidden' sub URL c --transport sse
echo "cli_hostile_check.sh: all passed"
