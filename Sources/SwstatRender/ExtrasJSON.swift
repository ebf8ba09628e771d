import SwstatCore

/// The members `--info`, `--memory` and `--cgroup` add to each `--json` socket object, after
/// `timer` (socket.schema.json has them):
///
///     "tcp_info":{"state":1,"ca_state":0,…,"rto_ms":204,"rtt_ms":0.035,"rttvar_ms":0.017,…,
///                 "congestion_control":"cubic"},
///     "memory":{"rmem_alloc":0,"rcvbuf":131072,…,"drops":0},
///     "cgroup":"/system.slice/x.service","cgroup_id":1234
///
/// Each member asked for is in every object: `null` when the kernel sent nothing for the socket
/// (TIME_WAIT and request sockets; UDP has no tcp_info). Inside `tcp_info` the names are the
/// kernel's without `tcpi_`, with their units: `_ms` members are milliseconds (exact decimals of
/// the kernel's microseconds, or its milliseconds), `_bps` members bits per second (the kernel's
/// bytes per second × 8), the rest counts, bytes or segments as the kernel gives them. A field
/// the running kernel's tcp_info is too short to hold is left out; a field the kernel holds with
/// its "none" value is `null`: `snd_ssthresh` before the first loss (0x7fffffff),
/// `pacing_rate_bps`/`max_pacing_rate_bps` when unlimited (~0), `min_rtt_ms` before any sample.
/// `send_rate_bps` is ss's `send` (cwnd × mss × 8 / rtt), rounded.
public final class SocketExtrasJSON {
  /// Where the dump put each socket's extras (the query's `extras`); its `kinds` say which
  /// members every object has.
  public let store: SocketExtrasStore
  /// Where cgroup ids become paths (nil: `cgroup` is null, `cgroup_id` still given).
  public let cgroups: CgroupPaths?

  /// A writer of the extras in `store`; `cgroups` maps ids to paths for `.cgroup`.
  public init(store: SocketExtrasStore, cgroups: CgroupPaths? = nil) {
    self.store = store
    self.cgroups = cgroups
  }

  /// What was asked: which members every object has.
  public var kinds: SocketExtras.Kinds { store.kinds }

  /// Longest cgroup path written (bytes, before escaping).
  static let pathLimit = 4096

  /// Writes the members for `r` from the store (each after a comma; the store drops them). The
  /// caller has its row open at `c`: it is committed, and on return `c` is a fresh open row
  /// for the caller to go on with.
  public func write(_ r: borrowing SocketRecord, row c: inout RowCursor, out: OutputBuffer)
    throws(OutputError)
  {
    try write(store.take(for: r), row: &c, out: out)
  }

  /// Writes the members for extras `x` (nil: the kernel sent none), as `write(_:row:out:)`: for
  /// extras held elsewhere, such as an event's `closing`.
  public func write(_ x: SocketExtras?, row c: inout RowCursor, out: OutputBuffer)
    throws(OutputError)
  {
    let kinds = self.kinds
    guard !kinds.isEmpty else { return }
    if kinds.contains(.info) {
      c.put(",\"tcp_info\":")
      if let x, let info = x.tcpInfo {
        out.commitRow(c.p)
        c = RowCursor(try out.reserveRow(8192))
        Self.info(info, x, &c)
      } else {
        c.put("null")
      }
    }
    if kinds.contains(.memory) {
      c.put(",\"memory\":")
      if let m = x?.memory { Self.memory(m, &c) } else { c.put("null") }
    }
    if kinds.contains(.cgroup) {
      out.commitRow(c.p)
      c = RowCursor(try out.reserveRow(6 * Self.pathLimit + 256))
      c.put(",\"cgroup\":")
      if let id = x?.cgroupID, let cgroups {
        cgroups.path(of: id).withUnsafeBytes {
          c.jsonString(UnsafeRawBufferPointer(rebasing: $0.prefix(Self.pathLimit)))
        }
      } else {
        c.put("null")
      }
      c.put(",\"cgroup_id\":")
      if let id = x?.cgroupID { c.decimal(id) } else { c.put("null") }
    }
    out.commitRow(c.p)
    c = RowCursor(try out.reserveRow())
  }

  /// `{"rmem_alloc":…,"rcvbuf":…,…}`: SK_MEMINFO_* names, bytes (drops: packets).
  static func memory(_ m: SocketMemory, _ c: inout RowCursor) {
    var first = true
    @inline(__always) func member(_ key: StaticString, _ v: UInt32?) {
      guard let v else { return }
      c.put(first ? 0x7b : 0x2c)
      first = false
      c.key(key)
      c.decimal(UInt64(v))
    }
    member("rmem_alloc", m.receiveAllocated)
    member("rcvbuf", m.receiveBuffer)
    member("wmem_alloc", m.transmitAllocated)
    member("sndbuf", m.transmitBuffer)
    member("fwd_alloc", m.forwardAllocated)
    member("wmem_queued", m.transmitQueued)
    member("optmem", m.optionMemory)
    member("backlog", m.backlog)
    member("drops", m.drops)
    if first { c.put(0x7b) }
    c.put(0x7d)
  }

  /// The tcp_info object (see the type's comment).
  static func info(_ i: TCPInfo, _ x: SocketExtras, _ c: inout RowCursor) {
    var first = true
    @inline(__always) func open(_ key: StaticString) {
      c.put(first ? 0x7b : 0x2c)
      first = false
      c.key(key)
    }
    @inline(__always) func int(_ key: StaticString, _ v: UInt64?) {
      guard let v else { return }
      open(key)
      c.decimal(v)
    }
    @inline(__always) func u32(_ key: StaticString, _ v: UInt32?) { int(key, v.map(UInt64.init)) }
    @inline(__always) func u8(_ key: StaticString, _ v: UInt8?) { int(key, v.map(UInt64.init)) }
    @inline(__always) func ms(_ key: StaticString, micros v: UInt64?) {
      guard let v else { return }
      open(key)
      PrintfNumbers.exactMilliseconds(v, &c)
    }
    @inline(__always) func bits(_ key: StaticString, _ bytesPerSecond: UInt64?, none: Bool) {
      guard let v = bytesPerSecond else { return }
      open(key)
      if none && v == ~0 {
        c.put("null")
      } else {
        let (product, overflow) = v.multipliedReportingOverflow(by: 8)
        if overflow { PrintfNumbers.wholeNumber(Double(v) * 8, &c) } else { c.decimal(product) }
      }
    }
    u8("state", i.state)
    u8("ca_state", i.congestionState)
    u8("retransmits", i.retransmits)
    u8("probes", i.probes)
    u8("backoff", i.backoff)
    if let o = i.options {
      open("options")
      c.put(0x5b)
      var firstOption = true
      @inline(__always) func option(_ bit: TCPInfo.Options, _ name: StaticString) {
        guard o.contains(bit) else { return }
        if !firstOption { c.put(0x2c) }
        firstOption = false
        c.put(0x22)
        c.put(name)
        c.put(0x22)
      }
      // ss's words (-o), in its order.
      option(.timestamps, "ts")
      option(.microsecondTimestamps, "usec_ts")
      option(.sack, "sack")
      option(.ecn, "ecn")
      option(.ecnSeen, "ecnseen")
      option(.synData, "fastopen")
      option(.windowScale, "wscale")
      c.put(0x5d)
    }
    if i.sendWindowScale != nil {
      // Meaningful only when window scaling was negotiated.
      let scaled = i.options?.contains(.windowScale) == true
      open("snd_wscale")
      if scaled, let v = i.sendWindowScale { c.decimal(UInt64(v)) } else { c.put("null") }
      open("rcv_wscale")
      if scaled, let v = i.receiveWindowScale { c.decimal(UInt64(v)) } else { c.put("null") }
    }
    if let limited = i.deliveryRateAppLimited {
      open("delivery_rate_app_limited")
      c.put(limited ? "true" : "false")
    }
    u8("fastopen_client_fail", i.fastOpenClientFail)
    ms("rto_ms", micros: i.retransmissionTimeout.map(UInt64.init))
    ms("ato_ms", micros: i.delayedAckTimeout.map(UInt64.init))
    u32("snd_mss", i.sendMSS)
    u32("rcv_mss", i.receiveMSS)
    u32("unacked", i.unacknowledged)
    u32("sacked", i.selectivelyAcknowledged)
    u32("lost", i.lost)
    u32("retrans", i.retransmitting)
    u32("fackets", i.forwardAcknowledged)
    u32("last_data_sent_ms", i.lastDataSent)
    u32("last_ack_sent_ms", i.lastAckSent)
    u32("last_data_recv_ms", i.lastDataReceived)
    u32("last_ack_recv_ms", i.lastAckReceived)
    u32("pmtu", i.pathMTU)
    u32("rcv_ssthresh", i.receiveSlowStartThreshold)
    ms("rtt_ms", micros: i.roundTripTime.map(UInt64.init))
    ms("rttvar_ms", micros: i.roundTripTimeVariance.map(UInt64.init))
    if let t = i.slowStartThreshold {
      open("snd_ssthresh")
      if t >= 0x7fff_ffff { c.put("null") } else { c.decimal(UInt64(t)) }
    }
    u32("snd_cwnd", i.congestionWindow)
    u32("advmss", i.advertisedMSS)
    u32("reordering", i.reordering)
    ms("rcv_rtt_ms", micros: i.receiveRoundTripTime.map(UInt64.init))
    u32("rcv_space", i.receiveSpace)
    u32("total_retrans", i.totalRetransmits)
    bits("pacing_rate_bps", i.pacingRate, none: true)
    bits("max_pacing_rate_bps", i.maxPacingRate, none: true)
    int("bytes_acked", i.bytesAcknowledged)
    int("bytes_received", i.bytesReceived)
    u32("segs_out", i.segmentsOut)
    u32("segs_in", i.segmentsIn)
    u32("notsent_bytes", i.notSentBytes)
    if let m = i.minimumRoundTripTime {
      open("min_rtt_ms")
      if m == ~0 { c.put("null") } else { PrintfNumbers.exactMilliseconds(UInt64(m), &c) }
    }
    u32("data_segs_in", i.dataSegmentsIn)
    u32("data_segs_out", i.dataSegmentsOut)
    bits("delivery_rate_bps", i.deliveryRate, none: false)
    ms("busy_ms", micros: i.busyTime)
    ms("rwnd_limited_ms", micros: i.receiveWindowLimitedTime)
    ms("sndbuf_limited_ms", micros: i.sendBufferLimitedTime)
    u32("delivered", i.delivered)
    u32("delivered_ce", i.deliveredCE)
    int("bytes_sent", i.bytesSent)
    int("bytes_retrans", i.bytesRetransmitted)
    u32("dsack_dups", i.duplicateSACKs)
    u32("reord_seen", i.reorderingSeen)
    u32("rcv_ooopack", i.outOfOrderPacketsReceived)
    u32("snd_wnd", i.sendWindow)
    u32("rcv_wnd", i.receiveWindow)
    u32("rehash", i.rehash)
    int("total_rto", i.totalRTOs.map(UInt64.init))
    int("total_rto_recoveries", i.totalRTORecoveries.map(UInt64.init))
    u32("total_rto_time_ms", i.totalRTOTime)
    u32("received_ce", i.receivedCE)
    u32("delivered_e1_bytes", i.deliveredE1Bytes)
    u32("delivered_e0_bytes", i.deliveredE0Bytes)
    u32("delivered_ce_bytes", i.deliveredCEBytes)
    u32("received_e1_bytes", i.receivedE1Bytes)
    u32("received_e0_bytes", i.receivedE0Bytes)
    u32("received_ce_bytes", i.receivedCEBytes)
    u8("ecn_mode", i.ecnMode)
    u8("accecn_opt_seen", i.accECNOptionSeen)
    u8("accecn_fail_mode", i.accECNFailMode)
    if i.congestionWindow != nil && i.sendMSS != nil && x.rateRoundTripTime != nil {
      open("send_rate_bps")
      if let send = x.sendRate { PrintfNumbers.wholeNumber(send, &c) } else { c.put("null") }
    }
    if let name = x.congestion {
      open("congestion_control")
      c.jsonString(name)
    }
    if let v = x.vegas {
      open("vegas")
      c.put("{\"enabled\":")
      c.put(v.enabled ? "true" : "false")
      c.put(",\"rtt_count\":")
      c.decimal(UInt64(v.rttCount))
      c.put(",\"rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(v.rtt), &c)
      c.put(",\"min_rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(v.minimumRTT), &c)
      c.put(0x7d)
    }
    if let d = x.dctcp {
      open("dctcp")
      c.put("{\"enabled\":")
      c.put(d.enabled ? "true" : "false")
      c.put(",\"ce_state\":")
      c.decimal(UInt64(d.ceState))
      c.put(",\"alpha\":")
      c.decimal(UInt64(d.alpha))
      c.put(",\"ab_ecn\":")
      c.decimal(UInt64(d.acknowledgedECN))
      c.put(",\"ab_tot\":")
      c.decimal(UInt64(d.acknowledgedTotal))
      c.put(0x7d)
    }
    if let b = x.bbr {
      open("bbr")
      c.put("{\"bw_bps\":")
      let (product, overflow) = b.bandwidth.multipliedReportingOverflow(by: 8)
      if overflow {
        PrintfNumbers.wholeNumber(Double(b.bandwidth) * 8, &c)
      } else {
        c.decimal(product)
      }
      c.put(",\"min_rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(b.minimumRTT), &c)
      c.put(",\"pacing_gain\":")
      PrintfNumbers.printf("%g", Double(b.pacingGain) / 256, &c)
      c.put(",\"cwnd_gain\":")
      PrintfNumbers.printf("%g", Double(b.congestionWindowGain) / 256, &c)
      c.put(0x7d)
    }
    if first { c.put(0x7b) }
    c.put(0x7d)
  }
}
