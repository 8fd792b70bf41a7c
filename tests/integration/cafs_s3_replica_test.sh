#!/bin/bash
# DR replicas of a VM into an s3 pool (issue 18 "S3: a DR replica of a VM to radosgw and a
# restore from it pass qemu-img compare"; issue 15 items 4 and 5; docs/replicas.md "Pool
# kinds"): cafsd with the seed's policy (*osdisk* encrypted in mirrored_pool_A, a directory)
# and a DR pool dr_s3 of kind "s3" (a key prefix of its own in the bucket of the test cluster's
# radosgw):
#  1. qemu-img creates a qcow2 disk through the FUSE mount, qemu-io writes patterns; a full
#     replica into dr_s3; ~1% of the disk changes; an incremental replica (its parent is the
#     full one, it copies at most 5% of the full one's bytes); a copy of the image is taken at
#     each replica's time;
#  2. `cafsd replica list` and `verify` on dr_s3; both replicas restored as new VMs into the
#     directory pool: `qemu-img check` passes and `qemu-img compare` matches each copy;
#  3. every raw object below the prefix, fetched with curl (SigV4): ciphertext only (no
#     pattern written by qemu-io, no qcow2 magic), the full replica's data object starts with
#     the pool file header, the incremental one holds at most 2% of the disk (data objects are
#     appended chunks, not the disk's offsets), a manifest object is present per replica and
#     no `.new` is left;
#  4. a byte of a data object and of a manifest changed in the bucket (curl PUT): `verify`
#     exits 1 naming it, the restore job fails and places nothing; put back, verify passes.
# The cluster is the CTest fixture `ceph` (tests/integration/pool.cmake): CAFS_TEST_CEPH_DIR
# names it. Usage: cafs_s3_replica_test.sh <path to cafsd> [disk size MiB] (64 in CI).
# Exits 77 when the cluster, radosgw, root, FUSE or a client tool is missing.
set -u
CAFSD=$1
SIZE_MIB=${2:-64}
skip() { echo "SKIP: $*"; exit 77; }
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
CEPH_DIR=$(ceph_fixture_dir) || skip "$CEPH_DIR"
[ "$(id -u)" = 0 ] || skip "needs root (FUSE mount)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 qemu-img qemu-io python3 mountpoint curl; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
command -v radosgw >/dev/null || skip "radosgw not installed"

T=$(mktemp -d /tmp/cafs-s3-replica-XXXXXX)
PREFIX=replica-$$
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
# shellcheck source=lib/replica.sh
source "$(dirname "$0")/lib/replica.sh"
REPLICA_POOL=dr_s3
REPLICA_VMSET=6d1b3c8e-0f6a-4c55-9a38-5f0d3a2b7c11
cleanup() {
  [ -n "${KEEP:-}" ] && return
  cafsd_stop "$T"
  ceph_s3_remove_prefix "$CEPH_DIR" "$PREFIX"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }
ctl() { timeout 300 "$CAFSD" --config "$T/cafsd.toml" "$@"; }
S3_TOML=$(ceph_s3_pool_toml "$CEPH_DIR" "$PREFIX" "$T/staging") || fail "$S3_TOML"
OBJECTS=$(cat "$CEPH_DIR/s3/endpoint")/$(cat "$CEPH_DIR/s3/bucket")
s3_get() { ceph_s3_curl "$CEPH_DIR" -o "$2" "$OBJECTS/$1"; }  # key file
s3_put() { ceph_s3_curl "$CEPH_DIR" -X PUT --data-binary "@$2" "$OBJECTS/$1" >/dev/null; }

# --- set-up: the seed's VM set with a GUID, the DR pool on radosgw ---
cafsd_seed_keys "$T/keys"
sed -i "s|<vmserv>|<vmset-id>$REPLICA_VMSET</vmset-id><vmserv>|" "$T/keys/my_vmset/vmset.xml"
mkdir -p "$T/staging"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"$REPLICA_POOL\"
$S3_TOML"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
F=$T/mnt/my_vmset/vm1/osdisk1.qcow2

# --- 1. full replica, ~1% changed, incremental replica ---
replica_full_and_incremental "$F" "$SIZE_MIB"
[ -z "$(ls -A "$T/staging")" ] || fail "staged copies left in staging_dir: $(ls "$T/staging")"
echo "ok: full then incremental replica into the s3 pool"

# --- 2. list, verify, restore both as new VMs into the directory pool ---
ctl replica list --pool $REPLICA_POOL >"$T/list" 2>&1 || fail "replica list: $(cat "$T/list")"
[ "$(grep -c 'my_vmset/vm1' "$T/list")" = 2 ] || fail "replica list: $(cat "$T/list")"
ctl replica verify --pool $REPLICA_POOL --vmset $REPLICA_VMSET --vm vm1 >"$T/verify" 2>&1 ||
  fail "replica verify: $(cat "$T/verify")"
replica_restore_both
for v in inc full; do
  [ -n "$(cafsd_pool_file "$T" "my_vmset/vm1_$v/osdisk1.qcow2" mirrored_pool_A)" ] ||
    fail "the restored $v replica is not in the directory pool mirrored_pool_A"
done
echo "ok: both replicas restored from radosgw as new VMs; qemu-img check and compare pass"

# --- 3. the raw objects: ciphertext only, manifests present, nothing left half written ---
ceph_s3_keys "$CEPH_DIR" "$PREFIX" >"$T/keys.txt" || fail "listing the bucket"
RFULL=$PREFIX/cafs-replicas/$REPLICA_VMSET/vm1/$(replica_id full)
RINC=$PREFIX/cafs-replicas/$REPLICA_VMSET/vm1/$(replica_id inc)
for r in "$RFULL" "$RINC"; do
  grep -qx "$r/manifest" "$T/keys.txt" || fail "no manifest object $r/manifest: $(cat "$T/keys.txt")"
done
grep -q '\.new$' "$T/keys.txt" && fail "a temporary object is left: $(cat "$T/keys.txt")"
DATA_FULL=$(grep "^$RFULL/" "$T/keys.txt" | grep -v '/manifest$' | head -1)
DATA_INC=$(grep "^$RINC/" "$T/keys.txt" | grep -v '/manifest$' | head -1)
{ [ -n "$DATA_FULL" ] && [ -n "$DATA_INC" ]; } || fail "no data objects: $(cat "$T/keys.txt")"
mkdir -p "$T/objects"
i=0
while IFS= read -r k; do
  i=$((i + 1))
  s3_get "$k" "$T/objects/$i" || fail "GET $k"
done <"$T/keys.txt"
python3 - "$T/objects" "$T/keys.txt" "$DATA_FULL" "$DATA_INC" "$SIZE_MIB" <<'PY' || fail "raw S3 objects"
import os, sys
keys = [k for k in open(sys.argv[2]).read().split('\n') if k]
total = 0
for i, key in enumerate(keys):
    d = open(os.path.join(sys.argv[1], str(i + 1)), 'rb').read()
    total += len(d)
    for p in (0xa1, 0xa2, 0xb3):
        assert bytes([p]) * 64 not in d, f"pattern {p:#x} in clear in {key}"
    assert b'QFI\xfb' not in d, "qcow2 magic in clear in " + key
    if key == sys.argv[3]:
        assert d[:8] == b'CAFSPOOL', (key, d[:8])
        full = len(d)
    if key == sys.argv[4]:
        inc = len(d)
assert full >= int(sys.argv[5]) << 20, f"the full replica's data object has {full} bytes"
# Appended chunks only (docs/replicas.md "Pool kinds"): ~1% changed, not the disk up to it.
assert inc <= (int(sys.argv[5]) << 20) // 50, f"the incremental data object has {inc} bytes"
print(f"{len(keys)} objects, {total} bytes: ciphertext only; data objects: full {full}, "
      f"incremental {inc} bytes")
PY
echo "ok: the bucket holds ciphertext only"

# --- 4. tampering in the bucket is detected on verify and restore; nothing restored ---
s3_get "$DATA_FULL" "$T/data.orig" || fail "GET $DATA_FULL"
cp "$T/data.orig" "$T/data.bad"
replica_flip "$T/data.bad" $((SIZE_MIB * 1024 * 1024 / 4 + 5000))
s3_put "$DATA_FULL" "$T/data.bad" || fail "PUT tampered data"
ctl replica verify --pool $REPLICA_POOL --vmset $REPLICA_VMSET --vm vm1 --replica "$(replica_id full)" \
  >"$T/verify" 2>&1 && fail "verify passed tampered data"
grep -q "does not match its manifest hash" "$T/verify" || fail "verify: $(cat "$T/verify")"
replica_restore /my_vmset/vm1_bad "$(replica_id full)" && fail "a tampered replica was restored"
grep -q "does not match its manifest hash" "$T/restore.err" "$T/restore.json" ||
  fail "the failed restore does not say why: $(cat "$T/restore.err" "$T/restore.json")"
[ -e "$T/mnt/my_vmset/vm1_bad/osdisk1.qcow2" ] && fail "a tampered file was placed"
s3_put "$DATA_FULL" "$T/data.orig" || fail "PUT the data back"
s3_get "$RINC/manifest" "$T/manifest.orig" || fail "GET the manifest"
cp "$T/manifest.orig" "$T/manifest.bad"
replica_flip "$T/manifest.bad" 90
s3_put "$RINC/manifest" "$T/manifest.bad" || fail "PUT tampered manifest"
ctl replica list --pool $REPLICA_POOL >"$T/list" 2>&1 && fail "list did not report a tampered manifest"
grep -q "BAD: .*MAC mismatch" "$T/list" || fail "list: $(cat "$T/list")"
replica_restore /my_vmset/vm1_bad2 "$(replica_id inc)" && fail "a replica with a tampered manifest was restored"
[ -e "$T/mnt/my_vmset/vm1_bad2/osdisk1.qcow2" ] && fail "a file of a tampered manifest was placed"
s3_put "$RINC/manifest" "$T/manifest.orig" || fail "PUT the manifest back"
ctl replica verify --pool $REPLICA_POOL --vmset $REPLICA_VMSET --vm vm1 >"$T/verify" 2>&1 ||
  fail "verify after putting the objects back: $(cat "$T/verify")"
echo "ok: tampered data and manifest in the bucket detected; nothing restored"

grep -q "Sanitizer\|runtime error" "$T/cafsd.log" && fail "sanitizer report"
echo "PASS"
