#!/usr/bin/env python3
"""Hostile NBD and mailbox clients for the EDIF hostile suites (stdlib only).

  edif_hostile_client.py nbd --tcp HOST:PORT --export NAME --check CMD --pid PID...
  edif_hostile_client.py mailbox --socket PATH --check CMD --pid PID...

Each attack runs against the live daemon; after it, CMD (a shell command: a normal client
that must read and write correctly, bounded by its own `timeout 5`) must succeed and every
PID must still run. CHECK_N in CMD's environment counts the checks (for fresh patterns).
Every connection goes to loopback addresses only; every attack is bounded in count and time.
Exit 0 when every attack passed, 1 otherwise (the failing attack is named on stdout).
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

# ---- NBD wire (docs/nbd.md) ---------------------------------------------------------------
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x0003E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO = 1, 2, 3, 5, 6, 7
OPT_STRUCTURED_REPLY, OPT_EXTENDED_HEADERS = 8, 11
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN = (1 << 31) | 1, (1 << 31) | 3, (1 << 31) | 6
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WZ, CMD_BS = range(8)
EPERM, EIO, EINVAL, ENOSPC, EOVERFLOW = 1, 5, 22, 28, 75

IO_TIMEOUT = 15  # seconds any single socket operation may take before the attack fails


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


class Conn:
    """One NBD connection (TCP from `src`, or Unix)."""

    def __init__(self, target, src=None, timeout=IO_TIMEOUT):
        if isinstance(target, tuple):
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if src:
                self.s.bind((src, 0))
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(target)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise Failure("connection closed after %d of %d bytes" % (len(out), n))
            out += chunk
        return bytes(out)

    def closed_by_peer(self, timeout=IO_TIMEOUT):
        """True when the server closes (EOF or reset) within `timeout`, reading what it sends."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    # -- handshake
    def greeting(self, client_flags=3):
        g = self.recv_exact(18)
        magic, opt, flags = struct.unpack(">QQH", g)
        expect(magic == NBDMAGIC and opt == IHAVEOPT, "bad server greeting")
        self.send(struct.pack(">I", client_flags))
        return flags

    def option(self, option, data=b""):
        self.send(struct.pack(">QII", IHAVEOPT, option, len(data)) + data)

    def option_reply(self):
        magic, option, rtype, length = struct.unpack(">QIII", self.recv_exact(20))
        expect(magic == REPLY_MAGIC, "bad option reply magic")
        expect(length <= 65536, "option reply too long")
        return option, rtype, self.recv_exact(length)

    def go(self, name, option=OPT_GO):
        """NBD_OPT_GO (or INFO); returns (reply type of the final reply, size or None)."""
        nb = name if isinstance(name, bytes) else name.encode()
        self.option(option, struct.pack(">I", len(nb)) + nb + struct.pack(">HH", 1, 3))
        size = None
        while True:
            _, rtype, data = self.option_reply()
            if rtype == REP_INFO and len(data) >= 12 and struct.unpack(">H", data[:2])[0] == 0:
                size = struct.unpack(">Q", data[2:10])[0]
            if rtype != REP_INFO:
                return rtype, size

    # -- transmission
    def request(self, cmd, offset, length, flags=0, cookie=1, data=b""):
        self.send(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, cookie, offset, length) + data)

    def reply(self, read_length=0):
        magic, error, cookie = struct.unpack(">IIQ", self.recv_exact(16))
        expect(magic == SIMPLE_REPLY_MAGIC, "bad simple reply magic")
        data = self.recv_exact(read_length) if error == 0 and read_length else b""
        return error, cookie, data


def opened(target, export, src=None):
    c = Conn(target, src)
    c.greeting()
    rtype, size = c.go(export)
    expect(rtype == REP_ACK, "NBD_OPT_GO %r: reply type %#x" % (export, rtype))
    return c, size


# ---- mailbox wire (docs/mailbox-protocol.md) -------------------------------------------------
MBX_MAGIC = 0x58424D43
SECTOR = 512
MBX_LBA = 64 * SECTOR
_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def mbx_message(mtype, payload=b"", epoch=0, seq=1, flags=0, version=1, header_size=64,
                payload_len=None, req_id=7, wwpn=0, port_id=0, magic=MBX_MAGIC, crc=None):
    plen = len(payload) if payload_len is None else payload_len
    head = struct.pack("<IHHHHIQQQQQI", magic, version, mtype, flags, header_size, plen, epoch,
                       seq, 0, req_id, wwpn, port_id)
    if crc is None:
        crc = crc32c(head + b"\0\0\0\0" + payload)
    return head + struct.pack("<I", crc) + payload


def sectors(data):
    return data + b"\0" * (-len(data) % SECTOR)


def app_start(phase, app_id, nonce=None, proof=b"\0" * 32, app_id_len=None):
    nonce = nonce or os.urandom(32)
    n = len(app_id) if app_id_len is None else app_id_len
    return (struct.pack("<B3xIQ", phase, 1, 0) + nonce + proof + struct.pack("<H", n) + app_id)


def mbx_header(data):
    f = struct.unpack("<IHHHHIQQQQQII", data[:64])
    return {"magic": f[0], "type": f[2], "flags": f[3], "len": f[5], "epoch": f[6], "seq": f[7]}


# ---- runner ---------------------------------------------------------------------------------
class Runner:
    def __init__(self, args):
        self.check_cmd = args.check
        self.pids = [int(p) for p in args.pid]
        self.checks = 0
        self.failed = []

    def alive(self):
        for p in self.pids:
            try:
                os.kill(p, 0)
            except OSError:
                return False
        return True

    def check(self, name):
        self.checks += 1
        env = dict(os.environ, CHECK_N=str(self.checks))
        r = subprocess.run(["bash", "-c", self.check_cmd], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise Failure("normal client failed after the attack (rc %d):\n%s" %
                          (r.returncode, r.stdout.decode(errors="replace")[-2000:]))

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            expect(self.alive(), "a daemon is no longer running")
            self.check(name)
            expect(self.alive(), "a daemon is no longer running")
            print("ok   %-48s %5.1f s" % (name, time.monotonic() - t0), flush=True)
        except (Failure, OSError, subprocess.TimeoutExpired) as e:
            print("FAIL %-48s %s" % (name, e), flush=True)
            self.failed.append(name)


def hold(conns, seconds, runner, name):
    """Keeps `conns` open while the normal client runs (the check happens under the attack)."""
    runner.check(name + " (under attack)")
    time.sleep(seconds)
    for c in conns:
        c.close()


def connect_many(target, n, src):
    """Opens up to n connections from src; returns (open, refused at once)."""
    conns, refused = [], 0
    for _ in range(n):
        try:
            conns.append(Conn(target, src, timeout=2))
        except OSError:
            refused += 1
    return conns, refused


def count_closed(conns, timeout=2.0):
    """How many of conns the server closed (EOF/reset) within `timeout` (reads the greeting)."""
    deadline = time.monotonic() + timeout
    closed = 0
    for c in conns:
        c.s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = c.s.recv(64)
            if not data:
                closed += 1
            else:
                c.s.settimeout(0.05)
                try:
                    if not c.s.recv(64):
                        closed += 1
                except socket.timeout:
                    pass
        except (ConnectionResetError, BrokenPipeError):
            closed += 1
        except socket.timeout:
            pass
    return closed


# ---- NBD attacks ----------------------------------------------------------------------------
def nbd_suite(args):
    host, port = args.tcp.rsplit(":", 1)
    tcp = (host, int(port))
    evil = args.evil_source
    export = args.export
    r = Runner(args)

    def handshake_attacks(target, src, name, label):
        """Malformed negotiation against `target` (TCP from `src`, or a Unix socket path)."""
        def closes(fn):
            def run():
                c = Conn(target, src)
                try:
                    fn(c)
                    expect(c.closed_by_peer(), "server did not close the connection")
                finally:
                    c.close()
            return run

        def answers(option, data, want):
            def run():
                c = Conn(target, src)
                try:
                    c.greeting()
                    c.option(option, data)
                    _, rtype, _ = c.option_reply()
                    expect(rtype == want, "option %d: reply %#x, want %#x" % (option, rtype, want))
                    c.option(OPT_ABORT)
                    _, rtype, _ = c.option_reply()
                    expect(rtype == REP_ACK, "ABORT not acknowledged")
                finally:
                    c.close()
            return run

        def go_refused(name, want=REP_ERR_UNKNOWN):
            def run():
                c = Conn(target, src)
                try:
                    c.greeting()
                    rtype, _ = c.go(name)
                    expect(rtype == want, "GO %r: reply %#x, want %#x" % (name[:40], rtype, want))
                finally:
                    c.close()
            return run

        def name_len_lie():
            c = Conn(target, src)
            try:
                c.greeting()
                c.option(OPT_GO, struct.pack(">I", 4000) + b"x" * 10 + struct.pack(">H", 0))
                _, rtype, _ = c.option_reply()
                expect(rtype == REP_ERR_INVALID, "GO with a lying name length: %#x" % rtype)
            finally:
                c.close()

        # Handshake.
        r.run(label + "bad client flags", closes(lambda c: c.greeting(0xFFFFFFFF)))
        r.run(label + "bad option magic", closes(lambda c: (c.greeting(), c.send(b"\x01" * 16))))
        r.run(label + "option length 4 GiB", closes(
            lambda c: (c.greeting(), c.send(struct.pack(">QII", IHAVEOPT, OPT_GO, 0xFFFFFFFF)))))
        r.run(label + "option length 64 KiB + 1", closes(
            lambda c: (c.greeting(), c.send(struct.pack(">QII", IHAVEOPT, 99, 65537) + b"a" * 4096))))
        r.run(label + "unknown option with a 64 KiB payload", answers(0x7FFF1234, os.urandom(65536),
                                                              REP_ERR_UNSUP))
        r.run(label + "STARTTLS / STRUCTURED_REPLY / EXTENDED_HEADERS", lambda: [
            answers(o, b"", REP_ERR_UNSUP)() for o in (OPT_STARTTLS, OPT_STRUCTURED_REPLY,
                                                       OPT_EXTENDED_HEADERS)])
        r.run(label + "LIST with data", answers(OPT_LIST, b"junk", REP_ERR_INVALID))
        r.run(label + "GO with a lying name length", name_len_lie)
        r.run(label + "GO: non-UTF-8 export name", go_refused(b"\xff\xfe\x80" + name.encode()))
        r.run(label + "GO: export name with '#'", go_refused(name + "#"))
        r.run(label + "GO: '#'-only and NUL names", lambda: [go_refused(n)() for n in (b"#", b"##", b"a\0b")])
        r.run(label + "GO: name of 4097 bytes", go_refused(b"n" * 4097, REP_ERR_INVALID))
        r.run(label + "EXPORT_NAME non-UTF-8", closes(
            lambda c: (c.greeting(), c.option(OPT_EXPORT_NAME, b"\xc3\x28\xff#"))))
        r.run(label + "old-style client asks LIST", closes(lambda c: (c.greeting(0), c.option(OPT_LIST))))
        r.run(label + "truncated option payload", lambda: [
            (lambda c: (c.greeting(), c.send(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"abc"),
                        c.close()))(Conn(target, src))])
        r.run(label + "4 KiB of random bytes", closes(lambda c: (c.recv_exact(18), c.send(os.urandom(4096)))))

    handshake_attacks(tcp, evil, export, "")
    if args.unix:
        handshake_attacks(args.unix, None, args.unix_export, "unix: ")

    # Transmission.
    def tx(fn):
        def run():
            c, size = opened(tcp, export, evil)
            try:
                fn(c, size)
            finally:
                c.close()
        return run

    def errors_back(c, size):
        cases = [
            (CMD_READ, size, 512, 0, EINVAL), (CMD_READ, 2**64 - 512, 1024, 0, EINVAL),
            (CMD_READ, 0, 64 << 20, 0, EOVERFLOW), (CMD_READ, 0, 512, 0xFFFE, EINVAL),
            (0x77, 0, 512, 0, EINVAL), (CMD_CACHE, 0, 512, 0, EINVAL),
            (CMD_BS, 0, 512, 0, EINVAL), (0xFFFF, 2**64 - 1, 2**32 - 1, 0xFFFF, EINVAL),
        ]
        for i, (cmd, off, ln, fl, want) in enumerate(cases):
            c.request(cmd, off, ln, fl, cookie=1000 + i)
            err, cookie, _ = c.reply()
            expect(cookie == 1000 + i and err == want,
                   "cmd %#x off %#x len %#x flags %#x: error %d, want %d" %
                   (cmd, off, ln, fl, err, want))
        c.request(CMD_WRITE, size - 512, 1024, cookie=9, data=b"w" * 1024)
        err, _, _ = c.reply()
        expect(err == ENOSPC, "WRITE beyond the end: error %d" % err)
        c.request(CMD_WRITE, 0, 512, flags=2, cookie=10, data=b"w" * 512)
        err, _, _ = c.reply()
        expect(err == EINVAL, "WRITE with NO_HOLE: error %d" % err)

    def pipelined(c, size):
        n = 2000
        buf = b"".join(struct.pack(">IHHQQI", REQ_MAGIC, 0, 0x55, i, 0, 0) for i in range(n))
        t = threading.Thread(target=c.send, args=(buf,))
        t.start()
        seen = set()
        for _ in range(n):
            err, cookie, _ = c.reply()
            expect(err == EINVAL, "pipelined unknown command: error %d" % err)
            seen.add(cookie)
        t.join()
        expect(len(seen) == n, "replies lost")
        c.request(CMD_DISC, 0, 0)
        expect(c.closed_by_peer(), "DISC did not close")

    r.run("bad request magic", tx(lambda c, s: (
        c.send(b"\x99" * 28), expect(c.closed_by_peer(), "server kept the connection"))))
    r.run("out-of-range, unknown commands and flags", tx(errors_back))
    r.run("WRITE over the maximum payload", tx(lambda c, s: (
        c.request(CMD_WRITE, 0, 64 << 20), expect(c.closed_by_peer(), "not closed"))))
    r.run("truncated WRITE payload", tx(lambda c, s: (
        c.request(CMD_WRITE, 0, 65536, data=b"t" * 1000), c.close())))
    r.run("truncated request header", tx(lambda c, s: (c.send(b"\x25\x60\x95"), c.close())))
    r.run("2000 pipelined bad requests", tx(pipelined))

    # Floods from the other loopback address.
    def idle_flood():
        conns, refused = connect_many(tcp, args.flood, evil)
        closed = count_closed(conns)
        expect(refused + closed >= args.flood - args.per_address_cap,
               "%d of %d idle connections from %s still open (cap %d)" %
               (args.flood - refused - closed, args.flood, evil, args.per_address_cap))
        hold(conns, 0, r, "idle flood")

    def idle_in_transmission():
        conns = []
        for _ in range(args.per_address_cap):
            try:
                conns.append(opened(tcp, export, evil)[0])
            except (Failure, OSError):
                break
        hold(conns, 0, r, "idle in transmission")

    def slow_clients():
        stop = threading.Event()
        conns = connect_many(tcp, args.per_address_cap, evil)[0]
        c2 = []
        for _ in range(4):
            try:
                c2.append(opened(tcp, export, "127.0.0.3")[0])
            except (Failure, OSError):
                pass

        def drip(c, data):
            for b in data:
                if stop.is_set():
                    return
                try:
                    c.send(bytes([b]))
                except OSError:
                    return
                time.sleep(1)
        hs = struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_LIST, 0)
        req = struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 0, 4096) + b"s" * 4096
        threads = [threading.Thread(target=drip, args=(c, hs)) for c in conns]
        threads += [threading.Thread(target=drip, args=(c, req)) for c in c2]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            r.check("slow clients (under attack)")
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join()
            for c in conns + c2:
                c.close()

    def handshake_timeout():
        c = Conn(tcp, evil, timeout=args.handshake_timeout + 10)
        try:
            c.recv_exact(18)
            expect(c.closed_by_peer(args.handshake_timeout + 10), "silent client never closed")
        finally:
            c.close()

    def concurrent_clients():
        errors = []

        def client(i):
            try:
                c, size = opened(tcp, export, "127.0.0.%d" % (10 + i % 16))
                off = (i * 65536) % (size - 65536)
                data = bytes([i % 251]) * 65536
                c.request(CMD_WRITE, off, 65536, cookie=i, data=data)
                err, _, _ = c.reply()
                c.request(CMD_READ, off, 65536, cookie=i + 1)
                err2, _, back = c.reply(65536)
                if err or err2 or back != data:
                    errors.append("client %d: write %d read %d" % (i, err, err2))
                c.request(CMD_DISC, 0, 0)
                c.close()
            except (Failure, OSError) as e:
                errors.append("client %d: %s" % (i, e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(not errors, "; ".join(errors[:5]))

    r.run("idle connection flood from %s" % evil, idle_flood)
    r.run("idle connections in transmission from %s" % evil, idle_in_transmission)
    r.run("slow (byte-a-second) clients", slow_clients)
    r.run("%d concurrent clients from 16 addresses" % args.concurrent, concurrent_clients)
    r.run("silent client closed after the handshake timeout", handshake_timeout)
    return r


# ---- mailbox attacks ------------------------------------------------------------------------
def mailbox_suite(args):
    target = args.socket
    r = Runner(args)
    export = "mailbox"

    def write(c, data, offset=MBX_LBA, cookie=1):
        c.request(CMD_WRITE, offset, len(data), cookie=cookie, data=data)
        return c.reply()[0]

    def records(cases):
        def run():
            c, _ = opened(target, export)
            try:
                for what, data, want in cases:
                    err = write(c, sectors(data))
                    expect(want is None or (err != 0) == want,
                           "%s: WRITE error %d, expected %s" % (what, err,
                                                                "failure" if want else "success"))
            finally:
                c.close()
        return run

    keepalive = 0x000A
    good = mbx_message(keepalive)
    bad_crc = bytearray(good)
    bad_crc[60] ^= 0xFF
    r.run("malformed records", records([
        ("bad magic", mbx_message(keepalive, magic=0x12345678), True),
        ("zero sector", b"\0" * 512, True),
        ("bad version", mbx_message(keepalive, version=2), False),
        ("bad header size", mbx_message(keepalive, header_size=32), False),
        ("bad CRC", bytes(bad_crc), True),
        ("truncated", mbx_message(keepalive, b"x" * 100, payload_len=4000), True),
        ("oversized payload_len", mbx_message(keepalive, payload_len=0xFFFFFFFF), True),
        ("unknown type", mbx_message(0x00FF), False),
        ("upstream type written", mbx_message(0x8001), False),
        ("reply type written", mbx_message(0x8105), False),
        ("unknown flag", mbx_message(keepalive, flags=0x8000), False),
        ("port id over 24 bits", mbx_message(keepalive, port_id=0xFF000000), False),
        ("non-zero padding", mbx_message(keepalive) + b"\x01", False),
        ("payload on an empty type", mbx_message(0x0003, b"junk"), False),
        ("random sector", os.urandom(512), True),
        ("129 sectors", mbx_message(keepalive) + b"\0" * (129 * 512 - 64), None),
    ]))

    hello = 1
    r.run("non-UTF-8 and '#' names in APP_START", records([
        ("non-UTF-8 app_id", mbx_message(1, app_start(hello, b"\xff\xfe\xc3(#")), False),
        ("'#' app_id", mbx_message(1, app_start(hello, b"#" * 64)), False),
        ("app_id too long", mbx_message(1, app_start(hello, b"a" * 65)), False),
        ("app_id_len lies", mbx_message(1, app_start(hello, b"abc", app_id_len=60)), False),
        ("bad phase", mbx_message(1, app_start(9, b"x")), False),
        ("PROVE without HELLO", mbx_message(1, app_start(2, b"\xff#", proof=b"\1" * 32)), False),
    ]))

    def hello_then_wrong_proof():
        c, _ = opened(target, export)
        try:
            for i in range(20):
                nonce = os.urandom(32)
                write(c, sectors(mbx_message(1, app_start(1, b"\xfe#evil", nonce), seq=i + 1)))
                write(c, sectors(mbx_message(1, app_start(2, b"\xfe#evil", nonce, b"\7" * 32),
                                             epoch=random.getrandbits(64), seq=i + 1)))
        finally:
            c.close()
    r.run("20 HELLO + forged PROVE", hello_then_wrong_proof)

    def misaligned_and_reserved():
        c, _ = opened(target, export)
        try:
            expect(write(c, sectors(good), offset=0) != 0, "WRITE to LBA 0 accepted")
            expect(write(c, sectors(good), offset=63 * 512) != 0, "WRITE to LBA 63 accepted")
            expect(write(c, good[:100]) != 0, "a 100-byte WRITE accepted")
            expect(write(c, sectors(good), offset=MBX_LBA + 1) != 0, "misaligned WRITE accepted")
            c.request(CMD_READ, 0, 32768, cookie=5)
            err, _, data = c.reply(32768)
            expect(err == 0 and data == b"\0" * 32768, "reserved region does not read zeros")
            c.request(CMD_READ, MBX_LBA + 3, 512, cookie=6)
            expect(c.reply()[0] != 0, "misaligned READ accepted")
            c.request(CMD_TRIM, MBX_LBA, 512, cookie=7)
            expect(c.reply()[0] != 0, "TRIM accepted")
        finally:
            c.close()
    r.run("misaligned and reserved-LBA I/O", misaligned_and_reserved)

    def steal_epoch():
        """Learns the live epoch the way any reader of the disk can: parks a READ and makes the
        driver answer junk until a message lands in it. Returns (epoch, highest downstream seq)."""
        c, _ = opened(target, export)
        c2, _ = opened(target, export)
        try:
            c.request(CMD_READ, MBX_LBA, 65536, cookie=77)
            got = []
            t = threading.Thread(target=lambda: got.append(c.reply(65536)))
            t.start()
            for i in range(200):
                if got:
                    break
                write(c2, sectors(mbx_message(0x00FF, seq=i + 1)))
                time.sleep(0.02)
            t.join(IO_TIMEOUT)
            expect(got and got[0][0] == 0, "no upstream message reached the stolen READ")
            h = mbx_header(got[0][2])
            expect(h["magic"] == MBX_MAGIC, "stolen READ holds no message")
            ack = struct.unpack("<Q", got[0][2][32:40])[0]
            return h["epoch"], ack
        finally:
            c.close()
            c2.close()

    def sequence_attacks():
        epoch, highest = steal_epoch()
        c, _ = opened(target, export)
        try:
            for seq in (0, 1, max(1, highest - 200), highest, 2**64 - 1, highest + 10**9):
                write(c, sectors(mbx_message(keepalive, epoch=epoch, seq=seq, req_id=seq)))
            for _ in range(3):  # the same record again and again (replay)
                write(c, sectors(mbx_message(keepalive, epoch=epoch, seq=highest, req_id=1)))
            write(c, sectors(mbx_message(keepalive, epoch=epoch ^ 1, seq=highest + 1)))
            write(c, sectors(mbx_message(0x0004, b"\0" * 8, epoch=epoch, seq=2**63)))
        finally:
            c.close()
    r.run("out-of-order and replayed sequence numbers", sequence_attacks)

    def record_flood():
        stop_at = time.monotonic() + 8
        counts = []

        def flood(i):
            c, _ = opened(target, export)
            n = 0
            try:
                while n < args.flood and time.monotonic() < stop_at:
                    kind = n % 3
                    rec = (bytes(bad_crc) if kind == 0 else
                           mbx_message(keepalive, version=3) if kind == 1 else
                           mbx_message(1, app_start(1, b"\xff#flood")))
                    write(c, sectors(rec), cookie=n)
                    n += 1
            finally:
                c.close()
                counts.append(n)
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(sum(counts) > 0, "no record written")
    r.run("record flood (4 connections)", record_flood)

    def parked_read_flood():
        """64 parked READs from a client that then leaves: its reads must not keep the slots or
        swallow the messages meant for the agent."""
        c, _ = opened(target, export)
        for i in range(64):
            c.request(CMD_READ, MBX_LBA + i * 512, 65536, cookie=i)
        time.sleep(0.5)
        c.close()
    r.run("parked READ flood, then the client leaves", parked_read_flood)

    def idle_and_slow():
        conns = [Conn(target) for _ in range(args.idle)]
        for c in conns[: len(conns) // 2]:
            try:
                c.greeting()
                c.send(b"\x49")  # one byte of IHAVEOPT, then nothing
            except (Failure, OSError):
                pass
        hold(conns, 0, r, "idle mailbox clients")
    r.run("idle and half-open mailbox clients", idle_and_slow)
    return r


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="suite", required=True)
    n = sub.add_parser("nbd")
    n.add_argument("--tcp", required=True)
    n.add_argument("--export", required=True)
    n.add_argument("--unix", help="also attack the negotiation on this Unix socket")
    n.add_argument("--unix-export", default="mailbox")
    n.add_argument("--evil-source", default="127.0.0.2")
    n.add_argument("--flood", type=int, default=300)
    n.add_argument("--per-address-cap", type=int, default=16)
    n.add_argument("--concurrent", type=int, default=48)
    n.add_argument("--handshake-timeout", type=int, default=10)
    m = sub.add_parser("mailbox")
    m.add_argument("--socket", required=True)
    m.add_argument("--flood", type=int, default=3000)
    m.add_argument("--idle", type=int, default=64)
    for p in (n, m):
        p.add_argument("--check", required=True)
        p.add_argument("--pid", action="append", default=[])
    args = ap.parse_args()
    r = nbd_suite(args) if args.suite == "nbd" else mailbox_suite(args)
    if r.failed:
        print("FAILED: " + ", ".join(r.failed))
        return 1
    print("all attacks passed (%d checks)" % r.checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
