import Glibc

/// `swstat-bench`: times swstat against ss, netstat and the kernel floors on a loopback socket
/// load it creates itself. Three hidden subcommands run in child processes of the benchmark:
/// `hold` (one socket-holding worker, `SocketHolder`), `churn` (one connection-churn worker,
/// `ChurnWorker`) and `spawn` (times one command, `TimedSpawn`); they are dispatched before
/// anything else so those processes stay small.
@main
enum BenchMain {
  static func main() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "spawn": TimedSpawn.main(Array(arguments.dropFirst()))
    case "hold": SocketHolder.main(Array(arguments.dropFirst()))
    case "churn": ChurnWorker.main(Array(arguments.dropFirst()))
    default: break
    }
    let options: BenchOptions
    do {
      options = try BenchOptions.parse(arguments)
    } catch let error as BenchOptions.UsageError {
      if case .help = error {
        print(BenchOptions.usage)
        exit(0)
      }
      writeError("\(error)\n\(BenchOptions.usage)")
      exit(64)
    } catch {
      writeError("swstat-bench: \(error)")
      exit(1)
    }
    do {
      let failures =
        options.check
        ? try BenchCheck(options: options).run() : try BenchRun(options: options).run().failures
      fflush(nil)  // the table and the JSON line first, then the verdict on stderr
      if !failures.isEmpty {
        let what = options.check ? "check(s) failed" : "target(s) missed or check(s) failed"
        writeError(
          "swstat-bench: \(failures.count) \(what):\n"
            + failures.map { "  \($0)" }.joined(separator: "\n"))
      }
      exit(exitStatus(failures))
    } catch {
      writeError("swstat-bench: \(error)")
      exit(1)
    }
  }

  /// 0 when nothing failed, else 2 (1 is an error, 64 a usage error).
  static func exitStatus(_ failures: [String]) -> Int32 { failures.isEmpty ? 0 : 2 }
}

/// Writes one line on stderr, unbuffered (progress and errors).
func writeError(_ line: String) { writeLine(line, to: 2) }
