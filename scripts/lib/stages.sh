# Stage bookkeeping for scripts/test.sh (docs/ci.md): each stage's wall time against its
# budget share, ccache hit rate for builds, test counts for CTest phases, load average at
# start and end. The table is printed at exit, also when a stage fails.
# Usage (sourced):
#   stages_init TOTAL_BUDGET_SECONDS
#   stage NAME BUDGET_SECONDS [--ccache|--ctest] -- COMMAND ARGS...
#   build_tree DIR [--targets REGEX] CMAKE_ARGS...   (configure + ninja, -Werror on)
#   run_ctest DIR CTEST_ARGS...                      (output also kept for the counts)
#   stages_done                                       (prints "all tests passed")

_stage_rows=()
_stage_warnings=()
_stage_total_budget=0
_stage_t0=0
_stage_note=""
_stage_log=""

stages_init() {
  _stage_total_budget=$1
  _stage_t0=$(date +%s)
  _stage_log=$(mktemp)
  printf 'test.sh: start %s, load average %s, %s cores\n' "$(date -u +%FT%TZ)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
  trap _stages_report EXIT
}

_ccache_counts() {  # prints "hits misses" of ccache's counters
  ccache --print-stats 2>/dev/null |
    awk '$1=="direct_cache_hit"||$1=="preprocessed_cache_hit"{h+=$2} $1=="cache_miss"{m+=$2}
         END{printf "%d %d\n", h, m}'
}

# stage NAME BUDGET [--ccache|--ctest] -- COMMAND...
stage() {
  local name=$1 budget=$2 kind=""
  shift 2
  if [ "${1:-}" != -- ]; then kind=$1; shift; fi
  shift  # --
  printf '\n==== %s ====\n' "$name"
  if [ "$kind" = --ccache ] && command -v ccache >/dev/null; then ccache -z >/dev/null; fi
  _stage_note=""
  local t0 rc=0
  t0=$(date +%s)
  "$@" || rc=$?
  local secs=$(($(date +%s) - t0))
  if [ "$kind" = --ccache ] && command -v ccache >/dev/null; then
    local hits misses
    read -r hits misses < <(_ccache_counts)
    if [ $((hits + misses)) -gt 0 ]; then
      _stage_note="ccache ${hits}/$((hits + misses)) hits ($((100 * hits / (hits + misses)))%)"
    else
      _stage_note="ccache: nothing compiled"
    fi
  fi
  if [ "$kind" = --ctest ]; then
    _stage_note=$(sed -n 's/^.*tests passed, \([0-9]*\) tests* failed out of \([0-9]*\).*$/\2 tests, \1 failed/p' \
      "$_stage_log" | tail -1)
    local skipped
    skipped=$(grep -cE '\((Skipped|Not Run|Disabled)\)$' "$_stage_log" || true)
    _stage_note="${_stage_note:-no test count}, ${skipped} skipped"
  fi
  [ $rc -eq 0 ] || _stage_note="FAILED (exit $rc) ${_stage_note}"
  _stage_rows+=("$(printf '%-28s %6ds %6ds  %s' "$name" "$secs" "$budget" "$_stage_note")")
  if [ "$secs" -gt "$budget" ]; then
    _stage_warnings+=("BUDGET: stage '$name' took ${secs}s, over its share of ${budget}s")
    echo "${_stage_warnings[-1]}"
  fi
  return $rc
}

_stages_report() {
  local rc=$?
  local total=$(($(date +%s) - _stage_t0))
  printf '\n==== stage times ====\n'
  printf '%-28s %7s %7s  %s\n' stage took budget note
  local row
  for row in "${_stage_rows[@]}"; do echo "$row"; done
  printf '%-28s %6ds %6ds\n' total "$total" "$_stage_total_budget"
  if [ "$total" -gt "$_stage_total_budget" ]; then
    _stage_warnings+=("BUDGET: the whole run took ${total}s, over its ${_stage_total_budget}s")
  fi
  for row in "${_stage_warnings[@]}"; do echo "$row"; done
  printf 'test.sh: end %s, load average %s, exit %d\n' "$(date -u +%FT%TZ)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$rc"
  rm -f "$_stage_log"
  return $rc
}

# build_tree DIR [--targets REGEX] CMAKE_ARGS...: configures (Ninja, -Werror) and builds DIR;
# with --targets only the ninja targets whose names match REGEX (and what they need).
build_tree() {
  local dir=$1 regex=""
  shift
  if [ "${1:-}" = --targets ]; then regex=$2; shift 2; fi
  cmake -S . -B "$dir" -G Ninja -DCAFS_WERROR=ON "$@" >/dev/null
  if [ -z "$regex" ]; then
    ninja -C "$dir" -j "$JOBS"
    return
  fi
  local targets
  mapfile -t targets < <(ninja -C "$dir" -t targets all | sed -n 's/^\([A-Za-z0-9_.-]*\): .*/\1/p' |
    grep -E "$regex" | sort -u)
  if [ ${#targets[@]} -gt 0 ]; then ninja -C "$dir" -j "$JOBS" "${targets[@]}"; fi
}

# run_ctest DIR CTEST_ARGS...: CTest with TEST_JOBS slots (default JOBS; scripts/test.sh
# gives two per core: most integration tests wait, and a CPU-bound `heavy` test takes two
# slots, tests/integration/CMakeLists.txt); the output is also kept for the counts.
run_ctest() {
  local dir=$1
  shift
  (cd "$dir" && ctest --output-on-failure -j "${TEST_JOBS:-$JOBS}" "$@") 2>&1 | tee "$_stage_log"
  return "${PIPESTATUS[0]}"
}

stages_done() {
  printf '\n==== all tests passed ====\n'
}
