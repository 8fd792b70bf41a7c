#!/usr/bin/env bash
# Fails if any C++ file differs from .clang-format (prints the files to fix with
# `clang-format -i`). Files go to clang-format in batches, one batch per core.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' 2>/dev/null || true)
[ ${#files[@]} -eq 0 ] && exit 0
existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
rc=0
out=$(printf '%s\0' "${existing[@]}" |
  xargs -0 -P "$(nproc)" -n 32 clang-format --dry-run --Werror 2>&1) || rc=$?
mapfile -t bad < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*$/\1/p' \
  <<<"$out" | sort -u)
if [ ${#bad[@]} -gt 0 ]; then
  echo "clang-format: these files need 'clang-format -i':"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "clang-format failed (exit $rc):"
  echo "$out" | tail -20
  exit 1
fi
echo "clang-format: ${#existing[@]} files clean"
