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
for t in qemu-io timeout openssl python3 pgrep; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done

DIR=$(mktemp -d /tmp/edif_e2e.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
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
wait_for() {  # wait_for SECONDS FILE PATTERN
  local n=$(( $1 * 10 ))
  for _ in $(seq $n); do grep -q "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- a test CA and two agent certificates (EC P-256), plus a rogue CA
mkpki() {  # mkpki NAME LEAF...
  local ca=$1; shift
  timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$ca CA" -keyout "$DIR/$ca-ca.key" -out "$DIR/$ca-ca.pem" 2>/dev/null || return 1
  for leaf in "$@"; do
    timeout 30 openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$leaf" \
      -keyout "$DIR/$leaf.key" -out "$DIR/$leaf.csr" 2>/dev/null || return 1
    timeout 30 openssl x509 -req -in "$DIR/$leaf.csr" -CA "$DIR/$ca-ca.pem" -CAkey "$DIR/$ca-ca.key" \
      -CAcreateserial -days 2 -out "$DIR/$leaf.crt" 2>/dev/null || return 1
  done
}
mkpki fabric host-agent target-agent || fail "openssl PKI"

head -c 32 /dev/urandom | base64 > "$DIR/target.secret"
head -c 32 /dev/urandom | base64 > "$DIR/host.secret"
truncate -s 16M "$DIR/lun0.img"

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
require_secure = true
TOML
timeout 250 "$EDIFD" target --config "$DIR/target.toml" > "$DIR/target.out" 2> "$DIR/target.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$DIR/target.port" ] && break; sleep 0.1; done
[ -s "$DIR/target.port" ] || fail "target did not start"

timeout 250 python3 "$HERE/edif_e2e_fabric_relay.py" "$(cat "$DIR/target.port")" \
  "$DIR/relay.port" "$DIR/fabric.bin" 2> "$DIR/relay.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$DIR/relay.port" ] && break; sleep 0.1; done
[ -s "$DIR/relay.port" ] || fail "relay did not start"

cat > "$DIR/host.toml" <<TOML
[host]
lun_socket = "$DIR/luns.sock"
io_wait_timeout_ms = 3000
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
address = "127.0.0.1:$(cat "$DIR/relay.port")"
wwpn = "0x5000000000000001"
require_secure = true
TOML
timeout 250 "$EDIFD" host --config "$DIR/host.toml" > "$DIR/host.out" 2> "$DIR/host.log" &
PIDS+=($!)
wait_for 10 "$DIR/host.log" "export array1-lun0" || fail "host did not export the LUN"
URI="nbd+unix:///array1-lun0?socket=$DIR/luns.sock"

# 1. No agents: the secure target refuses I/O (after the bounded wait).
if timeout 60 qemu-io -f raw "$URI" -c 'write -P 0x11 0 4096' > "$DIR/qio0.out" 2>&1 \
   && ! grep -qi "error" "$DIR/qio0.out"; then
  fail "I/O to a require_secure target succeeded without agents"
fi

# 2. Agents on both mailbox disks.
start_agent() {  # start_agent LOG SOCKET SECRET ROLE LEAF
  timeout 250 "$AGENT" --mailbox "nbd+unix:///mailbox?socket=$2" --secret-file "$3" \
    --role "$4" --ca "$DIR/fabric-ca.pem" --cert "$DIR/$5.crt" --key "$DIR/$5.key" \
    > /dev/null 2> "$1" &
  PIDS+=($!)
  LAST_PID=$!
}
start_agent "$DIR/agent-t.log" "$DIR/target-mbox.sock" "$DIR/target.secret" target target-agent
start_agent "$DIR/agent-h.log" "$DIR/hba0-mbox.sock" "$DIR/host.secret" initiator host-agent
HOST_AGENT=$LAST_PID
wait_for 30 "$DIR/agent-h.log" "authenticated" || fail "host agent did not authenticate"
wait_for 10 "$DIR/agent-t.log" "authenticated" || fail "target agent did not authenticate"

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
AGENT_PID=$(pgrep -P "$HOST_AGENT")
[ -n "$AGENT_PID" ] || fail "host agent process not found"
kill -9 "$AGENT_PID"
start_agent "$DIR/agent-h2.log" "$DIR/hba0-mbox.sock" "$DIR/host.secret" initiator host-agent
wait_for 60 "$DIR/agent-h2.log" "authenticated" || fail "restarted host agent did not authenticate"
timeout 60 qemu-io -f raw "$URI" -c 'write -P 0x5a 4M 1M' -c 'read -P 0x5a 4M 1M' \
  -c 'read -P 0xa5 1M 2M' > "$DIR/qio3.out" 2>&1 || { cat "$DIR/qio3.out"; fail "I/O after agent restart"; }
grep -qiE "Pattern verification failed|error" "$DIR/qio3.out" && { cat "$DIR/qio3.out"; fail "I/O after agent restart"; }
check_fabric 5a || fail "fabric check after restart"

# Clean stops.
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
echo "PASS"
