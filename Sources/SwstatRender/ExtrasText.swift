import SwstatCore

/// The line `--info`, `--memory` and `--cgroup` add under a socket's row in the table: a tab,
/// then ss's tokens, each after a space, in ss's order and with its units and number formats
/// (misc/ss.c print_skmeminfo, tcp_stats_print), so that eyes trained on `ss -tnmi` read it:
///
///     tcp        0      0 127.0.0.1:22            127.0.0.1:5555          ESTABLISHED
///     	 skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0) cubic wscale:7,7 rto:204 rtt:0.04/0.02 …
///
/// `skmem:(…)` first, then tcp_info's tokens (only those ss prints: nonzero values), then
/// `cgroup:PATH` (which ss puts on the row itself). A field the kernel did not send is left
/// out, as ss leaves out a zero. A socket with nothing to show (TIME_WAIT, UDP under --info)
/// gets no line, where ss prints an empty one.
public final class SocketExtrasText {
  /// Where the dump put each socket's extras (the query's `extras`).
  public let store: SocketExtrasStore
  /// Rates as whole bits per second (ss -n: `send 1234567bps`); else ss's `1.23Mbps`.
  public var numeric: Bool
  /// ss -o's option tokens (`ts sack ecn ecnseen fastopen usec_ts`) before the rest.
  public var options: Bool
  /// Where cgroup ids become paths (nil: `cgroup:` shows none).
  public let cgroups: CgroupPaths?
  /// How a cgroup path (a directory name anyone may choose) is written.
  public var names: NameStyle

  /// A writer of the extras in `store`; `numeric` for -n, `options` for -o, `cgroups` for
  /// --cgroup.
  public init(
    store: SocketExtrasStore, numeric: Bool = true, options: Bool = false,
    cgroups: CgroupPaths? = nil, names: NameStyle = .visible
  ) {
    self.store = store
    self.numeric = numeric
    self.options = options
    self.cgroups = cgroups
    self.names = names
  }

  /// Longest cgroup path written (bytes, before escaping), so a line fits one row's reserve.
  static let pathLimit = 2048

  /// Writes `r`'s line to `out` when the store has anything to show for it (and drops it from
  /// the store).
  public func write(_ r: borrowing SocketRecord, to out: OutputBuffer) throws(OutputError) {
    guard let x = store.take(for: r) else { return }
    try write(x, state: r.stateCode, to: out)
  }

  /// Writes the line for extras `x` of a socket in state `state` to `out` (nothing when there is
  /// nothing to show): for extras held elsewhere, such as an event's `closing`.
  public func write(_ x: SocketExtras, state: UInt8, to out: OutputBuffer) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    let start = c.p
    c.put(0x09)
    let tokens = c.p
    write(x, state: state, &c)
    if c.p == tokens {
      c.p = start
      return
    }
    c.put(0x0a)
    out.commitRow(c.p)
  }

  /// The line's tokens for `x` (each after a space, no tab, no line feed), as a string.
  public func tokens(_ x: SocketExtras, state: UInt8) -> String {
    var buffer = [UInt8](repeating: 0, count: OutputBuffer.rowReserve)
    let n = buffer.withUnsafeMutableBufferPointer { b in
      // swift-format-ignore: NeverForceUnwrap
      var c = RowCursor(b.baseAddress!)
      write(x, state: state, &c)
      // swift-format-ignore: NeverForceUnwrap
      return c.p - b.baseAddress!
    }
    return String(decoding: buffer[..<n], as: UTF8.self)
  }

  private func write(_ x: SocketExtras, state: UInt8, _ c: inout RowCursor) {
    if let m = x.memory { Self.memory(m, &c) }
    if let info = x.tcpInfo { writeInfo(info, x, state: state, &c) }
    if let id = x.cgroupID, let cgroups {
      c.put(" cgroup:")
      let path = cgroups.path(of: id)
      path.withUnsafeBytes {
        _ = Visible.write(
          UnsafeRawBufferPointer(rebasing: $0.prefix(Self.pathLimit)), style: names,
          columns: Self.pathLimit, into: &c)
      }
    }
  }

  /// ` skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`, as many values as the kernel sent.
  static func memory(_ m: SocketMemory, _ c: inout RowCursor) {
    var more = true
    @inline(__always) func value(_ name: StaticString, _ v: UInt32?, first: Bool = false) {
      guard more, let v else {
        more = false
        return
      }
      if !first { c.put(0x2c) }
      c.put(name)
      c.decimal(UInt64(v))
    }
    c.put(" skmem:(")
    value("r", m.receiveAllocated, first: true)
    value("rb", m.receiveBuffer)
    value("t", m.transmitAllocated)
    value("tb", m.transmitBuffer)
    value("f", m.forwardAllocated)
    value("w", m.transmitQueued)
    value("o", m.optionMemory)
    value("bl", m.backlog)
    value("d", m.drops)
    c.put(0x29)
  }

  // misc/ss.c tcp_show_info and tcp_stats_print, token for token.
  private func writeInfo(_ i: TCPInfo, _ x: SocketExtras, state: UInt8, _ c: inout RowCursor) {
    @inline(__always) func count(_ name: StaticString, _ v: UInt32?) {
      guard let v, v != 0 else { return }
      c.put(name)
      c.decimal(UInt64(v))
    }
    @inline(__always) func count64(_ name: StaticString, _ v: UInt64?) {
      guard let v, v != 0 else { return }
      c.put(name)
      c.decimal(v)
    }
    @inline(__always) func ms(_ name: StaticString, _ micros: UInt32?) {
      guard let micros, micros != 0 else { return }
      c.put(name)
      PrintfNumbers.milliseconds(UInt64(micros), &c)
    }
    let opts = i.options ?? []
    if options {
      if opts.contains(.timestamps) { c.put(" ts") }
      if opts.contains(.microsecondTimestamps) { c.put(" usec_ts") }
      if opts.contains(.sack) { c.put(" sack") }
      if opts.contains(.ecn) { c.put(" ecn") }
      if opts.contains(.ecnSeen) { c.put(" ecnseen") }
      if opts.contains(.synData) { c.put(" fastopen") }
    }
    if var name = x.congestion {
      c.put(0x20)
      name.withUTF8 { b in
        _ = Visible.write(UnsafeRawBufferPointer(b), style: .visible, columns: 16, into: &c)
      }
    }
    if opts.contains(.windowScale), let snd = i.sendWindowScale, let rcv = i.receiveWindowScale {
      c.put(" wscale:")
      c.decimal(UInt64(snd))
      c.put(0x2c)
      c.decimal(UInt64(rcv))
    }
    // ss hides the 3 s initial RTO of old kernels.
    if let rto = i.retransmissionTimeout, rto != 3_000_000 { ms(" rto:", rto) }
    if let b = i.backoff, b != 0 {
      c.put(" backoff:")
      c.decimal(UInt64(b))
    }
    if let rtt = i.roundTripTime, rtt != 0 {
      c.put(" rtt:")
      PrintfNumbers.milliseconds(UInt64(rtt), &c)
      c.put(0x2f)
      PrintfNumbers.milliseconds(UInt64(i.roundTripTimeVariance ?? 0), &c)
    }
    ms(" ato:", i.delayedAckTimeout)
    count(" mss:", i.sendMSS)
    count(" pmtu:", i.pathMTU)
    count(" rcvmss:", i.receiveMSS)
    count(" advmss:", i.advertisedMSS)
    count(" cwnd:", i.congestionWindow)
    if let t = i.slowStartThreshold, t < 0xFFFF { count(" ssthresh:", t) }
    count64(" bytes_sent:", i.bytesSent)
    count64(" bytes_retrans:", i.bytesRetransmitted)
    count64(" bytes_acked:", i.bytesAcknowledged)
    count64(" bytes_received:", i.bytesReceived)
    count(" segs_out:", i.segmentsOut)
    count(" segs_in:", i.segmentsIn)
    count(" data_segs_out:", i.dataSegmentsOut)
    count(" data_segs_in:", i.dataSegmentsIn)
    if let d = x.dctcp {
      if d.enabled {
        c.put(" dctcp:(ce_state:")
        c.decimal(UInt64(d.ceState))
        c.put(",alpha:")
        c.decimal(UInt64(d.alpha))
        c.put(",ab_ecn:")
        c.decimal(UInt64(d.acknowledgedECN))
        c.put(",ab_tot:")
        c.decimal(UInt64(d.acknowledgedTotal))
        c.put(0x29)
      } else {
        c.put(" dctcp:fallback_mode")
      }
    }
    if let b = x.bbr {
      c.put(" bbr:(bw:")
      PrintfNumbers.bandwidth(Double(b.bandwidth) * 8, numeric: numeric, &c)
      c.put("bps,mrtt:")
      PrintfNumbers.milliseconds(UInt64(b.minimumRTT), &c)
      if b.pacingGain != 0 {
        c.put(",pacing_gain:")
        PrintfNumbers.printf("%g", Double(b.pacingGain) / 256, &c)
      }
      if b.congestionWindowGain != 0 {
        c.put(",cwnd_gain:")
        PrintfNumbers.printf("%g", Double(b.congestionWindowGain) / 256, &c)
      }
      c.put(0x29)
    }
    if let send = x.sendRate, send != 0 {
      c.put(" send ")
      PrintfNumbers.bandwidth(send, numeric: numeric, &c)
      c.put("bps")
    }
    count(" lastsnd:", i.lastDataSent)
    count(" lastrcv:", i.lastDataReceived)
    count(" lastack:", i.lastAckReceived)
    if let pacing = i.pacingRateBits {
      c.put(" pacing_rate ")
      PrintfNumbers.bandwidth(pacing, numeric: numeric, &c)
      c.put("bps")
      if let max = i.maxPacingRateBits {
        c.put(0x2f)
        PrintfNumbers.bandwidth(max, numeric: numeric, &c)
        c.put("bps")
      }
    }
    if let delivery = i.deliveryRateBits {
      c.put(" delivery_rate ")
      PrintfNumbers.bandwidth(delivery, numeric: numeric, &c)
      c.put("bps")
    }
    count(" delivered:", i.delivered)
    count(" delivered_ce:", i.deliveredCE)
    if i.deliveryRateAppLimited == true { c.put(" app_limited") }
    if let busy = i.busyTime, busy != 0 {
      c.put(" busy:")
      c.decimal(busy / 1000)
      c.put("ms")
      @inline(__always) func limited(_ name: StaticString, _ time: UInt64?) {
        guard let time, time != 0 else { return }
        c.put(name)
        c.decimal(time / 1000)
        c.put("ms(")
        PrintfNumbers.printf("%.1f", 100.0 * Double(time) / Double(busy), &c)
        c.put("%)")
      }
      limited(" rwnd_limited:", i.receiveWindowLimitedTime)
      limited(" sndbuf_limited:", i.sendBufferLimitedTime)
    }
    count(" unacked:", i.unacknowledged)
    let retrans = i.retransmitting ?? 0
    let totalRetrans = i.totalRetransmits ?? 0
    if retrans != 0 || totalRetrans != 0 {
      c.put(" retrans:")
      c.decimal(UInt64(retrans))
      c.put(0x2f)
      c.decimal(UInt64(totalRetrans))
    }
    count(" lost:", i.lost)
    if state != SocketState.listen.rawValue { count(" sacked:", i.selectivelyAcknowledged) }
    count(" dsack_dups:", i.duplicateSACKs)
    count(" fackets:", i.forwardAcknowledged)
    if let r = i.reordering, r != 3 {
      c.put(" reordering:")
      c.decimal(UInt64(r))
    }
    count(" reord_seen:", i.reorderingSeen)
    ms(" rcv_rtt:", i.receiveRoundTripTime)
    count(" rcv_space:", i.receiveSpace)
    count(" rcv_ssthresh:", i.receiveSlowStartThreshold)
    count(" notsent:", i.notSentBytes)
    if let m = i.minimumRoundTripTime, m != ~0 { ms(" minrtt:", m) }
    count(" rcv_ooopack:", i.outOfOrderPacketsReceived)
    count(" snd_wnd:", i.sendWindow)
    count(" rcv_wnd:", i.receiveWindow)
    count(" rehash:", i.rehash)
  }
}
