import Glibc

/// The human-readable table and the JSON file, from the same results.
enum BenchReport {
  static func table(_ results: BenchResults) -> String {
    var out = "\nswstat benchmark \(results.startedAt): \(results.swstat), \(results.runs) rounds\n"
    out += results.machine.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
    for size in results.sizes {
      out += "\n## \(size.size) sockets\n\n"
      let m = size.mix
      out += "load: listen \(m.listen), established \(2 * m.establishedPairs), close-wait "
      out += "\(m.closeWaitPairs) + fin-wait2 \(m.closeWaitPairs), time-wait \(m.timeWait), "
      out += "half IPv6; \(size.workers) worker(s), ready in \(fixed(size.createSeconds, 2)) s; "
      out +=
        "TCP sockets seen \(size.counts.map { "\($0.before)/\($0.after)" }.joined(separator: " "))"
      out += " (before/after each group); TIME_WAIT re-created \(size.timeWaitRefreshes)x\n\n"
      if !size.countChecks.isEmpty {
        var checkRows = [["same sockets (floor before/after, swstat)", "counts", "result"]]
        for check in size.countChecks {
          checkRows.append([check.name, check.summary, check.agrees ? "agree" : "DIFFER"])
        }
        out += render(checkRows, rightAligned: 1...1) + "\n"
      }
      // CPU: user + system time of every thread of the command and of the children it waited
      // for (wait4's rusage); CPU/wall above 1 means more than one core at once.
      var rows = [
        [
          "group", "command", "median ms", "min ms", "max ms", "µs/socket", "CPU ms", "user ms",
          "sys ms", "CPU/wall", "peak RSS KiB",
        ]
      ]
      for command in size.commands {
        if let failure = command.failure {
          rows.append([
            command.group, command.label, "-", "-", "-", "-", "-", "-", "-", "-", failure,
          ])
          continue
        }
        let perSocket = command.medianMilliseconds * 1000 / Double(size.socketsSeen)
        rows.append([
          command.group, command.label, fixed(command.medianMilliseconds, 2),
          fixed(command.minMilliseconds, 2), fixed(command.maxMilliseconds, 2),
          fixed(perSocket, 3), fixed(command.medianCPUMilliseconds, 2),
          fixed(command.medianUserMilliseconds, 2), fixed(command.medianSystemMilliseconds, 2),
          fixed(median(command.measurements.map(\.cpuShare)), 2), String(command.peakRSSKiB),
        ])
      }
      out += render(rows, rightAligned: 2...10) + "\n"
      var ratioRows = [
        [
          "ratio (per-round; median, or the worst round for a bound)", "value", "min-max", "target",
          "result",
        ]
      ]
      for ratio in size.ratios {
        let range =
          ratio.perRound.isEmpty
          ? "-" : "\(fixed(ratio.perRound.min() ?? 0, 2))-\(fixed(ratio.perRound.max() ?? 0, 2))"
        let value =
          ratio.perRound.isEmpty
          ? "-" : fixed(ratio.value, 2) + (ratio.target.summary == .max ? " (worst)" : "")
        ratioRows.append([
          ratio.target.name, value, range,
          ratio.target.limit.map { "≤ \(fixed($0, 2))" } ?? "(info)",
          [verdict(ratio.met), ratio.note ?? ""].filter { !$0.isEmpty }.joined(separator: ": "),
        ])
      }
      out += render(ratioRows, rightAligned: 1...3)
      out += transitionLoad(size)
    }
    if !results.scaling.isEmpty {
      out += "\n## Time per socket, 10k vs 100k\n\n"
      var rows = [["command", "µs/socket 10k", "µs/socket 100k", "100k / 10k", "target", "result"]]
      for s in results.scaling {
        rows.append([
          s.label, fixed(s.smallMicroseconds, 3), fixed(s.largeMicroseconds, 3), fixed(s.ratio, 2),
          s.limit.isFinite ? "≤ \(fixed(s.limit, 2)) (flat)" : "(info)",
          s.limit.isFinite ? verdict(s.met) : "",
        ])
      }
      out += render(rows, rightAligned: 1...3)
    }
    if let first = results.memory.first {
      out += "\n## Peak RSS, \(first.smallSize) vs \(first.largeSize) sockets\n\n"
      var rows = [
        [
          "command", "KiB at \(first.smallSize)", "KiB at \(first.largeSize)", "ratio", "target",
          "result",
        ]
      ]
      for m in results.memory {
        rows.append([
          m.label, String(m.smallKiB), String(m.largeKiB), fixed(m.ratio, 2),
          m.limit.map { "≤ \(fixed($0, 2)) (streaming)" } ?? "(info)", verdict(m.met),
        ])
      }
      out += render(rows, rightAligned: 1...3)
    }
    if !results.notes.isEmpty {
      out += "\nNotes:\n" + results.notes.map { "- \($0)\n" }.joined()
    }
    let failures = results.failures
    out +=
      failures.isEmpty
      ? "\nResult: every target met, every count agrees.\n"
      : "\nResult: FAILED (\(failures.count)):\n" + failures.map { "- \($0)\n" }.joined()
    return out
  }

  /// The churn achieved while each command ran and what the trace floor read, for the groups
  /// that have either.
  private static func transitionLoad(_ size: SizeResult) -> String {
    var rows = [
      [
        "group", "command", "churn conn/s (median)", "min-max", "failed conns",
        "floor records/s (median)", "records lost",
      ]
    ]
    for command in size.commands where !command.churnRates.isEmpty || !command.traceRates.isEmpty {
      let churn = command.churnRates
      let trace = command.traceRates
      rows.append([
        command.group, command.label,
        churn.isEmpty ? "-" : fixed(median(churn), 0),
        churn.isEmpty ? "-" : "\(fixed(churn.min() ?? 0, 0))-\(fixed(churn.max() ?? 0, 0))",
        churn.isEmpty ? "-" : String(command.churnFailures),
        trace.isEmpty ? "-" : fixed(median(trace), 0),
        trace.isEmpty ? "-" : String(command.traceLost),
      ])
    }
    guard rows.count > 1 else { return "" }
    return "\nTransition load (churn achieved while each command ran; records the trace floor"
      + " read):\n\n" + render(rows, rightAligned: 2...6)
  }

  private static func verdict(_ met: Bool?) -> String {
    switch met {
    case .some(true): "met"
    case .some(false): "NOT MET"
    case .none: ""
    }
  }

  /// A Markdown table with padded columns.
  private static func render(_ rows: [[String]], rightAligned: ClosedRange<Int>) -> String {
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
      let padded = cells.enumerated().map { column, cell in
        let pad = String(repeating: " ", count: widths[column] - cell.count)
        return rightAligned.contains(column) ? pad + cell : cell + pad
      }
      return "| " + padded.joined(separator: " | ") + " |\n"
    }
    let rule = widths.indices.map { column in
      let dashes = String(repeating: "-", count: max(3, widths[column]))
      return rightAligned.contains(column) ? String(dashes.dropLast()) + ":" : dashes
    }
    return line(rows[0]) + "| " + rule.joined(separator: " | ") + " |\n"
      + rows.dropFirst().map(line).joined()
  }

  // MARK: JSON

  static func writeJSON(_ results: BenchResults, to path: String) throws {
    let text = json(results).rendered(indent: "") + "\n"
    try createParentDirectories(of: path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchError.system(path) }
    defer { close(fd) }
    var bytes = text
    let written = bytes.withUTF8 { write(fd, $0.baseAddress, $0.count) }
    guard written == text.utf8.count else { throw BenchError.system("write \(path)") }
  }

  private static func json(_ results: BenchResults) -> JSONValue {
    .object([
      ("started_at", .string(results.startedAt)),
      ("swstat", .string(results.swstat)),
      ("runs", .int(results.runs)),
      ("machine", .object(results.machine.map { ($0.0, .string($0.1)) })),
      ("sizes", .array(results.sizes.map(json))),
      (
        "time_per_socket_10k_vs_100k",
        .array(
          results.scaling.map { s in
            .object([
              ("command", .string(s.label)), ("us_per_socket_10k", .number(s.smallMicroseconds)),
              ("us_per_socket_100k", .number(s.largeMicroseconds)), ("ratio", .number(s.ratio)),
              ("target", s.limit.isFinite ? .number(s.limit) : .null),
              ("met", s.limit.isFinite ? .bool(s.met) : .null),
            ])
          })
      ),
      (
        "peak_rss_smallest_vs_largest",
        .array(
          results.memory.map { m in
            .object([
              ("command", .string(m.label)), ("small_size", .int(m.smallSize)),
              ("large_size", .int(m.largeSize)), ("small_kib", .int(m.smallKiB)),
              ("large_kib", .int(m.largeKiB)), ("ratio", .number(m.ratio)),
              ("target", m.limit.map { .number($0) } ?? .null),
              ("met", m.met.map { .bool($0) } ?? .null),
            ])
          })
      ),
      ("notes", .array(results.notes.map { .string($0) })),
      ("passed", .bool(results.failures.isEmpty)),
      ("failures", .array(results.failures.map { .string($0) })),
    ])
  }

  private static func json(_ size: SizeResult) -> JSONValue {
    let mix = size.mix
    return .object([
      ("size", .int(size.size)),
      (
        "mix",
        .object([
          ("listen", .int(mix.listen)), ("established", .int(2 * mix.establishedPairs)),
          ("close_wait", .int(mix.closeWaitPairs)), ("fin_wait2", .int(mix.closeWaitPairs)),
          ("time_wait", .int(mix.timeWait)), ("ipv6_share", .number(0.5)),
        ])
      ),
      ("workers", .int(size.workers)),
      ("create_seconds", .number(size.createSeconds)),
      ("time_wait_refreshes", .int(size.timeWaitRefreshes)),
      (
        "tcp_sockets_seen",
        .array(
          size.counts.map {
            .object([
              ("group", .string($0.group)), ("before", .int($0.before)), ("after", .int($0.after)),
            ])
          })
      ),
      (
        "count_checks",
        .array(
          size.countChecks.map { c in
            .object([
              ("name", .string(c.name)), ("group", .string(c.group)),
              (
                "attempts",
                .array(
                  c.attempts.map {
                    .object([
                      ("floor_before", .int($0.floorBefore)), ("swstat", .int($0.swstat)),
                      ("floor_after", .int($0.floorAfter)),
                    ])
                  })
              ),
              ("error", c.error.map { .string($0) } ?? .null), ("agrees", .bool(c.agrees)),
            ])
          })
      ),
      ("commands", .array(size.commands.map { json($0, sockets: size.socketsSeen) })),
      (
        "ratios",
        .array(
          size.ratios.map { r in
            .object([
              ("name", .string(r.target.name)), ("metric", .string(r.target.metric.rawValue)),
              ("group", .string(r.target.group)),
              ("median", r.perRound.isEmpty ? .null : .number(r.median)),
              ("summary", .string(r.target.summary.rawValue)),
              ("value", r.perRound.isEmpty ? .null : .number(r.value)),
              ("per_round", .array(r.perRound.map { .number($0) })),
              ("target", r.target.limit.map { .number($0) } ?? .null),
              ("met", r.met.map { .bool($0) } ?? .null),
              ("rounds", .int(r.rounds)),
              ("rounds_failed", .int(r.failedRounds)),
              ("rounds_slow_churn", .int(r.slowChurnRounds)),
              (
                "minimum_churn_per_second",
                r.target.minimumChurnRate.map { .number($0) } ?? .null
              ),
              ("note", r.note.map { .string($0) } ?? .null),
            ])
          })
      ),
    ])
  }

  private static func json(_ command: CommandResult, sockets: Int) -> JSONValue {
    let measured = !command.measurements.isEmpty
    return .object([
      ("group", .string(command.group)),
      ("command", .string(command.label)),
      ("command_line", .string(command.commandLine)),
      ("failure", command.failure.map { .string($0) } ?? .null),
      ("median_ms", measured ? .number(command.medianMilliseconds) : .null),
      ("min_ms", measured ? .number(command.minMilliseconds) : .null),
      ("max_ms", measured ? .number(command.maxMilliseconds) : .null),
      (
        "us_per_socket",
        measured ? .number(command.medianMilliseconds * 1000 / Double(sockets)) : .null
      ),
      ("median_cpu_ms", measured ? .number(command.medianCPUMilliseconds) : .null),
      ("median_user_ms", measured ? .number(command.medianUserMilliseconds) : .null),
      ("median_sys_ms", measured ? .number(command.medianSystemMilliseconds) : .null),
      (
        "median_cpu_share",
        measured ? .number(median(command.measurements.map(\.cpuShare))) : .null
      ),
      ("peak_rss_kib", .int(command.peakRSSKiB)),
      (
        "runs",
        .array(
          command.measurements.map { m in
            .object([
              ("wall_ns", .int(Int(m.wallNanoseconds))), ("max_rss_kib", .int(m.maxRSSKiB)),
              ("user_us", .int(m.userMicroseconds)), ("sys_us", .int(m.systemMicroseconds)),
              ("sample_cpu_us", m.sample.map { .int($0.cpuMicroseconds) } ?? .null),
              ("sample_wall_ns", m.sample.map { .int(Int($0.wallNanoseconds)) } ?? .null),
              ("exit", m.status.code.map { .int(Int($0)) } ?? .null),
              ("signal", m.status.signal.map { .int(Int($0)) } ?? .null),
              ("churn_per_second", m.churn.map { .number($0.rate) } ?? .null),
              ("churn_completed", m.churn.map { .int($0.completed) } ?? .null),
              ("churn_failed", m.churn.map { .int($0.failed) } ?? .null),
              ("trace_records", m.traceCounts.map { .int($0.transitions) } ?? .null),
              ("trace_lost", m.traceCounts.map { .int($0.lost) } ?? .null),
            ])
          })
      ),
    ])
  }

  private static func createParentDirectories(of path: String) throws {
    var prefix = ""
    for component in path.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
      prefix += (prefix.isEmpty && !path.hasPrefix("/") ? "" : "/") + component
      if prefix.isEmpty || prefix == "/" { continue }
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw BenchError.system("mkdir \(prefix)") }
    }
  }
}

/// `value` with exactly `digits` decimals (no Foundation in this target).
func fixed(_ value: Double, _ digits: Int) -> String {
  guard value.isFinite else { return value.isNaN ? "-" : "inf" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let scaled = (abs(value) * scale).rounded()
  let whole = Int(scaled / scale)
  let fraction = Int(scaled - Double(whole) * scale)
  var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
  if digits > 0 {
    let digitsText = String(fraction)
    text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
  }
  return text
}
