import Foundation
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// Where the recorded dumps with extras live (RECORD_FIXTURES=1 swift test --filter
/// ExtrasRecording writes them).
let extrasDirectory = fixturesDirectory.appendingPathComponent("extras")

/// What the recording made, for the replays to look for.
struct ExtrasFixture: Codable {
  /// The listener's port, the client's port, the bound UDP socket's port.
  var port: UInt16, clientPort: UInt16, udpPort: UInt16
  /// Bytes client → server and back.
  var sent: Int, replied: Int
  /// The cookies of the connection closed while the destroy group was read (client, server).
  var closedClient: UInt64, closedServer: UInt64
  /// Bytes of that connection, client → server and back.
  var closedSent: Int, closedReplied: Int
}

/// Re-records the extras fixtures from this machine's kernel, in a namespace of the test's own:
/// an idle connection after a known transfer (1 MiB one way, 64 KiB back), a bound UDP socket
/// with a datagram waiting, dumped with INFO, CONG, VEGASINFO, SKMEMINFO (and the CGROUP_ID the
/// kernel sends unasked) as `tcp.nldump` and `udp.nldump`; then a second connection closed
/// while the destroy groups were read, its notifications as received (`destroy.nlmsgs`).
@Suite struct ExtrasRecording {
  @Test(.enabled(if: ProcessInfo.processInfo.environment["RECORD_FIXTURES"] != nil))
  func record() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    try FileManager.default.createDirectory(
      at: extrasDirectory, withIntermediateDirectories: true)
    let fixture = try ns.perform { () throws -> ExtrasFixture in
      let pair = try TransferPair(bytes: 1 << 20, reply: 65536)
      defer { pair.close() }
      let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
      defer { close(udp) }
      try #require(TransferPair.bind(udp, ipv6: false, port: 0) == 0)
      let udpPort = TransferPair.localPort(udp)
      let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
      defer { close(sender) }
      try #require(TransferPair.connect(sender, ipv6: false, port: udpPort) == 0)
      _ = send(sender, "datagram", 8, 0)
      usleep(300_000)
      for (name, table) in [
        ("tcp", SocketTable(family: .inet, transport: .tcp)),
        ("udp", SocketTable(family: .inet, transport: .udp)),
      ] {
        let fd = try FileDescriptor.open(
          FilePath(extrasDirectory.appendingPathComponent(name + ".nldump").path), .writeOnly,
          options: [.create, .truncate], permissions: .ownerReadWrite)
        try NetlinkSource.record(table, extras: [.info, .memory, .cgroup], to: fd)
        try fd.close()
      }
      // A connection that closes while the destroy groups are read.
      let monitor = try DestroyMonitor(tcp: true, udp: false)
      let closing = try TransferPair(bytes: 200_000, reply: 3000)
      var cookies: [String: UInt64] = [:]
      try NetlinkSource().forEach(SocketQuery(transports: [.tcp], families: [.inet])) {
        cookies["\($0.local.port)>\($0.remote.port)"] = $0.cookie
      }
      closing.close()
      var captured: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 32768)
      var messages = 0
      for _ in 0..<40 where messages < 3 {
        var p = pollfd(fd: monitor.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 50) > 0 else { continue }
        let n = buffer.withUnsafeMutableBytes { recv(monitor.fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { continue }
        captured += buffer[..<n]
        messages += 1
      }
      try Data(captured).write(to: extrasDirectory.appendingPathComponent("destroy.nlmsgs"))
      return ExtrasFixture(
        port: pair.port, clientPort: pair.clientPort, udpPort: udpPort, sent: pair.sent,
        replied: pair.replied,
        closedClient: cookies["\(closing.clientPort)>\(closing.port)"] ?? 0,
        closedServer: cookies["\(closing.port)>\(closing.clientPort)"] ?? 0,
        closedSent: closing.sent, closedReplied: closing.replied)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(fixture).write(to: extrasDirectory.appendingPathComponent("sockets.json"))
  }
}

/// A record of a replay and what the store had for it.
struct Replayed {
  var record: SocketRecord
  var extras: SocketExtras?
}

/// Recorded dumps with extras, replayed through the decoder alone: the values the recording's
/// transfer put there, a tcp_info cut anywhere decoding to exactly the fields it still holds,
/// attributes too short for their struct left out, destroy notifications with their final
/// tcp_info.
@Suite struct ExtrasReplayTests {
  static let fixture: ExtrasFixture? = {
    let url = extrasDirectory.appendingPathComponent("sockets.json")
    return try? JSONDecoder().decode(ExtrasFixture.self, from: Data(contentsOf: url))
  }()

  static func dump(_ name: String) throws -> [UInt8] {
    try bytes(extrasDirectory.appendingPathComponent(name))
  }

  /// Decodes a recording with `kinds` asked (none: no store).
  static func replay(
    _ bytes: [UInt8], _ transport: TransportProtocol, _ kinds: SocketExtras.Kinds
  ) throws -> [Replayed] {
    let store = kinds.isEmpty ? nil : SocketExtrasStore(kinds: kinds)
    var out: [Replayed] = []
    try NetlinkSource.decode(
      bytes, transport: transport, query: SocketQuery(extras: store)
    ) { r in out.append(Replayed(record: copy r, extras: store?.take(for: r))) }
    return out
  }

  /// Each field of tcp_info with where it ends in the kernel's struct (uapi linux/tcp.h), to
  /// check presence against a cut: restated here apart from the decoder. The value as text.
  static let fieldEnds: [(end: Int, value: @Sendable (TCPInfo) -> String?)] = [
    f(\.state, 1), f(\.congestionState, 2), f(\.retransmits, 3), f(\.probes, 4),
    f(\.backoff, 5), f(\.options, 6), f(\.sendWindowScale, 7), f(\.receiveWindowScale, 7),
    f(\.deliveryRateAppLimited, 8), f(\.fastOpenClientFail, 8),
    f(\.retransmissionTimeout, 12), f(\.delayedAckTimeout, 16), f(\.sendMSS, 20),
    f(\.receiveMSS, 24), f(\.unacknowledged, 28), f(\.selectivelyAcknowledged, 32),
    f(\.lost, 36), f(\.retransmitting, 40), f(\.forwardAcknowledged, 44),
    f(\.lastDataSent, 48), f(\.lastAckSent, 52), f(\.lastDataReceived, 56),
    f(\.lastAckReceived, 60), f(\.pathMTU, 64), f(\.receiveSlowStartThreshold, 68),
    f(\.roundTripTime, 72), f(\.roundTripTimeVariance, 76), f(\.slowStartThreshold, 80),
    f(\.congestionWindow, 84), f(\.advertisedMSS, 88), f(\.reordering, 92),
    f(\.receiveRoundTripTime, 96), f(\.receiveSpace, 100), f(\.totalRetransmits, 104),
    f(\.pacingRate, 112), f(\.maxPacingRate, 120), f(\.bytesAcknowledged, 128),
    f(\.bytesReceived, 136), f(\.segmentsOut, 140), f(\.segmentsIn, 144),
    f(\.notSentBytes, 148), f(\.minimumRoundTripTime, 152), f(\.dataSegmentsIn, 156),
    f(\.dataSegmentsOut, 160), f(\.deliveryRate, 168), f(\.busyTime, 176),
    f(\.receiveWindowLimitedTime, 184), f(\.sendBufferLimitedTime, 192), f(\.delivered, 196),
    f(\.deliveredCE, 200), f(\.bytesSent, 208), f(\.bytesRetransmitted, 216),
    f(\.duplicateSACKs, 220), f(\.reorderingSeen, 224), f(\.outOfOrderPacketsReceived, 228),
    f(\.sendWindow, 232), f(\.receiveWindow, 236), f(\.rehash, 240), f(\.totalRTOs, 242),
    f(\.totalRTORecoveries, 244), f(\.totalRTOTime, 248), f(\.receivedCE, 252),
    f(\.deliveredE1Bytes, 256), f(\.deliveredE0Bytes, 260), f(\.deliveredCEBytes, 264),
    f(\.receivedE1Bytes, 268), f(\.receivedE0Bytes, 272), f(\.receivedCEBytes, 276),
    f(\.ecnMode, 280), f(\.accECNOptionSeen, 280), f(\.accECNFailMode, 280),
  ]

  static func f<T>(_ path: KeyPath<TCPInfo, T?> & Sendable, _ end: Int) -> (
    Int, @Sendable (TCPInfo) -> String?
  ) {
    (end, { $0[keyPath: path].map { "\($0)" } })
  }

  @Test func knownTransferDecodes() throws {
    let f = try #require(Self.fixture)
    let tcp = try Self.replay(Self.dump("tcp.nldump"), .tcp, [.info, .memory, .cgroup])
    let ours = tcp.filter { $0.record.local.port == f.port || $0.record.remote.port == f.port }
    #expect(ours.count == 3)
    for r in ours {
      let x = try #require(r.extras)
      let info = try #require(x.tcpInfo)
      #expect(info.length == TCPInfo.knownLength)
      #expect(Self.fieldEnds.allSatisfy { $0.value(info) != nil })
      #expect(x.congestion?.isEmpty == false)
      #expect(x.memory?.drops != nil)
      #expect(x.cgroupID != nil)
    }
    let client = try #require(ours.first { $0.record.local.port == f.clientPort }?.extras)
    #expect(client.tcpInfo?.bytesAcknowledged == UInt64(f.sent) + 1)
    #expect(client.tcpInfo?.bytesReceived == UInt64(f.replied))
    #expect(client.tcpInfo?.bytesSent == UInt64(f.sent))
    #expect(client.totals?.retransmittedSegments == 0)
    let server = try #require(
      ours.first { $0.record.remote.port == f.clientPort }?.extras?.tcpInfo)
    #expect(server.bytesReceived == UInt64(f.sent))
    #expect(server.bytesSent == UInt64(f.replied))
    let listener = try #require(
      ours.first { $0.record.stateCode == SocketState.listen.rawValue }?.extras?.tcpInfo)
    #expect(listener.state == SocketState.listen.rawValue)

    // UDP: memory and cgroup, no tcp_info; the datagram waiting shows in `r`.
    let udp = try Self.replay(Self.dump("udp.nldump"), .udp, [.info, .memory, .cgroup])
    let bound = try #require(udp.first { $0.record.local.port == f.udpPort })
    #expect(bound.extras?.tcpInfo == nil)
    #expect((bound.extras?.memory?.receiveAllocated ?? 0) > 0)
    #expect(bound.extras?.cgroupID != nil)
  }

  /// Asking for less decodes less; asking for nothing leaves the records as they were.
  @Test func onlyWhatIsAsked() throws {
    let dump = try Self.dump("tcp.nldump")
    let plain = try Self.replay(dump, .tcp, [])
    let info = try Self.replay(dump, .tcp, [.info])
    let memory = try Self.replay(dump, .tcp, [.memory])
    let cgroup = try Self.replay(dump, .tcp, [.cgroup])
    #expect(plain.map(\.record) == info.map(\.record))
    #expect(plain.allSatisfy { $0.extras == nil })
    #expect(info.allSatisfy { $0.extras?.memory == nil && $0.extras?.cgroupID == nil })
    #expect(info.contains { $0.extras?.tcpInfo != nil })
    #expect(memory.allSatisfy { $0.extras?.tcpInfo == nil && $0.extras?.memory != nil })
    #expect(cgroup.allSatisfy { $0.extras?.tcpInfo == nil && $0.extras?.cgroupID != nil })
  }

  /// tcp_info cut at every length decodes to exactly the fields that end within the cut, with
  /// the full recording's values; nothing else about the record changes.
  @Test func truncatedInfoLeavesFieldsOut() throws {
    let dump = try Self.dump("tcp.nldump")
    let full = try Self.replay(dump, .tcp, [.info])
    for cut in 0...TCPInfo.knownLength {
      let shorter = rewriteAttribute(dump, type: 2) { Array($0.prefix(cut)) }
      let replayed = try Self.replay(shorter, .tcp, [.info])
      #expect(replayed.map(\.record) == full.map(\.record))
      for (a, b) in zip(full, replayed) {
        guard let whole = a.extras?.tcpInfo else { continue }
        let info = try #require(b.extras?.tcpInfo, "cut \(cut)")
        #expect(info.length == cut)
        for (end, value) in Self.fieldEnds {
          let there = value(info)
          #expect((there != nil) == (end <= cut), "cut \(cut): field ending at \(end)")
          if let there { #expect(there == value(whole), "cut \(cut): field ending at \(end)") }
        }
      }
    }
  }

  /// A longer tcp_info (a newer kernel) keeps what swstat knows; attributes too short for their
  /// struct are left out and the dump still decodes.
  @Test func longerAndShortAttributes() throws {
    let dump = try Self.dump("tcp.nldump")
    let full = try Self.replay(dump, .tcp, [.info, .memory, .cgroup])
    #expect(full.contains { $0.extras?.bbr != nil }, "recorded where BBR is the default")
    let longer = try Self.replay(
      rewriteAttribute(dump, type: 2) { $0 + [UInt8](repeating: 0xee, count: 40) }, .tcp, [.info])
    #expect(
      zip(full, longer).allSatisfy { $0.extras?.tcpInfo == $1.extras?.tcpInfo },
      "the 40 bytes past the known struct are ignored")
    let noCgroup = try Self.replay(
      rewriteAttribute(dump, type: 21) { Array($0.prefix(7)) }, .tcp, [.cgroup])
    #expect(noCgroup.count == full.count)
    #expect(noCgroup.allSatisfy { $0.extras?.cgroupID == nil })
    let fewer = try Self.replay(
      rewriteAttribute(dump, type: 7) { Array($0.prefix(7 * 4 + 2)) }, .tcp, [.memory])
    for r in fewer {
      let m = try #require(r.extras?.memory)
      #expect(m.optionMemory != nil && m.backlog == nil && m.drops == nil)
    }
    let noName = try Self.replay(rewriteAttribute(dump, type: 4) { _ in [0] }, .tcp, [.info])
    #expect(noName.allSatisfy { $0.extras?.congestion == nil })
    let noBBR = try Self.replay(
      rewriteAttribute(dump, type: 16) { Array($0.prefix(19)) }, .tcp, [.info])
    #expect(noBBR.allSatisfy { $0.extras?.bbr == nil })
  }

  /// Destroy notifications as received: each TCP socket's final tcp_info, decoded only when
  /// asked.
  @Test func destroyNotificationsReplay() throws {
    let f = try #require(Self.fixture)
    let bytes = try Self.dump("destroy.nlmsgs")
    let store = SocketExtrasStore(kinds: [.info])
    var seen: [Replayed] = []
    try DestroyMonitor.decode(bytes, extras: store) {
      seen.append(Replayed(record: copy $0, extras: store.take(for: $0)))
    }
    #expect(seen.count == 3)
    let client = try #require(seen.first { $0.record.cookie == f.closedClient }?.extras)
    // The FIN counts as a byte of sequence space each way.
    #expect(client.totals?.bytesAcknowledged == UInt64(f.closedSent) + 2)
    #expect(client.totals?.bytesReceived == UInt64(f.closedReplied) + 1)
    #expect(client.totals?.bytesSent == UInt64(f.closedSent))
    var plain = 0
    try DestroyMonitor.decode(bytes) { _ in plain += 1 }
    #expect(plain == 3)
    let memoryOnly = SocketExtrasStore(kinds: [.memory])
    try DestroyMonitor.decode(bytes, extras: memoryOnly) { _ in }
    #expect(memoryOnly.count == 0, "notifications carry no memory, and tcp_info was not asked")
  }
}

/// `dump` with the payload of every attribute of `type` in each SOCK_DIAG_BY_FAMILY message
/// replaced by `transform(payload)` (the message and attribute lengths fixed up).
func rewriteAttribute(_ dump: [UInt8], type: UInt16, _ transform: ([UInt8]) -> [UInt8])
  -> [UInt8]
{
  func u32(_ b: [UInt8], _ i: Int) -> Int {
    Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24
  }
  func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
  func align(_ n: Int) -> Int { (n + 3) & ~3 }
  var out: [UInt8] = []
  var at = 0
  while at + 16 <= dump.count {
    let length = u32(dump, at)
    guard length >= 16, at + length <= dump.count else { break }
    let kind = u16(dump, at + 4)
    let header = 16 + 72  // nlmsghdr, struct inet_diag_msg
    if kind != 20 || length < header {
      out += dump[at..<at + align(length)].prefix(dump.count - at)
      at += align(length)
      continue
    }
    var message = Array(dump[at..<at + header])
    var a = at + header
    while a + 4 <= at + length {
      let alen = u16(dump, a)
      guard alen >= 4, a + alen <= at + length else { break }
      let atype = u16(dump, a + 2) & 0x3fff
      var payload = Array(dump[a + 4..<a + alen])
      if atype == Int(type) { payload = transform(payload) }
      let n = 4 + payload.count
      message += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(atype & 0xff), UInt8(atype >> 8)]
      message += payload + [UInt8](repeating: 0, count: align(n) - n)
      a += align(alen)
    }
    let n = message.count
    message[0] = UInt8(n & 0xff)
    message[1] = UInt8((n >> 8) & 0xff)
    message[2] = UInt8((n >> 16) & 0xff)
    message[3] = UInt8(n >> 24)
    out += message
    at += align(length)
  }
  return out
}
