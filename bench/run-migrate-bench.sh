#!/bin/bash
# Online migration (issue 15 "Performance", bench/; not a test): cafsd on a FUSE mount with the
# seed's policy (*osdisk* -> aes-256-xts in mirrored_pool_A), both pools directories of the
# same file system (under one mktemp -d in /tmp), one disk image of --size.
#  1. Throughput: `cafsd migrate` of the image between the two pools with no rate limit
#     (--rate 64G), against a plain `cp` of the same pool file between the same two
#     directories followed by a sync of the copy (the migration syncs its copy too); both
#     directions, interleaved, --rounds rounds, best of each. Goal: migration >= 0.8 of cp.
#  2. Foreground slowdown: fio on the image itself (randwrite 4k, randread 4k, seqwrite 1M;
#     buffered, psync, iodepth 1, each capped at --runtime seconds) alone, then while the image
#     moves back and forth at the migrate jobs' default rate ([jobs] migrate_rate, 32 MiB/s
#     unless the config says otherwise; docs/jobs.md "Rate limits"), best of --rounds. Goal:
#     slowdown <= 25%.
# Prints the figures with the load average (the machine is shared).
#
# Usage: bench/run-migrate-bench.sh BUILD_DIR [--size 256M] [--runtime 5] [--rounds 2] [--quick]
#   BUILD_DIR  a CMake build tree with cafsd built (ninja -C BUILD_DIR cafsd)
# Root only (FUSE mount); needs fio. Everything is unmounted/killed on every exit path.
set -u
. "$(dirname "$0")/lib/options.sh"
bench_build_dir "$0" "$@"
shift
SIZE=256M
RUNTIME=5
ROUNDS=2
ONLY=""
KEEP=""
bench_options "$@"
# shellcheck source=lib/fio_slowdown.sh
. "$(dirname "$0")/lib/fio_slowdown.sh"
fio_slowdown_setup migrate-bench 900
now() { date +%s.%N; }
secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }

cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""
cafsd_start "$CAFSD" "$T" || { echo "$CAFSD_ERROR" >&2; exit 1; }
REL=my_vmset/vm1/osdisk1.img
IMG=$T/mnt/$REL
mkdir -p "$T/mnt/my_vmset/vm1"
timeout 600 fio --name=fill --filename="$IMG" --rw=write --bs=1M --size="$SIZE" \
  --refill_buffers --end_fsync=1 >/dev/null 2>&1 || { echo "fill failed" >&2; exit 1; }
POOL=mirrored_pool_A
other() { [ "$1" = mirrored_pool_A ] && echo default_pool || echo mirrored_pool_A; }

# --- 1. throughput ---
BEST_CP=""
BEST_MIG=""
smaller() { python3 -c "import sys; a = [float(x) for x in sys.argv[1:] if x]; print(min(a))" "$@"; }
for round in $(seq 1 "$ROUNDS"); do
  for _ in 1 2; do  # both directions
    to=$(other $POOL)
    src=$(cafsd_pool_file "$T" "$REL" $POOL)
    dst=$T/pools/$to/cp-copy
    sync
    t0=$(now)
    cp "$src" "$dst" && sync "$dst"
    t1=$(now)
    rm -f "$dst"
    sync
    t2=$(now)
    ctl migrate /$REL --to "$to" --rate 64G >/dev/null || { echo "migrate failed" >&2; exit 1; }
    t3=$(now)
    BEST_CP=$(smaller "$BEST_CP" "$(secs "$t0" "$t1")")
    BEST_MIG=$(smaller "$BEST_MIG" "$(secs "$t2" "$t3")")
    POOL=$to
  done
  echo "round $round: cp ${BEST_CP} s, migrate ${BEST_MIG} s (best so far)"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 2. foreground slowdown at the default rate ---
move_loop() {
  local pool=$POOL to
  while [ ! -e "$STOP" ]; do
    to=$(other "$pool")
    ctl migrate /$REL --to "$to" >/dev/null 2>&1 || sleep 0.2
    pool=$to
  done
}
JOBS="randwrite:randwrite:4k randread:randread:4k seqwrite:write:1M"
declare -A BEST ROUND_VALUES
start_load() { fio_slowdown_load_start move_loop 2; }  # 2 s: the first job is running
fio_slowdown_measure "$IMG" start_load fio_slowdown_load_stop
MOVES=$(grep -c '"op":"migrate".*moved from pool' "$T/audit.log")

echo
echo "Migration of a $SIZE encrypted image between two directory pools on one file system"
echo "(best of $ROUNDS rounds, both directions; load average $LOAD1)"
python3 -c 'import sys
size = sys.argv[1]; cp, mig = float(sys.argv[2]), float(sys.argv[3])
n = int(size[:-1]) * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[size[-1]]
print(f"cp + sync of the pool file  {cp:7.2f} s  {n / cp / 2**20:7.1f} MiB/s")
print(f"cafsd migrate (no limit)    {mig:7.2f} s  {n / mig / 2**20:7.1f} MiB/s")
print(f"ratio migrate / cp          {cp / mig:7.2f}   (goal >= 0.8)")' "$SIZE" "$BEST_CP" "$BEST_MIG"
# The summary line bench/run-all.sh reads (bench/lib/figures.py): best of the rounds here.
PYTHONPATH="$(dirname "$0")/lib" python3 -c 'import sys, figures
figures.emit("migrate.throughput.migrate/cp", [float(sys.argv[1]) / float(sys.argv[2])], ">=0.80")' \
  "$BEST_CP" "$BEST_MIG"
echo
echo "Foreground fio on the image alone and while it moves back and forth at the default rate"
echo "($MOVES moves done in all; runtime cap ${RUNTIME} s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
fio_slowdown_table "while moving"
echo "goal (issue 15): slowdown <= 25% at the default rate limit"
fio_slowdown_figures migrate.slowdown "<=0.25"
