import Foundation
import SwstatTestSupport
import Testing

/// Issue 12's list of flags that were ignored, refused or meant something else in some mode:
/// each now works in every mode, or is refused with one line (exit 64).
@Suite struct FlagsEveryModeTests {
  /// Accepted and ignored before; refused now, the flag named.
  @Test(
    arguments: [
      (["-tan", "--interval", "1"], "--interval: applies to -c, --watch and --events only"),
      (["--watch", "--interval", "0x10"], "expected seconds from 0.01 to 86400, got \"0x10\""),
      (["-t", "--count-by", "state,state"], "key \"state\" given twice"),
      (["export", "--max-ports", "5"], "--max-ports applies to --by-port only"),
      (["-sx"], "no statistics support for UNIX domain sockets"),
      (["-x", "--count"], "-x and -w only list"),
      (["-xt", "--sport", "22"], "select TCP and UDP sockets"),
      (
        ["--all-netns", "--watch"],
        "--all-netns lists sockets and follows events; it does not count or watch them"
      ),
      (
        ["--all-netns", "--events", "--transitions", "poll"],
        "--all-netns --events follows every namespace through the tracepoint; --transitions poll follows one (--netns NAME)"
      ),
      (
        ["--all-netns", "--events", "-u"],
        "--all-netns --events follows TCP through the tracepoint: add -t"
      ),
      (["--count", "-c"], "are separate modes: give one"),
    ] as [([String], String)])
  func refusedWithTheFlagNamed(args: [String], message: String) throws {
    let r = try runCommand([swstatPath] + args)
    #expect(r.status == 64, "\(args)")
    #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
    #expect(r.stdout.isEmpty)
  }

  /// `--state new_syn_recv` is accepted (`--count` counts request sockets under SYN_RECV).
  @Test func newSynRecvIsAState() throws {
    let r = try runCommand([swstatPath, "-tn", "--state", "new_syn_recv", "--source", "proc"])
    #expect(r.status == 0, "\(r.stderr)")
  }

  /// -c repeats every table the listing has: `-ac` the UNIX sockets too, `-xc` and `-wc`
  /// theirs (netstat -ac, -xc, -wc).
  @Test(arguments: [["-ac"], ["-xc"], ["-wc"]])
  func continuousRepeatsEveryTable(flags: [String]) throws {
    let r = try runCommand(
      ["timeout", "-s", "INT", "1.5", swstatPath] + flags + ["--interval", "0.5"])
    let banners = flags == ["-wc"] ? "Active Internet connections" : "Active UNIX domain sockets"
    #expect(
      r.stdout.components(separatedBy: banners).count - 1 >= 2, "\(flags): \(r.stdout.prefix(300))")
    #expect(r.stderr.isEmpty, "\(r.stderr)")
  }

  /// Standard output handed over non-blocking (by a parent that set O_NONBLOCK on the pipe) and
  /// read slowly: every byte still arrives (EAGAIN waits, it does not drop).
  @Test func nonBlockingStdoutLosesNothing() throws {
    let root = try syntheticProcTree(count: 20000)
    defer { try? FileManager.default.removeItem(at: root) }
    let args = [swstatPath, "-tan", "--source", "proc", "--proc-root", root.path]
    let expected = try runCommand(args).stdoutBytes
    let p = Process()
    p.executableURL = URL(fileURLWithPath: swstatPath)
    p.arguments = Array(args.dropFirst())
    let pipe = Pipe()
    let w = pipe.fileHandleForWriting.fileDescriptor
    _ = fcntl(w, F_SETFL, fcntl(w, F_GETFL) | O_NONBLOCK)
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    try pipe.fileHandleForWriting.close()
    var got: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    let r = pipe.fileHandleForReading.fileDescriptor
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      let n = read(r, &chunk, chunk.count)
      if n <= 0 { break }
      got += chunk[..<n]
      usleep(200)  // a slow reader: the pipe fills and the writer meets EAGAIN
    }
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    #expect(got.count == expected.count && got == expected, "\(got.count) of \(expected.count)")
  }
}
