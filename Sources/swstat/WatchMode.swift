import Glibc
import SwstatCore
import SwstatRender

/// --watch: per-state counts with their change and rate, trends, top ports, peers and programs,
/// new and gone sockets — a dashboard on a terminal, one line per tick otherwise.
extension Listing {
  func runWatch() throws {
    let interval = options.interval ?? 1
    let loop = LiveLoop(seconds: interval)
    let terminal = isatty(STDOUT_FILENO) == 1 && !options.json ? Terminal() : nil
    defer { terminal?.restore() }
    let cache = options.needsOwners ? OwnerCache(procRoot: options.procRoot) : nil
    let out = OutputBuffer()
    var previous: [Int]? = nil
    var history: [[Int]] = []
    var frame: WatchFrame? = nil
    let q = query
    let scopeText =
      q.transports.map { $0 == .tcp ? "tcp" : "udp" }.joined(separator: "+")
      + (q.families.count == 1 ? (q.families[0] == .inet ? " IPv4" : " IPv6") : "")

    // New and gone sockets by the tracker's compact identity (the cookie, or from /proc the
    // inode), else — a TIME_WAIT socket from /proc — a hash of its key: two hash operations a
    // socket, since this runs on every socket every tick.
    var lastSeen = Set<UInt64>()

    func identity(_ r: borrowing SocketRecord) -> UInt64 {
      if let id = SocketTracker.compactID(r) { return id }
      var h = Hasher()
      h.combine(SocketTracker.Key(r))
      return UInt64(bitPattern: Int64(h.finalize()))
    }

    func collect() throws -> WatchFrame {
      var records: [SocketRecord] = []
      var counts = [Int](repeating: 0, count: 16)
      var ports = [Int32](repeating: 0, count: 65536)
      var peers: [IPAddress: Int] = [:]
      var seen = Set<UInt64>(minimumCapacity: lastSeen.count + 64)
      var new = 0
      let keep = cache != nil
      try source.forEach(q) { r in
        counts[Int(r.stateCode < 16 ? r.stateCode : 0)] += 1
        ports[Int(r.local.port)] += 1
        if !r.remote.address.isUnspecified { peers[r.remote.address, default: 0] += 1 }
        let id = identity(r)
        if seen.insert(id).inserted && !lastSeen.contains(id) { new += 1 }
        if keep { records.append(copy r) }
      }
      let gone = lastSeen.count - (seen.count - new)
      let first = frame == nil
      lastSeen = seen
      var programs: [(String, Int)]? = nil
      if let cache {
        let owners = cache.refresh(inodes: records.lazy.map(\.inode))
        var byProgram: [String: Int] = [:]
        for r in records {
          guard let o = owners.owner(of: r.inode), let p = owners.program(of: o.pid) else {
            continue
          }
          byProgram[String(decoding: p, as: UTF8.self), default: 0] += 1
        }
        programs = top(byProgram, 8)
      }
      // The eight busiest ports in one pass over the 65536 counters, without sorting them.
      var best: [(n: Int32, port: Int)] = []
      for (port, n) in ports.enumerated()
      where n > 0 && (best.count < 8 || n > best[best.count - 1].n) {
        let at = best.firstIndex { n > $0.n } ?? best.count
        best.insert((n, port), at: at)
        if best.count > 8 { best.removeLast() }
      }
      let topPorts = best.map { (String($0.port), Int($0.n)) }
      history.append(counts)
      if history.count > 240 { history.removeFirst(history.count - 240) }
      let f = WatchFrame(
        time: isoTimestamp(LiveLoop.wallClock(), milliseconds: false), interval: interval,
        counts: counts, previous: previous, history: history, new: first ? 0 : new,
        gone: first ? 0 : gone, topPorts: topPorts,
        topPeers: top(peers, 8).map { (LiveModesText.address($0.0), $0.1) },
        topPrograms: programs, scopeText: scopeText)
      previous = counts
      return f
    }

    func show(_ f: WatchFrame) throws {
      if let terminal {
        let size = terminal.size
        terminal.draw(Dashboard.screen(f, columns: size.columns, rows: size.rows))
      } else {
        out.append((options.json ? Dashboard.json(f) : Dashboard.line(f)) + "\n")
        try out.flush()
      }
    }

    frame = try collect()
    // swift-format-ignore: NeverForceUnwrap
    try show(frame!)
    while true {
      switch loop.wait(keys: terminal != nil) {
      case .tick:
        frame = try collect()
        // swift-format-ignore: NeverForceUnwrap
        try show(frame!)
      case .resize:
        if let frame { try show(frame) }
      case .key(let k):
        if k == UInt8(ascii: "q") || k == UInt8(ascii: "Q") { return }
      case .stop:
        return
      case .readable:
        continue
      }
    }
  }

  private func top<K: Hashable>(_ counts: [K: Int], _ n: Int) -> [(K, Int)] {
    counts.sorted { $0.value != $1.value ? $0.value > $1.value : "\($0.key)" < "\($1.key)" }
      .prefix(n).map { ($0.key, $0.value) }
  }
}

/// Text helpers for the live modes.
enum LiveModesText {
  /// Numeric address text (v4-mapped as IPv4).
  static func address(_ a: IPAddress) -> String {
    let e = Listing.endpointText(Endpoint(address: a, port: 0))
    return String(e.dropLast(2))
  }
}
