import Foundation
import SwstatTestSupport
import Testing

/// Fixtures/extra_sockets.py inside a namespace: UNIX stream/dgram/seqpacket sockets (listening,
/// connected, one still in an accept queue; path, abstract and unnamed) and, with --raw, raw
/// IPv4/IPv6 sockets on loopback and a UDP-Lite socket. Stopped by closing its stdin.
final class ExtraSocketFixture: @unchecked Sendable {
  let process: Process
  let input: Pipe
  let ready: String

  init(in ns: NetworkNamespace, raw: Bool = true) throws {
    let script = packageRoot.appendingPathComponent("Tests/swstatTests/Fixtures/extra_sockets.py")
      .path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["ip", "netns", "exec", ns.name, "python3", script] + (raw ? ["--raw"] : [])
    let out = Pipe()
    input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    process = p
    var line = Data()
    let fd = out.fileHandleForReading.fileDescriptor
    var byte: UInt8 = 0
    while read(fd, &byte, 1) == 1 && byte != 0x0a { line.append(byte) }
    ready = String(decoding: line, as: UTF8.self)
    guard ready.hasPrefix("ready ") else {
      p.terminate()
      throw FixtureError.failed("extra_sockets.py did not start: \(ready)")
    }
  }

  func stop() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

/// -x, -w, the default listing, -s and the namespace flags against net-tools netstat 2.10.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExtraTablesTests {
  static var canRun: Bool { available(root: true, tools: ["netstat", "ip"]) }

  /// Byte for byte, rows in the same order: both read the same /proc files in one pass.
  @Test(.enabled(if: canRun, "needs root (ip netns) and net-tools netstat"))
  func sameAsNetstat() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try ExtraSocketFixture(in: ns)
    defer { fixture.stop() }
    let flags = [
      "-x", "-ax", "-lx", "-xp", "-axp", "-lxp", "-axn", "-axe", "-xW", "-w", "-aw", "-anw", "-lw",
      "-awe", "-awp", "-awo", "-uw", "-6aw", "", "-a", "-n", "-an", "-l", "-ap", "-4an", "-6an",
      "-anx4",
    ]
    for f in flags {
      let args = f.isEmpty ? [] : [f]
      let theirs = try ns.run(["netstat"] + args)
      for source in ["auto", "proc"] {
        let ours = try ns.run([swstatPath] + args + ["--source", source])
        #expect(ours.status == theirs.status, "\(f)")
        #expect(ours.stderr == theirs.stderr, "\(f)")
        #expect(
          ours.stdout == theirs.stdout,
          "\(f) --source \(source)\nnetstat:\n\(theirs.stdout)\nswstat:\n\(ours.stdout)")
      }
    }
    // The fixture's sockets are all there: every type, both name kinds, the embryonic one.
    let ax = try ns.run(["netstat", "-ax"]).stdout
    for word in [
      "STREAM", "DGRAM", "SEQPACKET", "LISTENING", "CONNECTED", "CONNECTING", "@swstat-x",
      "stream.sock", "[ ACC ]",
    ] {
      #expect(ax.contains(word), "\(word)")
    }
    #expect(try ns.run(["netstat", "-aw"]).stdout.split(separator: "\n").count == 6)
  }

  /// unix_diag (`--source netlink`): the same rows but RefCnt, which it cannot know (`-`), and
  /// the socket still in the accept queue, which it skips (inode 0).
  @Test(.enabled(if: canRun, "needs root (ip netns) and net-tools netstat"))
  func unixDiagMatchesProc() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try ExtraSocketFixture(in: ns, raw: false)
    defer { fixture.stop() }
    func key(_ line: Substring) -> String {
      var cols = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
      if cols.count > 1 { cols[1] = "?" }  // RefCnt
      return cols.joined(separator: " ")
    }
    for f in ["-ax", "-lx", "-x", "-axp"] {
      let proc = try ns.run([swstatPath, f, "--source", "proc"]).stdout.split(separator: "\n")
      let nl = try ns.run([swstatPath, f, "--source", "netlink"])
      #expect(nl.status == 0)
      let netlink = nl.stdout.split(separator: "\n")
      #expect(netlink.prefix(2) == proc.prefix(2))
      let expected = proc.dropFirst(2).filter { !$0.contains("CONNECTING    0 ") }.map(key).sorted()
      #expect(netlink.dropFirst(2).map(key).sorted() == expected, "\(f)")
      #expect(netlink.dropFirst(2).allSatisfy { $0.hasPrefix("unix  -      ") })
    }
    // JSON from unix_diag carries peers and queues; from /proc, refcnt.
    let json = try ns.run([swstatPath, "-ax", "--json", "--source", "netlink"]).stdout
    #expect(
      json.contains("\"peer_inode\":") && !json.contains("\"peer_inode\":null,\"recv_q\":null"))
    let procJSON = try ns.run([swstat, "-ax", "--json", "--source", "proc"]).stdout
    #expect(procJSON.contains("\"refcnt\":2"))
    #expect(procJSON.split(separator: "\n").count == 18)
  }

  var swstat: String { swstatPath }

  /// -s against netstat -s on the same files: a /proc of fixed counters (every one non-zero and
  /// distinct) mounted on /proc for netstat in a private mount namespace, and given to swstat
  /// with --proc-root. Byte for byte, values included.
  @Test(.enabled(if: canRun && available(tools: ["unshare"]), "needs root (unshare -m)"))
  func statisticsSameAsNetstat() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-snmp-\(getpid())")
    try FileManager.default.createDirectory(
      at: dir.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var n = 1000
    for file in ["snmp", "netstat"] {
      let lines = try String(contentsOfFile: "/proc/net/" + file, encoding: .utf8).split(
        separator: "\n")
      var out = ""
      for i in stride(from: 0, to: lines.count - 1, by: 2) {
        let parts = lines[i].split(separator: ":", maxSplits: 1)
        let values = parts[1].split(separator: " ").map { _ in
          n += 7
          return String(n)
        }
        out += lines[i] + "\n" + parts[0] + ": " + values.joined(separator: " ") + "\n"
      }
      try out.write(
        to: dir.appendingPathComponent("net/" + file), atomically: true, encoding: .utf8)
    }
    var six = ""
    for line in try String(contentsOfFile: "/proc/net/snmp6", encoding: .utf8).split(
      separator: "\n")
    {
      n += 7
      six +=
        String(line.split(separator: " ")[0]).padding(toLength: 32, withPad: " ", startingAt: 0)
        + "\t\(n)\n"
    }
    try six.write(to: dir.appendingPathComponent("net/snmp6"), atomically: true, encoding: .utf8)
    for f in ["-s", "-st", "-su", "-sw", "-stu", "-s6", "-st6", "-su6", "-sw6"] {
      let theirs = try runCommand([
        "unshare", "-m", "--propagation", "private", "sh", "-c",
        "mount -t tmpfs none /proc && mkdir /proc/net && cp '\(dir.path)'/net/* /proc/net/ && netstat \(f)",
      ])
      let ours = try runCommand([swstatPath, f, "--proc-root", dir.path])
      #expect(theirs.status == 0, "\(theirs.stderr)")
      #expect(ours.status == 0)
      #expect(
        ours.stdout == theirs.stdout, "\(f)\nnetstat:\n\(theirs.stdout)\nswstat:\n\(ours.stdout)")
    }
    // JSON: one object per section, the counters as the file has them.
    let json = try runCommand([swstatPath, "-st", "--json", "--proc-root", dir.path]).stdout
    let objects = json.split(separator: "\n").map {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(objects.allSatisfy { $0 != nil })
    #expect(objects.contains { $0?["section"] as? String == "Tcp" })
    #expect(!objects.contains { $0?["section"] as? String == "Udp" })
  }

  /// The live counters: titles and counter lines equal netstat's with digits masked (values
  /// move between the two runs).
  @Test(.enabled(if: canRun, "needs netstat"), arguments: ["-s", "-st", "-su", "-s6"])
  func liveStatisticsLayout(flag: String) throws {
    func mask(_ s: String) -> String { String(s.map { $0.isNumber ? "9" : $0 }) }
    let theirs = try runCommand(["netstat", flag])
    let ours = try runCommand([swstatPath, flag])
    let a = theirs.stdout.split(separator: "\n").map { mask(String($0)) }
    let b = ours.stdout.split(separator: "\n").map { mask(String($0)) }
    // A counter going from 0 to non-zero between the runs can add a line; titles never move.
    #expect(a.filter { !$0.hasPrefix(" ") } == b.filter { !$0.hasPrefix(" ") })
    #expect(Set(b).subtracting(a).count <= 3, "\(Set(b).subtracting(a))")
  }

  /// --netns shows exactly the namespace's sockets; --all-netns labels them; the caller's own
  /// namespace is untouched.
  @Test(.enabled(if: canRun, "needs root (ip netns)"))
  func namespaces() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try ExtraSocketFixture(in: ns)
    defer { fixture.stop() }
    for f in ["-an", "-ax", "-tan", "-awn"] {
      let inside = try ns.run([swstatPath, f])
      let viaFlag = try runCommand([swstatPath, f, "--netns", ns.name])
      #expect(viaFlag.status == 0, "\(viaFlag.stderr)")
      #expect(viaFlag.stdout == inside.stdout, "\(f)")
      let viaPath = try runCommand([swstatPath, f, "--netns", "/run/netns/" + ns.name])
      #expect(viaPath.stdout == inside.stdout, "\(f)")
    }
    let all = try runCommand([swstatPath, "-an", "--all-netns"])
    #expect(all.status == 0, "\(all.stderr)")
    let lines = all.stdout.split(separator: "\n")
    #expect(lines[1].hasPrefix("Netns            Proto Recv-Q"))
    let mine = lines.filter {
      $0.hasPrefix(ns.name + " ") || $0.hasPrefix(ns.name.prefix(16) + " ")
    }
    let expected = try ns.run([swstatPath, "-an"]).stdout.split(separator: "\n")
      .filter { $0.hasPrefix("udpl") || $0.hasPrefix("raw") || $0.hasPrefix("unix") }
    #expect(mine.count == expected.count, "\(all.stdout)")
    for row in expected { #expect(mine.contains { $0.hasSuffix(row) }, "\(row)") }
    let json = try runCommand([swstatPath, "-tan", "--all-netns", "--json"])
    #expect(json.status == 0)
    #expect(json.stdout.split(separator: "\n").allSatisfy { $0.contains("\"netns\":\"") })
    let missing = try runCommand([swstatPath, "-tan", "--netns", "swstat-no-such-ns"])
    #expect(missing.status == 1)
    #expect(
      missing.stderr
        == "swstat: --netns swstat-no-such-ns: /run/netns/swstat-no-such-ns: No such file or directory\n"
    )
  }

  @Test(.enabled(if: available(root: true, tools: ["setpriv"]), "needs root to switch to nobody"))
  func namespacesNeedRoot() throws {
    try requireTools(root: true, ["setpriv"])
    let drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    for flags in [["--netns", "x"], ["--all-netns"]] {
      let r = try runCommand(drop + [swstatPath, "-tan"] + flags)
      #expect(r.status == 1)
      #expect(r.stdout.isEmpty)
      #expect(
        r.stderr == "swstat: \(flags[0]): needs root (CAP_SYS_ADMIN): Operation not permitted\n")
    }
  }
}
