#!/usr/bin/env bash
# pushwire build entry point. On a fresh Debian 12 machine, as root:
#   ./build.sh run     install what is missing, build, serve the demo on http://127.0.0.1:8080
#   ./build.sh test    install what is missing, build, run every test through ctest
# Other commands: deps, build, bench, sanitize, clean. Extra arguments after `run` go to
# the server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$ROOT/build"
DIST="$ROOT/dist"
JOBS="${JOBS:-$(nproc)}"
# Tests mostly wait (on sockets, timers, a browser): ctest runs twice as many as there are
# cores (a browser test or the bench smoke run counts as two).
TEST_JOBS="${TEST_JOBS:-$((JOBS * 2))}"
# Debian's emscripten loads Debian's acorn from here; the installed Node does not look there.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"

APT_PACKAGES=(
  build-essential cmake pkg-config clang-format
  emscripten
  libcpp-httplib-dev libwebsocketpp-dev libasio-dev nlohmann-json3-dev catch2 liburing-dev
  libhiredis-dev redis-server redis-sentinel libssl-dev openssl
  nginx
  nodejs npm chromium
  zopfli
)
BENCH_PACKAGES=(nginx libnginx-mod-nchan)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Progress of `./build.sh test`: a line as each phase starts (time since the start) and as
# it ends (its wall time and the CPU time of what it ran: user + system of every process
# it waited for: cutime + cstime of /proc/$$/stat). On a shared machine the CPU seconds are the number
# to compare; on 2 idle cores wall time is about CPU / 2 where a phase keeps both busy.
PHASE="" PHASE_WALL=0 PHASE_CPU=0
children_cpu() {  # [pid]: CPU seconds of every finished child of this shell (or that subshell): cutime + cstime
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / hz }' "/proc/${1:-$$}/stat"
}
clock() { printf '%d:%02d' $((SECONDS / 60)) $((SECONDS % 60)); }
phase_end() {
  [[ -z $PHASE ]] && return 0
  printf '    [%s] %s: done in %ds, %ds CPU\n' "$(clock)" "$PHASE" $((SECONDS - PHASE_WALL)) $(($(children_cpu) - PHASE_CPU))
  PHASE=""
}
phase() {  # name: ends the phase running, starts this one
  phase_end
  PHASE="$1" PHASE_WALL=$SECONDS PHASE_CPU=$(children_cpu)
  log "[$(clock)] $1"
}

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages "$@")
  # node and npm may come from outside Debian (a preinstalled Node): accept them.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=$(echo "$missing" | grep -vx -e nodejs -e npm || true)
  fi
  [[ -z "$missing" ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages: $missing" >&2
    echo "run as root, or install them: apt-get install $missing" >&2
    exit 1
  fi
  log "installing: $(echo $missing)"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

cmd_deps() {
  phase "dependencies (Debian packages, npm test tools)"
  install_packages "${APT_PACKAGES[@]}"
  if [[ ! -d "$ROOT/tests/browser/node_modules/playwright-core" || ! -d "$ROOT/tests/browser/node_modules/vite" ]]; then
    log "installing npm test tools (playwright-core, and typescript and vite for the package tests)"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [[ ! -d "$ROOT/bench/node_modules/ws" ]]; then
    log "installing npm bench clients (ws)"
    (cd "$ROOT/bench" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# ON: the native build has unit_tests and client_core_tests too; cmd_test turns them off
# (they run under the sanitizers there, see tests/CMakeLists.txt).
IN_PROCESS_TESTS=ON
# OFF: the native build lists every integration case; cmd_test turns it on (they run once,
# against the sanitized server; the plain build keeps the [rss] ones, see tests/CMakeLists.txt).
INTEGRATION_SANITIZED=OFF
cmd_build() {
  phase "native build (server, tests, bench)"
  cmake -S "$ROOT" -B "$BUILD/native" -DCMAKE_BUILD_TYPE=Release -DPUSHWIRE_IN_PROCESS_TESTS=$IN_PROCESS_TESTS \
    -DPUSHWIRE_INTEGRATION_SANITIZED=$INTEGRATION_SANITIZED >/dev/null
  cmake --build "$BUILD/native" -j "$JOBS"
  phase "wasm build (browser module) and dist/"
  emcmake cmake -S "$ROOT" -B "$BUILD/wasm" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD/wasm" -j "$JOBS"
  mkdir -p "$DIST/bin" "$DIST/web"
  cp "$BUILD/native/bin/pushwire-server" "$DIST/bin/"
  for tool in pushwire pushwire-bench pushwire-send-paths pushwire-floors; do
    [[ -f "$BUILD/native/bin/$tool" ]] && cp "$BUILD/native/bin/$tool" "$DIST/bin/"
  done
  cp -r "$ROOT/web/." "$DIST/web/"
  # The module's JS minified (names too: Debian's emscripten has no closure compiler) by
  # esbuild, which vite brings into the test tools; without them, as emscripten wrote it.
  local js="$BUILD/wasm/client-wasm/pushwire.js" esbuild="$ROOT/tests/browser/node_modules/.bin/esbuild"
  if [[ -x "$esbuild" ]]; then
    "$esbuild" --minify --log-level=warning "$js" --outfile="$BUILD/wasm/client-wasm/pushwire.min.js"
    js="$BUILD/wasm/client-wasm/pushwire.min.js"
  else
    log "esbuild not installed (./build.sh deps): pushwire.js left unminified"
  fi
  cp "$js" "$DIST/web/pushwire.js"
  cp "$BUILD/wasm/client-wasm/pushwire.wasm" "$DIST/web/"
  for extra in "$BUILD"/wasm/client-wasm/example-*.js "$BUILD"/wasm/client-wasm/example-*.wasm; do
    [[ -f "$extra" ]] && cp "$extra" "$DIST/web/"
  done
  # The npm package: the classic build, and an ES module entry wrapping it that finds the
  # wasm next to itself (client-wasm/npm/).
  rm -rf "$DIST/npm"
  mkdir -p "$DIST/npm"
  cp "$js" "$DIST/npm/pushwire.js"
  cp "$BUILD/wasm/client-wasm/pushwire.wasm" "$DIST/npm/"
  # A real ES module: the classic build without its CommonJS/AMD tail (`module.exports`,
  # `define`, which bundlers warn about in an ES module), minified as one.
  local classic="$BUILD/wasm/client-wasm/pushwire.js" mjs="$BUILD/wasm/client-wasm/pushwire.mjs"
  {
    echo "/*! pushwire $(sed -nE 's/.*"version": "([^"]+)".*/\1/p' "$ROOT/client-wasm/npm/package.json"): ES module entry. License: MIT. */"
    echo "const createPushWireClassic = (() => {"
    sed '/^if (typeof exports === .object. && typeof module === .object.)$/,$d' "$classic"
    echo "return createPushWire;"
    echo "})();"
    cat "$ROOT/client-wasm/npm/esm_tail.js"
  } >"$mjs"
  if grep -q 'module\.exports\|define(' "$mjs"; then
    echo "build.sh: the CommonJS/AMD tail of $classic was not found: pushwire.mjs would not be a clean ES module" >&2
    exit 1
  fi
  if [[ -x "$esbuild" ]]; then
    "$esbuild" --minify --format=esm --log-level=warning "$mjs" --outfile="$DIST/npm/pushwire.mjs"
  else
    cp "$mjs" "$DIST/npm/pushwire.mjs"
  fi
  cp "$ROOT/client-wasm/npm/package.json" "$ROOT/client-wasm/npm/index.d.ts" "$ROOT/client-wasm/npm/README.md" \
    "$ROOT/LICENSE" "$DIST/npm/"
  # Precompressed copies, sent to browsers that take gzip (the server checks they are as
  # new as the file). zopfli writes gzip any browser reads, 6% smaller than gzip -9 for
  # the module (2.7 KB of its 50: docs/benchmarks.md), in about a second; without it,
  # gzip -9 (-n: no name or time inside, so a rebuild gives the same bytes; zopfli puts
  # neither).
  local file
  while IFS= read -r -d '' file; do
    if command -v zopfli >/dev/null; then
      zopfli --i15 -c "$file" >"$file.gz.tmp" && mv -f "$file.gz.tmp" "$file.gz"
    else
      gzip -9 -n -k -f "$file"
    fi
  done < <(find "$DIST/web" -type f \( -name '*.js' -o -name '*.wasm' -o -name '*.html' -o -name '*.css' -o -name '*.svg' \
    -o -name '*.json' \) -print0)
  phase_end
  log "built: dist/bin/pushwire-server, dist/bin/pushwire (the command line), dist/web/, dist/npm/"
}

cmd_run() {
  cmd_deps
  cmd_build
  log "serving the demo at http://127.0.0.1:8080 (Ctrl-C stops)"
  exec "$DIST/bin/pushwire-server" --web-root "$DIST/web" "$@"
}

# Every test, each once where one run checks all a second would. Against the plain (-O3) build:
# the browser tests (they need the wasm module and dist/), the CLI and native client tests, the
# bench smoke run (the Release generator and server), the ops, deploy and style checks, and the
# integration cases tagged [rss] (memory bounds only a plain server can be held to). Under
# ASan + UBSan only: the unit and client core tests, the fuzz replays and every integration case
# (io_uring and sendmsg writes), run by the plain build's harness (tests/asan_harness.cpp: the
# harness is unsanitized in either build, so it is compiled once) against the sanitized server:
# the sanitized run checks what a plain one would, and memory and undefined behaviour besides.
# Until then every integration case ran against both servers (287 plain entries more).
# The sanitizer build runs from the start at the lowest CPU priority, so that it takes the CPU
# the other phases leave idle (a test waiting on a socket or a timer). The two ctest runs
# overlap: the plain one starts when dist/ is built, the sanitized one when its build is done,
# each with its own progress lines ([plain] and [asan] before each line of its output); both
# mostly wait (on sockets, timers, a browser), and one after the other they left a core idle
# for most of 17 minutes. ctest starts the longest tests first: by the times of the last run
# in the build tree, else (a clean clone) by the COST tests/CMakeLists.txt gives them (no
# --schedule-random: started last, one of them was the phase's tail).
cmd_test() {
  cmd_deps
  mkdir -p "$BUILD"
  IN_PROCESS_TESTS=OFF INTEGRATION_SANITIZED=ON
  # In a process group of its own (set -m), to be stopped whole if this script ends first.
  set -m
  asan_build >"$BUILD/asan-build.log" 2>&1 &
  local asan_pid=$!
  set +m
  trap "kill -- -$asan_pid 2>/dev/null || true" EXIT
  cmd_build
  local start=$SECONDS
  log "[$(clock)] the plain build's tests (ctest -j $TEST_JOBS): browser, CLI, native client, bench smoke, ops, [rss]" \
    "integration; the sanitizer build's rest, then its tests, beside them"
  set -m
  timed_ctest plain "$start" --test-dir "$BUILD/native" --output-on-failure -j "$TEST_JOBS" \
    -E '^(fuzz|unit|client):' "$@" &
  local plain_pid=$!
  set +m
  trap "kill -- -$asan_pid -$plain_pid 2>/dev/null || true" EXIT
  local status=0 built=0 cpu
  cpu=$(children_cpu)
  wait "$asan_pid" || built=$?
  [[ $built == 0 ]] && { asan_harness >>"$BUILD/asan-build.log" 2>&1 || built=$?; }
  printf '    [%s] sanitizer build (ASan + UBSan, begun with the native build): done %ds after dist/, %ds CPU in all\n' \
    "$(clock)" $((SECONDS - start)) $(($(children_cpu) - cpu))
  if [[ $built != 0 ]]; then
    tail -50 "$BUILD/asan-build.log"
    echo "the sanitizer build failed: $BUILD/asan-build.log (the plain tests go on)" >&2
    status=1
  else
    # As many at once as there are cores: under the sanitizers the tests use the CPU more
    # than they wait.
    log "[$(clock)] the unit, client core and integration tests and fuzz replays under ASan + UBSan (ctest -j $JOBS)"
    ASAN_OPTIONS=$ASAN_TEST_OPTIONS UBSAN_OPTIONS=$UBSAN_TEST_OPTIONS timed_ctest asan "$SECONDS" \
      --test-dir "$BUILD/asan" --output-on-failure -j "$JOBS" -R "$ASAN_TESTS" || status=$?
  fi
  wait "$plain_pid" || status=$?
  trap - EXIT
  log "[$(clock)] ./build.sh test: $([[ $status == 0 ]] && echo "every test passed" || echo "FAILED")"
  return "$status"
}

# ctest with each line of its output after [name], and a last line with its wall time (since
# start, in SECONDS) and the CPU seconds of what it ran. Arguments after the start go to ctest.
timed_ctest() {
  local name=$1 start=$2 status=0 shell=$BASHPID cpu
  shift 2
  cpu=$(children_cpu "$shell")
  ctest "$@" 2>&1 | sed -u "s/^/[$name] /" || status=$?
  printf '    [%s] %s tests: done in %ds, %ds CPU\n' "$(clock)" "$name" $((SECONDS - start)) \
    $(($(children_cpu "$shell") - cpu))
  return "$status"
}

# The native unit and integration tests again, built with ASan and UBSan (the server
# they start is the sanitized one too). -O0 with line tables only (-g1): the sanitizers'
# reports name file and line; full debug info (-g) cost 8% more CPU and 17% bigger objects,
# -O1 twice the CPU. The integration harness is the plain build's (asan_harness, below).
asan_build() {
  cmake -S "$ROOT" -B "$BUILD/asan" -DCMAKE_BUILD_TYPE=Debug -DPUSHWIRE_SANITIZE=ON \
    -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1 -DPUSHWIRE_INTEGRATION_SANITIZED=$INTEGRATION_SANITIZED \
    -DPUSHWIRE_PLAIN_HARNESS="$BUILD/native/tests/integration_tests" >/dev/null
  nice -n 19 cmake --build "$BUILD/asan" -j "$JOBS" --target unit_tests client_core_tests \
    pushwire-server fuzz_protocol fuzz_http_request fuzz_websocket_frames fuzz_auth
}
# The sanitizer build's integration cases: asan_harness, a launcher of the plain build's
# harness (built by then), which lists its cases when linked.
asan_harness() {
  cmake --build "$BUILD/asan" --target asan_harness
}
ASAN_TEST_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_TEST_OPTIONS=halt_on_error=1:print_stacktrace=1
ASAN_TESTS='^(unit|client|integration|fuzz)'
asan_ctest() {
  # As many at once as there are cores: under the sanitizers the tests use the CPU more
  # than they wait.
  phase "the native tests and fuzz replays under ASan + UBSan (ctest -j $JOBS)"
  ASAN_OPTIONS=$ASAN_TEST_OPTIONS UBSAN_OPTIONS=$UBSAN_TEST_OPTIONS \
    ctest --test-dir "$BUILD/asan" --output-on-failure -j "$JOBS" -R "$ASAN_TESTS"
}
cmd_sanitize() {
  phase "the integration harness (plain build; the sanitizer build runs it)"
  cmake -S "$ROOT" -B "$BUILD/native" -DCMAKE_BUILD_TYPE=Release \
    -DPUSHWIRE_INTEGRATION_SANITIZED=$INTEGRATION_SANITIZED >/dev/null
  cmake --build "$BUILD/native" -j "$JOBS" --target integration_tests
  phase "sanitizer build (ASan + UBSan) of the native tests"
  asan_build
  asan_harness
  asan_ctest
  phase_end
}

cmd_bench() {
  cmd_deps
  install_packages "${BENCH_PACKAGES[@]}"
  cmd_build
  "$ROOT/bench/run.sh" "$@"
}

cmd_clean() { rm -rf "$BUILD" "$DIST"; }

case "${1:-}" in
  deps) cmd_deps ;;
  build) cmd_deps; cmd_build ;;
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  sanitize) cmd_deps; cmd_sanitize ;;
  bench) shift; cmd_bench "$@" ;;
  clean) cmd_clean ;;
  *)
    echo "usage: ./build.sh {run|test|build|deps|bench|sanitize|clean}" >&2
    exit 2
    ;;
esac
