#!/usr/bin/env python3
"""Holds many TCP connections to an exporter for ExportHardeningTests, from a process of its own
(its own descriptor limit, raised here, and no threads of the test runner).

usage: connection_holder.py MODE PORT COUNT SECONDS
  idle       connect COUNT times and send nothing
  slowloris  connect COUNT times and send a request head one byte a second on each, never
             finishing it

Prints `ready CONNECTED FAILED` once every connection is made (or failed), then watches them
until SECONDS have passed or stdin closes, and prints one JSON line: how many the server closed,
when (seconds after ready), and how many got a 408 first. Every loop is bounded in time.
"""
import json
import os
import resource
import select
import socket
import sys
import time


def main():
    mode, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    socks, failed = [], 0
    connect_deadline = time.monotonic() + 30
    for _ in range(count):
        if time.monotonic() > connect_deadline:
            failed += 1
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            s.close()
            failed += 1
    print("ready %d %d" % (len(socks), failed), flush=True)
    start = time.monotonic()
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000
    sent = {s.fileno(): 0 for s in socks}
    got = {s.fileno(): b"" for s in socks}
    closed_at = {}
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    poller.register(sys.stdin, select.POLLIN)
    by_fd = {s.fileno(): s for s in socks}
    next_tick = start
    stdin_open = True
    while time.monotonic() - start < seconds and stdin_open:
        now = time.monotonic()
        if mode == "slowloris" and now >= next_tick:
            next_tick += 1.0
            for fd, s in by_fd.items():
                if fd in closed_at:
                    continue
                try:
                    s.send(request[sent[fd]:sent[fd] + 1])
                    sent[fd] += 1
                except OSError:
                    closed_at[fd] = now - start
        timeout_ms = max(0, int((next_tick - time.monotonic()) * 1000)) if mode == "slowloris" else 200
        for fd, _ in poller.poll(min(timeout_ms, 200)):
            if fd == sys.stdin.fileno():
                if not os.read(fd, 4096):
                    stdin_open = False
                continue
            s = by_fd[fd]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                got[fd] += data[:64]
            else:
                closed_at.setdefault(fd, time.monotonic() - start)
                poller.unregister(s)
    times = sorted(closed_at.values())
    print(json.dumps({
        "connected": len(socks),
        "failed": failed,
        "closed": len(closed_at),
        "status408": sum(1 for v in got.values() if v.startswith(b"HTTP/1.1 408")),
        "firstClose": times[0] if times else None,
        "lastClose": times[-1] if times else None,
    }), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
