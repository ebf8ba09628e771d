import Foundation
import SwstatTestSupport
import Testing

/// The flag sets the core promises to print exactly as netstat does.
let parityFlags = [
  "-tan", "-tanp", "-tulpn", "-tn", "-ltn", "-uan", "-tanu", "-ta", "-tap", "-tulp", "-tane",
  "-tanW", "-tanpe", "-a46tu",
]

/// Splits a listing into its two header lines and its rows (sorted: row order may differ).
func split(_ text: String) -> (header: [String], rows: [String]) {
  let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  let header = Array(lines.prefix(2))
  let rows = lines.dropFirst(2).filter { !$0.isEmpty }.sorted()
  return (header, rows)
}

/// swstat against net-tools netstat on the same live sockets, inside a network namespace of the
/// test's own (so the rows are exactly the fixture's, and name lookups stay on loopback).
@Suite(.timeLimit(.minutes(3)))
struct ParityTests {
  static var canRun: Bool { available(root: true, tools: ["netstat", "ip"]) }

  @Test(
    .enabled(if: canRun, "needs root (ip netns) and net-tools netstat"),
    arguments: ["netlink", "proc", "auto"])
  func sameRowsAsNetstat(source: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns, fork: true)
    defer { fixture.stop() }
    for flags in parityFlags {
      let theirs = try ns.run(["netstat", flags])
      let ours = try ns.run([swstatPath, flags, "--source", source])
      #expect(ours.status == 0, "\(flags): \(ours.stderr)")
      #expect(ours.stderr == theirs.stderr, "\(flags)")
      let a = split(theirs.stdout)
      let b = split(ours.stdout)
      #expect(b.header == a.header, "\(flags) header")
      #expect(
        b.rows == a.rows,
        "\(flags) --source \(source)\nnetstat:\n\(a.rows.joined(separator: "\n"))\nswstat:\n\(b.rows.joined(separator: "\n"))"
      )
      #expect(!a.rows.isEmpty || flags == "-uan" && false, "\(flags) shows rows")
    }
  }

  /// As an unprivileged user: the same rows, `-` for processes it cannot see, and netstat's note.
  /// Which note netstat writes depends on every process on the machine: "No info could be read"
  /// when the user could see no socket of any process, "Not all processes could be identified"
  /// when it saw some. So the test decides which processes exist: a listener of `nobody`'s own
  /// in the namespace (its owner shown, the second note), and a private PID namespace where
  /// only root's shell is beside the command (every owner `-`, the first note).
  @Test(
    .enabled(
      if: canRun && available(tools: ["setpriv", "unshare"]), "needs root, setpriv, unshare"))
  func sameAsNetstatForNobody() throws {
    try requireTools(["setpriv", "unshare", systemPython])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    let listener = try Background(
      ["ip", "netns", "exec", ns.name] + drop + [
        systemPython, "-c",
        "import socket, sys, time\n"
          + "s = socket.socket(); s.bind(('127.0.0.9', 0)); s.listen()\n"
          + "print('ready', flush=True); time.sleep(120)",
      ])
    defer { listener.stop(SIGKILL) }
    let deadline = Date().addingTimeInterval(10)
    while !listener.output.contains("ready") && Date() < deadline { usleep(20_000) }
    #expect(listener.output.contains("ready"), "nobody's listener did not start")
    let someSeen = "(Not all processes could be identified"
    let noneSeen = "(No info could be read for \"-p\": geteuid()=65534"
    let privatePids = [
      "unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "\"$@\"; exit $?", "sh",
    ]
    for (prefix, flags, note) in [
      ([String](), "-tanp", someSeen), ([], "-tulpn", someSeen), ([], "-tan", ""),
      (privatePids, "-tanp", noneSeen), (privatePids, "-tulpn", noneSeen),
    ] {
      let theirs = try ns.run(prefix + drop + ["netstat", flags])
      let ours = try ns.run(prefix + drop + [swstatPath, flags])
      let what = "\(prefix.isEmpty ? "" : "private PID namespace ")\(flags)"
      #expect(theirs.stderr.hasPrefix(note), "netstat \(what): \(theirs.stderr)")
      #expect(ours.status == 0, "\(what): \(ours.stderr)")
      #expect(ours.stderr == theirs.stderr, "\(what)")
      #expect(split(ours.stdout).rows == split(theirs.stdout).rows, "\(what)")
      #expect(split(ours.stdout).header == split(theirs.stdout).header, "\(what)")
      // nobody's own listener: its owner seen, except from the private PID namespace.
      let nobodys = split(ours.stdout).rows.filter { $0.contains("127.0.0.9:") }
      let owner = nobodys.first?.split(separator: " ").last.map(String.init) ?? ""
      #expect(
        flags == "-tan"
          || nobodys.count == 1
            && (prefix.isEmpty ? owner.hasSuffix("/python3") : owner == "-"),
        "\(what): nobody's listener \(nobodys)")
    }
  }
}
