#!/bin/bash
# POSIX semantics over NFS (issue 17 items 4, 6, 7): nfs_posix (libnfs raw calls with chosen
# AUTH_SYS uids) against cafsd's NFSv3 front-end with the seed's policy
# (tests/integration/lib/cafsd_nfs.sh), cafsd started under umask 077. Added here:
#  - a second configured VM set `new_vmset` (127.0.0.1 listed) whose directory does not
#    exist: MOUNT makes it;
#  - `/my_vmset/squashed` (root's, 0755, with `open` 0777 inside) exported with root_squash.
# Then: cafsd still runs, the backing store holds new_vmset's directory and no directory for
# the unknown VM set, and the logs are clean.
# Usage: nfs_posix_cafs_test.sh <cafsd> <nfs_posix>. Exits 77 when a tool is missing.
set -u
CAFSD=$1
PROG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/cafsd_nfs.sh"
. "$HERE/lib/gateway_checks.sh"
cafsd_nfs_test_begin nfsposix
for tool in python3 stat; do command -v "$tool" >/dev/null || skip "$tool not installed"; done

# cafsd_nfs_start writes the configuration and starts; stop, extend the configuration, and
# start again on the same ports.
umask 077
cafsd_nfs_start "$CAFSD" "$T/cafs" || fail "$CAFSD_NFS_ERROR"
cafsd_nfs_stop
K=$T/cafs/keys
mkdir -p "$K/new_vmset"
sed 's|<name>my_vmset</name>|<name>new_vmset</name>|' "$K/my_vmset/vmset.xml" >"$K/new_vmset/vmset.xml"
cp "$K/my_vmset/policy.xml" "$K/my_vmset/keys" "$K/new_vmset/"
mkdir -m 755 "$T/cafs/backing/my_vmset/squashed"
mkdir -m 777 "$T/cafs/backing/my_vmset/squashed/open"
chmod 777 "$T/cafs/backing/my_vmset/squashed/open"  # not the umask's
cat >>"$T/cafs/cafsd.toml" <<'TOML'

[[nfs.export]]
path = "/my_vmset/squashed"
clients = ["127.0.0.1"]
access = "rw"
squash = "root_squash"
TOML
cafsd_nfs_restart "$CAFSD" || fail "$CAFSD_NFS_ERROR"
umask 022
[ ! -e "$T/cafs/backing/new_vmset" ] || fail "new_vmset's directory exists before MOUNT"

timeout 120 "$PROG" 127.0.0.1 "$CAFSD_NFS_PORT" "$CAFSD_NFS_MNT_PORT" || fail "nfs_posix failed"
kill -0 "$CAFSD_NFS_PID" 2>/dev/null || fail "cafsd died"
[ -d "$T/cafs/backing/new_vmset" ] || fail "MOUNT did not make new_vmset's directory"
[ "$(stat -c %a "$T/cafs/backing/new_vmset")" = 755 ] || fail "new_vmset's mode"
[ ! -e "$T/cafs/backing/unknown_vmset" ] || fail "a directory for an unknown VM set"
cafsd_nfs_stop
python3 "$HERE/lib/audit_chain.py" "$T/cafs/audit.log" || fail "audit chain"
grep -q "made the directory of VM set new_vmset" "$CAFSD_NFS_LOG" || fail "no log line for new_vmset"
gateway_check_clean_logs "$T/cafs"/cafsd*.log || fail "$GATEWAY_CHECK_ERROR"
echo "PASS"
