import Testing

@testable import swstat_export

/// The request head parser and the routes, without sockets.
@Suite struct HTTPParserTests {
  func parse(_ text: String, limit: Int = 8192) throws(HTTPHeadError) -> HTTPRequestHead? {
    var parser = HTTPHeadParser(limit: limit)
    guard case .head(let head, _) = try parser.advance(Array(text.utf8)) else { return nil }
    return head
  }

  @Test func requestLineAndFields() throws {
    let head = try #require(
      try parse(
        "\r\nGET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  text/plain \r\nAccept: b\n\n"))
    #expect(head.method == "GET")
    #expect(head.target == "/metrics?x=1")
    #expect(head.path == "/metrics")
    #expect(head.minorVersion == 1)
    #expect(head.joined("accept") == "text/plain, b")
    #expect(head.keepAlive)
    #expect(try parse("GET http://h:1/metrics HTTP/1.0\r\n\r\n")?.path == "/metrics")
    #expect(try parse("GET /metrics HTTP/1.0\r\n\r\n")?.keepAlive == false)
    #expect(
      try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\n")?.keepAlive == false)
    #expect(
      try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")?.keepAlive == false)
    #expect(try parse("GET / HTTP/1.1\r\nHost: a\r\n") == nil)
  }

  /// The head may take `limit` bytes, its last line end included; one more is refused, with
  /// 414 while the request line is still unfinished.
  @Test func limits() throws {
    let start = "GET / HTTP/1.1\r\nHost: a\r\nX: "
    let exact = start + String(repeating: "b", count: 100 - start.utf8.count - 4) + "\r\n\r\n"
    #expect(exact.utf8.count == 100)
    #expect(try parse(exact, limit: 100) != nil)
    #expect(throws: HTTPHeadError.headTooLarge) { try parse(exact, limit: 99) }
    #expect(throws: HTTPHeadError.uriTooLong) {
      try parse("GET /" + String(repeating: "a", count: 200), limit: 100)
    }
    #expect(throws: HTTPHeadError.headTooLarge) {
      try parse("GET / HTTP/1.1\r\n" + String(repeating: "a", count: 200), limit: 100)
    }
  }

  /// Fed one byte at a time, an 8 KiB head costs each byte a fixed number of looks: the work
  /// grows with the bytes, not with their square.
  @Test func linearInBytes() throws {
    let head =
      "GET /metrics HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-Field: value\r\n", count: 500)
      + "\r\n"
    let bytes = Array(head.utf8)
    var parser = HTTPHeadParser(limit: 8192)
    var input: [UInt8] = []
    var found = false
    for byte in bytes {
      input.append(byte)
      if case .head = try parser.advance(input) { found = true }
    }
    #expect(found)
    #expect(parser.examined <= 2 * bytes.count, "\(parser.examined) looks at \(bytes.count) bytes")
  }

  @Test(arguments: [
    "GET /metrics HTTP/1.1 extra\r\n\r\n", "GET\r\n\r\n", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "GET /a\u{7f} HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.10\r\n\r\n",
  ])
  func malformed(text: String) {
    #expect(throws: HTTPHeadError.self) { try parse(text) }
  }

  @Test func routes() throws {
    func route(_ text: String) throws -> HTTPRoute {
      try MetricsRoutes.route(#require(try parse(text)))
    }
    #expect(try route("GET /metrics HTTP/1.0\r\n\r\n") == .scrape(.prometheus))
    #expect(
      try route("HEAD /metrics HTTP/1.0\r\nAccept: application/openmetrics-text\r\n\r\n")
        == .scrape(.openMetrics))
    guard case .respond(let notAllowed) = try route("POST /metrics HTTP/1.0\r\n\r\n") else {
      Issue.record("POST was not answered at once")
      return
    }
    #expect(notAllowed.status == 405)
    #expect(notAllowed.extraFields.map(\.name) == ["Allow"])
    #expect(notAllowed.extraFields.map(\.value) == ["GET, HEAD"])
    guard case .respond(let missing) = try route("GET /metricsx HTTP/1.0\r\n\r\n") else {
      Issue.record("/metricsx was not answered at once")
      return
    }
    #expect(missing.status == 404)
  }

  @Test func serialization() {
    let response = HTTPResponse.text(404, "no")
    let date = HTTPResponse.date(784_111_777)
    #expect(date == "Sun, 06 Nov 1994 08:49:37 GMT")
    #expect(
      String(decoding: response.serialized(head: false, close: true, date: date), as: UTF8.self)
        == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Length: 3\r\nDate: \(date)\r\nConnection: close\r\n\r\nno\n")
    #expect(
      String(decoding: response.serialized(head: true, close: false, date: date), as: UTF8.self)
        .hasSuffix("Content-Length: 3\r\nDate: \(date)\r\n\r\n"))
  }

  /// What the file limit leaves for connections.
  @Test func connectionCap() {
    #expect(HTTPLimits.connectionCap(softLimit: 1024) == 960)
    #expect(HTTPLimits.connectionCap(softLimit: 20_000) == 1024)
    #expect(HTTPLimits.connectionCap(softLimit: .max) == 1024)
    #expect(HTTPLimits.connectionCap(softLimit: 50) == 4)
  }
}
