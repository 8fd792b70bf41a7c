#!/bin/bash
# Every data-path benchmark in one bounded run (issue 19), and one table of every figure
# against its goal: the table docs/performance.md quotes.
#
#   crypto   bench/run-crypto-bench.sh        SectorCipher vs raw EVP (AES-256-XTS, 4 KiB)
#   fuse     bench/run-fuse-bench.sh          cafsd vs the FUSE pass-through with writeback
#   nfs      bench/run-nfs-bench.sh           cafsd's NFSv3 server vs NFS-Ganesha
#   edif     bench/run-edif-bench.sh          secure vs clear link; CPU added per GiB vs GCM
#   rekey    BUILD/bench/rekey_bench          deep rekey vs read+decrypt+encrypt+write
#   slowdown bench/run-rekey-slowdown-bench.sh (not by default: --only) fio beside a rekey
#   migrate  bench/run-migrate-bench.sh       (not by default: --only) migration vs cp, and
#                                             fio beside a migration
#
# Usage: bench/run-all.sh BUILD_DIR [--rounds N] [--quick] [--only "crypto fuse ..."]
#                         [--out DIR]
#   BUILD_DIR  a build tree with the benchmarks and daemons built:
#              ninja -C BUILD_DIR cafsd edifd edif-agent fuse_passthrough_bench nfs_bench \
#                    sector_cipher_bench rekey_bench edif_mailbox_rtt_bench
#   --rounds   rounds per benchmark (default 5): every figure is the median over the rounds
#              of a ratio measured inside one round, printed with its spread (min..max)
#   --quick    one round, small files: checks that everything runs (~5 minutes), not figures
#   --only     the benchmarks to run (default: crypto fuse nfs edif rekey)
#   --out      keep every benchmark's full output in DIR (default: a mktemp -d, removed)
#
# Each benchmark prints FIGURE lines (bench/lib/figures.py); this script runs them one after
# the other (never two at once), records the load average before and after each, and prints
# the table: figure, median, spread, rounds, goal, met/missed, load average. Exit 0 when every
# figure was measured (met or not), 1 when a benchmark failed or gave no figure, 2 usage.
set -u
. "$(dirname "$0")/lib/options.sh"
bench_build_dir "$0" "$@"
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=5 QUICK=0 ONLY="crypto fuse nfs edif rekey" OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --quick) QUICK=1; ROUNDS=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case $ROUNDS in '' | *[!0-9]* | 0) echo "--rounds wants a positive integer" >&2; exit 2 ;; esac
KEEP_OUT=1
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/cafs-benchall-XXXXXX); KEEP_OUT=0; fi
mkdir -p "$OUT" || exit 2
cleanup() { [ "$KEEP_OUT" = 1 ] || rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
log() { echo "[$(date +%T)] $*" >&2; }
load() { cut -d' ' -f1 /proc/loadavg; }

SIZE=256M
[ "$QUICK" = 1 ] && SIZE=64M
run_crypto() { "$HERE/run-crypto-bench.sh" "$BUILD"; }
run_fuse() {
  "$HERE/run-fuse-bench.sh" "$BUILD" --only "passwb cafs" --size "$SIZE" --rounds "$ROUNDS" \
    --runtime 5
}
run_nfs() { "$HERE/run-nfs-bench.sh" "$BUILD" --size "$SIZE" --rounds "$ROUNDS" --runtime 5; }
run_edif() {
  local sz=128M
  [ "$QUICK" = 1 ] && sz=32M
  "$HERE/run-edif-bench.sh" "$BUILD" --size "$sz" --rounds "$ROUNDS" --runtime 3 --logins 3 \
    --rtt-count 500
}
run_rekey() {  # one process per round: each prints its own FIGURE line
  local bin=$BUILD/bench/rekey_bench mib=256 dir
  [ -x "$bin" ] || { echo "build $bin first" >&2; return 2; }
  [ "$QUICK" = 1 ] && mib=64
  dir=$(mktemp -d /var/tmp/cafs-rekeybench-XXXXXX) || return 1
  for _ in $(seq "$ROUNDS"); do "$bin" --dir "$dir" --mib "$mib" || { rm -rf "$dir"; return 1; }; done
  rm -rf "$dir"
}
run_slowdown() { "$HERE/run-rekey-slowdown-bench.sh" "$BUILD"; }
run_migrate() { "$HERE/run-migrate-bench.sh" "$BUILD"; }

STATUS=0
: > "$OUT/runs.tsv"  # bench, seconds, load before, load after, exit status
for b in $ONLY; do
  declare -F "run_$b" >/dev/null || { echo "unknown benchmark $b" >&2; exit 2; }
done
for b in $ONLY; do
  before=$(load)
  start=$(date +%s)
  log "$b: running (load $before); output in $OUT/$b.log"
  # A bound for every benchmark: none of them should take half of this.
  timeout 3600 bash -c "$(declare -f "run_$b"); $(declare -p HERE BUILD SIZE ROUNDS QUICK); run_$b" \
    > "$OUT/$b.log" 2>&1
  rc=$?
  [ "$rc" = 0 ] || { log "$b: exit status $rc (tail of its output follows)"; tail -15 "$OUT/$b.log" >&2; STATUS=1; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$b" "$(($(date +%s) - start))" "$before" "$(load)" "$rc" \
    >> "$OUT/runs.tsv"
done

PYTHONPATH="$HERE/lib" python3 - "$OUT" "$ROUNDS" $ONLY <<'PY' || STATUS=1
import os, statistics, sys
import figures
out, rounds, benches = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {}
for line in open(os.path.join(out, "runs.tsv")):
    b, secs, l0, l1, rc = line.rstrip("\n").split("\t")
    runs[b] = (int(secs), l0, l1, int(rc))
print(f"\nbench/run-all.sh: {rounds} round(s) per benchmark on {os.cpu_count()} CPUs; a figure is the "
      "median over rounds of a ratio taken inside one round (spread = min..max)")
head = f"{'figure':<44} {'median':>7} {'spread':>13} {'n':>3} {'goal':>7} {'':>7}  load (start -> end)"
print(head)
print("-" * len(head))
missing = False
for b in benches:
    try:
        figs = figures.parse(open(os.path.join(out, f"{b}.log"), errors="replace"))
    except OSError:
        figs = []
    # The same figure printed by several processes (rekey: one per round) is one figure:
    # the median of their medians, the spread over all of them.
    merged = {}
    for f in figs:
        merged.setdefault(f["name"], []).append(f)
    secs, l0, l1, rc = runs.get(b, (0, "?", "?", 1))
    if not merged:
        missing = True
        print(f"{b + ': no figure (see its log)':<44}")
        continue
    for name, fs in merged.items():
        vals = [f["median"] for f in fs if f["median"] is not None]
        goal = fs[0]["goal"]
        if not vals:
            missing = True
            print(f"{name:<44} {'n/a':>7} {'':>13} {0:>3} {goal:>7} {'n/a':>7}  {l0} -> {l1}")
            continue
        if len(fs) == 1:
            med, lo, hi, n = fs[0]["median"], fs[0]["min"], fs[0]["max"], fs[0]["rounds"]
        else:
            med, lo, hi, n = statistics.median(vals), min(f["min"] for f in fs), max(f["max"] for f in fs), len(vals)
        ok = figures.met(med, goal)
        mark = "" if ok is None else ("met" if ok else "MISSED")
        print(f"{name:<44} {med:>7.3f} {f'{lo:.2f}..{hi:.2f}':>13} {n:>3} {goal:>7} {mark:>7}  {l0} -> {l1}")
print()
for b in benches:
    secs, l0, l1, rc = runs.get(b, (0, "?", "?", 1))
    print(f"{b:<9} {secs:>5} s  exit {rc}")
sys.exit(1 if missing else 0)
PY
exit $STATUS
