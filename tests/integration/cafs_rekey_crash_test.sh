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
CAFSD=$1
ITERATIONS=${2:-20}
SIZE_MIB=${3:-8}
ROUND_LIMIT_S=45
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (FUSE mount)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"

T=$(mktemp -d /tmp/cafs-rekey-crash-XXXXXX)
cleanup() {
  [ -n "${WRITER_PID:-}" ] && kill -9 "$WRITER_PID" 2>/dev/null
  cafsd_stop "$T"
  timeout 10 fusermount3 -u -z "$T/mnt" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }
ctl() { timeout 60 "$CAFSD" --config "$T/cafsd.toml" "$@"; }

SEED=${CAFS_REKEY_CRASH_SEED:-$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')}
echo "seed: $SEED (rerun with CAFS_REKEY_CRASH_SEED=$SEED)"
RANDOM=$SEED

header_key() { cafsd_header_key "$1"; }  # "state version" (lib/cafsd.sh)

# shellcheck source=lib/fsync_writer.sh
. "$(dirname "$0")/lib/fsync_writer.sh"
BLOCKS=$((SIZE_MIB * 256))
blocks() { timeout 60 python3 "$FSYNC_BLOCKS_PY" "$@"; }

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A), cache TTL 1 s so a
# new key version is seen at once ---
cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[cache]
ttl_s = 1"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
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
  sleep 1.5  # past the cache TTL
  ID=$(ctl rekey /my_vmset/vm1/osdisk-crash.img --to-version "$VERSION" \
    --rate $((SIZE_MIB * 64))K --no-wait) || fail "rekey to version $VERSION: exit $?"
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
