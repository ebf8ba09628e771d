import Foundation

/// A network namespace of the test's own (`ip netns add`), with lo up and a resolv.conf that
/// points at 127.0.0.1 so name lookups inside never leave the namespace. Deleted by `delete()`.
public final class NetworkNamespace: @unchecked Sendable {
  /// The `ip netns` name.
  public let name: String
  private static let counter = Counter()

  /// Creates the namespace.
  public init() throws {
    name = "swstat-t\(getpid())-\(Self.counter.next())"
    let etc = "/etc/netns/\(name)"
    try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
    try "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".write(
      toFile: etc + "/resolv.conf", atomically: true, encoding: .utf8)
    let add = try runCommand(["ip", "netns", "add", name])
    guard add.status == 0 else {
      try? FileManager.default.removeItem(atPath: etc)
      throw FixtureError.failed("ip netns add \(name): \(add.stderr)")
    }
    try runCommand(["ip", "-n", name, "link", "set", "lo", "up"])
  }

  /// Runs a command inside the namespace.
  @discardableResult
  public func run(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
    try runCommand(["ip", "netns", "exec", name] + arguments, timeout: timeout)
  }

  /// Deletes the namespace and its /etc/netns folder.
  public func delete() {
    _ = try? runCommand(["ip", "netns", "delete", name])
    try? FileManager.default.removeItem(atPath: "/etc/netns/\(name)")
  }

  final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int {
      lock.lock()
      defer { lock.unlock() }
      value += 1
      return value
    }
  }
}

/// A fixture could not be set up.
public enum FixtureError: Error, CustomStringConvertible {
  case failed(String)
  public var description: String {
    switch self {
    case .failed(let s): s
    }
  }
}
