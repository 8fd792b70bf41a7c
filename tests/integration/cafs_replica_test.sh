#!/bin/bash
# DR replicas and restore through cafsd + FUSE (issue 15 items 4, 5; docs/replicas.md):
#  1. qemu-img creates a qcow2 VM disk through the mount, qemu-io writes patterns; `cafsd
#     replica run` makes a full replica in the DR pool; ~1% of the disk changes; an
#     incremental replica copies about 1% (both byte counts and times are printed);
#  2. both replicas restored as new VMs: `qemu-img check` passes and `qemu-img compare`
#     matches a copy taken at each replica's time; `cafsd replica list` and `verify` pass;
#  3. a chunk of a replica's data and a byte of a manifest tampered with: verify exits 1,
#     the restore job fails and places nothing;
#  4. the DR pool vanishes in the middle of a (rate-limited) replica: the job fails cleanly;
#     the pool comes back, `cafsd jobs resume` completes it; it verifies and restores;
#  5. the policy's <replica vm="vm1" interval="10s" keep="2" pool="dr_pool"/> (a shortened
#     interval): cafsd starts two scheduled replica jobs on its own, 10 s apart; the DR pool
#     keeps 2 replicas of vm1;
#  6. `cafsd fsck` (cafsd stopped) finds nothing.
# Root only (FUSE): exits 77 otherwise, or when FUSE, qemu-img or qemu-io is missing.
# Usage: cafs_replica_test.sh <path to cafsd> [disk size MiB]   (64 in CI; bench: 1024)
set -u
CAFSD=$1
SIZE_MIB=${2:-64}
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "FUSE mount" fusermount3 python3 mountpoint qemu-img qemu-io
cafsd_test_init replica 300
# shellcheck source=lib/replica.sh
. "$(dirname "$0")/lib/replica.sh"
# shellcheck disable=SC2034  # read by lib/replica.sh
REPLICA_POOL=dr_pool
jget() { replica_jget "$@"; }
VMSET_ID=6d1b3c8e-0f6a-4c55-9a38-5f0d3a2b7c11
# shellcheck disable=SC2034  # read by lib/replica.sh
REPLICA_VMSET=$VMSET_ID

# --- set-up: the seed's VM set with a GUID, a DR pool ---
cafsd_seed_keys "$T/keys"
sed -i "s|<vmserv>|<vmset-id>$VMSET_ID</vmset-id><vmserv>|" "$T/keys/my_vmset/vmset.xml"
mkdir -p "$T/pools/dr_pool"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"dr_pool\"
path = \"$T/pools/dr_pool\"

[cache]
ttl_s = 1"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
F=$T/mnt/my_vmset/vm1/osdisk1.qcow2

# --- 1. full, then ~1% changed, incremental ---
replica_full_and_incremental "$F" "$SIZE_MIB"
echo "ok: full then incremental replica (~1% copied)"

# --- 2. list, verify, restore both as new VMs ---
ctl replica list --pool dr_pool >"$T/list" || fail "replica list: $(cat "$T/list")"
[ "$(grep -c 'my_vmset/vm1' "$T/list")" = 2 ] || fail "replica list: $(cat "$T/list")"
ctl replica verify --pool dr_pool --vmset $VMSET_ID --vm vm1 >"$T/verify" 2>&1 ||
  fail "replica verify: $(cat "$T/verify")"
# The same through cafsctl and cafsd's control socket (cafsctl replica list|verify).
CAFSCTL=$(dirname "$CAFSD")/../cafsctl/cafsctl
if [ -x "$CAFSCTL" ]; then
  export CAFS_CONTROL_SOCKET=$T/backing/.cafs-control
  timeout 60 "$CAFSCTL" --json replica list --pool dr_pool >"$T/ctl-list.json" ||
    fail "cafsctl replica list: $(cat "$T/ctl-list.json")"
  [ "$(jget "$T/ctl-list.json" 'len([r for r in j if r["vm"] == "vm1" and "error" not in r])')" = 2 ] ||
    fail "cafsctl replica list: $(cat "$T/ctl-list.json")"
  timeout 60 "$CAFSCTL" replica verify --pool dr_pool --vmset $VMSET_ID --vm vm1 >"$T/ctl-verify" 2>&1 ||
    fail "cafsctl replica verify: $(cat "$T/ctl-verify")"
  timeout 60 "$CAFSCTL" replica verify --pool dr_pool --vmset not-a-guid --vm vm1 >"$T/ctl-verify" 2>&1 &&
    fail "cafsctl replica verify took a bad GUID"
  timeout 120 "$CAFSCTL" replica restore --pool dr_pool --vmset $VMSET_ID --vm vm1 \
    --as /my_vmset/vm1_ctl >"$T/ctl-restore" 2>&1 || fail "cafsctl replica restore: $(cat "$T/ctl-restore")"
  timeout 60 qemu-img compare -q "$T/mnt/my_vmset/vm1_ctl/osdisk1.qcow2" "$T/at_inc.qcow2" ||
    fail "the VM cafsctl restored differs"
  echo "ok: cafsctl replica list, verify and restore through the control socket"
fi
replica_restore_both
echo "ok: both replicas restored as new VMs; qemu-img check and compare pass"

# --- 3. tampering is detected, nothing restored ---
RDIR=$T/pools/dr_pool/cafs-replicas/$VMSET_ID/vm1/$(replica_id full)
DATA=$(find "$RDIR" -type f ! -name manifest -size +1M | head -1)
[ -n "$DATA" ] || fail "no data file in $RDIR"
replica_flip "$DATA" 5000
ctl replica verify --pool dr_pool --vmset $VMSET_ID --vm vm1 --replica "$(replica_id full)" \
  >"$T/verify" 2>&1 && fail "verify passed tampered data"
grep -q "does not match its manifest hash" "$T/verify" || fail "verify: $(cat "$T/verify")"
replica_restore /my_vmset/vm1_bad "$(replica_id full)" && fail "a tampered replica was restored"
[ -e "$T/mnt/my_vmset/vm1_bad/osdisk1.qcow2" ] && fail "a tampered file was placed"
replica_flip "$DATA" 5000
replica_flip "$T/pools/dr_pool/cafs-replicas/$VMSET_ID/vm1/$(replica_id inc)/manifest" 90
ctl replica list --pool dr_pool >"$T/list" && fail "list did not report a tampered manifest"
grep -q "BAD: .*MAC mismatch" "$T/list" || fail "list: $(cat "$T/list")"
replica_restore /my_vmset/vm1_bad2 "$(replica_id inc)" && fail "a replica with a tampered manifest was restored"
replica_flip "$T/pools/dr_pool/cafs-replicas/$VMSET_ID/vm1/$(replica_id inc)/manifest" 90
echo "ok: tampered data and manifest detected; nothing restored"

# --- 4. the DR pool vanishes mid-replica: the job fails cleanly, resumes later ---
timeout 120 qemu-io -f qcow2 -c "write -P 0xc4 0 $((SIZE_MIB / 2))M" "$F" >/dev/null ||
  fail "qemu-io write 3"
ctl replica run /my_vmset/vm1 --pool dr_pool --rate 8M --no-wait >"$T/job" 2>&1 ||
  fail "replica run --no-wait: $(cat "$T/job")"
JOB=$(cat "$T/job")
cafsd_job_record_progress "$JOB" || fail "the replica made no progress"
mv "$T/pools/dr_pool" "$T/pools/dr_pool.gone"
ctl jobs wait "$JOB" --until failed --timeout 30 --json >"$T/state.json" ||
  fail "the job did not fail when the DR pool vanished: $(cat "$T/state.json")"
mv "$T/pools/dr_pool.gone" "$T/pools/dr_pool"
ctl jobs resume "$JOB" --wait >"$T/resume" 2>&1 || fail "jobs resume: $(cat "$T/resume")"
cp "$F" "$T/at_resumed.qcow2"
ctl replica verify --pool dr_pool --vmset $VMSET_ID --vm vm1 >"$T/verify" 2>&1 ||
  fail "verify after the resumed replica: $(cat "$T/verify")"
ctl replica restore --pool dr_pool --vmset $VMSET_ID --vm vm1 --as /my_vmset/vm1_resumed \
  >"$T/restore.out" 2>&1 || fail "restore after resume: $(cat "$T/restore.out")"
timeout 60 qemu-img compare -q "$T/mnt/my_vmset/vm1_resumed/osdisk1.qcow2" "$T/at_resumed.qcow2" ||
  fail "the replica made after the resume differs"
grep -q '"op":"replica"' "$T/audit.log" || fail "no audit record replica"
echo "ok: a vanished DR pool failed the job cleanly; resumed, it completed and restores"

# --- 5. the policy's schedule: replicas every 10 s, keep 2 ---
python3 - "$T/keys/my_vmset/policy.xml" <<'PY'
import re, sys
p = sys.argv[1]
xml = open(p).read()
body = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)
open(p, "w").write("<policy-descriptor>" + body +
                   '<replica vm="vm1" interval="10s" keep="2" pool="dr_pool"/></policy-descriptor>\n')
PY
STATE=$T/backing/.cafs-replica-schedule
seen=""
for _ in $(seq 180); do  # bounded: 90 s (two 10 s intervals, each replica ~1 s in CI)
  if [ -s "$STATE" ]; then
    id=$(jget "$STATE" "j['vms'].get('$VMSET_ID/vm1', {}).get('job', '')")
    if [ -n "$id" ] && ! grep -q "$id" <<<"$seen" &&
       ctl jobs show "$id" --json >"$T/sched.json" 2>/dev/null &&
       [ "$(jget "$T/sched.json" 'j["job"]["state"]')" = done ]; then
      seen="$seen $id"
    fi
  fi
  [ "$(wc -w <<<"$seen")" -ge 2 ] && break
  sleep 0.5
done
[ "$(wc -w <<<"$seen")" -ge 2 ] || fail "no two scheduled replicas in 90 s (seen:$seen; state: $(cat "$STATE" 2>/dev/null))"
[ "$(jget "$T/sched.json" 'j["job"]["requested_by"]')" = "replica schedule" ] ||
  fail "the scheduled job: $(cat "$T/sched.json")"
# The schedule taken out again; once the last scheduled job ended (its retention applied after
# its manifest), the DR pool holds exactly keep=2 replicas of vm1.
cp "$T/keys/my_vmset/policy.xml" "$T/policy.scheduled"
cafsd_seed_policy >"$T/keys/my_vmset/policy.xml"
sleep 2  # the policy cache's ttl_s = 1
id=$(jget "$STATE" "j['vms']['$VMSET_ID/vm1']['job']")
# Until it is final, at most 60 s (a forgotten job is final too: wait then exits 1 at once).
ctl jobs wait "$id" --until done,failed,cancelled --timeout 60 >/dev/null 2>&1
ctl replica list --pool dr_pool --json >"$T/list.json" || fail "replica list after the schedule"
[ "$(jget "$T/list.json" 'len([r for r in j if r["vm"] == "vm1"])')" = 2 ] ||
  fail "keep=2 not applied: $(cat "$T/list.json")"
echo "ok: the policy's schedule made two replicas 10 s apart on its own; 2 kept"

# --- 6. fsck ---
cafsd_stop "$T"
ctl fsck >"$T/fsck" 2>&1 || fail "fsck: $(cat "$T/fsck")"
echo "ok: fsck clean"
echo "PASS"
