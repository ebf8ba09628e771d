/// Where the transition tracker asks about one socket: sock_diag in each network namespace
/// watched, numbered from 0 (one namespace: only 0).
public protocol SocketLookups {
  /// How many namespaces are watched: they are numbered 0..<namespaceCount.
  var namespaceCount: Int { get }
  /// The socket with this 4-tuple in `namespace` (a timewait socket included), nil when there
  /// is none.
  func socket(in namespace: Int, family: AddressFamily, local: Endpoint, remote: Endpoint) throws
    -> SocketRecord?
  /// The listeners on this local port in `namespace` bound to this address or to every
  /// address (several with SO_REUSEPORT).
  func listeners(in namespace: Int, family: AddressFamily, local: Endpoint) throws
    -> [SocketRecord]
  /// Whether `namespace` is still watched (one that went away is asked no more).
  func watches(_ namespace: Int) -> Bool
  /// Looks for namespaces made since the start: `.added` when some were (numbered after the
  /// others), so a socket found in none of the others is asked there too; `.notYet` when it
  /// cannot look now (it looks at most so often): the socket waits.
  func discover() -> NamespaceDiscovery
}

/// What looking for new namespaces found.
public enum NamespaceDiscovery: Sendable {
  /// Namespaces were added.
  case added
  /// None is new.
  case nothingNew
  /// Not looked: too soon after the last look.
  case notYet
}

extension SocketLookups {
  /// One namespace.
  public var namespaceCount: Int { 1 }
  /// Every namespace stays.
  public func watches(_ namespace: Int) -> Bool { true }
  /// No namespace is ever added.
  public func discover() -> NamespaceDiscovery { .nothingNew }
}

/// sock_diag in the calling thread's network namespace: an exact request for a connection, a
/// listener dump narrowed to the port for a listener.
public struct NetlinkLookups: SocketLookups {
  /// Lookups in the calling thread's namespace.
  public init() {}

  public func socket(in namespace: Int, family: AddressFamily, local: Endpoint, remote: Endpoint)
    throws -> SocketRecord?
  {
    try NetlinkSource.lookup(.tcp, family: family, local: local, remote: remote)
  }

  public func listeners(in namespace: Int, family: AddressFamily, local: Endpoint) throws
    -> [SocketRecord]
  {
    var found: [SocketRecord] = []
    let filter = SocketFilter(
      states: StateMask([.listen]), sourcePorts: local.port...local.port)
    let query = SocketQuery(
      transports: [.tcp], families: [family], scope: .listening, filter: filter)
    try NetlinkSource().forEach(SocketTable(family: family, transport: .tcp), query) { r in
      if r.local.address == local.address || r.local.address.isUnspecified {
        found.append(copy r)
      }
    }
    return found
  }
}

/// Every TCP state change of the sockets of the network namespaces watched, exactly as the
/// kernel made them: the tracepoint's transitions (`TransitionSource`, every namespace, no
/// owner), joined with what sock_diag says in each namespace watched (`SocketLookups`).
///
/// - A socket is known by the kernel's `struct sock` address for its life. The first dump of
///   each namespace gives the sockets that exist (their addresses unknown until their first
///   transition, which is matched to them by 4-tuple and state — and, since another
///   namespace's socket may have the same 4-tuple and state, checked by a lookup: the socket
///   must have moved on, or be gone).
/// - The tracepoint carries no namespace. A new socket's events wait until its namespace is
///   decided: an exact lookup of its 4-tuple finds it in one (and its cookie is not another
///   socket's), or a destroy notification — which the kernel sends only to listeners in the
///   socket's own namespace — tells of it; with neither, after `decisionDelay`, it belongs to
///   a namespace not watched and its events are dropped.
/// - Entering TIME_WAIT shows as `FIN_WAIT2 → CLOSE` (or `CLOSING → CLOSE`): the timewait
///   socket that replaces the full one is looked up and reported as `→ TIME_WAIT`, and its end
///   when its timer runs out.
public struct TransitionTracker {
  /// What happened, with the socket as it then was (`record.stateCode` is the new state).
  public struct Change: Sendable {
    /// NEW (first seen), a state change, or GONE.
    public var event: SocketEvent
    /// When the socket was first seen (CLOCK_REALTIME ns): for its lifetime on GONE. nil for
    /// a socket that existed before the first dump.
    public var born: Int64?
    /// The namespace the socket is in (its number in `SocketLookups`).
    public var namespace: Int = 0
  }

  /// A socket of a namespace not watched.
  private static let elsewhere = -1

  private struct Tracked {
    var record: SocketRecord
    var socketAddress: UInt64 = 0
    /// nil: not decided yet; `elsewhere`: a namespace not watched; else the namespace's number.
    var home: Int?
    var born: Int64?
    /// When the decision is due (monotonic ns) for an undecided socket.
    var deadline: UInt64 = 0
    /// A timewait socket: when its timer runs out (monotonic ns).
    var expires: UInt64 = 0
    /// How many namespaces its 4-tuple was looked up in (0: not yet).
    var asked = 0
    var closed = false
    /// A socket made after the first dump, before its first event is out: that event is NEW.
    var fresh = false
    /// A timewait socket still in FIN_WAIT2 (the peer's FIN not in yet).
    var finWait2Timewait = false
    /// The store's: whether the slot holds a socket, and the next socket in its 4-tuple's chain.
    var inUse = true
    var nextInTuple = -1

    /// In a namespace watched.
    var watched: Bool { (home ?? TransitionTracker.elsewhere) >= 0 }
  }

  /// How long a socket's events wait for evidence of its namespace.
  public var decisionDelay: UInt64 = 300_000_000
  /// Whether a GONE waits for the socket's destroy notification (at most `totalsDelay`), to
  /// carry what the connection carried (`SocketEvent.closing`): the kernel sends it from a
  /// work queue, just after the last transition.
  public var waitsForTotals = false
  public var totalsDelay: UInt64 = 200_000_000
  private var sockets = Store()
  private var bySocketAddress: [UInt64: Int] = [:]
  /// After a re-dump (`resynchronize`): the sockets the dump had that nothing known matched,
  /// held until the rings have been read past the dump (`settle`). One
  /// born after the last read before the dump is in it in a later state, and its records,
  /// read after, tell its story from the start: NEW from the dump too would report it twice.
  private var dumped: [(record: SocketRecord, namespace: Int)] = []
  /// When the last re-dump ended (monotonic ns): records up to then happened before it.
  private var dumpedAt: UInt64 = 0
  /// The sockets the re-dumps matched (their records are not news about the held ones).
  private var dumpMatched = Set<Int>()
  /// The 4-tuples of records up to `dumpedAt` read since: their sockets' stories are told.
  private var toldTuples = Set<Tuple>()
  /// The kernel addresses of live sockets found to be other namespaces' (their events are
  /// passed over): 8 bytes each, not a tracked socket's hundreds — a host's containers may hold
  /// far more sockets than the namespace watched. Each is let go at its CLOSE.
  private var foreign = Set<UInt64>()
  /// What few sockets have, beside them: the events of an undecided socket, waiting; a GONE
  /// held for its destroy notification (until when); the final tcp_info a notification
  /// carried (a full socket's, kept for the TIME_WAIT socket that replaced it).
  private var waiting: [Int: [SocketEvent]] = [:]
  private var held: [Int: (event: SocketEvent, until: UInt64)] = [:]
  private var closings: [Int: SocketExtras] = [:]
  private var out: [Change] = []
  /// Destroy notifications of the last seconds, by 4-tuple, and those without a peer port by
  /// their local end, with the namespace each came from.
  private var destroyed: [Tuple: Destroyed] = [:]
  private var destroyedLocal: [Tuple: Destroyed] = [:]
  /// Both, in the order they came (a tick drops the ones too old from the front: it costs what
  /// expired, not what is kept).
  private var destroyedOrder: [(key: Tuple, local: Bool, at: UInt64)] = []
  private var destroyedFront = 0

  private struct Destroyed {
    var record: SocketRecord
    var at: UInt64
    var namespace: Int
    var extras: SocketExtras?
  }
  /// The namespace a local address was last found in: asked first.
  private var addressHome: [IPAddress: Int] = [:]
  /// Sockets time matters to: undecided ones (their deadline) and FIN_WAIT2 timewait ones
  /// (looked at each tick). A tick looks at these, not at every socket.
  private var attention = Set<Int>()
  /// Timewait sockets by when their timer runs out, in 100 ms slots.
  private var expiring: [UInt64: [Int]] = [:]

  private mutating func expire(_ id: Int, at time: UInt64) {
    expiring[time / 100_000_000, default: []].append(id)
  }

  private static func nowhere(_ family: AddressFamily) -> Endpoint {
    Endpoint(address: IPAddress(family: family, high: 0, low: 0), port: 0)
  }
  /// Converts monotonic ns to CLOCK_REALTIME ns for event times.
  private let realtimeOffset: Int64

  private struct Tuple: Hashable {
    var family: AddressFamily
    var local: Endpoint
    var remote: Endpoint

    init(family: AddressFamily, local: Endpoint, remote: Endpoint) {
      self.family = family
      self.local = local
      self.remote = remote
    }

    init(_ r: SocketRecord) { self.init(family: r.family, local: r.local, remote: r.remote) }
  }

  /// The tracked sockets in one dense array, found by number, and by 4-tuple through an index
  /// of the tuples' hashes whose chains run through the slots (several sockets may share a
  /// 4-tuple: a socket and its successor, two namespaces'). A dictionary of 100k sockets this
  /// size held several times the memory (its buckets are sized for its load factor, and a
  /// list of numbers per 4-tuple is an allocation each).
  private struct Store {
    private var slots: [Tracked] = []
    private var free: [Int] = []
    private var heads: [Int: Int] = [:]
    private(set) var count = 0

    subscript(id: Int) -> Tracked? {
      id >= 0 && id < slots.count && slots[id].inUse ? slots[id] : nil
    }

    mutating func insert(_ t: Tracked) -> Int {
      var t = t
      t.inUse = true
      let id: Int
      if let reused = free.popLast() {
        id = reused
        slots[id] = t
      } else {
        id = slots.count
        slots.append(t)
      }
      link(id)
      count += 1
      return id
    }

    /// Writes `s` back; a socket whose 4-tuple changed moves to its new chain.
    mutating func set(_ id: Int, _ s: Tracked) {
      guard self[id] != nil else { return }
      let moved = Tuple(slots[id].record) != Tuple(s.record)
      if moved { unlink(id) }
      let next = slots[id].nextInTuple
      slots[id] = s
      slots[id].inUse = true
      slots[id].nextInTuple = next
      if moved { link(id) }
    }

    @discardableResult
    mutating func remove(_ id: Int) -> Tracked? {
      guard let s = self[id] else { return nil }
      unlink(id)
      slots[id].inUse = false
      free.append(id)
      count -= 1
      return s
    }

    /// The sockets with this 4-tuple.
    func ids(_ tuple: Tuple) -> [Int] {
      var found: [Int] = []
      var id = heads[tuple.hashValue] ?? -1
      while id >= 0 {
        if Tuple(slots[id].record) == tuple { found.append(id) }
        id = slots[id].nextInTuple
      }
      return found
    }

    /// Room for `more` sockets beside those there (a first dump: no doubling on the way).
    mutating func reserve(_ more: Int) {
      slots.reserveCapacity(slots.count + more)
      heads.reserveCapacity(count + more)
    }

    /// Every socket's number.
    var ids: [Int] { slots.indices.filter { slots[$0].inUse } }

    /// Every socket.
    func visit(_ body: (Tracked) -> Void) {
      for s in slots where s.inUse { body(s) }
    }

    private mutating func link(_ id: Int) {
      let key = Tuple(slots[id].record).hashValue
      slots[id].nextInTuple = heads[key] ?? -1
      heads[key] = id
    }

    private mutating func unlink(_ id: Int) {
      let key = Tuple(slots[id].record).hashValue
      var at = heads[key] ?? -1
      var previous = -1
      while at >= 0 && at != id {
        previous = at
        at = slots[at].nextInTuple
      }
      guard at == id else { return }
      let next = slots[id].nextInTuple
      if previous < 0 {
        heads[key] = next >= 0 ? next : nil
      } else {
        slots[previous].nextInTuple = next
      }
      slots[id].nextInTuple = -1
    }
  }

  /// A tracker; `realtimeOffset` is CLOCK_REALTIME − CLOCK_MONOTONIC, in ns.
  public init(realtimeOffset: Int64) { self.realtimeOffset = realtimeOffset }

  /// Sockets tracked now (decided or not).
  public var count: Int { sockets.count }

  /// Every socket of the namespaces watched known now, as last known, with its namespace.
  public func forEachWatched(_ body: (SocketRecord, Int) -> Void) {
    sockets.visit { s in if s.watched { body(s.record, s.home ?? 0) } }
  }

  /// The socket of a namespace watched at this kernel address, as last known, and its
  /// namespace (for a reset or a retransmission on it); nil when it is not one of those, or
  /// not decided yet.
  public func socket(at address: UInt64) -> (record: SocketRecord, namespace: Int)? {
    guard let id = bySocketAddress[address], let s = sockets[id], s.watched else { return nil }
    return (s.record, s.home ?? 0)
  }

  /// The sockets that exist at the start (a dump of `namespace`, or of one found later):
  /// known, not reported. One known already (found by a lookup meanwhile) is not added twice.
  public mutating func prime(_ records: [SocketRecord], namespace: Int = 0, monotonic now: UInt64) {
    sockets.reserve(records.count)
    for r in records where r.transport == .tcp && !cookieTaken(r, by: nil) {
      var t = Tracked(record: r, home: namespace)
      if r.timerCode == SocketTimer.timewait.rawValue {
        t.expires = now + UInt64(r.timerExpiresMilliseconds) * 1_000_000
        t.finWait2Timewait = r.stateCode == SocketState.finWait2.rawValue
      }
      let id = insert(t)
      if t.finWait2Timewait {
        attention.insert(id)
      } else if t.expires != 0 {
        expire(id, at: t.expires)
      }
    }
  }

  /// One transition from the tracepoint; `lookups` answer in the namespaces watched.
  public mutating func apply(_ t: Transition, lookups: some SocketLookups) {
    guard t.kind == .stateChange, t.transport == .tcp else { return }
    let time = Int64(t.monotonicNanoseconds) + realtimeOffset
    let old = t.oldStateCode
    let new = t.newStateCode
    if new == SocketState.lastAck.rawValue {
      // The peer sent its FIN: a FIN_WAIT2 timewait socket watched on the other end moves to
      // TIME_WAIT now.
      let peer = Tuple(family: t.family, local: t.remote, remote: t.local)
      for other in sockets.ids(peer) where sockets[other]?.finWait2Timewait == true {
        checkTimewait(other, time: time, lookups: lookups)
      }
    }
    if foreign.contains(t.socketAddress) {
      // Another namespace's socket; a new life at its address is looked at afresh.
      guard Self.startsNew(old, new) else {
        if new == SocketState.close.rawValue { foreign.remove(t.socketAddress) }
        return
      }
      foreign.remove(t.socketAddress)
    }
    let id: Int
    if let known = bySocketAddress[t.socketAddress], let k = sockets[known],
      !Self.startsNew(old, new), !Self.otherConnection(k.record, t)
    {
      // The socket this address names; a state that does not follow on from the one known
      // means records were lost (the source reports it, and the table is dumped again).
      id = known
    } else {
      if let stale = bySocketAddress[t.socketAddress] { detach(stale) }
      id = adopt(t, time: time, lookups: lookups)
    }
    guard var s = sockets[id] else { return }
    // The 4-tuple as the kernel has it now (a client's port is picked after CLOSE → SYN_SENT).
    if t.local.port != 0 || s.record.local.port == 0 { moveTuple(id, &s, t) }
    if !dumped.isEmpty && t.monotonicNanoseconds <= dumpedAt { toldTuples.insert(Tuple(s.record)) }
    var record = s.record
    let closing = new == SocketState.close.rawValue
    if closing && (old == SocketState.finWait2.rawValue || old == SocketState.closing.rawValue),
      let (timewait, home) = findTimewait(s, lookups: lookups)
    {
      // The full socket became a timewait socket, in namespace `home`. In TIME_WAIT: one
      // change, → TIME_WAIT. Still waiting for the peer's FIN (an orphan's FIN_WAIT2, which
      // sock_diag reports as FIN_WAIT2 with the timewait timer): no change yet; its move to
      // TIME_WAIT, which no tracepoint shows, is looked for at the peer's LAST_ACK and at each
      // tick.
      var tw = timewait
      tw.inode = record.inode
      tw.uid = record.uid
      if tw.stateCode == SocketState.timeWait.rawValue {
        emit(id, &s, SocketEvent(change: .state(from: old), record: tw, time: time))
      } else {
        s.finWait2Timewait = true
        attention.insert(id)
      }
      s.record = tw
      s.expires = t.monotonicNanoseconds + UInt64(tw.timerExpiresMilliseconds) * 1_000_000
      if !s.finWait2Timewait { expire(id, at: s.expires) }
      s.socketAddress = 0
      bySocketAddress[t.socketAddress] = nil
      if s.home == nil {
        // Found there: that is its namespace.
        settle(id, &s, home: home)
      }
      sockets.set(id, s)
      return
    }
    record.stateCode = new
    if s.fresh {
      // A socket made after the first dump: NEW in its first state.
      s.fresh = false
      emit(id, &s, SocketEvent(change: .new, record: record, time: time))
    } else if closing {
      record.stateCode = old
      var gone = SocketEvent(change: .gone, record: record, time: time)
      gone.closing = closings[id] ?? destroyedExtras(s)
      if gone.closing == nil && waitsForTotals && s.watched {
        // Its notification is on its way: the GONE waits for it, a little.
        held[id] = (gone, t.monotonicNanoseconds + totalsDelay)
        attention.insert(id)
      } else {
        emit(id, &s, gone)
      }
      s.closed = true
    } else {
      emit(id, &s, SocketEvent(change: .state(from: old), record: record, time: time))
    }
    if !closing { s.record.stateCode = new }
    if s.home == nil {
      s.deadline = t.monotonicNanoseconds + decisionDelay
      decide(id, &s, lookups: lookups)
    }
    if closing {
      bySocketAddress[t.socketAddress] = nil
      s.socketAddress = 0
    }
    if s.closed && s.watched && held[id] == nil { forget(id) } else { sockets.set(id, s) }
  }

  /// What a destroy notification of this socket carried, when it came first (after the
  /// socket's birth).
  private func destroyedExtras(_ s: Tracked) -> SocketExtras? {
    let r = s.record
    guard let d = destroyed[Tuple(r)],
      d.extras != nil, s.home == nil || s.home == d.namespace,
      s.born.map({ Int64(d.at) + 50_000_000 >= $0 - realtimeOffset }) ?? true
    else { return nil }
    return d.extras
  }

  /// A destroy notification from `namespace`: the socket was that namespace's. It often comes
  /// before the socket's last transitions are read (those wait out the reorder window), so it
  /// is kept a while for them.
  public mutating func noteDestroyed(
    _ r: SocketRecord, extras: SocketExtras? = nil, namespace: Int = 0, monotonic now: UInt64
  ) {
    let key = Tuple(r)
    let d = Destroyed(record: r, at: now, namespace: namespace, extras: extras)
    destroyed[key] = d
    destroyedOrder.append((key, false, now))
    // A socket reset with SO_LINGER 0 is disconnected before it is destroyed: its notification
    // has lost the peer's port. It is kept by its local end too.
    if r.remote.port == 0 {
      let local = Tuple(family: r.family, local: r.local, remote: Self.nowhere(r.family))
      destroyedLocal[local] = d
      destroyedOrder.append((local, true, now))
    }
    for id in sockets.ids(key) {
      guard var s = sockets[id], s.home == nil || s.home == namespace else { continue }
      // What the connection carried: for its GONE (a full socket becoming TIME_WAIT is
      // announced too; its TIME_WAIT socket's GONE carries it then).
      if let extras, closings[id] == nil || held[id] != nil { closings[id] = extras }
      if s.home == nil {
        adoptDestroyed(r, &s)
        settle(id, &s, home: namespace)
      } else if var gone = held.removeValue(forKey: id)?.event {
        gone.closing = closings[id]
        emit(id, &s, gone)
        forget(id)
        continue
      }
      sockets.set(id, s)
    }
  }

  private func adoptDestroyed(_ r: SocketRecord, _ s: inout Tracked) {
    if s.record.inode == 0 { s.record.inode = r.inode }
    s.record.cookie = r.cookie
    s.record.uid = r.uid
  }

  /// Time passes: undecided sockets past their deadline belong to a namespace not watched;
  /// timewait sockets whose timer ran out are gone (checked with a lookup).
  public mutating func tick(monotonic now: UInt64, lookups: some SocketLookups) {
    // Notifications older than four decision delays, from the front of their queue (one that
    // came again since is kept: its entry is newer).
    while destroyedFront < destroyedOrder.count,
      destroyedOrder[destroyedFront].at + 4 * decisionDelay <= now
    {
      let old = destroyedOrder[destroyedFront]
      if old.local {
        if destroyedLocal[old.key]?.at == old.at { destroyedLocal[old.key] = nil }
      } else if destroyed[old.key]?.at == old.at {
        destroyed[old.key] = nil
      }
      destroyedFront += 1
    }
    if destroyedFront > 1024 && destroyedFront * 2 > destroyedOrder.count {
      destroyedOrder.removeFirst(destroyedFront)
      destroyedFront = 0
    }
    // A copy to walk: removing from the set while walking it would copy it whole each tick.
    for id in Array(attention) {
      guard var s = sockets[id], s.home == nil || s.finWait2Timewait || held[id] != nil else {
        attention.remove(id)
        continue
      }
      if let gone = held[id] {
        // No notification came in time: the GONE goes without what it carried.
        if now >= gone.until { releaseHeld(id, gone.event) }
        continue
      }
      if s.home == nil && now >= s.deadline && s.deadline != 0 {
        decide(id, &s, lookups: lookups, final: true)
        if s.closed && s.home != nil {
          forget(id)
        } else if sockets[id] != nil {
          sockets.set(id, s)
        }
        continue
      }
      if s.finWait2Timewait {
        checkTimewait(id, time: Int64(now) + realtimeOffset, lookups: lookups)
      }
    }
    let slot = now / 100_000_000
    for due in expiring.keys where due <= slot {
      for id in expiring.removeValue(forKey: due) ?? [] {
        guard var s = sockets[id], s.expires != 0, now >= s.expires,
          s.record.stateCode == SocketState.timeWait.rawValue
        else { continue }
        let home = s.home ?? 0
        let still =
          lookups.watches(home)
          ? try? lookups.socket(
            in: home, family: s.record.family, local: s.record.local, remote: s.record.remote)
          : nil
        if let still, still.stateCode == SocketState.timeWait.rawValue {
          s.expires = now + max(UInt64(still.timerExpiresMilliseconds), 100) * 1_000_000
          sockets.set(id, s)
          expire(id, at: s.expires)
          continue
        }
        let time = Int64(now) + realtimeOffset
        out.append(
          Change(
            event: SocketEvent(
              change: .gone, record: s.record, time: time, closing: closings[id]),
            born: s.born, namespace: home))
        forget(id)
      }
    }
  }

  /// A namespace is no longer watched (it went away): its sockets went with it, each reported
  /// GONE.
  public mutating func leave(namespace: Int, monotonic now: UInt64) {
    let time = Int64(now) + realtimeOffset
    releaseAllHeld()
    for id in sockets.ids {
      guard let s = sockets[id], s.home == namespace else { continue }
      out.append(
        Change(
          event: SocketEvent(change: .gone, record: s.record, time: time), born: s.born,
          namespace: namespace))
      forget(id)
    }
    addressHome = addressHome.filter { $0.value != namespace }
  }

  /// The timewait socket that replaced this one, and its namespace: asked where the socket is,
  /// or — not decided yet — in each namespace watched.
  private func findTimewait(_ s: Tracked, lookups: some SocketLookups)
    -> (SocketRecord, Int)?
  {
    let r = s.record
    for ns in s.home.map({ [$0] }) ?? order(for: r, lookups) where lookups.watches(ns) {
      if let found = try? lookups.socket(
        in: ns, family: r.family, local: r.local, remote: r.remote),
        found.timerCode == SocketTimer.timewait.rawValue
      {
        return (found, ns)
      }
    }
    return nil
  }

  /// A FIN_WAIT2 timewait socket looked at again: in TIME_WAIT now (the peer's FIN came), or
  /// gone (the FIN_WAIT2 timeout ran out).
  private mutating func checkTimewait(_ id: Int, time: Int64, lookups: some SocketLookups) {
    guard var s = sockets[id] else { return }
    let home = s.home ?? 0
    let found =
      lookups.watches(home)
      ? try? lookups.socket(
        in: home, family: s.record.family, local: s.record.local, remote: s.record.remote)
      : nil
    if let found, found.timerCode == SocketTimer.timewait.rawValue {
      guard found.stateCode == SocketState.timeWait.rawValue else { return }
      var tw = found
      tw.inode = s.record.inode
      tw.uid = s.record.uid
      s.finWait2Timewait = false
      emit(id, &s, SocketEvent(change: .state(from: s.record.stateCode), record: tw, time: time))
      s.record = tw
      s.expires =
        UInt64(max(0, time - realtimeOffset)) + UInt64(tw.timerExpiresMilliseconds) * 1_000_000
      sockets.set(id, s)
      attention.remove(id)
      expire(id, at: s.expires)
      return
    }
    s.finWait2Timewait = false
    emit(id, &s, SocketEvent(change: .gone, record: s.record, time: time))
    s.closed = true
    if s.home == nil { sockets.set(id, s) } else { forget(id) }
  }

  /// The changes decided since the last call, in the kernel's order per socket.
  public mutating func take() -> [Change] {
    defer { out.removeAll(keepingCapacity: true) }
    return out
  }

  /// Starts `namespace` over from a new dump of it (after lost records): differences from what
  /// was known are reported as changes, its sockets not in the dump are gone.
  /// A socket the dump had that nothing known matches waits for `settle`, to be called once
  /// the tracepoint has been read past the dump: NEW then, unless its records told its story.
  public mutating func resynchronize(
    _ records: [SocketRecord], namespace: Int = 0, monotonic now: UInt64
  ) {
    let time = Int64(now) + realtimeOffset
    releaseAllHeld()
    // Records were lost, perhaps a foreign socket's CLOSE: those are decided again as they move.
    foreign.removeAll()
    var seen = Set<Int>()
    for r in records where r.transport == .tcp {
      // The socket known with this 4-tuple: by its cookie, else one of this namespace's, else
      // one not decided yet in the same state (another namespace may hold the same 4-tuple:
      // its undecided socket is not taken for this one's).
      let candidates = sockets.ids(Tuple(r)).filter { !seen.contains($0) }
      let match =
        candidates.first { r.cookie != 0 && sockets[$0]?.record.cookie == r.cookie }
        ?? candidates.first { sockets[$0]?.home == namespace }
        ?? candidates.first {
          sockets[$0]?.home == nil && sockets[$0]?.record.stateCode == r.stateCode
        }
      if let id = match, var s = sockets[id] {
        seen.insert(id)
        if s.home == nil {
          // In the dump, so in this namespace: its waiting changes are this namespace's.
          settle(id, &s, home: namespace)
        }
        if s.record.stateCode != r.stateCode {
          out.append(
            Change(
              event: SocketEvent(change: .state(from: s.record.stateCode), record: r, time: time),
              born: s.born, namespace: namespace))
          s.record = r
          sockets.set(id, s)
        }
      } else {
        dumped.append((r, namespace))
      }
    }
    dumpedAt = max(dumpedAt, now)
    dumpMatched.formUnion(seen)
    for id in sockets.ids {
      guard let s = sockets[id], s.home == namespace, !seen.contains(id) else { continue }
      out.append(
        Change(
          event: SocketEvent(change: .gone, record: s.record, time: time), born: s.born,
          namespace: namespace))
      forget(id)
    }
  }

  /// The sockets the re-dumps held, now that the tracepoint has been read past
  /// them: NEW for each whose story no record told — none on its 4-tuple up to the dump, and
  /// no socket on it born from records by then (one that has moved on since included).
  public mutating func settle() {
    defer {
      dumped.removeAll()
      dumpMatched.removeAll()
      toldTuples.removeAll()
      dumpedAt = 0
    }
    let until = Int64(dumpedAt) + realtimeOffset
    for (r, namespace) in dumped {
      let key = Tuple(r)
      if toldTuples.contains(key) { continue }
      let told = sockets.ids(key).contains { id in
        guard !dumpMatched.contains(id), let s = sockets[id] else { return false }
        return (s.home == nil || s.home == namespace) && (s.born ?? .max) <= until
      }
      if !told { reportDumped(r, namespace: namespace, monotonic: dumpedAt) }
    }
  }

  /// A socket a re-dump found that nothing known matched: NEW, and tracked.
  private mutating func reportDumped(_ r: SocketRecord, namespace: Int, monotonic now: UInt64) {
    let time = Int64(now) + realtimeOffset
    var t = Tracked(record: r, home: namespace, born: time)
    out.append(
      Change(
        event: SocketEvent(change: .new, record: r, time: time), born: time,
        namespace: namespace))
    t.expires =
      r.stateCode == SocketState.timeWait.rawValue
      ? now + UInt64(r.timerExpiresMilliseconds) * 1_000_000 : 0
    let id = insert(t)
    if t.expires != 0 { expire(id, at: t.expires) }
  }

  // MARK: -

  /// Whether a transition at a known socket's kernel address is another connection's: both
  /// have their ports and the 4-tuples differ. The kernel gave the address to a new socket and
  /// the records between were lost (the new one's start among them); taking it for the old
  /// one would move the old one to the new 4-tuple, and the re-dump's TIME_WAIT of the old
  /// one would be NEW.
  static func otherConnection(_ known: SocketRecord, _ t: Transition) -> Bool {
    known.local.port != 0 && t.local.port != 0
      && (known.local != t.local || known.remote != t.remote || known.family != t.family)
  }

  /// Whether a transition starts a socket's life: connect (`CLOSE → SYN_SENT`), listen
  /// (`CLOSE → LISTEN`), a connection accepted (`LISTEN → SYN_RECV`, on the new socket).
  static func startsNew(_ old: UInt8, _ new: UInt8) -> Bool {
    (old == SocketState.close.rawValue
      && (new == SocketState.synSent.rawValue || new == SocketState.listen.rawValue))
      || (old == SocketState.listen.rawValue && new == SocketState.synReceived.rawValue)
  }

  /// A socket seen for the first time at a transition: a new one (connect, accept, listen), or
  /// one a dump had, found by its 4-tuple and state — when a lookup agrees that the socket
  /// moved on (another namespace's socket with the same 4-tuple and state may be the one that
  /// did).
  private mutating func adopt(_ t: Transition, time: Int64, lookups: some SocketLookups) -> Int {
    let old = t.oldStateCode
    let startsNew = Self.startsNew(old, t.newStateCode)
    let key = Tuple(family: t.family, local: t.local, remote: t.remote)
    if !startsNew {
      let candidates = sockets.ids(key).filter {
        guard let s = sockets[$0] else { return false }
        return s.socketAddress == 0 && s.watched && !s.closed && s.record.stateCode == old
      }
      for id in candidates where movedOn(id, from: old, lookups: lookups) {
        if var s = sockets[id] {
          s.socketAddress = t.socketAddress
          sockets.set(id, s)
        }
        bySocketAddress[t.socketAddress] = id
        return id
      }
    }
    var record = SocketRecord(
      transport: .tcp, family: t.family, local: t.local, remote: t.remote, stateCode: old)
    record.cookie = 0
    var tracked = Tracked(record: record, socketAddress: t.socketAddress, home: nil, born: time)
    tracked.fresh = startsNew
    let id = insert(tracked)
    bySocketAddress[t.socketAddress] = id
    attention.insert(id)
    return id
  }

  /// Whether the socket a dump had (`id`, in state `old`) is the one that just left `old`: in
  /// its namespace now it is gone, another socket, or in another state. Still there with its
  /// cookie and in `old`, it did not move: the transition was another namespace's socket's.
  private func movedOn(_ id: Int, from old: UInt8, lookups: some SocketLookups) -> Bool {
    guard let s = sockets[id], let home = s.home, s.record.cookie != 0, lookups.watches(home)
    else { return true }
    let r = s.record
    let found: SocketRecord?
    do {
      found =
        r.stateCode == SocketState.listen.rawValue
        ? try lookups.listeners(in: home, family: r.family, local: r.local).first {
          $0.cookie == r.cookie
        }
        : try lookups.socket(in: home, family: r.family, local: r.local, remote: r.remote)
    } catch {
      return true
    }
    guard let found, found.cookie == r.cookie else { return true }
    return found.stateCode != old || found.timerCode == SocketTimer.timewait.rawValue
  }

  /// The namespaces to ask about a socket, the one its local address was last found in first.
  private func order(for r: SocketRecord, _ lookups: some SocketLookups) -> [Int] {
    let count = lookups.namespaceCount
    guard count > 1 else { return [0] }
    guard let first = addressHome[r.local.address], first < count else { return Array(0..<count) }
    return [first] + (0..<count).filter { $0 != first }
  }

  /// Decides an undecided socket's namespace when it can: a destroy notification from one, or
  /// its 4-tuple looked up in each (once it has one), matching state and a cookie no other
  /// socket has. `final`: the deadline passed — found nowhere watched (after asking in any
  /// namespace made meanwhile), it is another namespace's.
  private mutating func decide(
    _ id: Int, _ s: inout Tracked, lookups: some SocketLookups, final: Bool = false
  ) {
    let r = s.record
    // A notification from before this socket was born is another socket's (the same 4-tuple
    // used again).
    let local = Tuple(family: r.family, local: r.local, remote: Self.nowhere(r.family))
    if let d = destroyed[Tuple(r)]
      ?? (s.closed ? destroyedLocal[local] : nil),
      s.born.map({ Int64(d.at) + 50_000_000 >= $0 - realtimeOffset }) ?? true
    {
      adoptDestroyed(d.record, &s)
      settle(id, &s, home: d.namespace)
      return
    }
    let complete = r.local.port != 0 && (r.remote.port != 0 || r.stateCode == 10)
    if complete && !s.closed {
      var missed = false
      if s.asked == 0 {
        s.asked = lookups.namespaceCount
        if ask(id, &s, in: order(for: r, lookups), lookups: lookups) { return }
        missed = true
      }
      // Found in no namespace known: perhaps one made since (looked for at once, while the
      // socket can still be asked for; again at the deadline).
      if missed || final {
        switch lookups.discover() {
        case .added where s.asked < lookups.namespaceCount:
          let more = Array(s.asked..<lookups.namespaceCount)
          s.asked = lookups.namespaceCount
          if ask(id, &s, in: more, lookups: lookups) { return }
        case .notYet where final:
          // A namespace made a moment ago may be its: it waits for the next look.
          s.deadline += decisionDelay
          return
        default: break
        }
      }
    }
    // Without its port (a connect still in SYN_SENT) it cannot be looked up yet: it waits for
    // its next change or its end.
    if final && (complete || s.closed) { settle(id, &s, home: Self.elsewhere) }
    if final && s.home == nil { s.deadline += decisionDelay }
  }

  /// Looks the socket's 4-tuple up in `namespaces`; settles it in the first that has it.
  private mutating func ask(
    _ id: Int, _ s: inout Tracked, in namespaces: [Int], lookups: some SocketLookups
  ) -> Bool {
    let r = s.record
    for ns in namespaces where lookups.watches(ns) {
      // A listener: one whose cookie no other socket has (SO_REUSEPORT makes several).
      let found =
        r.remote.port == 0
        ? (try? lookups.listeners(in: ns, family: r.family, local: r.local))?.first {
          !cookieTaken($0, by: id)
        }
        : try? lookups.socket(in: ns, family: r.family, local: r.local, remote: r.remote)
      if let found, Self.consistent(found.stateCode, after: s.record.stateCode),
        !cookieTaken(found, by: id)
      {
        s.record.inode = found.inode
        s.record.cookie = found.cookie
        s.record.uid = found.uid
        s.record.listenBacklog = found.listenBacklog
        settle(id, &s, home: ns)
        return true
      }
    }
    return false
  }

  /// Whether a socket sock_diag reports in `found` can be the one last seen in `state`: the
  /// same state, or one the state machine reaches from it.
  static func consistent(_ found: UInt8, after state: UInt8) -> Bool {
    if found == state { return true }
    let order: [UInt8: Set<UInt8>] = [
      2: [1, 4, 5, 6, 8, 9, 11], 3: [1, 4, 5, 6, 8, 9, 11], 1: [4, 5, 6, 8, 9, 11],
      4: [5, 6, 11], 5: [6], 8: [9], 11: [6],
    ]
    return order[state]?.contains(found) ?? false
  }

  /// Whether a socket other than `id` already has `found`'s cookie (one socket found twice).
  /// The socket with that cookie has `found`'s 4-tuple: only those are looked at.
  private func cookieTaken(_ found: SocketRecord, by id: Int?) -> Bool {
    guard found.cookie != 0 else { return false }
    return sockets.ids(Tuple(found)).contains {
      $0 != id && sockets[$0]?.record.cookie == found.cookie
    }
  }

  /// Records the decision and releases (or drops) the socket's waiting events.
  private mutating func settle(_ id: Int, _ s: inout Tracked, home: Int) {
    s.home = home
    s.deadline = 0
    if home == Self.elsewhere {
      // Only its address is kept, to pass over its next events; its waiting ones are dropped.
      if s.socketAddress != 0 && !s.closed { foreign.insert(s.socketAddress) }
      forget(id)
      return
    }
    if home >= 0 {
      addressHome[s.record.local.address] = home
      for var e in waiting[id] ?? [] {
        // The events waited for the 4-tuple and the inode: give them what is known now.
        e.record.local = s.record.local
        e.record.remote = s.record.remote
        if e.record.inode == 0 { e.record.inode = s.record.inode }
        if e.record.cookie == 0 { e.record.cookie = s.record.cookie }
        e.record.uid = s.record.uid
        if e.change == .gone && e.closing == nil { e.closing = closings[id] }
        out.append(Change(event: e, born: s.born, namespace: home))
      }
    }
    waiting[id] = nil
    sockets.set(id, s)
  }

  /// A held GONE goes out (without what it carried) and its socket is forgotten.
  private mutating func releaseHeld(_ id: Int, _ gone: SocketEvent) {
    held[id] = nil
    guard var s = sockets[id] else { return }
    emit(id, &s, gone)
    forget(id)
  }

  /// Every held GONE out now (before the table is taken again).
  private mutating func releaseAllHeld() {
    for (id, gone) in held { releaseHeld(id, gone.event) }
  }

  private mutating func emit(_ id: Int, _ s: inout Tracked, _ e: SocketEvent) {
    if let home = s.home, home >= 0 {
      out.append(Change(event: e, born: s.born, namespace: home))
    } else if s.home == nil {
      waiting[id, default: []].append(e)
    }
  }

  @discardableResult
  private mutating func insert(_ t: Tracked) -> Int { sockets.insert(t) }

  /// The 4-tuple as the kernel has it now (the store moves the socket to its new chain when
  /// it is written back).
  private func moveTuple(_ id: Int, _ s: inout Tracked, _ t: Transition) {
    s.record.local = t.local
    s.record.remote = t.remote
  }

  /// A socket whose kernel address a new socket has: its CLOSE record was lost, and the
  /// table is dumped again after it. One of a namespace watched stays, without the address,
  /// for that dump to match (its TIME_WAIT, or GONE); forgetting it here made the dump's
  /// TIME_WAIT socket NEW, a second NEW for one connection. Any other is let go.
  private mutating func detach(_ id: Int) {
    guard var s = sockets[id], s.watched, s.home != nil else { return forget(id) }
    if bySocketAddress[s.socketAddress] == id { bySocketAddress[s.socketAddress] = nil }
    s.socketAddress = 0
    sockets.set(id, s)
  }

  private mutating func forget(_ id: Int) {
    attention.remove(id)
    waiting[id] = nil
    held[id] = nil
    closings[id] = nil
    guard let s = sockets.remove(id) else { return }
    if s.socketAddress != 0, bySocketAddress[s.socketAddress] == id {
      bySocketAddress[s.socketAddress] = nil
    }
  }
}
