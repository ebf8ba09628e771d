import Glibc

/// The benchmark's command line (hand-parsed: only the `swstat` target uses ArgumentParser).
struct BenchOptions {
  /// Total socket counts to create, one load after the other.
  var sizes = [1000, 10000, 100000]
  /// Rounds per comparison group; each round runs every command of the group once.
  var runs = 15
  /// The swstat binary under test.
  var swstat = ".build/release/swstat"
  /// Where swstat-diagdump and swstat-procparse are; nil: next to this executable.
  var helpers: String?
  /// Where the JSON results go.
  var jsonPath = "bench-results/latest.json"
  /// Longest a single timed command may run before it is killed.
  var commandTimeoutSeconds = 120
  /// Longest a socket-holding worker may take to create its share.
  var createTimeoutSeconds = 180
  /// `--check`: the quick self-check instead of the benchmark (see `BenchCheck`).
  var check = false
  /// `--groups`: only these groups (and their targets and count checks); nil: every group.
  var groups: Set<String>?

  enum UsageError: Error, CustomStringConvertible {
    case help
    case bad(String)
    var description: String {
      switch self {
      case .help: "help"
      case .bad(let message): "swstat-bench: \(message)"
      }
    }
  }

  static let usage = """
    USAGE: swstat-bench [--sizes N,N,...] [--runs N] [--groups NAME,...] [--swstat PATH]
                        [--json PATH] [--helpers DIR] [--command-timeout S]
                        [--create-timeout S]
           swstat-bench --check [--swstat PATH] [--helpers DIR]

    Creates loopback TCP sockets (127.0.0.x and ::1 only) in worker processes, then times
    swstat against ss, netstat and the bare sock_diag, /proc and tracepoint floors,
    interleaved round by round, and prints medians, CPU time, peak RSS and the ratios against
    their targets. Before a floor is timed, it and swstat must count the same sockets. The
    transition groups run swstat --events and the trace floor on the idle load, then under
    connection churn of the benchmark's own (loopback only), whose achieved rate is measured.

    Exit status: 0 when every target is met and every count agrees; 2 when a target is missed
    (or could not be measured) or a floor and swstat count differently; 1 on an error; 64 on a
    usage error.

    OPTIONS:
      --sizes N,N,...      Socket totals to test (default: 1000,10000,100000).
      --runs N             Rounds per comparison (default: 15).
      --groups NAME,...    Only these groups, with their targets (listing, programs, count,
                           watch, "half core", "half core (traced)", proc, "exec floor",
                           "events idle", "events churn"); default: every group.
      --swstat PATH        The swstat binary to test (default: .build/release/swstat).
      --json PATH          Where to write the results (default: bench-results/latest.json).
      --helpers DIR        Where swstat-diagdump, swstat-procparse and swstat-tracefloor
                           are (default: next to swstat-bench).
      --command-timeout S  Kill a timed command after S seconds (default: 120).
      --create-timeout S   Give up creating a load after S seconds (default: 180).
      --check              Instead of timing: the target logic on made-up results (a miss
                           must fail the run), then a 1000-socket load with BOUND_INACTIVE
                           sockets on which every floor must count what its swstat command
                           counts, a floor asking every state must not, one real round
                           against an impossible target must fail, and the churn group's
                           commands run once each under 200 connections/s of churn (the
                           rate held, the floor and swstat seeing the connections). A few
                           seconds.
      -h, --help           Show this help.
    """

  static func parse(_ arguments: [String]) throws -> BenchOptions {
    var options = BenchOptions()
    var rest = arguments[...]
    func value(_ flag: String) throws -> String {
      guard let next = rest.popFirst() else { throw UsageError.bad("\(flag) needs a value") }
      return next
    }
    func number(_ flag: String, _ text: String, min: Int, max: Int) throws -> Int {
      guard let n = Int(text), n >= min, n <= max else {
        throw UsageError.bad("\(flag): expected a number from \(min) to \(max), got '\(text)'")
      }
      return n
    }
    while let flag = rest.popFirst() {
      switch flag {
      case "-h", "--help": throw UsageError.help
      case "--sizes":
        let text = try value(flag)
        options.sizes = try text.split(separator: ",").map {
          try number(flag, String($0), min: 100, max: 200_000)
        }
        if options.sizes.isEmpty { throw UsageError.bad("--sizes: no sizes given") }
      case "--check": options.check = true
      case "--groups":
        options.groups = try parseGroups(try value(flag))
      case "--runs": options.runs = try number(flag, try value(flag), min: 1, max: 1000)
      case "--swstat": options.swstat = try value(flag)
      case "--json": options.jsonPath = try value(flag)
      case "--helpers": options.helpers = try value(flag)
      case "--command-timeout":
        options.commandTimeoutSeconds = try number(flag, try value(flag), min: 1, max: 3600)
      case "--create-timeout":
        options.createTimeoutSeconds = try number(flag, try value(flag), min: 1, max: 3600)
      default: throw UsageError.bad("unknown option '\(flag)'")
      }
    }
    return options
  }

  /// Group names from `--groups`: comma-separated.
  static func parseGroups(_ text: String) throws -> Set<String> {
    let names = Set(text.split(separator: ",").map { String($0.drop { $0 == " " }) })
    guard !names.isEmpty else { throw UsageError.bad("--groups: no group named") }
    return names
  }
}
