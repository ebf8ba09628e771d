import CSwstat
import SystemPackage

// The one file that imports CSwstat: conversions from the shim's flat struct, and the
// callback trampoline that carries a Swift closure (and the first error it throws) through
// the C `ctx` pointer.

extension SocketRecord {
  @inline(__always)
  init(_ raw: borrowing swstat_sock) {
    let family: AddressFamily = raw.family == Kernel.afInet6 ? .inet6 : .inet
    let transport: TransportProtocol = raw.protocol == Kernel.ipprotoUDP ? .udp : .tcp
    let local = withUnsafeBytes(of: raw.local_addr) { b in
      IPAddress(
        family: family, high: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
        low: family == .inet ? 0 : b.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
    }
    let remote = withUnsafeBytes(of: raw.remote_addr) { b in
      IPAddress(
        family: family, high: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
        low: family == .inet ? 0 : b.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
    }
    self.transport = transport
    self.family = family
    self.local = Endpoint(address: local, port: raw.local_port)
    self.remote = Endpoint(address: remote, port: raw.remote_port)
    stateCode = raw.state
    receiveQueue = raw.recv_q
    sendQueue = raw.send_q
    listenBacklog = raw.has_backlog != 0 ? raw.backlog : nil
    uid = raw.uid
    inode = raw.inode
    cookie = raw.cookie
    timerCode = raw.timer
    timerExpiresMilliseconds = raw.expires_ms
    retransmits = raw.retransmits
    probes = raw.probes
    shutdown = raw.has_shutdown != 0 ? raw.shutdown : nil
    interfaceIndex = raw.ifindex
  }
}

/// Holds the Swift body for the C callback, with the query it filters by and the first error
/// the body threw (the callback then returns 1 and the C loop stops at once).
struct Sink {
  let query: SocketQuery
  let body: (borrowing SocketRecord) throws -> Void
  /// Where the extras the query asked for go (nil: none asked).
  let store: SocketExtrasStore?
  var error: (any Error)?
  var delivered = 0

  @inline(__always)
  mutating func deliver(_ raw: UnsafePointer<swstat_sock>) -> Int32 {
    let record = SocketRecord(raw.pointee)
    guard query.matches(record) else { return 0 }
    // Only when the query asked (the C side leaves it NULL otherwise), and only for records
    // that are kept: the one allocation a record with extras costs, into the side table the
    // body reads them from. Records themselves stay plain values.
    if let extras = raw.pointee.extras, let store {
      store.insert(SocketExtras(extras), for: record.cookie)
    }
    do {
      try body(record)
      delivered += 1
      return 0
    } catch {
      self.error = error
      return 1
    }
  }

}

/// What a run through the sink left: how many records reached the body, and the first error
/// the body threw.
struct SinkResult {
  var error: (any Error)?
  var delivered: Int
}

/// Runs `call` with a C callback and context that feed `body` through a `Sink`.
/// Returns the C result and what the sink saw.
func withSink(
  _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void,
  _ call: (swstat_sock_fn, UnsafeMutableRawPointer) -> Int32
) -> (Int32, SinkResult) {
  withoutActuallyEscaping(body) { body in
    var sink = Sink(query: query, body: body, store: query.extras)
    let rc = withUnsafeMutablePointer(to: &sink) { ctx in
      call(
        { sock, ctx in
          // swift-format-ignore: NeverForceUnwrap
          ctx!.assumingMemoryBound(to: Sink.self).pointee.deliver(sock)
        }, UnsafeMutableRawPointer(ctx))
    }
    return (rc, SinkResult(error: sink.error, delivered: sink.delivered))
  }
}

extension SocketFilter {
  /// The filter's ports and addresses, then its expression's program (AND), as inet_diag
  /// bytecode for INET_DIAG_REQ_BYTECODE; empty when there is nothing for the kernel to test
  /// (states go into `idiag_states` instead). An expression whose program does not fit the
  /// request is left to the Swift check (`refusal` names the case where that cannot work).
  var kernelBytecode: [UInt8] {
    let options = optionsBytecode
    guard let program = expression?.bytecode, !program.isEmpty else { return options }
    let both = FilterBytecode.and(options, program)
    return both.count <= Int(SWSTAT_DIAG_BYTECODE_MAX) ? both : options
  }

  /// Why this filter cannot run on the source `choice` names, in one line (exit 64), or nil:
  /// conditions only the kernel answers with `--source proc`, or a program too long for the
  /// request when the kernel must run it.
  public func refusal(for choice: SourceChoice) -> String? {
    guard let expression else { return nil }
    if choice == .proc { return expression.procRefusal }
    guard let keyword = expression.kernelOnlyKeyword else { return nil }
    let program = expression.bytecode
    let length = FilterBytecode.and(optionsBytecode, program).count
    let limit = Int(SWSTAT_DIAG_BYTECODE_MAX)
    if !program.isEmpty && length <= limit { return nil }
    return "filter: too long for the kernel (\(program.isEmpty ? "over 65528" : String(length)) "
      + "bytes of bytecode, at most \(limit)), and \"\(keyword)\" can only be tested there"
  }

  /// The options' ports and addresses alone, from the C builder.
  private var optionsBytecode: [UInt8] {
    var f = swstat_filter()
    Self.fill(&f.sport, sourcePorts)
    Self.fill(&f.dport, destinationPorts)
    Self.fill(&f.port, eitherPort)
    Self.fill(&f.src, source)
    Self.fill(&f.dst, destination)
    var out = [UInt8](repeating: 0, count: Int(SWSTAT_FILTER_BYTECODE_MAX))
    let n = out.withUnsafeMutableBufferPointer { buf in
      // swift-format-ignore: NeverForceUnwrap
      swstat_diag_filter_build(&f, buf.baseAddress!, buf.count)
    }
    // Every SocketFilter compiles: ranges are ordered and prefixes fit their family.
    precondition(n >= 0, "swstat_diag_filter_build failed: \(n)")
    return Array(out.prefix(Int(n)))
  }

  private static func fill(_ c: inout swstat_port_range, _ r: ClosedRange<UInt16>?) {
    guard let r else { return }
    c.set = 1
    c.lo = r.lowerBound
    c.hi = r.upperBound
  }

  private static func fill(_ c: inout swstat_prefix, _ p: AddressPrefix?) {
    guard let p else { return }
    c.family = Kernel.family(p.address.family)
    c.prefix_len = p.length
    let bytes = p.address.bytes
    withUnsafeMutableBytes(of: &c.addr) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
    }
  }
}

extension SocketQuery {
  /// A query whose `matches` holds for every record: what a dump delivers when the Swift
  /// re-check is off (tests that look at the kernel's filtering alone).
  static let acceptAll = SocketQuery(scope: .all, tcpStates: StateMask(rawValue: ~0))
}

enum Shim {
  /// One sock_diag dump with `bytecode` attached (none when empty); returns the C result
  /// code, the number of records the kernel sent (before filtering in Swift), and the sink.
  /// With `verify` false the records reach `body` exactly as the kernel filtered them.
  static func diagDump(
    _ table: SocketTable, _ query: SocketQuery, bytecode: [UInt8], verify: Bool = true,
    _ body: (borrowing SocketRecord) throws -> Void
  ) -> (rc: Int32, emitted: UInt64, sink: SinkResult) {
    var emitted: UInt64 = 0
    let (rc, sink) = withSink(verify ? query : .acceptAll, body) { fn, ctx in
      bytecode.withUnsafeBufferPointer { bc in
        swstat_diag_dump_extras(
          Kernel.family(table.family), Kernel.proto(table.transport),
          query.kernelStateMask(for: table.transport), bc.baseAddress, bc.count,
          query.extras?.kinds.rawValue ?? 0, fn, ctx, &emitted)
      }
    }
    return (rc, emitted, sink)
  }

  /// Decodes recorded sock_diag replies (seq and portid checks off).
  static func diagParse(
    _ bytes: UnsafeRawBufferPointer, _ transport: TransportProtocol, _ query: SocketQuery,
    _ body: (borrowing SocketRecord) throws -> Void
  ) -> (rc: Int32, sink: SinkResult, interrupted: Bool) {
    var emitted: UInt64 = 0
    var interrupted: Int32 = 0
    let (rc, sink) = withSink(query, body) { fn, ctx in
      guard let base = bytes.baseAddress else { return 0 }
      return swstat_diag_parse_extras(
        base, bytes.count, Kernel.proto(transport), 0, 0, query.extras?.kinds.rawValue ?? 0, fn,
        ctx,
        &emitted, &interrupted)
    }
    return (rc, sink, interrupted != 0)
  }

  /// Scans an open /proc/net table to end of file.
  static func procScan(
    fd: FileDescriptor, _ table: SocketTable, _ query: SocketQuery,
    _ body: (borrowing SocketRecord) throws -> Void
  ) -> (rc: Int32, sink: SinkResult, line: Int, reason: String) {
    var err = swstat_proc_error()
    let (rc, sink) = withSink(query, body) { fn, ctx in
      swstat_proc_scan(
        fd.rawValue, Kernel.family(table.family), Kernel.proto(table.transport), fn, ctx, &err)
    }
    return (rc, sink, Int(err.line), reason(err))
  }

  /// Parses /proc/net text already in memory (tests and fuzzing).
  static func procParse(
    _ bytes: UnsafeRawBufferPointer, _ table: SocketTable, _ query: SocketQuery,
    _ body: (borrowing SocketRecord) throws -> Void
  ) -> (rc: Int32, sink: SinkResult, line: Int, reason: String) {
    var err = swstat_proc_error()
    let (rc, sink) = withSink(query, body) { fn, ctx in
      guard let base = bytes.baseAddress else { return 0 }
      return swstat_proc_parse(
        base.assumingMemoryBound(to: CChar.self), bytes.count, Kernel.family(table.family),
        Kernel.proto(table.transport), 1, fn, ctx, &err)
    }
    return (rc, sink, Int(err.line), reason(err))
  }

  private static func reason(_ err: swstat_proc_error) -> String {
    withUnsafeBytes(of: err.reason) { raw in
      let bytes = raw.prefix { $0 != 0 }
      return String(decoding: bytes, as: UTF8.self)
    }
  }

  /// Records one dump's raw replies into `fd` (test fixtures).
  static func diagRecord(
    _ table: SocketTable, states: UInt32, extras: SocketExtras.Kinds, fd: FileDescriptor
  ) -> Int32 {
    swstat_diag_record(
      Kernel.family(table.family), Kernel.proto(table.transport), states, extras.rawValue,
      fd.rawValue)
  }
}
