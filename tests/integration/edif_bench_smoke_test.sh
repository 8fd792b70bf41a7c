#!/bin/bash
# Smoke run of bench/run-edif-bench.sh --quick: proves the benchmark still works (real edifd
# host + 2 targets + 2 agents, fio nbd engine, the mailbox round-trip bench binary, agent
# restarts). Asserts that every figure line is printed with a number; never checks a value
# (timing does not gate a test).
# Usage: edif_bench_smoke_test.sh RUN_EDIF_BENCH_SH BUILD_DIR     Exit 77 when a peer is missing.
set -u
SCRIPT=$1
BUILD=$2
command -v fio >/dev/null && fio --enghelp 2>/dev/null | grep -qw nbd ||
  { echo "SKIP: fio with the nbd engine not installed"; exit 77; }
for t in openssl python3 timeout pgrep; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
[ -x "$BUILD/bench/edif_mailbox_rtt_bench" ] || { echo "SKIP: edif_mailbox_rtt_bench not built"; exit 77; }
OUT=$(mktemp /tmp/edif_bench_smoke.XXXXXX)
trap 'rm -f "$OUT"' EXIT
timeout 170 "$SCRIPT" "$BUILD" --quick > "$OUT" 2>&1
RC=$?
cat "$OUT"
[ "$RC" = 0 ] || { echo "FAIL: bench exit code $RC"; exit 1; }
N='[0-9]+(\.[0-9]+)?'
for re in "^seq write 1M .* secure +$N +clear +$N" "^seq read 1M .* secure +$N +clear +$N" \
    "^4k rand read qd1 \(IOPS\) +secure +$N +clear +$N" "^4k rand read p50 .* secure +$N +clear +$N" \
    "^4k rand read p99 .* secure +$N +clear +$N" "^ratio secure/clear seq write +$N" \
    "^ratio secure/clear seq read +$N" "^ratio secure/clear 4k rand read IOPS +$N" \
    "^mailbox round trip .*p50 $N ms p99 $N ms" \
    "^handshake \+ SA install \(initiator agent, [0-9]+ logins\): p50 $N ms p99 $N ms" \
    "^handshake \+ SA install \(target agent, [0-9]+ logins\): p50 $N ms"; do
  grep -qE "$re" "$OUT" || { echo "FAIL: no line matching: $re"; exit 1; }
done
grep -q "not measured" "$OUT" && { echo "FAIL: a figure was not measured"; exit 1; }
echo "PASS"
