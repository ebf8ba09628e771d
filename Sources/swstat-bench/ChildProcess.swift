import Glibc

/// A failure of a system call or of a child process, with the thing named first.
struct BenchError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
  /// `what: strerror (errno N)`, read from the global errno right after the failed call.
  static func system(_ what: String, errno code: Int32 = errno) -> BenchError {
    BenchError("\(what): \(String(cString: strerror(code))) (errno \(code))")
  }
}

/// Nanoseconds on CLOCK_MONOTONIC.
func monotonicNanoseconds() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Calls `body` with a NULL-terminated C array of copies of `strings` (argv for exec/spawn).
func withCStringArray<R>(
  _ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) throws -> R
) rethrows -> R {
  let copies = strings.map { strdup($0) }
  defer { for copy in copies { free(copy) } }
  return try body(copies + [nil])
}

/// The decoded status from wait4.
struct ExitStatus: Codable, CustomStringConvertible {
  var code: Int32?
  var signal: Int32?
  init(raw: Int32) {
    // WIFEXITED/WEXITSTATUS/WTERMSIG are macros that Swift does not import.
    if raw & 0x7f == 0 { code = (raw >> 8) & 0xff } else { signal = raw & 0x7f }
  }
  var succeeded: Bool { code == 0 }
  var description: String {
    if let code { return "exit status \(code)" }
    return "signal \(signal ?? 0)"
  }
}

/// A child started with posix_spawn, optionally with its stdin and/or stdout on pipes.
struct ChildProcess {
  let pid: pid_t
  /// Our end of the child's stdin, when piped (closing it is the worker's cue to exit).
  var stdinWriter: Int32?
  /// Reads the child's stdout, when piped.
  var stdoutReader: LineReader?

  /// Starts `path` with `arguments` (argv[0] included). Pipes are close-on-exec on our side, so
  /// later children do not inherit them.
  static func spawn(
    _ path: String, _ arguments: [String], pipeStdin: Bool, pipeStdout: Bool
  ) throws -> ChildProcess {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var toChild: [Int32] = [-1, -1]
    var fromChild: [Int32] = [-1, -1]
    if pipeStdin {
      guard makePipe(&toChild) else { throw BenchError.system("pipe") }
      posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
    }
    if pipeStdout {
      guard makePipe(&fromChild) else {
        for fd in toChild where fd >= 0 { close(fd) }
        throw BenchError.system("pipe")
      }
      posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
    }
    var pid: pid_t = 0
    let rc = withCStringArray(arguments) { argv in
      posix_spawn(&pid, path, &actions, nil, argv, environ)
    }
    // The child has its copies (or never started); keep only our ends.
    if toChild[0] >= 0 { close(toChild[0]) }
    if fromChild[1] >= 0 { close(fromChild[1]) }
    guard rc == 0 else {
      if toChild[1] >= 0 { close(toChild[1]) }
      if fromChild[0] >= 0 { close(fromChild[0]) }
      throw BenchError.system("spawn \(path)", errno: rc)
    }
    return ChildProcess(
      pid: pid, stdinWriter: pipeStdin ? toChild[1] : nil,
      stdoutReader: pipeStdout ? LineReader(fd: fromChild[0]) : nil)
  }

  /// Closes our pipe ends.
  mutating func closePipes() {
    if let fd = stdinWriter { close(fd) }
    stdinWriter = nil
    stdoutReader?.close()
    stdoutReader = nil
  }

  /// Writes one line to the child's stdin.
  func send(_ line: String) throws {
    guard let fd = stdinWriter else { throw BenchError("child \(pid) has no stdin pipe") }
    var text = line + "\n"
    let written = text.withUTF8 { write(fd, $0.baseAddress, $0.count) }
    if written != text.utf8.count { throw BenchError.system("write to child \(pid)") }
  }

  /// Waits for the child for at most `seconds`, then sends SIGKILL (by pid) and reaps it.
  /// Returns nil if it had to be killed.
  func reap(within seconds: Double) -> ExitStatus? {
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    var status: Int32 = 0
    while true {
      let rc = waitpid(pid, &status, WNOHANG)
      if rc == pid { return ExitStatus(raw: status) }
      if rc < 0 && errno != EINTR { return nil }  // already reaped
      if monotonicNanoseconds() >= deadline { break }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return nil
  }
}

/// pipe() with both ends close-on-exec (Glibc's module does not export pipe2).
private func makePipe(_ fds: inout [Int32]) -> Bool {
  guard pipe(&fds) == 0 else { return false }
  for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  return true
}

/// Writes `line` and a newline to `fd` in one write(2) (no stdio buffering in between).
func writeLine(_ line: String, to fd: Int32) {
  var text = line + "\n"
  text.withUTF8 { bytes in _ = write(fd, bytes.baseAddress, bytes.count) }
}

/// Reads lines from a pipe with a deadline, so no wait on a child is unbounded.
final class LineReader {
  private(set) var fd: Int32
  private var pending: [UInt8] = []

  init(fd: Int32) { self.fd = fd }
  deinit { close() }

  func close() {
    if fd >= 0 { _ = Glibc.close(fd) }
    fd = -1
  }

  /// The next line without its newline; nil at end of file. Throws when `seconds` pass first.
  func readLine(within seconds: Double, what: String) throws -> String? {
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
        let line = String(decoding: pending[..<newline], as: UTF8.self)
        pending.removeSubrange(...newline)
        return line
      }
      let now = monotonicNanoseconds()
      guard now < deadline else { throw BenchError("\(what): no answer within \(seconds) s") }
      var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let wait = Int32(min(1000, (deadline - now) / 1_000_000 + 1))
      let ready = poll(&poller, 1, wait)
      if ready < 0 && errno != EINTR { throw BenchError.system("poll (\(what))") }
      if ready <= 0 { continue }
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw BenchError.system("read (\(what))")
      }
      if n == 0 {
        if pending.isEmpty { return nil }
        let line = String(decoding: pending, as: UTF8.self)
        pending = []
        return line
      }
      pending.append(contentsOf: chunk[..<n])
    }
  }
}

/// The absolute path of `name` on $PATH, or nil.
func findOnPath(_ name: String) -> String? {
  if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
  let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin:/usr/sbin:/sbin"
  let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
  for directory in directories {
    let candidate = "\(directory)/\(name)"
    if access(candidate, X_OK) == 0 { return candidate }
  }
  return nil
}

/// The running executable's own path (/proc/self/exe), to re-exec it and find its helpers.
func ownExecutablePath() throws -> String {
  var buffer = [CChar](repeating: 0, count: 4096)
  let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
  guard n > 0 else { throw BenchError.system("readlink /proc/self/exe") }
  return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
