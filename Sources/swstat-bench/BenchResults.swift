/// Every run of one command at one size.
struct CommandResult {
  var group: String
  var label: String
  var commandLine: String
  var measurements: [Measurement] = []
  /// Why the command was dropped (it failed its warm-up run), if it was.
  var failure: String?

  var wallMilliseconds: [Double] { measurements.map { Double($0.wallNanoseconds) / 1e6 } }
  var medianMilliseconds: Double { median(wallMilliseconds) }
  var minMilliseconds: Double { wallMilliseconds.min() ?? .nan }
  var maxMilliseconds: Double { wallMilliseconds.max() ?? .nan }
  /// The largest ru_maxrss over all runs.
  var peakRSSKiB: Int { measurements.map(\.maxRSSKiB).max() ?? 0 }
  /// User + system time of every thread (and of the children it waited for) per run.
  var cpuMilliseconds: [Double] { measurements.map(\.cpuMilliseconds) }
  var medianCPUMilliseconds: Double { median(cpuMilliseconds) }
  var medianUserMilliseconds: Double {
    median(measurements.map { Double($0.userMicroseconds) / 1000 })
  }
  var medianSystemMilliseconds: Double {
    median(measurements.map { Double($0.systemMicroseconds) / 1000 })
  }
}

extension CommandResult {
  /// The churn's achieved rate in each round (empty without churn).
  var churnRates: [Double] { measurements.compactMap { $0.churn?.rate } }
  /// Connections the churn failed to make while this command ran, every round together.
  var churnFailures: Int { measurements.compactMap { $0.churn?.failed }.reduce(0, +) }
  /// The trace floor's records a second in each round, and the records the kernel reported
  /// lost, every round together (empty and 0 for another command).
  var traceRates: [Double] {
    measurements.compactMap { m in
      m.traceCounts.map { Double($0.transitions) * 1e9 / Double(max(1, m.wallNanoseconds)) }
    }
  }
  var traceLost: Int { measurements.compactMap { $0.traceCounts?.lost }.reduce(0, +) }
}

extension Measurement {
  var cpuMilliseconds: Double { Double(userMicroseconds + systemMicroseconds) / 1000 }
  /// Cores kept busy on average: CPU time over wall time.
  var cpuShare: Double { cpuMilliseconds * 1e6 / Double(max(1, wallNanoseconds)) }
  /// The trace floor's counts, from its one line `transitions T lost L wakeups W polls P`.
  var traceCounts: (transitions: Int, lost: Int)? {
    guard let line = output?.split(separator: "\n").first else { return nil }
    let fields = line.split(separator: " ")
    guard fields.count >= 4, fields[0] == "transitions", fields[2] == "lost",
      let transitions = Int(fields[1]), let lost = Int(fields[3])
    else { return nil }
    return (transitions, lost)
  }
}

/// One ratio at one size: numerator / denominator per round, then the median (or the worst
/// round, for a bound that must always hold).
struct RatioResult {
  var target: RatioTarget
  /// The rounds counted: both commands exited 0, and the churn (if any) reached its minimum.
  var perRound: [Double]
  /// Rounds run, and those left out because a command failed or the churn was too slow.
  var rounds = 0
  var failedRounds = 0
  var slowChurnRounds = 0
  /// The churn's achieved rate in each round run (empty without churn).
  var churnRates: [Double] = []

  /// Why rounds were left out, if any were: said beside the verdict.
  var note: String? {
    var parts: [String] = []
    if slowChurnRounds > 0, let minimum = target.minimumChurnRate {
      let lowest = churnRates.min() ?? 0
      parts.append(
        "churn under \(fixed(minimum, 0))/s in \(slowChurnRounds) of \(rounds) rounds"
          + " (lowest \(fixed(lowest, 0))/s)")
    }
    if failedRounds > 0 { parts.append("a command failed in \(failedRounds) of \(rounds) rounds") }
    guard !parts.isEmpty else { return nil }
    return parts.joined(separator: "; ") + (perRound.isEmpty ? ": not measured" : ": left out")
  }
  var median: Double { BenchResults.median(perRound) }
  /// The figure held against the limit.
  var value: Double {
    switch target.summary {
    case .median: median
    case .max: perRound.max() ?? .nan
    }
  }
  /// nil when the ratio has no target; false when it has one and was missed or could not be
  /// measured (a command that failed is no pass).
  var met: Bool? {
    guard let limit = target.limit else { return nil }
    guard !perRound.isEmpty else { return false }
    return value <= limit
  }
}

/// Whether a swstat command and the floor it is timed against counted the same sockets: the
/// floor before and after, swstat in between (other processes on the machine open and close
/// sockets too, so swstat's count must lie between the floor's two).
struct CountCheckResult {
  var name: String
  var group: String
  /// Each attempt's floor, swstat, floor counts (the check retries a few times under churn).
  var attempts: [(floorBefore: Int, swstat: Int, floorAfter: Int)] = []
  /// Why it could not be run (a command failed), if it could not.
  var error: String?

  var agrees: Bool {
    guard error == nil, let last = attempts.last else { return false }
    return Self.agree(last.floorBefore, last.swstat, last.floorAfter)
  }

  static func agree(_ before: Int, _ swstat: Int, _ after: Int) -> Bool {
    min(before, after) <= swstat && swstat <= max(before, after)
  }

  var summary: String {
    if let error { return error }
    guard let last = attempts.last else { return "not run" }
    return "floor \(last.floorBefore)/\(last.floorAfter), swstat \(last.swstat)"
      + (attempts.count > 1 ? " (attempt \(attempts.count))" : "")
  }
}

/// How many TCP sockets the bare dump saw before and after a group ran.
struct SocketCount {
  var group: String
  var before: Int
  var after: Int
}

/// Everything measured at one socket total.
struct SizeResult {
  var size: Int
  var mix: SocketMix
  var workers: Int
  var createSeconds: Double
  var counts: [SocketCount] = []
  var countChecks: [CountCheckResult] = []
  var commands: [CommandResult] = []
  var ratios: [RatioResult] = []
  /// TIME_WAIT re-creations during the measurements (the kernel expires them after 60 s).
  var timeWaitRefreshes = 0

  /// TCP sockets the kernel reported at the start (the load plus whatever else is open).
  var socketsSeen: Int { counts.first?.before ?? mix.sockets }

  func command(_ group: String, _ label: String) -> CommandResult? {
    commands.first { $0.group == group && $0.label == label }
  }
}

/// Time per socket of one command at two sizes; flat means the ratio stays near 1.
struct ScalingResult {
  var label: String
  var smallSize: Int
  var largeSize: Int
  var smallMicroseconds: Double
  var largeMicroseconds: Double
  var limit: Double
  var ratio: Double { largeMicroseconds / smallMicroseconds }
  var met: Bool { ratio <= limit }
}

/// Peak RSS of one command at the smallest and the largest size. A streaming command's memory
/// does not follow the table: the ratio stays near 1.
struct MemoryResult {
  var label: String
  var smallSize: Int
  var largeSize: Int
  var smallKiB: Int
  var largeKiB: Int
  /// The largest ratio allowed, or nil for a command that holds the table (reported only).
  var limit: Double?
  var ratio: Double { Double(largeKiB) / Double(max(1, smallKiB)) }
  var met: Bool? { limit.map { ratio <= $0 } }
}

/// The whole benchmark.
struct BenchResults {
  var startedAt: String
  var swstat: String
  var runs: Int
  var machine: [(String, String)]
  var sizes: [SizeResult] = []
  var scaling: [ScalingResult] = []
  var memory: [MemoryResult] = []
  var notes: [String] = []

  /// Every missed target and failed check, one line each: empty means the run passed.
  var failures: [String] {
    var out: [String] = []
    for size in sizes {
      for check in size.countChecks where !check.agrees {
        out.append("\(size.size) sockets: counts differ, \(check.name): \(check.summary)")
      }
      for ratio in size.ratios where ratio.met == false {
        let figure = ratio.perRound.isEmpty ? "not measured" : fixed(ratio.value, 3)
        out.append(
          "\(size.size) sockets: \(ratio.target.name) = \(figure)"
            + " (\(ratio.target.summary.rawValue)), target ≤ \(fixed(ratio.target.limit ?? 0, 2))"
            + (ratio.note.map { " — \($0)" } ?? ""))
      }
    }
    for s in scaling where s.limit.isFinite && !s.met {
      out.append(
        "µs per socket \(s.largeSize) / \(s.smallSize), \(s.label) = \(fixed(s.ratio, 3)),"
          + " target ≤ \(fixed(s.limit, 2))")
    }
    for m in memory where m.met == false {
      out.append(
        "peak RSS \(m.largeSize) / \(m.smallSize), \(m.label) = \(fixed(m.ratio, 3)),"
          + " target ≤ \(fixed(m.limit ?? 0, 2))")
    }
    return out
  }

  static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }
}

func median(_ values: [Double]) -> Double { BenchResults.median(values) }
