import Foundation

/// A program running in the background, its output collected, stopped with a signal.
public final class Background: @unchecked Sendable {
  /// The process.
  public let process = Process()
  private let pipe = Pipe()
  private var data = Data()
  private var reading = true
  private let lock = NSLock()
  private let drained = DispatchSemaphore(value: 0)

  /// Starts `arguments` (looked up in PATH through /usr/bin/env).
  public init(_ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    // A thread of its own reads the output, not a Dispatch source: Dispatch's worker pool can be
    // kept busy by other tests (see runCommand), and the output would arrive late.
    let fd = pipe.fileHandleForReading.fileDescriptor
    Thread.detachNewThread { [self] in
      var buffer = [UInt8](repeating: 0, count: 65536)
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      while isReading {
        p.revents = 0
        guard poll(&p, 1, 100) != 0 else { continue }
        let n = read(fd, &buffer, buffer.count)
        if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { break }
        if n > 0 {
          lock.lock()
          data.append(contentsOf: buffer[..<n])
          lock.unlock()
        }
      }
      drained.signal()
    }
  }

  private var isReading: Bool {
    lock.lock()
    defer { lock.unlock() }
    return reading
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
    // The reader ends at end of file; a descendant holding the pipe ends it after a second.
    if drained.wait(timeout: .now() + 1) == .timedOut {
      lock.lock()
      reading = false
      lock.unlock()
      drained.wait()
    }
    drained.signal()  // a second stop() does not wait again
    return process.terminationStatus
  }
}
