#!/usr/bin/env python3
"""Hostile NFS, MOUNT and portmapper clients against a running cafsd (nfs_hostile_test.sh).

Every attack is bounded in count and time and sends only to loopback. After each one a
normal NFS request (libnfs's nfs-ls, from 127.0.0.1) must succeed within 5 s and cafsd must
still run; the attacks that expect an answer check its shape (an accepted reply with the right
accept_stat or NFS status, never SYSTEM_ERR).

Usage: nfs_hostile.py --pid PID --url NFS_URL --nfs-port N --mount-port M --portmap-port P
                      --vmdir DIR
Prints one line per attack; exits 0 when all passed, 1 otherwise.
"""
import argparse
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

NFS_PROG, NFS_VERS = 100003, 3
MOUNT_PROG, MOUNT_VERS = 100005, 3
PMAP_PROG, PMAP_VERS = 100000, 2
LAST = 0x80000000

# accept_stat / NFS status values
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR = range(6)
NFS3_OK, NFS3ERR_NOENT, NFS3ERR_EXIST, NFS3ERR_INVAL, NFS3ERR_NAMETOOLONG = 0, 2, 17, 22, 63
NFS3ERR_ACCES, NFS3ERR_IO = 13, 5

failures = []
args = None


def log(msg):
    print(msg, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL " + msg)


# ---- XDR / RPC -----------------------------------------------------------------------------

def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def opaque(b):
    return u32(len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def auth_sys(uid=0, gid=0, machine=b"hostile"):
    body = u32(0) + opaque(machine) + u32(uid) + u32(gid) + u32(0)
    return u32(1) + opaque(body)


def call(xid, prog, vers, proc, body=b"", cred=None, rpcvers=2):
    cred = auth_sys() if cred is None else cred
    return u32(xid) + u32(0) + u32(rpcvers) + u32(prog) + u32(vers) + u32(proc) + cred + \
        u32(0) + u32(0) + body


def record(msg):
    return u32(LAST | len(msg)) + msg


def connect(port, source="127.0.0.1", timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def recv_record(s):
    out = b""
    while True:
        (mark,) = struct.unpack(">I", recv_exact(s, 4))
        out += recv_exact(s, mark & 0x7FFFFFFF)
        if mark & LAST:
            return out


class Reply:
    """An RPC reply: accepted (stat, body) or denied."""

    def __init__(self, data):
        self.xid, mtype = struct.unpack(">II", data[:8])
        assert mtype == 1, "not a reply"
        (reply_stat,) = struct.unpack(">I", data[8:12])
        self.accepted = reply_stat == 0
        if self.accepted:
            # verifier flavor, length (0), accept_stat
            _, vlen = struct.unpack(">II", data[12:20])
            off = 20 + vlen + (4 - vlen % 4) % 4
            (self.stat,) = struct.unpack(">I", data[off:off + 4])
            self.body = data[off + 4:]
        else:
            self.stat = None
            self.body = data[12:]


def rpc(s, prog, vers, proc, body=b"", **kw):
    xid = random.getrandbits(32)
    s.sendall(record(call(xid, prog, vers, proc, body, **kw)))
    r = Reply(recv_record(s))
    if r.xid != xid:
        raise AssertionError("xid mismatch")
    return r


def mount_root(port):
    with connect(port) as s:
        r = rpc(s, MOUNT_PROG, MOUNT_VERS, 1, opaque(b"/"))
        assert r.accepted and r.stat == SUCCESS, "MNT not accepted"
        (status,) = struct.unpack(">I", r.body[:4])
        assert status == 0, f"MNT status {status}"
        (n,) = struct.unpack(">I", r.body[4:8])
        return r.body[8:8 + n]


def nfs_status_and_fh(r):
    """For LOOKUP/CREATE/MKDIR replies: (status, fh or None)."""
    (status,) = struct.unpack(">I", r.body[:4])
    if status != NFS3_OK:
        return status, None
    body = r.body[4:]
    (n,) = struct.unpack(">I", body[:4])
    if n > 64:  # CREATE/MKDIR: post_op_fh3 (bool first)
        return status, None
    if n in (0, 1) and len(body) >= 8:
        # post_op_fh3: handle_follows, then the handle
        (follows,) = struct.unpack(">I", body[:4])
        if follows == 1:
            (m,) = struct.unpack(">I", body[4:8])
            if 8 <= m <= 64:
                return status, body[8:8 + m]
    return status, body[4:4 + n]


# ---- the checks between attacks ------------------------------------------------------------

def still_served(what):
    if not os.path.exists(f"/proc/{args.pid}"):
        fail(f"{what}: cafsd is not running")
        return False
    t0 = time.monotonic()
    r = subprocess.run(["timeout", "5", "nfs-ls", args.url], capture_output=True)
    took = time.monotonic() - t0
    if r.returncode != 0:
        fail(f"{what}: a normal request (nfs-ls) failed or took more than 5 s "
             f"(rc {r.returncode}, {took:.1f} s): {r.stderr.decode(errors='replace')[:200]}")
        return False
    log(f"ok   {what} (a normal request served in {took:.2f} s)")
    return True


def expect_closed(s, what, within=5.0):
    s.settimeout(within)
    try:
        while s.recv(65536):
            pass
        return True
    except socket.timeout:
        fail(f"{what}: the server kept the connection open")
        return False
    except OSError:
        return True


# ---- attacks -------------------------------------------------------------------------------

def attack_framing(port, name):
    """Bad fragment headers, huge record marks, truncated records, random bytes."""
    # A mark announcing 2 GiB: the connection is dropped at once, nothing buffered.
    with connect(port) as s:
        s.sendall(u32(0x7FFFFFFF) + b"x" * 100)
        expect_closed(s, f"{name}: 2 GiB record mark")
    # Non-last fragments adding up past the record limit (1 MiB + 4 KiB).
    with connect(port) as s:
        try:
            s.sendall(u32(1 << 20) + b"\0" * (1 << 20) + u32(1 << 20) + b"\0" * 100)
        except OSError:
            pass
        expect_closed(s, f"{name}: fragments past the record limit")
    # Zero-length fragments, a record too short for an xid, a REPLY instead of a CALL, then a
    # valid NULL call on the same connection: answered.
    with connect(port) as s:
        s.sendall(u32(0) * 1000 + record(b"\1\2") + record(u32(7) + u32(1) + b"\0" * 20))
        r = rpc(s, NFS_PROG, NFS_VERS, 0)
        if not (r.accepted and r.stat == SUCCESS):
            fail(f"{name}: NULL after junk records not answered SUCCESS")
    # Truncated record: a mark for 100 bytes, 10 sent, then close.
    with connect(port) as s:
        s.sendall(u32(LAST | 100) + b"\0" * 10)
    # Random records with valid marks (bounded: 300 records of up to 512 bytes).
    rng = random.Random(20)
    with connect(port) as s:
        try:
            for _ in range(300):
                s.sendall(record(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 512)))))
        except OSError:
            pass
    # Random bytes without framing.
    with connect(port) as s:
        try:
            s.sendall(bytes(rng.getrandbits(8) for _ in range(64 * 1024)))
        except OSError:
            pass
    still_served(f"{name}: framing attacks")


def attack_headers(port, name):
    """Wrong rpcvers/program/version/procedure, garbage auth, truncated XDR arguments."""
    with connect(port) as s:
        xid = 0x1234
        s.sendall(record(call(xid, NFS_PROG, NFS_VERS, 0, rpcvers=3)))
        r = Reply(recv_record(s))
        if r.accepted:
            fail(f"{name}: rpcvers 3 accepted")
        cases = [
            ("unknown program", dict(prog=123456, vers=1, proc=0), PROG_UNAVAIL),
            ("NFS version 4", dict(prog=NFS_PROG, vers=4, proc=0), PROG_MISMATCH),
            ("NFS procedure 99", dict(prog=NFS_PROG, vers=NFS_VERS, proc=99), PROC_UNAVAIL),
            ("MOUNT procedure 77", dict(prog=MOUNT_PROG, vers=MOUNT_VERS, proc=77), PROC_UNAVAIL),
            ("portmap procedure 50", dict(prog=PMAP_PROG, vers=PMAP_VERS, proc=50), PROC_UNAVAIL),
            ("LOOKUP with truncated args", dict(prog=NFS_PROG, vers=NFS_VERS, proc=3,
                                                body=u32(64) + b"\0" * 8), GARBAGE_ARGS),
            ("MNT with a 5000-byte path", dict(prog=MOUNT_PROG, vers=MOUNT_VERS, proc=1,
                                               body=opaque(b"/" * 5000)), GARBAGE_ARGS),
            ("CREATE with trailing bytes", dict(prog=NFS_PROG, vers=NFS_VERS, proc=8,
                                                body=opaque(b"\0" * 8) + opaque(b"x") + u32(0)
                                                + u32(0) * 6 + b"junk"), GARBAGE_ARGS),
        ]
        for what, kw, want in cases:
            r = rpc(s, kw["prog"], kw["vers"], kw["proc"], kw.get("body", b""))
            if not r.accepted or r.stat != want:
                fail(f"{name}: {what}: accepted={r.accepted} stat={r.stat}, want {want}")
        bad_creds = [
            ("flavor 99", u32(99) + opaque(b"x" * 8)),
            ("AUTH_SYS with 400 bytes of garbage", u32(1) + opaque(b"\xff" * 400)),
            ("AUTH_SYS machine name of 300 bytes",
             u32(1) + opaque(u32(0) + opaque(b"m" * 300) + u32(0) * 3)),
            ("AUTH_SYS with 17 gids", u32(1) + opaque(u32(0) + opaque(b"m") + u32(0) * 2 +
                                                      u32(17) + u32(0) * 17)),
            ("credential body of 401 bytes", u32(1) + opaque(b"\0" * 401)),
        ]
        for what, cred in bad_creds:
            r = rpc(s, NFS_PROG, NFS_VERS, 1, opaque(b"\0" * 8), cred=cred)
            if r.accepted:
                fail(f"{name}: {what}: accepted (stat {r.stat})")
        # AUTH_NONE for an NFS procedure: refused (too weak), the connection goes on.
        r = rpc(s, NFS_PROG, NFS_VERS, 1, opaque(b"\0" * 8), cred=u32(0) + u32(0))
        if r.accepted:
            fail(f"{name}: AUTH_NONE GETATTR accepted")
    still_served(f"{name}: header and credential attacks")


def attack_names(root_fh):
    """Non-UTF-8, '#' and malformed names in LOOKUP/CREATE/MKDIR/RENAME/REMOVE/RMDIR."""
    names = [b"\xff\xfe", b"osdisk\xff\xfe.img", b"a#", b"#", b"a##b", b"##", b".", b"..",
             b"a/b", b"/", b"a\0b", b"\n", b"x" * 300, b"x" * 1024, b"", b"\xc0\x80",
             b"\xed\xa0\x80", "caf\u00e9".encode(), b" ", b"osdisk#"]
    with connect(args.nfs_port) as s:
        r = rpc(s, NFS_PROG, NFS_VERS, 3, opaque(root_fh) + opaque(args.vmdir.encode()))
        st, vm = nfs_status_and_fh(r)
        if st != NFS3_OK:
            fail(f"names: LOOKUP {args.vmdir}: status {st}")
            return
        r = rpc(s, NFS_PROG, NFS_VERS, 9, opaque(vm) + opaque(b"hostile-names") + u32(0) * 6)
        st, work = nfs_status_and_fh(r)
        if st != NFS3_OK or work is None:
            r = rpc(s, NFS_PROG, NFS_VERS, 3, opaque(vm) + opaque(b"hostile-names"))
            st, work = nfs_status_and_fh(r)
        if work is None:
            fail(f"names: MKDIR hostile-names: status {st}")
            return
        sattr_none = u32(0) * 6  # mode, uid, gid, size: not set; atime, mtime: DONT_CHANGE
        created = set()
        for n in names:
            for proc, body in (
                    (3, opaque(work) + opaque(n)),                             # LOOKUP
                    (8, opaque(work) + opaque(n) + u32(0) + sattr_none),       # CREATE UNCHECKED
                    (9, opaque(work) + opaque(n + b"d") + sattr_none),         # MKDIR
                    (14, opaque(work) + opaque(n) + opaque(work) + opaque(n + b"r")),  # RENAME
                    (12, opaque(work) + opaque(n + b"r")),                     # REMOVE
                    (13, opaque(work) + opaque(n + b"d")),                     # RMDIR
            ):
                r = rpc(s, NFS_PROG, NFS_VERS, proc, body)
                if not r.accepted or r.stat not in (SUCCESS, GARBAGE_ARGS):
                    fail(f"names: proc {proc} name {n[:40]!r}: accepted={r.accepted} "
                         f"stat={r.stat}")
                    continue
                if r.stat == SUCCESS:
                    (st,) = struct.unpack(">I", r.body[:4])
                    if st == NFS3ERR_IO:
                        fail(f"names: proc {proc} name {n[:40]!r}: NFS3ERR_IO")
                    if proc == 8 and st == NFS3_OK:
                        created.add(n)
        for must in (b"osdisk\xff\xfe.img", b"a#", b"#", b"\xff\xfe", b" ", b"a##b", b"##"):
            if must not in created:
                fail(f"names: CREATE {must!r} did not succeed")
        # Clean up what is left (bounded).
        for n in names:
            for name in (n, n + b"r"):
                rpc(s, NFS_PROG, NFS_VERS, 12, opaque(work) + opaque(name))
        rpc(s, NFS_PROG, NFS_VERS, 13, opaque(vm) + opaque(b"hostile-names"))
    still_served("names: non-UTF-8, '#' and malformed names")


def attack_idle_flood(ports):
    """Idle connections from 127.0.0.2 on every port, beyond the per-address cap."""
    held = []
    try:
        for port in ports:
            for _ in range(100):
                try:
                    held.append(connect(port, source="127.0.0.2", timeout=2))
                except OSError:
                    break
        log(f"     idle flood: {len(held)} connections opened from 127.0.0.2")
        still_served("idle connection flood from 127.0.0.2 (held open)")
        # The per-address cap (64 per address, docs/nfs.md "Limits"): the server closed the
        # connections beyond it; the first ones are still open.
        closed = 0
        for s in held:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        log(f"     idle flood: {closed} of {len(held)} closed by the server (per-address cap)")
        if closed == 0:
            fail("idle flood: no connection beyond the per-address cap was closed")
    finally:
        for s in held:
            s.close()
    still_served("idle connection flood from 127.0.0.2 (released)")


def attack_slow_clients():
    """Byte-a-tick clients from 127.0.0.2: they hold no worker; each gets its answer."""
    msg = record(call(0x5105, NFS_PROG, NFS_VERS, 0))
    socks = [connect(args.nfs_port, source="127.0.0.2") for _ in range(20)]
    big = connect(args.nfs_port, source="127.0.0.2")
    big.sendall(u32(LAST | (1 << 20)) + b"\0" * 100)  # announces 1 MiB, sends 100 bytes
    try:
        for i in range(len(msg)):  # 72 bytes, one per 50 ms: under 4 s
            for s in socks:
                s.sendall(msg[i:i + 1])
            time.sleep(0.05)
            if i == len(msg) // 2:
                still_served("slow clients from 127.0.0.2 (half-sent calls)")
        for s in socks:
            r = Reply(recv_record(s))
            if not (r.accepted and r.stat == SUCCESS and r.xid == 0x5105):
                fail("slow clients: a completed NULL call was not answered")
                break
    finally:
        for s in socks:
            s.close()
        big.close()
    still_served("slow clients from 127.0.0.2")


def attack_concurrent():
    """40 clients from 127.0.0.3 at once, each MNT + 20 NFS calls: all answered."""
    errors = []

    def client(i):
        try:
            with connect(args.mount_port, source="127.0.0.3") as s:
                r = rpc(s, MOUNT_PROG, MOUNT_VERS, 0)
                assert r.accepted and r.stat == SUCCESS
            with connect(args.nfs_port, source="127.0.0.3") as s:
                for _ in range(20):
                    r = rpc(s, NFS_PROG, NFS_VERS, 0)
                    assert r.accepted and r.stat == SUCCESS
        except Exception as e:  # noqa: BLE001 (any failure of a client is a finding)
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        fail(f"concurrent clients: {len(errors)} failed, first: {errors[0]}")
    still_served("40 concurrent clients from 127.0.0.3")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--pid", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--nfs-port", type=int, required=True)
    p.add_argument("--mount-port", type=int, required=True)
    p.add_argument("--portmap-port", type=int, required=True)
    p.add_argument("--vmdir", required=True)
    args = p.parse_args()
    random.seed(20)
    ports = {"NFS port": args.nfs_port, "MOUNT port": args.mount_port,
             "portmap port": args.portmap_port}
    if not still_served("before any attack"):
        return 1
    for name, port in ports.items():
        attack_framing(port, name)
        attack_headers(port, name)
    attack_names(mount_root(args.mount_port))
    attack_idle_flood(list(ports.values()))
    attack_slow_clients()
    attack_concurrent()
    log("hostile: " + ("all attacks withstood" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
