#!/bin/bash
# Hostile NBD clients against edifd host's LUN export (TCP on 127.0.0.1, the NbdServer every
# EDIF export uses): malformed handshakes (bad magic, flags, option lengths, huge and unknown
# options, non-UTF-8 and '#' export names), malformed requests (bad magic, out-of-range
# offsets/lengths, over-limit lengths, truncated payloads, unknown commands and flags), idle
# connection floods and byte-a-second clients from 127.0.0.2, many concurrent clients. After
# each attack qemu-io (a client we did not write) writes and reads a pattern through the export
# within 5 s and both daemons still run (tests/integration/edif_hostile_client.py). The
# negotiation attacks run again on the host port's mailbox disk (a Unix socket), and qemu-io
# must also read that disk's reserved region within 5 s.
# Usage: edif_nbd_hostile_test.sh EDIFD     Exit 77 when a tool is missing.
set -u
EDIFD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"
edif_require qemu-io timeout python3
EDIF_TIMEOUT=170
edif_test_init edif_nbd_hostile

truncate -s 16M "$DIR/lun0.img"
edif_target_config target 0x5000000000000001 0x020100
edif_target_lun target 0 "$DIR/lun0.img" false
edif_start_target target
TPID=$EDIF_LAST_PID
# A 5 s negotiation deadline instead of 10 s (lun_handshake_timeout_ms): the silent client
# waits for it; the byte-a-second clients still outlast the check under attack (2 s).
edif_host_config host "lun_listen = \"127.0.0.1:0\"
lun_port_file = \"$DIR/host-luns.port\"
lun_handshake_timeout_ms = 5000"
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$(edif_target_port target)" 0x5000000000000001 false
edif_start_host host array1-lun0
HPID=$EDIF_LAST_PID
[ -s "$DIR/host-luns.port" ] || fail "no LUN port file"
PORT=$(cat "$DIR/host-luns.port")

# The normal client: a fresh pattern per check, written and read back over TCP from 127.0.0.1.
cat > "$DIR/check.sh" <<CHECK
P=\$(( CHECK_N % 250 + 1 ))
OUT=\$(timeout 5 qemu-io -f raw "nbd://127.0.0.1:$PORT/array1-lun0" \
  -c "write -P \$P 1M 64k" -c "read -P \$P 1M 64k" 2>&1) || { echo "\$OUT"; exit 1; }
if grep -qiE "Pattern verification failed|error" <<< "\$OUT"; then echo "\$OUT"; exit 1; fi
OUT=\$(timeout 5 qemu-io -f raw -r "nbd+unix:///mailbox?socket=$DIR/hba0-mbox.sock" \
  -c "read -P 0 0 32k" 2>&1) || { echo "\$OUT"; exit 1; }
if grep -qiE "Pattern verification failed|error" <<< "\$OUT"; then echo "\$OUT"; exit 1; fi
CHECK

timeout 150 python3 "$HERE/edif_hostile_client.py" nbd --tcp "127.0.0.1:$PORT" \
  --export array1-lun0 --unix "$DIR/hba0-mbox.sock" --check "bash $DIR/check.sh" \
  --handshake-timeout 5 \
  --pid "$HPID" --pid "$TPID" \
  || fail "hostile NBD clients"

edif_sanitizer_clean "$DIR"/*.log || fail "sanitizer report"
edif_stop "$HPID"; RC=$?
[ "$RC" = 0 ] || fail "edifd host exit code $RC after SIGTERM"
echo "PASS"
