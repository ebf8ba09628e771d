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
}
