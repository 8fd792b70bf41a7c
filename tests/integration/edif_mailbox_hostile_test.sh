#!/bin/bash
# Hostile writers and readers on a mailbox disk of a live edifd host, while its agent runs:
# malformed records (bad magic, version, header size, CRC, truncated, oversized, unknown and
# upstream types, bad flags, non-zero padding), non-UTF-8 and '#' app ids in APP_START,
# forged PROVEs, out-of-order and replayed sequence numbers in the live epoch, misaligned and
# reserved-LBA I/O, record floods from 4 connections, a flood of parked READs from a client
# that then leaves, idle and half-open clients (tests/integration/edif_hostile_client.py).
# After each attack: qemu-io writes and reads a pattern on a require_secure LUN (the running
# agents' SAs), then the host agent is killed (-9) and a new one authenticates (APP_START +
# TLS key exchange + SA_UPDATE) within 5 s and qemu-io works again; every daemon still runs.
# Usage: edif_mailbox_hostile_test.sh EDIFD EDIF_AGENT     Exit 77 when a tool is missing.
set -u
EDIFD=$1
AGENT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"
edif_require qemu-io timeout openssl python3 pgrep
EDIF_TIMEOUT=170
edif_test_init edif_mailbox_hostile
stop_checked_agent() {  # the host agent started by check.sh (not in EDIF_PIDS)
  local p
  p=$(cat "$DIR/agent-h.pid" 2>/dev/null) || return 0
  pkill -9 -P "$p" 2>/dev/null
  kill -9 "$p" 2>/dev/null
  return 0
}
trap 'stop_checked_agent; edif_test_cleanup' EXIT

edif_pki fabric host-agent:2100000000000001 target-agent:5000000000000001 || fail "openssl PKI"
truncate -s 16M "$DIR/lun0.img"
edif_target_config target 0x5000000000000001 0x020100
edif_target_lun target 0 "$DIR/lun0.img" true
edif_start_target target
TPID=$EDIF_LAST_PID
edif_host_config host
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$(edif_target_port target)" 0x5000000000000001 true
edif_start_host host array1-lun0
HPID=$EDIF_LAST_PID
edif_start_agents target hba0
TAGENT=${EDIF_PIDS[-2]}
echo "$EDIF_HOST_AGENT" > "$DIR/agent-h.pid"
unset 'EDIF_PIDS[-1]'  # from here on check.sh owns the host agent
URI=$(edif_lun_uri host array1-lun0)

cat > "$DIR/check.sh" <<CHECK
set -u
DIR=$DIR AGENT=$AGENT
. "$HERE/lib/edifd.sh"
fail() { echo "\$*"; tail -20 "\$DIR/host.log"; exit 1; }
qio() {  # a fresh pattern on the require_secure LUN, within 5 s
  local p=\$(( (CHECK_N * 2 + \$1) % 250 + 1 )) out
  out=\$(timeout 5 qemu-io -f raw "$URI" -c "write -P \$p 2M 64k" -c "read -P \$p 2M 64k" 2>&1) \
    || fail "qemu-io: \$out"
  grep -qiE "Pattern verification failed|error" <<< "\$out" && fail "qemu-io: \$out"
  return 0
}
qio 0
old=\$(cat "\$DIR/agent-h.pid")
pkill -9 -P "\$old"; kill -9 "\$old" 2>/dev/null
EDIF_TIMEOUT=170 edif_start_agent "agent-h\$CHECK_N" hba0 initiator host-agent
echo "\$EDIF_LAST_PID" > "\$DIR/agent-h.pid"
edif_wait_log 5 "\$DIR/agent-h\$CHECK_N.log" "authenticated" ||
  fail "a new host agent did not authenticate within 5 s: \$(tail -5 "\$DIR/agent-h\$CHECK_N.log")"
qio 1
CHECK

timeout 150 python3 "$HERE/edif_hostile_client.py" mailbox --socket "$DIR/hba0-mbox.sock" \
  --check "bash $DIR/check.sh" --pid "$HPID" --pid "$TPID" --pid "$TAGENT" \
  || fail "hostile mailbox clients"

edif_sanitizer_clean "$DIR"/*.log || fail "sanitizer report"
edif_stop "$HPID"; RC=$?
[ "$RC" = 0 ] || fail "edifd host exit code $RC after SIGTERM"
echo "PASS"
