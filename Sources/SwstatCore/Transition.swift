/// One TCP state change as the kernel made it, from the tracepoint `sock:inet_sock_set_state`
/// (or, opt-in, a reset or a retransmission from the `tcp:` tracepoints), read by
/// `TransitionSource`.
///
/// What the tracepoint cannot tell: the network namespace (it fires for every namespace), the
/// owner (the task on the CPU is often a softirq or the peer), and entering TIME_WAIT (the full
/// socket goes `FIN_WAIT2 → CLOSE` or `CLOSING → CLOSE` as a timewait socket replaces it; ask
/// `NetlinkSource.lookup` for its 4-tuple). A client's `CLOSE → SYN_SENT` comes before the
/// kernel picks its local port: port 0 (and often address 0) there, joined by `socketAddress`.
public struct Transition: Hashable, Sendable {
  /// Which tracepoint recorded it.
  public enum Kind: UInt8, Sendable, CaseIterable {
    /// `sock:inet_sock_set_state`: `oldState → newState`.
    case stateChange = 1
    /// `tcp:tcp_send_reset`: this end sent a RST (both states: the socket's state then).
    case resetSent = 2
    /// `tcp:tcp_receive_reset`: this end received a RST.
    case resetReceived = 3
    /// `tcp:tcp_retransmit_skb`: this end retransmitted a segment.
    case retransmit = 4
  }

  /// Which tracepoint recorded it.
  public var kind: Kind
  /// When, in CLOCK_MONOTONIC nanoseconds: the clock `clock_gettime(CLOCK_MONOTONIC)` reads.
  public var monotonicNanoseconds: UInt64
  /// The CPU it happened on.
  public var cpu: UInt32
  /// IPv4 or IPv6 (an IPv4-mapped IPv6 socket is `.inet6`).
  public var family: AddressFamily
  /// The tracepoint's protocol number: 6 for TCP. `inet_sock_set_state` fires for SCTP and
  /// MPTCP too, which `TransitionSource` filters out in the kernel.
  public var protocolNumber: UInt16
  /// The kernel's state number before (for resets and retransmissions: the state then; 0
  /// when the kernel had no socket).
  public var oldStateCode: UInt8
  /// The kernel's state number after.
  public var newStateCode: UInt8
  /// This end of the connection: the tracepoint's saddr and sport.
  public var local: Endpoint
  /// The peer.
  public var remote: Endpoint
  /// The kernel's `struct sock` address: the socket's identity for its life, reused once it
  /// is freed (0 when the tracepoint had no socket). Not the hashed pointer /proc shows.
  public var socketAddress: UInt64
  /// The socket cookie (sock_diag's `idiag_cookie`) when the tracepoint carries one
  /// (`tcp:tcp_receive_reset` on Linux 6.x; not `inet_sock_set_state`).
  public var cookie: UInt64?

  /// A transition from its parts.
  public init(
    kind: Kind, monotonicNanoseconds: UInt64, cpu: UInt32 = 0, family: AddressFamily,
    protocolNumber: UInt16 = 6, oldStateCode: UInt8, newStateCode: UInt8, local: Endpoint,
    remote: Endpoint, socketAddress: UInt64 = 0, cookie: UInt64? = nil
  ) {
    self.kind = kind
    self.monotonicNanoseconds = monotonicNanoseconds
    self.cpu = cpu
    self.family = family
    self.protocolNumber = protocolNumber
    self.oldStateCode = oldStateCode
    self.newStateCode = newStateCode
    self.local = local
    self.remote = remote
    self.socketAddress = socketAddress
    self.cookie = cookie
  }

  /// TCP, or nil for another protocol number.
  public var transport: TransportProtocol? { protocolNumber == 6 ? .tcp : nil }
  /// The state before, or nil for a number this build does not know (or 0).
  public var oldState: SocketState? { SocketState(rawValue: oldStateCode) }
  /// The state after, or nil for a number this build does not know (or 0).
  public var newState: SocketState? { SocketState(rawValue: newStateCode) }
}

/// What `TransitionSource.drain` delivers, in time order.
public enum TransitionEvent: Hashable, Sendable {
  /// One transition.
  case transition(Transition)
  /// The kernel dropped `count` records because a ring was full; noticed at
  /// `monotonicNanoseconds` (the drain's time; a replay: the record after the gap). Changes were
  /// missed: re-read the socket table.
  case lost(count: UInt64, monotonicNanoseconds: UInt64)
}
