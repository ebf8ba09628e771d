import ArgumentParser
import Glibc
import SwstatCore
import SwstatRender

/// The entry point: the common flag groups skip ArgumentParser (see `FastArguments`); the rest,
/// help and every error go through it.
@main
enum Main {
  static func main() {
    if let config = FastArguments.parse(CommandLine.arguments.dropFirst()) {
      execute(config)
    } else {
      Swstat.main()
    }
  }
}

/// Runs a listing; a runtime failure becomes one line `swstat: <what>: <why>` and exit status 1.
func execute(_ config: ListingConfig) {
  do {
    let status = try Listing(options: config).run()
    if status != 0 { Glibc.exit(status) }
  } catch let error as OutputError {
    fail(error.description)
  } catch let error as SocketSourceError {
    fail(error.description)
  } catch {
    fail("\(error)")
  }
}

/// One line on stderr, `swstat: <what>`, and exit status 1.
func fail(_ message: String) -> Never {
  writeStderr("swstat: \(message)\n")
  Glibc.exit(1)
}

struct Swstat: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swstat",
    abstract: "Print TCP and UDP sockets as netstat does, from the kernel's sock_diag interface.",
    discussion: """
      Without -t or -u, TCP and UDP are listed; without -a or -l, only connections (sockets \
      that are not servers). Output matches net-tools netstat 2.10 row for row.
      """,
    version: "swstat 0.1.0")

  @OptionGroup var options: ListingOptions

  mutating func run() throws {
    execute(options.config)
  }
}

/// Writes `text` to standard error unbuffered.
func writeStderr(_ text: String) {
  var text = text
  text.withUTF8 { buf in
    var done = 0
    while done < buf.count {
      let n = write(STDERR_FILENO, buf.baseAddress! + done, buf.count - done)
      if n <= 0 { if n < 0 && errno == EINTR { continue } else { return } }
      done += n
    }
  }
}
