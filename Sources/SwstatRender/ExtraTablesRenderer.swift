import Glibc
import SwstatCore

/// Rows of the tables netstat prints besides tcp and udp, in its formats:
/// UDP-Lite (`udp_do_one`: `"%-5s %6ld %6ld %-23s %-23s %-11s"` with `udpl`/`udpl6`), raw
/// (`raw_do_one`: `"%-4s  %6ld %6ld %-23s %-23s %-11d"`, the state as a number), and UNIX
/// domain sockets (`unix_do_one`). The -e, -p and -o columns follow as `finish_this_one`
/// writes them.
public final class ExtraTablesRenderer {
  /// The look of the listing (the same options as the tcp/udp rows).
  public let options: NetstatOptions
  private let out: OutputBuffer
  private let resolver: NameResolver
  private let owner: ((UInt64) -> [UInt8]?)?
  /// Written before every row (and before the column header): `--all-netns`'s label column.
  public var rowPrefix: [UInt8] = []
  private let cache = AddressTextCache()

  /// A renderer writing to `out`; `owner` gives the `PID/Program name` label of an inode.
  public init(
    options: NetstatOptions, output: OutputBuffer, resolver: NameResolver = NameResolver(),
    owner: ((UInt64) -> [UInt8]?)? = nil
  ) {
    self.options = options
    self.out = output
    self.resolver = resolver
    self.owner = owner
  }

  /// "(servers and established)", "(only servers)" or "(w/o servers)".
  static func scopeText(_ scope: ListeningScope) -> String {
    switch scope {
    case .all: "(servers and established)"
    case .listening: "(only servers)"
    case .connected: "(w/o servers)"
    }
  }

  /// `unix_info`'s banner and header.
  public func writeUnixHeader(columnPrefix: String = "") {
    out.append("Active UNIX domain sockets " + Self.scopeText(options.scope) + "\n")
    out.append(columnPrefix)
    out.append("Proto RefCnt Flags       Type       State         I-Node  ")
    if options.programs { out.append(" PID/Program name    ") }
    out.append(" Path\n")
  }

  /// One UNIX socket row: `"%-5s %-6ld %-11s %-10s %-13s "`, `"%-8lu"`, ` %-20s` with -p, then
  /// ` %s\n` with the path. A RefCnt the source cannot know (unix_diag) prints as `-`.
  public func writeUnix(_ r: UnixSocketRecord) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    c.put(rowPrefix, limit: 256)
    let start = c.p
    c.put(r.protocolNumber == 0 ? "unix" : "??")
    c.pad(from: start, to: 6)
    let refStart = c.p
    if let refs = r.referenceCount { c.decimal(UInt64(refs)) } else { c.put(0x2d) }
    c.pad(from: refStart, to: 7)
    let flagStart = c.p
    c.put("[ ")
    if r.flags & (1 << 16) != 0 { c.put("ACC ") }
    if r.flags & (1 << 17) != 0 { c.put("W ") }
    if r.flags & (1 << 18) != 0 { c.put("N ") }
    c.put("]")
    c.pad(from: flagStart, to: 12)
    let typeStart = c.p
    switch r.type {
    case 1: c.put("STREAM")
    case 2: c.put("DGRAM")
    case 3: c.put("RAW")
    case 4: c.put("RDM")
    case 5: c.put("SEQPACKET")
    default: c.put("UNKNOWN")
    }
    c.pad(from: typeStart, to: 11)
    let stateStart = c.p
    c.put(Self.unixStateName(r))
    c.pad(from: stateStart, to: 14)
    let inodeStart = c.p
    c.decimal(r.inode)
    c.pad(from: inodeStart, to: 8)
    if options.programs {
      c.put(0x20)
      let labelStart = c.p
      if let label = owner?(r.inode) { c.put(label, limit: 64) } else { c.put(0x2d) }
      c.pad(from: labelStart, to: 20)
    }
    c.put(0x20)
    c.put(r.path, limit: 3000)
    c.put(0x0a)
    out.commitRow(c.p)
  }

  /// netstat's State word for a UNIX socket.
  public static func unixStateName(_ r: UnixSocketRecord) -> StaticString {
    switch r.socketState {
    case 0: "FREE"
    case 1: r.flags & UnixSocketRecord.acceptFlag != 0 ? "LISTENING" : ""
    case 2: "CONNECTING"
    case 3: "CONNECTED"
    case 4: "DISCONNECTING"
    default: "UNKNOWN"
    }
  }

  /// netstat's Type word for a UNIX socket.
  public static func unixTypeName(_ type: UInt8) -> String {
    switch type {
    case 1: "STREAM"
    case 2: "DGRAM"
    case 3: "RAW"
    case 4: "RDM"
    case 5: "SEQPACKET"
    default: "UNKNOWN"
    }
  }

  /// One UDP-Lite or raw row.
  public func writeInet(_ r: SocketRecord, table: ExtraInetTable) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    c.put(rowPrefix, limit: 256)
    let start = c.p
    c.put(Array(table.label.utf8))
    if table.proto == .udplite {
      c.pad(from: start, to: 5)
      c.put(0x20)
    } else {
      c.pad(from: start, to: 4)
      c.put("  ")
    }
    c.decimal(UInt64(r.receiveQueue), width: 6)
    c.put(0x20)
    c.decimal(UInt64(r.sendQueue), width: 6)
    c.put(0x20)
    endpoint(r.local, table, &c)
    c.put(0x20)
    endpoint(r.remote, table, &c)
    c.put(0x20)
    let stateStart = c.p
    if table.proto == .raw {
      c.decimal(UInt64(r.stateCode))
    } else {
      switch r.stateCode {
      case 1: c.put("ESTABLISHED")
      case 7: break
      default: c.put("UNKNOWN")
      }
    }
    c.pad(from: stateStart, to: 11)
    NetstatRenderer.writeOwnerColumns(&c, uid: r.uid, inode: r.inode, options, resolver, owner)
    if options.timers {
      // udp_do_one and raw_do_one: retransmits forced to 0, ticks over a fixed 100.
      c.put(0x20)
      let code = r.timerCode
      let centiseconds = UInt64(r.timerExpiresMilliseconds / 10)
      if code == 0 {
        c.put("off (0.00")
      } else {
        c.put(code == 1 || code == 2 ? "on" : "unkn-")
        c.decimal(UInt64(code))
        c.put(" (")
        c.decimal(centiseconds / 100)
        c.put(0x2e)
        c.decimal((centiseconds % 100) / 10)
        c.decimal(centiseconds % 10)
      }
      c.put("/0/")
      c.decimal(UInt64(r.probes))
      c.put(0x29)
    }
    c.put(0x0a)
    out.commitRow(c.p)
  }

  /// net-tools `read_services`: raw "ports" are IP protocol numbers, named from the protocols
  /// database (getprotoent, /etc/protocols), each entry prepended to the list so that the last
  /// one for a number wins. (It adds services of protocol "raw" first; /etc/services has none,
  /// and protocols entries would shadow them anyway.)
  private lazy var protocolNames: [UInt16: [UInt8]] = {
    var names: [UInt16: [UInt8]] = [:]
    setprotoent(1)
    while let p = getprotoent() {
      guard let name = p.pointee.p_name else { continue }
      names[UInt16(truncatingIfNeeded: p.pointee.p_proto)] = Array(String(cString: name).utf8)
    }
    endprotoent()
    return names
  }()

  /// `addr_do_one` with udp's service names for UDP-Lite and protocol names for raw.
  private func endpoint(_ ep: Endpoint, _ table: ExtraInetTable, _ c: inout RowCursor) {
    var port: [UInt8]
    if ep.port == 0 {
      port = [0x2a]
    } else if !options.numericPorts, table.proto == .udplite,
      let name = resolver.serviceName(port: ep.port, transport: .udp)
    {
      port = Array(name.prefix(64))
    } else if !options.numericPorts, table.proto == .raw, let name = protocolNames[ep.port] {
      port = Array(name.prefix(64))
    } else {
      port = Array(String(ep.port).utf8)
    }
    var address: [UInt8]
    if options.numericHosts {
      var buf = [UInt8](repeating: 0, count: 64)
      let n = buf.withUnsafeMutableBufferPointer { b in
        // swift-format-ignore: NeverForceUnwrap
        ep.address.isIPv4Mapped
          ? AddressText.writeIPv4(UInt32(truncatingIfNeeded: ep.address.low), into: b.baseAddress!)
          : cache.text(of: ep.address, into: b.baseAddress!)
      }
      address = Array(buf[..<n])
    } else {
      address =
        ep.address.family == .inet
        ? resolver.hostName(ipv4: ep.address.ipv4) : resolver.hostName(ipv6: ep.address)
    }
    if !options.wide && address.count + port.count > 22 {
      port = Array(port.prefix(18))
      address = Array(address.prefix(22 - port.count))
    }
    let start = c.p
    c.put(address, limit: 1000)
    c.put(0x3a)
    c.put(port)
    c.pad(from: start, to: 23)
  }
}
