# shellcheck shell=bash disable=SC2034  # sourced: the variables set here are for the caller
# The kill -9 round of the crash tests (cafs_rekey_crash_test.sh, cafs_migrate_crash_test.sh;
# sources lib/cafsd.sh): a writer of fsync'ed blocks (lib/fsync_blocks.py) through the
# mount, and cafsd killed -9 at a random instant of it.
#
#   FSYNC_BLOCKS_PY                      the path of lib/fsync_blocks.py (fill, write, verify)
#   fsync_writer_kill9 IMG SEED BLOCKS LOG RSEED GEN [ARMED]
#                                        runs `fsync_blocks.py write` in the background
#                                        (WRITER_PID while it runs: the caller's cleanup kills
#                                        it), waits for its first fsync'ed write, runs the
#                                        command ARMED if given (e.g. starts the operation the
#                                        kill is meant to interrupt), sleeps a
#                                        random 0.2-1.7 s ($RANDOM: the caller seeds it), kills
#                                        cafsd (cafsd_kill9) and reaps the writer (it fails on
#                                        the dead mount). Sets DELAY_MS and WROTE (the writes
#                                        fsync'ed in this round); returns 1 with the reason in
#                                        FSYNC_WRITER_ERROR when the writer stopped before any
#                                        fsync'ed write. The writer's stderr is LOG.err.
#   crash_test_init NAME SEED_ENV CAFSD [ITERATIONS (20)] [SIZE_MIB (8)]
#                                        the frame of a crash test (the script's arguments
#                                        after NAME SEED_ENV): CAFSD, ITERATIONS, SIZE_MIB and
#                                        ROUND_LIMIT_S (45) set; skips (77) unless root, FUSE,
#                                        python3; cafsd_test_init NAME 60 (lib/cafsd.sh, sourced
#                                        here), the writer killed on exit; SEED is
#                                        $SEED_ENV when set, else random, printed with how to
#                                        rerun, and seeds $RANDOM; BLOCKS is SIZE_MIB's 4 KiB
#                                        blocks; blocks ARGS runs fsync_blocks.py (60 s limit)

FSYNC_BLOCKS_PY=$(dirname "${BASH_SOURCE[0]}")/fsync_blocks.py
WRITER_PID=""

fsync_writer_kill9() {  # img seed blocks log rseed gen [armed]
  local l0 _
  l0=$(wc -l <"$4")
  python3 "$FSYNC_BLOCKS_PY" write "$1" "$2" "$3" "$4" "$5" "$6" 2>"$4.err" &
  WRITER_PID=$!
  for _ in $(seq 600); do
    tail -n +$((l0 + 1)) "$4" | grep -q '^S' && break
    if ! kill -0 "$WRITER_PID" 2>/dev/null; then
      FSYNC_WRITER_ERROR="the writer stopped: $(cat "$4.err")"
      return 1
    fi
    sleep 0.05
  done
  [ -n "${7:-}" ] && $7
  DELAY_MS=$((200 + RANDOM % 1500))
  sleep "$(printf '%d.%03d' $((DELAY_MS / 1000)) $((DELAY_MS % 1000)))"
  cafsd_kill9
  wait "$WRITER_PID"
  WRITER_PID=""
  WROTE=$(tail -n +$((l0 + 1)) "$4" | grep -c '^S')
}

# shellcheck source=lib/cafsd.sh
. "$(dirname "${BASH_SOURCE[0]}")/cafsd.sh"

crash_test_init() {  # name seed-env cafsd [iterations] [size MiB]
  CAFSD=$3
  ITERATIONS=${4:-20}
  SIZE_MIB=${5:-8}
  ROUND_LIMIT_S=45
  cafsd_require "FUSE mount" fusermount3 python3 mountpoint
  cafsd_test_init "$1" 60
  test_cleanup_early() { [ -n "$WRITER_PID" ] && kill -9 "$WRITER_PID" 2>/dev/null; }
  SEED=${!2:-$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')}
  echo "seed: $SEED (rerun with $2=$SEED)"
  RANDOM=$SEED
  BLOCKS=$((SIZE_MIB * 256))
  blocks() { timeout 60 python3 "$FSYNC_BLOCKS_PY" "$@"; }
}
