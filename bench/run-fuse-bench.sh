#!/bin/bash
# FUSE data-path benchmark (issue 5, bench/): fio side by side, in one run, on
#   plain       a plain directory (no FUSE; the machine's page cache + ext4 ceiling)
#   passthru    bench/fuse/passthrough_fuse.cc, our minimal FUSE pass-through (the FUSE ceiling,
#               write-through: every write() is one FUSE WRITE request, as for gocryptfs/securefs)
#   passwb      the same pass-through with the kernel's FUSE writeback cache (the ceiling for
#               cafsd, which turns the writeback cache on)
#   gocryptfs   gocryptfs 2 (AES-256-GCM, 4 KiB blocks), initialised with -scryptn 10
#   securefs    securefs (format 4 default, AES-GCM, 4 KiB blocks), pbkdf2 with 1 round
#   cafs        cafsd: XTS 4 KiB sectors, LocalKeyProvider, the seed's policy (*osdisk* ->
#               aes-256-xts in mirrored_pool_A, audit all_records: reads/writes aggregated),
#               FUSE writeback cache on (src/frontend/fuse default)
# and prints MiB/s or IOPS per system, the ratios CAFS/gocryptfs, CAFS/pass-through,
# CAFS/plain, and the issue's targets.
#
# Usage: bench/run-fuse-bench.sh BUILD_DIR [--size 512M] [--runtime SECONDS] [--rounds N]
#                                [--quick] [--only "plain cafs ..."] [--keep]
#   BUILD_DIR  a CMake build tree with cafsd and fuse_passthrough_bench built
#              (ninja -C BUILD_DIR cafsd fuse_passthrough_bench)
#   --size     file size per system (default 512M)
#   --runtime  cap in seconds for each random job (default 5)
#   --rounds   rounds over all systems (default 3); each figure is the median of the rounds
#   --quick    --size 128M --runtime 2 --rounds 1 (a smoke run, about a minute)
#   --only     run only these systems (cafs is the reference for ratios; missing rows: n/a)
#
# Method (docs/performance.md repeats it):
#  - fio, ioengine=psync, numjobs=1, iodepth=1, one file per system, fallocate=none, direct=0
#    (buffered I/O through the page cache). None of the FUSE mounts uses direct_io: all go
#    through the kernel's FUSE page cache with write-through (no FUSE writeback cache), so
#    every write() is one FUSE WRITE request to the daemon.
#  - All systems are mounted at once; each round runs every job on every system in turn
#    (interleaved, so load from other processes on this shared machine hits all systems
#    alike); a figure is the median of --rounds rounds, a ratio the median of the per-round
#    ratios (with its spread), and one FIGURE line per ratio (bench/lib/figures.py).
#  - Jobs in order on the same file: seqwrite (bs=1M, a new file), seqwrite+fsync (bs=1M,
#    a new file, end_fsync=1: durable, disk-bound for everyone), seqread (bs=1M), randwrite
#    (bs=4k over the existing file), randread (bs=4k). seqwrite and randwrite are not
#    fsync'ed: they are measured up to the page cache (write-through systems: the backing
#    store's page cache after the daemon's work; writeback systems: the FUSE page cache,
#    the daemon's work follows in the background), i.e. each file system's CPU path.
#    Before each read job the file is fsync'ed through the mount (outside the measured
#    job), so no dirty page survives into the read, and `sync` runs before every job so one
#    system's writeback to the disk does not run during another system's job.
#    Random jobs visit each 4 KiB block at most once (fio's random map) and stop at
#    --runtime seconds or after the whole file, so a random read never hits a block already
#    in the page cache; fio's fadvise hint (POSIX_FADV_RANDOM) turns read-ahead off.
#  - Caches: before each read job the file's page cache on the mount is dropped (fio
#    invalidate=1 = POSIX_FADV_DONTNEED on the mounted file; for FUSE this drops the FUSE
#    inode's pages, so the reads reach the daemon). The backing files stay in the host page
#    cache (23 GiB RAM, the files are 512 MiB): we measure each file system's CPU path, not
#    the disk. Dropping every cache (echo 3 > /proc/sys/vm/drop_caches, root only) would
#    make every row a disk benchmark and is not done. For the same reason the plain
#    directory keeps its page cache (invalidate=0): its file *is* the backing file, so its
#    row is "no FUSE, data in RAM", the ceiling every other row is measured against.
#  - Everything is mounted under one mktemp -d in /tmp (same ext4 as the backing stores).
#  - Every mount is unmounted and every daemon killed on every exit path (trap); every step
#    has a timeout.
set -u
. "$(dirname "$0")/lib/options.sh"
bench_build_dir "$0" "$@"
shift
SIZE=512M
RUNTIME=5
ROUNDS=3
ONLY="plain passthru passwb gocryptfs securefs cafs"
KEEP=0
bench_options "$@"

CAFSD=$BUILD/apps/cafsd/cafsd
PASSTHRU=$BUILD/bench/fuse_passthrough_bench
for tool in fio fusermount3 mountpoint python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
[ -c /dev/fuse ] || { echo "/dev/fuse missing" >&2; exit 2; }
# shellcheck source=../tests/integration/lib/cafsd.sh
source "$(dirname "$0")/../tests/integration/lib/cafsd.sh"

T=$(mktemp -d /tmp/cafs-fusebench-XXXXXX)
declare -A PIDS=()    # system -> daemon pid
declare -A MOUNTS=()  # system -> mount point

unmount_one() {
  local sys=$1 m=${MOUNTS[$1]:-} pid=${PIDS[$1]:-}
  if [ -n "$m" ] && mountpoint -q "$m"; then
    timeout 20 fusermount3 -u "$m" 2>/dev/null || timeout 10 fusermount3 -u -z "$m" 2>/dev/null
  fi
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  unset "PIDS[$sys]" "MOUNTS[$sys]"
}
cleanup() {
  for sys in "${!MOUNTS[@]}" "${!PIDS[@]}"; do unmount_one "$sys"; done
  if [ "$KEEP" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

log() { echo "[$(date +%T)] $*" >&2; }
wait_mount() {  # mountpoint pid name
  for _ in $(seq 100); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || { log "$3 exited before mounting"; return 1; }
    sleep 0.1
  done
  log "$3 did not mount within 10 s"
  return 1
}

# ---- setup per system: sets DIR (the directory fio uses); no subshell, so PIDS/MOUNTS stick --------------------------------
setup_plain() {
  mkdir -p "$T/plain" && DIR=$T/plain
}
setup_passthru() {
  [ -x "$PASSTHRU" ] || { log "build $PASSTHRU first"; return 1; }
  mkdir -p "$T/pt.src" "$T/pt.mnt"
  timeout 900 "$PASSTHRU" "$T/pt.src" "$T/pt.mnt" > "$T/passthru.log" 2>&1 &
  PIDS[passthru]=$!; MOUNTS[passthru]=$T/pt.mnt
  wait_mount "$T/pt.mnt" "${PIDS[passthru]}" passthru && DIR=$T/pt.mnt
}
setup_passwb() {
  [ -x "$PASSTHRU" ] || { log "build $PASSTHRU first"; return 1; }
  mkdir -p "$T/pw.src" "$T/pw.mnt"
  timeout 900 "$PASSTHRU" "$T/pw.src" "$T/pw.mnt" --writeback > "$T/passwb.log" 2>&1 &
  PIDS[passwb]=$!; MOUNTS[passwb]=$T/pw.mnt
  wait_mount "$T/pw.mnt" "${PIDS[passwb]}" passwb && DIR=$T/pw.mnt
}
setup_gocryptfs() {
  command -v gocryptfs >/dev/null || { log "gocryptfs not installed"; return 1; }
  mkdir -p "$T/gc.cipher" "$T/gc.mnt"
  timeout 60 gocryptfs -init -q -extpass 'echo pw' -scryptn 10 "$T/gc.cipher" > "$T/gocryptfs.log" 2>&1 ||
    { log "gocryptfs -init failed"; return 1; }
  timeout 900 gocryptfs -fg -q -extpass 'echo pw' "$T/gc.cipher" "$T/gc.mnt" >> "$T/gocryptfs.log" 2>&1 &
  PIDS[gocryptfs]=$!; MOUNTS[gocryptfs]=$T/gc.mnt
  wait_mount "$T/gc.mnt" "${PIDS[gocryptfs]}" gocryptfs && DIR=$T/gc.mnt
}
setup_securefs() {
  command -v securefs >/dev/null || { log "securefs not installed"; return 1; }
  mkdir -p "$T/sf.data" "$T/sf.mnt"
  timeout 60 securefs create --pass pw --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1 "$T/sf.data" \
    > "$T/securefs.log" 2>&1 || { log "securefs create failed"; return 1; }
  timeout 900 securefs mount --pass pw "$T/sf.data" "$T/sf.mnt" >> "$T/securefs.log" 2>&1 &
  PIDS[securefs]=$!; MOUNTS[securefs]=$T/sf.mnt
  wait_mount "$T/sf.mnt" "${PIDS[securefs]}" securefs && DIR=$T/sf.mnt
}
setup_cafs() {
  [ -x "$CAFSD" ] || { log "build $CAFSD first"; return 1; }
  local C=$T/cafs
  cafsd_seed_keys "$C/keys"
  CAFSD_AGGREGATE_S=10 cafsd_config "$C" "[local_keys]
dir = \"$C/keys\""
  CAFSD_LIFETIME=900 cafsd_start "$CAFSD" "$C"
  PIDS[cafs]=$CAFSD_PID; MOUNTS[cafs]=$C/mnt
  [ -z "$CAFSD_ERROR" ] || { log "$CAFSD_ERROR (log: $C/cafsd.log)"; return 1; }
  timeout 20 mkdir -p "$C/mnt/my_vmset/vm1" || { log "mkdir in the CAFS mount failed"; return 1; }
  DIR=$C/mnt/my_vmset/vm1
}

# ---- fio ------------------------------------------------------------------------------
# run_job sys dir name rw bs extra... -> writes $T/<sys>.<name>.<round>.json
run_job() {
  local sys=$1 dir=$2 name=$3 rw=$4 bs=$5 invalidate=1
  shift 5
  [ "$sys" = plain ] && invalidate=0
  timeout 300 fio --name="$name" --filename="$dir/osdisk_bench.img" --rw="$rw" --bs="$bs" \
    --size="$SIZE" --ioengine=psync --numjobs=1 --iodepth=1 --direct=0 --fallocate=none \
    --invalidate=$invalidate --output-format=json --output="$T/$sys.$name.$ROUND.json" "$@" \
    > "$T/$sys.$name.$ROUND.err" 2>&1 || log "$sys: $name failed: $(tail -2 "$T/$sys.$name.$ROUND.err")"
}
# Writes back the file's dirty pages and fsyncs it (through the mount), outside any job.
flush_file() {
  timeout 120 python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)' \
    "$1/osdisk_bench.img" 2>/dev/null
}
declare -A DIRS=()
log "fio $SIZE per system, random jobs capped at ${RUNTIME}s, $ROUNDS rounds; work dir $T"
ACTIVE=""
for sys in $ONLY; do
  log "$sys: setting up"
  DIR=""
  if setup_"$sys"; then DIRS[$sys]=$DIR; ACTIVE="$ACTIVE $sys"; else
    log "$sys: setup failed, skipped"; unmount_one "$sys"
  fi
done
for ROUND in $(seq "$ROUNDS"); do
  for job in seqwrite seqwrite_sync seqread randwrite randread; do
    log "round $ROUND: $job"
    for sys in $ACTIVE; do
      dir=${DIRS[$sys]}
      # No system's dirty pages (and their writeback to the disk) spill into the next job.
      timeout 120 sync
      case $job in
        seqwrite) rm -f "$dir/osdisk_bench.img"; run_job "$sys" "$dir" seqwrite write 1M ;;
        seqwrite_sync) rm -f "$dir/osdisk_bench.img"
          run_job "$sys" "$dir" seqwrite_sync write 1M --end_fsync=1 ;;
        seqread) flush_file "$dir"; run_job "$sys" "$dir" seqread read 1M ;;
        randwrite) run_job "$sys" "$dir" randwrite randwrite 4k --runtime="$RUNTIME" ;;
        randread) flush_file "$dir"; run_job "$sys" "$dir" randread randread 4k --runtime="$RUNTIME" ;;
      esac
    done
  done
done
for sys in $ACTIVE; do unmount_one "$sys"; done

PYTHONPATH="$(dirname "$0")/lib" python3 - "$T" "$SIZE" "$RUNTIME" "$ROUNDS" $ONLY <<'PY'
import glob, json, os, statistics, sys
import figures
tdir, size, runtime, rounds, systems = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
jobs = [("seqwrite", "write", "bw"), ("seqwrite_sync", "write", "bw"), ("seqread", "read", "bw"),
        ("randwrite", "write", "iops"), ("randread", "read", "iops")]
labels = {"seqwrite": "seq write 1M (MiB/s)", "seqwrite_sync": "  + end fsync (MiB/s)",
          "seqread": "seq read 1M (MiB/s)", "randwrite": "4k rand write (IOPS)",
          "randread": "4k rand read (IOPS)"}
per_round = {}  # (system, job) -> {round: value}
for s in systems:
    for job, side, kind in jobs:
        for p in glob.glob(os.path.join(tdir, f"{s}.{job}.*.json")):
            try:
                with open(p) as f:
                    text = f.read()
                j = json.loads(text[text.index("{"):])["jobs"][0]
                if j.get("error", 0):
                    continue
                v = j[side]["bw"] / 1024.0 if kind == "bw" else j[side]["iops"]
                if v > 0:
                    per_round.setdefault((s, job), {})[int(p.rsplit(".", 2)[-2])] = v
            except (OSError, ValueError, KeyError, IndexError):
                pass
# The table shows the median of the rounds (issue 19: a figure two runs agree on); the
# ratios below are medians of per-round ratios (both systems of a round saw the same load).
val = {k: statistics.median(v.values()) for k, v in per_round.items()}

def fmt(v, kind):
    if v is None:
        return "n/a"
    return f"{v:.0f}" if kind == "bw" else f"{v / 1000:.1f}k"

names = {"plain": "plain dir", "passthru": "FUSE pass", "passwb": "FUSE pass+wb",
         "gocryptfs": "gocryptfs", "securefs": "securefs", "cafs": "CAFS (XTS)"}
refs = [("gocryptfs", "CAFS/gocfs"), ("passwb", "CAFS/pass+wb"), ("passthru", "CAFS/pass"),
        ("plain", "CAFS/plain")]
head = f"{'workload':<22}" + "".join(f"{names.get(s, s):>13}" for s in systems) + \
       "".join(f"{r[1]:>13}" for r in refs)
print(f"fio psync numjobs=1 direct=0, {size} file, random jobs <= {runtime}s, median of {rounds} rounds")
print(head)
print("-" * len(head))
for job, side, kind in jobs:
    row = f"{labels[job]:<22}" + "".join(f"{fmt(val.get((s, job)), kind):>13}" for s in systems)
    c = val.get(("cafs", job))
    for ref, _ in refs:
        r = val.get((ref, job))
        row += f"{(f'{c / r:.2f}x' if c and r else 'n/a'):>13}"
    print(row)
print()
targets = [("seqwrite", 2.0, "seq write  >= 2.0x gocryptfs"),
           ("seqread", 1.5, "seq read   >= 1.5x gocryptfs"),
           ("randwrite", 10.0, "4k rnd write >= 10x gocryptfs")]
for job, want, text in targets:
    c, g = val.get(("cafs", job)), val.get(("gocryptfs", job))
    if c and g:
        print(f"target {text:<30} measured {c / g:6.2f}x  {'MET' if c / g >= want else 'MISSED'}")
    else:
        print(f"target {text:<30} measured    n/a  NOT MEASURED")
print()
print("median of per-round ratios (spread = min..max over the rounds):")
goals = {"seqwrite": ">=0.95", "seqread": ">=0.95", "randwrite": ">=0.95", "randread": ">=0.95"}
for job, side, kind in jobs:
    for ref, goal in (("passwb", goals.get(job, "-")), ("gocryptfs", "-")):
        if ref not in systems:
            continue
        c, r = per_round.get(("cafs", job), {}), per_round.get((ref, job), {})
        ratios = [c[k] / r[k] for k in c if k in r]
        if ratios:
            m = statistics.median(ratios)
            print(f"  cafs/{ref:<10} {job:<14} {m:5.2f}x  spread {min(ratios):.2f}..{max(ratios):.2f}"
                  f"  ({len(ratios)} rounds)  goal {goal}")
        figures.emit(f"fuse.{job}.cafs/{ref}", ratios, goal)
try:
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} CPUs")
except OSError:
    pass
PY
