import Glibc

extension FilterEnvironment {
  /// The running system: /etc/services and NSS for names, the interfaces and cgroups of the
  /// calling thread's namespaces, /proc/sys/net/ipv4/ip_local_port_range. Service names are
  /// looked up for tcp and udp; set `transports` to the tables being listed, as ss does.
  public static var system: FilterEnvironment {
    FilterEnvironment(
      servicePort: systemServicePort, hostAddresses: systemHostAddresses,
      interfaceIndex: { name in
        let index = if_nametoindex(name)
        return index == 0 ? nil : index
      },
      cgroupID: { CgroupPaths.id(ofPath: $0) }, ephemeralPorts: systemEphemeralPorts)
  }
}

/// getservbyname for one transport; the port it returns is in network order.
@Sendable private func systemServicePort(_ name: String, _ transport: TransportProtocol) -> UInt16?
{
  guard let entry = getservbyname(name, transport == .tcp ? "tcp" : "udp") else { return nil }
  return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
}

/// Every address getaddrinfo gives for `name`, IPv4 and IPv6, each once, in its order.
@Sendable private func systemHostAddresses(_ name: String) -> [IPAddress] {
  var hints = addrinfo()
  hints.ai_family = AF_UNSPEC
  hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
  var list: UnsafeMutablePointer<addrinfo>? = nil
  guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
  defer { freeaddrinfo(list) }
  var found: [IPAddress] = []
  var entry = list
  while let e = entry {
    defer { entry = e.pointee.ai_next }
    guard let sa = e.pointee.ai_addr else { continue }
    let address: IPAddress
    switch e.pointee.ai_family {
    case AF_INET:
      var sin = sockaddr_in()
      memcpy(&sin, sa, MemoryLayout<sockaddr_in>.size)
      address = withUnsafeBytes(of: &sin.sin_addr) { IPAddress(family: .inet, bytes: $0) }
    case AF_INET6:
      var sin6 = sockaddr_in6()
      memcpy(&sin6, sa, MemoryLayout<sockaddr_in6>.size)
      address = withUnsafeBytes(of: &sin6.sin6_addr) { IPAddress(family: .inet6, bytes: $0) }
    default: continue
    }
    if !found.contains(address) { found.append(address) }
  }
  return found
}

/// ip_local_port_range, or 1024-4999 when it cannot be read (ss's is_ephemeral does the same).
@Sendable private func systemEphemeralPorts() -> ClosedRange<UInt16> {
  let fallback: ClosedRange<UInt16> = 1024...4999
  guard let text = readSmallFile("/proc/sys/net/ipv4/ip_local_port_range") else { return fallback }
  let numbers = text.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a }).map {
    UInt16(String(decoding: $0, as: UTF8.self))
  }
  guard numbers.count >= 2, let lo = numbers[0], let hi = numbers[1], lo <= hi else {
    return fallback
  }
  return lo...hi
}

/// A whole small file (at most 1 MiB), read until end of file; nil when it cannot be read.
func readSmallFile(_ path: String) -> [UInt8]? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var out: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while out.count < 1 << 20 {
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { return n == 0 ? out : nil }
    out += buffer.prefix(n)
  }
  return out
}
