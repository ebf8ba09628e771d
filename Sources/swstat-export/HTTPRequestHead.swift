/// A request's line and header fields (RFC 9112), as far as the exporter uses them. The body, if
/// the client announced one, is never read: the connection is answered and closed instead.
struct HTTPRequestHead: Equatable {
  /// "GET", "HEAD", ... (case-sensitive, as RFC 9110 says).
  var method: String
  /// The request target as sent.
  var target: String
  /// The path of the target: before any `?`, without scheme and authority in absolute form.
  var path: String
  /// 0 for HTTP/1.0, 1 for HTTP/1.1.
  var minorVersion: Int
  /// Header fields in order, names lowercased, values without surrounding spaces.
  var fields: [(name: String, value: String)]

  static func == (a: Self, b: Self) -> Bool {
    a.method == b.method && a.target == b.target && a.path == b.path
      && a.minorVersion == b.minorVersion && a.fields.elementsEqual(b.fields, by: { $0 == $1 })
  }

  /// Every value of the field `name` (lowercase), in order.
  func values(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

  /// The values of `name` joined with ", " (RFC 9110 5.3), or nil when it is absent.
  func joined(_ name: String) -> String? {
    let all = values(name)
    return all.isEmpty ? nil : all.joined(separator: ", ")
  }

  /// Whether the connection may serve another request after this one: HTTP/1.1 without
  /// `Connection: close`, and no body we would have to skip. HTTP/1.0 always closes.
  var keepAlive: Bool {
    guard minorVersion == 1, !hasBody else { return false }
    let tokens = values("connection").flatMap { $0.split(separator: ",") }
    return !tokens.contains { $0.trimmingSpaces.lowercased() == "close" }
  }

  /// Whether the client announced a body (Transfer-Encoding, or a Content-Length above 0).
  var hasBody: Bool {
    !values("transfer-encoding").isEmpty || values("content-length").contains { $0 != "0" }
  }
}

/// Why a request head was refused; each is answered with its status and the connection closed.
enum HTTPHeadError: Error, Equatable {
  /// 400: the request line or a header field is malformed, or the fields contradict each other.
  case badRequest(String)
  /// 414: the request line alone is longer than the head limit.
  case uriTooLong
  /// 431: the head (request line and fields) is longer than the limit.
  case headTooLarge
  /// 505: an HTTP version other than 1.0 and 1.1.
  case versionNotSupported

  /// The status code this error is answered with.
  var status: Int {
    switch self {
    case .badRequest: 400
    case .uriTooLong: 414
    case .headTooLarge: 431
    case .versionNotSupported: 505
    }
  }
}

/// Finds and parses one request head in a connection's input as the bytes arrive. Each byte is
/// examined once when scanned and once more when its line is parsed, however the input is cut
/// into reads: a head is never searched again from its start (with FlyingFox, the server before
/// this one, a 128 KB header cost 7 s of CPU). The head may be at most `limit` bytes, request line,
/// fields, line ends and any empty lines before the request line included.
struct HTTPHeadParser {
  /// The most bytes a head may take.
  let limit: Int
  /// Bytes examined so far, over the parser's life (for tests: it must stay linear).
  private(set) var examined = 0

  /// The next byte to look at.
  private var scan = 0
  /// Where the line being scanned starts.
  private var lineStart = 0
  private var requestLine: (method: String, target: String, minor: Int)?
  private var fields: [(name: String, value: String)] = []

  init(limit: Int) { self.limit = limit }

  /// What `advance` found.
  enum Progress: Equatable {
    /// No whole head yet: read more.
    case needMore
    /// A whole head; `end` is the index just past its empty line, where the next request
    /// (pipelined) begins.
    case head(HTTPRequestHead, end: Int)
  }

  /// Looks at the bytes of `input` not yet seen (from where the last call stopped; `input` only
  /// ever grows between calls, and the head starts at index 0). Throws when the head is
  /// malformed or over the limit.
  mutating func advance(_ input: [UInt8]) throws(HTTPHeadError) -> Progress {
    while scan < input.count {
      // The head, its closing empty line included, must end within the first `limit` bytes.
      if scan >= limit { throw requestLine == nil ? .uriTooLong : .headTooLarge }
      let byte = input[scan]
      scan += 1
      examined += 1
      guard byte == 0x0a else { continue }
      var lineEnd = scan - 1
      if lineEnd > lineStart && input[lineEnd - 1] == 0x0d { lineEnd -= 1 }
      let line = input[lineStart..<lineEnd]
      lineStart = scan
      if line.isEmpty {
        // RFC 9112 2.2: empty lines before the request line are ignored.
        if requestLine == nil { continue }
        return .head(try finish(), end: scan)
      }
      examined += line.count
      if requestLine == nil {
        requestLine = try Self.parseRequestLine(line)
      } else {
        fields.append(try Self.parseField(line))
      }
    }
    if scan >= limit { throw requestLine == nil ? .uriTooLong : .headTooLarge }
    return .needMore
  }

  /// The head from what was parsed, after the checks that need all fields.
  private func finish() throws(HTTPHeadError) -> HTTPRequestHead {
    guard let line = requestLine else { throw .badRequest("no request line") }
    let head = HTTPRequestHead(
      method: line.method, target: line.target, path: Self.path(of: line.target),
      minorVersion: line.minor, fields: fields)
    // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host.
    if head.minorVersion == 1 && head.values("host").count != 1 {
      throw .badRequest("an HTTP/1.1 request needs one Host field")
    }
    let lengths = head.values("content-length")
    if let first = lengths.first {
      guard lengths.allSatisfy({ $0 == first }), !first.isEmpty,
        first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
      else { throw .badRequest("bad Content-Length") }
      // RFC 9112 6.1: both framings at once is how requests are smuggled.
      if !head.values("transfer-encoding").isEmpty {
        throw .badRequest("both Content-Length and Transfer-Encoding")
      }
    }
    return head
  }

  /// `METHOD SP target SP HTTP/1.x`, single spaces, as RFC 9112 3 writes it.
  static func parseRequestLine(
    _ line: ArraySlice<UInt8>
  ) throws(HTTPHeadError) -> (method: String, target: String, minor: Int) {
    let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
    guard parts.count == 3 else { throw .badRequest("malformed request line") }
    let (method, target, version) = (parts[0], parts[1], parts[2])
    guard !method.isEmpty, method.allSatisfy(isTokenByte) else {
      throw .badRequest("malformed method")
    }
    // Any visible ASCII; spaces were split off above, and controls and non-ASCII are refused.
    guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
      throw .badRequest("malformed request target")
    }
    guard
      target.first == UInt8(ascii: "/") || target.elementsEqual("*".utf8)
        || target.starts(with: "http://".utf8) || target.starts(with: "https://".utf8)
    else { throw .badRequest("malformed request target") }
    let v = Array(version)
    guard v.count == 8, v.starts(with: "HTTP/".utf8), isDigit(v[5]), v[6] == UInt8(ascii: "."),
      isDigit(v[7])
    else { throw .badRequest("malformed HTTP version") }
    guard v[5] == UInt8(ascii: "1"), v[7] <= UInt8(ascii: "1") else { throw .versionNotSupported }
    return (
      String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self),
      Int(v[7] - UInt8(ascii: "0"))
    )
  }

  /// `name: value`: a token, a colon right after it (RFC 9112 5.1: no space before it), the
  /// value with spaces and tabs around it removed. Line folding and control bytes are refused.
  static func parseField(
    _ line: ArraySlice<UInt8>
  ) throws(HTTPHeadError) -> (name: String, value: String) {
    guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
      throw .badRequest("header field without a colon")
    }
    let name = line[..<colon]
    guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
      throw .badRequest("malformed header field name")
    }
    var value = line[(colon + 1)...]
    // Visible ASCII, space, tab and obs-text (RFC 9110 5.5); a lone CR or NUL is refused.
    guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) }) else {
      throw .badRequest("control character in a header field")
    }
    while let c = value.first, c == 0x20 || c == 0x09 { value.removeFirst() }
    while let c = value.last, c == 0x20 || c == 0x09 { value.removeLast() }
    return (
      String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)
    )
  }

  /// The path of a target: before `?`; for `http://host/p?q`, `/p` (RFC 9112 3.2.2).
  static func path(of target: String) -> String {
    var rest = Substring(target)
    for scheme in ["http://", "https://"] where rest.hasPrefix(scheme) {
      rest = rest.dropFirst(scheme.count)
      rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
    }
    return String(rest.prefix { $0 != "?" })
  }

  /// tchar of RFC 9110 5.6.2.
  static func isTokenByte(_ c: UInt8) -> Bool {
    switch c {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      true
    default: "!#$%&'*+-.^_`|~".utf8.contains(c)
    }
  }

  static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
