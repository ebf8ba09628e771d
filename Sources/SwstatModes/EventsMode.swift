import SwstatCore
import SwstatRender

/// `--events`: each socket's changes as they happen, one timestamped line (or NDJSON object)
/// each: a dump every interval (0.1 s by default) followed by the tracker, and the kernel's
/// destroy notifications between dumps, so a socket that lives shorter than a tick is still
/// seen. Every filter narrows it, owners included: a socket is shown when its owner — or the
/// one it had, for a TIME_WAIT socket or one already gone — is wanted.
struct EventsMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  func run() throws -> Int32 {
    let ticker = env.ticker(plan.interval)
    let q = plan.query
    let monitor: DestroyMonitor?
    do {
      monitor = try DestroyMonitor(
        tcp: q.transports.contains(.tcp), udp: q.transports.contains(.udp))
    } catch {
      monitor = nil
      if plan.verbose { env.errors("swstat: \(error); short-lived sockets may be missed\n") }
    }
    let cache = plan.programs ? env.ownerCache() : nil
    var tracker = SocketTracker()
    var memory = OwnerMemory()
    var log = EventLog(output: env.output, json: plan.json, owners: plan.programs)
    var stream = OwnedStream(
      source: env.source(netRoot), query: q, ownerFilter: plan.ownerFilter, owners: cache)

    func tick() throws {
      stream.formerOwner = { [memory] in memory.owner(of: $0) }
      let owners: OwnerTable?
      if plan.ownerFilter != nil {
        // The owners decide which sockets the tracker sees: the dump waits for them.
        var records: [SocketRecord] = []
        owners = try stream.run(start: { _ in }, each: { records.append(copy $0) })
        tracker.begin(at: ticker.wallClock())
        for r in records { tracker.observe(r) }
      } else {
        tracker.begin(at: ticker.wallClock())
        owners = try stream.runOwnersAfter { tracker.observe($0) }
      }
      for e in tracker.finish() {
        // A socket seen only through its destroy notification: its owner, if any, is one
        // remembered.
        if e.change == .brief && !stream.admits(e.record, owners: nil) { continue }
        try log.write(item(e, owners, memory))
      }
      if let owners { memory.update(tracker.records, owners) }
      try env.output.flush()
    }

    try tick()
    while true {
      switch ticker.wait(keys: false, extra: monitor?.fd) {
      case .tick:
        try tick()
      case .readable:
        guard let monitor else { continue }
        let now = ticker.wallClock()
        let complete = try monitor.drain(q) { tracker.noteDestroyed(copy $0, at: now) }
        if !complete {
          // The kernel dropped notifications: say so, and look at the whole table now.
          try log.write(.lost(time: now))
          ticker.tickNow()
        }
      case .stop:
        try log.end()
        return 0
      case .resize, .key, .suspend, .resume:
        continue
      }
    }
  }

  /// The log's item for an event: the socket's owner now, or — once it has lost it (TIME_WAIT,
  /// gone) — the last one known, shown as `(was …)`.
  private func item(_ e: SocketEvent, _ owners: OwnerTable?, _ memory: OwnerMemory) -> EventItem {
    guard plan.programs else { return .socket(e, owner: nil, former: false, note: nil) }
    let gone = e.change == .gone || e.change == .brief
    if !gone, let now = owners?.label(of: e.record.inode) {
      return .socket(e, owner: now, former: false, note: nil)
    }
    if let was = memory.label(of: e.record) {
      return .socket(e, owner: was, former: true, note: nil)
    }
    return .socket(e, owner: nil, former: false, note: nil)
  }
}
