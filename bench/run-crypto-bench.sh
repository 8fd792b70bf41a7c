#!/usr/bin/env bash
# Runs the SectorCipher benchmark from an existing build directory (builds nothing).
# Usage: bench/run-crypto-bench.sh BUILD_DIR [--check] [Google Benchmark flags...]
#   --check  exit 1 when the aes-256-xts/4096 ratio (ours / raw EVP) is below 0.90
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [--check] [--benchmark_... flags]" >&2
  exit 2
fi
build_dir=$1
shift
bin="$build_dir/bench/sector_cipher_bench"
if [ ! -x "$bin" ]; then
  echo "$bin not found: configure with -DCAFS_BENCH=ON and build target sector_cipher_bench" >&2
  exit 2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "openssl: $(openssl version 2>/dev/null || echo 'CLI not installed')"
exec "$bin" "$@"
