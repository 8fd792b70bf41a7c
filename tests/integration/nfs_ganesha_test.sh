#!/bin/bash
# nfs_procedures (every MOUNT v3 and NFSv3 procedure, checked) against a private NFS-Ganesha
# with FSAL_VFS on a temp directory (tests/integration/lib/ganesha.sh): proves the program's
# checks on a server we did not write, before they judge cafsd; then its restart check (a
# handle from before a restart still works, the write verifier changes). Also checks, on the
# exported directory itself, that the program left nothing behind and that data written
# through libnfs's nfs-cp lands in the plain file.
# Usage: nfs_ganesha_test.sh <path to nfs_procedures>. Exits 77 when Ganesha or rpcbind is
# missing or Ganesha cannot start here (reason printed).
set -u
PROG=$1
HERE=$(cd "$(dirname "$0")" && pwd)
# libnfs-internal leaks are not ours (nfs_client/lsan.supp); cafsd reports its own.
export LSAN_OPTIONS="suppressions=$HERE/nfs_client/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
. "$HERE/lib/ganesha.sh"
skip() { echo "SKIP: $*"; exit 77; }
ganesha_available || skip "$GANESHA_ERROR"
for tool in nfs-cp nfs-ls python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed (libnfs-utils)"
done

T=$(mktemp -d /tmp/cafs-nfsganesha-XXXXXX)
cleanup() { ganesha_stop; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- ganesha log"; grep -v -E 'DBUS|krb5|keytab' "$T/ganesha.log" | tail -20; exit 1; }

mkdir -p "$T/export"
ganesha_start "$T" "$T/export" || skip "$GANESHA_ERROR"
echo "ganesha: $GANESHA_URL"

timeout 120 "$PROG" --server ganesha "$GANESHA_URL" | tee "$T/out.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "nfs_procedures exited $rc"
# 6 MOUNT + 22 NFSv3 procedures + the sync API line, each "ok".
n=$(grep -c -E '^(MOUNT3|NFS3|libnfs) +[A-Z-]+ +ok ' "$T/out.txt")
[ "$n" = 29 ] || fail "expected 29 ok lines, got $n"
[ -z "$(ls -A "$T/export")" ] || fail "left behind: $(ls -A "$T/export")"

# Restart: handles from before still work, the write verifier changes.
timeout 60 "$PROG" --restart save "$T/restart.state" "$GANESHA_URL" || fail "restart save"
# Ganesha's write verifier is its start time in whole seconds: a restart within the same
# second as the start keeps it (the whole run above can take ~1 s), so start in a later second.
sleep 1.1
ganesha_restart || fail "$GANESHA_ERROR"
timeout 60 "$PROG" --restart check "$T/restart.state" "$GANESHA_URL" || fail "restart check"
[ -z "$(ls -A "$T/export")" ] || fail "left behind after restart: $(ls -A "$T/export")"

# A second client (libnfs-utils) and the plain file under the export agree byte for byte.
head -c 3000000 /dev/urandom > "$T/src.bin"
timeout 60 nfs-cp "$T/src.bin" "nfs://127.0.0.1$T/export/copy.bin?nfsport=$GANESHA_NFS_PORT&mountport=$GANESHA_MNT_PORT" ||
  fail "nfs-cp"
cmp "$T/src.bin" "$T/export/copy.bin" || fail "nfs-cp copy differs from the source"
timeout 30 nfs-ls "$GANESHA_URL" | grep -q 'copy.bin' || fail "nfs-ls does not list copy.bin"
echo "PASS"
