/// Where the transition tracker asks about one socket, in the network namespace being watched.
public protocol SocketLookups {
  /// The socket with this 4-tuple (a timewait socket included), nil when there is none.
  func socket(family: AddressFamily, local: Endpoint, remote: Endpoint) throws -> SocketRecord?
  /// The listener on this local address and port, nil when there is none.
  func listener(family: AddressFamily, local: Endpoint) throws -> SocketRecord?
}

/// sock_diag in the calling thread's network namespace: an exact request for a connection, a
/// listener dump narrowed to the port for a listener.
public struct NetlinkLookups: SocketLookups {
  /// Lookups in the calling thread's namespace.
  public init() {}

  public func socket(family: AddressFamily, local: Endpoint, remote: Endpoint) throws
    -> SocketRecord?
  {
    try NetlinkSource.lookup(.tcp, family: family, local: local, remote: remote)
  }

  public func listener(family: AddressFamily, local: Endpoint) throws -> SocketRecord? {
    var found: SocketRecord? = nil
    let filter = SocketFilter(
      states: StateMask([.listen]), sourcePorts: local.port...local.port)
    let query = SocketQuery(
      transports: [.tcp], families: [family], scope: .listening, filter: filter)
    try NetlinkSource().forEach(SocketTable(family: family, transport: .tcp), query) { r in
      if r.local.address == local.address || r.local.address.isUnspecified { found = copy r }
    }
    return found
  }
}

/// Every TCP state change of the sockets of one network namespace, exactly as the kernel made
/// them: the tracepoint's transitions (`TransitionSource`, every namespace, no owner), joined
/// with what sock_diag says of the namespace being watched.
///
/// - A socket is known by the kernel's `struct sock` address for its life. The first dump
///   gives the sockets that exist (their addresses unknown until their first transition, which
///   is matched to them by 4-tuple and state).
/// - The tracepoint carries no namespace. A new socket's events wait until the namespace is
///   decided: an exact lookup of its 4-tuple finds it here (and its cookie is not another
///   socket's), or a destroy notification — which the kernel sends only to listeners in the
///   socket's own namespace — tells of it; with neither, after `decisionDelay`, it belongs to
///   another namespace and its events are dropped.
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
  }

  private struct Tracked {
    var record: SocketRecord
    var socketAddress: UInt64 = 0
    /// nil: not decided yet; true: this namespace's; false: another's.
    var ours: Bool?
    var pending: [SocketEvent] = []
    var born: Int64?
    /// When the decision is due (monotonic ns) for an undecided socket.
    var deadline: UInt64 = 0
    /// A timewait socket: when its timer runs out (monotonic ns).
    var expires: UInt64 = 0
    var looked = false
    var closed = false
    /// A socket made after the first dump, before its first event is out: that event is NEW.
    var fresh = false
    /// A timewait socket still in FIN_WAIT2 (the peer's FIN not in yet).
    var finWait2Timewait = false
  }

  /// How long a socket's events wait for evidence of its namespace.
  public var decisionDelay: UInt64 = 300_000_000
  private var sockets: [Int: Tracked] = [:]
  private var nextID = 0
  private var bySocketAddress: [UInt64: Int] = [:]
  private var byTuple: [Tuple: [Int]] = [:]
  private var out: [Change] = []
  /// Destroy notifications of the last seconds, by 4-tuple, and those without a peer port by
  /// their local end.
  private var destroyed: [Tuple: (record: SocketRecord, at: UInt64)] = [:]
  private var destroyedLocal: [Tuple: (record: SocketRecord, at: UInt64)] = [:]
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
  }

  /// A tracker; `realtimeOffset` is CLOCK_REALTIME − CLOCK_MONOTONIC, in ns.
  public init(realtimeOffset: Int64) { self.realtimeOffset = realtimeOffset }

  /// Sockets tracked now (decided or not).
  public var count: Int { sockets.count }

  /// Every socket of the watched namespace known now, as last known.
  public func forEachOurs(_ body: (SocketRecord) -> Void) {
    for s in sockets.values where s.ours == true { body(s.record) }
  }

  /// The socket of the watched namespace at this kernel address, as last known (for a reset
  /// or a retransmission on it); nil when it is not one of ours, or not decided yet.
  public func socket(at address: UInt64) -> SocketRecord? {
    guard let id = bySocketAddress[address], let s = sockets[id], s.ours == true else {
      return nil
    }
    return s.record
  }

  /// The sockets that exist at the start (a dump of the namespace): known, not reported.
  public mutating func prime(_ records: [SocketRecord], monotonic now: UInt64) {
    for r in records where r.transport == .tcp {
      var t = Tracked(record: r, ours: true)
      if r.timerCode == SocketTimer.timewait.rawValue {
        t.expires = now + UInt64(r.timerExpiresMilliseconds) * 1_000_000
        t.finWait2Timewait = r.stateCode == SocketState.finWait2.rawValue
      }
      let id = insert(t)
      if t.finWait2Timewait { attention.insert(id) } else if t.expires != 0 { expire(id, at: t.expires) }
    }
  }

  /// One transition from the tracepoint; `lookups` answer in the watched namespace.
  public mutating func apply(_ t: Transition, lookups: some SocketLookups) {
    guard t.kind == .stateChange, t.transport == .tcp else { return }
    let time = Int64(t.monotonicNanoseconds) + realtimeOffset
    let old = t.oldStateCode
    let new = t.newStateCode
    if new == SocketState.lastAck.rawValue {
      // The peer sent its FIN: a FIN_WAIT2 timewait socket of ours on the other end moves to
      // TIME_WAIT now.
      let peer = Tuple(family: t.family, local: t.remote, remote: t.local)
      for other in byTuple[peer] ?? [] where sockets[other]?.finWait2Timewait == true {
        checkTimewait(other, time: time, lookups: lookups)
      }
    }
    let id: Int
    if let known = bySocketAddress[t.socketAddress], sockets[known] != nil,
      !Self.startsNew(old, new)
    {
      // The socket this address names; a state that does not follow on from the one known
      // means records were lost (the source reports it, and the table is dumped again).
      id = known
    } else {
      if let stale = bySocketAddress[t.socketAddress] { forget(stale) }
      id = adopt(t, time: time)
    }
    guard var s = sockets[id] else { return }
    // The 4-tuple as the kernel has it now (a client's port is picked after CLOSE → SYN_SENT).
    if t.local.port != 0 || s.record.local.port == 0 { moveTuple(id, &s, t) }
    if s.ours == false {
      if new == SocketState.close.rawValue { forget(id) } else { sockets[id] = s }
      return
    }
    var record = s.record
    let closing = new == SocketState.close.rawValue
    if closing && (old == SocketState.finWait2.rawValue || old == SocketState.closing.rawValue),
      let timewait = try? lookups.socket(
        family: record.family, local: record.local, remote: record.remote),
      timewait.timerCode == SocketTimer.timewait.rawValue
    {
      // The full socket became a timewait socket. In TIME_WAIT: one change, → TIME_WAIT. Still
      // waiting for the peer's FIN (an orphan's FIN_WAIT2, which sock_diag reports as
      // FIN_WAIT2 with the timewait timer): no change yet; its move to TIME_WAIT, which no
      // tracepoint shows, is looked for at the peer's LAST_ACK and at each tick.
      var tw = timewait
      tw.inode = record.inode
      tw.uid = record.uid
      if tw.stateCode == SocketState.timeWait.rawValue {
        emit(&s, SocketEvent(change: .state(from: old), record: tw, time: time))
      } else {
        s.finWait2Timewait = true
        attention.insert(id)
      }
      s.record = tw
      s.expires = t.monotonicNanoseconds + UInt64(tw.timerExpiresMilliseconds) * 1_000_000
      if !s.finWait2Timewait { expire(id, at: s.expires) }
      s.socketAddress = 0
      bySocketAddress[t.socketAddress] = nil
      sockets[id] = s
      if s.ours == nil {
        s.deadline = t.monotonicNanoseconds + decisionDelay
        decide(id, &s, lookups: lookups)
      }
      return
    }
    record.stateCode = new
    if s.fresh {
      // A socket made after the first dump: NEW in its first state.
      s.fresh = false
      emit(&s, SocketEvent(change: .new, record: record, time: time))
    } else if closing {
      record.stateCode = old
      emit(&s, SocketEvent(change: .gone, record: record, time: time))
      s.closed = true
    } else {
      emit(&s, SocketEvent(change: .state(from: old), record: record, time: time))
    }
    if !closing { s.record.stateCode = new }
    if s.ours == nil {
      s.deadline = t.monotonicNanoseconds + decisionDelay
      decide(id, &s, lookups: lookups)
    }
    if closing {
      bySocketAddress[t.socketAddress] = nil
      s.socketAddress = 0
    }
    if s.closed && s.ours == true { forget(id) } else { sockets[id] = s }
  }

  /// A destroy notification from the watched namespace: the socket was this namespace's. It
  /// often comes before the socket's last transitions are read (those wait out the reorder
  /// window), so it is kept a while for them.
  public mutating func noteDestroyed(_ r: SocketRecord, monotonic now: UInt64) {
    let key = Tuple(family: r.family, local: r.local, remote: r.remote)
    destroyed[key] = (r, now)
    // A socket reset with SO_LINGER 0 is disconnected before it is destroyed: its notification
    // has lost the peer's port. It is kept by its local end too.
    if r.remote.port == 0 {
      destroyedLocal[Tuple(family: r.family, local: r.local, remote: Self.nowhere(r.family))] = (
        r, now
      )
    }
    guard let ids = byTuple[key] else { return }
    for id in ids {
      guard var s = sockets[id], s.ours == nil else { continue }
      adoptDestroyed(r, &s)
      settle(id, &s, ours: true)
    }
  }

  private func adoptDestroyed(_ r: SocketRecord, _ s: inout Tracked) {
    if s.record.inode == 0 { s.record.inode = r.inode }
    s.record.cookie = r.cookie
    s.record.uid = r.uid
  }

  /// Time passes: undecided sockets past their deadline belong to another namespace; timewait
  /// sockets whose timer ran out are gone (checked with a lookup).
  public mutating func tick(monotonic now: UInt64, lookups: some SocketLookups) {
    destroyed = destroyed.filter { now < $0.value.at + 4 * decisionDelay }
    destroyedLocal = destroyedLocal.filter { now < $0.value.at + 4 * decisionDelay }
    for id in attention {
      guard var s = sockets[id], s.ours == nil || s.finWait2Timewait else {
        attention.remove(id)
        continue
      }
      if s.ours == nil && now >= s.deadline && s.deadline != 0 {
        decide(id, &s, lookups: lookups, final: true)
        if s.closed && s.ours != nil { forget(id) } else if sockets[id] != nil { sockets[id] = s }
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
        let still = try? lookups.socket(
          family: s.record.family, local: s.record.local, remote: s.record.remote)
        if let still, still.stateCode == SocketState.timeWait.rawValue {
          s.expires = now + max(UInt64(still.timerExpiresMilliseconds), 100) * 1_000_000
          sockets[id] = s
          expire(id, at: s.expires)
          continue
        }
        let time = Int64(now) + realtimeOffset
        out.append(
          Change(event: SocketEvent(change: .gone, record: s.record, time: time), born: s.born))
        forget(id)
      }
    }
  }

  /// A FIN_WAIT2 timewait socket looked at again: in TIME_WAIT now (the peer's FIN came), or
  /// gone (the FIN_WAIT2 timeout ran out).
  private mutating func checkTimewait(_ id: Int, time: Int64, lookups: some SocketLookups) {
    guard var s = sockets[id] else { return }
    let found = try? lookups.socket(
      family: s.record.family, local: s.record.local, remote: s.record.remote)
    if let found, found.timerCode == SocketTimer.timewait.rawValue {
      guard found.stateCode == SocketState.timeWait.rawValue else { return }
      var tw = found
      tw.inode = s.record.inode
      tw.uid = s.record.uid
      s.finWait2Timewait = false
      emit(&s, SocketEvent(change: .state(from: s.record.stateCode), record: tw, time: time))
      s.record = tw
      s.expires =
        UInt64(max(0, time - realtimeOffset)) + UInt64(tw.timerExpiresMilliseconds) * 1_000_000
      sockets[id] = s
      attention.remove(id)
      expire(id, at: s.expires)
      return
    }
    s.finWait2Timewait = false
    emit(&s, SocketEvent(change: .gone, record: s.record, time: time))
    s.closed = true
    if s.ours == nil { sockets[id] = s } else { forget(id) }
  }

  /// The changes decided since the last call, in the kernel's order per socket.
  public mutating func take() -> [Change] {
    defer { out.removeAll(keepingCapacity: true) }
    return out
  }

  /// Starts over from a new dump (after lost records): differences from what was known are
  /// reported as changes, sockets not in the dump are gone.
  public mutating func resynchronize(
    _ records: [SocketRecord], monotonic now: UInt64
  ) {
    let time = Int64(now) + realtimeOffset
    var seen = Set<Int>()
    for r in records where r.transport == .tcp {
      let key = Tuple(family: r.family, local: r.local, remote: r.remote)
      if let id = byTuple[key]?.first(where: { sockets[$0]?.ours != false }),
        var s = sockets[id]
      {
        seen.insert(id)
        if s.ours == nil {
          // In the dump, so in this namespace: its waiting changes are ours.
          settle(id, &s, ours: true)
        }
        if s.record.stateCode != r.stateCode {
          out.append(
            Change(
              event: SocketEvent(change: .state(from: s.record.stateCode), record: r, time: time),
              born: s.born))
          s.record = r
          sockets[id] = s
        }
      } else {
        var t = Tracked(record: r, ours: true, born: time)
        out.append(Change(event: SocketEvent(change: .new, record: r, time: time), born: time))
        t.expires =
          r.stateCode == SocketState.timeWait.rawValue
          ? now + UInt64(r.timerExpiresMilliseconds) * 1_000_000 : 0
        let id = insert(t)
        seen.insert(id)
        if t.expires != 0 { expire(id, at: t.expires) }
      }
    }
    for (id, s) in sockets where s.ours == true && !seen.contains(id) {
      out.append(
        Change(event: SocketEvent(change: .gone, record: s.record, time: time), born: s.born))
      forget(id)
    }
  }

  // MARK: -

  /// Whether a transition starts a socket's life: connect (`CLOSE → SYN_SENT`), listen
  /// (`CLOSE → LISTEN`), a connection accepted (`LISTEN → SYN_RECV`, on the new socket).
  static func startsNew(_ old: UInt8, _ new: UInt8) -> Bool {
    (old == SocketState.close.rawValue
      && (new == SocketState.synSent.rawValue || new == SocketState.listen.rawValue))
      || (old == SocketState.listen.rawValue && new == SocketState.synReceived.rawValue)
  }

  /// A socket seen for the first time at a transition: a new one (connect, accept, listen), or
  /// one the first dump had, found by its 4-tuple and state.
  private mutating func adopt(_ t: Transition, time: Int64) -> Int {
    let old = t.oldStateCode
    let startsNew = Self.startsNew(old, t.newStateCode)
    let key = Tuple(family: t.family, local: t.local, remote: t.remote)
    if !startsNew, let ids = byTuple[key],
      let id = ids.first(where: {
        guard let s = sockets[$0] else { return false }
        return s.socketAddress == 0 && s.ours == true && s.record.stateCode == old
      })
    {
      sockets[id]?.socketAddress = t.socketAddress
      bySocketAddress[t.socketAddress] = id
      return id
    }
    var record = SocketRecord(
      transport: .tcp, family: t.family, local: t.local, remote: t.remote, stateCode: old)
    record.cookie = 0
    var tracked = Tracked(record: record, socketAddress: t.socketAddress, ours: nil, born: time)
    tracked.fresh = startsNew
    let id = insert(tracked)
    bySocketAddress[t.socketAddress] = id
    attention.insert(id)
    return id
  }

  /// Decides an undecided socket's namespace when it can: its 4-tuple looked up here (once it
  /// has one), matching state and a cookie no other socket of ours has.
  private mutating func decide(
    _ id: Int, _ s: inout Tracked, lookups: some SocketLookups, final: Bool = false
  ) {
    let r = s.record
    // A notification from before this socket was born is another socket's (the same 4-tuple
    // used again).
    let local = Tuple(family: r.family, local: r.local, remote: Self.nowhere(r.family))
    if let d = destroyed[Tuple(family: r.family, local: r.local, remote: r.remote)]
      ?? (s.closed ? destroyedLocal[local] : nil),
      s.born.map({ Int64(d.at) + 50_000_000 >= $0 - realtimeOffset }) ?? true
    {
      adoptDestroyed(d.record, &s)
      settle(id, &s, ours: true)
      return
    }
    let complete = r.local.port != 0 && (r.remote.port != 0 || r.stateCode == 10)
    if complete && !s.looked && !s.closed {
      s.looked = true
      let found =
        r.remote.port == 0
        ? try? lookups.listener(family: r.family, local: r.local)
        : try? lookups.socket(family: r.family, local: r.local, remote: r.remote)
      if let found, Self.consistent(found.stateCode, after: s.record.stateCode),
        !cookieTaken(found.cookie, by: id)
      {
        s.record.inode = found.inode
        s.record.cookie = found.cookie
        s.record.uid = found.uid
        s.record.listenBacklog = found.listenBacklog
        settle(id, &s, ours: true)
        return
      }
    }
    // Without its port (a connect still in SYN_SENT) it cannot be looked up yet: it waits for
    // its next change or its end.
    if final && (complete || s.closed) { settle(id, &s, ours: false) }
    if final && s.ours == nil { s.deadline += decisionDelay }
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

  private func cookieTaken(_ cookie: UInt64, by id: Int) -> Bool {
    cookie != 0 && sockets.contains { $0.key != id && $0.value.record.cookie == cookie }
  }

  /// Records the decision and releases (or drops) the socket's waiting events.
  private mutating func settle(_ id: Int, _ s: inout Tracked, ours: Bool) {
    s.ours = ours
    s.deadline = 0
    if ours {
      for var e in s.pending {
        // The events waited for the 4-tuple and the inode: give them what is known now.
        e.record.local = s.record.local
        e.record.remote = s.record.remote
        if e.record.inode == 0 { e.record.inode = s.record.inode }
        if e.record.cookie == 0 { e.record.cookie = s.record.cookie }
        e.record.uid = s.record.uid
        out.append(Change(event: e, born: s.born))
      }
    }
    s.pending.removeAll()
    sockets[id] = s
  }

  private mutating func emit(_ s: inout Tracked, _ e: SocketEvent) {
    if s.ours == true {
      out.append(Change(event: e, born: s.born))
    } else if s.ours == nil {
      s.pending.append(e)
    }
  }

  @discardableResult
  private mutating func insert(_ t: Tracked) -> Int {
    let id = nextID
    nextID += 1
    sockets[id] = t
    byTuple[Tuple(family: t.record.family, local: t.record.local, remote: t.record.remote), default: []]
      .append(id)
    return id
  }

  private mutating func moveTuple(_ id: Int, _ s: inout Tracked, _ t: Transition) {
    let old = Tuple(family: s.record.family, local: s.record.local, remote: s.record.remote)
    let new = Tuple(family: t.family, local: t.local, remote: t.remote)
    guard old != new else { return }
    byTuple[old]?.removeAll { $0 == id }
    if byTuple[old]?.isEmpty == true { byTuple[old] = nil }
    byTuple[new, default: []].append(id)
    s.record.local = t.local
    s.record.remote = t.remote
  }

  private mutating func forget(_ id: Int) {
    attention.remove(id)
    guard let s = sockets.removeValue(forKey: id) else { return }
    let key = Tuple(family: s.record.family, local: s.record.local, remote: s.record.remote)
    byTuple[key]?.removeAll { $0 == id }
    if byTuple[key]?.isEmpty == true { byTuple[key] = nil }
    if s.socketAddress != 0, bySocketAddress[s.socketAddress] == id {
      bySocketAddress[s.socketAddress] = nil
    }
  }
}
