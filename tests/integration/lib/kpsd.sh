# Shared by the kps integration scripts (sourced): start and stop kpsd on an ephemeral
# loopback port, and fail on sanitizer reports in its log.
# The caller defines KPSD (the binary), WORK (its temp dir), DATA (default data dir) and
# fail(); these functions set PID (kpsd's pid) and PORT, and export CAFS_KPS_URL.

start_kpsd() {  # start_kpsd [DATA_DIR]
  : >"$WORK/kpsd.log"
  timeout 300 "$KPSD" serve --data-dir "${1:-$DATA}" --listen 127.0.0.1:0 >"$WORK/kpsd.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^kpsd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/kpsd.log")
    [ -n "$PORT" ] && { export CAFS_KPS_URL=https://127.0.0.1:$PORT; return 0; }
    kill -0 "$PID" 2>/dev/null || fail "kpsd exited"
    sleep 0.1
  done
  fail "kpsd did not start"
}

# Under ASan/UBSan (scripts/test.sh) a sanitizer report in a log fails the test.
sanitizer_clean() { ! grep -qE "Sanitizer|runtime error" "$@" 2>/dev/null; }

stop_kpsd() {
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  sanitizer_clean "$WORK/kpsd.log" || fail "sanitizer report from kpsd"
}
