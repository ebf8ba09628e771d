import Foundation
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import Testing

/// The filter expressions of the parity test, as the words a user types after `ss -tan`.
/// Fixtures/filtersockets.py says which sockets they tell apart. `{cgroup}` is the fixture's
/// cgroup path.
let parityExpressions: [[String]] = [
  // states and groups
  ["state", "established"], ["state", "listening"], ["state", "time-wait"],
  ["state", "syn-sent"], ["state", "fin-wait-2", "state", "close-wait"],
  ["state", "unconnected"], ["state", "connected"], ["state", "synchronized"],
  ["state", "bucket"], ["state", "big"], ["exclude", "listening"],
  ["state", "all", "exclude", "established", "exclude", "time-wait"],
  ["exclude", "listening", "state", "listening"],
  // ports, every operator and spelling, both ends
  ["sport = :1000"], ["sport == :ssh"], ["dport eq 22"], ["dport != :1000"], ["sport ne :53"],
  ["sport < :1000"], ["sport lt :1001"], ["sport <= :1000"], ["dport le :2000"],
  ["sport > :2000"], ["dport gt :1000"], ["sport >= :2000"], ["dport ge :5353"],
  ["sport", ":1000"], ["dport", "1000"], ["sport = :*"], ["dport != :*"],
  // prefixes, v4-mapped addresses, ports in hosts
  ["src 127.0.0.1"], ["src 127.0.0.0/8"], ["dst 10.1.2.3"], ["src 10/8"], ["src [::1]"],
  ["dst [fd00:1::/32]"], ["src fd00::/8"], ["src [::ffff:127.0.0.1]"], ["src 0.0.0.0/0"],
  ["dst 127.0.0.1:1000"], ["src [::1]:2000"], ["dst *:22"], ["dst :5353"], ["src localhost"],
  ["dst 0.0.0.0"], ["not dst 0.0.0.0"], ["not dst [::]"], ["not src 0.0.0.0/0"],
  // not, and, or, nesting, ss's left-to-right grouping
  ["state", "established", "( dport = :ssh or sport = :ssh )"],
  ["sport = :1000 or sport = :2000 and src 127.0.0.1"],
  ["sport = :1000 or ( sport = :2000 and src 127.0.0.1 )"],
  ["not ( sport = :1000 or dport = :1000 )"], ["! sport = :22 && ! dport = :22"],
  ["src 127.0.0.1 or not dst 127.0.0.1"], ["sport >= :1000 sport <= :2000 || dport :53"],
  ["state", "established", "sport", ">=", ":1024", "and", "dport", ">=", ":1024"],
  ["exclude", "listening", "exclude", "unconnected", "not", "(", "src", "[::1]", ")"],
  ["not not ( dst [::1] | dst 127.0.0.1:2000 )"],
  // conditions only the kernel answers
  ["autobound"], ["not autobound"], ["state", "established", "autobound or sport :1500"],
  ["dev lo"], ["dev != lo"], ["dev = 1 or sport = :22"], ["fwmark 0x10"], ["fwmark 0x10/0xf0"],
  ["fwmark != 0x13"], ["cgroup {cgroup}"], ["not cgroup {cgroup} and sport >= :1000"],
]

/// One socket as ss prints it: `local peer`, and the state when ss shows the column.
struct ParityRow: Hashable, CustomStringConvertible {
  var local: String
  var peer: String
  var state: String? = nil
  var description: String { "\(local) \(peer) \(state ?? "-")" }
}

/// ss's word for a state (misc/ss.c sstate_name).
func ssStateName(_ code: UInt8, _ transport: TransportProtocol) -> String {
  let names = [
    1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2", 6: "TIME-WAIT",
    7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING",
  ]
  return names[Int(code)] ?? "?"
}

/// An endpoint as ss -n prints it (IPv6 in brackets, port 0 as `*`); the wildcard IPv6 address
/// as `[::]` (ss writes `*` for a dual-stack socket's, which the test's rows normalise).
func ssEndpoint(_ e: Endpoint) -> String {
  let bytes = e.address.bytes
  var buf = [CChar](repeating: 0, count: 64)
  let af = e.address.family == .inet ? AF_INET : AF_INET6
  _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buf, 64) }
  let host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  let port = e.port == 0 ? "*" : String(e.port)
  return (e.address.family == .inet ? host : "[\(host)]") + ":" + port
}

func parityRow(_ r: SocketRecord, withState: Bool) -> ParityRow {
  ParityRow(
    local: ssEndpoint(r.local), peer: ssEndpoint(r.remote),
    state: withState ? ssStateName(r.stateCode, r.transport) : nil)
}

/// Parses `ss -H` output: state (when shown), queues, local, peer. A `*` host is the IPv6
/// wildcard of a dual-stack socket; `%dev` after an address (a socket bound to a device) goes.
func parseSSRows(_ text: String) -> [ParityRow] {
  func normal(_ endpoint: Substring) -> String {
    var s = String(endpoint)
    if s.hasPrefix("*:") { s = "[::]" + s.dropFirst() }
    if let percent = s.firstIndex(of: "%"), let colon = s.lastIndex(of: ":") {
      s.removeSubrange(percent..<colon)
    }
    return s
  }
  return text.split(separator: "\n").compactMap { line in
    let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    switch f.count {
    case 5: return ParityRow(local: normal(f[3]), peer: normal(f[4]), state: String(f[0]))
    case 4: return ParityRow(local: normal(f[2]), peer: normal(f[3]), state: nil)
    default: return nil
    }
  }
}

/// The fixture process: filtersockets.py inside the namespace.
final class FilterSocketsFixture {
  let process: Process
  let stdin: Pipe

  init(in ns: NetworkNamespace, cgroup: String?, cgroupRoot: String?) throws {
    let script = packageRoot.appendingPathComponent(
      "Tests/SwstatCoreTests/Fixtures/filtersockets.py"
    ).path
    // nsenter rather than `ip netns exec`, which mounts a sysfs of the namespace's own over
    // /sys and so hides the cgroup2 mount below it.
    var args = ["nsenter", "--net=/run/netns/\(ns.name)", "python3", script, "--hold", "300"]
    if let cgroup, let cgroupRoot { args += ["--cgroup", cgroup, "--cgroup-root", cgroupRoot] }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    let input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    process = p
    stdin = input
    let fd = out.fileHandleForReading.fileDescriptor
    var line: [UInt8] = []
    var byte: UInt8 = 0
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 1000) > 0 else { continue }
      guard read(fd, &byte, 1) == 1, byte != 0x0a else { break }
      line.append(byte)
    }
    guard String(decoding: line, as: UTF8.self).hasPrefix("ready ") else {
      p.terminate()
      throw FixtureError.failed(
        "filtersockets.py did not start: \(String(decoding: line, as: UTF8.self))")
    }
  }

  func stop() {
    try? stdin.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}

/// The first cgroup2 mount point, if any.
func cgroup2MountPoint() -> String? {
  guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else {
    return nil
  }
  for line in mounts.split(separator: "\n") {
    let f = line.split(separator: " ")
    if f.count >= 3 && f[2] == "cgroup2" { return String(f[1]) }
  }
  return nil
}

/// The done-when of the filter language: for each expression, the sockets swstat's netlink path
/// (kernel program and Swift re-check), the kernel's program alone, and the /proc path (Swift
/// evaluation) select are exactly those `ss -tan EXPR` / `ss -uan EXPR` prints, on the same
/// sockets in a namespace of the test's own.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FilterParityTests {
  /// Sets up the namespace, its addresses, a cgroup and the fixture, and runs `body` with them.
  func withFixture(
    _ body: (NetworkNamespace, String?) throws -> Void
  ) throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    // Names from files only: ss's lookup of `localhost`'s IPv6 address would otherwise query
    // the namespace's resolver, 127.0.0.1:53, the fixture's UDP socket.
    try "hosts: files\nservices: files\n".write(
      toFile: "/etc/netns/\(ns.name)/nsswitch.conf", atomically: true, encoding: .utf8)
    try runCommand(["ip", "-n", ns.name, "addr", "add", "10.1.2.3/32", "dev", "lo"])
    try runCommand(["ip", "-n", ns.name, "addr", "add", "fd00:1::5/128", "dev", "lo", "nodad"])
    var cgroup: String? = nil
    let root = cgroup2MountPoint()
    if let root {
      let path = root + "/swstat-filter-\(getpid())"
      if mkdir(path, 0o755) == 0 || errno == EEXIST { cgroup = path }
    }
    defer { if let cgroup { rmdir(cgroup) } }
    let fixture = try FilterSocketsFixture(in: ns, cgroup: cgroup, cgroupRoot: root)
    defer { fixture.stop() }
    try body(ns, cgroup)
  }

  @Test(
    .enabled(
      if: isRoot && hasProgram("ss") && hasProgram("nsenter"),
      "needs root (a network namespace), ss and nsenter"))
  func swstatSelectsWhatSSPrints() throws {
    try withFixture { ns, cgroup in
      var compared = 0
      var nonEmpty = 0
      var ssSets: [String: Set<ParityRow>] = [:]
      for template in parityExpressions {
        if template.contains(where: { $0.contains("{cgroup}") }) && cgroup == nil { continue }
        let words = template.map { $0.replacingOccurrences(of: "{cgroup}", with: cgroup ?? "") }
        for transport in [TransportProtocol.tcp, .udp] {
          let ssArguments = ["ss", transport == .tcp ? "-tanH" : "-uanH"] + words
          // A cgroup path is under /sys, which `ip netns exec` hides (see the fixture).
          let ss =
            template.contains(where: { $0.contains("{cgroup}") })
            ? try runCommand(["nsenter", "--net=/run/netns/\(ns.name)"] + ssArguments)
            : try ns.run(ssArguments)
          // As ss, a service name is looked up for the transports listed only.
          var environment = FilterEnvironment.system
          environment.transports = [transport]
          if ss.status != 0 {
            // ss refuses `:ssh` with -u (/etc/services may know ssh for tcp only): so must we.
            let refused = try ns.perform { () -> Bool in
              (try? ExpressionFilter.parse(words, environment: environment)) == nil
            }
            #expect(refused, "ss refuses \(transport) \(words) (\(ss.stderr)), swstat does not")
            continue
          }
          #expect(ss.stderr.isEmpty, "ss \(words): \(ss.stderr)")
          let ssRows = Set(parseSSRows(ss.stdout))
          // ss leaves out the State column when one state is asked for.
          let withState = ssRows.first?.state != nil
          ssSets["\(transport) \(words)"] = ssRows
          if !ssRows.isEmpty { nonEmpty += 1 }
          let expected = Set(
            ssRows.map { withState ? $0 : ParityRow(local: $0.local, peer: $0.peer) })
          let (f, found) = try ns.perform {
            () throws -> (ExpressionFilter, [(String, [SocketRecord])]) in
            let f = try ExpressionFilter.parse(words, environment: environment)
            let q = SocketQuery(
              transports: [transport], scope: .all, filter: SocketFilter(expression: f))
            var found = [
              ("netlink", try NetlinkSource().snapshot(q)),
              ("kernel program alone", try NetlinkSource(verifyInSwift: false).snapshot(q)),
            ]
            if f.procRefusal == nil {
              found.append(("/proc", try ProcNetSource(root: "/proc/thread-self").snapshot(q)))
            }
            return (f, found)
          }
          #expect((f.procRefusal == nil) == (f.kernelOnlyKeyword == nil))
          #expect(found.count == (f.kernelOnlyKeyword == nil ? 3 : 2))
          for (path, records) in found {
            let got = Set(records.map { parityRow($0, withState: withState) })
            if got != expected {
              let only = { (a: Set<ParityRow>, b: Set<ParityRow>) in
                a.subtracting(b).map(\.description).sorted()
              }
              let message =
                "\(transport) \(words) via \(path): only swstat \(only(got, expected)), "
                + "only ss \(only(expected, got))"
              Issue.record(Comment(rawValue: message))
            }
            compared += 1
          }
        }
      }
      #expect(nonEmpty >= 60, "expressions that select some socket: \(nonEmpty)")
      #expect(compared >= 2 * 2 * parityExpressions.count)
      try checkMutations(ns, ssSets)
    }
  }

  /// The options' filter and the expression together (AND): the same sockets as ss given both
  /// as one expression, through each path.
  @Test(
    .enabled(
      if: isRoot && hasProgram("ss") && hasProgram("nsenter"),
      "needs root (a network namespace), ss and nsenter"))
  func optionsAndExpression() throws {
    let options: [(SocketFilter, [String])] = [
      (
        SocketFilter(sourcePorts: 1000...2000),
        ["sport", ">=", ":1000", "and", "sport", "<=", ":2000"]
      ),
      (SocketFilter(destination: prefix("127.0.0.0", 8)), ["dst", "127.0.0.0/8"]),
      (
        SocketFilter(eitherPort: 1000...1000), ["(", "sport", ":1000", "or", "dport", ":1000", ")"]
      ),
      // Not `--src ::/0`: the options mean what the kernel means, and ss's second pass takes
      // `src [::/0]` for any address (which decides alone beside `dev`).
      (
        SocketFilter(destinationPorts: 1...65535, source: prefix("::1")),
        ["dport", ">=", ":1", "and", "src", "[::1]"]
      ),
    ]
    let expressions: [[String]] = [
      ["state", "established"], ["not", "src", "127.0.0.1"], ["sport < :2000 or dport >= :2000"],
      ["exclude", "listening", "not ( dst [::1] or dst 10.1.2.3 )"], ["dev", "lo"],
    ]
    try withFixture { ns, _ in
      var nonEmpty = 0
      defer { #expect(nonEmpty >= 12, "combinations that select some socket: \(nonEmpty)") }
      for (o, words) in options {
        for e in expressions {
          let hasExpression = e.contains {
            !["state", "exclude", "established", "listening"].contains($0)
          }
          let ssWords = e + (hasExpression ? ["and"] : []) + words
          let ss = try ns.run(["ss", "-tanH"] + ssWords)
          #expect(ss.status == 0, "ss \(ssWords): \(ss.stderr)")
          let expected = Set(
            parseSSRows(ss.stdout).map { ParityRow(local: $0.local, peer: $0.peer) })
          let found = try ns.perform { () throws -> [(String, [SocketRecord])] in
            var filter = o
            filter.expression = try ExpressionFilter.parse(e)
            let q = SocketQuery(transports: [.tcp], scope: .all, filter: filter)
            var found = [
              ("netlink", try NetlinkSource().snapshot(q)),
              ("kernel program alone", try NetlinkSource(verifyInSwift: false).snapshot(q)),
            ]
            if filter.refusal(for: .proc) == nil {
              found.append(("/proc", try ProcNetSource(root: "/proc/thread-self").snapshot(q)))
            }
            return found
          }
          if !expected.isEmpty { nonEmpty += 1 }
          for (path, records) in found {
            let got = Set(records.map { parityRow($0, withState: false) })
            #expect(got == expected, "\(ssWords) via \(path)")
          }
        }
      }
    }
  }

  /// A broken port operator fails the comparison above: every operator, replaced by each other
  /// one in the expressions that use it, gives a set that differs from ss's for some expression.
  func checkMutations(_ ns: NetworkNamespace, _ ssSets: [String: Set<ParityRow>]) throws {
    let spellings: [PortComparison: [String]] = [
      .equal: ["=", "==", "eq"], .notEqual: ["!=", "ne"], .less: ["<", "lt"],
      .greater: [">", "gt"], .lessOrEqual: ["<=", "le"], .greaterOrEqual: [">=", "ge"],
    ]
    let all = try ns.perform {
      try NetlinkSource().snapshot(SocketQuery(transports: [.tcp, .udp], scope: .all))
    }
    for (op, names) in spellings {
      for other in PortComparison.allCases where other != op {
        var caught = false
        for words in parityExpressions where !caught {
          let tokens = words.flatMap { $0.split(separator: " ").map(String.init) }
          guard tokens.contains(where: names.contains) else { continue }
          let mutated = tokens.map { names.contains($0) ? other.rawValue : $0 }
          guard let f = try? ExpressionFilter.parse(mutated), f.kernelOnlyKeyword == nil else {
            continue
          }
          for transport in [TransportProtocol.tcp, .udp] {
            guard let expected = ssSets["\(transport) \(words)"] else { continue }
            let got = Set(
              all.filter { $0.transport == transport && f.matches($0) }.map {
                parityRow($0, withState: false)
              })
            let ss = Set(expected.map { ParityRow(local: $0.local, peer: $0.peer, state: nil) })
            if got != ss { caught = true }
          }
        }
        #expect(caught, "\(op.rawValue) broken into \(other.rawValue) would pass")
      }
    }
  }

  /// The kernel takes exactly the programs the Swift audit takes: every compiled program, and
  /// random corruptions of them (a byte replaced), give the same answer from both.
  @Test(
    .enabled(if: available(root: true, tools: ["ip", "ss"]), "needs root (a network namespace)"))
  func auditAgreesWithKernel() throws {
    try requireTools(root: true, ["ip", "ss"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    var state: UInt64 = 0x2545_f491_4f6c_dd1d
    func next(_ n: Int) -> Int {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return Int(state % UInt64(n))
    }
    var programs: [[UInt8]] = []
    for text in compilerExpressions {
      let program = try parseFilter([text]).bytecode
      guard !program.isEmpty else { continue }
      programs.append(program)
      for _ in 0..<6 {
        var broken = program
        broken[next(broken.count)] =
          [0, 1, 2, 3, 4, 8, 12, 13, 14, 255, UInt8(next(256))][next(11)]
        programs.append(broken)
      }
      programs.append(Array(program.dropLast(4)))
    }
    var accepted = 0
    var refused = 0
    try ns.perform {
      for program in programs where program.count <= 256 {
        let rc = NetlinkSource.kernelDump(
          SocketTable(family: .inet, transport: .tcp), states: .all, bytecode: program
        ).rc
        let expected: Int32
        switch FilterBytecode.audit(program) {
        case .accepted: expected = 0
        case .invalid: expected = -EINVAL
        case .notPermitted: expected = -EPERM
        }
        #expect(rc == expected, "\(program): kernel \(rc), audit \(expected)")
        if rc == 0 { accepted += 1 } else { refused += 1 }
      }
    }
    #expect(accepted > 50 && refused > 50, "accepted \(accepted), refused \(refused)")
  }
}
