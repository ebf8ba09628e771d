/// The kernel's struct tcp_info (include/uapi/linux/tcp.h), field by field in the units the
/// kernel gives: times in microseconds unless named otherwise, rates in bytes per second.
///
/// tcp_info grows with kernels, and a kernel sends only as much of it as it knows: a field that
/// does not fit in what was sent is nil, never zero (ss copies the payload into a zeroed struct
/// and cannot tell the two apart). Values the kernel uses as "none" are kept as they are
/// (`slowStartThreshold` 0x7fffffff, `pacingRate` ~0, `minimumRoundTripTime` ~0); the
/// renderers decide how to show them.
public struct TCPInfo: Hashable, Sendable {
  /// The tcpi_options bits (TCPI_OPT_*).
  public struct Options: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    /// Options from their bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// TCPI_OPT_TIMESTAMPS: `ts`.
    public static let timestamps = Options(rawValue: 1)
    /// TCPI_OPT_SACK: `sack`.
    public static let sack = Options(rawValue: 2)
    /// TCPI_OPT_WSCALE: window scaling was negotiated (`wscale:` is meaningful).
    public static let windowScale = Options(rawValue: 4)
    /// TCPI_OPT_ECN: `ecn`.
    public static let ecn = Options(rawValue: 8)
    /// TCPI_OPT_ECN_SEEN: `ecnseen`.
    public static let ecnSeen = Options(rawValue: 16)
    /// TCPI_OPT_SYN_DATA: `fastopen` (data in the SYN).
    public static let synData = Options(rawValue: 32)
    /// TCPI_OPT_USEC_TS: `usec_ts`.
    public static let microsecondTimestamps = Options(rawValue: 64)
  }

  /// How many bytes of the kernel's struct this was decoded from.
  public var length = 0

  /// tcpi_state.
  public var state: UInt8?
  /// tcpi_ca_state: the congestion avoidance state (0 Open, 1 Disorder, 2 CWR, 3 Recovery,
  /// 4 Loss).
  public var congestionState: UInt8?
  /// tcpi_retransmits: retransmission timeouts in a row so far.
  public var retransmits: UInt8?
  /// tcpi_probes: zero-window probes (or keepalives) sent without an answer.
  public var probes: UInt8?
  /// tcpi_backoff: exponential backoff of the retransmission timer.
  public var backoff: UInt8?
  /// tcpi_options.
  public var options: Options?
  /// tcpi_snd_wscale: the peer's window scale.
  public var sendWindowScale: UInt8?
  /// tcpi_rcv_wscale: our window scale.
  public var receiveWindowScale: UInt8?
  /// tcpi_delivery_rate_app_limited: the last delivery rate sample was limited by the
  /// application (ss's `app_limited`).
  public var deliveryRateAppLimited: Bool?
  /// tcpi_fastopen_client_fail.
  public var fastOpenClientFail: UInt8?
  /// tcpi_rto: the retransmission timeout, µs.
  public var retransmissionTimeout: UInt32?
  /// tcpi_ato: the delayed-ACK timeout, µs.
  public var delayedAckTimeout: UInt32?
  /// tcpi_snd_mss.
  public var sendMSS: UInt32?
  /// tcpi_rcv_mss.
  public var receiveMSS: UInt32?
  /// tcpi_unacked: segments sent and not yet acknowledged (a listener: its accept queue).
  public var unacknowledged: UInt32?
  /// tcpi_sacked: segments selectively acknowledged (a listener: its backlog).
  public var selectivelyAcknowledged: UInt32?
  /// tcpi_lost: segments thought lost.
  public var lost: UInt32?
  /// tcpi_retrans: segments being retransmitted.
  public var retransmitting: UInt32?
  /// tcpi_fackets.
  public var forwardAcknowledged: UInt32?
  /// tcpi_last_data_sent: milliseconds since data was last sent.
  public var lastDataSent: UInt32?
  /// tcpi_last_ack_sent (the kernel does not keep it: always 0).
  public var lastAckSent: UInt32?
  /// tcpi_last_data_recv: milliseconds since data was last received.
  public var lastDataReceived: UInt32?
  /// tcpi_last_ack_recv: milliseconds since an ACK was last received.
  public var lastAckReceived: UInt32?
  /// tcpi_pmtu: the path MTU.
  public var pathMTU: UInt32?
  /// tcpi_rcv_ssthresh: the receive window clamp in slow start.
  public var receiveSlowStartThreshold: UInt32?
  /// tcpi_rtt: the smoothed round-trip time, µs.
  public var roundTripTime: UInt32?
  /// tcpi_rttvar: its mean deviation, µs.
  public var roundTripTimeVariance: UInt32?
  /// tcpi_snd_ssthresh: the slow start threshold, segments (0x7fffffff: none yet).
  public var slowStartThreshold: UInt32?
  /// tcpi_snd_cwnd: the congestion window, segments.
  public var congestionWindow: UInt32?
  /// tcpi_advmss: the MSS advertised to the peer.
  public var advertisedMSS: UInt32?
  /// tcpi_reordering: the reordering degree the sender assumes (3 by default).
  public var reordering: UInt32?
  /// tcpi_rcv_rtt: the receiver's round-trip estimate, µs.
  public var receiveRoundTripTime: UInt32?
  /// tcpi_rcv_space: the receive buffer space the receiver auto-tuning aims at, bytes.
  public var receiveSpace: UInt32?
  /// tcpi_total_retrans: segments retransmitted over the connection's life.
  public var totalRetransmits: UInt32?
  /// tcpi_pacing_rate: bytes per second (~0: unlimited).
  public var pacingRate: UInt64?
  /// tcpi_max_pacing_rate: bytes per second (~0: unlimited).
  public var maxPacingRate: UInt64?
  /// tcpi_bytes_acked: payload bytes the peer acknowledged.
  public var bytesAcknowledged: UInt64?
  /// tcpi_bytes_received: payload bytes received.
  public var bytesReceived: UInt64?
  /// tcpi_segs_out: segments sent, retransmissions and pure ACKs included.
  public var segmentsOut: UInt32?
  /// tcpi_segs_in: segments received.
  public var segmentsIn: UInt32?
  /// tcpi_notsent_bytes: bytes queued and not yet sent.
  public var notSentBytes: UInt32?
  /// tcpi_min_rtt: the smallest round-trip time seen, µs (~0: none yet).
  public var minimumRoundTripTime: UInt32?
  /// tcpi_data_segs_in: segments received with data.
  public var dataSegmentsIn: UInt32?
  /// tcpi_data_segs_out: segments sent with data.
  public var dataSegmentsOut: UInt32?
  /// tcpi_delivery_rate: the last delivery rate sample, bytes per second.
  public var deliveryRate: UInt64?
  /// tcpi_busy_time: time with data in flight, µs.
  public var busyTime: UInt64?
  /// tcpi_rwnd_limited: time limited by the peer's receive window, µs.
  public var receiveWindowLimitedTime: UInt64?
  /// tcpi_sndbuf_limited: time limited by the send buffer, µs.
  public var sendBufferLimitedTime: UInt64?
  /// tcpi_delivered: segments delivered.
  public var delivered: UInt32?
  /// tcpi_delivered_ce: segments delivered with an ECN CE mark.
  public var deliveredCE: UInt32?
  /// tcpi_bytes_sent: payload bytes sent, retransmissions included.
  public var bytesSent: UInt64?
  /// tcpi_bytes_retrans: payload bytes retransmitted.
  public var bytesRetransmitted: UInt64?
  /// tcpi_dsack_dups: duplicate segments reported by D-SACK.
  public var duplicateSACKs: UInt32?
  /// tcpi_reord_seen: reordering events seen.
  public var reorderingSeen: UInt32?
  /// tcpi_rcv_ooopack: out-of-order packets received.
  public var outOfOrderPacketsReceived: UInt32?
  /// tcpi_snd_wnd: the peer's advertised receive window, bytes.
  public var sendWindow: UInt32?
  /// tcpi_rcv_wnd: our advertised receive window, bytes.
  public var receiveWindow: UInt32?
  /// tcpi_rehash: rehash attempts (PLB or timeouts).
  public var rehash: UInt32?
  /// tcpi_total_rto: retransmission timeouts over the connection's life.
  public var totalRTOs: UInt16?
  /// tcpi_total_rto_recoveries: recoveries from retransmission timeouts.
  public var totalRTORecoveries: UInt16?
  /// tcpi_total_rto_time: milliseconds spent in RTO recoveries.
  public var totalRTOTime: UInt32?
  /// tcpi_received_ce: segments received with CE.
  public var receivedCE: UInt32?
  /// tcpi_delivered_e1_bytes (AccECN).
  public var deliveredE1Bytes: UInt32?
  /// tcpi_delivered_e0_bytes (AccECN).
  public var deliveredE0Bytes: UInt32?
  /// tcpi_delivered_ce_bytes (AccECN).
  public var deliveredCEBytes: UInt32?
  /// tcpi_received_e1_bytes (AccECN).
  public var receivedE1Bytes: UInt32?
  /// tcpi_received_e0_bytes (AccECN).
  public var receivedE0Bytes: UInt32?
  /// tcpi_received_ce_bytes (AccECN).
  public var receivedCEBytes: UInt32?
  /// tcpi_ecn_mode.
  public var ecnMode: UInt8?
  /// tcpi_accecn_opt_seen.
  public var accECNOptionSeen: UInt8?
  /// tcpi_accecn_fail_mode.
  public var accECNFailMode: UInt8?

  /// Nothing known.
  public init() {}

  /// Decodes the kernel's struct tcp_info from `bytes`, as long as it is: each field that
  /// lies wholly inside them is set, the others stay nil. Little-endian, as swstat's targets.
  public init(kernelBytes bytes: UnsafeRawBufferPointer) {
    let n = bytes.count
    length = n
    @inline(__always) func u8(_ o: Int) -> UInt8? { o < n ? bytes[o] : nil }
    @inline(__always) func u16(_ o: Int) -> UInt16? {
      o + 2 <= n
        ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self))
        : nil
    }
    @inline(__always) func u32(_ o: Int) -> UInt32? {
      o + 4 <= n
        ? UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))
        : nil
    }
    @inline(__always) func u64(_ o: Int) -> UInt64? {
      o + 8 <= n
        ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self))
        : nil
    }
    state = u8(0)
    congestionState = u8(1)
    retransmits = u8(2)
    probes = u8(3)
    backoff = u8(4)
    options = u8(5).map(Options.init(rawValue:))
    // The bitfields: GCC and Clang allocate them from the low bits up on little-endian targets.
    let wscale = u8(6)
    sendWindowScale = wscale.map { $0 & 0xf }
    receiveWindowScale = wscale.map { $0 >> 4 }
    let rateFlags = u8(7)
    deliveryRateAppLimited = rateFlags.map { $0 & 1 != 0 }
    fastOpenClientFail = rateFlags.map { ($0 >> 1) & 3 }
    retransmissionTimeout = u32(8)
    delayedAckTimeout = u32(12)
    sendMSS = u32(16)
    receiveMSS = u32(20)
    unacknowledged = u32(24)
    selectivelyAcknowledged = u32(28)
    lost = u32(32)
    retransmitting = u32(36)
    forwardAcknowledged = u32(40)
    lastDataSent = u32(44)
    lastAckSent = u32(48)
    lastDataReceived = u32(52)
    lastAckReceived = u32(56)
    pathMTU = u32(60)
    receiveSlowStartThreshold = u32(64)
    roundTripTime = u32(68)
    roundTripTimeVariance = u32(72)
    slowStartThreshold = u32(76)
    congestionWindow = u32(80)
    advertisedMSS = u32(84)
    reordering = u32(88)
    receiveRoundTripTime = u32(92)
    receiveSpace = u32(96)
    totalRetransmits = u32(100)
    pacingRate = u64(104)
    maxPacingRate = u64(112)
    bytesAcknowledged = u64(120)
    bytesReceived = u64(128)
    segmentsOut = u32(136)
    segmentsIn = u32(140)
    notSentBytes = u32(144)
    minimumRoundTripTime = u32(148)
    dataSegmentsIn = u32(152)
    dataSegmentsOut = u32(156)
    deliveryRate = u64(160)
    busyTime = u64(168)
    receiveWindowLimitedTime = u64(176)
    sendBufferLimitedTime = u64(184)
    delivered = u32(192)
    deliveredCE = u32(196)
    bytesSent = u64(200)
    bytesRetransmitted = u64(208)
    duplicateSACKs = u32(216)
    reorderingSeen = u32(220)
    outOfOrderPacketsReceived = u32(224)
    sendWindow = u32(228)
    receiveWindow = u32(232)
    rehash = u32(236)
    totalRTOs = u16(240)
    totalRTORecoveries = u16(242)
    totalRTOTime = u32(244)
    receivedCE = u32(248)
    deliveredE1Bytes = u32(252)
    deliveredE0Bytes = u32(256)
    deliveredCEBytes = u32(260)
    receivedE1Bytes = u32(264)
    receivedE0Bytes = u32(268)
    receivedCEBytes = u32(272)
    let accECN = u32(276)
    ecnMode = accECN.map { UInt8($0 & 3) }
    accECNOptionSeen = accECN.map { UInt8(($0 >> 2) & 3) }
    accECNFailMode = accECN.map { UInt8(($0 >> 4) & 0xf) }
  }

  /// The bytes of struct tcp_info this decoder knows (Linux 6.18's).
  public static let knownLength = 280

  /// ss's `pacing_rate` in bits per second; nil when unknown, 0 or unlimited (~0).
  public var pacingRateBits: Double? { Self.bits(pacingRate) }
  /// ss's second `pacing_rate` value (the maximum) in bits per second; nil as `pacingRateBits`.
  public var maxPacingRateBits: Double? { Self.bits(maxPacingRate) }
  /// ss's `delivery_rate` in bits per second; nil when unknown or 0.
  public var deliveryRateBits: Double? {
    guard let deliveryRate, deliveryRate != 0 else { return nil }
    return Double(deliveryRate) * 8
  }

  private static func bits(_ rate: UInt64?) -> Double? {
    guard let rate, rate != 0, rate != ~0 else { return nil }
    return Double(rate) * 8
  }
}
