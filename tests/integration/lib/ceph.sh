# shellcheck shell=bash disable=SC2034  # sourced: the variables set here are for the caller
# A private single-node Ceph cluster for the RADOS pool tests (sourced), from Debian's packages
# (ceph-mon, ceph-osd, ceph-mgr; measured recipe: /work/shared/design/CEPH.md, the micro-OSD
# of the Go Ceph bindings' CI): one monitor, one manager with its Python modules disabled, one
# OSD on memstore (data in RAM, CEPH_MEMSTORE_BYTES, default 1 GiB), pool size 1, auth none,
# every daemon bound to 127.0.0.1 on ports of one small range, everything under one directory.
#
#   ceph_available            0 if the daemons and tools are installed (reason in CEPH_ERROR)
#   ceph_start DIR            start in DIR (created); returns 1 with the reason in CEPH_ERROR.
#                             Ready when `rados put` into the pool CEPH_POOL (default "cafs",
#                             created here) succeeds. Writes DIR/ceph.conf, DIR/pids (one
#                             "name pid" a line), DIR/ready (the start-up seconds) and
#                             DIR/logs/*.log.
#   ceph_stop DIR             SIGTERM to rgw, osd, mgr, mon in that order (SIGKILL after 10 s each);
#                             idempotent; leaves DIR (the caller removes it)
#   ceph_osd_pause DIR / ceph_osd_resume DIR   freeze / thaw the OSD (fault tests, below)
#   ceph_pool_toml DIR NS TIMEOUT   prints the keys of a `kind = "rados"` [[pool]] table (after
#                             its name) on this cluster: pool CEPH_POOL, namespace NS,
#                             op_timeout_s TIMEOUT (docs/pools.md)
#   ceph_remove_namespace DIR NS    removes every object of namespace NS in CEPH_POOL
#   ceph_s3_wait DIR          waits (at most 90 s) until radosgw's user and bucket are made
#                             (DIR/s3/ready); returns 1 and prints why when radosgw did not come
#                             up (DIR/s3-error)
#   ceph_s3_env DIR           ceph_s3_wait, then prints the keys of a `kind = "s3"` [[pool]]
#                             table (after its name) on this cluster's radosgw: endpoint, region,
#                             bucket, access key and secret key file (docs/pools.md)
#   ceph_s3_pool_toml DIR PREFIX STAGING   ceph_s3_env's keys plus a key prefix, a staging
#                             directory, 5 MiB parts and 50 ms retries (the tests' s3 pool)
#   ceph_s3_keys DIR PREFIX   prints the keys of the objects below PREFIX/, one a line
#   ceph_s3_remove_prefix DIR PREFIX  removes every object below PREFIX/ (cleanup; quiet)
#   ceph_fixture_dir          prints the directory of the CTest fixture's cluster
#                             ($CAFS_TEST_CEPH_DIR); returns 1 and prints why when it is not up
#   ceph_gateway_test_require TOOL...   the preamble of a cafsd-on-the-fixture test: sets
#                             CEPH_DIR (ceph_fixture_dir); skips (exit 77, the reason on
#                             stdout) when the cluster, /dev/fuse or a TOOL is missing
#
# radosgw (S3, for the s3 pool kind) is started too when it is installed: beast on 127.0.0.1
# port BASE+21, started with the OSD so that its own start-up (it creates its pools) overlaps
# the wait for RADOS I/O. Its set-up finishes in the background once RADOS is ready (about 10 s
# more: ceph_start does not wait for it, the S3 tests do, with ceph_s3_wait or
# tests/unit/pool/test_cluster.h): one user (radosgw-admin) and the bucket CEPH_S3_BUCKET
# (default "cafs") are made, and DIR/s3/ holds endpoint, access_key, secret_key (mode 0600),
# bucket and, last, ready. A radosgw that does not come up is not a failure of the cluster
# (the RADOS tests run): the reason is in DIR/s3-error and the S3 tests fail with it.
#
# After ceph_start: CEPH_CONF (exported: librados and the ceph/rados tools read it), CEPH_POOL.
# CEPH_LIFETIME (seconds, default 3600) caps every daemon's run time (timeout), so a cluster
# whose cleanup never ran does not outlive a CI job. Nothing outside DIR is written: run dir,
# admin sockets, crash dir, mon/osd/mgr data and logs are all set to DIR paths.
# The caller runs ceph_stop on every exit path (trap ... EXIT), or registers it as the CTest
# fixture cleanup (tests/integration/lib/ceph_fixture.sh).

CEPH_ERROR=""
CEPH_POOL=${CEPH_POOL:-cafs}
CEPH_S3_BUCKET=${CEPH_S3_BUCKET:-cafs}
CEPH_S3_REGION=us-east-1

ceph_available() {
  local tool
  for tool in ceph-mon ceph-osd ceph-mgr monmaptool ceph rados setsid; do
    command -v "$tool" >/dev/null || { CEPH_ERROR="$tool not installed"; return 1; }
  done
}

# A free base port with BASE..BASE+21 unused (mon v2 and v1, the daemons' range, radosgw).
ceph_pick_ports() {
  local base try
  for try in $(seq 20); do
    base=$((20000 + (RANDOM % 2000) * 20))
    if ! ss -Htln "sport >= :$base and sport <= :$((base + 21))" 2>/dev/null | grep -q .; then
      echo "$base"
      return 0
    fi
  done
  echo "$base"
}

ceph_write_conf() {  # dir fsid base
  local d=$1 disabled
  disabled=alerts,diskprediction_local,influx,insights,iostat,k8sevents,localpool,mirroring
  disabled=$disabled,nfs,osd_perf_query,osd_support,prometheus,restful,rook,selftest
  disabled=$disabled,snap_schedule,stats,telegraf,test_orchestrator,zabbix,cephadm,dashboard
  cat >"$d/ceph.conf" <<CONF
[global]
fsid = $2
mon host = [v2:127.0.0.1:$3,v1:127.0.0.1:$(($3 + 1))]
public network = 127.0.0.0/8
ms bind port min = $(($3 + 2))
ms bind port max = $(($3 + 20))
auth cluster required = none
auth service required = none
auth client required = none
mon warn on insecure global id reclaim allowed = false
run dir = $d/run
admin socket = $d/run/\$name.asok
crash dir = $d/crash
log file = $d/logs/\$name.log
mon cluster log file = $d/logs/cluster.log
mon data = $d/mon/\$cluster-\$id
osd data = $d/osd/\$cluster-\$id
mgr data = $d/mgr/\$cluster-\$id
keyring = $d/keyring
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
# A PG's read lease is osd heartbeat grace x 0.8: an OSD frozen longer (the fault test) finds
# its PGs "laggy" and blocked for minutes. One OSD has no heartbeat peers, so a longer grace
# changes nothing else.
osd heartbeat grace = 120
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mgr initial modules =
mgr disabled modules = $disabled

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$(($3 + 21))
rgw data = $d/rgw
# Without it radosgw loops on "get_initial_auth_request returned -13" and never listens.
ms mon client mode = crc
rgw enable usage log = false

[client]
# No admin socket for clients: cafsd, the tests' rados calls and fio share one name
# (client.admin) and would fight over one socket file.
admin socket =
CONF
}

# Runs a daemon in the foreground in its own session, capped by CEPH_LIFETIME, its output in
# DIR/logs/NAME.out, no descriptor of ours kept open (CTest waits for its pipes to close).
ceph_daemon() {  # dir name command...
  local d=$1 name=$2
  shift 2
  setsid timeout "${CEPH_LIFETIME:-3600}" "$@" -f -c "$d/ceph.conf" \
    </dev/null >>"$d/logs/$name.out" 2>&1 &
  echo "$name $!" >>"$d/pids"
}

ceph_cli() {  # dir args...
  local d=$1
  shift
  timeout 60 ceph -c "$d/ceph.conf" "$@" 2>>"$d/logs/cli.err"
}

ceph_start() {  # dir
  local d=$1 fsid base start osd_id
  CEPH_ERROR=""
  ceph_available || return 1
  start=$(date +%s%N)
  mkdir -p "$d"/{run,crash,logs,mon,osd,mgr/ceph-x}
  : >"$d/pids"
  : >"$d/keyring"
  rm -f "$d/ready"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  base=$(ceph_pick_ports)
  ceph_write_conf "$d" "$fsid" "$base"
  export CEPH_CONF=$d/ceph.conf
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$base,v1:127.0.0.1:$((base + 1))]" \
    "$d/monmap" >>"$d/logs/setup.log" 2>&1 || { CEPH_ERROR="monmaptool failed"; return 1; }
  ceph-mon -c "$d/ceph.conf" --id a --mkfs --monmap "$d/monmap" --keyring /dev/null \
    >>"$d/logs/setup.log" 2>&1 || { CEPH_ERROR="ceph-mon --mkfs failed (logs/setup.log)"; return 1; }
  ceph_daemon "$d" mon.a ceph-mon --id a
  ceph_daemon "$d" mgr.x ceph-mgr --id x
  osd_id=$(ceph_cli "$d" osd create) || { CEPH_ERROR="ceph osd create failed (monitor down?)"; return 1; }
  echo "$osd_id" >"$d/osd_id"
  mkdir -p "$d/osd/ceph-$osd_id"
  ceph-osd -c "$d/ceph.conf" --id "$osd_id" --mkfs >>"$d/logs/setup.log" 2>&1 ||
    { CEPH_ERROR="ceph-osd --mkfs failed (logs/setup.log)"; return 1; }
  ceph_daemon "$d" "osd.$osd_id" ceph-osd --id "$osd_id"
  echo "$base" >"$d/base_port"
  if command -v radosgw >/dev/null; then
    mkdir -p "$d/rgw"
    ceph_daemon "$d" rgw.gw radosgw --id rgw.gw
  else
    echo "radosgw not installed" >"$d/s3-error"
  fi
  ceph_cli "$d" osd pool create "$CEPH_POOL" 8 8 >>"$d/logs/setup.log" 2>&1 ||
    { CEPH_ERROR="ceph osd pool create failed"; return 1; }
  ceph_cli "$d" osd pool application enable "$CEPH_POOL" rados >>"$d/logs/setup.log" 2>&1
  if ! ceph_wait_io "$d" 90; then
    CEPH_ERROR="no RADOS I/O within 90 s (logs in $d/logs)"
    return 1
  fi
  if [ ! -f "$d/s3-error" ]; then
    # In the background, no descriptor of ours kept open; listed in DIR/pids while it runs (so
    # ceph_stop ends it, and never a later process that reused its pid).
    (
      echo "s3setup $BASHPID" >>"$d/pids"
      ceph_s3_setup "$d" || echo "$CEPH_ERROR" >"$d/s3-error"
      awk '$1 != "s3setup"' "$d/pids" >"$d/pids.s3" && mv "$d/pids.s3" "$d/pids"
    ) </dev/null >>"$d/logs/setup.log" 2>&1 &
  fi
  awk -v a="$(date +%s%N)" -v b="$start" 'BEGIN { printf "%.1f\n", (a - b) / 1e9 }' >"$d/ready"
}

# Waits for radosgw (an anonymous GET / answers 200), makes the user and the bucket, writes
# DIR/s3/. Returns 1 with the reason in CEPH_ERROR.
ceph_s3_setup() {  # dir
  local d=$1 endpoint deadline ak sk
  endpoint=http://127.0.0.1:$(($(cat "$d/base_port") + 21))
  deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$endpoint/")" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || { CEPH_ERROR="radosgw not answering within 60 s (logs/rgw.gw.out)"; return 1; }
    sleep 0.3
  done
  ak=CAFSTEST$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
  sk=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  timeout 60 radosgw-admin -c "$d/ceph.conf" user create --uid cafs-test --display-name cafs-test \
    --access-key "$ak" --secret-key "$sk" >>"$d/logs/setup.log" 2>&1 ||
    { CEPH_ERROR="radosgw-admin user create failed (logs/setup.log)"; return 1; }
  mkdir -p "$d/s3"
  (umask 077; printf '%s' "$sk" >"$d/s3/secret_key")
  printf '%s' "$ak" >"$d/s3/access_key"
  printf '%s' "$endpoint" >"$d/s3/endpoint"
  printf '%s' "$CEPH_S3_BUCKET" >"$d/s3/bucket"
  ceph_s3_curl "$d" -X PUT "$endpoint/$CEPH_S3_BUCKET" >>"$d/logs/setup.log" 2>&1 ||
    { CEPH_ERROR="creating bucket $CEPH_S3_BUCKET failed (logs/setup.log)"; return 1; }
  : >"$d/s3/ready"
}

ceph_s3_wait() {  # dir
  local deadline=$((SECONDS + 90))
  while [ ! -f "$1/s3/ready" ] && [ ! -f "$1/s3-error" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "radosgw set-up not done within 90 s ($1/logs/setup.log)"
      return 1
    fi
    sleep 0.2
  done
  if [ -f "$1/s3-error" ]; then
    echo "no radosgw in the test cluster: $(cat "$1/s3-error")"
    return 1
  fi
}

# curl signed with the test user's keys (SigV4; radosgw wants x-amz-content-sha256).
ceph_s3_curl() {  # dir curl-args...
  local d=$1
  shift
  curl -sf -m 30 --aws-sigv4 "aws:amz:$CEPH_S3_REGION:s3" \
    --user "$(cat "$d/s3/access_key"):$(cat "$d/s3/secret_key")" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

ceph_s3_env() {  # dir
  ceph_s3_wait "$1" || return 1
  printf 'kind = "s3"\nendpoint = "%s"\nregion = "%s"\nbucket = "%s"\naccess_key = "%s"\nsecret_key_file = "%s"\n' \
    "$(cat "$1/s3/endpoint")" "$CEPH_S3_REGION" "$(cat "$1/s3/bucket")" \
    "$(cat "$1/s3/access_key")" "$1/s3/secret_key"
}

ceph_s3_pool_toml() {  # dir prefix staging
  ceph_s3_env "$1" || return 1
  printf 'prefix = "%s"\nstaging_dir = "%s"\npart_size_mib = 5\nretry_base_ms = 50\n' "$2" "$3"
}

ceph_s3_keys() {  # dir prefix
  ceph_s3_curl "$1" "$(cat "$1/s3/endpoint")/$(cat "$1/s3/bucket")?list-type=2&max-keys=1000&prefix=$2%2F" |
    python3 -c 'import re, sys; print("\n".join(re.findall(r"<Key>([^<]*)</Key>", sys.stdin.read())))' |
    sed '/^$/d'
}

ceph_s3_remove_prefix() {  # dir prefix
  local k base
  base="$(cat "$1/s3/endpoint" 2>/dev/null)/$(cat "$1/s3/bucket" 2>/dev/null)"
  ceph_s3_keys "$1" "$2" 2>/dev/null | while IFS= read -r k; do
    ceph_s3_curl "$1" -X DELETE "$base/$k" >/dev/null 2>&1
  done
}

# Waits until a `rados put` into the pool succeeds.
ceph_wait_io() {  # dir seconds
  local d=$1 deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    timeout 10 rados -c "$d/ceph.conf" -p "$CEPH_POOL" put ceph-sh-probe "$d/ceph.conf" \
      2>>"$d/logs/cli.err" && return 0
    sleep 0.3
  done
  return 1
}

ceph_stop_one() {  # dir name
  local pid
  pid=$(awk -v n="$2" '$1 == n { p = $2 } END { print p }' "$1/pids" 2>/dev/null)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    pkill -9 -P "$pid" 2>/dev/null
    kill -9 "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  awk -v n="$2" '$1 != n' "$1/pids" >"$1/pids.new" && mv "$1/pids.new" "$1/pids"
}

# The ceph-osd process (the child of its `timeout` wrapper).
ceph_osd_pid() {  # dir
  local wrapper
  wrapper=$(awk '$1 ~ /^osd\./ { print $2 }' "$1/pids")
  [ -n "$wrapper" ] && pgrep -P "$wrapper" | head -1
}

# Freezes / thaws the OSD (SIGSTOP / SIGCONT). memstore keeps its data only while the process
# lives, so the fault tests freeze the OSD instead of ending it: to clients the same as an OSD
# that stopped answering (operations wait, then time out), and nothing is lost when it returns.
ceph_osd_pause() {  # dir
  local pid
  pid=$(ceph_osd_pid "$1") || return 1
  kill -STOP "$pid"
}

ceph_osd_resume() {  # dir
  local pid
  pid=$(ceph_osd_pid "$1") || return 1
  kill -CONT "$pid"
}

ceph_stop() {  # dir
  local d=$1 name
  [ -f "$d/pids" ] || return 0
  for name in s3setup rgw.gw $(awk '$1 ~ /^osd\./ { print $1 }' "$d/pids") mgr.x mon.a; do
    ceph_stop_one "$d" "$name"
  done
}

ceph_pool_toml() {  # dir ns op_timeout_s
  printf 'kind = "rados"\nconf = "%s"\nrados_pool = "%s"\nnamespace = "%s"\nop_timeout_s = %s\n' \
    "$1/ceph.conf" "$CEPH_POOL" "$2" "$3"
}

ceph_remove_namespace() {  # dir ns
  local o
  timeout 60 rados -c "$1/ceph.conf" -p "$CEPH_POOL" -N "$2" ls 2>/dev/null |
    while IFS= read -r o; do timeout 30 rados -c "$1/ceph.conf" -p "$CEPH_POOL" -N "$2" rm "$o"; done
}

ceph_gateway_test_require() {  # tool...
  local tool
  CEPH_DIR=$(ceph_fixture_dir) || { echo "SKIP: $CEPH_DIR"; exit 77; }
  [ -c /dev/fuse ] || { echo "SKIP: /dev/fuse missing"; exit 77; }
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
  done
}

ceph_fixture_dir() {
  local d=${CAFS_TEST_CEPH_DIR:-}
  if [ -z "$d" ] || [ ! -f "$d/ready" ]; then
    echo "no test cluster (CAFS_TEST_CEPH_DIR; run through ctest with the ceph fixture)"
    return 1
  fi
  echo "$d"
}
