# shellcheck shell=bash
# Shared by the cafs integration scripts and bench/run-fuse-bench.sh (sourced): cafsd on a
# FUSE mount with the seed's two pools, and the seed's VM set my_vmset with its policy
# (*osdisk* -> aes-256-xts in mirrored_pool_A, hc_default -> clear text in default_pool; the
# Mon-Fri(9am-5pm) window widened to at_all_times so tests run any day) for a
# LocalKeyProvider key directory or for an upload to kpsd.
#
#   cafsd_seed_policy             prints that <vobj-list> (key 062b9056-...: the seed's)
#   cafsd_seed_keys DIR           writes DIR/my_vmset/{vmset.xml,policy.xml,keys} (random key)
#   cafsd_config WORK KEYS [MORE] makes WORK/{mnt,backing,pools/<pool>} and writes
#                                 WORK/cafsd.toml: server 755083456, mount WORK/mnt, the two
#                                 pools, [audit] log WORK/audit.log with aggregate_interval_s
#                                 ${CAFSD_AGGREGATE_S:-1}; KEYS is the text of the [local_keys]
#                                 or [kps] table, MORE is appended (e.g. a [cache] table or an
#                                 [nfs] section); with CAFSD_NO_MOUNT=1 there is no mount point
#                                 (no WORK/mnt, no `mountpoint`: NFS only, MORE has [nfs]);
#                                 CAFSD_POOL_A, when set, is the body of mirrored_pool_A's
#                                 [[pool]] table after its name (e.g. kind = "rados" and its
#                                 keys, docs/pools.md) instead of a directory WORK/pools/...
#   cafsd_start CAFSD WORK        runs cafsd --config WORK/cafsd.toml (log appended to
#                                 WORK/cafsd.log, run time capped at ${CAFSD_LIFETIME:-600} s),
#                                 waits up to 10 s for the mount; sets CAFSD_PID; returns 1
#                                 with the reason in CAFSD_ERROR if it exits or does not mount
#   cafsd_signal SIG              kill -SIG of cafsd itself (e.g. STOP: it makes no progress
#                                 until CONT or a kill -9)
#   cafsd_kill9                   kill -9 of cafsd itself (CAFSD_PID is its `timeout` wrapper,
#                                 which would not pass SIGKILL on), reaped; the mount stays
#   cafsd_stop WORK               SIGTERM, SIGKILL after 5 s, then unmounts WORK/mnt if needed
#   cafsd_pool_file WORK PATH POOL  prints the pool file of gateway path PATH ("my_vmset/vm1/a")
#                                 in POOL: WORK/pools/POOL/ + the `path` line of its redirector
#                                 WORK/backing/PATH##POOL (pool paths carry no names:
#                                 docs/redirectors.md "Pool paths"); nothing when there is none
#   cafsd_header_key POOL_FILE    prints "state version" of the pool file header's rekey fields
#                                 (docs/format.md 8.1): "0 2" = not mid-rekey, key version 2
#   cafsd_kps_seed WORK ADMIN     the seed's VM set in a running kpsd, with the caller's
#                                 `ctl BUNDLE ARGS...` (cafsctl, failing the test on error):
#                                 key-admin kate (WORK/kate.pem), tenant-admin alice of
#                                 my_vmset (WORK/alice.pem), server 755083456 (127.0.0.1),
#                                 my_vmset with policy 45aa9e57-... (cafsd_seed_policy), key
#                                 CAFSD_SEED_KEY, gateway gw1 (WORK/gw.pem) approved by alice
#
#
# The frame of a cafsd test script (sourced first, then):
#   cafsd_require WHY TOOL...     skips (exit 77) unless root (WHY: what needs it), /dev/fuse
#                                 and every TOOL are there
#   cafsd_test_init NAME [CTL_S]  T=$(mktemp -d /tmp/cafs-NAME-XXXXXX); an EXIT trap that runs
#                                 the script's test_cleanup_early (if it defines one: kill a
#                                 writer), stops cafsd, detaches T/mnt, runs test_cleanup_late
#                                 (pool mounts, loop devices) and removes T (all skipped with
#                                 KEEP=1); INT/TERM exit 1. Defines fail MSG (the cafsd log's
#                                 tail, exit 1; CAFSD_FAIL_CONTEXT, e.g. "seed 5", is printed
#                                 with it) and ctl ARGS (cafsd --config T/cafsd.toml ARGS,
#                                 CTL_S seconds at most, default 120)
#   cafsd_start_seeded [MORE]     cafsd_seed_keys T/keys, cafsd_config T with them as its
#                                 [local_keys] and MORE, cafsd_start ($CAFSD); fails the test
#                                 when cafsd does not start
#   cafsd_job_field ID FIELD      prints FIELD of `cafsd jobs show ID --json` (ctl)
#   cafsd_job_record_progress ID [S]  waits (every 20 ms, S seconds at most, default 60) until
#                                 the job's record on disk (T/backing/.cafs-job-ID: what a
#                                 restart reads, saved after every step) shows bytes done by
#                                 a task; returns 1 when the job ended first or time is up.
#                                 It starts no cafsd process: an ASan cafsd start takes
#                                 seconds on a loaded machine, a whole rate-limited job at
#                                 worst, which `jobs wait --until progress` would then miss
#   cafsd_job_start_progress ARGS...  starts a job with `ctl ARGS... --no-wait` in the
#                                 background and returns as soon as a new job record (one
#                                 that was not there before) shows bytes done, without
#                                 waiting for the client (whose exit also takes seconds on a
#                                 loaded machine): sets CAFSD_JOB (its id) and
#                                 CAFSD_JOB_CLIENT (the client's pid: the caller reaps it,
#                                 `wait`); returns 1 when no such record within 60 s or the
#                                 job ended first
#   cafsd_rekey_when_known PATH VERSION [ARGS...]
#                                 `ctl rekey PATH --to-version VERSION ARGS... --no-wait`, again
#                                 every 0.1 s (up to 10 s) while cafsd answers that the version
#                                 is unknown (a key version just issued reaches its cache within
#                                 the cache TTL): a readiness check, not a sleep past the TTL.
#                                 Sets CAFSD_JOB to the job id; returns 1 (the answer in
#                                 T/out) on another error
# Jobs are waited for with `ctl jobs wait ID --until STATES --timeout S` (docs/jobs.md): one
# process, not a poll loop that starts cafsd each time.
#
# Nothing outside WORK is touched. The caller runs cafsd_stop on every exit path.

CAFSD_PID=""
CAFSD_ERROR=""
CAFSD_SEED_KEY=062b9056-bf64-11df-8d3e-000c29abeb4d

cafsd_seed_policy() {
  cat <<XML
<vobj-list>
<vobj><vglob>*osdisk*</vglob><symkey>$CAFSD_SEED_KEY</symkey>
<storepol>mirrored_pool_A</storepol><access>at_all_times</access><audit>all_records</audit></vobj>
<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol><access>at_all_times</access><audit>none</audit></vobj>
</vobj-list>
XML
}

cafsd_seed_keys() {  # dir
  mkdir -p "$1/my_vmset"
  cat >"$1/my_vmset/vmset.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1"?>
<vmset><name>my_vmset</name><mnt>/nfs</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>
<vmserv>755083456</vmserv></vmset>
XML
  cafsd_seed_policy >"$1/my_vmset/policy.xml"
  echo "$CAFSD_SEED_KEY 1 $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" >"$1/my_vmset/keys"
}

cafsd_config() {  # work keys_table [more]
  local w=$1 mount="mountpoint = \"$1/mnt\""
  mkdir -p "$w/backing" "$w/pools/mirrored_pool_A" "$w/pools/default_pool"
  if [ "${CAFSD_NO_MOUNT:-0}" = 1 ]; then mount=""; else mkdir -p "$w/mnt"; fi
  cat >"$w/cafsd.toml" <<TOML
[gateway]
server_id = "755083456"
backing_store = "$w/backing"
$mount

$2

[[pool]]
name = "mirrored_pool_A"
${CAFSD_POOL_A:-path = \"$w/pools/mirrored_pool_A\"}

[[pool]]
name = "default_pool"
path = "$w/pools/default_pool"

[audit]
log = "$w/audit.log"
aggregate_interval_s = ${CAFSD_AGGREGATE_S:-1}

${3:-}
TOML
}

cafsd_start() {  # cafsd work
  CAFSD_ERROR=""
  timeout "${CAFSD_LIFETIME:-600}" "$1" --config "$2/cafsd.toml" >>"$2/cafsd.log" 2>&1 &
  CAFSD_PID=$!
  for _ in $(seq 100); do
    mountpoint -q "$2/mnt" && return 0
    kill -0 "$CAFSD_PID" 2>/dev/null || { CAFSD_ERROR="cafsd exited before mounting"; return 1; }
    sleep 0.1
  done
  CAFSD_ERROR="cafsd did not mount $2/mnt within 10 s"
  return 1
}

cafsd_signal() {  # signal
  local child
  child=$(pgrep -P "$CAFSD_PID" | head -1)
  kill -"$1" "${child:-$CAFSD_PID}" 2>/dev/null
}

cafsd_kill9() {
  cafsd_signal KILL
  wait "$CAFSD_PID" 2>/dev/null
  CAFSD_PID=""
}

# SIGTERM, up to 15 s for a clean shutdown (a loaded CI machine), then SIGKILL to cafsd itself
# (CAFSD_PID is its `timeout` wrapper, which does not pass SIGKILL on). A mount left behind,
# live or dead ("Transport endpoint is not connected", which `mountpoint` does not report as
# a mount), is detached so the next cafsd_start can mount there again.
cafsd_stop() {  # work
  if [ -n "$CAFSD_PID" ]; then
    local child
    child=$(pgrep -P "$CAFSD_PID" | head -1)
    kill "$CAFSD_PID" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$CAFSD_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$CAFSD_PID" 2>/dev/null; then
      echo "cafsd_stop: cafsd did not stop within 15 s of SIGTERM; SIGKILL" >>"$1/cafsd.log"
      [ -n "$child" ] && kill -9 "$child" 2>/dev/null
      kill -9 "$CAFSD_PID" 2>/dev/null
    fi
    wait "$CAFSD_PID" 2>/dev/null
    CAFSD_PID=""
  fi
  if mountpoint -q "$1/mnt" || ! stat "$1/mnt" >/dev/null 2>&1; then
    timeout 10 fusermount3 -u -z "$1/mnt" 2>/dev/null
  fi
}

cafsd_pool_file() {  # work path pool
  local line
  line=$(sed -n 's/^path //p' "$1/backing/$2##$3" 2>/dev/null) || return 0
  [ -n "$line" ] && printf '%s\n' "$1/pools/$3/$line"
  return 0
}

cafsd_header_key() {  # pool-file
  python3 - "$1" <<'PY'
import struct, sys
h = open(sys.argv[1], "rb").read(4096)
layout = h[3585]
state = h[3584]
version = struct.unpack_from("<I", h, 3588)[0] if layout == 2 else struct.unpack_from("<I", h, 88)[0]
print(state, version)
PY
}

cafsd_kps_seed() {  # work admin-bundle
  local w=$1 a=$2 pd=45aa9e57-bf64-11df-8d3e-000c29abeb4d
  ctl "$a" admin add kate --role key-admin --out "$w/kate.pem"
  ctl "$a" admin add alice --role tenant-admin --vmset my_vmset --out "$w/alice.pem"
  ctl "$a" server add 755083456 --name esx-1 --address 127.0.0.1
  cat >"$w/vmset.xml" <<XML
<?xml version="1.0" encoding="ISO-8859-1"?>
<vmset><name>my_vmset</name><mnt>/nfs</mnt><pd>$pd</pd><vmserv>755083456</vmserv></vmset>
XML
  ctl "$a" vmset create --xml "$w/vmset.xml"
  # The pools the policy names, allowed to my_vmset (docs/kps.md "Storage pools").
  ctl "$a" admin add sam --role storage-admin --out "$w/sam.pem"
  local pool
  for pool in mirrored_pool_A default_pool; do
    ctl "$w/sam.pem" pool create "$pool"
    ctl "$w/sam.pem" pool allow my_vmset "$pool"
  done
  ctl "$w/kate.pem" key create --vmset my_vmset --id "$CAFSD_SEED_KEY"
  cafsd_seed_policy >"$w/policy.xml"
  ctl "$w/alice.pem" policy upload "$w/policy.xml" --vmset my_vmset --id "$pd" --name my_policy
  ctl "$a" gateway enroll gw1 --vmset my_vmset --out "$w/gw.pem"
  ctl "$w/alice.pem" gateway approve gw1 --vmset my_vmset  # the tenant's approval (two people)
}

skip() { echo "SKIP: $*"; exit 77; }

cafsd_require() {  # why tool...
  local tool
  [ "$(id -u)" = 0 ] || skip "needs root ($1)"
  shift
  [ -c /dev/fuse ] || skip "/dev/fuse missing"
  for tool in "$@"; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
  done
}

_cafsd_test_cleanup() {
  [ -n "${KEEP:-}" ] && return
  declare -F test_cleanup_early >/dev/null && test_cleanup_early
  cafsd_stop "$T"
  timeout 10 fusermount3 -u -z "$T/mnt" 2>/dev/null
  declare -F test_cleanup_late >/dev/null && test_cleanup_late
  rm -rf "$T"
}

cafsd_test_init() {  # name [ctl timeout]
  T=$(mktemp -d "/tmp/cafs-$1-XXXXXX")
  CAFSD_CTL_TIMEOUT=${2:-120}
  trap _cafsd_test_cleanup EXIT
  trap 'exit 1' INT TERM
  fail() {
    echo "FAIL${CAFSD_FAIL_CONTEXT:+ ($CAFSD_FAIL_CONTEXT)}: $*"
    echo "--- cafsd log"
    tail -30 "$T/cafsd.log"
    exit 1
  }
  ctl() { timeout "$CAFSD_CTL_TIMEOUT" "$CAFSD" --config "$T/cafsd.toml" "$@"; }
}

cafsd_start_seeded() {  # [more]
  cafsd_seed_keys "$T/keys"
  cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "${1:-}"
  cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
}

_cafsd_record_progress() {  # record: 0 bytes done, 1 the job ended, 2 neither yet
  local rec=""
  IFS= read -r -d '' rec <"$1" 2>/dev/null  # no process: a loaded machine delays a fork
  # Keys are sorted: the job's own state is followed by "target", a task's by "total".
  [[ $rec =~ \"state\":\"(done|failed|cancelled)\",\"target\" ]] && return 1
  [[ $rec =~ \"done\":[1-9] ]] && return 0
  return 2
}

cafsd_job_record_progress() {  # id [seconds]
  local end=$((SECONDS + ${2:-60})) rc
  while [ "$SECONDS" -lt "$end" ]; do
    _cafsd_record_progress "$T/backing/.cafs-job-$1"
    rc=$?
    [ "$rc" = 2 ] || return "$rc"
    sleep 0.02
  done
  return 1
}

cafsd_job_start_progress() {  # ctl args...
  local before f name rc end=$((SECONDS + 60))
  before=$(cd "$T/backing" && ls -A)
  ctl "$@" --no-wait >"$T/job-client.out" 2>&1 &
  CAFSD_JOB_CLIENT=$!
  CAFSD_JOB=""
  while [ "$SECONDS" -lt "$end" ]; do
    for f in "$T/backing"/.cafs-job-*; do
      name=${f##*/}
      [[ $name =~ ^\.cafs-job-[0-9a-f-]+$ ]] || continue  # not a .new being written
      grep -qxF -- "$name" <<<"$before" && continue
      CAFSD_JOB=${name#.cafs-job-}
      _cafsd_record_progress "$f"
      rc=$?
      [ "$rc" = 2 ] || return "$rc"
    done
    sleep 0.02
  done
  return 1
}

cafsd_job_field() {  # id field
  ctl jobs show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['job']['$2'])"
}

cafsd_rekey_when_known() {  # path version [args...]
  local path=$1 version=$2 _
  shift 2
  for _ in $(seq 100); do
    CAFSD_JOB=$(ctl rekey "$path" --to-version "$version" "$@" --no-wait 2>"$T/out") && return 0
    grep -q "destroyed or unknown" "$T/out" || return 1
    sleep 0.1
  done
  return 1
}
