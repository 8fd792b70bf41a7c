#!/bin/bash
# Live migration through NFS (issue 15: "the live migration test ... through NFS (libnfs)";
# docs/migration.md): cafsd serves NFSv3 (lib/cafsd_nfs.sh, the seed's policy: *osdisk*
# encrypted in mirrored_pool_A); nfs_pattern_io (libnfs raw calls) creates
# my_vmset/vm1/osdisk1.img and writes pattern blocks, each read back and compared at once,
# checking throughout that the file handle it took at the start stays valid (GETATTR
# NFS3_OK, same fileid and size; LOOKUP gives the same handle) -- WHILE `cafsd migrate` moves
# the image back and forth between mirrored_pool_A and default_pool MOVES times. Every move
# ends done with the pool file in the target pool only; the program's every check passes;
# one audit record "migrate" per move; `cafsd fsck` (cafsd stopped) finds nothing.
# Usage: nfs_migrate_cafs_test.sh <cafsd> <nfs_pattern_io> [MiB (16)] [moves (4)].
# Exits 77 when a tool is missing.
set -u
CAFSD=$1
PROG=$2
SIZE_MIB=${3:-16}
MOVES=${4:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/cafsd_nfs.sh"
cafsd_nfs_test_begin nfsmigrate
for tool in python3 find; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
PROG_PID=""
cleanup_prog() { [ -n "$PROG_PID" ] && kill "$PROG_PID" 2>/dev/null && wait "$PROG_PID" 2>/dev/null; }
trap 'cleanup_prog; cafsd_nfs_test_cleanup' EXIT

W=$T/cafs
ctl() { timeout 120 "$CAFSD" --config "$W/cafsd.toml" "$@"; }
REL=my_vmset/vm1/osdisk1.img
in_pool_only() {  # pool other_pool
  local f
  f=$(cafsd_pool_file "$W" "$REL" "$1")
  [ -n "$f" ] && [ -f "$f" ] && [ -z "$(find "$W/pools/$2" -type f)" ]
}

cafsd_nfs_start "$CAFSD" "$W" || fail "$CAFSD_NFS_ERROR"
SEED=$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')
echo "seed: $SEED"
timeout 300 "$PROG" 127.0.0.1 "$CAFSD_NFS_PORT" "$CAFSD_NFS_MNT_PORT" "/$REL" "$SIZE_MIB" \
  "$T/stop" 240 "$SEED" >"$T/prog.out" 2>&1 &
PROG_PID=$!
for _ in $(seq 300); do  # the file exists and is filled
  grep -q "^pattern-io: .* fileid" "$T/prog.out" && break
  kill -0 "$PROG_PID" 2>/dev/null || fail "nfs_pattern_io stopped: $(cat "$T/prog.out")"
  sleep 0.1
done
grep -q "^pattern-io: .* fileid" "$T/prog.out" || fail "nfs_pattern_io did not start: $(cat "$T/prog.out")"
in_pool_only mirrored_pool_A default_pool || fail "the image is not in mirrored_pool_A"
INODE=$(stat -c %i "$W/backing/$REL##mirrored_pool_A")

TO=default_pool
FROM=mirrored_pool_A
for move in $(seq 1 "$MOVES"); do
  ctl migrate /$REL --to $TO --rate 16M --json >"$T/move$move.json" 2>"$T/move$move.err" ||
    fail "move $move to $TO: $(cat "$T/move$move.err")"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
    "$T/move$move.json" || fail "move $move not done: $(cat "$T/move$move.json")"
  in_pool_only $TO $FROM || fail "after move $move the pool file is not in $TO only"
  [ "$(stat -c %i "$W/backing/$REL##$TO")" = "$INODE" ] ||
    fail "move $move: the redirector's inode changed"
  kill -0 "$PROG_PID" 2>/dev/null || fail "nfs_pattern_io stopped during move $move: $(cat "$T/prog.out")"
  grep -q "^FAIL" "$T/prog.out" && fail "nfs_pattern_io during move $move: $(grep FAIL "$T/prog.out" | head)"
  X=$TO TO=$FROM FROM=$X
done
touch "$T/stop"
wait "$PROG_PID"
rc=$?
PROG_PID=""
cat "$T/prog.out"
[ "$rc" = 0 ] || fail "nfs_pattern_io exited $rc"
grep -q "^pattern-io: [0-9]* checks passed" "$T/prog.out" || fail "no summary line"
WRITES=$(sed -n 's/^pattern-io: \([0-9]*\) writes.*/\1/p' "$T/prog.out")
[ "${WRITES:-0}" -ge "$MOVES" ] || fail "only ${WRITES:-0} writes during $MOVES moves"
N=$(grep '"op":"migrate"' "$W/audit.log" | grep -c "moved from pool")
[ "$N" = "$MOVES" ] || fail "$N audit records 'migrate', expected $MOVES"
cafsd_nfs_stop
ctl fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
echo "ok: $MOVES moves while nfs_pattern_io wrote and verified $WRITES blocks; the first NFS" \
  "handle stayed valid, fileid, size and redirector inode unchanged; fsck clean"
echo "PASS"
