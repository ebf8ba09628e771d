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
      cgroupID: systemCgroupID, ephemeralPorts: systemEphemeralPorts)
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

/// The id of a cgroup v2 directory: its inode number on the cgroup2 file system (kernfs numbers
/// a cgroup's directory with the cgroup's id, which is what INET_DIAG_BC_CGROUP_COND compares).
/// `path` is tried as given, then under the cgroup2 mount (`/` is the mount's root), as ss's
/// get_cgroup2_id does.
@Sendable private func systemCgroupID(_ path: String) -> UInt64? {
  guard !path.utf8.contains(0), let mount = cgroup2Mount() else { return nil }
  var root = stat()
  guard stat(mount, &root) == 0 else { return nil }
  if path != "/", let id = cgroupDirectory(path, device: root.st_dev) { return id }
  let relative = path.drop { $0 == "/" }
  return cgroupDirectory(relative.isEmpty ? mount : mount + "/" + relative, device: root.st_dev)
}

/// The inode of a directory on the file system `device` (the cgroup2 mount's).
private func cgroupDirectory(_ path: String, device: dev_t) -> UInt64? {
  var st = stat()
  guard stat(path, &st) == 0, st.st_dev == device, st.st_mode & S_IFMT == S_IFDIR else {
    return nil
  }
  return UInt64(st.st_ino)
}

/// The first cgroup2 mount point in /proc/self/mounts (its octal escapes undone).
private func cgroup2Mount() -> String? {
  guard let text = readSmallFile("/proc/self/mounts") else { return nil }
  for line in text.split(separator: UInt8(ascii: "\n")) {
    let fields = line.split(separator: UInt8(ascii: " "))
    guard fields.count >= 3, fields[2].elementsEqual("cgroup2".utf8) else { continue }
    var out: [UInt8] = []
    var i = fields[1].startIndex
    while i < fields[1].endIndex {
      let rest = fields[1][i...]
      if rest.first == UInt8(ascii: "\\"), rest.count >= 4,
        let code = UInt8(String(decoding: rest.dropFirst().prefix(3), as: UTF8.self), radix: 8)
      {
        out.append(code)
        i = fields[1].index(i, offsetBy: 4)
      } else {
        out.append(fields[1][i])
        i = fields[1].index(after: i)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
  return nil
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
private func readSmallFile(_ path: String) -> [UInt8]? {
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
