#!/usr/bin/env python3
"""Hold sockets for the filter-language parity test (FilterParityTests.swift), inside a network
namespace of the test's own: fixed ports, so the expressions can name them.

Needs root and, on lo, 127.0.0.1, ::1, 10.1.2.3 and fd00:1::5 (the test adds the last two).
Prints one line `ready {json}` when every socket is in place, then holds them until stdin
reaches EOF or --hold seconds pass. The JSON has the pid and the ports of the explicitly bound
client sockets.

What the sockets give the expressions to tell apart:
  listeners   127.0.0.1:1000, 10.1.2.3:1000, 0.0.0.0:22, [::1]:2000, [::]:8080 (v6 only),
              [::]:5000 (dual stack), 127.0.0.1:6000 bound to lo, and one on port 0
              (kernel-chosen: autobound)
  ESTABLISHED 127.0.0.1 -> 1000, ::1 -> 2000, 127.0.0.1 -> [::]:5000 (v4-mapped server end),
              10.1.2.3 -> 10.1.2.3:1000, fd00:1::5 -> [::1]:2000, 127.0.0.1 -> 22,
              clients bound to 127.0.0.1:40000 (ephemeral range, explicit) and :1500
              (outside it), a client with SO_MARK 0x10 and one with 0x13, a client bound to lo
  TIME_WAIT   127.0.0.1 -> 1000 and ::1 -> 2000
  FIN_WAIT2 / CLOSE_WAIT  a half-closed pair to 1000
  SYN_SENT    against a full backlog-0 listener on 127.0.0.1:7000
  cgroup      a listener 127.0.0.1:9000 and a client to it, made inside --cgroup
  UDP         127.0.0.1:53, [::1]:5353, 127.0.0.1 -> :53 connected, [::1] -> :5353 connected
"""
import argparse
import json
import os
import select
import socket
import sys
import time

keep = []


def listener(fam, addr, port, v6only=True, backlog=16, device=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    s.bind((addr, port))
    s.listen(backlog)
    keep.append(s)
    return s


def connect(lst, addr, fam=None, bind=None, mark=None, device=None):
    c = socket.socket(fam or lst.family, socket.SOCK_STREAM)
    if mark is not None:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
    if device:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    if bind:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(bind)
    c.connect((addr, lst.getsockname()[1]))
    a, _ = lst.accept()
    keep.extend([c, a])
    return c, a


def tcp_state(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def wait(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not check():
        time.sleep(0.02)


def move_to(cgroup):
    with open(os.path.join(cgroup, 'cgroup.procs'), 'w') as f:
        f.write(str(os.getpid()))


def build(args):
    v4, v6 = '127.0.0.1', '::1'
    l1000 = listener(socket.AF_INET, v4, 1000)
    l1000b = listener(socket.AF_INET, '10.1.2.3', 1000)
    l22 = listener(socket.AF_INET, '0.0.0.0', 22)
    l2000 = listener(socket.AF_INET6, v6, 2000)
    listener(socket.AF_INET6, '::', 8080)
    l5000 = listener(socket.AF_INET6, '::', 5000, v6only=False)
    l6000 = listener(socket.AF_INET, v4, 6000, device='lo')
    listener(socket.AF_INET, v4, 0)

    connect(l1000, v4)
    connect(l2000, v6)
    connect(l5000, v4, fam=socket.AF_INET)
    connect(l1000b, '10.1.2.3')
    connect(l2000, v6, bind=('fd00:1::5', 0))
    connect(l22, v4)
    connect(l1000, v4, bind=(v4, 40000))
    connect(l1000, v4, bind=(v4, 1500))
    connect(l2000, v6, mark=0x10)
    connect(l1000, v4, mark=0x13)
    connect(l6000, v4, device='lo')

    # TIME_WAIT: the client closes first.
    for lst, addr in ((l1000, v4), (l2000, v6)):
        c, a = connect(lst, addr)
        c.close()
        time.sleep(0.05)
        a.close()
        keep.remove(c)
        keep.remove(a)

    # FIN_WAIT2 here, CLOSE_WAIT on the peer.
    c, a = connect(l1000, v4)
    c.shutdown(socket.SHUT_WR)
    wait(lambda: tcp_state(c) == 5 and tcp_state(a) == 8)

    # SYN_SENT: the backlog-0 listener's queue holds one connection already.
    l0 = listener(socket.AF_INET, v4, 7000, backlog=0)
    q = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    q.connect((v4, 7000))
    keep.append(q)
    time.sleep(0.05)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((v4, 7000))
    except BlockingIOError:
        pass
    keep.append(s)
    wait(lambda: tcp_state(s) == 2)
    del l0

    # Sockets made inside the test's cgroup, then back to where we were.
    if args.cgroup:
        with open('/proc/self/cgroup') as f:
            home = [l for l in f.read().splitlines() if l.startswith('0::')][0][3:]
        move_to(args.cgroup)
        l9000 = listener(socket.AF_INET, v4, 9000)
        connect(l9000, v4)
        move_to(args.cgroup_root + home)

    # UDP.
    u53 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u53.bind((v4, 53))
    u5353 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u5353.bind((v6, 5353))
    uc4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uc4.connect((v4, 53))
    uc6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    uc6.connect((v6, 5353))
    keep.extend([u53, u5353, uc4, uc6])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--hold', type=float, default=120.0)
    ap.add_argument('--cgroup', help='a cgroup v2 directory to make two sockets in')
    ap.add_argument('--cgroup-root', default='', help='the cgroup2 mount point')
    args = ap.parse_args()
    build(args)
    time.sleep(0.2)
    print('ready ' + json.dumps({'pid': os.getpid()}), flush=True)
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        r, _, _ = select.select([sys.stdin], [], [], min(1.0, deadline - time.monotonic()))
        if r and not sys.stdin.buffer.read1(4096):
            break


if __name__ == '__main__':
    main()
