import Foundation
import Testing

@testable import SwstatCore

/// The /proc/net/unix parser, the raw/udplite scan and the statistics parsers on fixed text.
@Suite struct ExtraSourcesTests {
  static let unixText = """
    Num       RefCount Protocol Flags    Type St Inode Path
    00000000b4a53bae: 00000002 00000000 00010000 0001 01 855294 /run/a b.sock
    00000000e116d564: 00000003 00000000 00000000 0001 03 855300 @abstract
    00000000cd7acfb1: 00000003 00000000 00000000 0001 02     0 /run/x.sock
    00000000cd7acfb2: 00000002 00000000 00000000 0002 01 855306

    """

  @Test func unixLines() throws {
    var records: [UnixSocketRecord] = []
    try UnixProcText.parse(Array(Self.unixText.utf8)) { records.append($0) }
    #expect(records.count == 4)
    #expect(records[0].isListening && records[0].referenceCount == 2 && records[0].type == 1)
    // The whole name, blanks included (netstat's %s would stop at the blank).
    #expect(records[0].path == Array("/run/a b.sock".utf8))
    #expect(records[1].path == Array("@abstract".utf8) && records[1].socketState == 3)
    #expect(records[2].inode == 0 && records[2].socketState == 2)
    #expect(records[3].path.isEmpty && !records[3].isListening && records[3].matches(.connected))
  }

  /// A line that is not a socket (the tail of a name holding a line break) is skipped and
  /// reported; every other socket is still listed (netstat: "warning, got bogus unix line").
  @Test func unixBogusLineIsSkipped() throws {
    let text = Array(
      (Self.unixText.replacingOccurrences(of: "@abstract\n", with: "@x\ny\n") + "junk\n").utf8)
    var records: [UnixSocketRecord] = []
    let report = try UnixProcText.parse(text, path: "/proc/net/unix") { records.append($0) }
    #expect(records.count == 4)
    #expect(records[1].path == Array("@x".utf8))
    #expect(report.skippedLines == [4, 7] && report.path == "/proc/net/unix")
  }

  /// With unix_diag's whole names, the lines a name's line breaks made are skipped exactly —
  /// even one forged to read as a socket — and the name is the whole one.
  @Test func unixMergeSkipsTheLinesANameMade() throws {
    let forged = "00000000deadbeef: 00000002 00000000 00010000 0001 01 424242 /forged"
    let text = """
      Num       RefCount Protocol Flags    Type St Inode Path
      00000000b4a53bae: 00000002 00000000 00010000 0001 01 855294 @x
      \(forged)
      y
      00000000cd7acfb1: 00000003 00000000 00000000 0001 02     0 /run/x.sock
      00000000e116d564: 00000003 00000000 00000000 0001 03 855300 /run/ok

      """
    let diag = [
      UnixSocketRecord(
        type: 1, socketState: 1, flags: UnixSocketRecord.acceptFlag, inode: 855294,
        path: Array("@x\n\(forged)\ny".utf8), uid: 65534),
      UnixSocketRecord(
        type: 1, socketState: 3, flags: 0, inode: 855300, path: Array("/run/ok".utf8)),
    ]
    var records: [UnixSocketRecord] = []
    let report = try UnixProcText.merge(diag, procText: Array(text.utf8), path: "p") {
      records.append($0)
    }
    #expect(report.skippedLines.isEmpty)
    #expect(records.map(\.inode) == [855294, 0, 855300])
    #expect(records[0].path == diag[0].path && records[0].referenceCount == 2)
    #expect(records[0].uid == 65534 && records[0].isListening)
    #expect(records[2].referenceCount == 3)
  }

  /// Larger than a page, so a reader that stops at a short read would lose rows.
  @Test func unixLargeFileFromRoot() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-unix-\(getpid())")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    var text = "Num       RefCount Protocol Flags    Type St Inode Path\n"
    for i in 0..<500 {
      text += "00000000b4a53bae: 00000003 00000000 00000000 0001 03 \(1000 + i) /run/s\(i)\n"
    }
    try text.write(to: root.appendingPathComponent("net/unix"), atomically: true, encoding: .utf8)
    var n = 0
    try UnixSocketSource.proc(root: root.path).forEachSocket { _ in n += 1 }
    #expect(n == 500)
  }

  @Test func rawFromRoot() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-raw-\(getpid())")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let text = """
        sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
         8: 0100007F:0011 0100007F:0000 01 00000000:00000000 00:00000000 00000000     0        0 855312 2 000000005df2f5b7 0
        36: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 855311 2 000000008568c6ee 0

      """
    try text.write(to: root.appendingPathComponent("net/raw"), atomically: true, encoding: .utf8)
    let source = ExtraInetSource(root: root.path)
    var all: [SocketRecord] = []
    try source.forEach(ExtraInetTable(proto: .raw, family: .inet), scope: .all) {
      all.append(copy $0)
    }
    #expect(all.count == 2)
    #expect(all[0].local.port == 17 && all[0].stateCode == 1 && all[0].inode == 855312)
    var connected = 0
    try source.forEach(ExtraInetTable(proto: .raw, family: .inet), scope: .connected) { _ in
      connected += 1
    }
    #expect(connected == 1)
    #expect(throws: SocketSourceError.self) {
      try source.forEach(ExtraInetTable(proto: .raw, family: .inet6), scope: .all) { _ in }
    }
  }

  @Test func statisticsParsers() throws {
    let snmp = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 42\n"
    let sections = try NetStatistics.parsePairs(Array(snmp.utf8))
    #expect(sections.count == 1 && sections[0].title == "Tcp")
    #expect(sections[0].counters.map(\.name) == ["RtoAlgorithm", "MaxConn", "ActiveOpens"])
    #expect(sections[0].counters[1].signedValue == -1 && sections[0].counters[2].value == 42)
    let six = NetStatistics.parseLines(
      Array("Ip6InReceives                   \t7\nUdp6InErrors\t3\n".utf8))
    #expect(six.map(\.value) == [7, 3])
  }
}
