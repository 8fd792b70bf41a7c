#!/bin/bash
# Two gateways on one RADOS pool (issue 18 item 4): two cafsd processes, each with its own
# backing store (its own store id: the owner mark of its pool files, docs/redirectors.md "Pool
# paths") and mount, the same pools (mirrored_pool_A is the same namespace of the test
# cluster's pool "cafs" for both). Shown:
#  - each serves its own files: written with fsync through one mount, read back there, not
#    listed by the other; the objects carry two owner marks;
#  - a pool file open for writing by gateway A cannot be opened by gateway B (B is handed A's
#    redirector, as a careless copy of a backing store would): EBUSY ("Device or resource
#    busy") to the caller, a line in B's log and a record in B's audit log naming the pool file
#    (docs/pools.md "Write leases"); once A closes it, B opens and reads it;
#  - `cafsd fsck --remove-orphans` on B (A still serving) removes B's own orphan and none of
#    A's objects; A still reads every fsync'ed byte;
#  - a planned datastore move of my_vmset from A to B (`cafsd datastore export` / `import`,
#    docs/pools.md): every block fio wrote (and fsync'ed) through A verifies through B, A's
#    `fsck --remove-orphans` removes none of the moved objects, B's fsck is clean, B writes the
#    moved files, A no longer serves the VM set.
# The cluster is the CTest fixture `ceph` (tests/integration/pool.cmake): CAFS_TEST_CEPH_DIR
# names it. Usage: cafs_rados_two_gateways_test.sh <path to cafsd>. Exits 77 when the cluster,
# FUSE or a client tool is missing.
set -u
CAFSD=$1
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
ceph_gateway_test_require fusermount3 python3 mountpoint rados

T=$(mktemp -d /tmp/cafs-rados2-XXXXXX)
A=$T/a
B=$T/b
NS=two-$$
RADOS=(timeout 60 rados -c "$CEPH_DIR/ceph.conf" -p cafs -N "$NS")
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
PID_A=""
PID_B=""
HOLDER=""
stop_a() { CAFSD_PID=$PID_A; cafsd_stop "$A"; PID_A=""; }
stop_b() { CAFSD_PID=$PID_B; cafsd_stop "$B"; PID_B=""; }
cleanup() {
  [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
  stop_b
  stop_a
  ceph_remove_namespace "$CEPH_DIR" "$NS"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  for g in a b; do echo "--- cafsd $g log"; tail -20 "$T/$g/cafsd.log"; done
  exit 1
}

cafsd_seed_keys "$T/keys"  # one VM set, one key: both gateways may decrypt (the lease decides)
CAFSD_POOL_A=$(ceph_pool_toml "$CEPH_DIR" "$NS" 20; echo "lease_s = 6")
export CAFSD_POOL_A
for g in "$A" "$B"; do
  mkdir -p "$g"
  cafsd_config "$g" "[local_keys]
dir = \"$T/keys\""
done
cafsd_start "$CAFSD" "$A" || fail "gateway a: $CAFSD_ERROR"
PID_A=$CAFSD_PID
cafsd_start "$CAFSD" "$B" || fail "gateway b: $CAFSD_ERROR"
PID_B=$CAFSD_PID
VA=$A/mnt/my_vmset/vm1
VB=$B/mnt/my_vmset/vm1
timeout 20 mkdir -p "$VA" "$VB" || fail "mkdir"

# Each serves its own files.
head -c 3M /dev/urandom >"$T/ref_a"
head -c 2M /dev/urandom >"$T/ref_b"
timeout 60 dd if="$T/ref_a" of="$VA/osdisk_a" bs=1M conv=fsync status=none || fail "dd a"
timeout 60 dd if="$T/ref_b" of="$VB/osdisk_b" bs=1M conv=fsync status=none || fail "dd b"
timeout 60 dd if="$T/ref_b" of="$VB/osdisk_orphan" bs=1M conv=fsync status=none || fail "dd b2"
timeout 30 cmp "$T/ref_a" "$VA/osdisk_a" || fail "a reads its file"
timeout 30 cmp "$T/ref_b" "$VB/osdisk_b" || fail "b reads its file"
[ -e "$VB/osdisk_a" ] && fail "b lists a's file"
[ -e "$VA/osdisk_b" ] && fail "a lists b's file"
ID_A=$(sed -n 2p "$A/backing/.cafs-id")
ID_B=$(sed -n 2p "$B/backing/.cafs-id")
[ -n "$ID_A" ] && [ -n "$ID_B" ] && [ "$ID_A" != "$ID_B" ] || fail "store ids '$ID_A' '$ID_B'"
"${RADOS[@]}" ls >"$T/objects.0" || fail "rados ls"
grep -q "^$ID_A/" "$T/objects.0" || fail "no object of a: $(cat "$T/objects.0")"
grep -q "^$ID_B/" "$T/objects.0" || fail "no object of b: $(cat "$T/objects.0")"

# A keeps osdisk_a open for writing; B, handed A's redirector, is refused.
python3 - "$VA/osdisk_a" "$T/holding" <<'PY' &
import os, sys, time
f = open(sys.argv[1], "r+b")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
HOLDER=$!
for _ in $(seq 100); do [ -e "$T/holding" ] && break; sleep 0.1; done
[ -e "$T/holding" ] || fail "a's holder did not open the file"
RED="my_vmset/vm1/osdisk_a##mirrored_pool_A"
cp -a "$A/backing/$RED" "$B/backing/$RED" || fail "copy redirector"
# B's kernel cached the name's absence (the lookup above; a negative entry lives ~1 s): wait
# until B sees the copied redirector before opening it.
for _ in $(seq 50); do [ -e "$VB/osdisk_a" ] && break; sleep 0.1; done
out=$(timeout 30 cat "$VB/osdisk_a" 2>&1 >/dev/null) && fail "b opened a's file while a writes it"
echo "$out" | grep -q "Device or resource busy" || fail "b's error is not EBUSY: $out"
grep -q "open of /my_vmset/vm1/osdisk_a refused:.*is open for writing by another gateway" \
  "$B/cafsd.log" || fail "no log line in b"
timeout 10 sync
for _ in $(seq 50); do
  grep -aq "open for writing by another gateway" "$B/audit.log" && break
  sleep 0.1
done
grep -aq "open for writing by another gateway" "$B/audit.log" || fail "no audit record in b"
# Released with a's last handle: then b may open it.
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
HOLDER=""
ok=0
for _ in $(seq 50); do
  timeout 30 cmp "$T/ref_a" "$VB/osdisk_a" 2>/dev/null && { ok=1; break; }
  sleep 0.1
done
[ "$ok" = 1 ] || fail "b cannot read a's file after a closed it"
stop_b
rm -f "$B/backing/$RED"

# fsck on b (a still serving): b's orphan goes, none of a's objects.
ORPHAN=$(sed -n 's/^path //p' "$B/backing/my_vmset/vm1/osdisk_orphan##mirrored_pool_A")
[ -n "$ORPHAN" ] || fail "no pool path for b's orphan"
rm -f "$B/backing/my_vmset/vm1/osdisk_orphan##mirrored_pool_A"
"${RADOS[@]}" ls | sort >"$T/objects.1" || fail "rados ls"
grep -qx "$ORPHAN" "$T/objects.1" || fail "b's orphan $ORPHAN not in the pool"
timeout 120 "$CAFSD" -c "$B/cafsd.toml" fsck --remove-orphans >"$T/fsck.out" 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "fsck exit $rc: $(cat "$T/fsck.out")"
"${RADOS[@]}" ls | sort >"$T/objects.2" || fail "rados ls"
grep -qx "$ORPHAN" "$T/objects.2" && fail "fsck left b's orphan: $(cat "$T/fsck.out")"
diff <(grep "^$ID_A/" "$T/objects.1") <(grep "^$ID_A/" "$T/objects.2") ||
  fail "fsck on b touched a's objects: $(cat "$T/fsck.out")"
timeout 30 cmp "$T/ref_a" "$VA/osdisk_a" || fail "a's file after b's fsck"

# A planned move of the VM set from a to b (docs/pools.md "Moving a datastore to another
# gateway"): fio writes through a (crc32c in every block, fsync'ed), b gives up its own
# my_vmset, both stop; `datastore export` on a, `datastore import` on b; a's fsck
# --remove-orphans removes none of the moved objects, b's fsck is clean; b serves every block.
FIO_JOB=(--name=move --rw=randwrite --bs=16k --size=6M --randseed=18 --verify=crc32c
  --fsync=32 --end_fsync=1)
timeout 120 fio "${FIO_JOB[@]}" --filename="$VA/osdisk_fio" --do_verify=0 >"$T/fio0.log" 2>&1 ||
  fail "fio through a: $(tail -5 "$T/fio0.log")"
cafsd_start "$CAFSD" "$B" || fail "gateway b (again): $CAFSD_ERROR"
PID_B=$CAFSD_PID
timeout 30 rm -rf "$B/mnt/my_vmset" || fail "b removes its own my_vmset"
stop_b
stop_a
"$CAFSD" -c "$A/cafsd.toml" datastore export my_vmset --to "$T/my_vmset.move" >"$T/export.out" 2>&1 ||
  fail "export: $(cat "$T/export.out")"
[ -e "$A/backing/my_vmset" ] && fail "a still has my_vmset after the export"
"$CAFSD" -c "$A/cafsd.toml" datastore export my_vmset --to "$T/again.move" >"$T/export2.out" 2>&1 &&
  fail "a exported my_vmset twice"
"${RADOS[@]}" ls | sort >"$T/objects.3" || fail "rados ls"
grep -q "^$ID_A/" "$T/objects.3" || fail "no object of a before its fsck"
timeout 120 "$CAFSD" -c "$A/cafsd.toml" fsck --remove-orphans >"$T/fsck_a.out" 2>&1 ||
  fail "fsck on a after the export: $(cat "$T/fsck_a.out")"
grep -q "2 pool files moved out" "$T/fsck_a.out" || fail "a's fsck: $(cat "$T/fsck_a.out")"
"${RADOS[@]}" ls | sort >"$T/objects.4" || fail "rados ls"
diff "$T/objects.3" "$T/objects.4" || fail "a's fsck removed moved objects: $(cat "$T/fsck_a.out")"
"$CAFSD" -c "$B/cafsd.toml" datastore import "$T/my_vmset.move" >"$T/import.out" 2>&1 ||
  fail "import: $(cat "$T/import.out")"
"$CAFSD" -c "$B/cafsd.toml" datastore import "$T/my_vmset.move" >"$T/import2.out" 2>&1 &&
  fail "b imported the record twice"
timeout 120 "$CAFSD" -c "$B/cafsd.toml" fsck >"$T/fsck_b.out" 2>&1 ||
  fail "fsck on b after the import: $(cat "$T/fsck_b.out")"
grep -q "2 adopted" "$T/fsck_b.out" || fail "b's fsck: $(cat "$T/fsck_b.out")"
cafsd_start "$CAFSD" "$B" || fail "gateway b after the import: $CAFSD_ERROR"
PID_B=$CAFSD_PID
timeout 30 cmp "$T/ref_a" "$VB/osdisk_a" || fail "b reads the moved osdisk_a"
timeout 120 fio "${FIO_JOB[@]}" --filename="$VB/osdisk_fio" --verify_only --verify_fatal=1 >"$T/fio1.log" 2>&1 || fail "fio verify through b: $(tail -20 "$T/fio1.log")"
# b owns the files now: it writes them (the lease is b's), and a serves no my_vmset.
printf 'written by b' | timeout 30 dd of="$VB/osdisk_a" conv=notrunc,fsync status=none ||
  fail "b writes the moved file"
[ "$(head -c 12 "$VB/osdisk_a")" = "written by b" ] || fail "b's write"
cafsd_start "$CAFSD" "$A" || fail "gateway a after the export: $CAFSD_ERROR"
PID_A=$CAFSD_PID
[ -e "$VA" ] && fail "a still lists my_vmset after the export"
echo "ok: my_vmset moved from a to b, every fio block verified through b, fsck clean on both"
stop_b
stop_a
grep -q "Sanitizer\|runtime error" "$A/cafsd.log" "$B/cafsd.log" && fail "sanitizer report"
echo "PASS"
