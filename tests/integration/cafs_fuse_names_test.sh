#!/bin/bash
# Names are bytes, through the FUSE mount (issue 20 classes 9, 10, 11): cafsd with the seed's
# policy (lib/cafsd.sh; *osdisk* audited with all_records) and a Python client using bytes
# paths: `a#` beside `a` keeps `a`'s data, names starting or ending in '#', with spaces, UTF-8,
# bytes that are not UTF-8 (`osdisk\xff\xfe.img`: this aborted cafsd before), a name of exactly
# the mount's name_max (statvfs) and one byte more (ENAMETOOLONG), "x##y" (a name like any
# other, stored hashed), rename and
# mkdir/rmdir of such names, READDIR showing the exact bytes. Then: cafsd still runs, pool files
# are 0600 and pool directories 0700, the gateway's audit log verifies (lib/audit_chain.py)
# and pins the exact bytes in file_b64.
# Usage: cafs_fuse_names_test.sh <cafsd>. Exits 77 without FUSE or a tool.
set -u
CAFSD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint stat find; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

T=$(mktemp -d /tmp/cafs-fusenames-XXXXXX)
# shellcheck source=lib/cafsd.sh
source "$HERE/lib/cafsd.sh"
# shellcheck source=lib/gateway_checks.sh
source "$HERE/lib/gateway_checks.sh"
cleanup() { cafsd_stop "$T"; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\""
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
timeout 20 mkdir -p "$T/mnt/my_vmset/vm1" || fail "mkdir"

timeout 120 python3 - "$T/mnt/my_vmset/vm1" <<'PY' || fail "names through the mount"
import errno, os, sys
d = os.fsencode(sys.argv[1])
name_max = os.statvfs(d).f_namemax
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what)
def put(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
def get(name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()
def refused(fn, err, what):
    try:
        fn()
        check(False, f"{what}: accepted")
    except OSError as e:
        check(e.errno == err, f"{what}: errno {e.errno}, want {err}")

names = [b"a", b"a#", b"b#", b"#c", b"#", b"d #", b"with space.img", b" x ",
         "caf\u00e9-\u20ac.img".encode(), b"osdisk\xff\xfe.img", b"osdisk#", b"osdisk\x80#",
         b"n" * name_max]
for n in names:
    put(n, b"data of " + n)
for n in names:
    check(get(n) == b"data of " + n, f"{n!r} reads its own data")
check(set(os.listdir(d)) == set(names), f"listing {sorted(os.listdir(d))}")
# "##" is a name like any other (stored hashed, docs/redirectors.md "Long names").
for n in (b"x##y", b"##", b"osdisk##default_pool"):
    put(n, b"data of " + n)
    check(get(n) == b"data of " + n, f"{n!r} reads its own data")
    check(n in os.listdir(d), f"{n!r} listed")
    os.unlink(os.path.join(d, n))
refused(lambda: put(b"n" * (name_max + 1), b""), errno.ENAMETOOLONG, "name_max + 1")
os.rename(os.path.join(d, b"osdisk\xff\xfe.img"), os.path.join(d, b"osdisk\xfe\xff #.img"))
check(get(b"osdisk\xfe\xff #.img") == b"data of osdisk\xff\xfe.img", "renamed non-UTF-8 name")
check(not os.path.exists(os.path.join(d, b"osdisk\xff\xfe.img")), "old name gone")
for sub in (b"dir\xff#", b"dir #", b"#"):
    os.mkdir(os.path.join(d, b"D" + sub))
    check(os.path.isdir(os.path.join(d, b"D" + sub)), f"mkdir {sub!r}")
    os.rmdir(os.path.join(d, b"D" + sub))
check(get(b"a") == b"data of a", "a keeps its data beside a#")
sys.exit(1 if failures else 0)
PY
kill -0 "$CAFSD_PID" 2>/dev/null || fail "cafsd died"
[ -f "$T/backing/my_vmset/vm1/a##default_pool" ] && [ -f "$T/backing/my_vmset/vm1/a###default_pool" ] ||
  fail "redirectors of a and a#"
gateway_check_pool_modes "$T/pools" 10 || fail "$GATEWAY_CHECK_ERROR"
cafsd_stop "$T"
gateway_check_audit "$T/audit.log" || fail "$GATEWAY_CHECK_ERROR"
gateway_check_clean_logs "$T/cafsd.log" || fail "$GATEWAY_CHECK_ERROR"
echo "PASS"
