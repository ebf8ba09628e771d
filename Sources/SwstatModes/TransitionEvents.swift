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
    let ticker = env.ticker(plan.interval)
    let lookups = NetlinkLookups()
    let realtimeOffset = ticker.wallClock() - Int64(Self.monotonicNow())
    var tracker = TransitionTracker(realtimeOffset: realtimeOffset)
    let cache = plan.programs ? env.ownerCache() : nil
    var owners: OwnerTable? = nil
    /// inode → the `PID/Program name` it had, for sockets that outlive their owner's hold.
    var remembered: [UInt64: [UInt8]] = [:]
    var tcpQuery = plan.query
    tcpQuery.transports = [.tcp]
    var udpQuery = plan.query
    udpQuery.transports = [.udp]
    let withUDP = plan.query.transports.contains(.udp)
    let monitor = EventsMode(plan: plan, env: env, netRoot: netRoot).destroyMonitor(
      tcp: true, udp: withUDP)
    var udpTracker = SocketTracker()
    var udpMemory = OwnerMemory()
    var udpStream = OwnedStream(
      source: env.source(netRoot), query: udpQuery, ownerFilter: plan.ownerFilter, owners: cache)

    /// The TCP table now: the first dump, and again after lost records.
    func dumpTCP() throws -> [SocketRecord] {
      var records: [SocketRecord] = []
      let stream = OwnedStream(source: env.source(netRoot), query: tcpQuery, owners: cache)
      owners = try stream.run(start: { _ in }, each: { records.append(copy $0) })
      remember(records.map(\.inode))
      return records
    }

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
        try log.write(
          .socket(e, owner: owner, former: former, note: nil, lifetime: lifetime))
        if gone { remembered[e.record.inode] = nil }
      }
    }

    func drain(flush: Bool = false) throws {
      var lost: Int64? = nil
      try source.drain(flush: flush) { event in
        switch event {
        case .transition(let t):
          if t.kind == .stateChange {
            tracker.apply(t, lookups: lookups)
          } else if let r = tracker.socket(at: t.socketAddress), admits(r) {
            let kind: EventItem.PacketEvent =
              t.kind == .resetSent
              ? .resetSent : t.kind == .resetReceived ? .resetReceived : .retransmit
            try log.write(
              .packet(
                kind, record: r, time: Int64(t.monotonicNanoseconds) + realtimeOffset,
                owner: plan.programs ? owners?.label(of: r.inode) ?? remembered[r.inode] : nil))
          }
        case .lost(_, let at):
          lost = Int64(at) + realtimeOffset
        }
      }
      try write(tracker.take())
      if let lost {
        // The kernel dropped records: say so, and take the table again.
        try log.write(.lost(time: lost))
        tracker.resynchronize(try dumpTCP(), monotonic: Self.monotonicNow())
        try write(tracker.take())
      }
    }

    func pollUDP() throws {
      guard withUDP else { return }
      udpStream.formerOwner = { [udpMemory] in udpMemory.owner(of: $0) }
      udpTracker.begin(at: ticker.wallClock())
      let udpOwners = try udpStream.runOwnersAfter { udpTracker.observe($0) }
      for e in udpTracker.finish() {
        if e.change == .brief && !udpStream.admits(e.record, owners: nil) { continue }
        try log.write(EventsMode.item(e, plan.programs, udpOwners, udpMemory))
      }
      if let udpOwners { udpMemory.update(udpTracker.records, udpOwners) }
    }

    tracker.prime(try dumpTCP(), monotonic: Self.monotonicNow())
    try pollUDP()
    try env.output.flush()
    let fds = [source.fileDescriptor] + (monitor.map { [$0.fd] } ?? [])
    while true {
      switch ticker.wait(keys: false, extra: fds) {
      case .tick:
        try drain()
        tracker.tick(monotonic: Self.monotonicNow(), lookups: lookups)
        try write(tracker.take())
        try pollUDP()
        try env.output.flush()
      case .readable(let fd):
        if fd == source.fileDescriptor {
          try drain()
        } else if let monitor {
          let now = ticker.wallClock()
          // Every TCP notification is evidence of a socket's namespace, whatever the filter;
          // UDP's are filtered as the dumps are.
          let complete = try monitor.drain(SocketQuery(scope: .all)) { r in
            if r.transport == .tcp {
              tracker.noteDestroyed(copy r, monotonic: Self.monotonicNow())
            } else if udpQuery.families.contains(r.family) && udpQuery.matches(r) {
              udpTracker.noteDestroyed(copy r, at: now)
            }
          }
          if !complete && withUDP {
            try log.write(.lost(time: now))
            ticker.tickNow()
          }
        }
        try write(tracker.take())
        try env.output.flush()
      case .stop:
        try drain(flush: true)
        try log.end()
        return 0
      case .resize, .key, .suspend, .resume:
        continue
      }
    }
  }
}
