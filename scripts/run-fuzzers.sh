#!/usr/bin/env bash
# Runs every libFuzzer binary in BUILD_DIR/tests/fuzz for SECONDS each (default 10), two at a time,
# from its seed corpus in tests/fuzz/corpus/<name>/ (copied, so the tree is not modified).
# Exit status is non-zero if any fuzzer found a crash, leak or timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: run-fuzzers.sh BUILD_DIR SECONDS}
seconds=${2:-10}
mapfile -t fuzzers < <(find "$build/tests/fuzz" -maxdepth 1 -type f -name '*_fuzzer' -perm -u+x 2>/dev/null | sort)
if [ ${#fuzzers[@]} -eq 0 ]; then echo "no fuzzers built"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
run_one() {
  local bin=$1 name corpus
  name=$(basename "$bin")
  corpus="$work/$name"
  mkdir -p "$corpus"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -r "tests/fuzz/corpus/$name/." "$corpus/"; fi
  if timeout $((seconds + 60)) "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -timeout=10 -artifact_prefix="$work/$name-" "$corpus" >"$work/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$work/$name.log") log lines, $(ls "$corpus" | wc -l) corpus files)"
  else
    echo "fuzz $name: FAILED"; tail -40 "$work/$name.log"; return 1
  fi
}
pids=()
for bin in "${fuzzers[@]}"; do
  run_one "$bin" & pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
