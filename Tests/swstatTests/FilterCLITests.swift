import Foundation
import SwstatTestSupport
import Testing

/// The filter flags, end to end, on the fixture's sockets in a namespace of their own: each
/// returns exactly the sockets the fixture says should match.
@Suite(.timeLimit(.minutes(3)))
struct FilterCLITests {
  static var canRun: Bool { available(root: true, tools: ["ip"]) }

  /// (proto, local, remote) of each table row.
  func rows(_ text: String) -> Set<String> {
    Set(tableKeys(text).map { "\($0.proto) \($0.local) \($0.remote)" })
  }

  func expected(_ fixture: SocketFixture, _ keep: (SocketFixture.Expected) -> Bool) -> Set<String> {
    Set(fixture.sockets.filter(keep).map { "\($0.proto) \($0.local) \($0.remote)" })
  }

  @Test(
    .enabled(if: canRun, "needs root for a private network namespace"),
    arguments: ["netlink", "proc"])
  func filtersSelectExactlyTheirSockets(source: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    func run(_ args: String...) throws -> Set<String> {
      let r = try ns.run([swstatPath, "-tuan", "--source", source] + args)
      #expect(r.status == 0, "\(args): \(r.stderr)")
      return rows(r.stdout)
    }
    let listener = try #require(fixture.sockets.first { $0.proto == "tcp" && $0.state == "LISTEN" })
    let port = listener.localPort
    #expect(try run("--state", "closing") == expected(fixture) { $0.state == "CLOSING" })
    #expect(
      try run("--state", "fin_wait2,CLOSE-WAIT")
        == expected(fixture) { ["FIN_WAIT2", "CLOSE_WAIT"].contains($0.state) })
    #expect(try run("--sport", "\(port)") == expected(fixture) { $0.localPort == port })
    #expect(try run("--dport", "\(port)") == expected(fixture) { $0.remotePort == port })
    #expect(
      try run("--port", "\(port)")
        == expected(fixture) { $0.localPort == port || $0.remotePort == port })
    #expect(
      try run("--sport", "\(port)-\(port)", "--state", "established")
        == expected(fixture) { $0.localPort == port && $0.state == "ESTABLISHED" })
    #expect(try run("--src", "::1/128") == expected(fixture) { $0.local.hasPrefix("::1:") })
    #expect(
      try run("--dst", "127.0.0.0/8", "-6")
        == expected(fixture) { $0.proto.hasSuffix("6") && $0.remote.hasPrefix("127.") })
    // ss's groups: `connected` is every state but LISTEN and CLOSE, for UDP too.
    #expect(
      try run("--state", "connected")
        == expected(fixture) { $0.state != "LISTEN" && $0.state != "" })
    // -q with a filter: the issue's `swstat -q -tl --port 443 || alert`.
    #expect(
      try ns.run([swstatPath, "-q", "-tl", "--port", "\(port)", "--source", source]).status == 0)
    #expect(try ns.run([swstatPath, "-q", "-tl", "--port", "1", "--source", source]).status == 1)
  }

  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func ownerFilters() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let mine = expected(fixture) { $0.owned }
    let byPid = try ns.run([swstatPath, "-tuan", "--pid", "\(fixture.pid)"])
    #expect(rows(byPid.stdout) == mine)
    #expect(tableKeys(byPid.stdout).allSatisfy { $0.owner.hasPrefix("\(fixture.pid)/") })
    let json = try ns.run([swstatPath, "-tlnp", "--json"])
    let first = try #require(json.stdout.split(separator: "\n").first)
    let o = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
    let program = try #require(((o["owners"] as? [[String: Any]])?.first?["program"]) as? String)
    let byName = try ns.run([swstatPath, "-tuan", "--program", program])
    #expect(rows(byName.stdout) == mine)
    #expect(rows(try ns.run([swstatPath, "-tuan", "--program", "no-such-program"]).stdout).isEmpty)
    #expect(try ns.run([swstatPath, "--pid", "0"]).status == 64)
  }

  @Test(arguments: [
    ["--state", "bogus"], ["--sport", "9-3"], ["--dport", "70000"], ["--src", "300.1.1.1"],
    ["--dst", "::1/129"], ["--port", ""],
  ])
  func badFilterValuesExit64(args: [String]) throws {
    let r = try runCommand([swstatPath] + args)
    #expect(r.status == 64)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.hasPrefix("Error: \(args[0]): "))
  }
}
