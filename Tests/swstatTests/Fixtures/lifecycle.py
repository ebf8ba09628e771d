#!/usr/bin/env python3
"""Scripted TCP lifecycles on 127.0.0.1 for swstat --events tests.

  lifecycle.py steps  listen; connect; the client half-closes (shutdown SHUT_WR); the server
                      closes; the client closes — with a pause of --pause seconds between steps.
  lifecycle.py brief  listen, then open and close one connection within a few milliseconds.
  lifecycle.py burst  listen, then open and abort (RST, no TIME_WAIT) --pause × 1000
                      connections, as fast as it can (20 s at most): a flood of destroy
                      notifications.
  lifecycle.py hold   listen, and hold the listener for --pause seconds.

Prints `port N` (the listener's port) first and `done` at the end, one line each, flushed.
Every step is bounded; nothing outlives the script but the kernel's TIME_WAIT sockets.
"""
import socket
import struct
import sys
import time

mode = sys.argv[1]
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5

lst = socket.socket()
lst.bind(('127.0.0.1', 0))
lst.listen(8)
port = lst.getsockname()[1]
print(f'port {port}', flush=True)
if mode != 'burst':
    time.sleep(pause)

if mode == 'steps':
    c = socket.create_connection(('127.0.0.1', port))
    a, _ = lst.accept()
    print(f'client {c.getsockname()[1]}', flush=True)
    time.sleep(pause)
    c.shutdown(socket.SHUT_WR)          # FIN_WAIT2 here, CLOSE_WAIT on the server end
    time.sleep(pause)
    a.close()                           # the server end goes LAST_ACK, then away
    time.sleep(pause)
    c.close()                           # the client end is in TIME_WAIT already
    time.sleep(pause)
    lst.close()
    time.sleep(pause)
elif mode == 'burst':
    deadline = time.monotonic() + 20
    n = 0
    abort = struct.pack('ii', 1, 0)     # SO_LINGER on, 0 s: close() sends RST
    while n < pause * 1000 and time.monotonic() < deadline:
        c = socket.create_connection(('127.0.0.1', port))
        a, _ = lst.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
        c.close()
        a.close()
        n += 1
    print(f'aborted {n}', flush=True)
    lst.close()
elif mode == 'hold':
    pass
elif mode == 'brief':
    c = socket.create_connection(('127.0.0.1', port))
    a, _ = lst.accept()
    print(f'client {c.getsockname()[1]}', flush=True)
    c.close()
    a.close()
    time.sleep(pause)
    lst.close()
    time.sleep(pause)
print('done', flush=True)
