import Foundation
import SwstatTestSupport
import Testing

/// Parses `swstat --count` output into [state: [column: count]].
func parseCounts(_ text: String) -> (columns: [String], rows: [String: [String: Int]]) {
  let lines = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
  guard let header = lines.first, header.first == "State" else { return ([], [:]) }
  let columns = Array(header.dropFirst())
  var rows: [String: [String: Int]] = [:]
  for fields in lines.dropFirst() {
    guard let name = fields.first else { continue }
    rows[name] = Dictionary(
      uniqueKeysWithValues: zip(columns, fields.dropFirst().compactMap { Int($0) }))
  }
  return (columns, rows)
}

/// `--count` against counting the rows of the listing, on the fixture's sockets alone.
@Suite(.timeLimit(.minutes(2)))
struct CountTests {
  @Test(
    .enabled(
      if: available(root: true, tools: ["ip"]), "needs root for a private network namespace"),
    arguments: ["netlink", "proc"])
  func countEqualsRows(source: String) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let listing = try ns.run([swstatPath, "-tuan", "--source", source])
    let count = try ns.run([swstatPath, "-tu", "--count", "--source", source])
    #expect(count.status == 0)
    let parsed = parseCounts(count.stdout)
    #expect(parsed.columns == ["tcp", "tcp6", "udp", "udp6", "total"])
    // Every state a dump reports is a row, zeros included, in kernel order (a request socket is
    // SYN_RECV; BOUND_INACTIVE is never asked for).
    let names = count.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ")[0] }
    #expect(
      names == [
        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "total",
      ])
    var expected: [String: [String: Int]] = [:]
    for line in listing.stdout.split(separator: "\n").dropFirst(2) {
      let proto = String(line.prefix(5)).trimmingCharacters(in: .whitespaces)
      var state = String(line.dropFirst(68).prefix(11)).trimmingCharacters(in: .whitespaces)
      if state.isEmpty { state = "CLOSE" }  // unconnected UDP
      expected[state, default: [:]][proto, default: 0] += 1
      expected[state, default: [:]]["total", default: 0] += 1
      expected["total", default: [:]][proto, default: 0] += 1
      expected["total", default: [:]]["total", default: 0] += 1
    }
    #expect(expected["CLOSING"]?["tcp"] == 1)
    for (state, row) in parsed.rows {
      for (column, n) in row {
        #expect(n == expected[state]?[column] ?? 0, "\(state) \(column)")
      }
    }
    // Narrowed: -t -6 counts only tcp6, and -l only servers.
    let narrow = parseCounts(
      try ns.run([swstatPath, "-t6l", "--count", "--source", source]).stdout)
    #expect(narrow.columns == ["tcp6", "total"])
    #expect(narrow.rows["LISTEN"]?["tcp6"] == expected["LISTEN"]?["tcp6"])
    #expect(narrow.rows["ESTABLISHED"]?["tcp6"] == 0)
  }
}
