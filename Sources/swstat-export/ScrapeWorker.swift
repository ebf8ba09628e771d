import Glibc
import Synchronization

/// Runs the dumps on a thread of its own, so that the server's loop goes on accepting, reading
/// and timing out connections while one runs (a dump with -p on a busy host takes a while).
/// Scrapes that arrive while a dump runs wait for the next one and share it: however many
/// clients ask at once, one dump runs at a time and at most one more is queued.
final class ScrapeWorker: Sendable {
  /// A scrape asked for by the connection `connection`.
  struct Job: Sendable {
    var connection: UInt64
    var format: ExpositionFormat
  }

  /// The answer to a job.
  struct Answer: Sendable {
    var connection: UInt64
    var response: HTTPResponse
  }

  private let endpoint: MetricsEndpoint
  private let waker: LoopWaker
  private let queues = Mutex<(jobs: [Job], answers: [Answer])>(([], []))
  /// The worker sleeps in read() on `signal.read` until `submit` writes a byte.
  private let signal: (read: Int32, write: Int32)

  init(endpoint: MetricsEndpoint, waker: LoopWaker) throws(ExportError) {
    self.endpoint = endpoint
    self.waker = waker
    signal = try makePipe(nonBlockingRead: false)
  }

  /// Starts the thread; 0, or pthread_create's error number.
  func start() -> Int32 { startThread { self.run() } }

  /// Queues a scrape (called by the loop).
  func submit(_ job: Job) {
    queues.withLock { $0.jobs.append(job) }
    var byte: UInt8 = 1
    // EAGAIN: the pipe holds wake-ups already, and the worker takes every queued job at once.
    _ = write(signal.write, &byte, 1)
  }

  /// The answers finished so far (called by the loop when woken).
  func takeAnswers() -> [Answer] {
    queues.withLock { queues in
      defer { queues.answers = [] }
      return queues.answers
    }
  }

  private func run() {
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(signal.read, $0.baseAddress, $0.count) }
      if n <= 0 { continue }
      let jobs = queues.withLock { queues in
        defer { queues.jobs = [] }
        return queues.jobs
      }
      if jobs.isEmpty { continue }
      let responses = endpoint.scrape(formats: jobs.map(\.format))
      let answers = zip(jobs, responses).map { Answer(connection: $0.connection, response: $1) }
      queues.withLock { $0.answers.append(contentsOf: answers) }
      waker.wake()
    }
  }
}

/// Runs `body` on a new detached thread; 0, or pthread_create's error number.
func startThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
  final class Box: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }
  let context = Unmanaged.passRetained(Box(body)).toOpaque()
  var thread = pthread_t()
  let rc = pthread_create(
    &thread, nil,
    { raw in
      // swift-format-ignore: NeverForceUnwrap
      Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
      return nil
    }, context)
  guard rc == 0 else {
    Unmanaged<Box>.fromOpaque(context).release()
    return rc
  }
  pthread_detach(thread)
  return 0
}
