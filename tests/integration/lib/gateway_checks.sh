# shellcheck shell=bash
# Checks on a stopped or running cafsd's files, shared by the names and hostile-client tests
# (sourced). Each returns 1 with the reason in GATEWAY_CHECK_ERROR.
#
#   gateway_check_pool_modes POOLS MIN   every entry below the pool roots in POOLS is 0600 (files)
#                                        or 0700 (directories), and there are at least MIN
#   gateway_check_audit LOG              the audit log verifies (lib/audit_chain.py, independent of
#                                        src/audit) and a record pins `osdisk\xff\xfe.img` in
#                                        file_b64 (docs/audit.md "Names that are not UTF-8")
#   gateway_check_clean_logs LOG...      no sanitizer report and no abort in the logs
#   gateway_check_qemu_disk DISK RAW     through a mount: qemu-img create DISK (qcow2, 64 MiB),
#                                        qemu-io writes and verifies 0xab at 0 (4 MiB) and 0xcd
#                                        at 9 MiB (1 MiB), qemu-img check, convert to RAW (a
#                                        local file) whose content is checked byte for byte
#   gateway_check_fio FILE SIZE IO OUT   fio randrw 4k --verify=crc32c on FILE (SIZE, IO bytes
#                                        of I/O), its report in OUT

GATEWAY_CHECK_ERROR=""
GATEWAY_CHECKS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

gateway_check_pool_modes() {  # pools_dir min
  local n=0 f mode want
  while IFS= read -r -d '' f; do
    mode=$(stat -c %a "$f")
    if [ -d "$f" ]; then want=700; else want=600; fi
    if [ "$mode" != "$want" ]; then
      GATEWAY_CHECK_ERROR="pool entry $f has mode $mode, want $want"
      return 1
    fi
    n=$((n + 1))
  done < <(find "$1" -mindepth 2 -print0)
  if [ "$n" -lt "$2" ]; then
    GATEWAY_CHECK_ERROR="only $n pool entries, want at least $2"
    return 1
  fi
  echo "pool modes: $n entries 0600/0700"
}

gateway_check_audit() {  # log
  local name_hex
  name_hex=$(printf 'osdisk\xff\xfe.img' | od -An -tx1 | tr -d ' \n')
  python3 "$GATEWAY_CHECKS_DIR/audit_chain.py" "$1" --expect-b64 "file=$name_hex" || {
    GATEWAY_CHECK_ERROR="gateway audit chain $1"
    return 1
  }
}

gateway_check_clean_logs() {  # log...
  if grep -qE "Sanitizer|runtime error|terminate called" "$@"; then
    GATEWAY_CHECK_ERROR="sanitizer report or abort in $*"
    return 1
  fi
}

gateway_check_qemu_disk() {  # disk raw
  local out
  timeout 60 qemu-img create -q -f qcow2 "$1" 64M || { GATEWAY_CHECK_ERROR="qemu-img create"; return 1; }
  out=$(timeout 60 qemu-io -c 'write -P 0xab 0 4M' -c 'write -P 0xcd 9M 1M' \
    -c 'read -P 0xab 0 4M' -c 'read -P 0xcd 9M 1M' "$1" 2>&1) &&
    ! echo "$out" | grep -q "Pattern verification failed" ||
    { GATEWAY_CHECK_ERROR="qemu-io: $out"; return 1; }
  timeout 60 qemu-img check -q "$1" || { GATEWAY_CHECK_ERROR="qemu-img check"; return 1; }
  timeout 60 qemu-img convert -O raw "$1" "$2" || { GATEWAY_CHECK_ERROR="qemu-img convert"; return 1; }
  python3 - "$2" <<'PY' || { GATEWAY_CHECK_ERROR="converted image content"; return 1; }
import sys
d = open(sys.argv[1], 'rb').read()
M = 1 << 20
assert len(d) == 64 * M, len(d)
assert d[:4 * M] == b'\xab' * (4 * M)
assert d[4 * M:9 * M] == bytes(5 * M)
assert d[9 * M:10 * M] == b'\xcd' * M
assert d[10 * M:] == bytes(54 * M)
PY
}

gateway_check_fio() {  # file size io_size out
  timeout 120 fio --name=v --filename="$1" --size="$2" --rw=randrw --bs=4k --verify=crc32c \
    --verify_state_save=0 --direct=0 --ioengine=psync --io_size="$3" --output="$4" ||
    { GATEWAY_CHECK_ERROR="fio: $(tail -20 "$4")"; return 1; }
}
