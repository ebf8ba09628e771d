#!/usr/bin/env python3
"""Writes the seed corpora under Tests/Fuzz/corpus/ (`make fuzz` and `make fuzz-smoke` start
from them). Real inputs come from the captures in Tests/SwstatCoreTests/Fixtures/captured/,
cut into single messages and short dumps; hand-made ones cover what a capture never shows.
Run it again after changing a capture; the files are small and kept in git. Crash inputs kept
as regressions live beside the seeds as `regress-*` and are not touched here."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURED = os.path.join(HERE, "..", "SwstatCoreTests", "Fixtures", "captured")
CORPUS = os.path.join(HERE, "corpus")

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, SOCK_DIAG_BY_FAMILY = 1, 2, 3, 20
NLM_F_MULTI, NLM_F_DUMP_INTR = 2, 16


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def messages(dump):
    """Splits a recorded dump into its netlink messages (each with its padding)."""
    out, i = [], 0
    while i + 16 <= len(dump):
        length = struct.unpack_from("<I", dump, i)[0]
        step = (length + 3) & ~3
        out.append(dump[i:i + step])
        i += step
    return out


def nlmsg(kind, payload, flags=NLM_F_MULTI, length=None):
    n = 16 + len(payload) if length is None else length
    body = struct.pack("<IHHII", n, kind, flags, 0, 0) + payload
    return body + b"\0" * (-len(body) % 4)


def attr(kind, payload, length=None):
    n = 4 + len(payload) if length is None else length
    body = struct.pack("<HH", n, kind) + payload
    return body + b"\0" * (-len(body) % 4)


def diag_msg(family=2, state=10, sport=8000, dport=0, inode=1234):
    # struct inet_diag_msg: family state timer retrans, id (sport dport src[16] dst[16] if
    # cookie[2]), expires rqueue wqueue uid inode.
    ident = struct.pack(">HH", sport, dport) + bytes([127, 0, 0, 1]) + b"\0" * 12
    ident += bytes([127, 0, 0, 1]) + b"\0" * 12 + struct.pack("<III", 0, 0x11, 0x22)
    return bytes([family, state, 0, 0]) + ident + struct.pack("<IIIII", 0, 0, 128, 0, inode)


def diag_parse_seeds():
    done = nlmsg(NLMSG_DONE, struct.pack("<i", 0))
    for table in ["tcp", "tcp6", "udp", "udp6"]:
        with open(os.path.join(CAPTURED, table + ".nldump"), "rb") as f:
            msgs = messages(f.read())
        write("diag_parse", f"{table}-first", msgs[0])
        write("diag_parse", f"{table}-first-done", msgs[0] + done)
        write("diag_parse", f"{table}-head", b"".join(msgs[:4]) + msgs[-1])
        if table != "tcp":
            write("diag_parse", f"{table}-whole", b"".join(msgs))
    one = diag_msg()
    write("diag_parse", "done-only", done)
    write("diag_parse", "error-enoent", nlmsg(NLMSG_ERROR, struct.pack("<i", -2) + b"\0" * 16))
    write("diag_parse", "error-short", nlmsg(NLMSG_ERROR, b"\xfe\xff"))
    write("diag_parse", "error-zero", nlmsg(NLMSG_ERROR, struct.pack("<i", 0) + b"\0" * 16))
    write("diag_parse", "noop-then-msg", nlmsg(NLMSG_NOOP, b"") + nlmsg(SOCK_DIAG_BY_FAMILY, one) + done)
    write("diag_parse", "error-mid-dump", nlmsg(SOCK_DIAG_BY_FAMILY, one) + nlmsg(NLMSG_ERROR, struct.pack("<i", -4) + b"\0" * 16))
    write("diag_parse", "done-then-msg", done + nlmsg(SOCK_DIAG_BY_FAMILY, one))
    write("diag_parse", "dump-intr", nlmsg(SOCK_DIAG_BY_FAMILY, one, NLM_F_MULTI | NLM_F_DUMP_INTR) + done)
    write("diag_parse", "bad-family", nlmsg(SOCK_DIAG_BY_FAMILY, diag_msg(family=1)) + done)
    write("diag_parse", "short-payload", nlmsg(SOCK_DIAG_BY_FAMILY, one[:40]) + done)
    write("diag_parse", "length-past-end", nlmsg(SOCK_DIAG_BY_FAMILY, one, length=400))
    write("diag_parse", "length-below-header", nlmsg(SOCK_DIAG_BY_FAMILY, b"", length=8) + done)
    write("diag_parse", "header-cut", nlmsg(SOCK_DIAG_BY_FAMILY, one)[:10])
    # INET_DIAG_SHUTDOWN (8) with payloads of 0 to 9 bytes, an unknown attribute (200), an
    # attribute whose length runs past the message, and one shorter than its own header.
    for size in range(0, 10):
        write("diag_parse", f"shutdown-{size}", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(8, b"\3" * size)) + done)
    write("diag_parse", "attr-unknown", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(200, b"xyz")) + done)
    write("diag_parse", "attr-past-msg", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(8, b"\1", length=64)) + done)
    write("diag_parse", "attr-len-2", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(8, b"", length=2)) + done)
    # A message whose length is not a multiple of 4, last in the buffer: its padding is not there.
    unaligned = nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(8, b"\1"))
    write("diag_parse", "unaligned-last", unaligned[:16 + len(one) + 5])


EXTRAS = os.path.join(HERE, "..", "SwstatCoreTests", "Fixtures", "extras")


def extras_seeds():
    """The attributes --info, --memory and --cgroup ask for (swstat_diag_parse_extras and the
    destroy notifications' decoder): recorded ones, and each at lengths around its struct's:
    INET_DIAG_INFO (2) cut and padded, PAD (14) before it, CONG (4) empty, unterminated and
    long, VEGASINFO (3), DCTCPINFO (9), BBRINFO (16) one byte short and whole, SKMEMINFO (7)
    from 0 to 12 values, CGROUP_ID (21) short, whole and long."""
    done = nlmsg(NLMSG_DONE, struct.pack("<i", 0))
    for name in ["tcp", "udp"]:
        with open(os.path.join(EXTRAS, name + ".nldump"), "rb") as f:
            msgs = messages(f.read())
        write("diag_parse", f"extras-{name}-first", msgs[0] + done)
        write("diag_parse", f"extras-{name}-whole", b"".join(msgs))
    with open(os.path.join(EXTRAS, "destroy.nlmsgs"), "rb") as f:
        write("diag_parse", "extras-destroy", f.read())
    one = diag_msg(state=1, dport=443)
    info = bytes(range(256)) + bytes(range(24))  # 280 bytes, every offset distinct
    for size in [0, 1, 7, 8, 12, 103, 104, 105, 160, 231, 232, 236, 240, 279, 280, 281, 320]:
        body = (info * 2)[:size]
        write("diag_parse", f"info-{size}", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(2, body)) + done)
    write("diag_parse", "info-after-pad",
          nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(14, b"") + attr(2, info)) + done)
    for label, name in [("empty", b""), ("nul", b"\0"), ("cubic", b"cubic\0"),
                        ("unterminated", b"bbr"), ("long", b"x" * 40)]:
        write("diag_parse", f"cong-{label}", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(4, name)) + done)
    for kind, size in [(3, 16), (9, 16), (16, 20)]:
        for n in [0, size - 1, size, size + 4]:
            write("diag_parse", f"cc-{kind}-{n}",
                  nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(2, info) + attr(kind, b"\x07" * n)) + done)
    for n in [0, 1, 7, 8, 9, 12]:
        write("diag_parse", f"skmem-{n}",
              nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(7, struct.pack(f"<{n}I", *range(1, n + 1)))) + done)
    write("diag_parse", "skmem-odd", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(7, b"\1" * 13)) + done)
    for n in [0, 7, 8, 16]:
        write("diag_parse", f"cgroup-{n}", nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(21, b"\x2a" * n)) + done)
    everything = one + attr(8, b"\0") + attr(7, struct.pack("<9I", *range(9))) + attr(14, b"") \
        + attr(2, info) + attr(4, b"bbr\0") + attr(16, b"\5" * 20) + attr(21, b"\1" * 8)
    write("diag_parse", "extras-everything", nlmsg(SOCK_DIAG_BY_FAMILY, everything) + done)
    # A destroy notification: INET_DIAG_PROTOCOL (10) first, then the final tcp_info.
    write("diag_parse", "destroy-info",
          nlmsg(SOCK_DIAG_BY_FAMILY, one + attr(10, b"\6") + attr(14, b"") + attr(2, info), flags=0))


def unix_msg(kind=1, state=10, inode=4321):
    # struct unix_diag_msg: family type state pad, ino, cookie[2].
    return bytes([1, kind, state, 0]) + struct.pack("<III", inode, 0x33, 0x44)


def unix_seeds():
    """unix_diag replies for the same harness (swstat_unix_parse): every attribute swstat asks
    for (UNIX_DIAG_NAME 0, PEER 2, RQLEN 4, UID 9), an abstract name, and broken ones."""
    done = nlmsg(NLMSG_DONE, struct.pack("<i", 0))
    path = b"/run/swstat-fuzz.sock"
    listener = unix_msg() + attr(0, path) + attr(4, struct.pack("<II", 0, 128)) + attr(9, struct.pack("<I", 0))
    connected = unix_msg(state=1, inode=4322) + attr(0, b"\0abstract") + attr(2, struct.pack("<I", 4323)) \
        + attr(4, struct.pack("<II", 5, 7)) + attr(9, struct.pack("<I", 1000))
    unnamed = unix_msg(kind=2, state=7, inode=4324) + attr(2, struct.pack("<I", 0))
    write("diag_parse", "unix-dump", nlmsg(SOCK_DIAG_BY_FAMILY, listener) + nlmsg(SOCK_DIAG_BY_FAMILY, connected)
          + nlmsg(SOCK_DIAG_BY_FAMILY, unnamed) + done)
    write("diag_parse", "unix-name-long", nlmsg(SOCK_DIAG_BY_FAMILY, unix_msg() + attr(0, b"x" * 200)) + done)
    write("diag_parse", "unix-peer-short", nlmsg(SOCK_DIAG_BY_FAMILY, unix_msg() + attr(2, b"\1\2")) + done)
    write("diag_parse", "unix-rqlen-short", nlmsg(SOCK_DIAG_BY_FAMILY, unix_msg() + attr(4, b"\1\2\3\4")) + done)
    write("diag_parse", "unix-short-payload", nlmsg(SOCK_DIAG_BY_FAMILY, unix_msg()[:8]) + done)


def proc_parse_seeds():
    # Byte 0: table (0 tcp, 1 tcp6, 2 udp, 3 udp6); byte 1: where the split parse cuts.
    for n, table in enumerate(["tcp", "tcp6", "udp", "udp6"]):
        with open(os.path.join(CAPTURED, table), "rb") as f:
            lines = f.read().split(b"\n")
        write("proc_parse", f"{table}-head", bytes([n, 2]) + b"\n".join(lines[:12]) + b"\n")
    header = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    row = b"   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n"
    row6 = (b"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
            b"00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 0\n")
    cases = {
        "empty": (0, b""),
        "header-only": (0, header),
        "no-header": (0, row),
        "no-final-newline": (0, header + row.rstrip(b"\n")),
        "blank-lines": (0, header + b"\n\n" + row + b"\n"),
        "crlf": (0, header.replace(b"\n", b"\r\n") + row.replace(b"\n", b"\r\n")),
        "tabs": (0, header + row.replace(b" ", b"\t")),
        "ten-fields": (0, header + b"0: 0100007F:1F40 00000000:0000 0A 0:0 00:0 0 0 0 1\n"),
        "nine-fields": (0, header + b"0: 0100007F:1F40 00000000:0000 0A 0:0 00:0 0 0 0\n"),
        "negative-timeout": (0, header + row.replace(b"     0        0 12345", b"     0       -1 12345")),
        "big-numbers": (0, header + row.replace(b"12345", b"18446744073709551615").replace(b"     0        0", b"4294967296 99999999999999999999")),
        "bad-port": (0, header + row.replace(b":1F40", b":1F4G0")),
        "v6-in-v4": (0, header + row6),
        "v6": (1, header + row6),
        "udp": (2, header + row.replace(b" 0A ", b" 07 ")),
        "udp6": (3, header + row6.replace(b" 0A ", b" 07 ")),
        "split-late": (0, header + row * 5),
    }
    for name, (table, text) in cases.items():
        write("proc_parse", name, bytes([table, 3]) + text)


def filter_seeds():
    # struct swstat_filter: three swstat_port_range {u8 set; u16 lo, hi} (6 bytes each, with
    # a pad byte after set), then two swstat_prefix {u8 family, prefix_len; u8 addr[16]}.
    def ports(lo=None, hi=None):
        return struct.pack("<BxHH", 0, 0, 0) if lo is None else struct.pack("<BxHH", 1, lo, hi)

    def prefix(family=0, length=0, addr=b""):
        return struct.pack("<BB", family, length) + addr.ljust(16, b"\0")

    v4 = bytes([127, 0, 0, 1])
    v6 = b"\0" * 15 + b"\1"
    socks = bytes(range(1, 200))       # picks for the test sockets
    cases = {
        "none": ports() * 3 + prefix() * 2,
        "sport": ports(8000, 8000) + ports() * 2 + prefix() * 2,
        "sport-range": ports(1024, 65535) + ports() * 2 + prefix() * 2,
        "dport-low": ports() + ports(0, 1023) + ports() + prefix() * 2,
        "either": ports() * 2 + ports(8000, 8099) + prefix() * 2,
        "either-all": ports() * 2 + ports(0, 65535) + prefix() * 2,
        "src-v4": ports() * 3 + prefix(2, 8, v4) + prefix(),
        "dst-v6": ports() * 3 + prefix() + prefix(10, 128, v6),
        "src-zero": ports() * 3 + prefix(2, 0, v4) + prefix(),
        "everything": ports(1, 60000) + ports(2, 65534) + ports(80, 443) + prefix(2, 24, v4) + prefix(10, 64, v6),
        "reversed": ports(9, 3) + ports() * 2 + prefix() * 2,
        "bad-family": ports() * 3 + prefix(7, 8, v4) + prefix(),
        "prefix-too-long": ports() * 3 + prefix(2, 33, v4) + prefix(),
    }
    for name, f in cases.items():
        write("filter_build", name, f + b"\x80" + socks)
    write("filter_build", "small-cap", cases["everything"] + b"\x10" + socks)


def swift_seeds():
    # Byte 0: 0 Expectation.parseList, 1 StateMask, 2 AddressPrefix, 3 parsePorts,
    # 4 SocketFilter.parse (six NUL-separated options; a lone 0x01 means "not given"),
    # 5 ExpressionFilter.parse (ss's filter words, NUL-separated) and its bytecode,
    # 9 TCPInfo(kernelBytes:) and SocketMemory(values:) of any length.
    cases = {
        "expect": (0, "time_wait<5000"),
        "expect-list": (0, "total>=1,close_wait==0,LISTEN != 3"),
        "expect-dash": (0, "time-wait <= 10"),
        "expect-bad": (0, "time_wait<"),
        "state": (1, "established,syn-recv,TIME_WAIT"),
        "state-groups": (1, "connected,bucket,big,synchronized,all"),
        "state-empty-item": (1, "listen,,close"),
        "prefix-v4": (2, "127.0.0.0/8"),
        "prefix-v6": (2, "[::1]/128"),
        "prefix-mapped": (2, "::ffff:10.1.2.3/120"),
        "prefix-bad": (2, "1.2.3.4/33"),
        "ports": (3, "443"),
        "ports-range": (3, "8000-8099"),
        "ports-all": (3, "0-65535"),
        "ports-bad": (3, "9-3"),
        "filter": (4, "listen\0" "80\0" "\x01\0" "1000-2000\0" "127.0.0.0/8\0" "::/0"),
        "filter-none": (4, "\x01\0\x01\0\x01\0\x01\0\x01\0\x01"),
        "expr-ssh": (5, "state\0established\0( dport = :ssh or sport = :ssh )"),
        "expr-states": (5, "exclude\0listening\0state\0syn-recv\0excl\0bucket"),
        "expr-ports": (5, "sport >= :1024 and dport lt 0x16 or sport ne 026 || dport gt :*"),
        "expr-hosts": (5, "dst 10/8:443 src [fe80::/10]:22 not dst 0.0.0.0 dst [::] dst localhost"),
        "expr-mapped": (5, "src [::ffff:127.0.0.1] or dst 127.0.0.0/255.0.0.0 or dst dual:ssh"),
        "expr-kernel": (5, "dev lo and fwmark 0x10/0xf0 or not cgroup /sys/x or autobound"),
        "expr-nesting": (5, "not ( sport :1 or ! ( dport :2 && src *:3 ) ) sport = :* dport != :*"),
        "expr-split": (5, "((dport\0=\0:ssh))\0or\tsport\n:ssh"),
        "expr-escape": (5, "cgroup /a\\ b\\)"),
        "expr-bad": (5, "sport = :22 )"),
        "expr-bad-v6": (5, "dst ::1"),
    }
    for name, (kind, text) in cases.items():
        write("swift_parsers", name, bytes([kind]) + text.encode())
    info = bytes(range(256)) + bytes(range(24))
    for size in [0, 7, 104, 232, 280, 300]:
        write("swift_parsers", f"tcp-info-{size}", bytes([9]) + (info * 2)[:size])


TRACE = os.path.join(HERE, "..", "SwstatCoreTests", "Fixtures", "trace")


def ring_entries(recording):
    """Splits a recording (u32 cpu, u32 length, a perf ring record) into its entries."""
    out, i = [], 0
    while i + 8 <= len(recording):
        cpu, length = struct.unpack_from("<II", recording, i)
        out.append(recording[i:i + 8 + length])
        i += 8 + length
    return out


def trace_seeds():
    # Byte 0 % 3: 0 a format (kind (byte 0 / 3) % 4 + 1), 1 a recording, 2 a format, NUL, a
    # record. Kinds: 1 state change, 2 reset sent, 3 reset received, 4 retransmit.
    formats = {
        "inet_sock_set_state.format": 1, "inet_sock_set_state.pre-5.6.format": 1,
        "tcp_send_reset.format": 2, "tcp_receive_reset.format": 3, "tcp_retransmit_skb.format": 4,
    }
    texts = {}
    for name, kind in formats.items():
        with open(os.path.join(TRACE, name), "rb") as f:
            texts[name] = f.read()
        write("trace_parse", "format-" + name.replace(".format", ""), bytes([(kind - 1) * 3]) + texts[name])
    with open(os.path.join(TRACE, "samples.bin"), "rb") as f:
        recording = f.read()
    write("trace_parse", "recording", b"\x01" + recording)
    entries = ring_entries(recording)
    write("trace_parse", "recording-first", b"\x01" + entries[0])
    write("trace_parse", "recording-cut", b"\x01" + recording[:-3])
    lost = struct.pack("<IHHQQQ", 2, 0, 32, 0, 7, 1000)
    write("trace_parse", "recording-lost", b"\x01" + struct.pack("<II", 1, len(lost)) + lost + entries[1])
    # One record per tracepoint, after the format that decodes it.
    ids = {2287: "inet_sock_set_state.format", 2280: "tcp_send_reset.format",
           2279: "tcp_receive_reset.format", 2281: "tcp_retransmit_skb.format"}
    seen = set()
    for e in entries:
        kind_id = struct.unpack_from("<H", e, 8 + 20)[0]
        if kind_id in ids and kind_id not in seen:
            seen.add(kind_id)
            name = ids[kind_id]
            mode = (formats[name] - 1) * 3 + 2
            write("trace_parse", "record-" + name.replace(".format", ""),
                  bytes([mode]) + texts[name] + b"\0" + e[8:])
            raw_size = struct.unpack_from("<I", e, 8 + 16)[0]
            write("trace_parse", "raw-" + name.replace(".format", ""),
                  bytes([mode]) + texts[name] + b"\0" + e[8 + 20:8 + 20 + raw_size])


def main():
    for folder in ["diag_parse", "proc_parse", "filter_build", "swift_parsers", "trace_parse"]:
        path = os.path.join(CORPUS, folder)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if not name.startswith("regress-"):
                    os.remove(os.path.join(path, name))
    diag_parse_seeds()
    extras_seeds()
    unix_seeds()
    proc_parse_seeds()
    filter_seeds()
    swift_seeds()
    trace_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
