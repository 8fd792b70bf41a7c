#!/bin/bash
# NFSv3 data-path benchmark (issue 7, bench/): bench/nfs/nfs_bench (libnfs async API, one
# TCP connection, a queue depth) against, in one run,
#   ganesha   NFS-Ganesha 4.x, FSAL_VFS exporting a plain directory (no encryption): the
#             reference the issue sets (tests/integration/lib/ganesha.sh starts it)
#   cafs      cafsd's NFSv3 front-end: the seed's policy (*osdisk* -> aes-256-xts, 4 KiB
#             sectors, in mirrored_pool_A; audit all_records), LocalKeyProvider
#             (tests/integration/lib/cafsd_nfs.sh starts it)
# and prints each figure, "ratio cafs/ganesha" per figure, and the goal (>= 1.0 on every
# figure while encrypting). A system that cannot start is skipped (its column: n/a).
#
# Usage: bench/run-nfs-bench.sh BUILD_DIR [--size 512M] [--runtime S] [--rounds N] [--quick]
#                               [--only "ganesha cafs"] [--keep]
#   BUILD_DIR  a CMake build tree with nfs_bench (and cafsd) built:
#              ninja -C BUILD_DIR nfs_bench cafsd
#   --size     file size (default 512M)     --runtime  cap for each random job (default 5)
#   --rounds   rounds over all systems (default 3); each figure is the best round
#              (the medians of the rounds are printed too: this machine is noisy)
#   --quick    --size 128M --runtime 2 --rounds 1 (a smoke run)
#
# Method (docs/performance.md "NFS" repeats it):
#  - Jobs, in order, on one file per system (osdisk-bench.img; on cafs in the VM set
#    my_vmset, so it is encrypted): seqwrite-new 1 MiB QD8 over the whole file (a new file),
#    seqwrite (the same again: overwrite), seqread 1 MiB QD8, randwrite 4 KiB QD16, randread
#    4 KiB QD16 (random jobs: --runtime seconds or one file's worth of requests). Writes are
#    UNSTABLE as libnfs sends them, timed to the last reply; each write job is followed by
#    one COMMIT, and "+commit" figures include it (data durable).
#  - The issue's goal figures are seqwrite (overwrite), seqread and randwrite. New-file
#    writes are bounded by this host's ext4 block allocation (dd into a new file here:
#    ~110 MB/s, into an existing one: ~1.9 GB/s), for both servers alike, so they are shown
#    but not the goal.
#  - Both servers run at once on 127.0.0.1; each round runs all jobs on each system in turn
#    (interleaved, so load from other processes on this shared machine hits both alike);
#    `sync` before each system's jobs so one system's writeback does not run in the other's.
#  - Caches: the servers' host page cache stays warm (files of --size on a 23 GiB machine):
#    we measure each server's CPU path (RPC, XDR, encryption), not the disk. libnfs's client
#    cache and read-ahead are off: every request reaches the server.
#  - Everything lives under one mktemp -d in /tmp; every daemon is stopped on every exit path.
set -u
. "$(dirname "$0")/lib/options.sh"
bench_build_dir "$0" "$@"
shift
SIZE=512M
RUNTIME=5
ROUNDS=3
ONLY="ganesha cafs"
KEEP=0
bench_options "$@"
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$HERE/../tests/integration/lib
BENCH=$BUILD/bench/nfs_bench
CAFSD=$BUILD/apps/cafsd/cafsd
[ -x "$BENCH" ] || { echo "build $BENCH first: ninja -C $BUILD nfs_bench" >&2; exit 2; }
command -v python3 >/dev/null || { echo "missing tool: python3" >&2; exit 2; }

T=$(mktemp -d /tmp/cafs-nfsbench-XXXXXX)
# shellcheck disable=SC2034  # read by the sourced helpers
GANESHA_LIFETIME=3600
# shellcheck disable=SC2034
CAFSD_LIFETIME=3600
. "$LIB/ganesha.sh"
. "$LIB/cafsd_nfs.sh"
cleanup() {
  ganesha_stop
  cafsd_nfs_stop
  if [ "$KEEP" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
log() { echo "[$(date +%T)] $*" >&2; }

declare -A URL=() FILE=()
setup_ganesha() {
  mkdir -p "$T/ganesha/export"
  ganesha_start "$T/ganesha" "$T/ganesha/export" || { log "ganesha: $GANESHA_ERROR"; return 1; }
  URL[ganesha]=$GANESHA_URL
  FILE[ganesha]=osdisk-bench.img
}
setup_cafs() {
  [ -x "$CAFSD" ] || { log "build $CAFSD first"; return 1; }
  mkdir -p "$T/cafs"
  cafsd_nfs_start "$CAFSD" "$T/cafs" || { log "cafs: $CAFSD_NFS_ERROR"; return 1; }
  URL[cafs]=$CAFSD_NFS_URL
  FILE[cafs]=$CAFSD_NFS_VMDIR/osdisk-bench.img
}

ACTIVE=""
for sys in $ONLY; do
  log "$sys: starting"
  if setup_"$sys"; then ACTIVE="$ACTIVE $sys"; else log "$sys: skipped"; fi
done
[ -n "$ACTIVE" ] || { log "no system started"; exit 1; }
log "nfs_bench $SIZE per system, random jobs capped at ${RUNTIME}s, $ROUNDS rounds; work dir $T"
for round in $(seq "$ROUNDS"); do
  for sys in $ACTIVE; do
    timeout 120 sync
    log "round $round: $sys"
    timeout 900 "$BENCH" --size "$SIZE" --runtime "$RUNTIME" "${URL[$sys]}" "${FILE[$sys]}" \
      > "$T/$sys.$round.out" 2> "$T/$sys.$round.err" ||
      log "$sys round $round failed: $(tail -3 "$T/$sys.$round.err")"
    grep -v '^RESULT' "$T/$sys.$round.out" >&2
  done
done

PYTHONPATH="$HERE/lib" python3 - "$T" "$SIZE" "$RUNTIME" "$ROUNDS" $ONLY <<'PY'
import glob, statistics, sys
import figures as summary  # bench/lib/figures.py (`figures` below is this table)
tdir, size, runtime, rounds, systems = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
# (job, 0 = MiB/s or 1 = IOPS, label, one of the issue's goal figures)
figures = [("seqwrite", 0, "seq write 1M QD8 (MiB/s)", True),
           ("seqwrite+commit", 0, "  + COMMIT (MiB/s)", False),
           ("seqwrite-new", 0, "  new file (MiB/s)", False),
           ("seqwrite-new+commit", 0, "  new file + COMMIT (MiB/s)", False),
           ("seqread", 0, "seq read 1M QD8 (MiB/s)", True),
           ("randwrite", 1, "4k rand write QD16 (IOPS)", True),
           ("randwrite+commit", 1, "  + COMMIT (IOPS)", False),
           ("randread", 1, "4k rand read QD16 (IOPS)", False)]
by_round = {}  # (system, job) -> {round: (MiB/s, IOPS)}
for sys_ in systems:
    for path in glob.glob(f"{tdir}/{sys_}.*.out"):
        rnd = int(path.rsplit(".", 2)[-2])
        for line in open(path):
            parts = line.split()
            if len(parts) == 4 and parts[0] == "RESULT":
                by_round.setdefault((sys_, parts[1]), {})[rnd] = (float(parts[2]), float(parts[3]))
runs = {k: list(v.values()) for k, v in by_round.items()}
best = {k: max(v) for k, v in runs.items()}
median = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
          for k, v in runs.items()}
print(f"\nNFSv3 through libnfs (nfs_bench), {size} file, random jobs <= {runtime}s, best of {rounds} rounds"
      " (median of the rounds in parentheses)")
print(f"{'figure':28}" + "".join(f"{s:>22}" for s in systems))
for job, idx, label, _ in figures:
    row = f"{label:28}"
    for s in systems:
        v, m = best.get((s, job)), median.get((s, job))
        fmt = "{:.1f}" if idx == 0 else "{:.0f}"
        cell = f"{fmt.format(v[idx])} ({fmt.format(m[idx])})" if v else "n/a"
        row += f"{cell:>22}"
    print(row)
print()
ok = True
for job, idx, label, goal in figures:
    g, c = best.get(("ganesha", job)), best.get(("cafs", job))
    gm, cm = median.get(("ganesha", job)), median.get(("cafs", job))
    mark = "*" if goal else " "
    if g and c and g[idx] > 0 and gm[idx] > 0:
        r = c[idx] / g[idx]
        print(f"ratio cafs/ganesha {mark} {job:20} {r:5.2f}  (medians {cm[idx] / gm[idx]:5.2f})" +
              ("   (goal >= 1.0 missed)" if goal and r < 1.0 else ""))
        ok = ok and (r >= 1.0 or not goal)
    else:
        print(f"ratio cafs/ganesha {mark} {job:20}   n/a")
        ok = ok and not goal
print("goal (*: the issue's figures): cafs >= 1.0x ganesha while encrypting:",
      "met" if ok else "NOT met")
# Issue 19's goal: >= 1.25x on seq write, seq read, 4k write and 4k read; each figure is the
# median of the per-round ratios (both servers of a round ran back to back).
for job, idx in (("seqwrite", 0), ("seqread", 0), ("randwrite", 1), ("randread", 1)):
    c, g = by_round.get(("cafs", job), {}), by_round.get(("ganesha", job), {})
    summary.emit(f"nfs.{job}.cafs/ganesha",
                 [c[k][idx] / g[k][idx] for k in c if k in g and g[k][idx] > 0], ">=1.25")
PY
