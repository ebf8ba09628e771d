import Foundation
import Glibc
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import Testing

/// The transition source on the real kernel: loopback connections in a network namespace of
/// the test's own (addresses no other test uses: 127.84.x.y and an fd53:7773:: address), every
/// transition compared with an independent record of the same tracepoint, read from a tracefs
/// instance's trace_pipe. One at a time: they share the CPUs' rings with each other.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct TransitionSourceTests {
  /// A namespace with a distinct IPv4 and IPv6 address, and a port no other test listens on.
  struct Net {
    let ns: NetworkNamespace
    let v4: IPAddress
    let v6: IPAddress
    let port: UInt16

    init() throws {
      ns = try NetworkNamespace()
      v4 = IPAddress(
        family: .inet, bytes: [127, 84, UInt8.random(in: 1...254), UInt8.random(in: 1...254)])
      v6 = IPAddress(
        family: .inet6,
        bytes: [0xfd, 0x53, 0x77, 0x73] + [UInt8](repeating: 0, count: 10) + [
          UInt8.random(in: 1...254), UInt8.random(in: 1...254),
        ])
      port = UInt16.random(in: 20000...29999)
      let add = try runCommand([
        "ip", "-n", ns.name, "addr", "add", addressText(v6) + "/128", "dev", "lo", "nodad",
      ])
      if add.status != 0 {
        ns.delete()
        throw FixtureError.failed("ip addr add: \(add.stderr)")
      }
    }

    var addresses: Set<String> { [addressText(v4), addressText(v6)] }
    func server(_ family: AddressFamily) -> Endpoint {
      Endpoint(address: family == .inet ? v4 : v6, port: port)
    }
    func mine(_ t: Transition) -> Bool {
      addresses.contains(addressText(t.local.address))
        || addresses.contains(addressText(t.remote.address))
    }
    func mine(_ k: KernelRecord) -> Bool {
      addresses.contains(k.local) || addresses.contains(k.remote)
    }
  }

  /// Drains `source` and reads `instance` until the source has delivered (or reported lost)
  /// as many state changes of `net`'s sockets as the kernel's record holds, at least
  /// `minimum`, for three reads in a row (5 s at most).
  static func collect(
    _ source: TransitionSource, _ instance: TraceInstance, _ net: Net, minimum: Int,
    after earlier: [TransitionEvent] = []
  ) throws -> (ours: [TransitionEvent], kernel: [KernelRecord]) {
    var ours = earlier.filter {
      if case .transition(let t) = $0 { return net.mine(t) }
      return true
    }
    var kernel: [KernelRecord] = []
    let deadline = Date().addingTimeInterval(5)
    var settled = 0
    while Date() < deadline {
      try source.drain { e in
        if case .transition(let t) = e, !net.mine(t) { return }
        ours.append(e)
      }
      kernel = instance.records().filter(net.mine)
      var states = 0
      for e in ours {
        switch e {
        case .transition(let t): states += t.kind == .stateChange ? 1 : 0
        case .lost(let n, _): states += Int(n)
        }
      }
      // Everything the kernel recorded is here or reported lost, and nothing more comes.
      settled = states >= kernel.count && kernel.count >= minimum ? settled + 1 : 0
      if settled >= 3 { break }
      usleep(20_000)
    }
    return (ours, kernel)
  }

  /// How fast the connections come.
  enum Pace: String, CaseIterable, Sendable {
    /// About 25 connections a second, as a new user would try it.
    case slow
    /// Back to back: over a thousand a second on this machine.
    case fast
  }

  /// Every state change of connections with the four lifecycles, over IPv4 and IPv6, arrives
  /// once, in the kernel's order per socket, stamped with the time the kernel's own record
  /// has; resets come as their own kinds; nothing is lost.
  @Test(.enabled(if: traceTestsRun, "needs root"), arguments: Pace.allCases)
  func everyTransitionAsTheKernelRecordedIt(pace: Pace) throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(
      .init(resets: true, eitherPort: net.port...net.port, reorderWindow: .milliseconds(5)))
    let tracefs = try Tracefs()
    let filter = TransitionSource.kernelFilter(for: source.layouts[0], options: source.options)
    #expect(filter == "protocol == 6 && (sport == \(net.port) || dport == \(net.port))")
    let instance = try TraceInstance(tracefs, filter: filter)
    defer { instance.remove() }

    let perLifecycle = pace == .slow ? 5 : 125
    let drainer = Drainer(source)
    let started = Date()
    let clients: [(Lifecycle, AddressFamily, Endpoint)] = try net.ns.perform {
      var clients: [(Lifecycle, AddressFamily, Endpoint)] = []
      for family in AddressFamily.allCases {
        let server = net.server(family)
        let listener = try TestSocket.listener(server)
        defer { listener.close() }
        for _ in 0..<perLifecycle {
          for lifecycle in Lifecycle.allCases {
            let local = try lifecycle.run(
              listener: listener, at: server, from: server.address)
            clients.append((lifecycle, family, local))
            if pace == .slow { usleep(40_000) }
          }
        }
      }
      return clients
    }
    let elapsed = Date().timeIntervalSince(started)
    let drained = drainer.finish()
    // Each connection makes at least 4 changes per end; the listeners 2 each.
    let (ours, kernel) = try Self.collect(
      source, instance, net, minimum: clients.count * 8 + 4, after: drained)
    let stats = source.statistics
    #expect(instance.overruns() == 0, "the kernel's own record must be complete")
    #expect(stats.undecodable == 0, "\(stats)")
    let lost = ours.reduce(UInt64(0)) {
      if case .lost(let n, _) = $1 { return $0 + n }
      return $0
    }
    let transitions = ours.compactMap { e -> Transition? in
      if case .transition(let t) = e { return t }
      return nil
    }
    let changes = transitions.filter { $0.kind == .stateChange }
    #expect(changes.allSatisfy { $0.transport == .tcp })
    // Delivered in time order overall.
    #expect(
      zip(transitions, transitions.dropFirst()).allSatisfy {
        $0.monotonicNanoseconds <= $1.monotonicNanoseconds
      })
    let c = Comparison(changes, kernel)
    #expect(c.extra.isEmpty, "not in the kernel's record, or out of its order: \(c.extra)")
    #expect(c.brokenChains.isEmpty, "\(c.brokenChains)")
    // What the kernel recorded and the source did not deliver, it reported lost.
    #expect(UInt64(c.missing) <= lost, "missing \(c.missing), reported lost \(lost)")
    #expect(changes.count >= clients.count * 8 + 4 - Int(lost))

    // Each lifecycle's characteristic states, at both ends (where nothing was lost).
    func steps(_ local: Endpoint, _ remote: Endpoint) -> [(SocketState?, SocketState?)]? {
      let key = socketKey(
        local: addressText(local.address), local.port, remote: addressText(remote.address),
        remote.port)
      if c.incomplete.contains(key) { return nil }
      return (c.ours[key] ?? []).map { ($0.oldState, $0.newState) }
    }
    func visited(_ s: [(SocketState?, SocketState?)]) -> [SocketState] { s.compactMap(\.1) }
    var checked = 0
    for (lifecycle, family, client) in clients {
      let server = net.server(family)
      // A 4-tuple used twice (an RST leaves no TIME_WAIT to hold the port) holds two lives.
      guard let c = steps(client, server), let s = steps(server, client), c.count <= 5,
        s.count <= 5
      else { continue }
      checked += 1
      let label = "\(lifecycle) \(family) \(client.port)"
      #expect(c.first.map { $0 == (.close, .synSent) } == true, "\(label): \(c)")
      #expect(visited(c).prefix(2) == [.synSent, .established], "\(label): \(c)")
      #expect(s.first.map { $0 == (.listen, .synReceived) } == true, "\(label): \(s)")
      #expect(visited(s).prefix(2) == [.synReceived, .established], "\(label): \(s)")
      #expect(visited(c).last == .close && visited(s).last == .close, "\(label)")
      switch lifecycle {
      case .clientClosesFirst, .halfClose:
        #expect(visited(c).contains(.finWait1), "\(label): \(c)")
        #expect(visited(s).contains(.closeWait) && visited(s).contains(.lastAck), "\(label)")
      case .serverClosesFirst:
        #expect(visited(s).contains(.finWait1), "\(label): \(s)")
        #expect(visited(c).contains(.closeWait) && visited(c).contains(.lastAck), "\(label)")
      case .reset:
        #expect(c.last.map { $0 == (.established, .close) } == true, "\(label): \(c)")
        #expect(s.last.map { $0 == (.established, .close) } == true, "\(label): \(s)")
      }
    }
    #expect(checked >= clients.count / 2)
    // One RST sent by each reset client (to the server's port), one received by the server end,
    // the latter with the socket's cookie.
    let resets = clients.filter { $0.0 == .reset }.count
    let servers = Set(AddressFamily.allCases.map(net.server))
    let sent = transitions.filter { $0.kind == .resetSent && servers.contains($0.remote) }.count
    let received = transitions.filter {
      $0.kind == .resetReceived && servers.contains($0.local) && $0.cookie != nil
    }.count
    #expect(sent <= resets && sent + Int(lost) >= resets, "\(sent) of \(resets)")
    #expect(received <= resets && received + Int(lost) >= resets, "\(received) of \(resets)")
    let rate = Double(clients.count) / elapsed
    print(
      "transitions \(pace): \(clients.count) connections at \(Int(rate))/s, "
        + "\(changes.count) state changes of the kernel's \(kernel.count) (\(c.missing) missing, "
        + "\(lost) reported lost), skew at most \(c.maxSkewMicroseconds) µs, "
        + "\(drainer.wakeups) wake-ups and \(drainer.ticks) ticks, \(stats)")
  }

  /// 2,500 connections a second for two seconds (client closes first), drained as a live mode
  /// would: every change arrives, none twice, in the kernel's order; what the kernel drops
  /// (at most 1 %) is reported lost.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func burstAtTwoThousandConnectionsASecond() throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(.init(eitherPort: net.port...net.port))
    let tracefs = try Tracefs()
    let instance = try TraceInstance(
      tracefs,
      filter: TransitionSource.kernelFilter(for: source.layouts[0], options: source.options))
    defer { instance.remove() }
    let count = 5000
    let drainer = Drainer(source)
    let started = Date()
    try net.ns.perform {
      let server = net.server(.inet)
      let listener = try TestSocket.listener(server)
      defer { listener.close() }
      for i in 0..<count {
        // Paced: connection i starts no earlier than i / 2,500 s in.
        while Date().timeIntervalSince(started) < Double(i) / 2500 { usleep(50) }
        _ = try Lifecycle.clientClosesFirst.run(listener: listener, at: server, from: net.v4)
      }
    }
    let rate = Double(count) / Date().timeIntervalSince(started)
    let (ours, kernel) = try Self.collect(
      source, instance, net, minimum: count * 10, after: drainer.finish())
    let lost = ours.reduce(UInt64(0)) {
      if case .lost(let n, _) = $1 { return $0 + n }
      return $0
    }
    let changes = ours.compactMap { e -> Transition? in
      if case .transition(let t) = e { return t }
      return nil
    }
    let c = Comparison(changes, kernel)
    #expect(rate >= 2000, "\(Int(rate)) connections/s")
    #expect(instance.overruns() == 0)
    #expect(kernel.count >= count * 10)
    #expect(c.extra.isEmpty, "\(c.extra.prefix(10))")
    #expect(c.brokenChains.isEmpty, "\(c.brokenChains.prefix(10))")
    #expect(UInt64(c.missing) <= lost, "missing \(c.missing), reported lost \(lost)")
    #expect(lost * 100 <= UInt64(kernel.count), "lost \(lost) of \(kernel.count)")
    print(
      "transitions burst: \(count) connections at \(Int(rate))/s, \(changes.count) changes of "
        + "the kernel's \(kernel.count) (\(c.missing) missing, \(lost) reported lost), "
        + "\(drainer.wakeups) wake-ups and \(drainer.ticks) ticks, \(source.statistics)")
  }

  /// Other perf users opening and closing events meanwhile (here: probes, each opening the
  /// tracepoint on every CPU): whatever the kernel drops is reported, nothing else is missing.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func otherPerfUsersLeaveNoUnreportedGap() throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(.init(eitherPort: net.port...net.port))
    let tracefs = try Tracefs()
    let instance = try TraceInstance(
      tracefs,
      filter: TransitionSource.kernelFilter(for: source.layouts[0], options: source.options))
    defer { instance.remove() }
    let drainer = Drainer(source)
    let churn = Churn()
    try net.ns.perform {
      let server = net.server(.inet)
      let listener = try TestSocket.listener(server)
      defer { listener.close() }
      for _ in 0..<100 {
        for lifecycle in Lifecycle.allCases {
          _ = try lifecycle.run(listener: listener, at: server, from: net.v4)
        }
      }
    }
    let probes = churn.stop()
    let (ours, kernel) = try Self.collect(
      source, instance, net, minimum: 400 * 6 + 2, after: drainer.finish())
    let lost = ours.reduce(UInt64(0)) {
      if case .lost(let n, _) = $1 { return $0 + n }
      return $0
    }
    let changes = ours.compactMap { e -> Transition? in
      if case .transition(let t) = e { return t }
      return nil
    }
    let c = Comparison(changes, kernel)
    #expect(probes > 0)
    #expect(c.extra.isEmpty, "\(c.extra.prefix(10))")
    #expect(c.brokenChains.isEmpty, "\(c.brokenChains.prefix(10))")
    #expect(UInt64(c.missing) <= lost, "missing \(c.missing), reported lost \(lost)")
    print(
      "transitions with \(probes) probes meanwhile: \(changes.count) changes of the kernel's "
        + "\(kernel.count) (\(c.missing) missing, \(lost) reported lost), \(source.statistics)")
  }

  /// Opens and closes the tracepoint's events on a thread of its own until stopped.
  final class Churn: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false
    private var count = 0
    private let finished = DispatchSemaphore(value: 0)
    init() {
      Thread { [self] in
        while !lock.withLock({ stopping }) {
          if (try? TransitionSource.probe()) != nil { lock.withLock { count += 1 } }
        }
        finished.signal()
      }.start()
    }
    /// Stops and returns how many probes ran.
    func stop() -> Int {
      lock.withLock { stopping = true }
      finished.wait()
      return lock.withLock { count }
    }
  }

  /// With a one-page ring and nobody draining, a burst overflows the ring: the kernel counts
  /// what it dropped, and the drain reports it (`.lost`) where the gap was.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func lostRecordsAreReported() throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(.init(eitherPort: net.port...net.port, ringPages: 1))
    try net.ns.perform {
      let server = net.server(.inet)
      let listener = try TestSocket.listener(server)
      defer { listener.close() }
      for _ in 0..<300 {
        _ = try Lifecycle.clientClosesFirst.run(listener: listener, at: server, from: net.v4)
      }
    }
    var lost: UInt64 = 0
    var delivered = 0
    for _ in 0..<10 {
      try source.drain(flush: true) { e in
        if case .lost(let n, _) = e { lost += n } else { delivered += 1 }
      }
    }
    let stats = source.statistics
    #expect(lost > 0)
    #expect(stats.lost == lost)
    #expect(delivered > 0 && delivered < 300 * 10, "\(delivered)")
    // Every change was either delivered or counted lost: ten a connection, and the listener's
    // CLOSE → LISTEN and LISTEN → CLOSE.
    #expect(UInt64(delivered) + lost == 300 * 10 + 2, "\(delivered) + \(lost), \(stats)")
    // The kernel's own PERF_RECORD_LOST comes only with the next record that fits in that
    // CPU's ring (one more connection may write it): it is not reported a second time.
    try net.ns.perform {
      let server = net.server(.inet)
      let listener = try TestSocket.listener(server)
      defer { listener.close() }
      _ = try Lifecycle.clientClosesFirst.run(listener: listener, at: server, from: net.v4)
    }
    var again: UInt64 = 0
    try source.drain(flush: true) { e in if case .lost(let n, _) = e { again += n } }
    #expect(again == 0)
    #expect(source.statistics.kernelLost <= lost, "\(source.statistics)")
  }

  /// Records younger than the reorder window stay in their ring; once older, they come out.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func youngRecordsWaitForTheWindow() throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(
      .init(eitherPort: net.port...net.port, reorderWindow: .milliseconds(300)))
    let before = monotonicNow()
    try net.ns.perform {
      let server = net.server(.inet)
      let listener = try TestSocket.listener(server)
      defer { listener.close() }
      _ = try Lifecycle.clientClosesFirst.run(listener: listener, at: server, from: net.v4)
    }
    var early = 0
    try source.drain(asOf: monotonicNow()) { _ in early += 1 }
    var late: [TransitionEvent] = []
    try source.drain(asOf: monotonicNow() + 400_000_000) { late.append($0) }
    #expect(monotonicNow() - before < 250_000_000, "too slow for the window to be tested")
    #expect(early == 0)
    #expect(late.count == 12, "\(late)")  // ten changes and the listener's two
  }

  /// A client entering TIME_WAIT shows as FIN_WAIT2 → CLOSE; the exact lookup of its 4-tuple
  /// finds the timewait socket. An unknown 4-tuple, or one the kernel would answer with the
  /// listener, is nil.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func exactLookupFindsTheTimewaitSocket() throws {
    let net = try Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(.init(eitherPort: net.port...net.port))
    for family in AddressFamily.allCases {
      let server = net.server(family)
      let (client, listener) = try net.ns.perform {
        let listener = try TestSocket.listener(server)
        let client = try Lifecycle.clientClosesFirst.run(
          listener: listener, at: server, from: server.address)
        return (client, listener)
      }
      defer { listener.close() }
      var closing: Transition?
      for _ in 0..<50 where closing == nil {
        usleep(10_000)
        try source.drain { e in
          if case .transition(let t) = e, t.local == client, t.newState == .close {
            closing = t
          }
        }
      }
      let t = try #require(closing)
      #expect(t.oldState == .finWait2 || t.oldState == .closing)
      let (found, unknown, listenerFallback) = try net.ns.perform {
        (
          try NetlinkSource.lookup(t),
          try NetlinkSource.lookup(
            family: family, local: Endpoint(address: client.address, port: 1), remote: server),
          try NetlinkSource.lookup(
            family: family, local: server, remote: Endpoint(address: client.address, port: 9))
        )
      }
      let record = try #require(found, "\(family)")
      #expect(record.state == .timeWait)
      #expect(record.timer == .timewait)
      #expect(record.local == client && record.remote == server)
      #expect(record.cookie != 0)
      #expect(unknown == nil)
      #expect(listenerFallback == nil)
      // The cookie must match when given.
      let byCookie = try net.ns.perform {
        try NetlinkSource.lookup(
          family: family, local: client, remote: server, cookie: record.cookie ^ 1)
      }
      #expect(byCookie == nil)
    }
  }

  /// Where no tracefs is mounted, one is mounted on a thread of its own in a private mount
  /// namespace: the host's mount table and this thread's stay as they were.
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func privateTracefsLeavesTheHostsMountsAlone() throws {
    func tracefsLines(_ path: String) throws -> [Substring] {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      return text.split(separator: "\n").filter {
        $0.contains(" - tracefs ") || $0.contains("/sys/kernel/tracing")
      }
    }
    let hostBefore = try tracefsLines("/proc/1/mountinfo")
    let selfBefore = try tracefsLines("/proc/self/mountinfo")
    do {
      let tracefs = try Tracefs()
      let id = try tracefs.read("events/sock/inet_sock_set_state/id")
      #expect(
        UInt32(String(decoding: id, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
          != nil)
      #expect(tracefs.mountedPrivately == hostBefore.isEmpty)
      #expect(try tracefsLines("/proc/1/mountinfo") == hostBefore)
      #expect(try tracefsLines("/proc/self/mountinfo") == selfBefore)
    }
    #expect(try tracefsLines("/proc/1/mountinfo") == hostBefore)
  }

  /// As `nobody` (no capabilities at all), opening fails with the one line the CLI prints, and
  /// the probe says no. Runs this test binary again as nobody (a child process: changing this
  /// process's user would change every thread's).
  @Test(.enabled(if: traceTestsRun, "needs root"))
  func nobodyGetsOneLinePermissionDenied() throws {
    guard hasProgram("setpriv") else {
      Issue.record("setpriv is missing (util-linux)")
      return
    }
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let result = try runCommand(
      [
        "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", "--", "/usr/bin/env",
        "SWSTAT_TRACE_NOBODY_CHILD=1", exe, "--testing-library", "swift-testing", "--filter",
        "TransitionNobodyChild",
      ], timeout: 120)
    let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("nobody-child: ") }
    #expect(
      lines == [
        "nobody-child: tracepoint sock:inet_sock_set_state: Permission denied (root or CAP_PERFMON)",
        "nobody-child: usable false",
      ], "\(result.stdout)\n\(result.stderr)")
    #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
  }
}

/// The child half of `nobodyGetsOneLinePermissionDenied`: only runs when that test starts this
/// binary as nobody.
@Suite struct TransitionNobodyChild {
  @Test(.enabled(if: ProcessInfo.processInfo.environment["SWSTAT_TRACE_NOBODY_CHILD"] != nil))
  func openAsNobody() {
    #expect(geteuid() != 0)
    do {
      _ = try TransitionSource()
      print("nobody-child: opened")
    } catch {
      print("nobody-child: \(error)")
    }
    print("nobody-child: usable \(TransitionSource.isUsable)")
  }
}
