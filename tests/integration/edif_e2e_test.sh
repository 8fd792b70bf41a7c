#!/bin/bash
# EDIF end to end: edifd target (LUN require_secure) + edifd host + two edif-agents on
# loopback; the fabric runs through a relay that records every byte.
#  1. without agents, guest I/O to the secure target fails (bounded wait, clear error);
#  2. with agents (mutual X.509 from a test CA), qemu-io writes and verifies a pattern;
#  3. the recorded fabric bytes do not contain the plaintext pattern;
#  4. kill -9 of the host agent, restart: the session recovers and I/O continues.
# Usage: edif_e2e_test.sh EDIFD EDIF_AGENT     Exit 77 when a tool is missing.
set -u
EDIFD=$1
AGENT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"
edif_require qemu-io timeout openssl python3 pgrep
DIR=$(mktemp -d /tmp/edif_e2e.XXXXXX)
RELAY=
cleanup() {
  edif_cleanup
  [ -n "$RELAY" ] && { kill "$RELAY" 2>/dev/null; wait "$RELAY" 2>/dev/null; }
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
fail() {
  echo "FAIL: $*"
  for f in target host agent-t agent-h agent-h2; do
    [ -f "$DIR/$f.log" ] && { echo "--- $f.log"; tail -40 "$DIR/$f.log"; }
  done
  exit 1
}

# A test CA and two agent certificates (EC P-256).
edif_pki fabric host-agent:2100000000000001 target-agent:5000000000000001 || fail "openssl PKI"
truncate -s 16M "$DIR/lun0.img"

edif_target_config target 0x5000000000000001 0x020100
edif_target_lun target 0 "$DIR/lun0.img" true
edif_start_target target

timeout 250 python3 "$HERE/edif_e2e_fabric_relay.py" "$(edif_target_port target)" \
  "$DIR/relay.port" "$DIR/fabric.bin" 2> "$DIR/relay.log" &
RELAY=$!
for _ in $(seq 100); do [ -s "$DIR/relay.port" ] && break; sleep 0.1; done
[ -s "$DIR/relay.port" ] || fail "relay did not start"

edif_host_config host
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$(cat "$DIR/relay.port")" 0x5000000000000001 true
edif_start_host host array1-lun0
URI=$(edif_lun_uri host array1-lun0)

# 1. No agents: the secure target refuses I/O (after the bounded wait).
if timeout 60 qemu-io -f raw "$URI" -c 'write -P 0x11 0 4096' > "$DIR/qio0.out" 2>&1 \
   && ! grep -qi "error" "$DIR/qio0.out"; then
  fail "I/O to a require_secure target succeeded without agents"
fi

# 2. Agents on both mailbox disks.
edif_start_agents target hba0
HOST_AGENT=$EDIF_HOST_AGENT

timeout 60 qemu-io -f raw "$URI" -c 'write -P 0xa5 1M 2M' -c flush > "$DIR/qio1.out" 2>&1 \
  || { cat "$DIR/qio1.out"; fail "qemu-io write over the secure link"; }
grep -qi "error" "$DIR/qio1.out" && { cat "$DIR/qio1.out"; fail "qemu-io write error"; }
timeout 60 qemu-io -f raw -r "$URI" -c 'read -P 0xa5 1M 2M' > "$DIR/qio2.out" 2>&1 \
  || { cat "$DIR/qio2.out"; fail "qemu-io read back"; }
grep -qiE "Pattern verification failed|error" "$DIR/qio2.out" && fail "pattern mismatch"

# 3. The fabric carried ciphertext only.
check_fabric() {  # check_fabric BYTE
  python3 - "$DIR/fabric.bin" "$1" "$DIR/lun0.img" <<'PY'
import sys
cap = open(sys.argv[1], 'rb').read()
b = int(sys.argv[2], 16)
lun = open(sys.argv[3], 'rb').read()
assert len(cap) > 2 * 1024 * 1024, "only %d bytes captured" % len(cap)
assert bytes([b]) * 64 not in cap, "plaintext pattern 0x%02x found on the fabric" % b
assert bytes([b]) * 4096 in lun, "the LUN does not hold the pattern"
PY
}
check_fabric a5 || fail "fabric check"

# 4. kill -9 the host agent, start a new one: sessions recover, I/O continues.
# (HOST_AGENT is the `timeout` wrapper: kill its child, the agent itself.)
edif_kill9 "$HOST_AGENT"
edif_start_agent agent-h2 hba0 initiator host-agent
edif_wait_log 60 "$DIR/agent-h2.log" "authenticated" || fail "restarted host agent did not authenticate"
timeout 60 qemu-io -f raw "$URI" -c 'write -P 0x5a 4M 1M' -c 'read -P 0x5a 4M 1M' \
  -c 'read -P 0xa5 1M 2M' > "$DIR/qio3.out" 2>&1 || { cat "$DIR/qio3.out"; fail "I/O after agent restart"; }
grep -qiE "Pattern verification failed|error" "$DIR/qio3.out" && { cat "$DIR/qio3.out"; fail "I/O after agent restart"; }
check_fabric 5a || fail "fabric check after restart"

echo "PASS"
