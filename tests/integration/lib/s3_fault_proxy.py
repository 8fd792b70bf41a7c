#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of an S3 server (radosgw), for the s3 pool fault tests.

  s3_fault_proxy.py --upstream http://127.0.0.1:PORT --control FILE --port-file FILE

Listens on 127.0.0.1 (a free port, written to --port-file once listening) and forwards every
request unchanged (the Host header too: the SigV4 signature covers it) to --upstream, except
while the control file asks for faults. The control file (JSON, re-read at every request):

  {"gen": 1, "mode": "pass" | "status" | "reset", "status": 503, "count": 3}

  status   answer the next `count` requests (-1: all) with HTTP `status` and an S3 error body
  reset    close the next `count` connections without an answer (a connection error)

A new "gen" starts a new count. After each fault, CONTROL.served holds "GEN FAULTS" (the faults
served in that generation), so a test can check that the retries happened. The proxy exits when
its parent process is gone or after --lifetime seconds, so a test that dies leaves nothing.
Loopback only; bounded (a test sends a few dozen requests).
"""
import argparse
import http.client
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect",
              "upgrade", "te", "trailer"}


class State:
    def __init__(self, control):
        self.control = control
        self.lock = threading.Lock()
        self.gen = None
        self.served = 0

    def fault(self):
        """The fault for this request: (mode, status) or None to forward it."""
        try:
            with open(self.control, encoding="utf-8") as f:
                c = json.load(f)
        except (OSError, ValueError):
            return None
        with self.lock:
            if c.get("gen") != self.gen:
                self.gen = c.get("gen")
                self.served = 0
            mode = c.get("mode", "pass")
            count = int(c.get("count", 0))
            if mode == "pass" or (0 <= count <= self.served):
                return None
            self.served += 1
            with open(self.control + ".served.tmp", "w", encoding="utf-8") as f:
                f.write(f"{self.gen} {self.served}\n")
            os.replace(self.control + ".served.tmp", self.control + ".served")
            return mode, int(c.get("status", 503))


def make_handler(upstream, state):
    up = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_one(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            fault = state.fault()
            if fault is not None:
                mode, status = fault
                if mode == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = (f"<?xml version=\"1.0\"?><Error><Code>InjectedFault</Code>"
                           f"<Message>fault proxy: HTTP {status}</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for name, value in resp.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--lifetime", type=float, default=300)
    a = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             make_handler(a.upstream, State(a.control)))
    server.daemon_threads = True
    with open(a.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    parent = os.getppid()
    end = time.monotonic() + a.lifetime

    def watchdog():
        while os.getppid() == parent and time.monotonic() < end:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
