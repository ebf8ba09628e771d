import Foundation
import Glibc
import SwstatCore
import SwstatTestSupport
import Testing

// Shared by the transition source's tests: TCP sockets of either family with explicit
// addresses, the four connection lifecycles, and an independent record of the kernel's
// transitions read from a tracefs instance's trace_pipe.

/// The live tracepoint tests need root (perf_event_open system-wide, tracefs, namespaces).
/// Under CI=true they run anyway, so that a missing privilege fails instead of skipping.
let traceTestsRun = geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true"

/// The kernel's TCP state names as trace_pipe prints them, by number.
let kernelStateNames = [
  "", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
  "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING",
  "TCP_NEW_SYN_RECV",
]

/// An address as inet_ntop writes it (and the kernel's %pI4 / %pI6c).
func addressText(_ a: IPAddress) -> String {
  var out = [CChar](repeating: 0, count: 64)
  let bytes = a.bytes
  let af = a.family == .inet ? AF_INET : AF_INET6
  _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &out, 64) }
  return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A TCP socket of a test's own, IPv4 or IPv6, bound to an explicit address.
struct TestSocket {
  let fd: Int32
  let family: AddressFamily

  static func make(_ family: AddressFamily) throws -> TestSocket {
    let fd = socket(family == .inet ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0, "socket: \(errno)")
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    return TestSocket(fd: fd, family: family)
  }

  static func withSockaddr<R>(
    _ e: Endpoint, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
  ) -> R {
    if e.address.family == .inet {
      var a = sockaddr_in()
      a.sin_family = sa_family_t(AF_INET)
      a.sin_port = e.port.bigEndian
      a.sin_addr.s_addr = e.address.ipv4.bigEndian
      return withUnsafePointer(to: &a) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
    }
    var a = sockaddr_in6()
    a.sin6_family = sa_family_t(AF_INET6)
    a.sin6_port = e.port.bigEndian
    withUnsafeMutableBytes(of: &a.sin6_addr) { raw in
      for (i, b) in e.address.bytes.enumerated() { raw[i] = b }
    }
    return withUnsafePointer(to: &a) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
      }
    }
  }

  /// A listener on `endpoint`.
  static func listener(_ endpoint: Endpoint, backlog: Int32 = 128) throws -> TestSocket {
    let s = try make(endpoint.address.family)
    try #require(withSockaddr(endpoint) { bind(s.fd, $0, $1) } == 0, "bind: \(errno)")
    try #require(listen(s.fd, backlog) == 0)
    return s
  }

  /// A connection from `source` (bound first, so the kernel picks the port before the SYN:
  /// every transition then carries it) to `destination`.
  static func connect(from source: IPAddress, to destination: Endpoint) throws -> TestSocket {
    let s = try make(destination.address.family)
    try #require(
      withSockaddr(Endpoint(address: source, port: 0)) { bind(s.fd, $0, $1) } == 0,
      "bind: \(errno)")
    try #require(withSockaddr(destination) { Glibc.connect(s.fd, $0, $1) } == 0, "\(errno)")
    return s
  }

  func accept() throws -> TestSocket {
    let fd = Glibc.accept(self.fd, nil, nil)
    try #require(fd >= 0)
    return TestSocket(fd: fd, family: family)
  }

  /// The local end, as getsockname reads it.
  var local: Endpoint {
    var storage = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return withUnsafeBytes(of: storage) { raw in
      if family == .inet {
        let a = raw.loadUnaligned(as: sockaddr_in.self)
        return Endpoint(
          address: IPAddress(
            family: .inet, high: UInt64(UInt32(bigEndian: a.sin_addr.s_addr)) << 32, low: 0),
          port: UInt16(bigEndian: a.sin_port))
      }
      let a = raw.loadUnaligned(as: sockaddr_in6.self)
      let bytes = withUnsafeBytes(of: a.sin6_addr) { Array($0) }
      return Endpoint(
        address: IPAddress(family: .inet6, bytes: bytes), port: UInt16(bigEndian: a.sin6_port))
    }
  }

  func close() { _ = Glibc.close(fd) }
  func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

  /// close() then sends a RST instead of a FIN.
  func lingerZero() {
    var l = linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
  }

  /// Blocks for one byte: 1, or 0 at end of file.
  func readByte() -> Int {
    var b: UInt8 = 0
    return Glibc.read(fd, &b, 1)
  }

  func writeByte() {
    var b: UInt8 = 0x78
    _ = Glibc.write(fd, &b, 1)
  }
}

/// The four ways a test connection ends.
enum Lifecycle: String, CaseIterable, Sendable {
  /// The client closes, the server reads end of file and closes: client FIN_WAIT1, FIN_WAIT2,
  /// TIME_WAIT; server CLOSE_WAIT, LAST_ACK.
  case clientClosesFirst
  /// The mirror image.
  case serverClosesFirst
  /// The client shuts down its sending side and keeps reading: the server sees end of file,
  /// writes, and only then closes.
  case halfClose
  /// The client closes with SO_LINGER 0: a RST, both ends straight to CLOSE.
  case reset

  /// Runs one connection from `source` to the listener; returns the client's local end.
  func run(listener: TestSocket, at server: Endpoint, from source: IPAddress) throws -> Endpoint {
    let client = try TestSocket.connect(from: source, to: server)
    let accepted = try listener.accept()
    let local = client.local
    switch self {
    case .clientClosesFirst:
      client.close()
      _ = accepted.readByte()
      accepted.close()
    case .serverClosesFirst:
      accepted.close()
      _ = client.readByte()
      client.close()
    case .halfClose:
      client.shutdownWrite()
      _ = accepted.readByte()  // end of file: the server is in CLOSE_WAIT
      usleep(2_000)  // held half-closed
      accepted.writeByte()
      _ = client.readByte()
      accepted.close()
      _ = client.readByte()
      client.close()
    case .reset:
      client.lingerZero()
      client.close()
      usleep(1_000)
      accepted.close()
    }
    return local
  }
}

/// One line of trace_pipe for inet_sock_set_state: what the kernel recorded, independently
/// of the perf reader.
struct KernelRecord: Hashable {
  var microseconds: UInt64
  var family: AddressFamily
  var local: String, remote: String
  var localPort: UInt16, remotePort: UInt16
  var oldState: UInt8, newState: UInt8

  /// "  <task>-<pid> [001] ..s1. 1234.567890: inet_sock_set_state: family=AF_INET
  /// protocol=IPPROTO_TCP sport=1 dport=2 saddr=… daddr=… saddrv6=… daddrv6=… oldstate=…
  /// newstate=…"
  init?(line: Substring) {
    guard let marker = line.range(of: ": inet_sock_set_state: ") else { return nil }
    let stamp = line[..<marker.lowerBound].split(separator: " ").last ?? ""
    let parts = stamp.split(separator: ".")
    guard parts.count == 2, let s = UInt64(parts[0]), let us = UInt64(parts[1]) else {
      return nil
    }
    microseconds = s * 1_000_000 + us
    var f: [Substring: Substring] = [:]
    for kv in line[marker.upperBound...].split(separator: " ") {
      guard let eq = kv.firstIndex(of: "=") else { continue }
      f[kv[..<eq]] = kv[kv.index(after: eq)...]
    }
    family = f["family"] == "AF_INET6" ? .inet6 : .inet
    guard let sport = f["sport"].flatMap({ UInt16($0) }),
      let dport = f["dport"].flatMap({ UInt16($0) }),
      let old = f["oldstate"].flatMap({ kernelStateNames.firstIndex(of: String($0)) }),
      let new = f["newstate"].flatMap({ kernelStateNames.firstIndex(of: String($0)) })
    else { return nil }
    localPort = sport
    remotePort = dport
    oldState = UInt8(old)
    newState = UInt8(new)
    local = String(f[family == .inet ? "saddr" : "saddrv6"] ?? "")
    remote = String(f[family == .inet ? "daddr" : "daddrv6"] ?? "")
  }
}

extension Tracefs {
  /// Writes `text` to a file under the root.
  func write(_ path: String, _ text: String) throws {
    let fd = openat(directory.rawValue, path, O_WRONLY | O_TRUNC | O_CLOEXEC)
    try #require(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
    defer { Glibc.close(fd) }
    let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
    try #require(n == text.utf8.count, "write \(path): \(String(cString: strerror(errno)))")
  }
}

/// A tracefs instance of the test's own (`instances/NAME`: its own buffer and event switches,
/// so the global trace buffer and other users are untouched) with inet_sock_set_state enabled
/// under `filter`, stamped with the "mono" clock — the CLOCK_MONOTONIC the perf reader uses,
/// so both records carry the same times. `remove()` disables it and deletes the instance.
final class TraceInstance {
  let tracefs: Tracefs
  let name: String
  let pipe: Int32
  private var text: [UInt8] = []

  init(_ tracefs: Tracefs, filter: String, bufferKilobytes: Int = 8192) throws {
    self.tracefs = tracefs
    Self.removeStale(tracefs)
    name = "swstat-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let dir = "instances/\(name)"
    try #require(mkdirat(tracefs.directory.rawValue, dir, 0o700) == 0, "mkdir \(dir): \(errno)")
    do {
      try tracefs.write(dir + "/trace_clock", "mono")
      try tracefs.write(dir + "/buffer_size_kb", "\(bufferKilobytes)")
      try tracefs.write(dir + "/events/sock/inet_sock_set_state/filter", filter)
      try tracefs.write(dir + "/events/sock/inet_sock_set_state/enable", "1")
    } catch {
      _ = unlinkat(tracefs.directory.rawValue, dir, AT_REMOVEDIR)
      throw error
    }
    pipe = openat(tracefs.directory.rawValue, dir + "/trace_pipe", O_RDONLY | O_NONBLOCK)
    if pipe < 0 {
      try? tracefs.write(dir + "/events/sock/inet_sock_set_state/enable", "0")
      _ = unlinkat(tracefs.directory.rawValue, dir, AT_REMOVEDIR)
      try #require(pipe >= 0, "trace_pipe: \(errno)")
    }
  }

  /// Deletes the instances of test processes that died before removing theirs (killed, or
  /// their output pipe closed): each holds megabytes of kernel buffer until it is deleted.
  static func removeStale(_ tracefs: Tracefs) {
    let fd = openat(tracefs.directory.rawValue, "instances", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0, let dir = fdopendir(fd) else { return }
    var stale: [String] = []
    while let e = readdir(dir) {
      let name = withUnsafeBytes(of: e.pointee.d_name) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
      }
      let parts = name.split(separator: "-")
      guard parts.count == 4, name.hasPrefix("swstat-test-"), let pid = Int32(parts[2]) else {
        continue
      }
      if kill(pid, 0) != 0 && errno == ESRCH { stale.append(name) }
    }
    closedir(dir)
    for name in stale {
      try? tracefs.write("instances/\(name)/events/sock/inet_sock_set_state/enable", "0")
      _ = unlinkat(tracefs.directory.rawValue, "instances/\(name)", AT_REMOVEDIR)
    }
  }

  /// Everything trace_pipe has handed out so far, as its text lines.
  func lines() -> [Substring] {
    _ = records()
    return String(decoding: text, as: UTF8.self).split(separator: "\n")
  }

  /// Everything trace_pipe has handed out so far, as records.
  func records() -> [KernelRecord] {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(pipe, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      text += chunk.prefix(n)
    }
    return String(decoding: text, as: UTF8.self).split(separator: "\n").compactMap {
      KernelRecord(line: $0)
    }
  }

  /// Records the instance's ring buffer overwrote (from per_cpu/cpuN/stats): must be 0 for
  /// the record to be complete.
  func overruns() -> Int {
    var total = 0
    for cpu in 0..<64 {
      guard let stats = try? tracefs.read("instances/\(name)/per_cpu/cpu\(cpu)/stats") else {
        break
      }
      for line in String(decoding: stats, as: UTF8.self).split(separator: "\n")
      where line.hasPrefix("overrun:") {
        total += Int(line.split(separator: " ").last ?? "0") ?? 0
      }
    }
    return total
  }

  /// Disables the event, closes the pipe and deletes the instance.
  func remove() {
    try? tracefs.write("instances/\(name)/events/sock/inet_sock_set_state/enable", "0")
    Glibc.close(pipe)
    _ = unlinkat(tracefs.directory.rawValue, "instances/\(name)", AT_REMOVEDIR)
  }
}

/// The key a socket's transitions are grouped by: its 4-tuple, both records alike.
func socketKey(local: String, _ localPort: UInt16, remote: String, _ remotePort: UInt16)
  -> String
{
  "\(local):\(localPort)-\(remote):\(remotePort)"
}

extension Transition {
  var key: String {
    socketKey(
      local: addressText(local.address), local.port, remote: addressText(remote.address),
      remote.port)
  }
}

extension KernelRecord {
  var key: String { socketKey(local: local, localPort, remote: remote, remotePort) }
}

/// CLOCK_MONOTONIC now, in nanoseconds.
func monotonicNow() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Drains a source on a thread of its own while a test makes traffic, as a live mode would:
/// poll(2) on its descriptor with a 50 ms tick, a drain after either.
final class Drainer: @unchecked Sendable {
  let source: TransitionSource
  private let lock = NSLock()
  private var events: [TransitionEvent] = []
  private var stopping = false
  /// Polls that returned readable (watermark wake-ups) and those that timed out.
  private(set) var wakeups = 0
  private(set) var ticks = 0
  private let finished = DispatchSemaphore(value: 0)

  init(_ source: TransitionSource) {
    self.source = source
    let thread = Thread { [self] in
      run()
      finished.signal()
    }
    thread.start()
  }

  private func run() {
    while !lock.withLock({ stopping }) {
      var p = pollfd(fd: source.fileDescriptor, events: Int16(POLLIN), revents: 0)
      if poll(&p, 1, 50) > 0 { wakeups += 1 } else { ticks += 1 }
      var batch: [TransitionEvent] = []
      _ = try? source.drain { batch.append($0) }
      lock.withLock { events += batch }
    }
  }

  /// Stops the thread and returns what it drained.
  func finish() -> [TransitionEvent] {
    lock.withLock { stopping = true }
    finished.wait()
    return lock.withLock { events }
  }
}

/// The source's state changes against the kernel's own record, socket by socket.
struct Comparison {
  /// The source's changes and the kernel's, by socket key.
  var ours: [String: [Transition]]
  var kernel: [String: [KernelRecord]]
  /// Kernel records the source did not deliver.
  var missing = 0
  /// Sockets missing any.
  var incomplete: Set<String> = []
  /// Changes of the source that are not in the kernel's record for that socket, or not in
  /// its order (each as "key: old→new").
  var extra: [String] = []
  /// Complete sockets whose changes do not follow on from each other.
  var brokenChains: [String] = []
  /// The largest gap between the two records' times of one change (the probes run one after
  /// the other on the same clock).
  var maxSkewMicroseconds: UInt64 = 0

  init(_ changes: [Transition], _ records: [KernelRecord]) {
    ours = Dictionary(grouping: changes, by: \.key)
    kernel = Dictionary(grouping: records, by: \.key)
    for (key, k) in kernel {
      let o = ours[key] ?? []
      // The source's list must be the kernel's in order, less what was lost.
      var j = 0
      var skipped = 0
      for t in o {
        let us = t.monotonicNanoseconds / 1000
        while j < k.count
          && !(k[j].oldState == t.oldStateCode && k[j].newState == t.newStateCode
            && (us > k[j].microseconds ? us - k[j].microseconds : k[j].microseconds - us) < 2000)
        {
          j += 1
          skipped += 1
        }
        if j == k.count {
          extra.append("\(key): \(t.oldStateCode)→\(t.newStateCode)")
          continue
        }
        let us2 = k[j].microseconds
        maxSkewMicroseconds = max(maxSkewMicroseconds, us > us2 ? us - us2 : us2 - us)
        j += 1
      }
      skipped += k.count - j
      missing += skipped
      if skipped > 0 {
        incomplete.insert(key)
      } else {
        // A 4-tuple may be used again once its socket is gone: a new life starts from CLOSE
        // (a client) or LISTEN (a server's child).
        let steps = o.map { ($0.oldStateCode, $0.newStateCode) }
        let ok = zip(steps, steps.dropFirst()).allSatisfy {
          $0.1 == $1.0 || ($0.1 == 7 && ($1.0 == 7 || $1.0 == 10))
        }
        if !ok { brokenChains.append("\(key): \(steps)") }
      }
    }
    for (key, o) in ours where kernel[key] == nil {
      extra += o.map { "\(key): \($0.oldStateCode)→\($0.newStateCode)" }
    }
  }
}
