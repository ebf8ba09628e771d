/// The transport protocol of an internet socket.
public enum TransportProtocol: UInt8, Sendable, CaseIterable {
  /// `IPPROTO_TCP` (6).
  case tcp = 6
  /// `IPPROTO_UDP` (17).
  case udp = 17
}

/// The address family of an internet socket.
public enum AddressFamily: UInt8, Sendable, CaseIterable {
  /// `AF_INET` (2).
  case inet = 2
  /// `AF_INET6` (10).
  case inet6 = 10
}

/// An IPv4 or IPv6 address held by value: 16 bytes in network order as two big-endian words
/// (IPv4 uses the top 4 bytes of `high`), so records stay trivially copyable and hashable.
public struct IPAddress: Hashable, Sendable {
  /// The family the address belongs to.
  public var family: AddressFamily
  /// Bytes 0 to 7 in network order.
  public var high: UInt64
  /// Bytes 8 to 15 in network order (zero for IPv4).
  public var low: UInt64

  /// An address from its parts.
  public init(family: AddressFamily, high: UInt64, low: UInt64) {
    self.family = family
    self.high = high
    self.low = low
  }

  /// An address from its bytes in network order (4 for IPv4, 16 for IPv6).
  public init(family: AddressFamily, bytes: some Collection<UInt8>) {
    var hi: UInt64 = 0
    var lo: UInt64 = 0
    for (i, b) in bytes.prefix(16).enumerated() {
      if i < 8 {
        hi |= UInt64(b) << (56 - 8 * UInt64(i))
      } else {
        lo |= UInt64(b) << (120 - 8 * UInt64(i))
      }
    }
    self.init(family: family, high: hi, low: lo)
  }

  /// The IPv4 address as a host-order integer (IPv4 only).
  public var ipv4: UInt32 { UInt32(truncatingIfNeeded: high >> 32) }

  /// Whether this is 0.0.0.0 or ::.
  public var isUnspecified: Bool { high == 0 && low == 0 }

  /// Whether this is an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
  public var isIPv4Mapped: Bool {
    family == .inet6 && high == 0 && low >> 32 == 0xffff
  }

  /// The address's bytes in network order (4 or 16 of them).
  public var bytes: [UInt8] {
    let n = family == .inet ? 4 : 16
    return (0..<n).map { i in
      i < 8
        ? UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
        : UInt8(truncatingIfNeeded: low >> (120 - 8 * UInt64(i)))
    }
  }
}

/// An address and a port.
public struct Endpoint: Hashable, Sendable {
  /// The address.
  public var address: IPAddress
  /// The port in host order; 0 when none.
  public var port: UInt16
  /// An endpoint from its parts.
  public init(address: IPAddress, port: UInt16) {
    self.address = address
    self.port = port
  }
}

/// The kernel timer running on a socket (`idiag_timer`, the `tr` field of /proc/net/tcp).
public enum SocketTimer: UInt8, Sendable {
  /// No timer (0).
  case off = 0
  /// The retransmit timer (1).
  case on = 1
  /// The keepalive timer (2).
  case keepalive = 2
  /// The TIME_WAIT (2MSL) timer (3).
  case timewait = 3
  /// The zero-window probe timer (4).
  case probe = 4
}

/// One socket, the same whichever source produced it.
public struct SocketRecord: Hashable, Sendable {
  /// TCP or UDP.
  public var transport: TransportProtocol
  /// IPv4 or IPv6 (an IPv4-mapped address is still `.inet6`).
  public var family: AddressFamily
  /// The local address and port.
  public var local: Endpoint
  /// The peer address and port; unspecified and 0 when not connected.
  public var remote: Endpoint
  /// The kernel's state number, kept even when `state` does not know it.
  public var stateCode: UInt8
  /// Bytes not yet read by the application (for a listener: connections not yet accepted).
  public var receiveQueue: UInt32
  /// Bytes not yet acknowledged by the peer (0 for a listener, as netstat shows).
  public var sendQueue: UInt32
  /// The listen backlog of a LISTEN socket when the source knows it (netlink only).
  public var listenBacklog: UInt32?
  /// The owner's user id.
  public var uid: UInt32
  /// The socket's inode number; 0 for TIME_WAIT and request sockets.
  public var inode: UInt64
  /// The kernel's socket cookie, stable for the socket's life (0 when the source has none).
  public var cookie: UInt64
  /// The timer the kernel runs on the socket, by its kernel number.
  public var timerCode: UInt8
  /// Milliseconds left on that timer.
  public var timerExpiresMilliseconds: UInt32
  /// Retransmissions so far (`idiag_retrans`).
  public var retransmits: UInt8
  /// Zero-window probes or keepalives sent (from /proc; 0 from netlink).
  public var probes: UInt32
  /// Which directions are shut down (bit 0: receive, bit 1: send), when the source reports it.
  public var shutdown: UInt8?
  /// The interface the socket is bound to (`idiag_if`, SO_BINDTODEVICE), 0 for none or unknown
  /// (/proc). Part of the socket's identity for SOCK_DESTROY.
  public var interfaceIndex: UInt32

  /// The state as an enum, or nil for a number this build does not know.
  public var state: SocketState? { SocketState(rawValue: stateCode) }
  /// The timer as an enum, or nil for a number this build does not know.
  public var timer: SocketTimer? { SocketTimer(rawValue: timerCode) }

  /// A record from its parts; timer, probes, shutdown and interface default to none.
  public init(
    transport: TransportProtocol, family: AddressFamily, local: Endpoint, remote: Endpoint,
    stateCode: UInt8, receiveQueue: UInt32 = 0, sendQueue: UInt32 = 0,
    listenBacklog: UInt32? = nil, uid: UInt32 = 0, inode: UInt64 = 0, cookie: UInt64 = 0,
    timerCode: UInt8 = 0, timerExpiresMilliseconds: UInt32 = 0, retransmits: UInt8 = 0,
    probes: UInt32 = 0, shutdown: UInt8? = nil, interfaceIndex: UInt32 = 0
  ) {
    self.transport = transport
    self.family = family
    self.local = local
    self.remote = remote
    self.stateCode = stateCode
    self.receiveQueue = receiveQueue
    self.sendQueue = sendQueue
    self.listenBacklog = listenBacklog
    self.uid = uid
    self.inode = inode
    self.cookie = cookie
    self.timerCode = timerCode
    self.timerExpiresMilliseconds = timerExpiresMilliseconds
    self.retransmits = retransmits
    self.probes = probes
    self.shutdown = shutdown
    self.interfaceIndex = interfaceIndex
  }

  /// Whether netstat counts this socket as a server: a TCP socket with remote port 0, a UDP
  /// socket with an all-zero remote address (net-tools `tcp_do_one`/`udp_do_one`).
  public var isListening: Bool {
    switch transport {
    case .tcp: remote.port == 0
    case .udp: remote.address.isUnspecified
    }
  }
}
