import Foundation
import SwstatTestSupport
import Testing

/// A plain blocking TCP client on 127.0.0.1 that writes bytes as given and reads responses as
/// they come: for requests no ordinary HTTP client would send. Every call times out.
final class RawClient: @unchecked Sendable {
  let fd: Int32
  private var pending: [UInt8] = []

  /// One HTTP/1.x response as read off the wire.
  struct Reply {
    var status: Int
    /// Field names lowercased.
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
  }

  init(port: UInt16, timeout: Int = 10) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw FixtureError.failed("socket: errno \(errno)") }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var to = sockaddr_in.loopback(port: port)
    let rc = withUnsafePointer(to: &to) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard rc == 0 else {
      Glibc.close(fd)
      throw FixtureError.failed("connect 127.0.0.1:\(port): errno \(errno)")
    }
  }

  deinit { Glibc.close(fd) }

  /// Sends all of `bytes`; throws when the server stops taking them (closed, or timed out).
  func send(_ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
      let n = bytes[done...].withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw FixtureError.failed("send: errno \(errno) after \(done) bytes") }
      done += n
    }
  }

  func send(_ text: String) throws { try send(Array(text.utf8)) }

  /// Reads more; false at end of stream. Throws on a timeout or an error.
  private func fill() throws -> Bool {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && errno == ECONNRESET { return false }
      guard n >= 0 else { throw FixtureError.failed("recv: errno \(errno)") }
      pending.append(contentsOf: chunk[..<n])
      return n > 0
    }
  }

  /// One response: the head, then Content-Length bytes of body (none after a HEAD request).
  func readResponse(head: Bool = false) throws -> Reply {
    var end: Int?
    while true {
      if let r = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
        end = r.upperBound
        break
      }
      guard try fill() else { break }
    }
    guard let end else {
      throw FixtureError.failed("no response head in \(String(decoding: pending, as: UTF8.self))")
    }
    let lines = String(decoding: pending[..<(end - 4)], as: UTF8.self).components(
      separatedBy: "\r\n")
    pending.removeFirst(end)
    let statusLine = lines[0].split(separator: " ")
    guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1])
    else { throw FixtureError.failed("bad status line \(lines[0])") }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
        .trimmingCharacters(in: .whitespaces)
    }
    let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
    while pending.count < length {
      guard try fill() else { throw FixtureError.failed("body cut at \(pending.count)/\(length)") }
    }
    let body = Array(pending[..<length])
    pending.removeFirst(length)
    return Reply(status: status, headers: headers, body: body)
  }

  /// Waits up to `seconds` for the server to end the stream, throwing away what comes first;
  /// the seconds it took, or nil when it stayed open. Bytes left over from `readResponse` count
  /// as data, not as the end.
  func waitForClose(seconds: Double) -> Double? {
    let start = Date()
    pending = []
    while Date().timeIntervalSince(start) < seconds {
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 200) > 0 else { continue }
      var chunk = [UInt8](repeating: 0, count: 4096)
      let n = chunk.withUnsafeMutableBytes {
        recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
      }
      if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
        return Date().timeIntervalSince(start)
      }
    }
    return nil
  }
}

/// GET /metrics timed: the status and the seconds to the whole answer.
func timedScrape(_ port: UInt16) throws -> (status: Int, seconds: Double) {
  let start = Date()
  let reply = try httpGet(port: port, path: "/metrics")
  return (reply.status, since(start))
}

/// CPU seconds (user and system) a process has used so far, from /proc/PID/stat.
func cpuSeconds(_ pid: Int32) throws -> Double {
  let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
  guard let paren = stat.lastIndex(of: ")") else { throw FixtureError.failed("stat: \(stat)") }
  // After "pid (comm)": state is field 3, utime 14 and stime 15.
  let fields = stat[stat.index(after: paren)...].split(separator: " ")
  guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
    throw FixtureError.failed("stat: \(stat)")
  }
  return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Descriptors a process has open.
func openDescriptors(_ pid: Int32) -> Int {
  (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// connection_holder.py in a process of its own, holding `count` connections to `port`.
final class ConnectionHolder: @unchecked Sendable {
  enum Mode: String {
    case idle, slowloris
  }

  let process: Process
  private let input = Pipe()
  private let output = Pipe()
  /// Connections made, and connections that could not be made.
  private(set) var connected = 0
  private(set) var failed = 0

  /// What the helper saw, at its end.
  struct Report: Decodable {
    var connected: Int
    var failed: Int
    /// Connections the server closed.
    var closed: Int
    /// Connections answered with 408 before they were closed.
    var status408: Int
    /// Seconds from `ready` to the first and the last close.
    var firstClose: Double?
    var lastClose: Double?
  }

  /// Starts the helper and waits (at most 60 s) until every connection is made.
  init(_ mode: Mode, port: UInt16, count: Int, seconds: Double) throws {
    let script = packageRoot.appendingPathComponent("Tests/swstatExportTests/connection_holder.py")
    process = Process()
    process.executableURL = URL(fileURLWithPath: systemPython)
    process.arguments = [script.path, mode.rawValue, "\(port)", "\(count)", "\(seconds)"]
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.standardError
    try process.run()
    let line = try RunningExporter.readLine(output.fileHandleForReading.fileDescriptor, seconds: 60)
    let words = line.split(separator: " ")
    guard words.count == 3, words[0] == "ready", let ok = Int(words[1]), let bad = Int(words[2])
    else {
      stop()
      throw FixtureError.failed("connection_holder.py: \(line)")
    }
    connected = ok
    failed = bad
  }

  /// Waits (at most `timeout` s) for the helper's report; closing its stdin first when `now`.
  func finish(now: Bool = false, timeout: Double = 60) throws -> Report {
    if now { try? input.fileHandleForWriting.close() }
    let line = try RunningExporter.readLine(
      output.fileHandleForReading.fileDescriptor, seconds: timeout)
    stop()
    guard let report = try? JSONDecoder().decode(Report.self, from: Data(line.utf8)) else {
      throw FixtureError.failed("connection_holder.py report: \(line)")
    }
    return report
  }

  /// Ends the helper (SIGKILL if it has not ended by itself) and reaps it.
  func stop() {
    try? input.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}
