import SwstatCore

/// One process holding a socket, for `owners` in JSON.
public struct SocketOwnerInfo: Sendable {
  /// The process id.
  public var pid: Int32
  /// argv[0] as netstat trims it (its basename when it is a path), not cut to a column.
  public var program: [UInt8]
  /// The descriptor number in that process.
  public var fd: Int32
  /// An owner from its parts.
  public init(pid: Int32, program: [UInt8], fd: Int32) {
    self.pid = pid
    self.program = program
    self.fd = fd
  }
}

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
/// state is netstat's word for the kernel's number, for UDP `ESTABLISHED` (connected) or
/// `CLOSE` (unconnected); fields a source cannot know are `null`; `owners` appears with -p.
public final class JSONRenderer {
  private let out: OutputBuffer
  private let owners: ((UInt64) -> [SocketOwnerInfo])?
  private let cache = AddressTextCache()
  /// `--all-netns`: the namespace's label, written as `"netns"` last in each object.
  public var netns: [UInt8]? = nil

  /// A renderer writing to `out`; with `owners`, each object lists every process holding it.
  public init(output: OutputBuffer, owners: ((UInt64) -> [SocketOwnerInfo])? = nil) {
    self.out = output
    self.owners = owners
  }

  /// The timer word netstat prints for a timer code.
  public static func timerName(_ code: UInt8) -> String {
    switch code {
    case 0: "off"
    case 1: "on"
    case 2: "keepalive"
    case 3: "timewait"
    case 4: "probe"
    default: "unkn-\(code)"
    }
  }

  /// The JSON `state` of a record: netstat's word; UDP's unconnected state is `CLOSE`.
  public static func stateName(_ r: SocketRecord) -> String {
    if r.transport == .udp {
      return r.stateCode == 1 ? "ESTABLISHED" : r.stateCode == 7 ? "CLOSE" : "UNKNOWN"
    }
    return NetstatStateName.tcp(r.stateCode)
  }

  /// One object and its newline.
  public func write(_ r: SocketRecord) throws(OutputError) { try write(r, leading: "") }

  /// One object whose first members are `leading` (JSON members, each followed by a comma:
  /// `"time":"…","event":"new",`), then the socket's.
  public func write(_ r: SocketRecord, leading: String) throws(OutputError) {
    var c = RowCursor(try out.reserveRow())
    c.put(0x7b)
    if !leading.isEmpty {
      var l = leading
      l.withUTF8 {
        c.put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0).prefix(2048)))
      }
    }
    c.put("\"proto\":")
    c.put(r.transport == .tcp ? "\"tcp\"" : "\"udp\"")
    c.put(",\"family\":")
    c.put(r.family == .inet ? "\"inet\"" : "\"inet6\"")
    c.put(",\"state\":")
    if r.transport == .tcp, let s = r.state, s.rawValue <= 11 {
      NetstatStateName.withName(of: r) { c.jsonString($0) }
    } else {
      c.jsonString(Self.stateName(r))
    }
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
    c.jsonString(Self.timerName(r.timerCode))
    c.put(",\"expires_ms\":")
    c.decimal(UInt64(r.timerExpiresMilliseconds))
    c.put(",\"retransmits\":")
    c.decimal(UInt64(r.retransmits))
    c.put("}")
    guard let owners else {
      if let netns {
        c.put(",\"netns\":")
        c.jsonString(netns)
      }
      c.put("}\n")
      out.commitRow(c.p)
      return
    }
    try out.writeOwners(owners(r.inode), row: &c)
    if let netns {
      c.put(",\"netns\":")
      c.jsonString(netns)
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

extension OutputBuffer {
  /// Writes the JSON member `,"owners":[{"pid":…,"program":…,"fd":…},…]` (`program` cut to 512
  /// bytes) for `JSONRenderer` and `ExtraTablesJSON`. `c` is the open row of the object; it is
  /// committed, and on return `c` is a fresh open row just after the `]` for the caller to
  /// go on with and commit.
  func writeOwners(_ owners: [SocketOwnerInfo], row c: inout RowCursor) throws(OutputError) {
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
