import Glibc
import SwstatCore
import SwstatTestSupport
import Testing

/// A TCP socket of the test's own on 127.0.0.1, closed by `close()`.
private struct LoopbackSocket {
  let fd: Int32

  /// A listener on an ephemeral port.
  static func listener() throws -> LoopbackSocket {
    let s = LoopbackSocket(fd: socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
    try #require(s.fd >= 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    try #require(withSockaddr(&a) { bind(s.fd, $0, $1) } == 0)
    try #require(listen(s.fd, 8) == 0)
    return s
  }

  /// A connection to `port` on 127.0.0.1.
  static func connected(to port: UInt16) throws -> LoopbackSocket {
    let s = LoopbackSocket(fd: socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
    try #require(s.fd >= 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    try #require(withSockaddr(&a) { connect(s.fd, $0, $1) } == 0)
    return s
  }

  var port: UInt16 {
    var a = sockaddr_in()
    _ = withSockaddr(&a) { p, n in
      var len = n
      return getsockname(fd, p, &len)
    }
    return UInt16(bigEndian: a.sin_port)
  }

  func accept() throws -> LoopbackSocket {
    let s = LoopbackSocket(fd: Glibc.accept(fd, nil, nil))
    try #require(s.fd >= 0)
    return s
  }

  func close() { _ = Glibc.close(fd) }

  func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
}

private func withSockaddr<R>(
  _ a: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> R
) -> R {
  withUnsafeMutablePointer(to: &a) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
}

private func now() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_REALTIME, &ts)
  return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension NetworkNamespace {
  /// Runs `body` on a thread that has entered the namespace (SwstatCore's own setns thread, the
  /// one --netns uses) and returns what it returns. Record expectations on that.
  func perform<T>(_ body: () throws -> T) throws -> T {
    var result: T? = nil
    try NetworkNamespaces.run(in: "/run/netns/\(name)", context: "test namespace") {
      result = try body()
    }
    guard let result else { throw FixtureError.failed("perform: no result") }
    return result
  }
}

/// The tracker on real sockets, with real destroy notifications, in a network namespace of the
/// test's own (root: the namespace and the multicast groups), so that the host's churn — other
/// tests open tens of thousands of connections a second — neither floods the notifications nor
/// reuses the ports. The limit counts from the start, waits for a thread included: on two cores
/// the suite's first test may wait minutes behind the blocking ones.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct TrackerTests {
  static let query = SocketQuery(transports: [.tcp], families: [.inet])

  /// The test's own sockets in a fresh dump: those with `port` at either end.
  static func dump(_ port: UInt16) throws -> [SocketRecord] {
    try NetlinkSource().snapshot(query).filter { $0.local.port == port || $0.remote.port == port }
  }

  /// Waits (2 s at most) for the destroy notifications of sockets with `port` at either end,
  /// notes them in `tracker`, and returns how many there were.
  static func drain(
    _ monitor: DestroyMonitor, _ port: UInt16, into tracker: inout SocketTracker, want: Int
  ) throws -> Int {
    var seen = 0
    for _ in 0..<40 where seen < want {
      var p = pollfd(fd: monitor.fd, events: Int16(POLLIN), revents: 0)
      if poll(&p, 1, 50) <= 0 { continue }
      _ = try monitor.drain(query) { r in
        if r.local.port == port || r.remote.port == port {
          tracker.noteDestroyed(copy r, at: now())
          seen += 1
        }
      }
    }
    return seen
  }

  /// A listener closed before a dump, whose destroy notification comes after it: one GONE,
  /// and no second report of the same socket as a brief one.
  @Test(.enabled(if: available(root: true, tools: ["ip"]), "needs root for a network namespace"))
  func lateNotificationIsNotReportedTwice() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (primed, first, drained, second) = try ns.perform {
      let monitor = try DestroyMonitor(tcp: true, udp: false)
      var tracker = SocketTracker()
      let server = try LoopbackSocket.listener()
      let port = server.port
      _ = tracker.update(with: try Self.dump(port), at: now())
      let primed = tracker.count
      server.close()
      let first = tracker.update(with: try Self.dump(port), at: now()).map(\.change)
      let drained = try Self.drain(monitor, port, into: &tracker, want: 1)
      let second = tracker.update(with: try Self.dump(port), at: now()).map(\.change)
      return (primed, first, drained, second)
    }
    #expect(primed == 1)
    #expect(first == [.gone])
    #expect(drained == 1)
    #expect(second.isEmpty, "\(second)")
  }

  /// A flood of notifications is read in bounded batches (64 datagrams, one notification
  /// each), so the live loop gets its ticks and signals between them; the rest stays queued for
  /// the next read, none lost.
  @Test(.enabled(if: available(root: true, tools: ["ip"]), "needs root for a network namespace"))
  func notificationsAreReadInBatches() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (batches, total) = try ns.perform {
      let monitor = try DestroyMonitor(tcp: true, udp: false)
      let server = try LoopbackSocket.listener()
      let port = server.port
      for _ in 0..<300 {
        let client = try LoopbackSocket.connected(to: port)
        let accepted = try server.accept()
        client.close()
        accepted.close()
      }
      server.close()
      usleep(200_000)
      var batches: [Int] = []
      for _ in 0..<100 {
        var n = 0
        var p = pollfd(fd: monitor.fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 200) <= 0 { break }
        _ = try monitor.drain(Self.query) { _ in n += 1 }
        batches.append(n)
      }
      return (batches, batches.reduce(0, +))
    }
    // 600 connection ends and the listener; the clients' TIME_WAIT sockets expire much later.
    #expect(total >= 601, "\(batches)")
    #expect(batches.allSatisfy { $0 <= 64 }, "\(batches)")
    #expect(batches.count >= 10, "\(batches)")
  }

  /// A connection opened and closed between two dumps is reported, once per end, as brief;
  /// the client end, in TIME_WAIT at the next dump, is a new socket there.
  @Test(.enabled(if: available(root: true, tools: ["ip"]), "needs root for a network namespace"))
  func briefConnectionBetweenDumps() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (port, events) = try ns.perform {
      let monitor = try DestroyMonitor(tcp: true, udp: false)
      var tracker = SocketTracker()
      let server = try LoopbackSocket.listener()
      defer { server.close() }
      let port = server.port
      _ = tracker.update(with: try Self.dump(port), at: now())
      let client = try LoopbackSocket.connected(to: port)
      let accepted = try server.accept()
      client.close()
      accepted.close()
      // Each end's full socket is destroyed; the client's lives on as a TIME_WAIT socket.
      _ = try Self.drain(monitor, port, into: &tracker, want: 2)
      return (port, tracker.update(with: try Self.dump(port), at: now()))
    }
    let brief = events.filter { $0.change == .brief }
    #expect(brief.count == 1, "\(events.map(\.change))")
    #expect(brief.first?.record.local.port == port)
    let new = events.filter { $0.change == .new }
    #expect(new.count == 1 && new.first?.record.state == .timeWait, "\(events.map(\.change))")
  }

  /// A dump streamed through the tracker follows one connection's life: the half-close
  /// (FIN_WAIT2 on one end, CLOSE_WAIT on the other), the server end's close and the client's
  /// TIME_WAIT — by cookie from netlink; from /proc, which has none, a socket that loses its
  /// inode (the TIME_WAIT successor) is another socket.
  @Test(
    .enabled(if: available(root: true, tools: ["ip"]), "needs root for a network namespace"),
    arguments: ["netlink", "proc"])
  func followsOneConnection(source: String) throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let steps = try ns.perform { try Self.oneConnection(source) }
    try #require(steps.count == 6)
    #expect(steps[0].isEmpty, "\(steps[0])")
    #expect(steps[1] == ["count 1"])
    #expect(steps[2] == ["client new ESTABLISHED", "server new ESTABLISHED"])
    let half = steps[3]
    #expect(half.contains("server ESTABLISHED → CLOSE_WAIT"), "\(half)")
    #expect(
      half.contains("client ESTABLISHED → FIN_WAIT2")
        || half.contains("client ESTABLISHED → FIN_WAIT1")
          && half.contains("client FIN_WAIT1 → FIN_WAIT2"),
      "\(half)")
    let end = steps[4]
    #expect(
      end.contains("server gone LAST_ACK") || end.contains("server gone CLOSE_WAIT"), "\(end)")
    if source == "netlink" {
      #expect(end.contains("client FIN_WAIT2 → TIME_WAIT"), "\(end)")
    } else {
      #expect(
        end.contains("client gone FIN_WAIT2") && end.contains("client new TIME_WAIT"), "\(end)")
    }
    #expect(steps[5] == ["count 2"])  // the listener and the TIME_WAIT socket
  }

  /// The steps of `followsOneConnection`, each as the sorted event words (inside the namespace:
  /// its /proc tables are /proc/thread-self/net's).
  static func oneConnection(_ source: String) throws -> [[String]] {
    let src: any SocketSource =
      source == "netlink" ? NetlinkSource() : ProcNetSource(root: "/proc/thread-self")
    let server = try LoopbackSocket.listener()
    defer { server.close() }
    let port = server.port
    var tracker = SocketTracker()
    func step() throws -> [String] {
      tracker.begin(at: now())
      try src.forEach(query) { r in
        if r.local.port == port || r.remote.port == port { tracker.observe(r) }
      }
      return tracker.finish().map { e in
        let end = e.record.local.port == port ? "server" : "client"
        switch e.change {
        case .new: return "\(end) new \(netstatState(e.record))"
        case .state(let from):
          var old = e.record
          old.stateCode = from
          return "\(end) \(netstatState(old)) → \(netstatState(e.record))"
        case .gone: return "\(end) gone \(netstatState(e.record))"
        case .brief: return "\(end) brief"
        }
      }.sorted()
    }
    /// Steps until the events so far satisfy `done` (2 s at most: the ACK of a FIN may be
    /// delayed).
    func until(_ done: ([String]) -> Bool) throws -> [String] {
      var all: [String] = []
      for _ in 0..<40 {
        all += try step()
        if done(all) { break }
        usleep(50_000)
      }
      return all
    }
    var steps: [[String]] = [try step(), ["count \(tracker.count)"]]
    let client = try LoopbackSocket.connected(to: port)
    let accepted = try server.accept()
    steps.append(try step())
    client.shutdownWrite()
    steps.append(
      try until {
        $0.contains("server ESTABLISHED → CLOSE_WAIT")
          && $0.contains { $0.hasSuffix("→ FIN_WAIT2") }
      })
    accepted.close()
    client.close()
    steps.append(
      try until {
        $0.contains { $0.hasPrefix("server gone") } && $0.contains { $0.hasSuffix("TIME_WAIT") }
      })
    steps.append(["count \(tracker.count)"])
    return steps
  }
}
