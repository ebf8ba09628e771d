import SystemPackage

/// Sockets from the kernel's sock_diag netlink interface (sock_diag(7)), one dump per table,
/// with the query's states pushed into `idiag_states`.
public struct NetlinkSource: SocketSource {
  /// "netlink".
  public let name = "netlink"

  /// A source that opens a new NETLINK_SOCK_DIAG socket for each dump.
  public init() {}

  /// Dumps one table. A dump the kernel refuses before any record reaches `body` throws
  /// `.unavailable` (so /proc can take over); an overrun or an inconsistent dump (NLM_F_DUMP_INTR)
  /// is retried while nothing has been delivered yet.
  public func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    var retries = 0
    while true {
      let (rc, _, sink) = Shim.diagDump(table, query, body)
      if let error = sink.error { throw error }
      if rc >= 0 { return }
      let errno = Errno(rawValue: -rc)
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

  /// Decodes recorded SOCK_DIAG_BY_FAMILY replies, as received from the kernel, for replay.
  /// Returns whether the recording ended with NLMSG_DONE.
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

  /// Writes the raw replies of one dump of `table` to `fd` (how the replay fixtures were made).
  public static func record(
    _ table: SocketTable, states: StateMask = .all, to fd: FileDescriptor
  ) throws {
    let rc = Shim.diagRecord(table, states: states.rawValue, fd: fd)
    if rc < 0 { throw SocketSourceError.unavailable(source: "netlink", errno: Errno(rawValue: -rc)) }
  }
}
