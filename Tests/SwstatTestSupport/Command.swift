import Foundation

/// What a finished command left behind.
public struct CommandResult: Sendable {
  /// The exit status (or 128 + signal).
  public var status: Int32
  /// Everything written to stdout.
  public var stdout: String
  /// Everything written to stderr.
  public var stderr: String
}

/// Runs a program to completion with a time limit, capturing stdout and stderr.
/// `arguments[0]` is the program's path (or a name looked up in PATH through /usr/bin/env).
@discardableResult
public func runCommand(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
  let p = Process()
  if arguments[0].hasPrefix("/") {
    p.executableURL = URL(fileURLWithPath: arguments[0])
    p.arguments = Array(arguments.dropFirst())
  } else {
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
  }
  let out = Pipe()
  let err = Pipe()
  p.standardOutput = out
  p.standardError = err
  p.standardInput = FileHandle.nullDevice
  try p.run()
  // Read both pipes while the process runs so a large output cannot block it.
  nonisolated(unsafe) var outData = Data()
  nonisolated(unsafe) var errData = Data()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    outData = out.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  group.enter()
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  if group.wait(timeout: .now() + timeout) == .timedOut {
    kill(p.processIdentifier, SIGKILL)
    group.wait()
  }
  p.waitUntilExit()
  let status =
    p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
  return CommandResult(
    status: status, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

/// The folder that holds the built products (swstat, the test bundle).
public var productsDirectory: URL {
  let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    ?? CommandLine.arguments[0]
  var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
  // The test runner may live inside a .xctest bundle folder.
  while url.path.hasSuffix(".xctest") || url.lastPathComponent == "Contents" {
    url.deleteLastPathComponent()
  }
  return url
}

/// The swstat binary built with the tests.
public var swstatPath: String { productsDirectory.appendingPathComponent("swstat").path }

/// The package's root folder.
public var packageRoot: URL {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
}

/// Whether the tests run as root (network namespaces need it).
public var isRoot: Bool { geteuid() == 0 }

/// Whether a program can be found in PATH.
public func hasProgram(_ name: String) -> Bool {
  ((try? runCommand(["sh", "-c", "command -v \(name)"]))?.status ?? 1) == 0
}
