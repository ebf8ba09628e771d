import SwstatCore
import SwstatRender

/// `--watch`: per-state counts with their change and rate, trends, top ports, peers and
/// programs, new and gone sockets — a dashboard on a terminal, one line per tick otherwise.
/// Every filter of the plan narrows what is counted (the owned stream applies them, owners
/// included); q, Ctrl-C, Ctrl-\, SIGTERM and SIGHUP end it with the terminal put back, Ctrl-Z
/// puts the terminal back before the process stops and takes it again on `fg`.
struct WatchMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  /// One tick's tallies, gathered as the dump streams through.
  struct Tally: OutputSink {
    var counts = [Int](repeating: 0, count: 16)
    var ports = [Int32](repeating: 0, count: 65536)
    var peers: [IPAddress: Int] = [:]
    var programs: [[UInt8]: Int] = [:]
    var seen: Set<UInt64>
    var new = 0
    let lastSeen: Set<UInt64>
    var owners: OwnerTable? = nil

    init(lastSeen: Set<UInt64>) {
      self.lastSeen = lastSeen
      seen = Set(minimumCapacity: lastSeen.count + 64)
    }

    mutating func begin(_ section: Section) throws(OutputError) { owners = section.owners }
    mutating func end() throws(OutputError) {}

    mutating func write(_ r: borrowing SocketRecord) throws(OutputError) {
      let code = Int(SocketState.countedCode(r.stateCode))
      counts[code <= 11 ? code : 0] += 1
      ports[Int(r.local.port)] += 1
      if !r.remote.address.isUnspecified { peers[r.remote.address, default: 0] += 1 }
      let id = WatchMode.identity(r)
      if seen.insert(id).inserted && !lastSeen.contains(id) { new += 1 }
      if let owners, let program = owners.program(of: r.inode) {
        programs[program, default: 0] += 1
      }
    }
  }

  /// New and gone sockets by the tracker's compact identity (the cookie, or from /proc the
  /// inode), else — a TIME_WAIT socket from /proc — a hash of its key.
  static func identity(_ r: borrowing SocketRecord) -> UInt64 {
    if let id = SocketTracker.compactID(r) { return id }
    var h = Hasher()
    h.combine(SocketTracker.Key(r))
    return UInt64(bitPattern: Int64(h.finalize()))
  }

  func run() throws -> Int32 {
    if plan.query.transports.contains(.tcp),
      let source = try EventsMode(plan: plan, env: env, netRoot: netRoot).transitionSource(
        resets: true)
    {
      return try TransitionWatch(plan: plan, env: env, netRoot: netRoot, source: source).run()
    }
    let ticker = env.ticker(plan.interval)
    let terminal = plan.json ? nil : env.terminal()
    defer { terminal?.restore() }
    let form: WatchOutput.Form = terminal.map { .screen($0) } ?? (plan.json ? .json : .line)
    let output = WatchOutput(output: env.output, form: form)
    let cache = plan.programs ? env.ownerCache() : nil
    let q = plan.query
    let scopeText =
      q.transports.map { $0 == .tcp ? "tcp" : "udp" }.joined(separator: "+")
      + (q.families.count == 1 ? (q.families[0] == .inet ? " IPv4" : " IPv6") : "")
    var lastSeen = Set<UInt64>()
    var previous: [Int]? = nil
    var history: [[Int]] = []
    var first = true

    func tick() throws {
      var tally = Tally(lastSeen: lastSeen)
      let stream = OwnedStream(
        source: env.source(netRoot), query: q, ownerFilter: plan.ownerFilter,
        owners: cache)
      try stream.run(start: { try tally.begin(Section(owners: $0)) }, each: { try tally.write($0) })
      let gone = lastSeen.count - (tally.seen.count - tally.new)
      lastSeen = tally.seen
      history.append(tally.counts)
      if history.count > 240 { history.removeFirst(history.count - 240) }
      let frame = WatchFrame(
        time: Timestamp.iso(ticker.wallClock(), milliseconds: plan.interval < 1),
        interval: plan.interval,
        counts: tally.counts, previous: previous, history: history, new: first ? 0 : tally.new,
        gone: first ? 0 : gone, topPorts: Self.topPorts(tally.ports),
        topPeers: Self.top(tally.peers, 8).map { (Vocabulary.netstatAddress($0.0), $0.1) },
        topPrograms: cache == nil ? nil : Self.top(tally.programs, 8), scopeText: scopeText)
      first = false
      previous = tally.counts
      try output.write(frame)
    }

    try tick()
    while true {
      let wake = ticker.wait(keys: terminal != nil, extra: [])
      if wake == .tick { try tick() }
      if try Self.handle(wake, ticker, terminal, output) { return 0 }
    }
  }

  /// What every dashboard does with a wake other than its work: redraw on a resize, put the
  /// terminal back around a Ctrl-Z stop, end on q or a signal. Returns whether to end.
  static func handle(
    _ wake: Wake, _ ticker: any Ticker, _ terminal: (any TerminalControl)?, _ output: WatchOutput
  ) throws -> Bool {
    switch wake {
    case .resize:
      try output.redraw()
    case .key(let k):
      return k == UInt8(ascii: "q") || k == UInt8(ascii: "Q")
    case .stop:
      return true
    case .suspend:
      terminal?.restore()
      ticker.suspend()
    case .resume:
      terminal?.enter()
      try output.redraw()
    case .tick, .readable:
      break
    }
    return false
  }

  /// The eight busiest ports in one pass over the 65536 counters, without sorting them.
  static func topPorts(_ ports: [Int32]) -> [(String, Int)] {
    var best: [(n: Int32, port: Int)] = []
    for (port, n) in ports.enumerated()
    where n > 0 && (best.count < 8 || n > best[best.count - 1].n) {
      let at = best.firstIndex { n > $0.n } ?? best.count
      best.insert((n, port), at: at)
      if best.count > 8 { best.removeLast() }
    }
    return best.map { (String($0.port), Int($0.n)) }
  }

  static func top<K: Hashable>(_ counts: [K: Int], _ n: Int) -> [(K, Int)] {
    counts.sorted { $0.value != $1.value ? $0.value > $1.value : "\($0.key)" < "\($1.key)" }
      .prefix(n).map { ($0.key, $0.value) }
  }
}
