#!/bin/bash
# Overwrite shred through the running cafsd (issue 14 item 6; docs/jobs.md "Shred"), with the
# encrypted pool on a loop-mounted ext4 image:
#  1. `cafsd shred FILE`: afterwards the raw image holds none of the file's pool-file blocks
#     (header and ciphertext; the test scans the image for every block it saw before, and
#     first checks that the scan finds them while the file exists); the file is gone from the
#     mount, the other files read back unchanged; audit records name the file and the job;
#  2. `cafsd shred --vm DIR --rate 1M --no-wait`, kill -9 of cafsd in the middle of the job,
#     restart: the job resumes by itself and completes; none of the VM's blocks remain;
#     `cafsd jobs list/show --json` report it; `cafsd fsck` finds nothing afterwards;
#  3. bad input: a directory without --vm, a missing file, a file in use: exit 1 with the
#     reason; `jobs` against a stopped cafsd: exit 69;
#  4. shred on free (docs/jobs.md "Shred on free"; files *shredfree* are under a vobj with
#     <shred-on-free>yes</shred-on-free>): after `rm` (once its "freed" shred job is done) the
#     raw image holds none of the file's blocks; after `truncate -s 1M` none of the freed
#     tail's blocks (at once: the request clears them), the first MiB reads back unchanged;
#     each is audited "shred".
# Root only (loop device, mount): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_shred_test.sh <path to cafsd>
set -u
CAFSD=$1
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "loop device, mount" fusermount3 python3 mountpoint losetup mkfs.ext4 dd sha256sum

cafsd_test_init shred 60
POOL=$T/pools/mirrored_pool_A
LOOP=""
test_cleanup_late() {
  if mountpoint -q "$POOL"; then umount "$POOL" || umount -l "$POOL"; fi
  [ -n "$LOOP" ] && losetup -d "$LOOP"
}

# Every 4 KiB block of the pool files named (header and ciphertext), as hex digests; with
# FROM=n, only the blocks at offsets >= n.
remember_blocks() {  # out-file pool-file...
  FROM=${FROM:-0} python3 - "$@" <<'PY'
import hashlib, os, sys
out = open(sys.argv[1], "w")
start = int(os.environ["FROM"])
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    for off in range(start, len(data) - len(data) % 4096, 4096):
        block = data[off:off + 4096]
        if block.count(0) != 4096:
            out.write(hashlib.sha256(block).hexdigest() + "\n")
PY
}
# How many of the remembered blocks the raw image holds (at any 4 KiB-aligned offset).
count_in_image() {  # blocks-file
  sync
  python3 - "$1" "$T/pool.img" <<'PY'
import hashlib, sys
want = set(open(sys.argv[1]).read().split())
found = 0
with open(sys.argv[2], "rb") as img:
    while True:
        block = img.read(4096)
        if not block:
            break
        if hashlib.sha256(block).hexdigest() in want:
            found += 1
print(found)
PY
}

# --- set-up: the seed's policy (*osdisk* encrypted in mirrored_pool_A), pool A on ext4 ---
cafsd_seed_keys "$T/keys"
# *shredfree* files: encrypted like *osdisk*, with shred on free.
python3 - "$T/keys/my_vmset/policy.xml" <<'PY' || fail "policy edit"
import sys
p = sys.argv[1]
xml = open(p).read()
vobj = ("<vobj><vglob>*shredfree*</vglob><symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>"
        "<storepol>mirrored_pool_A</storepol><access>at_all_times</access>"
        "<audit>all_records</audit><shred-on-free>yes</shred-on-free></vobj>\n")
open(p, "w").write(xml.replace("<vobj>", vobj + "<vobj>", 1))
PY
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""
truncate -s 128M "$T/pool.img"
mkfs.ext4 -q -b 4096 -F "$T/pool.img" || fail "mkfs.ext4"
LOOP=$(losetup -f --show "$T/pool.img") || skip "no loop device"
mount "$LOOP" "$POOL" || skip "cannot mount the loop device"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"

V1=$T/mnt/my_vmset/vm1
V2=$T/mnt/my_vmset/vm2
mkdir -p "$V1" "$V2" || fail "mkdir"
for f in "$V1/osdisk1.img" "$V1/osdisk2.img" "$V1/osdisk4.img" "$V2/osdisk3.img"; do
  dd if=/dev/urandom of="$f" bs=1M count=4 conv=fsync status=none || fail "dd $f"
done
KEEP_SUM=$(sha256sum <"$V2/osdisk3.img")
SUM2=$(sha256sum <"$V1/osdisk2.img")
pf() { cafsd_pool_file "$T" "my_vmset/vm1/$1" mirrored_pool_A; }
remember_blocks "$T/blocks1" "$(pf osdisk1.img)"
remember_blocks "$T/blocks_vm" "$(pf osdisk2.img)" "$(pf osdisk4.img)"
N1=$(wc -l <"$T/blocks1")
[ "$N1" -ge 1025 ] || fail "expected >= 1025 blocks in the pool file, saw $N1"
# The scan sees the blocks while the file exists (so a zero later means something).
[ "$(count_in_image "$T/blocks1")" -ge "$N1" ] || fail "the image scan does not find the live file"
echo "ok: $N1 blocks of osdisk1's pool file found in the raw image"

# --- 1. shred one file ---
ctl shred /my_vmset/vm1/osdisk1.img --json >"$T/shred1.json" || fail "shred osdisk1 exit $?"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/shred1.json" || fail "shred job not done: $(cat "$T/shred1.json")"
[ -e "$V1/osdisk1.img" ] && fail "osdisk1 still visible"
LEFT=$(count_in_image "$T/blocks1")
[ "$LEFT" = 0 ] || fail "$LEFT blocks of osdisk1 remain in the raw image"
[ "$(sha256sum <"$V2/osdisk3.img")" = "$KEEP_SUM" ] || fail "vm2/osdisk3 changed"
[ "$(sha256sum <"$V1/osdisk2.img")" = "$SUM2" ] || fail "vm1/osdisk2 changed"
grep -q '"op":"shred"' "$T/audit.log" || fail "no shred audit record"
grep '"op":"shred"' "$T/audit.log" | grep -q 'osdisk1.img' || fail "shred record does not name the file"
grep -q '"op":"job-done"' "$T/audit.log" || fail "no job-done audit record"
echo "ok: shred of one file leaves none of its blocks on the disk image"

# --- 3. bad input ---
ctl shred /my_vmset/vm1 >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] || fail "shred of a directory without --vm: exit $rc"
grep -qi "directory" "$T/out" || fail "no reason given: $(cat "$T/out")"
ctl shred /my_vmset/vm1/nope.img >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] || fail "shred of a missing file: exit $rc"
# (A file of vm2: vm1 is shredded next, and the release of this handle reaches cafsd some time
# after the close.)
exec 7<"$V2/osdisk3.img"
ctl shred /my_vmset/vm2/osdisk3.img >"$T/out" 2>&1; rc=$?
exec 7<&-
[ $rc = 1 ] || fail "shred of a file in use: exit $rc"
grep -q "in use" "$T/out" || fail "no 'in use' reason: $(cat "$T/out")"
[ "$(sha256sum <"$V2/osdisk3.img")" = "$KEEP_SUM" ] || fail "refused shred changed osdisk3"
ctl jobs show 00000000-0000-0000-0000-000000000000 >/dev/null 2>&1; rc=$?
[ $rc = 1 ] || fail "jobs show of an unknown id: exit $rc"
echo "ok: bad input refused with exit 1 and a reason"

# --- 2. kill -9 in the middle of a VM shred, restart, resume ---
# 8 MiB at 1 MiB/s: the job runs ~8 s. Its first bytes are seen in its record on disk within
# 20 ms, while the client that started it may still be exiting (no process start or exit in
# the way: a loop of `jobs show` processes, an ASan cafsd each, saw them seconds late on a
# loaded machine, sometimes after the job's end). cafsd is then stopped (SIGSTOP: no step can
# finish) and the record -- what the restart reads -- must say the job is mid-way before the
# kill -9: a job that had ended fails here, with the reason, instead of "not resumed" later.
cafsd_job_start_progress shred --vm /my_vmset/vm1 --rate 1M ||
  fail "the job made no progress: $(cat "$T/job-client.out")"
ID=$CAFSD_JOB
cafsd_signal STOP
python3 - "$T/backing/.cafs-job-$ID" <<'PY' >"$T/mid" || fail "not mid-job at the kill: $(cat "$T/mid")"
import json, sys
j = json.load(open(sys.argv[1]))
done, total = sum(t["done"] for t in j["tasks"]), sum(t["total"] for t in j["tasks"])
print(j["state"], done, total)
assert j["state"] == "running" and done < total
PY
cafsd_kill9
wait "$CAFSD_JOB_CLIENT"  # it printed the id, or lost its cafsd before the answer
echo "ok: cafsd killed with the job mid-way (record: $(cat "$T/mid"))"
timeout 10 fusermount3 -u -z "$T/mnt"  # the dead FUSE mount
ctl jobs list >/dev/null 2>&1; rc=$?
[ $rc = 69 ] || fail "jobs list without cafsd: exit $rc, not 69"
ctl jobs wait "$ID" >/dev/null 2>&1; rc=$?
[ $rc = 69 ] || fail "jobs wait without cafsd: exit $rc, not 69"
cafsd_start "$CAFSD" "$T" || fail "restart: $CAFSD_ERROR"
grep -q "resuming shred job $ID" "$T/cafsd.log" || fail "the job was not resumed"
ctl jobs watch "$ID" --json >"$T/watch.json"; rc=$?
[ $rc = 0 ] || fail "watch exit $rc: $(cat "$T/watch.json")"
python3 -c '
import json,sys
j=json.load(open(sys.argv[1]))
assert j["state"]=="done", j["state"]
assert len(j["tasks"])==2 and all(t["state"]=="done" for t in j["tasks"]), j["tasks"]
assert j["done_bytes"]==j["total_bytes"]>0
' "$T/watch.json" || fail "resumed job: $(cat "$T/watch.json")"
# `jobs wait` exit codes (docs/jobs.md): 0 in a state asked for, 1 ended in another (or no
# such job), 2 not a state.
ctl jobs wait "$ID" --until done,progress --timeout 5 >/dev/null || fail "jobs wait of a done job"
ctl jobs wait "$ID" --until failed >/dev/null 2>&1; rc=$?
[ $rc = 1 ] || fail "jobs wait --until failed of a done job: exit $rc, not 1"
ctl jobs wait 00000000-0000-0000-0000-000000000000 >/dev/null 2>&1; rc=$?
[ $rc = 1 ] || fail "jobs wait of an unknown id: exit $rc, not 1"
ctl jobs wait "$ID" --until finished >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "jobs wait --until finished: exit $rc, not 2"
[ -z "$(find "$V1" -mindepth 1 -print -quit)" ] || fail "vm1 not empty: $(ls "$V1")"
LEFT=$(count_in_image "$T/blocks_vm")
[ "$LEFT" = 0 ] || fail "$LEFT blocks of vm1 remain in the raw image"
[ "$(sha256sum <"$V2/osdisk3.img")" = "$KEEP_SUM" ] || fail "vm2/osdisk3 changed"
ctl jobs list --json | python3 -c 'import json,sys; assert len(json.load(sys.stdin))>=2' ||
  fail "jobs list"
echo "ok: kill -9 mid-shred, restart: the job resumed and completed, no block left"

# --- 4. shred on free: rm and truncate of *shredfree* files ---
for f in shredfree1.img shredfree2.img; do
  dd if=/dev/urandom of="$V2/$f" bs=1M count=4 conv=fsync status=none || fail "dd $f"
done
pf2() { cafsd_pool_file "$T" "my_vmset/vm2/$1" mirrored_pool_A; }
remember_blocks "$T/blocks_rm" "$(pf2 shredfree1.img)"
FROM=$((4096 + 1048576)) remember_blocks "$T/blocks_tail" "$(pf2 shredfree2.img)"
HEAD_SUM=$(head -c 1048576 "$V2/shredfree2.img" | sha256sum)
[ "$(count_in_image "$T/blocks_rm")" -ge 1025 ] || fail "the scan does not find shredfree1"
[ "$(count_in_image "$T/blocks_tail")" -ge 768 ] || fail "the scan does not find shredfree2's tail"
rm "$V2/shredfree1.img" || fail "rm shredfree1"
[ -e "$V2/shredfree1.img" ] && fail "shredfree1 still visible after rm"
# The unlink started a job of target type "freed" (before rm returned): wait for its end.
FREED=$(ctl jobs list --json | python3 -c '
import json, sys
ids = [j["id"] for j in json.load(sys.stdin) if j["target"]["type"] == "freed"]
print(ids[0] if len(ids) == 1 else "jobs: %d" % len(ids))')
ctl jobs wait "$FREED" --timeout 30 >/dev/null || fail "the freed shred job of shredfree1: $FREED"
LEFT=$(count_in_image "$T/blocks_rm")
[ "$LEFT" = 0 ] || fail "$LEFT blocks of the removed shredfree1 remain in the raw image"
echo "ok: rm under shred-on-free leaves none of the file's blocks on the disk image"
truncate -s 1M "$V2/shredfree2.img" || fail "truncate shredfree2"
LEFT=$(count_in_image "$T/blocks_tail")
[ "$LEFT" = 0 ] || fail "$LEFT blocks of shredfree2's freed tail remain in the raw image"
[ "$(stat -c %s "$V2/shredfree2.img")" = 1048576 ] || fail "shredfree2 size"
[ "$(sha256sum <"$V2/shredfree2.img")" = "$HEAD_SUM" ] || fail "shredfree2's first MiB changed"
grep '"op":"shred"' "$T/audit.log" | grep -q 'shredfree1.img' || fail "no shred record of the rm"
grep '"op":"shred"' "$T/audit.log" | grep -q 'shredfree2.img' ||
  fail "no shred record of the truncate"
echo "ok: truncate under shred-on-free leaves none of the freed blocks on the disk image"
cafsd_stop "$T"
"$CAFSD" --config "$T/cafsd.toml" fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
echo "ok: cafsd fsck finds nothing"
echo PASS
