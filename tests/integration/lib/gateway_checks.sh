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
