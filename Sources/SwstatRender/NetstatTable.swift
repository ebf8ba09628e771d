import Glibc
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
  /// The banner and column header (not with -H).
  public var header = true
  /// How names others chose (programs, paths, host and user names) are written: `.visible` on
  /// a terminal, netstat's bytes when piped.
  public var names: NameStyle = .visible

  /// Options with netstat's defaults (names resolved, connections only).
  public init() {}

  /// "(servers and established)", "(only servers)" or "(w/o servers)".
  public var scopeText: String {
    switch scope {
    case .all: "(servers and established)"
    case .listening: "(only servers)"
    case .connected: "(w/o servers)"
    }
  }
}

/// netstat's internet table, exactly as net-tools netstat 2.10 prints it (`tcp_do_one`,
/// `udp_do_one`, `raw_do_one`, `finish_this_one`, `addr_do_one`): the "Active Internet
/// connections" banner and header once, then one row per socket of tcp, tcp6, udp, udp6 and of
/// the extra tables (UDP-Lite as `udpl`, raw with its state as a number). It never touches the
/// kernel: owners come with each section, names from the resolver.
public final class NetstatTable: OutputSink {
  /// The look of the listing.
  public let options: NetstatOptions
  private let out: OutputBuffer
  private let resolver: NameResolver
  private var owners: OwnerTable? = nil
  private var table: Section.Table = .inet
  private var rowPrefix: [UInt8] = []
  private var labelled = false
  private var headerWritten = false
  // Scratch space for one port's text.
  private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
  private let addressCache = AddressTextCache()
  /// `--info`, `--memory`, `--cgroup`: the line of ss's tokens under each row that carries
  /// extras (nil: no such line).
  public var extras: SocketExtrasText? = nil

  /// netstat's address column without -W, and the `short_len` of `addr_do_one`.
  static let addressWidth = Columns.localAddress.width
  static let shortLength = addressWidth - 1

  /// A table writing to `out`; `labelled` (--all-netns) adds the Netns column.
  public init(
    options: NetstatOptions, output: OutputBuffer, resolver: NameResolver = NameResolver(),
    labelled: Bool = false
  ) {
    self.options = options
    self.out = output
    self.resolver = resolver
    self.labelled = labelled
  }

  deinit { scratch.deallocate() }

  /// The banner and the column header netstat prints once per listing.
  public static func header(_ o: NetstatOptions, labelled: Bool = false) -> String {
    "Active Internet connections \(o.scopeText)\n"
      + Columns.header(
        Columns.inet(extend: o.extend, programs: o.programs, timers: o.timers), labelled: labelled)
      + "\n"
  }

  public func begin(_ section: Section) throws(OutputError) {
    owners = section.owners
    table = section.table
    rowPrefix = labelled ? Self.labelCell(section.netns ?? []) : []
    if options.header && !headerWritten {
      headerWritten = true
      out.append(Self.header(options, labelled: labelled))
    }
  }

  public func end() throws(OutputError) { try out.flush() }

  /// The `Netns` cell: the label written visibly, cut and padded to its column, and a space.
  static func labelCell(_ label: [UInt8]) -> [UInt8] {
    var cell = [UInt8](repeating: 0x20, count: Visible.maxBytes(label.count) + 32)
    let n = cell.withUnsafeMutableBufferPointer { b in
      label.withUnsafeBytes { l in
        // swift-format-ignore: NeverForceUnwrap
        var c = RowCursor(b.baseAddress!)
        let start = c.p
        let width = Columns.netns.width
        let used = Visible.write(l, style: .visible, columns: width, into: &c)
        c.p += max(0, width - used) + 1
        return c.p - start
      }
    }
    return Array(cell[..<n])
  }

  /// One row.
  @inline(__always)
  public func write(_ r: borrowing SocketRecord) throws(OutputError) {
    let start = try out.reserveRow()
    var c = RowCursor(start)
    if !rowPrefix.isEmpty { c.put(rowPrefix) }
    if case .extra(let extra) = table {
      writeExtraHead(r, extra, &c)
    } else if r.receiveQueue | r.sendQueue == 0 {
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
      writeQueues(r, &c)
    }
    writeEndpoint(r.local, r.transport, &c)
    c.put(0x20)
    writeEndpoint(r.remote, r.transport, &c)
    c.put(0x20)
    let stateStart = c.p
    if case .extra(let extra) = table, extra.proto == .raw {
      c.decimal(UInt64(r.stateCode))  // raw_do_one: the state as a number
    } else {
      Vocabulary.withStateWord(r.stateCode, r.transport, .table) { c.put($0) }
    }
    c.pad(from: stateStart, to: Columns.state.width)
    writeOwnerColumns(uid: r.uid, inode: r.inode, &c)
    if options.timers {
      c.put(0x20)
      if case .extra = table { writeExtraTimer(r, &c) } else { writeTimer(r, &c) }
    }
    c.put(0x0a)
    out.commitRow(c.p)
    if let extras { try extras.write(r, to: out) }
  }

  @inline(__always)
  private func writeQueues(_ r: borrowing SocketRecord, _ c: inout RowCursor) {
    c.decimal(UInt64(r.receiveQueue), width: Columns.receiveQueue.width)
    c.put(0x20)
    c.decimal(UInt64(r.sendQueue), width: Columns.sendQueue.width)
    c.put(0x20)
  }

  /// `udpl`/`udpl6` (`"%-5s %6ld"`) or `raw`/`raw6` (`"%-4s  %6ld"`), then the queues.
  private func writeExtraHead(
    _ r: borrowing SocketRecord, _ table: ExtraInetTable, _ c: inout RowCursor
  ) {
    let start = c.p
    c.put(Array(table.label.utf8))
    c.pad(from: start, to: Columns.proto.width)
    c.put(0x20)
    writeQueues(r, &c)
  }

  /// netstat -o: `off (0.00/0/0)`, `on (1.40/5/0)`, `keepalive (7194.18/0/0)`,
  /// `timewait (54.23/0/0)`, `probe (1.12/0/3)`: seconds left, retransmits, probes. UDP shows
  /// `off` (or `onN`), with retransmits always 0 (net-tools `udp_do_one`).
  private func writeTimer(_ r: borrowing SocketRecord, _ c: inout RowCursor) {
    let code = r.timerCode
    let udp = r.transport == .udp
    let retransmits = udp ? 0 : UInt64(r.retransmits)
    let centiseconds = UInt64(r.timerExpiresMilliseconds / 10)
    if code == 0 {
      c.put("off (0.00/")
    } else {
      if udp && (code == 1 || code == 2) {
        c.put("on")
        c.decimal(UInt64(code))
      } else if udp {
        c.put("unkn-")
        c.decimal(UInt64(code))
      } else {
        c.put(Array(Vocabulary.timerWord(code).utf8))
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

  /// udp_do_one and raw_do_one for the extra tables: retransmits forced to 0, ticks over a
  /// fixed 100.
  private func writeExtraTimer(_ r: borrowing SocketRecord, _ c: inout RowCursor) {
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

  /// net-tools `finish_this_one`: with -e the User and Inode columns (`" %-10s " "%-10lu"`),
  /// with -p the PID/Program name column (`" %-20s"`, `-` when no process holds the socket).
  @inline(__always)
  func writeOwnerColumns(uid: UInt32, inode: UInt64, _ c: inout RowCursor) {
    if options.extend {
      c.put(0x20)
      let userStart = c.p
      if !options.numericUsers, let name = resolver.userName(uid: uid) {
        name.withUnsafeBytes {
          _ = Visible.write(
            UnsafeRawBufferPointer(rebasing: $0.prefix(256)), style: options.names,
            columns: 256, into: &c)
        }
      } else {
        c.decimal(UInt64(uid))
      }
      c.pad(from: userStart, to: Columns.user.width)
      c.put(0x20)
      let inodeStart = c.p
      c.decimal(inode)
      c.pad(from: inodeStart, to: Columns.inode.width)
    }
    if options.programs { Self.writeProgramCell(owners?.label(of: inode), options.names, &c) }
  }

  /// netstat's ` %-20s` PID/Program name cell: the owner's label cut to 19 columns (netstat's
  /// bytes, or visibly), `-` when no visible process holds the socket.
  @inline(__always)
  static func writeProgramCell(_ label: [UInt8]?, _ names: NameStyle, _ c: inout RowCursor) {
    c.put(0x20)
    let used: Int
    if let label {
      used = label.withUnsafeBytes {
        Visible.write(
          UnsafeRawBufferPointer(rebasing: $0.prefix(256)), style: names,
          columns: Vocabulary.ownerLabelColumns, into: &c)
      }
    } else {
      c.put(0x2d)
      used = 1
    }
    if used < Columns.program.width {
      c.p.update(repeating: 0x20, count: Columns.program.width - used)
      c.p += Columns.program.width - used
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
    } else if !options.numericPorts, let name = portName(ep.port, transport) {
      portLen = min(name.count, 64)
      name.withUnsafeBytes {
        // swift-format-ignore: NeverForceUnwrap
        UnsafeMutableRawPointer(port).copyMemory(from: $0.baseAddress!, byteCount: portLen)
      }
    } else {
      var pc = RowCursor(port)
      pc.decimal(UInt64(ep.port))
      portLen = pc.p - port
    }
    let start = c.p
    if options.numericHosts {
      var a = addressText(ep.address, into: start)
      var p = portLen
      if !options.wide && a + p > Self.shortLength {
        p = min(p, Self.shortLength - 4)
        a = min(a, Self.shortLength - p)
      }
      c.p = start + a
      c.put(0x3a)
      c.put(UnsafeRawBufferPointer(start: port, count: p))
    } else {
      // A resolved name: cut as netstat cuts it (bytes), written in the names' style.
      let name =
        ep.address.family == .inet
        ? resolver.hostName(ipv4: ep.address.ipv4) : resolver.hostName(ipv6: ep.address)
      var a = min(name.count, 1000)
      var p = portLen
      if !options.wide && a + p > Self.shortLength {
        p = min(p, Self.shortLength - 4)
        a = min(a, Self.shortLength - p)
      }
      name.withUnsafeBytes {
        _ = Visible.write(
          UnsafeRawBufferPointer(rebasing: $0.prefix(a)), style: options.names, columns: a,
          into: &c)
      }
      c.put(0x3a)
      c.put(UnsafeRawBufferPointer(start: port, count: p))
    }
    c.pad(from: start, to: Self.addressWidth)
  }

  /// A port's name: udp's services for UDP-Lite, the protocols database for raw (its "port" is
  /// the IP protocol), tcp's or udp's services otherwise.
  private func portName(_ port: UInt16, _ transport: TransportProtocol) -> [UInt8]? {
    if case .extra(let extra) = table {
      return extra.proto == .raw
        ? resolver.protocolName(port) : resolver.serviceName(port: port, transport: .udp)
    }
    return resolver.serviceName(port: port, transport: transport)
  }

  @inline(__always)
  private func addressText(_ address: IPAddress, into buf: UnsafeMutablePointer<UInt8>) -> Int {
    if address.isIPv4Mapped {
      // net-tools fix_v4_address: a v4-mapped address prints as plain IPv4, even with -n.
      return AddressText.writeIPv4(UInt32(truncatingIfNeeded: address.low), into: buf)
    }
    return addressCache.text(of: address, into: buf)
  }
}
