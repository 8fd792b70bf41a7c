#!/bin/bash
# Deep rekey of a disk image in use through the FUSE mount (issue 14; docs/jobs.md "Deep
# rekey"):
#  1. a raw disk image written with qemu-io patterns; key version 2 issued; `cafsd rekey
#     FILE --to-version 2` (rate-limited so it lasts a few seconds) runs WHILE qemu-io writes
#     new patterns (`write -P`) and verifies them and the old ones (`read -P`) through the
#     mount; every verify passes, the job ends done, the pool file header names only key
#     version 2 (state none, version 2), the image then reads back with every pattern;
#  2. with fio (when installed): a second image written and verified by fio --verify=crc32c
#     while `cafsd rekey` runs on it;
#  3. kill -9 of cafsd in the middle of a rekey of a third image, restart: the job resumes by
#     itself and completes; the image still reads back with its patterns;
#  4. bad input: an unknown version and a version already current: exit 1 with the reason.
# Root only (FUSE mount): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_rekey_test.sh <path to cafsd>
set -u
CAFSD=$1
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "FUSE mount" fusermount3 python3 mountpoint qemu-io
cafsd_test_init rekey
qio() { timeout 60 qemu-io -f raw "$@" >>"$T/qemu-io.log" 2>&1; }
MiB=$((1024 * 1024))
SIZE_MIB=16

header_key() { cafsd_header_key "$1"; }  # "state version" (lib/cafsd.sh)
# Writes pattern i at MiB i of image for i in [0, SIZE_MIB): pattern 0x40+i.
fill_patterns() {  # image
  local cmds=() i
  for i in $(seq 0 $((SIZE_MIB - 1))); do
    cmds+=(-c "write -P $((0x40 + i)) $((i * MiB)) $MiB")
  done
  qio "${cmds[@]}" "$1"
}
# Every MiB of the image has its expected pattern (EXPECT array, one per MiB).
verify_patterns() {  # image
  local cmds=() i
  for i in $(seq 0 $((SIZE_MIB - 1))); do
    cmds+=(-c "read -P ${EXPECT[$i]} $((i * MiB)) $MiB")
  done
  : >"$T/verify.log"
  timeout 60 qemu-io -f raw -r "${cmds[@]}" "$1" >"$T/verify.log" 2>&1 || return 1
  ! grep -q "Pattern verification failed" "$T/verify.log"
}

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A), cache TTL 1 s so a
# new key version is seen at once ---
cafsd_start_seeded "[cache]
ttl_s = 1"
V1=$T/mnt/my_vmset/vm1
mkdir -p "$V1" || fail "mkdir"
for f in osdisk1.img osdisk2.img osdisk3.img; do
  truncate -s ${SIZE_MIB}M "$V1/$f" || fail "truncate $f"
done
fill_patterns "$V1/osdisk1.img" || fail "qemu-io fill osdisk1"
fill_patterns "$V1/osdisk3.img" || fail "qemu-io fill osdisk3"
EXPECT=()
for i in $(seq 0 $((SIZE_MIB - 1))); do EXPECT[i]=$((0x40 + i)); done
verify_patterns "$V1/osdisk1.img" || fail "osdisk1 does not verify before the rekey"
PF1=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk1.img mirrored_pool_A)
[ "$(header_key "$PF1")" = "0 1" ] || fail "osdisk1 header: $(header_key "$PF1"), not '0 1'"
# `cafsctl key rotate`: version 2 is issued (the first rekey to it below waits until the
# gateway's cache, TTL 1 s, has it).
echo "$CAFSD_SEED_KEY 2 $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" >>"$T/keys/my_vmset/keys"

# --- 4. bad input ---
ctl rekey /my_vmset/vm1/osdisk1.img --to-version 9 >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] || fail "rekey to an unknown version: exit $rc"
grep -q "destroyed or unknown" "$T/out" || fail "no reason: $(cat "$T/out")"
ctl rekey /my_vmset/vm1/osdisk1.img --to-version 1 >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] || fail "rekey to the current version: exit $rc"
grep -q "already under key version 1" "$T/out" || fail "no reason: $(cat "$T/out")"
echo "ok: bad input refused with exit 1 and a reason"

# --- 1. qemu-io writes and verifies while the rekey runs ---
# 1 MiB/s: ~16 s for the image, time enough for the `jobs pause` after its first bytes (seen in
# the job's record, lib/cafsd.sh) on a loaded machine (one ASan cafsd start).
cafsd_rekey_when_known /my_vmset/vm1/osdisk1.img 2 --rate 1M || fail "rekey: $(cat "$T/out")"
ID=$CAFSD_JOB
# The first round runs while the job is paused part-way (sectors below the watermark under
# version 2, above it under 1), whatever the machine's speed; the rest while it runs.
cafsd_job_record_progress "$ID" || fail "the job made no progress"
ctl jobs pause "$ID" >/dev/null || fail "jobs pause"
ctl jobs wait "$ID" --until paused --timeout 30 >/dev/null ||
  fail "job not paused: $(cafsd_job_field "$ID" state)"
# A paused job does not end by itself: `jobs wait` gives up after --timeout, exit 124.
ctl jobs wait "$ID" --timeout 0.3 >/dev/null 2>&1; rc=$?
[ $rc = 124 ] || fail "jobs wait of a paused job with --timeout 0.3: exit $rc, not 124"
ROUNDS=0
for round in $(seq 1 200); do  # bounded
  [ "$round" = 2 ] && { ctl jobs resume "$ID" >/dev/null || fail "jobs resume"; }
  i=$((round % SIZE_MIB))
  pat=$(((round * 7) % 200 + 1))
  # A new pattern over one MiB (in 64 KiB writes) and a verify of it and of a neighbour.
  cmds=()
  for k in $(seq 0 15); do cmds+=(-c "write -P $pat $((i * MiB + k * 65536)) 65536"); done
  cmds+=(-c "read -P $pat $((i * MiB)) $MiB")
  j=$(((i + 5) % SIZE_MIB))
  cmds+=(-c "read -P ${EXPECT[$j]} $((j * MiB)) $MiB")
  qio "${cmds[@]}" "$V1/osdisk1.img" || fail "qemu-io round $round failed"
  grep -q "Pattern verification failed" "$T/qemu-io.log" && fail "pattern mismatch in round $round"
  EXPECT[i]=$pat
  ROUNDS=$round
  # Ended (wait exits 1 at once for a final state): stop writing.
  ctl jobs wait "$ID" --until queued,running,paused >/dev/null 2>&1 || break
done
ctl jobs watch "$ID" --json >"$T/watch.json" || fail "rekey job: $(cat "$T/watch.json")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/watch.json" || fail "job not done: $(cat "$T/watch.json")"
[ "$ROUNDS" -ge 2 ] || fail "the job ended before qemu-io overlapped it ($ROUNDS rounds)"
verify_patterns "$V1/osdisk1.img" || fail "osdisk1 does not verify after the rekey"
[ "$(header_key "$PF1")" = "0 2" ] || fail "osdisk1 header: $(header_key "$PF1"), not '0 2'"
grep '"op":"rekey"' "$T/audit.log" | grep -q osdisk1.img || fail "no rekey audit record"
echo "ok: $ROUNDS qemu-io rounds verified during the rekey; the header names only version 2"

# --- 2. fio --verify=crc32c while a rekey runs ---
if command -v fio >/dev/null; then
  F2=$V1/osdisk2.img
  timeout 120 fio --name=fill --filename="$F2" --rw=write --bs=64k --size=${SIZE_MIB}M \
    --verify=crc32c --do_verify=0 >"$T/fio0.log" 2>&1 || fail "fio fill: $(tail -5 "$T/fio0.log")"
  ID2=$(ctl rekey /my_vmset/vm1/osdisk2.img --to-version 2 --rate 4M --no-wait) ||
    fail "rekey osdisk2 exit $?"
  timeout 120 fio --name=live --filename="$F2" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
    --io_size=8M --verify=crc32c --verify_fatal=1 >"$T/fio1.log" 2>&1 ||
    fail "fio verify during the rekey: $(tail -20 "$T/fio1.log")"
  ctl jobs watch "$ID2" --json >"$T/watch2.json" || fail "rekey osdisk2: $(cat "$T/watch2.json")"
  [ "$(header_key "$(cafsd_pool_file "$T" my_vmset/vm1/osdisk2.img mirrored_pool_A)")" = "0 2" ] || fail "osdisk2 header not at 2"
  timeout 120 fio --name=check --filename="$F2" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
    --io_size=8M --verify=crc32c --verify_only --verify_fatal=1 >"$T/fio2.log" 2>&1 ||
    fail "fio verify after the rekey: $(tail -20 "$T/fio2.log")"
  echo "ok: fio --verify=crc32c clean during and after the rekey"
else
  echo "skip: fio not installed"
fi

# --- 3. kill -9 mid-rekey, restart, resume ---
for i in $(seq 0 $((SIZE_MIB - 1))); do EXPECT[i]=$((0x40 + i)); done
PF3=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk3.img mirrored_pool_A)
# 2 MiB/s: ~8 s for the image; the kill comes within ms of the first bytes (in its record).
cafsd_job_start_progress rekey /my_vmset/vm1/osdisk3.img --to-version 2 --rate 2M ||
  fail "the job made no progress: $(cat "$T/job-client.out")"
ID3=$CAFSD_JOB
cafsd_kill9
wait "$CAFSD_JOB_CLIENT"
DONE=$(python3 -c 'import json,sys; print(sum(t["done"] for t in json.load(open(sys.argv[1]))["tasks"]))' \
  "$T/backing/.cafs-job-$ID3")
[ "$(header_key "$PF3" | cut -d' ' -f1)" = 1 ] || fail "osdisk3 not mid-rekey after kill -9"
echo "ok: cafsd killed with osdisk3 mid-rekey at $DONE bytes"
timeout 10 fusermount3 -u -z "$T/mnt"
cafsd_start "$CAFSD" "$T" || fail "restart: $CAFSD_ERROR"
grep -q "resuming rekey job $ID3" "$T/cafsd.log" || fail "the job was not resumed"
ctl jobs watch "$ID3" --json >"$T/watch3.json" || fail "resumed job: $(cat "$T/watch3.json")"
[ "$(header_key "$PF3")" = "0 2" ] || fail "osdisk3 header: $(header_key "$PF3"), not '0 2'"
verify_patterns "$V1/osdisk3.img" || fail "osdisk3 does not verify after the resumed rekey"
echo "ok: kill -9 mid-rekey, restart: resumed, completed, data intact"
echo "PASS"
