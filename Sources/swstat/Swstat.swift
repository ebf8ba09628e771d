import ArgumentParser
import Glibc
import SwstatCore
import SwstatRender

/// The entry point: the common flag groups skip ArgumentParser (see `FastArguments`); the rest,
/// help and every error go through it.
@main
enum Main {
  static func main() {
    let args = CommandLine.arguments
    if args.count >= 2 && args[1] == "export" { runExporter(Array(args.dropFirst(2))) }
    if let config = FastArguments.parse(CommandLine.arguments.dropFirst()) {
      execute(config)
    } else {
      Swstat.main()
    }
  }
}

/// `swstat export …`: the Prometheus exporter is a binary of its own, `swstat-export` beside
/// this one, so the listing never links the HTTP server; exec it with the rest of the arguments.
func runExporter(_ arguments: [String]) -> Never {
  var exe = [CChar](repeating: 0, count: 4096)
  let n = readlink("/proc/self/exe", &exe, exe.count - 1)
  let dir = n > 0 ? String(decoding: exe[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
  let path =
    (dir.split(separator: "/", omittingEmptySubsequences: false).dropLast()
      .joined(separator: "/")) + "/swstat-export"
  let argv = (["swstat-export"] + arguments).map { strdup($0) } + [nil]
  execv(path, argv)
  fail("export: cannot run \(path): \(String(cString: strerror(errno)))")
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

      swstat export [--listen ADDR:PORT | --textfile PATH] serves the socket counts to \
      Prometheus; see 'swstat export --help'.
      """,
    version: "swstat 0.1.0")

  @OptionGroup var options: ListingOptions
  @OptionGroup var extraTables: ExtraTablesOptions

  /// Every option group's settings together.
  var config: ListingConfig {
    var c = options.config
    extraTables.apply(to: &c)
    return c
  }

  mutating func run() throws {
    execute(config)
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
