import Glibc
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import Testing

/// The kernel's state number for a fixture socket's netstat word (UDP's empty state: CLOSE).
func stateCode(_ e: SocketFixture.Expected) -> UInt8 {
  let names = [
    "ESTABLISHED": 1, "SYN_SENT": 2, "SYN_RECV": 3, "FIN_WAIT1": 4, "FIN_WAIT2": 5,
    "TIME_WAIT": 6, "": 7, "CLOSE": 7, "CLOSE_WAIT": 8, "LAST_ACK": 9, "LISTEN": 10,
    "CLOSING": 11,
  ]
  return UInt8(names[e.state] ?? 0)
}

/// The address part of a fixture endpoint ("127.0.0.1:80" → "127.0.0.1", ":::*" → "::").
func host(_ endpoint: String) -> String {
  guard let colon = endpoint.lastIndex(of: ":") else { return endpoint }
  return String(endpoint[..<colon])
}

/// One filter and which fixture sockets it must return, judged from the fixture's own
/// description (not from `SocketFilter.matches`).
struct FilterCase: CustomStringConvertible {
  var description: String
  var filter: SocketFilter
  var expected: (SocketFixture.Expected) -> Bool
}

/// The source under test: netlink with the Swift re-check, netlink with the kernel's filtering
/// alone, /proc/net.
enum FilterSource: String, CaseIterable, CustomStringConvertible {
  case netlink, kernelOnly, proc
  var description: String { rawValue }
  var source: any SocketSource {
    switch self {
    case .netlink: NetlinkSource()
    case .kernelOnly: NetlinkSource(verifyInSwift: false)
    case .proc: ProcNetSource()
    }
  }
}

/// The cases, built around the fixture's ports: its IPv4 and IPv6 listeners.
func filterCases(_ fixture: SocketFixture) throws -> [FilterCase] {
  let listeners = fixture.sockets.filter { $0.state == "LISTEN" }
  guard let l4 = listeners.first(where: { $0.proto == "tcp" }),
    let l6 = listeners.first(where: { $0.proto == "tcp6" && host($0.local) == "::1" })
  else { throw FixtureError.failed("fixture without listeners") }
  let p4 = UInt16(l4.localPort)
  let p6 = UInt16(l6.localPort)
  let low = min(p4, p6)
  let high = max(p4, p6)
  let loopback8 = try AddressPrefix(parsing: "127.0.0.0/8", option: "t")
  let v6loopback = try AddressPrefix(parsing: "::1", option: "t")
  let states = try StateMask(parsing: "established,close-wait")
  return [
    FilterCase(description: "states established,close-wait", filter: SocketFilter(states: states)) {
      [1, 8].contains(stateCode($0))
    },
    FilterCase(description: "state listen", filter: SocketFilter(states: StateMask([.listen]))) {
      $0.state == "LISTEN"
    },
    FilterCase(description: "sport \(p4)", filter: SocketFilter(sourcePorts: p4...p4)) {
      $0.localPort == p4
    },
    FilterCase(
      description: "dport \(low)-\(high)", filter: SocketFilter(destinationPorts: low...high)
    ) {
      (Int(low)...Int(high)).contains($0.remotePort)
    },
    FilterCase(description: "port \(p6)", filter: SocketFilter(eitherPort: p6...p6)) {
      $0.localPort == p6 || $0.remotePort == p6
    },
    FilterCase(description: "src 127.0.0.0/8", filter: SocketFilter(source: loopback8)) {
      host($0.local).hasPrefix("127.")  // the fixture prints v4-mapped addresses as IPv4
    },
    FilterCase(description: "dst ::1", filter: SocketFilter(destination: v6loopback)) {
      host($0.remote) == "::1"
    },
    FilterCase(
      description: "all combined",
      filter: SocketFilter(
        states: states, sourcePorts: 1...65535, destinationPorts: low...high,
        eitherPort: low...high,
        source: loopback8, destination: try AddressPrefix(parsing: "127.0.0.1/32", option: "t"))
    ) {
      [1, 8].contains(stateCode($0)) && (Int(low)...Int(high)).contains($0.remotePort)
        && host($0.local).hasPrefix("127.") && host($0.remote) == "127.0.0.1"
    },
  ]
}

/// Filters on real loopback sockets, through each source.
@Suite(.timeLimit(.minutes(2)))
struct FilterTests {
  /// Each filter returns exactly the fixture sockets it should, and nothing that fails it. With
  /// `kernelOnly` no Swift check runs, so this also shows each filter reaching the kernel.
  @Test(arguments: FilterSource.allCases)
  func eachFilterReturnsExactlyItsSockets(source: FilterSource) throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    for c in try filterCases(fixture) {
      let found = try source.source.snapshot(SocketQuery(scope: .all, filter: c.filter))
      for r in found {
        #expect(c.filter.matches(r), "\(source) \(c): \(r.local) \(r.remote) state \(r.stateCode)")
      }
      for e in fixture.sockets {
        let n = records(found, for: e).count
        #expect(
          n == (c.expected(e) ? 1 : 0),
          "\(source) \(c): \(e.proto) \(e.local) \(e.remote) \(e.state)")
      }
      #expect(fixture.sockets.contains(where: c.expected), "\(c) selects some fixture socket")
    }
  }

  /// An IPv4 prefix matches v4-mapped IPv6 sockets (::ffff:127.0.0.1), in every source.
  @Test(arguments: FilterSource.allCases)
  func ipv4PrefixMatchesMappedSockets(source: FilterSource) throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let filter = SocketFilter(source: try AddressPrefix(parsing: "127.0.0.1", option: "t"))
    let found = try source.source.snapshot(
      SocketQuery(transports: [.tcp], families: [.inet6], scope: .all, filter: filter))
    #expect(found.allSatisfy { $0.local.address.isIPv4Mapped })
    let mapped = fixture.sockets.filter { $0.proto == "tcp6" && host($0.local) == "127.0.0.1" }
    #expect(mapped.count >= 3, "the fixture's mapped listener and connection")
    for e in mapped {
      #expect(records(found, for: e).count == 1, "\(source): \(e.local) \(e.remote)")
    }
    let native = fixture.sockets.filter { $0.proto == "tcp6" && host($0.local) == "::1" }
    for e in native { #expect(records(found, for: e).isEmpty, "\(source): \(e.local)") }
  }

  /// The kernel accepts every shape of program the builder writes, and applies it: each dump
  /// succeeds with the bytecode attached and returns only matching sockets.
  @Test func kernelAcceptsEachShape() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let cases = try filterCases(fixture)
    guard let p = cases.first(where: { $0.description.hasPrefix("sport") })?.filter.sourcePorts
    else { throw FixtureError.failed("no sport case") }
    let shapes: [(String, SocketFilter)] = [
      ("sport only", SocketFilter(sourcePorts: p)),
      ("dport range", SocketFilter(destinationPorts: 1024...p.upperBound)),
      ("--port OR", SocketFilter(eitherPort: p)),
      (
        "src v4 prefix",
        SocketFilter(source: try AddressPrefix(parsing: "127.0.0.0/8", option: "t"))
      ),
      (
        "dst v6 prefix", SocketFilter(destination: try AddressPrefix(parsing: "::/64", option: "t"))
      ),
      (
        "all combined",
        SocketFilter(
          sourcePorts: 1...65535, destinationPorts: 0...p.upperBound, eitherPort: p,
          source: try AddressPrefix(parsing: "127.0.0.0/8", option: "t"),
          destination: try AddressPrefix(parsing: "0.0.0.0/0", option: "t"))
      ),
    ]
    for (name, filter) in shapes {
      let bytecode = NetlinkSource.bytecode(for: filter)
      #expect(!bytecode.isEmpty, "\(name)")
      var total = 0
      for table in allTables {
        let (rc, found) = NetlinkSource.kernelDump(table, states: .all, bytecode: bytecode)
        #expect(rc == 0, "\(name) on \(table.procName): errno \(-rc)")
        for r in found { #expect(filter.matches(r), "\(name): \(r.local) \(r.remote)") }
        total += found.count
      }
      #expect(total > 0, "\(name) returns the fixture's sockets")
    }
    // Every case of the live test compiles to a program the kernel takes as well.
    for c in cases {
      for table in allTables {
        let rc = NetlinkSource.kernelDump(
          table, states: .all, bytecode: NetlinkSource.bytecode(for: c.filter)
        ).rc
        #expect(rc == 0, "\(c) on \(table.procName)")
      }
    }
  }

  /// A program the kernel refuses (EINVAL) is dropped and the dump repeated without it; the
  /// Swift check still filters, so the answer is the same.
  @Test func rejectedBytecodeFallsBackToSwift() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    guard let l4 = fixture.sockets.first(where: { $0.proto == "tcp" && $0.state == "LISTEN" })
    else { throw FixtureError.failed("no listener") }
    let port = UInt16(l4.localPort)
    // An unknown op code: inet_diag_bc_audit answers -EINVAL.
    let bad: [UInt8] = [0xff, 4, 8, 0]
    let table = SocketTable(family: .inet, transport: .tcp)
    #expect(NetlinkSource.kernelDump(table, states: .all, bytecode: bad).rc == -EINVAL)
    let query = SocketQuery(
      transports: [.tcp], families: [.inet], filter: SocketFilter(sourcePorts: port...port))
    let checked = try NetlinkSource(verifyInSwift: true, bytecode: bad).snapshot(query)
    #expect(!checked.isEmpty && checked.allSatisfy { $0.local.port == port })
    let expected = fixture.sockets.filter { $0.proto == "tcp" && $0.localPort == l4.localPort }
    for e in expected { #expect(records(checked, for: e).count == 1, "\(e.local) \(e.remote)") }
    // Without the Swift check the repeated dump shows everything: the kernel filtered nothing.
    let unchecked = try NetlinkSource(verifyInSwift: false, bytecode: bad).snapshot(query)
    #expect(unchecked.contains { $0.local.port != port })
  }
}
