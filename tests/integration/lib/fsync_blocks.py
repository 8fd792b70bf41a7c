#!/usr/bin/env python3
# Blocks written with fsync through a mount and checked after a kill -9 (shared by the crash
# tests: cafs_rekey_crash_test.sh, cafs_migrate_crash_test.sh). A block's 4 KiB content is
# derived from (seed, block, generation); generation 0 is the fill.
#   fsync_blocks.py fill   PATH SEED BLOCKS                 every block at generation 0, fsync
#   fsync_blocks.py write  PATH SEED BLOCKS LOG RSEED GEN   random blocks from generation GEN
#                                                           on, each fsync'ed; logs "W b g"
#                                                           before and "S b g" after the fsync
#   fsync_blocks.py verify PATH SEED BLOCKS LOG             every block is its last S
#                                                           generation (or the W in flight)
import hashlib, os, random, sys, time

BS = 4096

def content(seed, block, gen):
    h = hashlib.sha256(f"{seed}:{block}:{gen}".encode()).digest()
    return h * (BS // len(h))

def fill(path, seed, blocks):
    fd = os.open(path, os.O_WRONLY)
    for b in range(blocks):
        os.pwrite(fd, content(seed, b, 0), b * BS)
    os.fsync(fd)
    os.close(fd)

def write(path, seed, blocks, log, rseed, first_gen):
    # W block gen: about to write; S block gen: the write and its fsync returned. Stops at
    # the first error (the mount dies with cafsd), or after 30 s.
    rng = random.Random(rseed)
    deadline = time.monotonic() + 30
    with open(log, "a") as out:
        try:
            fd = os.open(path, os.O_WRONLY)
            gen = first_gen
            while time.monotonic() < deadline:
                b = rng.randrange(blocks)
                out.write(f"W {b} {gen}\n"); out.flush()
                os.pwrite(fd, content(seed, b, gen), b * BS)
                os.fsync(fd)
                out.write(f"S {b} {gen}\n"); out.flush()
                gen += 1
        except OSError as e:
            print(f"writer stopped: {e}", file=sys.stderr)

def verify(path, seed, blocks, log):
    # Allowed per block: its last S generation (0 if none), and a W written after that S
    # (the write in flight at a kill).
    synced = {b: 0 for b in range(blocks)}
    pending = {}
    for line in open(log):
        kind, b, gen = line.split()
        b, gen = int(b), int(gen)
        if kind == "S":
            synced[b] = gen
            pending.pop(b, None)
        else:
            pending[b] = gen
    bad = 0
    checked = 0
    with open(path, "rb") as f:
        image = f.read(blocks * BS)
    if len(image) != blocks * BS:
        print(f"short read: {len(image)} of {blocks * BS} bytes", file=sys.stderr)
        return False
    for b in range(blocks):
        got = image[b * BS:(b + 1) * BS]
        allowed = {synced[b]}
        if b in pending:
            allowed.add(pending[b])
        if not any(got == content(seed, b, g) for g in allowed):
            bad += 1
            if bad <= 5:
                print(f"block {b}: not generation {sorted(allowed)}", file=sys.stderr)
        checked += 1
    # What the next round may assume: a pending write that landed is now the block's value.
    with open(log, "a") as out:
        for b, gen in pending.items():
            g = gen if image[b * BS:(b + 1) * BS] == content(seed, b, gen) else synced[b]
            out.write(f"S {b} {g}\n")
    print(f"{checked} blocks checked, {sum(1 for g in synced.values() if g)} rewritten, {bad} bad")
    return bad == 0

if __name__ == "__main__":
    cmd, path, seed, blocks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if cmd == "fill":
        fill(path, seed, blocks)
    elif cmd == "write":
        write(path, seed, blocks, sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
    else:
        sys.exit(0 if verify(path, seed, blocks, sys.argv[5]) else 1)
