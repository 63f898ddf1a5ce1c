#!/usr/bin/env bash
# The C++ example of docs/cpp.md as a user builds it: the pushwire package installed from the
# build tree into a temporary prefix (`cmake --install --component client`), the example
# project (client-native/examples/chat: CMakeLists.txt with find_package(pushwire) + main.cpp,
# the same text as docs/cpp.md shows) configured and built out of the tree against it, and
# run against the real server: it publishes its messages and reads them back, each once and
# in order, and ends by itself.
set -euo pipefail
trap 'echo "cpp_example_check.sh: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
SERVER=$1 BUILD_DIR=$2 SOURCE_DIR=$3
EXAMPLE_SRC=$SOURCE_DIR/client-native/examples/chat
DIR=$(mktemp -d)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT

# docs/cpp.md shows both files of the project verbatim.
python3 - "$SOURCE_DIR/docs/cpp.md" "$EXAMPLE_SRC" <<'PY'
import sys, pathlib
doc = pathlib.Path(sys.argv[1]).read_text()
for name, lang in (("CMakeLists.txt", "cmake"), ("main.cpp", "cpp")):
    text = (pathlib.Path(sys.argv[2]) / name).read_text()
    assert f"```{lang}\n{text}```" in doc, f"docs/cpp.md does not show {name} as it is in client-native/examples/chat"
PY

cmake --install "$BUILD_DIR" --prefix "$DIR/prefix" --component client >"$DIR/install.log"
cp -r "$EXAMPLE_SRC" "$DIR/chat"
cmake -S "$DIR/chat" -B "$DIR/chat/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$DIR/prefix" \
  >"$DIR/configure.log" 2>&1 || { cat "$DIR/configure.log"; exit 1; }
cmake --build "$DIR/chat/build" >"$DIR/build.log" 2>&1 || { cat "$DIR/build.log"; exit 1; }

"$SERVER" --port 0 >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q listening "$DIR/server.log" && break; sleep 0.1; done
PORT=$(sed -nE 's|.*http://[^:]+:([0-9]+) .*|\1|p' "$DIR/server.log" | head -1)
timeout 120 "$DIR/chat/build/chat_example" "http://127.0.0.1:$PORT" chat 5 >"$DIR/out"
expected=$(for n in 1 2 3 4 5; do echo "chat #$n {\"n\":$n}"; done)
[[ "$(cat "$DIR/out")" == "$expected" ]] || { echo "chat_example printed:"; cat "$DIR/out"; exit 1; }
echo "cpp_example_check.sh: ok"
