import Glibc

/// One response: the status, its content type and body, and the fields it needs beyond those.
struct HTTPResponse: Sendable {
  var status: Int
  var contentType = "text/plain; charset=utf-8"
  var body: [UInt8]
  /// Fields besides Content-Type, Content-Length, Date and Connection (`Allow` for a 405).
  var extraFields: [(name: String, value: String)] = []

  /// A short text answer: `text` and a newline.
  static func text(_ status: Int, _ text: String) -> HTTPResponse {
    HTTPResponse(status: status, body: Array((text + "\n").utf8))
  }

  /// The bytes on the wire. For a HEAD request (`head`), the fields a GET would get, the same
  /// Content-Length included, and no body (RFC 9110 9.3.2). With `close`, `Connection: close`.
  func serialized(head: Bool, close: Bool, date: String) -> [UInt8] {
    var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
    text += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nDate: \(date)\r\n"
    for (name, value) in extraFields { text += "\(name): \(value)\r\n" }
    if close { text += "Connection: close\r\n" }
    text += "\r\n"
    var out = Array(text.utf8)
    if !head { out.append(contentsOf: body) }
    return out
  }

  /// The reason phrase of the statuses the exporter sends.
  static func reason(_ status: Int) -> String {
    switch status {
    case 200: "OK"
    case 400: "Bad Request"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 408: "Request Timeout"
    case 414: "URI Too Long"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 505: "HTTP Version Not Supported"
    default: "Unknown"
    }
  }

  /// The Date field's value for `time` (seconds since the epoch), in RFC 9110's IMF-fixdate:
  /// `Sun, 06 Nov 1994 08:49:37 GMT`.
  static func date(_ time: time_t) -> String {
    var t = time
    var tm = Glibc.tm()
    gmtime_r(&t, &tm)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = [
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) "
      + "\(1900 + tm.tm_year) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
  }
}
