#!/usr/bin/env python3
"""Hold a big table of established loopback TCP connections, spread over worker processes
(the open-file limit is per process), until SIGTERM or --hold seconds pass.

  bigtable.py --pairs N [--workers W] [--hold S]

Each worker raises its soft open-file limit to the hard one, listens on 127.0.0.1 and ::1
(ports of its own) and opens its share of the pairs, half to each (2 sockets a pair). Prints
`ready SOCKETS` once every worker is done, or `failed: ...` and exits 1. 127.0.0.1 and ::1 only;
every step is bounded (60 s to build the table).
"""
import argparse
import ctypes
import os
import resource
import signal
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument('--pairs', type=int, required=True)
ap.add_argument('--workers', type=int, default=0, help='default: enough for 15,000 fds each')
ap.add_argument('--hold', type=float, default=300)
args = ap.parse_args()
workers = args.workers or max(1, -(-2 * args.pairs // 15000))


def worker(pairs, ready_fd):
    # Ended with the parent, whatever ends it (prctl PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    deadline = time.monotonic() + 60
    for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
        share = pairs // 2 if family == socket.AF_INET else pairs - pairs // 2
        lst = socket.socket(family)
        lst.bind((host, 0))
        lst.listen(4096)
        held.append(lst)
        port = lst.getsockname()[1]
        for _ in range(share):
            if time.monotonic() > deadline:
                os.write(ready_fd, b'T')
                os._exit(1)
            c = socket.create_connection((host, port))
            a, _ = lst.accept()
            held += [c, a]
    os.write(ready_fd, b'R')
    signal.sigwait([signal.SIGTERM])
    os._exit(0)


# A parent started from a thread that blocks signals (a test runner's) inherits its mask.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
parent = os.getpid()
r, w = os.pipe()
pids = []
for i in range(workers):
    share = args.pairs // workers + (1 if i < args.pairs % workers else 0)
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        os.close(r)
        worker(share, w)
    pids.append(pid)
os.close(w)


def stop(code=0):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        os.waitpid(pid, 0)
    sys.exit(code)


signal.signal(signal.SIGTERM, lambda *_: stop())
signal.signal(signal.SIGINT, lambda *_: stop())
got = b''
while len(got) < workers:
    chunk = os.read(r, workers)
    if not chunk:
        break
    got += chunk
if got != b'R' * workers:
    print(f'failed: {got.count(b"R")} of {workers} workers ready', flush=True)
    stop(1)
print(f'ready {2 * args.pairs + 2 * workers}', flush=True)
time.sleep(args.hold)
stop()
