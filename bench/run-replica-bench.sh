#!/bin/bash
# DR replica benchmark (issue 15 "Performance"): incremental vs full replica of a qcow2 disk
# with 1% changed, through cafsd + FUSE, in one run. It runs the integration scenario
# (tests/integration/cafs_replica_test.sh) with a large disk and prints the bytes copied and
# the time of the full and of the incremental replica, and their ratio against the target
# (incremental <= 5% of the full replica's time).
#
# Usage: bench/run-replica-bench.sh BUILD_DIR [size MiB]   (default 1024; root, FUSE, qemu-img)
set -u
BUILD=${1:?usage: $0 BUILD_DIR [size MiB]}
SIZE=${2:-1024}
HERE=$(cd "$(dirname "$0")" && pwd)
echo "method: cafsd (local keys, the seed's policy: *osdisk* AES-256-XTS in mirrored_pool_A),"
echo "  a ${SIZE} MiB qcow2 written fully with qemu-io, 'cafsd replica run' to a directory DR"
echo "  pool (full), 1% rewritten with qemu-io, 'cafsd replica run' again (incremental)."
out=$("$HERE/../tests/integration/cafs_replica_test.sh" "$BUILD/apps/cafsd/cafsd" "$SIZE" 2>&1)
rc=$?
line=$(grep '^full replica:' <<<"$out")
[ -n "$line" ] || { echo "$out" | tail -20; exit 1; }
echo "$line"
python3 - "$line" <<'PY'
import re, sys
m = re.search(r"full replica: (\d+) bytes copied in ([\d.]+) s; .*: (\d+) bytes copied in ([\d.]+) s", sys.argv[1])
fb, ft, ib, it = int(m[1]), float(m[2]), int(m[3]), float(m[4])
print(f"incremental/full: bytes {ib / fb:.3f}, time {it / ft:.3f} (target <= 0.05; the time includes "
      f"the job start, the cut and the CLI round trip: ~0.5 s fixed)")
PY
exit $rc
