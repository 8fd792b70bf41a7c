#!/bin/bash
# Online migration survives kill -9 of cafsd at random instants (issue 15: "kill -9 of cafsd at
# random points of migration, >= 20 iterations in one test"; docs/migration.md "Crash table"):
# one disk image in the seed's encrypted pool, moved back and forth between mirrored_pool_A and
# default_pool by rate-limited migrate jobs (when one is done, the next round starts the move
# back), and ITERATIONS rounds of
#   a writer process writes 4 KiB blocks at random offsets of the image through the FUSE mount,
#   each followed by fsync, and records each block's generation before the write ("W") and
#   after its fsync returned ("S") (lib/fsync_blocks.py); a random 0.2-1.7 s after its first
#   fsync'ed write cafsd is killed -9; cafsd restarts, the job resumes by itself (roll back or
#   roll forward by what the redirector says), and every block reads back as its last fsync'ed
#   generation (or as the write in flight at the kill) -- never anything else; the name, size
#   and inode never change.
# Whenever a job is done: the pool file is in the target pool only, and `cafsd fsck` (cafsd
# stopped) finds nothing. At the end the last job completes, the same checks pass again.
# The random seed is printed (rerun with CAFS_MIGRATE_CRASH_SEED=N); every round has a time
# limit. Root only (FUSE mount): exits 77 otherwise or when a tool is missing.
# Usage: cafs_migrate_crash_test.sh <path to cafsd> [iterations (20)] [image MiB (8)]
set -u
# shellcheck source=lib/fsync_writer.sh
. "$(dirname "$0")/lib/fsync_writer.sh"
crash_test_init migrate-crash CAFS_MIGRATE_CRASH_SEED "$@"

REL=my_vmset/vm1/osdisk-crash.img
# The pool file is in pool $1 (at the path its redirector names) and no file is in pool $2.
in_pool_only() {  # pool other_pool
  local f
  f=$(cafsd_pool_file "$T" "$REL" "$1")
  [ -n "$f" ] && [ -f "$f" ] && [ -z "$(find "$T/pools/$2" -type f)" ]
}
# cafsd stopped, `cafsd fsck` clean, cafsd started again.
fsck_clean() {  # what
  cafsd_stop "$T"
  timeout 10 fusermount3 -u -z "$T/mnt" 2>/dev/null
  ctl fsck >"$T/fsck.out" 2>&1 || fail "$1: cafsd fsck: $(cat "$T/fsck.out")"
  cafsd_start "$CAFSD" "$T" || fail "$1: start after fsck: $CAFSD_ERROR"
}

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A) ---
cafsd_start_seeded
V1=$T/mnt/my_vmset/vm1
IMG=$T/mnt/$REL
mkdir -p "$V1" || fail "mkdir"
truncate -s "${SIZE_MIB}M" "$IMG" || fail "truncate"
blocks fill "$IMG" "$SEED" "$BLOCKS" || fail "fill"
in_pool_only mirrored_pool_A default_pool || fail "the image is not in mirrored_pool_A"
INODE=$(stat -c %i "$IMG")
SIZE=$(stat -c %s "$IMG")
: >"$T/log"

# The next move, once the writer runs (the kill comes 0.2-1.7 s later), unless one is running.
start_move() {
  [ -n "$ID" ] && return 0
  ID=$(ctl migrate /$REL --to $TO --rate "$((SIZE_MIB * 512))K" --no-wait) ||
    fail "round $round: migrate to $TO: exit $?"
  JOBS=$((JOBS + 1))
}
# A move of the image takes about two seconds of cafsd's running time (half its size per
# second): the kills land before, during and after the switch; a rolled-back move starts over.
TO=default_pool
FROM=mirrored_pool_A
ID=""
JOBS=0
DONE=0
MID=0
GEN=1
for round in $(seq 1 "$ITERATIONS"); do
  START=$SECONDS
  if [ -n "$ID" ]; then
    STATE=$(cafsd_job_field "$ID" state) || fail "round $round: jobs show $ID"
    case $STATE in
      done)
        in_pool_only "$TO" "$FROM" || fail "round $round: job $ID done, the image is not in $TO only"
        fsck_clean "round $round"
        DONE=$((DONE + 1))
        ID=""
        X=$TO TO=$FROM FROM=$X
        ;;
      running | queued) MID=$((MID + 1)) ;;
      *) fail "round $round: job $ID is $STATE: $(ctl jobs show "$ID")" ;;
    esac
  fi
  mountpoint -q "$T/mnt" || fail "round $round: cafsd no longer serves the mount"
  fsync_writer_kill9 "$IMG" "$SEED" "$BLOCKS" "$T/log" "$((SEED + round))" "$GEN" start_move ||
    fail "round $round: $FSYNC_WRITER_ERROR"
  GEN=$((GEN + 100000))  # generations of different rounds never collide
  timeout 10 fusermount3 -u -z "$T/mnt"
  cafsd_start "$CAFSD" "$T" || fail "round $round: restart: $CAFSD_ERROR"
  OUT=$(blocks verify "$IMG" "$SEED" "$BLOCKS" "$T/log" 2>&1) ||
    fail "round $round (killed after ${DELAY_MS} ms, moving to $TO): $OUT"
  [ "$(stat -c %i "$IMG")" = "$INODE" ] || fail "round $round: the inode changed"
  [ "$(stat -c %s "$IMG")" = "$SIZE" ] || fail "round $round: the size changed"
  echo "round $round: killed after ${DELAY_MS} ms moving to $TO (job $JOBS), $WROTE fsync'ed" \
    "writes; $OUT"
  [ $((SECONDS - START)) -le $ROUND_LIMIT_S ] ||
    fail "round $round took $((SECONDS - START)) s (limit $ROUND_LIMIT_S s)"
done

ctl jobs watch "$ID" --json >"$T/watch.json" || fail "last job: $(cat "$T/watch.json")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/watch.json" || fail "last job not done: $(cat "$T/watch.json")"
in_pool_only "$TO" "$FROM" || fail "after the last job the image is not in $TO only"
OUT=$(blocks verify "$IMG" "$SEED" "$BLOCKS" "$T/log" 2>&1) || fail "after the last job: $OUT"
fsck_clean "the end"
# A kill that landed mid-move: the restarted cafsd resumed the job (rolled back or forward).
RESUMED=$(grep -c "resuming migrate job" "$T/cafsd.log")
[ "$RESUMED" -ge 1 ] || fail "no kill landed mid-move: no migrate job was ever resumed"
echo "ok: $ITERATIONS kill -9 rounds ($JOBS migrate jobs, $RESUMED resumed after a kill," \
  "$DONE done between rounds, $MID rounds found a job still moving), every fsync'ed block" \
  "intact, inode and size unchanged, cafsd fsck clean after every finished move"
echo "PASS"
