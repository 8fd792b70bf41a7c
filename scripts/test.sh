#!/usr/bin/env bash
# The one test command (README; .ci/run calls exactly this):
#   installs the Debian packages, builds (release + ASan/UBSan + libFuzzer), runs every test
#   under CTest in parallel, and runs each fuzzer for a bounded time.
# Environment: CAFS_FUZZ_SECONDS (default 20 per target), CAFS_SKIP_SANITIZE=1,
#   CAFS_SKIP_FUZZ=1 to shorten a local run; JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${CAFS_FUZZ_SECONDS:-20}

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "clang-format check"
scripts/check-format.sh

step "build (release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAFS_WERROR=ON >/dev/null
ninja -C build -j "$JOBS"

step "tests (release)"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 600)

if [ "${CAFS_SKIP_SANITIZE:-0}" != 1 ]; then
  step "build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAFS_SANITIZE=ON -DCAFS_WERROR=ON \
    -DCAFS_BENCH=OFF >/dev/null
  ninja -C build-asan -j "$JOBS"
  step "tests (ASan + UBSan)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$JOBS" --timeout 900 -LE no_sanitize)
fi

if [ "${CAFS_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzzers (libFuzzer, ${FUZZ_SECONDS}s each)"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAFS_FUZZ=ON \
    -DCAFS_TESTS=OFF -DCAFS_BENCH=OFF -DCAFS_WERROR=ON \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  # Build only the *_fuzzer targets (and what they link), not every library and app.
  mapfile -t fuzz_targets < <(ninja -C build-fuzz -t targets all | sed -n 's/^\([A-Za-z0-9_]*_fuzzer\): .*/\1/p' | sort -u)
  if [ ${#fuzz_targets[@]} -gt 0 ]; then ninja -C build-fuzz -j "$JOBS" "${fuzz_targets[@]}"; fi
  scripts/run-fuzzers.sh build-fuzz "$FUZZ_SECONDS"
fi

step "all tests passed"
