#!/usr/bin/env bash
# Installs every Debian 12 package CAFS needs to build, test, fuzz and benchmark.
# Idempotent: packages already present are skipped; apt-get only.
# Usage: scripts/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev ccache mold
  # libraries (ARCHITECTURE.md section 2)
  libssl-dev openssl libpugixml-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev sqlite3 libpq-dev libasio-dev libcpp-httplib-dev libfuse3-dev fuse3
  libtomlplusplus-dev libnbd-dev tzdata
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3
  # real peers used by integration tests
  qemu-utils fio libnbd-bin nbd-client libnfs-utils curl postgresql gocryptfs securefs procps rsync
  # KMIP: PyKMIP is the independent KMIP client of tests/integration/kmip_pykmip_test.sh
  python3-pykmip
  # NFSv3 front-end: libnfs client library for tests/bench, QEMU's nfs:// driver, the Ganesha peer
  libnfs-dev qemu-block-extra rpcbind nfs-ganesha nfs-ganesha-vfs
  # RADOS pool plug-in (src/pool/rados, docs/pools.md) and its single-node test cluster
  # (tests/integration/lib/ceph.sh): librados to build, the daemons and tools to test
  librados-dev libradospp-dev ceph-mon ceph-osd ceph-mgr ceph-base ceph-common radosgw
  # S3 pool plug-in (src/pool/s3): libcurl >= 7.85 (CURLOPT_AWS_SIGV4, CURLOPT_PROTOCOLS_STR; Debian 12: 7.88)
  libcurl4-openssl-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
