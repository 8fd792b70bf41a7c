#!/bin/bash
# Policy-driven conversion through the FUSE mount (issue 14 item 4; docs/jobs.md
# "Conversions"): a clear-text disk image (the seed's default vobj) is written by fio; the
# policy then gives the default vobj the seed's key; while fio --verify=crc32c rewrites and
# verifies the image, cafsd's policy cache sees the change and starts a conversion job on its
# own (requested by "policy change", at the [jobs] rekey_rate of the config); the job ends
# done, fio verifies during and after, and the pool file decrypted by an independent Python
# decryptor (docs/format.md 8.8/8.9, the `cryptography` package, the new key only) equals
# the image read through the mount.
# Root only (FUSE mount): exits 77 otherwise, or when FUSE, fio or python3-cryptography is
# missing. Usage: cafs_convert_test.sh <path to cafsd> [SIZE_MIB]
set -u
CAFSD=$1
SIZE_MIB=${2:-16}
# shellcheck source=lib/cafsd.sh
. "$(dirname "$0")/lib/cafsd.sh"
cafsd_require "FUSE mount" fusermount3 python3 fio
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
cafsd_test_init convert

# Decrypts a version 2 pool file (state none) with the keys file's DEK of the key its tail
# names; prints "cipher-id key-guid version" and writes the plaintext to $3.
decrypt() {  # pool-file keys-file out
  python3 - "$@" <<'PY'
import hashlib, hmac, struct, sys, uuid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
pool, keys_file, out = sys.argv[1:4]
f = open(pool, "rb").read()
h = f[:4096]
assert h[:8] == b"CAFSPOOL" and h[3585] == 2, "not a version 2 header"
assert h[3584] == 0, "a rekey is still in progress"
cipher = struct.unpack_from("<H", h, 3704 if h[3587] == 1 else 12)[0]
key = str(uuid.UUID(bytes=h[3592:3608]))
version = struct.unpack_from("<I", h, 3588)[0]
dek = None
for line in open(keys_file):
    g, v, hexkey = line.split()
    if g == key and int(v) == version:
        dek = bytes.fromhex(hexkey)
assert dek is not None, "no DEK for %s v%d" % (key, version)
nonce = h[96:112]
def hkdf(info, n):
    return HKDF(algorithm=hashes.SHA512(), length=n, salt=nonce, info=info).derive(dek)
m = bytearray(h[:512]); m[8:10] = b"\x02\x00"; m += h[3584:4064]
mac = hmac.new(hkdf(b"cafs/v1/header-mac", 32), bytes(m), hashlib.sha256).digest()
assert mac == h[4064:4096], "header MAC mismatch"
assert cipher == 2, "cipher %d, not aes-256-xts" % cipher
data_key = hkdf(b"cafs/v1/data/aes-256-xts", 64)
size = struct.unpack_from("<Q", h, 4056)[0]
ss = struct.unpack_from("<I", h, 16)[0]
plain = bytearray()
for i in range((size + ss - 1) // ss):
    ct = f[4096 + i * ss:4096 + (i + 1) * ss].ljust(ss, b"\0")
    if ct == bytes(ss):
        plain += ct
        continue
    d = Cipher(algorithms.AES(data_key), modes.XTS(struct.pack("<Q", i) + bytes(8))).decryptor()
    plain += d.update(ct) + d.finalize()
open(out, "wb").write(bytes(plain[:size]))
print(cipher, key, version)
PY
}

# --- set-up: the seed's policy (data.img clear in default_pool), cache TTL 1 s, the rekey
# default rate 4 MiB/s so the conversion overlaps fio ---
cafsd_seed_keys "$T/keys"
cafsd_config "$T" "[local_keys]
dir = \"$T/keys\"" "[cache]
ttl_s = 1

[jobs]
rekey_rate = \"4M\""
cafsd_start "$CAFSD" "$T" || fail "$CAFSD_ERROR"
V1=$T/mnt/my_vmset/vm1
IMG=$V1/data.img
mkdir -p "$V1" || fail "mkdir"
timeout 120 fio --name=fill --filename="$IMG" --rw=write --bs=64k --size=${SIZE_MIB}M \
  --verify=crc32c --do_verify=0 >"$T/fio0.log" 2>&1 || fail "fio fill: $(tail -5 "$T/fio0.log")"
PF=$(cafsd_pool_file "$T" my_vmset/vm1/data.img default_pool)
[ -n "$PF" ] || fail "no pool file for data.img"
[ "$(python3 -c 'import sys,struct; print(struct.unpack_from("<H", open(sys.argv[1],"rb").read(14), 12)[0])' "$PF")" = 0 ] ||
  fail "data.img is not clear text before the policy change"

# --- the policy change: the default vobj gets the seed's key ---
cafsd_seed_policy | sed "s/01010101-0101-0101-0101-010101010101/$CAFSD_SEED_KEY/" \
  >"$T/keys/my_vmset/policy.xml"
# fio rewrites and verifies the image while the cache refresh (its own I/O triggers it)
# starts the conversion.
timeout 300 fio --name=live --filename="$IMG" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
  --io_size=$((SIZE_MIB / 2))M --verify=crc32c --verify_fatal=1 --rate=2m >"$T/fio1.log" 2>&1 &
FIO=$!
ID=""
for _ in $(seq 300); do  # bounded: 30 s
  ID=$(ctl jobs list --json | python3 -c '
import json, sys
for j in json.load(sys.stdin):
    if j["requested_by"] == "policy change": print(j["id"])' | head -1)
  [ -n "$ID" ] && break
  sleep 0.1
done
[ -n "$ID" ] || { kill "$FIO" 2>/dev/null; fail "no conversion job started by the policy change"; }
ctl jobs show "$ID" --json >"$T/job.json" || fail "jobs show"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["job"]; assert j["rate_limit_bps"]==4<<20, j["rate_limit_bps"]' \
  "$T/job.json" || fail "the job does not run at the [jobs] rekey_rate"
wait "$FIO" || fail "fio verify during the conversion: $(tail -20 "$T/fio1.log")"
ctl jobs watch "$ID" --json >"$T/watch.json" || fail "conversion job: $(cat "$T/watch.json")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="done", j; assert len(j["tasks"])==1, j' \
  "$T/watch.json" || fail "job not done: $(cat "$T/watch.json")"
echo "ok: conversion job $ID started by the policy change, done; fio verified during it"
timeout 120 fio --name=check --filename="$IMG" --rw=randwrite --bs=16k --size=${SIZE_MIB}M \
  --io_size=$((SIZE_MIB / 2))M --verify=crc32c --verify_only --verify_fatal=1 >"$T/fio2.log" 2>&1 ||
  fail "fio verify after the conversion: $(tail -20 "$T/fio2.log")"
sync
OUT=$(decrypt "$PF" "$T/keys/my_vmset/keys" "$T/plain") || fail "independent decryptor: $OUT"
[ "$OUT" = "2 $CAFSD_SEED_KEY 1" ] || fail "pool file header says '$OUT'"
cmp -s "$T/plain" "$IMG" || fail "the independently decrypted pool file differs from the image"
grep '"op":"rekey"' "$T/audit.log" | grep -q data.img || fail "no rekey audit record"
echo "ok: the pool file is under $CAFSD_SEED_KEY v1 (aes-256-xts) and decrypts to the image"
echo "PASS"
