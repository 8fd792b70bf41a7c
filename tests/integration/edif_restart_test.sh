#!/bin/bash
# EDIF driver restart with real processes: edifd target (LUN require_secure) + edifd host +
# two edif-agents; qemu-io writes and verifies a pattern; `edifd host` is killed with SIGKILL
# (no LOGO, no APP_STOP, stale sockets left behind) and started again with the same config.
# The host agent must notice (mailbox disk lost, reconnect), open a new epoch on the new
# driver, and authenticate the target again; the target agent accepts the new exchange; then
# qemu-io reads the old pattern back and writes and verifies a new one -- within a bounded wait.
# Done twice (two restarts in a row).
# Usage: edif_restart_test.sh EDIFD EDIF_AGENT     Exit 77 when a tool is missing.
set -u
EDIFD=$1
AGENT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"
edif_require qemu-io timeout openssl python3 pgrep
edif_test_init edif_restart
qio() {  # qio NAME qemu-io-commands...: fails the test on any error or pattern mismatch
  local name=$1; shift
  timeout 60 qemu-io -f raw "$URI" "$@" > "$DIR/$name.out" 2>&1 ||
    { cat "$DIR/$name.out"; fail "qemu-io $name"; }
  grep -qiE "Pattern verification failed|error" "$DIR/$name.out" && { cat "$DIR/$name.out"; fail "qemu-io $name"; }
  return 0
}
epoch() { sed -n 's/.*agent started on port .* epoch \([0-9]*\).*/\1/p' "$DIR/agent-h.log" | tail -1; }

edif_pki fabric host-agent:2100000000000001 target-agent:5000000000000001 || fail "openssl PKI"
truncate -s 16M "$DIR/lun0.img"
edif_target_config target 0x5000000000000001 0x020100
edif_target_lun target 0 "$DIR/lun0.img" true
edif_start_target target
edif_host_config host
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$(edif_target_port target)" 0x5000000000000001 true
edif_start_host host array1-lun0
HOST=$EDIF_LAST_PID
URI=$(edif_lun_uri host array1-lun0)

edif_start_agents target hba0
qio w0 -c 'write -P 0x61 0 1M' -c flush -c 'read -P 0x61 0 1M'

for round in 1 2; do
  old_epoch=$(epoch)
  n_h=$(edif_count "$DIR/agent-h.log" "authenticated")
  n_t=$(edif_count "$DIR/agent-t.log" "authenticated")
  edif_kill9 "$HOST"
  [ -S "$DIR/hba0-mbox.sock" ] || fail "expected the killed driver's stale mailbox socket"
  START=$(date +%s%N)
  edif_start_host host array1-lun0
  HOST=$EDIF_LAST_PID
  # Bounded: the agent retries the mailbox every second, the handshake takes milliseconds.
  for _ in $(seq 300); do
    [ "$(edif_count "$DIR/agent-h.log" "authenticated")" -gt "$n_h" ] &&
      [ "$(edif_count "$DIR/agent-t.log" "authenticated")" -gt "$n_t" ] && break
    sleep 0.1
  done
  [ "$(edif_count "$DIR/agent-h.log" "authenticated")" -gt "$n_h" ] ||
    fail "round $round: host agent did not re-authenticate within 30 s of the driver restart"
  [ "$(edif_count "$DIR/agent-t.log" "authenticated")" -gt "$n_t" ] ||
    fail "round $round: target agent did not accept the new exchange"
  new_epoch=$(epoch)
  [ -n "$new_epoch" ] && [ "$new_epoch" != "$old_epoch" ] ||
    fail "round $round: no new epoch (before $old_epoch, after $new_epoch)"
  echo "round $round: re-authenticated $(( ($(date +%s%N) - START) / 1000000 )) ms after the restart (epoch $old_epoch -> $new_epoch)"
  p=$(printf '0x%02x' $((0x61 + round)))
  qio "r$round" -c 'read -P 0x61 0 1M' -c "write -P $p 4M 2M" -c flush -c "read -P $p 4M 2M"
done
grep -q "mailbox disk lost\|EPOCH_RESET" "$DIR/agent-h.log" || fail "the agent never noticed the restart"
python3 - "$DIR/lun0.img" <<'PY' || fail "the LUN does not hold the patterns"
import sys
d = open(sys.argv[1], 'rb').read()
assert d[:1 << 20] == b'\x61' * (1 << 20)
assert d[4 << 20:6 << 20] == b'\x63' * (2 << 20)
PY
edif_sanitizer_clean "$DIR"/*.log || fail "sanitizer report"
echo "PASS"
