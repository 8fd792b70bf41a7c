#!/bin/bash
# Migration across pool kinds (issue 18 item 5, issue 15; docs/migration.md "Pool kinds"):
# cafsd with the seed's policy, *osdisk* -> aes-256-xts in mirrored_pool_A, which is a RADOS
# pool (kind "rados", a namespace of its own in the test cluster), default_pool a directory,
# and cold_pool an s3 pool (kind "s3", a key prefix of its own in the cluster's radosgw).
# One disk image moves along every directed pair of kinds:
#   rados -> posix, posix -> rados   live: a writer fsyncs 4 KiB blocks into it through the
#                                    FUSE mount during the move (lib/fsync_blocks.py), every
#                                    fsync'ed block reads back afterwards;
#   rados -> s3 while the image is open: refused (exit 1, "takes whole objects only": an s3
#                                    pool has no random writes, docs/pools.md "Capabilities"),
#                                    nothing moved, no object left in the bucket;
#   rados -> s3, s3 -> posix, posix -> s3, s3 -> rados   closed: each done;
# after every move the redirector names the target pool, the raw objects / files are in the
# target kind only (rados ls, the bucket listing, the directory), the name, size and inode seen
# through the mount are unchanged and the image reads back exactly; `cafsd fsck` clean.
# The cluster is the CTest fixture `ceph` (tests/integration/pool.cmake): CAFS_TEST_CEPH_DIR
# names it. Usage: cafs_migrate_pools_test.sh <path to cafsd> [image MiB (8)]. Exits 77 when
# the cluster, radosgw, FUSE or a client tool is missing.
set -u
CAFSD=$1
SIZE_MIB=${2:-8}
# shellcheck source=lib/ceph.sh
source "$(dirname "$0")/lib/ceph.sh"
ceph_gateway_test_require fusermount3 python3 mountpoint rados curl radosgw
why=$(ceph_s3_wait "$CEPH_DIR") || { echo "FAIL: $why"; exit 1; }

T=$(mktemp -d /tmp/cafs-migrate-pools-XXXXXX)
M=$T/mnt
NS=migrate-$$
PREFIX=migrate-$$
RADOS=(timeout 60 rados -c "$CEPH_DIR/ceph.conf" -p cafs -N "$NS")
BLOCKS_PY=$(dirname "$0")/lib/fsync_blocks.py  # fill, write, verify (see its header)
# shellcheck source=lib/cafsd.sh
source "$(dirname "$0")/lib/cafsd.sh"
s3_keys() { ceph_s3_keys "$CEPH_DIR" "$PREFIX"; }  # the keys below the prefix, one a line
WRITER_PID=""
cleanup() {
  [ -n "$WRITER_PID" ] && kill -9 "$WRITER_PID" 2>/dev/null
  exec 3<&- 2>/dev/null
  cafsd_stop "$T"
  ceph_s3_remove_prefix "$CEPH_DIR" "$PREFIX"
  ceph_remove_namespace "$CEPH_DIR" "$NS"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }
ctl() { timeout 120 "$CAFSD" --config "$T/cafsd.toml" "$@"; }

cafsd_seed_keys "$T/keys"
mkdir -p "$T/staging"
CAFSD_POOL_A=$(ceph_pool_toml "$CEPH_DIR" "$NS" 20)
export CAFSD_POOL_A
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"cold_pool\"
$(ceph_s3_pool_toml "$CEPH_DIR" "$PREFIX" "$T/staging")"
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"

REL=my_vmset/vm1/osdisk1.img
IMG=$M/$REL
SEED=$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')
BLOCKS=$((SIZE_MIB * 256))
echo "seed: $SEED"
timeout 20 mkdir -p "$M/my_vmset/vm1" || fail "mkdir"
timeout 20 truncate -s "${SIZE_MIB}M" "$IMG" || fail "truncate"
timeout 120 python3 "$BLOCKS_PY" fill "$IMG" "$SEED" "$BLOCKS" || fail "fill"
: >"$T/log"
INODE=$(stat -c %i "$IMG")
SIZE=$(stat -c %s "$IMG")

# Where the image is: the redirector's pool and what each kind holds.
placed_in() {  # pool
  local posix rados s3
  [ -e "$T/backing/$REL##$1" ] || return 1
  posix=$(find "$T/pools/default_pool" -type f | wc -l)
  rados=$("${RADOS[@]}" ls | wc -l)
  s3=$(s3_keys | wc -l)
  case $1 in
    default_pool) [ "$posix" = 1 ] && [ "$rados" = 0 ] && [ "$s3" = 0 ] ;;
    mirrored_pool_A) [ "$posix" = 0 ] && [ "$rados" -gt 0 ] && [ "$s3" = 0 ] ;;
    cold_pool) [ "$posix" = 0 ] && [ "$rados" = 0 ] && [ "$s3" -ge 1 ] ;;
  esac
}
# kind:pool, for messages
kind_of() { case $1 in default_pool) echo posix ;; mirrored_pool_A) echo rados ;; *) echo s3 ;; esac; }
verify() {  # what
  local out
  out=$(timeout 120 python3 "$BLOCKS_PY" verify "$IMG" "$SEED" "$BLOCKS" "$T/log" 2>&1) ||
    fail "$1: $out"
  [ "$(stat -c %i "$IMG")" = "$INODE" ] || fail "$1: the inode changed"
  [ "$(stat -c %s "$IMG")" = "$SIZE" ] || fail "$1: the size changed"
}
move() {  # to_pool [live]
  local from=$CUR what
  what="$(kind_of "$from") -> $(kind_of "$1")"
  local rate=64M l0
  if [ "${2:-}" = live ]; then  # the move starts once the writer has fsync'ed a block
    rate=$((SIZE_MIB / 2))M
    l0=$(wc -l <"$T/log")
    python3 "$BLOCKS_PY" write "$IMG" "$SEED" "$BLOCKS" "$T/log" "$((SEED + ${#what}))" \
      "$((GEN += 100000))" 2>"$T/writer.err" &
    WRITER_PID=$!
    for _ in $(seq 600); do
      tail -n +$((l0 + 1)) "$T/log" | grep -q '^S' && break
      kill -0 "$WRITER_PID" 2>/dev/null || fail "$what: the writer stopped: $(cat "$T/writer.err")"
      sleep 0.05
    done
  fi
  # A file closed a moment ago may still be released by the kernel: a few tries.
  for _ in $(seq 20); do
    ctl migrate /$REL --to "$1" --rate "$rate" --json >"$T/move.json" 2>"$T/move.err" && break
    grep -q "is open" "$T/move.err" && [ "${2:-}" != live ] || break
    sleep 0.25
  done
  if [ -n "$WRITER_PID" ]; then
    kill -9 "$WRITER_PID" 2>/dev/null
    wait "$WRITER_PID" 2>/dev/null
    WRITER_PID=""
    [ "$(tail -n +$((l0 + 1)) "$T/log" | grep -c '^S')" -gt 1 ] ||
      fail "$what: the writer wrote nothing during the move: $(cat "$T/writer.err")"
  fi
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j' \
    "$T/move.json" 2>/dev/null || fail "$what: $(cat "$T/move.err" "$T/move.json")"
  placed_in "$1" || fail "$what: the image is not in $1 only"
  verify "$what"
  CUR=$1
  local note=""
  [ "${2:-}" = live ] && note=" (live, $(grep -c '^S' "$T/log") fsync'ed writes so far)"
  echo "ok: $what$note"
}
GEN=1
CUR=mirrored_pool_A
placed_in mirrored_pool_A || fail "the image is not in the RADOS pool"
move default_pool live
move mirrored_pool_A live

# Open: an s3 pool takes whole objects only (no random writes): refused, nothing moved.
exec 3<"$IMG"
ctl migrate /$REL --to cold_pool >"$T/out" 2>&1
rc=$?
exec 3<&-
[ "$rc" = 1 ] || fail "migrate of an open file to s3: exit $rc, not 1: $(cat "$T/out")"
grep -q "takes whole objects only" "$T/out" || fail "no reason given: $(cat "$T/out")"
placed_in mirrored_pool_A || fail "the refused move changed the placement"
echo "ok: an open image is refused by the s3 pool: $(tail -1 "$T/out")"

move cold_pool
move default_pool
move cold_pool
move mirrored_pool_A
cafsd_stop "$T"
ctl fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
echo "ok: cafsd fsck finds nothing"
echo "PASS"
