#!/bin/bash
# The README's first command: scripts/demo.sh (with the binaries of this build, --no-build) in
# a temporary state directory. Checks what it shows (qemu-io pattern verified, qemu-img check
# clean, ciphertext in the pool, the pushed audit records, usage), that kpsd and cafsd keep
# running afterwards, that a second run replaces the first, and that --stop stops both and
# unmounts.
# Usage: cafs_demo_test.sh CAFS_DEMO KPSD CAFSD CAFSCTL. Exits 77 when FUSE or a tool is missing.
set -u
export CAFS_DEMO=${1:?usage: cafs_demo_test.sh CAFS_DEMO KPSD CAFSD CAFSCTL}
export KPSD=${2:?usage} CAFSD=${3:?usage} CAFSCTL=${4:?usage}
HERE=$(cd "$(dirname "$0")" && pwd)
DEMO=$HERE/../../scripts/demo.sh
skip() { echo "SKIP: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 qemu-img qemu-io python3 mountpoint timeout od; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cafs-demo-test-XXXXXX")
S=$T/state
cleanup() {
  timeout 60 bash "$DEMO" --stop --state "$S" >/dev/null 2>&1
  if mountpoint -q "$S/mnt" 2>/dev/null; then timeout 10 fusermount3 -u -z "$S/mnt"; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  echo "--- demo output"; tail -60 "$T/out" 2>/dev/null
  exit 1
}

run_demo() {
  timeout 240 bash "$DEMO" --no-build --state "$S" >"$T/out" 2>&1
  local rc=$?
  [ "$rc" = 77 ] && skip "demo.sh: $(tail -1 "$T/out")"
  [ "$rc" = 0 ] || fail "demo.sh exited $rc"
}
alive() { kill -0 "$(cat "$S/$1.pid" 2>/dev/null)" 2>/dev/null; }

run_demo
grep -q "No errors were found on the image" "$T/out" || fail "qemu-img check did not pass"
grep -q "read 4194304/4194304 bytes" "$T/out" || fail "qemu-io did not read the pattern back"
grep -q "checked: no qcow2 magic" "$T/out" || fail "pool contents not checked"
grep -qE "gw1 +755083456 +my_vmset +windows_xp +osdisk1.qcow2 +write +ok" "$T/out" ||
  fail "the pushed write record of osdisk1.qcow2 is not in cafsctl audit list"
grep -qE "gw1 +my_vmset +mirrored_pool_A +[1-9][0-9]* " "$T/out" ||
  fail "cafsctl usage shows no bytes of my_vmset in mirrored_pool_A"
grep -q "kpsd audit chain ok" "$T/out" || fail "kpsd's chain not verified"
grep -q "Stop it: .*demo.sh --stop" "$T/out" || fail "no line on how to stop the demo"
alive kpsd || fail "kpsd is not running after the demo"
alive cafsd || fail "cafsd is not running after the demo"
mountpoint -q "$S/mnt" || fail "the mount is gone after the demo"
timeout 30 qemu-img check -q "$S/mnt/my_vmset/windows_xp/osdisk1.qcow2" ||
  fail "the disk is not usable after the demo"

# Running it again stops the first demo and starts afresh.
OLD_CAFSD=$(cat "$S/cafsd.pid")
run_demo
kill -0 "$OLD_CAFSD" 2>/dev/null && fail "the first demo's cafsd still runs"
alive cafsd || fail "the second demo's cafsd is not running"

timeout 60 bash "$DEMO" --stop --state "$S" >"$T/stop" 2>&1 || fail "demo.sh --stop failed"
{ grep -q "stopped cafsd" "$T/stop" && grep -q "stopped kpsd" "$T/stop"; } ||
  fail "--stop: $(cat "$T/stop")"
mountpoint -q "$S/mnt" && fail "still mounted after --stop"
grep -qE "Sanitizer|runtime error" "$S/cafsd.log" "$S/kpsd.log" && fail "sanitizer report"
echo "PASS"
