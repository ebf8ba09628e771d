import Glibc
import SystemPackage

/// Why the transition source could not be used.
public enum TransitionSourceError: Error, Equatable, CustomStringConvertible {
  /// Not root, and no CAP_PERFMON (with tracefs readable or mountable).
  case permissionDenied(tracepoint: String)
  /// The tracepoint (or tracefs, or perf_event_open) is not usable here for another reason.
  case unavailable(tracepoint: String, errno: Errno)
  /// The tracepoint's tracefs format has no field swstat needs, or one it cannot read.
  case malformedFormat(tracepoint: String, reason: String)
  /// Reading failed after the source was open.
  case failed(errno: Errno)

  /// One line: the thing, then the reason (the CLI puts `swstat: ` before it).
  public var description: String {
    switch self {
    case .permissionDenied(let tracepoint):
      "tracepoint \(tracepoint): Permission denied (root or CAP_PERFMON)"
    case .unavailable(let tracepoint, let errno):
      "tracepoint \(tracepoint): \(errno) (errno \(errno.rawValue))"
    case .malformedFormat(let tracepoint, let reason):
      "tracepoint \(tracepoint): unexpected format: \(reason)"
    case .failed(let errno):
      "tracepoint reader: \(errno) (errno \(errno.rawValue))"
    }
  }

  /// The error for a negative errno from the shim, permission errors folded into one.
  static func from(_ rc: Int32, tracepoint: String) -> TransitionSourceError {
    let errno = Errno(rawValue: -rc)
    if errno == .permissionDenied || errno == .notPermitted {
      return .permissionDenied(tracepoint: tracepoint)
    }
    return .unavailable(tracepoint: tracepoint, errno: errno)
  }
}

/// Where a tracepoint keeps the fields swstat reads, parsed from its tracefs `format` file
/// (never assumed: `inet_sock_set_state`'s `protocol` grew from a byte to two in Linux 5.6,
/// moving every later field).
public struct TracepointLayout: Hashable, Sendable {
  /// A field's place in the record.
  public struct Field: Hashable, Sendable {
    /// Bytes from the start of the record.
    public var offset: Int
    /// Bytes long.
    public var size: Int
    /// A field from its parts.
    public init(offset: Int, size: Int) {
      self.offset = offset
      self.size = size
    }
  }

  /// The tracepoint's id (`common_type`, perf's `config`).
  public var id: UInt32
  /// Which kind of transition its records are.
  public var kind: Transition.Kind
  /// The fields swstat reads that the tracepoint has, by their tracefs names (`skaddr`,
  /// `oldstate`, `newstate`, `state`, `sport`, `dport`, `family`, `protocol`, `saddr`, `daddr`,
  /// `saddr_v6`, `daddr_v6`, `sock_cookie`).
  public var fields: [String: Field]
  /// Whether `saddr`/`daddr` are sockaddr_in/_in6 structs (family and port inside).
  public var usesSockaddr: Bool
  /// The shortest record this layout decodes.
  public var minimumSize: Int

  /// Parses a tracefs `format` file for a tracepoint of `kind`.
  public static func parse(format: some Collection<UInt8>, kind: Transition.Kind, name: String)
    throws(TransitionSourceError) -> TracepointLayout
  {
    let bytes = Array(format)
    let (rc, layout, reason) = TraceShim.parseFormat(bytes, kind: kind)
    guard let layout else {
      throw rc == -EINVAL || rc == -EBADMSG
        ? .malformedFormat(tracepoint: name, reason: reason)
        : .from(rc, tracepoint: name)
    }
    return layout
  }
}

/// A tracefs, found mounted or mounted in a mount namespace of a short-lived thread's own (the
/// host's mounts never change; the mount lives only as long as this object's descriptor).
public final class Tracefs {
  /// The tracefs root folder, for openat(2).
  public let directory: FileDescriptor
  /// Whether swstat had to mount it (no tracefs was mounted where this process could see it).
  public let mountedPrivately: Bool

  /// Finds or mounts a tracefs. Throws `.permissionDenied` without the privilege to read or
  /// mount one.
  public init() throws(TransitionSourceError) {
    let (fd, mounted) = TraceShim.openTracefs()
    guard fd >= 0 else { throw .from(fd, tracepoint: TransitionSource.stateTracepoint) }
    directory = FileDescriptor(rawValue: fd)
    mountedPrivately = mounted
  }

  deinit { try? directory.close() }

  /// The contents of a file under the root (`events/sock/inet_sock_set_state/format`).
  public func read(_ path: String) throws(TransitionSourceError) -> [UInt8] {
    let fd = openat(directory.rawValue, path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .from(-errno, tracepoint: path) }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw .from(-errno, tracepoint: path) }
      if n == 0 { return out }
      out += chunk.prefix(n)
    }
  }

  /// The layout of `events/<system>/<event>` (`system:event` as perf names it).
  public func layout(_ tracepoint: String, kind: Transition.Kind) throws(TransitionSourceError)
    -> TracepointLayout
  {
    let (rc, layout, reason) = TraceShim.load(
      directory.rawValue, tracepoint.replacingColon(), kind: kind)
    guard let layout else {
      throw rc == -EINVAL || rc == -EBADMSG
        ? .malformedFormat(tracepoint: tracepoint, reason: reason)
        : .from(rc, tracepoint: tracepoint)
    }
    return layout
  }
}

extension String {
  /// "sock:inet_sock_set_state" as its tracefs folder "sock/inet_sock_set_state".
  fileprivate func replacingColon() -> String {
    String(map { $0 == ":" ? "/" : $0 })
  }
}

/// Every TCP state transition as the kernel makes it, from the tracepoint
/// `sock:inet_sock_set_state` read with perf_event_open (no eBPF): one ring buffer per online
/// CPU, wake-ups batched by a watermark, a kernel-side filter (`protocol == 6` and the ports
/// asked for), records of all CPUs merged in time order behind a short reorder window.
/// Opt-in: resets and retransmissions from `tcp:tcp_send_reset`, `tcp:tcp_receive_reset` and
/// `tcp:tcp_retransmit_skb`. Needs root, or CAP_PERFMON with tracefs readable.
///
/// Poll `fileDescriptor` for POLLIN with a timeout (a lone record does not reach the watermark
/// and wakes nobody) and call `drain` on either.
public final class TransitionSource {
  /// The tracepoint every source reads.
  public static let stateTracepoint = "sock:inet_sock_set_state"

  /// How to read.
  public struct Options: Hashable, Sendable {
    /// Also `tcp:tcp_send_reset` and `tcp:tcp_receive_reset`.
    public var resets: Bool
    /// Also `tcp:tcp_retransmit_skb`.
    public var retransmits: Bool
    /// Only sockets whose local port is in range (the tracepoint's sport).
    public var localPorts: ClosedRange<UInt16>?
    /// Only sockets whose remote port is in range (dport).
    public var remotePorts: ClosedRange<UInt16>?
    /// Only sockets with either port in range.
    public var eitherPort: ClosedRange<UInt16>?
    /// Records younger than this are held back, so that a record one CPU commits late still
    /// comes out in time order (per socket: the kernel's order).
    public var reorderWindow: Duration
    /// Data pages per CPU ring, a power of two.
    public var ringPages: Int
    /// Bytes a ring holds before poll wakes (0: a quarter of the ring).
    public var watermarkBytes: Int

    /// Options from their parts: state changes only, every port, a 5 ms window, 256 KiB
    /// rings (64 pages of 4 KiB) waking at a quarter full.
    public init(
      resets: Bool = false, retransmits: Bool = false, localPorts: ClosedRange<UInt16>? = nil,
      remotePorts: ClosedRange<UInt16>? = nil, eitherPort: ClosedRange<UInt16>? = nil,
      reorderWindow: Duration = .milliseconds(5), ringPages: Int = 64, watermarkBytes: Int = 0
    ) {
      self.resets = resets
      self.retransmits = retransmits
      self.localPorts = localPorts
      self.remotePorts = remotePorts
      self.eitherPort = eitherPort
      self.reorderWindow = reorderWindow
      self.ringPages = ringPages
      self.watermarkBytes = watermarkBytes
    }

    /// The tracepoints these options read, with their kinds, the state changes first.
    var tracepoints: [(String, Transition.Kind)] {
      var list: [(String, Transition.Kind)] = [(TransitionSource.stateTracepoint, .stateChange)]
      if resets {
        list += [("tcp:tcp_send_reset", .resetSent), ("tcp:tcp_receive_reset", .resetReceived)]
      }
      if retransmits { list.append(("tcp:tcp_retransmit_skb", .retransmit)) }
      return list
    }
  }

  /// What the reader has seen so far.
  public struct Statistics: Hashable, Sendable {
    /// Samples taken out of the rings.
    public var records: UInt64
    /// Events handed to `drain`'s body (lost reports included).
    public var delivered: UInt64
    /// Records the kernel dropped, as the drains reported them (`.lost`).
    public var lost: UInt64
    /// The kernel's own PERF_RECORD_LOST counts so far: written only once the next record
    /// fits, so often later than `lost`, and sometimes never.
    public var kernelLost: UInt64
    /// Samples dropped by the port conditions after decoding (tracepoints without port fields).
    public var filtered: UInt64
    /// Samples no layout decodes, and corrupt ring records.
    public var undecodable: UInt64
    /// CPUs read.
    public var rings: Int
    /// perf events open (tracepoints × CPUs).
    public var events: Int
  }

  /// The layouts read from tracefs, one per tracepoint, the state changes first.
  public let layouts: [TracepointLayout]
  /// Whether tracefs had to be mounted (privately; see `Tracefs`).
  public let mountedTracefsPrivately: Bool
  /// The options it was opened with.
  public let options: Options
  let handle: OpaquePointer

  /// Opens the tracepoints on every online CPU. Throws `.permissionDenied` without root or
  /// CAP_PERFMON — its description is the one line the CLI prints.
  public init(_ options: Options = Options()) throws(TransitionSourceError) {
    let tracefs = try Tracefs()
    var layouts: [TracepointLayout] = []
    for (name, kind) in options.tracepoints {
      layouts.append(try tracefs.layout(name, kind: kind))
    }
    let (rc, handle, reason) = TraceShim.open(layouts, options)
    guard let handle else {
      let name = TransitionSource.stateTracepoint
      if rc == -EINVAL && !reason.isEmpty {
        throw .malformedFormat(tracepoint: name, reason: reason)
      }
      throw .from(rc, tracepoint: name)
    }
    self.handle = handle
    self.layouts = layouts
    self.options = options
    mountedTracefsPrivately = tracefs.mountedPrivately
  }

  deinit { TraceShim.close(handle) }

  /// The descriptor to poll(2) for POLLIN (an epoll instance over the rings).
  public var fileDescriptor: Int32 { TraceShim.fd(handle) }

  /// Hands `body` every record older than the reorder window, in time order across all CPUs
  /// (with `flush`, every record), at most `limit` of them (0: no limit); returns how many.
  /// A `.lost` event follows when a ring filled up since the last drain and records were
  /// dropped (counted from the events' counters, so it comes at once, not when the kernel next
  /// manages to write). Whatever `body` throws stops the drain and is thrown on; the records
  /// not yet delivered stay for the next call.
  @discardableResult
  public func drain(
    limit: Int = 0, flush: Bool = false, _ body: (TransitionEvent) throws -> Void
  ) throws -> Int {
    try TraceShim.drain(handle, now: 0, flush: flush, limit: limit, body)
  }

  /// `drain` as of `monotonicNanoseconds` instead of now (tests).
  @_spi(Testing)
  @discardableResult
  public func drain(
    asOf monotonicNanoseconds: UInt64, limit: Int = 0, _ body: (TransitionEvent) throws -> Void
  ) throws -> Int {
    try TraceShim.drain(handle, now: monotonicNanoseconds, flush: false, limit: limit, body)
  }

  /// The counters so far.
  public var statistics: Statistics { TraceShim.statistics(handle) }

  /// Appends every ring record taken out from now on to `fd` (nil: stop), in the format
  /// `replay` reads: how the fixtures were recorded.
  @_spi(Testing)
  public func record(to fd: FileDescriptor?) { TraceShim.record(handle, fd?.rawValue ?? -1) }

  /// Whether the tracepoint can be read here: finds (or privately mounts) tracefs, reads the
  /// layout and opens the events with one-page rings, then closes them. Throws what `init`
  /// would (`.permissionDenied` for an unprivileged user).
  public static func probe() throws(TransitionSourceError) {
    _ = try TransitionSource(Options(ringPages: 1))
  }

  /// Whether `probe()` succeeds: the live modes' automatic choice.
  public static var isUsable: Bool {
    do {
      try probe()
      return true
    } catch {
      return false
    }
  }

  /// Replays a recording (as `record(to:)` writes it) through the decoder and the same
  /// per-CPU merge as a live read: every record, in time order. Returns how many events were
  /// delivered. Throws `.malformedFormat` for a truncated recording.
  @discardableResult
  public static func replay(
    _ recording: [UInt8], layouts: [TracepointLayout], options: Options = Options(),
    _ body: (TransitionEvent) throws -> Void
  ) throws -> Int {
    let (rc, error) = TraceShim.replay(recording, layouts, options, body)
    if let error { throw error }
    if rc < 0 {
      throw TransitionSourceError.malformedFormat(
        tracepoint: "recording", reason: "\(Errno(rawValue: -rc))")
    }
    return Int(rc)
  }

  /// The kernel filter the source sets on a tracepoint with `layout` (tests).
  @_spi(Testing)
  public static func kernelFilter(for layout: TracepointLayout, options: Options) -> String {
    TraceShim.filter(layout, options)
  }
}
