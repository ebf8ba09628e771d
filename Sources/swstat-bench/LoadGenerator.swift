import Glibc

/// The parent side of the socket load: starts `hold` workers (re-executing this binary), waits
/// until each reports `ready`, re-creates the TIME_WAIT batch before the kernel expires it, and
/// stops every worker it started, by pid.
final class LoadGenerator {
  let mix: SocketMix
  private let executable: String
  private let createTimeoutSeconds: Int
  private var workers: [ChildProcess] = []
  /// When the TIME_WAIT sockets were last (re)created.
  private(set) var timeWaitCreated: UInt64 = 0
  /// Seconds from starting the workers until all were ready.
  private(set) var createSeconds = 0.0

  /// The kernel drops TIME_WAIT sockets 60 s after they enter the state (TCP_TIMEWAIT_LEN).
  static let timeWaitLifetime: UInt64 = 60 * 1_000_000_000

  /// A load of `total` sockets in the usual mix, plus `boundInactive` bound-only sockets.
  init(total: Int, boundInactive: Int = 0, executable: String, createTimeoutSeconds: Int) {
    var mix = SocketMix.forTotal(total)
    mix.boundInactive = boundInactive
    self.mix = mix
    self.executable = executable
    self.createTimeoutSeconds = createTimeoutSeconds
  }

  deinit { stop() }

  var workerCount: Int { workers.count }
  var workerPIDs: [Int32] { workers.map(\.pid) }

  /// Starts the workers in parallel and waits for all of them to hold their sockets.
  func start() throws {
    let count = mix.workerCount()
    let started = monotonicNanoseconds()
    for index in 0..<count {
      let arguments =
        ["swstat-bench", "hold"] + mix.share(index, of: count).holdArguments + [
          "--index", String(index), "--workers", String(count),
          "--create-timeout", String(createTimeoutSeconds),
        ]
      workers.append(
        try ChildProcess.spawn(executable, arguments, pipeStdin: true, pipeStdout: true))
    }
    for worker in workers {
      try expect("ready", from: worker, within: Double(createTimeoutSeconds) + 10)
    }
    timeWaitCreated = monotonicNanoseconds()
    createSeconds = Double(timeWaitCreated - started) / 1e9
  }

  /// Ages of the TIME_WAIT batch, in seconds.
  var timeWaitAge: Double { Double(monotonicNanoseconds() - timeWaitCreated) / 1e9 }

  /// Re-creates the TIME_WAIT batch when it is older than `maxAge` seconds. It first waits until
  /// the old batch has expired, so the socket count never doubles. Returns whether it did.
  @discardableResult
  func refreshTimeWaitIfOlder(than maxAge: Double) throws -> Bool {
    guard mix.timeWait > 0, timeWaitAge > maxAge else { return false }
    let expired = timeWaitCreated + Self.timeWaitLifetime + 1_500_000_000
    let now = monotonicNanoseconds()
    if now < expired { usleep(UInt32((expired - now) / 1000)) }
    for worker in workers { try worker.send("refresh") }
    for worker in workers {
      try expect("refreshed", from: worker, within: Double(createTimeoutSeconds) + 10)
    }
    timeWaitCreated = monotonicNanoseconds()
    return true
  }

  /// Closes each worker's stdin (its cue to reset its sockets and exit), then reaps it by pid,
  /// killing any that takes longer than 30 s.
  func stop() {
    for index in workers.indices {
      if let fd = workers[index].stdinWriter { close(fd) }
      workers[index].stdinWriter = nil
    }
    for index in workers.indices {
      if workers[index].reap(within: 30) == nil {
        writeError("swstat-bench: worker \(workers[index].pid) did not exit; killed it")
      }
      workers[index].closePipes()
    }
    workers = []
  }

  private func expect(_ word: String, from worker: ChildProcess, within seconds: Double) throws {
    let what = "socket worker \(worker.pid)"
    guard let line = try worker.stdoutReader?.readLine(within: seconds, what: what) else {
      throw BenchError("\(what) exited before '\(word)'")
    }
    if line.hasPrefix("error ") { throw BenchError("\(what): \(line.dropFirst(6))") }
    guard line.hasPrefix(word) else { throw BenchError("\(what): unexpected '\(line)'") }
  }
}
