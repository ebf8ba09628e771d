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
    load.stop()
    return failures
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
    return checks
  }
}
