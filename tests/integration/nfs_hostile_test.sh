#!/bin/bash
# Hostile clients against cafsd's NFS, MOUNT and portmapper ports (issue 20): cafsd (NFS only,
# its own portmapper; lib/cafsd_nfs.sh) attacked by nfs_hostile.py with malformed records,
# bad headers and credentials, non-UTF-8 and '#' names, idle floods and slow clients from
# 127.0.0.2 and concurrent clients from 127.0.0.3, all on loopback and bounded. After each
# attack a normal request (nfs-ls from 127.0.0.1) is served within 5 s and cafsd still runs;
# at the end the gateway's audit chain verifies (lib/audit_chain.py) and cafsd logged no
# sanitizer report. Limits: docs/nfs.md "Limits (hostile clients)".
# Usage: nfs_hostile_test.sh <cafsd>. Exits 77 when a tool is missing.
set -u
CAFSD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
export LSAN_OPTIONS="suppressions=$HERE/nfs_client/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
. "$HERE/lib/cafsd_nfs.sh"
. "$HERE/lib/gateway_checks.sh"
skip() { echo "SKIP: $*"; exit 77; }
for tool in python3 nfs-ls timeout; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
  skip "cannot bind 127.0.0.2"

T=$(mktemp -d /tmp/cafs-nfshostile-XXXXXX)
cleanup() { cafsd_nfs_stop; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$CAFSD_NFS_LOG"; exit 1; }

CAFSD_NFS_PORTMAP=1 CAFSD_LIFETIME=300 cafsd_nfs_start "$CAFSD" "$T/cafs" || fail "$CAFSD_NFS_ERROR"
pid=$(pgrep -P "$CAFSD_NFS_PID" | head -1)  # cafsd itself, under its `timeout` wrapper
timeout 110 python3 "$HERE/nfs_hostile.py" --pid "${pid:-$CAFSD_NFS_PID}" \
  --url "nfs://127.0.0.1/$CAFSD_NFS_VMDIR?nfsport=$CAFSD_NFS_PORT&mountport=$CAFSD_NFS_MNT_PORT" \
  --nfs-port "$CAFSD_NFS_PORT" --mount-port "$CAFSD_NFS_MNT_PORT" \
  --portmap-port "$CAFSD_NFS_PMAP_PORT" --vmdir "$CAFSD_NFS_VMDIR" ||
  fail "nfs_hostile.py"
kill -0 "$CAFSD_NFS_PID" 2>/dev/null || fail "cafsd died"
cafsd_nfs_stop
gateway_check_audit "$T/cafs/audit.log" || fail "$GATEWAY_CHECK_ERROR"
gateway_check_clean_logs "$T/cafs"/cafsd*.log || fail "$GATEWAY_CHECK_ERROR"
echo "PASS"
