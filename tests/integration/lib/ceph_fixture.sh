#!/bin/bash
# The CTest fixture of the RADOS tests (tests/integration/pool.cmake): one single-node Ceph
# cluster (lib/ceph.sh) shared by every test of a run that names FIXTURES_REQUIRED ceph.
#   ceph_fixture.sh start DIR   starts it in DIR (an old one there is stopped and removed
#                               first); exit 77 when Ceph is not installed (the tests then
#                               skip themselves: no DIR/ready), 1 when it does not start
#   ceph_fixture.sh stop DIR    stops it and removes DIR (always exit 0)
# A test using the fixture reads DIR/ceph.conf and skips (77) when DIR/ready is missing.
set -u
# shellcheck source=ceph.sh
source "$(dirname "$0")/ceph.sh"
cmd=$1
dir=$2
case "$cmd" in
  start)
    ceph_stop "$dir"
    rm -rf "$dir"
    if ! ceph_available; then
      echo "SKIP: $CEPH_ERROR"
      exit 77
    fi
    if ! ceph_start "$dir"; then
      echo "FAIL: $CEPH_ERROR"
      tail -n 20 "$dir"/logs/*.log "$dir"/logs/*.out 2>/dev/null
      ceph_stop "$dir"
      exit 1
    fi
    echo "ceph cluster ready in $(cat "$dir/ready") s: CEPH_CONF=$dir/ceph.conf pool $CEPH_POOL"
    ;;
  stop)
    ceph_stop "$dir"
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
