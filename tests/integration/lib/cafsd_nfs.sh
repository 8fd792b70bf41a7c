# shellcheck shell=bash disable=SC2034  # sourced: the variables set here are for the caller
# Shared by nfs_procedures_cafs_test.sh and bench/run-nfs-bench.sh (sourced): cafsd serving
# NFSv3 on fixed ephemeral NFS and MOUNT ports on 127.0.0.1, with the seed's VM set my_vmset
# and policy (*osdisk* -> aes-256-xts in mirrored_pool_A, hc_default -> clear text in
# default_pool; at_all_times so it runs any day; the NFS client at 127.0.0.1 is the seed's
# server 755083456 in the server registry, [[server]]), a LocalKeyProvider key directory, and one
# export of the whole gateway ("/") to 127.0.0.1 with no_root_squash.
#
#   cafsd_nfs_test_begin NAME        a test script's start: T, skip, fail, cleanup traps
#   cafsd_nfs_start CAFSD WORK_DIR   start; returns 1 (reason in CAFSD_NFS_ERROR) on failure
#   cafsd_nfs_restart CAFSD          stop and start again, same configuration and ports
#   cafsd_nfs_stop                   stop it (SIGTERM, then SIGKILL after 10 s)
#
# After cafsd_nfs_start: CAFSD_NFS_PID, CAFSD_NFS_PORT, CAFSD_NFS_MNT_PORT, CAFSD_NFS_URL
# (nfs://127.0.0.1/?nfsport=..&mountport=..), CAFSD_NFS_VMDIR (my_vmset: the VM set's
# directory under the export, where files get the policy), CAFSD_NFS_LOG, CAFSD_NFS_WORK.
# With CAFSD_NFS_PORTMAP=1 cafsd also serves its own portmapper on CAFSD_NFS_PMAP_PORT.
# CAFSD_LIFETIME (seconds, default 900) caps cafsd's run time. NFS only: no FUSE mount point.
# Nothing outside WORK_DIR is touched. The caller calls cafsd_nfs_stop on every exit path.

CAFSD_NFS_PID=""
CAFSD_NFS_ERROR=""

# The common start of a test script against cafsd over NFS: libnfs-internal leaks are not
# ours (nfs_client/lsan.supp; cafsd reports its own), `skip` (exit 77) and `fail` (the
# reason, cafsd's log, exit 1), the work directory T (/tmp/cafs-NAME-XXXXXX) removed and
# cafsd stopped on every exit path.
cafsd_nfs_test_begin() {  # name
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  export LSAN_OPTIONS="suppressions=$here/nfs_client/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  skip() { echo "SKIP: $*"; exit 77; }
  fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$CAFSD_NFS_LOG"; exit 1; }
  T=$(mktemp -d "/tmp/cafs-$1-XXXXXX")
  cafsd_nfs_test_cleanup() { cafsd_nfs_stop; rm -rf "$T"; }
  trap cafsd_nfs_test_cleanup EXIT
  trap 'exit 1' INT TERM
}

# The seed's keys and cafsd.toml (lib/cafsd.sh).
. "$(dirname "${BASH_SOURCE[0]}")/cafsd.sh"

# cafsd.sh's cafsd.toml without a mount point, audit aggregated every 10 s, the [nfs]
# section (CAFSD_NFS_WORKERS: worker threads, default 8) and the server registry: the seed's
# <vmserv> 755083456 is the NFS client at 127.0.0.1 (docs/nfs.md "Server identity").
cafsd_nfs_write_config() {  # work_dir
  local w=$1 nfs
  cafsd_seed_keys "$w/keys"
  mkdir -p "$w/backing/my_vmset"
  nfs=$(
    cat <<TOML
[nfs]
listen = "127.0.0.1"
port = $CAFSD_NFS_PORT
mount_port = $CAFSD_NFS_MNT_PORT
worker_threads = ${CAFSD_NFS_WORKERS:-8}
$([ "${CAFSD_NFS_PORTMAP:-0}" = 1 ] && echo "portmap_port = $CAFSD_NFS_PMAP_PORT")

[[nfs.export]]
path = "/"
clients = ["127.0.0.1"]
access = "rw"
squash = "no_root_squash"

[[server]]
id = "755083456"
addresses = ["127.0.0.1"]
TOML
  )
  CAFSD_NO_MOUNT=1 CAFSD_AGGREGATE_S=10 cafsd_config "$w" "[local_keys]
dir = \"$w/keys\"" "$nfs"
}

cafsd_nfs_port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

cafsd_nfs_start() {  # cafsd work_dir
  CAFSD_NFS_WORK=$2
  CAFSD_NFS_VMDIR=my_vmset
  read -r CAFSD_NFS_PORT CAFSD_NFS_MNT_PORT CAFSD_NFS_PMAP_PORT < <(python3 -c 'import socket
a = [socket.socket() for _ in range(3)]
for s in a: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in a])')
  cafsd_nfs_write_config "$2" || { CAFSD_NFS_ERROR="could not write cafsd.toml"; return 1; }
  CAFSD_NFS_URL="nfs://127.0.0.1/?nfsport=$CAFSD_NFS_PORT&mountport=$CAFSD_NFS_MNT_PORT"
  CAFSD_NFS_RUNS=0
  cafsd_nfs_launch "$1"
}

# Stops cafsd and starts it again on the same configuration and ports.
cafsd_nfs_restart() {  # cafsd
  cafsd_nfs_stop
  cafsd_nfs_launch "$1"
}

# Runs cafsd on $CAFSD_NFS_WORK/cafsd.toml (log: cafsd.log, then cafsd.2.log, ... after
# restarts); 0 once both ports accept connections.
cafsd_nfs_launch() {  # cafsd
  local _
  CAFSD_NFS_RUNS=$((CAFSD_NFS_RUNS + 1))
  CAFSD_NFS_LOG=$CAFSD_NFS_WORK/cafsd.log
  [ "$CAFSD_NFS_RUNS" -gt 1 ] && CAFSD_NFS_LOG=$CAFSD_NFS_WORK/cafsd.$CAFSD_NFS_RUNS.log
  timeout "${CAFSD_LIFETIME:-900}" "$1" --config "$CAFSD_NFS_WORK/cafsd.toml" \
    >"$CAFSD_NFS_LOG" 2>&1 &
  CAFSD_NFS_PID=$!
  for _ in $(seq 200); do
    if ! kill -0 "$CAFSD_NFS_PID" 2>/dev/null; then
      wait "$CAFSD_NFS_PID" 2>/dev/null
      CAFSD_NFS_PID=""
      CAFSD_NFS_ERROR="cafsd exited: $(tail -3 "$CAFSD_NFS_LOG" | tr '\n' ' ')"
      return 1
    fi
    if cafsd_nfs_port_open "$CAFSD_NFS_PORT" && cafsd_nfs_port_open "$CAFSD_NFS_MNT_PORT"; then
      return 0
    fi
    sleep 0.1
  done
  CAFSD_NFS_ERROR="cafsd does not listen on NFS port $CAFSD_NFS_PORT and MOUNT port \
$CAFSD_NFS_MNT_PORT within 20 s"
  cafsd_nfs_stop
  return 1
}

cafsd_nfs_stop() {
  if [ -n "$CAFSD_NFS_PID" ]; then
    kill "$CAFSD_NFS_PID" 2>/dev/null
    local _
    for _ in $(seq 100); do kill -0 "$CAFSD_NFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CAFSD_NFS_PID" 2>/dev/null
    wait "$CAFSD_NFS_PID" 2>/dev/null
    CAFSD_NFS_PID=""
  fi
}
