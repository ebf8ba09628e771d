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
}

/// One ratio at one size: numerator / denominator per round, then the median.
struct RatioResult {
  var target: RatioTarget
  var perRound: [Double]
  var median: Double { BenchResults.median(perRound) }
  /// nil when the ratio has no target or could not be measured.
  var met: Bool? {
    guard let limit = target.limit, !perRound.isEmpty else { return nil }
    return median <= limit
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

  static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }
}

func median(_ values: [Double]) -> Double { BenchResults.median(values) }
