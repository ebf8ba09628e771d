import Glibc

/// The parent side of the connection churn: starts `churn` workers (re-executing this binary)
/// that share the asked rate, asks them how many connections they have made (so the rate
/// achieved while one command ran is measured, not assumed), and stops every worker it
/// started, by pid.
final class ChurnGenerator {
  /// Connections a second, all workers together.
  let rate: Double
  private let executable: String
  private let workerCount: Int
  private var workers: [ChildProcess] = []
  /// When the workers last ran (monotonic ns): their TIME_WAIT sockets are gone 60 s later.
  private(set) var stoppedAt: UInt64?

  init(rate: Double, workers: Int, executable: String) {
    self.rate = rate
    self.workerCount = max(1, workers)
    self.executable = executable
  }

  deinit { stop() }

  var workerPIDs: [Int32] { workers.map(\.pid) }

  /// Starts the workers, each at its share of the rate for at most `seconds`, and waits until
  /// each has its listeners.
  func start(seconds: Int) throws {
    stoppedAt = nil
    for index in 0..<workerCount {
      workers.append(
        try ChildProcess.spawn(
          executable,
          [
            "swstat-bench", "churn", "--rate", String(rate / Double(workerCount)),
            "--seconds", String(seconds), "--index", String(index), "--workers",
            String(workerCount),
          ], pipeStdin: true, pipeStdout: true))
    }
    for worker in workers {
      let what = "churn worker \(worker.pid)"
      guard let line = try worker.stdoutReader?.readLine(within: 30, what: what) else {
        throw BenchError("\(what) exited before 'ready'")
      }
      if line.hasPrefix("error ") { throw BenchError("\(what): \(line.dropFirst(6))") }
      guard line.hasPrefix("ready") else { throw BenchError("\(what): unexpected '\(line)'") }
    }
  }

  /// Connections completed and failed so far by every worker, and when (monotonic ns, halfway
  /// between asking and the last answer).
  func progress() throws -> (completed: Int, failed: Int, at: UInt64) {
    let asked = monotonicNanoseconds()
    for worker in workers { try worker.send("count") }
    var completed = 0
    var failed = 0
    for worker in workers {
      let what = "churn worker \(worker.pid)"
      guard let line = try worker.stdoutReader?.readLine(within: 10, what: what) else {
        throw BenchError("\(what) exited while churning")
      }
      let fields = line.split(separator: " ")
      guard fields.count == 3, fields[0] == "count", let c = Int(fields[1]), let f = Int(fields[2])
      else { throw BenchError("\(what): unexpected '\(line)'") }
      completed += c
      failed += f
    }
    let answered = monotonicNanoseconds()
    return (completed, failed, asked + (answered - asked) / 2)
  }

  /// Closes each worker's stdin (its cue to stop), then reaps it by pid, killing any that
  /// takes longer than 10 s.
  func stop() {
    guard !workers.isEmpty else { return }
    for index in workers.indices {
      if let fd = workers[index].stdinWriter { _ = close(fd) }
      workers[index].stdinWriter = nil
    }
    for index in workers.indices {
      if workers[index].reap(within: 10) == nil {
        writeError("swstat-bench: churn worker \(workers[index].pid) did not exit; killed it")
      }
      workers[index].closePipes()
    }
    workers = []
    stoppedAt = monotonicNanoseconds()
  }
}
