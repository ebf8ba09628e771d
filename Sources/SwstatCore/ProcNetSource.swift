import Glibc
import SystemPackage

/// Sockets from the text tables /proc/net/{tcp,tcp6,udp,udp6}: the fallback when sock_diag is
/// unavailable. `root` is the proc mount, so tests and `--proc-root` read captured trees.
/// The whole query, its `SocketFilter` included, is applied in Swift to each line's record.
public struct ProcNetSource: SocketSource {
  /// The proc mount point, "/proc" on a live system.
  public let root: String

  /// "/proc/net" for the live system, else the tree's net folder.
  public var name: String { root + "/net" }

  /// A source reading `<root>/net/*`.
  public init(root: String = "/proc") { self.root = root }

  /// The path of one table's file.
  public func path(of table: SocketTable) -> String { root + "/net/" + table.procName }

  /// Reads one table to end of file. A missing IPv6 table is skipped when its IPv4 table exists
  /// (IPv6 disabled), as netstat does; any other missing file throws `.unavailable`.
  public func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    let path = path(of: table)
    let fd: FileDescriptor
    do {
      fd = try openProcFile(path)
    } catch {
      if case .unavailable(_, let errno) = error, errno == .noSuchFileOrDirectory,
        table.family == .inet6,
        access(self.path(of: SocketTable(family: .inet, transport: table.transport)), F_OK) == 0
      {
        return
      }
      throw error
    }
    defer { try? fd.close() }
    try scan(fd, path: path, table, query, body)
  }

  /// Reads one table from an open descriptor to end of file (tests hand it a pipe fed in odd
  /// pieces, as seq_file hands out a page per read; `forEach` refuses a pipe as a path).
  @_spi(Testing)
  public func scan(
    _ fd: FileDescriptor, path: String, _ table: SocketTable, _ query: SocketQuery,
    _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    let (rc, sink, line, reason) = Shim.procScan(fd: fd, table, query, body)
    if let error = sink.error { throw error }
    if rc >= 0 { return }
    let errno = Errno(rawValue: -rc)
    if errno == .badMessage {
      throw SocketSourceError.malformed(path: path, line: line, reason: reason)
    }
    throw sink.delivered == 0
      ? SocketSourceError.unavailable(source: path, errno: errno)
      : SocketSourceError.failed(source: path, errno: errno)
  }

  /// Parses one table's text already in memory, header first (tests and fuzzing).
  public static func parse(
    _ text: [UInt8], table: SocketTable, path: String = "<memory>",
    query: SocketQuery = SocketQuery(), _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    let (rc, sink, line, reason) = text.withUnsafeBytes { Shim.procParse($0, table, query, body) }
    if let error = sink.error { throw error }
    if rc < 0 { throw SocketSourceError.malformed(path: path, line: line, reason: reason) }
  }
}
