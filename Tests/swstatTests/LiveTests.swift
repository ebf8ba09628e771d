import Foundation
import SwstatTestSupport
import Testing

/// Whether the file at `path` holds `needle`, read with plain read(2): Foundation's file
/// reading leaks its buffer (`make sanitize` reports it) when the file grows under it, as a
/// terminal log does while script(1) writes it.
func fileContains(_ path: String, _ needle: [UInt8]) -> Bool {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0, !needle.isEmpty else { return false }
  defer { close(fd) }
  var data: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = read(fd, &buffer, buffer.count)
    if n <= 0 { break }
    data += buffer[0..<n]
  }
  guard data.count >= needle.count else { return false }
  for i in 0...(data.count - needle.count) where data[i] == needle[0] {
    if data[i..<(i + needle.count)].elementsEqual(needle) { return true }
  }
  return false
}

/// The live modes on real sockets in a namespace of the test's own.
@Suite(.timeLimit(.minutes(3)))
struct LiveTests {
  static var canRun: Bool { available(root: true, tools: ["ip"]) }
  static let lifecycle = packageRoot.appendingPathComponent(
    "Tests/swstatTests/Fixtures/lifecycle.py"
  ).path

  /// The issue's scripted lifecycle at the default tick: NEW, ESTABLISHED → FIN_WAIT2 and
  /// ESTABLISHED → CLOSE_WAIT, → TIME_WAIT, GONE.
  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func eventsFollowTheLifecycle() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let events = try Background([
      "ip", "netns", "exec", ns.name, swstatPath, "--events", "--transitions", "poll", "-t",
    ])
    usleep(400_000)
    let script = try ns.run(["python3", Self.lifecycle, "steps", "0.4"])
    let port = try #require(script.stdout.split(separator: "\n").first?.split(separator: " ").last)
    let client = try #require(
      script.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").last)
    usleep(400_000)
    #expect(events.stop() == 0)
    let lines = events.output.split(separator: "\n").map(String.init)
    let server = "127.0.0.1:\(port) "
    let clientEnd = "127.0.0.1:\(client) "
    func has(_ word: String, _ local: String, _ tail: String) -> Bool {
      lines.contains {
        $0.contains(" \(word) ") && $0.contains("tcp  \(local)") && $0.hasSuffix(tail)
      }
    }
    #expect(has("NEW", server, "LISTEN"), "\(lines)")
    #expect(has("NEW", clientEnd, "ESTABLISHED"), "\(lines)")
    #expect(has("NEW", server, "ESTABLISHED"), "\(lines)")
    // The client passes through FIN_WAIT1 until the server's (delayed) ACK of its FIN: a tick
    // may catch it there.
    #expect(
      has("STATE", clientEnd, "ESTABLISHED → FIN_WAIT2")
        || (has("STATE", clientEnd, "ESTABLISHED → FIN_WAIT1")
          && has("STATE", clientEnd, "FIN_WAIT1 → FIN_WAIT2")),
      "\(lines)")
    #expect(has("STATE", server, "ESTABLISHED → CLOSE_WAIT"), "\(lines)")
    #expect(has("STATE", clientEnd, "FIN_WAIT2 → TIME_WAIT"), "\(lines)")
    #expect(
      lines.contains {
        $0.contains(" GONE ") && $0.contains("tcp  \(server)")
          && $0.contains("127.0.0.1:\(client) ")
      }, "\(lines)")
    #expect(has("GONE", server, "LISTEN"), "\(lines)")
    // Each socket is reported gone once: a destroy notification arriving after the dump that
    // missed its socket does not report it again.
    let listenerLines = lines.filter { $0.contains("tcp  \(server)") && $0.contains(" 0.0.0.0:* ") }
    #expect(listenerLines.count == 2, "\(lines)")
    // Timestamps: ISO 8601 UTC with milliseconds, in order.
    let stamps = lines.map { String($0.prefix(24)) }
    #expect(stamps.allSatisfy { $0.count == 24 && $0.hasSuffix("Z") && $0.contains("T") })
    #expect(stamps == stamps.sorted())
  }

  /// A connection opened and closed between two dumps is still reported, through the destroy
  /// notifications.
  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func briefConnectionsAreSeen() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    // A 3 s tick: the connection lives a few milliseconds, far inside one tick.
    let events = try Background([
      "ip", "netns", "exec", ns.name, swstatPath, "--events", "--transitions", "poll", "-t",
      "--interval", "3",
    ])
    usleep(400_000)
    let script = try ns.run(["python3", Self.lifecycle, "brief", "0.2"])
    let port = try #require(script.stdout.split(separator: "\n").first?.split(separator: " ").last)
    let client = try #require(
      script.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").last)
    usleep(3_500_000)
    events.stop()
    let lines = events.output.split(separator: "\n").map(String.init)
    let serverEnd = "tcp  127.0.0.1:\(port) "
    #expect(
      lines.contains {
        $0.contains(" NEW ") && $0.contains(serverEnd) && $0.contains("127.0.0.1:\(client) ")
      }, "\(lines)")
    #expect(
      lines.contains {
        $0.contains(" GONE ") && $0.contains(serverEnd) && $0.contains("127.0.0.1:\(client) ")
          && $0.hasSuffix("(gone before the next dump)")
      }, "\(lines)")
    // The client end closed first: it lives on in TIME_WAIT, a new socket at the next dump.
    #expect(
      lines.contains {
        $0.contains(" NEW ") && $0.contains("tcp  127.0.0.1:\(client) ")
          && $0.hasSuffix("TIME_WAIT")
      }, "\(lines)")
    // ...and only there: its full socket's destroy notification is not a second, brief socket.
    #expect(lines.filter { $0.contains("tcp  127.0.0.1:\(client) ") }.count == 1, "\(lines)")
  }

  /// When the kernel drops destroy notifications (ENOBUFS: swstat stopped while 30,000
  /// connections open and abort), --events says so with a marker line and dumps the table
  /// again at once, well before its next tick (30 s away): a listener opened meanwhile is
  /// reported right after the marker.
  @Test(
    .enabled(if: canRun, "needs root for a private network namespace"), arguments: ["text", "json"])
  func eventsOverflowRedumps(format: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let events = try Background(
      [
        "ip", "netns", "exec", ns.name, swstatPath, "--events", "--transitions", "poll", "-t",
        "--interval", "30",
      ]
        + (format == "json" ? ["--json"] : []))
    usleep(500_000)
    // ip netns exec execs swstat: the same process.
    kill(events.process.processIdentifier, SIGSTOP)
    let burst = try ns.run(["python3", Self.lifecycle, "burst", "30"])
    #expect(burst.stdout.contains("aborted 30000"), "\(burst.stdout)")
    let hold = try Background([
      "ip", "netns", "exec", ns.name, "python3", Self.lifecycle, "hold", "10",
    ])
    defer { hold.stop(SIGTERM) }
    var port = ""
    for _ in 0..<50 where port.isEmpty {
      usleep(50_000)
      port = hold.output.split(separator: "\n").first.map { String($0.dropFirst(5)) } ?? ""
    }
    kill(events.process.processIdentifier, SIGCONT)
    var lines: [String] = []
    for _ in 0..<50 {
      usleep(100_000)
      lines = events.output.split(separator: "\n").map(String.init)
      if lines.contains(where: { $0.contains(":\(port)") }) { break }
    }
    #expect(events.stop() == 0)
    let marker = lines.firstIndex {
      format == "json"
        ? $0.contains("\"event\":\"overflow\"")
        : $0.contains(" LOST   the kernel dropped events; dumping again")
    }
    let listener = lines.firstIndex {
      format == "json"
        ? $0.contains("\"event\":\"new\"")
          && $0.contains("\"local\":{\"address\":\"127.0.0.1\",\"port\":\(port)}")
          && $0.contains("LISTEN")
        : $0.contains(" NEW    tcp  127.0.0.1:\(port) ") && $0.hasSuffix("LISTEN")
    }
    #expect(marker != nil && listener != nil && marker! < listener!, "\(lines.prefix(5))")
  }

  /// However short the interval and large the table, a polled live mode keeps at most half of
  /// one core busy, the whole process counted (the -p walk's thread, a dump's reader thread) from
  /// its start (the first pass included): a tick comes no sooner than 2.1 times the CPU time the
  /// process used since the last one. 20,000 sockets at a 10 ms interval (each dump takes longer
  /// than that): without the cap swstat would dump back to back, a whole core.
  @Test(
    .enabled(if: canRun, "needs root for a private network namespace"),
    arguments: [
      ["--events", "--transitions", "poll", "-t"], ["--events", "--transitions", "poll", "-tp"],
      ["--watch", "--transitions", "poll"], ["--watch", "--transitions", "poll", "-p"],
    ])
  func liveModesStayUnderHalfACore(mode: [String]) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (table, _) = try holdBigTable(in: ns, pairs: 10_000, seconds: 60)
    defer { table.stop(SIGTERM) }
    let start = Date()
    let live = try Background(
      ["ip", "netns", "exec", ns.name, swstatPath] + mode + ["--interval", "0.01"])
    func cpuTicks() -> Int? {
      guard
        let stat = try? String(
          contentsOfFile: "/proc/\(live.process.processIdentifier)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return nil }
      let f = stat[stat.index(after: close)...].split(separator: " ")
      // utime and stime, every thread's: fields 14 and 15, the 12th and 13th after the name.
      return f.count > 12 ? (Int(f[11]) ?? 0) + (Int(f[12]) ?? 0) : nil
    }
    usleep(3_500_000)
    let used = try #require(cpuTicks())
    let seconds = Date().timeIntervalSince(start)
    #expect(live.stop() == 0)
    let share = Double(used) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds
    print(
      "swstat \(mode.joined(separator: " ")) --interval 0.01 at 20,000 sockets: \(share) of one core, start-up included"
    )
    // 0.5, and a clock tick of /proc's accounting (10 ms in 3.5 s) with room for `ip`'s exec.
    #expect(share <= 0.53, "\(share) of one core")
    if mode.first == "--watch" { #expect(!live.output.isEmpty) }  // --events: nothing changed
  }

  /// With -p, owners are shown, and remembered for sockets that lost theirs.
  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func eventsRememberOwners() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let events = try Background([
      "ip", "netns", "exec", ns.name, swstatPath, "--events", "--transitions", "poll", "-tp",
    ])
    usleep(400_000)
    let script = try ns.run(["python3", Self.lifecycle, "steps", "0.4"])
    let client = try #require(
      script.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").last)
    usleep(300_000)
    events.stop()
    let lines = events.output.split(separator: "\n").map(String.init)
    let newClient = lines.first { $0.contains(" NEW ") && $0.contains("tcp  127.0.0.1:\(client) ") }
    let pidProgram = try #require(newClient?.split(separator: " ").last.map(String.init))
    #expect(pidProgram.contains("/"))
    #expect(
      lines.contains {
        $0.contains("FIN_WAIT2 → TIME_WAIT") && $0.contains("127.0.0.1:\(client) ")
          && $0.hasSuffix("(was \(pidProgram))")
      }, "\(lines)")
  }

  /// -o rows equal netstat -o rows, timer seconds within 0.5 s.
  @Test(
    .enabled(if: canRun && available(tools: ["netstat"]), "needs root and netstat"),
    arguments: ["netlink", "proc"])
  func timersMatchNetstat(source: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    func parts(_ row: String) -> (head: String, counts: String, seconds: Double) {
      guard let open = row.lastIndex(of: "(") else { return (row, "", -1) }
      let nums = row[row.index(after: open)...].dropLast().split(separator: "/").compactMap {
        Double($0)
      }
      return (
        String(row[..<open]), nums.count == 3 ? "\(Int(nums[1]))/\(Int(nums[2]))" : "?",
        nums.first ?? -1
      )
    }
    for flags in ["-tano", "-tuanpo"] {
      // A probe or retransmit timer may fire between the two runs (its countdown restarts and
      // its counter moves on): compare again, a few times, before calling it a difference.
      var missing: [String] = []
      for _ in 0..<5 {
        let theirs = try ns.run(["netstat", flags])
        let ours = try ns.run([swstatPath, flags, "--source", source])
        #expect(ours.status == 0)
        let a = split(theirs.stdout)
        let b = split(ours.stdout)
        #expect(a.header == b.header)
        #expect(a.rows.count == b.rows.count, "\(flags)")
        let theirParts = a.rows.map(parts)
        missing = b.rows.map(parts).filter { mine in
          !theirParts.contains {
            $0.head == mine.head && $0.counts == mine.counts
              && abs($0.seconds - mine.seconds) <= 0.5
          }
        }.map { "\($0.head)(\($0.seconds) \($0.counts))" }
        if missing.isEmpty { break }
        usleep(200_000)
      }
      #expect(missing.isEmpty, "\(flags) --source \(source): no netstat row for \(missing)")
    }
  }

  /// --watch piped: one line per tick, flushed, counts equal --count's.
  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func watchLinesWhenPiped() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let r = try ns.run(
      ["sh", "-c", "'\(swstatPath)' --watch --transitions poll --interval 0.2 | head -3"],
      timeout: 20)
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 3)
    let count = parseCounts(try ns.run([swstatPath, "--count"]).stdout)
    for line in lines {
      #expect(
        line.range(
          of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z LISTEN=\d+ ESTABLISHED=\d+ TIME_WAIT=\d+ "#,
          options: .regularExpression) != nil, "\(line)")
      for state in ["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "CLOSING", "FIN_WAIT2"] {
        #expect(
          line.contains(" \(state)=\(count.rows[state]?["total"] ?? -1) "), "\(state) in \(line)")
      }
    }
  }

  /// The dashboard in a real terminal (tmux): the counts on screen match, q quits, and the
  /// terminal is back on its main screen with the cursor shown.
  @Test(.enabled(if: canRun && available(tools: ["tmux"]), "needs root and tmux"))
  func dashboardInTmux() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let session = "swstat-test-\(getpid())"
    // Detached: the tmux server must not inherit the test runner's pipes.
    runDetached([
      "tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
      "ip netns exec \(ns.name) '\(swstatPath)' --watch --transitions poll --interval 0.3",
    ])
    defer { runDetached(["tmux", "kill-session", "-t", session]) }
    runDetached(["tmux", "set-option", "-t", session, "remain-on-exit", "on"])
    usleep(1_200_000)
    let screen = try runCommand(["tmux", "capture-pane", "-p", "-t", session]).stdout
    let count = parseCounts(try ns.run([swstatPath, "--count"]).stdout)
    #expect(screen.contains("swstat --watch"), "\(screen)")
    for state in ["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "CLOSING"] {
      let row = screen.split(separator: "\n").first { $0.hasPrefix(state + " ") }
      let n = row?.split(separator: " ").dropFirst().first.flatMap { Int($0) }
      #expect(n == count.rows[state]?["total"], "\(state): \(row ?? "missing")")
    }
    #expect(screen.contains("TOP LOCAL PORTS") && screen.contains("TOP PEERS"))
    let before = try runCommand([
      "tmux", "display", "-p", "-t", session, "#{alternate_on} #{pane_dead}",
    ]).stdout
    #expect(before.hasPrefix("1 0"), "\(before)")
    runDetached(["tmux", "send-keys", "-t", session, "q"])
    var after = ""
    for _ in 0..<50 {
      usleep(100_000)
      after = try runCommand([
        "tmux", "display", "-p", "-t", session, "#{alternate_on} #{pane_dead}",
      ]).stdout
      if after.hasPrefix("0 1") { break }
    }
    // q ended swstat, and the terminal is back on its main screen, without the dashboard.
    #expect(after.hasPrefix("0 1"), "after q: \(after)")
    let main = try runCommand(["tmux", "capture-pane", "-p", "-t", session]).stdout
    #expect(!main.contains("swstat --watch") && !main.contains("TOP PEERS"), "\(main)")
  }

  /// SIGWINCH redraws the dashboard at the terminal's new size at once, not at the next tick
  /// (a minute away here): the clipped title comes back whole and the top tables grow deeper.
  @Test(.enabled(if: canRun && available(tools: ["tmux"]), "needs root and tmux"))
  func dashboardRedrawsOnResize() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let session = "swstat-resize-\(getpid())"
    runDetached([
      "tmux", "new-session", "-d", "-s", session, "-x", "60", "-y", "20",
      "ip netns exec \(ns.name) '\(swstatPath)' --watch --transitions poll --interval 60",
    ])
    defer { runDetached(["tmux", "kill-session", "-t", session]) }
    func screen() throws -> [Substring] {
      try runCommand(["tmux", "capture-pane", "-p", "-t", session]).stdout.split(
        separator: "\n", omittingEmptySubsequences: false)
    }
    func topRows(_ lines: [Substring]) -> Int {
      guard let header = lines.firstIndex(where: { $0.hasPrefix("TOP LOCAL PORTS") }) else {
        return -1
      }
      return lines[(header + 1)...].prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        .count
    }
    var small: [Substring] = []
    for _ in 0..<30 {
      usleep(100_000)
      small = try screen()
      if topRows(small) >= 0 { break }
    }
    #expect(small.allSatisfy { $0.count <= 60 })
    #expect(small.first?.hasSuffix("q quits") == false, "\(small)")
    let smallDepth = topRows(small)
    #expect((0...2).contains(smallDepth), "\(small)")
    runDetached(["tmux", "resize-window", "-t", session, "-x", "150", "-y", "45"])
    var big: [Substring] = []
    for _ in 0..<30 {
      usleep(100_000)
      big = try screen()
      if big.first?.hasSuffix("q quits") == true { break }
    }
    #expect(big.first?.hasSuffix("q quits") == true, "\(big)")
    #expect(topRows(big) > smallDepth && topRows(big) <= 8, "\(big)")
    #expect(
      big.contains {
        $0.hasPrefix("TOP LOCAL PORTS" + String(repeating: " ", count: 25) + "TOP PEERS")
      }, "\(big)")
  }

  /// SIGTERM, SIGINT and SIGHUP end the dashboard with the terminal restored: the raw bytes
  /// written to the terminal end with the cursor shown and the main screen back.
  @Test(
    .enabled(if: available(tools: ["script", "pgrep"]), "needs script(1)"),
    arguments: ["TERM", "INT", "HUP"])
  func dashboardRestoresOnSignals(signal: String) throws {
    try requireTools(["script", "pgrep"])
    let raw = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-tty-\(getpid())-\(signal)"
    ).path
    defer { try? FileManager.default.removeItem(atPath: raw) }
    let tty = try Background([
      "script", "-q", "-c", "'\(swstatPath)' --watch --transitions poll --interval 0.2", raw,
    ])
    // Signal only once the dashboard is up (on a loaded machine that can take a while).
    for _ in 0..<100 {
      usleep(100_000)
      if fileContains(raw, Array("\u{1b}[?1049h".utf8)) {
        break
      }
    }
    usleep(300_000)
    let pids = try runCommand(["pgrep", "-P", "\(tty.process.processIdentifier)"]).stdout
      .split(separator: "\n").compactMap { Int32($0) }
    // script runs the command through a shell, which execs it or forks it.
    var target: Int32? = nil
    for pid in pids {
      let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
      if comm.hasPrefix("swstat") { target = pid }
      for child in (try runCommand(["pgrep", "-P", "\(pid)", "-x", "swstat"]).stdout).split(
        separator: "\n")
      {
        target = Int32(child)
      }
    }
    let pid = try #require(target)
    kill(pid, signal == "TERM" ? SIGTERM : signal == "INT" ? SIGINT : SIGHUP)
    usleep(500_000)
    tty.stop(SIGTERM)
    let bytes = try String(contentsOfFile: raw, encoding: .isoLatin1)
    let enter = bytes.range(of: "\u{1b}[?1049h")
    let leave = bytes.range(of: "\u{1b}[?1049l", options: .backwards)
    let show = bytes.range(of: "\u{1b}[?25h", options: .backwards)
    #expect(enter != nil && leave != nil && show != nil, "\(bytes.suffix(200).debugDescription)")
    if let enter, let leave { #expect(enter.upperBound < leave.lowerBound) }
  }
}
