import FlyingFox
import FlyingSocks
import Foundation
import Synchronization

/// Answers scrapes: each GET /metrics is a fresh dump. A failed dump is a 500 whose body says
/// why, and counts in `swstat_scrape_errors_total`; the server goes on serving.
final class MetricsEndpoint: Sendable {
  let collector: Collector
  /// Scrapes that failed so far.
  let errors = Atomic<Int>(0)

  init(collector: Collector) { self.collector = collector }

  /// The response to one scrape, negotiated from its Accept header.
  func scrape(accept: String?) -> (status: Int, contentType: String, body: [UInt8]) {
    let format = ExpositionFormat(accept: accept)
    do {
      let scrape = try collector.collect()
      let body = Exposition.render(scrape, errors: errors.load(ordering: .relaxed), format: format)
      return (200, format.contentType, body)
    } catch {
      errors.add(1, ordering: .relaxed)
      return (500, "text/plain; charset=utf-8", Array("swstat: \(error)\n".utf8))
    }
  }
}

/// The HTTP side, on FlyingFox: /metrics, a one-line index at /, 404 elsewhere.
struct MetricsServer {
  let address: ListenAddress
  let endpoint: MetricsEndpoint

  /// FlyingFox's server for `address`, with its routes; its own logging is off (the exporter
  /// says what it needs on stderr).
  func makeServer() throws -> HTTPServer {
    let server: HTTPServer
    if address.isIPv6 {
      server = HTTPServer(
        address: try sockaddr_in6.inet6(ip6: address.host, port: address.port), logger: .disabled)
    } else {
      server = HTTPServer(
        address: try sockaddr_in.inet(ip4: address.host, port: address.port), logger: .disabled)
    }
    return server
  }

  /// Adds the routes to `server`.
  func addRoutes(to server: HTTPServer) async {
    let endpoint = self.endpoint
    await server.appendRoute("GET /metrics") { request in
      let (status, contentType, body) = endpoint.scrape(
        accept: request.headers[HTTPHeader("Accept")])
      return HTTPResponse(
        statusCode: status == 200 ? .ok : .internalServerError,
        headers: [.contentType: contentType], body: Data(body))
    }
    await server.appendRoute("GET /") { _ in
      HTTPResponse(
        statusCode: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
        body: Data("swstat exporter: metrics at /metrics\n".utf8))
    }
  }

  /// "127.0.0.1:41234" for the address the server actually bound (port 0 resolved).
  static func text(_ address: Socket.Address?) -> String? {
    switch address {
    case .ip4(let host, let port): "\(host):\(port)"
    case .ip6(let host, let port): "[\(host)]:\(port)"
    default: nil
    }
  }
}
