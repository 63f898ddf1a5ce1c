#!/usr/bin/env bash
# The server's log as an operator reads it: with --log-format json --access-log every
# stderr line is a JSON object with time, level and event; a refused request says why; a
# query (which may carry a token) never appears; a flood of refusals is cut to the budget
# and summarized; SIGTERM logs the drain. On a TLS port, a failed handshake is logged with
# OpenSSL's reason, and plain HTTP sent to it is answered to use https://.
set -euo pipefail
# set -e stops at the first failing command without a word: say which one.
trap 'echo "log_check.sh: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
SERVER=$1
DIR=$(mktemp -d)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
# The port the server prints once it listens ($1: the URL scheme). A loaded machine (CI runs
# Chromium and Redis clusters beside this) can take seconds to start it: wait up to 60 s,
# and say so if it never came.
listening_port() {
  local port=""
  for _ in $(seq 600); do
    port=$(sed -nE "s|.*$1://[^:]+:([0-9]+).*|\\1|p" "$DIR/out" | head -1)
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "log_check.sh: the server did not say it listens; its stderr:" >&2
  cat "$DIR/err" >&2
  return 1
}
"$SERVER" --port 0 --log-format json --access-log >"$DIR/out" 2>"$DIR/err" &
PID=$!
PORT=$(listening_port http)
curl -s "http://127.0.0.1:$PORT/pushwire/poll?channel=a&token=SECRET-TOKEN-IN-URL" >/dev/null
curl -s "http://127.0.0.1:$PORT/pushwire/poll?channel=bad%20name" >/dev/null
# The 60 on one connection from one curl: a burst that fits in a second or two even on a
# loaded machine (60 curl processes took longer than that under ctest -j).
mapfile -t nope < <(for _ in $(seq 60); do echo "http://127.0.0.1:$PORT/nope"; done)
curl -s "${nope[@]}" >/dev/null
sleep 1.1
curl -s "http://127.0.0.1:$PORT/nope" >/dev/null   # the next second: the summary comes first
# A body declared too large: refused (413) from the head alone, logged with its method and path. The
# python checks' timeout 60 and 20 s reads only guard against a hang: 5 s ran out under load.
timeout 60 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /pushwire/publish?token=SECRET-TOKEN-IN-URL HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
s.settimeout(20)
assert s.recv(4096).startswith(b"HTTP/1.1 413")' "$PORT"
# More than 64 KiB pipelined behind a held long-poll: the connection is dropped, and logged.
timeout 60 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /pushwire/longpoll?channel=held HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" * 4000)
s.settimeout(20)
try:
    while s.recv(4096): pass
except OSError: pass' "$PORT"
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
assert any(e["error"]["code"] == "bad_channel" for e in refused), refused[:3]  # an object, not JSON in a string
# 61 refusals of /nope (and one bad channel, one 413): at most 20 a second are written, the rest
# counted, and every one is accounted for.
nope = len([e for e in refused if e["path"] == "/nope"])
suppressed = [e for e in events if e["event"] == "suppressed" and e["of"] == "refused"]
left_out = sum(s["lines"] for s in suppressed)
assert nope <= 41 and left_out >= 20, (nope, left_out)
assert nope + left_out + (len(refused) - nope) == 63, (nope, left_out, len(refused))  # and the 413
large = [e for e in refused if e["status"] == 413]
assert len(large) == 1 and large[0]["method"] == "POST" and large[0]["path"] == "/pushwire/publish", large
out = [json.loads(line) for line in open(sys.argv[2]).read().splitlines()]  # stdout is JSON too
assert [e["event"] for e in out][:4] == ["listening", "broker", "write_path", "access_policy"], out[:4]
assert out[0]["transports"] == ["websocket", "sse", "longpoll", "poll"] and out[0]["websocket"].startswith("ws://"), out[0]
assert any(e["event"] == "draining" for e in out) and out[-1]["event"] == "stopped", out[-2:]
dropped = [e for e in events if e["event"] == "dropped"]
assert any("pipelined more than 64 KiB" in e["reason"] for e in dropped), dropped
print(f"log: {len(events)} JSON lines, {len(refused)} refusals written, "
      f"{sum(s['lines'] for s in suppressed)} left out and counted")
PY

# TLS: plain HTTP and a record no TLS peer sends, each logged once with its reason.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -days 1 \
  -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
"$SERVER" --port 0 --log-format json --tls-cert "$DIR/cert.pem" --tls-key "$DIR/key.pem" >"$DIR/out" 2>"$DIR/err" &
PID=$!
PORT=$(listening_port https)
answer=$(curl -s "http://127.0.0.1:$PORT/pushwire/healthz")
[[ $answer == *'use https://'* ]] || { echo "plain HTTP on the TLS port got: $answer" >&2; exit 1; }
timeout 60 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\xff\xff" + b"x" * 100)
s.settimeout(20)
while s.recv(4096): pass' "$PORT"
kill -TERM "$PID"; wait "$PID"; PID=""
python3 - "$DIR/err" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]).read().splitlines()]
reasons = [e["reason"] for e in events if e["event"] == "dropped"]
assert "tls: http request" in reasons, reasons
assert any(r.startswith("tls: ") and r != "tls: http request" for r in reasons), reasons
print(f"log over TLS: {reasons}")
PY
