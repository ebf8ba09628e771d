#!/usr/bin/env python3
"""Hold loopback sockets in every TCP state loopback can hold, for swstat's tests.

Prints one line `ready {json}` on stdout when every socket is in place, then holds them until
stdin reaches EOF, SIGTERM/SIGINT, or --hold seconds pass. The JSON lists each socket the
tests should see: proto ("tcp", "tcp6", "udp", "udp6"), local and remote as netstat -n prints
them, the state netstat prints, and whether a process owns it.

Only 127.0.0.0/8 and ::1 are used. Ports are ephemeral (bind to port 0), so several copies can
run at once; --fork makes a child share every socket (two owners; netstat shows the lower pid).
"""
import argparse
import errno
import json
import os
import select
import signal
import socket
import sys
import time

SMALL = 4096
keep = []
expected = []


def small(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)


def endpoint(fam, addr, port):
    if port == 0 and addr in ('0.0.0.0', '::'):
        port = '*'
    if fam == socket.AF_INET6 and addr.startswith('::ffff:') and '.' in addr:
        addr = addr[len('::ffff:'):]
    return f'{addr}:{port}'


def note(sock, proto, state, owned=True, peer=None):
    fam = sock.family
    local = sock.getsockname()
    if peer is None:
        try:
            peer = sock.getpeername()
        except OSError:
            peer = ('0.0.0.0', 0) if fam == socket.AF_INET else ('::', 0)
    expected.append({
        'proto': proto + ('6' if fam == socket.AF_INET6 else ''),
        'local': endpoint(fam, local[0], local[1]),
        'remote': endpoint(fam, peer[0], peer[1]),
        'local_port': local[1], 'remote_port': peer[1],
        'state': state, 'owned': owned,
    })


def listener(fam, addr, backlog=16, v6only=True, buffers=False):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if buffers:
        small(s)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind((addr, 0))
    s.listen(backlog)
    keep.append(s)
    return s


def pair(lst, addr, buffers=False, fam=None):
    c = socket.socket(fam or lst.family, socket.SOCK_STREAM)
    if buffers:
        small(c)
    c.connect((addr, lst.getsockname()[1]))
    a, _ = lst.accept()
    keep.extend([c, a])
    return c, a


def fill(sock, limit_seconds=5.0):
    """Send until the peer's window and our send buffer are full."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + limit_seconds
    idle_since = None
    while time.monotonic() < deadline:
        try:
            sent += sock.send(b'x' * 65536)
            idle_since = None
        except BlockingIOError:
            if idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 0.3:
                break
            time.sleep(0.02)
    return sent


def wait_for_state(sock_pair_desc, check, limit_seconds=5.0):
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def tcp_state(sock):
    # struct tcp_info starts with tcpi_state (u8).
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return info[0]


def build(args):
    v4, v6 = '127.0.0.1', '::1'

    # LISTEN: IPv4, IPv6, and a dual-stack listener on a v4-mapped loopback address.
    l4 = listener(socket.AF_INET, v4)
    note(l4, 'tcp', 'LISTEN')
    l6 = listener(socket.AF_INET6, v6)
    note(l6, 'tcp', 'LISTEN')
    lm = listener(socket.AF_INET6, '::ffff:127.0.0.1', v6only=False)
    note(lm, 'tcp', 'LISTEN')

    # ESTABLISHED, with 100 unread bytes on the server end.
    c, a = pair(l4, v4)
    c.sendall(b'y' * 100)
    note(c, 'tcp', 'ESTABLISHED')
    note(a, 'tcp', 'ESTABLISHED')
    c6, a6 = pair(l6, v6)
    note(c6, 'tcp', 'ESTABLISHED')
    note(a6, 'tcp', 'ESTABLISHED')
    # A v4-mapped connection: tcp6 rows that netstat prints as IPv4.
    cm, am = pair(lm, '::ffff:127.0.0.1', fam=socket.AF_INET6)
    note(cm, 'tcp', 'ESTABLISHED')
    note(am, 'tcp', 'ESTABLISHED')

    # TIME_WAIT: the client closes first (active close), then the server.
    for lst, addr in ((l4, v4), (l6, v6)):
        c, a = pair(lst, addr)
        local, peer = c.getsockname(), c.getpeername()
        fam = c.family
        c.close()
        time.sleep(0.05)
        a.close()
        keep.remove(c)
        keep.remove(a)
        expected.append({
            'proto': 'tcp' + ('6' if fam == socket.AF_INET6 else ''),
            'local': endpoint(fam, local[0], local[1]), 'remote': endpoint(fam, peer[0], peer[1]),
            'local_port': local[1], 'remote_port': peer[1], 'state': 'TIME_WAIT', 'owned': False,
        })

    # Half-close: shutdown(SHUT_WR) gives FIN_WAIT2 here and CLOSE_WAIT on the peer.
    for lst, addr in ((l4, v4), (l6, v6)):
        c, a = pair(lst, addr)
        c.shutdown(socket.SHUT_WR)
        wait_for_state('half-close', lambda: tcp_state(c) == 5 and tcp_state(a) == 8)
        note(c, 'tcp', 'FIN_WAIT2')
        note(a, 'tcp', 'CLOSE_WAIT')

    # SYN_SENT: a backlog-0 listener whose accept queue already holds one connection drops
    # further SYNs, so their connect() stays in SYN_SENT.
    l0 = listener(socket.AF_INET, v4, backlog=0)
    note(l0, 'tcp', 'LISTEN')
    q = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    q.connect((v4, l0.getsockname()[1]))
    keep.append(q)
    note(q, 'tcp', 'ESTABLISHED')
    time.sleep(0.05)
    expected.append({  # the queued, not yet accepted server end: no fd, no owner
        'proto': 'tcp', 'local': endpoint(socket.AF_INET, v4, l0.getsockname()[1]),
        'remote': endpoint(socket.AF_INET, v4, q.getsockname()[1]),
        'local_port': l0.getsockname()[1], 'remote_port': q.getsockname()[1],
        'state': 'ESTABLISHED', 'owned': False,
    })
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((v4, l0.getsockname()[1]))
    except BlockingIOError:
        pass
    keep.append(s)
    note(s, 'tcp', 'SYN_SENT', peer=(v4, l0.getsockname()[1]))

    # FIN_WAIT1: the FIN waits behind data the peer's full receive window blocks.
    lb = listener(socket.AF_INET, v4, buffers=True)
    note(lb, 'tcp', 'LISTEN')
    c, a = pair(lb, v4, buffers=True)
    fill(c)
    c.shutdown(socket.SHUT_WR)
    wait_for_state('fin-wait1', lambda: tcp_state(c) == 4)
    note(c, 'tcp', 'FIN_WAIT1')
    note(a, 'tcp', 'ESTABLISHED')

    # LAST_ACK: the client half-closes and never reads; the server fills the client's window
    # and then half-closes too, so its FIN waits behind the data.
    c, a = pair(lb, v4, buffers=True)
    c.shutdown(socket.SHUT_WR)
    wait_for_state('close-wait', lambda: tcp_state(a) == 8)
    fill(a)
    a.shutdown(socket.SHUT_WR)
    wait_for_state('last-ack', lambda: tcp_state(a) == 9)
    note(c, 'tcp', 'FIN_WAIT2')
    note(a, 'tcp', 'LAST_ACK')

    # CLOSING: both ends fill each other's window and half-close (each FIN_WAIT1); then one end
    # reads everything and gets the peer's FIN while its own FIN is still unacknowledged. The
    # peer's FIN is acknowledged, so the peer moves on to FIN_WAIT2.
    c, a = pair(lb, v4, buffers=True)
    fill(c)
    fill(a)
    c.shutdown(socket.SHUT_WR)
    a.shutdown(socket.SHUT_WR)
    c.setblocking(False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if c.recv(65536) == b'':
                break
        except BlockingIOError:
            time.sleep(0.02)
    wait_for_state('closing', lambda: tcp_state(c) == 11)
    wait_for_state('fin-wait2', lambda: tcp_state(a) == 5)
    note(c, 'tcp', 'CLOSING')
    note(a, 'tcp', 'FIN_WAIT2')

    # UDP: bound with a queued datagram, connected, IPv6 bound and connected.
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u1.bind((v4, 0))
    keep.append(u1)
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2.bind((v4, 0))
    u2.connect(u1.getsockname())
    keep.append(u2)
    u2.send(b'hello')
    note(u1, 'udp', '')
    note(u2, 'udp', 'ESTABLISHED')
    u3 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u3.bind((v6, 0))
    keep.append(u3)
    u4 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u4.bind((v6, 0))
    u4.connect(u3.getsockname()[:2])
    keep.append(u4)
    note(u3, 'udp', '')
    note(u4, 'udp', 'ESTABLISHED')


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--hold', type=float, default=120.0, help='seconds to hold (default 120)')
    ap.add_argument('--fork', action='store_true', help='share every socket with a child')
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    build(args)
    time.sleep(0.2)  # let retransmit and probe timers settle into their states
    child = 0
    if args.fork:
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            deadline = time.monotonic() + args.hold
            while time.monotonic() < deadline and os.getppid() != 1:
                time.sleep(0.1)
            os._exit(0)
    print('ready ' + json.dumps({'pid': os.getpid(), 'child': child, 'sockets': expected}),
          flush=True)
    deadline = time.monotonic() + args.hold
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([sys.stdin], [], [], min(1.0, deadline - time.monotonic()))
            if r and not sys.stdin.buffer.read1(4096):
                break
    finally:
        if child:
            try:
                os.kill(child, signal.SIGTERM)
                os.waitpid(child, 0)
            except OSError:
                pass


if __name__ == '__main__':
    main()
