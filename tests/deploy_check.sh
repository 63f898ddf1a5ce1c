#!/usr/bin/env bash
# deploy/systemd/pushwire.service: its ExecStart runs (the flags exist and go together,
# with the credentials it loads), and systemd-analyze finds nothing wrong with the unit
# (where systemd is installed: exit 77, skipped, where it is not).
set -euo pipefail
SERVER=$(realpath "$1")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UNIT="$ROOT/deploy/systemd/pushwire.service"
DIR=$(mktemp -d)
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
openssl rand -hex 32 >"$DIR/token.secret"
openssl rand -hex 32 >"$DIR/api.key"
# ExecStart with its continuation lines joined, %d the credentials, a free port.
exec_start=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | sed -e 's/^ExecStart=//' -e 's/\\$//' | tr '\n' ' ')
args=$(sed -e "s#%d#$DIR#g" -e 's#^ */usr/local/bin/pushwire-server##' -e 's#--port 8080#--port 0#' <<<"$exec_start")
# shellcheck disable=SC2086
"$SERVER" $args >"$DIR/out.log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q listening "$DIR/out.log" && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
grep -q listening "$DIR/out.log" || { echo "the unit's ExecStart does not start:"; cat "$DIR/out.log"; exit 1; }
grep -q 'access: tokens' "$DIR/out.log" || { echo "the unit's server is not secured:"; cat "$DIR/out.log"; exit 1; }
kill -TERM "$PID"
wait "$PID" || { echo "SIGTERM did not end it cleanly"; exit 1; }
PID=""
if ! command -v systemd-analyze >/dev/null; then
  echo "ExecStart runs; systemd-analyze is not installed here: the unit itself is not verified"
  exit 77
fi
sed "s#/usr/local/bin/pushwire-server#$SERVER#" "$UNIT" >"$DIR/pushwire.service"
out=$(systemd-analyze verify "$DIR/pushwire.service" 2>&1) || { echo "$out"; exit 1; }
[[ -z "$out" ]] || { echo "systemd-analyze: $out"; exit 1; }
echo "deploy/systemd/pushwire.service: ExecStart runs, systemd-analyze verify is clean"
