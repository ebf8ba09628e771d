#!/usr/bin/env python3
"""Open and close loopback TCP connections for --seconds (bounded), about --rate per second,
keeping --keep of them open at a time, so a socket table churns. 127.0.0.1 only. With --reset
the connections are aborted (SO_LINGER 0): no TIME_WAIT sockets pile up for their 60 s, so the
table's size is steady from the start."""
import argparse
import socket
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument('--seconds', type=float, default=60)
ap.add_argument('--rate', type=int, default=200)
ap.add_argument('--keep', type=int, default=100)
ap.add_argument('--reset', action='store_true')
args = ap.parse_args()

lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(('127.0.0.1', 0))
lst.listen(512)
port = lst.getsockname()[1]
print(f'port {port}', flush=True)
held = []
deadline = time.monotonic() + args.seconds
n = 0
while time.monotonic() < deadline:
    start = time.monotonic()
    for _ in range(max(1, args.rate // 10)):
        c = socket.create_connection(('127.0.0.1', port))
        a, _ = lst.accept()
        held.append((c, a))
        n += 1
        if len(held) > args.keep:
            c0, a0 = held.pop(0)
            if args.reset:
                c0.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            c0.close()
            a0.close()
    time.sleep(max(0.0, 0.1 - (time.monotonic() - start)))
print(f'done {n}', flush=True)
