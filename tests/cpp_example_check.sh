#!/usr/bin/env bash
# The C++ example of docs/cpp.md (client-native/examples/chat_example.cpp), built by the
# tree, run against the real server on each transport's default (auto): it publishes its
# messages and reads them back, each once and in order, and ends by itself.
set -euo pipefail
trap 'echo "cpp_example_check.sh: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
SERVER=$1 EXAMPLE=$2
DIR=$(mktemp -d)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
"$SERVER" --port 0 >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q listening "$DIR/server.log" && break; sleep 0.1; done
PORT=$(sed -nE 's|.*http://[^:]+:([0-9]+) .*|\1|p' "$DIR/server.log" | head -1)
timeout 120 "$EXAMPLE" "http://127.0.0.1:$PORT" chat 5 >"$DIR/out"
expected=$(for n in 1 2 3 4 5; do echo "chat #$n {\"n\":$n}"; done)
[[ "$(cat "$DIR/out")" == "$expected" ]] || { echo "chat_example printed:"; cat "$DIR/out"; exit 1; }
echo "cpp_example_check.sh: ok"
