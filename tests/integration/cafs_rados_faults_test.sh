#!/bin/bash
# The OSD of the test cluster stops answering while cafsd writes an *osdisk* file in a RADOS
# pool (issue 18 "Faults"): writes fail with a clear error within the pool's op_timeout_s (no
# hang), cafsd's log names the pool, nothing fsync'ed before is lost, and once the OSD is back
# the same mount serves reads and writes again (no cafsd restart). The OSD is frozen
# (SIGSTOP), not ended: its memstore lives in its memory (lib/ceph.sh).
# The cluster is the CTest fixture `ceph` (CAFS_TEST_CEPH_DIR); this test freezes its OSD, so
# it holds the resource lock `ceph_osd` (tests/integration/pool.cmake).
# Usage: cafs_rados_faults_test.sh <path to cafsd>. Exits 77 when the cluster, FUSE or a tool
# is missing.
set -u
CAFSD=$1
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
ceph_gateway_test_require fusermount3 mountpoint rados cmp

T=$(mktemp -d /tmp/cafs-rados-faults-XXXXXX)
M=$T/mnt
NS=faults-$$
TIMEOUT_S=4
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
osd_down=0
cleanup() {
  [ "$osd_down" = 1 ] && ceph_osd_resume "$CEPH_DIR"
  cafsd_stop "$T"
  ceph_remove_namespace "$CEPH_DIR" "$NS"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

cafsd_seed_keys "$T/keys"
CAFSD_POOL_A=$(ceph_pool_toml "$CEPH_DIR" "$NS" $TIMEOUT_S)
export CAFSD_POOL_A
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
V=$M/my_vmset/vm1
timeout 20 mkdir -p "$V" || fail "mkdir"

head -c 6M /dev/urandom >"$T/ref"
timeout 60 dd if="$T/ref" of="$V/osdisk1.img" bs=1M conv=fsync status=none || fail "dd before"

osd_down=1
ceph_osd_pause "$CEPH_DIR" || fail "no OSD process to freeze"
start=$SECONDS
head -c 1M /dev/urandom >"$T/more"
if timeout 60 dd if="$T/more" of="$V/osdisk1.img" bs=1M seek=6 conv=fsync,notrunc status=none \
  2>"$T/dd.err"; then
  fail "a write with the OSD down was acknowledged"
fi
took=$((SECONDS - start))
[ "$took" -lt 50 ] || fail "the failed write took $took s (op_timeout_s = $TIMEOUT_S)"
grep -q "Input/output error\|timed out" "$T/dd.err" || fail "unclear error: $(cat "$T/dd.err")"
grep -q "mirrored_pool_A" "$T/cafsd.log" || fail "cafsd's log does not name the pool"
grep -m1 "mirrored_pool_A" "$T/cafsd.log"
echo "write with the OSD down failed after $took s: $(head -1 "$T/dd.err")"

ceph_osd_resume "$CEPH_DIR"
ceph_wait_io "$CEPH_DIR" 90 || fail "the OSD did not come back"
osd_down=0
# The mount serves again: fsync'ed bytes are there, a new write lands and reads back.
timeout 60 cmp -n 6291456 "$T/ref" "$V/osdisk1.img" || fail "fsync'ed data lost"
timeout 60 dd if="$T/more" of="$V/osdisk1.img" bs=1M seek=6 conv=fsync,notrunc status=none ||
  fail "write after the OSD returned"
timeout 60 cmp -i 0:6291456 -n 1048576 "$T/more" "$V/osdisk1.img" || fail "read after return"
echo "PASS"
