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
    let start = c.p
    member(",\"rmem_alloc\":", m.receiveAllocated, &c)
    member(",\"rcvbuf\":", m.receiveBuffer, &c)
    member(",\"wmem_alloc\":", m.transmitAllocated, &c)
    member(",\"sndbuf\":", m.transmitBuffer, &c)
    member(",\"fwd_alloc\":", m.forwardAllocated, &c)
    member(",\"wmem_queued\":", m.transmitQueued, &c)
    member(",\"optmem\":", m.optionMemory, &c)
    member(",\"backlog\":", m.backlog, &c)
    member(",\"drops\":", m.drops, &c)
    close(from: start, &c)
  }

  // Members are written each after a comma, keys and all in one literal; `close` turns the
  // first comma into the object's `{` (or writes `{}` when there was none).
  @inline(__always)
  private static func close(from start: UnsafeMutablePointer<UInt8>, _ c: inout RowCursor) {
    if c.p == start {
      c.put("{}")
    } else {
      start.pointee = 0x7b
      c.put(0x7d)
    }
  }

  @inline(__always)
  private static func member(_ key: StaticString, _ v: UInt64?, _ c: inout RowCursor) {
    guard let v else { return }
    c.put(key)
    c.decimal(v)
  }

  @inline(__always)
  private static func member(_ key: StaticString, _ v: UInt32?, _ c: inout RowCursor) {
    guard let v else { return }
    c.put(key)
    c.decimal(UInt64(v))
  }

  @inline(__always)
  private static func member(_ key: StaticString, _ v: UInt16?, _ c: inout RowCursor) {
    guard let v else { return }
    c.put(key)
    c.decimal(UInt64(v))
  }

  @inline(__always)
  private static func member(_ key: StaticString, _ v: UInt8?, _ c: inout RowCursor) {
    guard let v else { return }
    c.put(key)
    c.decimal(UInt64(v))
  }

  /// A time the kernel gives in microseconds, as exact milliseconds.
  @inline(__always)
  private static func milliseconds(_ key: StaticString, _ micros: UInt64?, _ c: inout RowCursor) {
    guard let micros else { return }
    c.put(key)
    PrintfNumbers.exactMilliseconds(micros, &c)
  }

  @inline(__always)
  private static func milliseconds(_ key: StaticString, _ micros: UInt32?, _ c: inout RowCursor) {
    milliseconds(key, micros.map(UInt64.init), &c)
  }

  /// A rate the kernel gives in bytes per second, as bits per second; `null` for its "no
  /// limit" (~0) when `unlimited`.
  @inline(__always)
  private static func bits(
    _ key: StaticString, _ bytesPerSecond: UInt64?, unlimited: Bool, _ c: inout RowCursor
  ) {
    guard let v = bytesPerSecond else { return }
    c.put(key)
    if unlimited && v == ~0 {
      c.put("null")
    } else {
      bitsValue(v, &c)
    }
  }

  @inline(__always)
  private static func bitsValue(_ bytesPerSecond: UInt64, _ c: inout RowCursor) {
    let (product, overflow) = bytesPerSecond.multipliedReportingOverflow(by: 8)
    if overflow {
      PrintfNumbers.wholeNumber(Double(bytesPerSecond) * 8, &c)
    } else {
      c.decimal(product)
    }
  }

  /// The tcp_info object (see the type's comment).
  static func info(_ i: TCPInfo, _ x: SocketExtras, _ c: inout RowCursor) {
    let start = c.p
    member(",\"state\":", i.state, &c)
    member(",\"ca_state\":", i.congestionState, &c)
    member(",\"retransmits\":", i.retransmits, &c)
    member(",\"probes\":", i.probes, &c)
    member(",\"backoff\":", i.backoff, &c)
    if let o = i.options {
      c.put(",\"options\":")
      // ss's words (-o), in its order; each after `[` or a comma.
      var separator: UInt8 = 0x5b
      @inline(__always) func word(_ bit: TCPInfo.Options, _ quoted: StaticString) {
        guard o.contains(bit) else { return }
        c.put(separator)
        separator = 0x2c
        c.put(quoted)
      }
      word(.timestamps, "\"ts\"")
      word(.microsecondTimestamps, "\"usec_ts\"")
      word(.sack, "\"sack\"")
      word(.ecn, "\"ecn\"")
      word(.ecnSeen, "\"ecnseen\"")
      word(.synData, "\"fastopen\"")
      word(.windowScale, "\"wscale\"")
      if separator == 0x5b { c.put(0x5b) }
      c.put(0x5d)
    }
    if let snd = i.sendWindowScale, let rcv = i.receiveWindowScale {
      // Meaningful only when window scaling was negotiated.
      if i.options?.contains(.windowScale) == true {
        c.put(",\"snd_wscale\":")
        c.decimal(UInt64(snd))
        c.put(",\"rcv_wscale\":")
        c.decimal(UInt64(rcv))
      } else {
        c.put(",\"snd_wscale\":null,\"rcv_wscale\":null")
      }
    }
    if let limited = i.deliveryRateAppLimited {
      c.put(
        limited ? ",\"delivery_rate_app_limited\":true" : ",\"delivery_rate_app_limited\":false")
    }
    member(",\"fastopen_client_fail\":", i.fastOpenClientFail, &c)
    milliseconds(",\"rto_ms\":", i.retransmissionTimeout, &c)
    milliseconds(",\"ato_ms\":", i.delayedAckTimeout, &c)
    member(",\"snd_mss\":", i.sendMSS, &c)
    member(",\"rcv_mss\":", i.receiveMSS, &c)
    member(",\"unacked\":", i.unacknowledged, &c)
    member(",\"sacked\":", i.selectivelyAcknowledged, &c)
    member(",\"lost\":", i.lost, &c)
    member(",\"retrans\":", i.retransmitting, &c)
    member(",\"fackets\":", i.forwardAcknowledged, &c)
    member(",\"last_data_sent_ms\":", i.lastDataSent, &c)
    member(",\"last_ack_sent_ms\":", i.lastAckSent, &c)
    member(",\"last_data_recv_ms\":", i.lastDataReceived, &c)
    member(",\"last_ack_recv_ms\":", i.lastAckReceived, &c)
    member(",\"pmtu\":", i.pathMTU, &c)
    member(",\"rcv_ssthresh\":", i.receiveSlowStartThreshold, &c)
    milliseconds(",\"rtt_ms\":", i.roundTripTime, &c)
    milliseconds(",\"rttvar_ms\":", i.roundTripTimeVariance, &c)
    if let t = i.slowStartThreshold {
      c.put(",\"snd_ssthresh\":")
      if t >= 0x7fff_ffff { c.put("null") } else { c.decimal(UInt64(t)) }
    }
    member(",\"snd_cwnd\":", i.congestionWindow, &c)
    member(",\"advmss\":", i.advertisedMSS, &c)
    member(",\"reordering\":", i.reordering, &c)
    milliseconds(",\"rcv_rtt_ms\":", i.receiveRoundTripTime, &c)
    member(",\"rcv_space\":", i.receiveSpace, &c)
    member(",\"total_retrans\":", i.totalRetransmits, &c)
    bits(",\"pacing_rate_bps\":", i.pacingRate, unlimited: true, &c)
    bits(",\"max_pacing_rate_bps\":", i.maxPacingRate, unlimited: true, &c)
    member(",\"bytes_acked\":", i.bytesAcknowledged, &c)
    member(",\"bytes_received\":", i.bytesReceived, &c)
    member(",\"segs_out\":", i.segmentsOut, &c)
    member(",\"segs_in\":", i.segmentsIn, &c)
    member(",\"notsent_bytes\":", i.notSentBytes, &c)
    if let m = i.minimumRoundTripTime {
      c.put(",\"min_rtt_ms\":")
      if m == ~0 { c.put("null") } else { PrintfNumbers.exactMilliseconds(UInt64(m), &c) }
    }
    member(",\"data_segs_in\":", i.dataSegmentsIn, &c)
    member(",\"data_segs_out\":", i.dataSegmentsOut, &c)
    bits(",\"delivery_rate_bps\":", i.deliveryRate, unlimited: false, &c)
    milliseconds(",\"busy_ms\":", i.busyTime, &c)
    milliseconds(",\"rwnd_limited_ms\":", i.receiveWindowLimitedTime, &c)
    milliseconds(",\"sndbuf_limited_ms\":", i.sendBufferLimitedTime, &c)
    member(",\"delivered\":", i.delivered, &c)
    member(",\"delivered_ce\":", i.deliveredCE, &c)
    member(",\"bytes_sent\":", i.bytesSent, &c)
    member(",\"bytes_retrans\":", i.bytesRetransmitted, &c)
    member(",\"dsack_dups\":", i.duplicateSACKs, &c)
    member(",\"reord_seen\":", i.reorderingSeen, &c)
    member(",\"rcv_ooopack\":", i.outOfOrderPacketsReceived, &c)
    member(",\"snd_wnd\":", i.sendWindow, &c)
    member(",\"rcv_wnd\":", i.receiveWindow, &c)
    member(",\"rehash\":", i.rehash, &c)
    member(",\"total_rto\":", i.totalRTOs, &c)
    member(",\"total_rto_recoveries\":", i.totalRTORecoveries, &c)
    member(",\"total_rto_time_ms\":", i.totalRTOTime, &c)
    member(",\"received_ce\":", i.receivedCE, &c)
    member(",\"delivered_e1_bytes\":", i.deliveredE1Bytes, &c)
    member(",\"delivered_e0_bytes\":", i.deliveredE0Bytes, &c)
    member(",\"delivered_ce_bytes\":", i.deliveredCEBytes, &c)
    member(",\"received_e1_bytes\":", i.receivedE1Bytes, &c)
    member(",\"received_e0_bytes\":", i.receivedE0Bytes, &c)
    member(",\"received_ce_bytes\":", i.receivedCEBytes, &c)
    member(",\"ecn_mode\":", i.ecnMode, &c)
    member(",\"accecn_opt_seen\":", i.accECNOptionSeen, &c)
    member(",\"accecn_fail_mode\":", i.accECNFailMode, &c)
    if i.congestionWindow != nil && i.sendMSS != nil && x.rateRoundTripTime != nil {
      c.put(",\"send_rate_bps\":")
      if let send = x.sendRate { PrintfNumbers.wholeNumber(send, &c) } else { c.put("null") }
    }
    if let name = x.congestion {
      c.put(",\"congestion_control\":")
      c.jsonString(name)
    }
    if let v = x.vegas {
      c.put(v.enabled ? ",\"vegas\":{\"enabled\":true" : ",\"vegas\":{\"enabled\":false")
      c.put(",\"rtt_count\":")
      c.decimal(UInt64(v.rttCount))
      c.put(",\"rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(v.rtt), &c)
      c.put(",\"min_rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(v.minimumRTT), &c)
      c.put(0x7d)
    }
    if let d = x.dctcp {
      c.put(d.enabled ? ",\"dctcp\":{\"enabled\":true" : ",\"dctcp\":{\"enabled\":false")
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
      c.put(",\"bbr\":{\"bw_bps\":")
      bitsValue(b.bandwidth, &c)
      c.put(",\"min_rtt_ms\":")
      PrintfNumbers.exactMilliseconds(UInt64(b.minimumRTT), &c)
      c.put(",\"pacing_gain\":")
      PrintfNumbers.exactFraction256(b.pacingGain, &c)
      c.put(",\"cwnd_gain\":")
      PrintfNumbers.exactFraction256(b.congestionWindowGain, &c)
      c.put(0x7d)
    }
    close(from: start, &c)
  }
}
