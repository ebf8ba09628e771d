import Foundation
import SwstatTestSupport
import Testing

/// Names a hostile local user chooses — argv[0], UNIX socket names, namespace names — reach
/// no terminal raw, split no line, widen no column and fail no run (issue 11). The user is
/// real: Fixtures/hostile.py, running as nobody in a namespace of the test's own.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct HostileInputTests {
  static var canRun: Bool { available(root: true, tools: ["ip", "setpriv", "script", "netstat"]) }

  /// Bytes a name could steer a terminal with: ESC, BEL, C1 CSI (both as UTF-8 and raw).
  static func steering(_ bytes: [UInt8]) -> [String] {
    var found: [String] = []
    if bytes.contains(0x1b) { found.append("ESC") }
    if bytes.contains(0x07) { found.append("BEL") }
    if bytes.contains(0x9b) { found.append("C1 CSI") }
    if bytes.contains(0x0d) { found.append("CR") }
    return found
  }

  static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
    bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
  }

  /// On a terminal, `-p` and `-x` show names visibly: no steering byte reaches the terminal,
  /// the forged row stays inside its socket's line, the program column keeps its width.
  @Test(.enabled(if: canRun)) func terminalGetsTheVisibleForm() throws {
    try requireTools(root: true, ["ip", "setpriv", "script"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let user = try HostileUser(in: ns)
    defer { user.stop() }
    for flags in ["-anp", "-tanp", "-xp", "-axp", "-anpe", "-ap"] {
      let out = try runInTerminal("ip netns exec \(ns.name) '\(swstatPath)' \(flags)")
      #expect(Self.steering(out).isEmpty, "\(flags): \(Self.steering(out))")
      let text = String(decoding: out, as: UTF8.self)
      #expect(!text.contains("\nFORGED"), "\(flags)")
      // The program cell keeps its width: no row is wider than its header, which ends with it.
      let header = text.split(separator: "\n").first { $0.hasPrefix("Proto Recv-Q") } ?? ""
      for line in text.split(separator: "\n") where line.hasPrefix("tcp ") {
        #expect(line.count <= header.count && line.contains("/\\x1b]52;c;aWQ"), "\(line)")
      }
    }
    let unix = String(
      decoding: try runInTerminal("ip netns exec \(ns.name) '\(swstatPath)' -axp"), as: UTF8.self)
    #expect(unix.contains("@x\\x0ay"), "\(unix)")
    #expect(unix.contains("\\x1b]0;pwn\\x07 a b\\xe2\\x80\\xaeevil"), "\(unix)")
    #expect(
      !unix.contains("LISTENING     424242"),
      "a forged /proc/net/unix line became a socket: \(unix)")
  }

  /// Piped, netstat's own columns keep netstat's bytes (scripts that compare with netstat keep
  /// working), except a line break, so one socket is one line.
  @Test(.enabled(if: canRun)) func pipeKeepsNetstatBytes() throws {
    try requireTools(root: true, ["ip", "setpriv", "netstat"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let user = try HostileUser(in: ns)
    defer { user.stop() }
    let ours = try ns.run([swstatPath, "-tanp"])
    let theirs = try ns.run(["netstat", "-tanp"])
    #expect(ours.status == 0)
    #expect(
      Self.lines(ours.stdoutBytes).sorted { $0.lexicographicallyPrecedes($1) }
        == Self.lines(theirs.stdoutBytes).sorted { $0.lexicographicallyPrecedes($1) })
    let unix = try ns.run([swstatPath, "-axp"])
    let rows = Self.lines(unix.stdoutBytes).filter { $0.starts(with: Array("unix".utf8)) }
    #expect(rows.count == 3, "\(unix.stdout)")
    #expect(unix.stdout.contains("@x\\x0ay"))
  }

  /// A name holding a line break blinds nothing: every table is listed, exit 0; read from
  /// /proc alone, the bogus line is skipped with one warning.
  @Test(.enabled(if: canRun)) func unixNamesCannotBlindTheListing() throws {
    try requireTools(root: true, ["ip", "setpriv"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let user = try HostileUser(in: ns)
    defer { user.stop() }
    for flags in [[], ["-a"], ["-x"], ["-xp"], ["-ao"], ["-a", "--source", "proc"]] {
      let r = try ns.run([swstatPath] + flags)
      #expect(r.status == 0, "\(flags): \(r.stderr)")
      if !flags.contains("-x") && !flags.contains("-xp") {
        #expect(r.stdout.contains("Active Internet connections"), "\(flags)")
      }
      #expect(r.stdout.contains("Active UNIX domain sockets"), "\(flags)")
    }
    let proc = try ns.run([swstatPath, "-ax", "--source", "proc"])
    #expect(proc.stdout.contains("@x\n") || proc.stdout.contains("@x "), "\(proc.stdout)")
    let warnings = proc.stderr.split(separator: "\n")
    #expect(warnings.count == 1 && warnings[0].contains("/net/unix:"), "\(proc.stderr)")
    #expect(warnings.first?.contains("skipped") == true)
  }

  /// Every line-oriented output writes names visibly, always: --events, --count-by program,
  /// --watch piped; JSON escapes them (one object a line).
  @Test(.enabled(if: canRun)) func lineOutputsAreSafe() throws {
    try requireTools(root: true, ["ip", "setpriv"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let user = try HostileUser(in: ns)
    defer { user.stop() }
    let groups = try ns.run([swstatPath, "-t", "--count-by", "program,state"])
    #expect(groups.status == 0)
    #expect(Self.steering(groups.stdoutBytes).isEmpty)
    let rows = groups.stdout.split(separator: "\n")
    #expect(
      !rows.contains { $0.contains("FORGED") && !$0.contains("\\x0aFORGED") }, "\(groups.stdout)")
    #expect(rows.contains { $0.contains("\\x1b]52;c;aWQK\\x07") })
    let events = try Background([
      "ip", "netns", "exec", ns.name, swstatPath, "--events", "-tp", "--interval", "0.2",
    ])
    usleep(600_000)
    // A new listener of the hostile user's shows up with its owner's name.
    _ = try user.openListener()
    usleep(800_000)
    events.stop()
    let log = Array(events.output.utf8)
    #expect(Self.steering(log).isEmpty)
    #expect(events.output.contains("\\x1b]52"), "\(events.output)")
    let json = try ns.run([swstatPath, "-tanp", "--json"])
    for line in json.stdout.split(separator: "\n") {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      #expect(object != nil)
    }
    #expect(Self.steering(json.stdoutBytes).isEmpty)
  }

  /// --all-netns labels rows with namespace names any root-started tool may have given
  /// (`ip netns add` takes escapes): shown visibly and cut to the Netns column.
  @Test(.enabled(if: canRun)) func namespaceNamesAreVisible() throws {
    try requireTools(root: true, ["ip", "setpriv"])
    let name = "\u{1b}]0;pwn\u{07}\u{1b}[2J-swstat-\(getpid())"
    #expect(try runCommand(["ip", "netns", "add", name]).status == 0)
    defer { _ = try? runCommand(["ip", "netns", "delete", name]) }
    let r = try runCommand([swstatPath, "-tln", "--all-netns"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(Self.steering(r.stdoutBytes).isEmpty)
    let banner = r.stdout.split(separator: "\n").dropFirst().first ?? ""
    #expect(banner.hasPrefix("Netns            Proto"), "\(banner)")
  }

  /// A FIFO, or a device, in place of a /proc file is refused at once, not waited on.
  @Test func fifoInProcRootIsRefused() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-fifo-\(getpid())")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    #expect(mkfifo(root.appendingPathComponent("net/tcp").path, 0o600) == 0)
    let start = Date()
    let r = try runCommand(
      [swstatPath, "-tan", "--source", "proc", "--proc-root", root.path], timeout: 20)
    #expect(Date().timeIntervalSince(start) < 10)
    #expect(r.status == 1)
    #expect(r.stderr == "swstat: \(root.path)/net/tcp: not a regular file (a FIFO)\n")
    try FileManager.default.removeItem(atPath: root.appendingPathComponent("net/tcp").path)
    try FileManager.default.createSymbolicLink(
      atPath: root.appendingPathComponent("net/tcp").path, withDestinationPath: "/dev/zero")
    let device = try runCommand(
      [swstatPath, "-tan", "--source", "proc", "--proc-root", root.path], timeout: 20)
    #expect(device.stderr.contains("not a regular file (a character device)"), "\(device.stderr)")
  }

  /// /proc rows with a state the kernel has no name for (00, FF) are listed, as netstat lists
  /// them; a 2,000,000-counter -s is written whole, text and JSON.
  @Test func oddProcTablesAreListedWhole() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-odd-\(getpid())")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let header =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    let rows = [("00", 1), ("FF", 2), ("01", 3)].map { state, i in
      "   \(i): 0100007F:1F9\(i) 0100007F:C35\(i) \(state) 00000000:00000000 00:00000000 00000000     0        0 1111\(i) 1 0000000000000000 20 4 0 10 -1\n"
    }
    try (header + rows.joined()).write(
      to: root.appendingPathComponent("net/tcp"), atomically: true, encoding: .utf8)
    try header.write(to: root.appendingPathComponent("net/tcp6"), atomically: true, encoding: .utf8)
    let r = try runCommand([swstatPath, "-tan", "--source", "proc", "--proc-root", root.path])
    #expect(r.stdout.contains("UNKNOWN(0)") && r.stdout.contains("UNKNOWN(255)"), "\(r.stdout)")
    #expect(r.stdout.split(separator: "\n").count == 2 + 3)
    // -s over two million Ip counters: every one is printed, and the JSON line is whole.
    let n = 2_000_000
    var names = "Ip:"
    var values = "Ip:"
    names.reserveCapacity(n * 10)
    values.reserveCapacity(n * 3)
    for i in 0..<n {
      names += " C\(i)"
      values += " 7"
    }
    try (names + "\n" + values + "\n").write(
      to: root.appendingPathComponent("net/snmp"), atomically: true, encoding: .utf8)
    let text = try runCommand(
      [swstatPath, "-s", "--proc-root", root.path], timeout: 300)
    #expect(text.status == 0)
    #expect(text.stdout.split(separator: "\n").count > n, "\(text.stdout.utf8.count) bytes")
    let json = try runCommand(
      [swstatPath, "-s", "--json", "--proc-root", root.path], timeout: 300)
    let first = json.stdout.split(separator: "\n").first ?? ""
    let object = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
    #expect((object?["counters"] as? [String: Any])?.count == n)
  }

  /// --program matches an argv[0] longer than netstat's 511 bytes, and one that is not UTF-8.
  @Test(.enabled(if: available(root: true, tools: ["ip"])))
  func programMatchesAnyName() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let long = String(repeating: "n", count: 600)
    for name in [long, "caf\u{e9}"] {
      let holder = try Background([
        "ip", "netns", "exec", ns.name, "bash", "-c",
        "exec -a \"$0\" /usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); time.sleep(30)'",
        name,
      ])
      defer { holder.stop(SIGKILL) }
      usleep(800_000)
      let r = try ns.run([swstatPath, "-tln", "--program", name])
      #expect(r.stdout.split(separator: "\n").count == 3, "\(name.prefix(8)): \(r.stdout)")
    }
    // Not UTF-8: the bytes as typed (Latin-1 "café").
    let holder = try Background([
      "ip", "netns", "exec", ns.name, "bash", "-c",
      "exec -a $'caf\\xe9' /usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); time.sleep(30)'",
    ])
    defer { holder.stop(SIGKILL) }
    usleep(800_000)
    let r = try ns.run([
      "bash", "-c", "'\(swstatPath)' -tln --program $'caf\\xe9'",
    ])
    #expect(r.stdout.split(separator: "\n").count == 3, "\(r.stdout)")
  }

  /// Bad values are named with their range; a bad namespace is named and said what it is.
  @Test func messagesNameTheValue() throws {
    let cases: [([String], String)] = [
      (
        ["--watch", "--interval", "-1"],
        "--interval: expected seconds from 0.01 to 86400, got \"-1\""
      ),
      (["--watch", "--interval", "0x10"], "got \"0x10\""),
      (["-tan", "--port", "-1"], "--port: bad port \"-1\": expected a number from 0 to 65535"),
      (["-tan", "--pid", "-5"], "--pid: expected a process id from 1 to 4194304, got \"-5\""),
      (["--version", "--bogus"], "--version takes no other arguments"),
    ]
    for (args, message) in cases {
      let r = try runCommand([swstatPath] + args)
      #expect(r.status == 64, "\(args)")
      #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
      #expect(r.stdout.isEmpty)
    }
    if isRoot {
      let r = try runCommand([swstatPath, "-tan", "--netns", "../../etc"])
      #expect(r.status == 1)
      #expect(r.stderr.hasPrefix("swstat: --netns ../../etc: "), "\(r.stderr)")
      let dir = try runCommand([swstatPath, "-tan", "--netns", "/etc"])
      #expect(dir.stderr == "swstat: --netns /etc: not a network namespace (a directory)\n")
    }
  }
}

/// The dashboard in a real terminal (tmux) against the hostile user, and through job control.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DashboardTerminalTests {
  /// Names on the dashboard cannot set the title, write the clipboard (OSC 52) or leave the
  /// alternate screen; they show visibly in the programs column.
  @Test(.enabled(if: available(root: true, tools: ["tmux", "ip", "setpriv"])))
  func namesCannotSteerTheDashboard() throws {
    try requireTools(root: true, ["tmux", "ip", "setpriv"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let user = try HostileUser(in: ns)
    defer { user.stop() }
    let tmux = try TmuxSession(
      "ip netns exec \(ns.name) '\(swstatPath)' --watch -p --interval 0.3",
      options: [
        ["set-option", "-g", "set-clipboard", "on"], ["set-option", "-g", "allow-rename", "on"],
      ])
    defer { tmux.kill() }
    let title = try tmux.display("#{pane_title}")
    let up = try tmux.wait { try tmux.screen().contains("BUSIEST PROGRAMS") }
    #expect(up)
    usleep(1_000_000)
    let screen = try tmux.screen()
    #expect(screen.contains("\\x1b]52;c;aWQK"), "\(screen)")
    #expect(try tmux.display("#{pane_title}") == title)
    #expect(try tmux.display("#{alternate_on} #{pane_dead}") == "1 0")
    let buffers = try runCommand(["tmux", "list-buffers"]).stdout
    #expect(buffers.isEmpty, "the clipboard was written: \(buffers)")
    #expect(!screen.contains("FORGED 9 9") || screen.contains("\\x0aFORGED"))
  }

  /// Ctrl-Z puts the terminal back before the stop (the shell's prompt on the main screen, the
  /// cursor shown); `fg` takes it again (raw: `q` quits without Enter); Ctrl-\ restores it as
  /// SIGTERM does.
  @Test(.enabled(if: available(tools: ["tmux", "bash"])))
  func jobControlAndQuit() throws {
    try requireTools(["tmux", "bash"])
    let tmux = try TmuxSession("bash --norc --noprofile -i")
    defer { tmux.kill() }
    tmux.send("PS1='prompt$ '", "Enter")
    tmux.send("'\(swstatPath)' --watch --interval 0.3", "Enter")
    #expect(try tmux.wait { try tmux.display("#{alternate_on}") == "1" })
    tmux.send("C-z")
    #expect(try tmux.wait { try tmux.display("#{alternate_on} #{cursor_flag}") == "0 1" })
    #expect(try tmux.wait { try tmux.screen().contains("Stopped") })
    tmux.send("fg", "Enter")
    #expect(try tmux.wait { try tmux.display("#{alternate_on}") == "1" })
    usleep(500_000)
    tmux.send("q")
    #expect(
      try tmux.wait { try tmux.display("#{alternate_on} #{pane_current_command}") == "0 bash" },
      "q without Enter did not quit: the terminal was left canonical after fg")
    tmux.send("clear", "Enter")
    tmux.send("'\(swstatPath)' --watch --interval 0.3", "Enter")
    #expect(try tmux.wait { try tmux.display("#{alternate_on}") == "1" })
    tmux.send("C-\\")
    #expect(try tmux.wait { try tmux.display("#{alternate_on} #{cursor_flag}") == "0 1" })
    #expect(try tmux.wait { try tmux.display("#{pane_current_command}") == "bash" })
  }
}
