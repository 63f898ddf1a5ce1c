#!/usr/bin/env bash
# The native client and the `pushwire` command line over TLS, against the real server
# started with --tls-cert/--tls-key and a certificate signed by a CA this test makes
# (openssl): with --ca-file naming that CA, every transport (wss:// WebSocket, SSE, long
# polling, polling over https://) delivers the held and live messages once each in order,
# and pub, history and presence work; with another CA (and with the system's store, which
# does not know this CA) nothing is used: each command ends with exit 1 and says that the
# server's certificate could not be verified. A certificate for another host name is
# refused the same way. No timed assertions.
set -euo pipefail
SERVER=$1 CLI=$2
# shellcheck source=support/cli_lib.sh
source "$(dirname "$0")/support/cli_lib.sh"

# A CA, the server's certificate from it (for 127.0.0.1 and localhost), another CA, and a
# certificate from the test's CA for another host name only.
cd "$DIR"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=pushwire test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj "/CN=another CA" 2>/dev/null
cert() {  # name SAN
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\n' "$2" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
cert server "IP:127.0.0.1,DNS:localhost"
cert elsewhere "DNS:pushwire.example"
cd - >/dev/null

start_server tls --port 0 --presence 'room*' --tls-cert "$DIR/server.pem" --tls-key "$DIR/server.key"
URL=https://127.0.0.1:$PORT

# Each transport: 2 held, 2 live, | head -n 4 ends it.
for transport in websocket sse longpoll poll; do
  publish "$URL" "t-$transport" 1 2 --ca-file "$DIR/ca.pem"
  ("$CLI" sub "$URL" "t-$transport" --since 0 --transport "$transport" --ca-file "$DIR/ca.pem" --verbose \
     2>"$DIR/$transport.err" | stdbuf -oL head -n 4 >"$DIR/$transport.out"; echo "${PIPESTATUS[0]}" >"$DIR/$transport.status") &
  wait_for "$transport: the held messages" lines "$DIR/$transport.out" 2
  publish "$URL" "t-$transport" 3 4 --ca-file "$DIR/ca.pem"
  wait_for "$transport: sub to end" test -s "$DIR/$transport.status"
  [[ $(cat "$DIR/$transport.status") == 0 ]] || fail "$transport: exit $(cat "$DIR/$transport.status"): $(cat "$DIR/$transport.err")"
  expect_seqs "$DIR/$transport.out" "t-$transport" 1 4
  grep -q "connected to $URL over $transport" "$DIR/$transport.err" || fail "$transport: $(cat "$DIR/$transport.err")"
done
"$CLI" history "$URL" t-poll --ca-file "$DIR/ca.pem" >"$DIR/history.out"
expect_seqs "$DIR/history.out" t-poll 1 4
[[ "$("$CLI" presence "$URL" room --stats --ca-file "$DIR/ca.pem")" == '{"channel":"room","clients":0,"users":0}' ]] \
  || fail "presence --stats over https"

# Not verified: another CA, the system's store, a certificate for another host. Each command
# ends with exit 1 and says why; sub does not retry forever.
refused() {  # label command...
  local label=$1; shift
  set +e
  timeout 60 "$@" >"$DIR/refused.out" 2>"$DIR/refused.err"
  local status=$?
  set -e
  [[ $status == 1 ]] || fail "$label: exit $status, not 1: $(cat "$DIR/refused.err")"
  grep -q "TLS: the server's certificate could not be verified" "$DIR/refused.err" || fail "$label: $(cat "$DIR/refused.err")"
  [[ ! -s "$DIR/refused.out" ]] || fail "$label printed: $(cat "$DIR/refused.out")"
}
refused "sub, another CA" "$CLI" sub "$URL" t-poll --since 0 --ca-file "$DIR/other.pem"
refused "sub, the system's CAs" "$CLI" sub "$URL" t-poll --since 0
refused "sub --transport websocket, another CA" "$CLI" sub "$URL" t-poll --since 0 --transport websocket --ca-file "$DIR/other.pem"
refused "pub, another CA" "$CLI" pub "$URL" t-poll 5 --ca-file "$DIR/other.pem"
refused "history, another CA" "$CLI" history "$URL" t-poll --ca-file "$DIR/other.pem"
refused "presence, another CA" "$CLI" presence "$URL" room --ca-file "$DIR/other.pem"
refused "presence --follow, another CA" "$CLI" presence "$URL" room --follow --ca-file "$DIR/other.pem"
"$CLI" history "$URL" t-poll --ca-file "$DIR/ca.pem" >"$DIR/history.out"
expect_seqs "$DIR/history.out" t-poll 1 4  # the refused pub stored nothing

start_server elsewhere --port 0 --tls-cert "$DIR/elsewhere.pem" --tls-key "$DIR/elsewhere.key"
URL=https://127.0.0.1:$PORT
refused "sub, a certificate for another host" "$CLI" sub "$URL" c --ca-file "$DIR/ca.pem"
refused "pub, a certificate for another host" "$CLI" pub "$URL" c 1 --ca-file "$DIR/ca.pem"
echo "tls_check.sh: ok"
