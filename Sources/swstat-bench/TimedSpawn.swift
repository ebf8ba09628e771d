import Glibc

/// One timed run of one command.
struct Measurement {
  /// Wall time from just before fork to just after wait4 returned.
  var wallNanoseconds: UInt64
  /// ru_maxrss from wait4, in KiB.
  var maxRSSKiB: Int
  var userMicroseconds: Int
  var systemMicroseconds: Int
  var status: ExitStatus
  /// For a live command: its CPU time (every thread) and the wall time, both since the start,
  /// read from /proc/PID/stat at the sample point after start-up; nil for the others.
  var sample: (cpuMicroseconds: Int, wallNanoseconds: UInt64)? = nil
  /// The churn while it ran, for a command of a group with churn.
  var churn: ChurnSample? = nil
  /// Its standard output (the first MiB), for a command that `capturesOutput`.
  var output: String? = nil

  /// Cores kept busy from the sample point to the end: the steady state, start-up left out.
  var steadyCPUShare: Double? {
    guard let sample, wallNanoseconds > sample.wallNanoseconds else { return nil }
    let cpu = Double(userMicroseconds + systemMicroseconds - sample.cpuMicroseconds) * 1000
    return max(0, cpu) / Double(wallNanoseconds - sample.wallNanoseconds)
  }
}

/// Connections the churn generator made while one command ran.
struct ChurnSample {
  var completed: Int
  var failed: Int
  var seconds: Double
  /// Connections completed a second: the rate achieved.
  var rate: Double { seconds > 0 ? Double(completed) / seconds : 0 }
}

/// How a live command (one that runs until interrupted) is run: SIGINT after `seconds`, its CPU
/// time sampled at `sampleAt` seconds so the steady state can be told from the start-up.
struct LiveRun {
  var seconds: Double
  var sampleAt: Double
}

/// Times one command in a small, freshly exec'd process (`swstat-bench spawn PATH ARGS...`).
///
/// Why not posix_spawn from the benchmark itself: Linux folds the RSS of the address space a
/// process leaves at execve into its ru_maxrss. posix_spawn (vfork) leaves the parent's whole
/// address space, and fork a copy of its anonymous pages, so every child of a big parent
/// reports at least the parent's size. This process forks right after its own exec, while it is
/// still small, so the child starts from a small copy; the `/bin/true` row shows what is left.
enum TimedSpawn {
  /// The child side: runs the command once with stdout on /dev/null and prints one line,
  /// `wall_ns maxrss_kib user_us sys_us status sample_cpu_us sample_wall_ns` (the sample -1 -1
  /// unless `--interrupt`). Exits 0 even if the command failed; 2 on a usage error, 3 if it
  /// could not fork. `--interrupt S AT`: send SIGINT after S seconds (a live mode's end, as
  /// Ctrl-C), having read the command's CPU time from /proc/PID/stat at AT seconds.
  /// `--output FILE`: the command's stdout goes to FILE (created or emptied) instead.
  static func main(_ arguments: [String]) -> Never {
    // spawn TIMEOUT_S [--output FILE] [--interrupt S AT] PATH ARGV0 ARGS...
    var rest = arguments[...]
    var outputPath = "/dev/null"
    if rest.dropFirst().first == "--output", rest.count >= 3 {
      outputPath = rest[rest.startIndex + 2]
      rest.removeSubrange((rest.startIndex + 1)...(rest.startIndex + 2))
    }
    var live: LiveRun?
    if rest.dropFirst().first == "--interrupt", rest.count >= 4,
      let seconds = Double(rest[rest.startIndex + 2]),
      let sampleAt = Double(rest[rest.startIndex + 3]), seconds > 0, sampleAt > 0,
      sampleAt < seconds
    {
      live = LiveRun(seconds: seconds, sampleAt: sampleAt)
      rest.removeSubrange((rest.startIndex + 1)...(rest.startIndex + 3))
    }
    let arguments = Array(rest)
    guard arguments.count >= 3, let timeout = UInt32(arguments[0]), !arguments[1].hasPrefix("-")
    else {
      writeError("swstat-bench spawn: usage: spawn TIMEOUT [--interrupt S AT] PATH ARGV0 [ARGS...]")
      exit(2)
    }
    let path = arguments[1]
    let devNull = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard devNull >= 0 else {
      writeError("swstat-bench spawn: \(outputPath): \(String(cString: strerror(errno)))")
      exit(2)
    }
    // A SIGALRM handler without SA_RESTART makes wait4 return EINTR at the timeout.
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGALRM, &action, nil)
    withCStringArray(Array(arguments[2...])) { argv in
      let start = monotonicNanoseconds()
      let pid = fork()
      if pid == 0 {
        // Only async-signal-safe calls between fork and exec.
        dup2(devNull, 1)
        execv(path, argv)
        _exit(127)
      }
      if pid < 0 {
        writeError("swstat-bench spawn: fork: \(String(cString: strerror(errno)))")
        exit(3)
      }
      var sample: (cpu: Int, wall: UInt64) = (-1, 0)
      var status: Int32 = 0
      var usage = rusage()
      var reaped = false
      if let live {
        // Bounded: the loop ends at the interrupt time (or when the command exits first).
        let sampleAt = start + UInt64(live.sampleAt * 1e9)
        let stopAt = start + UInt64(live.seconds * 1e9)
        while !reaped {
          let now = monotonicNanoseconds()
          if sample.cpu < 0 && now >= sampleAt {
            sample = (processCPUMicroseconds(pid) ?? -1, now - start)
            if sample.cpu < 0 { sample = (-2, 0) }  // not readable: no sample, do not retry
          }
          if now >= stopAt { break }
          reaped = wait4(pid, &status, WNOHANG, &usage) == pid
          if !reaped { usleep(5000) }
        }
        if !reaped { kill(pid, SIGINT) }
      }
      alarm(timeout)
      var timedOut = false
      while !reaped && wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { break }
        timedOut = true
        kill(pid, SIGKILL)
      }
      let end = monotonicNanoseconds()
      alarm(0)
      if timedOut { status = SIGKILL }
      let user = Int(usage.ru_utime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec)
      let system = Int(usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_stime.tv_usec)
      let sampled = sample.cpu >= 0 ? "\(sample.cpu) \(sample.wall)" : "-1 -1"
      writeLine(
        "\(end - start) \(usage.ru_maxrss) \(user) \(system) \(status) \(sampled)", to: 1)
    }
    exit(0)
  }

  /// The parent side: runs `command` once through a fresh `spawn` child and decodes its answer.
  static func measure(
    _ command: BenchCommand, benchExecutable: String, timeoutSeconds: Int
  ) throws -> Measurement {
    let interrupt =
      command.live.map { ["--interrupt", String($0.seconds), String($0.sampleAt)] } ?? []
    let timeoutSeconds = timeoutSeconds + Int(command.live?.seconds ?? 0)
    let outputPath = command.capturesOutput ? temporaryOutputPath() : nil
    var child = try ChildProcess.spawn(
      benchExecutable,
      ["swstat-bench", "spawn", String(timeoutSeconds)]
        + (outputPath.map { ["--output", $0] } ?? []) + interrupt + [command.path]
        + command.argv,
      pipeStdin: false, pipeStdout: true)
    defer {
      child.closePipes()
      _ = child.reap(within: 5)
      if let outputPath { unlink(outputPath) }
    }
    let line = try child.stdoutReader?.readLine(
      within: Double(timeoutSeconds) + 10, what: "timing \(command.label)")
    let fields = (line ?? "").split(separator: " ").compactMap { Int64($0) }
    guard fields.count == 7 else {
      throw BenchError("timing \(command.label): unexpected answer '\(line ?? "<none>")'")
    }
    return Measurement(
      wallNanoseconds: UInt64(fields[0]), maxRSSKiB: Int(fields[1]),
      userMicroseconds: Int(fields[2]), systemMicroseconds: Int(fields[3]),
      status: ExitStatus(raw: Int32(truncatingIfNeeded: fields[4])),
      sample: fields[5] >= 0 ? (Int(fields[5]), UInt64(fields[6])) : nil,
      output: outputPath.map { (try? readSmallFile($0, limit: 1 << 20, trimmed: false)) ?? "" })
  }

  /// A fresh file name in /tmp for one command's output (removed once read).
  private static func temporaryOutputPath() -> String {
    outputFiles += 1
    return "/tmp/swstat-bench-\(getpid())-\(outputFiles).out"
  }
  nonisolated(unsafe) private static var outputFiles = 0
}

/// utime + stime of every thread of `pid` so far (/proc/PID/stat fields 14 and 15, clock ticks),
/// in microseconds; nil when it cannot be read.
private func processCPUMicroseconds(_ pid: pid_t) -> Int? {
  guard let text = try? readSmallFile("/proc/\(pid)/stat", limit: 4096),
    let close = text.utf8.lastIndex(of: UInt8(ascii: ")"))
  else { return nil }
  // After "pid (comm)": field 3 (state) is the first; utime and stime are fields 14 and 15.
  let fields = text[text.index(after: close)...].split(separator: " ")
  guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
    return nil
  }
  let ticks = max(1, sysconf(Int32(_SC_CLK_TCK)))
  return (user + system) * 1_000_000 / ticks
}
