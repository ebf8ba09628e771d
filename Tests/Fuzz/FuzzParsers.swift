// libFuzzer harness for SwstatCore's argument parsers (`make fuzz`): `Expectation.parseList`,
// `SocketFilter.parse`, `StateMask(parsing:)`, `AddressPrefix(parsing:)` and
// `SocketFilter.parsePorts`. Built by swiftc together with the pure-Swift SwstatCore files
// these need (no C shim, no SwiftPM), with -sanitize=fuzzer,address.
//
// The first input byte picks the parser; the rest, decoded as UTF-8 (bad bytes become U+FFFD),
// is the text. For SocketFilter.parse the text is split at NUL bytes into its six options.
// Beyond "never traps", each parser's result must hold its documented invariants and survive a
// round trip through its printed form.

import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 1 else { return 0 }
  let bytes = UnsafeBufferPointer(start: data, count: size)
  let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
  switch bytes[0] % 6 {
  case 0: checkExpectations(text)
  case 1: checkStateMask(text)
  case 2: checkPrefix(text)
  case 3: checkPorts(text)
  case 4: checkFilter(bytes.dropFirst())
  default: checkUnixText(Array(bytes.dropFirst()))
  }
  return 0
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
