import Foundation
import SwstatTestSupport
import Testing

/// `--textfile`: node_exporter's textfile collector reads the file at any moment, so it must be
/// replaced whole, never written in place, and no temporary file may stay behind.
@Suite struct TextfileTests {
  func folder() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-textfile-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  @Test func onceWritesValidFile() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("swstat.prom").path
    let listeners = try Listeners(backlogs: [5], pending: [2])
    defer { listeners.close() }
    let r = try runCommand([exporterPath, "--textfile", path, "--source", "netlink"], timeout: 30)
    #expect(r.status == 0)
    #expect(r.stderr.isEmpty)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let all = samples(text)
    #expect(
      all.contains {
        $0.name == "swstat_listen_queue_length"
          && $0.labels["local"] == "127.0.0.1:\(listeners.ports[0])"
          && $0.value == 2
      })
    #expect(!text.contains("# EOF"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["swstat.prom"])
    if onPath("promtool") {
      let check = try promtoolCheck(text)
      #expect(check.status == 0, "\(check.output)")
    }
  }

  /// Rewritten every 50 ms while a reader opens it again and again: every read is a whole
  /// exposition, the inode changes (rename, not rewrite), and after SIGTERM the folder holds
  /// only the file.
  @Test func intervalReplacesAtomically() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("swstat.prom").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exporterPath)
    p.arguments = ["--textfile", path, "--interval", "0.05", "--by-port"]
    p.standardError = FileHandle.nullDevice
    try p.run()
    defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    var inodes: Set<UInt64> = []
    var reads = 0
    var partial: [String] = []
    let deadline = Date().addingTimeInterval(15)
    while (reads < 300 || inodes.count < 3) && Date() < deadline {
      guard let data = FileManager.default.contents(atPath: path) else {
        usleep(5_000)
        continue
      }
      var st = stat()
      if stat(path, &st) == 0 { inodes.insert(UInt64(st.st_ino)) }
      let text = String(decoding: data, as: UTF8.self)
      reads += 1
      if !(text.hasPrefix("# HELP swstat_build_info") && text.hasSuffix("\n")
        && text.contains("# TYPE swstat_sockets gauge") && samples(text).count >= 26)
      {
        partial.append(String(text.suffix(80)))
      }
      usleep(2_000)
    }
    kill(p.processIdentifier, SIGTERM)
    let stopBy = Date().addingTimeInterval(10)
    while p.isRunning && Date() < stopBy { usleep(20_000) }
    #expect(!p.isRunning)
    p.waitUntilExit()
    #expect(p.terminationReason == .exit && p.terminationStatus == 0)
    #expect(reads >= 300)
    #expect(partial.isEmpty, "\(partial.prefix(3))")
    #expect(inodes.count >= 3, "the file was replaced \(inodes.count) times")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["swstat.prom"])
    if onPath("promtool") {
      let check = try promtoolCheck(try String(contentsOfFile: path, encoding: .utf8))
      #expect(check.status == 0, "\(check.output)")
    }
  }

  /// A folder that does not exist: one line naming the temporary file, exit 1, nothing left.
  @Test func unwritableFolderFails() throws {
    let r = try runCommand([exporterPath, "--textfile", "/nonexistent/swstat.prom"], timeout: 30)
    #expect(r.status == 1)
    #expect(r.stderr.hasPrefix("swstat: /nonexistent/swstat.prom.tmp."))
    #expect(r.stderr.hasSuffix(": No such file or directory (errno 2)\n"))
  }

  /// A source that refuses: exit 1, the file is not created (an old one would stay as it was).
  @Test func refusingSourceLeavesNoFile() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("swstat.prom").path
    try "old\n".write(toFile: path, atomically: true, encoding: .utf8)
    let r = try runCommand(
      [exporterPath, "--textfile", path, "--source", "proc", "--proc-root", "/nonexistent"],
      timeout: 30)
    #expect(r.status == 1)
    #expect(r.stderr == "swstat: /nonexistent/net/tcp: No such file or directory (errno 2)\n")
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\n")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["swstat.prom"])
  }

  /// The symbolic link attack on the textfile (issue 11, item 2), by `nobody`, who may write the
  /// textfile folder (as node_exporter's user may): links at every name the old scheme could
  /// use (PATH.tmp.PID for pids around the exporter's) and at other plausible names, pointing at
  /// root's files that nobody may write. The exporter (root) rewrites PATH every 50 ms for 3 s:
  /// the targets stay byte for byte as they were, and PATH stays a regular file, replaced many
  /// times.
  @Test(
    needs(isRoot, "needs root, to run the attack as nobody"),
    needs(onPath("setpriv"), "setpriv missing (util-linux)"))
  func symlinkAttackAsNobody() throws {
    let attack = try TextfileAttack(race: false)
    defer { attack.remove() }
    let exporter = try attack.startExporter()
    defer { if exporter.isRunning { kill(exporter.processIdentifier, SIGKILL) } }
    let attacker = try attack.startAttacker(around: exporter.processIdentifier, seconds: 4)
    defer { attacker.stop() }
    // Each version of the file, told apart by inode and modification time (inode numbers are
    // reused at once).
    var versions: Set<[Int]> = []
    let start = Date()
    while since(start) < 3 {
      var st = stat()
      if lstat(attack.path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG {
        versions.insert([Int(st.st_ino), st.st_mtim.tv_sec, st.st_mtim.tv_nsec])
      }
      usleep(10_000)
    }
    let status = stopProcess(exporter)
    let report = try attacker.finish()
    #expect(status == 0)
    #expect(report.planted >= 200, "the attacker planted \(report.planted) links")
    #expect(attack.changedVictims().isEmpty, "\(attack.changedVictims())")
    var st = stat()
    #expect(lstat(attack.path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_uid == 0)
    #expect(st.st_mode & 0o777 == 0o644)
    #expect(versions.count >= 10, "PATH was replaced \(versions.count) times")
    let text = try String(contentsOfFile: attack.path, encoding: .utf8)
    #expect(text.contains("# TYPE swstat_sockets gauge"))
  }

  /// The same attacker, now also racing the exporter: every new regular file that appears in
  /// the folder is replaced at once by a link to a victim. Whatever it wins, the victims stay as
  /// they were: the exporter writes only through the descriptor of the file it just created.
  @Test(
    needs(isRoot, "needs root, to run the attack as nobody"),
    needs(onPath("setpriv"), "setpriv missing (util-linux)"))
  func racingAttackAsNobody() throws {
    let attack = try TextfileAttack(race: true)
    defer { attack.remove() }
    let exporter = try attack.startExporter()
    defer { if exporter.isRunning { kill(exporter.processIdentifier, SIGKILL) } }
    let attacker = try attack.startAttacker(around: exporter.processIdentifier, seconds: 4)
    defer { attacker.stop() }
    usleep(3_000_000)
    #expect(stopProcess(exporter) == 0)
    let report = try attacker.finish()
    #expect(attack.changedVictims().isEmpty, "\(attack.changedVictims())")
    print(
      "racingAttackAsNobody: \(report.planted) links planted, \(report.replaced) files replaced")
  }

  /// A PATH that exists and is not a regular file is refused with one line and exit 1, and left
  /// as it was: a device (a copy of /dev/full's node, made with mknod: the test must not risk
  /// the real one), a FIFO, a folder, a symbolic link.
  @Test(needs(isRoot, "needs root, for mknod"))
  func refusesWhatIsNotARegularFile() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let device = dir.appendingPathComponent("full").path
    #expect(try runCommand(["mknod", device, "c", "1", "7"]).status == 0)
    let fifo = dir.appendingPathComponent("fifo").path
    #expect(mkfifo(fifo, 0o644) == 0)
    let folder = dir.appendingPathComponent("folder").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    let target = dir.appendingPathComponent("target").path
    try "keep\n".write(toFile: target, atomically: false, encoding: .utf8)
    let link = dir.appendingPathComponent("link.prom").path
    #expect(symlink(target, link) == 0)
    for (path, kind, mode) in [
      (device, "a character device", S_IFCHR), (fifo, "a FIFO", S_IFIFO),
      (folder, "a directory", S_IFDIR), (link, "a symbolic link", S_IFLNK),
    ] {
      var before = stat()
      lstat(path, &before)
      let r = try runCommand([exporterPath, "--textfile", path], timeout: 30)
      #expect(r.status == 1, "\(path)")
      #expect(r.stderr == "swstat: --textfile \(path): not a regular file (\(kind))\n")
      var after = stat()
      #expect(lstat(path, &after) == 0 && after.st_mode & S_IFMT == mode, "\(path)")
      #expect(after.st_ino == before.st_ino && after.st_rdev == before.st_rdev, "\(path)")
    }
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep\n")
    // Nothing left behind but what the test made.
    #expect(
      try Set(FileManager.default.contentsOfDirectory(atPath: dir.path))
        == ["full", "fifo", "folder", "target", "link.prom"])
  }
}
