#!/bin/bash
# Foreground slowdown while a deep rekey runs (issue 14, bench/; not a test): cafsd on a FUSE
# mount with the seed's policy (*osdisk* -> aes-256-xts), two disk images in VM set my_vmset.
# fio runs on image B -- seqwrite (bs=1M), seqread (bs=1M), randwrite (4k), randread (4k);
# buffered, psync, iodepth 1, each job capped at --runtime seconds -- first alone, then while
# deep rekeys of image A run one after another (each to the next key version, at --rate, by
# default the rekey jobs' default rate limit: [jobs] rekey_rate, 32 MiB/s unless the config
# says otherwise, docs/jobs.md "Rate limits"), interleaved for --rounds rounds; each figure is
# the best round. Prints MiB/s or IOPS with and without the rekey and the slowdown. Goal (issue 14):
# <= 20% at the default rate limit.
#
# Usage: bench/run-rekey-slowdown-bench.sh BUILD_DIR [--size 256M] [--runtime 5] [--rounds 2]
#                                          [--rate RATE]
#   BUILD_DIR  a CMake build tree with cafsd built (ninja -C BUILD_DIR cafsd)
# Root only (FUSE mount); needs fio. Everything lives under one mktemp -d in /tmp and is
# unmounted/killed on every exit path.
set -u
BUILD=${1:?usage: $0 BUILD_DIR [--size S] [--runtime S] [--rounds N] [--rate R]}
shift
SIZE=256M
RUNTIME=5
ROUNDS=2
RATE=""
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib/fio_slowdown.sh
. "$(dirname "$0")/lib/fio_slowdown.sh"
fio_slowdown_setup rekey-slowdown 600

cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[cache]
ttl_s = 1"
cafsd_start "$CAFSD" "$T" || { echo "$CAFSD_ERROR" >&2; exit 1; }
V=$T/mnt/my_vmset/vm1
mkdir -p "$V"
for f in osdiskA.img osdiskB.img; do
  timeout 300 fio --name=fill --filename="$V/$f" --rw=write --bs=1M --size="$SIZE" \
    --end_fsync=1 >/dev/null 2>&1 || { echo "fill $f failed" >&2; exit 1; }
done

# Rekeys of A, one after another, each to the next key version, until $STOP exists.
rekey_loop() {
  local version=1 id
  while [ ! -e "$STOP" ]; do
    version=$((version + 1))
    echo "$CAFSD_SEED_KEY $version $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" \
      >>"$T/keys/my_vmset/keys"
    sleep 1.5  # past the key cache TTL
    id=$(ctl rekey /my_vmset/vm1/osdiskA.img --to-version "$version" ${RATE:+--rate "$RATE"} \
      --no-wait) || break
    while [ ! -e "$STOP" ]; do
      state=$(ctl jobs show "$id" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
      [ "$state" = running ] || [ "$state" = queued ] || break
      sleep 0.2
    done
    [ -e "$STOP" ] && ctl jobs cancel "$id" >/dev/null 2>&1
    echo "$version" >"$T/rekeys"
  done
}

JOBS="seqwrite:write:1M seqread:read:1M randwrite:randwrite:4k randread:randread:4k"
declare -A BEST ROUND_VALUES
start_load() { fio_slowdown_load_start rekey_loop 3; }  # 3 s: the first job is running
fio_slowdown_measure "$V/osdiskB.img" start_load fio_slowdown_load_stop

echo "Foreground fio on a second image with and without deep rekeys of another image"
echo "(size $SIZE, runtime cap ${RUNTIME} s, best of $ROUNDS rounds, rekey rate ${RATE:-the default ([jobs] rekey_rate)})"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
fio_slowdown_table "with rekey"
echo "goal (issue 14): slowdown <= 20% at the default rate limit"
fio_slowdown_figures rekey.slowdown "<=0.20"
