import SwstatCore

/// `--json`: one object per socket per line (NDJSON), streamed, in a stable schema (see
/// swstat(8), JSON OUTPUT):
///
///     {"proto":"tcp","family":"inet","state":"LISTEN","state_code":10,
///      "local":{"address":"127.0.0.1","port":22},"remote":{"address":"0.0.0.0","port":0},
///      "recv_q":0,"send_q":0,"listen_backlog":128,"uid":0,"inode":1234,"cookie":5678,
///      "shutdown":"none","timer":{"name":"off","expires_ms":0,"retransmits":0},
///      "owners":[{"pid":1,"program":"sshd","fd":3}]}
///
/// Addresses are numeric and whole (an IPv4-mapped address keeps its `::ffff:` form); the
/// state is `Vocabulary`'s data word; fields a source cannot know are `null`; `owners` appears
/// with -p, `netns` with --all-netns. UDP-Lite and raw sockets (the extra tables) have a
/// smaller object of their own:
///
///     {"proto":"raw","family":"inet","state_code":7,"local":{"address":"0.0.0.0","port":1},
///      "remote":{"address":"0.0.0.0","port":0},"recv_q":0,"send_q":0,"uid":0,"inode":99}
public final class SocketJSON: OutputSink {
  private let out: OutputBuffer
  private let withOwners: Bool
  private let cache = AddressTextCache()
  private var owners: OwnerTable? = nil
  private var table: Section.Table = .inet
  private var netns: [UInt8]? = nil
  /// `--info`, `--memory`, `--cgroup`: their members after `timer` (nil: none).
  public var extras: SocketExtrasJSON? = nil

  /// A writer to `out`; `owners`: each object lists every process holding the socket (-p).
  public init(output: OutputBuffer, owners: Bool = false) {
    self.out = output
    self.withOwners = owners
  }

  public func begin(_ section: Section) throws(OutputError) {
    owners = section.owners
    table = section.table
    netns = section.netns
  }

  public func end() throws(OutputError) { try out.flush() }

  public func write(_ r: borrowing SocketRecord) throws(OutputError) {
    try write(r, leading: "")
  }

  /// One object whose first members are `leading` (JSON members, each followed by a comma:
  /// `"time":"…","event":"new",`), then the socket's.
  public func write(_ r: borrowing SocketRecord, leading: String) throws(OutputError) {
    if case .extra(let extra) = table { return try writeExtra(r, extra) }
    var c = RowCursor(try out.reserveRow(OutputBuffer.rowReserve + leading.utf8.count))
    c.put(0x7b)
    if !leading.isEmpty {
      var l = leading
      l.withUTF8 { c.put(UnsafeRawBufferPointer($0)) }
    }
    c.put("\"proto\":")
    c.put(r.transport == .tcp ? "\"tcp\"" : "\"udp\"")
    c.put(",\"family\":")
    c.put(r.family == .inet ? "\"inet\"" : "\"inet6\"")
    c.put(",\"state\":")
    Vocabulary.withStateWord(r.stateCode, r.transport, .data) { c.jsonString($0) }
    c.put(",\"state_code\":")
    c.decimal(UInt64(r.stateCode))
    c.put(",\"local\":")
    endpoint(r.local, &c)
    c.put(",\"remote\":")
    endpoint(r.remote, &c)
    c.put(",\"recv_q\":")
    c.decimal(UInt64(r.receiveQueue))
    c.put(",\"send_q\":")
    c.decimal(UInt64(r.sendQueue))
    c.put(",\"listen_backlog\":")
    if let b = r.listenBacklog { c.decimal(UInt64(b)) } else { c.put("null") }
    c.put(",\"uid\":")
    c.decimal(UInt64(r.uid))
    c.put(",\"inode\":")
    c.decimal(r.inode)
    c.put(",\"cookie\":")
    if r.cookie != 0 { c.decimal(r.cookie) } else { c.put("null") }
    c.put(",\"shutdown\":")
    switch r.shutdown {
    case nil: c.put("null")
    case 0?: c.put("\"none\"")
    case 1?: c.put("\"read\"")
    case 2?: c.put("\"write\"")
    default: c.put("\"both\"")
    }
    c.put(",\"timer\":{\"name\":")
    c.jsonString(Vocabulary.timerWord(r.timerCode))
    c.put(",\"expires_ms\":")
    c.decimal(UInt64(r.timerExpiresMilliseconds))
    c.put(",\"retransmits\":")
    c.decimal(UInt64(r.retransmits))
    c.put("}")
    if let extras { try extras.write(r, row: &c, out: out) }
    try finish(r.inode, &c)
  }

  /// One UDP-Lite or raw socket object.
  private func writeExtra(_ r: borrowing SocketRecord, _ extra: ExtraInetTable) throws(OutputError)
  {
    var c = RowCursor(try out.reserveRow())
    c.put("{\"proto\":")
    c.jsonString(extra.proto.rawValue)
    c.put(",\"family\":")
    c.put(r.family == .inet ? "\"inet\"" : "\"inet6\"")
    c.put(",\"state_code\":")
    c.decimal(UInt64(r.stateCode))
    c.put(",\"local\":")
    endpoint(r.local, &c)
    c.put(",\"remote\":")
    endpoint(r.remote, &c)
    c.put(",\"recv_q\":")
    c.decimal(UInt64(r.receiveQueue))
    c.put(",\"send_q\":")
    c.decimal(UInt64(r.sendQueue))
    c.put(",\"uid\":")
    c.decimal(UInt64(r.uid))
    c.put(",\"inode\":")
    c.decimal(r.inode)
    try finish(r.inode, &c)
  }

  /// `owners` and `netns` when there are any, then the closing brace and the newline.
  private func finish(_ inode: UInt64, _ c: inout RowCursor) throws(OutputError) {
    if withOwners {
      out.commitRow(c.p)
      try out.writeOwners(owners?.all(of: inode) ?? [], row: &c)
    }
    if let netns {
      c.put(",\"netns\":")
      netns.withUnsafeBytes { c.jsonString(UnsafeRawBufferPointer(rebasing: $0.prefix(256))) }
    }
    c.put("}\n")
    out.commitRow(c.p)
  }

  @inline(__always)
  private func endpoint(_ e: Endpoint, _ c: inout RowCursor) {
    c.put("{\"address\":\"")
    c.p += cache.text(of: e.address, into: c.p)
    c.put("\",\"port\":")
    c.decimal(UInt64(e.port))
    c.put("}")
  }
}

/// `--json` for UNIX sockets, one object per line like the socket objects:
///
///     {"proto":"unix","type":"STREAM","state":"LISTENING","flags":["ACC"],"refcnt":2,
///      "inode":1234,"path":"/run/x.sock","peer_inode":null,"recv_q":null,"send_q":null,
///      "uid":null}
///
/// `refcnt` comes from /proc/net/unix; `peer_inode`, `recv_q`, `send_q` and `uid` from
/// unix_diag; `null` when the source did not have them. `path` is the whole name (`null` when
/// unnamed; an abstract name starts with `@`).
public final class UnixJSON: OutputSink {
  private let out: OutputBuffer
  private let withOwners: Bool
  private var owners: OwnerTable? = nil
  private var netns: [UInt8]? = nil

  /// A writer to `out`; `owners`: each object lists every process holding the socket (-p).
  public init(output: OutputBuffer, owners: Bool = false) {
    self.out = output
    self.withOwners = owners
  }

  public func begin(_ section: Section) throws(OutputError) {
    owners = section.owners
    netns = section.netns
  }

  public func end() throws(OutputError) { try out.flush() }

  public func write(_ r: borrowing UnixSocketRecord) throws(OutputError) {
    var c = RowCursor(try out.reserveRow(6 * r.path.count + 4096))
    c.put("{\"proto\":\"unix\",\"type\":")
    c.jsonString(UnixTable.typeName(r.type).utf8Buffer())
    c.put(",\"state\":")
    c.jsonString(UnixTable.stateName(r).utf8Buffer())
    c.put(",\"flags\":[")
    for (i, n) in UnixTable.flagNames(r.flags).enumerated() {
      if i > 0 { c.put(0x2c) }
      c.jsonString(n.utf8Buffer())
    }
    c.put("],\"refcnt\":")
    optional(r.referenceCount.map(UInt64.init), &c)
    c.put(",\"inode\":")
    c.decimal(r.inode)
    c.put(",\"path\":")
    if r.path.isEmpty { c.put("null") } else { c.jsonString(r.path) }
    c.put(",\"peer_inode\":")
    optional(r.peerInode.map(UInt64.init), &c)
    c.put(",\"recv_q\":")
    optional(r.receiveQueue.map(UInt64.init), &c)
    c.put(",\"send_q\":")
    optional(r.sendQueue.map(UInt64.init), &c)
    c.put(",\"uid\":")
    optional(r.uid.map(UInt64.init), &c)
    if withOwners {
      out.commitRow(c.p)
      try out.writeOwners(owners?.all(of: r.inode) ?? [], row: &c)
    }
    if let netns {
      c.put(",\"netns\":")
      netns.withUnsafeBytes { c.jsonString(UnsafeRawBufferPointer(rebasing: $0.prefix(256))) }
    }
    c.put("}\n")
    out.commitRow(c.p)
  }

  private func optional(_ v: UInt64?, _ c: inout RowCursor) {
    if let v { c.decimal(v) } else { c.put("null") }
  }
}

extension OutputBuffer {
  /// Writes the JSON member `,"owners":[{"pid":…,"program":…,"fd":…},…]` (`program` cut to 512
  /// bytes). The caller has committed its open row; on return `c` is a fresh open row just
  /// after the `]` for the caller to go on with and commit.
  func writeOwners(_ owners: [SocketOwnerInfo], row c: inout RowCursor) throws(OutputError) {
    c = RowCursor(try reserveRow())
    c.put(",\"owners\":[")
    commitRow(c.p)
    // A socket may be shared by hundreds of processes: one reserve per owner.
    for (i, o) in owners.enumerated() {
      var c = RowCursor(try reserveRow())
      if i > 0 { c.put(0x2c) }
      c.put("{\"pid\":")
      c.decimal(UInt64(o.pid))
      c.put(",\"program\":")
      o.program.withUnsafeBytes { c.jsonString(UnsafeRawBufferPointer(rebasing: $0.prefix(512))) }
      c.put(",\"fd\":")
      c.decimal(UInt64(o.fd))
      c.put("}")
      commitRow(c.p)
    }
    c = RowCursor(try reserveRow())
    c.put("]")
  }
}
