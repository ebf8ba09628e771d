import Foundation

/// A program running in the background, its output collected, stopped with a signal.
public final class Background: @unchecked Sendable {
  /// The process.
  public let process = Process()
  private let pipe = Pipe()
  private var data = Data()
  private let lock = NSLock()

  /// Starts `arguments` (looked up in PATH through /usr/bin/env).
  public init(_ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
      let chunk = h.availableData
      guard let self else { return }
      self.lock.lock()
      self.data.append(chunk)
      self.lock.unlock()
    }
    try process.run()
  }

  /// Everything it wrote to stdout so far.
  public var output: String {
    lock.lock()
    defer { lock.unlock() }
    return String(decoding: data, as: UTF8.self)
  }

  /// Sends `signal`, waits (5 s at most, then SIGKILL) and returns the exit status.
  @discardableResult
  public func stop(_ signal: Int32 = SIGINT) -> Int32 {
    kill(process.processIdentifier, signal)
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    usleep(100_000)
    pipe.fileHandleForReading.readabilityHandler = nil
    return process.terminationStatus
  }
}
