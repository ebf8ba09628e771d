/// Something that lists sockets: sock_diag, /proc/net, or both in turn.
public protocol SocketSource: Sendable {
  /// A short name used in messages ("netlink", "/proc/net").
  var name: String { get }

  /// Streams every socket of one table that matches `query` to `body`, one at a time; nothing
  /// is held between calls. Throws a `SocketSourceError`, or whatever `body` throws.
  func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws
}

extension SocketSource {
  /// Streams every matching socket of every table in the query, in netstat's table order.
  public func forEach(
    _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    for table in query.tables { try forEach(table, query, body) }
  }

  /// Collects a whole table, for modes that compare one pass with the next.
  public func snapshot(_ query: SocketQuery) throws -> [SocketRecord] {
    var all: [SocketRecord] = []
    try forEach(query) { all.append(copy $0) }
    return all
  }
}
