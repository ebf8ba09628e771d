import Foundation
import SwstatCore
import SwstatRender
import SwstatTestSupport
import Testing

/// The `--info`/`--memory` line and the NDJSON members on real sockets: the line's tokens are
/// the ones `ss -tnmi` prints for the same sockets, value for value where the values do not
/// move while idle, and every object validates against the published schema.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExtrasOutputTests {
  /// What one dump in the namespace saw: each socket of the pair with its extras.
  struct Dumped {
    var record: SocketRecord
    var extras: SocketExtras?
  }

  static func dump(_ ns: NetworkNamespace, _ kinds: SocketExtras.Kinds, ports: Set<UInt16>)
    throws -> [Dumped]
  {
    var out: [Dumped] = []
    try NetworkNamespaces.run(in: "/run/netns/\(ns.name)", context: "test namespace") {
      let store = SocketExtrasStore(kinds: kinds)
      let query = SocketQuery(transports: [.tcp], families: [.inet], extras: store)
      try NetlinkSource().forEach(query) { r in
        let extras = store.take(for: r)
        if ports.contains(r.local.port) || ports.contains(r.remote.port) {
          out.append(Dumped(record: copy r, extras: extras))
        }
      }
    }
    return out
  }

  static func makePair(_ ns: NetworkNamespace) throws -> TransferPair {
    var pair: TransferPair? = nil
    try NetworkNamespaces.run(in: "/run/netns/\(ns.name)", context: "test namespace") {
      pair = try TransferPair(bytes: 1 << 20, reply: 65536)
    }
    return try #require(pair)
  }

  /// Tokens that move while a connection sits idle (milliseconds since the last packet).
  static let moving: Set<String> = ["lastsnd", "lastrcv", "lastack"]
  /// Tokens newer than the installed ss prints (iproute2 6.1 has neither).
  static let newerThanSS: Set<String> = ["rcv_wnd", "rehash"]

  @Test(.enabled(if: available(root: true, tools: ["ss", "ip"])))
  func lineHasSSTokens() throws {
    try requireTools(root: true, ["ss", "ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try Self.makePair(ns)
    defer { pair.close() }
    usleep(300_000)
    let ports: Set<UInt16> = [pair.port]
    let dumped = try Self.dump(ns, [.info, .memory], ports: ports)
    let ss = try ns.run(["ss", "-tnmiH", "-a", "sport = :\(pair.port) or dport = :\(pair.port)"])
    #expect(ss.status == 0)
    let rows = ssRowsWithInfo(ss.stdout)
    #expect(dumped.count == 3 && rows.count == 3)
    let text = SocketExtrasText(store: SocketExtrasStore(kinds: [.info, .memory]), numeric: true)
    for d in dumped {
      let r = d.record
      let x = try #require(d.extras)
      let local = "127.0.0.1:\(r.local.port)"
      let peer = r.remote.port == 0 ? "0.0.0.0:*" : "127.0.0.1:\(r.remote.port)"
      let theirs = try #require(rows.first { $0.local == local && $0.peer == peer }).tokens
      let line = text.tokens(x, state: r.stateCode)
      #expect(line.hasPrefix(" skmem:("), "\(line)")
      let mine = ssInfoTokens(line)
      let label = "\(local) \(peer)"
      #expect(
        Set(mine.keys).subtracting(Self.newerThanSS) == Set(theirs.keys),
        "\(label): swstat \(line)\nss \(theirs)")
      for (key, value) in mine where !Self.moving.contains(key) && theirs[key] != nil {
        #expect(theirs[key] == value, "\(label) \(key): swstat \(value), ss \(theirs[key] ?? "-")")
      }
      for key in Self.moving {
        guard let a = mine[key].flatMap(Double.init), let b = theirs[key].flatMap(Double.init)
        else { continue }
        #expect(abs(a - b) <= 3000, "\(label) \(key)")
      }
    }
  }

  /// `--json` objects with `tcp_info`, `memory` and `cgroup` validate against
  /// socket.schema.json, and so do objects of sockets the kernel sent nothing for (null).
  @Test(.enabled(if: available(root: true, tools: ["ip", "python3"])))
  func ndjsonValidates() throws {
    try requireTools(root: true, ["ip", "python3"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try Self.makePair(ns)
    defer { pair.close() }
    let kinds: SocketExtras.Kinds = [.info, .memory, .cgroup]
    let dumped = try Self.dump(ns, kinds, ports: [pair.port])
    let pipe = Pipe()
    let out = OutputBuffer(fd: pipe.fileHandleForWriting.fileDescriptor)
    let store = SocketExtrasStore(kinds: kinds)
    let json = SocketJSON(output: out)
    json.extras = SocketExtrasJSON(store: store, cgroups: CgroupPaths())
    try json.begin(Section())
    for d in dumped {
      if let x = d.extras { store.insert(x, for: d.record.cookie) }
      try json.write(d.record)
    }
    // A socket the kernel sent nothing for (a TIME_WAIT socket): every member asked, null.
    var bare = dumped[0].record
    bare.cookie = 0xdead
    try json.write(bare)
    // Extras of an old kernel: tcp_info cut after 104 bytes, six memory values.
    let short = [UInt8](repeating: 1, count: 104).withUnsafeBytes { TCPInfo(kernelBytes: $0) }
    store.insert(
      SocketExtras(tcpInfo: short, memory: SocketMemory(values: [1, 2, 3, 4, 5, 6])),
      for: 0xbeef)
    bare.cookie = 0xbeef
    try json.write(bare)
    try json.end()
    try pipe.fileHandleForWriting.close()
    let ndjson = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let lines = ndjson.split(separator: "\n")
    #expect(lines.count == 5)
    #expect(lines.allSatisfy { $0.contains("\"tcp_info\":") && $0.contains("\"cgroup_id\":") })
    #expect(lines[3].contains("\"tcp_info\":null,\"memory\":null,\"cgroup\":null"))
    // The last whole field of 104 bytes is total_retrans; pacing_rate (at 104) is not there.
    #expect(lines[4].contains("\"total_retrans\":16843009,\"send_rate_bps\""))
    #expect(!lines[4].contains("pacing_rate"))
    let fixtures = packageRoot.appendingPathComponent("Tests/swstatTests/Fixtures").path
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-extras-\(getpid()).ndjson")
    try ndjson.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let check = try runCommand([
      "/bin/sh", "-c",
      "/usr/bin/python3 '\(fixtures)/validate_ndjson.py' '\(fixtures)/socket.schema.json' < '\(file.path)'",
    ])
    #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    #expect(check.stdout.contains("5 lines valid"))
  }
}
