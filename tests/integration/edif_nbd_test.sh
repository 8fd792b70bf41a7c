#!/usr/bin/env bash
# Drives our NBD server (nbd_test_server) with clients we did not write: qemu-io, qemu-img,
# nbdinfo, nbdcopy (and nbdsh if present). Exits 77 (skipped) when a tool is missing.
#
# Usage: edif_nbd_test.sh PATH/TO/nbd_test_server
set -euo pipefail

SERVER_BIN=${1:?usage: edif_nbd_test.sh PATH/TO/nbd_test_server}
for tool in qemu-io qemu-img nbdinfo nbdcopy timeout cmp; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool not installed (apt-get install qemu-utils libnbd-bin)"
    exit 77
  fi
done

WORK=$(mktemp -d /tmp/cafs-edif-nbd-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_server NAME ARGS...: starts nbd_test_server, waits for its "ready" line.
start_server() {
  local name=$1
  shift
  "$SERVER_BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if grep -q '^ready' "$WORK/$name.out" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: $name did not start"; cat "$WORK/$name.err"; exit 1
}

step() { echo "--- $*"; }

# 1. A 64 MiB file export on a Unix socket.
truncate -s 64M "$WORK/disk.img"
SOCK="$WORK/nbd.sock"
start_server file --unix "$SOCK" --file "$WORK/disk.img" --name disk
URI="nbd+unix:///disk?socket=$SOCK"

step "qemu-io write and verify a pattern"
timeout 60 qemu-io -f raw "$URI" -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' \
  -c 'write -P 0x5c 10M 3M' -c 'read -P 0x5c 10M 3M' -c 'flush' \
  -c 'write -z 10M 64k' -c 'read -P 0 10M 64k' -c 'discard 20M 1M' >"$WORK/qemu-io.log"
if grep -q -i 'fail\|error\|Pattern verification' "$WORK/qemu-io.log"; then
  cat "$WORK/qemu-io.log"; echo "FAIL: qemu-io"; exit 1
fi
# The bytes really are in the file.
cmp -n 1048576 "$WORK/disk.img" <(head -c 1048576 /dev/zero | tr '\0' '\253') \
  || { echo "FAIL: file does not hold qemu-io's pattern"; exit 1; }

step "qemu-io aio: many requests in flight"
timeout 60 qemu-io -f raw "$URI" -c 'aio_write -P 0x11 0 64k' -c 'aio_write -P 0x22 64k 64k' \
  -c 'aio_write -P 0x33 128k 64k' -c 'aio_flush' -c 'read -P 0x22 64k 64k' >"$WORK/aio.log"
grep -q -i 'fail\|error' "$WORK/aio.log" && { cat "$WORK/aio.log"; exit 1; }

step "nbdinfo --list"
timeout 30 nbdinfo --list "nbd+unix:///?socket=$SOCK" >"$WORK/list.txt"
grep -q 'export="disk"' "$WORK/list.txt" || { cat "$WORK/list.txt"; echo "FAIL: nbdinfo --list"; exit 1; }
timeout 30 nbdinfo --size "$URI" | grep -qx 67108864 || { echo "FAIL: nbdinfo --size"; exit 1; }

step "nbdcopy a random 8 MiB file in and out"
head -c 8388608 /dev/urandom >"$WORK/random.bin"
timeout 60 nbdcopy "$WORK/random.bin" "$URI"
timeout 60 nbdcopy "$URI" "$WORK/back.bin"
cmp -n 8388608 "$WORK/random.bin" "$WORK/back.bin" || { echo "FAIL: nbdcopy round trip"; exit 1; }

step "qemu-img convert to and from the export, and compare"
head -c 4194304 /dev/urandom >"$WORK/src.raw"
timeout 60 qemu-img convert -n -f raw -O raw "$WORK/src.raw" "$URI"
timeout 60 qemu-img convert -f raw -O raw "$URI" "$WORK/out.raw"
cmp -n 4194304 "$WORK/src.raw" "$WORK/out.raw" || { echo "FAIL: qemu-img convert round trip"; exit 1; }
timeout 60 qemu-img compare -f raw -F raw "$WORK/disk.img" "$URI" >/dev/null \
  || { echo "FAIL: qemu-img compare export vs backing file"; exit 1; }

step "a missing export is refused"
if timeout 30 qemu-io -f raw "nbd+unix:///nope?socket=$SOCK" -c 'read 0 512' >/dev/null 2>&1; then
  echo "FAIL: qemu-io opened a missing export"; exit 1
fi

# 2. A read-only memory export over TCP with an ephemeral port and 512-byte blocks.
start_server tcp --tcp 127.0.0.1 --memory 16777216 --name ro --read-only --block-size 512
PORT=$(sed -n 's/^ready tcp:127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/tcp.out")
TURI="nbd://127.0.0.1:$PORT/ro"
step "TCP read-only export on port $PORT"
timeout 30 nbdinfo "$TURI" >"$WORK/info.txt"
grep -q 'read_only: true' "$WORK/info.txt" || { cat "$WORK/info.txt"; echo "FAIL: read-only flag"; exit 1; }
grep -q 'block_size_minimum: 512' "$WORK/info.txt" || { cat "$WORK/info.txt"; echo "FAIL: block size"; exit 1; }
timeout 30 qemu-io -f raw -r "$TURI" -c 'read -P 0 0 1M' >"$WORK/ro.log"
grep -q -i 'fail\|error' "$WORK/ro.log" && { cat "$WORK/ro.log"; exit 1; }
if timeout 30 qemu-io -f raw "$TURI" -c 'write -P 1 0 4k' 2>&1 | grep -q 'wrote'; then
  echo "FAIL: a write to a read-only export succeeded"; exit 1
fi

if command -v nbdsh >/dev/null 2>&1; then
  step "nbdsh: out-of-range read gets an error, connection survives"
  timeout 30 nbdsh -u "$URI" -c '
import errno
try:
    h.pread(512, h.get_size())
    raise SystemExit("read beyond the end succeeded")
except nbd.Error as e:
    assert e.errno == errno.EINVAL, e
assert len(h.pread(512, 0)) == 512
'
fi

# Servers are still alive after all of it.
for pid in "${PIDS[@]}"; do kill -0 "$pid" || { echo "FAIL: a server died"; exit 1; }; done
echo "PASS"
