#!/bin/bash
# Rekey triggers end to end (issue 14 item 3; docs/kps.md "Rekey triggers", docs/jobs.md
# "Rekey requests from kpsd"): kpsd (SQLite) + cafsd on FUSE with [kps].
#  1. two disk images of the seed's VM set are written under key version 1;
#  2. `cafsctl key state KEY --version 1 --state compromised`: kpsd gives the key version 2 and
#     queues an urgent rekey request; cafsd learns of it by polling kpsd over its mTLS channel
#     and runs it as an ordinary local job (requested_by "kpsd rekey request KEY.1"), reporting
#     its progress back;
#  3. `cafsctl rekey status my_vmset --watch` (stdout not a tty: plain lines) ends with exit 0
#     and the gateway's line at 100% done; `--json` says done with done_bytes == total_bytes;
#  4. both pool file headers name only version 2 (state none), the images read back exactly,
#     and `cafsctl key destroy KEY --version 1` (no --force) is accepted once the gateway's
#     inventory says no file uses version 1 any more; after it the images still read back
#     (nothing depends on the destroyed version).
# Usage: cafs_rekey_triggers_test.sh CAFSD KPSD CAFSCTL. Root only (FUSE mount); exits 77 when
# FUSE or a tool is missing.
set -u
CAFSD=${1:?usage: cafs_rekey_triggers_test.sh CAFSD KPSD CAFSCTL}
KPSD=${2:?usage}
CTL=${3:?usage}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (FUSE mount)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint timeout; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cafs-triggers-XXXXXX")
T=$WORK
PID=""
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
# shellcheck source=lib/kpsd.sh
source "$(dirname "$0")/lib/kpsd.sh"
cleanup() {
  cafsd_stop "$T"
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  echo "--- cafsd log"; tail -30 "$T/cafsd.log" 2>/dev/null
  echo "--- kpsd log"; tail -30 "$T/kpsd.log" 2>/dev/null
  exit 1
}
header_key() { cafsd_header_key "$1"; }  # "state version" (lib/cafsd.sh)

DATA=$T/kps
timeout 60 "$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
start_kpsd "$DATA"
URL=$CAFS_KPS_URL
A=$DATA/admin.pem
ctl() { timeout 60 "$CTL" --server "$URL" --cert "$@" >"$T/ctl.out" 2>&1 ||
  fail "cafsctl ${*:2}: $(cat "$T/ctl.out")"; }

KEY=$CAFSD_SEED_KEY
cafsd_kps_seed "$T" "$A"
K=$T/kate.pem

cafsd_config "$T" "[kps]
url = \"$URL\"
cert = \"$T/gw.pem\"
inventory_interval_s = 1
rekey_poll_interval_s = 1" "[cache]
ttl_s = 1
grace_s = 600"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"

# ---- 1. two images under version 1 ---------------------------------------------------------
V=$T/mnt/my_vmset/vm1
timeout 20 mkdir -p "$V" || fail "mkdir"
head -c 8M /dev/urandom >"$T/ref1"
head -c 4M /dev/urandom >"$T/ref2"
timeout 60 dd if="$T/ref1" of="$V/osdisk1.img" bs=64k conv=fsync status=none || fail "dd 1"
timeout 60 dd if="$T/ref2" of="$V/osdisk2.img" bs=64k conv=fsync status=none || fail "dd 2"
PF1=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk1.img mirrored_pool_A)
PF2=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk2.img mirrored_pool_A)
[ "$(header_key "$PF1")" = "0 1" ] || fail "osdisk1 header $(header_key "$PF1"), not '0 1'"
[ "$(header_key "$PF2")" = "0 1" ] || fail "osdisk2 header $(header_key "$PF2"), not '0 1'"
ctl "$K" rekey status my_vmset
grep -q "no rekey requests" "$T/ctl.out" || fail "rekey status before: $(cat "$T/ctl.out")"

# ---- 2. version 1 compromised: urgent request, picked up by the gateway ----------------------
ctl "$K" key state "$KEY" --version 1 --state compromised
grep -q "urgent rekey requested: $KEY.1" "$T/ctl.out" ||
  fail "key state said: $(cat "$T/ctl.out")"
grep -q "compromised" "$T/ctl.out" || fail "version 1 not compromised: $(cat "$T/ctl.out")"

# ---- 3. cafsctl follows it to the end --------------------------------------------------------
timeout 120 "$CTL" --server "$URL" --cert "$K" rekey status my_vmset --watch --timeout 90 \
  >"$T/watch.out" 2>&1; rc=$?
[ $rc = 0 ] || fail "rekey status --watch exit $rc: $(tail -20 "$T/watch.out")"
tail -3 "$T/watch.out" | grep -q "$KEY version 1 -> 2 (compromised)  done" ||
  fail "no done request line: $(tail -5 "$T/watch.out")"
tail -3 "$T/watch.out" | grep -q "gw1  \[#*\] 100%  12.0 MiB / 12.0 MiB .* 2/2 files  done" ||
  fail "no 100% gateway line: $(tail -5 "$T/watch.out")"
grep -q $'\033' "$T/watch.out" && fail "terminal escapes written to a pipe"
timeout 60 "$CTL" --server "$URL" --cert "$K" --json rekey status my_vmset >"$T/status.json" ||
  fail "rekey status --json: $(cat "$T/status.json")"
python3 - "$T/status.json" "$KEY" <<'PY' || fail "rekey status --json: $(cat "$T/status.json")"
import json, sys
reqs = json.load(open(sys.argv[1]))
assert len(reqs) == 1, reqs
r = reqs[0]
assert r["id"] == sys.argv[2] + ".1" and r["reason"] == "compromised", r
assert r["state"] == "done" and r["to_version"] == 2, r
g = r["gateways"][0]
assert g["gateway"] == "gw1" and g["state"] == "done", g
assert g["done_bytes"] == g["total_bytes"] == 12 * 1024 * 1024, g
assert g["files"] == g["files_done"] == 2, g
PY
# The gateway ran it as an ordinary local job, found again by its requester.
timeout 60 "$CAFSD" --config "$T/cafsd.toml" jobs list --json >"$T/jobs.json" ||
  fail "cafsd jobs list"
grep -q "kpsd rekey request $KEY.1" "$T/jobs.json" || fail "no local job: $(cat "$T/jobs.json")"
echo "ok: compromised version 1 -> request $KEY.1 -> gateway job done, shown by cafsctl"

# ---- 4. the files are under version 2 only -------------------------------------------------
[ "$(header_key "$PF1")" = "0 2" ] || fail "osdisk1 header $(header_key "$PF1"), not '0 2'"
[ "$(header_key "$PF2")" = "0 2" ] || fail "osdisk2 header $(header_key "$PF2"), not '0 2'"
timeout 60 cmp "$T/ref1" "$V/osdisk1.img" || fail "osdisk1 after the rekey"
timeout 60 cmp "$T/ref2" "$V/osdisk2.img" || fail "osdisk2 after the rekey"
destroyed=0
for _ in $(seq 100); do  # the inventory after the job arrives within a second or two
  if timeout 60 "$CTL" --server "$URL" --cert "$K" key destroy "$KEY" --version 1 --yes \
    >"$T/destroy.out" 2>&1; then
    destroyed=1
    break
  fi
  sleep 0.2
done
[ $destroyed = 1 ] || fail "destroy of version 1 refused after the rekey: $(cat "$T/destroy.out")"
grep -qi "warning" "$T/destroy.out" && fail "destroy warned: $(cat "$T/destroy.out")"
sleep 2  # past the gateway's cache TTL: version 1 is gone from it
timeout 60 cmp "$T/ref1" "$V/osdisk1.img" || fail "osdisk1 after destroying version 1"
timeout 60 cmp "$T/ref2" "$V/osdisk2.img" || fail "osdisk2 after destroying version 1"
echo "ok: headers name version 2 only; version 1 destroyed without --force; images intact"
sanitizer_clean "$T/cafsd.log" "$T/kpsd.log" || fail "sanitizer report"
echo "PASS"
