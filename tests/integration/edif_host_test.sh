#!/bin/bash
# edifd target + edifd host with a LUN that does not require security: qemu-io (a client we
# did not write) writes a pattern through the host's LUN export; the target's backing file
# must hold it; a read through the host must return it; SIGTERM stops both cleanly.
# Usage: edif_host_test.sh /path/to/edifd     Exit 77 when qemu-io is missing.
set -u
EDIFD=$1
command -v qemu-io >/dev/null || { echo "SKIP: qemu-io not installed"; exit 77; }
command -v timeout >/dev/null || { echo "SKIP: timeout not installed"; exit 77; }

DIR=$(mktemp -d /tmp/edif_host_test.XXXXXX)
TPID= ; HPID=
cleanup() {
  [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null
  sleep 0.3
  [ -n "$HPID" ] && kill -9 "$HPID" 2>/dev/null
  [ -n "$TPID" ] && kill -9 "$TPID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; echo "--- target log"; cat "$DIR/target.log"; echo "--- host log"; cat "$DIR/host.log"; exit 1; }

head -c 32 /dev/urandom | base64 > "$DIR/target.secret"
head -c 32 /dev/urandom | base64 > "$DIR/host.secret"
truncate -s 16M "$DIR/lun0.img"
truncate -s 1M "$DIR/lun1.img"

cat > "$DIR/target.toml" <<TOML
[target]
wwpn = "0x5000000000000001"
port_id = 0x020100
listen = "127.0.0.1:0"
port_file = "$DIR/target.port"
mailbox_socket = "$DIR/target-mbox.sock"
agent_secret_file = "$DIR/target.secret"
[[target.lun]]
id = 0
path = "$DIR/lun0.img"
require_secure = false
[[target.lun]]
id = 1
path = "$DIR/lun1.img"
require_secure = true
TOML

timeout 120 "$EDIFD" target --config "$DIR/target.toml" > "$DIR/target.out" 2> "$DIR/target.log" &
TPID=$!
for _ in $(seq 100); do [ -s "$DIR/target.port" ] && break; sleep 0.1; done
[ -s "$DIR/target.port" ] || fail "target did not start"
PORT=$(cat "$DIR/target.port")
grep -q "listening on 127.0.0.1:$PORT" "$DIR/target.out" || fail "target did not print its port"

cat > "$DIR/host.toml" <<TOML
[host]
lun_socket = "$DIR/luns.sock"
io_wait_timeout_ms = 1500
io_timeout_ms = 10000
reconnect_interval_ms = 200
[[host.port]]
name = "hba0"
wwpn = "0x2100000000000001"
port_id = 0x010100
mailbox_socket = "$DIR/hba0-mbox.sock"
agent_secret_file = "$DIR/host.secret"
[[host.port.target]]
name = "array1"
address = "127.0.0.1:$PORT"
wwpn = "0x5000000000000001"
require_secure = false
TOML

timeout 120 "$EDIFD" host --config "$DIR/host.toml" > "$DIR/host.out" 2> "$DIR/host.log" &
HPID=$!
for _ in $(seq 100); do grep -q "export array1-lun0" "$DIR/host.log" 2>/dev/null && break; sleep 0.1; done
grep -q "export array1-lun0" "$DIR/host.log" || fail "host did not export the LUN"
[ -S "$DIR/hba0-mbox.sock" ] || fail "no mailbox socket"
[ -S "$DIR/target-mbox.sock" ] || fail "no target mailbox socket"

URI="nbd+unix:///array1-lun0?socket=$DIR/luns.sock"
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
URI1="nbd+unix:///array1-lun1?socket=$DIR/luns.sock"
timeout 60 qemu-io -f raw "$URI1" -c 'write -P 0x77 0 4096' > "$DIR/qio3.out" 2>&1
grep -qi "error\|failed" "$DIR/qio3.out" || { cat "$DIR/qio3.out"; fail "require_secure LUN accepted I/O without agents"; }
grep -q "I/O to target array1 .*not online secure" "$DIR/host.log" || fail "no clear log line for the refused I/O"
cmp -s <(head -c 4096 "$DIR/lun1.img") <(head -c 4096 /dev/zero) || fail "require_secure LUN was written in clear"

# The mailbox disk: the reserved region reads as zeros (a probe must not consume anything).
timeout 30 qemu-io -f raw -r "nbd+unix:///mailbox?socket=$DIR/hba0-mbox.sock" -c 'read -P 0 0 32k' \
  > "$DIR/qio4.out" 2>&1 || { cat "$DIR/qio4.out"; fail "mailbox reserved region"; }
grep -q "Pattern verification failed" "$DIR/qio4.out" && fail "mailbox LBA 0-63 not zero"

# Clean shutdown on SIGTERM.
kill -TERM "$HPID"; wait "$HPID"; RC=$?; HPID=
[ "$RC" = 0 ] || fail "host exit code $RC after SIGTERM"
kill -TERM "$TPID"; wait "$TPID"; RC=$?; TPID=
[ "$RC" = 0 ] || fail "target exit code $RC after SIGTERM"
[ -e "$DIR/hba0-mbox.sock" ] && fail "mailbox socket left behind"
echo "PASS"
