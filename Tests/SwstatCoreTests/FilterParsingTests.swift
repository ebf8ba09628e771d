@_spi(Testing) import SwstatCore
import Testing

/// A record for pure matching tests: TCP unless told, addresses parsed from text.
func record(
  _ local: String, _ lport: UInt16, _ remote: String, _ rport: UInt16,
  state: SocketState = .established, transport: TransportProtocol = .tcp
) throws -> SocketRecord {
  let l = try AddressPrefix(parsing: local, option: "test").address
  let r = try AddressPrefix(parsing: remote, option: "test").address
  return SocketRecord(
    transport: transport, family: l.family, local: Endpoint(address: l, port: lport),
    remote: Endpoint(address: r, port: rport), stateCode: state.rawValue)
}

/// `--state`, `--sport`/`--dport`/`--port` and `--src`/`--dst` values, and the Swift matcher.
@Suite struct FilterParsingTests {
  // MARK: states

  /// netstat's words and ss's spellings name the same state, in any case.
  @Test(arguments: [
    ("ESTABLISHED", [SocketState.established]), ("established", [.established]),
    ("SYN_SENT", [.synSent]), ("syn-sent", [.synSent]),
    ("SYN_RECV", [.synReceived, .newSynReceived]), ("syn-recv", [.synReceived, .newSynReceived]),
    ("syn-rcv", [.synReceived, .newSynReceived]),
    ("FIN_WAIT1", [.finWait1]), ("fin-wait-1", [.finWait1]),
    ("FIN_WAIT2", [.finWait2]), ("fin-wait-2", [.finWait2]),
    ("TIME_WAIT", [.timeWait]), ("time-wait", [.timeWait]), ("Time_Wait", [.timeWait]),
    ("CLOSE", [.close]), ("closed", [.close]), ("unconnected", [.close]),
    ("CLOSE_WAIT", [.closeWait]), ("close-wait", [.closeWait]),
    ("LAST_ACK", [.lastAck]), ("last-ack", [.lastAck]),
    ("LISTEN", [.listen]), ("listening", [.listen]),
    ("CLOSING", [.closing]), ("closing", [.closing]),
  ])
  func stateNames(text: String, states: [SocketState]) throws {
    #expect(try StateMask(parsing: text) == StateMask(states))
  }

  /// The groups as ss(8) defines them (misc/ss.c scan_state), over the states swstat knows.
  @Test func stateGroups() throws {
    let all: [SocketState] = [
      .established, .synSent, .synReceived, .finWait1, .finWait2, .timeWait, .close, .closeWait,
      .lastAck, .listen, .closing, .newSynReceived,
    ]
    #expect(try StateMask(parsing: "all") == StateMask(all))
    #expect(try StateMask(parsing: "all") == .all)
    let connected = all.filter { $0 != .listen && $0 != .close }
    #expect(try StateMask(parsing: "connected") == StateMask(connected))
    #expect(
      try StateMask(parsing: "synchronized") == StateMask(connected.filter { $0 != .synSent }))
    let bucket: [SocketState] = [.synReceived, .newSynReceived, .timeWait]
    #expect(try StateMask(parsing: "bucket") == StateMask(bucket))
    #expect(try StateMask(parsing: "big") == StateMask(all.filter { !bucket.contains($0) }))
  }

  /// A list is the union of its items.
  @Test func stateLists() throws {
    #expect(try StateMask(parsing: "listen,ESTABLISHED") == StateMask([.listen, .established]))
    #expect(try StateMask(parsing: "time_wait,bucket") == StateMask(parsing: "bucket"))
  }

  /// Unknown names and empty items name the option and the bad item.
  @Test func stateErrors() {
    #expect(throws: FilterParseError(option: "--state", reason: "unknown state \"estab\"")) {
      try StateMask(parsing: "listen,estab")
    }
    #expect(throws: FilterParseError(option: "--state", reason: "empty state in \"listen,\"")) {
      try StateMask(parsing: "listen,")
    }
    #expect(throws: FilterParseError.self) { try StateMask(parsing: "") }
    let e = FilterParseError(option: "--state", reason: "unknown state \"x\"")
    #expect(e.description == "--state: unknown state \"x\"")
  }

  // MARK: ports

  @Test(arguments: [
    ("80", UInt16(80)...80), ("0", 0...0), ("65535", 65535...65535), ("1000-2000", 1000...2000),
    ("7-7", 7...7), ("0-65535", 0...65535), ("00080", 80...80),
  ])
  func ports(text: String, range: ClosedRange<UInt16>) throws {
    #expect(try SocketFilter.parsePorts(text, option: "--sport") == range)
  }

  @Test func portErrors() {
    #expect(throws: FilterParseError(option: "--sport", reason: "bad port range \"9-3\"")) {
      try SocketFilter.parsePorts("9-3", option: "--sport")
    }
    #expect(
      throws: FilterParseError(
        option: "--dport", reason: "bad port \"70000\": expected a number from 0 to 65535")
    ) { try SocketFilter.parsePorts("70000", option: "--dport") }
    #expect(
      throws: FilterParseError(
        option: "--port", reason: "bad port range \"1-x\": expected PORT-PORT, each 0 to 65535")
    ) { try SocketFilter.parsePorts("1-x", option: "--port") }
    for bad in ["", "-5", "5-", "http", " 80", "+80", "1-2-3", "100000", "-"] {
      #expect(throws: FilterParseError.self, "\(bad)") {
        try SocketFilter.parsePorts(bad, option: "--port")
      }
    }
    #expect(
      FilterParseError(option: "--sport", reason: "bad port range \"9-3\"").description
        == "--sport: bad port range \"9-3\"")
  }

  // MARK: addresses

  @Test func addresses() throws {
    let v4 = try AddressPrefix(parsing: "127.0.0.1", option: "--src")
    #expect(v4.address == IPAddress(family: .inet, bytes: [127, 0, 0, 1]) && v4.length == 32)
    let net = try AddressPrefix(parsing: "10.1.0.0/16", option: "--src")
    #expect(net.address == IPAddress(family: .inet, bytes: [10, 1, 0, 0]) && net.length == 16)
    let v6 = try AddressPrefix(parsing: "::1", option: "--dst")
    #expect(v6.address == IPAddress(family: .inet6, high: 0, low: 1) && v6.length == 128)
    let bracketed = try AddressPrefix(parsing: "[fe80::]/10", option: "--dst")
    #expect(bracketed.address == IPAddress(family: .inet6, high: 0xfe80 << 48, low: 0))
    #expect(bracketed.length == 10)
    #expect(try AddressPrefix(parsing: "0.0.0.0/0", option: "--src").length == 0)
    #expect(try AddressPrefix(parsing: "::/0", option: "--src").length == 0)
  }

  @Test func addressErrors() {
    #expect(throws: FilterParseError(option: "--src", reason: "bad address \"1.2.3\"")) {
      try AddressPrefix(parsing: "1.2.3", option: "--src")
    }
    #expect(
      throws: FilterParseError(
        option: "--src", reason: "bad prefix length \"33\" in \"1.2.3.4/33\": IPv4 allows 0 to 32")
    ) { try AddressPrefix(parsing: "1.2.3.4/33", option: "--src") }
    #expect(
      throws: FilterParseError(
        option: "--dst", reason: "bad prefix length \"129\" in \"::1/129\": IPv6 allows 0 to 128")
    ) { try AddressPrefix(parsing: "::1/129", option: "--dst") }
    for bad in [
      "", "/8", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/x", "localhost", "fe80::1%lo", "::1/1/2",
    ] {
      #expect(throws: FilterParseError.self, "\(bad)") {
        try AddressPrefix(parsing: bad, option: "--dst")
      }
    }
  }

  /// One call for the command line; each option's error carries its own name.
  @Test func parseAll() throws {
    let f = try SocketFilter.parse(
      state: "connected", sport: "80", dport: "1024-65535", port: "443", src: "127.0.0.0/8",
      dst: "::1")
    #expect(f.states == (try StateMask(parsing: "connected")))
    #expect(f.sourcePorts == 80...80 && f.destinationPorts == 1024...65535)
    #expect(f.eitherPort == 443...443)
    #expect(f.source?.length == 8 && f.destination?.address.family == .inet6)
    #expect(try SocketFilter.parse().isEmpty)
    #expect(throws: FilterParseError(option: "--dst", reason: "bad address \"nope\"")) {
      try SocketFilter.parse(dst: "nope")
    }
  }

  // MARK: matching in Swift

  @Test func portMatching() throws {
    let r = try record("127.0.0.1", 8080, "127.0.0.1", 40000)
    #expect(SocketFilter(sourcePorts: 8080...8080).matches(r))
    #expect(!SocketFilter(sourcePorts: 40000...40000).matches(r))
    #expect(SocketFilter(destinationPorts: 30000...50000).matches(r))
    #expect(!SocketFilter(destinationPorts: 8080...8080).matches(r))
    #expect(SocketFilter(eitherPort: 8080...8080).matches(r))
    #expect(SocketFilter(eitherPort: 40000...40000).matches(r))
    #expect(!SocketFilter(eitherPort: 1...1000).matches(r))
    #expect(!SocketFilter(sourcePorts: 8080...8080, destinationPorts: 1...2).matches(r))
  }

  @Test func stateMatching() throws {
    let listen = try record("0.0.0.0", 22, "0.0.0.0", 0, state: .listen)
    let udp = try record("127.0.0.1", 53, "0.0.0.0", 0, state: .close, transport: .udp)
    let connectedUDP = try record("127.0.0.1", 5000, "127.0.0.1", 53, transport: .udp)
    let connected = SocketFilter(states: try StateMask(parsing: "connected"))
    #expect(!connected.matches(listen) && !connected.matches(udp))
    #expect(connected.matches(connectedUDP))
    #expect(SocketFilter(states: StateMask([.close])).matches(udp))
  }

  /// Kernel prefix semantics: IPv4 prefixes also cover ::ffff:a.b.c.d, never plain IPv6;
  /// IPv6 prefixes never cover IPv4.
  @Test func prefixMatching() throws {
    let p8 = try AddressPrefix(parsing: "127.0.0.0/8", option: "t")
    #expect(p8.contains(try AddressPrefix(parsing: "127.9.9.9", option: "t").address))
    #expect(!p8.contains(try AddressPrefix(parsing: "128.0.0.1", option: "t").address))
    #expect(p8.contains(try AddressPrefix(parsing: "::ffff:127.0.0.1", option: "t").address))
    #expect(!p8.contains(try AddressPrefix(parsing: "::7f00:1", option: "t").address))
    let any4 = try AddressPrefix(parsing: "0.0.0.0/0", option: "t")
    #expect(any4.contains(try AddressPrefix(parsing: "::ffff:10.0.0.1", option: "t").address))
    #expect(!any4.contains(try AddressPrefix(parsing: "::1", option: "t").address))
    let mapped = try AddressPrefix(parsing: "::ffff:127.0.0.1", option: "t")
    #expect(!mapped.contains(try AddressPrefix(parsing: "127.0.0.1", option: "t").address))
    let p65 = try AddressPrefix(parsing: "2001:db8:0:0:8000::/65", option: "t")
    #expect(p65.contains(try AddressPrefix(parsing: "2001:db8::8fff:1:2:3", option: "t").address))
    #expect(!p65.contains(try AddressPrefix(parsing: "2001:db8::7fff:1:2:3", option: "t").address))
    #expect(try AddressPrefix(parsing: "::/0", option: "t").contains(p65.address))
    let one = try AddressPrefix(parsing: "128.0.0.0/1", option: "t")
    #expect(one.contains(try AddressPrefix(parsing: "200.1.1.1", option: "t").address))
    #expect(!one.contains(try AddressPrefix(parsing: "127.255.255.255", option: "t").address))
    let r = try record("::ffff:127.0.0.1", 1, "::1", 2)
    #expect(SocketFilter(source: p8).matches(r))
    #expect(!SocketFilter(destination: p8).matches(r))
  }

  // MARK: bytecode

  /// The compiled programs, byte for byte (ops are code, yes, then `no` in host order).
  @Test func bytecodeShapes() throws {
    func ops(_ f: SocketFilter) -> [[Int]] {
      let b = NetlinkSource.bytecode(for: f)
      return stride(from: 0, to: b.count, by: 4).map { (i: Int) -> [Int] in
        let no: Int = Int(b[i + 2]) | Int(b[i + 3]) << 8
        return [Int(b[i]), Int(b[i + 1]), no]
      }
    }
    // INET_DIAG_BC_: JMP 1, S_GE 2, S_LE 3, D_GE 4, D_LE 5, S_COND 7, D_COND 8.
    #expect(NetlinkSource.bytecode(for: SocketFilter()).isEmpty)
    #expect(NetlinkSource.bytecode(for: SocketFilter(states: .all)).isEmpty)
    #expect(NetlinkSource.bytecode(for: SocketFilter(sourcePorts: 0...65535)).isEmpty)
    // sport 80: S_GE 80 AND S_LE 80; the first reject jumps past both (16 + 4).
    #expect(
      ops(SocketFilter(sourcePorts: 80...80)) == [
        [2, 8, 20], [0, 0, 80], [3, 8, 12], [0, 0, 80],
      ])
    // dport >= 1024 alone: the upper bound 65535 holds for every port.
    #expect(ops(SocketFilter(destinationPorts: 1024...65535)) == [[4, 8, 12], [0, 0, 1024]])
    // --port 22: (S_GE, S_LE) JMP (D_GE, D_LE). A source miss lands on the D block (no = 20
    // from the first op, 12 from the second); a source hit reaches the JMP, which skips it.
    #expect(
      ops(SocketFilter(eitherPort: 22...22)) == [
        [2, 8, 20], [0, 0, 22], [3, 8, 12], [0, 0, 22], [1, 4, 20],
        [4, 8, 20], [0, 0, 22], [5, 8, 12], [0, 0, 22],
      ])
    // src 127.0.0.0/8: S_COND, then family 2, prefix 8, port -1, and the 4 address bytes.
    let src = NetlinkSource.bytecode(
      for: SocketFilter(source: try AddressPrefix(parsing: "127.0.0.0/8", option: "t")))
    #expect(src == [7, 16, 20, 0, 2, 8, 0, 0, 0xff, 0xff, 0xff, 0xff, 127, 0, 0, 0])
    // Combined: src (16) AND dport (16) AND --port (36): each AND reject points past the end.
    let all = ops(
      SocketFilter(
        destinationPorts: 1...1000, eitherPort: 5...5,
        source: try AddressPrefix(parsing: "127.0.0.0/8", option: "t")))
    #expect(all.count == 4 + 4 + 9)
    #expect(all[0] == [7, 16, 16 + 16 + 36 + 4])
    #expect(all[4] == [4, 8, 16 + 36 + 4] && all[6] == [5, 8, 8 + 36 + 4])
    #expect(all[12] == [1, 4, 20])
  }
}
