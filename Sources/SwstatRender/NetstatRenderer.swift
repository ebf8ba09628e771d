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
  // Scratch space for one endpoint: address text at 0, port text at `portOffset`.
  private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 2048)
  private let portOffset = 1024

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
    out.append("\n")
  }

  /// One row.
  @inline(__always)
  public func write(_ r: borrowing SocketRecord) throws(OutputError) {
    let proto: StaticString =
      switch (r.transport, r.family) {
      case (.tcp, .inet): "tcp   "
      case (.tcp, .inet6): "tcp6  "
      case (.udp, .inet): "udp   "
      case (.udp, .inet6): "udp6  "
      }
    out.append(proto)
    out.appendDecimal(UInt64(r.receiveQueue), width: 6)
    out.append(0x20)
    out.appendDecimal(UInt64(r.sendQueue), width: 6)
    out.append(0x20)
    writeEndpoint(r.local, r.transport)
    out.append(0x20)
    writeEndpoint(r.remote, r.transport)
    out.append(0x20)
    NetstatStateName.withName(of: r) { out.appendPadded($0, width: 11) }
    if options.extend {
      out.append(0x20)
      if !options.numericUsers, let name = resolver.userName(uid: r.uid) {
        name.withUnsafeBytes { out.appendPadded($0, width: 10) }
      } else {
        out.appendDecimalLeft(UInt64(r.uid), width: 10)
      }
      out.append(0x20)
      out.appendDecimalLeft(r.inode, width: 10)
    }
    if options.programs {
      out.append(0x20)
      if let label = owner?(r.inode) {
        label.withUnsafeBytes { out.appendPadded($0, width: 20) }
      } else {
        out.append("-                   ")
      }
    }
    out.append(0x0a)
    try out.endRow()
  }

  /// `addr_do_one`: "address:port", cut to 23 columns unless -W, padded to 23.
  @inline(__always)
  private func writeEndpoint(_ ep: Endpoint, _ transport: TransportProtocol) {
    let addrLen = addressText(ep.address, into: scratch)
    let port = scratch + portOffset
    var portLen: Int
    if ep.port == 0 {
      port[0] = 0x2a  // "*": get_sname prints port 0 so even with -n
      portLen = 1
    } else if !options.numericPorts,
      let name = resolver.serviceName(port: ep.port, transport: transport)
    {
      portLen = min(name.count, 64)
      name.withUnsafeBytes { port.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: portLen) }
    } else {
      portLen = writeDecimal(UInt64(ep.port), into: port)
    }
    var a = addrLen
    var p = portLen
    if !options.wide && a + p > Self.shortLength {
      p = min(p, Self.shortLength - 4)
      a = min(a, Self.shortLength - p)
    }
    out.append(UnsafeRawBufferPointer(start: scratch, count: a))
    out.append(0x3a)
    out.append(UnsafeRawBufferPointer(start: port, count: p))
    out.append(repeating: 0x20, count: Self.addressWidth - (a + 1 + p))
  }

  @inline(__always)
  private func addressText(_ address: IPAddress, into buf: UnsafeMutablePointer<UInt8>) -> Int {
    if options.numericHosts {
      if address.isIPv4Mapped {
        // net-tools fix_v4_address: a v4-mapped address prints as plain IPv4, even with -n.
        return AddressText.writeIPv4(UInt32(truncatingIfNeeded: address.low), into: buf)
      }
      return AddressText.write(address, into: buf)
    }
    let name =
      address.family == .inet
      ? resolver.hostName(ipv4: address.ipv4) : resolver.hostName(ipv6: address)
    let n = min(name.count, 1000)
    name.withUnsafeBytes { buf.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: n) }
    return n
  }

  @inline(__always)
  private func writeDecimal(_ value: UInt64, into buf: UnsafeMutablePointer<UInt8>) -> Int {
    var v = value
    var n = 0
    repeat {
      buf[n] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
      v /= 10
      n += 1
    } while v != 0
    var i = 0
    var j = n - 1
    while i < j {
      let t = buf[i]
      buf[i] = buf[j]
      buf[j] = t
      i += 1
      j -= 1
    }
    return n
  }
}
