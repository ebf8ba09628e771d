#!/usr/bin/env python3
"""Loopback TCP connections through four lifecycles, for swstat's transition tests.

Each connection binds its client to a chosen port (so two namespaces can use the very same
4-tuples) and goes through one of four lifecycles, by its number modulo 4:

  0 client closes first      1 server closes first
  2 half-close held (the client shuts down writing, the server answers, then both close)
  3 reset (the client closes with SO_LINGER 0)

Usage: lifecycles.py --server-port P --client-base B --count N --rate R [--hold-port H]
  --rate 0 goes as fast as it can. With --hold-port, one more connection from client port H
  stays established until stdin closes. Prints `ready` when the listener is up (and the held
  connection made), then `done N SECONDS` when the N connections are through, and waits for
  stdin to close when --wait is given.
"""

import argparse
import socket
import struct
import sys
import time


def lifecycle(kind, listener, server_port, client_port):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", client_port))
    c.connect(("127.0.0.1", server_port))
    s, _ = listener.accept()
    if kind == 0:
        c.close()
        s.recv(1)
        s.close()
    elif kind == 1:
        s.close()
        c.recv(1)
        c.close()
    elif kind == 2:
        c.shutdown(socket.SHUT_WR)
        s.recv(1)
        s.sendall(b"x")
        c.recv(1)
        s.close()
        c.recv(1)
        c.close()
    else:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        try:
            s.recv(1)
        except ConnectionResetError:
            pass
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--client-base", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--hold-port", type=int, default=0)
    p.add_argument("--wait", action="store_true")
    a = p.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", a.server_port))
    listener.listen(1024)
    held = None
    if a.hold_port:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("127.0.0.1", a.hold_port))
        c.connect(("127.0.0.1", a.server_port))
        s, _ = listener.accept()
        held = (c, s)
    print("ready", flush=True)
    if a.wait and a.count == 0:
        sys.stdin.read()
        return
    start = time.monotonic()
    for i in range(a.count):
        if a.rate > 0:
            due = start + i / a.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        lifecycle(i % 4, listener, a.server_port, a.client_base + i)
    print("done %d %.3f" % (a.count, time.monotonic() - start), flush=True)
    if a.wait:
        sys.stdin.read()
    del held


if __name__ == "__main__":
    main()
