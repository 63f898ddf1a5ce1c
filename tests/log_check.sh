#!/usr/bin/env bash
# The server's log as an operator reads it: with --log-format json --access-log every
# stderr line is a JSON object with time, level and event; a refused request says why; a
# query (which may carry a token) never appears; a flood of refusals is cut to the budget
# and summarized; SIGTERM logs the drain.
set -euo pipefail
SERVER=$1
DIR=$(mktemp -d)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
"$SERVER" --port 0 --log-format json --access-log >"$DIR/out" 2>"$DIR/err" &
PID=$!
for _ in $(seq 100); do grep -q listening "$DIR/out" && break; sleep 0.05; done
PORT=$(sed -nE 's|.*http://[^:]+:([0-9]+).*|\1|p' "$DIR/out" | head -1)
curl -s "http://127.0.0.1:$PORT/pushwire/poll?channel=a&token=SECRET-TOKEN-IN-URL" >/dev/null
curl -s "http://127.0.0.1:$PORT/pushwire/poll?channel=bad%20name" >/dev/null
for _ in $(seq 60); do curl -s "http://127.0.0.1:$PORT/nope" >/dev/null; done
sleep 1.1
curl -s "http://127.0.0.1:$PORT/nope" >/dev/null   # the next second: the summary comes first
kill -TERM "$PID"; wait "$PID"; PID=""
python3 - "$DIR/err" "$DIR/out" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
events = [json.loads(line) for line in lines]          # every line is JSON
assert all({"time", "level", "event"} <= set(e) for e in events), events[:3]
text = open(sys.argv[1]).read() + open(sys.argv[2]).read()
assert "SECRET-TOKEN-IN-URL" not in text, "a query reached the log"
access = [e for e in events if e["event"] == "access"]
assert any(e["path"] == "/pushwire/poll" and e["status"] == 200 for e in access), access[:3]
refused = [e for e in events if e["event"] == "refused"]
assert any("bad_channel" in e["error"] for e in refused), refused[:3]
# 61 refusals of /nope (and one bad channel): at most 20 a second are written, the rest
# counted, and every one is accounted for.
nope = len([e for e in refused if e["path"] == "/nope"])
suppressed = [e for e in events if e["event"] == "suppressed" and e["of"] == "refused"]
left_out = sum(s["lines"] for s in suppressed)
assert nope <= 41 and left_out >= 20, (nope, left_out)
assert nope + left_out + (len(refused) - nope) == 62, (nope, left_out, len(refused))
assert "draining" in open(sys.argv[2]).read()
print(f"log: {len(events)} JSON lines, {len(refused)} refusals written, "
      f"{sum(s['lines'] for s in suppressed)} left out and counted")
PY
