import Foundation
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import Testing

/// `--info`, `--memory`, `--cgroup`, SOCK_DESTROY and the final tcp_info of destroy
/// notifications, on real sockets of the test's own in a network namespace it makes (root:
/// the namespace, the cgroup, the multicast groups, SOCK_DESTROY).
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ExtrasLiveTests {
  static let oneMiB = 1 << 20

  /// The pair's three sockets (listener, client, server end) in a dump with `extras`.
  static func dump(_ pair: TransferPair, _ extras: SocketExtras.Kinds) throws -> [Seen] {
    try dumpAll(extras).filter { $0.local.port == pair.port || $0.remote.port == pair.port }
  }

  /// Every IPv4 TCP socket of a dump asking for `extras`, each with what the store has for it.
  static func dumpAll(_ extras: SocketExtras.Kinds, filter: SocketFilter = SocketFilter()) throws
    -> [Seen]
  {
    let store = extras.isEmpty ? nil : SocketExtrasStore(kinds: extras)
    let query = SocketQuery(
      transports: [.tcp], families: [.inet], filter: filter, extras: store)
    var seen: [Seen] = []
    try NetlinkSource().forEach(query) { r in
      seen.append(Seen(record: copy r, extras: store?.take(for: r)))
    }
    #expect(store?.count ?? 0 == 0, "every record took its extras")
    return seen
  }

  /// ss's row for a record, by its ends.
  static func ssRow(
    _ r: Seen, in rows: [(local: String, peer: String, tokens: [String: String])]
  ) -> [String: String]? {
    let local = "127.0.0.1:\(r.local.port)"
    let peer = r.remote.port == 0 ? "0.0.0.0:*" : "127.0.0.1:\(r.remote.port)"
    return rows.first { $0.local == local && $0.peer == peer }?.tokens
  }

  /// The error of a kill, nil when it worked.
  static func failure(_ r: Result<Void, SocketKillError>) -> SocketKillError? {
    if case .failure(let e) = r { return e }
    return nil
  }

  /// `0.035` (ss's `%g` of µs / 1000) back to microseconds.
  static func micros(_ text: String?) -> Double? { text.flatMap(Double.init).map { $0 * 1000 } }

  /// After 1 MiB one way and 64 KiB back, then idle, the decoded tcp_info equals what
  /// `ss -tnmi` prints for the fields that do not move while idle, and the moving ones are
  /// close; `--memory`'s rb and tb equal ss's.
  @Test(.enabled(if: available(root: true, tools: ["ss", "ip"])))
  func infoAndMemoryMatchSS() throws {
    try requireTools(root: true, ["ss", "ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try ns.perform { try TransferPair(bytes: Self.oneMiB, reply: 65536) }
    defer { pair.close() }
    usleep(300_000)  // let delayed ACKs go out: idle from here on
    let before = try ns.perform { try Self.dump(pair, [.info, .memory]) }
    let ss = try ns.run(["ss", "-tnmiH", "-a", "sport = :\(pair.port) or dport = :\(pair.port)"])
    let after = try ns.perform { try Self.dump(pair, [.info, .memory]) }
    #expect(ss.status == 0, "\(ss.stderr)")
    let rows = ssRowsWithInfo(ss.stdout)
    #expect(before.count == 3 && after.count == 3 && rows.count == 3, "\(ss.stdout)")
    for r in before {
      let info = try #require(r.extras?.tcpInfo, "no tcp_info for \(r.local.port)")
      let tokens = try #require(Self.ssRow(r, in: rows), "ss lacks \(r.local) \(r.remote)")
      let label = "\(r.local.port)→\(r.remote.port)"
      #expect(info.length >= 232, "the running kernel sends \(info.length) bytes (6.18: 280)")
      // Fields that do not move while idle: exactly ss's (absent in ss = zero or hidden).
      func same(_ name: String, _ value: UInt64?, hiddenWhenZero: Bool = true) {
        let shown = tokens[name]
        let mine = value.flatMap { hiddenWhenZero && $0 == 0 ? nil : String($0) }
        #expect(mine == shown, "\(label) \(name): swstat \(mine ?? "-"), ss \(shown ?? "-")")
      }
      same("mss", info.sendMSS.map(UInt64.init))
      same("cwnd", info.congestionWindow.map(UInt64.init))
      same("ssthresh", info.slowStartThreshold.flatMap { $0 < 0xFFFF ? UInt64($0) : nil })
      same("bytes_sent", info.bytesSent)
      same("bytes_acked", info.bytesAcknowledged)
      same("bytes_received", info.bytesReceived)
      same("segs_out", info.segmentsOut.map(UInt64.init))
      same("segs_in", info.segmentsIn.map(UInt64.init))
      same("data_segs_out", info.dataSegmentsOut.map(UInt64.init))
      same("data_segs_in", info.dataSegmentsIn.map(UInt64.init))
      same("rcvmss", info.receiveMSS.map(UInt64.init))
      same("advmss", info.advertisedMSS.map(UInt64.init))
      same("pmtu", info.pathMTU.map(UInt64.init))
      same("snd_wnd", info.sendWindow.map(UInt64.init))
      same("rcv_space", info.receiveSpace.map(UInt64.init))
      if r.stateCode != SocketState.listen.rawValue {
        let scale = "\(info.sendWindowScale ?? 99),\(info.receiveWindowScale ?? 99)"
        #expect(
          tokens["wscale"] == scale, "\(label) wscale: \(scale), ss \(tokens["wscale"] ?? "-")")
      }
      #expect(r.extras?.congestion != nil)
      #expect(
        tokens["#" + (r.extras?.congestion ?? "?")] == "",
        "\(label): ss names no \(r.extras?.congestion ?? "-")")
      // BBR's own info (the default congestion control here): ss's bbr:(bw:…,mrtt:…,…).
      if let bbr = r.extras?.bbr, let shown = tokens["bbr"] {
        #expect(shown.hasPrefix("(bw:\(bbr.bandwidth * 8)bps,"), "\(label) bbr \(shown)")
      }
      // The transfer itself, as the test made it.
      if r.local.port == pair.clientPort {
        #expect(info.bytesAcknowledged == UInt64(Self.oneMiB) + 1)  // + the SYN
        #expect(info.bytesReceived == 65536)
      } else if r.stateCode == SocketState.established.rawValue {
        #expect(info.bytesReceived == UInt64(Self.oneMiB))
        // The passive end's count starts after its SYN-ACK (Linux 6.18 counts 65536).
        #expect((65536...65537).contains(info.bytesAcknowledged ?? 0))
      }
      // Moving ones: within tolerance.
      if let rtt = info.roundTripTime, rtt > 0, let shown = tokens["rtt"] {
        let ssRTT = Self.micros(String(shown.split(separator: "/")[0])) ?? -1
        #expect(
          abs(Double(rtt) - ssRTT) <= max(2000, Double(rtt) / 2), "\(label) rtt \(rtt) vs \(shown)")
      }
      if let rto = info.retransmissionTimeout, let ssRTO = Self.micros(tokens["rto"]) {
        #expect(abs(Double(rto) - ssRTO) <= 50_000, "\(label) rto")
      }
      for (name, mine) in [
        ("lastsnd", info.lastDataSent), ("lastrcv", info.lastDataReceived),
        ("lastack", info.lastAckReceived),
      ] {
        guard let mine, mine > 0, let theirs = tokens[name].flatMap(Double.init) else { continue }
        #expect(abs(Double(mine) - theirs) <= 3000, "\(label) \(name) \(mine) vs \(theirs)")
      }
      // --memory: the buffer sizes are ss's.
      let m = try #require(r.extras?.memory)
      let skmem = tokens["skmem"] ?? ""
      #expect(skmem.contains("rb\(m.receiveBuffer ?? 0),"), "\(label) rb: \(skmem)")
      #expect(skmem.contains("tb\(m.transmitBuffer ?? 0),"), "\(label) tb: \(skmem)")
      #expect(m.drops != nil, "the kernel sends all nine values")
    }
    // Nothing moved between the two dumps but the clocks.
    for (a, b) in zip(
      before.sorted { $0.local.port < $1.local.port },
      after.sorted { $0.local.port < $1.local.port })
    {
      #expect(a.extras?.tcpInfo?.bytesAcknowledged == b.extras?.tcpInfo?.bytesAcknowledged)
      #expect(a.extras?.tcpInfo?.segmentsOut == b.extras?.tcpInfo?.segmentsOut)
    }
  }

  /// The decoder's offsets are the kernel's: the client's tcp_info from the dump equals the one
  /// getsockopt(TCP_INFO) returns for the same socket (the same struct, decoded the same way)
  /// in every field that does not move.
  @Test(.enabled(if: available(root: true, tools: ["ip"])))
  func decoderMatchesGetsockopt() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try ns.perform { try TransferPair(bytes: 300_000, reply: 1000) }
    defer { pair.close() }
    usleep(200_000)
    var bytes = [UInt8](repeating: 0, count: 512)
    var len = socklen_t(bytes.count)
    let rc = bytes.withUnsafeMutableBytes {
      getsockopt(pair.client, Int32(IPPROTO_TCP), TCP_INFO, $0.baseAddress, &len)
    }
    try #require(rc == 0)
    let direct = bytes.withUnsafeBytes {
      TCPInfo(kernelBytes: UnsafeRawBufferPointer(rebasing: $0.prefix(Int(len))))
    }
    let records = try ns.perform { try Self.dump(pair, [.info]) }
    let client = try #require(records.first { $0.local.port == pair.clientPort })
    let dumped = try #require(client.extras?.tcpInfo)
    var a = direct
    var b = dumped
    // The clocks move between the two reads.
    for i in [\TCPInfo.lastDataSent, \.lastDataReceived, \.lastAckReceived] {
      a[keyPath: i] = nil
      b[keyPath: i] = nil
    }
    #expect(a == b)
    #expect(dumped.bytesAcknowledged == 300_001)
    #expect(dumped.bytesReceived == 1000)
    #expect(dumped.state == SocketState.established.rawValue)
  }

  /// A process started in a cgroup the test creates: its sockets carry that cgroup's id, the id
  /// maps back to the path, and the cgroup filter (INET_DIAG_BC_CGROUP_COND, compiled by the
  /// filter language) selects only its sockets.
  @Test(.enabled(if: available(root: true, tools: ["ip", "nsenter", "python3"])))
  func cgroupPathAndFilter() throws {
    try requireTools(root: true, ["ip", "nsenter", "python3"])
    let mount = try #require(CgroupPaths.systemMount(), "no cgroup2 mount")
    let name = "swstat-ssdepth-\(getpid())"
    let directory = mount + "/" + name
    try #require(mkdir(directory, 0o755) == 0 || errno == EEXIST)
    defer { rmdir(directory) }
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    // The child joins the cgroup first, then makes a listener and a connection to it.
    let script = """
      import socket, sys
      open(sys.argv[1] + '/cgroup.procs', 'w').write('0')
      l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()
      c = socket.create_connection(l.getsockname()); s, _ = l.accept()
      print(l.getsockname()[1], flush=True)
      sys.stdin.read()
      """
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    // nsenter, not `ip netns exec`: that mounts a sysfs of its own and hides the cgroup2 mount.
    child.arguments = [
      "nsenter", "--net=/run/netns/\(ns.name)", "python3", "-c", script, directory,
    ]
    let out = Pipe()
    let input = Pipe()
    child.standardOutput = out
    child.standardInput = input
    try child.run()
    defer {
      try? input.fileHandleForWriting.close()
      child.waitUntilExit()
    }
    let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
    let port = try #require(UInt16(line.trimmingCharacters(in: .whitespacesAndNewlines)))
    // One socket of the test's own, outside the cgroup, in the same namespace.
    let other = try ns.perform { try TransferPair(bytes: 10) }
    defer { other.close() }

    let id = try #require(CgroupPaths.id(ofPath: directory))
    #expect(CgroupPaths.id(ofPath: "/" + name) == id, "a path under the mount works too")
    let records = try ns.perform { try Self.dumpAll([.cgroup]) }
    let theirs = records.filter { $0.local.port == port || $0.remote.port == port }
    #expect(theirs.count == 3)
    #expect(theirs.allSatisfy { $0.extras?.cgroupID == id })
    let mine = records.filter { $0.local.port == other.port || $0.remote.port == other.port }
    #expect(mine.count == 3 && mine.allSatisfy { $0.extras?.cgroupID != id })
    let paths = CgroupPaths()
    #expect(paths.pathString(of: id) == "/" + name)
    #expect(paths.pathString(of: 1) == "/" || paths.count > 0)
    #expect(paths.pathString(of: 0xdead_beef_0000) == "unreachable:deadbeef0000")
    // Without --cgroup the records carry nothing.
    let plain = try ns.perform { try Self.dumpAll([]) }
    #expect(plain.allSatisfy { $0.extras == nil })

    // The filter: `cgroup PATH` in the filter language, and the same ANDed into a filter that
    // already has an expression, pushed into the kernel.
    let filter = try ExpressionFilter.parse(["cgroup", directory], environment: .system)
    var added = SocketFilter(
      expression: try ExpressionFilter.parse(["sport >= :1"], environment: .system))
    let found = added.requireCgroup(path: "/" + name)
    #expect(found)
    let missing = added.requireCgroup(path: "/no-such-cgroup-\(getpid())")
    #expect(!missing)
    for (verify, socketFilter) in [
      (true, SocketFilter(expression: filter)), (false, SocketFilter(expression: filter)),
      (false, added),
    ] {
      let selected = try ns.perform {
        try NetlinkSource(verifyInSwift: verify).snapshot(
          SocketQuery(transports: [.tcp], families: [.inet], filter: socketFilter))
      }
      #expect(
        Set(selected.map(\.local.port)) == Set(theirs.map(\.local.port)),
        "verify \(verify): \(selected.map(\.local.port))")
    }
  }

  /// SOCK_DESTROY closes exactly the chosen socket: its peer sees a reset (and, reset, leaves
  /// the table too), another connection to the same listener and the listener stay; closing
  /// it again, or naming it with another cookie, says it is gone.
  @Test(.enabled(if: available(root: true, tools: ["ip"])))
  func killClosesExactlyOneSocket() throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let pair = try ns.perform { try TransferPair(bytes: 1000) }
    defer { pair.close() }
    // A second connection to the same listener, which must survive.
    let second = try ns.perform { () throws -> (Int32, Int32) in
      let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      guard TransferPair.connect(c, ipv6: false, port: pair.port) == 0 else {
        throw FixtureError.failed("connect: \(errno)")
      }
      return (c, accept(pair.listener, nil, nil))
    }
    defer {
      close(second.0)
      close(second.1)
    }
    let secondPort = TransferPair.localPort(second.0)
    typealias Outcome = Result<Void, SocketKillError>
    let (before, closed, again, wrongCookie, remaining) = try ns.perform {
      () throws -> ([Seen], Outcome, Outcome, Outcome, [Seen]) in
      let records = try Self.dump(pair, [])
      let server = try #require(
        records.first { $0.local.port == pair.port && $0.remote.port == pair.clientPort }
      ).record
      let killer = try SocketKiller()
      var other = server
      other.cookie &+= 1_000_000  // the same ends under a cookie that names no socket
      let wrong = Result { () throws(SocketKillError) in try killer.kill(other) }
      let first = Result { () throws(SocketKillError) in try killer.kill(server) }
      let second = Result { () throws(SocketKillError) in try killer.kill(server) }
      return (records, first, second, wrong, try Self.dump(pair, []))
    }
    #expect(before.count == 5)
    #expect(Self.failure(closed) == nil, "\(closed)")
    #expect(Self.failure(again) == .gone)
    #expect(Self.failure(wrongCookie) == .gone)
    // The killed socket's peer got the reset.
    var byte: UInt8 = 0
    let n = recv(pair.client, &byte, 1, 0)
    #expect(n < 0 && errno == ECONNRESET)
    // The listener and the other connection are untouched; the killed socket is gone, and so
    // is its peer (reset to CLOSE, unhashed).
    let left = Set(remaining.map { "\($0.local.port)→\($0.remote.port)" })
    #expect(
      left == ["\(pair.port)→0", "\(pair.port)→\(secondPort)", "\(secondPort)→\(pair.port)"],
      "\(left)")
    #expect(SocketKillError.permissionDenied.description.contains("CAP_NET_ADMIN"))
    #expect(SocketKillError.notSupported.description.contains("CONFIG_INET_DIAG_DESTROY"))
  }

  /// A destroy notification carries the connection's final tcp_info: what it sent and
  /// received, as the test moved it, for a graceful close (the client's full socket is destroyed
  /// as it enters TIME_WAIT) and an abortive one (SO_LINGER 0: the kernel clears the ends
  /// before it announces the socket, so only the cookie tells which it was).
  @Test(.enabled(if: available(root: true, tools: ["ip"])), arguments: [false, true])
  func destroyNotificationCarriesFinalBytes(abortive: Bool) throws {
    try requireTools(root: true, ["ip"])
    let ns = try NetworkNamespace()
    defer { ns.delete() }
    let (live, records, plain, udpSeen) = try ns.perform {
      () throws -> ([Seen], [Seen], [Seen], [Seen]) in
      let store = SocketExtrasStore(kinds: [.info])
      let monitor = try DestroyMonitor(tcp: true, udp: true, extras: store)
      // One that asks for what notifications never carry: nothing is decoded for it.
      let bareStore = SocketExtrasStore(kinds: [.memory, .cgroup])
      let bare = try DestroyMonitor(tcp: true, udp: false, extras: bareStore)
      let pair = try TransferPair(bytes: 200_000, reply: 3000)
      let live = try Self.dump(pair, [])
      if abortive {
        var abort = linger(l_onoff: 1, l_linger: 0)
        setsockopt(
          pair.client, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
      }
      // A UDP socket closed too: its notification carries no tcp_info.
      let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
      try #require(TransferPair.bind(udp, ipv6: false, port: 0) == 0)
      var udpCookie: UInt64 = 0
      let udpPort = TransferPair.localPort(udp)
      try NetlinkSource().forEach(SocketQuery(transports: [.udp], families: [.inet])) {
        if $0.local.port == udpPort { udpCookie = $0.cookie }
      }
      close(udp)
      pair.close()
      let cookies = Set(live.map(\.cookie))
      var seen: [Seen] = []
      var seenBare: [Seen] = []
      var seenUDP: [Seen] = []
      for _ in 0..<40 {
        if seen.count >= 3 && seenBare.count >= 3 && !seenUDP.isEmpty { break }
        var p = [
          pollfd(fd: monitor.fd, events: Int16(POLLIN), revents: 0),
          pollfd(fd: bare.fd, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&p, 2, 50)
        _ = try monitor.drain(SocketQuery()) { r in
          let extras = store.take(for: r)
          if cookies.contains(r.cookie) { seen.append(Seen(record: copy r, extras: extras)) }
          if r.cookie == udpCookie { seenUDP.append(Seen(record: copy r, extras: extras)) }
        }
        _ = try bare.drain(SocketQuery()) { r in
          let extras = bareStore.take(for: r)
          if cookies.contains(r.cookie) { seenBare.append(Seen(record: copy r, extras: extras)) }
        }
      }
      return (live, seen, seenBare, seenUDP)
    }
    #expect(udpSeen.count == 1 && udpSeen.first?.transport == .udp)
    #expect(udpSeen.first.map { $0.extras == nil } == true, "UDP notifications have no tcp_info")
    #expect(records.count == 3 && plain.count == 3)
    let clientCookie = try #require(
      live.first {
        $0.remote.port != 0
          && $0.remote.port
            == live.first { $0.stateCode == SocketState.listen.rawValue }?.local.port
      }?.cookie)
    let client = try #require(records.first { $0.cookie == clientCookie })
    let server = try #require(
      records.first { $0.cookie != clientCookie && $0.stateCode != SocketState.listen.rawValue })
    let totals = try #require(client.extras?.totals)
    let serverTotals = try #require(server.extras?.totals)
    if abortive {
      // close() with SO_LINGER 0 runs tcp_disconnect, which clears the ends and the counters
      // before the socket is freed and announced: the closing side's totals are all 0. Its
      // peer, reset, keeps everything.
      #expect(client.remote.port == 0)
      #expect(totals.bytesAcknowledged == 0 && totals.bytesReceived == 0)
      #expect(serverTotals.bytesReceived == 200_000)
      #expect((3000...3001).contains(serverTotals.bytesAcknowledged ?? 0))
    } else {
      // Sequence numbers count: the SYN and the FIN are one byte each.
      #expect(client.remote.port != 0)
      #expect(totals.bytesAcknowledged == 200_002)
      #expect(totals.bytesReceived == 3001)
      #expect(totals.bytesSent == 200_000)
      #expect(serverTotals.bytesReceived == 200_001)
      #expect((3001...3002).contains(serverTotals.bytesAcknowledged ?? 0))
    }
    #expect(totals.retransmittedSegments == 0)
    #expect(serverTotals.bytesSent == 3000)
    // Not asked, not decoded.
    #expect(plain.allSatisfy { $0.extras == nil })
  }
}

/// A record of a test dump and the extras its store had for it.
@dynamicMemberLookup
struct Seen {
  var record: SocketRecord
  var extras: SocketExtras?
  subscript<T>(dynamicMember path: KeyPath<SocketRecord, T>) -> T { record[keyPath: path] }
}
