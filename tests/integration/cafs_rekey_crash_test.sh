#!/bin/bash
# Deep rekey survives kill -9 of cafsd at random instants (issue 14; docs/format.md 8.4,
# docs/jobs.md "Deep rekey"): one disk image in the seed's encrypted pool, a rate-limited
# rekey job to a new key version (when one completes, the next round issues the next key
# version and starts another, so a rekey runs throughout), and ITERATIONS rounds of
#   a writer process writes 4 KiB blocks at random offsets of the image through the FUSE
#   mount, each followed by fsync, and records each block's generation before the write
#   ("W") and after its fsync returned ("S"); a random 0.2-1.7 s after its first fsync'ed
#   write cafsd is killed -9
#   (the writer then fails on the dead mount and stops); cafsd restarts, the job resumes by
#   itself, and every block reads back as its last fsync'ed generation (or as the one write
#   in flight at the kill, which may or may not have reached the disk) -- never anything else.
# At the end the last job completes and the pool file header names only its version (state
# 0), and the image still reads back exactly.
# The random seed is printed (rerun with CAFS_REKEY_CRASH_SEED=N); every round has a time
# limit. Root only (FUSE mount): exits 77 otherwise or when a tool is missing.
# Usage: cafs_rekey_crash_test.sh <path to cafsd> [iterations (20)] [image MiB (8)]
set -u
# shellcheck source=lib/fsync_writer.sh
. "$(dirname "$0")/lib/fsync_writer.sh"
crash_test_init rekey-crash CAFS_REKEY_CRASH_SEED "$@"
header_key() { cafsd_header_key "$1"; }  # "state version" (lib/cafsd.sh)

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A), cache TTL 1 s so a
# new key version is seen at once ---
cafsd_start_seeded "[cache]
ttl_s = 1"
V1=$T/mnt/my_vmset/vm1
IMG=$V1/osdisk-crash.img
mkdir -p "$V1" || fail "mkdir"
truncate -s "${SIZE_MIB}M" "$IMG" || fail "truncate"
# The image's pool file, named by its redirector (pool paths carry no names).
PF=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk-crash.img mirrored_pool_A)
[ -n "$PF" ] && [ -f "$PF" ] || fail "no pool file for the image in mirrored_pool_A"
blocks fill "$IMG" "$SEED" "$BLOCKS" || fail "fill"
: >"$T/log"
# Issues key version $1 (`cafsctl key rotate`) and starts a rekey job of the image to it:
# the image in about 16 s of cafsd running time, i.e. a few rounds.
VERSION=1
next_job() {
  VERSION=$((VERSION + 1))
  echo "$CAFSD_SEED_KEY $VERSION $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" \
    >>"$T/keys/my_vmset/keys"
  # As soon as the gateway's cache (TTL 1 s) has the version.
  cafsd_rekey_when_known /my_vmset/vm1/osdisk-crash.img "$VERSION" --rate $((SIZE_MIB * 64))K ||
    fail "rekey to version $VERSION: $(cat "$T/out")"
  ID=$CAFSD_JOB
  JOBS="$JOBS $ID"
}
JOBS=""
next_job

MID=0
GEN=1
NEED_JOB=0  # set when a kill found the header switched to the job's version (job done)
for round in $(seq 1 "$ITERATIONS"); do
  START=$SECONDS
  [ "$NEED_JOB" = 1 ] && next_job
  NEED_JOB=0
  mountpoint -q "$T/mnt" || fail "round $round: cafsd no longer serves the mount"
  fsync_writer_kill9 "$IMG" "$SEED" "$BLOCKS" "$T/log" "$((SEED + round))" "$GEN" ||
    fail "round $round: $FSYNC_WRITER_ERROR"
  GEN=$((GEN + 100000))  # generations of different rounds never collide
  STATE=$(header_key "$PF")
  [ "${STATE%% *}" = 1 ] && MID=$((MID + 1))
  [ "$STATE" = "0 $VERSION" ] && NEED_JOB=1
  timeout 10 fusermount3 -u -z "$T/mnt"
  cafsd_start "$CAFSD" "$T" || fail "round $round: restart: $CAFSD_ERROR"
  OUT=$(blocks verify "$IMG" "$SEED" "$BLOCKS" "$T/log" 2>&1) ||
    fail "round $round (killed after ${DELAY_MS} ms, header '$STATE'): $OUT"
  echo "round $round: killed after ${DELAY_MS} ms, header '$STATE' (state version)," \
    "job to version $VERSION, $WROTE fsync'ed writes" \
    "($(tr -d '\n' <"$T/log.err")); $OUT"
  [ $((SECONDS - START)) -le $ROUND_LIMIT_S ] ||
    fail "round $round took $((SECONDS - START)) s (limit $ROUND_LIMIT_S s)"
done
[ "$MID" -ge 1 ] || fail "no kill landed mid-rekey"
RESUMED=0
for id in $JOBS; do grep -q "resuming rekey job $id" "$T/cafsd.log" && RESUMED=$((RESUMED + 1)); done
[ "$RESUMED" -ge 1 ] || fail "no rekey job was ever resumed"

ctl jobs watch "$ID" --json >"$T/watch.json" || fail "rekey job: $(cat "$T/watch.json")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/watch.json" || fail "job not done: $(cat "$T/watch.json")"
[ "$(header_key "$PF")" = "0 $VERSION" ] ||
  fail "header: $(header_key "$PF"), not '0 $VERSION'"
OUT=$(blocks verify "$IMG" "$SEED" "$BLOCKS" "$T/log" 2>&1) || fail "after the rekey: $OUT"
echo "ok: $ITERATIONS kill -9 rounds ($MID mid-rekey, $((VERSION - 1)) rekey jobs, $RESUMED" \
  "resumed after a kill), every fsync'ed block intact; the last job completed and the header" \
  "names only version $VERSION"
echo "PASS"
