/// What `--info`, `--memory` and `--cgroup` add to a socket: what the kernel sent for it beyond
/// the socket itself, when the query asked for it (`SocketQuery.extras`). A dump puts it in the
/// query's `SocketExtrasStore`, by socket, beside the record (records stay plain values).
///
/// Every part is nil when the kernel did not send it: TIME_WAIT and request sockets have none,
/// UDP has no tcp_info, older kernels lack newer fields (see `TCPInfo`).
public final class SocketExtras: Hashable, Sendable {
  /// What a query can ask the kernel for, beyond the socket itself.
  public struct Kinds: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    /// A kinds set from its bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `--info`: tcp_info (INET_DIAG_INFO), the congestion control's name (INET_DIAG_CONG) and
    /// its Vegas, DCTCP or BBR info (asked as INET_DIAG_VEGASINFO).
    public static let info = Kinds(rawValue: 1)
    /// `--memory`: the socket's memory (INET_DIAG_SKMEMINFO), `skmem:(…)`.
    public static let memory = Kinds(rawValue: 2)
    /// `--cgroup`: the id of the cgroup v2 the socket was created in (INET_DIAG_CGROUP_ID).
    public static let cgroup = Kinds(rawValue: 4)

    /// The flags that ask for these kinds, as a user types them (`--info`, `--memory`, …).
    public var flags: [String] {
      [(Kinds.info, "--info"), (.memory, "--memory"), (.cgroup, "--cgroup")]
        .filter { contains($0.0) }.map(\.1)
    }

  }

  /// The kernel's tcp_info (TCP full sockets only).
  public let tcpInfo: TCPInfo?
  /// The congestion control algorithm's name (`cubic`, `bbr`, `dctcp`, …).
  public let congestion: String?
  /// The Vegas (or Vegas-like) module's info, when it is the socket's congestion control.
  public let vegas: VegasInfo?
  /// DCTCP's info, when it is the socket's congestion control.
  public let dctcp: DCTCPInfo?
  /// BBR's info, when it is the socket's congestion control.
  public let bbr: BBRInfo?
  /// The socket's memory (INET_DIAG_SKMEMINFO).
  public let memory: SocketMemory?
  /// The id of the cgroup v2 the socket was created in (the cgroup directory's inode number;
  /// `CgroupPaths` maps it to a path).
  public let cgroupID: UInt64?

  /// Extras from their parts.
  public init(
    tcpInfo: TCPInfo? = nil, congestion: String? = nil, vegas: VegasInfo? = nil,
    dctcp: DCTCPInfo? = nil, bbr: BBRInfo? = nil, memory: SocketMemory? = nil,
    cgroupID: UInt64? = nil
  ) {
    self.tcpInfo = tcpInfo
    self.congestion = congestion
    self.vegas = vegas
    self.dctcp = dctcp
    self.bbr = bbr
    self.memory = memory
    self.cgroupID = cgroupID
  }

  /// The round-trip time ss divides by for the send rate, in microseconds: Vegas's own when it
  /// runs and has one, else tcp_info's (misc/ss.c tcp_show_info).
  public var rateRoundTripTime: UInt32? {
    if let vegas, vegas.enabled, vegas.rtt != 0, vegas.rtt != 0x7fff_ffff { return vegas.rtt }
    return tcpInfo?.roundTripTime
  }

  /// ss's `send` rate in bits per second: cwnd × mss × 8 / rtt; nil when any is missing or 0.
  public var sendRate: Double? {
    guard let info = tcpInfo, let rtt = rateRoundTripTime, rtt > 0,
      let mss = info.sendMSS, mss > 0, let cwnd = info.congestionWindow, cwnd > 0
    else { return nil }
    return Double(cwnd) * Double(mss) * 8_000_000 / Double(rtt)
  }

  /// What a connection carried, for `--events`' GONE lines: from the final tcp_info of a
  /// destroy notification (or of the last dump). Nil without tcp_info.
  public var totals: ConnectionTotals? {
    guard let info = tcpInfo else { return nil }
    return ConnectionTotals(
      bytesSent: info.bytesSent, bytesAcknowledged: info.bytesAcknowledged,
      bytesReceived: info.bytesReceived, bytesRetransmitted: info.bytesRetransmitted,
      retransmittedSegments: info.totalRetransmits)
  }

  public static func == (a: SocketExtras, b: SocketExtras) -> Bool {
    a === b
      || (a.tcpInfo == b.tcpInfo && a.congestion == b.congestion && a.vegas == b.vegas
        && a.dctcp == b.dctcp && a.bbr == b.bbr && a.memory == b.memory
        && a.cgroupID == b.cgroupID)
  }

  public func hash(into h: inout Hasher) {
    h.combine(tcpInfo)
    h.combine(congestion)
    h.combine(vegas)
    h.combine(dctcp)
    h.combine(bbr)
    h.combine(memory)
    h.combine(cgroupID)
  }
}

/// Where a dump puts the extras its query asked for (`SocketQuery.extras`), by socket (its
/// cookie): a side table beside the records rather than a reference in each. A reference made
/// `SocketRecord` a non-trivial type, and the plain listing, which asks for nothing, paid for it
/// on every record: 36% more instructions in user space for `--count` at 100k sockets
/// (callgrind), 4-5% more time. Records stay plain values; only a listing that asks pays.
///
/// The store holds a socket's extras until they are taken (`take(for:)`): a listing that writes
/// each record as it comes takes them right away and so holds one at a time (a streaming
/// `--info --json` stays as small as a plain one); one that collects its records first (-p)
/// holds them until it writes. Records dropped after the source delivered them (by an owner
/// filter) leave theirs until `removeAll()`, which modes that dump again and again (`-c`,
/// `--watch`) call before each pass. One thread at a time.
public final class SocketExtrasStore: @unchecked Sendable {
  /// What the dumps ask for.
  public let kinds: SocketExtras.Kinds
  // The socket delivered last, apart: a streaming listing never touches the dictionary.
  private var latestCookie: UInt64 = 0
  private var latest: SocketExtras? = nil
  private var others: [UInt64: SocketExtras] = [:]

  /// A store for dumps that ask for `kinds`.
  public init(kinds: SocketExtras.Kinds) {
    self.kinds = kinds
  }

  /// Keeps `extras` for the socket with `cookie` (the source calls this as it delivers).
  public func insert(_ extras: SocketExtras, for cookie: UInt64) {
    if let latest, latestCookie != cookie { others[latestCookie] = latest }
    latestCookie = cookie
    latest = extras
  }

  /// The extras of `record`, kept for later lookups too; nil when the kernel sent none for it.
  public func extras(for record: borrowing SocketRecord) -> SocketExtras? {
    let cookie = record.cookie
    if latest != nil && latestCookie == cookie { return latest }
    return others.isEmpty ? nil : others[cookie]
  }

  /// The extras of `record`, no longer kept; nil when the kernel sent none for it.
  public func take(for record: borrowing SocketRecord) -> SocketExtras? {
    let cookie = record.cookie
    if let latest, latestCookie == cookie {
      self.latest = nil
      return latest
    }
    return others.isEmpty ? nil : others.removeValue(forKey: cookie)
  }

  /// Drops everything held.
  public func removeAll() {
    latest = nil
    others.removeAll()
  }

  /// How many sockets' extras are held.
  public var count: Int { others.count + (latest == nil ? 0 : 1) }
}

/// What a connection carried over its life, from tcp_info; each nil when the kernel's tcp_info
/// was too short to hold it.
public struct ConnectionTotals: Hashable, Sendable {
  /// tcpi_bytes_sent: payload bytes sent, retransmissions included.
  public var bytesSent: UInt64?
  /// tcpi_bytes_acked: payload bytes the peer acknowledged.
  public var bytesAcknowledged: UInt64?
  /// tcpi_bytes_received: payload bytes received (and acknowledged).
  public var bytesReceived: UInt64?
  /// tcpi_bytes_retrans: payload bytes retransmitted.
  public var bytesRetransmitted: UInt64?
  /// tcpi_total_retrans: segments retransmitted.
  public var retransmittedSegments: UInt32?
}

/// The socket's memory as INET_DIAG_SKMEMINFO gives it (sock_diag_put_meminfo), in bytes but
/// for `drops`; ss prints it as `skmem:(r…,rb…,t…,tb…,f…,w…,o…,bl…,d…)`. A value the kernel
/// did not send (older kernels send fewer) is nil.
public struct SocketMemory: Hashable, Sendable {
  /// `r`, SK_MEMINFO_RMEM_ALLOC: memory held by data received and not yet read.
  public var receiveAllocated: UInt32?
  /// `rb`, SK_MEMINFO_RCVBUF: the receive buffer's size (SO_RCVBUF).
  public var receiveBuffer: UInt32?
  /// `t`, SK_MEMINFO_WMEM_ALLOC: memory held by data sent and not yet freed by the device.
  public var transmitAllocated: UInt32?
  /// `tb`, SK_MEMINFO_SNDBUF: the send buffer's size (SO_SNDBUF).
  public var transmitBuffer: UInt32?
  /// `f`, SK_MEMINFO_FWD_ALLOC: memory reserved ahead and not yet used.
  public var forwardAllocated: UInt32?
  /// `w`, SK_MEMINFO_WMEM_QUEUED: memory of the send queue (data not yet acknowledged).
  public var transmitQueued: UInt32?
  /// `o`, SK_MEMINFO_OPTMEM: memory of socket options and filters.
  public var optionMemory: UInt32?
  /// `bl`, SK_MEMINFO_BACKLOG: memory of the backlog queue (received while the socket was busy).
  public var backlog: UInt32?
  /// `d`, SK_MEMINFO_DROPS: packets dropped before reaching the socket (UDP's drops too).
  public var drops: UInt32?

  /// No value known.
  public init() {}

  /// The values in the kernel's order (SK_MEMINFO_RMEM_ALLOC first); those past the end are nil.
  public init(values: some Collection<UInt32>) {
    var v = values.makeIterator()
    receiveAllocated = v.next()
    receiveBuffer = v.next()
    transmitAllocated = v.next()
    transmitBuffer = v.next()
    forwardAllocated = v.next()
    transmitQueued = v.next()
    optionMemory = v.next()
    backlog = v.next()
    drops = v.next()
  }
}

/// struct tcpvegas_info (INET_DIAG_VEGASINFO), from Vegas and the modules that share its info.
public struct VegasInfo: Hashable, Sendable {
  /// tcpv_enabled.
  public var enabled: Bool
  /// tcpv_rttcnt: RTT samples in the last round.
  public var rttCount: UInt32
  /// tcpv_rtt: the round-trip time Vegas uses, microseconds (0x7fffffff: none yet).
  public var rtt: UInt32
  /// tcpv_minrtt: the smallest round-trip time seen, microseconds.
  public var minimumRTT: UInt32
  /// Vegas info from its parts.
  public init(enabled: Bool, rttCount: UInt32, rtt: UInt32, minimumRTT: UInt32) {
    self.enabled = enabled
    self.rttCount = rttCount
    self.rtt = rtt
    self.minimumRTT = minimumRTT
  }
}

/// struct tcp_dctcp_info (INET_DIAG_DCTCPINFO).
public struct DCTCPInfo: Hashable, Sendable {
  /// dctcp_enabled: false when DCTCP fell back to Reno (no ECN): ss's `dctcp:fallback_mode`.
  public var enabled: Bool
  /// dctcp_ce_state.
  public var ceState: UInt16
  /// dctcp_alpha.
  public var alpha: UInt32
  /// dctcp_ab_ecn: bytes acknowledged with ECE.
  public var acknowledgedECN: UInt32
  /// dctcp_ab_tot: bytes acknowledged.
  public var acknowledgedTotal: UInt32
  /// DCTCP info from its parts.
  public init(
    enabled: Bool, ceState: UInt16, alpha: UInt32, acknowledgedECN: UInt32,
    acknowledgedTotal: UInt32
  ) {
    self.enabled = enabled
    self.ceState = ceState
    self.alpha = alpha
    self.acknowledgedECN = acknowledgedECN
    self.acknowledgedTotal = acknowledgedTotal
  }
}

/// struct tcp_bbr_info (INET_DIAG_BBRINFO).
public struct BBRInfo: Hashable, Sendable {
  /// bbr_bw_hi:bbr_bw_lo: the bottleneck bandwidth estimate, bytes per second.
  public var bandwidth: UInt64
  /// bbr_min_rtt: microseconds.
  public var minimumRTT: UInt32
  /// bbr_pacing_gain, shifted left 8 bits (256 is a gain of 1).
  public var pacingGain: UInt32
  /// bbr_cwnd_gain, shifted left 8 bits.
  public var congestionWindowGain: UInt32
  /// BBR info from its parts.
  public init(
    bandwidth: UInt64, minimumRTT: UInt32, pacingGain: UInt32, congestionWindowGain: UInt32
  ) {
    self.bandwidth = bandwidth
    self.minimumRTT = minimumRTT
    self.pacingGain = pacingGain
    self.congestionWindowGain = congestionWindowGain
  }
}
