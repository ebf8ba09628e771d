import Glibc
import SwstatCore
import SwstatRender

/// `--events`: each socket's changes as they happen, one timestamped line (or NDJSON object)
/// each. TCP state changes come from the kernel's tracepoint when it can be read here (every
/// change, in the kernel's order: `TransitionEvents`), else from polling: a dump every interval
/// (0.1 s by default) followed by the tracker, and the kernel's destroy notifications between
/// dumps. UDP, which has no state tracepoint, is always polled. Every filter narrows it, owners
/// included: a socket is shown when its owner — or the one it had, for a TIME_WAIT socket or
/// one already gone — is wanted.
struct EventsMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  func run() throws -> Int32 {
    let log = EventLog(
      output: env.output, json: plan.json, owners: plan.programs, netns: plan.namespaceLabel)
    if plan.query.transports.contains(.tcp), let source = try transitionSource() {
      try log.write(.source(transitions: "tracepoint"))
      return try TransitionEvents(plan: plan, env: env, netRoot: netRoot, source: source, log: log)
        .run()
    }
    try log.write(.source(transitions: "poll"))
    return try poll(log)
  }

  /// The tracepoint, as `--transitions` asks: nil for polling (asked, or `auto` where the
  /// tracepoint cannot be read — said with -v).
  func transitionSource(resets: Bool = false) throws -> TransitionSource? {
    if plan.transitions == .poll { return nil }
    var options = TransitionSource.Options()
    options.resets = plan.resets || resets
    options.retransmits = plan.retransmits
    let filter = plan.query.filter
    options.localPorts = filter.sourcePorts
    options.remotePorts = filter.destinationPorts
    options.eitherPort = filter.eitherPort
    do {
      // 2 MiB a CPU rides out a burst of changes while swstat waits for the CPU; where locked
      // memory is limited (CAP_PERFMON without root) the default 256 KiB.
      var big = options
      big.ringPages = 512
      let source = try (try? TransitionSource(big)) ?? TransitionSource(options)
      if plan.verbose {
        env.errors(
          "swstat: state changes from the tracepoint \(TransitionSource.stateTracepoint)\n")
      }
      return source
    } catch {
      // --all-netns has no polled form.
      if plan.transitions == .tracepoint || plan.namespace == .all { throw error }
      if plan.verbose {
        env.errors("swstat: \(error); polling instead (brief states may be missed)\n")
      }
      return nil
    }
  }

  /// The polled log: a dump a tick and destroy notifications.
  func poll(_ log: EventLog) throws -> Int32 {
    let ticker = env.ticker(plan.interval)
    let q = plan.query
    let monitor = destroyMonitor(
      tcp: q.transports.contains(.tcp), udp: q.transports.contains(.udp), totals: true)
    let cache = plan.programs ? env.ownerCache() : nil
    var tracker = SocketTracker()
    var memory = OwnerMemory()
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
        try log.write(Self.item(e, plan.programs, owners, memory))
      }
      if let owners { memory.update(tracker.records, owners) }
      try env.output.flush()
    }

    try tick()
    while true {
      switch ticker.wait(keys: false, extra: monitor.map { [$0.fd] } ?? []) {
      case .tick:
        try tick()
      case .readable:
        guard let monitor else { continue }
        let now = ticker.wallClock()
        let complete = try monitor.drain(q) {
          tracker.noteDestroyed(copy $0, extras: monitor.extras?.take(for: $0), at: now)
        }
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

  /// The destroy notifications of this namespace, or nil (said with -v) when refused.
  /// `totals`: each TCP socket's final tcp_info kept (`monitor.extras`), for GONE lines.
  func destroyMonitor(tcp: Bool, udp: Bool, totals: Bool = false) -> DestroyMonitor? {
    guard tcp || udp else { return nil }
    do {
      return try DestroyMonitor(
        tcp: tcp, udp: udp, extras: totals && tcp ? SocketExtrasStore(kinds: [.info]) : nil)
    } catch {
      if plan.verbose { env.errors("swstat: \(error); short-lived sockets may be missed\n") }
      return nil
    }
  }

  /// The log's item for an event: the socket's owner now, or — once it has lost it (TIME_WAIT,
  /// gone) — the last one known, shown as `(was …)`.
  static func item(
    _ e: SocketEvent, _ programs: Bool, _ owners: OwnerTable?, _ memory: OwnerMemory,
    lifetime: Int64? = nil
  ) -> EventItem {
    guard programs else {
      return .socket(e, owner: nil, former: false, note: nil, lifetime: lifetime)
    }
    let gone = e.change == .gone || e.change == .brief
    if !gone, let now = owners?.label(of: e.record.inode) {
      return .socket(e, owner: now, former: false, note: nil, lifetime: lifetime)
    }
    if let was = memory.label(of: e.record) {
      return .socket(e, owner: was, former: true, note: nil, lifetime: lifetime)
    }
    return .socket(e, owner: nil, former: false, note: nil, lifetime: lifetime)
  }
}
