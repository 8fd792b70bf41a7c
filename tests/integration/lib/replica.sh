# shellcheck shell=bash
# DR replica steps shared by the replica integration tests (sourced; docs/replicas.md). They
# use the caller's `ctl` (cafsd with its --config), `fail` (print and exit 1) and work
# directory T, and REPLICA_POOL / REPLICA_VMSET (the DR pool, the VM set GUID); the VM is
# /my_vmset/vm1.
#
#   replica_jget FILE EXPR       prints the Python expression EXPR over the JSON in FILE (j)
#   replica_run NAME [ARGS]      `cafsd replica run /my_vmset/vm1` into REPLICA_POOL; its job
#                                JSON in $T/NAME.json, the start and end times in $T/NAME.time;
#                                fails the test unless the job is done
#   replica_copied NAME          bytes the replica NAME copied
#   replica_id NAME              replica NAME's id
#   replica_restore AS ID        restores replica ID as the VM AS (job JSON $T/restore.json,
#                                stderr $T/restore.err); its exit status
#   replica_flip FILE OFFSET     flips one bit of the byte at OFFSET of FILE (tampering)
#   replica_restore_both         restores replicas `inc` and `full` as /my_vmset/vm1_inc and
#                                /my_vmset/vm1_full; `qemu-img check` of each and `qemu-img
#                                compare` with the copy taken at its time ($T/at_NAME.qcow2)
#   replica_full_and_incremental F SIZE_MIB
#                                the VM disk F (qcow2 through the mount, in /my_vmset/vm1):
#                                created, written with qemu-io patterns 0xa1/0xa2; replica
#                                `full`; 1% rewritten (0xb3); replica `inc`; copies of F at each
#                                replica's time in $T/at_full.qcow2 and $T/at_inc.qcow2; checks
#                                that inc copied something, at most 5% of full, and that its
#                                parent is full; prints both byte counts and times

replica_jget() {  # file python-expression-on-j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

replica_run() {  # name [extra args]
  local name=$1 t0
  shift
  t0=$(date +%s.%N)
  ctl replica run /my_vmset/vm1 --pool "$REPLICA_POOL" --json "$@" >"$T/$name.json" \
    2>"$T/$name.err" || fail "replica $name: $(cat "$T/$name.err")"
  echo "$t0 $(date +%s.%N)" >"$T/$name.time"
  [ "$(replica_jget "$T/$name.json" 'j["state"]')" = "done" ] ||
    fail "replica $name not done: $(cat "$T/$name.json")"
}

replica_copied() { replica_jget "$T/$1.json" 'j["tasks"][0]["cursor"]["bytes_copied"]'; }
replica_id() { replica_jget "$T/$1.json" 'j["tasks"][0]["cursor"]["replica"]'; }

replica_restore() {  # as replica-id
  ctl replica restore --pool "$REPLICA_POOL" --vmset "$REPLICA_VMSET" --vm vm1 --replica "$2" \
    --as "$1" --json >"$T/restore.json" 2>"$T/restore.err"
}

replica_flip() {  # file offset
  python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x40]))
PY
}

replica_full_and_incremental() {  # disk size-mib
  local f=$1 size=$2 change full inc
  mkdir -p "$(dirname "$f")" || fail "mkdir"
  timeout 60 qemu-img create -q -f qcow2 "$f" "${size}M" || fail "qemu-img create"
  timeout 120 qemu-io -f qcow2 -c "write -P 0xa1 0 $((size / 2))M" \
    -c "write -P 0xa2 $((size / 2))M $((size / 2))M" "$f" >/dev/null || fail "qemu-io write"
  replica_run full
  cp "$f" "$T/at_full.qcow2" || fail "copy at the full replica"
  change=$((size * 1024 * 1024 / 100))
  timeout 60 qemu-io -f qcow2 -c "write -P 0xb3 $((size / 3))M $change" "$f" >/dev/null ||
    fail "qemu-io change"
  replica_run inc
  cp "$f" "$T/at_inc.qcow2" || fail "copy at the incremental replica"
  full=$(replica_copied full)
  inc=$(replica_copied inc)
  echo "full replica: $full bytes copied in $(replica_seconds full) s; incremental after" \
    "changing $change bytes (1%): $inc bytes copied in $(replica_seconds inc) s"
  [ "$inc" -gt 0 ] || fail "the incremental replica copied nothing"
  [ "$inc" -le $((full / 20)) ] || fail "the incremental replica copied $inc bytes of $full (more than 5%)"
  [ "$(replica_jget "$T/inc.json" 'j["tasks"][0]["cursor"]["parent"]')" = "$(replica_id full)" ] ||
    fail "the incremental replica's parent is not the full one"
}

replica_seconds() {  # name: how long replica NAME took
  python3 -c "import sys; a,b=map(float,open(sys.argv[1]).read().split()); print(f'{b-a:.2f}')" "$T/$1.time"
}

replica_restore_both() {
  local v r
  for v in inc full; do
    replica_restore "/my_vmset/vm1_$v" "$(replica_id $v)" || fail "restore $v: $(cat "$T/restore.err")"
    r=$T/mnt/my_vmset/vm1_$v/osdisk1.qcow2
    timeout 60 qemu-img check -q "$r" || fail "qemu-img check of the restored $v replica"
    timeout 60 qemu-img compare -q "$r" "$T/at_$v.qcow2" || fail "the restored $v replica differs"
  done
}
