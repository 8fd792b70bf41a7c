#!/bin/bash
# Mirrored write benchmark (issue 15 "Performance": 2 replicas on two directories of one disk,
# seq write >= 0.45 and 4k random write >= 0.45 of a single replica). One cafsd + FUSE, one VM
# set whose policy puts *osdisk* files in one pool (1 copy) and *mirdisk* files in two pools
# of the same disk (2 copies, docs/redirectors.md "Mirrored files"); fio writes both files
# side by side, alternating, ROUNDS rounds, best of each; prints MiB/s, IOPS and the ratios,
# and the load average before and after (the machine is shared: read the ratios, not the
# absolute figures).
#
# Usage: bench/run-mirror-bench.sh BUILD_DIR [size MiB] [rounds]   (default 512, 3; root, FUSE, fio)
set -u
BUILD=${1:?usage: $0 BUILD_DIR [size MiB] [rounds]}
SIZE=${2:-512}
ROUNDS=${3:-3}
CAFSD=$BUILD/apps/cafsd/cafsd
[ "$(id -u)" = 0 ] || { echo "needs root (FUSE)"; exit 77; }
for tool in fio fusermount3 python3 mountpoint; do
  command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 77; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/integration/lib/cafsd.sh
. "$HERE/../tests/integration/lib/cafsd.sh"
T=$(mktemp -d /var/tmp/cafs-mirror-bench-XXXXXX)
cleanup() {
  cafsd_stop "$T"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cafsd_seed_keys "$T/keys"
python3 - "$T/keys/my_vmset/policy.xml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
one = s[s.index("<vobj><vglob>*osdisk*</vglob>"):s.index("</vobj>") + len("</vobj>")]
two = one.replace("*osdisk*", "*mirdisk*").replace(
    "<storepol>mirrored_pool_A</storepol>",
    "<storepol>mirrored_pool_A</storepol><replicas>2</replicas><replica-pool>mirror_b</replica-pool>")
open(p, "w").write(s.replace(one, one + "\n" + two, 1))
PY
mkdir -p "$T/pools/mirror_b"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"mirror_b\"
path = \"$T/pools/mirror_b\""
cafsd_start "$CAFSD" "$T" || { echo "cafsd: $CAFSD_ERROR"; exit 1; }
V=$T/mnt/my_vmset/vm1
mkdir -p "$V"

echo "method: cafsd + FUSE, AES-256-XTS, pools are directories of $(df --output=source "$T" | tail -1);"
echo "  fio ioengine=psync, 1 job: seq write bs=1M size=${SIZE}M end_fsync=1; 4k random write"
echo "  bs=4k size=${SIZE}M io_size=$((SIZE / 4))M end_fsync=1 (file laid out by the seq run);"
echo "  single copy (osdisk1.img) and 2 copies (mirdisk1.img) alternate, $ROUNDS rounds, best of each."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {  # file rw bs io_size -> bytes/s
  local out
  out=$(timeout 600 fio --name=b --filename="$1" --rw="$2" --bs="$3" --size=${SIZE}M \
    --io_size="$4" --ioengine=psync --end_fsync=1 --output-format=json 2>/dev/null) || return 1
  python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["bw_bytes"])' <<<"$out"
}
declare -A best
for r in $(seq 1 "$ROUNDS"); do
  for kind in single mirror; do
    f=$V/osdisk1.img
    [ $kind = mirror ] && f=$V/mirdisk1.img
    for w in "seq write 1M ${SIZE}M" "rand randwrite 4k $((SIZE / 4))M"; do
      set -- $w
      bw=$(run "$f" "$2" "$3" "$4") || { echo "fio failed ($kind $1)"; exit 1; }
      key="$kind-$1"
      [ "${best[$key]:-0}" -lt "$bw" ] && best[$key]=$bw
      printf 'round %d %-6s %-4s %8.1f MiB/s\n' "$r" "$kind" "$1" "$(python3 -c "print($bw/1048576)")"
    done
  done
done
A=$(sed -n 's/^path //p' "$T/backing/my_vmset/vm1/mirdisk1.img##mirrored_pool_A")
B=$(sed -n 's/^replica mirror_b //p' "$T/backing/my_vmset/vm1/mirdisk1.img##mirrored_pool_A")
cmp -s "$T/pools/mirrored_pool_A/$A" "$T/pools/mirror_b/$B" && echo "the 2 copies are identical" ||
  echo "WARNING: the 2 copies differ"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${best[single-seq]}" "${best[mirror-seq]}" "${best[single-rand]}" "${best[mirror-rand]}" <<'PY'
import sys
ss, ms, sr, mr = map(int, sys.argv[1:])
mib = 1048576
print(f"seq write:  single {ss/mib:.1f} MiB/s, 2 copies {ms/mib:.1f} MiB/s, ratio {ms/ss:.2f} (target >= 0.45)")
print(f"4k rand write: single {sr/4096:.0f} IOPS, 2 copies {mr/4096:.0f} IOPS, ratio {mr/sr:.2f} (target >= 0.45)")
PY
