#!/usr/bin/env python3
"""A stand-in for `kubectl port-forward` in envsync's tests (no API server can run here).

It behaves as kubectl does on the outside: it listens on a free loopback port, prints kubectl's
own `Forwarding from 127.0.0.1:N -> PORT` line, and carries each connection to the test
PostgreSQL (STUB_PG_PORT), printing `Handling connection for N`. STUB_MODE=fail prints
kubectl's error for a missing Service and exits 1; STUB_MODE=hang never forwards. Its pid goes
to STUB_PIDFILE, so a test can tell whether envsync left it running.
"""
import os
import socket
import sys
import threading
import time

args = sys.argv[1:]
with open(os.environ["STUB_PIDFILE"], "w") as f:
    f.write(str(os.getpid()))

mode = os.environ.get("STUB_MODE", "ok")
if "port-forward" not in args:
    print("error: the stub only forwards ports", file=sys.stderr)
    sys.exit(1)
remote = args[-1].lstrip(":")
service = args[-2].split("/", 1)[-1]
if mode == "fail":
    print('Error from server (NotFound): services "%s" not found' % service, file=sys.stderr)
    sys.exit(1)
if mode == "hang":
    print("E1206 12:00:00.000000 1 portforward.go:413] waiting for the pod to be ready", file=sys.stderr)
    sys.stderr.flush()
    while True:
        time.sleep(1)

target = ("127.0.0.1", int(os.environ["STUB_PG_PORT"]))
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
local = listener.getsockname()[1]
print("Forwarding from 127.0.0.1:%d -> %s" % (local, remote), flush=True)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


while True:
    client, _ = listener.accept()
    print("Handling connection for %d" % local, flush=True)
    upstream = socket.create_connection(target)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
