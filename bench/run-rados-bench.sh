#!/bin/bash
# RADOS pool benchmark (issue 18 "Performance", bench/): on one private single-node cluster
# (tests/integration/lib/ceph.sh: one memstore OSD, pool size 1), fio side by side:
#   direct   fio --ioengine=rados straight into the pool (librados, no CAFS): the ceiling
#   cafs     fio through cafsd's FUSE mount on an *osdisk* file whose pool is kind = "rados"
#            (the seed's policy: aes-256-xts, audit all_records), same cluster, same pool
# and prints MiB/s or IOPS per job and the ratio cafs/direct beside the issue's targets
# (seq write and read >= 0.7, 4k random write >= 0.5).
#
# Usage: bench/run-rados-bench.sh BUILD_DIR [--size 256M] [--runtime SECONDS] [--rounds N]
#                                 [--quick] [--keep]
#   BUILD_DIR  a CMake build tree with cafsd built (ninja -C BUILD_DIR cafsd)
#   --size     bytes per system (default 256M; memstore holds both in RAM: CEPH_MEMSTORE_BYTES
#              is set to 4 x size)
#   --runtime  cap in seconds for each random job (default 5)
#   --rounds   rounds over both systems (default 2); each figure is the best round
#   --quick    --size 128M --runtime 2 --rounds 1 (a smoke run)
#
# Method: fio ioengine=psync (cafs: buffered, direct=0, like bench/run-fuse-bench.sh) or
# ioengine=rados (direct: iodepth 1, so one operation in flight like psync), numjobs=1. Jobs in
# order: seqwrite (bs=1M, end_fsync for cafs: durable in RADOS), seqread (bs=1M; cafs: the
# file's page cache dropped first, invalidate=1), randwrite (bs=4k, fsync at the end), in
# rounds interleaving the two systems. The direct system spreads its bytes over 4 MiB objects
# (nrfiles = size / 4 MiB), the object size RadosPool stripes with (docs/pools.md). The
# cluster's own view is printed too (`rados bench` 4 MiB writes, 5 s). Everything lives in
# one mktemp -d; the cluster and cafsd are stopped on every exit path.
set -u
. "$(dirname "$0")/lib/options.sh"
bench_build_dir "$0" "$@"
shift
SIZE=256M RUNTIME=5 ROUNDS=2 ONLY="" KEEP=0
bench_options "$@"
CAFSD=$BUILD/apps/cafsd/cafsd
[ -x "$CAFSD" ] || { echo "no $CAFSD: ninja -C $BUILD cafsd"; exit 2; }
for tool in fio fusermount3 mountpoint python3 rados; do
  command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 2; }
done
LIB=$(cd "$(dirname "$0")/../tests/integration/lib" && pwd)
# shellcheck source=../tests/integration/lib/ceph.sh
source "$LIB/ceph.sh"
# shellcheck source=../tests/integration/lib/cafsd.sh
source "$LIB/cafsd.sh"

W=$(mktemp -d /tmp/cafs-rados-bench-XXXXXX)
cleanup() {
  cafsd_stop "$W/cafs"
  ceph_stop "$W/ceph"
  [ "$KEEP" = 1 ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bytes=$(numfmt --from=iec "$SIZE")
export CEPH_MEMSTORE_BYTES=$((bytes * 4))
ceph_start "$W/ceph" || { echo "cluster: $CEPH_ERROR"; exit 1; }
echo "cluster ready in $(cat "$W/ceph/ready") s"

mkdir -p "$W/cafs"
cafsd_seed_keys "$W/cafs/keys"
CAFSD_POOL_A=$(ceph_pool_toml "$W/ceph" bench 60)
export CAFSD_POOL_A
cafsd_config "$W/cafs" "[local_keys]
dir = \"$W/cafs/keys\""
cafsd_start "$CAFSD" "$W/cafs" || { echo "cafsd: $CAFSD_ERROR"; exit 1; }
mkdir -p "$W/cafs/mnt/my_vmset/vm1"
FILE=$W/cafs/mnt/my_vmset/vm1/osdisk_bench.img

declare -A BEST
run() {  # system job
  local sys=$1 job=$2 rw bs extra=()
  case "$job" in
    seqwrite) rw=write bs=1M ;;
    seqread) rw=read bs=1M ;;
    randwrite) rw=randwrite bs=4k ;;
  esac
  [ "$job" = randwrite ] && extra+=(--runtime="$RUNTIME" --time_based=0)
  if [ "$sys" = direct ]; then
    extra+=(--ioengine=rados --pool="$CEPH_POOL" --clientname=admin --conf="$W/ceph/ceph.conf"
      --nrfiles=$((bytes / 4194304)) --filesize=4M --iodepth=1 --filename_format='bench.$filenum')
    [ "$job" = seqwrite ] && extra+=(--touch_objects=1)
  else
    extra+=(--ioengine=psync --filename="$FILE" --direct=0 --fallocate=none)
    case "$job" in
      seqwrite | randwrite) extra+=(--end_fsync=1) ;;
      seqread) extra+=(--invalidate=1) ;;
    esac
  fi
  timeout 600 fio --name="$job" --rw="$rw" --bs="$bs" --size="$SIZE" --output-format=json \
    --output="$W/fio.json" "${extra[@]}" 2>"$W/fio.err" ||
    { echo "fio $sys $job: $(tail -3 "$W/fio.err")"; return; }
  python3 - "$sys" "$job" "$W/fio.json" >>"$W/results" <<'PY'
import json, sys
j = json.load(open(sys.argv[3]))["jobs"][0]
side = j["read"] if sys.argv[2] == "seqread" else j["write"]
print(sys.argv[1], sys.argv[2], side["bw"] / 1024.0, side["iops"])
PY
}

: >"$W/results"
for _ in $(seq "$ROUNDS"); do
  for job in seqwrite seqread randwrite; do
    run direct "$job"
    run cafs "$job"
  done
done
echo "--- rados bench (the cluster's own view: 4 MiB writes, 16 in flight, 5 s)"
timeout 60 rados -c "$W/ceph/ceph.conf" -p "$CEPH_POOL" bench 5 write --no-cleanup 2>/dev/null |
  grep -E "Bandwidth \(MB/sec\)|Average IOPS"
python3 - "$W/results" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    sys_, job, mibs, iops = line.split()
    key = (sys_, job)
    v = float(iops) if job == "randwrite" else float(mibs)
    best[key] = max(best.get(key, 0.0), v)
targets = {"seqwrite": 0.7, "seqread": 0.7, "randwrite": 0.5}
print(f"{'job':<10} {'direct':>12} {'cafs':>12} {'cafs/direct':>12} {'target':>8}")
for job, t in targets.items():
    unit = "IOPS" if job == "randwrite" else "MiB/s"
    d, c = best.get(("direct", job), 0.0), best.get(("cafs", job), 0.0)
    ratio = c / d if d else 0.0
    print(f"{job:<10} {d:>8.1f} {unit:<4}{c:>8.1f} {unit:<4}{ratio:>10.2f}   >= {t}")
PY
