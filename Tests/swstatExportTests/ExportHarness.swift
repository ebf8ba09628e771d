import Foundation
import SwstatTestSupport

/// The swstat-export binary built with the tests, or the one SWSTAT_EXPORT_BINARY names (to run
/// the suite against another build, such as an older one a new test must fail on).
var exporterPath: String {
  ProcessInfo.processInfo.environment["SWSTAT_EXPORT_BINARY"]
    ?? productsDirectory.appendingPathComponent("swstat-export").path
}

/// Whether a command is on PATH.
func onPath(_ name: String) -> Bool {
  (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
    FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
  }
}

/// Whether this run may make network namespaces (root and iproute2).
let canUseNamespaces = isRoot && onPath("ip")

/// Runs `body` on a thread of its own that has joined `namespace` (setns), so that the sockets it
/// makes live in that namespace; they stay there when used from other threads. Without a
/// namespace, runs `body` right here.
func inNamespace<T>(
  _ namespace: NetworkNamespace?, _ body: @escaping @Sendable () throws -> T
) throws -> T {
  guard let namespace else { return try body() }
  nonisolated(unsafe) var result: Result<T, any Error>?
  let done = DispatchSemaphore(value: 0)
  // The thread joins the namespace and then ends: it never serves the root namespace again.
  let thread = Thread {
    defer { done.signal() }
    let fd = open("/var/run/netns/\(namespace.name)", O_RDONLY | O_CLOEXEC)
    defer { if fd >= 0 { close(fd) } }
    guard fd >= 0, setNetworkNamespace(fd) == 0 else {
      result = .failure(FixtureError.failed("setns \(namespace.name): errno \(errno)"))
      return
    }
    result = Result { try body() }
  }
  thread.start()
  guard done.wait(timeout: .now() + 30) == .success, let result else {
    throw FixtureError.failed("namespace thread did not finish")
  }
  return try result.get()
}

/// glibc's setns(fd, CLONE_NEWNET) for the calling thread. Looked up with dlsym: Swift's Glibc
/// module is built without _GNU_SOURCE, so the header does not declare it.
func setNetworkNamespace(_ fd: Int32) -> Int32 {
  typealias SetNS = @convention(c) (Int32, Int32) -> Int32
  let cloneNewNet: Int32 = 0x4000_0000  // CLONE_NEWNET
  guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "setns") else { return -1 }
  return unsafeBitCast(symbol, to: SetNS.self)(fd, cloneNewNet)
}

/// TCP listeners on 127.0.0.1, each with its own backlog, and client connections left in their
/// accept queues (never accepted). Closed by `close()`.
final class Listeners: @unchecked Sendable {
  /// The listening sockets' ports, in order.
  private(set) var ports: [UInt16] = []
  private var fds: [Int32] = []

  /// Opens one listener per entry of `backlogs`, and `pending[i]` un-accepted connections to the
  /// i-th, in `namespace` when given.
  init(backlogs: [Int32], pending: [Int] = [], in namespace: NetworkNamespace? = nil) throws {
    let (ports, fds) = try inNamespace(namespace) { () throws -> ([UInt16], [Int32]) in
      var ports: [UInt16] = []
      var fds: [Int32] = []
      for (i, backlog) in backlogs.enumerated() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        fds.append(fd)
        var addr = sockaddr_in.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
          }
        }
        guard fd >= 0, bound == 0, listen(fd, backlog) == 0 else {
          for fd in fds { Glibc.close(fd) }
          throw FixtureError.failed("listener: errno \(errno)")
        }
        let port = localPort(fd)
        ports.append(port)
        for _ in 0..<(i < pending.count ? pending[i] : 0) {
          let client = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
          fds.append(client)
          var to = sockaddr_in.loopback(port: port)
          let rc = withUnsafePointer(to: &to) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
              connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
          }
          guard rc == 0 else {
            for fd in fds { Glibc.close(fd) }
            throw FixtureError.failed("connect: errno \(errno)")
          }
        }
      }
      return (ports, fds)
    }
    self.ports = ports
    self.fds = fds
  }

  /// Closes every socket.
  func close() {
    for fd in fds { Glibc.close(fd) }
    fds = []
  }
}

extension sockaddr_in {
  /// 127.0.0.1:port.
  static func loopback(port: UInt16) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return a
  }
}

/// The local port a socket is bound to.
func localPort(_ fd: Int32) -> UInt16 {
  var addr = sockaddr_in()
  var len = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafeMutablePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
  }
  return UInt16(bigEndian: addr.sin_port)
}

/// A port nobody listens on right now (bound to 0, read back, closed; in a fresh namespace any
/// port is free anyway).
func freePort(in namespace: NetworkNamespace? = nil) throws -> UInt16 {
  try inNamespace(namespace) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in.loopback(port: 0)
    _ = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    return localPort(fd)
  }
}

/// One HTTP/1.1 response as a plain client reads it.
struct HTTPReply {
  var status: Int
  /// Header names lowercased.
  var headers: [String: String]
  var body: String
}

/// GET `path` from 127.0.0.1:`port` over a plain TCP socket (made in `namespace` when given),
/// `Connection: close`, read to end of stream; 10 s limit on each socket call.
func httpGet(
  port: UInt16, path: String, accept: String? = nil, in namespace: NetworkNamespace? = nil
) throws -> HTTPReply {
  let fd = try inNamespace(namespace) { () throws -> Int32 in
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw FixtureError.failed("socket: errno \(errno)") }
    return fd
  }
  defer { close(fd) }
  var timeout = timeval(tv_sec: 10, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var to = sockaddr_in.loopback(port: port)
  let rc = withUnsafePointer(to: &to) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard rc == 0 else { throw FixtureError.failed("connect 127.0.0.1:\(port): errno \(errno)") }
  var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
  if let accept { request += "Accept: \(accept)\r\n" }
  request += "\r\n"
  let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
  guard sent == request.utf8.count else { throw FixtureError.failed("send: errno \(errno)") }
  var data = [UInt8]()
  var chunk = [UInt8](repeating: 0, count: 65536)
  // Bounded: at most 64 MiB, and each recv times out after 10 s.
  while data.count < 64 << 20 {
    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if n < 0 && errno == EINTR { continue }
    guard n >= 0 else { throw FixtureError.failed("recv: errno \(errno)") }
    if n == 0 { break }
    data.append(contentsOf: chunk[..<n])
  }
  let text = String(decoding: data, as: UTF8.self)
  guard let split = text.range(of: "\r\n\r\n") else {
    throw FixtureError.failed("no HTTP header in \(text.prefix(200))")
  }
  let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
  let statusLine = head.first?.split(separator: " ") ?? []
  guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
    throw FixtureError.failed("bad status line \(head.first ?? "")")
  }
  var headers: [String: String] = [:]
  for line in head.dropFirst() {
    guard let colon = line.firstIndex(of: ":") else { continue }
    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
      .trimmingCharacters(in: .whitespaces)
  }
  return HTTPReply(status: status, headers: headers, body: String(text[split.upperBound...]))
}

/// A running swstat-export server, started with `arguments` (in `namespace` when given) and
/// ready once it printed `swstat: listening on ADDR:PORT`. Stopped with `stop()` (SIGTERM).
final class RunningExporter: @unchecked Sendable {
  let process: Process
  /// The port it serves on.
  let port: UInt16
  private let stderrPipe: Pipe

  /// `wrapper` runs before the exporter and must exec it (`prlimit --nofile=N`), so that the
  /// pid stays the exporter's.
  init(_ arguments: [String], in namespace: NetworkNamespace? = nil, wrapper: [String] = []) throws
  {
    let p = Process()
    if let namespace {
      // ip netns exec execs the command, so the pid is the exporter's own.
      p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      p.arguments = ["ip", "netns", "exec", namespace.name] + wrapper + [exporterPath] + arguments
    } else if !wrapper.isEmpty {
      p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      p.arguments = wrapper + [exporterPath] + arguments
    } else {
      p.executableURL = URL(fileURLWithPath: exporterPath)
      p.arguments = arguments
    }
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    try p.run()
    process = p
    stderrPipe = err
    let line = try Self.readLine(err.fileHandleForReading.fileDescriptor, seconds: 30)
    guard line.hasPrefix("swstat: listening on "), let colon = line.lastIndex(of: ":"),
      let port = UInt16(line[line.index(after: colon)...])
    else {
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      throw FixtureError.failed("exporter did not start: \(line)")
    }
    self.port = port
  }

  /// One line from `fd`, waiting at most `seconds`.
  static func readLine(_ fd: Int32, seconds: Double) throws -> String {
    var line = [UInt8]()
    var byte: UInt8 = 0
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 200) > 0 else { continue }
      guard read(fd, &byte, 1) == 1 else { break }
      if byte == 0x0a { break }
      line.append(byte)
    }
    return String(decoding: line, as: UTF8.self)
  }

  /// GET /metrics.
  func scrape(accept: String? = nil, in namespace: NetworkNamespace? = nil) throws -> HTTPReply {
    try httpGet(port: port, path: "/metrics", accept: accept, in: namespace)
  }

  /// SIGTERM, then waits (SIGKILL after 10 s); returns the exit status and what stderr held.
  @discardableResult
  func stop(signal: Int32 = SIGTERM) -> (status: Int32, stderr: String) {
    kill(process.processIdentifier, signal)
    let deadline = Date().addingTimeInterval(10)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    let rest = stderrPipe.fileHandleForReading.readDataToEndOfFile()
    let status =
      process.terminationReason == .uncaughtSignal
      ? 128 + process.terminationStatus : process.terminationStatus
    return (status, String(decoding: rest, as: UTF8.self))
  }
}

/// The samples of an exposition: `name{labels} value` lines as (name, labels, value).
struct Sample: Equatable {
  var name: String
  var labels: [String: String]
  var value: Double
}

/// Parses the sample lines of a text or OpenMetrics exposition (label values here hold no
/// escaped quotes or commas).
func samples(_ text: String) -> [Sample] {
  text.split(separator: "\n").compactMap { line -> Sample? in
    guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
      let value = Double(line[line.index(after: space)...])
    else { return nil }
    let series = line[..<space]
    guard let brace = series.firstIndex(of: "{") else {
      return Sample(name: String(series), labels: [:], value: value)
    }
    var labels: [String: String] = [:]
    let inner = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
    for pair in inner.split(separator: ",") {
      let kv = pair.split(separator: "=", maxSplits: 1)
      guard kv.count == 2 else { continue }
      labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
    }
    return Sample(name: String(series[..<brace]), labels: labels, value: value)
  }
}

/// `promtool check metrics` on `text`: (exit status, its output).
func promtoolCheck(_ text: String) throws -> (status: Int32, output: String) {
  let file = FileManager.default.temporaryDirectory.appendingPathComponent(
    "swstat-promtool-\(getpid())-\(UUID().uuidString).prom")
  try text.write(to: file, atomically: true, encoding: .utf8)
  defer { try? FileManager.default.removeItem(at: file) }
  let r = try runCommand(["sh", "-c", "promtool check metrics < '\(file.path)'"], timeout: 60)
  return (r.status, r.stdout + r.stderr)
}

/// Whether the OpenMetrics parser can be run (python3-prometheus-client).
let openMetricsParserAvailable: Bool = {
  guard FileManager.default.isExecutableFile(atPath: systemPython) else { return false }
  let r = try? runCommand(
    [systemPython, "-c", "import prometheus_client.openmetrics.parser"], timeout: 30)
  return r?.status == 0
}()

/// Parses `text` as OpenMetrics: (exit status, "name:type" per family, one a line, or the error).
func openMetricsFamilies(_ text: String) throws -> (status: Int32, output: String) {
  let file = FileManager.default.temporaryDirectory.appendingPathComponent(
    "swstat-om-\(getpid())-\(UUID().uuidString).txt")
  try text.write(to: file, atomically: true, encoding: .utf8)
  defer { try? FileManager.default.removeItem(at: file) }
  let script = """
    import sys
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    for f in text_string_to_metric_families(open(sys.argv[1]).read()):
        print(f.name + ":" + f.type)
    """
  let r = try runCommand([systemPython, "-c", script, file.path], timeout: 60)
  return (r.status, r.stdout + r.stderr)
}
