#!/bin/bash
# Shallow rekey and crypto-shred end to end (docs/kps.md "Shallow rekey and crypto-shred"):
# kpsd (SQLite) + cafsd on FUSE with [kps]. While a writer and a reader loop on the mount:
#   - `cafsctl kek rotate my_vmset` twice: no request fails, and the old wrapped bytes of the
#     KEK and of the DEK are in none of kps.db, kps.db-wal, kps.db-journal;
#   - kpsd stopped, `kpsd rotate-master`, kpsd started again: no request fails (the gateway
#     serves from its cache meanwhile), the old wrapped KEK is gone from the files, and the
#     gateway fetches the same DEKs under the new master.
# Then crypto-shred: `cafsctl key destroy` refuses while a file uses the version, listing its
# GUID and path (from the gateway's inventory); --force destroys with a warning; the file then
# reads as EIO with an audit record naming the destroyed key; `cafsctl kek destroy --force`
# makes every file of the VM set unreadable.
# Usage: cafs_shallow_rekey_test.sh CAFSD KPSD CAFSCTL. Exits 77 when FUSE or a tool is missing.
set -u
CAFSD=${1:?usage: cafs_shallow_rekey_test.sh CAFSD KPSD CAFSCTL}
KPSD=${2:?usage}
CTL=${3:?usage}
skip() { echo "SKIP: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint timeout; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cafs-shallow-XXXXXX")
M=$T/mnt
KPID=""
LOOP=""
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
stop_kpsd() {
  if [ -n "$KPID" ]; then
    kill "$KPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KPID" 2>/dev/null
    wait "$KPID" 2>/dev/null
    KPID=""
  fi
}
stop_loop() {
  if [ -n "$LOOP" ]; then
    touch "$T/stop"
    for _ in $(seq 100); do kill -0 "$LOOP" 2>/dev/null || break; sleep 0.1; done
    kill "$LOOP" 2>/dev/null
    wait "$LOOP" 2>/dev/null
    LOOP=""
  fi
}
cleanup() { stop_loop; cafsd_stop "$T"; stop_kpsd; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  echo "--- cafsd log"; tail -30 "$T/cafsd.log" 2>/dev/null
  echo "--- cafsd log (inventory)"; grep -i inventory "$T/cafsd.log" 2>/dev/null | tail -10
  echo "--- kpsd log"; tail -30 "$T/kpsd.log" 2>/dev/null
  exit 1
}

DATA=$T/kps
start_kpsd() {  # start_kpsd [PORT]
  : >"$T/kpsd.port.log"
  timeout 600 "$KPSD" serve --data-dir "$DATA" --listen "127.0.0.1:${1:-0}" \
    >"$T/kpsd.port.log" 2>&1 &
  KPID=$!
  PORT=""
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/kpsd.port.log")
    [ -n "$PORT" ] && break
    kill -0 "$KPID" 2>/dev/null || fail "kpsd exited: $(cat "$T/kpsd.port.log")"
    sleep 0.1
  done
  cat "$T/kpsd.port.log" >>"$T/kpsd.log"
  [ -n "$PORT" ] || fail "kpsd did not start"
}
timeout 60 "$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
start_kpsd
URL=https://127.0.0.1:$PORT
A=$DATA/admin.pem
ctl() { timeout 60 "$CTL" --server "$URL" --cert "$@" >"$T/ctl.out" 2>&1 ||
  fail "cafsctl ${*:2}: $(cat "$T/ctl.out")"; }

KEY=$CAFSD_SEED_KEY
cafsd_kps_seed "$T" "$A"
K=$T/kate.pem

cafsd_config "$T" "[kps]
url = \"$URL\"
cert = \"$T/gw.pem\"
inventory_interval_s = 2" "[cache]
ttl_s = 1
grace_s = 600"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
V=$M/my_vmset
timeout 20 mkdir -p "$V/vm1" || fail "mkdir"
head -c 1M /dev/urandom >"$T/ref"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk1" bs=64k conv=fsync status=none || fail "dd write"

# The wrapped bytes (hex, as stored) of the KEK and of every DEK version, read from kps.db.
wrapped_hex() {
  python3 - "$DATA/kps.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for kind, body in db.execute("SELECT kind, body FROM objects WHERE kind IN ('kek', 'key')"):
    for v in json.loads(body)["versions"]:
        if v.get("wrapped"):
            print(v["wrapped"])
db.close()
PY
}
# Fails when any of the hex strings in file $1 (or its raw bytes) is in the SQLite files.
assert_gone() {
  python3 - "$1" "$DATA" <<'PY' || fail "old wrapped key bytes left in the store's files ($2)"
import os, sys
old = [l.strip() for l in open(sys.argv[1]) if l.strip()]
hay = b""
for f in ("kps.db", "kps.db-wal", "kps.db-journal"):
    p = os.path.join(sys.argv[2], f)
    if os.path.exists(p):
        hay += open(p, "rb").read()
assert len(hay) > 4096
for h in old:
    for form in (h.encode(), h.upper().encode(), bytes.fromhex(h)):
        assert form not in hay, "found %s..." % h[:16]
PY
}

# I/O on the mount for the whole rotation: a writer (fsync'ed) and a reader, each failure
# recorded; never more than 600 rounds.
: >"$T/io.err"
(
  for i in $(seq 600); do
    [ -e "$T/stop" ] && break
    dd if="$T/ref" of="$V/vm1/osdisk2" bs=64k count=4 seek=$((i % 16)) conv=fsync,notrunc \
      status=none 2>>"$T/io.err" || echo "write $i failed" >>"$T/io.err"
    cmp "$T/ref" "$V/vm1/osdisk1" 2>>"$T/io.err" || echo "read $i differs" >>"$T/io.err"
  done
) &
LOOP=$!
sleep 1

# ---- KEK rotation, twice, under I/O --------------------------------------------------------
for round in 1 2; do
  wrapped_hex >"$T/old.hex"
  [ "$(wc -l <"$T/old.hex")" -ge 2 ] || fail "no wrapped keys read from kps.db"
  ctl "$K" kek rotate my_vmset
  grep -q "re-wrapped 1 key version" "$T/ctl.out" || fail "kek rotate said: $(cat "$T/ctl.out")"
  assert_gone "$T/old.hex" "KEK rotation $round"
  sleep 1.5  # past the gateway's cache TTL: it fetches under the new KEK
done
ctl "$K" kek show my_vmset
grep -q "^3 *active" "$T/ctl.out" || fail "KEK version 3 not active: $(cat "$T/ctl.out")"

# ---- master-key rotation (offline kpsd, online gateway) ------------------------------------
python3 - "$DATA/kps.db" >"$T/old-kek.hex" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for (body,) in db.execute("SELECT body FROM objects WHERE kind = 'kek'"):
    for v in json.loads(body)["versions"]:
        if v.get("wrapped"):
            print(v["wrapped"])
PY
cp "$DATA/master.key" "$T/old-master.key"
stop_kpsd
timeout 60 "$KPSD" rotate-master --data-dir "$DATA" >"$T/rotate.out" 2>&1 ||
  fail "rotate-master: $(cat "$T/rotate.out")"
grep -q "1 KEK version(s) re-wrapped" "$T/rotate.out" || fail "rotate-master: $(cat "$T/rotate.out")"
cmp -s "$DATA/master.key" "$T/old-master.key" && fail "master.key unchanged"
[ -e "$DATA/master-next" ] && fail "master-next left behind"
assert_gone "$T/old-kek.hex" "master rotation"
sleep 2  # the gateway serves from its cache while kpsd is down
start_kpsd "$PORT"
sleep 2  # it fetches again from the restarted kpsd, under the new master
stop_loop
[ -s "$T/io.err" ] && fail "requests failed during the rotations: $(head -5 "$T/io.err")"
timeout 60 cmp "$T/ref" "$V/vm1/osdisk1" || fail "read after the rotations"
echo fresh >"$V/vm1/hc_default" || fail "write after the rotations"
timeout 60 "$CTL" --server "$URL" --cert "$A" audit verify >/dev/null || fail "kpsd chain"
timeout 60 "$CTL" --server "$URL" --cert "$A" --json audit list >"$T/audit.json" ||
  fail "audit list"
grep -q '"rotate-master"' "$T/audit.json" || fail "master rotation not audited"
grep -q "/v1/keks/my_vmset/rotate" "$T/audit.json" || fail "KEK rotation not audited"

# ---- crypto-shred: refused while a file uses the version, listing it ------------------------
GUID=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); import uuid; print(uuid.UUID(bytes=d[24:40]))' \
  "$(cafsd_pool_file "$T" my_vmset/vm1/osdisk1 mirrored_pool_A)")
for _ in $(seq 100); do  # the inventory arrives every 2 s
  timeout 60 "$CTL" --server "$URL" --cert "$K" inventory >"$T/inv.out" 2>&1 &&
    grep -q "/my_vmset/vm1/osdisk1" "$T/inv.out" && break
  sleep 0.2
done
grep -q "/my_vmset/vm1/osdisk1" "$T/inv.out" || fail "no inventory: $(cat "$T/inv.out")"
if timeout 60 "$CTL" --server "$URL" --cert "$K" key destroy "$KEY" --version 1 --yes \
  >"$T/destroy.out" 2>&1; then
  fail "destroy of a version files use was accepted"
fi
grep -q "/my_vmset/vm1/osdisk1" "$T/destroy.out" || fail "refusal lacks the path: $(cat "$T/destroy.out")"
grep -qi "$GUID" "$T/destroy.out" || fail "refusal lacks the file GUID $GUID: $(cat "$T/destroy.out")"
timeout 60 cmp "$T/ref" "$V/vm1/osdisk1" || fail "read after a refused destroy"
# A rotation (the gateway creates new files under version 2 once its cache has it; until it
# has reported after seeing version 2, a destroy of 1 without --force is refused).
ctl "$K" key rotate "$KEY"
sleep 2  # past the cache TTL
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk3" bs=64k conv=fsync status=none || fail "osdisk3"
ctl "$K" key destroy "$KEY" --version 1 --yes --force
grep -q "WARNING.*unreadable" "$T/ctl.out" || fail "no warning from a forced destroy: $(cat "$T/ctl.out")"
sleep 2  # past the cache TTL
out=$(timeout 20 cat "$V/vm1/osdisk1" 2>&1 >/dev/null) && fail "a file under a destroyed key read"
echo "$out" | grep -qi "input/output error" || fail "destroyed key: $out"
timeout 60 cmp "$T/ref" "$V/vm1/osdisk3" || fail "a file under version 2 after destroying 1"
for _ in $(seq 100); do  # the gateway's audit record reaches kpsd
  timeout 60 "$CTL" --server "$URL" --cert "$A" --json audit list --access >"$T/access.json"
  grep -q "$KEY version 1.*destroyed" "$T/access.json" && break
  sleep 0.2
done
grep -q "$KEY version 1.*destroyed" "$T/access.json" ||
  fail "no audit record naming the destroyed key version"

# ---- a destroyed KEK: every key of the VM set unreadable ------------------------------------
if timeout 60 "$CTL" --server "$URL" --cert "$K" kek destroy my_vmset --yes >"$T/kd.out" 2>&1; then
  fail "KEK destroy accepted while files use its keys"
fi
grep -q "osdisk3" "$T/kd.out" || fail "KEK destroy refusal: $(cat "$T/kd.out")"
ctl "$K" kek destroy my_vmset --yes --force
sleep 2
out=$(timeout 20 cat "$V/vm1/osdisk3" 2>&1 >/dev/null) && fail "a file read after its KEK was destroyed"
echo "$out" | grep -qi "input/output error" || fail "destroyed KEK: $out"
grep -qE "Sanitizer|runtime error" "$T/cafsd.log" "$T/kpsd.log" && fail "sanitizer report"
echo "PASS"
