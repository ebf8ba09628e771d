import FlyingFox
import FlyingSocks
import Glibc
import Synchronization

/// `swstat-export`, which `swstat export` execs: the flags, then the textfile loop or the server.
///
/// SIGTERM and SIGINT are blocked before any thread starts, so every thread inherits the mask
/// and the signals are only ever taken by sigwait (server) or sigtimedwait (textfile): a stop
/// is a plain return path, exit status 0, never a handler running inside a write.
@main
enum ExportMain {
  static func main() {
    let command = ExportCommand.parseOrExit()
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGTERM)
    sigaddset(&signals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    signal(SIGPIPE, SIG_IGN)

    if let path = command.textfile {
      let loop = TextfileLoop(
        textfile: Textfile(path: path), collector: command.collector, interval: command.interval)
      exit(loop.run(signals: signals))
    }
    let address: ListenAddress
    do {
      address = try ListenAddress(parsing: command.listen ?? ExportCommand.defaultListen)
    } catch {
      fail(error.description)
    }
    serve(
      MetricsServer(address: address, endpoint: MetricsEndpoint(collector: command.collector)),
      signals: signals)
  }

  /// Runs the server until SIGTERM or SIGINT (exit 0), or until it cannot listen (exit 1).
  static func serve(_ metrics: MetricsServer, signals: sigset_t) -> Never {
    let server: HTTPServer
    do {
      server = try metrics.makeServer()
    } catch {
      fail(ExportError.badAddress(metrics.address.description, reason: "\(error)").description)
    }
    let stopping = Atomic<Bool>(false)
    Task {
      await metrics.addRoutes(to: server)
      Task {
        // One line once bound, with the port the kernel picked for port 0.
        try await server.waitUntilListening(timeout: 30)
        let bound = MetricsServer.text(await server.listeningAddress) ?? metrics.address.description
        writeStderr("swstat: listening on \(bound)\n")
      }
      do {
        try await server.run()
      } catch {
        if !stopping.load(ordering: .acquiring) {
          fail(listenFailure(error, address: metrics.address).description)
        }
      }
      exit(0)
    }
    var signals = signals
    var signal: Int32 = 0
    while sigwait(&signals, &signal) != 0 {}
    stopping.store(true, ordering: .releasing)
    Task {
      await server.stop(timeout: 1)
      exit(0)
    }
    // A stop that hangs (a scrape stuck in the kernel) still ends, after 3 s.
    sleep(3)
    exit(0)
  }

  /// The bind or listen failure as one line: the address, then the reason and errno.
  static func listenFailure(_ error: any Error, address: ListenAddress) -> ExportError {
    if case .failed(_, let errno, _) = error as? SocketError {
      return .listen(address: address.description, errno: .init(rawValue: errno))
    }
    return .badAddress(address.description, reason: "\(error)")
  }
}

/// One line on stderr, `swstat: <what>`, and exit status 1.
func fail(_ message: String) -> Never {
  writeStderr("swstat: \(message)\n")
  exit(1)
}

/// Writes `text` to standard error unbuffered.
func writeStderr(_ text: String) {
  var text = text
  text.withUTF8 { buf in
    guard let base = buf.baseAddress else { return }
    var done = 0
    while done < buf.count {
      let n = write(STDERR_FILENO, base + done, buf.count - done)
      if n <= 0 {
        if n < 0 && errno == EINTR { continue } else { return }
      }
      done += n
    }
  }
}
