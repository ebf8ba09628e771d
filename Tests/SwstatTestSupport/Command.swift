import Foundation

/// What a finished command left behind.
public struct CommandResult: Sendable {
  /// The exit status (or 128 + signal).
  public var status: Int32
  /// Everything written to stdout.
  public var stdout: String
  /// Everything written to stderr.
  public var stderr: String
  /// stdout's bytes as written (`stdout` replaces bytes that are not UTF-8).
  public var stdoutBytes: [UInt8] = []
}

/// Runs a program to completion with a time limit, capturing stdout and stderr.
/// `arguments[0]` is the program's path (or a name looked up in PATH through /usr/bin/env).
///
/// The calling thread reads both pipes itself (poll), and the pipes are close-on-exec. In CI,
/// four commands in a row once exited 0 and their output never arrived within 25 s: the readers
/// were Dispatch work items, behind a pool other tests kept busy, or a child another test
/// spawned held the pipes' write ends. Neither can stall a run now; should a descendant hold
/// the pipes anyway, reading ends 3 s after the program exits, with what it wrote.
@discardableResult
public func runCommand(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
  let (out, err) = try closeOnExecPipes()
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_adddup2(&actions, out.write, 1)
  posix_spawn_file_actions_adddup2(&actions, err.write, 2)
  closeInherited(&actions)
  let spawned = spawnClean(
    arguments[0].hasPrefix("/") ? arguments : ["/usr/bin/env"] + arguments, actions: &actions)
  close(out.write)
  close(err.write)
  defer {
    close(out.read)
    close(err.read)
  }
  let pid = try spawned.get()
  var outData: [UInt8] = []
  var errData: [UInt8] = []
  var fds = [
    pollfd(fd: out.read, events: Int16(POLLIN), revents: 0),
    pollfd(fd: err.read, events: Int16(POLLIN), revents: 0),
  ]
  var buffer = [UInt8](repeating: 0, count: 65536)
  var status: Int32 = 0
  var exited = false
  var killedAt: Date? = nil
  var exitedAt: Date? = nil
  let deadline = Date().addingTimeInterval(timeout)
  while fds.contains(where: { $0.fd >= 0 }) {
    let now = Date()
    if !exited && waitpid(pid, &status, WNOHANG) == pid {
      exited = true
      exitedAt = now
    }
    if killedAt == nil && !exited && now > deadline {
      kill(pid, SIGKILL)
      killedAt = now
    }
    // A descendant (or a child another test spawned) may hold the pipes open: stop waiting.
    if let at = exitedAt, now.timeIntervalSince(at) > 3 { break }
    if let at = killedAt, now.timeIntervalSince(at) > 5 { break }
    for i in fds.indices { fds[i].revents = 0 }
    let ready = poll(&fds, nfds_t(fds.count), 50)
    if ready < 0 && errno != EINTR { break }
    for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
      let n = read(fds[i].fd, &buffer, buffer.count)
      if n > 0 {
        if i == 0 { outData += buffer[..<n] } else { errData += buffer[..<n] }
      } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
        fds[i].fd = -1
      }
    }
  }
  // The pipes closed (or were given up on): the program has exited or is about to.
  while !exited {
    let r = waitpid(pid, &status, WNOHANG)
    if r < 0 && errno == EINTR { continue }
    if r != 0 { break }
    if killedAt == nil && Date() > deadline {
      kill(pid, SIGKILL)
      killedAt = Date()
    }
    usleep(5_000)
  }
  return CommandResult(
    status: shellStatus(status), stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
}

/// The folder that holds the built products (swstat, the test bundle).
public var productsDirectory: URL {
  let exe =
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    ?? CommandLine.arguments[0]
  var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
  // The test runner may live inside a .xctest bundle folder.
  while url.path.hasSuffix(".xctest") || url.lastPathComponent == "Contents" {
    url.deleteLastPathComponent()
  }
  return url
}

/// The swstat binary the tests run: `SWSTAT_BINARY` when set (`make test` points it at the
/// release build, static runtime and all, that `make install` installs), else the one built with
/// the tests.
public var swstatPath: String {
  ProcessInfo.processInfo.environment["SWSTAT_BINARY"]
    ?? productsDirectory.appendingPathComponent("swstat").path
}

/// The package's root folder.
public var packageRoot: URL {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
}

/// Whether the tests run as root (network namespaces need it).
public var isRoot: Bool { geteuid() == 0 }

/// Whether a program can be found in PATH.
public func hasProgram(_ name: String) -> Bool {
  ((try? runCommand(["sh", "-c", "command -v \(name)"]))?.status ?? 1) == 0
}

/// Runs a program with stdin, stdout and stderr on /dev/null and every other descriptor closed,
/// and waits for it (at most `timeout` seconds, then SIGKILL). For commands that leave a daemon
/// behind (tmux), which must not inherit our pipes. Returns the exit status.
@discardableResult
public func runDetached(_ arguments: [String], timeout: Double = 30) -> Int32 {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  for fd: Int32 in 0...2 {
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
  }
  closeInherited(&actions)
  guard case .success(let pid) = spawnClean(arguments, actions: &actions, search: true) else {
    return 127
  }
  var status: Int32 = 0
  let deadline = Date().addingTimeInterval(timeout)
  while waitpid(pid, &status, WNOHANG) == 0 {
    if Date() > deadline {
      kill(pid, SIGKILL)
      waitpid(pid, &status, 0)
      return 128 + SIGKILL
    }
    usleep(10_000)
  }
  return shellStatus(status)
}
