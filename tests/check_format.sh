#!/usr/bin/env bash
# Fails, listing the files, when a C++ source differs from what clang-format makes of it
# with the committed .clang-format. Fix with: clang-format -i FILE...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
else
  mapfile -t files < <(find protocol server-native client-wasm client-native tests bench -name node_modules -prune -o \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print)
fi
present=()
for f in "${files[@]}"; do [[ -f "$f" ]] && present+=("$f"); done
# One clang-format for every file (one process each took most of this test's time); the
# files it complains about are the ones named in its messages.
status=0
messages=$(clang-format --dry-run --Werror "${present[@]}" 2>&1 >/dev/null) || status=$?
mapfile -t bad < <(sed -nE 's/^(.*):[0-9]+:[0-9]+: (error|warning): .*/\1/p' <<<"$messages" | sort -u)
if (( status != 0 && ${#bad[@]} == 0 )); then
  echo "clang-format failed (status $status): ${messages:0:2000}"
  exit 1
fi
if (( ${#bad[@]} )); then
  echo "not clang-formatted (${#bad[@]} files): ${bad[*]}"
  echo "fix with: clang-format -i ${bad[*]}"
  exit 1
fi
echo "${#files[@]} files clang-formatted"
