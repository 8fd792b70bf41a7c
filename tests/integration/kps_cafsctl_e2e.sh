#!/usr/bin/env bash
# End-to-end test of kpsd driven by cafsctl (our CLI) and curl (a client we did not write):
# the seed's my_vmset (its <vmset> XML verbatim) with the seed's <vobj-list> policy
# descriptor, the key the descriptor names, rotation, gateway enrollment and the tenant-admin's
# approval of its scope (refused to the enroller and another tenant), fetch as the
# gateway, restart, fetch again; role refusals through cafsctl (exit 1 + reason), each
# audited (cafsctl audit list --result denied) and the chain verified (cafsctl audit verify);
# a local gateway audit log verified with `cafsctl audit verify --file`; usage errors exit 2.
# The seed's XML comes from its one copy (src/policy/seed_examples.h) via cafs-demo --print-seed.
# Usage: kps_cafsctl_e2e.sh KPSD CAFSCTL CAFS_DEMO   Exit 77 (skip) when curl or python3 is missing.
set -euo pipefail
KPSD=${1:?usage: kps_cafsctl_e2e.sh KPSD CAFSCTL CAFS_DEMO}
CTL=${2:?usage: kps_cafsctl_e2e.sh KPSD CAFSCTL CAFS_DEMO}
SEED=${3:?usage: kps_cafsctl_e2e.sh KPSD CAFSCTL CAFS_DEMO}
for tool in curl python3 timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kps-ctl-e2e-XXXXXX")
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
DATA=$WORK/data
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/kpsd.log" ] && cat "$WORK/kpsd.log" >&2; exit 1; }

# shellcheck source=lib/kpsd.sh
source "$(dirname "$0")/lib/kpsd.sh"

# ctl BUNDLE ARGS... : runs cafsctl as BUNDLE; stdout -> $WORK/out, stderr -> $WORK/err, rc -> RC
ctl() {
  local bundle=$1; shift
  RC=0
  timeout 60 "$CTL" --cert "$bundle" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
  sanitizer_clean "$WORK/err" || fail "sanitizer report from cafsctl ${*}: $(cat "$WORK/err")"
}
ok() { ctl "$@"; [ "$RC" = 0 ] || fail "cafsctl ${*:2} exited $RC: $(cat "$WORK/err")"; }
refused() {  # refused PATTERN BUNDLE ARGS...: exit 1 and the reason on stderr
  local pattern=$1; shift
  ctl "$@"
  [ "$RC" = 1 ] || fail "cafsctl ${*:2} should be refused with exit 1, got $RC: $(cat "$WORK/out" "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" || fail "cafsctl ${*:2}: no '$pattern' in: $(cat "$WORK/err")"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
start_kpsd
A=$DATA/admin.pem

# Usage errors are exit 2; --help is exit 0 for every group.
ctl "$A" key frobnicate; [ "$RC" = 2 ] || fail "unknown subcommand: exit $RC"
ctl "$A" vmset; [ "$RC" = 2 ] || fail "missing subcommand: exit $RC"
for group in vmset policy key server gateway admin audit; do
  "$CTL" "$group" --help >/dev/null || fail "$group --help"
done
RC=0; "$CTL" vmset list 2>"$WORK/err" >/dev/null || RC=$?
[ "$RC" = 2 ] && grep -q "CAFS_KPS_CERT" "$WORK/err" || fail "no --cert: exit $RC, $(cat "$WORK/err")"

# Enrollment: bundles written 0600, never overwritten.
ok "$A" admin add kate --role key-admin --out "$WORK/kate.pem"
ok "$A" admin add alice --role tenant-admin --vmset my_vmset --out "$WORK/alice.pem"
ok "$A" admin add bob --role tenant-admin --vmset other_vmset --out "$WORK/bob.pem"
ok "$A" admin add audrey --role auditor --out "$WORK/audrey.pem"
ok "$A" gateway enroll gw1 --vmset my_vmset --out "$WORK/gw.pem"
[ "$(stat -c %a "$WORK/gw.pem")" = 600 ] || fail "gateway bundle is not 0600"
refused "already exists" "$A" gateway enroll gw2 --vmset my_vmset --out "$WORK/gw.pem"
ok "$A" --json gateway list
[ "$(json '",".join(g["name"] for g in d)' <"$WORK/out")" = gw1 ] || fail "gateway list: $(cat "$WORK/out")"

# The seed's VM set, verbatim (typographic quotes and all), and its server.
ok "$A" server add 755083456 --name esx-1 --address 127.0.0.1
"$SEED" --print-seed vmset >"$WORK/vmset.xml"
ok "$A" vmset create --xml "$WORK/vmset.xml"
ok "$A" --json vmset show my_vmset
python3 - "$WORK/out" <<'PY' || fail "my_vmset from the seed XML: $(cat "$WORK/out")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["mount_point"] == "/nfs" and v["servers"] == ["755083456"], v
assert v["policy_id"] == "45aa9e57-bf64-11df-8d3e-000c29abeb4d", v
PY
ok "$A" vmset create other_vmset --mount /nfs
ok "$A" vmset list
grep -q "^my_vmset *\/nfs" "$WORK/out" || fail "vmset list table: $(cat "$WORK/out")"

# The key the seed's descriptor names, created by the key admin.
KEY=062b9056-bf64-11df-8d3e-000c29abeb4d
ok "$WORK/kate.pem" key create --vmset my_vmset --id "$KEY"
ok "$WORK/kate.pem" --json key create --vmset other_vmset
KEYB=$(json 'd["id"]' <"$WORK/out")

# The seed's policy descriptor, uploaded by the tenant admin of my_vmset.
"$SEED" --print-seed policy >"$WORK/policy.xml"
PD=45aa9e57-bf64-11df-8d3e-000c29abeb4d
# Its pools (docs/kps.md "Storage pools"): records a storage-admin creates and assigns to VM
# sets; until both are assigned the upload is refused, naming the pool and the VM set. A
# storage-admin scoped to other_vmset may not assign to my_vmset (403, audited).
ok "$A" admin add sam --role storage-admin --out "$WORK/sam.pem"
ok "$A" admin add sol --role storage-admin --vmset other_vmset --out "$WORK/sol.pem"
ok "$WORK/sam.pem" pool create mirrored_pool_A
ok "$WORK/sam.pem" --json pool create default_pool
python3 -c 'import json,sys,uuid; uuid.UUID(json.load(open(sys.argv[1]))["guid"])' "$WORK/out" ||
  fail "pool create: no GUID in $(cat "$WORK/out")"
ok "$WORK/sam.pem" pool allow my_vmset mirrored_pool_A
refused "pool 'default_pool', which VM set 'my_vmset' may not use" \
  "$WORK/alice.pem" policy upload "$WORK/policy.xml" --vmset my_vmset --id "$PD"
refused "not in charge of VM set 'my_vmset'" "$WORK/sol.pem" pool allow my_vmset default_pool
ok "$WORK/sam.pem" pool allow my_vmset default_pool
ok "$WORK/alice.pem" pool list
grep -q "^default_pool " "$WORK/out" || fail "tenant's pool list: $(cat "$WORK/out")"
refused "may not read pools" "$WORK/kate.pem" pool list
ctl "$WORK/sam.pem" pool allow my_vmset; [ "$RC" = 2 ] || fail "pool allow without POOL: exit $RC"
ok "$WORK/alice.pem" policy upload "$WORK/policy.xml" --vmset my_vmset --id "$PD" --name my_policy
ok "$WORK/alice.pem" policy upload "$WORK/policy.xml" --vmset my_vmset --id "$PD"  # replace: version 2
grep -q "version 2" "$WORK/out" || fail "re-upload: $(cat "$WORK/out")"
# Bad XML: the server's line-numbered error is printed (policy line N).
printf '<vobj-list>\n<vobj>\n<vglob>*</vglob>\n<symkey>%s</symkey>\n<storepol>p</storepol>\n<access>Mon-Frx(9am-5pm)</access>\n<audit>none</audit>\n</vobj>\n</vobj-list>\n' "$KEY" >"$WORK/bad.xml"
refused "policy line 6" "$WORK/alice.pem" policy upload "$WORK/bad.xml" --vmset my_vmset
printf '<vobj-list>\n<vobj>\n</vobj-list>\n' >"$WORK/broken.xml"
refused "line 3" "$WORK/alice.pem" policy upload "$WORK/broken.xml" --vmset my_vmset
ok "$WORK/alice.pem" policy show "$PD"
grep -q '\*osdisk\*' "$WORK/out" || fail "policy show lacks the XML"

# Rotate, then fetch as the gateway with curl.
ok "$WORK/kate.pem" key rotate "$KEY"
ok "$WORK/kate.pem" key show "$KEY"
grep -q "deactivated" "$WORK/out" && grep -q "active" "$WORK/out" || fail "key show: $(cat "$WORK/out")"
fetch() {
  curl -sS --max-time 20 --cert "$WORK/gw.pem" --key "$WORK/gw.pem" --cacert "$DATA/ca.crt" \
    -o "$1" -w '%{http_code}' "https://127.0.0.1:$PORT/v1/gateway/vmsets/my_vmset"
}
# Two people: no keys until my_vmset's tenant-admin approves the gateway's scope.
[ "$(fetch "$WORK/fetch0.json")" = 403 ] || fail "fetch before approval: $(cat "$WORK/fetch0.json")"
refused "only a tenant-admin in charge" "$A" gateway approve gw1 --vmset my_vmset
refused "not in charge of VM set 'my_vmset'" "$WORK/bob.pem" gateway approve gw1 --vmset my_vmset
ok "$WORK/alice.pem" gateway approve gw1 --vmset my_vmset
grep -q "^gw1 *my_vmset *my_vmset" "$WORK/out" || fail "gateway approve: $(cat "$WORK/out")"
# A key-admin's export right (KMIP Get) for a tenant's VM set is the tenant-admin's to give.
refused "only a tenant-admin in charge" "$A" admin export kate --vmset my_vmset
[ "$(fetch "$WORK/fetch1.json")" = 200 ] || fail "gateway fetch: $(cat "$WORK/fetch1.json")"
python3 - "$WORK/fetch1.json" "$KEY" <<'PY' || fail "fetch content: $(cat "$WORK/fetch1.json")"
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert d["vmset"]["name"] == "my_vmset" and "*osdisk*" in d["policy"]["xml"]
keys = d["keys"]
assert [(k["id"], k["version"], k["state"]) for k in keys] == [
    (sys.argv[2], 1, "deactivated"), (sys.argv[2], 2, "active")], keys
assert all(len(base64.b64decode(k["key"])) == 64 for k in keys)
PY
stop_kpsd
start_kpsd
[ "$(fetch "$WORK/fetch2.json")" = 200 ] || fail "gateway fetch after restart"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["keys"] != json.load(open(sys.argv[2]))["keys"])' \
  "$WORK/fetch1.json" "$WORK/fetch2.json" || fail "keys differ after restart"

# Separation of duties through cafsctl: exit 1, the reason, and an audit record each.
refused "may not manage keys (needs key-admin)" "$WORK/gw.pem" key create --vmset my_vmset
refused "may not manage keys (needs key-admin)" "$WORK/alice.pem" key rotate "$KEY"
refused "not in charge of VM set 'other_vmset'" "$WORK/alice.pem" vmset show other_vmset
refused "key '$KEYB' not found" "$WORK/alice.pem" key show "$KEYB"  # no existence oracle
refused "not in charge of VM set 'other_vmset'" "$WORK/alice.pem" vmset update other_vmset --mount /x
refused "not in charge of VM set 'my_vmset'" "$WORK/bob.pem" policy upload "$WORK/policy.xml" --vmset my_vmset
refused "may not enroll gateways" "$WORK/kate.pem" gateway enroll gw9 --vmset my_vmset --out "$WORK/gw9.pem"
[ ! -e "$WORK/gw9.pem" ] || fail "a refused enrollment wrote a bundle"
refused "may not read audit" "$WORK/kate.pem" audit list
# A tenant-admin reads the records of its own VM set, and no other.
ok "$WORK/alice.pem" --json audit list
python3 - "$WORK/out" <<'PY' || fail "tenant A's audit: $(cat "$WORK/out")"
import json, sys
recs = json.load(open(sys.argv[1]))
assert recs, "no records"
for r in recs:
    about = r.get("access", {}).get("vmset") if "access" in r else r["object"].split("/")[0]
    assert about in ("my_vmset", "45aa9e57-bf64-11df-8d3e-000c29abeb4d",
                     "062b9056-bf64-11df-8d3e-000c29abeb4d"), r
PY
ok "$WORK/alice.pem" vmset list
[ "$(grep -c _vmset "$WORK/out")" = 1 ] || fail "tenant A sees: $(cat "$WORK/out")"

ok "$WORK/audrey.pem" --json audit list --result denied
python3 - "$WORK/out" <<'PY' || fail "denied records: $(cat "$WORK/out")"
import json, sys
recs = json.load(open(sys.argv[1]))
assert all(r["result"] == "denied" for r in recs)
actors = sorted({r["actor"] for r in recs})
assert len(recs) >= 12 and actors == ["admin", "alice", "bob", "gw1", "kate", "sol"], (len(recs), actors)
PY
ok "$WORK/audrey.pem" audit list --vmset other_vmset --result denied
grep -q "alice" "$WORK/out" || fail "audit list --vmset: $(cat "$WORK/out")"
ok "$WORK/audrey.pem" audit list --since 2000-01-01 --actor bob
grep -q "bob" "$WORK/out" || fail "audit list --since --actor: $(cat "$WORK/out")"
ok "$WORK/audrey.pem" audit verify
grep -q "audit chain ok" "$WORK/out" || fail "audit verify: $(cat "$WORK/out")"

# Revocation: the revoked bundle is refused (403 from the TLS-authenticated request).
ok "$A" admin revoke bob
refused "not enrolled or was revoked" "$WORK/bob.pem" vmset list

# A gateway's local audit log (docs/audit.md), verified offline; then tampered.
python3 - "$WORK/audit.jsonl" <<'PY'
import hashlib, json, sys
prev = "0" * 64
with open(sys.argv[1], "w") as f:
    for seq in range(1, 4):
        r = {"seq": seq, "time_ms": 1700000000000 + seq, "end_ms": 1700000000000 + seq,
             "server": "755083456", "vmset": "my_vmset", "vm": "vm1", "file": "osdisk1.vmdk",
             "op": "read", "result": "ok", "reason": "", "bytes": 4096, "count": 1, "prev": prev}
        body = json.dumps(r, sort_keys=True, separators=(",", ":"))
        r["hash"] = hashlib.sha256((prev + body).encode()).hexdigest()
        prev = r["hash"]
        f.write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")
PY
RC=0; "$CTL" audit verify --file "$WORK/audit.jsonl" >"$WORK/out" 2>"$WORK/err" || RC=$?
[ "$RC" = 0 ] && grep -q "ok: 3 records" "$WORK/out" || fail "local verify: $RC $(cat "$WORK/out" "$WORK/err")"
sed -i '2s/"bytes":4096/"bytes":9999/' "$WORK/audit.jsonl"
RC=0; "$CTL" audit verify --file "$WORK/audit.jsonl" >"$WORK/out" 2>"$WORK/err" || RC=$?
[ "$RC" = 1 ] && grep -q "BROKEN at line 2" "$WORK/err" || fail "tampered local log: $RC $(cat "$WORK/err")"

# kpsd down: say so.
stop_kpsd
refused "is kpsd running" "$A" vmset list
echo "kps_cafsctl_e2e: OK"
