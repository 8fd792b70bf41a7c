#!/bin/bash
# Mirrored storage through cafsd + FUSE (issue 15 item 3; docs/redirectors.md "Mirrored
# files", docs/jobs.md "Resync"): a VM set whose *osdisk* files have 2 copies, in
# mirrored_pool_A and in mirror_b, a pool on a tmpfs (bind-mounted at the pool's path):
#  1. fio --verify=crc32c fills the image: both pool files byte-identical;
#  2. while fio (random writes, fsync every 16 writes, crc32c verify) keeps writing, the pool
#     mirror_b is lazily unmounted (`umount -l`): fio verifies (the file stays readable and
#     writable degraded, no read is stale), `cafsd replicas` says stale, the audit log has one
#     `replica-failed` record;
#  3. the pool is mounted again: the gateway's tick starts a resync job by itself, it ends
#     done, `cafsd replicas` says in-sync, the two pool files are byte-identical (cmp), fio
#     verifies the data;
#  4. kill -9 of cafsd during a resync (KILLS times; seed printed, each iteration bounded):
#     the copy is made stale again, the pool returns, the tick's resync job starts and cafsd
#     is killed at a random point of the tick's wait and the job's run; after the restart the
#     resync ends (the job resumed, or a new one the tick starts), every fsync'ed block
#     verifies, the copies are identical;
#  5. `cafsd fsck` (cafsd stopped) finds nothing.
# Root only (FUSE, tmpfs, bind mounts): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_mirror_test.sh <path to cafsd> [size MiB] [kills] [resync MiB/s (2)] [seed]
set -u
CAFSD=$1
SIZE_MIB=${2:-16}
KILLS=${3:-1}
RATE_MIB=${4:-2}
SEED=${5:-$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')}
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "FUSE mount, tmpfs, bind mounts" fusermount3 python3 mountpoint fio cmp
echo "seed $SEED (rerun: $0 $CAFSD $SIZE_MIB $KILLS $RATE_MIB $SEED)"
RANDOM=$SEED

cafsd_test_init mirror
CAFSD_FAIL_CONTEXT="seed $SEED"
FIO_PID=""
test_cleanup_early() {
  [ -n "$FIO_PID" ] && kill "$FIO_PID" 2>/dev/null && wait "$FIO_PID" 2>/dev/null
}
test_cleanup_late() {
  mountpoint -q "$T/pools/mirror_b" && umount -l "$T/pools/mirror_b"
  mountpoint -q "$T/store_b" && umount -l "$T/store_b"
}
REL=my_vmset/vm1/osdisk1.img
F=$T/mnt/$REL
# Both pool files of the image (copy 1 from the redirector's path line, copy 2 its replica line).
pool_a_file() { cafsd_pool_file "$T" "$REL" mirrored_pool_A; }
pool_b_file() {
  local line
  line=$(sed -n 's/^replica mirror_b //p' "$T/backing/$REL##mirrored_pool_A" 2>/dev/null)
  [ -n "$line" ] && printf '%s\n' "$T/pools/mirror_b/$line"
}
identical() { cmp -s "$(pool_a_file)" "$(pool_b_file)"; }
fio_run() {  # name [extra fio options]
  local name=$1
  shift
  timeout 120 fio --name="$name" --filename="$F" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
    --verify=crc32c --verify_fatal=1 --fsync=16 --randseed="$SEED" "$@" >"$T/fio-$name.log" 2>&1
}
pool_down() { umount -l "$T/pools/mirror_b" || fail "umount -l mirror_b"; }
pool_up() { mount --bind "$T/store_b" "$T/pools/mirror_b" || fail "bind mount mirror_b"; }
state_b() {  # the state of copy 2 per `cafsd replicas --json`
  ctl replicas "/$REL" --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["copies"][1]["state"])'
}
wait_in_sync() {  # what (up to 60 s)
  for _ in $(seq 600); do
    [ "$(state_b)" = in-sync ] && return 0
    sleep 0.1
  done
  fail "$1: copy 2 not in sync after 60 s: $(ctl replicas "/$REL" 2>&1)"
}

# --- set-up: *osdisk* with 2 copies (mirrored_pool_A, mirror_b on a tmpfs) ---
cafsd_seed_keys "$T/keys"
python3 - "$T/keys/my_vmset/policy.xml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("<storepol>mirrored_pool_A</storepol>",
              "<storepol>mirrored_pool_A</storepol><replicas>2</replicas>"
              "<replica-pool>mirror_b</replica-pool>", 1)
open(p, "w").write(s)
PY
mkdir -p "$T/store_b" "$T/pools/mirror_b"
mount -t tmpfs -o size=$((SIZE_MIB * 4))m tmpfs "$T/store_b" || skip "cannot mount a tmpfs"
pool_up
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"mirror_b\"
path = \"$T/pools/mirror_b\"

[jobs]
resync_rate = \"${RATE_MIB}M\""
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
mkdir -p "$T/mnt/my_vmset/vm1" || fail "mkdir"

# --- 1. fill: two identical copies ---
fio_run fill --rw=write || fail "fio fill: $(tail -5 "$T/fio-fill.log")"
[ -n "$(pool_b_file)" ] || fail "the redirector names no copy in mirror_b"
identical || fail "after the fill the two pool files differ"
[ "$(state_b)" = in-sync ] || fail "copy 2 is not in sync after the fill"
echo "ok: 2 copies written, byte-identical"

# --- 2. the pool vanishes (umount -l) while fio writes and verifies ---
fio_run degraded --io_size=$((SIZE_MIB * 2))M &
FIO_PID=$!
sleep 0.5
pool_down
wait "$FIO_PID" || { FIO_PID=""; fail "fio verify failed while degraded: $(tail -20 "$T/fio-degraded.log")"; }
FIO_PID=""
fio_run degraded2 --io_size=4M || fail "fio while degraded: $(tail -5 "$T/fio-degraded2.log")"
STATE=$(state_b)
[ "$STATE" = stale ] || [ "$STATE" = resyncing ] || fail "copy 2 is '$STATE', not stale"
ctl replicas "/$REL" >"$T/replicas.out" 2>&1
grep -q "stale since 20" "$T/replicas.out" || fail "no 'stale since': $(cat "$T/replicas.out")"
N=$(grep '"op":"replica-failed"' "$T/audit.log" | grep -c "$REL")
[ "$N" = 1 ] || fail "$N audit records replica-failed, expected 1 (once per transition)"
echo "ok: pool lazily unmounted mid-write: fio verified, copy stale, audited once"

# --- 3. the pool returns: the tick's resync job, identical copies ---
pool_up
wait_in_sync "after the pool returned"
ctl jobs list --json >"$T/jobs.json" || fail "jobs list"
python3 - "$T/jobs.json" <<'PY' || fail "no resync job done: $(cat "$T/jobs.json")"
import json, sys
jobs = json.load(open(sys.argv[1]))
jobs = jobs["jobs"] if isinstance(jobs, dict) else jobs
assert any(j["kind"] == "resync" and j["state"] == "done" and j["done_bytes"] > 0 for j in jobs), jobs
PY
identical || fail "after the resync the two pool files differ"
fio_run check1 --verify_only --io_size=4M || fail "data does not verify after the resync"
grep '"op":"replica-resynced"' "$T/audit.log" | grep -q "$REL" || fail "no replica-resynced record"
echo "ok: the tick started a resync job; copies byte-identical; data verifies"

# --- 4. kill -9 during a resync ---
for kill in $(seq 1 "$KILLS"); do
  ITER_START=$SECONDS
  pool_down
  fio_run "stale$kill" --io_size=$((SIZE_MIB))M --do_verify=0 || fail "kill $kill: fio"
  [ "$(state_b)" = stale ] || fail "kill $kill: copy 2 not stale"
  pool_up
  # The tick (1 s) starts the job, which runs SIZE/RATE s: the kill lands 0-(1 + SIZE/RATE) s
  # after the pool returned (before the job, during it or after it).
  DELAY_MS=$((RANDOM % (1000 + SIZE_MIB * 1000 / RATE_MIB)))
  sleep "$(printf '%d.%03d' $((DELAY_MS / 1000)) $((DELAY_MS % 1000)))"
  cafsd_kill9
  timeout 10 fusermount3 -u -z "$T/mnt"
  cafsd_start "$CAFSD" "$T" || fail "kill $kill: restart: $CAFSD_ERROR"
  wait_in_sync "kill $kill"
  identical || fail "kill $kill: the copies differ after the resync"
  fio_run "check-kill$kill" --verify_only --io_size=$((SIZE_MIB))M || fail "kill $kill: data"
  [ $((SECONDS - ITER_START)) -le 90 ] || fail "kill $kill: iteration took over 90 s"
done
RESUMED=$(grep -c "resuming resync job" "$T/cafsd.log")
echo "ok: $KILLS x kill -9 during a resync ($RESUMED landed mid-job: resumed): resynced after" \
  "restart, data verifies, copies identical"

# --- 5. fsck ---
cafsd_stop "$T"
ctl fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
echo "ok: cafsd fsck finds nothing"
echo "PASS"
