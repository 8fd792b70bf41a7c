#!/usr/bin/env bash
# The one test command (README; .ci/run calls exactly this):
#   installs the Debian packages, builds (release + ASan/UBSan + libFuzzer), runs every test
#   under CTest in parallel, and runs each fuzzer for a bounded time.
# It prints each stage's wall time, ccache hit rate and test count in a table at the end (also
# when a stage fails), the load average at start and end, and a "BUDGET" warning line for any
# stage over its share of the CI budget (docs/ci.md).
# Environment: CAFS_FUZZ_SECONDS (default 10 per target, after its corpus), CAFS_SKIP_SANITIZE=1,
#   CAFS_SKIP_FUZZ=1 to shorten a local run; JOBS (default: nproc) for the builds and the
#   fuzzers, TEST_JOBS (default: 2 x JOBS) CTest slots (docs/ci.md "Test phases").
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc)}
TEST_JOBS=${TEST_JOBS:-$((2 * JOBS))}
FUZZ_SECONDS=${CAFS_FUZZ_SECONDS:-10}
# shellcheck source=scripts/lib/stages.sh
source scripts/lib/stages.sh

# Budget shares in seconds on an idle 2-core machine with an empty compiler cache (docs/ci.md):
# builds 32.5 min, tests 25 min, fuzzers 5 min; the whole run 60 min.
stages_init 3600

stage dependencies 600 -- scripts/install-deps.sh
stage "clang-format check" 60 -- scripts/check-format.sh

stage "build (release)" 840 --ccache -- build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage "tests (release)" 720 --ctest -- run_ctest build --timeout 600

if [ "${CAFS_SKIP_SANITIZE:-0}" != 1 ]; then
  stage "build (ASan + UBSan)" 720 --ccache -- build_tree build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DCAFS_SANITIZE=ON -DCAFS_BENCH=OFF
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  stage "tests (ASan + UBSan)" 780 --ctest -- run_ctest build-asan --timeout 900 -LE no_sanitize
fi

if [ "${CAFS_SKIP_FUZZ:-0}" != 1 ]; then
  # Only the *_fuzzer targets (and what they link), not every library and app.
  stage "build (fuzz)" 390 --ccache -- build_tree build-fuzz --targets '_fuzzer$' \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAFS_FUZZ=ON -DCAFS_TESTS=OFF -DCAFS_BENCH=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
  stage "fuzzers (${FUZZ_SECONDS}s each)" 180 -- scripts/run-fuzzers.sh build-fuzz "$FUZZ_SECONDS"
fi

stages_done
