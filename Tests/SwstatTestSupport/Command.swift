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
@discardableResult
public func runCommand(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
  let p = Process()
  if arguments[0].hasPrefix("/") {
    p.executableURL = URL(fileURLWithPath: arguments[0])
    p.arguments = Array(arguments.dropFirst())
  } else {
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
  }
  let out = Pipe()
  let err = Pipe()
  p.standardOutput = out
  p.standardError = err
  p.standardInput = FileHandle.nullDevice
  try p.run()
  // Read both pipes while the process runs so a large output cannot block it.
  nonisolated(unsafe) var outData = Data()
  nonisolated(unsafe) var errData = Data()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    outData = out.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  group.enter()
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  if group.wait(timeout: .now() + timeout) == .timedOut {
    kill(p.processIdentifier, SIGKILL)
    // A daemon the command left behind may hold the pipes open: do not wait for it forever.
    _ = group.wait(timeout: .now() + 5)
  }
  p.waitUntilExit()
  let status =
    p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
  return CommandResult(
    status: status, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: [UInt8](outData))
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
  // Close every other descriptor this process has open (the child would inherit it).
  let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
  for fd in open.compactMap({ Int32($0) }) where fd > 2 && fcntl(fd, F_GETFD) >= 0 {
    posix_spawn_file_actions_addclose(&actions, fd)
  }
  var attr = posix_spawnattr_t()
  posix_spawnattr_init(&attr)
  defer { posix_spawnattr_destroy(&attr) }
  // An empty signal mask and default dispositions, whatever the test runner's threads have.
  var empty = sigset_t()
  sigemptyset(&empty)
  posix_spawnattr_setsigmask(&attr, &empty)
  var all = sigset_t()
  sigfillset(&all)
  posix_spawnattr_setsigdefault(&attr, &all)
  posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
  var pid: pid_t = 0
  let argv = arguments.map { strdup($0) } + [nil]
  defer { for p in argv { free(p) } }
  guard posix_spawnp(&pid, arguments[0], &actions, &attr, argv, environ) == 0 else { return 127 }
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
  return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
