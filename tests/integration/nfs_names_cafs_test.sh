#!/bin/bash
# Names are bytes, over NFS (issue 20 classes 9, 10, 11): nfs_names (libnfs raw calls) against
# cafsd's NFSv3 front-end with the seed's policy (tests/integration/lib/cafsd_nfs.sh): names
# with '#' (`a#` beside `a` keeps `a`'s data), spaces, UTF-8, bytes that are not UTF-8 in a vobj
# audited with all_records, a name of exactly name_max bytes (255: long names, stored hashed
# with a side entry), names with "##" and a newline, a path deeper than PATH_MAX, hard links,
# PATHCONF linkmax (the backing store's LINK_MAX). Then, with the files kept:
#  - the backing store holds `a##<pool>` and `a###<pool>`, the pool files are 0600 and the pool
#    directories 0700 (class 9);
#  - the gateway's audit log verifies (an independent verifier, lib/audit_chain.py) and holds
#    the non-UTF-8 name's exact bytes in file_b64;
#  - cafsd is still running and logged no sanitizer report.
# Usage: nfs_names_cafs_test.sh <cafsd> <nfs_names>. Exits 77 when a tool is missing.
set -u
CAFSD=$1
PROG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/cafsd_nfs.sh"
. "$HERE/lib/gateway_checks.sh"
cafsd_nfs_test_begin nfsnames
for tool in python3 stat find getconf; do command -v "$tool" >/dev/null || skip "$tool not installed"; done

cafsd_nfs_start "$CAFSD" "$T/cafs" || fail "$CAFSD_NFS_ERROR"
link_max=$(getconf LINK_MAX "$T/cafs/backing") || fail "getconf LINK_MAX"
timeout 120 "$PROG" --keep --link-max "$link_max" --subdir "$CAFSD_NFS_VMDIR" "$CAFSD_NFS_URL" | tee "$T/out.txt"
[ "${PIPESTATUS[0]}" = 0 ] || fail "nfs_names failed"
kill -0 "$CAFSD_NFS_PID" 2>/dev/null || fail "cafsd died"
work=$(sed -n 's/^kept: //p' "$T/out.txt")
B=$T/cafs/backing/$CAFSD_NFS_VMDIR/$work
[ -n "$work" ] && [ -d "$B" ] || fail "no kept directory"
[ -f "$B/a##default_pool" ] && [ -f "$B/a###default_pool" ] || fail "redirectors of a and a#: $(ls "$B")"
# Long names (docs/redirectors.md "Long names"): three long files and four with "##" (x##z,
# ##, a##default_pool, osdisk##mirrored_pool_A) kept under hashed names, each with its side
# entry, and nothing else of the kind (renamed-away and removed names left none: also not
# the hashed directories, symlink and FIFO).
longs=$(find "$B" -maxdepth 1 -type f -name '.cafs-long-*##*' | wc -l)
sides=$(find "$B" -maxdepth 1 -type f -name '.cafs-long-*.name' | wc -l)
[ "$longs" = 7 ] && [ "$sides" = 7 ] || fail "long names: $longs redirectors, $sides side entries"
[ -z "$(find "$B" -maxdepth 1 ! -type f -name '.cafs-long-*')" ] || fail "hashed plain entries left"
for r in "$B"/.cafs-long-*##*; do
  [ -f "${r%%##*}.name" ] || fail "no side entry for $r"
done
# Class 9: whatever the caller's modes, pool files are 0600 and pool directories 0700.
gateway_check_pool_modes "$T/cafs/pools" 10 || fail "$GATEWAY_CHECK_ERROR"
# The audit log (aggregates flushed at SIGTERM) verifies and pins the exact bytes.
cafsd_nfs_stop
gateway_check_audit "$T/cafs/audit.log" || fail "$GATEWAY_CHECK_ERROR"
# Audit noise (issue 17 item 8): the LOOKUPs of names about to be created are no errors, and
# each create of the all_records vobj is one record.
grep -- '-noise-' "$T/cafs/audit.log" | grep -q '"result":"error"' &&
  fail "a lookup before a create was audited as an error: $(grep -- '-noise-' "$T/cafs/audit.log" | grep '"result":"error"' | head -2)"
# A hard link's record names the new path (issue 17 item 2; the all_records vobj).
grep '"op":"link"' "$T/cafs/audit.log" | grep -q 'osdisk#link"' || fail "no link record names osdisk#link"
# A RENAME refused because the new name is another vobj's is an error record of the file's
# all_records vobj, naming the old path (issue 17 item 2).
grep '"op":"rename"' "$T/cafs/audit.log" | grep '"result":"error"' | grep -q 'osdisk#"' ||
  fail "no rename error record names osdisk#"
creates=$(grep '"op":"create"' "$T/cafs/audit.log" | grep -c 'osdisk-noise-')
[ "$creates" = 5 ] || fail "$creates create records of osdisk-noise-N, want 5"
gateway_check_clean_logs "$T/cafs"/cafsd*.log || fail "$GATEWAY_CHECK_ERROR"
echo "PASS"
