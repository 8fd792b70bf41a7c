#!/bin/bash
# nfs_procedures (every MOUNT v3 and NFSv3 procedure, checked; proven against NFS-Ganesha by
# nfs_ganesha_test.sh) against cafsd's NFSv3 front-end with the seed's policy and local keys
# (tests/integration/lib/cafsd_nfs.sh), in the VM set's directory, where *osdisk* files are
# encrypted. Expectations for cafs: LINK and MKNOD answer NFS3ERR_NOTSUPP. Then checks that
# the program left nothing in the backing store and that cafsd logged no sanitizer report.
# Usage: nfs_procedures_cafs_test.sh <cafsd> <nfs_procedures>. Exits 77 when a tool is missing.
set -u
CAFSD=$1
PROG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/cafsd_nfs.sh"
cafsd_nfs_test_begin nfsproc
for tool in python3 od; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
sanitizer_clean() { ! grep -qE "Sanitizer|runtime error" "$@" 2>/dev/null; }

cafsd_nfs_start "$CAFSD" "$T/cafs" || fail "$CAFSD_NFS_ERROR"
echo "cafsd: $CAFSD_NFS_URL"
timeout 180 "$PROG" --server cafs --subdir "$CAFSD_NFS_VMDIR" "$CAFSD_NFS_URL" | tee "$T/out.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "nfs_procedures exited $rc"
n=$(grep -c -E '^(MOUNT3|NFS3|libnfs) +[A-Z-]+ +ok ' "$T/out.txt")
[ "$n" = 29 ] || fail "expected 29 ok lines, got $n"
# The program removed what it made: the VM set's directory in the backing store is empty.
left=$(find "$T/cafs/backing/$CAFSD_NFS_VMDIR" -mindepth 1 | head -5)
[ -z "$left" ] || fail "left behind in the backing store: $left"

timeout 60 "$PROG" --restart save "$T/restart.state" --subdir "$CAFSD_NFS_VMDIR" \
  "$CAFSD_NFS_URL" || fail "restart save"
cafsd_nfs_restart "$CAFSD" || fail "$CAFSD_NFS_ERROR"
timeout 60 "$PROG" --restart check "$T/restart.state" --subdir "$CAFSD_NFS_VMDIR" \
  "$CAFSD_NFS_URL" || fail "restart check"
cafsd_nfs_stop
sanitizer_clean "$T/cafs"/cafsd*.log || fail "sanitizer report from cafsd"
echo "PASS"
