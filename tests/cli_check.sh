#!/usr/bin/env bash
# The `pushwire` command line (client-native/) against the real server, as a person or a
# script uses it: every transport delivers each message once and in order (live and from
# "0"), `pushwire sub | head -n N` ends cleanly by itself, `pushwire pub -` publishes each
# line of stdin, `pushwire history` prints what is held, --position-file resumes where the last run stopped, and a server restart
# mid-stream loses nothing (Redis broker: the stream goes on) or says so (memory broker: a
# gap line); with two URLs on Redis, a node killed moves the subscriber to the other, nothing
# lost; `pushwire presence` lists a channel's members and --follow prints their joins and leaves. No timed assertions: every wait is for a condition, with a generous deadline.
set -euo pipefail
SERVER=$1 CLI=$2
# shellcheck source=support/cli_lib.sh
source "$(dirname "$0")/support/cli_lib.sh"

# --help and the command line's errors.
# (to a file: `| grep -q` may end before a help longer than one stdio buffer is written)
"$CLI" --help >"$DIR/help"
grep -q "pushwire sub URL CHANNEL" "$DIR/help" || fail "--help has no usage"
grep -q "pushwire presence URL CHANNEL" "$DIR/help" || fail "--help has no presence"
set +e
trap - ERR
"$CLI" sub http://127.0.0.1:1 2>/dev/null; [[ $? == 2 ]] || fail "sub without a channel: not exit 2"
"$CLI" pub http://127.0.0.1:1 c hi 2>"$DIR/err"; [[ $? == 2 ]] || fail "pub of a non-JSON word: not exit 2"
"$CLI" pub http://127.0.0.1:1 c 1 2>/dev/null; [[ $? == 1 ]] || fail "pub to no server: not exit 1"
set -e
trap 'echo "$TEST_NAME: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
grep -q "not JSON" "$DIR/err" || fail "pub of a non-JSON word: $(cat "$DIR/err")"

start_server memory --port 0
URL=http://127.0.0.1:$PORT

# Each transport: 3 messages held before the subscriber starts from "0", 3 published while
# it reads; `| head -n 6` (line-buffered, so the lines show as they come) ends the command, exit 0.
for transport in websocket sse longpoll poll auto; do
  publish "$URL" "t-$transport" 1 3
  ("$CLI" sub "$URL" "t-$transport" --since 0 --transport "$transport" 2>"$DIR/$transport.err" | stdbuf -oL head -n 6 \
     >"$DIR/$transport.out"; echo "${PIPESTATUS[0]}" >"$DIR/$transport.status") &
  wait_for "$transport: the held messages" lines "$DIR/$transport.out" 3
  publish "$URL" "t-$transport" 4 6
  wait_for "$transport: sub | stdbuf -oL head -n 6 to end" test -s "$DIR/$transport.status"
  [[ $(cat "$DIR/$transport.status") == 0 ]] || fail "$transport: exit $(cat "$DIR/$transport.status"): $(cat "$DIR/$transport.err")"
  expect_seqs "$DIR/$transport.out" "t-$transport" 1 6
done

# --position-file: the second run starts right after the last line the first one printed.
publish "$URL" pos 1 4
"$CLI" sub "$URL" pos --since 0 --position-file "$DIR/pos.json" --count 2 >"$DIR/pos1.out"
expect_seqs "$DIR/pos1.out" pos 1 2
"$CLI" sub "$URL" pos --since 0 --position-file "$DIR/pos.json" --count 2 >"$DIR/pos2.out"
expect_seqs "$DIR/pos2.out" pos 3 4

# history: what the server holds, from the oldest, at most --limit, then it ends.
"$CLI" history "$URL" pos >"$DIR/history.out"
expect_seqs "$DIR/history.out" pos 1 4
"$CLI" history "$URL" pos --limit 3 >"$DIR/history3.out"
expect_seqs "$DIR/history3.out" pos 1 3

# A restart of a memory-broker server: the channel's stream started over, and the line
# says so (a gap, epoch_changed) before the new stream's messages.
MEM_PID=$PID MEM_PORT=$PORT
publish "$URL" restart 1 2
("$CLI" sub "$URL" restart --since 0 2>"$DIR/restart.err" | stdbuf -oL head -n 4 >"$DIR/restart.out") &
SUB=$!
wait_for "the messages before the restart" lines "$DIR/restart.out" 2
kill -9 "$MEM_PID"
wait "$MEM_PID" 2>/dev/null || true  # gone, and its port with it, before another binds it
start_server memory2 --port "$MEM_PORT"
wait_for "the subscriber to come back" grep -q '"gap"' "$DIR/restart.out"
publish "$URL" restart 1 1
wait "$SUB"
python3 - "$DIR/restart.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r.get("seq") for r in rows[:2]] == [1, 2], rows
assert rows[2]["gap"]["reason"] == "epoch_changed" and rows[2]["gap"]["channel"] == "restart", rows
assert rows[3]["seq"] == 1 and rows[3]["data"] == {"n": 1}, rows
PY

# A restart of a server on Redis (kill -9, the same port): nothing lost, nothing repeated.
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
PIDS+=("$!")
wait_for "redis-server" grep -q "Ready to accept" "$DIR/redis.log"
for transport in websocket sse longpoll; do
  start_server "redis-$transport" --port 0 --broker "redis://127.0.0.1:$REDIS_PORT"
  RPID=$PID RPORT=$PORT RURL=http://127.0.0.1:$PORT
  publish "$RURL" "r-$transport" 1 3
  ("$CLI" sub "$RURL" "r-$transport" --since 0 --transport "$transport" 2>"$DIR/r-$transport.err" | stdbuf -oL head -n 6 \
     >"$DIR/r-$transport.out") &
  SUB=$!
  wait_for "$transport on Redis: the messages before the restart" lines "$DIR/r-$transport.out" 3
  kill -9 "$RPID"
  wait "$RPID" 2>/dev/null || true
  start_server "redis-$transport-2" --port "$RPORT" --broker "redis://127.0.0.1:$REDIS_PORT"
  publish "$RURL" "r-$transport" 4 6
  wait "$SUB"
  expect_seqs "$DIR/r-$transport.out" "r-$transport" 1 6
  kill "$PID"
done
# Two nodes on one Redis, `sub URL1,URL2`: node 1 killed with kill -9 (and not back), the
# subscriber moves to node 2 and resumes there: nothing lost, nothing repeated.
start_server node1 --port 0 --broker "redis://127.0.0.1:$REDIS_PORT"
N1PID=$PID N1URL=http://127.0.0.1:$PORT
start_server node2 --port 0 --broker "redis://127.0.0.1:$REDIS_PORT"
N2URL=http://127.0.0.1:$PORT
publish "$N1URL" failover 1 3
("$CLI" sub "$N1URL,$N2URL" failover --since 0 --verbose 2>"$DIR/failover.err" | stdbuf -oL head -n 6 \
   >"$DIR/failover.out") &
SUB=$!
wait_for "the messages before node 1 goes" lines "$DIR/failover.out" 3
kill -9 "$N1PID"
publish "$N2URL" failover 4 6
wait "$SUB"
expect_seqs "$DIR/failover.out" failover 1 6
grep -q "connected to $N2URL" "$DIR/failover.err" || fail "failover: not connected to node 2: $(cat "$DIR/failover.err")"
# presence: the members now (one JSON line each; the command is no member), --stats, and
# --follow: the members as joins, then each join and leave as it comes, never itself.
start_server presence --port 0 --presence 'room*' --join-leave 'room*' --presence-grace-ms 0
PURL=http://127.0.0.1:$PORT
set +e
trap - ERR
"$CLI" presence "$PURL" 2>/dev/null; [[ $? == 2 ]] || fail "presence without a channel: not exit 2"
"$CLI" presence "$PURL" room --stats --follow 2>/dev/null; [[ $? == 2 ]] || fail "presence --stats --follow: not exit 2"
"$CLI" presence "$PURL" plain 2>"$DIR/presence-plain.err"; [[ $? == 1 ]] || fail "presence of a channel without: not exit 1"
set -e
trap 'echo "$TEST_NAME: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
grep -q not_found "$DIR/presence-plain.err" || fail "presence of a channel without: $(cat "$DIR/presence-plain.err")"
[[ -z "$("$CLI" presence "$PURL" room)" ]] || fail "presence of an empty channel printed members"
"$CLI" sub "$PURL" room >/dev/null 2>"$DIR/member1.err" &
MEMBER1=$!
PIDS+=("$MEMBER1")
members() { "$CLI" presence "$PURL" room >"$DIR/members.out" && lines "$DIR/members.out" "$1"; }
wait_for "the first member" members 1
ID1=$(python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read()); assert m["user"]=="" and m["info"] is None, m; print(m["client"])' "$DIR/members.out")
[[ "$("$CLI" presence "$PURL" room --stats)" == '{"channel":"room","clients":1,"users":0}' ]] || fail "presence --stats"
"$CLI" presence "$PURL" room --follow >"$DIR/follow.out" 2>"$DIR/follow.err" &
FOLLOW=$!
PIDS+=("$FOLLOW")
wait_for "--follow: the member there" lines "$DIR/follow.out" 1
"$CLI" sub "$PURL" room >/dev/null 2>"$DIR/member2.err" &
MEMBER2=$!
PIDS+=("$MEMBER2")
wait_for "--follow: the second member's join" lines "$DIR/follow.out" 2
kill "$MEMBER2"
wait_for "--follow: the second member's leave" lines "$DIR/follow.out" 3
kill "$FOLLOW"
wait "$FOLLOW" || fail "presence --follow: exit $? on SIGTERM: $(cat "$DIR/follow.err")"
python3 - "$DIR/follow.out" "$ID1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["event"] for r in rows] == ["join", "join", "leave"], rows
assert all(r["channel"] == "room" for r in rows), rows
ids = [r["member"]["client"] for r in rows]
assert ids[0] == sys.argv[2] and ids[1] != ids[0] and ids[2] == ids[1], rows
PY
echo "cli_check.sh: ok"
