import Glibc
import Synchronization

/// Answers scrapes: each is a fresh dump. A failed dump is a 500 whose body says why, and
/// counts in `swstat_scrape_errors_total` (once per scrape answered so); the server goes on.
final class MetricsEndpoint: Sendable {
  let collector: Collector
  /// Scrapes that failed so far.
  let errors = Atomic<Int>(0)

  init(collector: Collector) { self.collector = collector }

  /// One dump answers scrapes in `formats`, one response each, in order.
  func scrape(formats: [ExpositionFormat]) -> [HTTPResponse] {
    do {
      let scrape = try collector.collect()
      var rendered: [ExpositionFormat: HTTPResponse] = [:]
      return formats.map { format in
        if let response = rendered[format] { return response }
        let body = Exposition.render(
          scrape, errors: errors.load(ordering: .relaxed), format: format)
        let response = HTTPResponse(status: 200, contentType: format.contentType, body: body)
        rendered[format] = response
        return response
      }
    } catch {
      errors.add(formats.count, ordering: .relaxed)
      return Array(repeating: .text(500, "swstat: \(error)"), count: formats.count)
    }
  }
}

/// The exporter's pages: /metrics and a one-line index at /, for GET and HEAD; 405 for other
/// methods there, 404 elsewhere.
enum MetricsRoutes {
  /// The methods served.
  static let allow = "GET, HEAD"

  static func route(_ head: HTTPRequestHead) -> HTTPRoute {
    let served = head.method == "GET" || head.method == "HEAD"
    switch head.path {
    case "/metrics", "/":
      guard served else {
        var response = HTTPResponse.text(405, "swstat: \(head.method) not allowed; use GET or HEAD")
        response.extraFields = [("Allow", allow)]
        return .respond(response)
      }
      if head.path == "/" { return .respond(.text(200, "swstat exporter: metrics at /metrics")) }
      return .scrape(ExpositionFormat(accept: head.joined("accept")))
    case "*" where head.method == "OPTIONS":
      var response = HTTPResponse(status: 200, body: [])
      response.extraFields = [("Allow", allow)]
      return .respond(response)
    case "*":
      return .respond(.text(400, "swstat: bad request: * is a target for OPTIONS only"))
    default:
      return .respond(.text(404, "swstat: not found; metrics are at /metrics"))
    }
  }
}

/// Opens the listening socket for `address`: non-blocking, SO_REUSEADDR (a restart does not
/// wait for old connections in TIME_WAIT), backlog SOMAXCONN so that a burst of connections is
/// queued by the kernel, not refused, while the loop accepts it.
func openListener(_ address: ListenAddress) throws(ExportError) -> Int32 {
  let family = address.isIPv6 ? AF_INET6 : AF_INET
  let fd = socket(
    family,
    Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
      | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw .listen(address: address.description, errno: .init(rawValue: errno)) }
  var one: Int32 = 1
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
  var rc: Int32
  if address.isIPv6 {
    var sa = sockaddr_in6()
    sa.sin6_family = sa_family_t(AF_INET6)
    sa.sin6_port = address.port.bigEndian
    _ = inet_pton(AF_INET6, address.host, &sa.sin6_addr)
    rc = withUnsafePointer(to: &sa) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
      }
    }
  } else {
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = address.port.bigEndian
    _ = inet_pton(AF_INET, address.host, &sa.sin_addr)
    rc = withUnsafePointer(to: &sa) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
  }
  if rc == 0 { rc = listen(fd, SOMAXCONN) }
  guard rc == 0 else {
    let error = errno
    close(fd)
    throw .listen(address: address.description, errno: .init(rawValue: error))
  }
  return fd
}

/// "127.0.0.1:41234" or "[::1]:41234": the address a socket is bound to (port 0 resolved).
func boundAddress(_ fd: Int32) -> String? {
  var storage = sockaddr_storage()
  var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
  let rc = withUnsafeMutablePointer(to: &storage) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  guard rc == 0 else { return nil }
  var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
  func string(_ text: [CChar]) -> String {
    String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
  let family = storage.ss_family
  return withUnsafePointer(to: &storage) { raw -> String? in
    if family == sa_family_t(AF_INET6) {
      return raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa -> String? in
        var addr = sa.pointee.sin6_addr
        guard inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil else { return nil }
        return "[\(string(text))]:\(UInt16(bigEndian: sa.pointee.sin6_port))"
      }
    }
    return raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa -> String? in
      var addr = sa.pointee.sin_addr
      guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
      return "\(string(text)):\(UInt16(bigEndian: sa.pointee.sin_port))"
    }
  }
}
