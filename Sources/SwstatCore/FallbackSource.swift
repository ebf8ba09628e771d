/// sock_diag first, /proc/net when the kernel refuses (as `ss` does). The choice is made per
/// table and before its first record is delivered, so no row is ever printed twice. A query
/// with `extras` never falls back: /proc/net cannot give them.
public struct FallbackSource: SocketSource {
  /// The netlink source tried first.
  public let primary: NetlinkSource
  /// The /proc/net source used when netlink is unavailable.
  public let fallback: ProcNetSource
  /// Told each time a table falls back, with netlink's reason (for -v).
  public let onFallback: @Sendable (SocketTable, SocketSourceError) -> Void

  /// "netlink".
  public var name: String { primary.name }

  /// A source that tries `primary`, then `fallback`.
  public init(
    primary: NetlinkSource = NetlinkSource(), fallback: ProcNetSource = ProcNetSource(),
    onFallback: @escaping @Sendable (SocketTable, SocketSourceError) -> Void = { _, _ in }
  ) {
    self.primary = primary
    self.fallback = fallback
    self.onFallback = onFallback
  }

  /// Lists one table from netlink, or from /proc/net when netlink is unavailable.
  public func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    do {
      try primary.forEach(table, query, body)
    } catch let error as SocketSourceError {
      // /proc/net has no tcp_info, memory or cgroup: a listing that asked for them says why
      // netlink failed rather than print rows without what was asked.
      guard case .unavailable = error, query.extras == nil else { throw error }
      onFallback(table, error)
      try fallback.forEach(table, query, body)
    }
  }
}

/// `--source`: where sockets are read from.
public enum SourceChoice: String, CaseIterable, Sendable {
  /// Netlink, each table falling back to /proc/net when the kernel refuses.
  case auto
  /// Netlink only.
  case netlink
  /// /proc/net only.
  case proc

  /// The source this choice names, reading /proc/net under `procRoot`; `onFallback` is told
  /// when `auto` falls back.
  public func source(
    procRoot: String,
    onFallback: @escaping @Sendable (SocketTable, SocketSourceError) -> Void = { _, _ in }
  ) -> any SocketSource {
    let proc = ProcNetSource(root: procRoot)
    switch self {
    case .netlink: return NetlinkSource()
    case .proc: return proc
    case .auto: return FallbackSource(fallback: proc, onFallback: onFallback)
    }
  }
}

extension SocketExtras.Kinds {
  /// Why these kinds cannot be shown from the source `choice` names, in one line (exit 64),
  /// or nil: /proc/net has no tcp_info, socket memory or cgroup, so `--source proc` cannot
  /// give any of them. (`auto` does not fall back to /proc/net for a query that asks for
  /// extras: `FallbackSource` reports netlink's error instead.)
  public func refusal(for choice: SourceChoice) -> String? {
    guard choice == .proc, !isEmpty else { return nil }
    return flags.joined(separator: ", ")
      + (flags.count == 1 ? " needs" : " need")
      + " netlink: /proc/net has no tcp_info, socket memory or cgroup"
  }
}
