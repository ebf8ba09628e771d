import Foundation

/// Tests/swstatTests/Fixtures/hostile.py, run as `nobody` inside a network namespace: a local
/// user whose argv[0] and socket names hold terminal escapes, line breaks, bidirectional
/// controls and bytes that are not UTF-8. Stopped by `stop()`.
public final class HostileUser: @unchecked Sendable {
  /// What the fixture holds.
  public struct Ready: Decodable, Sendable {
    public var pid: Int32
    public var port: Int
    public var clientPort: Int
    public var udpPort: Int
    /// Hex of the argv[0] bytes, the abstract name, the forging name and the path.
    public var argv0: String
    public var abstract: String
    public var forged: String
    public var path: String

    enum CodingKeys: String, CodingKey {
      case pid, port, argv0, abstract, forged, path
      case clientPort = "client_port"
      case udpPort = "udp_port"
    }
  }

  /// The fixture's sockets and names.
  public let ready: Ready
  private let process: Process
  private let input: Pipe
  private let output: Pipe

  /// Starts the fixture in `namespace` as nobody (setpriv), with Debian's python3 (nobody may
  /// not read a per-user Python install).
  public init(in namespace: NetworkNamespace) throws {
    let script = packageRoot.appendingPathComponent("Tests/swstatTests/Fixtures/hostile.py").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
      "ip", "netns", "exec", namespace.name, "setpriv", "--reuid=nobody", "--regid=nogroup",
      "--clear-groups", "/usr/bin/python3", script,
    ]
    let out = Pipe()
    output = out
    input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    process = p
    var line = Data()
    let fd = out.fileHandleForReading.fileDescriptor
    var byte: UInt8 = 0
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 500) > 0 else { continue }
      guard read(fd, &byte, 1) == 1, byte != 0x0a else { break }
      line.append(byte)
    }
    let text = String(decoding: line, as: UTF8.self)
    guard text.hasPrefix("ready "),
      let ready = try? JSONDecoder().decode(Ready.self, from: Data(text.dropFirst(6).utf8))
    else {
      p.terminate()
      throw FixtureError.failed("hostile.py did not start: \(text)")
    }
    self.ready = ready
  }

  /// Bytes from the fixture's hex.
  public static func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex, let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex) {
      out.append(UInt8(hex[i..<j], radix: 16) ?? 0)
      i = j
    }
    return out
  }

  /// Opens one more TCP listener and returns its port.
  public func openListener() throws -> Int {
    try input.fileHandleForWriting.write(contentsOf: Data("open\n".utf8))
    let fd = output.fileHandleForReading.fileDescriptor
    var line = Data()
    var byte: UInt8 = 0
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while poll(&pfd, 1, 5000) > 0, read(fd, &byte, 1) == 1, byte != 0x0a { line.append(byte) }
    let text = String(decoding: line, as: UTF8.self)
    guard text.hasPrefix("opened "), let port = Int(text.dropFirst(7)) else {
      throw FixtureError.failed("hostile.py did not open a listener: \(text)")
    }
    return port
  }

  /// Ends the fixture (its stdin closes) and waits for it.
  public func stop() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

/// Runs a command with a terminal (a pty from script(1)) as its stdout, and returns what it
/// wrote there, raw (the pty's CR LF line ends turned back into LF).
public func runInTerminal(_ command: String, timeout: Double = 60) throws -> [UInt8] {
  let r = try runCommand(["script", "-q", "-e", "-c", command, "/dev/null"], timeout: timeout)
  var out: [UInt8] = []
  let bytes = r.stdoutBytes
  var i = 0
  while i < bytes.count {
    if bytes[i] == 0x0d && i + 1 < bytes.count && bytes[i + 1] == 0x0a {
      i += 1
      continue
    }
    out.append(bytes[i])
    i += 1
  }
  return out
}
