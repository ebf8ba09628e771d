#!/usr/bin/env python3
"""A hostile local user, for swstat's hostile-input tests.

Run as an unprivileged user (the test starts it as nobody inside a network namespace of its
own). It re-executes itself with an argv[0] that holds terminal escape sequences (OSC 52 to
write the clipboard, OSC 0 to set the window title, clear screen, leave the alternate screen,
reset), a line break followed by a forged row, a C1 control and bytes that are not UTF-8; then
it holds:

- a TCP listener on 127.0.0.1 and a connected pair to it, and a UDP socket;
- an abstract UNIX socket named "\\0x\\ny" (a line break in /proc/net/unix), and one whose name
  forges a whole /proc/net/unix line;
- a UNIX socket bound to a path holding escapes, blanks and bidirectional controls.

It prints one line, `ready {json}`, with its pid, ports, the argv[0] bytes (hex) and the socket
names, then waits until stdin closes.
"""

import json
import os
import socket
import sys
import tempfile

ARGV0 = (
    b"\x1b]52;c;aWQK\x07\x1b]0;pwn\x07\x1b[2J\x1b[?1049l\x1bc\xc2\x9b31m\xff"
    b"\nFORGED 9 9 1.2.3.4:1 5.6.7.8:2 ESTABLISHED"
)
ABSTRACT = b"\0x\ny"
FORGED_LINE = (
    b"\0z\n0000000000000000: 00000002 00000000 00010000 0001 01 424242 /forged/by/nobody"
)


def child():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    server, _ = listener.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))

    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(ABSTRACT)
    abstract.listen(4)
    forged = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    forged.bind(FORGED_LINE)
    folder = tempfile.mkdtemp(prefix="swstat-hostile-")
    path = os.path.join(folder.encode(), b"\x1b]0;pwn\x07 a b\xe2\x80\xaeevil")
    named = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    named.bind(path)
    named.listen(4)

    ready = {
        "pid": os.getpid(),
        "port": port,
        "client_port": client.getsockname()[1],
        "udp_port": udp.getsockname()[1],
        "argv0": ARGV0.hex(),
        "abstract": ABSTRACT.hex(),
        "forged": FORGED_LINE.hex(),
        "path": path.hex(),
    }
    print("ready " + json.dumps(ready), flush=True)
    opened = []
    try:
        # "open": one more listener, so that live modes see a socket of ours appear.
        for line in sys.stdin:
            if line.strip() == "open":
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                s.listen(4)
                opened.append(s)
                print("opened %d" % s.getsockname()[1], flush=True)
    finally:
        os.unlink(path)
        os.rmdir(folder)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child()
    else:
        # execv takes bytes: argv[0] need not be UTF-8.
        os.execv(sys.executable, [ARGV0, os.path.abspath(__file__), "--child"])
