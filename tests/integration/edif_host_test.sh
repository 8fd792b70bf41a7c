#!/bin/bash
# edifd target + edifd host with a LUN that does not require security: qemu-io (a client we
# did not write) writes a pattern through the host's LUN export; the target's backing file
# must hold it; a read through the host must return it; SIGTERM stops both cleanly.
# Usage: edif_host_test.sh /path/to/edifd     Exit 77 when qemu-io is missing.
set -u
EDIFD=$1
command -v qemu-io >/dev/null || { echo "SKIP: qemu-io not installed"; exit 77; }
command -v timeout >/dev/null || { echo "SKIP: timeout not installed"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"

DIR=$(mktemp -d /tmp/edif_host_test.XXXXXX)
cleanup() { edif_cleanup; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; echo "--- target log"; cat "$DIR/target.log"; echo "--- host log"; cat "$DIR/host.log"; exit 1; }

truncate -s 16M "$DIR/lun0.img"
truncate -s 1M "$DIR/lun1.img"
edif_target_config target 0x5000000000000001 0x020100
edif_target_lun target 0 "$DIR/lun0.img" false
edif_target_lun target 1 "$DIR/lun1.img" true
edif_start_target target
TPID=$EDIF_LAST_PID
PORT=$(edif_target_port target)
grep -q "listening on 127.0.0.1:$PORT" "$DIR/target.out" || fail "target did not print its port"

edif_host_config host "io_wait_timeout_ms = 1500"
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$PORT" 0x5000000000000001 false
edif_start_host host array1-lun0
HPID=$EDIF_LAST_PID
[ -S "$DIR/hba0-mbox.sock" ] || fail "no mailbox socket"
[ -S "$DIR/target-mbox.sock" ] || fail "no target mailbox socket"

URI=$(edif_lun_uri host array1-lun0)
timeout 60 qemu-io -f raw "$URI" -c 'write -P 0xa5 1M 2M' -c 'write -P 0x3c 0 4096' -c flush \
  > "$DIR/qio.out" 2>&1 || { cat "$DIR/qio.out"; fail "qemu-io write"; }
timeout 60 qemu-io -f raw -r "$URI" -c 'read -P 0xa5 1M 2M' -c 'read -P 0x3c 0 4096' \
  > "$DIR/qio2.out" 2>&1 || { cat "$DIR/qio2.out"; fail "qemu-io read back"; }
grep -q "Pattern verification failed" "$DIR/qio2.out" && fail "pattern mismatch through the host"

# The target's backing file holds the pattern.
python3 - "$DIR/lun0.img" <<'PY' || fail "backing file does not hold the pattern"
import sys
d = open(sys.argv[1], 'rb').read()
assert d[0:4096] == b'\x3c' * 4096
assert d[1 << 20:3 << 20] == b'\xa5' * (2 << 20)
assert d[4096:1 << 20] == b'\0' * ((1 << 20) - 4096)
PY

# A require_secure LUN without agents: the write fails (EIO after io_wait_timeout) with a log
# line naming the target, and nothing reaches the backing file.
URI1=$(edif_lun_uri host array1-lun1)
timeout 60 qemu-io -f raw "$URI1" -c 'write -P 0x77 0 4096' > "$DIR/qio3.out" 2>&1
grep -qi "error\|failed" "$DIR/qio3.out" || { cat "$DIR/qio3.out"; fail "require_secure LUN accepted I/O without agents"; }
grep -q "I/O to target array1 .*not online secure" "$DIR/host.log" || fail "no clear log line for the refused I/O"
cmp -s <(head -c 4096 "$DIR/lun1.img") <(head -c 4096 /dev/zero) || fail "require_secure LUN was written in clear"

# The mailbox disk: the reserved region reads as zeros (a probe must not consume anything).
timeout 30 qemu-io -f raw -r "nbd+unix:///mailbox?socket=$DIR/hba0-mbox.sock" -c 'read -P 0 0 32k' \
  > "$DIR/qio4.out" 2>&1 || { cat "$DIR/qio4.out"; fail "mailbox reserved region"; }
grep -q "Pattern verification failed" "$DIR/qio4.out" && fail "mailbox LBA 0-63 not zero"

# Clean shutdown on SIGTERM.
edif_stop "$HPID"; RC=$?
[ "$RC" = 0 ] || fail "host exit code $RC after SIGTERM"
edif_stop "$TPID"; RC=$?
[ "$RC" = 0 ] || fail "target exit code $RC after SIGTERM"
[ -e "$DIR/hba0-mbox.sock" ] && fail "mailbox socket left behind"
echo "PASS"
