/// Which sockets netstat's -l / -a split selects.
public enum ListeningScope: Sendable {
  /// Servers only (-l).
  case listening
  /// Connections only: neither -a nor -l.
  case connected
  /// Both (-a).
  case all
}

/// One sock_diag table: a family and a transport protocol.
public struct SocketTable: Hashable, Sendable {
  /// IPv4 or IPv6.
  public var family: AddressFamily
  /// TCP or UDP.
  public var transport: TransportProtocol
  /// A table from its parts.
  public init(family: AddressFamily, transport: TransportProtocol) {
    self.family = family
    self.transport = transport
  }
  /// The /proc/net file that holds this table ("tcp", "tcp6", "udp", "udp6").
  public var procName: String {
    (transport == .tcp ? "tcp" : "udp") + (family == .inet6 ? "6" : "")
  }
}

/// What to list: protocols, families, states, netstat's server/connection split and a filter.
/// Sources push as much of it down as they can (the states into `idiag_states`, the filter's
/// ports and addresses into inet_diag bytecode) and check the rest with `matches`.
public struct SocketQuery: Sendable {
  /// Transports in the order netstat prints them (tcp before udp).
  public var transports: [TransportProtocol]
  /// Families in the order netstat prints them (IPv4 before IPv6).
  public var families: [AddressFamily]
  /// netstat's -l / -a split.
  public var scope: ListeningScope
  /// TCP states wanted, on top of `scope`.
  public var tcpStates: StateMask
  /// States, ports and addresses wanted, on top of the rest (by default no filter).
  public var filter: SocketFilter
  /// What to ask the kernel for beyond each socket (`--info`, `--memory`, `--cgroup`), and
  /// where the source puts what comes back, by socket (`SocketExtrasStore.extras(for:)`). Nil
  /// (the default) asks for nothing, and the dump decodes nothing more. Netlink only:
  /// /proc/net has none of it.
  public var extras: SocketExtrasStore?

  /// A query; by default every TCP and UDP socket of both families.
  public init(
    transports: [TransportProtocol] = [.tcp, .udp], families: [AddressFamily] = [.inet, .inet6],
    scope: ListeningScope = .all, tcpStates: StateMask = .all,
    filter: SocketFilter = SocketFilter(),
    extras: SocketExtrasStore? = nil
  ) {
    self.transports = transports
    self.families = families
    self.scope = scope
    self.tcpStates = tcpStates
    self.filter = filter
    self.extras = extras
  }

  /// The tables to read, in netstat's order: tcp, tcp6, udp, udp6.
  public var tables: [SocketTable] {
    transports.flatMap { t in families.map { SocketTable(family: $0, transport: t) } }
  }

  /// The `idiag_states` mask for one table: the filter's states and, for TCP, the TCP states
  /// wanted narrowed by the scope (a listener is the only TCP socket with remote port 0); UDP's
  /// scope is checked after.
  public func kernelStateMask(for transport: TransportProtocol) -> UInt32 {
    var wanted = filter.states?.rawValue ?? StateMask.all.rawValue
    if let states = filter.expression?.states { wanted &= states.rawValue }
    guard transport == .tcp else { return wanted }
    let listen = SocketState.listen.maskBit
    switch scope {
    case .all: return tcpStates.rawValue & wanted
    case .listening: return tcpStates.rawValue & listen & wanted
    case .connected: return tcpStates.rawValue & ~listen & wanted
    }
  }

  /// Whether a record belongs in the answer: the exact netstat test, applied after the kernel's.
  @inline(__always)
  public func matches(_ record: SocketRecord) -> Bool {
    switch scope {
    case .all: break
    case .listening: if !record.isListening { return false }
    case .connected: if record.isListening { return false }
    }
    // A number the kernel has no state for (a /proc row with st 00 or FF) is listed, as
    // netstat lists it; only the known states are subject to the mask.
    let code = record.stateCode
    if record.transport == .tcp && code >= 1 && code <= 13 && !tcpStates.contains(code: code) {
      return false
    }
    return filter.matches(record)
  }
}
