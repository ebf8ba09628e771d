import CSwstat

// The shim's swstat_sock_extras as SocketExtras: each part the kernel sent (its `present` bit),
// tcp_info as far as its payload went.

extension SocketExtras {
  convenience init(_ raw: UnsafePointer<swstat_sock_extras>) {
    let x = raw.pointee
    let present = x.present
    func has(_ bit: UInt32) -> Bool { present & bit != 0 }
    let info: TCPInfo? =
      has(SWSTAT_HAS_INFO)
      ? withUnsafeBytes(of: x.info) {
        TCPInfo(kernelBytes: UnsafeRawBufferPointer(rebasing: $0.prefix(Int(x.info_len))))
      } : nil
    let congestion: String? =
      has(SWSTAT_HAS_CONG)
      ? withUnsafeBytes(of: x.congestion) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      : nil
    let memory: SocketMemory? =
      has(SWSTAT_HAS_SKMEM)
      ? withUnsafeBytes(of: x.skmem) { raw in
        SocketMemory(
          values: raw.bindMemory(to: UInt32.self).prefix(Int(min(x.skmem_count, 16))))
      } : nil
    self.init(
      tcpInfo: info, congestion: congestion,
      vegas: has(SWSTAT_HAS_VEGAS)
        ? VegasInfo(
          enabled: x.vegas.enabled != 0, rttCount: x.vegas.rttcnt, rtt: x.vegas.rtt,
          minimumRTT: x.vegas.minrtt) : nil,
      dctcp: has(SWSTAT_HAS_DCTCP)
        ? DCTCPInfo(
          enabled: x.dctcp.enabled != 0, ceState: x.dctcp.ce_state, alpha: x.dctcp.alpha,
          acknowledgedECN: x.dctcp.ab_ecn, acknowledgedTotal: x.dctcp.ab_tot) : nil,
      bbr: has(SWSTAT_HAS_BBR)
        ? BBRInfo(
          bandwidth: UInt64(x.bbr.bw_hi) << 32 | UInt64(x.bbr.bw_lo), minimumRTT: x.bbr.min_rtt,
          pacingGain: x.bbr.pacing_gain, congestionWindowGain: x.bbr.cwnd_gain) : nil,
      memory: memory,
      cgroupID: has(SWSTAT_HAS_CGROUP) ? x.cgroup_id : nil)
  }
}

/// C's printf for one double, for the renderers' ss-compatible numbers (SwstatRender does not
/// import the shim).
public enum PrintfDouble {
  /// snprintf(`buffer`, `capacity`, `format`, `value`) — `format` a string literal with one
  /// double conversion. Returns the bytes written (the text is cut to `capacity` - 1).
  @inline(__always)
  public static func format(
    _ format: StaticString, _ value: Double, into buffer: UnsafeMutablePointer<UInt8>,
    capacity: Int
  ) -> Int {
    // A string literal's bytes end with a NUL: a C string as it is.
    let cFormat = UnsafeRawPointer(format.utf8Start).assumingMemoryBound(to: CChar.self)
    let n = swstat_format_double(
      UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: CChar.self), capacity, cFormat,
      value)
    return Int(max(0, min(n, Int32(capacity - 1))))
  }
}
