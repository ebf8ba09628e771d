import Glibc
import SwstatCore
import SwstatRender

/// -c: netstat's continuous listing, the whole table again every interval (default 1 s).
extension Listing {
  func runContinuous() throws {
    let loop = LiveLoop(seconds: options.interval ?? 1)
    let cache = options.needsOwners ? OwnerCache(procRoot: options.procRoot) : nil
    let out = OutputBuffer()
    while true {
      if let cache {
        var records: [SocketRecord] = []
        try source.forEach(query) { records.append(copy $0) }
        let owners = cache.refresh(inodes: records.lazy.map(\.inode))
        records = filterByOwner(records, owners)
        writeOwnerNote(owners)
        let renderer = NetstatRenderer(
          options: renderOptions, output: out, owner: { owners.label(of: $0) })
        if !options.noHeader { renderer.writeHeader() }
        for r in records { try renderer.write(r) }
      } else {
        let renderer = NetstatRenderer(options: renderOptions, output: out)
        if !options.noHeader { renderer.writeHeader() }
        try source.forEach(query) { try renderer.write($0) }
      }
      try out.flush()
      while true {
        let wake = loop.wait()
        if wake == .stop { return }
        if wake == .tick { break }
      }
    }
  }
}

/// Owner labels to print for events: the current owner, else the last one known `(was …)`.
/// Each socket holds an index into this tick's distinct labels (a few hundred programs, not a
/// label per socket), by the tracker's compact identity where it has one.
struct OwnerMemory {
  /// By the tracker's identity: its compact one where it has one, else its key.
  private var byID: [UInt64: Int32] = [:]
  private var byKey: [SocketTracker.Key: Int32] = [:]
  private var labels: [[UInt8]] = []

  /// Remembers the owners of this tick's sockets, forgetting sockets no longer there and the
  /// labels no socket has any more.
  mutating func update(_ records: [SocketRecord], _ owners: ProcessOwners) {
    var nextID: [UInt64: Int32] = [:]
    nextID.reserveCapacity(byID.count)
    var nextKey: [SocketTracker.Key: Int32] = [:]
    var nextLabels: [[UInt8]] = []
    var interned: [[UInt8]: Int32] = [:]
    for r in records {
      // TIME_WAIT, orphaned FIN_WAIT2: the owner it had.
      guard let label = owners.label(of: r.inode) ?? remembered(r) else { continue }
      let index: Int32
      if let known = interned[label] {
        index = known
      } else {
        index = Int32(nextLabels.count)
        nextLabels.append(label)
        interned[label] = index
      }
      if let id = SocketTracker.compactID(r) {
        nextID[id] = index
      } else {
        nextKey[SocketTracker.Key(r)] = index
      }
    }
    byID = nextID
    byKey = nextKey
    labels = nextLabels
  }

  /// The label for a socket: its owner now, or `(was 1234/nginx)`.
  func label(_ r: SocketRecord, _ owners: ProcessOwners?, gone: Bool) -> String? {
    if !gone, let now = owners?.label(of: r.inode) { return String(decoding: now, as: UTF8.self) }
    return remembered(r).map { "(was \(String(decoding: $0, as: UTF8.self)))" }
  }

  private func remembered(_ r: SocketRecord) -> [UInt8]? {
    let index: Int32?
    if let id = SocketTracker.compactID(r) {
      index = byID[id]
    } else {
      index = byKey[SocketTracker.Key(r)]
    }
    return index.map { labels[Int($0)] }
  }
}

/// --events: each socket's changes as they happen, one timestamped line each.
extension Listing {
  func runEvents() throws {
    let loop = LiveLoop(seconds: options.interval ?? 0.1)
    let q = query
    let monitor: DestroyMonitor?
    do {
      monitor = try DestroyMonitor(
        tcp: q.transports.contains(.tcp), udp: q.transports.contains(.udp))
    } catch {
      monitor = nil
      if options.verbose { writeStderr("swstat: \(error); short-lived sockets may be missed\n") }
    }
    let cache = options.needsOwners ? OwnerCache(procRoot: options.procRoot) : nil
    var tracker = SocketTracker()
    var memory = OwnerMemory()
    let out = OutputBuffer()
    let json = options.json ? JSONRenderer(output: out) : nil

    func tick() throws {
      // Without owners the dump streams into the tracker; with them it is held until the
      // owner scan, which needs every inode, is done.
      var records: [SocketRecord] = []
      var owners: ProcessOwners? = nil
      let events: [SocketEvent]
      if let cache, options.filtersByOwner {
        try source.forEach(q) { records.append(copy $0) }
        let scanned = cache.refresh(inodes: records.lazy.map(\.inode))
        owners = scanned
        records = filterByOwner(records, scanned)
        events = tracker.update(with: records, at: LiveLoop.wallClock())
      } else {
        tracker.begin(at: LiveLoop.wallClock())
        try source.forEach(q) { tracker.observe($0) }
        owners = cache?.refresh(inodes: tracker.records.lazy.map(\.inode))
        events = tracker.finish()
      }
      for e in events {
        let gone = e.change == .gone || e.change == .brief
        let owner = options.needsOwners ? memory.label(e.record, owners, gone: gone) ?? "-" : nil
        if e.change == .brief {
          try writeEvent("NEW", e, owner, nil, json, out)
          try writeEvent("GONE", e, owner, "gone before the next dump", json, out)
        } else {
          let word = e.change == .new ? "NEW" : e.change == .gone ? "GONE" : "STATE"
          try writeEvent(word, e, owner, nil, json, out)
        }
      }
      if let owners { memory.update(tracker.records, owners) }
      try out.flush()
    }

    try tick()
    while true {
      switch loop.wait(extra: monitor?.fd) {
      case .tick:
        try tick()
      case .readable:
        guard let monitor else { continue }
        let now = LiveLoop.wallClock()
        let complete = try monitor.drain(q) { tracker.noteDestroyed(copy $0, at: now) }
        if !complete {
          // The kernel dropped notifications: say so, and look at the whole table now.
          if let json {
            _ = json
            out.append("{\"time\":\"\(isoTimestamp(now))\",\"event\":\"overflow\"}\n")
          } else {
            out.append(
              "\(isoTimestamp(now)) LOST   destroy notifications overflowed; dumping again\n")
          }
          try out.flush()
          loop.tickNow()
        }
      case .stop:
        return try out.flush()
      case .resize, .key:
        continue
      }
    }
  }

  private func writeEvent(
    _ word: String, _ e: SocketEvent, _ owner: String?, _ note: String?, _ json: JSONRenderer?,
    _ out: OutputBuffer
  ) throws {
    let r = e.record
    let time = isoTimestamp(e.time)
    let state = JSONRenderer.stateName(r)
    if let json {
      var leading = "\"time\":\"\(time)\",\"event\":\"\(word.lowercased())\","
      if case .state(let from) = e.change {
        var old = r
        old.stateCode = from
        leading += "\"from\":\"\(JSONRenderer.stateName(old))\","
      }
      if let owner { leading += "\"owner\":\"\(owner.replacingJSONSpecials())\"," }
      if let note { leading += "\"note\":\"\(note)\"," }
      return try json.write(r, leading: leading)
    }
    var line = time + " " + word.padding(6) + " " + (r.transport == .tcp ? "tcp" : "udp")
    line += (r.family == .inet6 ? "6 " : "  ")
    line +=
      Self.endpointText(r.local).padding(23) + " " + Self.endpointText(r.remote).padding(23) + " "
    if case .state(let from) = e.change {
      var old = r
      old.stateCode = from
      line += JSONRenderer.stateName(old) + " → " + state
    } else {
      line += state
    }
    if let owner { line += " " + owner }
    if let note { line += " (" + note + ")" }
    out.append(line + "\n")
    try out.endRow()
  }

  /// `127.0.0.1:5000`, `::1:5000`, a v4-mapped address as IPv4 — netstat -n's spelling, uncut.
  static func endpointText(_ e: Endpoint) -> String {
    var buf = [UInt8](repeating: 0, count: 64)
    let n = buf.withUnsafeMutableBufferPointer { p -> Int in
      // swift-format-ignore: NeverForceUnwrap
      e.address.isIPv4Mapped
        ? AddressText.writeIPv4(UInt32(truncatingIfNeeded: e.address.low), into: p.baseAddress!)
        : AddressText.write(e.address, into: p.baseAddress!)
    }
    return String(decoding: buf[..<n], as: UTF8.self) + ":" + (e.port == 0 ? "*" : String(e.port))
  }
}

extension String {
  /// Left-aligned in `width` columns.
  func padding(_ width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }

  /// Escapes `"` and `\` for a JSON string.
  func replacingJSONSpecials() -> String {
    var s = ""
    for ch in self {
      if ch == "\"" || ch == "\\" { s.append("\\") }
      if let a = ch.asciiValue, a < 0x20 {
        s += "\\u00" + (a < 16 ? "0" : "") + String(a, radix: 16)
      } else {
        s.append(ch)
      }
    }
    return s
  }
}
