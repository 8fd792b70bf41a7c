#!/usr/bin/env bash
# kpsd's KMIP listener driven by a client we did not write: Debian's python3-pykmip
# (kmip.pie.client.ProxyKmipClient). A key-admin enrolled with kpsd's CA creates an AES-256
# key, gets it (once the security-admin granted it the export right for VM set kmip; refused
# before), reads its attributes, locates it by name, activates, revokes and destroys it;
# each step is checked through the REST API (curl) too. Refusals: a certificate from another
# CA and no certificate at all fail the TLS handshake; an auditor's Get and a storage-admin's
# GetAttributes are KMIP Permission Denied (and audited); malformed and oversized messages get
# Invalid Message and the connection is closed, and kpsd keeps serving; a Get with a non-UTF-8
# Unique Identifier is Invalid Field and the connection goes on; the connection limit holds.
# Usage: kmip_pykmip_test.sh KPSD_BINARY      Exit 77 (skip) when PyKMIP, curl or openssl is
# missing (scripts/install-deps.sh installs python3-pykmip).
set -euo pipefail
KPSD=${1:?usage: kmip_pykmip_test.sh path/to/kpsd}
for tool in curl openssl timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
# Debian's PyKMIP lives in the system Python, which may not be the first python3 on PATH.
PY=""
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import kmip.pie.client' 2>/dev/null; then PY=$candidate; break; fi
done
[ -n "$PY" ] || { echo "SKIP: python3-pykmip not installed"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kmip-pykmip-XXXXXX")
PID="" CLIENT_PID=""
cleanup() {
  if [ -n "$CLIENT_PID" ]; then kill "$CLIENT_PID" 2>/dev/null || true; fi
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
DATA=$WORK/data
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/kpsd.log" ] && cat "$WORK/kpsd.log" >&2; exit 1; }

"$KPSD" init --data-dir "$DATA" >/dev/null || fail "kpsd init"
timeout 300 "$KPSD" serve --data-dir "$DATA" --listen 127.0.0.1:0 \
  --kmip-listen 127.0.0.1:0 --kmip-max-connections 8 >"$WORK/kpsd.log" 2>&1 &
PID=$!
PORT="" KPORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/kpsd.log")
  KPORT=$(sed -n 's/^kpsd KMIP listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/kpsd.log")
  [ -n "$PORT" ] && [ -n "$KPORT" ] && break
  kill -0 "$PID" 2>/dev/null || fail "kpsd exited"
  sleep 0.1
done
[ -n "$PORT" ] && [ -n "$KPORT" ] || fail "kpsd did not start"

A=$DATA/admin.pem
rest() {  # rest BUNDLE METHOD PATH [BODY] -> body on stdout; fails on a non-2xx status
  local args=(-sS --fail --max-time 20 --cert "$1" --key "$1" --cacert "$DATA/ca.crt" -X "$2")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "https://127.0.0.1:$PORT$3"
}
enroll() {  # enroll NAME ROLE -> bundle path
  rest "$A" POST /v1/admins "{\"name\":\"$1\",\"role\":\"$2\"}" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["bundle"], end="")' >"$WORK/$1.pem"
  echo "$WORK/$1.pem"
}
KATE=$(enroll kate key-admin) || fail "enroll key-admin"
AUDREY=$(enroll audrey auditor) || fail "enroll auditor"
SAM=$(enroll sam storage-admin) || fail "enroll storage-admin"
# A look-alike certificate (same CN/OU) from a CA kpsd does not know.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/O=CAFS/OU=key-admin/CN=kate" -keyout "$WORK/rogue.key" -out "$WORK/rogue.crt" \
  2>/dev/null || fail "openssl req"
cat "$WORK/rogue.crt" "$WORK/rogue.key" >"$WORK/rogue.pem"

# The PyKMIP client: one process for the whole test (importing PyKMIP costs ~0.7 s CPU, once
# per test instead of once per step), one step per input line "BUNDLE STEP [ARG]", each step on
# a connection of its own, its result as one JSON line on stdout.
cat >"$WORK/client.py" <<'PY'
import json, socket, ssl, struct, sys
from kmip.core import enums
from kmip.core.factories import attributes
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

port, ca = int(sys.argv[1]), sys.argv[2]
bundle = step = arg = None

def client():
    return ProxyKmipClient(hostname="127.0.0.1", port=port, cert=bundle, key=bundle, ca=ca,
                           config_file="/dev/null")

def attrs(uid):
    with client() as c:
        got_uid, alist = c.get_attributes(uid, ["Unique Identifier", "Object Type",
                                                "Cryptographic Algorithm", "Cryptographic Length",
                                                "State", "Name"])
    out = {"uid": got_uid}
    for a in alist:
        name = a.attribute_name.value
        v = a.attribute_value
        if name == "Name":
            out[name] = v.name_value.value
        elif hasattr(v, "value") and hasattr(v.value, "name"):
            out[name] = v.value.name
        else:
            out[name] = v.value
    return out

def run():
    if step == "create":
        with client() as c:
            uid = c.create(enums.CryptographicAlgorithm.AES, 256, name=arg,
                           cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                     enums.CryptographicUsageMask.DECRYPT])
        return {"uid": uid}
    if step == "get":
        with client() as c:
            key = c.get(arg)
        return {"algorithm": key.cryptographic_algorithm.name,
                "length": key.cryptographic_length, "bytes": len(key.value),
                "hex": key.value.hex()}
    if step == "attrs":
        return attrs(arg)
    if step == "locate":
        f = attributes.AttributeFactory()
        with client() as c:
            uids = c.locate(attributes=[f.create_attribute(enums.AttributeType.NAME, arg)])
        return {"uids": uids}
    if step == "activate":
        with client() as c:
            c.activate(arg)
        return attrs(arg)
    if step == "revoke":
        with client() as c:
            c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, arg)
        return attrs(arg)
    if step == "destroy":
        with client() as c:
            c.destroy(arg)
        return attrs(arg)
    if step == "raw":  # send arg (hex) over TLS, return the reply's hex and whether it closed
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(bundle, bundle)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(bytes.fromhex(arg))
                data = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        return {"reply": data.hex(), "closed": True}
    if step == "nonutf8":  # a Get whose Unique Identifier is not UTF-8, then a Get of `arg`
        # (issue 20 class 3), both on one connection: each reply's hex, hand-made TTLV.
        def item(tag, typ, value):
            pad = (8 - len(value) % 8) % 8
            return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(value)) + \
                value + b"\0" * pad
        def st(tag, *items):
            return item(tag, 1, b"".join(items))
        def get(uid):
            version = st(0x420069, item(0x42006A, 2, struct.pack(">i", 1)),
                         item(0x42006B, 2, struct.pack(">i", 2)))
            header = st(0x420077, version, item(0x42000D, 2, struct.pack(">i", 1)))
            batch = st(0x42000F, item(0x42005C, 5, struct.pack(">I", 0x0A)),
                       st(0x420079, item(0x420094, 7, uid)))
            return st(0x420078, header, batch)
        def reply(t):
            data = b""
            while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
                chunk = t.recv(65536)
                if not chunk:
                    raise ConnectionError("closed after %d bytes" % len(data))
                data += chunk
            return data.hex()
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(bundle, bundle)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(get(b"\xff\xfe"))
                bad = reply(t)
                t.sendall(get(arg.encode()))
                return {"bad": bad, "good": reply(t)}
    raise SystemExit("unknown step " + step)

for line in sys.stdin:
    words = line.split()
    bundle, step, arg = words[0], words[1], words[2] if len(words) > 2 else None
    try:
        out = run()
    except KmipOperationFailure as e:
        out = {"error": "kmip", "status": e.status.name, "reason": e.reason.name,
               "message": e.message}
    except Exception as e:  # TLS refusals and the like
        out = {"error": type(e).__name__, "message": str(e)}
    print(json.dumps(out), flush=True)
PY

# kmip BUNDLE STEP [ARG] -> JSON (one line); a step has 60 s, the client the whole test.
# (Its pipe ends are copied to plain descriptors: bash does not pass a coprocess's own to the
# subshells of a pipeline, and `kmip ... | field ...` is one.)
coproc KMIP_CLIENT { exec timeout 280 "$PY" "$WORK/client.py" "$KPORT" "$DATA/ca.crt"; }
CLIENT_PID=$KMIP_CLIENT_PID
exec {KMIP_IN}>&"${KMIP_CLIENT[1]}" {KMIP_OUT}<&"${KMIP_CLIENT[0]}"
kmip() {
  local reply
  echo "$*" >&"$KMIP_IN" && IFS= read -r -t 60 reply <&"$KMIP_OUT" ||
    fail "the PyKMIP client did not answer '$*'"
  printf '%s\n' "$reply"
}
field() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

NAME=cafs-kmip-test
UID_=$(kmip "$KATE" create "$NAME" | field 'd["uid"]') || fail "create"
[ -n "$UID_" ] && [ "$UID_" != None ] || fail "create returned no uid"
echo "created $UID_"

# Key bytes leave kpsd to a key-admin only with an export right for the key's VM set, granted
# by another admin (docs/kps.md "Roles"): here the security-admin, as `kmip` has no tenant.
DENY=$(kmip "$KATE" get "$UID_")
echo "$DENY" | field 'd.get("reason")' | grep -qx PERMISSION_DENIED || fail "get without export right: $DENY"
rest "$A" POST /v1/admins/kate/export '{"vmset":"kmip"}' >/dev/null || fail "grant the export right"
GET=$(kmip "$KATE" get "$UID_")
echo "$GET" | field 'd["bytes"] == 32 and d["length"] == 256 and d["algorithm"] == "AES"' |
  grep -qx True || fail "get: $GET"

# A Unique Identifier that is not UTF-8: Invalid Field (0x07); kpsd and the connection go on.
R=$(kmip "$KATE" nonutf8 "$UID_")
echo "$R" | field '"42007e050000000400000007" in d["bad"] and "42007f050000000400000000" in d["good"]' |
  grep -qx True || fail "non-UTF-8 Unique Identifier: $R"
kill -0 "$PID" 2>/dev/null || fail "kpsd died on a non-UTF-8 Unique Identifier"
GET2=$(kmip "$KATE" get "$UID_")
[ "$(echo "$GET" | field 'd["hex"]')" = "$(echo "$GET2" | field 'd["hex"]')" ] || fail "get twice differs"

ATTRS=$(kmip "$KATE" attrs "$UID_")
echo "$ATTRS" | field 'd["Name"] == "'"$NAME"'" and d["State"] == "PRE_ACTIVE" and d["Object Type"] == "SYMMETRIC_KEY" and d["Cryptographic Algorithm"] == "AES" and d["Cryptographic Length"] == 256 and d["Unique Identifier"] == "'"$UID_"'"' |
  grep -qx True || fail "get attributes: $ATTRS"

LOC=$(kmip "$KATE" locate "$NAME")
[ "$(echo "$LOC" | field 'd["uids"]')" = "['$UID_']" ] || fail "locate by name: $LOC"
LOC=$(kmip "$KATE" locate no-such-name)
[ "$(echo "$LOC" | field 'd["uids"]')" = "[]" ] || fail "locate of a missing name: $LOC"

# The same object through the REST API: VM set kmip, cipher aes-256, the Name, pre-active.
rest "$A" GET "/v1/keys/$UID_" >"$WORK/key.json" || fail "REST GET key"
field 'd["name"] == "'"$NAME"'" and d["vmset"] == "kmip" and d["cipher"] == "aes-256" and d["versions"][0]["state"] == "pre-active"' <"$WORK/key.json" |
  grep -qx True || fail "REST view: $(cat "$WORK/key.json")"

# Role refusals: KMIP Permission Denied, and nothing leaks.
DENY=$(kmip "$AUDREY" get "$UID_")
echo "$DENY" | field 'd.get("reason")' | grep -qx PERMISSION_DENIED || fail "auditor get: $DENY"
echo "$DENY" | grep -q '"hex"' && fail "auditor got key bytes"
DENY=$(kmip "$SAM" attrs "$UID_")
echo "$DENY" | field 'd.get("reason")' | grep -qx PERMISSION_DENIED || fail "storage-admin attrs: $DENY"
DENY=$(kmip "$AUDREY" create other)
echo "$DENY" | field 'd.get("reason")' | grep -qx PERMISSION_DENIED || fail "auditor create: $DENY"

# TLS 1.2 is served (KMIP 1.x clients need it), TLS 1.1 is not.
tls() { printf '' | timeout 20 openssl s_client -connect "127.0.0.1:$KPORT" "$1" -cert "$KATE" \
          -key "$KATE" -CAfile "$DATA/ca.crt" 2>&1 | sed -n 's/^ *Protocol *: *//p' | head -1; }
[ "$(tls -tls1_2)" = TLSv1.2 ] || fail "TLS 1.2 handshake"
printf '' | timeout 20 openssl s_client -connect "127.0.0.1:$KPORT" -tls1_1 -cert "$KATE" \
  -key "$KATE" -CAfile "$DATA/ca.crt" 2>&1 | grep -q "Verify return code: 0" && fail "TLS 1.1 accepted"

# Certificates: another CA's and none at all never reach an operation.
ROGUE=$(kmip "$WORK/rogue.pem" get "$UID_")
echo "$ROGUE" | field '"error" in d and "hex" not in d and d.get("reason") is None' | grep -qx True ||
  fail "rogue certificate: $ROGUE"
NOCERT=$(timeout 30 "$PY" - "$KPORT" "$DATA/ca.crt" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as s:
        with ctx.wrap_socket(s) as t:
            t.sendall(b"\x42\x00\x78\x01\x00\x00\x00\x00")
            print("reply" if t.recv(100) else "closed")
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("refused", type(e).__name__)
PY
)
case "$NOCERT" in refused*|closed) ;; *) fail "a client without a certificate got: $NOCERT" ;; esac

# Malformed messages: Invalid Message (Result Reason 0x04), then the connection is closed.
INVALID="42007e0500000004000000040000000"
for bad in 4200200200000004000000080000000000000000 42007801fffffff0 \
           4200780100000008420020020000000400000008000000000000000000000000; do
  R=$(kmip "$KATE" raw "$bad")
  echo "$R" | field 'd["reply"].startswith("42007b01") and "'"$INVALID"'" in d["reply"] and d["closed"]' |
    grep -qx True || fail "malformed message $bad: $R"
done

# Connection limit (--kmip-max-connections 8): with 8 connections open, a 9th is closed
# before its handshake completes; once they are gone, a new one is served.
LIMIT=$(timeout 60 "$PY" - "$KPORT" "$DATA/ca.crt" "$KATE" <<'PY'
import socket, ssl, sys
port, ca, bundle = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
ctx.load_cert_chain(bundle, bundle)
def connect():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20))
held = [connect() for _ in range(8)]
try:
    extra = connect()
    extra.sendall(bytes.fromhex("42007801fffffff0"))
    ninth = "served" if extra.recv(100) else "closed"
except (ssl.SSLError, ConnectionError, OSError):
    ninth = "closed"
for h in held:
    h.close()
import time; time.sleep(1)
again = connect()
again.sendall(bytes.fromhex("42007801fffffff0"))  # answered with Invalid Message
print(ninth, "served" if again.recv(100).startswith(b"\x42\x00\x7b") else "not served")
PY
)
[ "$LIMIT" = "closed served" ] || fail "connection limit: $LIMIT"

# Life cycle; each state also visible through REST.
R=$(kmip "$KATE" activate "$UID_"); echo "$R" | field 'd["State"]' | grep -qx ACTIVE || fail "activate: $R"
rest "$A" GET "/v1/keys/$UID_" | field 'd["versions"][0]["state"]' | grep -qx active || fail "REST after activate"
R=$(kmip "$KATE" destroy "$UID_")
echo "$R" | field 'd.get("reason")' | grep -qx ILLEGAL_OPERATION || fail "destroy of an active key: $R"
R=$(kmip "$KATE" revoke "$UID_"); echo "$R" | field 'd["State"]' | grep -qx DEACTIVATED || fail "revoke: $R"
rest "$A" GET "/v1/keys/$UID_" | field 'd["versions"][0]["state"]' | grep -qx deactivated || fail "REST after revoke"
R=$(kmip "$KATE" destroy "$UID_"); echo "$R" | field 'd["State"]' | grep -qx DESTROYED || fail "destroy: $R"
rest "$A" GET "/v1/keys/$UID_" | field 'd["versions"][0]["state"]' | grep -qx destroyed || fail "REST after destroy"
R=$(kmip "$KATE" get "$UID_")
echo "$R" | grep -q '"hex"' && fail "destroyed key still readable: $R"
# Crypto-shred: the wrapped bytes are gone from the store.
if command -v sqlite3 >/dev/null; then
  W=$(sqlite3 "$DATA/kps.db" "SELECT body FROM objects WHERE id='$UID_'" 2>/dev/null || true)
  case "$W" in *'"wrapped":"'[0-9a-f]*) fail "wrapped bytes left after destroy: $W" ;; esac
fi

# Audit: KMIP operations and refusals are in kpsd's chain.
rest "$A" GET /v1/audit >"$WORK/audit.json" || fail "read audit"
"$PY" - "$WORK/audit.json" "$UID_" <<'PY' || fail "audit trail: $(cat "$WORK/audit.json")"
import json, sys
recs, uid = json.load(open(sys.argv[1])), sys.argv[2]
kmip = [r for r in recs if r["action"].startswith("KMIP ")]
ok = {r["action"] for r in kmip if r["result"] == "ok" and r["object"] == uid}
assert {"KMIP Create", "KMIP Get", "KMIP Activate", "KMIP Revoke", "KMIP Destroy"} <= ok, ok
denied = sorted({(r["actor"], r["action"]) for r in kmip if r["result"] == "denied"})
assert ("audrey", "KMIP Get") in denied and ("sam", "KMIP GetAttributes") in denied, denied
PY

kill -0 "$PID" 2>/dev/null || fail "kpsd died"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
! grep -qE "Sanitizer|runtime error" "$WORK/kpsd.log" || fail "sanitizer report from kpsd"
echo "kmip_pykmip_test: PASS"
