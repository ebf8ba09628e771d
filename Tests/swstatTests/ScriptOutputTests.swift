import Foundation
import SwstatTestSupport
import Testing

/// One socket as both outputs can describe it.
struct RowKey: Hashable, CustomStringConvertible {
  var proto: String, local: String, remote: String, state: String, recvQ: Int, sendQ: Int
  var owner: String
  var description: String { "\(proto) \(local) \(remote) \(state) \(recvQ) \(sendQ) \(owner)" }
}

/// Reads `swstat -n…p` table rows.
func tableKeys(_ text: String) -> [RowKey] {
  text.split(separator: "\n").dropFirst(2).map { line in
    let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    let state = String(line.dropFirst(68).prefix(11)).trimmingCharacters(in: .whitespaces)
    return RowKey(
      proto: f[0], local: f[3], remote: f[4], state: state, recvQ: Int(f[1]) ?? -1,
      sendQ: Int(f[2]) ?? -1, owner: f.last ?? "")
  }
}

/// Reads NDJSON objects into the same keys, the way netstat would print them.
func jsonKeys(_ text: String) throws -> [RowKey] {
  try text.split(separator: "\n").map { line in
    let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    func endpoint(_ e: Any?) -> String {
      let e = e as? [String: Any] ?? [:]
      var a = e["address"] as? String ?? "?"
      if a.hasPrefix("::ffff:") && a.contains(".") { a = String(a.dropFirst(7)) }
      let port = e["port"] as? Int ?? -1
      return "\(a):\(port == 0 ? "*" : String(port))"
    }
    let proto = (o["proto"] as? String ?? "") + ((o["family"] as? String) == "inet6" ? "6" : "")
    var state = o["state"] as? String ?? "?"
    if proto.hasPrefix("udp") && state == "CLOSE" { state = "" }
    var owner = "-"
    if let owners = o["owners"] as? [[String: Any]], let first = owners.first {
      owner = String(
        "\(first["pid"] as? Int ?? 0)/\(first["program"] as? String ?? "")".utf8.prefix(19))!
    }
    return RowKey(
      proto: proto, local: endpoint(o["local"]), remote: endpoint(o["remote"]), state: state,
      recvQ: o["recv_q"] as? Int ?? -1, sendQ: o["send_q"] as? Int ?? -1, owner: owner)
  }
}

/// --json, --count-by, -q and --expect on the fixture's sockets, in a namespace of their own.
@Suite(.timeLimit(.minutes(3)))
struct ScriptOutputTests {
  static var canRun: Bool { available(root: true, tools: ["ip"]) }
  static let fixtures = packageRoot.appendingPathComponent("Tests/swstatTests/Fixtures")

  func validate(_ ndjson: String, schema: String = "socket.schema.json") throws -> CommandResult {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-\(UUID()).ndjson")
    try ndjson.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    return try runCommand([
      "sh", "-c",
      "/usr/bin/python3 '\(Self.fixtures.path)/validate_ndjson.py' '\(Self.fixtures.path)/\(schema)' < '\(file.path)'",
    ])
  }

  @Test(
    .enabled(if: canRun, "needs root for a private network namespace"),
    arguments: ["netlink", "proc"])
  func jsonMatchesTableAndSchema(source: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns, fork: true)
    defer { fixture.stop() }
    for flags in ["-tuanp", "-tuan", "-tlnp", "-uan"] {
      let table = try ns.run([swstatPath, flags, "--source", source])
      let json = try ns.run([swstatPath, flags, "--json", "--source", source])
      #expect(json.status == 0)
      var t = tableKeys(table.stdout)
      var j = try jsonKeys(json.stdout)
      if !flags.contains("p") {
        t = t.map {
          var k = $0
          k.owner = "-"
          return k
        }
        j = j.map {
          var k = $0
          k.owner = "-"
          return k
        }
      }
      #expect(t.count == j.count, "\(flags)")
      #expect(
        Set(t) == Set(j),
        "\(flags): table-only \(Set(t).subtracting(j)) json-only \(Set(j).subtracting(t))")
      let check = try validate(json.stdout)
      #expect(check.status == 0, "\(flags): \(check.stdout)")
      // Every owner is listed: the forked child shares each of the fixture's sockets.
      if flags.contains("p") {
        let lines = json.stdout.split(separator: "\n")
        let shared = lines.filter { $0.contains("\"owners\":[{\"pid\":\(fixture.pid),") }
        #expect(!shared.isEmpty)
        #expect(shared.allSatisfy { $0.components(separatedBy: "\"pid\":").count - 1 >= 2 })
      }
    }
  }

  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func countByEqualsCountingRows() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let table = try ns.run([swstatPath, "-tuan"])
    var expected: [String: Int] = [:]
    for k in tableKeys(table.stdout) {
      let port = k.local.split(separator: ":").last.map(String.init) ?? "?"
      expected["\(port) \(k.state.isEmpty ? "CLOSE" : k.state)", default: 0] += 1
    }
    let grouped = try ns.run([swstatPath, "-tu", "--count-by", "lport,state"])
    #expect(grouped.status == 0)
    var got: [String: Int] = [:]
    let lines = grouped.stdout.split(separator: "\n")
    #expect(lines.first?.split(separator: " ").map(String.init) == ["COUNT", "LPORT", "STATE"])
    for line in lines.dropFirst() {
      let f = line.split(separator: " ").map(String.init)
      got["\(f[1]) \(f[2])"] = Int(f[0])
    }
    #expect(got == expected)
    // Sorted by count, largest first.
    let counts = lines.dropFirst().compactMap { Int($0.split(separator: " ")[0]) }
    #expect(counts == counts.sorted(by: >))
    // The same groups in JSON.
    let json = try ns.run([swstatPath, "-tu", "--count-by", "lport,state", "--json"])
    var fromJSON: [String: Int] = [:]
    for line in json.stdout.split(separator: "\n") {
      let o = try #require(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      fromJSON["\(o["lport"] as? Int ?? -1) \(o["state"] as? String ?? "")"] = o["count"] as? Int
    }
    #expect(fromJSON == expected)
  }

  @Test(.enabled(if: canRun, "needs root for a private network namespace"))
  func quietAndExpectExitCodes() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    // Nothing in the namespace yet: no listener, so -q says 1.
    let none = try ns.run([swstatPath, "-q", "-tl"])
    #expect(none.status == 1 && none.stdout.isEmpty && none.stderr.isEmpty)
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let some = try ns.run([swstatPath, "-q", "-tl"])
    #expect(some.status == 0 && some.stdout.isEmpty && some.stderr.isEmpty)
    let closing = fixture.sockets.filter { $0.state == "CLOSING" }.count
    let ok = try ns.run([
      swstatPath, "-t", "--expect", "closing==\(closing)", "--expect", "total>0",
    ])
    #expect(ok.status == 0 && ok.stdout.isEmpty && ok.stderr.isEmpty)
    let bad = try ns.run([swstatPath, "-t", "--expect", "closing==\(closing + 5),listen>=1"])
    #expect(bad.status == 1)
    #expect(
      bad.stderr == "swstat: expectation failed: closing==\(closing + 5) (closing is \(closing))\n")
    let usage = try ns.run([swstatPath, "--expect", "time_wait<<3"])
    #expect(usage.status == 64)
  }

  @Test(.enabled(if: canRun && available(tools: ["jq"]), "needs root and jq"))
  func noHeaderAndCountJSON() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let plain = try ns.run([swstatPath, "-tan"])
    let bare = try ns.run([swstatPath, "-tanH"])
    #expect(
      bare.stdout
        == plain.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2)
        .joined(separator: "\n"))
    let counts = try ns.run([
      "sh", "-c",
      "'\(swstatPath)' -t --count --json | jq -s 'map(select(.state==\"LISTEN\"))[0].total'",
    ])
    #expect(
      Int(counts.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        == fixture.sockets.filter { $0.proto.hasPrefix("tcp") && $0.state == "LISTEN" }.count)
  }

  /// The jq examples in README.md run as shown, and the man page shows the same lines.
  @Test(.enabled(if: canRun && available(tools: ["jq"]), "needs root and jq"))
  func readmeExamplesRun() throws {
    let readme = try String(
      contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
    let man = try String(
      contentsOf: packageRoot.appendingPathComponent("man/swstat.8"), encoding: .utf8
    )
    .replacingOccurrences(of: "\\-", with: "-")
    let block =
      try #require(readme.components(separatedBy: "<!-- jq-examples").dropFirst().first)
      .components(separatedBy: "<!-- end jq-examples").first ?? ""
    let examples = block.split(separator: "\n").map(String.init).filter { $0.hasPrefix("swstat ") }
    #expect(examples.count == 4)
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let bin = URL(fileURLWithPath: swstatPath).deletingLastPathComponent().path
    for line in examples {
      #expect(man.contains(line), "man page lacks: \(line)")
      let r = try ns.run(["bash", "-c", "PATH='\(bin)':$PATH; set -o pipefail; \(line)"])
      #expect(r.status == 0 && r.stderr.isEmpty, "\(line): \(r.stderr)")
      #expect(!r.stdout.isEmpty, "\(line)")
    }
  }
}
