import ArgumentParser
import SwstatCore

/// `--source auto|netlink|proc`.
extension SourceChoice: ExpressibleByArgument {}

/// `swstat export`: the flags. Parsing and usage errors are ArgumentParser's (exit 64); runtime
/// failures, a bad `--listen` address among them, are one `swstat: ` line and exit 1.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swstat export",
    abstract:
      "Serve socket counts to Prometheus, or write them for node_exporter's textfile collector.",
    discussion: """
      Without --textfile, serves /metrics over HTTP on --listen (default 127.0.0.1:9433) in the \
      Prometheus text format, or OpenMetrics when the scraper asks for it. Each scrape is a fresh \
      dump. With --textfile, writes the same metrics to a file atomically, once or every \
      --interval seconds, until SIGTERM or SIGINT.
      """,
    version: "swstat \(ExportCommand.version)")

  /// The version in `--version` and in `swstat_build_info`.
  static let version = "0.1.0"

  /// The address served when `--listen` is not given: loopback only.
  static let defaultListen = "127.0.0.1:9433"

  @Option(
    name: .customLong("listen"),
    help: ArgumentHelp(
      "Serve /metrics on this address (default \(defaultListen); [::]:PORT or 0.0.0.0:PORT for all).",
      valueName: "addr:port"))
  var listen: String?

  @Option(
    name: .customLong("textfile"),
    help: ArgumentHelp("Write the metrics to this file instead of serving them.", valueName: "path")
  )
  var textfile: String?

  @Option(
    name: .customLong("interval"),
    help: ArgumentHelp(
      "With --textfile, rewrite the file every this many seconds.", valueName: "secs"))
  var interval: Double?

  @Flag(name: .customLong("by-port"), help: "Add socket counts per local port and state.")
  var byPort = false

  @Option(
    name: .customLong("max-ports"),
    help: ArgumentHelp(
      "With --by-port, the busiest ports kept; the rest count as port=\"other\".", valueName: "n"))
  var maxPorts = 100

  @Flag(
    name: [.customShort("p"), .customLong("programs")],
    help: "Add socket counts per program and state (all programs need root).")
  var programs = false

  @Option(name: .customLong("source"), help: "Where to read sockets: auto, netlink or proc.")
  var source: SourceChoice = .auto

  @Option(
    name: .customLong("proc-root"),
    help: ArgumentHelp("Read /proc from this folder (a captured tree).", valueName: "dir"))
  var procRoot = "/proc"

  func validate() throws {
    if textfile != nil && listen != nil {
      throw ValidationError("--listen and --textfile exclude each other.")
    }
    if let interval {
      guard textfile != nil else { throw ValidationError("--interval needs --textfile.") }
      guard interval > 0 && interval <= 86_400 else {
        throw ValidationError("--interval must be above 0 and at most 86400 seconds.")
      }
    }
    if textfile == "" { throw ValidationError("--textfile needs a path.") }
    guard maxPorts >= 1 else { throw ValidationError("--max-ports must be at least 1.") }
  }

  /// What each scrape collects, from these flags.
  var collector: Collector {
    Collector(
      source: source.source(procRoot: procRoot), procRoot: procRoot,
      byPort: byPort ? maxPorts : nil, programs: programs)
  }
}
