import SystemPackage

/// Sockets from the kernel's sock_diag netlink interface (sock_diag(7)), one dump per table,
/// with the query's states pushed into `idiag_states` and its filter's ports and addresses into
/// an inet_diag bytecode filter; every record is still checked with `SocketQuery.matches`.
public struct NetlinkSource: SocketSource {
  /// "netlink".
  public let name = "netlink"
  /// Whether records are re-checked with `SocketQuery.matches` (off only in tests).
  let verifyInSwift: Bool
  /// Bytecode sent instead of the filter's own (tests: a program the kernel refuses).
  let bytecodeOverride: [UInt8]?

  /// A source that opens a new NETLINK_SOCK_DIAG socket for each dump.
  public init() {
    verifyInSwift = true
    bytecodeOverride = nil
  }

  /// A source for tests: `verifyInSwift: false` delivers exactly what the kernel's filtering
  /// let through; `bytecode` replaces the program compiled from the query's filter.
  @_spi(Testing)
  public init(verifyInSwift: Bool, bytecode: [UInt8]? = nil) {
    self.verifyInSwift = verifyInSwift
    bytecodeOverride = bytecode
  }

  /// Dumps one table. A dump the kernel refuses before any record reaches `body` throws
  /// `.unavailable` (so /proc can take over); an overrun or an inconsistent dump (NLM_F_DUMP_INTR)
  /// is retried while nothing has been delivered yet. A filter program the kernel rejects
  /// (EINVAL, before any record) is dropped and the dump repeated without it: `matches` still
  /// filters every record.
  public func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    var bytecode = bytecodeOverride ?? query.filter.kernelBytecode
    var retries = 0
    while true {
      let (rc, emitted, sink) = Shim.diagDump(
        table, query, bytecode: bytecode, verify: verifyInSwift, body)
      if let error = sink.error { throw error }
      if rc >= 0 { return }
      let errno = Errno(rawValue: -rc)
      // A program this kernel refuses is dropped (Swift checks every record anyway) — unless
      // the filter has conditions only the kernel can test: they would then match everything.
      if errno == .invalidArgument && !bytecode.isEmpty && emitted == 0
        && query.filter.expression?.kernelOnlyKeyword == nil
      {
        bytecode = []
        continue
      }
      let nothingShown = sink.delivered == 0
      if nothingShown && retries < 3 && (errno == .interrupted || errno == .noBufferSpace) {
        retries += 1
        continue
      }
      switch errno {
      case .interrupted:
        // Every record was delivered; the kernel only warns that the table changed under the
        // dump. Rows already written cannot be taken back, so the listing stands.
        return
      case .badMessage, .protocolError, .messageTooLong:
        throw SocketSourceError.malformed(
          path: name, line: 0, reason: "malformed \(table.procName) reply (\(errno))")
      default:
        throw nothingShown
          ? SocketSourceError.unavailable(source: name, errno: errno)
          : SocketSourceError.failed(source: name, errno: errno)
      }
    }
  }

  /// Decodes recorded SOCK_DIAG_BY_FAMILY replies, as received from the kernel, for replay
  /// (with the query's `extras`, a recording made asking for them). Returns whether the
  /// recording ended with NLMSG_DONE.
  @discardableResult
  public static func decode(
    _ bytes: [UInt8], transport: TransportProtocol, query: SocketQuery = SocketQuery(),
    _ body: (borrowing SocketRecord) throws -> Void
  ) throws -> Bool {
    let (rc, sink, _) = bytes.withUnsafeBytes { Shim.diagParse($0, transport, query, body) }
    if let error = sink.error { throw error }
    if rc < 0 {
      let errno = Errno(rawValue: -rc)
      throw SocketSourceError.malformed(path: "netlink", line: 0, reason: "\(errno)")
    }
    return rc == 1
  }

  /// The inet_diag bytecode `forEach` sends for `filter` (empty: none), for tests.
  @_spi(Testing)
  public static func bytecode(for filter: SocketFilter) -> [UInt8] { filter.kernelBytecode }

  /// One dump of `table` with `states` as `idiag_states` and `bytecode` attached as is: no
  /// fallback, no retry, no Swift re-check. Returns 0 or the negative errno, and the records.
  @_spi(Testing)
  public static func kernelDump(
    _ table: SocketTable, states: StateMask, bytecode: [UInt8]
  ) -> (rc: Int32, records: [SocketRecord]) {
    var records: [SocketRecord] = []
    let query = SocketQuery(tcpStates: states, filter: SocketFilter(states: states))
    let (rc, _, _) = Shim.diagDump(table, query, bytecode: bytecode, verify: false) {
      records.append(copy $0)
    }
    return (rc < 0 ? rc : 0, records)
  }

  /// Writes the raw replies of one dump of `table` to `fd` (how the replay fixtures were made),
  /// asking for `extras` as a query with them would.
  public static func record(
    _ table: SocketTable, states: StateMask = .all, extras: SocketExtras.Kinds = [],
    to fd: FileDescriptor
  ) throws {
    let rc = Shim.diagRecord(table, states: states.rawValue, extras: extras, fd: fd)
    if rc < 0 {
      throw SocketSourceError.unavailable(source: "netlink", errno: Errno(rawValue: -rc))
    }
  }
}
