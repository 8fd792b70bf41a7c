#!/usr/bin/env python3
"""Hostile clients on cafsd's jobs control socket (cafs_jobs_control_hostile_test.sh).

The socket is `<backing store>/.cafs-control` (docs/jobs.md "Control channel"): one JSON
request line per connection, one reply line. Every attack is bounded in count and time and
stays on this host (a UNIX socket). After each one a normal `cafsd jobs list` must exit 0
within 5 s, cafsd must still run, and the FUSE mount must still write and read back a file;
the attacks that expect an answer check it is an error reply ({"ok": false, "code": ...}).

Usage: jobs_control_hostile.py --cafsd BIN --config F --socket PATH --pid PID --probe FILE
Prints one line per attack; exits 0 when all passed, 1 otherwise.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

MAX_LINE = 64 * 1024
failures = []
args = None


def log(msg):
    print(msg, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL " + msg)


def connect():
    """A connection; a full listen backlog (EAGAIN: Python's sockets with a timeout are
    non-blocking) is retried for up to 5 s, as a blocking connect would wait."""
    until = time.monotonic() + 5
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(args.socket)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > until:
                raise
            time.sleep(0.01)


def read_to_close(s, limit=10.0):
    """Everything the server sends until it closes; None if it does not close in `limit` s."""
    out = b""
    s.settimeout(limit)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except socket.timeout:
        return None
    except OSError:
        return out


def ask(raw):
    """Sends raw bytes (the server may close before taking all of them), returns the reply."""
    s = connect()
    try:
        try:
            s.sendall(raw)
        except OSError:
            pass  # refused early (too long): the reply is still there to read
        reply = read_to_close(s)
    finally:
        s.close()
    if reply is None:
        return None
    try:
        return json.loads(reply.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"unparsable": reply[:200].decode("latin-1")}


def expect_error(name, raw, code=None):
    reply = ask(raw)
    if not isinstance(reply, dict) or reply.get("ok") is not False or "code" not in reply:
        fail(f"{name}: want an error reply, got {reply!r:.300}")
        return
    if code is not None and reply["code"] != code:
        fail(f"{name}: want code {code!r}, got {reply!r:.300}")


def io_ok():
    """The mount still writes and reads back a file (within 5 s)."""
    data = os.urandom(64 * 1024)
    result = []

    def run():
        try:
            with open(args.probe, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with open(args.probe, "rb") as f:
                result.append(f.read() == data)
        except OSError as e:
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5)
    return result == [True], result


def check(name):
    """After an attack: `cafsd jobs list` within 5 s, cafsd alive, the mount serves I/O."""
    before = len(failures)
    try:
        os.kill(args.pid, 0)
    except OSError:
        fail(f"{name}: cafsd is gone")
        return
    try:
        r = subprocess.run([args.cafsd, "--config", args.config, "jobs", "list", "--json"],
                           capture_output=True, timeout=5)
        if r.returncode != 0:
            fail(f"{name}: jobs list exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        else:
            json.loads(r.stdout)
    except subprocess.TimeoutExpired:
        fail(f"{name}: jobs list not served within 5 s")
    except ValueError:
        fail(f"{name}: jobs list --json printed no JSON: {r.stdout[:200]!r}")
    ok, why = io_ok()
    if not ok:
        fail(f"{name}: the mount does not serve I/O: {why}")
    elif len(failures) == before:
        log(f"ok: {name}")


# ---- attacks --------------------------------------------------------------------------------

def malformed():
    cases = [
        ("empty line", b"\n"),
        ("not JSON", b"{not json\n"),
        ("binary garbage", bytes(random.Random(1).randrange(256) for _ in range(4000)) + b"\n"),
        ("NUL bytes", b"{\"op\":\"li\0st\"}\n"),
        ("not UTF-8 in a string", b"{\"op\":\"get\",\"id\":\"\xff\xfe\x80\"}\n"),
        ("not UTF-8 in a key", b"{\"\xc3\x28\":1,\"op\":\"list\"}\n"),
        ("overlong UTF-8", b"{\"op\":\"\xc0\xafl\"}\n"),
        ("lone surrogate escape", b"{\"op\":\"get\",\"id\":\"\\ud800\"}\n"),
        ("array", b"[1,2,3]\n"),
        ("number", b"42\n"),
        ("op not a string", b"{\"op\":[\"list\"]}\n"),
        ("unknown op", b"{\"op\":\"format-disk\"}\n"),
        ("id not a string", b"{\"op\":\"cancel\",\"id\":{\"$ne\":null}}\n"),
        ("unknown id", b"{\"op\":\"pause\",\"id\":\"../../etc/passwd\"}\n"),
        ("start without spec", b"{\"op\":\"start\"}\n"),
        ("start with unknown kind", b"{\"op\":\"start\",\"spec\":{\"kind\":\"rm-rf\",\"target\":"
         b"{\"type\":\"file\",\"path\":\"/my_vmset/vm1/osdisk-keep.img\"}}}\n"),
        ("start with an escaping path", b"{\"op\":\"start\",\"spec\":{\"kind\":\"shred\",\"target\":"
         b"{\"type\":\"file\",\"path\":\"/../../../etc/passwd\"}}}\n"),
        ("start with huge parallel", b"{\"op\":\"start\",\"spec\":{\"parallel\":99999999999999999999}}\n"),
        ("start with negative rate", b"{\"op\":\"start\",\"spec\":{\"rate_limit_bps\":-5}}\n"),
        ("spec with an injected requested_by", b"{\"op\":\"start\",\"spec\":{\"requested_by\":\"kpsd\"}}\n"),
        ("deep arrays", b"[" * 100000 + b"\n"),
        ("deep objects", b"{\"a\":" * 20000 + b"\n"),
        ("deep inside a request", b"{\"op\":\"start\",\"spec\":{\"params\":" + b"[" * 60000 + b"}}\n"),
        ("huge string just under the line limit",
         b"{\"op\":\"get\",\"id\":\"" + b"A" * (MAX_LINE - 40) + b"\"}\n"),
        ("many keys", b"{" + b",".join(b"\"k%d\":%d" % (i, i) for i in range(6000)) + b"}\n"),
    ]
    for name, raw in cases:
        expect_error(name, raw)
    # Two requests in one line-stream: only the first is answered, then the server closes.
    reply = ask(b"{\"op\":\"list\"}\n{\"op\":\"list\"}\n")
    if not isinstance(reply, dict) or reply.get("ok") is not True:
        fail(f"two lines: want one list reply, got {reply!r:.200}")
    check(f"{len(cases) + 1} malformed, non-UTF-8, deep and huge requests: error replies")


def over_long():
    for size in (MAX_LINE + 1, 1 << 20, 8 << 20):
        expect_error(f"a {size}-byte line", b"x" * size + b"\n", "invalid argument")
    check("over-long lines (64 KiB + 1, 1 MiB, 8 MiB): refused")


def slow_clients(n=8, seconds=8):
    """n clients send a valid request one byte a second: each is dropped at its request
    deadline (5 s for the whole line), and a normal request is served meanwhile."""
    request = b"{\"op\":\"list\"}" + b" " * 20 + b"\n"  # > 8 s at a byte a second
    outcome = []

    def trickle():
        s = connect()
        dropped = False
        try:
            for i in range(len(request)):
                s.settimeout(1.0)
                try:
                    s.sendall(request[i:i + 1])
                    if s.recv(1) == b"":
                        dropped = True
                        break
                except socket.timeout:
                    continue
                except OSError:
                    dropped = True
                    break
        finally:
            s.close()
        outcome.append(dropped)

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    check(f"during {n} byte-a-second clients")
    for t in threads:
        t.join(len(request) + 10)
    if outcome.count(True) != n:
        fail(f"slow clients: {outcome.count(True)} of {n} dropped before their line was complete")
    check(f"{n} byte-a-second clients: dropped at the request deadline")


def idle_flood(n=300):
    """n idle connections (more than the cap of 64): the oldest are dropped to make room."""
    held = []
    try:
        for _ in range(n):
            try:
                held.append(connect())
            except OSError as e:
                fail(f"idle flood: connect: {e}")
                break
        check(f"during an idle flood of {len(held)} connections")
    finally:
        for s in held:
            s.close()
    check(f"after an idle flood of {n} connections")


def deaf_clients(n=32):
    """Clients that send a request and never read the reply, nor close."""
    held = []
    try:
        for _ in range(n):
            s = connect()
            s.sendall(b"{\"op\":\"list\"}\n")
            held.append(s)
        check(f"during {n} clients that never read their replies")
    finally:
        for s in held:
            s.close()


def random_bytes(n=40):
    rng = random.Random(20)
    for _ in range(n):
        s = connect()
        try:
            s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
            if rng.random() < 0.5:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            s.close()  # sometimes before the reply: the server's send must not kill it
    check(f"{n} connections of random bytes, closed at once")


def other_user():
    """A user other than cafsd's cannot connect (mode 0600; SO_PEERCRED checked too)."""
    if os.geteuid() != 0:
        log("skip: other user (not root)")
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = b"?"
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                connect().close()
                code = b"connected"
            except PermissionError:
                code = b"EACCES"
            except OSError as e:
                code = str(e).encode()
        finally:
            os.write(w, code)
            os._exit(0)
    os.close(w)
    out = os.read(r, 200)
    os.close(r)
    os.waitpid(pid, 0)
    if out != b"EACCES":
        fail(f"uid 65534 on the control socket: {out!r}, want EACCES")
    check("another uid is refused")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--cafsd", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--probe", required=True)
    args = p.parse_args()
    check("before the attacks")
    for attack in (malformed, over_long, random_bytes, deaf_clients, idle_flood, slow_clients,
                   other_user):
        attack()
    if failures:
        log(f"{len(failures)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
