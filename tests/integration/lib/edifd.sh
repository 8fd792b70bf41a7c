# Shared by the EDIF integration scripts and bench/run-edif-bench.sh (sourced): writes edifd
# configuration files, starts `edifd target`, `edifd host` and `edif-agent` processes, waits
# until each is ready, stops them, and cleans up.
#
# The caller defines EDIFD (the edifd binary), AGENT (edif-agent, for the agent functions) and
# DIR (its private temp dir: configs, sockets, logs and secrets all go there), or calls
# edif_test_init for both DIR and cleanup; it may redefine fail() after sourcing this file.
# Naming, for a process or port called NAME:
#   $DIR/NAME.toml  config      $DIR/NAME.log  stderr (spdlog)   $DIR/NAME.out  stdout
#   $DIR/NAME.secret            APP_START secret of a target or host port (created on demand)
#   $DIR/NAME-mbox.sock         mailbox disk of a target or host port
#   $DIR/NAME.port              bound fabric port of a target
#   $DIR/NAME-luns.sock         NBD socket of a host's LUN exports
# Every process started is a `timeout EDIF_TIMEOUT` wrapper recorded in EDIF_PIDS; its child
# (the daemon itself, for kill -9) is found with edif_child. edif_cleanup stops them all
# (SIGTERM, then SIGKILL) and is safe to call from an EXIT trap.
# EDIF_LOG_LEVEL (default info) is passed to edifd as --log-level.

EDIF_PIDS=()
EDIF_TIMEOUT=${EDIF_TIMEOUT:-300}

edif_require() {  # edif_require TOOL...: exit 77 (skipped) when one is not installed
  local t
  for t in "$@"; do command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }; done
}

# edif_test_init NAME: for a test script: DIR=$(mktemp -d /tmp/NAME.XXXXXX), an EXIT trap that
# stops every process and removes DIR (kept and printed when EDIF_KEEP is set), and a fail()
# that prints the last 40 lines of each $DIR/*.log, then exits 1.
edif_test_init() {
  DIR=$(mktemp -d "/tmp/$1.XXXXXX")
  trap edif_test_cleanup EXIT
  trap 'exit 1' INT TERM
}
edif_test_cleanup() {
  edif_cleanup
  if [ -n "${EDIF_KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
fail() {
  local f
  echo "FAIL: $*"
  for f in "$DIR"/*.log; do [ -f "$f" ] && { echo "--- ${f##*/}"; tail -40 "$f"; }; done
  exit 1
}

edif_wait_log() {  # edif_wait_log SECONDS FILE PATTERN (grep -E)
  local n=$(( $1 * 10 ))
  for _ in $(seq "$n"); do grep -qE "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

edif_wait_log_from() {  # edif_wait_log_from SECONDS FILE LINE PATTERN: only lines after LINE
  local n=$(( $1 * 10 ))
  for _ in $(seq "$n"); do
    tail -n +"$(( $3 + 1 ))" "$2" 2>/dev/null | grep -qE "$4" && return 0
    sleep 0.1
  done
  return 1
}

edif_lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }  # edif_lines FILE

edif_count() {  # edif_count FILE PATTERN -> number of matching lines (0 if none)
  local n
  n=$(grep -cE "$2" "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

edif_secret() {  # edif_secret NAME: $DIR/NAME.secret (32 random bytes, base64), kept if present
  [ -s "$DIR/$1.secret" ] || head -c 32 /dev/urandom | base64 > "$DIR/$1.secret"
}

# edif_pki CA LEAF[:WWPN]...: $DIR/CA-ca.{pem,key} and $DIR/LEAF.{crt,key} (EC P-256); with
# :WWPN (16 hex digits) the leaf names its port in a subjectAltName URI urn:wwpn:<WWPN>
# (docs/edif-agent.md, certificate names).
edif_pki() {
  local ca=$1 spec leaf wwpn; shift
  timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$ca CA" -keyout "$DIR/$ca-ca.key" -out "$DIR/$ca-ca.pem" 2>/dev/null || return 1
  for spec in "$@"; do
    leaf=${spec%%:*}
    wwpn=${spec#"$leaf"}; wwpn=${wwpn#:}
    : > "$DIR/$leaf.ext"
    [ -n "$wwpn" ] && echo "subjectAltName = URI:urn:wwpn:$wwpn" > "$DIR/$leaf.ext"
    timeout 30 openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$leaf" \
      -keyout "$DIR/$leaf.key" -out "$DIR/$leaf.csr" 2>/dev/null || return 1
    timeout 30 openssl x509 -req -in "$DIR/$leaf.csr" -CA "$DIR/$ca-ca.pem" \
      -CAkey "$DIR/$ca-ca.key" -CAcreateserial -days 2 -extfile "$DIR/$leaf.ext" \
      -out "$DIR/$leaf.crt" 2>/dev/null || return 1
  done
}

# ---- edifd target ------------------------------------------------------------------------
edif_target_config() {  # edif_target_config NAME WWPN PORT_ID [EXTRA_TOML_LINES]
  edif_secret "$1"
  cat > "$DIR/$1.toml" <<TOML
[target]
wwpn = "$2"
port_id = $3
listen = "127.0.0.1:0"
port_file = "$DIR/$1.port"
mailbox_socket = "$DIR/$1-mbox.sock"
agent_secret_file = "$DIR/$1.secret"
${4:-}
TOML
}

edif_target_lun() {  # edif_target_lun NAME ID PATH REQUIRE_SECURE(true|false)
  cat >> "$DIR/$1.toml" <<TOML
[[target.lun]]
id = $2
path = "$3"
require_secure = $4
TOML
}

edif_start_target() {  # edif_start_target NAME: sets EDIF_LAST_PID; the port is in $DIR/NAME.port
  rm -f "$DIR/$1.port"
  timeout "$EDIF_TIMEOUT" "$EDIFD" target --config "$DIR/$1.toml" --log-level "${EDIF_LOG_LEVEL:-info}" > "$DIR/$1.out" 2>> "$DIR/$1.log" &
  EDIF_LAST_PID=$!
  EDIF_PIDS+=("$EDIF_LAST_PID")
  for _ in $(seq 100); do
    [ -s "$DIR/$1.port" ] && return 0
    kill -0 "$EDIF_LAST_PID" 2>/dev/null || fail "edifd target $1 exited"
    sleep 0.1
  done
  fail "edifd target $1 did not start"
}

edif_target_port() { cat "$DIR/$1.port"; }  # edif_target_port NAME

# ---- edifd host --------------------------------------------------------------------------
edif_host_config() {  # edif_host_config NAME [EXTRA_TOML_LINES]: [host], LUNs on NAME-luns.sock
  # Defaults suited to tests; a key given in EXTRA_TOML_LINES replaces its default.
  local extra=${2:-} line defaults=""
  for line in "io_wait_timeout_ms = 3000" "io_timeout_ms = 10000" "reconnect_interval_ms = 200"; do
    grep -q "^${line%% *} *=" <<< "$extra" || defaults+="$line"$'\n'
  done
  cat > "$DIR/$1.toml" <<TOML
[host]
lun_socket = "$DIR/$1-luns.sock"
$defaults$extra
TOML
}

edif_host_port() {  # edif_host_port HOST PORT_NAME WWPN PORT_ID: [[host.port]] (mailbox PORT_NAME-mbox.sock)
  edif_secret "$2"
  cat >> "$DIR/$1.toml" <<TOML
[[host.port]]
name = "$2"
wwpn = "$3"
port_id = $4
mailbox_socket = "$DIR/$2-mbox.sock"
agent_secret_file = "$DIR/$2.secret"
TOML
}

edif_host_target() {  # edif_host_target HOST TARGET_NAME FABRIC_PORT WWPN REQUIRE_SECURE (last port)
  cat >> "$DIR/$1.toml" <<TOML
[[host.port.target]]
name = "$2"
address = "127.0.0.1:$3"
wwpn = "$4"
require_secure = $5
TOML
}

edif_start_host() {  # edif_start_host NAME EXPORT...: waits for "ready" and each LUN export
  local base
  base=$(edif_lines "$DIR/$1.log")
  timeout "$EDIF_TIMEOUT" "$EDIFD" host --config "$DIR/$1.toml" --log-level "${EDIF_LOG_LEVEL:-info}" > "$DIR/$1.out" 2>> "$DIR/$1.log" &
  EDIF_LAST_PID=$!
  EDIF_PIDS+=("$EDIF_LAST_PID")
  local name=$1; shift
  for _ in $(seq 100); do
    grep -q "edifd host: ready" "$DIR/$name.out" 2>/dev/null && break
    kill -0 "$EDIF_LAST_PID" 2>/dev/null || fail "edifd host $name exited"
    sleep 0.1
  done
  for e in "$@"; do
    edif_wait_log_from 10 "$DIR/$name.log" "$base" "export $e" ||
      fail "edifd host $name did not export $e"
  done
}

edif_lun_uri() { echo "nbd+unix:///$2?socket=$DIR/$1-luns.sock"; }  # edif_lun_uri HOST EXPORT

# ---- edif-agent --------------------------------------------------------------------------
# edif_start_agent LOG PORT_NAME ROLE(initiator|target) LEAF [EXTRA_ARGS...]: the agent of the
# port (target or host port) PORT_NAME with X.509 credentials $DIR/LEAF.{crt,key} and the CA of
# edif_pki's "fabric" CA; stderr to $DIR/LOG.log. Sets EDIF_LAST_PID.
edif_start_agent() {
  local log=$1 port=$2 role=$3 leaf=$4; shift 4
  timeout "$EDIF_TIMEOUT" "$AGENT" --mailbox "nbd+unix:///mailbox?socket=$DIR/$port-mbox.sock" \
    --secret-file "$DIR/$port.secret" --role "$role" --ca "$DIR/fabric-ca.pem" \
    --cert "$DIR/$leaf.crt" --key "$DIR/$leaf.key" "$@" > /dev/null 2>> "$DIR/$log.log" &
  EDIF_LAST_PID=$!
  EDIF_PIDS+=("$EDIF_LAST_PID")
}

# edif_start_agents TARGET_PORT HOST_PORT: the agent of target port TARGET_PORT (log agent-t,
# certificate target-agent) and, once it has started, the agent of host port HOST_PORT (log
# agent-h, certificate host-agent); waits until both report the target authenticated. Sets
# EDIF_HOST_AGENT (the host agent's wrapper pid).
edif_start_agents() {
  edif_start_agent agent-t "$1" target target-agent
  edif_wait_log 30 "$DIR/agent-t.log" "agent started on port" || fail "target agent did not start"
  edif_start_agent agent-h "$2" initiator host-agent
  EDIF_HOST_AGENT=$EDIF_LAST_PID
  edif_wait_log 30 "$DIR/agent-h.log" "authenticated" || fail "host agent did not authenticate"
  edif_wait_log 10 "$DIR/agent-t.log" "authenticated" || fail "target agent did not authenticate"
}

# ---- stopping ----------------------------------------------------------------------------
edif_child() {  # edif_child WRAPPER_PID -> pid of the process `timeout` runs
  local c
  for _ in $(seq 50); do
    c=$(pgrep -P "$1" | head -1)
    [ -n "$c" ] && { echo "$c"; return 0; }
    sleep 0.1
  done
  return 1
}

edif_kill9() {  # edif_kill9 WRAPPER_PID: SIGKILL to the daemon itself (a crash), reaps the wrapper
  local c
  c=$(edif_child "$1") || fail "no child process of $1"
  kill -9 "$c"
  wait "$1" 2>/dev/null
  return 0
}

edif_stop() {  # edif_stop WRAPPER_PID: SIGTERM, wait (bounded); returns the exit code
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then pkill -9 -P "$1"; kill -9 "$1" 2>/dev/null; fi
  wait "$1" 2>/dev/null
}

edif_cleanup() {  # stops every process started through this file
  local p
  for p in "${EDIF_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 30); do
    local alive=0
    for p in "${EDIF_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${EDIF_PIDS[@]}"; do
    pkill -9 -P "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
  done
  EDIF_PIDS=()
}

# Under ASan/UBSan (scripts/test.sh) a sanitizer report in a log fails the test.
edif_sanitizer_clean() { ! grep -qE "Sanitizer|runtime error" "$@" 2>/dev/null; }
