import Foundation
import Glibc
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// The /proc/net fallback parser on real captures and on broken lines.
@Suite struct ProcParserTests {
  static let tcpHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

  /// Real captures (tcp spans several pages) parse line for line, extra trailing fields and all.
  @Test(arguments: allTables)
  func captureParses(table: SocketTable) throws {
    let text = try bytes(capturedDirectory.appendingPathComponent(table.procName))
    let lines = text.split(separator: 0x0a).count - 1
    var n = 0
    try ProcNetSource.parse(text, table: table) { _ in n += 1 }
    #expect(n == lines)
  }

  /// The same capture read through a file descriptor, as a tree under --proc-root.
  @Test func readsACapturedTree() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-proc-\(getpid())")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    for t in allTables {
      try FileManager.default.copyItem(
        at: capturedDirectory.appendingPathComponent(t.procName),
        to: root.appendingPathComponent("net/" + t.procName))
    }
    let records = try ProcNetSource(root: root.path).snapshot(SocketQuery(scope: .all))
    let expected = try allTables.reduce(0) { n, t in
      n
        + (try bytes(capturedDirectory.appendingPathComponent(t.procName)).split(separator: 0x0a)
          .count - 1)
    }
    #expect(records.count == expected)
  }

  /// A reader that stops at the first short read fails here: the text arrives through a pipe
  /// in odd-sized pieces that split lines, as seq_file hands out about a page per read().
  @Test func readsToEndOfFileThroughShortReads() throws {
    let text = try bytes(capturedDirectory.appendingPathComponent("tcp"))
    #expect(text.count > 8192)
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let writeEnd = fds[1]
    let writer = Thread {
      var off = 0
      var piece = 1
      while off < text.count {
        let n = min(piece, text.count - off)
        _ = text.withUnsafeBytes { write(writeEnd, $0.baseAddress! + off, n) }
        off += n
        piece = piece * 7 % 4093 + 1
      }
      close(writeEnd)
    }
    writer.start()
    var n = 0
    try ProcNetSource().scan(
      FileDescriptor(rawValue: fds[0]), path: "pipe", SocketTable(family: .inet, transport: .tcp),
      SocketQuery(scope: .all)
    ) { _ in n += 1 }
    close(fds[0])
    #expect(n == text.split(separator: 0x0a).count - 1)
  }

  /// One line decoded field by field (a LISTEN line, a v4-mapped tcp6 line).
  @Test func decodesFields() throws {
    let line =
      "   4: 0100007F:B79A 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 16459 2 0000000065531685 100 0 0 10 0\n"
    var got: [SocketRecord] = []
    try ProcNetSource.parse(
      Array((Self.tcpHeader + line).utf8), table: SocketTable(family: .inet, transport: .tcp)
    ) {
      got.append(copy $0)
    }
    let r = try #require(got.first)
    #expect(r.local.port == 47002 && r.local.address.ipv4 == 0x7f00_0001)
    #expect(r.state == .listen && r.receiveQueue == 1 && r.sendQueue == 0 && r.inode == 16459)
    let v6 =
      "   1: 0000000000000000FFFF00006464647F:B79F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 16470 1 0000000069be5bf2 100 0 0 10 0\n"
    got = []
    try ProcNetSource.parse(
      Array((Self.tcpHeader + v6).utf8), table: SocketTable(family: .inet6, transport: .tcp)
    ) {
      got.append(copy $0)
    }
    let m = try #require(got.first)
    #expect(
      m.local.address.isIPv4Mapped && UInt32(truncatingIfNeeded: m.local.address.low) == 0x7f64_6464
    )
    #expect(m.uid == 100 && m.local.port == 47007)
  }

  /// Broken lines are rejected with the file and line number and a reason.
  @Test(arguments: [
    ("   0: 0100007F:B79A\n", 2, "expected at least 10 fields, found 2"),
    (
      "   0: 0100007Z:B79A 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n", 2,
      "bad local address"
    ),
    (
      "   0: 0100007F:B79A 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x1\n", 2,
      "bad inode"
    ),
    (
      "   0: 0100007F:B79A 00000000:0000 GG 00000000:00000000 00:00000000 00000000 0 0 1\n", 2,
      "bad state"
    ),
    (
      "   0: 0100007F:B79A 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n   1: 0100007F\n",
      3,
      "expected at least 10 fields, found 2"
    ),
  ])
  func malformedLine(body: String, line: Int, reason: String) {
    #expect(throws: SocketSourceError.malformed(path: "tcp", line: line, reason: reason)) {
      try ProcNetSource.parse(
        Array((Self.tcpHeader + body).utf8), table: SocketTable(family: .inet, transport: .tcp),
        path: "tcp"
      ) { _ in }
    }
  }

  /// A file that is not a /proc/net table at all.
  @Test func missingHeader() {
    #expect(
      throws: SocketSourceError.malformed(
        path: "tcp", line: 1, reason: "expected the header line (sl local_address ...)")
    ) {
      try ProcNetSource.parse(
        Array("hello\n".utf8), table: SocketTable(family: .inet, transport: .tcp), path: "tcp"
      ) { _ in }
    }
  }

  /// No /proc at all: a clear `unavailable` naming the file.
  @Test func missingTree() {
    #expect(
      throws: SocketSourceError.unavailable(
        source: "/nonexistent/net/tcp", errno: .noSuchFileOrDirectory)
    ) {
      try ProcNetSource(root: "/nonexistent").snapshot(SocketQuery())
    }
  }
}
