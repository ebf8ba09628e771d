import ArgumentParser
import Glibc
import SwstatCore
import SwstatModes
import SwstatRender

/// The entry point: the common flag groups skip ArgumentParser (see `FastArguments`); the rest,
/// help and every usage error go through it.
@main
enum Main {
  static func main() {
    let args = CommandLine.arguments
    if args.count >= 2 && args[1] == "export" { runExporter(Array(args.dropFirst(2))) }
    if let flags = FastArguments.parse(args.dropFirst()) {
      do {
        execute(try PlanBuilder.build(flags, terminal: isatty(STDOUT_FILENO) == 1))
      } catch {
        Swstat.exit(withError: ValidationError(error.description))
      }
    }
    // --version and --help answer alone: `--version --bogus` is a usage error, not a version.
    if args.count > 2, let lone = args.dropFirst().first(where: { $0 == "--version" }) {
      Swstat.exit(withError: ValidationError("\(lone) takes no other arguments"))
    }
    Swstat.main()
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

/// Runs a plan; a runtime failure becomes one line `swstat: <what>: <why>` and exit status 1.
func execute(_ plan: Plan) -> Never {
  // A closed pipe ends the run quietly, like cat: SIGPIPE's default action.
  signal(SIGPIPE, SIG_DFL)
  do {
    let status = try Modes.run(plan, in: .system(plan))
    Glibc.exit(status)
  } catch {
    fail("\(error)")
  }
}

/// One line on stderr, `swstat: <what>`, and exit status 1.
func fail(_ message: String) -> Never {
  writeStandardError("swstat: \(message)\n")
  Glibc.exit(1)
}

struct Swstat: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swstat",
    abstract:
      "Print sockets as netstat does, from the kernel's sock_diag interface, and watch them.",
    discussion: """
      Without -t, -u, -w or -x, every table netstat prints (TCP, UDP, UDP-Lite, raw, UNIX); \
      with --json, a filter or another mode, TCP and UDP. Without -a or -l, only connections \
      (sockets that are not servers). Output matches net-tools netstat 2.10 row for row.

      swstat export [--listen ADDR:PORT | --textfile PATH] serves the socket counts to \
      Prometheus; see 'swstat export --help'.
      """,
    version: "swstat 0.1.0")

  @OptionGroup var options: Options

  func run() throws {
    let plan: Plan
    do {
      plan = try PlanBuilder.build(options.flags, terminal: isatty(STDOUT_FILENO) == 1)
    } catch {
      throw ValidationError(error.description)
    }
    execute(plan)
  }
}
