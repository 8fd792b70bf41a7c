# shellcheck shell=bash
# The foreground fio jobs of the slowdown benchmarks (bench/run-rekey-slowdown-bench.sh,
# bench/run-migrate-bench.sh; sourced): their cafsd set-up, one fio job on a file, its
# figure, the best of several, and the table row. The caller sets T (work directory; or
# fio_slowdown_setup does), SIZE and RUNTIME.
#
#   fio_slowdown_setup NAME CTL_S      after BUILD is set: CAFSD (exits 2 unless it is built,
#                                      we are root and fio is installed), sources
#                                      tests/integration/lib/cafsd.sh, T=$(mktemp -d
#                                      /tmp/cafs-NAME-XXXXXX), STOP=$T/stop-load, LOOP_PID;
#                                      an EXIT trap ends the load loop (touches STOP, waits
#                                      for it), stops cafsd, unmounts and removes T (kept
#                                      with KEEP=1); ctl ARGS runs cafsd --config T/cafsd.toml
#                                      ARGS with a limit of CTL_S seconds
#   fio_slowdown_load_start LOOP SETTLE_S / fio_slowdown_load_stop
#                                      the background load for fio_slowdown_measure: runs the
#                                      function LOOP in the background (it stops when STOP
#                                      exists) and waits SETTLE_S seconds for its first job;
#                                      then ends it
#   fio_slowdown_job FILE NAME RW BS   runs fio (buffered, psync, iodepth 1, capped at RUNTIME
#                                      seconds) and prints MiB/s (seq) or IOPS (rand*), 0 on
#                                      failure; the JSON is $T/NAME.json
#   fio_slowdown_better A B            prints the larger
#   fio_slowdown_row NAME ALONE WITH   prints "NAME  ALONE unit  WITH unit  slowdown%"
#   fio_slowdown_table WITH_TITLE      the table of every job of JOBS (header, then a
#                                      fio_slowdown_row of BEST[alone/NAME], BEST[with/NAME])
#   fio_slowdown_measure FILE START STOP   ROUNDS rounds of: every job of JOBS ("name:rw:bs
#                                      ...") on FILE alone, then between the commands START
#                                      and STOP (the background load); the best of each in
#                                      BEST[alone/NAME] and BEST[with/NAME] (declare -A BEST),
#                                      every round's in ROUND_VALUES[alone|with/NAME]
#                                      (declare -A ROUND_VALUES)
#   fio_slowdown_figures PREFIX GOAL   one FIGURE line per job (bench/lib/figures.py):
#                                      PREFIX.NAME = the median over the rounds of the
#                                      slowdown inside a round (alone and with, back to back)

fio_slowdown_job() {  # file name rw bs
  sync
  timeout $((RUNTIME + 120)) fio --name="$2" --filename="$1" --rw="$3" --bs="$4" \
    --size="$SIZE" --runtime="$RUNTIME" --time_based=0 --ioengine=psync --invalidate=1 \
    --output-format=json >"$T/$2.json" 2>"$T/$2.err" || { echo 0; return; }
  python3 - "$T/$2.json" "$3" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if "write" in sys.argv[2] else j["read"]
print(f'{side["bw"] / 1024:.1f}' if "rand" not in sys.argv[2] else f'{side["iops"]:.0f}')
PY
}

fio_slowdown_better() { python3 -c "import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))" "$1" "$2"; }

fio_slowdown_row() {  # name alone with
  local unit=MiB/s
  [[ $1 == rand* ]] && unit=IOPS
  python3 -c 'import sys; a, r = float(sys.argv[1]), float(sys.argv[2]); print(f"{sys.argv[3]:<10} {a:>8.1f} {sys.argv[4]:<5}{r:>8.1f} {sys.argv[4]:<5}{(1 - r / a) * 100 if a else 0:>6.1f}%")' \
    "$2" "$3" "$1" "$unit"
}

fio_slowdown_measure() {  # file start stop
  local round mode spec name rw bs v
  for round in $(seq 1 "$ROUNDS"); do
    for mode in alone with; do
      [ "$mode" = with ] && $2
      for spec in $JOBS; do
        IFS=: read -r name rw bs <<<"$spec"
        v=$(fio_slowdown_job "$1" "$name" "$rw" "$bs")
        BEST[$mode/$name]=$(fio_slowdown_better "${BEST[$mode/$name]:-0}" "$v")
        ROUND_VALUES[$mode/$name]="${ROUND_VALUES[$mode/$name]:-} $v"
      done
      [ "$mode" = with ] && $3
    done
    echo "round $round done"
  done
}

fio_slowdown_figures() {  # prefix goal
  local spec name
  for spec in $JOBS; do
    IFS=: read -r name _ _ <<<"$spec"
    PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")" python3 -c '
import sys, figures
alone, with_ = [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
figures.emit(sys.argv[1], [1 - w / a for a, w in zip(alone, with_) if a > 0], sys.argv[2])
' "$1.$name" "$2" "${ROUND_VALUES[alone/$name]:-}" "${ROUND_VALUES[with/$name]:-}"
  done
}

fio_slowdown_setup() {  # name ctl-seconds
  CAFSD=$BUILD/apps/cafsd/cafsd
  [ -x "$CAFSD" ] || { echo "no $CAFSD: ninja -C $BUILD cafsd" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "needs root (FUSE mount)" >&2; exit 2; }
  command -v fio >/dev/null || { echo "fio not installed" >&2; exit 2; }
  # shellcheck source=../../tests/integration/lib/cafsd.sh
  . "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib/cafsd.sh"
  T=$(mktemp -d "/tmp/cafs-$1-XXXXXX")
  STOP=$T/stop-load
  LOOP_PID=""
  FIO_SLOWDOWN_CTL_S=$2
  trap _fio_slowdown_cleanup EXIT
  trap 'exit 1' INT TERM
  ctl() { timeout "$FIO_SLOWDOWN_CTL_S" "$CAFSD" --config "$T/cafsd.toml" "$@"; }
}

_fio_slowdown_cleanup() {
  touch "$STOP"
  [ -n "$LOOP_PID" ] && wait "$LOOP_PID" 2>/dev/null
  cafsd_stop "$T"
  timeout 10 fusermount3 -u -z "$T/mnt" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}

fio_slowdown_load_start() {  # loop settle-seconds
  rm -f "$STOP"
  $1 &
  LOOP_PID=$!
  sleep "$2"
}

fio_slowdown_load_stop() {
  touch "$STOP"
  wait "$LOOP_PID"
  LOOP_PID=""
}

fio_slowdown_table() {  # with-title
  local spec name
  printf '%-10s %12s %14s %9s\n' job alone "$1" slowdown
  for spec in $JOBS; do
    IFS=: read -r name _ _ <<<"$spec"
    fio_slowdown_row "$name" "${BEST[alone/$name]}" "${BEST[with/$name]}"
  done
}
