import Glibc
import SystemPackage

/// The internet tables netstat lists besides tcp and udp: UDP-Lite and raw sockets.
public enum ExtraInetProtocol: String, Sendable, CaseIterable {
  /// /proc/net/udplite and udplite6, printed as `udpl` and `udpl6`.
  case udplite
  /// /proc/net/raw and raw6, printed as `raw` and `raw6` with the state as a number.
  case raw
}

/// One of those tables: a protocol and a family.
public struct ExtraInetTable: Hashable, Sendable {
  /// UDP-Lite or raw.
  public var proto: ExtraInetProtocol
  /// IPv4 or IPv6.
  public var family: AddressFamily
  /// A table from its parts.
  public init(proto: ExtraInetProtocol, family: AddressFamily) {
    self.proto = proto
    self.family = family
  }
  /// The /proc/net file: "udplite", "udplite6", "raw", "raw6".
  public var procName: String { proto.rawValue + (family == .inet6 ? "6" : "") }
  /// netstat's Proto column: "udpl", "udpl6", "raw", "raw6".
  public var label: String {
    (proto == .udplite ? "udpl" : "raw") + (family == .inet6 ? "6" : "")
  }
}

/// UDP-Lite and raw sockets from /proc/net. sock_diag's raw_diag is an optional module that this
/// kernel lacks, and UDP-Lite sockets are rare, so /proc is the only source (netstat's own).
/// The lines have udp's format, so records come out as `.udp` records: netstat's server test
/// for both tables is udp's (an all-zero remote address). The local port of a raw socket is its
/// IP protocol number, as the kernel writes it.
public struct ExtraInetSource: Sendable {
  /// The proc root ("/proc", "/proc/thread-self", a captured tree).
  public let root: String
  /// A source reading `<root>/net/*`.
  public init(root: String = "/proc") { self.root = root }

  /// Streams one table's sockets that fall in `scope`. A missing file throws `.unavailable`
  /// (the caller decides whether netstat would have said so).
  public func forEach(
    _ table: ExtraInetTable, scope: ListeningScope, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    let path = root + "/net/" + table.procName
    let fd = try openProcFile(path)
    defer { try? fd.close() }
    let query = SocketQuery(scope: scope)
    let (rc, error, delivered, line, reason) = UnixShim.procScan(fd: fd, family: table.family) {
      if query.matches($0) { try body($0) }
    }
    if let error { throw error }
    if rc >= 0 { return }
    let errno = Errno(rawValue: -rc)
    if errno == .badMessage {
      throw SocketSourceError.malformed(path: path, line: line, reason: reason)
    }
    throw delivered == 0
      ? SocketSourceError.unavailable(source: path, errno: errno)
      : SocketSourceError.failed(source: path, errno: errno)
  }
}
