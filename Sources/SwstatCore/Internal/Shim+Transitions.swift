import CSwstat
import Glibc
import SystemPackage

// The transition source's side of the shim (transitions.c, and the exact lookup in
// sock_diag.c): layouts and options to their C structs, records from theirs, and the callback
// trampoline that carries a Swift closure (and the first error it throws) through `ctx`.

extension Transition {
  @inline(__always)
  init(_ raw: borrowing swstat_transition) {
    // swift-format-ignore: NeverForceUnwrap
    let kind = Kind(rawValue: raw.kind)!  // the shim writes only 1...4 here (5 is LOST)
    let family: AddressFamily = raw.family == Kernel.afInet6 ? .inet6 : .inet
    self.init(
      kind: kind, monotonicNanoseconds: raw.time_ns, cpu: raw.cpu, family: family,
      protocolNumber: raw.protocol, oldStateCode: raw.old_state, newStateCode: raw.new_state,
      local: Endpoint(
        address: TraceShim.address(raw.local_addr, family), port: raw.local_port),
      remote: Endpoint(
        address: TraceShim.address(raw.remote_addr, family), port: raw.remote_port),
      socketAddress: raw.skaddr, cookie: raw.has_cookie != 0 ? raw.cookie : nil)
  }
}

extension TransitionEvent {
  @inline(__always)
  init(_ raw: borrowing swstat_transition) {
    if raw.kind == UInt8(SWSTAT_TRANSITION_LOST) {
      self = .lost(count: raw.lost, monotonicNanoseconds: raw.time_ns)
    } else {
      self = .transition(Transition(raw))
    }
  }
}

/// Holds the Swift body for the C callback, and the first error it threw (the callback then
/// returns 1 and the C loop stops at once).
struct TransitionSink {
  let body: (TransitionEvent) throws -> Void
  var error: (any Error)?

  @inline(__always)
  mutating func deliver(_ raw: UnsafePointer<swstat_transition>) -> Int32 {
    do {
      try body(TransitionEvent(raw.pointee))
      return 0
    } catch {
      self.error = error
      return 1
    }
  }
}

enum TraceShim {
  /// The layout fields by their tracefs names (computed: key paths are not Sendable).
  static var fieldPaths: [(String, WritableKeyPath<swstat_trace_layout, swstat_trace_field>)] {
    [
      ("skaddr", \.skaddr), ("oldstate", \.oldstate), ("newstate", \.newstate),
      ("state", \.state), ("sport", \.sport), ("dport", \.dport), ("family", \.family),
      ("protocol", \.protocol), ("saddr", \.saddr), ("daddr", \.daddr),
      ("saddr_v6", \.saddr_v6), ("daddr_v6", \.daddr_v6), ("sock_cookie", \.cookie),
    ]
  }

  static func address<T>(_ bytes: T, _ family: AddressFamily) -> IPAddress {
    withUnsafeBytes(of: bytes) { b in
      IPAddress(
        family: family, high: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
        low: family == .inet ? 0 : b.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
    }
  }

  static func layout(_ raw: swstat_trace_layout) -> TracepointLayout {
    var fields: [String: TracepointLayout.Field] = [:]
    for (name, path) in fieldPaths where raw[keyPath: path].size != 0 {
      let f = raw[keyPath: path]
      fields[name] = TracepointLayout.Field(offset: Int(f.offset), size: Int(f.size))
    }
    // swift-format-ignore: NeverForceUnwrap
    let kind = Transition.Kind(rawValue: raw.kind)!  // parsed for one of these kinds
    return TracepointLayout(
      id: raw.id, kind: kind, fields: fields, usesSockaddr: raw.sockaddr_addrs != 0,
      minimumSize: Int(raw.min_size))
  }

  static func raw(_ layout: TracepointLayout) -> swstat_trace_layout {
    var raw = swstat_trace_layout()
    raw.id = layout.id
    raw.kind = layout.kind.rawValue
    raw.sockaddr_addrs = layout.usesSockaddr ? 1 : 0
    raw.min_size = UInt16(clamping: layout.minimumSize)
    for (name, path) in fieldPaths {
      guard let f = layout.fields[name] else { continue }
      raw[keyPath: path] = swstat_trace_field(
        offset: UInt16(clamping: f.offset), size: UInt16(clamping: f.size))
    }
    return raw
  }

  static func reason(_ err: swstat_trace_error) -> String {
    withUnsafeBytes(of: err.reason) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  static func ports(_ options: TransitionSource.Options) -> swstat_trace_ports {
    func range(_ r: ClosedRange<UInt16>?) -> swstat_port_range {
      guard let r else { return swstat_port_range() }
      return swstat_port_range(set: 1, lo: r.lowerBound, hi: r.upperBound)
    }
    return swstat_trace_ports(
      local: range(options.localPorts), remote: range(options.remotePorts),
      either: range(options.eitherPort))
  }

  static func nanoseconds(_ d: Duration) -> UInt64 {
    let (seconds, attoseconds) = d.components
    guard seconds >= 0, attoseconds >= 0 else { return 0 }
    return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
  }

  /// A tracefs root: (descriptor or negative errno, whether it was mounted privately).
  static func openTracefs() -> (Int32, Bool) {
    var mounted: Int32 = 0
    let fd = swstat_tracefs_open(&mounted)
    return (fd, mounted != 0)
  }

  static func parseFormat(_ bytes: [UInt8], kind: Transition.Kind)
    -> (Int32, TracepointLayout?, String)
  {
    var raw = swstat_trace_layout()
    var err = swstat_trace_error()
    let rc = bytes.withUnsafeBufferPointer { buf in
      buf.withMemoryRebound(to: CChar.self) { chars in
        // An empty buffer has no base address; the parser reads nothing then.
        withUnsafePointer(to: 0 as CChar) { empty in
          swstat_trace_parse_format(
            chars.baseAddress ?? empty, chars.count, kind.rawValue, &raw, &err)
        }
      }
    }
    return (rc, rc == 0 ? layout(raw) : nil, reason(err))
  }

  static func load(_ dirfd: Int32, _ event: String, kind: Transition.Kind)
    -> (Int32, TracepointLayout?, String)
  {
    var raw = swstat_trace_layout()
    var err = swstat_trace_error()
    let rc = swstat_trace_load(dirfd, event, kind.rawValue, &raw, &err)
    return (rc, rc == 0 ? layout(raw) : nil, reason(err))
  }

  static func options(_ o: TransitionSource.Options) -> swstat_trace_options {
    swstat_trace_options(
      ring_pages: UInt32(clamping: o.ringPages), watermark: UInt32(clamping: o.watermarkBytes),
      reorder_ns: nanoseconds(o.reorderWindow), ports: ports(o))
  }

  static func open(_ layouts: [TracepointLayout], _ o: TransitionSource.Options)
    -> (Int32, OpaquePointer?, String)
  {
    let raws = layouts.map(raw)
    var opts = options(o)
    var handle: OpaquePointer? = nil
    var err = swstat_trace_error()
    let rc = raws.withUnsafeBufferPointer { buf in
      // swift-format-ignore: NeverForceUnwrap
      swstat_trace_open(buf.baseAddress!, buf.count, &opts, &handle, &err)
    }
    return (rc, rc == 0 ? handle : nil, reason(err))
  }

  static func close(_ handle: OpaquePointer) { swstat_trace_close(handle) }

  static func fd(_ handle: OpaquePointer) -> Int32 { swstat_trace_fd(handle) }

  static func record(_ handle: OpaquePointer, _ fd: Int32) { swstat_trace_record_to(handle, fd) }

  static func statistics(_ handle: OpaquePointer) -> TransitionSource.Statistics {
    var s = swstat_trace_stats()
    swstat_trace_get_stats(handle, &s)
    return TransitionSource.Statistics(
      records: s.records, delivered: s.delivered, lost: s.lost, kernelLost: s.kernel_lost,
      filtered: s.filtered,
      undecodable: s.undecodable, rings: Int(s.rings), events: Int(s.events))
  }

  /// Runs `call` with a C callback and context feeding `body`; returns the C result and the
  /// first error `body` threw.
  static func withTransitionSink(
    _ body: (TransitionEvent) throws -> Void,
    _ call: (swstat_transition_fn, UnsafeMutableRawPointer) -> Int32
  ) -> (Int32, (any Error)?) {
    withoutActuallyEscaping(body) { body in
      var sink = TransitionSink(body: body)
      let rc = withUnsafeMutablePointer(to: &sink) { ctx in
        call(
          { t, ctx in
            // swift-format-ignore: NeverForceUnwrap
            ctx!.assumingMemoryBound(to: TransitionSink.self).pointee.deliver(t)
          }, UnsafeMutableRawPointer(ctx))
      }
      return (rc, sink.error)
    }
  }

  static func drain(
    _ handle: OpaquePointer, now: UInt64, flush: Bool, limit: Int,
    _ body: (TransitionEvent) throws -> Void
  ) throws -> Int {
    let (rc, error) = withTransitionSink(body) { fn, ctx in
      swstat_trace_drain(handle, now, flush ? 1 : 0, UInt32(clamping: limit), fn, ctx)
    }
    if let error { throw error }
    return Int(rc)
  }

  static func replay(
    _ recording: [UInt8], _ layouts: [TracepointLayout], _ o: TransitionSource.Options,
    _ body: (TransitionEvent) throws -> Void
  ) -> (Int32, (any Error)?) {
    let raws = layouts.map(raw)
    var p = ports(o)
    return withTransitionSink(body) { fn, ctx in
      raws.withUnsafeBufferPointer { l in
        recording.withUnsafeBytes { buf in
          guard let lbase = l.baseAddress, let base = buf.baseAddress else { return 0 }
          return swstat_trace_replay(lbase, l.count, base, buf.count, &p, fn, ctx)
        }
      }
    }
  }

  static func filter(_ layout: TracepointLayout, _ o: TransitionSource.Options) -> String {
    var raw = raw(layout)
    var p = ports(o)
    var out = [CChar](repeating: 0, count: 512)
    let n = out.withUnsafeMutableBufferPointer { buf in
      // swift-format-ignore: NeverForceUnwrap
      swstat_trace_filter(&raw, &p, buf.baseAddress!, buf.count)
    }
    guard n > 0 else { return "" }
    return String(decoding: out.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// sock_diag's exact lookup of one socket: (0 or a negative errno, the socket).
  static func lookup(
    _ transport: TransportProtocol, family: AddressFamily, local: Endpoint, remote: Endpoint,
    cookie: UInt64
  ) -> (Int32, SocketRecord?) {
    var key = swstat_sock()
    key.family = Kernel.family(family)
    key.protocol = Kernel.proto(transport)
    key.local_port = local.port
    key.remote_port = remote.port
    key.cookie = cookie
    withUnsafeMutableBytes(of: &key.local_addr) { raw in
      for (i, b) in local.address.bytes.enumerated() { raw[i] = b }
    }
    withUnsafeMutableBytes(of: &key.remote_addr) { raw in
      for (i, b) in remote.address.bytes.enumerated() { raw[i] = b }
    }
    var found: SocketRecord? = nil
    let rc = withUnsafeMutablePointer(to: &found) { ctx in
      swstat_diag_lookup(
        &key,
        { sock, ctx in
          // swift-format-ignore: NeverForceUnwrap
          ctx!.assumingMemoryBound(to: SocketRecord?.self).pointee = SocketRecord(sock.pointee)
          return 0
        }, ctx)
    }
    return (rc, rc == 0 ? found : nil)
  }
}
