#!/bin/bash
# End to end on S3 (issue 18 item 2): cafsd with the seed's policy, *osdisk* -> aes-256-xts in
# mirrored_pool_A, which is an s3 pool (kind = "s3", a key prefix of its own in the bucket of the
# test cluster's radosgw), the rest -> default_pool, a directory. Through the FUSE mount: files
# written with fsync (staged, uploaded on fsync), read back after a cafsd restart, qemu-img
# convert/compare of an *osdisk* image, unlink removing the object; then every raw object
# (fetched with curl, SigV4) holds ciphertext only (pool file header, no plaintext pattern, no
# qcow2 magic) and no object name carries a VM set, VM or file name.
# The cluster is the CTest fixture `ceph` (tests/integration/pool.cmake): CAFS_TEST_CEPH_DIR
# names it. Usage: cafs_s3_e2e_test.sh <path to cafsd>. Exits 77 when the cluster, radosgw,
# FUSE or a client tool is missing.
set -u
CAFSD=$1
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
ceph_gateway_test_require fusermount3 qemu-img python3 mountpoint curl radosgw
why=$(ceph_s3_wait "$CEPH_DIR") || { echo "FAIL: $why"; exit 1; }

T=$(mktemp -d /tmp/cafs-s3-XXXXXX)
M=$T/mnt
PREFIX=e2e-$$
ENDPOINT=$(cat "$CEPH_DIR/s3/endpoint")
BUCKET=$(cat "$CEPH_DIR/s3/bucket")
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
s3_keys() { ceph_s3_keys "$CEPH_DIR" "$PREFIX"; }  # the keys below the prefix, one a line
cleanup() {
  cafsd_stop "$T"
  ceph_s3_remove_prefix "$CEPH_DIR" "$PREFIX"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

cafsd_seed_keys "$T/keys"
mkdir -p "$T/staging"
CAFSD_POOL_A=$(ceph_s3_pool_toml "$CEPH_DIR" "$PREFIX" "$T/staging")
export CAFSD_POOL_A
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""

# An s3 pool's config errors name the key and the line.
sed 's/^bucket = .*/bucket = "Not_A_Bucket"/' "$T/cafsd.toml" >"$T/bad.toml"
out=$(timeout 10 "$CAFSD" --config "$T/bad.toml" 2>&1) && fail "bad s3 config accepted"
echo "$out" | grep -q "line [0-9]*:.*bucket must be" || fail "config error does not name the key: $out"
grep -q "$(cat "$CEPH_DIR/s3/secret_key")" "$T/cafsd.toml" && fail "the secret is in the config"

start_cafsd() { cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"; }
start_cafsd
V=$M/my_vmset
timeout 20 mkdir -p "$V/windows_xp" "$V/vm1" || fail "mkdir"

# Written with fsync: staged, uploaded by the fsync.
head -c 7M /dev/urandom >"$T/ref"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk_data" bs=1M conv=fsync status=none || fail "dd"
python3 -c 'import sys; sys.stdout.buffer.write(b"\xab" * (1 << 20))' >"$T/pattern"
timeout 60 dd if="$T/pattern" of="$V/windows_xp/osdisk1.raw" bs=64k conv=fsync status=none ||
  fail "dd pattern"
timeout 60 qemu-img convert -O raw "$T/ref" "$V/vm1/osdisk2.raw" || fail "qemu-img convert in"
timeout 30 sync "$V/vm1/osdisk2.raw" || fail "sync"
timeout 60 qemu-img compare -q "$T/ref" "$V/vm1/osdisk2.raw" || fail "qemu-img compare"
echo 'displayName = "winxp"' >"$V/windows_xp/vm.vmx" || fail "write vm.vmx"
timeout 10 sync
grep -rqs displayName "$T/pools/default_pool" || fail "vm.vmx not in the directory pool"
timeout 10 df "$M" >/dev/null || fail "statfs"

# A restart: everything fsync'ed is in the bucket and reads back.
cafsd_stop "$T"
[ -z "$(ls -A "$T/staging")" ] || fail "staged copies left in staging_dir: $(ls "$T/staging")"
start_cafsd
timeout 60 cmp "$T/ref" "$V/vm1/osdisk_data" || fail "osdisk_data differs after restart"
timeout 60 cmp "$T/pattern" "$V/windows_xp/osdisk1.raw" || fail "osdisk1.raw differs after restart"
timeout 60 qemu-img compare -q "$T/ref" "$V/vm1/osdisk2.raw" || fail "compare after restart"
before=$(s3_keys | wc -l)
timeout 10 rm "$V/vm1/osdisk2.raw" || fail "unlink"
[ "$(s3_keys | wc -l)" = $((before - 1)) ] || fail "unlink left the object ($before before)"
cafsd_stop "$T"

# The raw objects: ciphertext only, and no names of VM sets, VMs or files in the keys.
s3_keys >"$T/keys.txt" || fail "listing the bucket"
n=$(wc -l <"$T/keys.txt")
[ "$n" -ge 2 ] || fail "only $n objects below $PREFIX: $(cat "$T/keys.txt")"
grep -E "my_vmset|windows_xp|vm1|osdisk|\.raw|\.vmx" "$T/keys.txt" && fail "a name in an object key"
mkdir -p "$T/objects"
i=0
while IFS= read -r k; do
  i=$((i + 1))
  ceph_s3_curl "$CEPH_DIR" -o "$T/objects/$i" "$ENDPOINT/$BUCKET/$k" || fail "GET $k"
done <"$T/keys.txt"
python3 - "$T/objects" "$T/ref" "$T/keys.txt" <<'PY' || fail "raw S3 objects"
import os, sys
keys = [k for k in open(sys.argv[3]).read().split('\n') if k]
ref = open(sys.argv[2], 'rb').read()
total = 0
for i, key in enumerate(keys):
    d = open(os.path.join(sys.argv[1], str(i + 1)), 'rb').read()
    total += len(d)
    assert d[:8] == b'CAFSPOOL', (key, d[:8])
    assert b'\xab' * 64 not in d, "0xab pattern in clear in " + key
    assert b'QFI\xfb' not in d, "qcow2 magic in clear in " + key
    for off in range(0, len(ref), 1 << 20):
        assert ref[off:off + 64] not in d, "reference bytes in clear in " + key
assert total > 8 << 20, total
print(f"{len(keys)} objects, {total} bytes: ciphertext only, GUID names")
PY
grep -q "Sanitizer\|runtime error" "$T/cafsd.log" && fail "sanitizer report"
echo "PASS"
