#!/usr/bin/env bash
# Fails, listing the files, when a C++ source differs from what clang-format makes of it
# with the committed .clang-format. Fix with: clang-format -i FILE...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
else
  mapfile -t files < <(find protocol server-native client-wasm tests bench -name node_modules -prune -o \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print)
fi
bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if (( ${#bad[@]} )); then
  echo "not clang-formatted (${#bad[@]} files): ${bad[*]}"
  echo "fix with: clang-format -i ${bad[*]}"
  exit 1
fi
echo "${#files[@]} files clang-formatted"
