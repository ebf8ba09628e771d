import Glibc

/// A loopback address and port: 127.0.0.`host` for IPv4, ::1 for IPv6. Nothing else is ever
/// bound or connected to.
struct LoopbackEndpoint: CustomStringConvertible {
  var family: Int32
  var host: UInt8
  var port: UInt16
  /// The listening socket at this endpoint, once there is one.
  var fd: Int32 = -1

  var description: String {
    family == AF_INET6 ? "[::1]:\(port)" : "127.0.0.\(host):\(port)"
  }

  /// Calls `body` with this endpoint as a sockaddr and its length (for bind and connect).
  func withSockaddr(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    if family == AF_INET6 {
      var address = sockaddr_in6()
      address.sin6_family = sa_family_t(AF_INET6)
      address.sin6_port = port.bigEndian
      address.sin6_addr = in6addr_loopback
      return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
      }
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = (UInt32(127) << 24 | UInt32(host)).bigEndian
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
  }
}

/// Hands out listening ports from outside net.ipv4.ip_local_port_range, so listeners do not
/// eat the ephemeral ports the clients need. Each worker starts at its own offset in the list;
/// IPv4 moves on to 127.0.0.2, 127.0.0.3, ... when an address is full.
final class PortAllocator {
  private let family: Int32
  private let ports: [UInt16]
  private var position = 0
  private var host: UInt8 = 1

  init(family: Int32, index: Int, of workers: Int) {
    self.family = family
    var low = 32768
    var high = 60999
    if let text = try? readSmallFile("/proc/sys/net/ipv4/ip_local_port_range") {
      let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }
      if fields.count == 2 { (low, high) = (fields[0], fields[1]) }
    }
    var service = (10000...65535).filter { $0 < low || $0 > high }.map { UInt16($0) }
    if service.isEmpty { service = (10000...65535).map { UInt16($0) } }
    let start = service.count * index / max(1, workers)
    ports = Array(service[start...] + service[..<start])
  }

  /// Binds `fd` to the next free endpoint. Bounded: fails after trying every port on every
  /// address it may use.
  func bind(_ fd: Int32) throws -> LoopbackEndpoint {
    let lastHost: UInt8 = family == AF_INET ? 254 : 1
    while true {
      while position < ports.count {
        let endpoint = LoopbackEndpoint(family: family, host: host, port: ports[position])
        position += 1
        if endpoint.withSockaddr({ Glibc.bind(fd, $0, $1) }) == 0 { return endpoint }
        guard errno == EADDRINUSE || errno == EACCES else {
          throw BenchError.system("bind \(endpoint)")
        }
      }
      guard host < lastHost else { throw BenchError("no free loopback port left to listen on") }
      host += 1
      position = 0
    }
  }
}
