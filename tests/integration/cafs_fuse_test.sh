#!/bin/bash
# End to end: cafsd with the seed's policy (LocalKeyProvider; *osdisk* -> aes-256-xts in
# mirrored_pool_A, hc_default -> clear text in default_pool), mounted with FUSE, driven by
# qemu-img, qemu-io, fio and dd. Checks contents through the mount, ciphertext / plaintext in
# the pool files, redirector names, hostile names, and kill -9 during writes (fsync'ed data
# intact after restart). The seed's Mon-Fri(9am-5pm) window is widened to at_all_times here
# so the test runs any day (window denials are unit-tested with an injected clock).
# Usage: cafs_fuse_test.sh <path to cafsd>. Exits 77 when FUSE or a client tool is missing.
set -u
CAFSD=$1
skip() { echo "SKIP: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 qemu-img qemu-io fio python3 mountpoint; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

T=$(mktemp -d /tmp/cafs-fuse-XXXXXX)
M=$T/mnt
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
# shellcheck source=lib/gateway_checks.sh
source "$(dirname "$0")/lib/gateway_checks.sh"
stop_cafsd() { cafsd_stop "$T"; }
cleanup() { stop_cafsd; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""

# A config error names the key and the line.
printf '[gateway]\nserver_id = 7\n' > "$T/bad.toml"
out=$(timeout 10 "$CAFSD" --config "$T/bad.toml" 2>&1) && fail "bad config accepted"
echo "$out" | grep -q "line 2.*server_id" || fail "config error does not name key and line: $out"
timeout 10 "$CAFSD" --help | grep -q -- "--config" || fail "--help"

start_cafsd() { cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"; }
start_cafsd
V=$M/my_vmset

timeout 20 mkdir -p "$V/windows_xp" "$V/vm1" || fail "mkdir"
DISK=$V/windows_xp/osdisk1.qcow2
gateway_check_qemu_disk "$DISK" "$T/out.raw" || fail "$GATEWAY_CHECK_ERROR"
gateway_check_fio "$V/vm1/osdisk_fio" 32M 8M "$T/fio.out" || fail "$GATEWAY_CHECK_ERROR"

# Redirectors and readdir mapping.
[ -f "$T/backing/my_vmset/windows_xp/osdisk1.qcow2##mirrored_pool_A" ] || fail "redirector name"
ls "$V/windows_xp" > "$T/ls.out" 2>&1; grep -qx "osdisk1.qcow2" "$T/ls.out" || fail "readdir shows the name: $(cat "$T/ls.out")"
ls "$V/windows_xp" | grep -q "##" && fail "readdir leaks ##"

# Ciphertext for *osdisk*, plaintext after the 4096-byte header for clear-text files.
echo 'displayName = "winxp"' > "$V/windows_xp/vm.vmx" || fail "write vm.vmx"
timeout 10 sync
python3 - "$(cafsd_pool_file "$T" my_vmset/windows_xp/osdisk1.qcow2 mirrored_pool_A)" \
  "$(cafsd_pool_file "$T" my_vmset/windows_xp/vm.vmx default_pool)" <<'PY' || fail "pool file contents"
import sys
enc = open(sys.argv[1], 'rb').read()
assert enc[:8] == b'CAFSPOOL'
assert enc.count(b'\xab' * 64) == 0, "plaintext pattern in the encrypted pool file"
assert b'QFI\xfb' not in enc, "qcow2 magic in clear in the encrypted pool file"
clear = open(sys.argv[2], 'rb').read()
assert clear[:8] == b'CAFSPOOL'
assert clear[4096:4096 + 11] == b'displayName', clear[4096:4120]
PY
sz=$(stat -c %s "$V/windows_xp/vm.vmx"); [ "$sz" = 22 ] || fail "logical size of vm.vmx: $sz"

# Metadata operations.
timeout 10 chmod 600 "$V/windows_xp/vm.vmx" || fail "chmod"
[ "$(stat -c %a "$V/windows_xp/vm.vmx")" = 600 ] || fail "mode after chmod"
timeout 10 touch -d '2020-01-02 03:04:05' "$V/windows_xp/vm.vmx" || fail "utimens"
[ "$(stat -c %Y "$V/windows_xp/vm.vmx")" = "$(date -d '2020-01-02 03:04:05' +%s)" ] || fail "mtime"
timeout 10 truncate -s 5 "$V/windows_xp/vm.vmx" && [ "$(cat "$V/windows_xp/vm.vmx")" = "displ" ] ||
  fail "truncate"
timeout 10 mv "$V/windows_xp/osdisk1.qcow2" "$V/vm1/osdisk1.qcow2" || fail "rename across VMs"
timeout 60 qemu-img check -q "$V/vm1/osdisk1.qcow2" || fail "check after rename"
timeout 10 ln -s osdisk1.qcow2 "$V/vm1/link" && [ "$(readlink "$V/vm1/link")" = osdisk1.qcow2 ] ||
  fail "symlink"
# "##" in a name is a name like any other (stored hashed): never file evil's redirector.
timeout 10 touch "$V/vm1/evil##default_pool" || fail "## name refused"
[ -e "$V/vm1/evil" ] && fail "evil##default_pool taken for file evil"
ls "$V/vm1" | grep -qx 'evil##default_pool' || fail "evil##default_pool not listed"
timeout 10 rm "$V/vm1/evil##default_pool" || fail "rm evil##default_pool"
timeout 10 touch "$V/vm1/$(printf 'a%.0s' $(seq 300))" 2>/dev/null && fail "300-char name accepted"
timeout 10 fallocate -l 1M "$V/vm1/osdisk_alloc" || fail "fallocate"
[ "$(stat -c %s "$V/vm1/osdisk_alloc")" = 1048576 ] || fail "fallocate size"
# Sparse stays sparse: a 1 GiB file with 4 KiB written uses a few blocks in the pool.
timeout 10 truncate -s 1G "$V/vm1/osdisk_sparse" || fail "truncate up"
timeout 10 dd if=/dev/urandom of="$V/vm1/osdisk_sparse" bs=4k count=1 seek=1000 conv=notrunc,fsync \
  status=none || fail "dd into sparse file"
[ "$(stat -c %s "$V/vm1/osdisk_sparse")" = 1073741824 ] || fail "sparse logical size"
used=$(( $(stat -c %b "$(cafsd_pool_file "$T" my_vmset/vm1/osdisk_sparse mirrored_pool_A)") * 512 ))
[ "$used" -lt 1048576 ] || fail "sparse file not sparse in the pool: $used bytes"
timeout 10 fallocate -p -o 0 -l 4096 "$V/vm1/osdisk_alloc" 2>/dev/null && fail "punch hole accepted"
timeout 10 df "$M" >/dev/null || fail "statfs"
alloc_pool_file=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk_alloc mirrored_pool_A)
[ -f "$alloc_pool_file" ] || fail "no pool file for osdisk_alloc"
timeout 10 rm "$V/vm1/osdisk_alloc" || fail "unlink"
[ -e "$alloc_pool_file" ] && fail "pool file left after unlink"

# kill -9 during writes: fsync'ed data is intact after a restart.
head -c 8M /dev/urandom > "$T/ref"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk_crash" bs=1M conv=fsync status=none || fail "dd"
timeout 60 dd if=/dev/zero of="$V/vm1/osdisk_crash" bs=1M seek=8 count=200 status=none &
DD=$!
sleep 0.5
cafsd_kill9
wait "$DD" 2>/dev/null
timeout 10 fusermount3 -u -z "$M"
start_cafsd
timeout 60 cmp -n 8388608 "$T/ref" "$V/vm1/osdisk_crash" || fail "fsync'ed data lost after kill -9"
timeout 60 qemu-img check -q "$V/vm1/osdisk1.qcow2" || fail "check after restart"

# Audit: creates of *osdisk* files are recorded (all_records), aggregated writes too.
stop_cafsd
grep -q '"op":"create"' "$T/audit.log" || fail "no create audit record"
grep -q '"op":"write"' "$T/audit.log" || fail "no aggregated write record"
mountpoint -q "$M" && fail "still mounted after SIGTERM"
echo "PASS"
