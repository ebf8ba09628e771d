import Foundation

/// Debian's python3 (with its prometheus_client, whose OpenMetrics parser is strict): the one
/// any user can run, where `python3` in PATH may be root's pyenv shim.
public let systemPython = "/usr/bin/python3"

/// A pipe whose two ends are close-on-exec, so no child spawned meanwhile (by any test) holds
/// them. (pipe2 is not imported into Swift; the moment between pipe and fcntl is short.)
public func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
  var fds: [Int32] = [-1, -1]
  guard pipe(&fds) == 0 else {
    throw FixtureError.failed("pipe: \(String(cString: strerror(errno)))")
  }
  for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  return (fds[0], fds[1])
}

/// Two such pipes (a child's stdin and stdout, or its stdout and stderr); neither is left open
/// when the second cannot be made.
public func closeOnExecPipes() throws -> (
  (read: Int32, write: Int32), (read: Int32, write: Int32)
) {
  let first = try closeOnExecPipe()
  do { return (first, try closeOnExecPipe()) } catch {
    close(first.read)
    close(first.write)
    throw error
  }
}

/// Starts `arguments` with `actions` applied, an empty signal mask and default dispositions,
/// whatever the test runner's threads have (they block SIGTERM, and a child would inherit
/// that). `arguments[0]` is a path, or with `search` a name looked up in PATH.
/// Returns the child's pid, or posix_spawn's error.
public func spawnClean(
  _ arguments: [String], actions: inout posix_spawn_file_actions_t, search: Bool = false
) -> Result<pid_t, FixtureError> {
  var attr = posix_spawnattr_t()
  posix_spawnattr_init(&attr)
  defer { posix_spawnattr_destroy(&attr) }
  var empty = sigset_t()
  sigemptyset(&empty)
  posix_spawnattr_setsigmask(&attr, &empty)
  var all = sigset_t()
  sigfillset(&all)
  posix_spawnattr_setsigdefault(&attr, &all)
  posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
  let argv = arguments.map { strdup($0) } + [nil]
  defer { for p in argv { free(p) } }
  var pid: pid_t = 0
  let rc =
    search
    ? posix_spawnp(&pid, arguments[0], &actions, &attr, argv, environ)
    : posix_spawn(&pid, arguments[0], &actions, &attr, argv, environ)
  guard rc == 0 else {
    return .failure(.failed("posix_spawn \(arguments[0]): \(String(cString: strerror(rc)))"))
  }
  return .success(pid)
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal.
public func shellStatus(_ status: Int32) -> Int32 {
  (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Adds to `actions` a close of every descriptor above 2 that this process has open and a child
/// would inherit (not close-on-exec): pipes that other tests' Foundation Process objects hold,
/// for one. A child holding another command's pipe would keep that command's reader waiting.
public func closeInherited(_ actions: inout posix_spawn_file_actions_t) {
  let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
  for fd in open.compactMap({ Int32($0) }) where fd > 2 {
    let flags = fcntl(fd, F_GETFD)
    if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
  }
}
