import Foundation
import SwstatCore
import Testing

@testable import SwstatRender

/// The `--info`/`--memory`/`--cgroup` line and JSON members from plain values: ss's number
/// formats against the C library's own printf, the token order and hiding rules of ss's
/// tcp_stats_print, and JSON that parses with the documented units.
@Suite struct ExtrasRenderTests {
  /// What `body` writes through a row cursor, as a string.
  static func text(_ body: (inout RowCursor) -> Void) -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBufferPointer { b in
      // swift-format-ignore: NeverForceUnwrap
      var c = RowCursor(b.baseAddress!)
      body(&c)
      // swift-format-ignore: NeverForceUnwrap
      return c.p - b.baseAddress!
    }
    return String(decoding: buffer[..<n], as: UTF8.self)
  }

  /// The integer fast path of `%g` for microseconds shown in milliseconds is the C library's.
  @Test func millisecondsAreGlibcPercentG() {
    var values = Array(stride(from: UInt64(0), through: 200_000, by: 7))
    values += [999, 1000, 1001, 99_999, 100_000, 999_999, 1_000_000, 1_234_567, 3_000_000]
    values += [4_294_967_295, 12_345_678_901]
    for v in values {
      let mine = Self.text { PrintfNumbers.milliseconds(v, &$0) }
      #expect(mine == String(format: "%g", Double(v) / 1000), "\(v)")
    }
  }

  /// JSON's milliseconds are the exact decimal of the microseconds, no trailing zero.
  @Test func exactMillisecondsAreExact() {
    for v: UInt64 in [0, 1, 10, 100, 204_000, 35, 1_234_567, 999_999_999, UInt64.max] {
      let mine = Self.text { PrintfNumbers.exactMilliseconds(v, &$0) }
      #expect(!mine.hasSuffix("0") || !mine.contains("."), "\(mine)")
      #expect(!mine.hasSuffix("."), "\(mine)")
      let parts = mine.split(separator: ".")
      #expect(UInt64(parts[0]) == v / 1000)
      let fraction = parts.count > 1 ? String(parts[1]) : ""
      #expect(UInt64((fraction + "000").prefix(3)) == v % 1000, "\(mine)")
    }
  }

  /// BBR's gains (x / 256) as exact decimals.
  @Test func fractionsOf256AreExact() {
    for n in Array(UInt32(0)..<4096) + [UInt32.max, 739, 320, 192] {
      let mine = Self.text { PrintfNumbers.exactFraction256(n, &$0) }
      #expect(Double(mine) == Double(n) / 256, "\(n): \(mine)")
      #expect(!(mine.contains(".") && mine.hasSuffix("0")), "\(mine)")
    }
  }

  /// sprint_bw: `%.0f` with -n (ties to even, as glibc), else `%.3g` and a suffix.
  @Test func bandwidthIsSprintBW() {
    for v in [0, 0.5, 1.5, 2.5, 999.5, 1000, 1_234_567.5, 8e9, 1.25e12, 3e19, 654_820_000_000] {
      let numeric = Self.text { PrintfNumbers.bandwidth(v, numeric: true, &$0) }
      #expect(numeric == String(format: "%.0f", v), "\(v)")
      let short = Self.text { PrintfNumbers.bandwidth(v, numeric: false, &$0) }
      let expected =
        v >= 1e12
        ? String(format: "%.3gT", v / 1e12)
        : v >= 1e9
          ? String(format: "%.3gG", v / 1e9)
          : v >= 1e6
            ? String(format: "%.3gM", v / 1e6)
            : v >= 1e3 ? String(format: "%.3gk", v / 1e3) : String(format: "%g", v)
      #expect(short == expected, "\(v)")
    }
  }

  /// A tcp_info with every token ss prints, for a connected socket.
  static var busyInfo: TCPInfo {
    var i = TCPInfo()
    i.length = TCPInfo.knownLength
    i.options = [.timestamps, .sack, .windowScale]
    i.sendWindowScale = 7
    i.receiveWindowScale = 9
    i.retransmissionTimeout = 204_000
    i.backoff = 2
    i.roundTripTime = 35
    i.roundTripTimeVariance = 17
    i.delayedAckTimeout = 40_000
    i.sendMSS = 32768
    i.pathMTU = 65535
    i.receiveMSS = 536
    i.advertisedMSS = 65483
    i.congestionWindow = 10
    i.slowStartThreshold = 20
    i.bytesSent = 1_048_576
    i.bytesRetransmitted = 1448
    i.bytesAcknowledged = 1_048_577
    i.bytesReceived = 65536
    i.segmentsOut = 40
    i.segmentsIn = 30
    i.dataSegmentsOut = 33
    i.dataSegmentsIn = 2
    i.lastDataSent = 120
    i.lastDataReceived = 0
    i.lastAckReceived = 110
    i.pacingRate = 1_000_000
    i.maxPacingRate = ~0
    i.deliveryRate = 125_000
    i.delivered = 34
    i.deliveryRateAppLimited = true
    i.busyTime = 1_000_000
    i.receiveWindowLimitedTime = 250_000
    i.sendBufferLimitedTime = 0
    i.unacknowledged = 1
    i.retransmitting = 1
    i.totalRetransmits = 5
    i.lost = 1
    i.selectivelyAcknowledged = 2
    i.duplicateSACKs = 1
    i.reordering = 5
    i.receiveRoundTripTime = 1500
    i.receiveSpace = 65495
    i.receiveSlowStartThreshold = 65495
    i.notSentBytes = 100
    i.minimumRoundTripTime = 20
    i.outOfOrderPacketsReceived = 3
    i.sendWindow = 65483
    i.receiveWindow = 65536
    i.rehash = 1
    return i
  }

  @Test func lineFollowsTCPStatsPrint() {
    let x = SocketExtras(
      tcpInfo: Self.busyInfo, congestion: "cubic",
      dctcp: DCTCPInfo(
        enabled: true, ceState: 1, alpha: 2, acknowledgedECN: 3, acknowledgedTotal: 4),
      bbr: BBRInfo(
        bandwidth: 125_000, minimumRTT: 20, pacingGain: 739, congestionWindowGain: 512),
      memory: SocketMemory(values: 1...9))
    let store = SocketExtrasStore(kinds: [.info, .memory])
    let line = SocketExtrasText(store: store, numeric: true).tokens(x, state: 1)
    #expect(
      line == " skmem:(r1,rb2,t3,tb4,f5,w6,o7,bl8,d9) cubic wscale:7,9 rto:204 backoff:2"
        + " rtt:0.035/0.017 ato:40 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10"
        + " ssthresh:20 bytes_sent:1048576 bytes_retrans:1448 bytes_acked:1048577"
        + " bytes_received:65536 segs_out:40 segs_in:30 data_segs_out:33 data_segs_in:2"
        + " dctcp:(ce_state:1,alpha:2,ab_ecn:3,ab_tot:4)"
        + " bbr:(bw:1000000bps,mrtt:0.02,pacing_gain:2.88672,cwnd_gain:2)"
        + " send 74898285714bps lastsnd:120 lastack:110 pacing_rate 8000000bps"
        + " delivery_rate 1000000bps delivered:34 app_limited busy:1000ms"
        + " rwnd_limited:250ms(25.0%) unacked:1 retrans:1/5 lost:1 sacked:2 dsack_dups:1"
        + " reordering:5 rcv_rtt:1.5 rcv_space:65495 rcv_ssthresh:65495 notsent:100"
        + " minrtt:0.02 rcv_ooopack:3 snd_wnd:65483 rcv_wnd:65536 rehash:1",
      "\(line)")
    // -o's option words come first; without -n the rates are ss's short form.
    let short = SocketExtrasText(store: store, numeric: false, options: true).tokens(x, state: 1)
    #expect(short.hasPrefix(" skmem:(r1,rb2,t3,tb4,f5,w6,o7,bl8,d9) ts sack cubic wscale:7,9"))
    #expect(short.contains(" send 74.9Gbps ") && short.contains(" pacing_rate 8Mbps "))
    #expect(short.contains("bbr:(bw:1Mbps,"))
  }

  /// ss's hiding rules: zeros, the initial 3 s RTO, an infinite ssthresh, reordering 3, an
  /// unsampled min RTT, a listener's `sacked` (its backlog), DCTCP's fallback; fields the kernel
  /// did not send are left out as ss leaves out zeros.
  @Test func hiddenAsSSHidesThem() {
    var i = TCPInfo()
    i.retransmissionTimeout = 3_000_000
    i.slowStartThreshold = 0x7fff_ffff
    i.reordering = 3
    i.minimumRoundTripTime = ~0
    i.selectivelyAcknowledged = 128
    i.pacingRate = ~0
    i.sendMSS = 0
    i.options = [.sack]
    i.sendWindowScale = 7
    i.receiveWindowScale = 7
    let text = SocketExtrasText(store: SocketExtrasStore(kinds: [.info]), numeric: true)
    let listener = text.tokens(SocketExtras(tcpInfo: i, congestion: "reno"), state: 10)
    #expect(listener == " reno", "\(listener)")
    let connected = text.tokens(
      SocketExtras(
        tcpInfo: i,
        dctcp: DCTCPInfo(
          enabled: false, ceState: 0, alpha: 0, acknowledgedECN: 0, acknowledgedTotal: 0)),
      state: 1)
    #expect(connected == " dctcp:fallback_mode sacked:128", "\(connected)")
    // Memory from an old kernel: as many values as came.
    let old = text.tokens(
      SocketExtras(memory: SocketMemory(values: [5, 6, 7, 8, 9, 10, 11])), state: 1)
    #expect(old == " skmem:(r5,rb6,t7,tb8,f9,w10,o11)")
    #expect(text.tokens(SocketExtras(), state: 1) == "")
  }

  /// The table: a row with extras gets its line (and the store lets go of them), one without
  /// gets none; `cgroup:` shows the path, or `unreachable:<hex>`.
  @Test func tableHook() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-extras-\(getpid())-\(UUID())"
    ).path
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    defer { unlink(path) }
    let out = OutputBuffer(fd: fd)
    var options = NetstatOptions()
    options.numericHosts = true
    options.numericPorts = true
    options.header = false
    let table = NetstatTable(options: options, output: out)
    let store = SocketExtrasStore(kinds: [.info, .memory, .cgroup])
    table.extras = SocketExtrasText(
      store: store, cgroups: CgroupPaths(mount: "/nonexistent-swstat"))
    try table.begin(Section())
    var a = sampleRecords[3]
    a.cookie = 7
    var b = sampleRecords[3]
    b.cookie = 8
    store.insert(
      SocketExtras(memory: SocketMemory(values: [0, 212_992]), cgroupID: 0x2a), for: 7)
    try table.write(a)
    try table.write(b)
    try out.flush()
    close(fd)
    #expect(store.count == 0)
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 3)
    #expect(lines[1] == "\t skmem:(r0,rb212992) cgroup:unreachable:2a", "\(lines[1])")
    #expect(lines[2].hasPrefix("tcp6 "))
  }

  /// The JSON members: units in the names, left out past a short tcp_info, null for the
  /// kernel's "none" values and for sockets the kernel sent nothing for.
  @Test func jsonMembers() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-extras-json-\(getpid())-\(UUID())"
    ).path
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    defer { unlink(path) }
    let out = OutputBuffer(fd: fd)
    let json = SocketJSON(output: out)
    let store = SocketExtrasStore(kinds: [.info, .memory, .cgroup])
    json.extras = SocketExtrasJSON(store: store, cgroups: CgroupPaths(mount: "/nonexistent"))
    try json.begin(Section())
    var full = sampleRecords[3]
    full.cookie = 1
    store.insert(
      SocketExtras(
        tcpInfo: Self.busyInfo, congestion: "bbr",
        bbr: BBRInfo(
          bandwidth: 125_000, minimumRTT: 20, pacingGain: 739, congestionWindowGain: 512),
        memory: SocketMemory(values: 1...9), cgroupID: 0x2a), for: 1)
    try json.write(full)
    var short = sampleRecords[3]
    short.cookie = 2
    let cut = [UInt8](repeating: 0, count: 20).withUnsafeBytes { TCPInfo(kernelBytes: $0) }
    store.insert(SocketExtras(tcpInfo: cut), for: 2)
    try json.write(short)
    var none = sampleRecords[3]
    none.cookie = 3
    try json.write(none)
    try out.flush()
    close(fd)
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 3)
    let objects = try lines.map {
      try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    let info = try #require(objects[0]["tcp_info"] as? [String: Any])
    #expect(info["rtt_ms"] as? Double == 0.035)
    #expect(info["rto_ms"] as? Double == 204)
    #expect(info["busy_ms"] as? Double == 1000)
    #expect(info["rcv_rtt_ms"] as? Double == 1.5)
    #expect(info["pacing_rate_bps"] as? Int == 8_000_000)
    #expect(info["max_pacing_rate_bps"] is NSNull)
    #expect(info["delivery_rate_bps"] as? Int == 1_000_000)
    #expect(info["send_rate_bps"] as? Int == 74_898_285_714)
    #expect(info["options"] as? [String] == ["ts", "sack", "wscale"])
    #expect(info["snd_wscale"] as? Int == 7 && info["rcv_wscale"] as? Int == 9)
    #expect(info["congestion_control"] as? String == "bbr")
    let bbr = try #require(info["bbr"] as? [String: Any])
    #expect(bbr["pacing_gain"] as? Double == 739.0 / 256)
    #expect(bbr["bw_bps"] as? Int == 1_000_000)
    #expect(info["state"] == nil, "unset in the test's TCPInfo, so left out")
    let memory = try #require(objects[0]["memory"] as? [String: Int])
    #expect(memory["rcvbuf"] == 2 && memory["drops"] == 9 && memory.count == 9)
    #expect(objects[0]["cgroup"] as? String == "unreachable:2a")
    #expect(objects[0]["cgroup_id"] as? Int == 42)
    // 20 bytes: up to snd_mss; no rcv_mss, nothing after.
    let shortInfo = try #require(objects[1]["tcp_info"] as? [String: Any])
    #expect(shortInfo["snd_mss"] as? Int == 0)
    #expect(shortInfo["rcv_mss"] == nil && shortInfo["bytes_acked"] == nil)
    #expect(shortInfo.count == 13, "\(shortInfo.keys.sorted())")
    #expect(objects[1]["memory"] is NSNull)
    for member in ["tcp_info", "memory", "cgroup", "cgroup_id"] {
      #expect(objects[2][member] is NSNull, "\(member)")
    }
  }
}
