#!/usr/bin/env bash
# The main job (README): installs the Debian packages, builds, and runs the CAFS demo on
# embedded defaults (local storage pools in a temporary directory, no daemons).
# Extra arguments go to the demo (e.g. --keep to keep its files, --dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$JOBS" cafs-demo
exec build/apps/cafs-demo/cafs-demo "$@"
