#!/usr/bin/env bash
# End-to-end test of kpsd driven by curl (a client we did not write):
# the seed's my_vmset with its <vobj-list> policy, key creation and rotation, the tenant-admin's
# approval of the gateway's scope, gateway fetch, restart and fetch again, role refusals (each audited), wrong master key refused.
# Usage: kps_e2e.sh KPSD_BINARY        Exit 77 (skip) when curl or python3 is missing.
set -euo pipefail
KPSD=${1:?usage: kps_e2e.sh path/to/kpsd}
for tool in curl python3 timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kps-e2e-XXXXXX")
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

# call BUNDLE METHOD PATH [BODY] -> prints the body; the HTTP code goes to $WORK/code
call() {
  local bundle=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS --max-time 20 --cert "$bundle" --key "$bundle" --cacert "$DATA/ca.crt"
              -X "$method" -o "$WORK/resp" -w '%{http_code}')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  CODE=$(curl "${args[@]}" "https://127.0.0.1:$PORT$path") || CODE=000
  echo "$CODE" >"$WORK/code"  # call may run in a pipeline's subshell
  cat "$WORK/resp"
}
expect() { CODE=$(cat "$WORK/code"); [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(cat "$WORK/resp")"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
enroll() {  # enroll BUNDLE_OUT PATH BODY
  call "$DATA/admin.pem" POST "$2" "$3" | json 'd["bundle"]' >"$1"
  expect 201 "enroll $1"
}

"$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
[ "$(stat -c %a "$DATA/master.key")" = 600 ] || fail "master.key is not 0600"
start_kpsd
A=$DATA/admin.pem

enroll "$WORK/keyadmin.pem" /v1/admins '{"name":"kate","role":"key-admin"}'
enroll "$WORK/tenantA.pem" /v1/admins '{"name":"alice","role":"tenant-admin","vmsets":["my_vmset"]}'
enroll "$WORK/tenantB.pem" /v1/admins '{"name":"bob","role":"tenant-admin","vmsets":["other_vmset"]}'
enroll "$WORK/gw.pem" /v1/gateways '{"name":"gw1","vmsets":["my_vmset"]}'

call "$A" POST /v1/servers '{"id":"755083456","name":"esx-1","addresses":["127.0.0.1"]}' >/dev/null
expect 201 "create server"
call "$A" POST /v1/vmsets '{"name":"my_vmset","mount_point":"/nfs","position":1,"servers":["755083456"]}' >/dev/null
expect 201 "create my_vmset"
call "$A" POST /v1/vmsets '{"name":"other_vmset","mount_point":"/nfs","position":1}' >/dev/null
expect 201 "create other_vmset"

# The pools the policy names, allowed to my_vmset by a storage-admin (docs/kps.md "Storage pools").
enroll "$WORK/storage.pem" /v1/admins '{"name":"sam","role":"storage-admin"}'
for pool in mirrored_pool_A default_pool; do
  call "$WORK/storage.pem" POST /v1/pools "{\"name\":\"$pool\"}" >/dev/null
  expect 201 "create pool $pool"
  call "$WORK/storage.pem" POST /v1/pools/$pool/allow '{"vmset":"my_vmset"}' >/dev/null
  expect 200 "allow $pool to my_vmset"
done

KEY=$(call "$WORK/keyadmin.pem" POST /v1/keys '{"vmset":"my_vmset","cipher":"aes-256-xts"}' | json 'd["id"]')
expect 201 "create key"
KEYB=$(call "$WORK/keyadmin.pem" POST /v1/keys '{"vmset":"other_vmset"}' | json 'd["id"]')
expect 201 "create key of B"

POLICY_XML="<vobj-list>
<vobj><vglob>*osdisk*</vglob><symkey>$KEY</symkey><storepol>mirrored_pool_A</storepol><access>Mon-Fri(9am-5pm)</access><audit>all_records</audit></vobj>
<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey><storepol>default_pool</storepol><access>at_all_times</access><audit>none</audit></vobj>
</vobj-list>"
BODY=$(python3 -c 'import json,sys; print(json.dumps({"id":"45aa9e57-bf64-11df-8d3e-000c29abeb4d","name":"my_policy","vmset":"my_vmset","xml":sys.argv[1]}))' "$POLICY_XML")
call "$WORK/tenantA.pem" POST /v1/policies "$BODY" >/dev/null
expect 201 "tenant A uploads the seed policy"
call "$WORK/tenantA.pem" POST /v1/policies '{"vmset":"my_vmset","xml":"<vobj-list>\n<vobj>\n</vobj-list>"}' >/dev/null
expect 400 "malformed policy XML"
grep -q "line 3" "$WORK/resp" || fail "XML error does not name the line: $(cat "$WORK/resp")"

VER=$(call "$WORK/tenantA.pem" GET /v1/vmsets/my_vmset | json 'd["version"]')
call "$WORK/tenantA.pem" PUT /v1/vmsets/my_vmset "{\"mount_point\":\"/nfs\",\"position\":1,\"servers\":[\"755083456\"],\"policy_id\":\"45aa9e57-bf64-11df-8d3e-000c29abeb4d\",\"version\":$VER}" >/dev/null
expect 200 "attach policy"
call "$WORK/tenantA.pem" PUT /v1/vmsets/my_vmset "{\"mount_point\":\"/x\",\"version\":$VER}" >/dev/null
expect 409 "stale version is a conflict"

call "$WORK/keyadmin.pem" POST "/v1/keys/$KEY/rotate" '{}' >/dev/null
expect 200 "rotate"

# Two people (docs/kps.md "Roles"): the security-admin's enrollment alone gives no keys; the
# scope takes effect once my_vmset's tenant-admin approves it, and only that tenant-admin can.
call "$WORK/gw.pem" GET /v1/gateway/vmsets/my_vmset >/dev/null; expect 403 "fetch before approval"
call "$A" POST /v1/gateways/gw1/approve '{"vmset":"my_vmset"}' >/dev/null
expect 403 "the enrolling security-admin approves"
call "$WORK/tenantB.pem" POST /v1/gateways/gw1/approve '{"vmset":"my_vmset"}' >/dev/null
expect 403 "another tenant's admin approves"
call "$WORK/tenantA.pem" POST /v1/gateways/gw1/approve '{"vmset":"other_vmset"}' >/dev/null
expect 403 "approval of a VM set not in the tenant-admin's charge"
call "$WORK/tenantA.pem" POST /v1/gateways/gw1/approve '{"vmset":"my_vmset"}' | json 'd["approved"]' |
  grep -qx "\['my_vmset'\]" || fail "approve: $(cat "$WORK/resp")"
expect 200 "tenant A approves gw1 for my_vmset"

call "$WORK/gw.pem" GET /v1/gateway/vmsets/my_vmset >"$WORK/fetch1.json"
expect 200 "gateway fetch"
python3 - "$WORK/fetch1.json" "$KEY" <<'PY' || fail "fetch content"
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert d["vmset"]["name"] == "my_vmset"
assert "*osdisk*" in d["policy"]["xml"]
keys = d["keys"]
assert [k["version"] for k in keys] == [1, 2], keys
assert [k["state"] for k in keys] == ["deactivated", "active"], keys
assert all(k["id"] == sys.argv[2] and len(base64.b64decode(k["key"])) == 64 for k in keys)
assert keys[0]["key"] != keys[1]["key"]
PY

stop_kpsd
start_kpsd
call "$WORK/gw.pem" GET /v1/gateway/vmsets/my_vmset >"$WORK/fetch2.json"
expect 200 "gateway fetch after restart"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["keys"]; b=json.load(open(sys.argv[2]))["keys"]; sys.exit(a!=b)' \
  "$WORK/fetch1.json" "$WORK/fetch2.json" || fail "keys differ after restart"

# Separation of duties: each refusal is a 403 and an audit record.
call "$WORK/tenantA.pem" GET /v1/vmsets/other_vmset >/dev/null; expect 403 "tenant A reads B"
call "$WORK/tenantA.pem" GET "/v1/keys/$KEYB" >/dev/null; expect 404 "tenant A reads key of B (answered as absent, audited as denied)"
call "$WORK/tenantA.pem" PUT /v1/vmsets/other_vmset '{"version":1}' >/dev/null; expect 403 "tenant A changes B"
call "$WORK/gw.pem" POST /v1/keys '{"vmset":"my_vmset"}' >/dev/null; expect 403 "gateway creates a key"
call "$WORK/gw.pem" GET /v1/gateway/vmsets/other_vmset >/dev/null; expect 403 "gateway fetches a VM set not its own"
call "$WORK/tenantB.pem" GET /v1/gateway/vmsets/my_vmset >/dev/null; expect 403 "tenant fetches keys"
LIST=$(call "$WORK/tenantA.pem" GET /v1/vmsets | json '",".join(v["name"] for v in d)')
[ "$LIST" = my_vmset ] || fail "tenant A sees $LIST"
python3 -c 'import json; print(json.dumps({"name": "big", "mount_point": "a" * 1200000}))' >"$WORK/big.json"
call "$A" POST /v1/vmsets "@$WORK/big.json" >/dev/null
expect 413 "oversized body"
call "$A" POST /v1/vmsets '{"name":' >/dev/null; expect 400 "malformed JSON"

call "$A" GET /v1/audit >"$WORK/audit.json"; expect 200 "read audit"
python3 - "$WORK/audit.json" <<'PY' || fail "audit trail"
import json, sys
recs = json.load(open(sys.argv[1]))
denied = [r for r in recs if r["result"] == "denied"]
actors = sorted({r["actor"] for r in denied})
assert len(denied) >= 10 and actors == ["admin", "alice", "bob", "gw1"], (len(denied), actors)
prev = ""
for r in recs:
    assert r["prev_hash"] == prev, r
    prev = r["hash"]
PY

# A certificate from another CA is refused at the TLS handshake.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=admin/OU=security-admin" \
  -keyout "$WORK/rogue.pem" -out "$WORK/rogue.crt" -days 1 2>/dev/null
if curl -sS --max-time 10 --cert "$WORK/rogue.crt" --key "$WORK/rogue.pem" --cacert "$DATA/ca.crt" \
  "https://127.0.0.1:$PORT/v1/vmsets" >/dev/null 2>&1; then fail "foreign CA accepted"; fi

# Wrong master key: refuse to start, say why, touch nothing.
stop_kpsd
cp "$DATA/master.key" "$WORK/master.key.good"
head -c 32 /dev/urandom >"$DATA/master.key"
before=$(sha256sum "$DATA"/kps.db* | sha256sum)
if "$KPSD" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$WORK/bad.log" 2>&1; then fail "started with a wrong key"; fi
grep -q "wrong master key" "$WORK/bad.log" || fail "no reason given: $(cat "$WORK/bad.log")"
[ "$before" = "$(sha256sum "$DATA"/kps.db* | sha256sum)" ] || fail "store touched"
cp "$WORK/master.key.good" "$DATA/master.key"
echo "kps_e2e: OK"
