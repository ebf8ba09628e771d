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
  @Test(.enabled(if: canRun && available(tools: ["setpriv"]), "needs root to switch to nobody"))
  func sameAsNetstatForNobody() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    for flags in ["-tanp", "-tulpn", "-tan"] {
      let theirs = try ns.run(drop + ["netstat", flags])
      let ours = try ns.run(drop + [swstatPath, flags])
      #expect(ours.status == 0, "\(flags): \(ours.stderr)")
      #expect(ours.stderr == theirs.stderr, "\(flags)")
      #expect(split(ours.stdout).rows == split(theirs.stdout).rows, "\(flags)")
      #expect(split(ours.stdout).header == split(theirs.stdout).header, "\(flags)")
    }
  }
}
