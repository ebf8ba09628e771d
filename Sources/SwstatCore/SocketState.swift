/// A TCP state as the kernel numbers it (include/net/tcp_states.h). These values are ABI.
///
/// UDP reuses two of them: a connected UDP socket reports `established` (1), an unconnected
/// one `close` (7). A number outside this list is kept in `SocketRecord.stateCode`.
public enum SocketState: UInt8, Sendable, CaseIterable {
  /// `TCP_ESTABLISHED` (1).
  case established = 1
  /// `TCP_SYN_SENT` (2).
  case synSent = 2
  /// `TCP_SYN_RECV` (3): also how the kernel reports pending request sockets.
  case synReceived = 3
  /// `TCP_FIN_WAIT1` (4).
  case finWait1 = 4
  /// `TCP_FIN_WAIT2` (5).
  case finWait2 = 5
  /// `TCP_TIME_WAIT` (6).
  case timeWait = 6
  /// `TCP_CLOSE` (7); an unconnected UDP socket.
  case close = 7
  /// `TCP_CLOSE_WAIT` (8).
  case closeWait = 8
  /// `TCP_LAST_ACK` (9).
  case lastAck = 9
  /// `TCP_LISTEN` (10).
  case listen = 10
  /// `TCP_CLOSING` (11).
  case closing = 11
  /// `TCP_NEW_SYN_RECV` (12): a request socket inside the kernel.
  case newSynReceived = 12
  /// `TCP_BOUND_INACTIVE` (13): bound, neither listening nor connected (kernel 6.8+).
  case boundInactive = 13

  /// The bit for this state in a sock_diag `idiag_states` mask.
  public var maskBit: UInt32 { 1 << UInt32(rawValue) }

  /// netstat's word for the state (net-tools' `tcp_state[]`, the kernel's names past it). A
  /// request socket is SYN_RECV, as the kernel reports it and netstat and ss show it. The one
  /// spelling of state words; every output takes it through SwstatRender's `Vocabulary`.
  public var name: StaticString {
    switch self {
    case .established: "ESTABLISHED"
    case .synSent: "SYN_SENT"
    case .synReceived, .newSynReceived: "SYN_RECV"
    case .finWait1: "FIN_WAIT1"
    case .finWait2: "FIN_WAIT2"
    case .timeWait: "TIME_WAIT"
    case .close: "CLOSE"
    case .closeWait: "CLOSE_WAIT"
    case .lastAck: "LAST_ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    case .boundInactive: "BOUND_INACTIVE"
    }
  }

  /// The name in lower case, as `--state` and `--expect` take it (`time_wait`).
  public var lowerName: String {
    String(
      decoding: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount),
      as: UTF8.self
    ).lowercased()
  }

  /// The states a count lists, in kernel order: every state a dump reports. A request socket
  /// (NEW_SYN_RECV) is counted as SYN_RECV, as the kernel itself reports it to /proc and
  /// sock_diag and as netstat and ss show it; BOUND_INACTIVE is never asked for.
  public static let counted: [SocketState] = [
    .established, .synSent, .synReceived, .finWait1, .finWait2, .timeWait, .close, .closeWait,
    .lastAck, .listen, .closing,
  ]

  /// The state number a count puts `code` under: its own, NEW_SYN_RECV's under SYN_RECV.
  @inline(__always)
  public static func countedCode(_ code: UInt8) -> UInt8 {
    code == SocketState.newSynReceived.rawValue ? SocketState.synReceived.rawValue : code
  }
}

/// A set of TCP states as the kernel's `idiag_states` bit mask (bit n = state n).
public struct StateMask: Hashable, Sendable {
  /// The mask as sock_diag takes it.
  public var rawValue: UInt32
  /// Wraps a raw `idiag_states` value.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// A mask holding exactly `states`.
  public init(_ states: [SocketState]) {
    rawValue = states.reduce(0) { $0 | $1.maskBit }
  }
  /// Every state sock_diag reports without being asked specially (all but BOUND_INACTIVE).
  public static let all = StateMask(rawValue: 0x1ffe)
  /// Whether the mask holds the state numbered `code`.
  public func contains(code: UInt8) -> Bool { code < 32 && rawValue & (1 << UInt32(code)) != 0 }
}
