import Foundation

/// Tests/SwstatCoreTests/Fixtures/sockstates.py, running: loopback sockets held in every TCP
/// state loopback can hold, plus UDP, IPv4 and IPv6. Stop it with `stop()`.
public final class SocketFixture: @unchecked Sendable {
  /// One socket the fixture holds, as netstat -n prints it.
  public struct Expected: Codable, Hashable, Sendable {
    public var proto: String
    public var local: String
    public var remote: String
    public var localPort: Int
    public var remotePort: Int
    public var state: String
    public var owned: Bool

    enum CodingKeys: String, CodingKey {
      case proto, local, remote, state, owned
      case localPort = "local_port"
      case remotePort = "remote_port"
    }
  }

  struct Ready: Decodable {
    var pid: Int32
    var child: Int32
    var sockets: [Expected]
  }

  /// The fixture's pid (the owner netstat shows).
  public let pid: Int32
  /// Every socket it holds.
  public let sockets: [Expected]
  private let process: Process
  private let stdin: Pipe

  /// The fixture script's path.
  public static var script: String {
    packageRoot.appendingPathComponent("Tests/SwstatCoreTests/Fixtures/sockstates.py").path
  }

  /// Starts the fixture (inside `namespace` when given) and waits until it is ready.
  public init(in namespace: NetworkNamespace? = nil, fork: Bool = false, hold: Int = 150) throws {
    var args = ["/usr/bin/env", "python3", Self.script, "--hold", String(hold)]
    if fork { args.append("--fork") }
    if let ns = namespace { args = ["/usr/bin/env", "ip", "netns", "exec", ns.name] + args }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: args[0])
    p.arguments = Array(args.dropFirst())
    let out = Pipe()
    let input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    process = p
    stdin = input
    // One line, "ready {...}", within 30 s.
    var line = Data()
    let deadline = Date().addingTimeInterval(30)
    let fd = out.fileHandleForReading.fileDescriptor
    var byte: UInt8 = 0
    while Date() < deadline {
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 1000) > 0 else { continue }
      guard read(fd, &byte, 1) == 1 else { break }
      if byte == 0x0a { break }
      line.append(byte)
    }
    let text = String(decoding: line, as: UTF8.self)
    guard text.hasPrefix("ready "),
      let ready = try? JSONDecoder().decode(Ready.self, from: Data(text.dropFirst(6).utf8))
    else {
      p.terminate()
      throw FixtureError.failed("socket fixture did not start: \(text)")
    }
    pid = ready.pid
    sockets = ready.sockets
  }

  /// The local ports of every socket the fixture made.
  public var ports: Set<Int> { Set(sockets.map(\.localPort)) }

  /// Ends the fixture: closing its stdin makes it exit; SIGKILL if it does not within 5 s.
  public func stop() {
    try? stdin.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}
