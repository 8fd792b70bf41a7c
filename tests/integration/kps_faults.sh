#!/usr/bin/env bash
# Faults of kpsd (issue 4 "Bad input and faults"), driven by cafsctl and curl:
#  1. kill -9 of kpsd in the middle of a burst of writes (cafsctl and curl loops in parallel)
#     -> restart -> every acknowledged object is there, the audit chain verifies, SQLite's
#     integrity_check is ok.
#  2. read-only data dir at start -> kpsd refuses to start and says why; nothing changed.
#  3. full disk during writes -> the write is refused with a clear error (HTTP 507), nothing
#     acknowledged is lost, the store stays consistent; after space is freed writes work.
#  4. full disk at start -> kpsd starts (reads work) or refuses clearly; nothing corrupted.
# Parts 2-4 need a small tmpfs (root, mount permitted); without it they are skipped and the
# script exits 77 after part 1 passed.
# Usage: kps_faults.sh KPSD CAFSCTL
set -euo pipefail
KPSD=${1:?usage: kps_faults.sh KPSD CAFSCTL}
CTL=${2:?usage: kps_faults.sh KPSD CAFSCTL}
for tool in curl python3 timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kps-faults-XXXXXX")
PID=""
LOOPS=()
MNT=""
cleanup() {
  for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  if [ -n "$MNT" ] && mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/kpsd.log" ] && cat "$WORK/kpsd.log" >&2; exit 1; }

# shellcheck source=lib/kpsd.sh
source "$(dirname "$0")/lib/kpsd.sh"
integrity() {  # integrity DB: SQLite's own check
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute("pragma integrity_check").fetchall(); sys.exit(r!=[("ok",)])' "$1"
}
# consistent DATA ACKED_FILE...: kpsd is up on DATA; every acknowledged object is there and
# the audit chain verifies.
consistent() {
  local data=$1; shift
  "$CTL" --cert "$data/admin.pem" --json server list >"$WORK/servers.json" || fail "server list"
  "$CTL" --cert "$data/admin.pem" --json vmset list >"$WORK/vmsets.json" || fail "vmset list"
  python3 - "$WORK/servers.json" "$WORK/vmsets.json" "$@" <<'PY' || fail "acknowledged objects missing"
import json, sys
have = {s["id"] for s in json.load(open(sys.argv[1]))} | {v["name"] for v in json.load(open(sys.argv[2]))}
acked = set()
for f in sys.argv[3:]:
    acked |= {l.strip() for l in open(f) if l.strip()}
missing = sorted(acked - have)
assert not missing, ("missing", missing[:10], len(missing))
print(f"{len(acked)} acknowledged objects present ({len(have)} stored)")
PY
  "$CTL" --cert "$data/admin.pem" audit verify >/dev/null || fail "audit chain does not verify"
}

# ---- 1. kill -9 in the middle of a burst of writes -----------------------------------------
DATA=$WORK/data
"$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
start_kpsd "$DATA"
: >"$WORK/acked_ctl"
: >"$WORK/acked_curl"
(
  for i in $(seq 1 100000); do
    if "$CTL" --cert "$DATA/admin.pem" server add "srv$i" >/dev/null 2>&1; then
      echo "srv$i" >>"$WORK/acked_ctl"
    elif [ -f "$WORK/stop" ]; then break; fi
  done
) &
LOOPS+=($!)
(
  for i in $(seq 1 100000); do
    code=$(curl -s --max-time 10 --cert "$DATA/admin.pem" --key "$DATA/admin.pem" --cacert "$DATA/ca.crt" \
      -H 'Content-Type: application/json' --data-binary "{\"name\":\"vs$i\",\"mount_point\":\"/nfs\"}" \
      -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/v1/vmsets" || true)
    if [ "$code" = 201 ]; then echo "vs$i" >>"$WORK/acked_curl"; else [ -f "$WORK/stop" ] && break; fi
  done
) &
LOOPS+=($!)
for _ in $(seq 200); do  # until both loops have written something (at most 20 s)
  [ -s "$WORK/acked_ctl" ] && [ -s "$WORK/acked_curl" ] && break
  sleep 0.1
done
sleep 1
KPID=$(pgrep -P "$PID")  # kpsd itself, the child of `timeout`
[ -n "$KPID" ] || fail "no kpsd process under timeout $PID"
kill -9 "$KPID"
wait "$PID" 2>/dev/null || true
PID=""
touch "$WORK/stop"
for p in "${LOOPS[@]}"; do wait "$p" || true; done
LOOPS=()
[ -s "$WORK/acked_ctl" ] && [ -s "$WORK/acked_curl" ] || fail "the write loops acknowledged nothing"
integrity "$DATA/kps.db" || fail "integrity_check after kill -9"
start_kpsd "$DATA"
consistent "$DATA" "$WORK/acked_ctl" "$WORK/acked_curl"
stop_kpsd
integrity "$DATA/kps.db" || fail "integrity_check after restart"
echo "kill -9 during writes: ok"

# ---- 2-4 need a small tmpfs ----------------------------------------------------------------
MNT=$WORK/mnt
mkdir -p "$MNT"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$MNT" 2>/dev/null; then
  MNT=""
  echo "SKIP: read-only and full-disk cases need root and mount -t tmpfs"
  exit 77
fi
SMALL=$MNT/data
"$KPSD" init --data-dir "$SMALL" >/dev/null || fail "kpsd init on tmpfs"
start_kpsd "$SMALL"
export CAFS_KPS_CERT=$SMALL/admin.pem
"$CTL" server add before-full >/dev/null || fail "first write on tmpfs"
echo before-full >"$WORK/acked_small"
stop_kpsd

# 2. read-only data dir: refuse to start, say why, change nothing.
sum() { (cd "$SMALL" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum); }
before=$(sum)
mount -o remount,ro "$MNT"
if "$KPSD" serve --data-dir "$SMALL" --listen 127.0.0.1:0 >"$WORK/ro.log" 2>&1; then
  fail "kpsd started on a read-only data dir"
fi
grep -q "not writable" "$WORK/ro.log" || fail "read-only: no reason given: $(cat "$WORK/ro.log")"
mount -o remount,rw "$MNT"
[ "$before" = "$(sum)" ] || fail "read-only start changed the data dir"
echo "read-only data dir: refused ($(head -c 200 "$WORK/ro.log"))"

# 3. disk full during writes: a clear refusal, no damage, works again once space is freed.
start_kpsd "$SMALL"
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
refusals=0
for i in $(seq 1 5); do
  RC=0
  "$CTL" server add "full$i" >/dev/null 2>"$WORK/err" || RC=$?
  if [ "$RC" = 0 ]; then echo "full$i" >>"$WORK/acked_small"; continue; fi
  [ "$RC" = 1 ] || fail "disk full: exit $RC"
  grep -q "data directory is full" "$WORK/err" || fail "disk full: unclear error: $(cat "$WORK/err")"
  refusals=$((refusals + 1))
done
[ "$refusals" -gt 0 ] || fail "no write was refused on a full disk"
"$CTL" server list >/dev/null || fail "reads fail on a full disk"
stop_kpsd

# 4. disk still full at start: kpsd starts and serves reads, or refuses with a reason.
timeout 300 "$KPSD" serve --data-dir "$SMALL" --listen 127.0.0.1:0 >"$WORK/kpsd.log" 2>&1 &
PID=$!
PORT=""
for _ in $(seq 50); do
  PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/kpsd.log")
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$PORT" ] && kill -0 "$PID" 2>/dev/null; then
  export CAFS_KPS_URL=https://127.0.0.1:$PORT
  "$CTL" server list >/dev/null || fail "full disk at start: reads fail"
  stop_kpsd
  echo "full disk at start: kpsd started, reads work"
else
  wait "$PID" 2>/dev/null || true
  PID=""
  [ -s "$WORK/kpsd.log" ] || fail "full disk at start: kpsd exited without a reason"
  echo "full disk at start: refused ($(head -c 200 "$WORK/kpsd.log"))"
fi
rm -f "$MNT/filler"
integrity "$SMALL/kps.db" || fail "integrity_check after disk full"
start_kpsd "$SMALL"
"$CTL" server add after-full >/dev/null || fail "write after space was freed"
echo after-full >>"$WORK/acked_small"
consistent "$SMALL" "$WORK/acked_small"
stop_kpsd
echo "disk full: $refusals writes refused clearly, store consistent"
echo "kps_faults: OK"
