#!/bin/bash
# Hostile clients on cafsd's jobs control socket (issue 20: every listener is attacked;
# docs/jobs.md "Control channel"): cafsd on FUSE with the seed's policy, attacked by
# jobs_control_hostile.py with malformed, non-UTF-8, deeply nested and huge requests,
# over-long lines, random bytes, clients that never read, an idle flood beyond the connection
# cap, byte-a-second clients and another uid. After each attack `cafsd jobs list` is served
# within 5 s, cafsd still runs and the mount writes and reads back a file. At the end a real
# shred job still runs to completion through the socket, and cafsd logged no sanitizer report.
# Root only (FUSE mount, another uid): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_jobs_control_hostile_test.sh <path to cafsd>
set -u
CAFSD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (FUSE mount, connecting as another uid)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint timeout; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

# shellcheck source=lib/cafsd.sh
. "$HERE/lib/cafsd.sh"
. "$HERE/lib/gateway_checks.sh"

T=$(mktemp -d /tmp/cafs-jobshostile-XXXXXX)
cleanup() {
  cafsd_stop "$T"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }
ctl() { timeout 60 "$CAFSD" --config "$T/cafsd.toml" "$@"; }

cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""
CAFSD_LIFETIME=300 cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
V1=$T/mnt/my_vmset/vm1
mkdir -p "$V1" || fail "mkdir"
dd if=/dev/urandom of="$V1/osdisk-victim.img" bs=64K count=4 conv=fsync status=none ||
  fail "dd victim"
dd if=/dev/urandom of="$V1/osdisk-keep.img" bs=64K count=4 conv=fsync status=none ||
  fail "dd keep"
KEEP_SUM=$(sha256sum <"$V1/osdisk-keep.img")
pid=$(pgrep -P "$CAFSD_PID" | head -1)  # cafsd itself, under its `timeout` wrapper
# Only the socket's own mode (0600) keeps another uid out, not the directories above it.
chmod 755 "$T" "$T/backing" || fail "chmod"
[ "$(stat -c %a "$T/backing/.cafs-control")" = 600 ] || fail "control socket mode is not 0600"

timeout 150 python3 "$HERE/jobs_control_hostile.py" --cafsd "$CAFSD" --config "$T/cafsd.toml" \
  --socket "$T/backing/.cafs-control" --pid "${pid:-$CAFSD_PID}" --probe "$V1/osdisk-probe.img" ||
  fail "jobs_control_hostile.py"
kill -0 "$CAFSD_PID" 2>/dev/null || fail "cafsd died"

# The socket still does real work: a shred job runs to its end; the other file is unchanged.
ctl shred /my_vmset/vm1/osdisk-victim.img --json >"$T/shred.json" || fail "shred exit $?"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/shred.json" || fail "shred job not done: $(cat "$T/shred.json")"
[ -e "$V1/osdisk-victim.img" ] && fail "the shredded file is still visible"
[ "$(sha256sum <"$V1/osdisk-keep.img")" = "$KEEP_SUM" ] || fail "osdisk-keep changed"
echo "ok: a shred job through the socket after the attacks"
cafsd_stop "$T"
gateway_check_clean_logs "$T/cafsd.log" || fail "$GATEWAY_CHECK_ERROR"
echo PASS
