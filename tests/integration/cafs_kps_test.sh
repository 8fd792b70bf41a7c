#!/bin/bash
# cafsd with [kps]: kpsd (init + serve on 127.0.0.1:0) holds the seed's my_vmset, the key its
# descriptor names and the descriptor (access widened to at_all_times so the test runs any
# day); cafsctl enrolls a gateway; cafsd mounts with [kps] url + the gateway bundle. A file
# written through FUSE reads back, is ciphertext in the pool and its header carries the VM
# set GUID kpsd minted (issue 16 defect 6); after kpsd is killed the
# cached VM set keeps working (within the cache grace). cafsd pushes its audit records: those
# written while kpsd was down arrive when it is back, and after a cafsd restart kpsd holds
# every record of the local log exactly once.
# Usage: cafs_kps_test.sh CAFSD KPSD CAFSCTL. Exits 77 when FUSE or a tool is missing.
set -u
CAFSD=${1:?usage: cafs_kps_test.sh CAFSD KPSD CAFSCTL}
KPSD=${2:?usage}
CTL=${3:?usage}
skip() { echo "SKIP: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint timeout; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cafs-kps-XXXXXX")
M=$T/mnt
KPID=""
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
stop_cafsd() { cafsd_stop "$T"; }
start_cafsd() { cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"; }
cleanup() { stop_cafsd; stop_kpsd; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  echo "--- cafsd log"; tail -30 "$T/cafsd.log" 2>/dev/null
  echo "--- kpsd log"; tail -30 "$T/kpsd.log" 2>/dev/null
  exit 1
}

DATA=$T/kps
timeout 60 "$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
timeout 600 "$KPSD" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$T/kpsd.log" 2>&1 &
KPID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/kpsd.log")
  [ -n "$PORT" ] && break
  kill -0 "$KPID" 2>/dev/null || fail "kpsd exited"
  sleep 0.1
done
[ -n "$PORT" ] || fail "kpsd did not start"
URL=https://127.0.0.1:$PORT
A=$DATA/admin.pem
ctl() { timeout 60 "$CTL" --server "$URL" --cert "$@" >"$T/ctl.out" 2>&1 ||
  fail "cafsctl ${*:2}: $(cat "$T/ctl.out")"; }

cafsd_kps_seed "$T" "$A"

write_config() {  # write_config FILE KPS_TABLE [MORE]
  cafsd_config "$T" "$2" "[cache]
ttl_s = 1
grace_s = 600
${3:-}"
  [ "$1" = "$T/cafsd.toml" ] || mv "$T/cafsd.toml" "$1"
}
# Config errors name the key and the line; [kps] and [local_keys] together are refused.
write_config "$T/bad1.toml" "[kps]
url = \"http://127.0.0.1:$PORT\"
cert = \"$T/gw.pem\""
out=$(timeout 10 "$CAFSD" --config "$T/bad1.toml" 2>&1) && fail "http:// url accepted"
echo "$out" | grep -q "line 7.*url" || fail "bad url error does not name key and line: $out"
write_config "$T/bad2.toml" "[kps]
url = \"$URL\"
cert = \"$T/gw.pem\"
[local_keys]
dir = \"$T\""
out=$(timeout 10 "$CAFSD" --config "$T/bad2.toml" 2>&1) && fail "[kps] + [local_keys] accepted"
echo "$out" | grep -q "exactly one" || fail "both tables: $out"

# A third pool kpsd has no record of (docs/gateway.md "Pool identity").
mkdir -p "$T/pools/spare_pool"
write_config "$T/cafsd.toml" "[kps]
url = \"$URL\"
cert = \"$T/gw.pem\"" "[[pool]]
name = \"spare_pool\"
path = \"$T/pools/spare_pool\""
start_cafsd
V=$M/my_vmset
# cafsd compared its pools with kpsd's records at start: a warning and an audit record.
grep -q "pool 'spare_pool' is configured here but the key server has no pool record" \
  "$T/cafsd.log" || fail "no start-up warning for a pool kpsd does not know"
grep -q '"op":"pool-identity"' "$T/audit.log" || fail "no audit record for the unknown pool"
grep -q "pool 'mirrored_pool_A' is configured" "$T/cafsd.log" &&
  fail "a pool kpsd knows was reported"

timeout 20 mkdir -p "$V/vm1" || fail "mkdir"
head -c 1M /dev/urandom >"$T/ref"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk1" bs=64k conv=fsync status=none || fail "dd write"
timeout 60 cmp "$T/ref" "$V/vm1/osdisk1" || fail "read back differs"
POOLF=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk1 mirrored_pool_A)
[ -f "$POOLF" ] || fail "no pool file $POOLF"
python3 - "$POOLF" "$T/ref" <<'PY' || fail "pool file is not ciphertext"
import sys
enc = open(sys.argv[1], 'rb').read()
ref = open(sys.argv[2], 'rb').read()
assert enc[:8] == b'CAFSPOOL', enc[:8]
for off in range(0, len(ref), 4096):
    assert ref[off:off + 64] not in enc, "plaintext block %d in the pool file" % off
PY
# The pool file's header names the VM set by the GUID kpsd minted (docs/format.md 2.1).
timeout 60 "$CTL" --server "$URL" --cert "$A" --json vmset show my_vmset >"$T/vmset.json" ||
  fail "cafsctl vmset show"
python3 - "$POOLF" "$T/vmset.json" <<'PY' || fail "pool file header does not carry the VM set GUID"
import json, sys, uuid
hdr = open(sys.argv[1], 'rb').read(4096)
guid = json.load(open(sys.argv[2]))["guid"]
assert str(uuid.UUID(bytes=hdr[40:56])) == guid, (hdr[40:56].hex(), guid)
PY

# A VM set this gateway is not enrolled for: kpsd refuses (403) -> EACCES through FUSE.
ctl "$A" vmset create other_vmset --mount /nfs
out=$(timeout 20 mkdir "$M/other_vmset/x" 2>&1) && fail "mkdir in a VM set kpsd refuses"
echo "$out" | grep -qi "permission denied" || fail "refused VM set: $out"

# kpsd goes away: the cached VM set keeps being served (ttl 1 s, grace 600 s).
stop_kpsd
sleep 2
timeout 60 cmp "$T/ref" "$V/vm1/osdisk1" || fail "read after kpsd stopped"
timeout 60 dd if="$T/ref" of="$V/vm1/osdisk2" bs=64k conv=fsync status=none ||
  fail "write after kpsd stopped"
timeout 60 cmp "$T/ref" "$V/vm1/osdisk2" || fail "read back after kpsd stopped"
grep -q "unreachable, serving cached VM set my_vmset.*127.0.0.1:$PORT" "$T/cafsd.log" ||
  fail "no outage warning naming kpsd's URL in cafsd's log"
for _ in $(seq 100); do
  grep -q "audit push to kpsd at .* failed, retrying" "$T/cafsd.log" && break
  sleep 0.1
done
grep -q "audit push to kpsd at .* failed, retrying" "$T/cafsd.log" ||
  fail "no warning that the audit push waits for kpsd"

# kpsd comes back on the same port: the records written during the outage arrive (the pusher
# retries with backoff, at most 30 s apart).
start_kpsd_at() {
  timeout 600 "$KPSD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >>"$T/kpsd.log" 2>&1 &
  KPID=$!
  for _ in $(seq 100); do
    [ "$(grep -c "^kpsd listening on 127.0.0.1:$PORT" "$T/kpsd.log")" -ge 2 ] && return 0
    kill -0 "$KPID" 2>/dev/null || fail "kpsd did not restart on port $PORT"
    sleep 0.1
  done
  fail "kpsd did not restart"
}
gateway_records() {  # the gateway's records kpsd holds, as "seq hash" lines
  timeout 60 "$CTL" --server "$URL" --cert "$A" --json audit list --access >"$T/pushed.json" ||
    fail "cafsctl audit list --access"
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])): print(r["access"]["seq"], r["access"]["hash"])' \
    "$T/pushed.json"
}
start_kpsd_at
for _ in $(seq 450); do
  gateway_records | grep -q . && grep -q osdisk2 "$T/pushed.json" && break
  sleep 0.2
done
grep -q osdisk2 "$T/pushed.json" || fail "records written while kpsd was down never arrived"
grep -q "takes records again" "$T/cafsd.log" || fail "no log line when kpsd took records again"
# A restart of cafsd resumes from the cursor; at SIGTERM it pushes what is left. Then kpsd
# holds every record of the local log exactly once.
stop_cafsd
start_cafsd
timeout 60 cmp "$T/ref" "$V/vm1/osdisk2" || fail "read after restart"
stop_cafsd
python3 -c 'import json,sys
for l in open(sys.argv[1]): r = json.loads(l); print(r["seq"], r["hash"])' "$T/audit.log" \
  >"$T/local.txt"
gateway_records >"$T/kpsd.txt"
sort "$T/kpsd.txt" | uniq -d | grep -q . && fail "kpsd holds a gateway record twice"
cmp -s <(sort "$T/local.txt") <(sort "$T/kpsd.txt") ||
  fail "kpsd's gateway records differ from the local log: $(diff <(sort "$T/local.txt") <(sort "$T/kpsd.txt") | head)"
timeout 60 "$CTL" --server "$URL" --cert "$A" audit verify >/dev/null || fail "kpsd chain"
[ -s "$T/audit.log.kps-cursor" ] || fail "no push cursor next to the log"
grep -qE "Sanitizer|runtime error" "$T/cafsd.log" "$T/kpsd.log" && fail "sanitizer report"
grep -qi "$(od -An -tx1 -N8 "$T/ref" | tr -d ' \n')" "$T/cafsd.log" && fail "data in the log"
stop_cafsd
mountpoint -q "$M" && fail "still mounted after SIGTERM"
echo "PASS"
