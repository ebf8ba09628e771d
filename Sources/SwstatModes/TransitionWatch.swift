import SwstatCore
import SwstatRender

/// `--watch` with TCP state changes from the kernel's tracepoint: one dump at the start, then
/// the counts move with each change as the kernel makes it (`TransitionTracker`), so the
/// dashboard also shows the state machine's edges — how many sockets took each one per second
/// — and resets. UDP, which has no state tracepoint, is counted from a UDP-only dump each tick.
/// Costs what changes: no TCP dump after the first, unless the kernel drops records.
struct TransitionWatch {
  let plan: Plan
  let env: Environment
  let netRoot: String
  let source: TransitionSource

  /// Counts, ports and peers of the TCP sockets the filters admit, moved by each change.
  struct Table {
    var counts = [Int](repeating: 0, count: 16)
    var ports = [Int32](repeating: 0, count: 65536)
    var peers: [IPAddress: Int] = [:]

    mutating func add(_ r: SocketRecord, _ sign: Int) {
      let code = Int(SocketState.countedCode(r.stateCode))
      counts[code <= 11 ? code : 0] += sign
      ports[Int(r.local.port)] += Int32(sign)
      if !r.remote.address.isUnspecified {
        peers[r.remote.address, default: 0] += sign
        if peers[r.remote.address] == 0 { peers[r.remote.address] = nil }
      }
    }
  }

  func run() throws -> Int32 {
    let ticker = env.ticker(plan.interval)
    let terminal = plan.json ? nil : env.terminal()
    defer { terminal?.restore() }
    let form: WatchOutput.Form = terminal.map { .screen($0) } ?? (plan.json ? .json : .line)
    let output = WatchOutput(output: env.output, form: form)
    let cache = plan.programs ? env.ownerCache() : nil
    var owners: OwnerTable? = nil
    var tcpQuery = plan.query
    tcpQuery.transports = [.tcp]
    tcpQuery.scope = .all
    var udpQuery = plan.query
    udpQuery.transports = [.udp]
    let withUDP = plan.query.transports.contains(.udp)
    let spaces = WatchedNamespaces(own: netRoot, label: nil) { place in
      place.monitor = EventsMode(plan: plan, env: env, netRoot: netRoot).destroyMonitor(
        tcp: true, udp: false)
    }
    let feed = TransitionFeed(source: source, spaces: spaces, wallClock: ticker.wallClock)
    var table = Table()
    var edges: [StateEdge: Int] = [:]
    var resetsSent = 0
    var resetsReceived = 0
    var new = 0
    var gone = 0
    var lastUDP = Set<UInt64>()
    var previous: [Int]? = nil
    var history: [[Int]] = []
    var first = true
    let q = plan.query
    let scopeText =
      q.transports.map { $0 == .tcp ? "tcp" : "udp" }.joined(separator: "+")
      + (q.families.count == 1 ? (q.families[0] == .inet ? " IPv4" : " IPv6") : "")
      + " · tracepoint"

    func admits(_ r: SocketRecord) -> Bool {
      // The tracepoint reports both families: -4/-6 are checked here (dumps ask per table).
      guard plan.query.families.contains(r.family), plan.query.matches(r) else { return false }
      guard let filter = plan.ownerFilter else { return true }
      guard let owners, r.inode != 0 else { return false }
      return owners.inodes(matching: filter).contains(r.inode)
    }

    feed.dump = { place in
      var records: [SocketRecord] = []
      let stream = OwnedStream(source: env.source(place.netRoot), query: tcpQuery, owners: cache)
      owners = try stream.run(start: { _ in }, each: { records.append(copy $0) })
      table = Table()
      for r in records where admits(r) { table.add(r, 1) }
      return records
    }
    feed.packet = { t, r, _ in
      guard admits(r) else { return }
      if t.kind == .resetSent { resetsSent += 1 }
      if t.kind == .resetReceived { resetsReceived += 1 }
    }

    func apply(_ changes: [TransitionTracker.Change]) {
      if let cache,
        changes.contains(where: {
          $0.event.record.inode != 0 && owners?.label(of: $0.event.record.inode) == nil
        })
      {
        owners = OwnerTable(cache.finish(inodes: changes.map(\.event.record.inode)))
      }
      for c in changes {
        var r = c.event.record
        switch c.event.change {
        case .new, .brief:
          if admits(r) { table.add(r, 1) }
          // Born by connect (from CLOSE), by a connection accepted (from LISTEN), by listen().
          let from = r.stateCode == SocketState.synReceived.rawValue ? SocketState.listen : .close
          edges[StateEdge(from: from.rawValue, to: r.stateCode), default: 0] += 1
          new += 1
        case .gone:
          if admits(r) { table.add(r, -1) }
          edges[StateEdge(from: r.stateCode, to: SocketState.close.rawValue), default: 0] += 1
          gone += 1
        case .state(let from):
          let after = r
          r.stateCode = from
          if admits(r) { table.add(r, -1) }
          if admits(after) { table.add(after, 1) }
          edges[StateEdge(from: from, to: after.stateCode), default: 0] += 1
        }
      }
    }

    var resynchronizing = false
    feed.lost = { _ in
      // The kernel dropped records: the counts start over from the dump that follows.
      apply(feed.take())
      resynchronizing = true
    }
    /// The changes since: counted, unless they are the differences a new dump found (the
    /// counts start over from it).
    func takeChanges() {
      let changes = feed.take()
      if resynchronizing {
        resynchronizing = false
      } else {
        apply(changes)
      }
    }

    func frame() throws -> WatchFrame {
      var counts = table.counts
      var ports = table.ports
      var peers = table.peers
      var programs: [[UInt8]: Int] = [:]
      var udpNew = 0
      var seen = Set<UInt64>()
      if withUDP {
        let stream = OwnedStream(
          source: env.source(netRoot), query: udpQuery, ownerFilter: plan.ownerFilter,
          owners: cache)
        let udpOwners = try stream.run(
          start: { _ in },
          each: { r in
            let code = Int(SocketState.countedCode(r.stateCode))
            counts[code <= 11 ? code : 0] += 1
            ports[Int(r.local.port)] += 1
            if !r.remote.address.isUnspecified { peers[r.remote.address, default: 0] += 1 }
            let id = WatchMode.identity(r)
            if seen.insert(id).inserted && !lastUDP.contains(id) { udpNew += 1 }
            if let program = owners?.program(of: r.inode) { programs[program, default: 0] += 1 }
          })
        if let udpOwners { owners = owners ?? udpOwners }
      }
      let udpGone = lastUDP.count - (seen.count - udpNew)
      lastUDP = seen
      if let cache {
        owners = OwnerTable(cache.finish(inodes: []))
        feed.tracker.forEachWatched { r, _ in
          guard admits(r), let program = owners?.program(of: r.inode) else { return }
          programs[program, default: 0] += 1
        }
      }
      history.append(counts)
      if history.count > 240 { history.removeFirst(history.count - 240) }
      var f = WatchFrame(
        time: Timestamp.iso(ticker.wallClock(), milliseconds: plan.interval < 1),
        interval: plan.interval, counts: counts, previous: previous, history: history,
        new: first ? 0 : new + udpNew, gone: first ? 0 : gone + udpGone,
        topPorts: WatchMode.topPorts(ports),
        topPeers: WatchMode.top(peers, 8).map { (Vocabulary.netstatAddress($0.0), $0.1) },
        topPrograms: cache == nil ? nil : WatchMode.top(programs, 8), scopeText: scopeText)
      f.edges = edges.mapValues { Double($0) / plan.interval }
      f.resetsSent = Double(resetsSent) / plan.interval
      f.resetsReceived = Double(resetsReceived) / plan.interval
      edges.removeAll(keepingCapacity: true)
      (resetsSent, resetsReceived, new, gone) = (0, 0, 0, 0)
      first = false
      previous = counts
      return f
    }

    try feed.start()
    feed.afterChunk = takeChanges
    try output.write(frame())
    while true {
      let wake = ticker.wait(keys: terminal != nil, extra: feed.fileDescriptors)
      switch wake {
      case .tick:
        try feed.tick()
        takeChanges()
        try output.write(frame())
      case .readable(let fd):
        _ = try feed.readable(fd)
        takeChanges()
      default:
        if try WatchMode.handle(wake, ticker, terminal, output) { return 0 }
      }
    }
  }
}
