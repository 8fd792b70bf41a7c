#!/usr/bin/env python3
"""Verifies a gateway's local audit log (docs/audit.md) with an implementation independent of
src/audit: every line a JSON object with the 14 keys (+ an optional non-empty `client`, the NFS
client's address, + `<field>_b64` for the six text fields that are not UTF-8, consistent with the
field's display form), seq 1, 2, ..., prev = the
previous hash, hash = SHA-256(prev || canonical JSON without hash).

Usage: audit_chain.py LOG [--expect-b64 FIELD=HEXBYTES ...]
  --expect-b64: some record must carry FIELD with exactly these bytes (given in hex).
Prints "audit chain: N records verify" and exits 0, or names the first bad line and exits 1.
"""
import base64
import hashlib
import json
import sys

TEXT = ("server", "vmset", "vm", "file", "op", "reason")
KEYS = {"seq", "time_ms", "end_ms", "server", "vmset", "vm", "file", "op", "result", "reason",
        "bytes", "count", "prev", "hash"}


def display(raw: bytes) -> str:
    # Each byte outside a valid UTF-8 sequence becomes U+FFFD (Python's "replace" handler
    # replaces maximal invalid subparts, so decode byte by byte where it fails).
    out, i = [], 0
    while i < len(raw):
        for n in (1, 2, 3, 4):
            try:
                out.append(raw[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def main() -> int:
    path = sys.argv[1]
    expected = {}
    args = sys.argv[2:]
    while args:
        if args[0] == "--expect-b64" and len(args) > 1:
            field, hexbytes = args[1].split("=", 1)
            expected[(field, bytes.fromhex(hexbytes))] = False
            args = args[2:]
        else:
            print("usage: audit_chain.py LOG [--expect-b64 FIELD=HEX ...]")
            return 2
    prev, n = "0" * 64, 0
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        print(f"audit chain: torn last line in {path}")
        return 1
    for line_no, line in enumerate(data.splitlines(), 1):
        def bad(why):
            print(f"audit chain: {path} line {line_no}: {why}")
            return 1
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return bad(f"not UTF-8 JSON ({e})")
        if "client" in rec and (not isinstance(rec["client"], str) or not rec["client"]):
            return bad("client must be a non-empty string")
        extra = {k for k in rec if k not in KEYS and k != "client"}
        if not KEYS <= set(rec) or any(k[:-4] not in TEXT or not k.endswith("_b64") for k in extra):
            return bad(f"keys {sorted(rec)}")
        for k in extra:
            field = k[:-4]
            raw = base64.b64decode(rec[k], validate=True)
            if base64.b64encode(raw).decode() != rec[k]:
                return bad(f"{k} is not canonical base64")
            try:
                raw.decode("utf-8")
                return bad(f"{k} holds UTF-8 (must be the plain field)")
            except UnicodeDecodeError:
                pass
            if display(raw) != rec[field]:
                return bad(f"{field} is not the display form of {k}")
            if (field, raw) in expected:
                expected[(field, raw)] = True
        if rec["seq"] != n + 1:
            return bad(f"seq {rec['seq']}, want {n + 1}")
        if rec["prev"] != prev:
            return bad("prev does not match the previous hash")
        body = {k: v for k, v in rec.items() if k != "hash"}
        if hashlib.sha256(prev.encode() + canonical(body)).hexdigest() != rec["hash"]:
            return bad("hash does not recompute")
        prev, n = rec["hash"], n + 1
    missing = [f"{f}={raw.hex()}" for (f, raw), seen in expected.items() if not seen]
    if missing:
        print(f"audit chain: no record carries {missing}")
        return 1
    print(f"audit chain: {n} records verify")
    return 0


if __name__ == "__main__":
    sys.exit(main())
