#!/bin/bash
# Server identity over NFS (issue 16 defect 5): cafsd admits an NFS client as the registered
# server whose addresses hold the client's address ([[server]] with local keys), never by the
# address written into <vmserv>. Three network namespaces: cafsd in S, client A (registered as
# the seed's server 755083456) and client B (registered nowhere, though the VM set lists its
# address in <vmserv>) each behind a veth pair to S; the export admits both.
# Checks:
#  - [nfs] with [local_keys] and no [[server]]: cafsd refuses to start (exit 2) naming the
#    table to add; with the registry, the start-up warning names B's raw <vmserv> address;
#  - A copies a file in and out (libnfs nfs-cp, nfs-ls) and it compares;
#  - B is refused (NFS3ERR_ACCES) reading and writing, creates nothing;
#  - the audit log names A's records server 755083456 + client A, B's denial server "" + client
#    B with the reason, and verifies (lib/audit_chain.py).
# Usage: nfs_server_identity_test.sh <path to cafsd>. Exits 77 when a tool is missing, not
# root, or namespaces cannot be made. Every namespace and cafsd is removed on every exit path.
set -u
CAFSD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "network namespaces and NFS file handles need root"
for tool in nfs-cp nfs-cat nfs-ls ip python3; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
export LSAN_OPTIONS="suppressions=$HERE/nfs_client/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

T=$(mktemp -d /tmp/cafs-nfs-id-XXXXXX)
S="cafsid-s-$$"
A="cafsid-a-$$"
B="cafsid-b-$$"
PID=""
stop_cafsd() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=""
  fi
}
cleanup() {
  trap '' INT TERM
  stop_cafsd
  # Killing cafsd's namespace would leave a cafsd that survived: SIGKILL what is left in it.
  for pid in $(ip netns pids "$S" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  for ns in "$A" "$B" "$S"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log" 2>/dev/null; exit 1; }

# Namespaces: S <-> A (10.99.1.0/30) and S <-> B (10.99.2.0/30). Only our namespaces hold
# these addresses: nothing reaches the host's network.
A_IP=10.99.1.1
B_IP=10.99.2.1
{ ip netns add "$S" && ip netns add "$A" && ip netns add "$B" &&
  ip -n "$S" link set lo up && ip -n "$A" link set lo up && ip -n "$B" link set lo up &&
  ip -n "$S" link add s-a type veth peer name a-s netns "$A" &&
  ip -n "$S" link add s-b type veth peer name b-s netns "$B" &&
  ip -n "$S" addr add 10.99.1.2/30 dev s-a && ip -n "$S" link set s-a up &&
  ip -n "$S" addr add 10.99.2.2/30 dev s-b && ip -n "$S" link set s-b up &&
  ip -n "$A" addr add "$A_IP/30" dev a-s && ip -n "$A" link set a-s up &&
  ip -n "$B" addr add "$B_IP/30" dev b-s && ip -n "$B" link set b-s up; } 2>/dev/null ||
  skip "cannot create network namespaces with veth pairs"

# The seed's VM set and policy (lib/cafsd.sh), with B's address written into <vmserv> as a
# tenant administrator might: it must not admit B.
. "$HERE/lib/cafsd.sh"
cafsd_seed_keys "$T/keys"
sed -i "s|<vmserv>755083456</vmserv>|<vmserv>755083456, $B_IP</vmserv>|" "$T/keys/my_vmset/vmset.xml"
grep -q "$B_IP" "$T/keys/my_vmset/vmset.xml" || fail "could not list $B_IP in vmset.xml"
NFS='[nfs]
listen = "0.0.0.0"
port = 2049
mount_port = 20048

[[nfs.export]]
path = "/"
clients = ["10.99.1.0/30", "10.99.2.0/30"]
access = "rw"
squash = "no_root_squash"'
CAFSD_NO_MOUNT=1 cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "$NFS"
mkdir -p "$T/backing/my_vmset/vm1"

# Without a server registry, NFS with local keys does not start: it names what to add.
out=$(timeout 20 "$CAFSD" --config "$T/cafsd.toml" 2>&1)
rc=$?
[ "$rc" = 2 ] || fail "cafsd without [[server]] exited $rc, want 2: $out"
echo "$out" | grep -q 'needs the server registry' && echo "$out" | grep -q '\[\[server\]\]' ||
  fail "no message naming [[server]]: $out"

cat >>"$T/cafsd.toml" <<TOML

[[server]]
id = "755083456"
addresses = ["$A_IP"]
TOML

Q="nfsport=2049&mountport=20048&version=3"
URL="nfs://10.99.1.2/my_vmset/vm1"
URL_B="nfs://10.99.2.2/my_vmset/vm1"
ip netns exec "$S" timeout -s KILL 120 "$CAFSD" --config "$T/cafsd.toml" >"$T/cafsd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  timeout 5 ip netns exec "$A" nfs-ls "$URL?$Q" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || fail "cafsd exited"
  sleep 0.1
done
grep -q "lists <vmserv> $B_IP, an address that no \[\[server\]\] registers" "$T/cafsd.log" ||
  fail "no start-up warning about <vmserv> $B_IP"

# A, the registered server: copies in and out.
head -c 1M /dev/urandom >"$T/ref.bin"
timeout 60 ip netns exec "$A" nfs-cp "$T/ref.bin" "$URL/osdisk.img?$Q" || fail "A: nfs-cp in"
timeout 60 ip netns exec "$A" nfs-cp "$URL/osdisk.img?$Q" "$T/back.bin" || fail "A: nfs-cp out"
cmp -s "$T/ref.bin" "$T/back.bin" || fail "A: copy out differs from copy in"
timeout 20 ip netns exec "$A" nfs-ls "$URL?$Q" 2>&1 | grep -q osdisk.img || fail "A: nfs-ls"

# B, listed only by its raw address: refused both ways, nothing created.
out=$(timeout 30 ip netns exec "$B" nfs-cat "$URL_B/osdisk.img?$Q" 2>&1) &&
  fail "B read the file: $(echo "$out" | head -c 200)"
echo "$out" | grep -q 'NFS3ERR_ACCES' || fail "B: read refusal is not NFS3ERR_ACCES: $out"
out=$(timeout 30 ip netns exec "$B" nfs-cp "$T/ref.bin" "$URL_B/b.img?$Q" 2>&1) &&
  fail "B wrote a file"
ls "$T/backing/my_vmset/vm1" | grep -q '^b\.img' && fail "B's write created b.img"

stop_cafsd
python3 "$HERE/lib/audit_chain.py" "$T/audit.log" || fail "audit chain"
python3 - "$T/audit.log" "$A_IP" "$B_IP" <<'PY' || fail "audit records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
a, b = sys.argv[2], sys.argv[3]
ok = [r for r in recs if r.get("client") == a and r["result"] == "ok"]
assert any(r["op"] == "create" and r["server"] == "755083456" for r in ok), ok
assert sum(r["bytes"] for r in ok if r["op"] == "write" and r["server"] == "755083456") == 1 << 20, ok
denied = [r for r in recs if r.get("client") == b and r["result"] == "denied"]
reason = f"client {b} is not a registered address of a listed virtualization server of VM set my_vmset"
assert denied and all(r["server"] == "" and r["reason"] == reason for r in denied), denied
assert not [r for r in recs if r.get("client") == b and r["result"] != "denied"]
PY
echo "PASS"
