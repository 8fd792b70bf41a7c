#!/usr/bin/env python3
"""TCP relay for the EDIF end-to-end test: accepts on 127.0.0.1:0, writes its port to
PORT_FILE, forwards every connection to 127.0.0.1:TARGET_PORT and appends every byte that
crosses it (both directions) to CAPTURE. Usage: relay.py TARGET_PORT PORT_FILE CAPTURE"""
import os
import socket
import sys
import threading

target_port, port_file, capture = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
out = open(capture, "ab", buffering=0)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with lock:
                out.write(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
tmp = port_file + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
os.rename(tmp, port_file)
while True:
    c, _ = srv.accept()
    try:
        t = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, t), daemon=True).start()
    threading.Thread(target=pipe, args=(t, c), daemon=True).start()
