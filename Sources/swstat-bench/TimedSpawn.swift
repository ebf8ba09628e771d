import Glibc

/// One timed run of one command.
struct Measurement: Codable {
  /// Wall time from just before fork to just after wait4 returned.
  var wallNanoseconds: UInt64
  /// ru_maxrss from wait4, in KiB.
  var maxRSSKiB: Int
  var userMicroseconds: Int
  var systemMicroseconds: Int
  var status: ExitStatus
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
  /// `wall_ns maxrss_kib user_us sys_us status`. Exits 0 even if the command failed; 2 on a
  /// usage error, 3 if it could not fork.
  static func main(_ arguments: [String]) -> Never {
    // spawn TIMEOUT_S PATH ARGV0 ARGS...
    guard arguments.count >= 3, let timeout = UInt32(arguments[0]) else {
      writeError("swstat-bench spawn: usage: spawn TIMEOUT PATH ARGV0 [ARGS...]")
      exit(2)
    }
    let path = arguments[1]
    let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
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
      alarm(timeout)
      var status: Int32 = 0
      var usage = rusage()
      var timedOut = false
      while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { break }
        timedOut = true
        kill(pid, SIGKILL)
      }
      let end = monotonicNanoseconds()
      alarm(0)
      if timedOut { status = SIGKILL }
      let user = Int(usage.ru_utime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec)
      let system = Int(usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_stime.tv_usec)
      writeLine("\(end - start) \(usage.ru_maxrss) \(user) \(system) \(status)", to: 1)
    }
    exit(0)
  }

  /// The parent side: runs `command` once through a fresh `spawn` child and decodes its answer.
  static func measure(
    _ command: BenchCommand, benchExecutable: String, timeoutSeconds: Int
  ) throws -> Measurement {
    var child = try ChildProcess.spawn(
      benchExecutable,
      ["swstat-bench", "spawn", String(timeoutSeconds), command.path] + command.argv,
      pipeStdin: false, pipeStdout: true)
    defer {
      child.closePipes()
      _ = child.reap(within: 5)
    }
    let line = try child.stdoutReader?.readLine(
      within: Double(timeoutSeconds) + 10, what: "timing \(command.label)")
    let fields = (line ?? "").split(separator: " ").compactMap { Int64($0) }
    guard fields.count == 5 else {
      throw BenchError("timing \(command.label): unexpected answer '\(line ?? "<none>")'")
    }
    return Measurement(
      wallNanoseconds: UInt64(fields[0]), maxRSSKiB: Int(fields[1]),
      userMicroseconds: Int(fields[2]), systemMicroseconds: Int(fields[3]),
      status: ExitStatus(raw: Int32(truncatingIfNeeded: fields[4])))
  }
}
