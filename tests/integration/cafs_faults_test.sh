#!/bin/bash
# Faults on a real FUSE mount of cafsd (issue 5, "Bad input and faults"; docs/gateway.md
# "Faults"):
#  1. a pool that fills up during writes: mirrored_pool_A is an 8 MiB tmpfs; dd hits ENOSPC
#     (reported at fsync), files in that pool and in the others stay intact (checksums),
#     cafsd keeps serving, writes work again once space is freed, and after a restart every
#     header verifies and every file reads back;
#  2. a pool that disappears during writes: bind_pool is a bind mount, lazily unmounted under
#     a writer: its fsync fails with EIO, opens in the pool fail with EIO, an audit record
#     names the pool, the other pools keep working; bound again, the files work again;
#  3. kill -9 of cafsd in a loop of renames across VM directories under write load: after
#     each restart every file is reachable under exactly one name with its content, and the
#     backing store and pools are consistent (no redirector without its pool file, no pool
#     file without its redirector);
#  4. READDIRPLUS: `ls -l` / `find -printf` of a 200-file directory show the right sizes and
#     types, and listing it issues no LOOKUP per entry (lookups are audited for the vobj);
#  5. bad input: a tampered or truncated pool file, a redirector naming a pool that is not
#     configured, a wrong key: EIO (audited), never bytes; hostile names.
# Runs as root (tmpfs and bind mounts): exits 77 otherwise, or when FUSE or a tool is missing.
# Usage: cafs_faults_test.sh <path to cafsd>
set -u
CAFSD=$1
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (tmpfs and bind mounts as pools)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for tool in fusermount3 python3 mountpoint sha256sum dd find; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"

T=$(mktemp -d /tmp/cafs-faults-XXXXXX)
M=$T/mnt
P=$T/pools
BG=()

start_cafsd() { cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"; }
stop_cafsd() { cafsd_stop "$T"; }  # SIGTERM: a clean stop
stop_bg() {
  local p
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
  BG=()
}
cleanup() {
  stop_bg
  stop_cafsd
  for d in "$P/mirrored_pool_A" "$P/bind_pool"; do
    mountpoint -q "$d" && umount -l "$d"
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- cafsd log"; tail -30 "$T/cafsd.log"; exit 1; }

# --- set-up: the seed's two pools + bind_pool; the seed's policy + *bound* and *lsdir* ---
cafsd_seed_keys "$T/keys"
cat > "$T/keys/my_vmset/policy.xml" <<XML
<vobj-list>
<vobj><vglob>*osdisk*</vglob><symkey>$CAFSD_SEED_KEY</symkey>
<storepol>mirrored_pool_A</storepol><access>at_all_times</access><audit>all_records</audit></vobj>
<vobj><vglob>*bound*</vglob><symkey>$CAFSD_SEED_KEY</symkey>
<storepol>bind_pool</storepol><access>at_all_times</access><audit>all_records</audit></vobj>
<vobj><vglob>*lsdir*</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol><access>at_all_times</access><audit>all_records</audit></vobj>
<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol><access>at_all_times</access><audit>none</audit></vobj>
</vobj-list>
XML
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[[pool]]
name = \"bind_pool\"
path = \"$P/bind_pool\""
mkdir -p "$P/bind_pool" "$T/bind_src"
mount -t tmpfs -o size=8m tmpfs "$P/mirrored_pool_A" || skip "cannot mount tmpfs"
mount --bind "$T/bind_src" "$P/bind_pool" || skip "cannot bind mount"

start_cafsd
V=$M/my_vmset
timeout 20 mkdir -p "$V/vm1" "$V/vm2" "$V/vm3" "$V/vm4" || fail "mkdir"

# put NAME BYTES: random content through the mount (fsync'ed); remembers its checksum.
declare -A SUM
put() {
  head -c "$2" /dev/urandom > "$T/src"
  timeout 30 dd if="$T/src" of="$V/$1" bs=64k conv=fsync status=none || fail "write $1"
  SUM[$1]=$(sha256sum < "$T/src" | cut -d' ' -f1)
}
# verify NAME...: the content through the mount is what put wrote.
verify() {
  local f got
  for f in "$@"; do
    got=$(timeout 30 cat "$V/$f" | sha256sum | cut -d' ' -f1)
    [ "$got" = "${SUM[$f]}" ] || fail "content of $f changed"
  done
}
alive() { kill -0 "$CAFSD_PID" 2>/dev/null && timeout 10 ls "$V" >/dev/null || fail "cafsd stopped serving"; }

PARTS=${CAFS_FAULTS_PARTS:-12345}  # a subset ("4") when debugging
part() { [[ $PARTS == *$1* ]]; }

# --- 1. a pool filling up during writes -------------------------------------------------
if part 1; then
put vm1/osdisk_a 2097152       # mirrored_pool_A (tmpfs), encrypted
put vm1/osdisk_b 1048576
put vm1/vm.vmx 1048576         # default_pool, clear
put vm1/bound_d 1048576        # bind_pool, encrypted
out=$(timeout 60 dd if=/dev/urandom of="$V/vm1/osdisk_fill" bs=1M count=16 conv=fsync 2>&1) &&
  fail "16 MiB fit in an 8 MiB pool"
echo "$out" | grep -q "No space left on device" || fail "no ENOSPC from dd: $out"
alive
verify vm1/osdisk_a vm1/osdisk_b vm1/vm.vmx vm1/bound_d
FILL_POOL_FILE=$(cafsd_pool_file "$T" my_vmset/vm1/osdisk_fill mirrored_pool_A)
[ -n "$FILL_POOL_FILE" ] || fail "no redirector for osdisk_fill"
timeout 10 rm "$V/vm1/osdisk_fill" || fail "rm of the file that filled the pool"
put vm1/osdisk_e 1048576       # space is back: writes work again
verify vm1/osdisk_e
stop_cafsd
start_cafsd                    # headers verify (MAC under the DEK) and data reads back
verify vm1/osdisk_a vm1/osdisk_b vm1/vm.vmx vm1/bound_d vm1/osdisk_e
[ -e "$FILL_POOL_FILE" ] && fail "pool file of the removed file left"
fi

# --- 2. a pool disappearing during writes -----------------------------------------------
if part 2; then
part 1 || { put vm1/osdisk_a 4096; put vm1/vm.vmx 4096; put vm1/bound_d 65536; }
# A writer that writes 64 KiB + fsync in a loop and reports the first error's errno.
python3 - "$V/vm2/bound_w" "$T/writer.out" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
res = "no error"
for i in range(600):
    try:
        os.pwrite(fd, os.urandom(65536), (i % 64) * 65536)
        os.fsync(fd)
    except OSError as e:
        res = "errno %d" % e.errno
        break
    if i == 5:
        open(sys.argv[2] + ".started", "w").close()
    time.sleep(0.05)
try:
    os.close(fd)
except OSError:
    pass
open(sys.argv[2], "w").write(res)
PY
WRITER=$!
BG+=("$WRITER")
for _ in $(seq 100); do [ -e "$T/writer.out.started" ] && break; sleep 0.1; done
[ -e "$T/writer.out.started" ] || fail "writer did not start"
umount -l "$P/bind_pool" || fail "umount -l of the pool"
wait "$WRITER"
BG=()
[ "$(cat "$T/writer.out")" = "errno 5" ] || fail "writer on a vanished pool: $(cat "$T/writer.out")"
out=$(timeout 10 cat "$V/vm1/bound_d" 2>&1 >/dev/null) && fail "read from a vanished pool"
echo "$out" | grep -q "Input/output error" || fail "read from a vanished pool: $out"
timeout 10 sh -c "echo x > '$V/vm1/bound_new'" 2>/dev/null && fail "create in a vanished pool"
[ -z "$(ls -A "$P/bind_pool")" ] || fail "files created in the empty mount point"
grep '"result":"error"' "$T/audit.log" | grep -q "bind_pool" ||
  fail "no audit record names the vanished pool"
alive
verify vm1/osdisk_a vm1/vm.vmx  # the other pools are fine
put vm3/notes.txt 4096
mount --bind "$T/bind_src" "$P/bind_pool" || fail "bind mount back"
verify vm1/bound_d             # the pool is back: files work again
put vm1/bound_new 65536
verify vm1/bound_new
fi

# --- 3. kill -9 of cafsd during renames across VM directories, under load ---------------
if part 3; then
N=16
for i in $(seq -w 1 $N); do
  if [ $((10#$i % 2)) = 0 ]; then put "vm1/osdisk_r$i" 65536; else put "vm1/r$i.conf" 12345; fi
done
put vm3/load.bin 1048576
declare -A ID  # checksum -> id
for i in $(seq -w 1 $N); do
  if [ $((10#$i % 2)) = 0 ]; then ID[${SUM[vm1/osdisk_r$i]}]=$i; else ID[${SUM[vm1/r$i.conf]}]=$i; fi
done
check_consistency() {  # every redirector has its pool file (GUID checked), and vice versa
  python3 - "$T/backing" "$P" <<'PY'
import os, sys, uuid
backing, pools = sys.argv[1], sys.argv[2]
named = {}
for d, _, files in os.walk(backing):
    for f in files:
        sep = f.rfind("##")
        if sep <= 0:
            continue
        lines = open(os.path.join(d, f)).read().splitlines()
        guid = [l[5:] for l in lines if l.startswith("guid ")][0]
        key = (f[sep + 2:], guid)
        assert key not in named, "two redirectors for %s: %s" % (key, f)
        named[key] = os.path.join(d, f)
present = set()
for pool in os.listdir(pools):
    for d, _, files in os.walk(os.path.join(pools, pool)):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                hdr = fh.read(4096)
            assert hdr[:8] == b"CAFSPOOL", "bad header: " + os.path.join(d, f)
            key = (pool, str(uuid.UUID(bytes=hdr[24:40])))
            assert key in named, "orphan pool file " + os.path.join(d, f)
            present.add(key)
for key, r in named.items():
    assert key in present, "redirector without pool file: " + r
PY
}
check_consistency || fail "inconsistent before the crash loop"
for round in 1 2 3 4 5 6; do
  ( while :; do
      for i in $(seq -w 1 $N); do
        for n in "osdisk_r$i" "r$i.conf"; do
          mv "$V/vm1/$n" "$V/vm2/$n.moved" 2>/dev/null || mv "$V/vm2/$n.moved" "$V/vm1/$n" 2>/dev/null
        done
      done
    done ) &
  BG+=("$!")
  ( while :; do
      dd if=/dev/urandom of="$V/vm3/load.bin" bs=256k count=4 conv=notrunc status=none 2>/dev/null || exit
    done ) &
  BG+=("$!")
  sleep "0.$((RANDOM % 8 + 2))"
  cafsd_kill9  # cafsd itself, not its `timeout` wrapper
  timeout 5 stat "$V" >/dev/null 2>&1 && fail "round $round: the mount survived kill -9"
  stop_bg
  timeout 10 fusermount3 -u -z "$M"
  start_cafsd
  declare -A seen=()
  files=()
  for f in "$V"/vm1/* "$V"/vm2/*; do
    case "${f##*/}" in osdisk_r*|r*.conf*) files+=("$f") ;; esac
  done
  # One reader for all of them (not four processes a file): a file it cannot read is missing
  # from its output, and the count below fails.
  timeout 60 sha256sum "${files[@]}" >"$T/sums" || fail "round $round: a file does not read back"
  while read -r sum f; do
    id=${ID[$sum]:-}
    [ -n "$id" ] || fail "round $round: $f has content of no file"
    [ -z "${seen[$id]:-}" ] || fail "round $round: file $id under two names: ${seen[$id]} and $f"
    seen[$id]=$f
  done <"$T/sums"
  [ "${#seen[@]}" = $N ] || fail "round $round: ${#seen[@]} of $N files reachable"
  unset seen
  check_consistency || fail "round $round: backing store and pools inconsistent"
done
fi

# --- 4. READDIRPLUS: a 200-file directory ------------------------------------------------
if part 4; then
python3 - "$V/vm4" <<'PY' || fail "create the lsdir_ files"
import os, sys
for i in range(1, 201):  # one process for the 200 creates, not one each
    with open(os.path.join(sys.argv[1], "lsdir_%d" % i), "wb") as f:
        f.write(b"\0" * (i * 10 + 1))
PY
timeout 10 mkdir "$V/vm4/lsdir_sub" && timeout 10 ln -s lsdir_1 "$V/vm4/lsdir_link" ||
  fail "mkdir/symlink"
sleep 1.5  # entries and attributes of the creates expire (1 s): a listing must refresh them
before=$(grep -c '"op":"lookup".*"vm":"vm4"' "$T/audit.log")
timeout 30 ls -l "$V/vm4" > "$T/ls.out" || fail "ls -l"
after=$(grep -c '"op":"lookup".*"vm":"vm4"' "$T/audit.log")
[ "$after" = "$before" ] || fail "ls -l issued $((after - before)) LOOKUPs (READDIRPLUS expected)"
# The count is live: a stat of an expired entry outside a listing is one audited LOOKUP.
sleep 1.5
timeout 10 stat "$V/vm4/lsdir_7" >/dev/null || fail "stat lsdir_7"
lookups=$(grep -c '"op":"lookup".*"vm":"vm4"' "$T/audit.log")
[ "$lookups" -gt "$after" ] || fail "lookups are not audited: the LOOKUP count proves nothing"
[ "$(grep -c ' lsdir_' "$T/ls.out")" = 202 ] || fail "ls -l lists $(grep -c ' lsdir_' "$T/ls.out")"
timeout 30 find "$V/vm4" -mindepth 1 -maxdepth 1 -printf '%f %y %s\n' | sort > "$T/find.out"
python3 - "$T/find.out" <<'PY' || fail "sizes or types from find -printf"
import sys
got = {}
for line in open(sys.argv[1]):
    name, kind, size = line.split()
    got[name] = (kind, int(size))
assert len(got) == 202, len(got)
for i in range(1, 201):
    assert got["lsdir_%d" % i] == ("f", i * 10 + 1), (i, got["lsdir_%d" % i])
assert got["lsdir_sub"][0] == "d"
assert got["lsdir_link"] == ("l", 7), got["lsdir_link"]
PY
alive
fi

# --- 5. bad input: damaged pool files, a ghost pool, hostile names, a wrong key ----------
if part 5; then
timeout 10 mkdir "$V/vm5" || fail "mkdir vm5"
put vm5/osdisk_t 65536
put vm5/osdisk_tr 65536
put vm5/osdisk_k 65536
put vm5/notes.txt 4096
# cafsd fsck refuses to run beside the cafsd that serves the store (exit 2).
timeout 60 "$CAFSD" -c "$T/cafsd.toml" fsck > "$T/fsck.out" 2> "$T/fsck.err"
[ $? = 2 ] && grep -q "in use by pid" "$T/fsck.err" || fail "fsck beside cafsd: $(cat "$T/fsck.err")"
stop_cafsd
PT=$(cafsd_pool_file "$T" my_vmset/vm5/osdisk_t mirrored_pool_A)
PTR=$(cafsd_pool_file "$T" my_vmset/vm5/osdisk_tr mirrored_pool_A)
[ -f "$PT" ] && [ -f "$PTR" ] || fail "pool files of vm5: '$PT' '$PTR'"
python3 - "$PT" <<'PY' || fail "tamper"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)  # the file nonce in the header: only the header MAC notices
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 1]))
PY
truncate -s 100 "$PTR"
printf 'CAFS-REDIRECTOR 1\nguid 11111111-2222-3333-4444-555555555555\npath my_vmset/vm5/ghost\n' \
  > "$T/backing/my_vmset/vm5/ghost##nowhere"
# Offline, cafsd fsck names the damage (exit 1) and removes nothing that is not
# crash residue (the tampered header parses: only its MAC, checked at open, tells).
timeout 60 "$CAFSD" -c "$T/cafsd.toml" fsck --remove-orphans > "$T/fsck.out" 2> "$T/fsck.err"
rc=$?
[ $rc = 1 ] || fail "fsck of a damaged store exited $rc: $(cat "$T/fsck.err")"
grep -q $'^bad-pool-file\tmirrored_pool_A:'"${PTR#"$P/mirrored_pool_A/"}"$'\t.*truncated' "$T/fsck.out" ||
  fail "fsck missed the truncated pool file: $(cat "$T/fsck.out")"
grep -q $'^bad-redirector\tbacking:my_vmset/vm5/ghost##nowhere\t' "$T/fsck.out" ||
  fail "fsck missed the ghost pool: $(cat "$T/fsck.out")"
grep -q $'^missing-pool-file\tbacking:my_vmset/vm5/osdisk_tr##mirrored_pool_A\t.*no readable header' \
  "$T/fsck.out" || fail "fsck missed the truncated file's redirector: $(cat "$T/fsck.out")"
[ "$(wc -l < "$T/fsck.out")" = 3 ] || fail "fsck found other than those: $(cat "$T/fsck.out")"
[ -e "$PTR" ] || fail "fsck removed a damaged pool file"
start_cafsd
for f in osdisk_t osdisk_tr ghost; do  # EIO, never garbage
  timeout 10 cat "$V/vm5/$f" > "$T/out" 2> "$T/err" && fail "$f read despite damage"
  grep -q "Input/output error" "$T/err" || fail "$f: $(cat "$T/err")"
  [ -s "$T/out" ] && fail "$f: bytes returned from a damaged file"
done
grep '"result":"error"' "$T/audit.log" | grep -q '"file":"osdisk_t"' || fail "tamper not audited"
grep -q "not configured" "$T/cafsd.log" || fail "the ghost pool is not named in the log"
verify vm5/osdisk_k
# Hostile names through the mount (the kernel resolves . and .. itself).
timeout 10 touch "$V/vm5/a#" || fail "a name ending in #"
find "$V/vm5" -mindepth 1 -printf '%f\n' | grep -qx 'a#' || fail "a# not listed as a#"
[ -e "$V/vm5/a" ] && fail "a# shows up as a"
# A newline and "##" are names like any other (docs/redirectors.md "Long names").
timeout 10 touch "$V/vm5/$(printf 'x\ny')" || fail "a name with a newline"
[ -e "$V/vm5/$(printf 'x\ny')" ] || fail "the name with a newline is not found again"
timeout 10 touch "$V/vm5/b##bind_pool" || fail "a name with ##"
[ -e "$V/vm5/b" ] && fail "b##bind_pool taken for file b"
rm -f "$V/vm5/$(printf 'x\ny')" "$V/vm5/b##bind_pool"
long=$(printf 'n%.0s' $(seq 255))  # NAME_MAX (stored hashed: docs/redirectors.md "Long names")
timeout 10 touch "$V/vm5/$long" || fail "a 255-byte name"
[ -e "$V/vm5/$long" ] || fail "the 255-byte name is not found again"
timeout 10 touch "$V/vm5/${long}n" 2> "$T/err" && fail "a 256-byte name"
grep -q "File name too long" "$T/err" || fail "256-byte name: $(cat "$T/err")"
# A wrong key (the DEK replaced under the same key id): EIO and audited, never garbage.
stop_cafsd
echo "$CAFSD_SEED_KEY 1 $(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')" \
  > "$T/keys/my_vmset/keys"
start_cafsd
timeout 10 cat "$V/vm5/osdisk_k" > "$T/out" 2> "$T/err" && fail "read under a wrong key"
grep -q "Input/output error" "$T/err" || fail "wrong key: $(cat "$T/err")"
[ -s "$T/out" ] && fail "bytes returned under a wrong key"
grep '"result":"error"' "$T/audit.log" | grep -q '"file":"osdisk_k"' || fail "wrong key not audited"
verify vm5/notes.txt  # clear-text files need no key
fi

stop_cafsd
mountpoint -q "$M" && fail "still mounted after SIGTERM"
echo "PASS"
