#!/bin/bash
# EDIF rekey under sustained I/O with real agents: edifd target (LUN require_secure) + edifd
# host + two edif-agent processes, SA soft limits set low on both drivers (sa_soft_bytes), so
# SA_EXPIRING fires many times while fio's nbd engine (a client we did not write) writes random 64 KiB blocks with crc32c verify headers and verifies them
# during the run (verify_backlog) and at the end, three times with different seeds.
# Asserts: at least 3 rekeys on each agent (log lines "rekeyed: generation G", G reaching 4),
# the generations are consecutive, fio reports no error and every block verified, no I/O
# failure and no authentication failure in the logs, nothing sanitizer-flagged.
# The SAs also have a 2.5 s soft lifetime: after the I/O, the idle link keeps rekeying on time
# (at least 5 more per agent, more than the 4 RX slots hold within the 20 s retire timeout),
# then a short fio run verifies data under the newest keys.
# Usage: edif_rekey_test.sh EDIFD EDIF_AGENT     Exit 77 when a tool is missing.
set -u
EDIFD=$1
AGENT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/edifd.sh"
edif_require fio timeout openssl python3 pgrep
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }
edif_test_init edif_rekey

edif_pki fabric host-agent:2100000000000001 target-agent:5000000000000001 || fail "openssl PKI"
truncate -s 32M "$DIR/lun0.img"
# 4 MiB of plaintext per SA: the host's TX and the target's RX SA cross it together, both
# agents rekey at once. And 2.5 s of lifetime per SA: time-driven rekeys too, under I/O and
# on the idle link at the end, where each old RX SA waits 20 s for retirement (no frames on
# the new one) and a new RX install evicts the oldest retiring one (docs/edif-link.md).
LIMITS="sa_soft_bytes = 4194304
sa_soft_lifetime_ms = 2500"
edif_target_config target 0x5000000000000001 0x020100 "$LIMITS"
edif_target_lun target 0 "$DIR/lun0.img" true
edif_start_target target
edif_host_config host "$LIMITS"
edif_host_port host hba0 0x2100000000000001 0x010100
edif_host_target host array1 "$(edif_target_port target)" 0x5000000000000001 true
edif_start_host host array1-lun0
URI=$(edif_lun_uri host array1-lun0)

edif_start_agents target hba0

# Sustained I/O: 3 x (32 MiB of random 64 KiB writes at queue depth 8, verified as it goes
# and once more at the end).
for seed in 11 22 33; do
  timeout 120 fio --name=rekey --ioengine=nbd --uri="$URI" --rw=randwrite --bs=64k --iodepth=8 \
    --size=32M --randseed=$seed --verify=crc32c --verify_backlog=32 --verify_fatal=1 \
    --do_verify=1 --output-format=json --output="$DIR/fio$seed.json" > "$DIR/fio$seed.log" 2>&1 ||
    fail "fio (seed $seed) failed"
  python3 - "$DIR/fio$seed.json" <<'PY' || fail "fio (seed $seed) reported an error"
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
assert j["error"] == 0, "fio error %d" % j["error"]
w, r = j["write"], j["read"]
assert w["io_bytes"] >= 32 << 20, "wrote only %d bytes" % w["io_bytes"]
# Every written block is read back and its crc32c checked (verify_fatal stops on a mismatch).
assert r["io_bytes"] >= w["io_bytes"], "verified %d of %d bytes" % (r["io_bytes"], w["io_bytes"])
PY
done

# Idle link: time-driven rekeys only. Four or more within the 20 s retire timeout would have
# filled the 4 RX slots before eviction of retiring SAs; wait (bounded) for 5 on each agent.
idle_h=$(edif_count "$DIR/agent-h.log" "rekeyed: generation")
idle_t=$(edif_count "$DIR/agent-t.log" "rekeyed: generation")
for _ in $(seq 1 120); do  # 60 s at most (sanitizer builds on a loaded machine)
  [ "$(edif_count "$DIR/agent-h.log" "rekeyed: generation")" -ge $((idle_h + 5)) ] &&
    [ "$(edif_count "$DIR/agent-t.log" "rekeyed: generation")" -ge $((idle_t + 5)) ] && break
  sleep 0.5
done
[ "$(edif_count "$DIR/agent-h.log" "rekeyed: generation")" -ge $((idle_h + 5)) ] ||
  fail "host agent: fewer than 5 time-driven rekeys on the idle link"
[ "$(edif_count "$DIR/agent-t.log" "rekeyed: generation")" -ge $((idle_t + 5)) ] ||
  fail "target agent: fewer than 5 time-driven rekeys on the idle link"
[ "$(edif_count "$DIR/agent-h.log" "expiring \(reason 3\): rekey")" -ge 1 ] ||
  fail "no time-driven SA_EXPIRING seen"
# The link still carries data under the newest keys.
timeout 60 fio --name=after --ioengine=nbd --uri="$URI" --rw=randwrite --bs=64k --iodepth=4 \
  --size=4M --randseed=44 --verify=crc32c --verify_fatal=1 --do_verify=1 \
  > "$DIR/fio-after.log" 2>&1 || fail "fio after the idle rekeys failed"

# Rekeys happened, on both agents, with consecutive generations.
check_rekeys() {  # check_rekeys LOG
  python3 - "$1" <<'PY'
import re, sys
gens = [int(m.group(1)) for m in (re.search(r"rekeyed: generation (\d+)", l) for l in open(sys.argv[1])) if m]
print("%s: %d rekeys, generations %s" % (sys.argv[1].rsplit("/", 1)[-1], len(gens), gens[:3] + ["..."] + gens[-2:]))
assert len(gens) >= 3, "only %d rekeys" % len(gens)
assert max(gens) >= 4, "generation %d" % max(gens)
assert gens == list(range(gens[0], gens[0] + len(gens))), "generations not consecutive: %s" % gens
PY
}
check_rekeys "$DIR/agent-h.log" || fail "host agent rekeys"
check_rekeys "$DIR/agent-t.log" || fail "target agent rekeys"
[ "$(edif_count "$DIR/agent-h.log" "expiring .*: rekey")" -ge 1 ] || fail "no SA_EXPIRING seen"
for f in agent-h agent-t; do
  # (A delete of an RX SA already retired after 3 frames on the new one is refused ENOENT.)
  [ "$(grep -E "authentication with .* failed|SA_UPDATE .* refused" "$DIR/$f.log" |
       grep -vc "refused: no RX SA with this SPI errno 2")" = 0 ] ||
    fail "$f: authentication or SA failure during the rekeys"
  [ "$(edif_count "$DIR/$f.log" "authenticated")" = 1 ] || fail "$f: the session was re-established (not a rekey)"
done
[ "$(edif_count "$DIR/host.log" "I/O to target .* failed")" = 0 ] || fail "guest I/O failed"
edif_sanitizer_clean "$DIR"/*.log || fail "sanitizer report"
echo "PASS"
