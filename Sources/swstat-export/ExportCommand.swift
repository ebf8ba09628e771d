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
    name: .customLong("interval"), parsing: .unconditional,
    help: ArgumentHelp(
      "With --textfile, rewrite the file every this many seconds.", valueName: "secs"))
  var intervalText: String?

  /// `--interval` in seconds (checked by `validate`).
  var interval: Double? { intervalText.flatMap(Double.init) }

  @Flag(name: .customLong("by-port"), help: "Add socket counts per local port and state.")
  var byPort = false

  @Option(
    name: .customLong("max-ports"),
    help: ArgumentHelp(
      "With --by-port, the busiest ports kept; the rest count as port=\"other\".", valueName: "n"))
  var maxPortsGiven: Int?

  /// The port cap with --by-port (100 when not given).
  var maxPorts: Int { maxPortsGiven ?? 100 }

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
    if let text = intervalText {
      guard textfile != nil else { throw ValidationError("--interval needs --textfile.") }
      // Decimal digits and an optional fraction: no sign, exponent or hex (0x10 is not 16 s).
      let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
      let digits = parts.allSatisfy {
        !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
      }
      guard digits, let value = Double(text), value > 0 && value <= 86_400 else {
        throw ValidationError(
          "--interval: expected seconds above 0 and at most 86400, got \"\(text)\".")
      }
    }
    if textfile == "" { throw ValidationError("--textfile needs a path.") }
    if let given = maxPortsGiven {
      guard byPort else { throw ValidationError("--max-ports applies to --by-port only.") }
      guard given >= 1 else { throw ValidationError("--max-ports must be at least 1.") }
    }
  }

  /// What each scrape collects, from these flags.
  var collector: Collector {
    Collector(
      source: source.source(procRoot: procRoot), procRoot: procRoot,
      byPort: byPort ? maxPorts : nil, programs: programs)
  }
}
