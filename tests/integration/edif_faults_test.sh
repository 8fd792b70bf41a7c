#!/bin/bash
# EDIF fault: the target is lost mid-I/O. edifd target + edifd host as real processes (no
# agents; a clear LUN), qemu-img bench writing through the host's LUN export:
#  1. kill -9 of the target process while the writes run: the client gets an I/O error within
#     a bounded time (outstanding requests fail at once, not after io_timeout), the host keeps
#     running and logs the loss;
#  2. while the target is down, new I/O fails after the bounded wait (io_wait_timeout);
#  3. the target restarts on the same fabric address: the host logs in again by itself and
#     qemu-io writes and verifies data; what was written before the crash (on a second LUN of
#     the target, away from the bench's writes) is still there.
#  4. agent absent: a second target with a require_secure LUN is given up after
#     auth_timeout_ms (log line naming it), and qemu-io's write to it fails at once.
#  5. (with EDIF_AGENT) wrong certificate name: the vault's agent presents a certificate of the
#     fabric CA that names another WWPN; the host agent refuses it (log line naming both WWPNs,
#     AUTH_RESULT FAIL), the LUN stays offline; with the right certificate the agents
#     authenticate and qemu-io writes and verifies on the secure LUN.
# Usage: edif_faults_test.sh EDIFD [EDIF_AGENT]     Exit 77 when a tool is missing.
set -u
EDIFD=$1   # used by lib/edifd.sh
AGENT=${2:-}
export EDIFD AGENT
HERE=$(cd "$(dirname "$0")" && pwd)
for t in qemu-io qemu-img timeout python3 pgrep openssl cmp; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
# shellcheck source=lib/edifd.sh
. "$HERE/lib/edifd.sh"

DIR=$(mktemp -d /tmp/edif_faults.XXXXXX)
BENCH_PID=
cleanup() {
  [ -n "$BENCH_PID" ] && kill -9 "$BENCH_PID" 2>/dev/null
  edif_cleanup
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
fail() {
  echo "FAIL: $*"
  for f in target host bench qio-down qio-after agent-h agent-v; do
    [ -f "$DIR/$f.log" ] && { echo "--- $f.log"; tail -30 "$DIR/$f.log"; }
  done
  exit 1
}

# A fixed fabric address, so the restarted target is where the host looks for it.
FPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
truncate -s 256M "$DIR/lun0.img"
truncate -s 16M "$DIR/lun1.img"
edif_target_config target 0x5000000000000001 0x020100
sed -i "s/^listen = .*/listen = \"127.0.0.1:$FPORT\"/" "$DIR/target.toml"
edif_target_lun target 0 "$DIR/lun0.img" false
edif_target_lun target 1 "$DIR/lun1.img" false
edif_start_target target
TARGET=$EDIF_LAST_PID
[ "$(edif_target_port target)" = "$FPORT" ] || fail "target is not on port $FPORT"
truncate -s 16M "$DIR/secure0.img"
edif_target_config secure 0x5000000000000002 0x020200
edif_target_lun secure 0 "$DIR/secure0.img" true
edif_start_target secure

edif_host_config host "io_wait_timeout_ms = 3000
io_timeout_ms = 60000
auth_timeout_ms = 1500"
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$FPORT" 0x5000000000000001 false
edif_host_target host vault "$(edif_target_port secure)" 0x5000000000000002 true
edif_start_host host array1-lun0 array1-lun1 vault-lun0
HOST=$EDIF_LAST_PID
URI=$(edif_lun_uri host array1-lun0)
URI1=$(edif_lun_uri host array1-lun1)

# Data that must survive the crash.
timeout 60 qemu-io -f raw "$URI1" -c 'write -P 0x3c 0 1M' -c flush > "$DIR/qio-before.log" 2>&1 \
  || fail "qemu-io write before the crash"
grep -qi "error" "$DIR/qio-before.log" && fail "qemu-io write before the crash"

# 1. Sustained writes (16 in flight), then the target dies under them.
timeout 120 qemu-img bench -w -f raw -c 100000000 -d 16 -s 64k -S 64k "$URI" \
  > "$DIR/bench.log" 2>&1 &
BENCH_PID=$!
sleep 1.5
kill -0 "$BENCH_PID" 2>/dev/null || fail "qemu-img bench ended before the crash"
edif_kill9 "$TARGET"
start=$(date +%s.%N)
for _ in $(seq 200); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$BENCH_PID" 2>/dev/null && fail "the client still hangs 20 s after the target died"
wait "$BENCH_PID"
rc=$?
BENCH_PID=
elapsed=$(python3 -c "import time;print(round(time.time()-$start,1))")
[ "$rc" != 0 ] || fail "qemu-img bench succeeded although the target died"
grep -qiE "error|failed" "$DIR/bench.log" || fail "qemu-img bench reported no error"
echo "client error ${elapsed}s after kill -9 of the target: $(grep -iE 'error|failed' "$DIR/bench.log" | head -1)"
edif_wait_log 10 "$DIR/host.log" "target array1 lost" || fail "host did not log the loss"
grep -E "target array1 lost" "$DIR/host.log" | head -1
kill -0 "$HOST" 2>/dev/null || fail "edifd host died with its target"

# 2. Target down: new I/O fails after the bounded wait (3 s), with an error.
if timeout 30 qemu-io -f raw "$URI" -c 'write -P 0x77 2M 4k' > "$DIR/qio-down.log" 2>&1 \
   && ! grep -qi "error" "$DIR/qio-down.log"; then
  fail "I/O succeeded while the target was down"
fi
edif_wait_log 10 "$DIR/host.log" "failed: not logged in after 3000 ms" \
  || fail "host did not log the bounded wait"

# 3. The target comes back on the same address: the host logs in again, I/O works.
edif_start_target target
edif_wait_log_from 15 "$DIR/host.log" "$(grep -n 'target array1 lost' "$DIR/host.log" | head -1 | cut -d: -f1)" \
  "logged in to target array1" || fail "host did not log in again"
timeout 60 qemu-io -f raw "$URI" -c 'write -P 0xa7 4M 1M' -c flush > "$DIR/qio-after.log" 2>&1 \
  || fail "qemu-io write after the restart"
grep -qi "error" "$DIR/qio-after.log" && fail "qemu-io write after the restart"
verify() {  # verify URI QEMU_IO_COMMAND
  timeout 60 qemu-io -f raw -r "$1" -c "$2" > "$DIR/qio-verify.log" 2>&1 \
    || { cat "$DIR/qio-verify.log"; fail "qemu-io $2 on $1"; }
  grep -qiE "Pattern verification failed|error" "$DIR/qio-verify.log" && {
    cat "$DIR/qio-verify.log"; fail "data lost or wrong after the restart ($2)"; }
}
verify "$URI" 'read -P 0xa7 4M 1M'
verify "$URI1" 'read -P 0x3c 0 1M'   # written before the crash
# 4. No agent for the require_secure target: authentication given up after auth_timeout_ms.
edif_wait_log 10 "$DIR/host.log" \
  "target vault .*authentication not completed within 1500 ms \(no agent started on this port\)" \
  || fail "host did not give the authentication of vault up"
if timeout 30 qemu-io -f raw "$(edif_lun_uri host vault-lun0)" -c 'write -P 0x11 0 4k' \
   > "$DIR/qio-vault.log" 2>&1 && ! grep -qi "error" "$DIR/qio-vault.log"; then
  fail "I/O to a require_secure target without agents succeeded"
fi
edif_wait_log 5 "$DIR/host.log" "I/O to target vault refused: authentication not completed" \
  || fail "no log line for the refused I/O"
cmp -s "$DIR/secure0.img" <(head -c 16M /dev/zero) || fail "the secure LUN was written"
# 5. Certificates must name the port's WWPN.
if [ -n "$AGENT" ]; then
  edif_pki fabric host-agent:2100000000000001 vault-agent:5000000000000002 \
    impostor:5000000000000bad || fail "openssl PKI"
  edif_start_agent agent-v secure target impostor
  IMPOSTOR=$EDIF_LAST_PID
  edif_start_agent agent-h hba0 initiator host-agent
  edif_wait_log 30 "$DIR/agent-h.log" \
    "failed: .*peer certificate names WWPN 5000000000000bad, but the peer port is 5000000000000002" \
    || fail "the host agent did not refuse the certificate naming another WWPN"
  grep -m1 "peer certificate names WWPN" "$DIR/agent-h.log"
  edif_wait_log 10 "$DIR/host.log" "authentication of target vault failed" \
    || fail "no AUTH_RESULT FAIL at the host"
  grep -q "target .* authenticated" "$DIR/agent-h.log" && fail "authenticated with the impostor"
  if timeout 30 qemu-io -f raw "$(edif_lun_uri host vault-lun0)" -c 'write -P 0x22 0 4k' \
     > "$DIR/qio-impostor.log" 2>&1 && ! grep -qi "error" "$DIR/qio-impostor.log"; then
    fail "I/O to the secure LUN succeeded with an impostor certificate"
  fi
  cmp -s "$DIR/secure0.img" <(head -c 16M /dev/zero) || fail "the secure LUN was written"
  # The right certificate: the host agent's retry authenticates, the LUN comes online.
  edif_stop "$IMPOSTOR"
  edif_start_agent agent-v secure target vault-agent
  edif_wait_log 40 "$DIR/agent-h.log" "target 5000000000000002 authenticated" \
    || fail "no authentication with the right certificate"
  grep -m1 "target 5000000000000002 authenticated" "$DIR/agent-h.log"
  timeout 60 qemu-io -f raw "$(edif_lun_uri host vault-lun0)" -c 'write -P 0x5e 0 64k' \
    -c 'read -P 0x5e 0 64k' > "$DIR/qio-vault2.log" 2>&1 || fail "qemu-io on the secure LUN"
  grep -qiE "Pattern verification failed|error" "$DIR/qio-vault2.log" && {
    cat "$DIR/qio-vault2.log"; fail "qemu-io on the secure LUN after authentication"; }
fi
edif_sanitizer_clean "$DIR"/*.log || fail "sanitizer report"
echo "PASS"
