import Foundation
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// What the fuzzers in Tests/Fuzz found (`make fuzz`), replayed through the public decoders and
/// parsers. Each was a bug; the saved inputs (`regress-*` beside the seeds) are also replayed by
/// every `make fuzz-smoke`.
@Suite struct FuzzRegressionTests {
  static let corpus = packageRoot.appendingPathComponent("Tests/Fuzz/corpus")

  /// Every saved input of a fuzz target: its seeds and its `regress-*` finds.
  static func inputs(_ target: String) -> [String] {
    let names = try? FileManager.default.contentsOfDirectory(
      atPath: corpus.appendingPathComponent(target).path)
    return (names ?? []).filter { !$0.hasPrefix(".") }.sorted()
  }

  /// The replays below run one case per saved input: an empty or missing corpus would make
  /// them pass having replayed nothing.
  @Test(arguments: ["diag_parse", "proc_parse"])
  func corpusIsThere(target: String) {
    #expect(Self.inputs(target).count >= 10, "\(target): \(Self.inputs(target))")
  }

  /// A netlink message header, little-endian as the kernel writes it on x86 and arm64.
  static func header(length: UInt32, type: UInt16, flags: UInt16 = 2) -> [UInt8] {
    le(length) + le16(type) + le16(flags) + le(0) + le(0)
  }

  static func le(_ v: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
  }
  static func le16(_ v: UInt16) -> [UInt8] { [UInt8(truncatingIfNeeded: v), UInt8(v >> 8)] }

  /// struct inet_diag_msg for 127.0.0.1:8000 LISTEN, inode 4242 (72 bytes).
  static let listener: [UInt8] = {
    var m: [UInt8] = [2, 10, 0, 0, 0x1f, 0x40, 0, 0]
    m += [127, 0, 0, 1] + [UInt8](repeating: 0, count: 12)  // idiag_src
    m += [UInt8](repeating: 0, count: 16)  // idiag_dst
    m += le(0) + le(7) + le(0)  // idiag_if, idiag_cookie
    m += le(0) + le(0) + le(128) + le(0) + le(4242)  // expires, rqueue, wqueue, uid, inode
    return m
  }()

  static let done = header(length: 20, type: 3) + le(0)

  @Test(arguments: inputs("diag_parse"))
  func savedDecoderInputDoesNotTrap(name: String) throws {
    let bytes = [UInt8](
      try Data(contentsOf: Self.corpus.appendingPathComponent("diag_parse/\(name)")))
    for transport in TransportProtocol.allCases {
      var records = 0
      _ = try? NetlinkSource.decode(bytes, transport: transport) { _ in records += 1 }
      #expect(records <= bytes.count / 88, "\(name): more records than messages could hold")
    }
  }

  @Test(arguments: inputs("proc_parse"))
  func savedProcInputDoesNotTrap(name: String) throws {
    let bytes = [UInt8](
      try Data(contentsOf: Self.corpus.appendingPathComponent("proc_parse/\(name)")))
    guard bytes.count >= 2 else { return }
    let tables = [
      (AddressFamily.inet, TransportProtocol.tcp), (.inet6, .tcp), (.inet, .udp), (.inet6, .udp),
    ]
    let (family, transport) = tables[Int(bytes[0] & 3)]
    _ = try? ProcNetSource.parse(
      Array(bytes.dropFirst(2)), table: SocketTable(family: family, transport: transport)
    ) { _ in }
  }

  /// A message length of 2 GiB or more passed libmnl's signed check and the decoder stepped
  /// gigabytes past the buffer (SIGSEGV). Now the reply is malformed.
  @Test func messageLengthPast2GiBIsMalformed() {
    let bytes = Self.header(length: 0xfff0_0224, type: 0xff) + [UInt8](repeating: 0, count: 20)
    #expect(throws: SocketSourceError.malformed(path: "netlink", line: 0, reason: "Bad message")) {
      try NetlinkSource.decode(bytes, transport: .tcp) { _ in }
    }
    let asDiag = Self.header(length: 0x8000_0058, type: 20) + Self.listener
    var records = 0
    #expect(throws: SocketSourceError.self) {
      try NetlinkSource.decode(asDiag, transport: .tcp) { _ in records += 1 }
    }
    #expect(records == 0)
  }

  /// NLMSG_ERROR's `error` is only an errno from -4095 to -1; INT_MIN trapped when Swift
  /// negated it for Errno, and other values became made-up errnos.
  @Test(arguments: [Int32.min, -4096, -1_291_845_122])
  func errorOutsideErrnoRangeIsProtocolError(error: Int32) {
    let bytes =
      Self.header(length: 36, type: 2) + Self.le(UInt32(bitPattern: error))
      + [UInt8](repeating: 0, count: 16)
    #expect(throws: SocketSourceError.malformed(path: "netlink", line: 0, reason: "Protocol error"))
    {
      try NetlinkSource.decode(bytes, transport: .udp) { _ in }
    }
  }

  /// Attributes were read up to the message's length rounded up to 4, so bytes past an
  /// unaligned message end (past the buffer, for the last message) were taken for one. Here they
  /// look like an empty INET_DIAG_SHUTDOWN, which made the reply "malformed"; now they are not
  /// read.
  @Test func paddingAfterUnalignedMessageIsNotAnAttribute() throws {
    let length = UInt32(16 + Self.listener.count + 1)
    let padding: [UInt8] = Self.le16(4) + Self.le16(8)
    let bytes = Self.header(length: length, type: 20) + Self.listener + padding + Self.done
    var seen: [SocketRecord] = []
    let finished = try NetlinkSource.decode(bytes, transport: .tcp) { seen.append(copy $0) }
    #expect(finished)
    #expect(seen.count == 1)
    #expect(seen.first?.local.port == 8000 && seen.first?.inode == 4242)
    #expect(seen.first?.shutdown == nil)
    // A whole INET_DIAG_SHUTDOWN inside the message is read, with or without padding after it.
    let shutdown: [UInt8] = Self.le16(5) + Self.le16(8) + [3, 0xee, 0xee, 0xee]
    let inside = Self.header(length: length + 4, type: 20) + Self.listener + shutdown + Self.done
    seen = []
    try NetlinkSource.decode(inside, transport: .tcp) { seen.append(copy $0) }
    #expect(seen.first?.shutdown == 3)
  }

  /// inet_pton stops at a NUL, so "127.0.0.1\0junk" parsed as 127.0.0.1.
  @Test func addressWithNULIsRejected() {
    #expect(throws: FilterParseError(option: "--src", reason: "bad address \"127.0.0.1\u{0}junk\""))
    {
      try AddressPrefix(parsing: "127.0.0.1\u{0}junk", option: "--src")
    }
    #expect(throws: FilterParseError.self) {
      try SocketFilter.parse(dst: "::1\u{0}/8")
    }
  }
}

/// /proc/net/tcp under churn: seq_file resumes each read() at (hash bucket, sockets of it already
/// shown), so a connection added to that bucket in between makes the next read start with
/// sockets already shown. FaultTests.connectionChurnDuringDumps saw such repeats at 10k
/// connections/s; ProcNetSource now lists each socket once.
@Suite struct ProcRepeatTests {
  static let header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

  static func row(_ slot: Int, port: Int, remotePort: Int = 0, state: String = "0A", inode: Int)
    -> String
  {
    let remote = remotePort == 0 ? "00000000:0000" : String(format: "0100007F:%04X", remotePort)
    return String(
      format:
        "%4d: 0100007F:%04X %@ %@ 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
      slot, port, remote, state, inode)
  }

  /// The table arrives through a pipe written in two pieces, so the reader's read() returns
  /// exactly the first piece before the second arrives; the second starts with a repeat of the
  /// first's last listener and TIME_WAIT socket (inode 0).
  @Test func socketRepeatedAfterReadBoundaryIsListedOnce() throws {
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let writeEnd = fds[1]
    let first =
      Self.header + Self.row(0, port: 8001, inode: 101) + Self.row(1, port: 8002, inode: 102)
      + Self.row(2, port: 8003, inode: 103)
      + Self.row(3, port: 40000, remotePort: 8001, state: "06", inode: 0)
    let second =
      Self.row(4, port: 40000, remotePort: 8001, state: "06", inode: 0)
      + Self.row(5, port: 8003, inode: 103) + Self.row(6, port: 8004, inode: 104)
      + Self.row(7, port: 40001, remotePort: 8001, state: "06", inode: 0)
    let writer = Thread {
      _ = first.withCString { write(writeEnd, $0, strlen($0)) }
      usleep(300_000)
      _ = second.withCString { write(writeEnd, $0, strlen($0)) }
      close(writeEnd)
    }
    writer.start()
    var seen: [(port: UInt16, inode: UInt64)] = []
    try ProcNetSource().scan(
      FileDescriptor(rawValue: fds[0]), path: "pipe", SocketTable(family: .inet, transport: .tcp),
      SocketQuery(scope: .all)
    ) { seen.append(($0.local.port, $0.inode)) }
    close(fds[0])
    #expect(seen.map(\.port) == [8001, 8002, 8003, 40000, 8004, 40001])
    #expect(seen.map(\.inode) == [101, 102, 103, 0, 104, 0])
  }
}

/// The -p walk on its own thread (BackgroundOwnerScan), overlapping a dump as the CLI runs it:
/// the same owners as a walk on the calling thread. `make sanitize` runs it under TSan.
@Suite(.timeLimit(.minutes(2)))
struct OwnerScanThreadTests {
  @Test func backgroundScanFindsTheSameOwners() throws {
    let fixture = try SocketFixture(fork: true)
    defer { fixture.stop() }
    let scans = (0..<4).map { _ in BackgroundOwnerScan() }
    let dumped = try NetlinkSource().snapshot(SocketQuery(scope: .all))
    let inline = ProcessOwners.scan()
    for scan in scans {
      let owners = scan.join()
      for e in fixture.sockets where e.owned {
        guard let r = records(dumped, for: e).first else { continue }
        #expect(owners.owner(of: r.inode)?.pid == fixture.pid, "\(e.local) \(e.state)")
        #expect(owners.label(of: r.inode) == inline.label(of: r.inode))
      }
    }
  }
}
