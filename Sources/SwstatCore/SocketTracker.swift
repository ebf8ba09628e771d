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
  /// What the kernel said of the socket when it destroyed it, when the destroy notification's
  /// extras were noted (`noteDestroyed(_:extras:at:)`): its final tcp_info, what the connection
  /// carried (`SocketExtras.totals`). Set on `gone` and `brief`, and on the `state` event of a
  /// full socket becoming TIME_WAIT (the TIME_WAIT socket's own `gone` carries it too).
  public var closing: SocketExtras? = nil

  /// An event from its parts.
  public init(
    change: SocketChange, record: SocketRecord, time: Int64, closing: SocketExtras? = nil
  ) {
    self.change = change
    self.record = record
    self.time = time
    self.closing = closing
  }
}

/// Follows sockets across successive dumps by the kernel's socket cookie (not by address:
/// aborted sockets lose theirs), and folds in destroy notifications so that sockets living
/// shorter than one tick are reported too.
///
/// A dump streams through it (`begin`, `observe` each record, `finish`), so no copy of the
/// table is made. It holds the last dump's records in one dense array, found by cookie through
/// an index of 12 bytes a bucket, and updates them in place: about 150 bytes a socket
/// (30 MiB at 200,000), plus the notifications since the last dump and the keys of the sockets
/// gone in the last two dumps.
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
    init(_ r: borrowing SocketRecord) {
      transport = r.transport
      local = r.local
      remote = r.remote
    }
  }

  /// The sockets of the last dump, in no order.
  public private(set) var records: [SocketRecord] = []
  /// The dump in which each of `records` was last seen.
  private var seenIn: [UInt32] = []
  /// Where each socket with a compact identity (`compactID`) sits in `records`.
  private var byID: [UInt64: Int32] = [:]
  /// Where each other socket (a TIME_WAIT socket from /proc) sits in `records`.
  private var byKey: [Key: Int32] = [:]
  private var dump: UInt32 = 0
  private var time: Int64 = 0
  private var reporting = false
  private var pending: [SocketEvent] = []
  /// TIME_WAIT sockets new in this dump, while there are destroy notifications to settle.
  private var successors: Set<Connection>? = nil
  private var destroyed: [Key: (record: SocketRecord, extras: SocketExtras?, time: Int64)] = [:]
  /// The final extras of full sockets whose TIME_WAIT successor is in `records`, by the
  /// successor's compact id: its `gone` carries them.
  private var closings: [UInt64: SocketExtras] = [:]
  /// The sockets reported gone by the last two dumps. The kernel unhashes a socket (so a dump
  /// misses it) before it sends the destroy notification, from a work queue: a notification
  /// may arrive a dump after its socket was reported gone, and must not make it "brief" again.
  private var recentlyGone: [Set<Key>] = [[], []]
  /// Whether a first dump has been taken (its sockets are not reported as new).
  public private(set) var primed = false

  /// An empty tracker.
  public init() {}

  /// How many sockets the last dump had.
  public var count: Int { records.count }

  /// Notes a destroy notification; its meaning is settled by the next dump. `extras`: what
  /// the notification carried (the final tcp_info, from `DestroyMonitor.extras`), which the
  /// socket's `gone` or `brief` event then carries as `closing`.
  public mutating func noteDestroyed(_ r: SocketRecord, extras: SocketExtras? = nil, at time: Int64)
  {
    destroyed[Key(r)] = (r, extras, time)
  }

  /// Starts a dump taken at `time` (CLOCK_REALTIME nanoseconds). The first dump only primes
  /// the tracker (unless `reportFirst`): it reports nothing.
  public mutating func begin(at time: Int64, reportFirst: Bool = false) {
    dump &+= 1
    self.time = time
    reporting = primed || reportFirst
    pending.removeAll(keepingCapacity: true)
    successors = reporting && !destroyed.isEmpty ? [] : nil
  }

  /// One record of the dump.
  public mutating func observe(_ r: borrowing SocketRecord) {
    // `&&` takes closures, which cannot capture a borrowed record: test its copied state.
    let state = r.stateCode
    if let i = index(of: r) {
      let at = Int(i)
      var closing: SocketExtras? = nil
      if state == SocketState.timeWait.rawValue && !destroyed.isEmpty,
        let final = destroyed[Key(r)]?.extras, let id = Self.compactID(r)
      {
        // A TIME_WAIT socket keeps the cookie of the full socket it replaced, whose destroy
        // notification carried what the connection did: keep that for its own `gone`.
        closings[id] = final
        closing = final
      }
      if reporting && records[at].stateCode != state && seenIn[at] != dump {
        var event = SocketEvent(
          change: .state(from: records[at].stateCode), record: copy r, time: time)
        event.closing = closing
        pending.append(event)
      }
      records[at] = copy r
      seenIn[at] = dump
      return
    }
    let at = Int32(records.count)
    if let id = Self.compactID(r) { byID[id] = at } else { byKey[Key(r)] = at }
    records.append(copy r)
    seenIn.append(dump)
    if reporting {
      pending.append(SocketEvent(change: .new, record: copy r, time: time))
      if state == SocketState.timeWait.rawValue && successors != nil {
        let c = Connection(r)
        successors?.insert(c)
      }
    }
  }

  /// Ends the dump: the sockets not seen in it are gone, and the destroy notifications of
  /// sockets no dump ever saw are brief ones. Returns this dump's events in time order.
  public mutating func finish() -> [SocketEvent] {
    var gone = Set<Key>()
    // Backwards, moving the last record into each hole: everything after `at` is kept.
    var at = records.count - 1
    while at >= 0 {
      if seenIn[at] != dump {
        let old = records[at]
        let key = Key(old)
        gone.insert(key)
        let kept =
          closings.isEmpty ? nil : Self.compactID(old).flatMap { closings.removeValue(forKey: $0) }
        if reporting {
          var event = SocketEvent(change: .gone, record: old, time: destroyed[key]?.time ?? time)
          event.closing = destroyed[key]?.extras ?? kept
          pending.append(event)
        }
        remove(at: at)
      }
      at -= 1
    }
    if reporting {
      for (key, d) in destroyed
      where index(of: d.record) == nil && !gone.contains(key)
        && !recentlyGone.contains(where: { $0.contains(key) })
        // A full socket that moves to TIME_WAIT is destroyed, and its TIME_WAIT successor takes
        // its cookie — unless nobody had asked for it yet (the kernel makes cookies on demand):
        // one never dumped has a successor with another cookie, at the same addresses.
        && successors?.contains(Connection(d.record)) != true
      {
        var event = SocketEvent(change: .brief, record: d.record, time: d.time)
        event.closing = d.extras
        pending.append(event)
      }
    }
    recentlyGone = [recentlyGone[1], gone]
    destroyed.removeAll(keepingCapacity: true)
    successors = nil
    primed = true
    let events = pending.sorted { $0.time < $1.time }
    pending.removeAll(keepingCapacity: true)
    return events
  }

  /// One whole dump at once: `begin`, `observe` each record, `finish`.
  public mutating func update(
    with snapshot: [SocketRecord], at time: Int64, reportFirst: Bool = false
  ) -> [SocketEvent] {
    begin(at: time, reportFirst: reportFirst)
    for r in snapshot { observe(r) }
    return finish()
  }

  /// A socket's identity in 8 bytes when it has one: its cookie, or — from /proc — its inode
  /// (unique among live sockets, and part of its key anyway), tagged by the top bit (cookies
  /// count up from 1 and never reach it). TIME_WAIT sockets from /proc have neither.
  public static func compactID(_ r: borrowing SocketRecord) -> UInt64? {
    r.cookie != 0 ? r.cookie : r.inode != 0 ? r.inode | 1 << 63 : nil
  }

  private func index(of r: borrowing SocketRecord) -> Int32? {
    if let id = Self.compactID(r) { return byID[id] }
    return byKey[Key(r)]
  }

  private mutating func remove(at index: Int) {
    let at = index
    let old = records[at]
    if let id = Self.compactID(old) { byID[id] = nil } else { byKey[Key(old)] = nil }
    let last = records.count - 1
    if at != last {
      records[at] = records[last]
      seenIn[at] = seenIn[last]
      let moved = records[at]
      if let id = Self.compactID(moved) {
        byID[id] = Int32(at)
      } else {
        byKey[Key(moved)] = Int32(at)
      }
    }
    records.removeLast()
    seenIn.removeLast()
  }
}
