#!/usr/bin/env bash
# The main job (README): installs the Debian packages, builds, and runs the CAFS product demo:
# kpsd (SQLite) holds the seed's my_vmset and its policy, cafsctl administers it, cafsd serves
# it over FUSE; a VM disk is created and written with qemu-img/qemu-io, the pool file is shown
# to be ciphertext, then the audit trail and usage. kpsd and cafsd keep running afterwards.
#
#   scripts/demo.sh [--state DIR]            run the demo (stops a previous one in DIR first)
#   scripts/demo.sh --stop [--state DIR]     stop the demo's cafsd and kpsd
#   scripts/demo.sh --foundation [ARGS]      the foundation tour without daemons (cafs-demo)
#   --no-build: use the binaries already built (KPSD, CAFSD, CAFSCTL, CAFS_DEMO may name them)
#
# State (default /tmp/cafs-demo, or CAFS_DEMO_STATE): kpsd's data, the pools, the backing
# store, the mount point, logs, and `env` (source it to use cafsctl against the demo's kpsd).
# Exit codes: 0 ok, 1 a step failed (it says which), 77 FUSE is not available here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CAFS_DEMO_STATE:-/tmp/cafs-demo}
BUILD=${CAFS_DEMO_BUILD:-$ROOT/build}
MODE=run
BUILD_IT=1
FOUNDATION_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --state) STATE=${2:?--state needs a directory}; shift 2 ;;
    --stop) MODE=stop; shift ;;
    --no-build) BUILD_IT=0; shift ;;
    --foundation) MODE=foundation; shift; FOUNDATION_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$STATE" in /*) ;; *) STATE=$PWD/$STATE ;; esac
KPSD=${KPSD:-$BUILD/apps/kpsd/kpsd}
CAFSD=${CAFSD:-$BUILD/apps/cafsd/cafsd}
CAFSCTL=${CAFSCTL:-$BUILD/apps/cafsctl/cafsctl}
CAFS_DEMO=${CAFS_DEMO:-$BUILD/apps/cafs-demo/cafs-demo}
MNT=$STATE/mnt
MARK=$STATE/.cafs-demo-state

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
  echo "demo.sh: FAILED: $*" >&2
  for log in "$STATE/cafsd.log" "$STATE/kpsd.log"; do
    [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -15 "$log" >&2; }
  done
  exit 1
}

stop_pid() {  # stop_pid FILE NAME: SIGTERM, up to 10 s, then SIGKILL
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "stopped $2 (pid $pid)"
  fi
  rm -f "$file"
}

stop_demo() {
  stop_pid "$STATE/cafsd.pid" cafsd
  if mountpoint -q "$MNT" 2>/dev/null; then
    timeout 10 fusermount3 -u -z "$MNT" 2>/dev/null || timeout 10 umount -l "$MNT" || true
  fi
  stop_pid "$STATE/kpsd.pid" kpsd
}

build() {
  [ "$BUILD_IT" = 1 ] || return 0
  "$ROOT/scripts/install-deps.sh"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD" -j "${JOBS:-$(nproc)}" "$@"
}

if [ "$MODE" = stop ]; then
  stop_demo
  echo "demo stopped; its files stay in $STATE (remove them with: rm -rf $STATE)"
  exit 0
fi
if [ "$MODE" = foundation ]; then
  build cafs-demo
  exec "$CAFS_DEMO" "${FOUNDATION_ARGS[@]}"
fi

build cafs-demo kpsd cafsd cafsctl
for b in "$KPSD" "$CAFSD" "$CAFSCTL" "$CAFS_DEMO"; do [ -x "$b" ] || die "$b is not built"; done
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  echo "demo.sh: FUSE is not available here (/dev/fuse, fusermount3): run as root on a" \
       "machine or container with /dev/fuse, or try scripts/demo.sh --foundation" >&2
  exit 77
fi
for tool in qemu-img qemu-io od mountpoint timeout python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

# ---- a clean state: stop a previous demo, then start from scratch --------------------------
if [ -d "$STATE" ]; then
  [ -f "$MARK" ] || [ -z "$(ls -A "$STATE")" ] ||
    die "$STATE exists and is not a demo state directory (choose another with --state)"
  stop_demo
  rm -rf "$STATE"
fi
mkdir -p "$STATE" "$MNT" "$STATE/backing" "$STATE/pools/mirrored_pool_A" \
  "$STATE/pools/default_pool"
touch "$MARK"

say "1. kpsd: the key & policy server (SQLite store in $STATE/kps)"
timeout 60 "$KPSD" init --data-dir "$STATE/kps" >"$STATE/kpsd-init.log" 2>&1 ||
  die "kpsd init: $(cat "$STATE/kpsd-init.log")"
setsid "$KPSD" serve --data-dir "$STATE/kps" --listen 127.0.0.1:0 >"$STATE/kpsd.log" 2>&1 \
  </dev/null &
echo $! >"$STATE/kpsd.pid"
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$STATE/kpsd.log")
  [ -n "$PORT" ] && break
  kill -0 "$(cat "$STATE/kpsd.pid")" 2>/dev/null || die "kpsd exited"
  sleep 0.1
done
[ -n "$PORT" ] || die "kpsd did not start"
export CAFS_KPS_URL=https://127.0.0.1:$PORT
export CAFS_KPS_CERT=$STATE/kps/admin.pem
printf 'export CAFS_KPS_URL=%s\nexport CAFS_KPS_CERT=%s\nexport PATH=%s:$PATH\n' \
  "$CAFS_KPS_URL" "$CAFS_KPS_CERT" "$(dirname "$CAFSCTL")" >"$STATE/env"
echo "kpsd listens on $CAFS_KPS_URL (pid $(cat "$STATE/kpsd.pid")); the security-admin's bundle is $CAFS_KPS_CERT"

ctl() {  # ctl [--as BUNDLE] ARGS...: cafsctl, echoed, failing the demo on error
  local cert=$CAFS_KPS_CERT
  if [ "$1" = --as ]; then cert=$2; shift 2; fi
  echo "\$ cafsctl $*"
  timeout 60 "$CAFSCTL" --cert "$cert" "$@" || die "cafsctl $*"
}

say "2. The seed's VM set my_vmset and its policy, through cafsctl"
KEY=062b9056-bf64-11df-8d3e-000c29abeb4d  # the key the seed's policy names for *osdisk*
PD=45aa9e57-bf64-11df-8d3e-000c29abeb4d   # the seed's policy descriptor
"$CAFS_DEMO" --print-seed vmset >"$STATE/vmset.xml"
# The seed limits *osdisk* to Mon-Fri(9am-5pm); the demo widens that one window to
# at_all_times so it runs any day (scripts/demo.sh --foundation shows the window's decisions).
"$CAFS_DEMO" --print-seed policy | sed 's/Mon-Fri(9am-5pm)/at_all_times/' >"$STATE/policy.xml"
ctl admin add kate --role key-admin --out "$STATE/kate.pem"
ctl admin add alice --role tenant-admin --vmset my_vmset --out "$STATE/alice.pem"
ctl server add 755083456 --name esx-1 --address 127.0.0.1
ctl vmset create --xml "$STATE/vmset.xml"
# The pools the policy names: records in kpsd, allowed to my_vmset by a storage-admin.
ctl admin add sam --role storage-admin --out "$STATE/sam.pem"
for pool in mirrored_pool_A default_pool; do
  ctl --as "$STATE/sam.pem" pool create "$pool"
  ctl --as "$STATE/sam.pem" pool allow my_vmset "$pool"
done
ctl --as "$STATE/kate.pem" key create --vmset my_vmset --id "$KEY"
ctl --as "$STATE/alice.pem" policy upload "$STATE/policy.xml" --vmset my_vmset --id "$PD" \
  --name seed_policy
ctl gateway enroll gw1 --vmset my_vmset --out "$STATE/gw1.pem"
# Two people: the gateway's scope takes effect once my_vmset's tenant-admin approves it.
ctl --as "$STATE/alice.pem" gateway approve gw1 --vmset my_vmset

say "3. cafsd: the gateway, FUSE mount at $MNT"
cat >"$STATE/cafsd.toml" <<TOML
# cafsd configuration of the demo (docs/gateway.md)
[gateway]
server_id = "755083456"   # the seed's <vmserv>: this host is the listed server
backing_store = "$STATE/backing"
mountpoint = "$MNT"

[kps]
url = "$CAFS_KPS_URL"
cert = "$STATE/gw1.pem"
usage_interval_s = 2

[[pool]]
name = "mirrored_pool_A"
path = "$STATE/pools/mirrored_pool_A"

[[pool]]
name = "default_pool"
path = "$STATE/pools/default_pool"

[audit]
log = "$STATE/audit.log"
aggregate_interval_s = 1
TOML
setsid "$CAFSD" --config "$STATE/cafsd.toml" >"$STATE/cafsd.log" 2>&1 </dev/null &
echo $! >"$STATE/cafsd.pid"
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || die "cafsd did not mount $MNT"
echo "cafsd serves $MNT (pid $(cat "$STATE/cafsd.pid")), pools in $STATE/pools"

say "4. A VM disk through the mount: qemu-img create, qemu-io write + read-verify, qemu-img check"
VM=$MNT/my_vmset/windows_xp
DISK=$VM/osdisk1.qcow2
run() { echo "\$ $*"; timeout 120 "$@" || die "$*"; }
run mkdir -p "$VM"
run qemu-img create -f qcow2 "$DISK" 64M
out=$(timeout 120 qemu-io -c 'write -P 0xa5 0 4M' -c 'read -P 0xa5 0 4M' "$DISK" 2>&1) ||
  die "qemu-io: $out"
echo "\$ qemu-io -c 'write -P 0xa5 0 4M' -c 'read -P 0xa5 0 4M' $DISK"
echo "$out"
echo "$out" | grep -q "Pattern verification failed" && die "qemu-io read back another pattern"
run qemu-img check "$DISK"
echo "hello from my_vmset, stored in the clear" >"$VM/notes.txt" || die "write notes.txt"

say "5. What the pools hold"
# A pool file is where its redirector's `path` line says (<store id>/<2 hex>/<guid>: pool
# paths carry no VM set, VM or file name; docs/redirectors.md).
pool_file() { echo "$STATE/pools/$2/$(sed -n 's/^path //p' "$STATE/backing/$1##$2")"; }
POOL_DISK=$(pool_file my_vmset/windows_xp/osdisk1.qcow2 mirrored_pool_A)
POOL_NOTES=$(pool_file my_vmset/windows_xp/notes.txt default_pool)
[ -f "$POOL_DISK" ] || die "no pool file $POOL_DISK"
[ -f "$POOL_NOTES" ] || die "no pool file $POOL_NOTES"
echo "through the mount, osdisk1.qcow2 starts with the qcow2 magic 'QFI\\xfb':"
od -A d -t x1z -N 16 "$DISK"
echo "in mirrored_pool_A, the same file: a 4096-byte CAFS header, then ciphertext (AES-XTS):"
od -A d -t x1z -N 16 "$POOL_DISK"
od -A d -t x1z -j 4096 -N 32 "$POOL_DISK"
echo "notes.txt matches no *osdisk* rule: clear text in default_pool after the header:"
od -A d -t x1z -j 4096 -N 48 "$POOL_NOTES"
python3 - "$POOL_DISK" "$POOL_NOTES" <<'PY' || die "the pool files are not as the policy says"
import sys
disk = open(sys.argv[1], 'rb').read(1 << 20)
notes = open(sys.argv[2], 'rb').read()
assert disk[:8] == b'CAFSPOOL', 'no CAFS header in the encrypted pool file'
assert b'QFI\xfb' not in disk[4096:4200], 'qcow2 magic visible in the encrypted pool file'
assert b'\xa5' * 64 not in disk, 'the qemu-io pattern is visible in the encrypted pool file'
assert notes[:8] == b'CAFSPOOL', 'no CAFS header in the clear pool file'
assert notes[4096:].startswith(b'hello from my_vmset'), 'clear file is not plaintext'
PY
echo "checked: no qcow2 magic and no 0xa5 pattern in the encrypted pool file; plaintext in the clear one"

say "6. The audit trail: cafsd's records, pushed to kpsd"
for _ in $(seq 150); do
  timeout 30 "$CAFSCTL" audit list --access --vmset my_vmset --op write 2>/dev/null |
    grep -q osdisk1.qcow2 && break
  sleep 0.2
done
ctl audit list --access --vmset my_vmset
ctl audit verify
ctl audit verify --file "$STATE/audit.log"

say "7. Usage and capacity"
for _ in $(seq 150); do
  timeout 30 "$CAFSCTL" --json usage --vmset my_vmset 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(v["pool"] == "mirrored_pool_A" and v["bytes"] > 0
                  for s in d for v in s["vmsets"]) else 1)' && break
  sleep 0.2
done
ctl usage

say "The datastore keeps running"
cat <<EOF
kpsd  (pid $(cat "$STATE/kpsd.pid")) at $CAFS_KPS_URL, data in $STATE/kps
cafsd (pid $(cat "$STATE/cafsd.pid")) serving $MNT; logs in $STATE/{kpsd,cafsd}.log
Use it:   source $STATE/env; cafsctl audit list --access; ls $MNT/my_vmset
Stop it:  $ROOT/scripts/demo.sh --stop --state $STATE
EOF
