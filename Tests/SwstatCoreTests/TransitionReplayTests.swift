import Foundation
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// One record of a recording: the CPU whose ring held it and the perf record's bytes.
struct RecordedEntry {
  var cpu: UInt32
  var bytes: [UInt8]

  /// PERF_RECORD_SAMPLE's time (sample_type TIME | RAW: right after the header).
  var time: UInt64 {
    get { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) } }
    set { withUnsafeBytes(of: newValue) { bytes.replaceSubrange(8..<16, with: $0) } }
  }
  /// The tracepoint record (PERF_SAMPLE_RAW's data).
  var raw: [UInt8] {
    let size = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 16, as: UInt32.self)) }
    return Array(bytes[20..<20 + size])
  }
  /// The tracepoint id (common_type).
  var type: UInt16 { UInt16(raw[0]) | UInt16(raw[1]) << 8 }

  /// A sample record around `raw` (padded so the record stays 8-byte aligned).
  static func sample(cpu: UInt32, time: UInt64, raw: [UInt8]) -> RecordedEntry {
    var padded = raw
    while (4 + padded.count) % 8 != 0 { padded.append(0) }
    let size = 8 + 8 + 4 + padded.count
    var b: [UInt8] = [9, 0, 0, 0, 0, 0]  // type (u32): PERF_RECORD_SAMPLE; misc (u16): 0
    withUnsafeBytes(of: UInt16(size).littleEndian) { b += $0 }
    withUnsafeBytes(of: time.littleEndian) { b += $0 }
    withUnsafeBytes(of: UInt32(padded.count).littleEndian) { b += $0 }
    return RecordedEntry(cpu: cpu, bytes: b + padded)
  }

  /// A PERF_RECORD_LOST with its sample_id time.
  static func lost(cpu: UInt32, count: UInt64, time: UInt64) -> RecordedEntry {
    var b: [UInt8] = [2, 0, 0, 0, 0, 0, 32, 0]
    for v in [UInt64(0), count, time] { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    return RecordedEntry(cpu: cpu, bytes: b)
  }
}

/// A recording (`samples.bin`) in and out of its entries.
enum RingRecording {
  static func entries(_ data: [UInt8]) -> [RecordedEntry] {
    var out: [RecordedEntry] = []
    var o = 0
    while o + 8 <= data.count {
      let (cpu, len) = data.withUnsafeBytes {
        (
          $0.loadUnaligned(fromByteOffset: o, as: UInt32.self),
          Int($0.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
        )
      }
      out.append(RecordedEntry(cpu: cpu, bytes: Array(data[o + 8..<o + 8 + len])))
      o += 8 + len
    }
    return out
  }

  static func bytes(_ entries: [RecordedEntry]) -> [UInt8] {
    var out: [UInt8] = []
    for e in entries {
      withUnsafeBytes(of: e.cpu.littleEndian) { out += $0 }
      withUnsafeBytes(of: UInt32(e.bytes.count).littleEndian) { out += $0 }
      out += e.bytes
    }
    return out
  }
}

/// Recorded tracepoint formats and ring records from this machine (Linux 6.18), replayed
/// through the decoder and the merge; and a hand-written pre-5.6 format, whose one-byte
/// `protocol` moves every later field.
@Suite struct TransitionReplayTests {
  static func format(_ file: String) throws -> [UInt8] {
    try bytes(traceFixtures.appendingPathComponent(file))
  }

  static func layouts() throws -> [TracepointLayout] {
    try recordedTracepoints.map { (name, kind, file) in
      try TracepointLayout.parse(format: format(file), kind: kind, name: name)
    }
  }

  static let session: RecordedSession? = try? JSONDecoder().decode(
    RecordedSession.self,
    from: Data(contentsOf: traceFixtures.appendingPathComponent("session.json")))

  static func replay(_ recording: [UInt8], _ layouts: [TracepointLayout]) throws
    -> [TransitionEvent]
  {
    var out: [TransitionEvent] = []
    try TransitionSource.replay(recording, layouts: layouts) { out.append($0) }
    return out
  }

  static func transitions(_ events: [TransitionEvent]) -> [Transition] {
    events.compactMap {
      if case .transition(let t) = $0 { return t }
      return nil
    }
  }

  /// Each recorded format parses to the offsets and sizes tracefs printed.
  @Test func recordedFormatsParse() throws {
    let l = try Self.layouts()
    let state = l[0]
    #expect(state.id == 2287 && state.kind == .stateChange && !state.usesSockaddr)
    let expected: [String: TracepointLayout.Field] = [
      "skaddr": .init(offset: 8, size: 8), "oldstate": .init(offset: 16, size: 4),
      "newstate": .init(offset: 20, size: 4), "sport": .init(offset: 24, size: 2),
      "dport": .init(offset: 26, size: 2), "family": .init(offset: 28, size: 2),
      "protocol": .init(offset: 30, size: 2), "saddr": .init(offset: 32, size: 4),
      "daddr": .init(offset: 36, size: 4), "saddr_v6": .init(offset: 40, size: 16),
      "daddr_v6": .init(offset: 56, size: 16),
    ]
    #expect(state.fields == expected)
    #expect(state.minimumSize == 72)
    // tcp_send_reset keeps both ends as sockaddr_in6-sized structs, no ports beside them.
    let sent = l[1]
    #expect(sent.usesSockaddr && sent.fields["sport"] == nil)
    #expect(sent.fields["saddr"] == .init(offset: 32, size: 28))
    #expect(sent.fields["state"] == .init(offset: 24, size: 4))
    #expect(sent.fields["sock_cookie"] == nil)
    let received = l[2]
    #expect(received.fields["sock_cookie"] == .init(offset: 64, size: 8))
    #expect(received.fields["state"] == nil && received.fields["protocol"] == nil)
    let retransmit = l[3]
    #expect(retransmit.fields["sport"] == .init(offset: 28, size: 2))
    #expect(retransmit.fields["saddr_v6"] == .init(offset: 42, size: 16))
  }

  /// Before Linux 5.6 `protocol` was a __u8: everything after it sits one byte earlier.
  @Test func pre56FormatParses() throws {
    let old = try TracepointLayout.parse(
      format: Self.format("inet_sock_set_state.pre-5.6.format"), kind: .stateChange,
      name: "sock:inet_sock_set_state")
    #expect(old.id == 1382)
    #expect(old.fields["protocol"] == .init(offset: 30, size: 1))
    #expect(old.fields["saddr"] == .init(offset: 31, size: 4))
    #expect(old.fields["daddr"] == .init(offset: 35, size: 4))
    #expect(old.fields["saddr_v6"] == .init(offset: 39, size: 16))
    #expect(old.fields["daddr_v6"] == .init(offset: 55, size: 16))
    #expect(old.minimumSize == 71)
  }

  /// The recorded session decodes to what it did: each connection's changes at both ends, in
  /// order, the resets, the retransmitted SYN.
  @Test func recordedSessionDecodesToItsFacts() throws {
    let session = try #require(Self.session)
    let events = try Self.replay(
      bytes(traceFixtures.appendingPathComponent("samples.bin")), Self.layouts())
    let all = Self.transitions(events)
    #expect(all.count == events.count, "no loss in the recording")
    #expect(
      zip(all, all.dropFirst()).allSatisfy { $0.monotonicNanoseconds <= $1.monotonicNanoseconds })
    let v4 = IPAddress(
      family: .inet, bytes: session.v4.split(separator: ".").compactMap { UInt8($0) })
    let v6 = all.first { $0.family == .inet6 }?.local.address
    #expect(v6.map(addressText) == session.v6)

    func changes(_ local: Endpoint, _ remote: Endpoint) -> [[UInt8]] {
      all.filter { $0.kind == .stateChange && $0.local == local && $0.remote == remote }
        .map { [$0.oldStateCode, $0.newStateCode] }
    }
    let server4 = Endpoint(address: v4, port: session.port)
    let closeFirst = [[7, 2], [2, 1], [1, 4], [4, 5], [5, 7]] as [[UInt8]]
    let closeSecond = [[10, 3], [3, 1], [1, 8], [8, 9], [9, 7]] as [[UInt8]]
    let client1 = Endpoint(address: v4, port: session.clientFirst)
    #expect(changes(client1, server4) == closeFirst)
    #expect(changes(server4, client1) == closeSecond)
    if let v6 {
      let server6 = Endpoint(address: v6, port: session.port)
      let client2 = Endpoint(address: v6, port: session.serverFirst)
      #expect(changes(client2, server6) == [[7, 2], [2, 1], [1, 8], [8, 9], [9, 7]])
      #expect(changes(server6, client2) == [[10, 3], [3, 1], [1, 4], [4, 5], [5, 7]])
      #expect(all.filter { $0.local == client2 }.allSatisfy { $0.family == .inet6 })
    }
    let client3 = Endpoint(address: v4, port: session.reset)
    #expect(changes(client3, server4) == [[7, 2], [2, 1], [1, 7]])
    #expect(changes(server4, client3) == [[10, 3], [3, 1], [1, 7]])
    // One socket, one kernel address, for its whole life; no cookie on this tracepoint.
    let lives = all.filter { $0.kind == .stateChange && $0.local == client1 }
    #expect(Set(lives.map(\.socketAddress)).count == 1 && lives[0].socketAddress != 0)
    #expect(lives.allSatisfy { $0.cookie == nil && $0.protocolNumber == 6 && $0.transport == .tcp })

    let sent = all.filter { $0.kind == .resetSent && $0.local == client3 }
    #expect(sent.count == 1)
    #expect(sent.first?.remote == server4)
    #expect(sent.first?.newState == .close)  // the client closed, then sent its RST
    // The same socket as the reset client's state changes.
    let resetClient = all.first { $0.kind == .stateChange && $0.local == client3 }
    #expect(sent.first?.socketAddress == resetClient?.socketAddress)
    let received = all.filter { $0.kind == .resetReceived && $0.local == server4 }
    #expect(received.count == 1)
    #expect(received.first?.remote == client3)
    #expect(received.first?.cookie.map { $0 != 0 } == true)

    let late = Endpoint(address: v4, port: session.retransmitted)
    let retransmits = all.filter { $0.kind == .retransmit }
    #expect(retransmits.count >= 1)
    #expect(retransmits.first?.local == late && retransmits.first?.remote == server4)
    #expect(retransmits.first?.newState == .synSent)
  }

  /// The same records, rewritten in the pre-5.6 layout (a one-byte protocol, every later
  /// field a byte earlier, another id), decode to the same transitions.
  @Test func pre56LayoutDecodesTheSame() throws {
    let layouts = try Self.layouts()
    let new = layouts[0]
    let old = try TracepointLayout.parse(
      format: Self.format("inet_sock_set_state.pre-5.6.format"), kind: .stateChange,
      name: "sock:inet_sock_set_state")
    let recording = try bytes(traceFixtures.appendingPathComponent("samples.bin"))
    let entries = RingRecording.entries(recording)
    let rewritten = entries.map { e -> RecordedEntry in
      guard e.type == UInt16(new.id) else { return e }
      let raw = e.raw
      var out = [UInt8](repeating: 0, count: old.minimumSize)
      out[0] = UInt8(old.id & 0xff)
      out[1] = UInt8(old.id >> 8)
      for (name, f) in old.fields {
        // swift-format-ignore: NeverForceUnwrap
        let from = new.fields[name]!
        // Little-endian: narrowing keeps the low bytes.
        for i in 0..<min(f.size, from.size) { out[f.offset + i] = raw[from.offset + i] }
      }
      return RecordedEntry.sample(cpu: e.cpu, time: e.time, raw: out)
    }
    let expected = Self.transitions(try Self.replay(recording, layouts))
    let decoded = Self.transitions(
      try Self.replay(RingRecording.bytes(rewritten), [old] + layouts.dropFirst()))
    #expect(decoded == expected)
    #expect(entries.contains { $0.type == UInt16(new.id) })
  }

  /// Each CPU's records in file order, the CPUs merged by time: records split over two CPUs
  /// and written one CPU after the other come out in time order, the same as before.
  @Test func cpusAreMergedByTime() throws {
    let layouts = try Self.layouts()
    let recording = try bytes(traceFixtures.appendingPathComponent("samples.bin"))
    let entries = RingRecording.entries(recording)
    let even = entries.enumerated().filter { $0.offset % 2 == 0 }.map {
      RecordedEntry(cpu: 0, bytes: $0.element.bytes)
    }
    let odd = entries.enumerated().filter { $0.offset % 2 == 1 }.map {
      RecordedEntry(cpu: 3, bytes: $0.element.bytes)
    }
    let split = Self.transitions(try Self.replay(RingRecording.bytes(odd + even), layouts))
    let original = Self.transitions(try Self.replay(recording, layouts))
    #expect(split.map(\.monotonicNanoseconds) == original.map(\.monotonicNanoseconds))
    #expect(split.map(\.socketAddress) == original.map(\.socketAddress))
    #expect(Set(split.map(\.cpu)) == [0, 3])
  }

  /// A PERF_RECORD_LOST in a recording is delivered where it lies in time, with its count.
  @Test func lostRecordIsDeliveredInPlace() throws {
    let layouts = try Self.layouts()
    var entries = RingRecording.entries(
      try bytes(traceFixtures.appendingPathComponent("samples.bin")))
    let middle = entries[entries.count / 2].time
    entries.insert(.lost(cpu: entries[0].cpu, count: 7, time: middle), at: entries.count / 2)
    let events = try Self.replay(RingRecording.bytes(entries), layouts)
    let index = try #require(events.firstIndex { if case .lost = $0 { true } else { false } })
    #expect(events[index] == .lost(count: 7, monotonicNanoseconds: middle))
    let before = Self.transitions(Array(events[..<index]))
    let after = Self.transitions(Array(events[(index + 1)...]))
    #expect(before.allSatisfy { $0.monotonicNanoseconds <= middle })
    #expect(after.allSatisfy { $0.monotonicNanoseconds >= middle })
  }

  /// A recording cut short is refused before anything is delivered.
  @Test func truncatedRecordingIsRefused() throws {
    let recording = try bytes(traceFixtures.appendingPathComponent("samples.bin"))
    var delivered = 0
    #expect(
      throws: TransitionSourceError.malformedFormat(tracepoint: "recording", reason: "Bad message")
    ) {
      try TransitionSource.replay(Array(recording.dropLast(3)), layouts: Self.layouts()) { _ in
        delivered += 1
      }
    }
    #expect(delivered == 0)
  }

  /// Records of a tracepoint no layout has, or too short for theirs, are skipped.
  @Test func unknownAndShortRecordsAreSkipped() throws {
    let layouts = try Self.layouts()
    let entries = RingRecording.entries(
      try bytes(traceFixtures.appendingPathComponent("samples.bin")))
    let first = entries[0]
    var unknown = first.raw
    unknown[0] = 0xff
    unknown[1] = 0xff
    let short = Array(first.raw.prefix(40))
    let mangled = [
      RecordedEntry.sample(cpu: 0, time: first.time, raw: unknown),
      RecordedEntry.sample(cpu: 0, time: first.time, raw: short), first,
    ]
    let events = try Self.replay(RingRecording.bytes(mangled), layouts)
    #expect(events.count == 1)
  }

  /// A format without a field swstat needs, or with one of a size it cannot read, is refused
  /// with a line that says which.
  @Test func formatErrorsSayWhich() throws {
    let text = String(decoding: try Self.format("inet_sock_set_state.format"), as: UTF8.self)
    let name = "sock:inet_sock_set_state"
    func parse(_ s: String, _ kind: Transition.Kind = .stateChange) throws {
      _ = try TracepointLayout.parse(format: Array(s.utf8), kind: kind, name: name)
    }
    let noNewstate = text.split(separator: "\n").filter { !$0.contains("newstate;") }
      .joined(separator: "\n")
    #expect(
      throws: TransitionSourceError.malformedFormat(tracepoint: name, reason: "no field newstate")
    ) {
      try parse(noNewstate)
    }
    let wideProtocol = text.replacingOccurrences(
      of: "protocol;\toffset:30;\tsize:2;", with: "protocol;\toffset:30;\tsize:4;")
    #expect(
      throws: TransitionSourceError.malformedFormat(
        tracepoint: name, reason: "field protocol: size 4 not understood")
    ) { try parse(wideProtocol) }
    #expect(
      throws: TransitionSourceError.malformedFormat(
        tracepoint: name, reason: "no field common_type")
    ) { try parse("name: x\nID: 5\nformat:\n") }
    #expect(
      throws: TransitionSourceError.malformedFormat(
        tracepoint: name, reason: "field skaddr: no offset or size")
    ) { try parse(text.replacingOccurrences(of: "skaddr;\toffset:8;", with: "skaddr;\toff:8;")) }
    #expect(
      throws: TransitionSourceError.malformedFormat(
        tracepoint: name, reason: "field oldstate twice")
    ) { try parse(text + "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n") }
    let description = TransitionSourceError.malformedFormat(
      tracepoint: name, reason: "no field newstate"
    )
    .description
    #expect(
      description == "tracepoint sock:inet_sock_set_state: unexpected format: no field newstate")
  }

  /// The kernel filter each tracepoint gets: `protocol == 6` where it has the field, the port
  /// conditions where it has sport and dport (tcp_send_reset has neither: checked after
  /// decoding).
  @Test func kernelFilters() throws {
    let l = try Self.layouts()
    let ports = TransitionSource.Options(
      localPorts: 80...80, remotePorts: 1000...2000, eitherPort: 443...443)
    #expect(
      TransitionSource.kernelFilter(for: l[0], options: ports)
        == "protocol == 6 && sport == 80 && (dport >= 1000 && dport <= 2000) && (sport == 443 || dport == 443)"
    )
    #expect(TransitionSource.kernelFilter(for: l[0], options: .init()) == "protocol == 6")
    #expect(TransitionSource.kernelFilter(for: l[1], options: ports) == "")
    #expect(
      TransitionSource.kernelFilter(for: l[2], options: .init(eitherPort: 5000...5000))
        == "(sport == 5000 || dport == 5000)")
  }

  /// Records of tracepoints without port fields (tcp_send_reset) are filtered after decoding.
  @Test func portsAreCheckedAfterDecoding() throws {
    let session = try #require(Self.session)
    let recording = try bytes(traceFixtures.appendingPathComponent("samples.bin"))
    var events: [TransitionEvent] = []
    try TransitionSource.replay(
      recording, layouts: Self.layouts(), options: .init(localPorts: session.reset...session.reset)
    ) { events.append($0) }
    let all = Self.transitions(events)
    #expect(!all.isEmpty && all.allSatisfy { $0.local.port == session.reset })
    #expect(all.contains { $0.kind == .resetSent })
  }

  /// The one line a user sees when the tracepoint is forced without the privilege for it.
  @Test func permissionDeniedLine() {
    #expect(
      TransitionSourceError.permissionDenied(tracepoint: TransitionSource.stateTracepoint)
        .description
        == "tracepoint sock:inet_sock_set_state: Permission denied (root or CAP_PERFMON)")
  }
}
