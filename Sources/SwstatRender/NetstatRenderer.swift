import SwstatCore

/// How a netstat-style listing looks: the flags that change the text, not the selection.
public struct NetstatOptions: Sendable {
  /// netstat's -l / -a split; it picks the banner.
  public var scope: ListeningScope = .connected
  /// -W: never truncate addresses.
  public var wide = false
  /// --numeric-hosts (or -n): addresses as numbers.
  public var numericHosts = false
  /// --numeric-ports (or -n): ports as numbers.
  public var numericPorts = false
  /// --numeric-users (or -n): the -e User column as a uid.
  public var numericUsers = false
  /// -e: the User and Inode columns.
  public var extend = false
  /// -p: the PID/Program name column.
  public var programs = false
  /// -o: the Timer column.
  public var timers = false

  /// Options with netstat's defaults (names resolved, connections only).
  public init() {}
}

/// Formats sockets exactly as net-tools netstat 2.10 prints them (`tcp_do_one`,
/// `udp_do_one`, `finish_this_one`, `addr_do_one`), one record at a time, into an
/// `OutputBuffer`. It never touches the kernel: owners and names come in from outside.
public final class NetstatRenderer {
  /// The look of the listing.
  public let options: NetstatOptions
  private let out: OutputBuffer
  private let resolver: NameResolver
  private let owner: ((UInt64) -> [UInt8]?)?
  // Scratch space for one port's text.
  private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
  private let addressCache = AddressTextCache()

  /// netstat's widest address column without -W, and the `short_len` of `addr_do_one`.
  static let addressWidth = 23
  static let shortLength = 22

  /// A renderer writing to `out`. `owner` maps a socket inode to its `PID/Program name` label
  /// (nil when no process holds it); required when `options.programs` is set.
  public init(
    options: NetstatOptions, output: OutputBuffer, resolver: NameResolver = NameResolver(),
    owner: ((UInt64) -> [UInt8]?)? = nil
  ) {
    self.options = options
    self.out = output
    self.resolver = resolver
    self.owner = owner
  }

  deinit { scratch.deallocate() }

  /// The banner and the column header netstat prints once per listing.
  public func writeHeader() {
    switch options.scope {
    case .all: out.append("Active Internet connections (servers and established)\n")
    case .listening: out.append("Active Internet connections (only servers)\n")
    case .connected: out.append("Active Internet connections (w/o servers)\n")
    }
    out.append("Proto Recv-Q Send-Q Local Address           Foreign Address         State      ")
    if options.extend { out.append(" User       Inode     ") }
    if options.programs { out.append(" PID/Program name    ") }
    if options.timers { out.append(" Timer") }
    out.append("\n")
  }

  /// One row.
  @inline(__always)
  public func write(_ r: SocketRecord) throws(OutputError) {
    let start = try out.reserveRow()
    var c = RowCursor(start)
    if r.receiveQueue == 0 && r.sendQueue == 0 {
      // The common row start in one copy.
      let head: StaticString =
        switch (r.transport, r.family) {
        case (.tcp, .inet): "tcp        0      0 "
        case (.tcp, .inet6): "tcp6       0      0 "
        case (.udp, .inet): "udp        0      0 "
        case (.udp, .inet6): "udp6       0      0 "
        }
      c.put(head)
    } else {
      let proto: StaticString =
        switch (r.transport, r.family) {
        case (.tcp, .inet): "tcp   "
        case (.tcp, .inet6): "tcp6  "
        case (.udp, .inet): "udp   "
        case (.udp, .inet6): "udp6  "
        }
      c.put(proto)
      c.decimal(UInt64(r.receiveQueue), width: 6)
      c.put(0x20)
      c.decimal(UInt64(r.sendQueue), width: 6)
      c.put(0x20)
    }
    writeEndpoint(r.local, r.transport, &c)
    c.put(0x20)
    writeEndpoint(r.remote, r.transport, &c)
    c.put(0x20)
    let stateStart = c.p
    NetstatStateName.withName(of: r) { c.put($0) }
    c.pad(from: stateStart, to: 11)
    Self.writeOwnerColumns(&c, uid: r.uid, inode: r.inode, options, resolver, owner)
    if options.timers {
      c.put(0x20)
      writeTimer(r, &c)
    }
    c.put(0x0a)
    out.commitRow(c.p)
  }

  /// netstat -o: `off (0.00/0/0)`, `on (1.40/5/0)`, `keepalive (7194.18/0/0)`,
  /// `timewait (54.23/0/0)`, `probe (1.12/0/3)`: seconds left, retransmits, probes. UDP shows
  /// `off` (or `onN`), with retransmits always 0 (net-tools `udp_do_one`).
  private func writeTimer(_ r: SocketRecord, _ c: inout RowCursor) {
    let code = r.timerCode
    let retransmits = r.transport == .udp ? 0 : UInt64(r.retransmits)
    let centiseconds = UInt64(r.timerExpiresMilliseconds / 10)
    if code == 0 {
      c.put("off (0.00/")
    } else {
      if r.transport == .udp {
        if code == 1 || code == 2 {
          c.put("on")
          c.decimal(UInt64(code))
        } else {
          c.put("unkn-")
          c.decimal(UInt64(code))
        }
      } else {
        switch code {
        case 1: c.put("on")
        case 2: c.put("keepalive")
        case 3: c.put("timewait")
        case 4: c.put("probe")
        default:
          c.put("unkn-")
          c.decimal(UInt64(code))
        }
      }
      c.put(" (")
      c.decimal(centiseconds / 100)
      c.put(0x2e)
      c.decimal(centiseconds % 100, width: 2, zeroPad: true)
      c.put(0x2f)
    }
    c.decimal(retransmits)
    c.put(0x2f)
    c.decimal(UInt64(r.probes))
    c.put(0x29)
  }

  /// net-tools `finish_this_one`: with -e the User and Inode columns (`" %-10s " "%-10lu"`),
  /// with -p the PID/Program name column (`" %-20s"`, `-` when no process holds the socket).
  @inline(__always)
  static func writeOwnerColumns(
    _ c: inout RowCursor, uid: UInt32, inode: UInt64, _ options: NetstatOptions,
    _ resolver: NameResolver, _ owner: ((UInt64) -> [UInt8]?)?
  ) {
    if options.extend {
      c.put(0x20)
      let userStart = c.p
      if !options.numericUsers, let name = resolver.userName(uid: uid) {
        c.put(name, limit: 256)
      } else {
        c.decimal(UInt64(uid))
      }
      c.pad(from: userStart, to: 10)
      c.put(0x20)
      let inodeStart = c.p
      c.decimal(inode)
      c.pad(from: inodeStart, to: 10)
    }
    if options.programs {
      c.put(0x20)
      let labelStart = c.p
      if let label = owner?(inode) { c.put(label, limit: 64) } else { c.put(0x2d) }
      c.pad(from: labelStart, to: 20)
    }
  }

  /// `addr_do_one`: "address:port", cut to 23 columns unless -W, padded to 23.
  @inline(__always)
  private func writeEndpoint(
    _ ep: Endpoint, _ transport: TransportProtocol, _ c: inout RowCursor
  ) {
    // The port first, into scratch: its length decides how much of the address is kept.
    let port = scratch
    var portLen: Int
    if ep.port == 0 {
      port[0] = 0x2a  // "*": get_sname prints port 0 so even with -n
      portLen = 1
    } else if !options.numericPorts,
      let name = resolver.serviceName(port: ep.port, transport: transport)
    {
      portLen = min(name.count, 64)
      name.withUnsafeBytes {
        UnsafeMutableRawPointer(port).copyMemory(from: $0.baseAddress!, byteCount: portLen)
      }
    } else {
      var pc = RowCursor(port)
      pc.decimal(UInt64(ep.port))
      portLen = pc.p - port
    }
    let start = c.p
    var a = addressText(ep.address, into: start)
    var p = portLen
    if !options.wide && a + p > Self.shortLength {
      p = min(p, Self.shortLength - 4)
      a = min(a, Self.shortLength - p)
    }
    c.p = start + a
    c.put(0x3a)
    c.put(UnsafeRawBufferPointer(start: port, count: p))
    c.pad(from: start, to: Self.addressWidth)
  }

  @inline(__always)
  private func addressText(_ address: IPAddress, into buf: UnsafeMutablePointer<UInt8>) -> Int {
    if options.numericHosts {
      if address.isIPv4Mapped {
        // net-tools fix_v4_address: a v4-mapped address prints as plain IPv4, even with -n.
        return AddressText.writeIPv4(UInt32(truncatingIfNeeded: address.low), into: buf)
      }
      return addressCache.text(of: address, into: buf)
    }
    let name =
      address.family == .inet
      ? resolver.hostName(ipv4: address.ipv4) : resolver.hostName(ipv6: address)
    let n = min(name.count, 1000)
    name.withUnsafeBytes {
      if n > 0 { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress!, byteCount: n) }
    }
    return n
  }
}
