import Glibc
import SwstatRender
import SystemPackage

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
    serve(address, endpoint: MetricsEndpoint(collector: command.collector), signals: signals)
  }

  /// Serves until SIGTERM or SIGINT (exit 0), or exits 1 when it cannot listen. The loop runs
  /// on this thread; a second one takes the signals with sigwait and stops the loop, a third
  /// runs the dumps.
  static func serve(_ address: ListenAddress, endpoint: MetricsEndpoint, signals: sigset_t) -> Never
  {
    let server: HTTPServer
    do {
      let listener = try openListener(address)
      // One line once bound, with the port the kernel picked for port 0.
      writeStderr("swstat: listening on \(boundAddress(listener) ?? address.description)\n")
      let waker = try LoopWaker()
      let worker = try ScrapeWorker(endpoint: endpoint, waker: waker)
      server = HTTPServer(
        listener: listener, limits: .current(), waker: waker, worker: worker,
        route: MetricsRoutes.route)
    } catch {
      fail(error.description)
    }
    let waker = server.waker
    var rc = server.worker.start()
    if rc == 0 {
      rc = startThread {
        var signals = signals
        var signal: Int32 = 0
        while sigwait(&signals, &signal) != 0 {}
        waker.stop()
      }
    }
    guard rc == 0 else {
      fail(ExportError.file(path: "pthread_create", errno: .init(rawValue: rc)).description)
    }
    server.run()
    exit(0)
  }
}

/// One line on stderr, `swstat: <what>`, and exit status 1.
func fail(_ message: String) -> Never {
  writeStderr("swstat: \(message)\n")
  exit(1)
}

/// Writes `text` to standard error unbuffered.
func writeStderr(_ text: String) { StandardError.write(text) }
