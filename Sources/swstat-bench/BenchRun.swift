import Glibc

/// Runs the whole benchmark: for each size, create the load, time every group round by round,
/// take the ratios, tear the load down; then print the table and write the JSON.
struct BenchRun {
  var options: BenchOptions

  /// TIME_WAIT batches older than this are re-created before the next round starts.
  private let timeWaitMaxAge = 45.0
  /// Per-socket time at the largest size may be this many times that at 10k and still be flat.
  private let scalingLimit = 1.2
  /// Peak RSS of a streaming command at the largest size may be this many times that at the
  /// smallest: the streaming budget (a fixed receive buffer, output buffer and address cache).
  private let streamingLimit = 1.2

  /// Runs every size, prints the table and writes the JSON; returns the results (their
  /// `failures` decide the exit status).
  func run() throws -> BenchResults {
    let setup = try prepare()
    let plan = setup.plan
    var results = BenchResults(
      startedAt: utcTimestamp(), swstat: setup.swstat, runs: options.runs,
      machine: machineFacts(), notes: plan.notes)
    let counter = BenchCommand(
      label: "count", path: "\(setup.helpers)/swstat-diagdump",
      argv: ["swstat-diagdump", "-s", hex(BenchPlan.swstatAllStates)])

    /// When the last churn stopped: its TIME_WAIT sockets stay for 60 s.
    var churnStopped: UInt64? = nil
    for size in options.sizes {
      if let stopped = churnStopped {
        // The next load is measured without the last one's churn in the table.
        let clear = stopped + LoadGenerator.timeWaitLifetime + 1_500_000_000
        let now = monotonicNanoseconds()
        if now < clear {
          writeError(
            "swstat-bench: waiting \(fixed(Double(clear - now) / 1e9, 0)) s for the churn's"
              + " TIME_WAIT sockets to expire")
          usleep(UInt32((clear - now) / 1000))
        }
        churnStopped = nil
      }
      let load = LoadGenerator(
        total: size, executable: setup.executable,
        createTimeoutSeconds: options.createTimeoutSeconds)
      defer { load.stop() }
      writeError("swstat-bench: \(size) sockets: starting \(load.mix.workerCount()) worker(s)")
      try load.start()
      var sizeResult = SizeResult(
        size: size, mix: load.mix, workers: load.workerCount, createSeconds: load.createSeconds)
      writeError(
        "swstat-bench: \(size) sockets: ready in \(fixed(load.createSeconds, 2)) s"
          + " (pids \(load.workerPIDs.map(String.init).joined(separator: " ")))")
      for group in plan.groups {
        // The floor and swstat must see the same sockets before their times mean anything.
        for check in plan.checks where check.group == group.name {
          try load.refreshTimeWaitIfOlder(than: timeWaitMaxAge)
          let result = countCheck(check)
          if !result.agrees {
            writeError("swstat-bench: counts differ, \(result.name): \(result.summary)")
          }
          sizeResult.countChecks.append(result)
        }
        let before = try countSockets(counter)
        var churn: ChurnGenerator? = nil
        if let spec = group.churn {
          let generator = ChurnGenerator(
            rate: spec.rate, workers: spec.workers, executable: setup.executable)
          // Bounded: every round of every command, the TIME_WAIT refreshes, and a margin.
          let seconds = group.commands.reduce(0) { $0 + Int($1.live?.seconds ?? 1) + 10 }
          try generator.start(seconds: (group.rounds ?? options.runs) * seconds + 180)
          writeError(
            "swstat-bench: \(size) sockets: churn at \(fixed(spec.rate, 0))/s"
              + " (pids \(generator.workerPIDs.map(String.init).joined(separator: " ")))")
          churn = generator
        }
        let measured = Result { try measure(group, load: load, churn: churn) }
        if let churn {
          churn.stop()
          churnStopped = churn.stoppedAt
        }
        let (commands, refreshes) = try measured.get()
        sizeResult.commands += commands
        sizeResult.timeWaitRefreshes += refreshes
        sizeResult.counts.append(
          SocketCount(group: group.name, before: before, after: try countSockets(counter)))
      }
      sizeResult.ratios = ratios(plan.targets, in: sizeResult)
      load.stop()
      results.sizes.append(sizeResult)
    }
    results.scaling = scaling(results.sizes)
    results.memory = memory(results.sizes)
    if results.scaling.isEmpty {
      results.notes.append("time per socket 10k vs 100k: needs both 10000 and 100000 in --sizes")
    }
    print(BenchReport.table(results))
    try BenchReport.writeJSON(results, to: options.jsonPath)
    print("JSON: \(options.jsonPath)")
    return results
  }

  /// What every run needs: this executable, the helpers' folder, swstat and the plan.
  struct Setup {
    var executable: String
    var helpers: String
    var swstat: String
    var plan: BenchPlan
  }

  func prepare() throws -> Setup {
    let executable = try ownExecutablePath()
    let helpers =
      options.helpers.map(absolutePath)
      ?? String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
    guard access(options.swstat, X_OK) == 0 else {
      throw BenchError(
        "\(options.swstat): no such executable; build it with `swift build -c release"
          + " --product swstat` or pass --swstat PATH")
    }
    for helper in ["swstat-diagdump", "swstat-procparse", "swstat-tracefloor"] {
      guard access("\(helpers)/\(helper)", X_OK) == 0 else {
        throw BenchError("\(helpers)/\(helper): not built (`swift build --product \(helper)`)")
      }
    }
    let swstat = absolutePath(options.swstat)
    let help = (try? captureOutput(swstat, ["swstat", "--help"])) ?? ""
    var plan = BenchPlan.make(swstat: swstat, helpers: helpers, swstatHelp: help)
    if let wanted = options.groups {
      let known = Set(plan.groups.map(\.name))
      for name in wanted where !known.contains(name) {
        throw BenchError(
          "--groups: no group '\(name)' (groups: \(plan.groups.map(\.name).joined(separator: ", ")))"
        )
      }
      plan.groups.removeAll { !wanted.contains($0.name) }
      plan.targets.removeAll { !wanted.contains($0.group) }
      plan.checks.removeAll { !wanted.contains($0.group) }
      plan.notes.append("groups run: \(plan.groups.map(\.name).joined(separator: ", ")) (--groups)")
    }
    return Setup(executable: executable, helpers: helpers, swstat: swstat, plan: plan)
  }

  /// Every ratio at every size; the limit only where the issue sets it (else informational).
  func ratios(_ targets: [RatioTarget], in sizeResult: SizeResult) -> [RatioResult] {
    let size = sizeResult.size
    var seen = Set<String>()
    var out = targets.filter { $0.sizes.contains(size) }.map { ratio($0, in: sizeResult) }
    for r in out { seen.insert(r.target.group + "\u{0}" + r.target.name) }
    for target in targets where !target.sizes.contains(size) {
      guard seen.insert(target.group + "\u{0}" + target.name).inserted else { continue }
      var info = target
      info.limit = nil
      out.append(ratio(info, in: sizeResult))
    }
    return out
  }

  /// One warm-up run per command (a failing command is dropped), then `runs` rounds. With
  /// `churn` running, the connections it made while each command ran are counted.
  func measure(
    _ group: BenchGroup, load: LoadGenerator, rounds: Int? = nil, churn: ChurnGenerator? = nil
  ) throws -> ([CommandResult], Int) {
    var results = group.commands.map {
      CommandResult(
        group: group.name, label: $0.label,
        commandLine: ([$0.path] + $0.argv.dropFirst()).joined(separator: " ")
          + ($0.live.map { " (SIGINT after \(fixed($0.seconds, 0)) s)" } ?? ""))
    }
    var active: [Int] = group.warmUp ? [] : Array(group.commands.indices)
    for (index, command) in group.commands.enumerated() where group.warmUp {
      let warmUp = try time(command)
      if warmUp.status.succeeded {
        active.append(index)
      } else {
        results[index].failure = "warm-up run ended with \(warmUp.status)"
        writeError("swstat-bench: \(command.label): \(warmUp.status); left out")
      }
    }
    var refreshes = 0
    let rounds = rounds ?? group.rounds ?? options.runs
    writeError("swstat-bench: \(load.mix.sockets) sockets: \(group.name) (\(rounds) rounds)")
    for round in 0..<rounds {
      if try load.refreshTimeWaitIfOlder(than: timeWaitMaxAge) { refreshes += 1 }
      // Rotate the order each round so no command always runs right after the same one.
      for step in active.indices {
        let index = active[(round + step) % active.count]
        let before = try churn?.progress()
        var measurement = try time(group.commands[index])
        if let churn, let before {
          let after = try churn.progress()
          measurement.churn = ChurnSample(
            completed: after.completed - before.completed, failed: after.failed - before.failed,
            seconds: Double(after.at - before.at) / 1e9)
        }
        results[index].measurements.append(measurement)
      }
    }
    return (results, refreshes)
  }

  private func time(_ command: BenchCommand) throws -> Measurement {
    let executable = try ownExecutablePath()
    return try TimedSpawn.measure(
      command, benchExecutable: executable, timeoutSeconds: options.commandTimeoutSeconds)
  }

  func ratio(_ target: RatioTarget, in size: SizeResult) -> RatioResult {
    guard let numerator = size.command(target.group, target.numerator),
      let denominator = size.command(target.group, target.denominator),
      numerator.measurements.count == denominator.measurements.count
    else { return RatioResult(target: target, perRound: []) }
    // Round r of the numerator and round r of the denominator ran back to back. A round counts
    // when both exited 0 (a live mode that failed at once would look cheap) and the churn, if
    // any, reached its minimum rate while each ran.
    var result = RatioResult(target: target, perRound: [])
    result.rounds = numerator.measurements.count
    result.churnRates = numerator.measurements.compactMap { $0.churn?.rate }
    var pairs: [(Measurement, Measurement)] = []
    for (a, b) in zip(numerator.measurements, denominator.measurements) {
      if !a.status.succeeded || !b.status.succeeded {
        result.failedRounds += 1
      } else if let minimum = target.minimumChurnRate,
        min(a.churn?.rate ?? 0, b.churn?.rate ?? 0) < minimum
      {
        result.slowChurnRounds += 1
      } else {
        pairs.append((a, b))
      }
    }
    result.perRound =
      switch target.metric {
      case .wallTime: pairs.map { Double($0.wallNanoseconds) / Double($1.wallNanoseconds) }
      case .peakRSS: pairs.map { Double($0.maxRSSKiB) / Double($1.maxRSSKiB) }
      case .cpuTime: pairs.map { $0.cpuMilliseconds / max(0.001, $1.cpuMilliseconds) }
      case .cpuShare: pairs.map(\.0.cpuShare)
      case .steadyCPUShare: pairs.compactMap(\.0.steadyCPUShare)
      }
    return result
  }

  private func scaling(_ sizes: [SizeResult]) -> [ScalingResult] {
    guard let small = sizes.first(where: { $0.size == 10000 }),
      let large = sizes.first(where: { $0.size == 100000 })
    else { return [] }
    return [("listing", "swstat -tan"), ("listing", "bare dump")].compactMap { group, label in
      guard let a = small.command(group, label), let b = large.command(group, label),
        !a.measurements.isEmpty, !b.measurements.isEmpty
      else { return nil }
      return ScalingResult(
        label: label, smallSize: small.size, largeSize: large.size,
        smallMicroseconds: a.medianMilliseconds * 1000 / Double(small.socketsSeen),
        largeMicroseconds: b.medianMilliseconds * 1000 / Double(large.socketsSeen),
        limit: label.hasPrefix("swstat") ? scalingLimit : .infinity)
    }
  }

  /// Peak RSS at the smallest and the largest size, for the commands run at both; the limit
  /// on the ones that stream (the listings from either source and the counts), the rest —
  /// which hold the table or its owners — for information.
  private func memory(_ sizes: [SizeResult]) -> [MemoryResult] {
    guard let small = sizes.min(by: { $0.size < $1.size }),
      let large = sizes.max(by: { $0.size < $1.size }), small.size != large.size
    else { return [] }
    let streaming: Set = ["swstat -tan", "swstat -t --count", "swstat --source proc -tan"]
    return large.commands.compactMap { b in
      guard let a = small.command(b.group, b.label), !a.measurements.isEmpty,
        !b.measurements.isEmpty, b.label.hasPrefix("swstat") || b.label.hasPrefix("ss")
      else { return nil }
      return MemoryResult(
        label: b.label, smallSize: small.size, largeSize: large.size, smallKiB: a.peakRSSKiB,
        largeKiB: b.peakRSSKiB, limit: streaming.contains(b.label) ? streamingLimit : nil)
    }
  }

  /// TCP sockets the bare dump sees right now.
  private func countSockets(_ counter: BenchCommand) throws -> Int {
    try readCount(counter, .firstNumber)
  }

  /// Floor, swstat, floor; again (at most three times) while swstat's count is not between the
  /// floor's two, which other processes' sockets coming and going can cause, a wrong floor not.
  func countCheck(_ check: CountCheck) -> CountCheckResult {
    var result = CountCheckResult(name: check.name, group: check.group)
    do {
      for attempt in 0..<3 {
        if attempt > 0 { usleep(300_000) }
        let before = try readCount(check.floor, check.floorCount)
        let swstat = try readCount(check.swstat, check.swstatCount)
        let after = try readCount(check.floor, check.floorCount)
        result.attempts.append((before, swstat, after))
        if CountCheckResult.agree(before, swstat, after) { break }
      }
    } catch {
      result.error = "\(error)"
    }
    return result
  }

  /// Runs `command` once with its stdout on a pipe and reads the socket count from it, line by
  /// line (a listing at 100k is 100k lines); the command must exit 0 within the command timeout.
  func readCount(_ command: BenchCommand, _ reader: CountReader) throws -> Int {
    var child = try ChildProcess.spawn(
      command.path, command.argv, pipeStdin: false, pipeStdout: true)
    let timeout = Double(options.commandTimeoutSeconds)
    let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
    var rows = 0
    var first: Int?
    var total: Int?
    var lines = 0
    do {
      while let line = try child.stdoutReader?.readLine(within: timeout, what: command.label) {
        lines += 1
        guard lines <= 10_000_000, monotonicNanoseconds() < deadline else {
          throw BenchError("\(command.label): more output or time than a count takes")
        }
        switch reader {
        case .rows(let prefix): if line.hasPrefix(prefix) { rows += 1 }
        case .countTotal:
          if line.hasPrefix("total") {
            total = line.split(separator: " ").last.flatMap { Int($0) }
          }
        case .firstNumber:
          if lines == 1 { first = line.split(separator: " ").first.flatMap { Int($0) } }
        }
      }
    } catch {
      child.closePipes()
      _ = child.reap(within: 5)
      throw error
    }
    child.closePipes()
    guard let status = child.reap(within: timeout), status.succeeded else {
      throw BenchError("\(command.label): did not exit 0 (counting its sockets)")
    }
    let count: Int? =
      switch reader {
      case .rows: rows
      case .countTotal: total
      case .firstNumber: first
      }
    guard let count else { throw BenchError("\(command.label): no socket count in its output") }
    return count
  }

  /// Runs a short command and returns its stdout (bounded by the command timeout).
  private func captureOutput(_ path: String, _ argv: [String]) throws -> String {
    var child = try ChildProcess.spawn(path, argv, pipeStdin: false, pipeStdout: true)
    defer {
      child.closePipes()
      _ = child.reap(within: 5)
    }
    var lines: [String] = []
    let timeout = Double(options.commandTimeoutSeconds)
    while let line = try child.stdoutReader?.readLine(within: timeout, what: argv[0]) {
      lines.append(line)
      if lines.count > 10_000 { break }
    }
    return lines.joined(separator: "\n")
  }

  private func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let directory = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: directory, as: UTF8.self) + "/" + path
  }

  private func machineFacts() -> [(String, String)] {
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) {
      String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    return [
      ("cpus", String(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
      ("kernel", release),
      ("nofile hard limit", String(limit.rlim_max)),
      (
        "ip_local_port_range",
        (try? readSmallFile("/proc/sys/net/ipv4/ip_local_port_range"))?.split(separator: "\t")
          .joined(separator: "-") ?? "?"
      ),
    ]
  }

  private func utcTimestamp() -> String {
    var now = Glibc.time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
      + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
  }
}
