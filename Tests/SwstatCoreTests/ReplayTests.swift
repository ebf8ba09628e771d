import Foundation
import SwstatCore
import SwstatTestSupport
import Testing

func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

/// The fields both sources report identically (not the timer's countdown, not netlink's extras).
struct Comparable: Hashable {
  var transport: TransportProtocol, family: AddressFamily, local: Endpoint, remote: Endpoint
  var state: UInt8, recvQ: UInt32, sendQ: UInt32, uid: UInt32, inode: UInt64
  init(_ r: borrowing SocketRecord) {
    transport = r.transport
    family = r.family
    local = r.local
    remote = r.remote
    state = r.stateCode
    recvQ = r.receiveQueue
    sendQ = r.sendQueue
    uid = r.uid
    inode = r.inode
  }
}

/// Recorded sock_diag replies, replayed through the decoder alone.
@Suite struct ReplayTests {
  static let captured: [SocketFixture.Expected] = {
    let url = capturedDirectory.appendingPathComponent("sockets.json")
    return (try? JSONDecoder().decode([SocketFixture.Expected].self, from: Data(contentsOf: url)))
      ?? []
  }()

  /// A recorded dump decodes to the same sockets as the /proc capture taken with it.
  @Test(arguments: allTables)
  func dumpMatchesProcCapture(table: SocketTable) throws {
    var fromDump: [Comparable] = []
    let done = try NetlinkSource.decode(
      bytes(capturedDirectory.appendingPathComponent(table.procName + ".nldump")),
      transport: table.transport
    ) { fromDump.append(Comparable($0)) }
    #expect(done, "the recording ends with NLMSG_DONE")
    var fromProc: [Comparable] = []
    try ProcNetSource.parse(
      bytes(capturedDirectory.appendingPathComponent(table.procName)), table: table
    ) { fromProc.append(Comparable($0)) }
    #expect(!fromDump.isEmpty)
    #expect(fromDump.allSatisfy { $0.family == table.family && $0.transport == table.transport })
    #expect(Set(fromDump) == Set(fromProc))
    #expect(fromDump.count == fromProc.count)
  }

  /// The fixture's sockets are in the recording, each in its state.
  @Test func fixtureSocketsInRecording() throws {
    #expect(Self.captured.count > 20)
    var all: [SocketRecord] = []
    for table in allTables {
      try NetlinkSource.decode(
        bytes(capturedDirectory.appendingPathComponent(table.procName + ".nldump")),
        transport: table.transport
      ) { all.append(copy $0) }
    }
    for e in Self.captured {
      let found = records(all, for: e)
      #expect(found.count == 1 && found.first.map(netstatState) == e.state, "\(e.local) \(e.state)")
    }
  }

  /// A dump cut anywhere inside a message is rejected, never half-decoded into a bogus record.
  @Test func truncatedDumpIsMalformed() throws {
    let dump = try bytes(capturedDirectory.appendingPathComponent("udp.nldump"))
    for cut in [3, 17, 40, 100, dump.count - 1] where cut < dump.count {
      var seen = 0
      #expect(throws: SocketSourceError.self) {
        try NetlinkSource.decode(Array(dump[..<cut]), transport: .udp) { _ in seen += 1 }
      }
    }
  }

  /// An NLMSG_ERROR reply (what a kernel without udp_diag sends) surfaces its errno.
  @Test func errorReply() throws {
    var msg = [UInt8](repeating: 0, count: 36)
    func put32(_ v: UInt32, at i: Int) {
      for k in 0..<4 { msg[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
    }
    put32(36, at: 0)
    msg[4] = 2  // NLMSG_ERROR
    put32(UInt32(bitPattern: -2), at: 16)  // -ENOENT
    #expect(
      throws: SocketSourceError.malformed(
        path: "netlink", line: 0, reason: "No such file or directory")
    ) {
      try NetlinkSource.decode(msg, transport: .udp) { _ in }
    }
  }

  /// NLM_F_DUMP_INTR marks a dump the kernel could not keep consistent: records still decode.
  @Test func interruptedDumpStillDecodes() throws {
    var dump = try bytes(capturedDirectory.appendingPathComponent("udp6.nldump"))
    dump[6] |= 0x10  // NLM_F_DUMP_INTR on the first message
    var n = 0
    try NetlinkSource.decode(dump, transport: .udp) { _ in n += 1 }
    #expect(n > 0)
  }
}
