import SwstatCore

/// netstat's UNIX domain socket table (`unix_info`, `unix_do_one`): the "Active UNIX domain
/// sockets" banner and header once, then one row per socket. The path is the last column and
/// may be long; it is written in the listing's name style (a name is any local user's choice).
public final class UnixTable: OutputSink {
  /// The look of the listing (the same options as the internet table).
  public let options: NetstatOptions
  private let out: OutputBuffer
  private let labelled: Bool
  private var owners: OwnerTable? = nil
  private var rowPrefix: [UInt8] = []
  private var headerWritten = false

  /// A table writing to `out`; `labelled` (--all-netns) adds the Netns column.
  public init(options: NetstatOptions, output: OutputBuffer, labelled: Bool = false) {
    self.options = options
    self.out = output
    self.labelled = labelled
  }

  /// `unix_info`'s banner and header.
  public static func header(_ o: NetstatOptions, labelled: Bool = false) -> String {
    "Active UNIX domain sockets \(o.scopeText)\n"
      + Columns.header(Columns.unix(programs: o.programs), labelled: labelled) + "\n"
  }

  public func begin(_ section: Section) throws(OutputError) {
    owners = section.owners
    rowPrefix = labelled ? NetstatTable.labelCell(section.netns ?? []) : []
    if options.header && !headerWritten {
      headerWritten = true
      out.append(Self.header(options, labelled: labelled))
    }
  }

  public func end() throws(OutputError) { try out.flush() }

  /// One row: `"%-5s %-6ld %-11s %-10s %-13s "`, `"%-8lu"`, ` %-20s` with -p, then ` %s\n` with
  /// the path. A RefCnt the source cannot know (unix_diag) prints as `-`.
  public func write(_ r: borrowing UnixSocketRecord) throws(OutputError) {
    var c = RowCursor(try out.reserveRow(Visible.maxBytes(r.path.count) + 4096))
    c.put(rowPrefix)
    let start = c.p
    c.put(r.protocolNumber == 0 ? "unix" : "??")
    c.pad(from: start, to: Columns.unixProto.width + 1)
    let refStart = c.p
    if let refs = r.referenceCount { c.decimal(UInt64(refs)) } else { c.put(0x2d) }
    c.pad(from: refStart, to: Columns.refCount.width + 1)
    let flagStart = c.p
    c.put("[ ")
    for name in Self.flagNames(r.flags) {
      c.put(name)
      c.put(0x20)
    }
    c.put("]")
    c.pad(from: flagStart, to: Columns.flags.width + 1)
    let typeStart = c.p
    c.put(Self.typeName(r.type))
    c.pad(from: typeStart, to: Columns.type.width + 1)
    let stateStart = c.p
    c.put(Self.stateName(r))
    c.pad(from: stateStart, to: Columns.unixState.width + 1)
    let inodeStart = c.p
    c.decimal(r.inode)
    c.pad(from: inodeStart, to: Columns.unixInode.width)
    if options.programs {
      NetstatTable.writeProgramCell(owners?.label(of: r.inode), options.names, &c)
    }
    c.put(0x20)
    r.path.withUnsafeBytes {
      _ = Visible.write($0, style: options.names, columns: Int.max, into: &c)
    }
    c.put(0x0a)
    out.commitRow(c.p)
  }

  /// The `Flags` words: `ACC` (listening), `W` (waiting for data), `N` (no space).
  public static func flagNames(_ flags: UInt32) -> [StaticString] {
    var names: [StaticString] = []
    if flags & (1 << 16) != 0 { names.append("ACC") }
    if flags & (1 << 17) != 0 { names.append("W") }
    if flags & (1 << 18) != 0 { names.append("N") }
    return names
  }

  /// netstat's State word for a UNIX socket.
  public static func stateName(_ r: borrowing UnixSocketRecord) -> StaticString {
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
  public static func typeName(_ type: UInt8) -> StaticString {
    switch type {
    case 1: "STREAM"
    case 2: "DGRAM"
    case 3: "RAW"
    case 4: "RDM"
    case 5: "SEQPACKET"
    default: "UNKNOWN"
    }
  }
}
