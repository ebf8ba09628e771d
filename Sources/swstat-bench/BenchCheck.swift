import Glibc

/// `swstat-bench --check` (`make bench-check`, run first by `make bench`): a few seconds that say
/// whether the benchmark can be believed, not how fast swstat is.
///
/// 1. The target logic, on made-up results: a met target passes; a missed one, a worst round over
///    a "never more than" bound, an unmeasured target, a count that differs, a per-socket time
///    that grows and a streaming RSS that grows each fail the run, and the exit status is then 2.
/// 2. On a real load (1000 sockets in the usual mix plus 16 BOUND_INACTIVE ones, which swstat
///    never asks for): every floor counts what the swstat command timed against it counts; and a
///    floor asking every state (`-s 0xffffffff`, the old floor) does not — where the kernel has
///    BOUND_INACTIVE (6.8+), so the check is shown able to catch a wrong floor.
/// 3. One real round of the listing group against an impossible target (0) fails the run, and
///    against a generous one passes: measure → ratio → failures → exit status, as `make bench`.
/// 4. The churn group's commands (swstat --events from the tracepoint, text and NDJSON, and the
///    trace floor) once each for a moment under 200 connections a second of the benchmark's
///    own churn, as `make bench` runs them at 2,000: the generator holds its rate (measured
///    while each command ran), the floor reads every connection's state changes and loses
///    none, swstat shows each connection's sockets, and the rows are measured — or, held to a
///    rate the churn did not reach, not measured and a failure. No timing target is checked.
///
/// Returns the failures (empty: every check passed); prints one line per check.
struct BenchCheck {
  var options: BenchOptions

  static let checkSize = 1000
  static let boundInactive = 16

  func run() throws -> [String] {
    var failures: [String] = []
    func expect(_ passed: Bool, _ what: String) {
      print("\(passed ? "ok  " : "FAIL") \(what)")
      if !passed { failures.append(what) }
    }
    for (passed, what) in Self.targetLogic() { expect(passed, what) }

    let bench = BenchRun(options: options)
    let setup = try bench.prepare()
    let load = LoadGenerator(
      total: Self.checkSize, boundInactive: Self.boundInactive, executable: setup.executable,
      createTimeoutSeconds: options.createTimeoutSeconds)
    defer { load.stop() }
    try load.start()
    print(
      "load: \(load.mix.sockets) sockets + \(Self.boundInactive) BOUND_INACTIVE, "
        + "\(load.workerCount) worker(s)")

    for check in setup.plan.checks {
      let result = bench.countCheck(check)
      expect(result.agrees, "same sockets: \(result.name): \(result.summary)")
    }

    // A floor asking for more than swstat must be caught, where the kernel can tell.
    let dump = "\(setup.helpers)/swstat-diagdump"
    let boundOnly = try bench.readCount(
      BenchCommand(
        label: "bare dump -s 0x2000", path: dump, argv: ["swstat-diagdump", "-s", "0x2000"]),
      .firstNumber)
    if let listing = setup.plan.checks.first(where: { $0.group == "listing" }) {
      var wrong = listing
      wrong.floor = BenchCommand(
        label: "bare dump (every state)", path: dump,
        argv: ["swstat-diagdump", "-s", "0xffffffff"])
      if boundOnly >= Self.boundInactive {
        let result = bench.countCheck(wrong)
        expect(
          result.error == nil && !result.agrees,
          "a floor asking every state is caught: \(result.name): \(result.summary)")
      } else {
        print(
          "skip a floor asking every state: this kernel reports \(boundOnly) BOUND_INACTIVE"
            + " sockets of \(Self.boundInactive) (the state is Linux 6.8+)")
      }
    }

    // One real round, held against an impossible target and a generous one.
    if let group = setup.plan.groups.first(where: { $0.name == "listing" }),
      let target = setup.plan.targets.first(where: {
        $0.group == "listing" && $0.denominator == "bare dump" && $0.limit != nil
      })
    {
      let (commands, _) = try bench.measure(group, load: load, rounds: 1)
      var size = SizeResult(
        size: Self.checkSize, mix: load.mix, workers: load.workerCount,
        createSeconds: load.createSeconds)
      size.commands = commands
      for (limit, shouldPass) in [(0.0, false), (1e6, true)] {
        var held = target
        held.limit = limit
        held.sizes = 0...Int.max
        var results = BenchResults(
          startedAt: "", swstat: setup.swstat, runs: 1, machine: [], notes: [])
        var sized = size
        sized.ratios = bench.ratios([held], in: sized)
        results.sizes = [sized]
        let figure = sized.ratios.first.map { fixed($0.value, 2) } ?? "-"
        expect(
          results.failures.isEmpty == shouldPass,
          "one real round, \(held.name) = \(figure) against ≤ \(fixed(limit, 0)):"
            + (shouldPass ? " passes" : " fails the run"))
      }
    }
    if let group = setup.plan.groups.first(where: { $0.name == "events churn" }) {
      for (passed, what) in try churnRound(group, plan: setup.plan, bench: bench, load: load) {
        expect(passed, what)
      }
    } else {
      print("skip the churn group: not in the plan (\(setup.plan.notes.last ?? ""))")
    }
    load.stop()
    return failures
  }

  /// The churn of `--check`: a tenth of the benchmark's, each command run this long.
  static let checkChurn = ChurnSpec(rate: 200, minimumRate: 180, workers: BenchPlan.churn.workers)
  static let checkLive = LiveRun(seconds: 0.7, sampleAt: 0.3)

  /// One round of the churn group at `checkChurn`, every command's output kept: (passed, what).
  func churnRound(
    _ full: BenchGroup, plan: BenchPlan, bench: BenchRun, load: LoadGenerator
  ) throws -> [(Bool, String)] {
    var group = full
    group.churn = Self.checkChurn
    for index in group.commands.indices {
      group.commands[index].live = Self.checkLive
      group.commands[index].capturesOutput = true
    }
    let generator = ChurnGenerator(
      rate: Self.checkChurn.rate, workers: Self.checkChurn.workers,
      executable: try ownExecutablePath())
    try generator.start(seconds: 60)
    let measured = Result { try bench.measure(group, load: load, rounds: 1, churn: generator) }
    generator.stop()
    let (commands, _) = try measured.get()

    var checks: [(Bool, String)] = []
    let rate = Self.checkChurn.rate
    for command in commands {
      guard let m = command.measurements.first, let churn = m.churn else {
        checks.append((false, "churn: \(command.label) not measured"))
        continue
      }
      let output = m.output ?? ""
      let lines = output.split(separator: "\n")
      var what =
        "churn: \(command.label), run \(fixed(Self.checkLive.seconds, 1)) s (\(m.status)), under \(fixed(churn.rate, 0)) conn/s"
        + " (asked \(fixed(rate, 0)), \(churn.completed) made, \(churn.failed) failed)"
      var passed =
        m.status.succeeded && abs(churn.rate - rate) <= 0.15 * rate && churn.failed == 0
      if let counts = m.traceCounts {
        // Every lifecycle takes each connection's two sockets through at least four changes
        // (SYN_SENT, ESTABLISHED twice, a close); other traffic on the host only adds.
        what += "; the floor read \(counts.transitions) records, lost \(counts.lost)"
        passed = passed && counts.lost == 0 && counts.transitions >= 4 * churn.completed
      } else if command.label.hasPrefix("swstat") {
        // Each connection's two sockets are NEW (the start-up and the edges of the window
        // leave some out: one NEW line a connection is asked).
        let json = command.label.contains("--json")
        let new = lines.filter {
          json ? $0.contains("\"event\":\"new\"") : $0.contains(" NEW ")
        }.count
        what += "; \(new) NEW \(json ? "objects" : "lines") of \(lines.count)"
        passed = passed && new >= churn.completed
        if json {
          let source = lines.first.map(String.init) ?? ""
          what += ", source \(source.contains("tracepoint") ? "tracepoint" : "'\(source)'")"
          passed = passed && source.contains("\"transitions\":\"tracepoint\"")
        }
      } else {
        what += "; no counts in its output '\(lines.first ?? "")'"
        passed = false
      }
      checks.append((passed, what))
    }

    // The rows of the real round: measured at the rate reached, not measured (a failure) when
    // held to a rate the churn did not reach.
    var size = SizeResult(
      size: load.mix.sockets, mix: load.mix, workers: load.workerCount,
      createSeconds: load.createSeconds)
    size.commands = commands
    let targets = plan.targets.filter { $0.group == group.name && $0.metric == .steadyCPUShare }
    for (minimum, shouldMeasure) in [(Self.checkChurn.minimumRate, true), (1e6, false)] {
      let held = targets.map { target in
        var t = target
        t.minimumChurnRate = minimum
        t.limit = 1e6
        t.sizes = 0...Int.max
        return t
      }
      var sized = size
      sized.ratios = bench.ratios(held, in: sized)
      var results = BenchResults(startedAt: "", swstat: "", runs: 1, machine: [], notes: [])
      results.sizes = [sized]
      let measuredRows = sized.ratios.filter { !$0.perRound.isEmpty }.count
      checks.append(
        (
          shouldMeasure
            ? measuredRows == held.count && results.failures.isEmpty
            : measuredRows == 0 && results.failures.count == held.count,
          "churn rows held to \(fixed(minimum, 0)) conn/s: \(measuredRows) of \(held.count)"
            + " measured, \(results.failures.count) failure(s)"
            + (shouldMeasure ? "" : " (\(sized.ratios.first?.note ?? "no note"))")
        ))
    }
    return checks
  }

  /// The verdicts on made-up results: (passed, what).
  static func targetLogic() -> [(Bool, String)] {
    var checks: [(Bool, String)] = []
    func results(
      ratios: [RatioResult] = [], counts: [CountCheckResult] = [],
      scaling: [ScalingResult] = [], memory: [MemoryResult] = []
    ) -> BenchResults {
      var size = SizeResult(
        size: 100_000, mix: SocketMix.forTotal(100_000), workers: 6, createSeconds: 1)
      size.ratios = ratios
      size.countChecks = counts
      var out = BenchResults(startedAt: "", swstat: "", runs: 5, machine: [], notes: [])
      out.sizes = [size]
      out.scaling = scaling
      out.memory = memory
      return out
    }
    func ratio(
      _ perRound: [Double], limit: Double?, summary: RatioSummary = .median
    ) -> RatioResult {
      RatioResult(
        target: RatioTarget(
          group: "listing", numerator: "swstat -tan", denominator: "bare dump", summary: summary,
          limit: limit),
        perRound: perRound)
    }
    func expectStatus(_ r: BenchResults, _ failures: Int, _ what: String) {
      let status = BenchMain.exitStatus(r.failures)
      checks.append(
        (
          r.failures.count == failures && status == (failures == 0 ? 0 : 2),
          "target logic: \(what) → \(r.failures.count) failure(s), exit \(status)"
        ))
    }
    expectStatus(
      results(ratios: [ratio([1.10, 1.12, 1.14, 1.2, 1.3], limit: 1.15)]), 0, "median 1.14 ≤ 1.15")
    expectStatus(
      results(ratios: [ratio([1.10, 1.16, 1.17, 1.2, 1.3], limit: 1.15)]), 1, "median 1.17 > 1.15")
    expectStatus(results(ratios: [ratio([0.4, 0.6], limit: 0.5)]), 0, "median 0.5 ≤ 0.5")
    expectStatus(
      results(ratios: [ratio([0.4, 0.6], limit: 0.5, summary: .max)]), 1, "worst round 0.6 > 0.5")
    expectStatus(results(ratios: [ratio([], limit: 1.15)]), 1, "a target not measured")
    expectStatus(results(ratios: [ratio([9, 9, 9], limit: nil)]), 0, "an informational ratio of 9")
    var agreeing = CountCheckResult(name: "swstat -tan vs bare dump", group: "listing")
    agreeing.attempts = [(100_000, 100_001, 100_002)]
    var differing = agreeing
    differing.attempts = [(100_016, 100_000, 100_016)]
    var broken = agreeing
    broken.error = "swstat -tan: did not exit 0"
    expectStatus(results(counts: [agreeing]), 0, "counts 100000/100002 around swstat's 100001")
    expectStatus(results(counts: [differing]), 1, "floor 100016 twice, swstat 100000")
    expectStatus(results(counts: [broken]), 1, "a count check that could not run")
    let flat = ScalingResult(
      label: "swstat -tan", smallSize: 10000, largeSize: 100_000, smallMicroseconds: 1,
      largeMicroseconds: 1.1, limit: 1.2)
    var steep = flat
    steep.largeMicroseconds = 1.3
    expectStatus(results(scaling: [flat, steep]), 1, "µs per socket 1.3× at 100k")
    let streaming = MemoryResult(
      label: "swstat -tan", smallSize: 1000, largeSize: 100_000, smallKiB: 6000, largeKiB: 6100,
      limit: 1.2)
    var growing = streaming
    growing.largeKiB = 9000
    var holding = growing
    holding.limit = nil
    expectStatus(results(memory: [streaming, holding]), 0, "RSS 1.02× streaming, 1.5× (info)")
    expectStatus(results(memory: [growing]), 1, "streaming RSS 1.5×")

    // Rounds under churn: one too slow is left out, all too slow is not measured; a round whose
    // command failed is left out (a live mode that fails at once looks cheap).
    let bench = BenchRun(options: BenchOptions())
    func churned(_ rates: [Double], shares: [Double], failed: Set<Int> = []) -> RatioResult {
      var size = SizeResult(
        size: 100_000, mix: SocketMix.forTotal(100_000), workers: 6, createSeconds: 1)
      var command = CommandResult(
        group: "events churn", label: "swstat --events -t", commandLine: "")
      for (index, (rate, share)) in zip(rates, shares).enumerated() {
        let wall: UInt64 = 8_000_000_000
        command.measurements.append(
          Measurement(
            wallNanoseconds: wall, maxRSSKiB: 1,
            userMicroseconds: Int(share * Double(wall) / 1000), systemMicroseconds: 0,
            status: ExitStatus(raw: failed.contains(index) ? 1 << 8 : 0),
            churn: ChurnSample(completed: Int(rate * 8), failed: 0, seconds: 8)))
      }
      size.commands = [command]
      let target = RatioTarget(
        group: "events churn", numerator: command.label, denominator: command.label,
        metric: .cpuShare, limit: 0.15, minimumChurnRate: 1800)
      return bench.ratio(target, in: size)
    }
    expectStatus(
      results(ratios: [churned([1900, 1700, 2000], shares: [0.1, 0.5, 0.12])]), 0,
      "churn 1900, 1700, 2000/s: the 1700 round (0.5) left out, median 0.11 ≤ 0.15")
    expectStatus(
      results(ratios: [churned([1700, 1600, 1790], shares: [0.01, 0.01, 0.01])]), 1,
      "churn under 1800/s in every round: not measured")
    expectStatus(
      results(ratios: [churned([2000, 2000], shares: [0.01, 0.01], failed: [0, 1])]), 1,
      "a live command that failed in every round: not measured")
    let note = churned([1700, 1600], shares: [0.01, 0.01]).note ?? ""
    checks.append(
      (
        note.contains("under 1800/s in 2 of 2 rounds") && note.contains("not measured"),
        "target logic: the row says why: '\(note)'"
      ))
    return checks
  }
}
