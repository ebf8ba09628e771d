import Glibc
import SwstatCore
import SwstatRender

/// `--events` with TCP state changes from the kernel's tracepoint: one dump at the start, then
/// every change as the kernel made it (`TransitionTracker` joins the tracepoint with sock_diag:
/// the namespace, TIME_WAIT, owners), UDP polled each interval as the tracepoint has no UDP.
/// Costs what changes: no TCP dump after the first, unless the kernel drops records.
struct TransitionEvents {
  let plan: Plan
  let env: Environment
  let netRoot: String
  let source: TransitionSource
  let log: EventLog

  static func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }

  func run() throws -> Int32 {
    let withUDP = plan.query.transports.contains(.udp)
    let spaces: WatchedNamespaces
    let open: (WatchedPlace) -> Void = { place in
      place.monitor = try? place.run {
        EventsMode(plan: plan, env: env, netRoot: place.netRoot).destroyMonitor(
          tcp: true, udp: withUDP, totals: true)
      }
    }
    if plan.namespace == .all {
      spaces = WatchedNamespaces(allUnder: plan.procRoot, open: open)
    } else {
      spaces = WatchedNamespaces(own: netRoot, label: plan.namespaceLabel, open: open)
    }
    return try run(spaces)
  }

  func run(_ spaces: WatchedNamespaces) throws -> Int32 {
    let ticker = env.ticker(plan.interval)
    let feed = TransitionFeed(
      source: source, spaces: spaces, wallClock: ticker.wallClock, totals: true)
    let cache = plan.programs ? env.ownerCache() : nil
    var owners: OwnerTable? = nil
    /// inode → the `PID/Program name` it had, for sockets that outlive their owner's hold.
    var remembered: [UInt64: [UInt8]] = [:]
    var tcpQuery = plan.query
    tcpQuery.transports = [.tcp]
    var udpQuery = plan.query
    udpQuery.transports = [.udp]
    let withUDP = plan.query.transports.contains(.udp)
    let labelled = plan.namespace == .all

    func remember(_ inodes: [UInt64]) {
      guard let owners else { return }
      for inode in inodes where inode != 0 {
        if let label = owners.label(of: inode) { remembered[inode] = label }
      }
    }

    /// The owners of these sockets, walking changed processes when one is not known yet.
    func refreshOwners(for inodes: [UInt64]) {
      guard let cache else { return }
      if inodes.contains(where: { $0 != 0 && owners?.label(of: $0) == nil }) {
        owners = OwnerTable(cache.finish(inodes: inodes))
      }
      remember(inodes)
    }

    func admits(_ r: SocketRecord) -> Bool {
      // The tracepoint reports both families: -4/-6 are checked here (dumps ask per table).
      guard plan.query.families.contains(r.family), plan.query.matches(r) else { return false }
      guard let filter = plan.ownerFilter else { return true }
      if let owners, r.inode != 0, owners.inodes(matching: filter).contains(r.inode) { return true }
      guard let label = remembered[r.inode], r.inode != 0 else { return false }
      // The remembered owner: its pid is the label's number.
      let pid = Int32(String(decoding: label.prefix { $0 != 0x2f }, as: UTF8.self)) ?? -1
      if let wanted = filter.pid, wanted != pid { return false }
      if let program = filter.program, owners?.owners.program(of: pid) != program {
        return false
      }
      return true
    }

    /// A state change shows when either side passes (`--state established` shows a socket
    /// entering ESTABLISHED and leaving it), as the polled view shows it arrive and go.
    func admits(_ e: SocketEvent) -> Bool {
      if admits(e.record) { return true }
      guard case .state(let from) = e.change else { return false }
      var before = e.record
      before.stateCode = from
      return admits(before)
    }

    /// Events from here on are of `place` (with --all-netns each is labelled).
    func at(_ place: WatchedPlace?) {
      if labelled { log.label(place?.label) }
    }

    func write(_ changes: [TransitionTracker.Change]) throws {
      guard !changes.isEmpty else { return }
      refreshOwners(for: changes.map(\.event.record.inode))
      for c in changes where admits(c.event) {
        let e = c.event
        let gone = e.change == .gone
        let lifetime = gone ? c.born.map { e.time - $0 } : nil
        var owner: [UInt8]? = nil
        var former = false
        if plan.programs {
          if !gone && e.record.stateCode != SocketState.timeWait.rawValue,
            let now = owners?.label(of: e.record.inode)
          {
            owner = now
          } else if let was = remembered[e.record.inode] {
            owner = was
            former = true
          }
        }
        at(feed.place(c.namespace))
        try log.write(
          .socket(e, owner: owner, former: former, note: nil, lifetime: lifetime))
        if gone { remembered[e.record.inode] = nil }
      }
    }

    feed.dump = { place in
      var records: [SocketRecord] = []
      let stream = OwnedStream(source: env.source(place.netRoot), query: tcpQuery, owners: cache)
      let found = try stream.run(start: { _ in }, each: { records.append(copy $0) })
      if let found { owners = found }
      remember(records.map(\.inode))
      return records
    }
    feed.packet = { t, r, place in
      guard admits(r) else { return }
      let kind: EventItem.PacketEvent =
        t.kind == .resetSent ? .resetSent : t.kind == .resetReceived ? .resetReceived : .retransmit
      at(place)
      try log.write(
        .packet(
          kind, record: r, time: Int64(t.monotonicNanoseconds) + feed.realtimeOffset,
          owner: plan.programs ? owners?.label(of: r.inode) ?? remembered[r.inode] : nil))
    }
    feed.lost = { time in
      // What came before the loss first, then the line, then what the new dump says.
      try write(feed.take())
      try log.write(.lost(time: time))
    }
    feed.afterChunk = { try write(feed.take()) }
    feed.otherDestroyed = { r, place in
      guard udpQuery.families.contains(r.family) && udpQuery.matches(r) else { return }
      place.udpTracker.noteDestroyed(r, at: ticker.wallClock())
    }
    feed.notificationsLost = { _ in
      guard withUDP else { return }
      // UDP's notifications: the next poll, now, finds what they would have said.
      try log.write(.lost(time: ticker.wallClock()))
      ticker.tickNow()
    }

    /// Each namespace's UDP sockets, compared with the last poll's.
    func pollUDP() throws {
      guard withUDP else { return }
      for place in spaces.current {
        let memory = place.udpMemory
        var stream = OwnedStream(
          source: env.source(place.netRoot), query: udpQuery, ownerFilter: plan.ownerFilter,
          owners: cache)
        stream.formerOwner = { memory.owner(of: $0) }
        place.udpTracker.begin(at: ticker.wallClock())
        let udpOwners = try place.run {
          try stream.runOwnersAfter { place.udpTracker.observe($0) }
        }
        at(place)
        for e in place.udpTracker.finish() {
          if e.change == .brief && !stream.admits(e.record, owners: nil) { continue }
          try log.write(EventsMode.item(e, plan.programs, udpOwners, place.udpMemory))
        }
        if let udpOwners { place.udpMemory.update(place.udpTracker.records, udpOwners) }
      }
    }

    try feed.start()
    try pollUDP()
    try env.output.flush()
    while true {
      switch ticker.wait(keys: false, extra: feed.fileDescriptors) {
      case .tick:
        try feed.tick()
        try write(feed.take())
        try pollUDP()
        try env.output.flush()
      case .readable(let fd):
        _ = try feed.readable(fd)
        try write(feed.take())
        try env.output.flush()
      case .stop:
        try feed.drain(flush: true)
        try write(feed.take())
        try log.end()
        return 0
      case .resize, .key, .suspend, .resume:
        continue
      }
    }
  }
}
