import Foundation
import SwstatCore
import SwstatTestSupport
import Testing

/// Issue 14 through the command line, as a user runs it: `--info`, `--memory`, `--cgroup`
/// and `-K` on real loopback sockets in a namespace of the test's own, compared with `ss` on
/// the same sockets; what each refuses and how.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DepthCLITests {
  static var canRun: Bool { available(root: true, tools: ["ip", "ss"]) }

  /// Tokens that move while a connection sits idle, and those the installed ss is too old for.
  static let moving: Set<String> = ["lastsnd", "lastrcv", "lastack", "rtt", "rto", "minrtt"]
  static let newerThanSS: Set<String> = ["rcv_wnd", "rehash"]

  /// swstat's text listing with extras lines: each row's ends and the tokens of the line
  /// under it.
  static func rowsWithExtras(_ text: String) -> [(local: String, peer: String, line: String)] {
    var out: [(local: String, peer: String, line: String)] = []
    var last: (String, String)? = nil
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("\t") {
        if let (l, p) = last { out.append((l, p, String(line.dropFirst()))) }
        last = nil
        continue
      }
      let fields = line.split(separator: " ")
      if fields.count >= 5 && fields[0].hasPrefix("tcp") {
        last = (String(fields[3]), String(fields[4]))
      }
    }
    return out
  }

  /// `swstat -tn --info --memory` shows ss -tnmi's tokens with ss's values for every socket of
  /// an idle connection after a known transfer (the listener, both ends); `--json` carries
  /// the same numbers as members with units; both refused with --source proc.
  @Test(.enabled(if: canRun, "needs root, ip and ss"))
  func infoAndMemoryAsSS() throws {
    try requireTools(root: true, ["ip", "ss"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try ns.inside { try TransferPair(bytes: 1 << 20, reply: 65536) }
    defer { pair.close() }
    usleep(300_000)
    let mine = try ns.run([swstatPath, "-tan", "--info", "--memory", "--port", "\(pair.port)"])
    #expect(mine.status == 0, "\(mine.stderr)")
    let ss = try ns.run(["ss", "-tanmiH", "sport = :\(pair.port) or dport = :\(pair.port)"])
    let theirs = ssRowsWithInfo(ss.stdout)
    let rows = Self.rowsWithExtras(mine.stdout)
    #expect(rows.count == 3 && theirs.count == 3, "\(mine.stdout)\n\(ss.stdout)")
    for row in rows {
      let peer = row.peer == "0.0.0.0:*" ? "0.0.0.0:*" : row.peer
      guard let match = theirs.first(where: { $0.local == row.local && $0.peer == peer }) else {
        Issue.record("no ss row for \(row.local) \(row.peer): \(ss.stdout)")
        continue
      }
      let tokens = ssInfoTokens(" " + row.line)
      #expect(
        Set(tokens.keys).subtracting(Self.newerThanSS) == Set(match.tokens.keys),
        "\(row.local) \(row.peer): swstat \(row.line)\nss \(match.tokens)")
      for (key, value) in tokens where !Self.moving.contains(key) && match.tokens[key] != nil {
        #expect(
          match.tokens[key] == value,
          "\(row.local) \(key): swstat \(value), ss \(match.tokens[key] ?? "-")")
      }
    }
    // The client's counts, in NDJSON.
    let json = try ns.run([
      swstatPath, "-tn", "--info", "--memory", "--json", "--sport", "\(pair.clientPort)",
    ])
    let objects = json.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(objects.count == 1, "\(json.stdout)")
    let info = objects.first?["tcp_info"] as? [String: Any] ?? [:]
    #expect(info["bytes_acked"] as? Int == (1 << 20) + 1, "\(info)")
    #expect(info["bytes_received"] as? Int == 65536, "\(info)")
    #expect(info["rtt_ms"] is Double || info["rtt_ms"] is Int, "\(info)")
    let memory = objects.first?["memory"] as? [String: Any] ?? [:]
    #expect(memory["rcvbuf"] as? Int ?? 0 > 0, "\(memory)")
    for flag in ["--info", "--memory", "--cgroup"] {
      let r = try runCommand([swstatPath, "-tn", flag, "--source", "proc"])
      #expect(r.status == 64 && r.stdout.isEmpty, "\(flag): \(r.status)")
      #expect(
        r.stderr.contains(
          "\(flag) needs netlink: /proc/net has no tcp_info, socket memory or cgroup"),
        "\(r.stderr)")
    }
    let counting = try runCommand([swstatPath, "--count", "--info"])
    #expect(counting.status == 64 && counting.stderr.contains("--info: applies to listings"))
  }

  /// `-K --dport P` closes exactly the connections to P that were selected and lists each:
  /// their peers see the reset, another connection and the listener stay. Bare `-K` and `-K -t`
  /// are refused (exit 64) and close nothing; without CAP_NET_ADMIN one line and exit 1.
  @Test(.enabled(if: available(root: true, tools: ["ip", "setpriv"]), "needs root, ip, setpriv"))
  func killClosesWhatIsSelected() throws {
    try requireTools(root: true, ["ip", "setpriv"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let one = try ns.inside { try TransferPair(bytes: 100) }
    defer { one.close() }
    let two = try ns.inside { try TransferPair(bytes: 100) }
    defer { two.close() }

    for refused in [["-K"], ["-K", "-t"], ["-K", "-a"], ["-K", "--count", "--dport", "1"]] {
      let r = try ns.run([swstatPath] + refused)
      #expect(r.status == 64 && r.stdout.isEmpty, "\(refused): \(r.status) \(r.stdout)")
      #expect(r.stderr.contains("-K"), "\(r.stderr)")
    }
    let nobody = try ns.run([
      "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", swstatPath, "-K", "-tn",
      "--dport", "\(one.port)",
    ])
    #expect(nobody.status == 1)
    #expect(
      nobody.stderr
        == "swstat: cannot close sockets: closing a socket needs CAP_NET_ADMIN (SOCK_DESTROY: Operation not permitted)\n",
      "\(nobody.stderr)")
    // Nothing was closed so far.
    let before = try ns.run([swstatPath, "-tan"]).stdout
    #expect(before.components(separatedBy: "ESTABLISHED").count - 1 == 4, "\(before)")

    let killed = try ns.run([swstatPath, "-K", "-tn", "--dport", "\(one.port)", "--json"])
    #expect(killed.status == 0, "\(killed.stderr)")
    let objects = killed.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    let ports = objects.map { (($0["local"] as? [String: Any])?["port"] as? Int) ?? -1 }
    #expect(ports == [Int(one.clientPort)], "\(killed.stdout)")
    // The killed client's peer got the reset; the other connection still carries data.
    var byte: UInt8 = 0
    #expect(recv(one.server, &byte, 1, 0) < 0 && errno == ECONNRESET)
    #expect(send(two.client, "x", 1, 0) == 1)
    #expect(recv(two.server, &byte, 1, 0) == 1)
    let after = try ns.run([swstatPath, "-tan"]).stdout
    #expect(after.contains("127.0.0.1:\(two.clientPort)"), "\(after)")
    #expect(after.contains("127.0.0.1:\(one.port) ") && after.contains("LISTEN"), "\(after)")
    #expect(!after.contains("127.0.0.1:\(one.clientPort)"), "\(after)")
  }

  /// `--cgroup` shows the cgroup v2 path of a process the test starts in a cgroup of its own
  /// (nsenter: `ip netns exec` mounts a sysfs that hides the cgroup2 mount), and the filter
  /// word `cgroup PATH` keeps only its sockets.
  @Test(.enabled(if: available(root: true, tools: ["ip", "nsenter", "python3"])))
  func cgroupPathAndFilter() throws {
    try requireTools(root: true, ["ip", "nsenter", "python3"])
    let mount = try #require(CgroupPaths.systemMount(), "no cgroup2 mount")
    let name = "swstat-cli-\(getpid())"
    let directory = mount + "/" + name
    try #require(mkdir(directory, 0o755) == 0 || errno == EEXIST)
    defer { rmdir(directory) }
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let script = """
      import socket, sys
      open(sys.argv[1] + '/cgroup.procs', 'w').write('0')
      l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()
      print(l.getsockname()[1], flush=True)
      sys.stdin.read()
      """
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    child.arguments = [
      "nsenter", "--net=/run/netns/\(ns.name)", "python3", "-c", script, directory,
    ]
    let out = Pipe()
    let input = Pipe()
    child.standardOutput = out
    child.standardInput = input
    try child.run()
    defer {
      try? input.fileHandleForWriting.close()
      child.waitUntilExit()
    }
    let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
    let port = try #require(Int(line.trimmingCharacters(in: .whitespacesAndNewlines)))
    let other = try ns.inside { try TransferPair(bytes: 10) }
    defer { other.close() }
    let enter = ["nsenter", "--net=/run/netns/\(ns.name)", swstatPath]
    let listed = try runCommand(enter + ["-tln", "--cgroup"])
    #expect(listed.status == 0, "\(listed.stderr)")
    let rows = Self.rowsWithExtras(listed.stdout)
    let mine = rows.first { $0.local == "127.0.0.1:\(port)" }
    #expect(mine?.line.contains("cgroup:/\(name)") == true, "\(listed.stdout)")
    let others = rows.filter { $0.local == "127.0.0.1:\(other.port)" }
    #expect(others.count == 1 && others.allSatisfy { !$0.line.contains(name) }, "\(listed.stdout)")
    let filtered = try runCommand(enter + ["-tan", "cgroup", "/" + name])
    #expect(filtered.status == 0, "\(filtered.stderr)")
    let data = filtered.stdout.split(separator: "\n").filter { $0.hasPrefix("tcp") }
    #expect(data.count == 1 && data[0].contains("127.0.0.1:\(port) "), "\(filtered.stdout)")
    let json = try runCommand(enter + ["-tln", "--cgroup", "--json", "--sport", "\(port)"])
    #expect(json.stdout.contains("\"cgroup\":\"/\(name)\""), "\(json.stdout)")
  }
}

extension NetworkNamespace {
  /// Runs `body` on a thread inside the namespace (sockets it opens are the namespace's) and
  /// returns what it returns.
  fileprivate func inside<T>(_ body: () throws -> T) throws -> T {
    var result: T? = nil
    try NetworkNamespaces.run(in: "/run/netns/\(name)", context: "test namespace") {
      result = try body()
    }
    guard let result else { throw FixtureError.failed("inside: no result") }
    return result
  }
}
