#!/usr/bin/env python3
"""UNIX domain and raw sockets for swstat's -x/-w parity tests: stream, dgram and seqpacket,
listening and connected, path and abstract names, plus raw IPv4/IPv6 sockets (root only,
loopback only, nothing sent). Prints one line "ready <json>" and holds the sockets until
stdin closes."""
import json, os, socket, sys, tempfile

tag = "swstat-x%d" % os.getpid()
folder = tempfile.mkdtemp(prefix=tag)
keep = []
made = {"paths": [], "abstract": [], "raw": 0}

def path(name):
    p = os.path.join(folder, name)
    made["paths"].append(p)
    return p

def listener(kind, address):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(address)
    s.listen(8)
    keep.append(s)
    return s

def connect(kind, address):
    c = socket.socket(socket.AF_UNIX, kind)
    c.connect(address)
    keep.append(c)
    return c

# Stream: a listener with one accepted connection and one still in the accept queue.
sp = path("stream.sock")
ls = listener(socket.SOCK_STREAM, sp)
connect(socket.SOCK_STREAM, sp)
a, _ = ls.accept(); keep.append(a)
connect(socket.SOCK_STREAM, sp)          # not accepted: the kernel's embryonic peer has no inode
# Abstract stream listener, connected and accepted.
abs_name = "\0" + tag + "-abstract"
made["abstract"].append(tag + "-abstract")
la = listener(socket.SOCK_STREAM, abs_name)
connect(socket.SOCK_STREAM, abs_name)
a, _ = la.accept(); keep.append(a)
# Seqpacket: listener, connected, accepted.
qp = path("seqpacket.sock")
lq = listener(socket.SOCK_SEQPACKET, qp)
connect(socket.SOCK_SEQPACKET, qp)
a, _ = lq.accept(); keep.append(a)
# Datagram: a bound socket, a client connected to it, and an unbound one.
dp = path("dgram.sock")
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind(dp); keep.append(d)
connect(socket.SOCK_DGRAM, dp)
keep.append(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
# Unnamed pairs.
keep.extend(socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
keep.extend(socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))

if "--raw" in sys.argv:
    # Protocols no loopback traffic carries (the tests' own name lookups send UDP and draw ICMP
    # errors, which raw UDP/ICMP sockets would queue): GRE (47, named in /etc/protocols) and
    # the experimental 253 (unnamed).
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); keep.append(r)
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    r.bind(("127.0.0.1", 0)); r.connect(("127.0.0.1", 0)); keep.append(r)
    r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 47); keep.append(r)
    r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 253)
    r.bind(("::1", 0)); r.connect(("::1", 0)); keep.append(r)
    made["raw"] = 4
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)   # IPPROTO_UDPLITE
        u.bind(("127.0.0.1", 0)); keep.append(u)
        made["udplite"] = u.getsockname()[1]
    except OSError:
        pass

print("ready " + json.dumps(made), flush=True)
sys.stdin.read()
for p in made["paths"]:
    try: os.unlink(p)
    except OSError: pass
os.rmdir(folder)
