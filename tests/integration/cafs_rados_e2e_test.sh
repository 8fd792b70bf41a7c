#!/bin/bash
# End to end on Ceph RADOS (issue 18): cafsd with the seed's policy, *osdisk* -> aes-256-xts
# in mirrored_pool_A, which is a RADOS pool (kind = "rados", a namespace of its own in the
# pool "cafs" of the test cluster), hc_default and the rest -> default_pool, a directory.
# Through the FUSE mount: qemu-img create/convert/check/compare, qemu-io pattern verify,
# fio --verify=crc32c, kill -9 of cafsd during writes and a restart with every fsync'ed byte
# back, a sparse 1 GiB file that stays a few objects, unlink removing every object; then `rados get` of every raw object shows ciphertext only (no plaintext pattern, no
# qcow2 magic), and the clear-text file is in the directory pool.
# The cluster is the CTest fixture `ceph` (tests/integration/pool.cmake): CAFS_TEST_CEPH_DIR
# names it. Usage: cafs_rados_e2e_test.sh <path to cafsd>. Exits 77 when the cluster, FUSE or a
# client tool is missing.
set -u
CAFSD=$1
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
ceph_gateway_test_require fusermount3 qemu-img qemu-io fio python3 mountpoint rados

T=$(mktemp -d /tmp/cafs-rados-XXXXXX)
M=$T/mnt
NS=e2e-$$
RADOS=(timeout 60 rados -c "$CEPH_DIR/ceph.conf" -p cafs -N "$NS")
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
# shellcheck source=lib/gateway_checks.sh
source "$(dirname "$0")/lib/gateway_checks.sh"
cleanup() { cafsd_stop "$T"; ceph_remove_namespace "$CEPH_DIR" "$NS"; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

cafsd_seed_keys "$T/keys"
CAFSD_POOL_A=$(ceph_pool_toml "$CEPH_DIR" "$NS" 20)
export CAFSD_POOL_A
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""

# A rados pool's config errors name the key and the line.
sed 's/^rados_pool = .*/rados_bucket = "x"/' "$T/cafsd.toml" >"$T/bad.toml"
out=$(timeout 10 "$CAFSD" --config "$T/bad.toml" 2>&1) && fail "bad rados config accepted"
echo "$out" | grep -q "line [0-9]*:.*unknown key 'rados_bucket'" ||
  fail "config error does not name the key and line: $out"

start_cafsd() { cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"; }
start_cafsd
V=$M/my_vmset
timeout 20 mkdir -p "$V/windows_xp" "$V/vm1" || fail "mkdir"

# qemu-img and qemu-io on an *osdisk* image in RADOS.
DISK=$V/windows_xp/osdisk1.qcow2
gateway_check_qemu_disk "$DISK" "$T/out.raw" || fail "$GATEWAY_CHECK_ERROR"
# Into the mount: a raw *osdisk* written by qemu-img convert, compared with its source.
timeout 120 qemu-img convert -O raw "$T/out.raw" "$V/vm1/osdisk2.raw" || fail "qemu-img convert in"
timeout 120 qemu-img compare -q "$T/out.raw" "$V/vm1/osdisk2.raw" || fail "qemu-img compare"

gateway_check_fio "$V/vm1/osdisk_fio" 16M 4M "$T/fio.out" || fail "$GATEWAY_CHECK_ERROR"

# The clear-text file goes to the directory pool; statfs answers with a RADOS pool configured.
echo 'displayName = "winxp"' >"$V/windows_xp/vm.vmx" || fail "write vm.vmx"
timeout 10 sync
grep -rqs displayName "$T/pools/default_pool" || fail "vm.vmx not in the directory pool"
timeout 10 df "$M" >/dev/null || fail "statfs"

# kill -9 during writes: every fsync'ed byte is back after a restart.
head -c 8M /dev/urandom >"$T/ref"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk_crash" bs=1M conv=fsync status=none || fail "dd"
timeout 60 dd if=/dev/zero of="$V/vm1/osdisk_crash" bs=1M seek=8 count=100 status=none 2>/dev/null &
DD=$!
sleep 0.5
cafsd_kill9
wait "$DD" 2>/dev/null
timeout 10 fusermount3 -u -z "$M"
start_cafsd
timeout 60 cmp -n 8388608 "$T/ref" "$V/vm1/osdisk_crash" || fail "fsync'ed data lost after kill -9"
timeout 60 qemu-img check -q "$DISK" || fail "qemu-img check after restart"
timeout 60 qemu-img compare -q "$T/out.raw" "$V/vm1/osdisk2.raw" || fail "compare after restart"
timeout 10 rm "$V/vm1/osdisk_fio" || fail "unlink"
# Sparse stays sparse: a 1 GiB file with 4 KiB written adds a few objects, not 256.
before=$("${RADOS[@]}" ls | wc -l)
timeout 10 truncate -s 1G "$V/vm1/osdisk_sparse" || fail "truncate up"
timeout 10 dd if=/dev/urandom of="$V/vm1/osdisk_sparse" bs=4k count=1 seek=1000 conv=notrunc,fsync \
  status=none || fail "dd into sparse file"
[ "$(stat -c %s "$V/vm1/osdisk_sparse")" = 1073741824 ] || fail "sparse logical size"
added=$(($("${RADOS[@]}" ls | wc -l) - before))
[ "$added" -le 3 ] || fail "a sparse 1 GiB file made $added objects"
timeout 10 rm "$V/vm1/osdisk_sparse" || fail "unlink sparse"
[ "$("${RADOS[@]}" ls | wc -l)" = "$before" ] || fail "objects left after unlink"
cafsd_stop "$T"

# The raw objects: ciphertext only. Heads start with the pool file header; no object holds
# the qemu-io patterns, the qcow2 magic or the random reference in clear.
mkdir -p "$T/objects"
"${RADOS[@]}" ls >"$T/objects.txt" || fail "rados ls"
n=$(wc -l <"$T/objects.txt")
[ "$n" -ge 4 ] || fail "only $n objects in namespace $NS: $(cat "$T/objects.txt")"
i=0
while IFS= read -r o; do
  i=$((i + 1))
  "${RADOS[@]}" get "$o" "$T/objects/$i" || fail "rados get $o"
done <"$T/objects.txt"
python3 - "$T/objects" "$T/ref" "$T/objects.txt" <<'PY' || fail "raw RADOS objects"
import os, sys
names = open(sys.argv[3]).read().split('\n')
ref = open(sys.argv[2], 'rb').read()
heads = 0
total = 0
for i, name in enumerate(n for n in names if n):
    d = open(os.path.join(sys.argv[1], str(i + 1)), 'rb').read()
    total += len(d)
    if '//' not in name:
        heads += 1
        assert d[:8] == b'CAFSPOOL', (name, d[:8])
    assert b'\xab' * 64 not in d, "0xab pattern in clear in " + name
    assert b'\xcd' * 64 not in d, "0xcd pattern in clear in " + name
    assert b'QFI\xfb' not in d, "qcow2 magic in clear in " + name
    for off in range(0, len(ref), 1 << 20):
        assert ref[off:off + 64] not in d, "reference bytes in clear in " + name
assert heads >= 3, heads
assert total > 8 << 20, total
print(f"{len([n for n in names if n])} objects, {heads} pool files, {total} bytes: ciphertext only")
PY
grep -q "Sanitizer\|runtime error" "$T/cafsd.log" && fail "sanitizer report"
echo "PASS"
