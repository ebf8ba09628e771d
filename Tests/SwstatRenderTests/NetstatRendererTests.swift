import Foundation
import SwstatCore
import SwstatRender
import Testing

func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ port: UInt16) -> Endpoint {
  Endpoint(address: IPAddress(family: .inet, bytes: [a, b, c, d]), port: port)
}

func v6(_ text: [UInt16], _ port: UInt16) -> Endpoint {
  Endpoint(
    address: IPAddress(family: .inet6, bytes: text.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }),
    port: port)
}

/// Rows built by hand that cover netstat's corners: wildcards, v4-mapped, long IPv6 addresses
/// (truncation), blank UDP state, wide queues, an unknown state number.
let sampleRecords: [SocketRecord] = [
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, 47001), remote: v4(0, 0, 0, 0, 0),
    stateCode: 10, receiveQueue: 1, listenBacklog: 16, inode: 16450),
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, 53780), remote: v4(127, 0, 0, 1, 47002),
    stateCode: 1, uid: 1000, inode: 16460),
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, 47004), remote: v4(127, 0, 0, 1, 48700),
    stateCode: 9, receiveQueue: 1, sendQueue: 4_115_457),
  SocketRecord(
    transport: .tcp, family: .inet6, local: v6([0, 0, 0, 0, 0, 0, 0, 1], 47006),
    remote: v6([0, 0, 0, 0, 0, 0, 0, 0], 0), stateCode: 10, inode: 16469),
  SocketRecord(
    transport: .tcp, family: .inet6, local: v6([0, 0, 0, 0, 0, 0xffff, 0x7f64, 0x6464], 47007),
    remote: v6([0, 0, 0, 0, 0, 0, 0, 0], 0), stateCode: 10, inode: 16470),
  SocketRecord(
    transport: .tcp, family: .inet6,
    local: v6([0xfd00, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777], 47020),
    remote: v6([0xfd00, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777], 46032),
    stateCode: 1, inode: 7),
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, 34124), remote: v4(127, 0, 0, 1, 47001),
    stateCode: 6),
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, 1), remote: v4(127, 0, 0, 1, 2),
    stateCode: 14),
  SocketRecord(
    transport: .udp, family: .inet, local: v4(127, 0, 0, 1, 47010), remote: v4(0, 0, 0, 0, 0),
    stateCode: 7, receiveQueue: 832, inode: 16471),
  SocketRecord(
    transport: .udp, family: .inet, local: v4(127, 0, 0, 1, 47011), remote: v4(127, 0, 0, 1, 47010),
    stateCode: 1, inode: 16472),
  SocketRecord(
    transport: .udp, family: .inet6, local: v6([0, 0, 0, 0, 0, 0, 0, 1], 47012),
    remote: v6([0, 0, 0, 0, 0, 0, 0, 0], 0), stateCode: 7, inode: 16473),
]

/// Renders the sample with `options` into a string.
func render(_ options: NetstatOptions) throws -> String {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "swstat-render-\(getpid())-\(UUID())"
  ).path
  let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
  defer { unlink(path) }
  let out = OutputBuffer(fd: fd)
  let owners = ProcessOwners.known(
    [(16450, 7534, 3), (16460, 1, 7)],
    argv0: [7534: Array("./swstat-fixture".utf8), 1: Array("/sbin/systemd".utf8)])
  let r = NetstatTable(options: options, output: out)
  try r.begin(Section(.inet, owners: OwnerTable(owners)))
  for rec in sampleRecords
  where rec.isListening ? options.scope != .connected : options.scope != .listening {
    try r.write(rec)
  }
  try out.flush()
  close(fd)
  return try String(contentsOfFile: path, encoding: .utf8)
}

/// Golden text, re-recorded with RECORD_SNAPSHOTS=1.
func assertSnapshot(
  _ text: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "Snapshots/\(name).txt")
  if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil {
    try text.write(to: url, atomically: true, encoding: .utf8)
  }
  let expected = try String(contentsOf: url, encoding: .utf8)
  #expect(text == expected, sourceLocation: sourceLocation)
}

@Suite struct NetstatRendererTests {
  static func options(
    _ scope: ListeningScope, wide: Bool = false, extend: Bool = false, programs: Bool = false
  ) -> NetstatOptions {
    var o = NetstatOptions()
    o.scope = scope
    o.numericHosts = true
    o.numericPorts = true
    o.numericUsers = true
    o.wide = wide
    o.extend = extend
    o.programs = programs
    return o
  }

  @Test func all() throws { try assertSnapshot(render(Self.options(.all)), named: "tan") }
  @Test func listening() throws {
    try assertSnapshot(render(Self.options(.listening, programs: true)), named: "tulpn")
  }
  @Test func connected() throws {
    try assertSnapshot(render(Self.options(.connected)), named: "tn")
  }
  @Test func wide() throws {
    try assertSnapshot(render(Self.options(.all, wide: true)), named: "tanW")
  }
  @Test func extendAndPrograms() throws {
    try assertSnapshot(render(Self.options(.all, extend: true, programs: true)), named: "tanpe")
  }

  /// The truncation examples of net-tools `addr_do_one`.
  @Test func truncation() throws {
    let text = try render(Self.options(.all))
    #expect(text.contains("fd00:1111:2222:33:47020 fd00:1111:2222:33:46032 ESTABLISHED"))
    #expect(text.contains("127.100.100.100:47007   :::*                    LISTEN"))
    #expect(text.contains("UNKNOWN(14)"))
  }

  @Test func fixV4Address() {
    #expect(NameResolver.fixV4Address(Array("::ffff:127.0.0.1".utf8)) == Array("127.0.0.1".utf8))
    #expect(NameResolver.fixV4Address(Array("localhost".utf8)) == Array("localhost".utf8))
  }
}
