#!/usr/bin/env python3
"""Hostile clients against one of kpsd's listeners (docs/kps.md "The REST listener",
"The KMIP listener"), driving a real kpsd process.

Usage: kps_hostile.py --listener rest|kmip KPSD CAFSCTL

Each attack is bounded in count and time and sends traffic to loopback addresses only;
floods come from other loopback addresses (127.0.0.2 ...) than the checking client
(127.0.0.1), so the per-address cap does not hit it. After each attack (and for the floods,
while they are still open): an admin request and a gateway key fetch are answered within
5 s (with --listener kmip also a KMIP request), kpsd is still running, and
`cafsctl audit verify` checks kpsd's hash chain. kpsd is killed on every exit path.

Not covered here (other classes of issue 20, owned elsewhere): deeply nested JSON bodies,
non-UTF-8 JSON bodies, and KMIP requests with non-UTF-8 identifiers.

Exit codes: 0 pass, 1 fail, 77 skip.
"""
import argparse
import concurrent.futures
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

CHECK_SECONDS = 5.0
rng = random.Random(20)  # reproducible "random" payloads


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def read_until_closed(s, enough=None):
    """What `s` receives until the peer closes, an error, or `enough(data)` is true."""
    data = b""
    try:
        while not (enough and enough(data)):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError):
        pass
    return data


def kill_with_parent():
    """preexec_fn: the child gets SIGKILL when this script dies (even by SIGKILL)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Kpsd:
    """A kpsd process in a temporary data directory."""

    def __init__(self, kpsd, work):
        self.kpsd = kpsd
        self.work = work
        self.data = os.path.join(work, "data")
        self.log = os.path.join(work, "kpsd.log")
        self.proc = None
        self.port = None
        self.kmip_port = None

    def init(self):
        subprocess.run([self.kpsd, "init", "--data-dir", self.data], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)

    def start(self):
        args = [self.kpsd, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0",
                "--kmip-listen", "127.0.0.1:0",
                # Short deadlines so the slow-client attacks see them within seconds.
                "--handshake-timeout", "3", "--request-timeout", "3", "--idle-timeout", "3",
                "--max-connections-per-address", "16", "--kmip-max-connections", "64",
                "--kmip-max-connections-per-address", "8"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=kill_with_parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = open(self.log, encoding="utf-8", errors="replace").read()
            m = re.search(r"^kpsd listening on 127\.0\.0\.1:(\d+)", text, re.M)
            k = re.search(r"^kpsd KMIP listening on 127\.0\.0\.1:(\d+)", text, re.M)
            if m and k:
                self.port, self.kmip_port = int(m.group(1)), int(k.group(1))
                return
            if self.proc.poll() is not None:
                fail("kpsd exited at start:\n" + text)
            time.sleep(0.1)
        fail("kpsd did not start")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_text(self):
        try:
            return open(self.log, encoding="utf-8", errors="replace").read()
        except OSError:
            return ""


class Suite:
    def __init__(self, kpsd, cafsctl, listener, work):
        self.k = Kpsd(kpsd, work)
        self.cafsctl = cafsctl
        self.listener = listener
        self.work = work
        self.bundles = {}

    # ---- clients -------------------------------------------------------------------
    def context(self, bundle=None, tls13=True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(os.path.join(self.k.data, "ca.crt"))
        if bundle:
            ctx.load_cert_chain(bundle)
        return ctx

    def tcp(self, port, source="127.0.0.1", timeout=CHECK_SECONDS):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        return s

    def request(self, who, method, path, body=None, timeout=CHECK_SECONDS):
        """(status, json) of one request as `who`; fails when no answer came in time."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.k.port, timeout=timeout,
                                           context=self.context(self.bundles[who]))
        start = time.monotonic()
        try:
            data = None if body is None else json.dumps(body)
            headers = {} if body is None else {"Content-Type": "application/json"}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
        except (OSError, http.client.HTTPException) as e:
            fail(f"{who} {method} {path}: no answer within {timeout:.0f} s: {e!r}")
        finally:
            conn.close()
        took = time.monotonic() - start
        if took > timeout:
            fail(f"{who} {method} {path}: answered after {took:.1f} s")
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text

    def expect(self, status, who, method, path, body=None):
        got, reply = self.request(who, method, path, body)
        if got != status:
            fail(f"{who} {method} {path}: expected HTTP {status}, got {got}: {reply}")
        return reply

    def kmip_discover_versions(self):
        """A KMIP Discover Versions request as the key-admin; its Result Status."""
        def item(tag, typ, value):
            pad = (8 - len(value) % 8) % 8
            return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(value)) \
                + value + b"\0" * pad

        def structure(tag, *items):
            return item(tag, 0x01, b"".join(items))

        def integer(tag, v):
            return item(tag, 0x02, struct.pack(">i", v))

        def enum(tag, v):
            return item(tag, 0x05, struct.pack(">I", v))

        msg = structure(0x420078,
                        structure(0x420077,
                                  structure(0x420069, integer(0x42006A, 1), integer(0x42006B, 2)),
                                  integer(0x42000D, 1)),
                        structure(0x42000F, enum(0x42005C, 0x1E), structure(0x420079)))
        ctx = self.context(self.bundles["keyadmin"], tls13=False)
        start = time.monotonic()
        try:
            with ctx.wrap_socket(self.tcp(self.k.kmip_port), server_hostname="127.0.0.1") as s:
                s.sendall(msg)
                head = b""
                while len(head) < 8:
                    chunk = s.recv(8 - len(head))
                    if not chunk:
                        fail("KMIP: connection closed before the response")
                    head += chunk
                (length,) = struct.unpack(">I", head[4:8])
                body = b""
                while len(body) < length:
                    chunk = s.recv(length - len(body))
                    if not chunk:
                        fail("KMIP: response cut short")
                    body += chunk
        except OSError as e:
            fail(f"KMIP Discover Versions: no answer within {CHECK_SECONDS:.0f} s: {e!r}")
        if time.monotonic() - start > CHECK_SECONDS:
            fail("KMIP Discover Versions answered too late")
        if head[:3] != b"\x42\x00\x7b":
            fail(f"KMIP: not a Response Message: {head.hex()}")
        success = bytes.fromhex("42007f05000000040000000000000000")
        if success not in body:
            fail(f"KMIP Discover Versions did not succeed: {body.hex()}")

    # ---- the checks after each attack ---------------------------------------------------
    def check(self, attack):
        if not self.k.running():
            fail(f"after {attack}: kpsd is not running:\n{self.k.log_text()[-3000:]}")
        self.expect(200, "admin", "GET", "/v1/vmsets")
        self.expect(200, "gateway", "GET", "/v1/gateway/vmsets/my_vmset")
        if self.listener == "kmip":
            self.kmip_discover_versions()
        env = dict(os.environ, CAFS_KPS_URL=f"https://127.0.0.1:{self.k.port}")
        r = subprocess.run([self.cafsctl, "--cert", self.bundles["admin"], "audit", "verify"],
                           env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail(f"after {attack}: cafsctl audit verify failed: {r.stdout}{r.stderr}")
        if not self.k.running():
            fail(f"after {attack}: kpsd is not running")
        print(f"ok: {attack}", flush=True)

    # ---- setup: the seed VM set with a key, a policy and a gateway ------------------------
    def setup(self):
        self.k.init()
        self.k.start()
        self.bundles["admin"] = os.path.join(self.k.data, "admin.pem")

        def enroll(name, path, body):
            reply = self.expect(201, "admin", "POST", path, body)
            p = os.path.join(self.work, name + ".pem")
            with open(p, "w") as f:
                f.write(reply["bundle"])
            self.bundles[name] = p

        enroll("keyadmin", "/v1/admins", {"name": "kate", "role": "key-admin"})
        enroll("tenant", "/v1/admins",
               {"name": "alice", "role": "tenant-admin", "vmsets": ["my_vmset"]})
        enroll("gateway", "/v1/gateways", {"name": "gw1", "vmsets": ["my_vmset"]})
        # Two people (docs/kps.md "Roles"): the tenant-admin approves the gateway's scope.
        self.expect(200, "tenant", "POST", "/v1/gateways/gw1/approve", {"vmset": "my_vmset"})
        self.expect(201, "admin", "POST", "/v1/servers",
                    {"id": "755083456", "name": "esx-1", "addresses": ["127.0.0.1"]})
        self.expect(201, "admin", "POST", "/v1/vmsets",
                    {"name": "my_vmset", "mount_point": "/nfs", "position": 1,
                     "servers": ["755083456"]})
        # The pool the policy names, assigned to my_vmset (docs/kps.md "Storage pools").
        enroll("storage", "/v1/admins", {"name": "sam", "role": "storage-admin"})
        self.expect(201, "storage", "POST", "/v1/pools", {"name": "default_pool"})
        self.expect(200, "storage", "POST", "/v1/pools/default_pool/allow", {"vmset": "my_vmset"})
        key = self.expect(201, "keyadmin", "POST", "/v1/keys",
                          {"vmset": "my_vmset", "cipher": "aes-256-xts"})["id"]
        self.key = key
        policy_id = "45aa9e57-bf64-11df-8d3e-000c29abeb4d"
        xml = ("<vobj-list>\n<vobj><vglob>*osdisk*</vglob><symkey>" + key +
               "</symkey><storepol>default_pool</storepol><access>at_all_times</access>"
               "<audit>none</audit></vobj>\n</vobj-list>")
        self.expect(201, "tenant", "POST", "/v1/policies",
                    {"id": policy_id, "name": "my_policy", "vmset": "my_vmset", "xml": xml})
        version = self.expect(200, "tenant", "GET", "/v1/vmsets/my_vmset")["version"]
        self.expect(200, "tenant", "PUT", "/v1/vmsets/my_vmset",
                    {"mount_point": "/nfs", "position": 1, "servers": ["755083456"],
                     "policy_id": policy_id, "version": version})
        self.check("setup")

    # ---- attacks shared by both listeners ---------------------------------------------------
    def port(self):
        return self.k.port if self.listener == "rest" else self.k.kmip_port

    def idle_flood(self, source, count):
        """`count` connections from `source` that never send a byte, open during the check."""
        socks = []
        try:
            for _ in range(count):
                try:
                    socks.append(self.tcp(self.port(), source))
                except OSError:
                    break  # the kernel's backlog is full: the flood is as big as it gets
            self.check(f"{len(socks)} idle connections from {source} (still open)")
        finally:
            for s in socks:
                s.close()
        self.check(f"idle connections from {source} (closed)")

    def partial_handshake_flood(self, source, count):
        """Connections that send the first bytes of a ClientHello and stall."""
        socks = []
        try:
            for _ in range(count):
                s = self.tcp(self.port(), source)
                try:
                    s.sendall(bytes.fromhex("160301020001"))  # a handshake record, cut short
                except OSError:
                    pass
                socks.append(s)
            self.check(f"{count} stalled handshakes from {source} (still open)")
        finally:
            for s in socks:
                s.close()

    def handshakes_without_certificate(self, source, count):
        ctx = self.context(None, tls13=self.listener == "rest")
        accepted = 0
        for _ in range(count):
            try:
                with ctx.wrap_socket(self.tcp(self.port(), source, 3),
                                     server_hostname="127.0.0.1") as s:
                    s.sendall(b"GET /v1/vmsets HTTP/1.1\r\n\r\n" if self.listener == "rest"
                              else b"\x42\x00\x78\x01\x00\x00\x00\x00")
                    if s.recv(100):
                        accepted += 1
            except (OSError, ssl.SSLError):
                pass
        if accepted:
            fail(f"{accepted} connections without a client certificate were answered")
        self.check(f"{count} handshakes without a certificate from {source}")

    def random_instead_of_handshake(self, source, count):
        for i in range(count):
            try:
                with self.tcp(self.port(), source, 3) as s:
                    s.sendall(rng.randbytes(rng.randint(1, 8192)))
                    s.recv(100)
            except OSError:
                pass
        self.check(f"{count} connections of random bytes instead of a handshake")

    def random_after_handshake(self, who, count):
        ctx = self.context(self.bundles[who], tls13=self.listener == "rest")
        payloads = []
        for i in range(count):
            payload = rng.randbytes(rng.randint(1, 32768))
            if i % 2:
                payload += b"\r\n\r\n"  # lets the REST listener parse a "head"
            payloads.append(payload)

        def send(payload):
            try:
                with ctx.wrap_socket(self.tcp(self.port(), "127.0.0.1", 3),
                                     server_hostname="127.0.0.1") as s:
                    s.sendall(payload)
                    return s.recv(200)
            except (OSError, ssl.SSLError):
                return b""

        # Half of them (no end of a head) wait for the request deadline (3 s here): six
        # clients at a time (below both listeners' per-address limits), not one by one.
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(send, payloads))
        for reply in replies:
            if self.listener == "rest" and reply.startswith(b"HTTP/1.1 5"):
                fail(f"random bytes after the handshake got a server error: {reply!r}")
        self.check(f"{count} connections of random bytes after the TLS handshake")

    def trickle(self, source, count, prefix, then, seconds):
        """`count` clients from `source` sending `prefix`, then one byte of `then` a second,
        for `seconds`; the check runs while they trickle. Returns how many kpsd cut off."""
        ctx = self.context(self.bundles["admin"], tls13=self.listener == "rest")
        conns = []
        for _ in range(count):
            s = ctx.wrap_socket(self.tcp(self.port(), source), server_hostname="127.0.0.1")
            s.sendall(prefix)
            conns.append(s)
        cut = [False] * count
        stop = threading.Event()

        def drip(i, s):
            for b in then:
                if stop.wait(1.0):
                    return
                try:
                    s.sendall(bytes([b]))
                except (OSError, ssl.SSLError):
                    cut[i] = True
                    return
            cut[i] = False

        threads = [threading.Thread(target=drip, args=(i, s)) for i, s in enumerate(conns)]
        for t in threads:
            t.start()
        try:
            time.sleep(1)
            self.check(f"{count} byte-a-second clients from {source} (still sending)")
            time.sleep(max(0.0, seconds - 1))
        finally:
            stop.set()
            for t in threads:
                t.join()
            # A client kpsd cut off sees EOF (or an error) when it reads.
            for i, s in enumerate(conns):
                try:
                    s.settimeout(0.5)
                    if not s.recv(100):
                        cut[i] = True
                except socket.timeout:
                    pass
                except (OSError, ssl.SSLError):
                    cut[i] = True
                s.close()
        return sum(cut)

    # ---- REST-only attacks --------------------------------------------------------------
    def raw_rest(self, request):
        """The status line kpsd answers `request` with (b"" when it only closed)."""
        ctx = self.context(self.bundles["admin"])
        with ctx.wrap_socket(self.tcp(self.k.port), server_hostname="127.0.0.1") as s:
            try:
                s.sendall(request)
            except (OSError, ssl.SSLError):
                pass  # kpsd answered and closed before taking everything: read the answer
            data = read_until_closed(s, lambda d: b"\r\n" in d)
        return data.split(b"\r\n", 1)[0]

    def malformed_requests(self):
        big = b"a" * 65536

        def post(path, body):
            return (b"POST " + path.encode() + b" HTTP/1.1\r\nContent-Length: " +
                    str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        cases = [
            ("non-UTF-8 escaped path", b"GET /v1/vmsets/%ff%fe HTTP/1.1\r\n\r\n", {400}),
            ("non-UTF-8 escaped query", b"GET /v1/keys?vmset=%c3%28 HTTP/1.1\r\n\r\n", {400}),
            ("raw high bytes in the path", b"GET /v1/vmsets/\xff\xfe HTTP/1.1\r\n\r\n", {400}),
            ("escaped NUL", b"GET /v1/vmsets/a%00b HTTP/1.1\r\n\r\n", {400}),
            ("bad escape", b"GET /v1/vmsets/%zz HTTP/1.1\r\n\r\n", {400}),
            ("non-UTF-8 header value (ignored)",
             b"GET /v1/vmsets HTTP/1.1\r\nX-Name: \xff\xfe\r\nConnection: close\r\n\r\n", {200}),
            ("non-UTF-8 header name", b"GET /v1/vmsets HTTP/1.1\r\nX-\xff: 1\r\n\r\n", {400}),
            ("NUL in a header", b"GET /v1/vmsets HTTP/1.1\r\nX: a\0b\r\n\r\n", {400}),
            ("bare LF", b"GET /v1/vmsets HTTP/1.1\nHost: k\n\n\r\n\r\n", {400}),
            ("header folding", b"GET /v1/vmsets HTTP/1.1\r\nX: a\r\n b\r\n\r\n", {400}),
            ("64 KiB header", b"GET /v1/vmsets HTTP/1.1\r\nX: " + big + b"\r\n\r\n", {431}),
            ("64 KiB without a line end", big, {431}),
            ("1000 headers",
             b"GET /v1/vmsets HTTP/1.1\r\n" + b"X: 1\r\n" * 1000 + b"\r\n", {431}),
            ("huge Content-Length",
             b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n", {413}),
            ("too many digits",
             b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
             {400}),
            ("negative Content-Length",
             b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: -5\r\n\r\n", {400}),
            ("conflicting Content-Length",
             b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
             {400}),
            ("body over 1 MiB",
             b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n" + b" " * 1048577,
             {413}),
            ("chunked body",
             b"POST /v1/vmsets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
             {411}),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {505}),
            ("HTTP/0.9", b"GET /v1/vmsets\r\n\r\n", {400}),
            ("absolute URI", b"GET https://127.0.0.1/v1/vmsets HTTP/1.1\r\n\r\n", {400}),
            ("unknown method", b"BREW /v1/vmsets HTTP/1.1\r\nConnection: close\r\n\r\n", {405}),
            ("Expect other than 100-continue",
             b"POST /v1/vmsets HTTP/1.1\r\nExpect: 42\r\nContent-Length: 2\r\n\r\n{}", {417}),
            ("very long path", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", {431}),
            # Bodies the API refuses before parsing (issue 20 classes 1 and 2).
            ("JSON nested 150,000 deep", post("/v1/vmsets", b"[" * 150000 + b"]" * 150000), {400}),
            ("JSON body that is not UTF-8", post("/v1/vmsets", b'{"name":"a\xff\xfe"}'), {400}),
        ]
        for name, request, statuses in cases:
            line = self.raw_rest(request)
            m = re.match(rb"HTTP/1\.1 (\d{3}) ", line)
            if not m or int(m.group(1)) not in statuses:
                fail(f"{name}: expected HTTP {sorted(statuses)}, got {line[:80]!r}")
        self.check(f"{len(cases)} malformed or oversized requests")

    def hostile_rekey_progress(self):
        """Rekey requests (docs/kps-api.md "Rekey requests"): a compromised version queues one;
        malformed, oversized, out-of-scope and non-UTF-8 progress reports are refused and keep
        nothing; 100 reports in a row (bounded) are taken and the status still answers."""
        reply = self.expect(200, "keyadmin", "POST", f"/v1/keys/{self.key}/state",
                            {"version": 1, "state": "compromised"})
        rid = f"{self.key}.1"
        if reply.get("rekey_requests") != [rid]:
            fail(f"compromise queued {reply.get('rekey_requests')}, not [{rid}]")
        path = f"/v1/gateway/rekey-requests/{rid}/progress"
        bad = [
            {}, {"state": "finished"}, {"state": ["done"]}, {"state": "done", "done_bytes": -1},
            {"state": "done", "total_bytes": 1.5}, {"state": "done", "rate_bps": -1},
            {"state": "done", "eta_s": "later"}, {"state": "done", "job": "j" * 65},
            {"state": "done", "error": "e" * 5000}, {"state": "done", "gateway": "gw2"},
            {"state": "done", "files": {"n": 1}}, ["state", "done"],
        ]
        for body in bad:
            self.expect(400, "gateway", "POST", path, body)
        self.expect(404, "gateway", "POST", "/v1/gateway/rekey-requests/nope/progress",
                    {"state": "done"})
        self.expect(403, "admin", "POST", path, {"state": "done"})
        self.expect(403, "tenant", "GET", "/v1/gateway/rekey-requests")
        line = self.raw_rest(b"POST /v1/gateway/rekey-requests/%ff%fe/progress HTTP/1.1\r\n"
                             b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        if not line.startswith(b"HTTP/1.1 4"):
            fail(f"non-UTF-8 request id: {line[:80]!r}")
        status = self.expect(200, "keyadmin", "GET", "/v1/rekey-requests?vmset=my_vmset")
        if len(status) != 1 or status[0]["state"] != "pending":
            fail(f"refused reports changed the request: {status}")
        for i in range(100):
            self.expect(200, "gateway", "POST", path,
                        {"state": "running", "done_bytes": i, "total_bytes": 100,
                         "rate_bps": 1.0, "eta_s": 100 - i, "files": 1, "files_done": 0})
        queue = self.expect(200, "gateway", "GET", "/v1/gateway/rekey-requests")
        if [q["id"] for q in queue] != [rid]:
            fail(f"gateway queue: {queue}")
        status = self.expect(200, "keyadmin", "GET", "/v1/rekey-requests?vmset=my_vmset")
        if status[0]["state"] != "running" or status[0]["done_bytes"] != 99:
            fail(f"rekey status after 100 reports: {status}")
        self.check("hostile rekey progress reports")

    def hostile_pool_requests(self):
        """Bodies and paths the pool endpoints refuse: never a 5xx, never a change."""
        long_name = "p" * 300
        cases = [
            ("storage", "POST", "/v1/pools", {"name": "a/b"}, 400),
            ("storage", "POST", "/v1/pools", {"name": ".."}, 400),
            ("storage", "POST", "/v1/pools", {"name": long_name}, 400),
            ("storage", "POST", "/v1/pools", {"name": "x", "guid": "not-a-guid"}, 400),
            ("storage", "POST", "/v1/pools", {"name": 5}, 400),
            ("storage", "POST", "/v1/pools", {"name": "x", "kind": "ceph"}, 400),
            ("storage", "POST", "/v1/pools", {"name": "default_pool"}, 409),
            ("storage", "POST", "/v1/pools/default_pool/allow", {"vmset": ["my_vmset"]}, 400),
            ("storage", "POST", "/v1/pools/default_pool/allow",
             {"vmset": "my_vmset", "withdraw": "yes"}, 400),
            ("storage", "POST", "/v1/pools/default_pool/allow", {"vmset": "no_such"}, 404),
            ("storage", "POST", "/v1/pools/no_such/allow", {"vmset": "my_vmset"}, 404),
            # The policy names it: the grant stays, the pool stays.
            ("storage", "POST", "/v1/pools/default_pool/allow",
             {"vmset": "my_vmset", "withdraw": True}, 409),
            ("storage", "DELETE", "/v1/pools/default_pool", None, 409),
            ("tenant", "POST", "/v1/pools", {"name": "mine"}, 403),
            ("tenant", "POST", "/v1/pools/default_pool/allow", {"vmset": "my_vmset"}, 403),
            ("gateway", "GET", "/v1/pools", None, 403),
        ]
        for who, method, path, body, status in cases:
            self.expect(status, who, method, path, body)
        pools = self.expect(200, "admin", "GET", "/v1/pools")
        if [p["name"] for p in pools] != ["default_pool"] or pools[0]["vmsets"] != ["my_vmset"]:
            fail(f"hostile pool requests changed the pools: {pools}")
        self.check(f"{len(cases)} hostile pool requests")

    def pipelined_burst(self):
        """200 requests pipelined in one write on one keep-alive connection."""
        ctx = self.context(self.bundles["admin"])
        with ctx.wrap_socket(self.tcp(self.k.port, "127.0.0.6"), server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /v1/vmsets HTTP/1.1\r\nHost: k\r\n\r\n" * 199 +
                      b"GET /v1/vmsets HTTP/1.1\r\nConnection: close\r\n\r\n")
            data = read_until_closed(s)
        answered = data.count(b"HTTP/1.1 200 OK\r\n")
        if answered != 200:
            fail(f"pipelined burst: {answered} of 200 requests answered")
        self.check("200 pipelined requests on one connection")

    # ---- KMIP-only attacks --------------------------------------------------------------
    def malformed_kmip(self):
        ctx = self.context(self.bundles["keyadmin"], tls13=False)
        cases = [
            ("not a Request Message", bytes.fromhex("42007b0100000000")),
            ("not a structure", bytes.fromhex("4200780200000004") + b"\0" * 8),
            ("huge length", bytes.fromhex("420078017fffffff")),
            ("truncated message", bytes.fromhex("4200780100000100") + b"\0" * 16),
            ("random TTLV", bytes.fromhex("4200780100000040") + rng.randbytes(64)),
        ]
        for name, msg in cases:
            try:
                with ctx.wrap_socket(self.tcp(self.k.kmip_port, "127.0.0.1", 3),
                                     server_hostname="127.0.0.1") as s:
                    s.sendall(msg)
                    s.recv(1000)
            except (OSError, ssl.SSLError):
                pass
        self.check(f"{len(cases)} malformed KMIP messages")
        # A Get whose Unique Identifier is not UTF-8 (issue 20 class 3): an error answer on a
        # connection that goes on serving.
        def ttlv(tag, typ, value):
            pad = (8 - len(value) % 8) % 8
            return tag.to_bytes(3, "big") + bytes([typ]) + len(value).to_bytes(4, "big") + \
                value + b"\0" * pad
        def integer(tag, v): return ttlv(tag, 0x02, v.to_bytes(4, "big"))
        header = ttlv(0x420077, 0x01, ttlv(0x420069, 0x01, integer(0x42006A, 1) +
                                            integer(0x42006B, 4)) + integer(0x42000D, 1))
        item = ttlv(0x42000F, 0x01, ttlv(0x42005C, 0x05, (10).to_bytes(4, "big")) +
                    ttlv(0x420079, 0x01, ttlv(0x420094, 0x07, b"\xff\xfe")))
        with ctx.wrap_socket(self.tcp(self.k.kmip_port, "127.0.0.1", 5),
                             server_hostname="127.0.0.1") as s:
            s.sendall(ttlv(0x420078, 0x01, header + item))
            reply = s.recv(8)
            if reply[:3] != bytes.fromhex("42007b"):
                fail(f"Get with a non-UTF-8 Unique Identifier: no Response Message ({reply!r})")
        self.check("a Get with a non-UTF-8 Unique Identifier")

    # ---- the suites ---------------------------------------------------------------------
    def run(self):
        self.setup()
        self.idle_flood("127.0.0.2", 300)
        self.partial_handshake_flood("127.0.0.3", 100)
        self.handshakes_without_certificate("127.0.0.4", 50)
        self.random_instead_of_handshake("127.0.0.5", 30)
        self.random_after_handshake("admin" if self.listener == "rest" else "keyadmin", 30)
        if self.listener == "rest":
            self.malformed_requests()
            self.hostile_rekey_progress()

            self.hostile_pool_requests()
            self.pipelined_burst()
            # A head a byte a second and a body a byte a second, both at once (20 clients,
            # the two waits overlap): each cut at the request deadline (3 s here), never
            # holding a worker meanwhile.
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                heads = pool.submit(self.trickle, "127.0.0.7", 10, b"",
                                    b"GET /v1/vmsets HTTP/1.1\r\nHost: kpsd\r\n", 6)
                bodies = pool.submit(
                    self.trickle, "127.0.0.8", 10,
                    b"POST /v1/vmsets HTTP/1.1\r\nContent-Length: 100\r\n\r\n", b"{" * 100, 6)
                cut_heads, cut_bodies = heads.result(), bodies.result()  # raise their Failure
            if cut_heads != 10:
                fail(f"slow heads: kpsd cut off {cut_heads} of 10 byte-a-second clients")
            if cut_bodies != 10:
                fail(f"slow bodies: kpsd cut off {cut_bodies} of 10 byte-a-second clients")
            self.check("byte-a-second clients (cut off)")
        else:
            self.malformed_kmip()
            self.trickle("127.0.0.7", 8, b"", bytes.fromhex("4200780100000030") + b"\0" * 48, 4)
            self.check("byte-a-second KMIP clients")
        self.k.stop()
        log = self.k.log_text()
        if re.search(r"Sanitizer|runtime error", log):
            fail("sanitizer report in kpsd's log:\n" + log[-5000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listener", choices=["rest", "kmip"], required=True)
    ap.add_argument("kpsd")
    ap.add_argument("cafsctl")
    a = ap.parse_args()
    try:
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.close()
    except OSError:
        print("SKIP: cannot bind 127.0.0.2 (no 127.0.0.0/8 loopback routing)")
        return 77

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    work = tempfile.mkdtemp(prefix=f"kps-hostile-{a.listener}-")
    suite = Suite(a.kpsd, a.cafsctl, a.listener, work)
    start = time.monotonic()
    try:
        suite.run()
        print(f"PASS: kps {a.listener} hostile suite in {time.monotonic() - start:.0f} s")
        return 0
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print("---- kpsd log (tail) ----\n" + suite.k.log_text()[-5000:], file=sys.stderr)
        return 1
    finally:
        suite.k.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
