import Foundation

/// A loopback TCP connection of the test's own: a listener on 127.0.0.1 (or ::1), a client
/// connected to it and the accepted server end, after a known transfer (`bytes` client → server,
/// then `reply` bytes back), all read by the other end so the connection is idle. Create it on
/// a thread inside the namespace that should hold it (`NetworkNamespaces.run`).
public final class TransferPair: @unchecked Sendable {
  /// The listener's, the client's and the accepted server end's descriptors.
  public let listener: Int32, client: Int32, server: Int32
  /// The listener's port (the server end's local port, the client's remote one).
  public let port: UInt16
  /// The client's local port.
  public let clientPort: UInt16
  /// Bytes sent client → server, and server → client.
  public let sent: Int, replied: Int

  /// Makes the connection and moves the data. Throws when a socket call fails.
  public init(bytes: Int, reply: Int = 0, ipv6: Bool = false) throws {
    let family = ipv6 ? AF_INET6 : AF_INET
    let l = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    guard l >= 0 else { throw FixtureError.failed("socket: \(errno)") }
    guard Self.bind(l, ipv6: ipv6, port: 0) == 0, Glibc.listen(l, 8) == 0 else {
      Glibc.close(l)
      throw FixtureError.failed("bind/listen: \(errno)")
    }
    let port = Self.localPort(l)
    let c = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    guard Self.connect(c, ipv6: ipv6, port: port) == 0 else {
      Glibc.close(l)
      Glibc.close(c)
      throw FixtureError.failed("connect: \(errno)")
    }
    let s = Glibc.accept(l, nil, nil)
    guard s >= 0 else {
      Glibc.close(l)
      Glibc.close(c)
      throw FixtureError.failed("accept: \(errno)")
    }
    listener = l
    client = c
    server = s
    self.port = port
    clientPort = Self.localPort(c)
    sent = bytes
    replied = reply
    try Self.move(bytes, from: c, to: s)
    try Self.move(reply, from: s, to: c)
  }

  /// Closes all three descriptors.
  public func close() {
    Glibc.close(client)
    Glibc.close(server)
    Glibc.close(listener)
  }

  /// Sends `count` bytes from `a` and reads them all at `b`, in turns (one thread, bounded).
  static func move(_ count: Int, from a: Int32, to b: Int32) throws {
    var chunk = [UInt8](repeating: 0x61, count: 65536)
    var sentSoFar = 0
    var received = 0
    var rounds = 0
    while received < count {
      rounds += 1
      if rounds > 100_000 { throw FixtureError.failed("transfer stalled at \(received)") }
      if sentSoFar < count {
        let n = chunk.withUnsafeBytes {
          Glibc.send(a, $0.baseAddress, min($0.count, count - sentSoFar), Int32(MSG_DONTWAIT))
        }
        if n > 0 { sentSoFar += n }
      }
      let r = chunk.withUnsafeMutableBytes {
        Glibc.recv(b, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
      }
      if r > 0 {
        received += r
      } else if r == 0 {
        throw FixtureError.failed("peer closed after \(received)")
      } else if errno == EAGAIN {
        var p = [pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        _ = poll(&p, 1, 10)
      }
    }
  }

  /// The local port of `fd`.
  public static func localPort(_ fd: Int32) -> UInt16 {
    var a = sockaddr_in6()
    var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
    _ = withUnsafeMutablePointer(to: &a) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: a.sin6_port)  // sin_port and sin6_port share the offset
  }

  /// bind(2) to `port` on the loopback address.
  public static func bind(_ fd: Int32, ipv6: Bool, port: UInt16) -> Int32 {
    withAddress(ipv6: ipv6, port: port) { Glibc.bind(fd, $0, $1) }
  }

  /// connect(2) to `port` on the loopback address.
  public static func connect(_ fd: Int32, ipv6: Bool, port: UInt16) -> Int32 {
    withAddress(ipv6: ipv6, port: port) { Glibc.connect(fd, $0, $1) }
  }

  static func withAddress(
    ipv6: Bool, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
  ) -> Int32 {
    if ipv6 {
      var a = sockaddr_in6()
      a.sin6_family = sa_family_t(AF_INET6)
      a.sin6_port = port.bigEndian
      a.sin6_addr = in6addr_loopback
      return withUnsafePointer(to: &a) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
      }
    }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return withUnsafePointer(to: &a) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
  }
}

/// ss's `-i`/`-m` line of one socket as tokens: `name:value` pairs, the words ss prints with a
/// value after a space (`send 1234bps`, `pacing_rate …`, `delivery_rate …`), and bare words
/// (`cubic`, `app_limited`, `ts`) as `#word` mapped to "" (`bbr` is both a word and a token).
public func ssInfoTokens(_ line: String) -> [String: String] {
  var out: [String: String] = [:]
  let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
  var i = 0
  while i < words.count {
    let w = words[i]
    if ["send", "pacing_rate", "delivery_rate"].contains(w), i + 1 < words.count {
      out[w] = words[i + 1]
      i += 2
      continue
    }
    if let colon = w.firstIndex(of: ":") {
      out[String(w[..<colon])] = String(w[w.index(after: colon)...])
    } else {
      out["#" + w] = ""
    }
    i += 1
  }
  return out
}

/// `ss -H` output with `-i`/`-m`: each socket's row (its local and peer columns) and the line
/// under it, tokenised.
public func ssRowsWithInfo(_ text: String) -> [(
  local: String, peer: String, tokens: [String: String]
)] {
  var rows: [(String, String, [String: String])] = []
  for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
    if line.hasPrefix("\t") || line.hasPrefix(" ") {
      guard !rows.isEmpty else { continue }
      rows[rows.count - 1].2.merge(ssInfoTokens(String(line))) { $1 }
      continue
    }
    let f = line.split(separator: " ", omittingEmptySubsequences: true)
    guard f.count >= 5 else { continue }
    rows.append((String(f[3]), String(f[4]), [:]))
  }
  return rows.map { (local: $0.0, peer: $0.1, tokens: $0.2) }
}
