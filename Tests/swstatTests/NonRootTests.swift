import Foundation
import SwstatTestSupport
import Testing

/// A process of `nobody`'s inside a namespace: a TCP listener on 127.0.0.1 and a UDP socket on
/// ::1, held until `stop()`.
final class NobodySockets: @unchecked Sendable {
  let pid: Int
  let tcpPort: Int
  let udpPort: Int
  private let process = Process()
  private let input = Pipe()

  init(in ns: NetworkNamespace) throws {
    let script = """
      import os, socket, sys
      t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(8)
      u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 0))
      print(os.getpid(), t.getsockname()[1], u.getsockname()[1], flush=True)
      sys.stdin.read()
      """
    // nobody cannot run a python3 under /root (pyenv's shims): the system's, by path.
    let python =
      FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
      ? "/usr/bin/python3" : "python3"
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      ["ip", "netns", "exec", ns.name] + NonRootTests.nobody + [python, "-c", script]
    let out = Pipe()
    process.standardOutput = out
    process.standardInput = input
    try process.run()
    var line = Data()
    var byte: UInt8 = 0
    while read(out.fileHandleForReading.fileDescriptor, &byte, 1) == 1 && byte != 0x0a {
      line.append(byte)
    }
    let f = String(decoding: line, as: UTF8.self).split(separator: " ").compactMap { Int($0) }
    guard f.count == 3 else {
      process.terminate()
      throw FixtureError.failed(
        "nobody's sockets did not start: \(String(decoding: line, as: UTF8.self))")
    }
    pid = f[0]
    tcpPort = f[1]
    udpPort = f[2]
  }

  func stop() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

/// swstat run as `nobody`, with no capabilities and no way to gain any: every socket root sees,
/// owners only for nobody's own processes (`-` and netstat's note for the rest). Each test has a
/// network namespace of its own, so root's and nobody's listings cover the same sockets.
@Suite(.timeLimit(.minutes(3)))
struct NonRootTests {
  static var canRun: Bool { available(root: true, tools: ["setpriv", "ip", "python3"]) }

  /// nobody, no supplementary groups, no capabilities in any set, no_new_privs (so no setuid
  /// binary or file capability could lend any).
  static let nobody = [
    "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs",
    "--inh-caps=-all", "--bounding-set=-all", "--",
  ]

  static let note = """
    (Not all processes could be identified, non-owned process info
     will not be shown, you would have to be root to see it all.)

    """

  static func trimmed(_ row: String) -> String {
    String(row.reversed().drop { $0 == " " }.reversed())
  }

  /// A row without its last column (PID/Program name) and the padding before it.
  static func withoutOwner(_ row: String) -> String {
    var cols = row.split(separator: " ")
    cols.removeLast()
    return cols.joined(separator: " ")
  }

  @Test(.enabled(if: canRun, "needs root to become nobody, ip netns and python3"))
  func sameSocketsAsRoot() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns, fork: true)
    defer { fixture.stop() }
    let own = try NobodySockets(in: ns)
    defer { own.stop() }
    for flags in [
      "-tan", "-uan", "-tuan", "-tanW", "-tane", "-a46tu", "-tln", "-tanp", "-tanpe", "-tulpn",
      "-uanp",
    ] {
      for source in ["auto", "netlink", "proc"] {
        let root = try ns.run([swstatPath, flags, "--source", source])
        let user = try ns.run(Self.nobody + [swstatPath, flags, "--source", source])
        let what = "\(flags) --source \(source)"
        #expect(root.status == 0 && user.status == 0, "\(what): \(user.stderr)")
        #expect(split(user.stdout).header == split(root.stdout).header, "\(what)")
        // Rows without netstat's trailing padding, so that the owner is the last thing.
        let rootRows = split(root.stdout).rows.map(Self.trimmed)
        let userRows = split(user.stdout).rows.map(Self.trimmed)
        #expect(!userRows.isEmpty, "\(what)")
        guard flags.contains("p") else {
          #expect(userRows == rootRows, "\(what)")
          #expect(user.stderr.isEmpty, "\(what): \(user.stderr)")
          continue
        }
        #expect(user.stderr == Self.note, "\(what)")
        #expect(
          userRows.map(Self.withoutOwner).sorted() == rootRows.map(Self.withoutOwner).sorted(),
          "\(what)")
        // nobody sees its own process and nothing else; root sees both.
        for row in userRows {
          let owner = row.split(separator: " ").last.map(String.init) ?? ""
          #expect(owner == "-" || owner == "\(own.pid)/python3", "\(what): \(row)")
        }
        let mine = userRows.filter {
          $0.contains(":\(own.tcpPort) ") || $0.contains(":\(own.udpPort) ")
        }
        let shown = flags.contains("u") ? (flags.contains("t") ? 2 : 1) : 1
        #expect(mine.count == shown, "\(what): \(mine)")
        #expect(mine.allSatisfy { $0.hasSuffix(" \(own.pid)/python3") }, "\(what): \(mine)")
        #expect(rootRows.contains { $0.hasSuffix(" \(fixture.pid)/python3") }, "\(what)")
        #expect(!userRows.contains { $0.hasSuffix(" \(fixture.pid)/python3") }, "\(what)")
      }
    }
  }

  /// Counts, NDJSON and --expect see every socket as nobody too; the JSON has no owner for
  /// root's sockets and nobody's own pid for its own.
  @Test(.enabled(if: canRun, "needs root to become nobody, ip netns and python3"))
  func scriptsAsNobody() throws {
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    let own = try NobodySockets(in: ns)
    defer { own.stop() }
    let rootCount = try ns.run([swstatPath, "--count"])
    let userCount = try ns.run(Self.nobody + [swstatPath, "--count"])
    #expect(userCount.status == 0 && userCount.stdout == rootCount.stdout)
    let json = try ns.run(Self.nobody + [swstatPath, "-tuanp", "--json"])
    #expect(json.status == 0)
    let objects = json.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    let rootJSON = try ns.run([swstatPath, "-tuanp", "--json"])
    #expect(objects.count == rootJSON.stdout.split(separator: "\n").count)
    let owners = objects.flatMap { $0["owners"] as? [[String: Any]] ?? [] }
    let pids = Set(owners.compactMap { ($0["pid"] as? NSNumber)?.intValue })
    #expect(pids == [own.pid], "\(pids)")
    let expect = try ns.run(Self.nobody + [swstatPath, "-t", "--expect", "listen>=2"])
    #expect(expect.status == 0, "\(expect.stderr)")
  }

  /// The binary carries no setuid or setgid bit and no file capabilities: nothing above needed
  /// more than a plain user has.
  @Test func needsNoPrivilege() throws {
    var st = stat()
    #expect(stat(swstatPath, &st) == 0)
    #expect(st.st_mode & (S_ISUID | S_ISGID) == 0)
    // getxattr(2) from libc: Glibc's module map leaves out sys/xattr.h.
    typealias GetXattr =
      @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int
      ) -> Int
    let symbol = try #require(dlsym(dlopen(nil, RTLD_NOW), "getxattr"))
    let getxattr = unsafeBitCast(symbol, to: GetXattr.self)
    let n = getxattr(swstatPath, "security.capability", nil, 0)
    #expect(n < 0 && errno == ENODATA, "file capabilities on \(swstatPath)")
  }
}
