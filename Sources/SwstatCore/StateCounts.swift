/// Sockets per state and table, counted straight from the dump (no rows formatted), under
/// `SocketState.countedCode` (a request socket under SYN_RECV).
public struct StateCounts: Sendable, Equatable {
  /// The tables counted, in order.
  public let tables: [SocketTable]
  /// counts[table index × 16 + state code]; codes that are not counted states at 0 ("unknown").
  private var counts: [Int]
  /// Index in `tables` of each slot tcp, tcp6, udp, udp6 (-1 when not counted).
  private let slots: [Int]

  /// Zero counts for `tables`.
  public init(tables: [SocketTable]) {
    self.tables = tables
    counts = Array(repeating: 0, count: tables.count * 16)
    slots = (0..<4).map { slot in
      tables.firstIndex { Self.slot($0.transport, $0.family) == slot } ?? -1
    }
  }

  @inline(__always)
  private static func slot(_ t: TransportProtocol, _ f: AddressFamily) -> Int {
    (t == .tcp ? 0 : 2) + (f == .inet ? 0 : 1)
  }

  /// Counts one socket.
  @inline(__always)
  public mutating func add(_ r: borrowing SocketRecord) {
    let i = slots[Self.slot(r.transport, r.family)]
    guard i >= 0 else { return }
    // The counted states are ESTABLISHED (1) … CLOSING (11); any other number is "unknown" (0).
    let s = Int(SocketState.countedCode(r.stateCode))
    counts[i * 16 + (s <= 11 ? s : 0)] += 1
  }

  /// Sockets of `table` in the state numbered `code` (0: a number above 15).
  public func count(_ table: SocketTable, state code: UInt8) -> Int {
    guard let i = tables.firstIndex(of: table), code < 16 else { return 0 }
    return counts[i * 16 + Int(code)]
  }

  /// All sockets of `table`.
  public func total(_ table: SocketTable) -> Int {
    guard let i = tables.firstIndex(of: table) else { return 0 }
    return counts[(i * 16)..<(i * 16 + 16)].reduce(0, +)
  }

  /// Sockets in the state numbered `code` across every table.
  public func total(state code: UInt8) -> Int {
    tables.reduce(0) { $0 + count($1, state: code) }
  }

  /// Every socket counted.
  public var total: Int { counts.reduce(0, +) }
}
