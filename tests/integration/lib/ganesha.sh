# shellcheck shell=bash disable=SC2034  # sourced: the variables set here are for the caller
# Shared by the NFS tests and bench/run-nfs-bench.sh (sourced): a private NFS-Ganesha 4.x
# (Debian's nfs-ganesha + nfs-ganesha-vfs) exporting one directory over NFSv3/TCP with
# FSAL_VFS, on fixed ephemeral NFS and MOUNT ports bound to 127.0.0.1, so clients need no
# portmapper (libnfs URLs: ?nfsport=..&mountport=..).
#
#   ganesha_start WORK_DIR EXPORT_DIR   start; returns 1 (reason in GANESHA_ERROR) on failure
#   ganesha_restart                     stop and start again, same configuration and ports
#   ganesha_stop                        stop Ganesha, then the private rpcbind if we started it
#   ganesha_available                   0 if ganesha.nfsd, its VFS FSAL and rpcbind exist
#
# After ganesha_start: GANESHA_PID, GANESHA_NFS_PORT, GANESHA_MNT_PORT, GANESHA_EXPORT (the
# export path clients mount, = EXPORT_DIR), GANESHA_URL (nfs://127.0.0.1<export>?nfsport=..
# &mountport=..) and GANESHA_LOG. GANESHA_LIFETIME (seconds, default 900) caps Ganesha's run
# time (timeout), so a forgotten daemon never outlives a CI job.
#
# What this does to the host (root only; CTest runs as root):
#  - Everything Ganesha writes stays in WORK_DIR: ganesha.conf, ganesha.log, ganesha.pid and
#    its recovery directory (NFSV4 RecoveryRoot; without it Ganesha creates
#    /var/lib/nfs/ganesha). NLM, RQUOTA, UDP and NFSv4 are off; Graceless, so no 90 s grace.
#  - Ganesha 4.3 refuses to start unless it can register NFS and MOUNT with rpcbind
#    ("Cannot register NFS V3 on TCP"). If no rpcbind answers on 127.0.0.1, we start one
#    (`rpcbind -f`, foreground, no warm start so no stale registrations are read back). It
#    listens on port 111 (TCP and UDP, all addresses), creates /run/rpcbind.sock and, when
#    it stops, writes /run/rpcbind/{rpcbind,portmap}.xdr (the warm-start state; Debian's
#    rpcbind package creates that directory). We stop it in ganesha_stop. An rpcbind that
#    was already running is left alone; Ganesha registers programs 100003 v3 and 100005 v3
#    there with our ports and removes them when it stops (another NFS server's registrations
#    of the same programs are replaced: clients here use fixed ports, not the portmapper).
#  - Ganesha creates the empty directory /run/ganesha (its NFSv4 callback credential cache,
#    even with NFSv4 off) if it is missing, and leaves it.
#  - Ganesha logs D-Bus and Kerberos errors when neither exists (a container); harmless.
#  - Parallel tests: each Ganesha has its own ports and directory. If one test's private
#    rpcbind stops while another Ganesha starts, that start fails to register; ganesha_start
#    then retries with a new rpcbind (3 attempts).
# The caller must call ganesha_stop on every exit path (trap ... EXIT).

GANESHA_PID=""
GANESHA_RPCBIND_PID=""
GANESHA_ERROR=""

ganesha_available() {
  command -v ganesha.nfsd >/dev/null || { GANESHA_ERROR="ganesha.nfsd not installed"; return 1; }
  command -v rpcbind >/dev/null || { GANESHA_ERROR="rpcbind not installed"; return 1; }
  command -v rpcinfo >/dev/null || { GANESHA_ERROR="rpcinfo not installed"; return 1; }
  local fsal
  for fsal in /usr/lib/*/ganesha/libfsalvfs.so /usr/lib/ganesha/libfsalvfs.so \
    /usr/lib64/ganesha/libfsalvfs.so; do
    [ -e "$fsal" ] && return 0
  done
  GANESHA_ERROR="nfs-ganesha-vfs (libfsalvfs.so) not installed"
  return 1
}

ganesha_free_ports() {  # prints two free loopback TCP ports (the kernel's choice)
  python3 -c 'import socket
a = [socket.socket() for _ in range(2)]
for s in a: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in a])'
}

ganesha_port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# 0 if rpcbind answers on 127.0.0.1 (a TCP connect first: rpcinfo alone takes 5 s to give up
# when nothing listens).
ganesha_rpcbind_up() {
  ganesha_port_open 111 && timeout 5 rpcinfo -p 127.0.0.1 >/dev/null 2>&1
}

# Starts rpcbind unless one answers. Sets GANESHA_RPCBIND_PID when we started it.
ganesha_ensure_rpcbind() {
  ganesha_rpcbind_up && return 0
  [ "$(id -u)" = 0 ] || { GANESHA_ERROR="no rpcbind running and not root to start one"; return 1; }
  timeout "${GANESHA_LIFETIME:-900}" rpcbind -f >/dev/null 2>&1 &
  GANESHA_RPCBIND_PID=$!
  local _
  for _ in $(seq 50); do
    ganesha_rpcbind_up && return 0
    kill -0 "$GANESHA_RPCBIND_PID" 2>/dev/null || break
    sleep 0.1
  done
  # Another test may have started one between our check and our start: use it.
  wait "$GANESHA_RPCBIND_PID" 2>/dev/null
  GANESHA_RPCBIND_PID=""
  ganesha_rpcbind_up && return 0
  GANESHA_ERROR="rpcbind did not start"
  return 1
}

ganesha_write_config() {  # work_dir export_dir
  mkdir -p "$1/recovery"
  cat >"$1/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  NFS_Port = $GANESHA_NFS_PORT;
  MNT_Port = $GANESHA_MNT_PORT;
  Bind_addr = 127.0.0.1;
  Protocols = 3;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
}
NFSV4 {
  RecoveryBackend = fs;
  RecoveryRoot = "$1/recovery";
  Graceless = true;
}
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 1;
  Path = "$2";
  Pseudo = "$2";
  Access_Type = RW;
  Squash = No_Root_Squash;
  Protocols = 3;
  Transports = TCP;
  SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
}

# Waits until Ganesha listens on both ports; 1 if it exits or takes longer than 20 s.
ganesha_wait_ready() {
  local _
  for _ in $(seq 200); do
    kill -0 "$GANESHA_PID" 2>/dev/null || return 1
    grep -q "NFS SERVER INITIALIZED" "$GANESHA_LOG" 2>/dev/null &&
      ganesha_port_open "$GANESHA_NFS_PORT" && ganesha_port_open "$GANESHA_MNT_PORT" && return 0
    sleep 0.1
  done
  return 1
}

# Runs ganesha.nfsd on $GANESHA_WORK/ganesha.conf; 0 once it serves.
ganesha_launch() {
  : >"$GANESHA_LOG"
  timeout "${GANESHA_LIFETIME:-900}" ganesha.nfsd -F -f "$GANESHA_WORK/ganesha.conf" \
    -L "$GANESHA_LOG" -p "$GANESHA_WORK/ganesha.pid" >"$GANESHA_WORK/ganesha.out" 2>&1 &
  GANESHA_PID=$!
  ganesha_wait_ready
}

# Stops Ganesha and starts it again with the same configuration and ports (clients keep
# their URL; file handles and data must survive, the write verifier must change).
ganesha_restart() {
  ganesha_stop_daemon
  ganesha_ensure_rpcbind || return 1
  ganesha_launch && return 0
  GANESHA_ERROR="ganesha.nfsd did not restart"
  return 1
}

ganesha_start() {  # work_dir export_dir
  local work=$1 export_dir=$2 attempt
  GANESHA_WORK=$work
  ganesha_available || return 1
  [ -d "$export_dir" ] || { GANESHA_ERROR="export directory $export_dir missing"; return 1; }
  GANESHA_LOG=$work/ganesha.log
  GANESHA_EXPORT=$export_dir
  for attempt in 1 2 3; do
    ganesha_ensure_rpcbind || return 1
    read -r GANESHA_NFS_PORT GANESHA_MNT_PORT < <(ganesha_free_ports)
    ganesha_write_config "$work" "$export_dir"
    if ganesha_launch; then
      GANESHA_URL="nfs://127.0.0.1$export_dir?nfsport=$GANESHA_NFS_PORT&mountport=$GANESHA_MNT_PORT"
      GANESHA_ERROR=""
      return 0
    fi
    GANESHA_ERROR="ganesha.nfsd did not start (attempt $attempt): $(grep -E ':(FATAL|MAJ) :' \
      "$GANESHA_LOG" | tail -2 | sed 's/.*\] //')"
    ganesha_stop_daemon
  done
  ganesha_stop_rpcbind
  return 1
}

ganesha_kill() {  # pid: SIGTERM, up to 10 s, then SIGKILL
  kill "$1" 2>/dev/null
  local _
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

ganesha_stop_daemon() {
  [ -n "$GANESHA_PID" ] && ganesha_kill "$GANESHA_PID"
  GANESHA_PID=""
}

ganesha_stop_rpcbind() {
  [ -n "$GANESHA_RPCBIND_PID" ] && ganesha_kill "$GANESHA_RPCBIND_PID"
  GANESHA_RPCBIND_PID=""
}

ganesha_stop() {
  ganesha_stop_daemon
  ganesha_stop_rpcbind
}
