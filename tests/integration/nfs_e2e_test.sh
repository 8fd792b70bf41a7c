#!/bin/bash
# End to end over NFSv3 with clients we did not write: cafsd (local keys, the seed's policy,
# the NFS client at 127.0.0.1 registered as the seed's server 755083456, NFS only, no FUSE)
# driven by the libnfs tools (nfs-cp, nfs-cat, nfs-ls), qemu-img and qemu-io through QEMU's libnfs driver. cafsd runs in
# a private network namespace, so it can use the standard ports and answer portmapper GETPORT
# on 111 itself (QEMU's nfs driver has no port options) without meeting other tests or a
# system rpcbind; a veth pair links the namespace to the host.
# Checks: copies in and out compare; the pool file of an encrypted vobj holds ciphertext;
# qemu-img create/check/convert on nfs:// URLs; a client at an address the export admits
# but the VM set does not list (a network namespace behind a veth pair) gets NFS3ERR_ACCES and
# an audit record naming its address; a handle held by qemu-io goes stale when the file is
# removed; kill -9 + restart of cafsd: a qemu-io holding a handle continues; a deep rekey
# (`cafsd rekey`) of an image while qemu-io writes and verifies patterns in it through NFS:
# every verify passes, the job ends done, the pool file names only the new key version.
# Usage: nfs_e2e_test.sh <path to cafsd>. Exits 77 when a tool is missing or not root.
set -u
CAFSD=$1
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "NFS file handles need root (open_by_handle_at)"
for tool in nfs-cp nfs-cat nfs-ls qemu-img qemu-io python3 ip; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
qemu-img --help 2>/dev/null | grep -qw nfs || skip "qemu-img has no nfs driver (qemu-block-extra)"

T=$(mktemp -d /tmp/cafs-nfs-XXXXXX)
PID=""
QIO=""
NS="cafsnfs$$"
VETH="cn$$"
# $PID is cafsd's `timeout` wrapper (a lifetime cap, so nothing outlives a killed test);
# SIGKILL must reach cafsd itself, the wrapper's child.
kill_cafsd_9() {
  local child
  child=$(pgrep -P "$PID")
  [ -n "$child" ] && kill -9 $child 2>/dev/null
  kill -9 "$PID" 2>/dev/null
  KILLED=$child
}
stop_cafsd() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill_cafsd_9
    wait "$PID" 2>/dev/null
    PID=""
  fi
}
cleanup() {
  trap '' INT TERM  # a second signal (timeout signals the whole group) must not cut this short
  if [ -n "$QIO" ]; then
    exec 7>&-
    kill -9 "$QIO" 2>/dev/null
    wait "$QIO" 2>/dev/null
  fi
  stop_cafsd
  ip link del "${VETH}a" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

# The server's namespace and a /30 between it and the host (from the pid: parallel runs differ).
NET="10.$((200 + $$ % 50)).$(( ($$ / 50) % 250 ))"
HOST_IP="$NET.1"
SRV_IP="$NET.2"
{ ip netns add "$NS" && ip netns exec "$NS" ip link set lo up &&
  ip link add "${VETH}a" type veth peer name "${VETH}b" && ip link set "${VETH}b" netns "$NS" &&
  ip addr add "$HOST_IP/30" dev "${VETH}a" && ip link set "${VETH}a" up &&
  ip netns exec "$NS" ip addr add "$SRV_IP/30" dev "${VETH}b" &&
  ip netns exec "$NS" ip link set "${VETH}b" up; } 2>/dev/null ||
  skip "cannot create a network namespace with a veth pair"
X="ip netns exec $NS"  # a client inside the server's namespace connects from 127.0.0.1

mkdir -p "$T/backing/my_vmset/vm1" "$T/pools/mirrored_pool_A" "$T/pools/default_pool" \
  "$T/keys/my_vmset"
cat > "$T/keys/my_vmset/vmset.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1"?>
<vmset><name>my_vmset</name><mnt>/nfs</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>
<vmserv>755083456</vmserv></vmset>
XML
cat > "$T/keys/my_vmset/policy.xml" <<'XML'
<vobj-list>
<vobj><vglob>*osdisk*</vglob><symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>
<storepol>mirrored_pool_A</storepol><access>at_all_times</access><audit>all_records</audit></vobj>
<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol><access>at_all_times</access><audit>none</audit></vobj>
</vobj-list>
XML
KEY=$(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')
echo "062b9056-bf64-11df-8d3e-000c29abeb4d 1 $KEY" > "$T/keys/my_vmset/keys"
NFS_PORT=2049  # the namespace is ours: standard ports
MOUNT_PORT=20048
cat > "$T/cafsd.toml" <<TOML
[gateway]
server_id = "755083456"
backing_store = "$T/backing"

[local_keys]
dir = "$T/keys"

[[pool]]
name = "mirrored_pool_A"
path = "$T/pools/mirrored_pool_A"

[[pool]]
name = "default_pool"
path = "$T/pools/default_pool"

[audit]
log = "$T/audit.log"
aggregate_interval_s = 1

[cache]
ttl_s = 1

[nfs]
listen = "0.0.0.0"
port = $NFS_PORT
mount_port = $MOUNT_PORT
portmap_port = 111

[[nfs.export]]
path = "/"
clients = ["127.0.0.1", "$NET.0/30"]
access = "rw"
squash = "no_root_squash"

# The seed's server 755083456 is the NFS client inside the namespace (docs/nfs.md "Server
# identity"); the host's end of the veth pair is registered nowhere.
[[server]]
id = "755083456"
addresses = ["127.0.0.1"]
TOML

Q="nfsport=$NFS_PORT&mountport=$MOUNT_PORT&version=3"
URL="nfs://127.0.0.1/my_vmset/vm1"
start_cafsd() {
  $X timeout -s KILL 600 "$CAFSD" --config "$T/cafsd.toml" >> "$T/cafsd.log" 2>&1 7>&- &
  PID=$!
  for _ in $(seq 100); do
    timeout 5 $X nfs-ls "nfs://127.0.0.1/my_vmset?$Q" >/dev/null 2>&1 && return 0
    kill -0 "$PID" 2>/dev/null || fail "cafsd exited"
    sleep 0.1
  done
  fail "cafsd does not answer NFS"
}
start_cafsd

# Copies in and out.
head -c 5M /dev/urandom > "$T/ref.bin"
printf 'displayName = "vm1"\n' > "$T/vm.vmx"
timeout 60 $X nfs-cp "$T/ref.bin" "$URL/osdisk.img?$Q" || fail "nfs-cp in"
timeout 60 $X nfs-cp "$T/vm.vmx" "$URL/vm.vmx?$Q" || fail "nfs-cp in vm.vmx"
timeout 60 $X nfs-cp "$URL/osdisk.img?$Q" "$T/back.bin" || fail "nfs-cp out"
cmp "$T/ref.bin" "$T/back.bin" || fail "copy out differs from copy in"
[ "$(timeout 20 $X nfs-cat "$URL/vm.vmx?$Q")" = 'displayName = "vm1"' ] || fail "nfs-cat"
timeout 20 $X nfs-ls "$URL?$Q" > "$T/ls.out" 2>&1 || fail "nfs-ls: $(cat "$T/ls.out")"
grep -q 'osdisk.img' "$T/ls.out" && grep -q 'vm.vmx' "$T/ls.out" || fail "nfs-ls: $(cat "$T/ls.out")"
grep -q '##' "$T/ls.out" && fail "nfs-ls shows a redirector name"
grep -q '5242880' "$T/ls.out" || fail "nfs-ls size: $(cat "$T/ls.out")"

# Ciphertext in the pool for *osdisk*, clear text after the header for the rest.
# (Each pool file is where its redirector's `path` line says: pool paths carry no names.)
pool_file() { echo "$T/pools/$2/$(sed -n 's/^path //p' "$T/backing/$1##$2")"; }
python3 - "$(pool_file my_vmset/vm1/osdisk.img mirrored_pool_A)" "$T/ref.bin" \
  "$(pool_file my_vmset/vm1/vm.vmx default_pool)" <<'PY' || fail "pool file contents"
import sys
enc = open(sys.argv[1], 'rb').read()
ref = open(sys.argv[2], 'rb').read()
assert enc[:8] == b'CAFSPOOL'
assert ref[:4096] not in enc and ref[-4096:] not in enc, "plaintext in the encrypted pool file"
clear = open(sys.argv[3], 'rb').read()
assert clear[4096:4096 + 11] == b'displayName', clear[4096:4120]
PY

# qemu-img on nfs:// URLs.
timeout 60 $X qemu-img create -q -f qcow2 "$URL/osdisk1.qcow2" 64M || fail "qemu-img create"
timeout 60 $X qemu-io -f qcow2 -c 'write -P 0xab 0 4M' "$URL/osdisk1.qcow2" >/dev/null ||
  fail "qemu-io write"
timeout 60 $X qemu-img check -q -f qcow2 "$URL/osdisk1.qcow2" || fail "qemu-img check"
timeout 60 $X qemu-img convert -f qcow2 -O raw "$URL/osdisk1.qcow2" "$T/out.raw" ||
  fail "qemu-img convert out"
python3 - "$T/out.raw" <<'PY' || fail "converted image content"
import sys
d = open(sys.argv[1], 'rb').read()
assert len(d) == 64 << 20, len(d)
assert d[:4 << 20] == b'\xab' * (4 << 20)
assert d[4 << 20:] == bytes(len(d) - (4 << 20))
PY
timeout 60 $X qemu-img convert -f raw -O qcow2 "$T/out.raw" "$URL/osdisk2.qcow2" ||
  fail "qemu-img convert in"
timeout 60 $X qemu-img compare -f qcow2 -F raw "$URL/osdisk2.qcow2" "$T/out.raw" >/dev/null ||
  fail "qemu-img compare"
[ -f "$T/backing/my_vmset/vm1/osdisk2.qcow2##mirrored_pool_A" ] || fail "redirector name"

# A client the export admits but no registered server of the VM set is at (the host, through
# the veth pair, connects from $HOST_IP): NFS3ERR_ACCES and an audit record naming that address.
out=$(timeout 30 nfs-cat "nfs://$SRV_IP/my_vmset/vm1/vm.vmx?$Q" 2>&1) &&
  fail "denied client read the file: $out"
echo "$out" | grep -q 'NFS3ERR_ACCES' || fail "denial is not NFS3ERR_ACCES: $out"
for _ in $(seq 30); do grep -q "\"client\":\"$HOST_IP\"" "$T/audit.log" && break; sleep 0.1; done
grep "\"client\":\"$HOST_IP\"" "$T/audit.log" | grep -q '"result":"denied"' ||
  fail "no denied audit record naming $HOST_IP"
# The listed address still reads.
[ "$(timeout 20 $X nfs-cat "$URL/vm.vmx?$Q")" = 'displayName = "vm1"' ] || fail "allowed after deny"

# A handle held across kill -9 + restart, and stale after remove (qemu-io keeps the file
# open through libnfs; commands go in through a FIFO).
mkfifo "$T/qio.in"
$X qemu-io -f raw "$URL/osdisk.img" < "$T/qio.in" >> "$T/qio.out" 2>&1 &
QIO=$!
exec 7> "$T/qio.in"
qio() {  # sends a command, waits for its output line matching $2
  echo "$1" >&7
  for _ in $(seq 300); do grep -Eq "$2" "$T/qio.out" && return 0; sleep 0.1; done
  fail "qemu-io: no '$2' after '$1': $(cat "$T/qio.out")"
}
hex_at() { od -An -tx1 -j "$1" -N16 "$T/ref.bin" | xargs; }
qio 'read -v 0 16' '00000000:'
grep -q "00000000:  $(hex_at 0)" "$T/qio.out" || fail "qemu-io data: $(cat "$T/qio.out")"
kill_cafsd_9
wait "$PID" 2>/dev/null
PID=""
[ -n "$KILLED" ] || fail "no cafsd under its timeout wrapper"
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
for _ in $(seq 50); do alive "$KILLED" || break; sleep 0.1; done
alive "$KILLED" && fail "cafsd ($KILLED) survived kill -9"
start_cafsd
: > "$T/qio.out"
qio 'read -v 4096 16' '00001000:|failed'
grep -q "00001000:  $(hex_at 4096)" "$T/qio.out" ||
  fail "handle not usable after restart: $(cat "$T/qio.out")"
rm -f "$T/backing/my_vmset/vm1/osdisk.img##mirrored_pool_A"
: > "$T/qio.out"
qio 'read 0 4096' 'read [0-9]+/|failed'
grep -q 'NFS3ERR_STALE' "$T/qio.out" || fail "removed file: no NFS3ERR_STALE: $(cat "$T/qio.out")"
echo quit >&7
exec 7>&-
for _ in $(seq 100); do kill -0 "$QIO" 2>/dev/null || break; sleep 0.1; done
kill -9 "$QIO" 2>/dev/null
wait "$QIO" 2>/dev/null
QIO=""

# Deep rekey while a libnfs client writes and verifies (issue 14; docs/jobs.md "Deep rekey"):
# a 16 MiB image with pattern 0x40+i in MiB i; key version 2 issued; `cafsd rekey` runs
# (rate-limited to last a few seconds) while qemu-io rewrites MiBs and verifies them and a
# neighbour through nfs://; then the job is done, the header names version 2 only (state 0),
# and every MiB still reads its pattern.
RK=osdisk-rekey.img
RKMIB=16
timeout 60 $X qemu-img create -q -f raw "$URL/$RK" ${RKMIB}M || fail "qemu-img create $RK"
EXPECT=()
cmds=()
for i in $(seq 0 $((RKMIB - 1))); do
  EXPECT[i]=$((0x40 + i))
  cmds+=(-c "write -P ${EXPECT[i]} $((i << 20)) 1M")
done
timeout 120 $X qemu-io -f raw "${cmds[@]}" "$URL/$RK" > "$T/rk-fill.log" 2>&1 ||
  fail "qemu-io fill: $(tail -3 "$T/rk-fill.log")"
echo "062b9056-bf64-11df-8d3e-000c29abeb4d 2 $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" \
  >> "$T/keys/my_vmset/keys"
sleep 2  # past the key cache TTL
rk_header() {  # "state version" of the pool file's v2 tail (docs/format.md 8.1)
  python3 -c 'import struct,sys; h=open(sys.argv[1],"rb").read(4096); print(h[3584], struct.unpack_from("<I",h,3588)[0] if h[3585]==2 else struct.unpack_from("<I",h,88)[0])' \
    "$(pool_file "my_vmset/vm1/$RK" mirrored_pool_A)"
}
ctl() { timeout 120 $X "$CAFSD" --config "$T/cafsd.toml" "$@"; }
JOB=$(ctl rekey "/my_vmset/vm1/$RK" --to-version 2 --rate 3M --no-wait) || fail "rekey: exit $?"
ROUNDS=0
for round in $(seq 1 100); do  # bounded
  i=$((round % RKMIB))
  j=$(((i + 5) % RKMIB))
  pat=$(((round * 7) % 200 + 1))
  : > "$T/rk.log"
  timeout 60 $X qemu-io -f raw -c "write -P $pat $((i << 20)) 1M" -c "read -P $pat $((i << 20)) 1M" \
    -c "read -P ${EXPECT[j]} $((j << 20)) 1M" "$URL/$RK" > "$T/rk.log" 2>&1 ||
    fail "qemu-io round $round: $(tail -3 "$T/rk.log")"
  grep -q "Pattern verification failed" "$T/rk.log" && fail "pattern mismatch in round $round"
  EXPECT[i]=$pat
  ROUNDS=$round
  state=$(ctl jobs show "$JOB" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
  [ "$state" = running ] || [ "$state" = queued ] || break
done
ctl jobs watch "$JOB" --json > "$T/rk-watch.json" || fail "rekey job: $(cat "$T/rk-watch.json")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
  "$T/rk-watch.json" || fail "rekey job not done: $(cat "$T/rk-watch.json")"
[ "$ROUNDS" -ge 2 ] || fail "the rekey ended before qemu-io overlapped it ($ROUNDS rounds)"
[ "$(rk_header)" = "0 2" ] || fail "$RK header: $(rk_header), not '0 2'"
cmds=()
for i in $(seq 0 $((RKMIB - 1))); do cmds+=(-c "read -P ${EXPECT[i]} $((i << 20)) 1M"); done
timeout 120 $X qemu-io -f raw -r "${cmds[@]}" "$URL/$RK" > "$T/rk-verify.log" 2>&1 ||
  fail "verify after the rekey: $(tail -3 "$T/rk-verify.log")"
grep -q "Pattern verification failed" "$T/rk-verify.log" && fail "pattern mismatch after the rekey"
echo "ok: $ROUNDS qemu-io rounds over NFS verified during the rekey; header names version 2 only"

stop_cafsd
grep -q '"op":"create"' "$T/audit.log" || fail "no create audit record"
echo "PASS"
