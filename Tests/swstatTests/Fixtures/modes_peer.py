#!/usr/bin/env python3
"""A second owner of sockets for ModesFiltersTests, on addresses of its own.

  modes_peer.py V4 V6 [--hold SECONDS]

Holds, on the IPv4 address V4 (a 127.0.0.0/8 address) and the IPv6 address V6 (one the test put
on lo): a TCP listener with one connection to it (client and accepted ends), the same in IPv6,
an unconnected UDP socket on V4 and a UDP socket on V6 with a second one connected to it.
Prints `ready {json}` when they are in place, in sockstates.py's form: the process id and each
socket's proto, local and remote as netstat -n prints them, ports, the state netstat prints
(blank for unconnected UDP) and `owned`.

Then, one command per line on stdin:
  open   opens as many new sockets of the same shapes (the "churn"), prints `opened {json}`;
  close  aborts them (SO_LINGER 0: RST, so no TIME_WAIT nor closing states), prints `closed`.
EOF on stdin, SIGTERM or --hold seconds end it. Every client is bound to V4 or V6 before it
connects, so each socket's addresses are the peer's own.
"""
import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time


def endpoint(fam, addr, port):
    if port == 0 and addr in ('0.0.0.0', '::'):
        port = '*'
    if fam == socket.AF_INET6 and addr.startswith('::ffff:') and '.' in addr:
        addr = addr[len('::ffff:'):]
    return f'{addr}:{port}'


def describe(sock, proto, state):
    fam = sock.family
    local = sock.getsockname()
    try:
        peer = sock.getpeername()
    except OSError:
        peer = ('0.0.0.0', 0) if fam == socket.AF_INET else ('::', 0)
    return {
        'proto': proto + ('6' if fam == socket.AF_INET6 else ''),
        'local': endpoint(fam, local[0], local[1]),
        'remote': endpoint(fam, peer[0], peer[1]),
        'local_port': local[1], 'remote_port': peer[1],
        'state': state, 'owned': True,
    }


def tcp_set(fam, addr, held, notes):
    lst = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_INET6:
        lst.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    lst.bind((addr, 0))
    lst.listen(8)
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.bind((addr, 0))
    c.connect((addr, lst.getsockname()[1]))
    a, _ = lst.accept()
    held.extend([lst, c, a])
    notes.append(describe(lst, 'tcp', 'LISTEN'))
    notes.append(describe(c, 'tcp', 'ESTABLISHED'))
    notes.append(describe(a, 'tcp', 'ESTABLISHED'))


def udp_set(v4, v6, held, notes):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((v4, 0))
    b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    b.bind((v6, 0))
    k = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    k.bind((v6, 0))
    k.connect(b.getsockname()[:2])
    held.extend([u, b, k])
    notes.append(describe(u, 'udp', ''))
    notes.append(describe(b, 'udp', ''))
    notes.append(describe(k, 'udp', 'ESTABLISHED'))


def make(v4, v6):
    held, notes = [], []
    tcp_set(socket.AF_INET, v4, held, notes)
    tcp_set(socket.AF_INET6, v6, held, notes)
    udp_set(v4, v6, held, notes)
    return held, notes


def abort(held):
    linger = struct.pack('ii', 1, 0)
    for s in held:
        if s.type == socket.SOCK_STREAM:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
    for s in held:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('v4')
    ap.add_argument('v6')
    ap.add_argument('--hold', type=float, default=120.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    static, notes = make(args.v4, args.v6)
    print('ready ' + json.dumps({'pid': os.getpid(), 'sockets': notes}), flush=True)
    churn = []
    deadline = time.monotonic() + args.hold
    buffered = b''
    while time.monotonic() < deadline:
        r, _, _ = select.select([sys.stdin], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
        if not r:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            break
        buffered += chunk
        while b'\n' in buffered:
            line, buffered = buffered.split(b'\n', 1)
            word = line.strip().decode()
            if word == 'open' and not churn:
                churn, opened = make(args.v4, args.v6)
                print('opened ' + json.dumps({'sockets': opened}), flush=True)
            elif word == 'close':
                abort(churn)
                churn = []
                print('closed', flush=True)
    abort(churn)
    abort(static)


if __name__ == '__main__':
    main()
