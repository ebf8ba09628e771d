// libFuzzer harness for SwstatCore's argument parsers (`make fuzz`): `Expectation.parseList`,
// `SocketFilter.parse`, `StateMask(parsing:)`, `AddressPrefix(parsing:)`,
// `SocketFilter.parsePorts`, ss's filter language (`ExpressionFilter.parse` and its inet_diag
// compiler) and the /proc/net/unix text parser (`UnixProcText`). Built by swiftc together with the pure-Swift SwstatCore files these need (no C
// shim, no SwiftPM), with -sanitize=fuzzer,address.
//
// The first input byte picks the parser; the rest, decoded as UTF-8 (bad bytes become U+FFFD),
// is the text. For SocketFilter.parse the text is split at NUL bytes into its six options, for
// the filter language into its words. Beyond "never traps", each parser's result must hold its
// documented invariants and survive a round trip through its printed form; every program the
// filter compiler writes must pass the Swift copy of the kernel's audit and let through exactly
// the sockets the Swift evaluation keeps.

import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 1 else { return 0 }
  let bytes = UnsafeBufferPointer(start: data, count: size)
  let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
  switch bytes[0] % 10 {
  case 0: checkExpectations(text)
  case 1: checkStateMask(text)
  case 2: checkPrefix(text)
  case 3: checkPorts(text)
  case 4: checkFilter(bytes.dropFirst())
  case 5, 6, 7: checkExpressionFilter(bytes.dropFirst())
  case 9: checkTCPInfo(Array(bytes.dropFirst()))
  default: checkUnixText(Array(bytes.dropFirst()))
  }
  return 0
}

/// tcp_info of any length: each field is there exactly when it ends within the bytes (ends
/// restated from include/uapi/linux/tcp.h), with the bytes' value; skmem values likewise.
func checkTCPInfo(_ bytes: [UInt8]) {
  let info = bytes.withUnsafeBytes { TCPInfo(kernelBytes: $0) }
  let n = bytes.count
  if info.length != n { fail("length \(info.length) for \(n) bytes") }
  func u32(_ o: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * UInt32($1)) }
  }
  func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
  let checks: [(String, Int, Any?, Any?)] = [
    ("state", 1, info.state, n >= 1 ? bytes[0] : nil),
    ("snd_wscale", 7, info.sendWindowScale, n >= 7 ? bytes[6] & 0xf : nil),
    ("rcv_wscale", 7, info.receiveWindowScale, n >= 7 ? bytes[6] >> 4 : nil),
    ("rto", 12, info.retransmissionTimeout, n >= 12 ? u32(8) : nil),
    ("rtt", 72, info.roundTripTime, n >= 72 ? u32(68) : nil),
    ("total_retrans", 104, info.totalRetransmits, n >= 104 ? u32(100) : nil),
    ("pacing_rate", 112, info.pacingRate, n >= 112 ? u64(104) : nil),
    ("bytes_acked", 128, info.bytesAcknowledged, n >= 128 ? u64(120) : nil),
    ("bytes_sent", 208, info.bytesSent, n >= 208 ? u64(200) : nil),
    ("snd_wnd", 232, info.sendWindow, n >= 232 ? u32(228) : nil),
    ("rcv_wnd", 236, info.receiveWindow, n >= 236 ? u32(232) : nil),
    (
      "total_rto", 242, info.totalRTOs,
      n >= 242 ? UInt16(bytes[240]) | UInt16(bytes[241]) << 8 : nil
    ),
    ("received_ce_bytes", 276, info.receivedCEBytes, n >= 276 ? u32(272) : nil),
    ("accecn_fail_mode", 280, info.accECNFailMode, n >= 280 ? UInt8((u32(276) >> 4) & 0xf) : nil),
  ]
  for (name, end, mine, expected) in checks {
    if (mine == nil) != (n < end) || "\(mine as Any)" != "\(expected as Any)" {
      fail("\(name) (ends at \(end)) with \(n) bytes: \(mine as Any), expected \(expected as Any)")
    }
  }
  let values = stride(from: 0, to: n - n % 4, by: 4).map { u32($0) }
  let m = SocketMemory(values: values)
  let all = [
    m.receiveAllocated, m.receiveBuffer, m.transmitAllocated, m.transmitBuffer,
    m.forwardAllocated, m.transmitQueued, m.optionMemory, m.backlog, m.drops,
  ]
  for (i, v) in all.enumerated() where v != (i < values.count ? values[i] : nil) {
    fail("skmem value \(i) of \(values.count)")
  }
}

/// /proc/net/unix text of any bytes — names holding line breaks, controls, bytes that are not
/// UTF-8, lines that are not sockets — never traps; every line after the header is a socket or
/// reported skipped; no name holds a line break; and merged with unix_diag records whose names
/// run on over the following lines, exactly those lines are skipped and every socket is one of
/// the merge's inputs.
func checkUnixText(_ bytes: [UInt8]) {
  var records: [UnixSocketRecord] = []
  guard let report = try? UnixProcText.parse(bytes, { records.append($0) }) else {
    fail("parse threw")
  }
  let lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).dropFirst()
    .filter { !$0.allSatisfy { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) } }
  if records.count + report.skippedLines.count != lines.count {
    fail("\(records.count) sockets + \(report.skippedLines.count) skipped != \(lines.count) lines")
  }
  if records.contains(where: { $0.path.contains(0x0a) }) { fail("a name holds a line break") }
  // unix_diag's view: each socket with an inode, its name running on over the next line when
  // that line is not a socket (as a name holding a line break makes it).
  var diag: [UnixSocketRecord] = []
  for r in records where r.inode != 0 {
    var d = r
    d.referenceCount = nil
    diag.append(d)
  }
  var merged: [UnixSocketRecord] = []
  guard (try? UnixProcText.merge(diag, procText: bytes, path: "p", { merged.append($0) })) != nil
  else { fail("merge threw") }
  let known = Set(records.map(\.inode))
  for m in merged where !known.contains(m.inode) { fail("merge made up inode \(m.inode)") }
}

/// Stops the run with a message libFuzzer shows beside the crashing input.
func fail(_ message: String) -> Never {
  fputs("fuzz invariant: \(message)\n", stderr)
  abort()
}

func checkExpectations(_ text: String) {
  guard let all = try? Expectation.parseList(text) else { return }
  let parts = text.split(separator: ",", omittingEmptySubsequences: false)
  if all.count != parts.count { fail("\(all.count) expectations from \(parts.count) parts") }
  for e in all {
    if e.limit < 0 { fail("negative limit in \(e)") }
    guard let again = try? Expectation.parse(e.description), again == e else {
      fail("\(e) does not parse back")
    }
  }
}

func checkStateMask(_ text: String) {
  guard let mask = try? StateMask(parsing: text, option: "--state") else { return }
  if mask.rawValue & ~StateMask.all.rawValue != 0 { fail("mask \(mask.rawValue) outside all") }
  if mask.rawValue == 0 { fail("empty mask from \(text.debugDescription)") }
}

func checkPrefix(_ text: String) {
  guard let p = try? AddressPrefix(parsing: text, option: "--src") else { return }
  if text.utf8.contains(0) { fail("accepted a NUL byte: \(text.debugDescription)") }
  if p.length > p.address.family.bitCount { fail("/\(p.length) too long") }
  if !p.contains(p.address) { fail("\(text.debugDescription) does not contain its address") }
  let printed = format(p)
  guard let again = try? AddressPrefix(parsing: printed, option: "--src"), again == p else {
    fail("\(printed) (from \(text.debugDescription)) does not parse back")
  }
}

/// `ADDR/LEN` with inet_ntop's spelling of the address.
func format(_ p: AddressPrefix) -> String {
  let bytes = p.address.bytes
  var buf = [CChar](repeating: 0, count: 64)
  let af = p.address.family == .inet ? AF_INET : AF_INET6
  _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buf, 64) }
  return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    + "/\(p.length)"
}

func checkPorts(_ text: String) {
  guard let r = try? SocketFilter.parsePorts(text, option: "--port") else { return }
  if text.utf8.contains(0) { fail("accepted a NUL byte") }
  let again = try? SocketFilter.parsePorts("\(r.lowerBound)-\(r.upperBound)", option: "--port")
  if again != r { fail("\(r) does not parse back") }
}

func checkFilter(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
  var fields: [String?] = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
    $0.first == 0x01 ? nil : String(decoding: $0, as: UTF8.self)
  }
  while fields.count < 6 { fields.append(nil) }
  guard
    let f = try? SocketFilter.parse(
      state: fields[0], sport: fields[1], dport: fields[2], port: fields[3], src: fields[4],
      dst: fields[5])
  else { return }
  if (fields.prefix(6).allSatisfy { $0 == nil }) != f.isEmpty { fail("isEmpty disagrees") }
  // Every socket the filter keeps has its ports in range; one made from the filter's own
  // bounds is kept.
  let v4 = IPAddress(family: .inet, high: 0x7f00_0001 << 32, low: 0)
  let r = SocketRecord(
    transport: .tcp, family: .inet,
    local: Endpoint(address: f.source?.address ?? v4, port: f.sourcePorts?.lowerBound ?? 1),
    remote: Endpoint(
      address: f.destination?.address ?? v4, port: f.destinationPorts?.upperBound ?? 2),
    stateCode: 1)
  let sameFamily =
    f.source.map { $0.address.family == .inet } ?? true
    && f.destination.map { $0.address.family == .inet } ?? true
  let portOK = f.eitherPort.map { $0.contains(r.local.port) || $0.contains(r.remote.port) } ?? true
  let stateOK = f.states?.contains(code: 1) ?? true
  if sameFamily && portOK && stateOK && !f.matches(r) { fail("filter rejects its own bounds") }
}

// MARK: ss's filter language

/// FNV-1a, for values that must not change between runs (Swift's hashValue does).
func fnv(_ bytes: some Sequence<UInt8>) -> UInt64 {
  bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// Lookups without the system: a few services, host names and interfaces; any absolute path
/// shorter than 64 bytes is a cgroup.
let fuzzEnvironment = FilterEnvironment(
  transports: [.tcp, .udp],
  servicePort: { name, transport in
    name == "ssh" ? 22 : name == "split" ? (transport == .tcp ? 1 : 2) : nil
  },
  hostAddresses: { name in
    switch name {
    case "localhost": [IPAddress(family: .inet, high: 0x7f00_0001 << 32, low: 0)]
    case "dual":
      [
        IPAddress(family: .inet, high: 0x0a00_0001 << 32, low: 0),
        IPAddress(family: .inet6, high: 0, low: 1),
      ]
    default: []
    }
  },
  interfaceIndex: { ["lo": 1, "eth0": 2][$0] },
  cgroupID: { $0.hasPrefix("/") && $0.utf8.count < 64 ? fnv($0.utf8) : nil },
  ephemeralPorts: { 32768...60999 })

/// The addresses, ports and kernel facts an expression names, to build sockets it may keep.
struct Names {
  var addresses: [IPAddress] = []
  var ports: [UInt16] = []
  var interfaces: [UInt32] = [0]
  var marks: [UInt32] = [0]
  var cgroups: [UInt64] = [0]

  mutating func add(_ e: FilterExpression) {
    switch e {
    case .not(let a): add(a)
    case .and(let a, let b), .or(let a, let b):
      add(a)
      add(b)
    case .condition(let c):
      switch c {
      case .host(_, let p):
        addresses += p.prefixes.map(\.address)
        if let port = p.port { ports.append(port) }
      case .port(_, _, let port): ports += [port, port &- 1, port &+ 1]
      case .device(let index): interfaces.append(index)
      case .mark(let value, let mask): marks += [value, value | ~mask]
      case .cgroup(let id, _): cgroups.append(id)
      case .autobound(let range): ports += [range.lowerBound, range.upperBound &+ 1]
      }
    }
  }
}

func checkExpressionFilter(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
  let words = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
    String(decoding: $0, as: UTF8.self)
  }
  let f: ExpressionFilter
  do {
    f = try ExpressionFilter.parse(words, environment: fuzzEnvironment)
  } catch {
    let line = error.description
    if line.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) })
    {
      fail("error message with a control character: \(line.debugDescription)")
    }
    if !words.indices.contains(error.wordIndex) { fail("error names word \(error.wordIndex)") }
    return
  }
  let text = f.description
  guard let again = try? ExpressionFilter.parse([text], environment: fuzzEnvironment), again == f
  else {
    fail("\(text.debugDescription) (from \(words.debugDescription)) does not parse back")
  }
  let program = f.bytecode
  if program.count % 4 != 0 || FilterBytecode.audit(program) != .accepted {
    fail("the kernel would refuse \(program) for \(text.debugDescription)")
  }
  // A second program to join with `and`. Parsed each time: LeakSanitizer does not see a
  // global's indirect enum boxes (Swift keeps the case in the pointer's spare bits).
  guard
    let other = try? ExpressionFilter.parse(
      ["sport >= :1000 or not dst 10/8"], environment: fuzzEnvironment)
  else { fail("the second program does not parse") }
  let both = FilterBytecode.and(program, other.bytecode)
  if FilterBytecode.audit(both) != .accepted { fail("AND refused for \(text.debugDescription)") }

  // Sockets built from what the expression names (and v4-mapped and leading-bits twins of its
  // addresses): the program keeps exactly what the evaluation keeps, with every fact known;
  // without the facts the evaluation never contradicts itself.
  var names = Names()
  if let e = f.expression { names.add(e) }
  var v4: [IPAddress] = [
    IPAddress(family: .inet, high: 0x7f00_0001 << 32, low: 0),
    IPAddress(family: .inet, high: 0, low: 0),
  ]
  var v6: [IPAddress] = [
    IPAddress(family: .inet6, high: 0, low: 1), IPAddress(family: .inet6, high: 0, low: 0),
  ]
  for a in names.addresses {
    if a.family == .inet {
      v4.append(a)
      v6.append(IPAddress(family: .inet6, high: 0, low: 0xffff_0000_0000 | (a.high >> 32)))
      v6.append(IPAddress(family: .inet6, high: a.high, low: 0))
    } else {
      v6.append(a)
      v4.append(IPAddress(family: .inet, high: a.high & 0xffff_ffff_0000_0000, low: 0))
      if a.isIPv4Mapped { v4.append(IPAddress(family: .inet, high: a.low << 32, low: 0)) }
    }
  }
  let ports = names.ports + [0, 22, 1000, 40000, 65535]
  let expressionOnly = ExpressionFilter(expression: f.expression)
  var state = fnv(bytes) | 1
  func pick<T>(_ from: [T]) -> T {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return from[Int(state % UInt64(from.count))]
  }
  for _ in 0..<32 {
    let pool = pick([v4, v6])
    let r = SocketRecord(
      transport: pick([.tcp, .udp]), family: pool[0].family,
      local: Endpoint(address: pick(pool), port: pick(ports)),
      remote: Endpoint(address: pick(pool), port: pick(ports)), stateCode: pick([1, 6, 7, 10]))
    let facts = KernelSocketFacts(
      interfaceIndex: pick(names.interfaces), mark: pick(names.marks),
      cgroupID: pick(names.cgroups),
      portLocked: pick([false, true]))
    guard let expected = expressionOnly.evaluate(r, facts: facts) else {
      fail("unknown with every fact for \(text.debugDescription)")
    }
    if let partial = expressionOnly.evaluate(r, facts: nil), partial != expected {
      fail("without facts \(partial), with them \(expected): \(text.debugDescription)")
    }
    if FilterBytecode.run(program, on: r, facts: facts) != expected {
      fail("program and evaluation disagree on \(r) for \(text.debugDescription)")
    }
    let otherKeeps = other.evaluate(r, facts: facts) == true
    if FilterBytecode.run(both, on: r, facts: facts) != (expected && otherKeeps) {
      fail("AND disagrees on \(r) for \(text.debugDescription)")
    }
  }
}
