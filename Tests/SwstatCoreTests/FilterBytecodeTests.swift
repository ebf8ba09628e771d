@_spi(Testing) import SwstatCore
import Testing

/// Expressions covering every condition, both passes of ss (see FilterExpression.swift) and
/// every combinator, for the compiler tests.
let compilerExpressions = [
  "src 127.0.0.1", "src 127.0.0.0/8", "dst 10/8:22", "dst 0.0.0.0/0", "not dst 0.0.0.0/0",
  "dst 0.0.0.0", "not dst 0.0.0.0", "dst [::]", "not dst [::]", "src [::1]", "src [::/0]",
  "src [fe80::/10]", "not src [fe80::/10]", "dst [::ffff:127.0.0.1]", "dst [a00::/8]",
  "not dst [a00::/8]", "dst [7f00:1::/32]", "dst localhost", "not dst dual:22", "dst *",
  "dst *:22", "not dst :22", "sport = :*", "sport != :*", "sport = :22", "sport != :22",
  "sport < :1000", "sport > :1000", "sport <= :1000", "sport >= :1000", "dport < :0",
  "dport > :65535", "dport <= :65535", "dport >= :0", "dport < :1", "dport > :65534",
  "dev lo", "dev != eth0", "fwmark 0x10", "fwmark 0x10/0xf0", "not fwmark 0x13",
  "cgroup test", "cgroup != test", "autobound", "not autobound", "autobound or sport :22",
  "src 127.0.0.1 or not dst 127.0.0.1", "not ( src 10/8 and dst [::1] ) or dport :22",
  "sport :1000 or sport :2000 and dst 127.0.0.1", "( sport :1000 or sport :2000 ) dport >= :1024",
  "not ( sport = :22 or dport = :22 )", "not not sport :22", "dev lo and not autobound",
  "dev lo or src 127.0.0.1", "not dev lo and not dst 0.0.0.0", "sport :1 and not sport :1",
  "sport :1 or not sport :1", "not ( sport :* )", "sport :* and dport :22",
  "( dst 127.0.0.1 or dst [::1] ) and ( sport >= :1024 or not autobound ) and not fwmark 0x1/0x1",
]

/// Addresses for the record grid: each family's loopback, wildcard and others, v4-mapped ones,
/// and IPv6 addresses whose leading bits spell an IPv4 address (ss's second pass).
let gridAddresses = [
  "127.0.0.1", "10.0.0.1", "0.0.0.0", "10.1.2.3", "::1", "::", "::ffff:127.0.0.1",
  "::ffff:10.0.0.1", "fe80::1", "7f00:1::1", "a00:1::5", "fd00:1::5",
]
let gridPorts: [UInt16] = [
  0, 1, 21, 22, 23, 999, 1000, 1001, 2000, 32768, 40000, 60999, 61000, 65534, 65535,
]

/// A deterministic sample of records and kernel facts (xorshift, fixed seed).
func recordGrid(count: Int) -> [(SocketRecord, KernelSocketFacts)] {
  var state: UInt64 = 0x9e37_79b9_7f4a_7c15
  func next(_ n: Int) -> Int {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return Int(state % UInt64(n))
  }
  let v4 = gridAddresses.filter { !$0.contains(":") }
  let v6 = gridAddresses.filter { $0.contains(":") }
  return (0..<count).map { _ in
    let family = next(2) == 0 ? v4 : v6
    let r = socket(
      family[next(family.count)], gridPorts[next(gridPorts.count)], family[next(family.count)],
      gridPorts[next(gridPorts.count)])
    let facts = KernelSocketFacts(
      interfaceIndex: UInt32(next(3)), mark: [0, 0x10, 0x13, 0x1][next(4)],
      cgroupID: [0, 42, 7][next(3)], portLocked: next(2) == 0)
    return (r, facts)
  }
}

/// The inet_diag compiler, checked against the Swift copies of the kernel's audit and
/// interpreter (the real kernel is checked in FilterParityTests).
@Suite struct FilterBytecodeTests {
  /// Every program passes the audit, and the interpreter lets exactly the records through that
  /// the Swift evaluation keeps, with every fact known.
  @Test(arguments: compilerExpressions)
  func programMatchesEvaluation(text: String) throws {
    let f = try parseFilter([text])
    let program = f.bytecode
    #expect(FilterBytecode.audit(program) == .accepted, "\(text): \(program)")
    #expect(program.count % 4 == 0)
    var kept = 0
    for (r, facts) in recordGrid(count: 3000) {
      let expected = try #require(f.evaluate(r, facts: facts))
      let got = FilterBytecode.run(program, on: r, facts: facts)
      if got != expected {
        Issue.record("\(text): \(r.local) \(r.remote) \(facts): kernel \(got), ss \(expected)")
        return
      }
      if got { kept += 1 }
    }
    _ = kept
  }

  /// Programs that only a wrong evaluation would accept: the same grid through a mutated
  /// expression (each port operator swapped for each other) gives a different answer on some
  /// record, so the check above cannot pass by accident.
  @Test func mutationsAreCaught() throws {
    let grid = recordGrid(count: 3000)
    for op in PortComparison.allCases {
      let f = try parseFilter(["sport", op.rawValue, ":1000"])
      for other in PortComparison.allCases where other != op {
        let g = try parseFilter(["sport", other.rawValue, ":1000"])
        let differs = grid.contains { r, facts in
          FilterBytecode.run(g.bytecode, on: r, facts: facts) != f.evaluate(r, facts: facts)
        }
        #expect(differs, "\(op.rawValue) vs \(other.rawValue)")
      }
    }
  }

  /// `and` with the options' program (SocketFilter's C builder): the audit takes the result and
  /// it keeps what both keep.
  @Test func combinesWithOptionsProgram() throws {
    let options = [
      SocketFilter(sourcePorts: 1000...2000),
      SocketFilter(destinationPorts: 0...1000, source: prefix("127.0.0.0", 8)),
      SocketFilter(eitherPort: 22...22),
      SocketFilter(sourcePorts: 1...65535, eitherPort: 999...1001, destination: prefix("::", 0)),
    ]
    let grid = recordGrid(count: 2000)
    for o in options {
      for text in compilerExpressions {
        let f = try parseFilter([text])
        let combined = FilterBytecode.and(NetlinkSource.bytecode(for: o), f.bytecode)
        #expect(FilterBytecode.audit(combined) == .accepted, "\(o) and \(text)")
        for (r, facts) in grid {
          let expected = o.matches(r) && f.evaluate(r, facts: facts) == true
          if FilterBytecode.run(combined, on: r, facts: facts) != expected {
            Issue.record("\(o) and \(text): \(r.local) \(r.remote)")
            break
          }
        }
      }
    }
    // Through SocketFilter: its kernel program is the same conjunction.
    let f = try parseFilter(["dport", ">=", ":1024"])
    let o = SocketFilter(sourcePorts: 1000...2000, expression: f)
    #expect(
      NetlinkSource.bytecode(for: o)
        == FilterBytecode.and(
          NetlinkSource.bytecode(for: SocketFilter(sourcePorts: 1000...2000)), f.bytecode))
  }

  /// Constants: an expression that always holds needs no program; one that never does is a lone
  /// jump past the end.
  @Test func constants() throws {
    #expect(try parseFilter(["sport", ":*"]).bytecode.isEmpty)
    #expect(try parseFilter(["dport", ">=", ":0"]).bytecode.isEmpty)
    #expect(try parseFilter(["state", "established"]).bytecode.isEmpty)
    let never = try parseFilter(["sport", "<", ":0"]).bytecode
    #expect(never == [1, 4, 8, 0])
    #expect(FilterBytecode.audit(never) == .accepted)
    #expect(!FilterBytecode.run(never, on: socket("127.0.0.1", 1, "127.0.0.1", 2), facts: .init()))
  }

  /// The audit's rules, each broken once.
  @Test func auditRejects() throws {
    let good = try parseFilter(["sport = :22 or dst 10/8"]).bytecode
    #expect(FilterBytecode.audit(good) == .accepted)
    var unknownOp = good
    unknownOp[0] = 0x7f
    #expect(FilterBytecode.audit(unknownOp) == .invalid(offset: 0))
    var oddYes = good
    oddYes[1] = 6
    #expect(FilterBytecode.audit(oddYes) != .accepted)
    var pastEnd = good
    pastEnd[2] = UInt8(good.count + 8)
    #expect(FilterBytecode.audit(pastEnd) != .accepted)
    var intoOp = good
    intoOp[2] = 4  // a `no` of 4 lands on the port's NOP, which the `yes` chain skips
    #expect(FilterBytecode.audit(intoOp) != .accepted)
    #expect(FilterBytecode.audit(Array(good.dropLast(4))) != .accepted)
    #expect(FilterBytecode.audit([0, 4]) != .accepted)
    let mark = try parseFilter(["fwmark", "1"]).bytecode
    #expect(FilterBytecode.audit(mark, netAdmin: false) == .notPermitted)
  }
}
