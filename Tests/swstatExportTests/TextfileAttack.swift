import Foundation
import SwstatTestSupport

/// The set-up of the textfile symbolic link attack: root's victim files in a folder only root
/// may write, a textfile folder that belongs to `nobody`, and an attacker script run as nobody
/// (setpriv) that plants links there. Removed by `remove()`.
final class TextfileAttack: @unchecked Sendable {
  /// Folders of this attack.
  let victims: URL
  let folder: URL
  /// The --textfile path.
  let path: String
  /// Victim file → its content.
  private(set) var originals: [String: String] = [:]
  /// Whether the attacker also replaces every new regular file in the folder.
  let race: Bool

  init(race: Bool) throws {
    self.race = race
    let base = FileManager.default.temporaryDirectory
    let tag = "\(getpid())-\(UUID().uuidString.prefix(8))"
    victims = base.appendingPathComponent("swstat-victims-\(tag)")
    folder = base.appendingPathComponent("swstat-textfile-nobody-\(tag)")
    path = folder.appendingPathComponent("swstat.prom").path
    for dir in [victims, folder] {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
      chmod(dir.path, 0o755)
    }
    guard chown(folder.path, 65534, 65534) == 0 else {
      throw FixtureError.failed("chown nobody \(folder.path): errno \(errno)")
    }
    for i in 0..<5 {
      let victim = victims.appendingPathComponent("precious-\(i)").path
      let content = "precious \(i): root's file, not for nobody to write\n"
      try content.write(toFile: victim, atomically: false, encoding: .utf8)
      chmod(victim, 0o644)
      originals[victim] = content
    }
  }

  /// The exporter (root) rewriting the textfile every 50 ms.
  func startExporter() throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exporterPath)
    p.arguments = ["--textfile", path, "--interval", "0.05"]
    p.standardError = FileHandle.nullDevice
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    return p
  }

  /// The attacker as nobody, planting links at PATH.tmp.PID for pids within 100 of `pid` and at
  /// other names one might pick, for `seconds`.
  func startAttacker(around pid: Int32, seconds: Double) throws -> Attacker {
    try Attacker(
      arguments: [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", systemPython, "-c",
        Self.script, folder.path, "swstat.prom", originals.keys.sorted().joined(separator: ","),
        "\(pid - 100)", "\(pid + 100)", "\(seconds)", race ? "race" : "names",
      ])
  }

  /// The victims that are no longer what they were: content, owner or type.
  func changedVictims() -> [String] {
    originals.keys.sorted().filter { victim in
      var st = stat()
      guard lstat(victim, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0 else {
        return true
      }
      return (try? String(contentsOfFile: victim, encoding: .utf8)) != originals[victim]
    }
  }

  func remove() {
    try? FileManager.default.removeItem(at: folder)
    try? FileManager.default.removeItem(at: victims)
  }

  /// The attacker: plants a link at each of its names that is missing, again and again; with
  /// `race`, also replaces any other regular file in the folder by a link. Prints `ready`, then
  /// at the end `planted N replaced M`.
  static let script = """
    import os, stat, sys, time
    folder, name, victims = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    low, high, seconds, mode = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
    names = ["%s.tmp.%d" % (name, pid) for pid in range(low, high + 1)]
    names += [name + ".tmp", "." + name + ".tmp", name + ".new", name + "~", "." + name + ".swp",
              name + ".tmp.0", "." + name, name + ".lock", name + ".bak", name + ".tmp.tmp"]
    known = set(names) | {name}
    planted = replaced = 0
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for i, n in enumerate(names):
            p = os.path.join(folder, n)
            if not os.path.lexists(p):
                try:
                    os.symlink(victims[i % len(victims)], p)
                    planted += 1
                except OSError:
                    pass
        if mode == "race":
            for n in os.listdir(folder):
                p = os.path.join(folder, n)
                try:
                    if n not in known and stat.S_ISREG(os.lstat(p).st_mode):
                        os.unlink(p)
                        os.symlink(victims[0], p)
                        replaced += 1
                except OSError:
                    pass
        time.sleep(0.001)
    print("planted %d replaced %d" % (planted, replaced), flush=True)
    """

  /// The attacker's process.
  final class Attacker: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()

    init(arguments: [String]) throws {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = arguments
      process.standardOutput = output
      process.standardError = FileHandle.standardError
      process.standardInput = FileHandle.nullDevice
      try process.run()
      let line = try RunningExporter.readLine(
        output.fileHandleForReading.fileDescriptor, seconds: 30)
      guard line == "ready" else {
        stop()
        throw FixtureError.failed("attacker did not start: \(line)")
      }
    }

    /// Waits for its report (it ends by itself): links planted, files replaced.
    func finish() throws -> (planted: Int, replaced: Int) {
      let line = try RunningExporter.readLine(
        output.fileHandleForReading.fileDescriptor, seconds: 30)
      stop()
      let words = line.split(separator: " ")
      guard words.count == 4, let planted = Int(words[1]), let replaced = Int(words[3]) else {
        throw FixtureError.failed("attacker report: \(line)")
      }
      return (planted, replaced)
    }

    /// Ends it (SIGKILL after 10 s) and reaps it.
    func stop() {
      let deadline = Date().addingTimeInterval(10)
      while process.isRunning && Date() < deadline { usleep(20_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }
  }
}

/// SIGTERM, then waits (SIGKILL after 10 s); the exit status, or 128 + the signal.
func stopProcess(_ p: Process) -> Int32 {
  kill(p.processIdentifier, SIGTERM)
  let deadline = Date().addingTimeInterval(10)
  while p.isRunning && Date() < deadline { usleep(20_000) }
  if p.isRunning { kill(p.processIdentifier, SIGKILL) }
  p.waitUntilExit()
  return p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
}
