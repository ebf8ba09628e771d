import Glibc
import SwstatCore

/// The names netstat shows without -n: hosts through the resolver, ports through the services
/// database, users through the passwd database. Every answer is cached for the run.
public final class NameResolver {
  private var hosts4: [UInt32: [UInt8]] = [:]
  private var hosts6: [IPAddress: [UInt8]] = [:]
  private var tcpServices: [UInt16: [UInt8]]?
  private var udpServices: [UInt16: [UInt8]] = [:]
  private var users: [UInt32: [UInt8]?] = [:]
  private var protocols: [UInt16: [UInt8]]? = nil

  /// A resolver with empty caches.
  public init() {}

  /// net-tools `INET_rresolve`: gethostbyaddr's canonical name, else the dotted quad; 0.0.0.0
  /// stays 0.0.0.0.
  public func hostName(ipv4 v: UInt32) -> [UInt8] {
    if let hit = hosts4[v] { return hit }
    var name: [UInt8]
    var addr = in_addr(s_addr: v.bigEndian)
    if v != 0, let h = gethostbyaddr(&addr, socklen_t(MemoryLayout<in_addr>.size), AF_INET),
      let cname = h.pointee.h_name
    {
      name = Array(UnsafeRawBufferPointer(start: cname, count: strlen(cname)))
    } else {
      name = [UInt8](repeating: 0, count: 16)
      let n = name.withUnsafeMutableBufferPointer {
        // swift-format-ignore: NeverForceUnwrap
        AddressText.writeIPv4(v, into: $0.baseAddress!)
      }
      name.removeLast(16 - n)
    }
    hosts4[v] = name
    return name
  }

  /// net-tools `INET6_rresolve` + `fix_v4_address`: `[::]` for the unspecified address, else
  /// getnameinfo (which falls back to the numeric form); a v4-mapped answer loses its prefix.
  public func hostName(ipv6 address: IPAddress) -> [UInt8] {
    if address.isUnspecified { return Array("[::]".utf8) }
    if let hit = hosts6[address] { return hit }
    var sa = sockaddr_in6()
    sa.sin6_family = sa_family_t(AF_INET6)
    withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in
      for (i, b) in address.bytes.enumerated() { raw[i] = b }
    }
    var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    let rc = withUnsafePointer(to: &sa) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        getnameinfo(
          $0, socklen_t(MemoryLayout<sockaddr_in6>.size), &buf, socklen_t(buf.count), nil, 0, 0)
      }
    }
    var name: [UInt8]
    if rc == 0 {
      name = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    } else {
      name = [UInt8](repeating: 0, count: 64)
      let n = name.withUnsafeMutableBufferPointer {
        // swift-format-ignore: NeverForceUnwrap
        AddressText.writeIPv6(address.high, address.low, into: $0.baseAddress!)
      }
      name.removeLast(64 - n)
    }
    if address.isIPv4Mapped { name = Self.fixV4Address(name) }
    hosts6[address] = name
    return name
  }

  /// net-tools `fix_v4_address`: for `::ffff:a.b.c.d` text, the part after the last ':' that
  /// precedes the first '.'; any other text unchanged.
  public static func fixV4Address(_ text: [UInt8]) -> [UInt8] {
    guard let dot = text.firstIndex(of: 0x2e) else { return text }
    guard let colon = text[..<dot].lastIndex(of: 0x3a) else { return text }
    return Array(text[(colon + 1)...])
  }

  /// The services name of `port` for "tcp" or "udp" (tcp6/udp6 look up as tcp/udp), read once
  /// with getservent as netstat does; where a port is listed twice the last entry wins.
  public func serviceName(port: UInt16, transport: TransportProtocol) -> [UInt8]? {
    if tcpServices == nil { loadServices() }
    return transport == .tcp ? tcpServices?[port] : udpServices[port]
  }

  private func loadServices() {
    var tcp: [UInt16: [UInt8]] = [:]
    setservent(1)
    while let s = getservent() {
      guard let name = s.pointee.s_name, let proto = s.pointee.s_proto else { continue }
      let port = UInt16(bigEndian: UInt16(truncatingIfNeeded: s.pointee.s_port))
      let bytes = Array(UnsafeRawBufferPointer(start: name, count: strlen(name)))
      if strcmp(proto, "tcp") == 0 {
        tcp[port] = bytes
      } else if strcmp(proto, "udp") == 0 {
        udpServices[port] = bytes
      }
    }
    endservent()
    tcpServices = tcp
  }

  /// The login name of `uid`, or nil when the passwd database has none.
  public func userName(uid: UInt32) -> [UInt8]? {
    if let hit = users[uid] { return hit }
    var name: [UInt8]? = nil
    if let pw = getpwuid(uid), let n = pw.pointee.pw_name {
      name = Array(UnsafeRawBufferPointer(start: n, count: strlen(n)))
    }
    users[uid] = name
    return name
  }

  /// net-tools `read_services` for raw sockets: a raw "port" is an IP protocol number, named
  /// from the protocols database (getprotoent, /etc/protocols), each entry prepended to the
  /// list so that the last one for a number wins. (It adds services of protocol "raw" first;
  /// /etc/services has none, and protocols entries would shadow them anyway.)
  public func protocolName(_ number: UInt16) -> [UInt8]? {
    if protocols == nil {
      var names: [UInt16: [UInt8]] = [:]
      setprotoent(1)
      while let p = getprotoent() {
        guard let name = p.pointee.p_name else { continue }
        names[UInt16(truncatingIfNeeded: p.pointee.p_proto)] = Array(
          UnsafeRawBufferPointer(start: name, count: strlen(name)))
      }
      endprotoent()
      protocols = names
    }
    return protocols?[number]
  }
}
