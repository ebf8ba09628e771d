import Foundation
import SwstatTestSupport
import Testing

/// Writes a /proc tree with `count` TCP listeners (a table far bigger than a pipe's buffer).
func syntheticProcTree(count: Int) throws -> URL {
  // A folder per call: tests of the same size run in parallel and each deletes its own.
  let root = FileManager.default.temporaryDirectory.appendingPathComponent(
    "swstat-cli-\(getpid())-\(count)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(
    at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
  var text =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
  for i in 0..<count {
    text += String(
      format:
        "%4d: 0100007F:%04X 0100007F:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 0 10 -1\n",
      i, 1024 + i % 60000, 80, 100000 + i)
  }
  try text.write(to: root.appendingPathComponent("net/tcp"), atomically: true, encoding: .utf8)
  let v6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
  try v6.write(to: root.appendingPathComponent("net/tcp6"), atomically: true, encoding: .utf8)
  return root
}

/// The command line as users meet it: exit status, stderr, stdout.
@Suite struct CLITests {
  @Test(arguments: ["--bogus", "-tanX", "--source=bogus", "-Z"])
  func badFlagsExit64(flag: String) throws {
    let r = try runCommand([swstatPath, flag])
    #expect(r.status == 64)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.contains("Usage: swstat"))
  }

  @Test func helpAndVersion() throws {
    let h = try runCommand([swstatPath, "--help"])
    #expect(h.status == 0 && h.stdout.contains("--source") && h.stdout.contains("-p, --programs"))
    let v = try runCommand([swstatPath, "--version"])
    #expect(v.status == 0 && v.stdout.hasPrefix("swstat "))
  }

  /// No source left: one line on stderr naming the file and the reason, exit 1, no stdout.
  @Test func noSourceLeft() throws {
    let r = try runCommand([swstatPath, "-tan", "--source", "proc", "--proc-root", "/nonexistent"])
    #expect(r.status == 1)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr == "swstat: /nonexistent/net/tcp: No such file or directory (errno 2)\n")
  }

  /// A malformed table: the file and line in the message, exit 1. The rows before the bad line
  /// and the other tables are still listed (one table's trouble never hides the others); when
  /// no table can be read at all, nothing is printed but the reason.
  @Test func malformedTable() throws {
    let root = try syntheticProcTree(count: 3)
    defer { try? FileManager.default.removeItem(at: root) }
    let path = root.appendingPathComponent("net/tcp").path
    try (String(contentsOfFile: path, encoding: .utf8) + "   9: junk\n").write(
      toFile: path, atomically: true, encoding: .utf8)
    let r = try runCommand([swstatPath, "-tan", "--source", "proc", "--proc-root", root.path])
    #expect(r.status == 1)
    #expect(r.stdout.split(separator: "\n").count == 2 + 3, "\(r.stdout)")
    #expect(r.stderr == "swstat: \(path):5: expected at least 10 fields, found 2\n")
    let alone = try runCommand([swstatPath, "-t4an", "--source", "proc", "--proc-root", root.path])
    #expect(alone.status == 1 && alone.stdout.isEmpty, "\(alone.stdout)")
  }

  /// `swstat -tan | head -1` ends quietly, whatever the size of the listing.
  @Test func closedPipeIsQuiet() throws {
    let root = try syntheticProcTree(count: 20000)
    defer { try? FileManager.default.removeItem(at: root) }
    let r = try runCommand([
      "sh", "-c", "'\(swstatPath)' -tan --source proc --proc-root '\(root.path)' | head -1",
    ])
    #expect(r.status == 0)
    #expect(r.stderr.isEmpty)
    #expect(r.stdout == "Active Internet connections (servers and established)\n")
  }

  /// A full disk: exit 1 with the write error, as coreutils words it.
  @Test func fullDevice() throws {
    let root = try syntheticProcTree(count: 2000)
    defer { try? FileManager.default.removeItem(at: root) }
    let r = try runCommand([
      "sh", "-c", "'\(swstatPath)' -tan --source proc --proc-root '\(root.path)' > /dev/full",
    ])
    #expect(r.status == 1)
    #expect(r.stderr == "swstat: write error: No space left on device\n")
  }

  /// Every row is whole: a large listing has exactly one row per socket.
  @Test func largeListingIsComplete() throws {
    let root = try syntheticProcTree(count: 20000)
    defer { try? FileManager.default.removeItem(at: root) }
    let r = try runCommand([swstatPath, "-tan", "--source", "proc", "--proc-root", root.path])
    #expect(r.status == 0)
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 20002)
    #expect(lines.dropFirst(2).allSatisfy { $0.count == 79 && $0.hasPrefix("tcp ") })
  }

  /// The man page renders with no warning from `man --warnings` (what `make lint` runs).
  @Test(.enabled(if: available(tools: ["man"]), "needs man-db"))
  func manPageRendersCleanly() throws {
    try requireTools(["man"])
    let page = packageRoot.appendingPathComponent("man/swstat.8").path
    let r = try runCommand([
      "sh", "-c",
      "LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings --encoding=UTF-8 --local-file --troff-device=utf8 --ditroff '\(page)' 2>&1 >/dev/null",
    ])
    #expect(r.stdout.isEmpty, "\(r.stdout)")
  }

  /// Every long flag the parser knows is documented in the man page.
  @Test func manPageListsEveryFlag() throws {
    let dump = try runCommand([swstatPath, "--experimental-dump-help"])
    let man = try String(
      contentsOf: packageRoot.appendingPathComponent("man/swstat.8"), encoding: .utf8)
    let json = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
    let command = json?["command"] as? [String: Any]
    let args = command?["arguments"] as? [[String: Any]] ?? []
    var longs: [String] = []
    for a in args {
      for n in a["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
        if let name = n["name"] as? String, name != "help", name != "version" { longs.append(name) }
      }
    }
    #expect(longs.count > 10)
    for name in longs {
      #expect(
        man.contains("\\-\\-" + name.replacingOccurrences(of: "-", with: "\\-")),
        "man page lacks --\(name)")
    }
  }
}

/// Completions come from the argument parser and know swstat's flags.
@Suite struct CompletionTests {
  @Test(arguments: ["bash", "zsh", "fish"])
  func completionScript(shell: String) throws {
    let r = try runCommand([swstatPath, "--generate-completion-script", shell])
    #expect(r.status == 0)
    #expect(r.stdout.contains("swstat"))
    #expect(r.stdout.contains("count-by") && r.stdout.contains("numeric-hosts"))
  }

  /// `make install` stages the binary, the man page and the three completion files.
  @Test(
    .enabled(
      if: ProcessInfo.processInfo.environment["SWSTAT_TEST_INSTALL"] != nil, "slow: a release build"
    ))
  func installStagesEverything() throws {
    let stage = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-stage-\(getpid())")
    defer { try? FileManager.default.removeItem(at: stage) }
    // A scratch path of its own: `swift test` holds the lock on .build while this runs.
    let r = try runCommand(
      [
        "make", "-C", packageRoot.path, "install", "DESTDIR=\(stage.path)", "PREFIX=/usr",
        "RELEASE_FLAGS=-c release --static-swift-stdlib --scratch-path .build-install",
      ], timeout: 1200)
    #expect(r.status == 0, "\(r.stderr)")
    for path in [
      "usr/bin/swstat", "usr/bin/swstat-export", "usr/share/man/man8/swstat.8",
      "usr/share/bash-completion/completions/swstat",
      "usr/share/zsh/site-functions/_swstat", "usr/share/fish/vendor_completions.d/swstat.fish",
    ] {
      #expect(
        FileManager.default.fileExists(atPath: stage.appendingPathComponent(path).path), "\(path)")
    }
  }
}
