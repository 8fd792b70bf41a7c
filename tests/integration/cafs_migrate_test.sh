#!/bin/bash
# Online migration between pools through cafsd + FUSE (issue 15; docs/migration.md):
#  1. fio --verify=crc32c writes and verifies a disk image through the mount WHILE
#     `cafsd migrate` moves it back and forth between mirrored_pool_A and default_pool
#     (MOVES times): every fio run verifies, every move ends done, the name, size and inode
#     seen through the mount never change, the pool file is in the target pool only, one
#     audit record "migrate" per move;
#  2. bad input: an unknown pool, the pool the file is in, a directory, a symlink, a target
#     pool that is too small (a tmpfs pool): exit 1 with the reason, the file intact where it
#     was, no copy left in any pool;
#  3. kill -9 of cafsd at a random point of a migration (KILLS times: 1 in CI, 20 by hand),
#     restart:
#     the job resumes by itself and completes, the file is in the target pool only, name,
#     size and inode unchanged, the data verifies;
#  4. `cafsd fsck` (cafsd stopped) finds nothing.
# Root only (FUSE, a tmpfs mount): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_migrate_test.sh <path to cafsd> [size MiB] [moves] [kills]
set -u
CAFSD=$1
SIZE_MIB=${2:-16}
MOVES=${3:-4}
KILLS=${4:-1}
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "FUSE mount, tmpfs" fusermount3 python3 mountpoint fio
cafsd_test_init migrate
FIO_PID=""
test_cleanup_early() {
  [ -n "$FIO_PID" ] && kill "$FIO_PID" 2>/dev/null && wait "$FIO_PID" 2>/dev/null
}
test_cleanup_late() {
  mountpoint -q "$T/pools/small_pool" && umount -l "$T/pools/small_pool"
}
REL=my_vmset/vm1/osdisk1.img
in_pool_only() {  # pool: the pool file is there and in no other pool
  local p
  local f
  f=$(cafsd_pool_file "$T" "$REL" "$1")
  [ -n "$f" ] && [ -f "$f" ] || return 1
  for p in mirrored_pool_A default_pool small_pool; do
    [ "$p" = "$1" ] && continue
    [ -z "$(find "$T/pools/$p" -type f 2>/dev/null)" ] || return 1
  done
}
# fio runs with one set of parameters (a verify_only run checks what a run with the same
# parameters wrote): 16 KiB random writes, each block crc32c-verified.
fio_verify() {  # name [extra fio options]
  local name=$1
  shift
  timeout 120 fio --name="$name" --filename="$F" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
    --verify=crc32c --verify_fatal=1 "$@" >"$T/fio-$name.log" 2>&1
}

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A); a third, small pool
# on an 8 MiB tmpfs ---
cafsd_seed_keys "$T/keys"
mkdir -p "$T/pools/small_pool"
mount -t tmpfs -o size=8m tmpfs "$T/pools/small_pool" || skip "cannot mount a tmpfs"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"small_pool\"
path = \"$T/pools/small_pool\""
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
V1=$T/mnt/my_vmset/vm1
F=$V1/osdisk1.img
mkdir -p "$V1" || fail "mkdir"
fio_verify fill --do_verify=0 || fail "fio fill: $(tail -5 "$T/fio-fill.log")"
in_pool_only mirrored_pool_A || fail "the image is not in mirrored_pool_A"
INODE=$(stat -c %i "$F")
SIZE=$(stat -c %s "$F")

# --- 2. bad input ---
ln -s osdisk1.img "$V1/link" || fail "symlink"
bad() {  # expected-reason args...
  local why=$1
  shift
  ctl migrate "$@" >"$T/out" 2>&1
  local rc=$?
  [ $rc = 1 ] || fail "migrate $*: exit $rc, not 1: $(cat "$T/out")"
  grep -q "$why" "$T/out" || fail "migrate $*: no reason '$why': $(cat "$T/out")"
}
bad "not configured" /$REL --to nope
bad "already" /$REL --to mirrored_pool_A
bad "is a directory" /my_vmset/vm1 --to default_pool
bad "is a symlink" /my_vmset/vm1/link --to default_pool
bad "bytes free" /$REL --to small_pool
in_pool_only mirrored_pool_A || fail "bad input moved or copied something"
fio_verify check0 --verify_only || fail "the image does not verify after the refusals"
echo "ok: bad input refused with exit 1 and a reason; nothing moved"

# --- 1. fio verifies in a loop while the image moves back and forth ---
(
  for i in $(seq 1 200); do  # bounded
    [ -f "$T/stop-fio" ] && exit 0
    fio_verify "live$i" --io_size=4M || { echo "$i" >"$T/fio-failed"; exit 1; }
    echo "$i" >"$T/fio-rounds"
  done
) &
FIO_PID=$!
TO=default_pool
for move in $(seq 1 "$MOVES"); do
  ctl migrate /$REL --to $TO --rate 16M --json >"$T/move$move.json" 2>"$T/move$move.err" ||
    fail "move $move to $TO: $(cat "$T/move$move.err")"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
    "$T/move$move.json" || fail "move $move not done: $(cat "$T/move$move.json")"
  in_pool_only $TO || fail "after move $move the pool file is not in $TO only"
  [ "$(stat -c %i "$F")" = "$INODE" ] || fail "the inode changed in move $move"
  [ "$(stat -c %s "$F")" = "$SIZE" ] || fail "the size changed in move $move"
  [ -f "$T/fio-failed" ] && fail "fio verify failed during move $move: $(tail -n 20 "$T"/fio-live*.log)"
  if [ $TO = default_pool ]; then TO=mirrored_pool_A; else TO=default_pool; fi
done
touch "$T/stop-fio"
wait "$FIO_PID" || fail "fio verify failed: round $(cat "$T/fio-failed" 2>/dev/null)"
FIO_PID=""
ROUNDS=$(cat "$T/fio-rounds" 2>/dev/null || echo 0)
[ "$ROUNDS" -ge 1 ] || fail "no fio round completed during the moves"
fio_verify check1 --io_size=4M --verify_only || fail "the image does not verify after the moves"
N=$(grep '"op":"migrate"' "$T/audit.log" | grep -c "moved from pool")
[ "$N" -ge "$MOVES" ] || fail "$N audit records 'migrate', expected $MOVES"
echo "ok: $MOVES moves while $ROUNDS fio runs verified; inode, size, pool placement, audit right"

# --- 3. kill -9 at a random point of a migration (KILLS times), restart, resume ---
for kill in $(seq 1 "$KILLS"); do
  FROM=$([ $TO = default_pool ] && echo mirrored_pool_A || echo default_pool)
  # 2 MiB/s: a move of 16 MiB lasts ~8 s; the kill lands after the first bytes plus 0-2 s
  # (seen in the job's record within 20 ms, the client maybe still exiting: lib/cafsd.sh).
  cafsd_job_start_progress migrate /$REL --to $TO --rate 2M ||
    fail "kill $kill: no progress: $(cat "$T/job-client.out")"
  ID=$CAFSD_JOB
  sleep "$(printf "%d.%02d" $((RANDOM % 2)) $((RANDOM % 100)))"  # 0-2 s after the first bytes
  cafsd_kill9
  wait "$CAFSD_JOB_CLIENT"
  timeout 10 fusermount3 -u -z "$T/mnt"
  cafsd_start "$CAFSD" "$T" || fail "kill $kill: restart: $CAFSD_ERROR"
  ctl jobs watch "$ID" --json >"$T/watch.json" || fail "kill $kill: job: $(cat "$T/watch.json")"
  in_pool_only $TO || fail "kill $kill: after the resumed job the pool file is not in $TO only"
  [ "$(stat -c %i "$F")" = "$INODE" ] || fail "kill $kill: the inode changed across the restart"
  [ "$(stat -c %s "$F")" = "$SIZE" ] || fail "kill $kill: the size changed across the restart"
  fio_verify "check-kill$kill" --io_size=4M --verify_only || fail "kill $kill: data does not verify"
  TO=$FROM
done
[ "$KILLS" = 0 ] || grep -q "resuming migrate job" "$T/cafsd.log" || fail "no job was resumed"
echo "ok: $KILLS x kill -9 during a migration, restart: resumed, completed, data intact"

# --- 4. fsck ---
cafsd_stop "$T"
ctl fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
echo "ok: cafsd fsck finds nothing"
echo "PASS"
