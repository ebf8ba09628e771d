/// What happened to a socket between two looks at the table.
public enum SocketChange: Equatable, Sendable {
  /// First seen.
  case new
  /// Its state moved from the state numbered `from` to the record's.
  case state(from: UInt8)
  /// No longer in the table.
  case gone
  /// Opened and closed between two dumps: seen only through its destroy notification.
  case brief
}

/// One change of one socket, with when it was noticed (a destroy notification's arrival
/// time for `gone`/`brief` when there was one).
public struct SocketEvent: Sendable {
  /// What happened.
  public var change: SocketChange
  /// The socket as last seen (for `gone`, as it was before it went).
  public var record: SocketRecord
  /// When, in CLOCK_REALTIME nanoseconds since the epoch.
  public var time: Int64
}

/// Follows sockets across successive dumps by the kernel's socket cookie (not by address:
/// aborted sockets lose theirs), and folds in destroy notifications so that sockets living
/// shorter than one tick are reported too. Holds only the sockets of the last dump, the
/// notifications since and the keys of the sockets gone in the last two dumps, so its memory
/// follows the table's size.
public struct SocketTracker: Sendable {
  /// The identity of a socket across dumps: its cookie, or — from /proc, which has none — its
  /// protocol, addresses and inode.
  public struct Key: Hashable, Sendable {
    var cookie: UInt64
    var transport: TransportProtocol
    var local: Endpoint
    var remote: Endpoint
    var inode: UInt64

    /// The key of a record.
    public init(_ r: borrowing SocketRecord) {
      cookie = r.cookie
      transport = r.transport
      if r.cookie != 0 {
        let zero = Endpoint(address: IPAddress(family: r.family, high: 0, low: 0), port: 0)
        local = zero
        remote = zero
        inode = 0
      } else {
        local = r.local
        remote = r.remote
        inode = r.inode
      }
    }
  }

  /// A connection's ends and transport, whatever its cookie.
  private struct Connection: Hashable {
    var transport: TransportProtocol
    var local: Endpoint
    var remote: Endpoint
    init(_ r: SocketRecord) {
      transport = r.transport
      local = r.local
      remote = r.remote
    }
  }

  /// The sockets of the last dump.
  public private(set) var known: [Key: SocketRecord] = [:]
  private var destroyed: [Key: (record: SocketRecord, time: Int64)] = [:]
  /// The sockets reported gone by the last two updates. The kernel unhashes a socket (so a dump
  /// misses it) before it sends the destroy notification, from a work queue: a notification
  /// may arrive a tick after its socket was reported gone, and must not make it "brief" again.
  private var recentlyGone: [Set<Key>] = [[], []]
  /// Whether a first dump has been taken (its sockets are not reported as new).
  public private(set) var primed = false

  /// An empty tracker.
  public init() {}

  /// Notes a destroy notification; its meaning is settled by the next `update`.
  public mutating func noteDestroyed(_ r: SocketRecord, at time: Int64) {
    destroyed[Key(r)] = (r, time)
  }

  /// Compares a new dump with the last one. The first dump only primes the tracker (unless
  /// `reportFirst`), and returns no events.
  public mutating func update(
    with snapshot: [SocketRecord], at time: Int64, reportFirst: Bool = false
  ) -> [SocketEvent] {
    var events: [SocketEvent] = []
    var next: [Key: SocketRecord] = [:]
    next.reserveCapacity(snapshot.count)
    let report = primed || reportFirst
    for r in snapshot {
      let key = Key(r)
      next[key] = r
      if let old = known[key] {
        if old.stateCode != r.stateCode && report {
          events.append(SocketEvent(change: .state(from: old.stateCode), record: r, time: time))
        }
      } else if report {
        events.append(SocketEvent(change: .new, record: r, time: time))
      }
    }
    var gone = Set<Key>()
    for (key, old) in known where next[key] == nil {
      gone.insert(key)
      if report {
        events.append(SocketEvent(change: .gone, record: old, time: destroyed[key]?.time ?? time))
      }
    }
    if report && !destroyed.isEmpty {
      // A full socket that moves to TIME_WAIT is destroyed, and its TIME_WAIT successor takes
      // its cookie — unless nobody had asked for the cookie yet (the kernel makes cookies on
      // demand), so one never dumped has a TIME_WAIT successor with another: same addresses.
      var successors = Set<Connection>()
      for r in snapshot where r.stateCode == SocketState.timeWait.rawValue && known[Key(r)] == nil {
        successors.insert(Connection(r))
      }
      for (key, d) in destroyed
      where known[key] == nil && next[key] == nil && !recentlyGone.contains(where: { $0.contains(key) })
        && !successors.contains(Connection(d.record))
      {
        events.append(SocketEvent(change: .brief, record: d.record, time: d.time))
      }
    }
    recentlyGone = [recentlyGone[1], gone]
    known = next
    destroyed.removeAll(keepingCapacity: true)
    primed = true
    return events.sorted { $0.time < $1.time }
  }
}
