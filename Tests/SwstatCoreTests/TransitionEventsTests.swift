import Foundation
import Glibc
import SwstatCore
import SwstatTestSupport
import Testing

/// Fixtures/lifecycles.py in a namespace: connections through four lifecycles from chosen
/// client ports (so two namespaces can use the same 4-tuples).
final class Lifecycles: @unchecked Sendable {
  let process = Process()
  private let input = Pipe()
  private let output = Pipe()

  init(
    in ns: NetworkNamespace, serverPort: Int, clientBase: Int, count: Int, rate: Double,
    holdPort: Int = 0, wait: Bool = false
  ) throws {
    let script = packageRoot.appendingPathComponent(
      "Tests/SwstatCoreTests/Fixtures/lifecycles.py"
    ).path
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      [
        "ip", "netns", "exec", ns.name, "python3", script, "--server-port", "\(serverPort)",
        "--client-base", "\(clientBase)", "--count", "\(count)", "--rate", "\(rate)",
        "--hold-port", "\(holdPort)",
      ] + (wait ? ["--wait"] : [])
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    try expectLine("ready")
  }

  /// Waits (30 s at most) for a line starting with `prefix`.
  @discardableResult
  func expectLine(_ prefix: String) throws -> String {
    let fd = output.fileHandleForReading.fileDescriptor
    var line = Data()
    var byte: UInt8 = 0
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&p, 1, 500) > 0 else { continue }
      guard read(fd, &byte, 1) == 1 else { break }
      if byte == 0x0a {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix(prefix) { return text }
        line.removeAll()
      } else {
        line.append(byte)
      }
    }
    throw FixtureError.failed("lifecycles.py: no \(prefix) line")
  }

  func finish() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

/// One socket's state visits in a record, in order.
struct Visits: Equatable {
  var states: [UInt8] = []
}

/// `swstat --events` with the tracepoint, measured against the kernel's own record of the same
/// tracepoint (tracefs trace_pipe, read by the test): every state visit of the watched
/// namespace's sockets, in the kernel's order per socket, none of another namespace's — which
/// uses the very same 4-tuples — and none twice (issue 13).
@Suite(.serialized, .timeLimit(.minutes(4)))
struct TransitionEventsTests {
  static let names = [
    "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING",
    "TCP_NEW_SYN_RECV",
  ]

  /// The kernel's record: trace_pipe lines, grouped per socket by 4-tuple (a client's
  /// `CLOSE → SYN_SENT`, before its port is picked, goes to the next SYN_SENT socket to the same
  /// server port), as visits: each new state, `FIN_WAIT2|CLOSING → CLOSE` as TIME_WAIT, no visit
  /// for another `→ CLOSE`.
  static func kernelVisits(_ lines: [Substring], keep: (Int, Int, UInt64) -> Bool)
    -> [String: Visits]
  {
    var visits: [String: Visits] = [:]
    var connecting: [Int: Int] = [:]  // server port → pending SYN_SENT visits
    for line in lines {
      guard let marker = line.range(of: ": inet_sock_set_state: ") else { continue }
      let stamp = line[..<marker.lowerBound].split(separator: " ").last ?? ""
      let parts = stamp.split(separator: ".")
      guard parts.count == 2, let s = UInt64(parts[0]), let us = UInt64(parts[1]) else {
        continue
      }
      let time = (s * 1_000_000 + us) * 1000
      var f: [Substring: Substring] = [:]
      for kv in line[marker.upperBound...].split(separator: " ") {
        if let eq = kv.firstIndex(of: "=") { f[kv[..<eq]] = kv[kv.index(after: eq)...] }
      }
      guard f["protocol"] == "IPPROTO_TCP", let sport = f["sport"].flatMap({ Int($0) }),
        let dport = f["dport"].flatMap({ Int($0) }),
        let old = f["oldstate"].flatMap({ names.firstIndex(of: String($0)) }).map({ $0 + 1 }),
        let new = f["newstate"].flatMap({ names.firstIndex(of: String($0)) }).map({ $0 + 1 })
      else { continue }
      let key = "\(f["saddr"] ?? "?"):\(sport)-\(f["daddr"] ?? "?"):\(dport)"
      if old == 7 && new == 2 && sport == 0 {
        if keep(sport, dport, time) { connecting[dport, default: 0] += 1 }
        continue
      }
      guard keep(sport, dport, time) else { continue }
      if old == 2, let n = connecting[dport], n > 0 {
        connecting[dport] = n - 1
        visits[key, default: Visits()].states.append(2)
      }
      if new == 7 {
        if old == 5 || old == 11 { visits[key, default: Visits()].states.append(6) }
        continue
      }
      if old == 10 && new == 10 { continue }
      visits[key, default: Visits()].states.append(UInt8(new))
    }
    return visits
  }

  /// swstat's record: NEW and state-change events, per socket, as visits.
  static func swstatVisits(_ output: String) throws -> (visits: [String: Visits], source: String?) {
    var visits: [String: Visits] = [:]
    var source: String? = nil
    for line in output.split(separator: "\n") {
      let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
      if o["event"] as? String == "source" { source = o["transitions"] as? String }
      guard let event = o["event"] as? String, event == "new" || event == "state",
        let code = o["state_code"] as? Int,
        let local = o["local"] as? [String: Any], let remote = o["remote"] as? [String: Any]
      else { continue }
      let key =
        "\(local["address"] ?? "?"):\(local["port"] ?? "?")-\(remote["address"] ?? "?"):\(remote["port"] ?? "?")"
      visits[key, default: Visits()].states.append(UInt8(code))
    }
    return (visits, source)
  }

  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func everyVisitInOrderAndNoOtherNamespace() throws {
    try requireTools(root: true, ["ip", "python3"])
    let a = try NetworkNamespace()
    defer { a.delete() }
    let b = try NetworkNamespace()
    defer { b.delete() }
    let tracefs = try Tracefs()
    let trace = try TraceInstance(tracefs, filter: "protocol == 6", bufferKilobytes: 32768)
    defer { trace.remove() }
    // A holds one connection (client port 30000 → 7100) that B then churns on the same tuple.
    let held = try Lifecycles(
      in: a, serverPort: 7100, clientBase: 0, count: 0, rate: 0, holdPort: 30000, wait: true)
    defer { held.finish() }
    let events = try Background([
      "ip", "netns", "exec", a.name, swstatPath, "--events", "-t", "--json", "--interval", "0.1",
      "--transitions", "tracepoint",
    ])
    usleep(1_500_000)
    // Phase 1: B alone, on tuples A uses later and on A's held tuple.
    let t1 = monotonicNow()
    for (port, base, count) in [(7100, 30000, 40), (7200, 31000, 100)] {
      let run = try Lifecycles(in: b, serverPort: port, clientBase: base, count: count, rate: 0)
      try run.expectLine("done")
      run.finish()
    }
    usleep(300_000)
    // Phase 2: A at about 25 connections a second, on the tuples B just used.
    let t2 = monotonicNow()
    let slow = try Lifecycles(in: a, serverPort: 7200, clientBase: 31000, count: 100, rate: 25)
    try slow.expectLine("done")
    slow.finish()
    // Phase 3: A at 2,500 connections a second while B churns its own tuples alongside.
    let t3 = monotonicNow()
    let noise = try Lifecycles(in: b, serverPort: 7301, clientBase: 50000, count: 4000, rate: 2500)
    let fast = try Lifecycles(in: a, serverPort: 7300, clientBase: 40000, count: 4000, rate: 2500)
    let done = try fast.expectLine("done")
    try noise.expectLine("done")
    fast.finish()
    noise.finish()
    usleep(1_500_000)
    events.stop()
    let t4 = monotonicNow()
    let lines = trace.lines()
    #expect(trace.overruns() == 0)
    let aPorts: Set<Int> = [7100, 7200, 7300]
    let kernel = Self.kernelVisits(lines) { sport, dport, time in
      // A's sockets: from phase 2 on, on A's server ports; phase 1 (before t2) is all B's, and
      // B's noise alongside phase 3 is on 7301.
      time >= t2 && time <= t4 && (aPorts.contains(sport) || aPorts.contains(dport))
    }
    let (ours, source) = try Self.swstatVisits(events.output)
    #expect(source == "tracepoint")
    var expected = 0
    var matched = 0
    var wrong: [String] = []
    for (key, v) in kernel {
      expected += v.states.count
      let mine = ours[key]?.states ?? []
      // The longest common prefix of the two sequences, state for state, in order.
      var n = 0
      while n < min(mine.count, v.states.count) && mine[n] == v.states[n] { n += 1 }
      matched += n
      if mine.count > v.states.count || n < mine.count {
        wrong.append("\(key): kernel \(v.states) swstat \(mine)")
      }
    }
    let foreign = ours.keys.filter { kernel[$0] == nil }
    print(
      "transitions: \(done); \(kernel.count) sockets, \(expected) visits in the kernel's record, \(matched) reported in order; \(wrong.count) sockets with extra or misordered visits, \(foreign.count) not A's"
    )
    #expect(expected > 4000 * 4)
    let overflows = events.output.split(separator: "\n").filter {
      $0.contains("\"event\":\"overflow\"")
    }.count
    #expect(
      Double(matched) >= 0.99 * Double(expected),
      "\(matched) of \(expected); swstat said it lost records \(overflows) times")
    #expect(wrong.isEmpty, "\(wrong.count): \(wrong.prefix(5))")
    #expect(foreign.isEmpty, "\(foreign.count): \(foreign.prefix(5))")
    #expect(ours["127.0.0.1:30000-127.0.0.1:7100"] == nil, "B's churn on A's held tuple shown")
    #expect(t1 < t2 && t2 < t3)
  }

  /// Two namespaces hold the same sockets (a listener and a connection, the same 4-tuples, the
  /// same states) before swstat starts. Watching one (`ip netns exec A`): the other's closing
  /// shows nothing, its own closing shows. With --all-netns: each namespace's changes, labelled
  /// with its name, none twice, B's before A's.
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func sameSocketsInTwoNamespaces() throws {
    try requireTools(root: true, ["ip", "python3"])
    let a = try NetworkNamespace()
    defer { a.delete() }
    let b = try NetworkNamespace()
    defer { b.delete() }
    let holdA = try Lifecycles(
      in: a, serverPort: 7600, clientBase: 0, count: 0, rate: 0, holdPort: 30600, wait: true)
    defer { holdA.finish() }
    let holdB = try Lifecycles(
      in: b, serverPort: 7600, clientBase: 0, count: 0, rate: 0, holdPort: 30600, wait: true)
    defer { holdB.finish() }
    let one = try Background([
      "ip", "netns", "exec", a.name, swstatPath, "--events", "-t", "--json", "--interval", "0.1",
      "--transitions", "tracepoint",
    ])
    let all = try Background([
      swstatPath, "--all-netns", "--events", "-tn", "--json", "--interval", "0.1",
    ])
    usleep(1_500_000)
    holdB.finish()
    usleep(1_500_000)
    let before = one.output
    holdA.finish()
    usleep(1_500_000)
    #expect(one.stop() == 0)
    #expect(all.stop() == 0)

    func events(_ text: String) throws -> [[String: Any]] {
      // Whole lines only: output read while swstat runs may end in the middle of one.
      let whole = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
      return try whole.compactMap {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }.filter {
        let local = ($0["local"] as? [String: Any])?["port"] as? Int
        let remote = ($0["remote"] as? [String: Any])?["port"] as? Int
        return local == 7600 || remote == 7600
      }
    }
    func describe(_ o: [String: Any]) -> String {
      let local = (o["local"] as? [String: Any])?["port"] ?? "?"
      let remote = (o["remote"] as? [String: Any])?["port"] ?? "?"
      return
        "\(o["netns"] ?? "-") \(o["event"] ?? "?") \(local)-\(remote) \(o["from"] ?? "") \(o["state"] ?? "")"
    }
    let early = try events(before)
    #expect(early.isEmpty, "B's sockets shown as A's: \(early.map(describe))")
    let mine = try events(one.output)
    #expect(
      mine.contains { $0["event"] as? String == "gone" && $0["state"] as? String == "LISTEN" },
      "A's listener's end: \(mine.map(describe))")
    #expect(
      mine.contains { (($0["local"] as? [String: Any])?["port"] as? Int) == 30600 },
      "A's connection: \(mine.map(describe))")

    let labelled = try events(all.output)
    let names = labelled.map { $0["netns"] as? String ?? "" }
    #expect(Set(names) == [a.name, b.name], "\(labelled.map(describe))")
    let lastB = names.lastIndex(of: b.name) ?? -1
    let firstA = names.firstIndex(of: a.name) ?? -1
    #expect(lastB < firstA, "B's changes first: \(labelled.map(describe))")
    for ns in [a.name, b.name] {
      let its = labelled.filter { $0["netns"] as? String == ns }.map(describe)
      #expect(Set(its).count == its.count, "\(ns): twice: \(its)")
      #expect(its.contains { $0.contains("gone 7600-0") }, "\(ns): \(its)")
      #expect(its.contains { $0.contains(" 30600-7600 ") }, "\(ns): \(its)")
    }
  }

  /// --all-netns: a namespace made while swstat runs is found by its first connection (its
  /// events labelled with its name), and once deleted it is let go — no thread of swstat's
  /// stays in it, so swstat does not keep it alive.
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func namespacesComeAndGo() throws {
    try requireTools(root: true, ["ip", "python3"])
    let all = try Background([
      swstatPath, "--all-netns", "--events", "-tn", "--json", "--interval", "0.1",
    ])
    defer { _ = all.stop() }
    usleep(1_000_000)
    let c = try NetworkNamespace()
    var deleted = false
    defer { if !deleted { c.delete() } }
    let inode = NetworkNamespaces.nsInode("/run/netns/" + c.name)
    let run = try Lifecycles(in: c, serverPort: 7700, clientBase: 31700, count: 8, rate: 20)
    try run.expectLine("done")
    run.finish()
    usleep(1_000_000)
    let labelled = all.output.split(separator: "\n").filter {
      $0.contains("\"netns\":\"\(c.name)\"") && $0.contains("\"port\":7700")
    }
    #expect(labelled.count >= 8, "\(labelled.count) events labelled \(c.name)")
    func threadsInside() -> Int {
      let pid = all.process.processIdentifier
      let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
      return tasks.filter {
        NetworkNamespaces.nsInode("/proc/\(pid)/task/\($0)/ns/net") == inode
      }.count
    }
    #expect(threadsInside() == 1, "one thread of swstat's in \(c.name)")
    c.delete()
    deleted = true
    var inside = threadsInside()
    for _ in 0..<80 where inside > 0 {
      usleep(100_000)
      inside = threadsInside()
    }
    #expect(inside == 0, "\(inside) threads still in the deleted namespace after 8 s")
    #expect(all.process.isRunning)
  }

  /// A connection's GONE says what it carried, from the final tcp_info of its destroy
  /// notification: a client sends 5000 bytes, the server answers 300 and closes first (the
  /// client, closing second, is gone from LAST_ACK; the server's end goes to TIME_WAIT, whose
  /// own GONE comes a minute later and is not waited for). Polled and traced, text and NDJSON.
  @Test(
    .enabled(if: available(root: true, tools: ["ip", "python3"])),
    arguments: ["tracepoint", "poll"])
  func goneSaysWhatItCarried(transitions: String) throws {
    try requireTools(root: true, ["ip", "python3"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let base = ["ip", "netns", "exec", ns.name, swstatPath, "--events", "-tn", "--port", "7800"]
    let text = try Background(base + ["--transitions", transitions])
    let json = try Background(base + ["--transitions", transitions, "--json"])
    usleep(1_000_000)
    let script = """
      import socket, time
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(('127.0.0.1', 7800)); l.listen()
      c = socket.create_connection(('127.0.0.1', 7800)); s, _ = l.accept()
      c.sendall(b'x' * 5000)
      got = 0
      while got < 5000: got += len(s.recv(65536))
      s.sendall(b'y' * 300)
      got = 0
      while got < 300: got += len(c.recv(65536))
      time.sleep(0.2)
      s.close(); time.sleep(0.2); c.close(); time.sleep(0.2); l.close()
      """
    let run = try ns.run(["python3", "-c", script], timeout: 20)
    #expect(run.status == 0, "\(run.stderr)")
    usleep(1_000_000)
    #expect(text.stop() == 0)
    #expect(json.stop() == 0)
    // The client's end: it closed second (a passive close) and is gone from LAST_ACK.
    let gone = text.output.split(separator: "\n").filter {
      $0.contains(" GONE ") && $0.contains(":7800 ") && !$0.contains("LISTEN")
    }
    #expect(gone.count == 1, "\(text.output)")
    // 5000 bytes sent and the peer's FIN (one byte of sequence space) received, 300 + FIN.
    #expect(
      gone.first?.contains("bytes_sent:5000 bytes_received:301 retrans:0") == true,
      "\(gone)")
    let objects = json.output.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }.filter { $0["event"] as? String == "gone" && $0["state"] as? String != "LISTEN" }
    #expect(objects.count == 1, "\(json.output)")
    #expect(objects.first?["bytes_sent"] as? Int == 5000, "\(objects)")
    // Acknowledged: the 5000 bytes, the SYN and the FIN.
    #expect(objects.first?["bytes_acked"] as? Int == 5002, "\(objects)")
    #expect(objects.first?["bytes_received"] as? Int == 301, "\(objects)")
    #expect(objects.first?["retrans"] as? Int == 0, "\(objects)")
    let listener = text.output.split(separator: "\n").first {
      $0.contains(" GONE ") && $0.contains("LISTEN")
    }
    #expect(listener.map { !$0.contains("bytes_") } == true, "\(text.output)")
  }

  /// Without privileges: `auto` falls back to polling and says so (-v, and the first NDJSON
  /// object); forcing the tracepoint is one line and exit 1.
  @Test(.enabled(if: available(root: true, tools: ["setpriv"])))
  func unprivilegedFallsBackOrFails() throws {
    try requireTools(root: true, ["setpriv"])
    let nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", swstatPath]
    let forced = try runCommand(nobody + ["--events", "-t", "--transitions", "tracepoint"])
    #expect(forced.status == 1 && forced.stdout.isEmpty)
    #expect(
      forced.stderr
        == "swstat: tracepoint sock:inet_sock_set_state: Permission denied (root or CAP_PERFMON)\n")
    let auto = try runCommand(
      ["timeout", "-s", "INT", "1"] + nobody + ["--events", "-t", "-v", "--json"])
    #expect(auto.stdout.hasPrefix("{\"event\":\"source\",\"transitions\":\"poll\"}\n"))
    #expect(auto.stderr.contains("polling instead"), "\(auto.stderr)")
  }

  /// `swstat --events -t --json` on the tracepoint in `ns`, started, and its pid to stop and
  /// continue it: the process Background started (env and ip netns exec exec it in place), not
  /// a pgrep, which would stop other tests' swstat too.
  static func stoppableEvents(in ns: NetworkNamespace) throws -> (Background, pid_t) {
    let events = try Background([
      "ip", "netns", "exec", ns.name, swstatPath, "--events", "-t", "--json", "--interval", "0.1",
      "--transitions", "tracepoint",
    ])
    usleep(1_500_000)
    let pid = events.process.processIdentifier
    let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    try #require(
      exe.map { URL(fileURLWithPath: $0).lastPathComponent } == "swstat", "\(exe ?? "-")")
    return (events, pid)
  }

  /// The socket events of `--events --json` output, each with its socket's ports
  /// (`local-remote`), and how many LOST lines (`overflow`) it has.
  static func socketEvents(_ output: String) throws -> (
    lost: Int, events: [(event: String, ports: String, object: [String: Any])]
  ) {
    var lost = 0
    var events: [(event: String, ports: String, object: [String: Any])] = []
    for line in output.split(separator: "\n") {
      let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
      if o["event"] as? String == "overflow" { lost += 1 }
      guard let event = o["event"] as? String, let local = o["local"] as? [String: Any],
        let remote = o["remote"] as? [String: Any]
      else { continue }
      events.append((event, "\(local["port"] ?? "")-\(remote["port"] ?? "")", o))
    }
    return (lost, events)
  }

  /// Stopped (SIGSTOP) through a burst that overflows the rings: on SIGCONT a LOST line, the
  /// table dumped again, and no socket's change reported twice.
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func lostRecordsAreSaidAndRedumped() throws {
    try requireTools(root: true, ["ip", "python3"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (events, pid) = try Self.stoppableEvents(in: ns)
    kill(pid, SIGSTOP)
    let burst = try Lifecycles(in: ns, serverPort: 7400, clientBase: 20000, count: 20000, rate: 0)
    try burst.expectLine("done")
    burst.finish()
    kill(pid, SIGCONT)
    usleep(2_500_000)
    events.stop()
    let (lost, socketEvents) = try Self.socketEvents(events.output)
    var seen = Set<String>()
    var twice: [String] = []
    for e in socketEvents {
      let key = "\(e.event) \(e.object["from"] ?? "") \(e.object["state"] ?? "") \(e.ports)"
      if !seen.insert(key).inserted { twice.append(key) }
    }
    #expect(lost >= 1, "no LOST line")
    #expect(twice.isEmpty, "\(twice.count) reported twice: \(twice.prefix(5))")
    // After the re-dump the TIME_WAIT sockets the burst left are known: NEW or → TIME_WAIT.
    #expect(seen.contains { $0.contains("TIME_WAIT") })
  }

  /// Stopped and let go again and again while connections are being made: each re-dump
  /// catches sockets born since the rings were last read, whose records come after it. Each
  /// socket is NEW once, at most (CI saw `[6, 2, 1, 4, 5, 6]`: NEW TIME_WAIT from the dump,
  /// then the whole story again from the records).
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func lostWhileSocketsAreBorn() throws {
    try requireTools(root: true, ["ip", "python3"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (events, pid) = try Self.stoppableEvents(in: ns)
    // Each round: stopped while a burst overflows the rings, let go while the burst goes on,
    // so the re-dump runs while connections are being made and closed.
    var done: [String] = []
    for round in 0..<3 {
      kill(pid, SIGSTOP)
      let burst = try Lifecycles(
        in: ns, serverPort: 7450 + round, clientBase: 20000 + 13000 * round, count: 12000,
        rate: 0)
      usleep(250_000)
      kill(pid, SIGCONT)
      done.append(try burst.expectLine("done"))
      burst.finish()
      usleep(300_000)
    }
    usleep(1_500_000)
    events.stop()
    let (lost, socketEvents) = try Self.socketEvents(events.output)
    var news: [String: Int] = [:]
    for e in socketEvents where e.event == "new" { news[e.ports, default: 0] += 1 }
    let twice = news.filter { $0.value > 1 && !$0.key.hasSuffix("-0") }
    print(
      "lost while born: \(done); \(lost) LOST lines, \(news.count) sockets NEW, \(twice.count) twice"
    )
    #expect(lost >= 2, "\(lost) LOST lines")
    #expect(news.count > 1000)
    #expect(twice.isEmpty, "\(twice.count) NEW twice: \(twice.keys.sorted().prefix(5))")
    for key in twice.keys.sorted().prefix(2) {
      let ports = key.split(separator: "-")
      let lines = events.output.split(separator: "\n").filter {
        $0.contains("\"port\":\(ports[0])") && $0.contains("\"port\":\(ports[1])")
          || $0.contains("overflow")
      }
      print("\(key):\n" + lines.joined(separator: "\n"))
    }
  }

  /// The dashboard's state machine in a real terminal (tmux), with live edge rates.
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3", "tmux"])))
  func dashboardDrawsTheStateMachine() throws {
    try requireTools(root: true, ["ip", "python3", "tmux"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let tmux = try TmuxSession(
      "ip netns exec \(ns.name) '\(swstatPath)' --watch --interval 1", columns: 80, rows: 24)
    defer { tmux.kill() }
    #expect(try tmux.wait { try tmux.screen().contains("TCP STATE MACHINE") })
    let load = try Lifecycles(in: ns, serverPort: 7500, clientBase: 20000, count: 400, rate: 100)
    usleep(2_500_000)
    let screen = try tmux.screen()
    try load.expectLine("done")
    load.finish()
    let lines = screen.split(separator: "\n")
    #expect(lines.allSatisfy { $0.count <= 80 })
    #expect(screen.contains("· tracepoint"), "\(screen)")
    // The opening edges run at about 100 a second, on both ends.
    let opening = lines.first { $0.hasPrefix("  SYN_SENT") } ?? ""
    let rates = opening.split(separator: " ").compactMap {
      Double($0.trimmingCharacters(in: .init(charactersIn: "─◀▶")))
    }
    #expect(rates.contains { $0 >= 50 && $0 <= 150 }, "\(opening)")
    let active =
      lines.first {
        $0.contains("FIN_WAIT2       0 ▶ TIME_WAIT")
          || $0.contains("FIN_WAIT2") && $0.contains("▶ TIME_WAIT")
      } ?? ""
    #expect(!active.contains("  0.0  "), "\(active)")
  }
}
