import Foundation
import SwstatTestSupport
import Testing

/// `swstat_program_sockets{program=...}` for real processes with odd names (issue 11, item 8):
/// `-` stays the value for "no visible process", a process whose argv[0] is empty or `-` is
/// `[comm]`, and any name comes out as valid UTF-8, escaped, in both formats: control bytes and
/// bytes that are not UTF-8 as `\xHH` (a scrape read on a terminal cannot steer it), quotes,
/// backslashes by the format's own escaping.
@Suite struct ProgramLabelTests {
  /// (argv[0] bytes, comm bytes, the label expected).
  static let cases: [(argv0: [UInt8], comm: [UInt8], label: String)] = [
    ([], Array("swt-empty".utf8), "[swt-empty]"),
    (Array("-".utf8), Array("swt-dash".utf8), "[swt-dash]"),
    // netstat keeps the basename of a path: "-" again.
    (Array("/opt/x/-".utf8), Array("swt-path-dash".utf8), "[swt-path-dash]"),
    // comm is the process's to choose too: quote, backslash, newline, a byte that is not UTF-8.
    ([], [0x71, 0x22, 0xff, 0x5c, 0x0a, 0x79], "[q\"\\xff\\\\x0ay]"),
    (Array("a\\b\"c\nd".utf8), Array("swt-escapes".utf8), "a\\b\"c\\x0ad"),
    ([0xff, 0x62, 0x61, 0x64, 0xc3], Array("swt-utf8".utf8), "\\xffbad\\xc3"),
  ]

  @Test(needs(openMetricsParserAvailable, "python3-prometheus-client missing"))
  func oddProgramNames() throws {
    let processes = try Self.cases.map { try NamedListener(argv0: $0.argv0, comm: $0.comm) }
    defer { for p in processes { p.stop() } }
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0", "-p"])
    defer { exporter.stop() }
    for (format, accept) in [
      ("text", "text/plain;version=0.0.4"), ("openmetrics", "application/openmetrics-text"),
    ] {
      let client = try RawClient(port: exporter.port)
      try client.send(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \(accept)\r\nConnection: close\r\n\r\n"
      )
      let reply = try client.readResponse()
      #expect(reply.status == 200)
      #expect(String(validating: reply.body, as: UTF8.self) != nil, "\(format): not UTF-8")
      let labels = try programLabels(reply.body, format: format)
      for c in Self.cases {
        #expect(labels.contains(c.label), "\(format): \(c.label.debugDescription) in \(labels)")
      }
      if format == "text" {
        #expect(reply.text.contains(#"program="a\\b\"c\\x0ad""#))
        #expect(reply.text.contains(#"program="[q\"\\xff\\\\x0ay]""#))
      }
      if format == "text" && (onPath("promtool") || runningInCI) {
        let check = try promtoolCheck(reply.text)
        #expect(check.status == 0, "\(check.output)")
      }
    }
  }

  /// The program label values of the LISTEN samples of `swstat_program_sockets`, as the
  /// Python client's parser for `format` reads them (it unescapes; it refuses what is not valid
  /// in the format, and the file is decoded as strict UTF-8).
  func programLabels(_ body: [UInt8], format: String) throws -> Set<String> {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-labels-\(getpid())-\(UUID().uuidString).txt")
    try Data(body).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let script = """
      import json, sys
      if sys.argv[2] == "text":
          from prometheus_client.parser import text_string_to_metric_families
      else:
          from prometheus_client.openmetrics.parser import text_string_to_metric_families
      text = open(sys.argv[1], "rb").read().decode("utf-8")
      out = []
      for family in text_string_to_metric_families(text):
          for s in family.samples:
              if s.name == "swstat_program_sockets" and s.labels.get("state") == "LISTEN":
                  out.append(s.labels["program"])
      print(json.dumps(out))
      """
    let r = try runCommand([systemPython, "-c", script, file.path, format], timeout: 60)
    guard r.status == 0,
      let labels = try? JSONDecoder().decode([String].self, from: Data(r.stdout.utf8))
    else { throw FixtureError.failed("parser: \(r.stdout)\(r.stderr)") }
    return Set(labels)
  }
}

/// A python3 process started with exactly these argv[0] bytes, that names itself `comm`
/// (/proc/self/comm) and listens on 127.0.0.1; ended by `stop()`.
final class NamedListener: @unchecked Sendable {
  let pid: pid_t
  let port: UInt16
  private let stdinWrite: Int32

  init(argv0: [UInt8], comm: [UInt8]) throws {
    let script = """
      import socket, sys
      with open("/proc/self/comm", "wb") as f:
          f.write(bytes.fromhex(sys.argv[1]))
      s = socket.socket()
      s.bind(("127.0.0.1", 0))
      s.listen(4)
      print(s.getsockname()[1], flush=True)
      sys.stdin.buffer.read()
      """
    var toChild: [Int32] = [-1, -1]
    var fromChild: [Int32] = [-1, -1]
    guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
      throw FixtureError.failed("pipe: errno \(errno)")
    }
    // Only this child gets them (as its 0 and 1): not the tests' other children.
    for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
    for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
    let hex = comm.map { String(format: "%02x", $0) }.joined()
    // argv[0] as raw bytes: a Swift String could not hold the invalid ones.
    let argv: [UnsafeMutablePointer<CChar>?] =
      [argv0, Array("-c".utf8), Array(script.utf8), Array(hex.utf8)].map { bytes in
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
        p[bytes.count] = 0
        return p
      } + [nil]
    defer { for p in argv { p?.deallocate() } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, systemPython, &actions, nil, argv, environ)
    close(toChild[0])
    close(fromChild[1])
    guard rc == 0 else {
      close(toChild[1])
      close(fromChild[0])
      throw FixtureError.failed("posix_spawn: \(rc)")
    }
    self.pid = pid
    stdinWrite = toChild[1]
    let line = try RunningExporter.readLine(fromChild[0], seconds: 30)
    close(fromChild[0])
    guard let port = UInt16(line) else {
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
      close(toChild[1])
      throw FixtureError.failed("listener did not start: \(line)")
    }
    self.port = port
  }

  /// Closes its stdin (it exits), then reaps it; SIGKILL after 5 s.
  func stop() {
    close(stdinWrite)
    var status: Int32 = 0
    for _ in 0..<250 {
      if waitpid(pid, &status, WNOHANG) != 0 { return }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
    waitpid(pid, &status, 0)
  }
}
