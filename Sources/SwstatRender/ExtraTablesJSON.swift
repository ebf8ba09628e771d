import SwstatCore

/// `--json` for the tables beyond tcp and udp, one object per line like the socket objects:
///
///     {"proto":"unix","type":"STREAM","state":"LISTENING","flags":["ACC"],"refcnt":2,
///      "inode":1234,"path":"/run/x.sock","peer_inode":null,"recv_q":null,"send_q":null,
///      "uid":null}
///     {"proto":"raw","family":"inet","state_code":7,"local":{"address":"0.0.0.0","port":1},
///      "remote":{"address":"0.0.0.0","port":0},"recv_q":0,"send_q":0,"uid":0,"inode":99}
///
/// `refcnt` comes from /proc/net/unix only; `peer_inode`, `recv_q`, `send_q` and `uid` of a
/// UNIX socket from unix_diag only (`--source netlink`); `null` otherwise. `path` is `null` for
/// an unnamed socket; an abstract name starts with `@`. `owners` (with -p) and `netns` (with
/// --all-netns) are added as for TCP and UDP.
public final class ExtraTablesJSON {
  private let out: OutputBuffer
  private let owners: ((UInt64) -> [SocketOwnerInfo])?
  private let cache = AddressTextCache()
  /// `--all-netns`: the namespace's label, written as `"netns"`.
  public var netns: [UInt8]? = nil

  /// A writer to `out`; with `owners`, each object lists every process holding the socket.
  public init(output: OutputBuffer, owners: ((UInt64) -> [SocketOwnerInfo])? = nil) {
    self.out = output
    self.owners = owners
  }

  /// One UNIX socket object.
  public func writeUnix(_ r: UnixSocketRecord) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    c.put("{\"proto\":\"unix\",\"type\":")
    c.jsonString(ExtraTablesRenderer.unixTypeName(r.type))
    c.put(",\"state\":")
    let state = ExtraTablesRenderer.unixStateName(r)
    c.jsonString(UnsafeRawBufferPointer(start: state.utf8Start, count: state.utf8CodeUnitCount))
    c.put(",\"flags\":[")
    var names: [StaticString] = []
    if r.flags & (1 << 16) != 0 { names.append("\"ACC\"") }
    if r.flags & (1 << 17) != 0 { names.append("\"W\"") }
    if r.flags & (1 << 18) != 0 { names.append("\"N\"") }
    for (i, n) in names.enumerated() {
      if i > 0 { c.put(0x2c) }
      c.put(n)
    }
    c.put("],\"refcnt\":")
    optional(r.referenceCount.map(UInt64.init), &c)
    c.put(",\"inode\":")
    c.decimal(r.inode)
    c.put(",\"path\":")
    if r.path.isEmpty { c.put("null") } else { c.jsonString(Array(r.path.prefix(2048))) }
    c.put(",\"peer_inode\":")
    optional(r.peerInode.map(UInt64.init), &c)
    c.put(",\"recv_q\":")
    optional(r.receiveQueue.map(UInt64.init), &c)
    c.put(",\"send_q\":")
    optional(r.sendQueue.map(UInt64.init), &c)
    c.put(",\"uid\":")
    optional(r.uid.map(UInt64.init), &c)
    out.commitRow(c.p)
    try finish(r.inode)
  }

  /// One UDP-Lite or raw socket object.
  public func writeInet(_ r: SocketRecord, table: ExtraInetTable) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    c.put("{\"proto\":")
    c.jsonString(table.proto.rawValue)
    c.put(",\"family\":")
    c.put(r.family == .inet ? "\"inet\"" : "\"inet6\"")
    c.put(",\"state_code\":")
    c.decimal(UInt64(r.stateCode))
    for (key, e) in [(",\"local\":", r.local), (",\"remote\":", r.remote)] {
      c.put(Array(key.utf8))
      c.put("{\"address\":\"")
      c.p += cache.text(of: e.address, into: c.p)
      c.put("\",\"port\":")
      c.decimal(UInt64(e.port))
      c.put("}")
    }
    c.put(",\"recv_q\":")
    c.decimal(UInt64(r.receiveQueue))
    c.put(",\"send_q\":")
    c.decimal(UInt64(r.sendQueue))
    c.put(",\"uid\":")
    c.decimal(UInt64(r.uid))
    c.put(",\"inode\":")
    c.decimal(r.inode)
    out.commitRow(c.p)
    try finish(r.inode)
  }

  private func optional(_ v: UInt64?, _ c: inout RowCursor) {
    if let v { c.decimal(v) } else { c.put("null") }
  }

  private func finish(_ inode: UInt64) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    if let owners { try out.writeOwners(owners(inode), row: &c) }
    if let netns {
      c.put(",\"netns\":")
      c.jsonString(netns)
    }
    c.put("}\n")
    out.commitRow(c.p)
  }

  /// `-s --json`: one object per section, `{"file":"snmp","section":"Tcp","counters":{…}}`,
  /// values as the kernel wrote them (signed: Tcp MaxConn is -1).
  public static func writeStatistics(
    _ sections: [StatisticsSection], file: String, to out: OutputBuffer, netns: [UInt8]? = nil
  ) throws(OutputError) {
    for s in sections {
      var text = "{\"file\":\"" + file + "\",\"section\":\"" + s.title + "\",\"counters\":{"
      for (i, counter) in s.counters.enumerated() {
        if i > 0 { text += "," }
        text += "\"" + counter.name + "\":" + String(counter.signedValue)
      }
      text += "}"
      out.append(text)
      if let netns {
        var c = RowCursor(try out.reserveRow())
        c.put(",\"netns\":")
        c.jsonString(netns)
        out.commitRow(c.p)
      }
      out.append("}\n")
      try out.endRow()
    }
  }
}
