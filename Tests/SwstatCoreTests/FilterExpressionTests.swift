@_spi(Testing) import SwstatCore
import Testing

/// Lookups for parser tests: no DNS, no interfaces, no cgroups of the host.
let testFilterEnvironment = FilterEnvironment(
  transports: [.tcp, .udp],
  servicePort: { name, transport in
    switch name {
    case "ssh": 22
    case "http": 80
    case "domain": 53
    case "split": transport == .tcp ? 1 : 2
    default: nil
    }
  },
  hostAddresses: { name in
    switch name {
    case "localhost": [ipAddress("127.0.0.1")]
    case "dual": [ipAddress("10.0.0.1"), ipAddress("::1")]
    default: []
    }
  },
  interfaceIndex: { ["lo": 1, "eth0": 2][$0] },
  cgroupID: { ["/sys/test": 42, "test": 42, "/a b": 7][$0] },
  ephemeralPorts: { 32768...60999 })

/// An address from text (a programmer error if it does not parse).
func ipAddress(_ text: String) -> IPAddress {
  // swift-format-ignore: NeverForceUnwrap
  try! AddressPrefix(parsing: text, option: "test").address
}

func prefix(_ text: String, _ length: UInt8? = nil) -> AddressPrefix {
  let a = ipAddress(text)
  return AddressPrefix(a, length: length ?? a.family.bitCount)
}

/// Parses with the test environment.
func parseFilter(_ words: [String]) throws(FilterSyntaxError) -> ExpressionFilter {
  try ExpressionFilter.parse(words, environment: testFilterEnvironment)
}

/// The expression of a filter given as one string of blank-separated words.
func expr(_ text: String) throws -> FilterExpression? {
  try parseFilter([text]).expression
}

func cond(_ c: FilterCondition) -> FilterExpression { .condition(c) }
func src(_ p: HostPattern) -> FilterExpression { cond(.host(.source, p)) }
func dst(_ p: HostPattern) -> FilterExpression { cond(.host(.destination, p)) }
func sport(_ op: PortComparison, _ port: UInt16) -> FilterExpression {
  cond(.port(.source, op, port))
}
func dport(_ op: PortComparison, _ port: UInt16) -> FilterExpression {
  cond(.port(.destination, op, port))
}

/// A record for evaluation tests.
func socket(
  _ local: String, _ lport: UInt16, _ remote: String, _ rport: UInt16,
  _ state: SocketState = .established, transport: TransportProtocol = .tcp
) -> SocketRecord {
  let l = ipAddress(local)
  return SocketRecord(
    transport: transport, family: l.family, local: Endpoint(address: l, port: lport),
    remote: Endpoint(address: ipAddress(remote), port: rport), stateCode: state.rawValue)
}

/// The filter language's parser, its text form, and its evaluation on records.
@Suite struct FilterExpressionTests {
  // MARK: conditions

  /// Every spelling of every condition, with the tree it gives.
  @Test(arguments: [
    ("src 10.0.0.1", src(HostPattern(prefixes: [prefix("10.0.0.1")]))),
    ("src = 10.0.0.1", src(HostPattern(prefixes: [prefix("10.0.0.1")]))),
    ("src == 10.0.0.1", src(HostPattern(prefixes: [prefix("10.0.0.1")]))),
    ("src eq 10.0.0.1", src(HostPattern(prefixes: [prefix("10.0.0.1")]))),
    ("dst 10/8", dst(HostPattern(prefixes: [prefix("10.0.0.0", 8)]))),
    ("dst 127.1", dst(HostPattern(prefixes: [prefix("127.1.0.0")]))),
    ("dst 0x7f.010.0.1", dst(HostPattern(prefixes: [prefix("127.8.0.1")]))),
    ("dst 10.0.0.0/255.0.0.0", dst(HostPattern(prefixes: [prefix("10.0.0.0", 8)]))),
    ("dst 10.0.0.0/0x8", dst(HostPattern(prefixes: [prefix("10.0.0.0", 8)]))),
    ("dst 10.0.0.0/8:443", dst(HostPattern(prefixes: [prefix("10.0.0.0", 8)], port: 443))),
    ("dst 127.0.0.1:http", dst(HostPattern(prefixes: [prefix("127.0.0.1")], port: 80))),
    ("dst 127.0.0.1:*", dst(HostPattern(prefixes: [prefix("127.0.0.1")]))),
    ("dst 127.0.0.1:", dst(HostPattern(prefixes: [prefix("127.0.0.1")]))),
    ("dst [::1]", dst(HostPattern(prefixes: [prefix("::1")]))),
    ("dst [::1]:22", dst(HostPattern(prefixes: [prefix("::1")], port: 22))),
    ("dst [::1]22", dst(HostPattern(prefixes: [prefix("::1")], port: 22))),
    ("dst [127.0.0.1]:22", dst(HostPattern(prefixes: [prefix("127.0.0.1")], port: 22))),
    ("dst [fe80::/10]:22", dst(HostPattern(prefixes: [prefix("fe80::", 10)], port: 22))),
    ("dst fe80::/10", dst(HostPattern(prefixes: [prefix("fe80::", 10)]))),
    ("dst fe80::/10:22", dst(HostPattern(prefixes: [prefix("fe80::", 10)], port: 22))),
    ("dst [::ffff:127.0.0.1]", dst(HostPattern(prefixes: [prefix("::ffff:127.0.0.1")]))),
    ("dst *", dst(HostPattern())),
    ("dst *:*", dst(HostPattern())),
    ("dst *:22", dst(HostPattern(port: 22))),
    ("dst :22", dst(HostPattern(port: 22))),
    ("dst any", dst(HostPattern())),
    ("dst all:ssh", dst(HostPattern(port: 22))),
    ("dst default", dst(HostPattern())),
    ("dst 0.0.0.0/0", dst(HostPattern(prefixes: [prefix("0.0.0.0", 0)]))),
    ("dst localhost", dst(HostPattern(prefixes: [prefix("127.0.0.1")], name: "localhost"))),
    (
      "dst dual:22",
      dst(HostPattern(prefixes: [prefix("10.0.0.1"), prefix("::1")], port: 22, name: "dual"))
    ),
    ("sport = :22", sport(.equal, 22)),
    ("sport :22", sport(.equal, 22)),
    ("sport 22", sport(.equal, 22)),
    ("sport = 22", sport(.equal, 22)),
    ("sport == :ssh", sport(.equal, 22)),
    ("sport eq 0x16", sport(.equal, 22)),
    ("sport eq 026", sport(.equal, 22)),
    ("sport eq +22", sport(.equal, 22)),
    ("dport != :22", dport(.notEqual, 22)),
    ("dport ne :22", dport(.notEqual, 22)),
    ("dport neq :22", dport(.notEqual, 22)),
    ("dport < :22", dport(.less, 22)),
    ("dport lt :22", dport(.less, 22)),
    ("dport > :22", dport(.greater, 22)),
    ("dport gt :22", dport(.greater, 22)),
    ("dport <= :22", dport(.lessOrEqual, 22)),
    ("dport le :22", dport(.lessOrEqual, 22)),
    ("dport leq :22", dport(.lessOrEqual, 22)),
    ("dport >= :22", dport(.greaterOrEqual, 22)),
    ("dport ge :22", dport(.greaterOrEqual, 22)),
    ("dport geq :65535", dport(.greaterOrEqual, 65535)),
    ("sport = :*", src(HostPattern())),
    ("sport :", src(HostPattern())),
    ("dport != *", .not(dst(HostPattern()))),
    ("dev lo", cond(.device(index: 1))),
    ("dev = eth0", cond(.device(index: 2))),
    ("dev == 7", cond(.device(index: 7))),
    ("dev != lo", .not(cond(.device(index: 1)))),
    ("dev ne 0x10", .not(cond(.device(index: 16)))),
    ("fwmark 0x10", cond(.mark(0x10, mask: 0xffff_ffff))),
    ("fwmark = 0x10/0xf0", cond(.mark(0x10, mask: 0xf0))),
    ("fwmark != 1/3", .not(cond(.mark(1, mask: 3)))),
    ("cgroup /sys/test", cond(.cgroup(id: 42, path: "/sys/test"))),
    ("cgroup = test", cond(.cgroup(id: 42, path: "test"))),
    ("cgroup != test", .not(cond(.cgroup(id: 42, path: "test")))),
    ("cgroup /a\\ b", cond(.cgroup(id: 7, path: "/a b"))),
    ("autobound", cond(.autobound(ephemeralPorts: 32768...60999))),
  ])
  func conditions(text: String, tree: FilterExpression) throws {
    #expect(try expr(text) == tree, "\(text)")
    if !text.contains("\\") {
      #expect(try parseFilter(text.split(separator: " ").map(String.init)).expression == tree)
    }
  }

  // MARK: combinators

  /// `and` and `or` have one precedence and group to the left, as ss's grammar builds them
  /// (ss 6.1: `sport = :1 or sport = :2 and dport = :3` is `(… or …) and …`); `not` takes the
  /// next condition or parenthesised list; side by side means `and`.
  @Test func precedence() throws {
    let a = sport(.equal, 1)
    let b = sport(.equal, 2)
    let c = dport(.equal, 3)
    #expect(try expr("sport :1 or sport :2 and dport :3") == .and(.or(a, b), c))
    #expect(try expr("sport :1 and sport :2 or dport :3") == .or(.and(a, b), c))
    #expect(try expr("sport :1 or ( sport :2 and dport :3 )") == .or(a, .and(b, c)))
    #expect(try expr("sport :1 sport :2") == .and(a, b))
    #expect(try expr("sport :1 sport :2 or dport :3") == .or(.and(a, b), c))
    #expect(try expr("sport :1 & sport :2") == .and(a, b))
    #expect(try expr("sport :1 && sport :2") == .and(a, b))
    #expect(try expr("sport :1 | sport :2") == .or(a, b))
    #expect(try expr("sport :1 || sport :2") == .or(a, b))
    #expect(try expr("not sport :1 and sport :2") == .and(.not(a), b))
    #expect(try expr("! sport :1 or sport :2") == .or(.not(a), b))
    #expect(try expr("not not sport :1") == .not(.not(a)))
    #expect(try expr("not ( sport :1 or sport :2 )") == .not(.or(a, b)))
    #expect(try expr("( ( sport :1 ) )") == a)
    #expect(try expr("sport :1 or not ( sport :2 dport :3 )") == .or(a, .not(.and(b, c))))
  }

  /// The words may come as the shell split them, or several in one word, or with a "(" or ")"
  /// stuck to a word (split off; ss needs them apart).
  @Test func tokens() throws {
    let tree = FilterExpression.or(dport(.equal, 22), sport(.equal, 22))
    #expect(try parseFilter(["( dport = :ssh or sport = :ssh )"]).expression == tree)
    #expect(
      try parseFilter(["(", "dport", "=", ":ssh", "or", "sport", "=", ":ssh", ")"]).expression
        == tree)
    #expect(
      try parseFilter(["(dport", "=", ":ssh", "or", "sport", "=", ":ssh)"]).expression == tree)
    #expect(try parseFilter(["((dport = :ssh))", "or\tsport\n=  :ssh"]).expression == tree)
    #expect(try parseFilter(["", " "]).isEmpty)
    #expect(try parseFilter([]).isEmpty)
    #expect(try parseFilter(["cgroup", "/a\\ b"]).expression == cond(.cgroup(id: 7, path: "/a b")))
    #expect(try parseFilter(["cgroup /a\\ b"]).expression == cond(.cgroup(id: 7, path: "/a b")))
  }

  /// A filter file (ss -F): lines are words, `#` lines are comments; errors name the line.
  @Test func filterText() throws {
    let f = try ExpressionFilter.parse(
      text: "# ssh either way\nstate established\n( dport = :ssh\nor sport = :ssh )\n",
      environment: testFilterEnvironment)
    #expect(f.states == StateMask([.established]))
    #expect(f.expression == .or(dport(.equal, 22), sport(.equal, 22)))
    #expect(throws: FilterSyntaxError.self) {
      try ExpressionFilter.parse(text: "sport :22\n)", environment: testFilterEnvironment)
    }
    do {
      _ = try ExpressionFilter.parse(text: "sport :22\n)", environment: testFilterEnvironment)
    } catch {
      #expect(error.description == "filter: unexpected \")\" at line 2: no \"(\" is open")
    }
  }

  // MARK: states

  /// ss's state words: `state` adds to an empty set, `exclude` removes from all, in order.
  @Test func states() throws {
    func states(_ text: String) throws -> StateMask? { try parseFilter([text]).states }
    #expect(try states("") == nil)
    #expect(try states("state established") == StateMask([.established]))
    #expect(try states("state ESTABLISHED state Listening") == StateMask([.established, .listen]))
    #expect(try states("state syn-recv") == StateMask([.synReceived, .newSynReceived]))
    #expect(try states("state syn-rcv") == StateMask([.synReceived, .newSynReceived]))
    #expect(try states("state unconnected state close state closed") == StateMask([.close]))
    #expect(try states("state unknown") == StateMask(rawValue: 1))
    #expect(try states("state all") == .all)
    #expect(
      try states("exclude listening")
        == StateMask(rawValue: StateMask.all.rawValue & ~SocketState.listen.maskBit))
    #expect(try states("excl listening") == states("exclude listening"))
    #expect(try states("state all exclude listening") == states("exclude listening"))
    #expect(try states("state listening exclude listening") == StateMask(rawValue: 0))
    // exclude first: every state but listening, then listening again.
    #expect(try states("exclude listening state listening") == .all)
    let all = StateMask.all.rawValue
    let bucket = StateMask([.synReceived, .newSynReceived, .timeWait])
    #expect(try states("state bucket") == bucket)
    #expect(try states("state big") == StateMask(rawValue: all & ~bucket.rawValue))
    let connected = all & ~(SocketState.listen.maskBit | SocketState.close.maskBit)
    #expect(try states("state connected") == StateMask(rawValue: connected))
    let synchronized = connected & ~SocketState.synSent.maskBit
    #expect(try states("state synchronized") == StateMask(rawValue: synchronized))
    for name in [
      "fin-wait-1", "fin-wait-2", "time-wait", "close-wait", "last-ack", "closing", "syn-sent",
    ] {
      #expect(try states("state \(name)")?.rawValue.nonzeroBitCount == 1, "\(name)")
    }
    let f = try parseFilter(["state", "established", "sport", ":22"])
    #expect(f.states == StateMask([.established]))
    #expect(f.expression == sport(.equal, 22))
    // In one word too (ss takes state words only as words of their own).
    #expect(try parseFilter(["state established sport :22"]) == f)
  }

  // MARK: errors

  /// Each error names the offending token and where it is, in one line.
  @Test(arguments: [
    ([")"], "filter: unexpected \")\" at word 1: expected a condition"),
    (["sport", "=", ":22", ")"], "filter: unexpected \")\" at word 4: no \"(\" is open"),
    (["(", "sport", ":22"], "filter: no \")\" for the \"(\" at word 1"),
    (["(", ")"], "filter: unexpected \")\" at word 2: expected a condition"),
    (["sport", ">="], "filter: nothing after \">=\" at word 2: expected a port"),
    (["dst"], "filter: nothing after \"dst\" at word 1: expected an address"),
    (["not"], "filter: nothing after \"not\" at word 1: expected a condition"),
    (["sport", ":22", "and"], "filter: nothing after \"and\" at word 3: expected a condition"),
    (["and", "sport", ":22"], "filter: unexpected \"and\" at word 1: expected a condition"),
    (
      ["sport", ":22", "=", ":23"],
      "filter: unexpected \"=\" at word 3: expected and, or, or a condition"
    ),
    (["dport", "=", "and"], "filter: unexpected \"and\" at word 3: expected a port after \"=\""),
    (
      ["foo"],
      "filter: unknown condition \"foo\" at word 1: expected src, dst, sport, dport, dev, fwmark, cgroup, autobound, not or \"(\""
    ),
    (
      ["sport", "=", ":foo"],
      "filter: bad port \"foo\" at word 3: not a number from 0 to 65535 or a known service name"
    ),
    (["sport", "=", ":70000"], "filter: bad port \"70000\" at word 3: ports go from 0 to 65535"),
    (
      ["sport", "=", ":-1"],
      "filter: bad port \"-1\" at word 3: not a number from 0 to 65535 or a known service name"
    ),
    (
      ["sport", "=", ":08"],
      "filter: bad port \"08\" at word 3: not a number from 0 to 65535 or a known service name"
    ),
    (["sport", "<", ":*"], "filter: bad port \":*\" at word 3: < needs a port number"),
    (
      ["sport", "split"],
      "filter: ambiguous port \"split\" at word 2: tcp 1, udp 2: give the number"
    ),
    (
      ["dst", "!=", "1.2.3.4"],
      "filter: \"dst\" takes no \"!=\" at word 2: only = or nothing; for the opposite write not dst ..."
    ),
    (
      ["src", ">", "1.2.3.4"],
      "filter: \"src\" takes no \">\" at word 2: only = or nothing; for the opposite write not src ..."
    ),
    (
      ["dst", "::1"],
      "filter: bad address \"::1\" at word 2: put an IPv6 address in brackets: [::1] or [::1]:PORT"
    ),
    (["dst", "[::1"], "filter: bad address \"[::1\" at word 2: no \"]\" after \"[\""),
    (
      ["dst", "[fe80::]/10"],
      "filter: bad address \"[fe80::]/10\" at word 2: the prefix length goes inside the brackets: [fe80::/10]"
    ),
    (
      ["dst", "bogus"],
      "filter: bad address \"bogus\" at word 2: not an address, a prefix or a known host name"
    ),
    (
      ["dst", "10.0.0.0/33"],
      "filter: bad address \"10.0.0.0/33\" at word 2: not an address, a prefix or a known host name"
    ),
    (
      ["dst", "256.0.0.1"],
      "filter: bad address \"256.0.0.1\" at word 2: not an address, a prefix or a known host name"
    ),
    (
      ["dst", "any/0"],
      "filter: bad address \"any/0\" at word 2: not an address, a prefix or a known host name"
    ),
    (
      ["dst", "127.0.0.1:foo"],
      "filter: bad port \"foo\" at word 2: not a number from 0 to 65535 or a known service name"
    ),
    (
      ["dst", "unix:/tmp/x"],
      "filter: family \"unix\" in \"unix:/tmp/x\" at word 2: swstat filters tcp and udp sockets only"
    ),
    (
      ["dst", "inet:10.0.0.1"],
      "filter: family \"inet\" in \"inet:10.0.0.1\" at word 2: not supported: use -4 or -6"
    ),
    (
      ["sport", "inet6::22"],
      "filter: family \"inet6\" in \"inet6::22\" at word 2: not supported: use -4 or -6"
    ),
    (
      ["state", "listen"],
      "filter: unknown state \"listen\" at word 2: ss's names are established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing, all, connected, synchronized, bucket, big"
    ),
    (["state"], "filter: nothing after \"state\" at word 1: expected a state name"),
    (["exclude"], "filter: nothing after \"exclude\" at word 1: expected a state name"),
    (
      ["sport", ":22", "state", "established"],
      "filter: \"state\" after the expression at word 3: state and exclude words go first"
    ),
    (
      ["dev", "bogus0"],
      "filter: unknown interface \"bogus0\" at word 2: expected a name or an index"
    ),
    (["dev", "<", "lo"], "filter: \"dev\" takes no \"<\" at word 2: only =, != or nothing"),
    (
      ["fwmark", "x"],
      "filter: bad mark \"x\" at word 2: expected MARK or MARK/MASK, numbers up to 0xffffffff"
    ),
    (
      ["fwmark", "1/"],
      "filter: bad mark \"1/\" at word 2: expected MARK or MARK/MASK, numbers up to 0xffffffff"
    ),
    (
      ["fwmark", "0x100000000"],
      "filter: bad mark \"0x100000000\" at word 2: expected MARK or MARK/MASK, numbers up to 0xffffffff"
    ),
    (
      ["cgroup", "/nope"],
      "filter: no cgroup \"/nope\" at word 2: expected a cgroup v2 directory, absolute or under the cgroup2 mount"
    ),
    (
      ["( dport = :ssh or )"],
      "filter: unexpected \")\" at word 1 (\"( dport = :ssh or )\"): expected a condition"
    ),
    (
      ["state established", "( dport = :ssh or sport = :ssh ))"],
      "filter: unexpected \")\" at word 2 (\"( dport = :ssh or sport = :ssh ))\"): no \"(\" is open"
    ),
  ])
  func errors(words: [String], message: String) {
    do {
      let f = try parseFilter(words)
      Issue.record("\(words) parsed as \(f)")
    } catch {
      #expect(error.description == message)
      #expect(!error.description.contains("\n"))
    }
  }

  /// Limits that keep the recursive tree walks off the end of the stack, and words holding
  /// control characters: each error is one line.
  @Test func limitsAndControlCharacters() throws {
    let deep = [String](repeating: "(", count: 300) + ["sport", ":1"]
    #expect(throws: FilterSyntaxError.self) { try parseFilter(deep) }
    do { _ = try parseFilter(deep) } catch {
      #expect(
        error.description
          == "filter: too deeply nested at word 257: at most 256 levels of \"(\" and not")
    }
    let nots = [String](repeating: "not", count: 300) + ["sport", ":1"]
    do { _ = try parseFilter(nots) } catch { #expect(error.wordIndex == 256) }
    let fine =
      [String](repeating: "(", count: 256) + ["sport", ":1"] + [String](repeating: ")", count: 256)
    #expect(try parseFilter(fine).expression == sport(.equal, 1))
    let many = (1...4097).map { "sport :\($0)" }.joined(separator: " or ")
    do { _ = try parseFilter([many]) } catch {
      #expect(error.description.hasPrefix("filter: too many conditions at word 1"))
    }
    // 4096 conditions: parsed, compiled (too long for a request, not for the 16-bit jumps),
    // and evaluated.
    let most = try parseFilter([(1...4096).map { "sport :\($0)" }.joined(separator: " or ")])
    #expect(FilterBytecode.audit(most.bytecode) == .accepted && !most.bytecode.isEmpty)
    #expect(most.matches(socket("127.0.0.1", 4096, "127.0.0.1", 1)))
    #expect(!most.matches(socket("127.0.0.1", 4097, "127.0.0.1", 1)))
    do { _ = try parseFilter(["sport", "=", ":a\\\nb\u{7f}"]) } catch {
      #expect(
        error.description
          == "filter: bad port \"a\\x0ab\\x7f\" at word 3 (\":a\\\\x0ab\\x7f\"): not a number from 0 to 65535 or a known service name"
      )
    }
  }

  // MARK: text form

  /// Every filter's text parses back to the same value.
  @Test(arguments: [
    "src 10.0.0.1", "dst 10/8:443", "dst [fe80::/10]:22", "dst [::ffff:127.0.0.1]", "dst *",
    "dst :22", "dst 0.0.0.0/0", "dst localhost:ssh", "dst dual", "sport >= :1024",
    "dport != :0", "sport = :*", "dev lo", "fwmark 0x10/0xf0", "cgroup /a\\ b", "autobound",
    "state established ( dport = :ssh or sport = :ssh )",
    "exclude listening exclude time-wait sport :1 or sport :2 and dport :3",
    "sport :1 or ( sport :2 and not ( dport :3 or dport :4 ) )", "state unknown",
    "state listening exclude listening", "exclude bucket", "not not autobound",
  ])
  func textForm(text: String) throws {
    let f = try parseFilter([text])
    let again = try parseFilter([f.description])
    #expect(again == f, "\(text) → \(f.description)")
  }

  // MARK: evaluation

  /// Port comparisons at and around their operand, on each end.
  @Test func portOperators() throws {
    for port: UInt16 in [0, 1, 999, 1000, 1001, 65534, 65535] {
      let r = socket("127.0.0.1", port, "127.0.0.1", 65535 - port)
      for op in PortComparison.allCases {
        let f = try parseFilter(["sport", op.rawValue, ":1000"])
        #expect(f.matches(r) == op.holds(port, 1000), "\(port) \(op.rawValue) 1000")
        let g = try parseFilter(["dport", op.rawValue, ":1000"])
        #expect(g.matches(r) == op.holds(65535 - port, 1000))
      }
    }
  }

  /// Prefixes, v4-mapped addresses and ss's cross-family comparison (see
  /// FilterExpression.swift): what `ss` shows, checked there on real sockets too.
  @Test func prefixes() throws {
    let v4 = socket("127.0.0.1", 1000, "127.0.0.1", 40000)
    let mapped = socket("::ffff:127.0.0.1", 5000, "::ffff:127.0.0.1", 40001)
    let v6 = socket("::1", 2000, "::1", 40002)
    let v4listen = socket("0.0.0.0", 22, "0.0.0.0", 0, .listen)
    let v6listen = socket("::", 8080, "::", 0, .listen)
    func shows(_ text: String) throws -> [Bool] {
      let f = try parseFilter([text])
      return [v4, mapped, v6, v4listen, v6listen].map { f.matches($0) }
    }
    #expect(try shows("src 127.0.0.1") == [true, true, false, false, false])
    #expect(try shows("src 127.0.0.0/8") == [true, true, false, false, false])
    #expect(try shows("src [::ffff:127.0.0.1]") == [false, true, false, false, false])
    #expect(try shows("src [::1]") == [false, false, true, false, false])
    #expect(try shows("src [::/0]") == [false, true, true, false, true])
    // The kernel's IPv4 /0 is IPv4 and v4-mapped; ss's second pass agrees or says yes.
    #expect(try shows("dst 0.0.0.0/0") == [true, true, false, true, false])
    #expect(try shows("not dst 0.0.0.0/0") == [false, false, false, false, false])
    // ss compares the leading bits: ::1, :: and ::ffff:… start with 32 zero bits.
    #expect(try shows("not dst 0.0.0.0") == [true, false, false, false, false])
    #expect(try shows("not dst [::]") == [true, true, true, false, false])
    #expect(try shows("dst 0.0.0.0") == [false, false, false, true, false])
    #expect(try shows("src 127.0.0.1 or not dst 0.0.0.0") == [true, true, false, false, false])
    #expect(try shows("dst 127.0.0.1:40000") == [true, false, false, false, false])
    #expect(try shows("dst *:40002") == [false, false, true, false, false])
  }

  /// Conditions on what only the kernel knows: unknown without facts (passing `matches`, the
  /// kernel decided), exact with them; /proc must refuse them.
  @Test func kernelOnlyConditions() throws {
    let r = socket("127.0.0.1", 40000, "127.0.0.1", 1000)
    let lo = KernelSocketFacts(interfaceIndex: 1, mark: 0x13, cgroupID: 42, portLocked: true)
    let none = KernelSocketFacts()
    // Without facts, with `lo`'s, with `none`.
    let cases: [(String, Bool?, Bool, Bool)] = [
      ("dev lo", nil, true, false), ("dev != lo", nil, false, true),
      ("fwmark 0x10/0xf0", nil, true, false), ("fwmark 0x13", nil, true, false),
      ("fwmark 0x10", nil, false, false), ("cgroup test", nil, true, false),
      ("autobound", nil, false, true),
      // ss: the kernel says "not autobound" for a locked port, ss's pass "autobound" for a port
      // in the ephemeral range, so nothing shows.
      ("not autobound", false, false, false),
    ]
    for (text, unknown, withLo, withNone) in cases {
      let f = try parseFilter([text])
      #expect(f.evaluate(r, facts: nil) == unknown, "\(text)")
      #expect(f.matches(r) == (unknown ?? true), "\(text)")
      #expect(f.evaluate(r, facts: lo) == withLo, "\(text)")
      #expect(f.evaluate(r, facts: none) == withNone, "\(text)")
      #expect(f.procRefusal != nil, "\(text)")
    }
    // Known parts still decide: a port that fails makes the whole `and` false.
    #expect(try parseFilter(["dev lo and sport :1"]).evaluate(r, facts: nil) == false)
    #expect(try parseFilter(["dev lo or sport :40000"]).evaluate(r, facts: nil) == true)
    // ss's user-space autobound is the ephemeral range: a port outside it never is.
    let low = socket("127.0.0.1", 1500, "127.0.0.1", 1000)
    #expect(try parseFilter(["autobound"]).evaluate(low, facts: none) == false)
    #expect(try parseFilter(["not autobound"]).evaluate(low, facts: none) == false)
    #expect(try parseFilter(["sport :22"]).procRefusal == nil)
    #expect(
      try parseFilter(["sport :22 or dev lo"]).procRefusal
        == "filter: \"dev\" needs netlink: /proc/net has no interface, mark, cgroup or bind data")
  }

  /// What each source refuses: /proc the conditions only the kernel answers; netlink an
  /// expression whose program does not fit the request (SWSTAT_DIAG_BYTECODE_MAX, 4 KiB) when it
  /// has such a condition (otherwise the Swift check does the filtering).
  @Test func refusals() throws {
    let fits = (1...40).map { "sport :\($0)" }.joined(separator: " or ")
    #expect(!NetlinkSource.bytecode(for: SocketFilter(expression: try parseFilter([fits]))).isEmpty)
    let long = (1...400).map { "sport :\($0)" }.joined(separator: " or ")
    let plain = SocketFilter(expression: try parseFilter([long]))
    #expect(plain.refusal(for: .proc) == nil && plain.refusal(for: .netlink) == nil)
    #expect(NetlinkSource.bytecode(for: plain).isEmpty, "too long: not sent")
    let kernel = SocketFilter(expression: try parseFilter(["dev lo and ( \(long) )"]))
    #expect(kernel.refusal(for: .proc)?.hasPrefix("filter: \"dev\" needs netlink") == true)
    let refusal = kernel.refusal(for: .netlink) ?? ""
    #expect(refusal.hasPrefix("filter: too long for the kernel ("), "\(refusal)")
    #expect(
      refusal.hasSuffix("bytes of bytecode, at most 4096), and \"dev\" can only be tested there"))
    #expect(kernel.refusal(for: .auto) == kernel.refusal(for: .netlink))
    let short = SocketFilter(sourcePorts: 1...2, expression: try parseFilter(["dev lo"]))
    #expect(short.refusal(for: .netlink) == nil && short.refusal(for: .proc) != nil)
    #expect(SocketFilter(sourcePorts: 1...2).refusal(for: .proc) == nil)
  }

  /// States come before the expression and apply to every transport (UDP: established when
  /// connected, closed when not).
  @Test func statesFilterRecords() throws {
    let f = try parseFilter(["state", "unconnected", "sport", ":53"])
    #expect(f.matches(socket("127.0.0.1", 53, "0.0.0.0", 0, .close, transport: .udp)))
    #expect(!f.matches(socket("127.0.0.1", 53, "127.0.0.1", 9, .established, transport: .udp)))
    #expect(!f.matches(socket("127.0.0.1", 54, "0.0.0.0", 0, .close, transport: .udp)))
  }
}
